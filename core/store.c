/* store.c - the SQLite message store (see tide/store.h, docs/store.md).
 *
 * Schema version 2.  Feeds are numbered (feeds.num) and every other table
 * refers to a feed by its number; message ids are 32-byte BLOBs.  A
 * message row is appended at the end of the `messages` table (rowid =
 * order of arrival), so its text is written once, into pages that fill up
 * sequentially, and an append adds two small index entries: (feed,
 * sequence), two integers, and the first 8 bytes of the id.  Version 1
 * keyed messages by 50-byte text ids and authors, so that every batch
 * rewrote hundreds of index pages; a version-1 store is upgraded when it
 * is opened writable (upgrade_v1()).
 *
 * Durability: journal_mode=WAL with synchronous=FULL makes SQLite fsync
 * the WAL on every commit, so a commit that returned is on stable storage
 * (survives kill -9 and power loss).  NORMAL would survive kill -9 too,
 * but could lose the last commits on power loss, which "a message once
 * acknowledged is never lost" forbids. */
#include "tide/store.h"

#include <errno.h>
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_int.h"

/* "tide" in ASCII: PRAGMA application_id of every tide store. */
#define APPLICATION_ID 0x74696465

/* The tables of schema version 2 (their indexes follow separately, so
 * that the upgrade from version 1 can fill the tables first and build the
 * indexes by sorting once). */
static const char schema_tables_sql[] =
    "CREATE TABLE feeds (\n"
    "  num        INTEGER PRIMARY KEY,        -- the feed's number in this store\n"
    "  author     TEXT NOT NULL UNIQUE,       -- feed id @<base64>.ed25519\n"
    "  latest_seq INTEGER NOT NULL,           -- sequence of its latest message\n"
    "  latest_id  BLOB NOT NULL,              -- id of it (sha256, 32 bytes)\n"
    "  forked     INTEGER NOT NULL DEFAULT 0, -- 1: fork seen, appends refused\n"
    "  forked_seq INTEGER                     -- sequence of the first fork\n"
    ");\n"
    "CREATE TABLE messages (                  -- rowid: order of arrival\n"
    "  feed      INTEGER NOT NULL,            -- feeds.num of the author\n"
    "  sequence  INTEGER NOT NULL,\n"
    "  id        BLOB NOT NULL,               -- sha256 (32 bytes): %<base64>.sha256\n"
    "  id_prefix INTEGER NOT NULL,            -- its first 8 bytes, big-endian signed\n"
    "  timestamp REAL NOT NULL,               -- claimed by the author, ms (or JSON text)\n"
    "  received  INTEGER NOT NULL,            -- receiver's clock, ms\n"
    "  json      TEXT NOT NULL                -- exact canonical signed JSON\n"
    ");\n"
    "CREATE TABLE forks (                     -- fork evidence\n"
    "  fork_id   BLOB PRIMARY KEY,            -- id of the other message\n"
    "  feed      INTEGER NOT NULL,            -- feeds.num\n"
    "  sequence  INTEGER NOT NULL,\n"
    "  stored_id BLOB NOT NULL,               -- id of the message in the log\n"
    "  detected  INTEGER NOT NULL,            -- receiver's clock, ms\n"
    "  json      TEXT NOT NULL                -- the other message, verbatim\n"
    ");\n"
    "CREATE TABLE contacts (                  -- index of contact messages\n"
    "  row_id    INTEGER PRIMARY KEY,\n"
    "  feed      INTEGER NOT NULL,            -- feeds.num of its author\n"
    "  contact   BLOB NOT NULL,               -- public key (32 bytes) it is about\n"
    "  following INTEGER,                     -- 1, 0 or NULL (not said)\n"
    "  blocking  INTEGER,                     -- 1, 0 or NULL (not said)\n"
    "  sequence  INTEGER NOT NULL             -- of the contact message\n"
    ");\n";

/* messages_by_id holds the first 8 bytes of each id as an integer (a
 * quarter of the full key, so a quarter of the pages to rewrite when
 * random ids land all over it); lookups compare the full id in the row
 * (ST_MSG_HAS).  A column rather than an index on substr(id, 1, 8): an
 * expression index makes SQLite keep a statement journal for multi-row
 * INSERTs (pend_flush), which spills to temporary files. */
static const char schema_indexes_sql[] =
    "CREATE UNIQUE INDEX messages_by_feed ON messages (feed, sequence);\n"
    "CREATE INDEX messages_by_id ON messages (id_prefix);\n"
    "CREATE INDEX forks_by_feed ON forks (feed, sequence);\n"
    "CREATE INDEX contacts_by_author ON contacts (feed, contact);\n"
    "CREATE INDEX contacts_by_contact ON contacts (contact);\n";

/* The WHERE clause that finds a message by id (?1, a 32-byte blob; ?2,
 * id_prefix_of() it) through messages_by_id. */
#define WHERE_ID "id_prefix = ?2 AND id = ?1"

enum {
  ST_FEED_GET,
  ST_FEED_NEW,
  ST_FEED_SET,
  ST_FEED_FORKED,
  ST_ID_AT,
  ST_MSG_INSERT,
  ST_MSG_HAS,
  ST_FORK_HAS,
  ST_FORK_INSERT,
  ST_CONTACT_INSERT,
  ST_GET_SEQ,
  ST_GET_ID,
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_COUNT
};

/* Record queries (ST_GET_*, iter_feed) return these columns. */
#define RECORD_COLUMNS "m.id, m.sequence, m.timestamp, m.received, m.json"

static const char *const stmt_sql[ST_COUNT] = {
    [ST_FEED_GET] = "SELECT num, latest_seq, latest_id, forked FROM feeds WHERE author = ?1",
    [ST_FEED_NEW] = "INSERT INTO feeds (author, latest_seq, latest_id) VALUES (?1, ?2, ?3)",
    [ST_FEED_SET] = "UPDATE feeds SET latest_seq = ?2, latest_id = ?3 WHERE num = ?1",
    [ST_FEED_FORKED] = "UPDATE feeds SET forked = 1, forked_seq = coalesce(forked_seq, ?2) "
                       "WHERE num = ?1",
    [ST_ID_AT] = "SELECT id FROM messages WHERE feed = ?1 AND sequence = ?2",
    [ST_MSG_INSERT] = "INSERT INTO messages (feed, sequence, id, id_prefix, timestamp, received, "
                      "json) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    [ST_MSG_HAS] = "SELECT 1 FROM messages WHERE " WHERE_ID,
    [ST_FORK_HAS] = "SELECT 1 FROM forks WHERE fork_id = ?1",
    [ST_FORK_INSERT] = "INSERT INTO forks (fork_id, feed, sequence, stored_id, detected, json) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_CONTACT_INSERT] = "INSERT INTO contacts (feed, contact, following, blocking, sequence) "
                          "VALUES (?1, ?2, ?3, ?4, ?5)",
    [ST_GET_SEQ] =
        "SELECT " RECORD_COLUMNS " FROM messages m WHERE m.feed = ?1 AND m.sequence = ?2",
    [ST_GET_ID] = "SELECT " RECORD_COLUMNS ", f.author FROM messages m JOIN feeds f "
                  "ON f.num = m.feed WHERE m.id_prefix = ?2 AND m.id = ?1",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/* Appends inside a transaction are queued and written PEND_ROWS at a time
 * by one multi-row INSERT (pend_flush): a statement execution costs
 * SQLite several thousand instructions besides its rows (cursors opened
 * and freed, registers released), which a row of 32 shares.  The queue is
 * written before anything reads `messages` (queries, tide__store_db(),
 * COMMIT); an error then poisons the transaction like a failed append. */
#define PEND_ROWS 32

/* One queued message row; its texts live in the store's arena. */
typedef struct pend_row {
  int64_t num, seq, received;
  double ts;                 /* NaN: the timestamp is the text at ts_off */
  size_t text_off, text_len; /* the message's JSON */
  size_t ts_off, ts_len;
  uint8_t id[TIDE_HASH_BYTES];
} pend_row;

/* One queued row of the contact index (following / blocking: 1, 0, or
 * -1 for NULL). */
typedef struct pend_contact {
  int64_t num, seq;
  int following, blocking;
  uint8_t contact[TIDE_PK_BYTES];
} pend_contact;

/* A feed's row as seen inside a transaction (the caller's, or the one an
 * append outside it opens for itself).  Appends in a batch update these
 * instead of the `feeds` row (one UPDATE per feed per batch instead of
 * one per message); they are written back before COMMIT and before
 * anything reads `feeds` (tf_flush).  Inside BEGIN IMMEDIATE no other
 * connection can write, so the cache cannot go stale; it is dropped at
 * the end of every transaction. */
typedef struct txn_feed {
  uint8_t pk[TIDE_PK_BYTES];
  uint8_t latest_id[TIDE_HASH_BYTES];
  int64_t num;    /* feeds.num; 0: no row yet */
  int64_t latest; /* 0: no messages */
  int forked;
  int dirty; /* latest differs from the feeds row */
  int used;
} txn_feed;

struct tide_store {
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  int in_txn;   /* a caller's transaction is open */
  int tf_live;  /* some transaction is open: the feed cache is valid */
  int poisoned; /* a storage error happened inside it */
  int read_only;
  txn_feed *tf; /* open addressing on pk; tf_cap is 0 or a power of 2 */
  size_t tf_n, tf_cap;
  sqlite3_stmt *ins_many;     /* INSERT of PEND_ROWS messages */
  sqlite3_stmt *ins_contacts; /* INSERT of PEND_ROWS contact rows */
  pend_row pend[PEND_ROWS];
  size_t npend;
  pend_contact pc[PEND_ROWS];
  size_t npc;
  char *arena; /* texts of the queued rows */
  size_t arena_len, arena_cap;
};

/* ------------------------------------------------------------------------ */

static int tf_flush(tide_store *s, tide_error *err);
static int pend_flush(tide_store *s, tide_error *err);

sqlite3 *tide__store_db(tide_store *s)
{
  /* The caller may read `feeds` and `messages` with its own SQL: bring
   * them up to date.  A failure poisons the open transaction (its commit
   * will fail). */
  if (s->in_txn && pend_flush(s, NULL) == 0)
    (void)tf_flush(s, NULL);
  return s->db;
}

int tide__store_error(tide_store *s, int rc, const char *what, tide_error *err)
{
  int code = (rc & 0xff) == SQLITE_NOMEM ? TIDE_E_NOMEM : TIDE_E_STORE;
  const char *detail = s != NULL && s->db != NULL ? sqlite3_errmsg(s->db) : sqlite3_errstr(rc);

  /* sqlite3_errmsg() describes the last failing call; when it reports
   * success (e.g. a step whose error was already cleared) use the code. */
  if (s != NULL && s->db != NULL && sqlite3_errcode(s->db) == SQLITE_OK)
    detail = sqlite3_errstr(rc);
  return tide_error_set(err, code, 0, "store: %s: %s", what, detail);
}

/* Ids as text, for the feeds table's author column (once per feed and
 * transaction) and for error messages; appends format nothing.  They
 * return out so that they can stand inside a tide_error_set() call. */
static const char *format_feed(char out[TIDE_FEED_ID_LEN + 1], const uint8_t pk[TIDE_PK_BYTES])
{
  tide_feed_id_format(out, pk);
  return out;
}

static const char *format_msg_id(char out[TIDE_MSG_ID_LEN + 1], const uint8_t id[TIDE_HASH_BYTES])
{
  tide_msg_id_format(out, id);
  return out;
}

/* ---- Per-transaction feed cache ----------------------------------------- */

static size_t tf_slot(const tide_store *s, const uint8_t pk[TIDE_PK_BYTES])
{
  size_t h;
  memcpy(&h, pk, sizeof h); /* public keys are uniformly random */
  return h & (s->tf_cap - 1);
}

static txn_feed *tf_find(tide_store *s, const uint8_t pk[TIDE_PK_BYTES])
{
  size_t j;

  if (s->tf_cap == 0)
    return NULL;
  for (j = tf_slot(s, pk); s->tf[j].used; j = (j + 1) & (s->tf_cap - 1))
    if (memcmp(s->tf[j].pk, pk, TIDE_PK_BYTES) == 0)
      return &s->tf[j];
  return NULL;
}

/* Adds an entry (not present); NULL when out of memory. */
static txn_feed *tf_add(tide_store *s, const uint8_t pk[TIDE_PK_BYTES])
{
  size_t j;

  if ((s->tf_n + 1) * 2 > s->tf_cap) {
    size_t ncap = s->tf_cap == 0 ? 64 : s->tf_cap * 2;
    txn_feed *old = s->tf, *nt = calloc(ncap, sizeof *nt);
    size_t ocap = s->tf_cap;

    if (nt == NULL)
      return NULL;
    s->tf = nt;
    s->tf_cap = ncap;
    for (size_t i = 0; i < ocap; i++) {
      if (!old[i].used)
        continue;
      for (j = tf_slot(s, old[i].pk); nt[j].used; j = (j + 1) & (ncap - 1))
        ;
      nt[j] = old[i];
    }
    free(old);
  }
  for (j = tf_slot(s, pk); s->tf[j].used; j = (j + 1) & (s->tf_cap - 1))
    ;
  memset(&s->tf[j], 0, sizeof s->tf[j]);
  memcpy(s->tf[j].pk, pk, TIDE_PK_BYTES);
  s->tf[j].used = 1;
  s->tf_n++;
  return &s->tf[j];
}

static void tf_clear(tide_store *s)
{
  if (s->tf_n != 0)
    memset(s->tf, 0, s->tf_cap * sizeof *s->tf);
  s->tf_n = 0;
}

static int step_done(tide_store *s, sqlite3_stmt *st, const char *what, tide_error *err);

static void bind_text(sqlite3_stmt *st, int i, const char *t, size_t n)
{
  (void)sqlite3_bind_text(st, i, t, (int)n, SQLITE_STATIC);
}

static void bind_blob32(sqlite3_stmt *st, int i, const uint8_t b[32])
{
  (void)sqlite3_bind_blob(st, i, b, 32, SQLITE_STATIC);
}

/* Writes one entry's latest state to its feeds row. */
static int tf_write(tide_store *s, txn_feed *e, tide_error *err)
{
  sqlite3_stmt *st = s->st[ST_FEED_SET];
  int code;

  if (!e->dirty)
    return 0;
  sqlite3_bind_int64(st, 1, e->num);
  sqlite3_bind_int64(st, 2, e->latest);
  bind_blob32(st, 3, e->latest_id);
  code = step_done(s, st, "update feed", err);
  if (code == 0)
    e->dirty = 0;
  return code;
}

/* Writes every changed entry back (before COMMIT and before reading
 * `feeds`).  A failure poisons the transaction. */
static int tf_flush(tide_store *s, tide_error *err)
{
  for (size_t i = 0; i < s->tf_cap; i++) {
    if (s->tf[i].used && s->tf[i].dirty) {
      int code = tf_write(s, &s->tf[i], err);
      if (code != 0) {
        s->poisoned = 1;
        return code;
      }
    }
  }
  return 0;
}

/* ---- Queued message rows ------------------------------------------------ */

/* messages.id_prefix of an id: its first 8 bytes as a big-endian two's
 * complement integer. */
static int64_t id_prefix_of(const uint8_t id[TIDE_HASH_BYTES])
{
  uint64_t u = 0;

  for (int i = 0; i < 8; i++)
    u = u << 8 | id[i];
  return u <= (uint64_t)INT64_MAX ? (int64_t)u : -(int64_t)(~u) - 1;
}

/* Binds an id lookup (WHERE_ID) to st. */
static void bind_id_lookup(sqlite3_stmt *st, const uint8_t id[TIDE_HASH_BYTES])
{
  (void)sqlite3_bind_blob(st, 1, id, TIDE_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, 2, id_prefix_of(id));
}

/* Copies n bytes into the arena; returns their offset, or (size_t)-1 when
 * out of memory. */
static size_t arena_put(tide_store *s, const void *p, size_t n)
{
  size_t off = s->arena_len;

  if (n > s->arena_cap - s->arena_len) {
    size_t cap = s->arena_cap == 0 ? 65536 : s->arena_cap;
    char *na;
    while (cap - s->arena_len < n)
      cap *= 2;
    na = realloc(s->arena, cap);
    if (na == NULL)
      return (size_t)-1;
    s->arena = na;
    s->arena_cap = cap;
  }
  if (n != 0)
    memcpy(s->arena + off, p, n);
  s->arena_len += n;
  return off;
}

static void pend_clear(tide_store *s)
{
  s->npend = 0;
  s->npc = 0;
  s->arena_len = 0;
}

/* Parameters per row of ST_MSG_INSERT. */
#define ROW_PARAMS 7

/* Binds row r to parameters base+1 .. base+ROW_PARAMS of st (the column
 * order of ST_MSG_INSERT).  The arena does not move until the rows are
 * written. */
static void pend_bind(tide_store *s, sqlite3_stmt *st, int base, const pend_row *r)
{
  sqlite3_bind_int64(st, base + 1, r->num);
  sqlite3_bind_int64(st, base + 2, r->seq);
  (void)sqlite3_bind_blob(st, base + 3, r->id, TIDE_HASH_BYTES, SQLITE_STATIC);
  sqlite3_bind_int64(st, base + 4, id_prefix_of(r->id));
  if (!isnan(r->ts))
    sqlite3_bind_double(st, base + 5, r->ts);
  else
    (void)sqlite3_bind_text(st, base + 5, s->arena + r->ts_off, (int)r->ts_len, SQLITE_STATIC);
  sqlite3_bind_int64(st, base + 6, r->received);
  (void)sqlite3_bind_text(st, base + 7, s->arena + r->text_off, (int)r->text_len, SQLITE_STATIC);
}

/* Writes the queued message rows: PEND_ROWS at once with ins_many, fewer
 * one by one. */
static int flush_messages(tide_store *s, tide_error *err)
{
  size_t i = 0;
  int code = 0;

  while (i < s->npend) {
    size_t k = s->npend - i == PEND_ROWS ? PEND_ROWS : 1;
    sqlite3_stmt *st = k == PEND_ROWS ? s->ins_many : s->st[ST_MSG_INSERT];
    int rc;

    for (size_t j = 0; j < k; j++)
      pend_bind(s, st, ROW_PARAMS * (int)j, &s->pend[i + j]);
    rc = sqlite3_step(st);
    if (rc != SQLITE_DONE) {
      if ((rc & 0xff) == SQLITE_CONSTRAINT)
        /* (feed, sequence) is taken although feeds said it was free. */
        code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                              "store: inserting messages: %s (a message exists beyond its "
                              "feed's latest)",
                              sqlite3_errmsg(s->db));
      else
        code = tide__store_error(s, rc, "insert messages", err);
      sqlite3_reset(st);
      break;
    }
    sqlite3_reset(st);
    i += k;
  }
  s->npend = 0;
  s->arena_len = 0;
  return code;
}

/* Writes the queued contact rows, likewise. */
static int flush_contacts(tide_store *s, tide_error *err)
{
  int code = 0;

  for (size_t i = 0; i < s->npc && code == 0;) {
    size_t k = s->npc - i == PEND_ROWS ? PEND_ROWS : 1;
    sqlite3_stmt *st = k == PEND_ROWS ? s->ins_contacts : s->st[ST_CONTACT_INSERT];

    for (size_t j = 0; j < k; j++) {
      const pend_contact *c = &s->pc[i + j];
      int base = 5 * (int)j;
      sqlite3_bind_int64(st, base + 1, c->num);
      (void)sqlite3_bind_blob(st, base + 2, c->contact, TIDE_PK_BYTES, SQLITE_STATIC);
      if (c->following >= 0)
        sqlite3_bind_int(st, base + 3, c->following);
      else
        sqlite3_bind_null(st, base + 3);
      if (c->blocking >= 0)
        sqlite3_bind_int(st, base + 4, c->blocking);
      else
        sqlite3_bind_null(st, base + 4);
      sqlite3_bind_int64(st, base + 5, c->seq);
    }
    code = step_done(s, st, "index contacts", err);
    i += k;
  }
  s->npc = 0;
  return code;
}

/* Writes every queued row.  The queues are empty afterwards; a failure
 * poisons the transaction. */
static int pend_flush(tide_store *s, tide_error *err)
{
  int code = flush_messages(s, err);

  if (code == 0)
    code = flush_contacts(s, err);
  pend_clear(s);
  if (code != 0)
    s->poisoned = 1;
  return code;
}

/* A full queue is written on its own (the other one keeps filling). */
static int pend_full(tide_store *s, int contacts, tide_error *err)
{
  int code = contacts ? flush_contacts(s, err) : flush_messages(s, err);

  if (code != 0) {
    pend_clear(s);
    s->poisoned = 1;
  }
  return code;
}

/* Before reading `messages` or `contacts`: writes the queued rows. */
static int pend_sync(tide_store *s, tide_error *err)
{
  return s->npend == 0 && s->npc == 0 ? 0 : pend_flush(s, err);
}

/* Queues m (the next message of tf's feed, which has a row) for
 * insertion; writes the queue when it is full. */
static int pend_add(tide_store *s, const txn_feed *tf, const tide_msg *m, int64_t received_ms,
                    tide_error *err)
{
  pend_row *r = &s->pend[s->npend];
  const char *text;
  size_t text_len;

  text = tide_msg_text(m, &text_len);
  r->num = tf->num;
  r->seq = tide_msg_sequence(m);
  r->received = received_ms;
  r->ts = tide_msg_timestamp(m);
  memcpy(r->id, tide_msg_id(m), TIDE_HASH_BYTES);
  r->ts_off = r->ts_len = 0;
  r->text_off = arena_put(s, text, text_len);
  r->text_len = text_len;
  if (r->text_off == (size_t)-1)
    return tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory");
  if (isnan(r->ts)) {
    /* ssb-validate type-checks "timestamp" only on a feed's first
     * message, so any JSON value may come here: it is stored as its
     * compact JSON text, which always starts with '"', '[', '{', 'n', 't'
     * or 'f' and so never takes REAL affinity (the empty text when the
     * key is missing).  Readers get NaN for a text.  A number (also
     * +-Infinity, which JSON.parse gives for "1e400") is a REAL. */
    const tide_json *v = tide_json_object_getz(tide_msg_value(m), "timestamp");
    tide_buf b = TIDE_BUF_INIT;
    int rc = v != NULL ? tide_json_write(&b, v, 0) : 0;
    if (rc == 0) {
      r->ts_off = arena_put(s, b.data, b.len);
      r->ts_len = b.len;
    }
    tide_buf_free(&b);
    if (rc != 0 || r->ts_off == (size_t)-1)
      return tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory");
  }
  if (++s->npend == PEND_ROWS)
    return pend_full(s, 0, err);
  return 0;
}

/* ---- Columns ------------------------------------------------------------ */

/* Reads a text feed id column into a public key; TIDE_E_STORE_CORRUPT
 * when the store holds something that is not a feed id. */
static int column_feed(sqlite3_stmt *st, int col, uint8_t pk[TIDE_PK_BYTES], tide_error *err)
{
  const char *t = (const char *)sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);

  if (t == NULL || tide_feed_id_parse(pk, t, (size_t)n) != 0)
    return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: malformed feed id '%.*s'",
                          t == NULL ? 0 : (n > 80 ? 80 : n), t == NULL ? "" : t);
  return 0;
}

/* Reads a 32-byte BLOB column (an id or a key); TIDE_E_STORE_CORRUPT when
 * it is anything else. */
static int column_blob32(sqlite3_stmt *st, int col, uint8_t out[32], const char *what,
                         tide_error *err)
{
  const void *b;

  if (sqlite3_column_type(st, col) != SQLITE_BLOB || sqlite3_column_bytes(st, col) != 32 ||
      (b = sqlite3_column_blob(st, col)) == NULL)
    return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: malformed %s (%d bytes)", what,
                          sqlite3_column_bytes(st, col));
  memcpy(out, b, 32);
  return 0;
}

static int exec_sql(tide_store *s, const char *sql, const char *what, tide_error *err)
{
  char *emsg = NULL;
  int rc = sqlite3_exec(s->db, sql, NULL, NULL, &emsg);

  if (rc != SQLITE_OK) {
    int code = (rc & 0xff) == SQLITE_NOMEM ? TIDE_E_NOMEM : TIDE_E_STORE;
    tide_error_set(err, code, 0, "store: %s: %s", what, emsg != NULL ? emsg : sqlite3_errstr(rc));
    sqlite3_free(emsg);
    return code;
  }
  return 0;
}

/* Runs a statement that returns no rows (or whose rows are ignored). */
static int step_done(tide_store *s, sqlite3_stmt *st, const char *what, tide_error *err)
{
  int rc = sqlite3_step(st);

  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    int code = tide__store_error(s, rc, what, err);
    sqlite3_reset(st);
    return code;
  }
  sqlite3_reset(st);
  return 0;
}

/* Steps a bound query; returns 1 (a row: st is left on it, the caller
 * resets it), 0 (none) or a negative code. */
static int step_row(tide_store *s, sqlite3_stmt *st, const char *what, tide_error *err)
{
  int rc = sqlite3_step(st);

  if (rc == SQLITE_ROW)
    return 1;
  if (rc == SQLITE_DONE) {
    sqlite3_reset(st);
    return 0;
  }
  rc = tide__store_error(s, rc, what, err);
  sqlite3_reset(st);
  return rc;
}

/* Reads one integer PRAGMA. */
static int pragma_int(tide_store *s, const char *sql, int64_t *out, tide_error *err)
{
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
  int code = 0;

  if (rc != SQLITE_OK) {
    code = tide__store_error(s, rc, sql, err);
    goto out;
  }
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    *out = sqlite3_column_int64(st, 0);
  } else if (rc == SQLITE_DONE) {
    *out = 0;
  } else {
    code = tide__store_error(s, rc, sql, err);
  }
out:
  sqlite3_finalize(st);
  return code;
}

/* ---- Schema -------------------------------------------------------------- */

/* The SQL functions of the upgrade.  tide_v1_id(text) and
 * tide_v1_key(text) give the 32 bytes of a version-1 message id
 * ("%...sha256") or feed id ("@...ed25519"), tide_id_prefix(blob) the
 * id_prefix of an id; an SQL error for anything else aborts the upgrade. */
static void v1_id_blob(sqlite3_context *ctx, sqlite3_value *v, int is_feed)
{
  const char *t = (const char *)sqlite3_value_text(v);
  int n = sqlite3_value_bytes(v);
  uint8_t b[32];
  char msg[160];

  if (t == NULL && sqlite3_value_type(v) != SQLITE_NULL) {
    sqlite3_result_error_nomem(ctx);
    return;
  }
  if (t != NULL &&
      (is_feed ? tide_feed_id_parse(b, t, (size_t)n) : tide_msg_id_parse(b, t, (size_t)n)) == 0) {
    sqlite3_result_blob(ctx, b, 32, SQLITE_TRANSIENT);
    return;
  }
  snprintf(msg, sizeof msg, "malformed %s id '%.*s' in the version-1 store",
           is_feed ? "feed" : "message", t == NULL ? 4 : (n > 80 ? 80 : n), t == NULL ? "NULL" : t);
  sqlite3_result_error(ctx, msg, -1);
}

static void sql_v1_id(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
  (void)argc;
  v1_id_blob(ctx, argv[0], 0);
}

static void sql_v1_key(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
  (void)argc;
  v1_id_blob(ctx, argv[0], 1);
}

static void sql_id_prefix(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
  const void *b = sqlite3_value_blob(argv[0]);

  (void)argc;
  if (b == NULL || sqlite3_value_bytes(argv[0]) != TIDE_HASH_BYTES)
    sqlite3_result_error(ctx, "tide_id_prefix: not a 32-byte id", -1);
  else
    sqlite3_result_int64(ctx, id_prefix_of(b));
}

/* Upgrades a version-1 store to version 2 inside the caller's write
 * transaction: the four tables are rebuilt with feed numbers and binary
 * ids (rowids of messages and contacts keep their order, contacts keep
 * their row_id), then the indexes are built.  Other modules' tables are
 * left alone.  Any failure leaves the transaction to be rolled back, which
 * restores the version-1 store untouched. */
static int upgrade_v1(tide_store *s, tide_error *err)
{
  static const char *const steps[] = {
      "ALTER TABLE feeds RENAME TO v1_feeds;\n"
      "ALTER TABLE messages RENAME TO v1_messages;\n"
      "ALTER TABLE forks RENAME TO v1_forks;\n"
      "ALTER TABLE contacts RENAME TO v1_contacts;\n"
      "DROP INDEX forks_by_feed;\n"
      "DROP INDEX contacts_by_author;\n"
      "DROP INDEX contacts_by_contact;\n",
      schema_tables_sql,
      "INSERT INTO feeds (author, latest_seq, latest_id, forked, forked_seq)\n"
      "  SELECT author, latest_seq, tide_v1_id(latest_id), forked, forked_seq\n"
      "  FROM v1_feeds ORDER BY author;\n"
      /* A message of no feed would get feed NULL: the NOT NULL constraint
       * then stops the upgrade instead of dropping it. */
      "INSERT INTO messages (feed, sequence, id, id_prefix, timestamp, received, json)\n"
      "  SELECT (SELECT num FROM feeds f WHERE f.author = m.author), m.sequence,\n"
      "         tide_v1_id(m.id), tide_id_prefix(tide_v1_id(m.id)), m.timestamp,\n"
      "         m.received, m.json\n"
      "  FROM v1_messages m ORDER BY m.rowid;\n"
      "INSERT INTO forks (fork_id, feed, sequence, stored_id, detected, json)\n"
      "  SELECT tide_v1_id(k.fork_id), (SELECT num FROM feeds f WHERE f.author = k.author),\n"
      "         k.sequence, tide_v1_id(k.stored_id), k.detected, k.json\n"
      "  FROM v1_forks k ORDER BY k.rowid;\n"
      "INSERT INTO contacts (row_id, feed, contact, following, blocking, sequence)\n"
      "  SELECT c.row_id, (SELECT num FROM feeds f WHERE f.author = c.author),\n"
      "         tide_v1_key(c.contact), c.following, c.blocking, c.sequence\n"
      "  FROM v1_contacts c ORDER BY c.row_id;\n"
      "DROP TABLE v1_feeds;\n"
      "DROP TABLE v1_messages;\n"
      "DROP TABLE v1_forks;\n"
      "DROP TABLE v1_contacts;\n",
      schema_indexes_sql,
      "PRAGMA user_version = 2;\n",
  };
  static const struct {
    const char *name;
    void (*fn)(sqlite3_context *, int, sqlite3_value **);
  } fns[] = {
      {"tide_v1_id", sql_v1_id}, {"tide_v1_key", sql_v1_key}, {"tide_id_prefix", sql_id_prefix}};
  size_t i;
  int rc = SQLITE_OK, code = 0;

  for (i = 0; i < sizeof fns / sizeof fns[0] && rc == SQLITE_OK; i++)
    rc = sqlite3_create_function_v2(s->db, fns[i].name, 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
                                    fns[i].fn, NULL, NULL, NULL);
  if (rc != SQLITE_OK) {
    code = tide__store_error(s, rc, "upgrading schema 1 to 2", err);
    goto out;
  }
  for (i = 0; i < sizeof steps / sizeof steps[0] && code == 0; i++)
    code = exec_sql(s, steps[i], "upgrading schema 1 to 2 (the version-1 store is unchanged)", err);
out:
  for (i = 0; i < sizeof fns / sizeof fns[0]; i++)
    (void)sqlite3_create_function_v2(s->db, fns[i].name, 1, SQLITE_UTF8, NULL, NULL, NULL, NULL,
                                     NULL);
  return code;
}

/* Creates the schema in an empty database, upgrades a version-1 store or
 * checks an existing one. */
static int setup_schema(tide_store *s, int read_only, int create, tide_error *err)
{
  int64_t version = 0, app = 0, objects = 0;
  int code;
  int began = 0;

  if (!read_only) {
    /* IMMEDIATE: two processes creating (or upgrading) the same store
     * must not both do it. */
    code = exec_sql(s, "BEGIN IMMEDIATE", "begin schema check", err);
    if (code != 0)
      return code;
    began = 1;
  }
  code = pragma_int(s, "PRAGMA user_version", &version, err);
  if (code != 0)
    goto out;
  code = pragma_int(s, "PRAGMA application_id", &app, err);
  if (code != 0)
    goto out;
  code = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &objects, err);
  if (code != 0)
    goto out;

  if (version == 0 && app == 0 && objects == 0) {
    if (!create && !read_only) {
      /* Emptied by another process since the check in tide_store_open(). */
      code = tide_error_set(err, TIDE_E_NOTFOUND, 0, "store: the file holds no tide store");
      goto out;
    }
    if (read_only) {
      code = tide_error_set(err, TIDE_E_STORE_SCHEMA, 0,
                            "store: empty database, not a tide store (open it writable once "
                            "to create one)");
      goto out;
    }
    code = exec_sql(s, schema_tables_sql, "create schema", err);
    if (code == 0)
      code = exec_sql(s, schema_indexes_sql, "create schema", err);
    if (code != 0)
      goto out;
    char sql[96];
    snprintf(sql, sizeof sql, "PRAGMA application_id = %d; PRAGMA user_version = %d",
             APPLICATION_ID, TIDE_STORE_SCHEMA_VERSION);
    code = exec_sql(s, sql, "set schema version", err);
    if (code != 0)
      goto out;
  } else if (app != APPLICATION_ID) {
    code = tide_error_set(err, TIDE_E_STORE_SCHEMA, 0,
                          "store: not a tide store (application_id %lld, user_version %lld)",
                          (long long)app, (long long)version);
    goto out;
  } else if (version == 1 && read_only) {
    code = tide_error_set(err, TIDE_E_STORE_SCHEMA, 0,
                          "store: schema version 1 must be upgraded to version %d first: "
                          "open the store writable once (any tide command that writes "
                          "does it)",
                          TIDE_STORE_SCHEMA_VERSION);
    goto out;
  } else if (version == 1) {
    code = upgrade_v1(s, err);
    if (code != 0)
      goto out;
  } else if (version != TIDE_STORE_SCHEMA_VERSION) {
    code = tide_error_set(err, TIDE_E_STORE_SCHEMA, 0,
                          "store: schema version %lld, but this tide reads version %d%s",
                          (long long)version, TIDE_STORE_SCHEMA_VERSION,
                          version > TIDE_STORE_SCHEMA_VERSION ? " (made by a newer tide)" : "");
    goto out;
  }
  if (began) {
    code = exec_sql(s, "COMMIT", "commit schema", err);
    if (code == 0)
      began = 0;
  }
out:
  if (began)
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return code;
}

/* Prepares "<head>(?,...),(?,...)..." with PEND_ROWS rows of nparams
 * parameters into *out. */
static int prepare_multi(tide_store *s, sqlite3_stmt **out, const char *head, int nparams,
                         tide_error *err)
{
  size_t hl = strlen(head), n = hl, cap = hl + (size_t)PEND_ROWS * (3 + 2 * (size_t)nparams) + 1;
  char *sql = malloc(cap);
  int rc;

  if (sql == NULL)
    return tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory");
  memcpy(sql, head, hl);
  for (int i = 0; i < PEND_ROWS; i++) {
    if (i > 0)
      sql[n++] = ',';
    sql[n++] = '(';
    for (int j = 0; j < nparams; j++) {
      if (j > 0)
        sql[n++] = ',';
      sql[n++] = '?';
    }
    sql[n++] = ')';
  }
  sql[n] = '\0';
  rc = sqlite3_prepare_v3(s->db, sql, (int)n, SQLITE_PREPARE_PERSISTENT, out, NULL);
  free(sql);
  return rc == SQLITE_OK ? 0 : tide__store_error(s, rc, "prepare", err);
}

/* 1 when the write-ahead log beside path is missing or empty: the
 * database file alone then holds every committed transaction. */
static int wal_is_empty(const char *path)
{
  char wal[4096];
  struct stat sb;

  if ((size_t)snprintf(wal, sizeof wal, "%s-wal", path) >= sizeof wal)
    return 0;
  if (stat(wal, &sb) != 0)
    return errno == ENOENT;
  return sb.st_size == 0;
}

/* 1 when this process may write the store file and its folder (the
 * folder holds the -wal and -shm files WAL mode needs). */
static int store_writable(const char *path)
{
  char dir[4096];
  const char *slash = strrchr(path, '/');
  size_t n = slash == NULL ? 1 : (size_t)(slash - path);

  if (slash == NULL)
    memcpy(dir, ".", 2);
  else if (n == 0)
    memcpy(dir, "/", 2);
  else if (n < sizeof dir) {
    memcpy(dir, path, n);
    dir[n] = '\0';
  } else {
    return 1; /* cannot tell: let SQLite's own message stand */
  }
  return access(path, W_OK) == 0 && access(dir, W_OK) == 0;
}

/* Reopens s->db read-only as an immutable file ("file:PATH?immutable=1",
 * PATH percent-encoded): SQLite then needs neither a -shm nor a -wal
 * file, so a store in a folder we cannot write (a read-only stick, a
 * backup) can be read.  Only safe when no write-ahead log holds
 * transactions (wal_is_empty) and nobody writes the file meanwhile,
 * which a read-only folder or file ensures for us. */
static int reopen_immutable(tide_store *s, const char *path)
{
  static const char hex[] = "0123456789ABCDEF";
  tide_buf uri = TIDE_BUF_INIT;
  int rc = tide_buf_puts(&uri, "file:");

  for (const unsigned char *p = (const unsigned char *)path; rc == 0 && *p != '\0'; p++) {
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
        strchr("/._-~", *p) != NULL) {
      rc = tide_buf_putc(&uri, (char)*p);
    } else {
      char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      rc = tide_buf_append(&uri, e, 3);
    }
  }
  if (rc == 0)
    rc = tide_buf_puts(&uri, "?immutable=1"); /* the buffer stays NUL-terminated */
  if (rc != 0) {
    tide_buf_free(&uri);
    return SQLITE_NOMEM;
  }
  sqlite3_close(s->db);
  s->db = NULL;
  rc = sqlite3_open_v2(
      uri.data, &s->db,
      SQLITE_OPEN_READONLY | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE, NULL);
  tide_buf_free(&uri);
  return rc;
}

int tide_store_open(tide_store **out, const char *path, unsigned flags, tide_error *err)
{
  tide_store *s = NULL;
  int read_only = (flags & TIDE_STORE_READ_ONLY) != 0;
  int oflags = SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE;
  int rc, code = 0;
  int64_t dummy;
  char jm[16] = "";

  if (out == NULL || path == NULL)
    return tide_error_set(err, TIDE_E_INVAL, 0, "store: no path given");
  *out = NULL;
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory");
  oflags |= read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
  if (!read_only && (flags & TIDE_STORE_EXISTING) == 0)
    oflags |= SQLITE_OPEN_CREATE;
  rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
  if (rc != SQLITE_OK) {
    if (s->db == NULL) {
      code = tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory opening %s", path);
    } else if (strcmp(path, TIDE_STORE_MEMORY) != 0 && access(path, F_OK) != 0 && errno == ENOENT) {
      code = tide_error_set(err, TIDE_E_NOTFOUND, 0, "store: %s does not exist", path);
    } else {
      code = tide_error_set(err, TIDE_E_STORE, 0, "store: cannot open %s: %s", path,
                            sqlite3_errmsg(s->db));
    }
    goto out;
  }
  (void)sqlite3_extended_result_codes(s->db, 1);
  rc = sqlite3_busy_timeout(s->db, TIDE_STORE_BUSY_TIMEOUT_MS);
  if (rc != SQLITE_OK) {
    code = tide__store_error(s, rc, "busy timeout", err);
    goto out;
  }
  /* Touch the file first: "file is not a database" shows up here. */
  code = pragma_int(s, "PRAGMA schema_version", &dummy, err);
  if (code != 0 && read_only && wal_is_empty(path) &&
      ((rc = sqlite3_extended_errcode(s->db)) & 0xff) != SQLITE_NOTADB) {
    /* No -shm can be made beside the file (read-only folder): read the
     * file as immutable, which is exact when no WAL is pending. */
    rc = reopen_immutable(s, path);
    if (rc != SQLITE_OK) {
      code = s->db == NULL ? tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory")
                           : tide_error_set(err, TIDE_E_STORE, 0, "store: cannot open %s: %s", path,
                                            sqlite3_errmsg(s->db));
      goto out;
    }
    code = pragma_int(s, "PRAGMA schema_version", &dummy, err);
  }
  if (code != 0) {
    int ec = sqlite3_extended_errcode(s->db) & 0xff;
    int unwritable = (ec == SQLITE_READONLY || ec == SQLITE_CANTOPEN) && !store_writable(path);
    if (unwritable && !read_only)
      tide_error_set(err, code, 0, "store: %s cannot be written (read-only file or folder): %s",
                     path, sqlite3_errmsg(s->db));
    else if (unwritable && !wal_is_empty(path))
      tide_error_set(err, code, 0,
                     "store: %s has a write-ahead log that only an open in a writable folder "
                     "can read (open it once where it can be written)",
                     path);
    else
      tide_error_set(err, code, 0, "store: cannot read %s: %s", path, sqlite3_errmsg(s->db));
    goto out;
  }
  if (!read_only && (flags & TIDE_STORE_EXISTING) != 0) {
    /* Before anything below writes a header into an empty file. */
    code = pragma_int(s, "SELECT count(*) FROM sqlite_schema", &dummy, err);
    if (code == 0 && dummy == 0)
      code = tide_error_set(err, TIDE_E_NOTFOUND, 0, "store: %s is empty: it holds no tide store",
                            path);
    if (code != 0)
      goto out;
  }
  if (!read_only) {
    sqlite3_stmt *st = NULL;
    /* 8 KiB pages for a new store (an existing one keeps its size; the
     * size is fixed once the file is in WAL mode): half the pages, WAL
     * frames and system calls of 4 KiB ones, and fewer page splits, for
     * 4% fewer instructions per append.  Larger pages would save a bit
     * more but rewrite more bytes per random index insert in big stores. */
    code = exec_sql(s, "PRAGMA page_size = 8192", "set page size", err);
    if (code != 0)
      goto out;
    rc = sqlite3_prepare_v2(s->db, "PRAGMA journal_mode = WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
      const char *m = (const char *)sqlite3_column_text(st, 0);
      if (m != NULL)
        strncpy(jm, m, sizeof jm - 1);
      rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK) {
      code = tide__store_error(s, rc, "set WAL mode", err);
      goto out;
    }
    /* An in-memory database reports "memory": there is nothing to keep. */
    if (strcmp(jm, "wal") != 0 && strcmp(jm, "memory") != 0) {
      code = tide_error_set(err, TIDE_E_STORE, 0,
                            "store: %s: cannot use WAL mode (journal mode is %s)", path, jm);
      goto out;
    }
  }
  code = exec_sql(s, "PRAGMA synchronous = FULL", "set synchronous", err);
  if (code != 0)
    goto out;
  /* A 16 MiB page cache keeps the indexes and recent pages in memory
   * during large imports (the default is 2 MiB); it costs nothing until
   * used.  Not persistent: set on every open. */
  code = exec_sql(s, "PRAGMA cache_size = -16384", "set cache size", err);
  if (code != 0)
    goto out;
  /* Debian builds SQLite with SECURE_DELETE, which zeroes every byte a
   * b-tree page split moves away.  A store holds public, signed messages
   * and never deletes them, so that costs time for nothing (5% of an
   * append). */
  code = exec_sql(s, "PRAGMA secure_delete = OFF", "set secure_delete", err);
  if (code != 0)
    goto out;
  s->read_only = read_only;
  code = setup_schema(s, read_only, (flags & TIDE_STORE_EXISTING) == 0, err);
  if (code != 0)
    goto out;
  /* Checkpoint when the WAL holds 16 MiB (2048 pages of 8 KiB, 4096 of a
   * version-1 store's 4 KiB) rather than SQLite's 1000 pages: fewer
   * checkpoints copy the same index pages into the database (and sync
   * it) again and again.  Durability is unchanged: commits sync the WAL
   * (synchronous = FULL). */
  code = pragma_int(s, "PRAGMA page_size", &dummy, err);
  if (code == 0) {
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint = %lld",
             (long long)(dummy > 0 ? (16 << 20) / dummy : 4096));
    code = exec_sql(s, sql, "set checkpoint", err);
  }
  if (code != 0)
    goto out;
  for (int i = 0; i < ST_COUNT; i++) {
    rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if (rc != SQLITE_OK) {
      code = tide__store_error(s, rc, "prepare", err);
      goto out;
    }
  }
  /* OR FAIL: SQLite then keeps no statement journal for the multi-row
   * statements (a failure poisons the whole transaction anyway; strace
   * shows no temporary file). */
  code = prepare_multi(s, &s->ins_many,
                       "INSERT OR FAIL INTO messages (feed, sequence, id, id_prefix, timestamp, "
                       "received, json) VALUES ",
                       ROW_PARAMS, err);
  if (code == 0)
    code = prepare_multi(s, &s->ins_contacts,
                         "INSERT OR FAIL INTO contacts (feed, contact, following, blocking, "
                         "sequence) VALUES ",
                         5, err);
  if (code != 0)
    goto out;
  *out = s;
  s = NULL;
out:
  tide_store_close(s);
  return code;
}

void tide_store_close(tide_store *s)
{
  if (s == NULL)
    return;
  if (s->db != NULL && !sqlite3_get_autocommit(s->db))
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  for (int i = 0; i < ST_COUNT; i++)
    sqlite3_finalize(s->st[i]);
  sqlite3_finalize(s->ins_many);
  sqlite3_finalize(s->ins_contacts);
  sqlite3_close_v2(s->db);
  free(s->arena);
  free(s->tf);
  free(s);
}

int tide_store_set_busy_timeout(tide_store *s, int ms, tide_error *err)
{
  int rc = sqlite3_busy_timeout(s->db, ms);
  return rc == SQLITE_OK ? 0 : tide__store_error(s, rc, "busy timeout", err);
}

/* ---- Transactions ------------------------------------------------------ */

/* Opens a write transaction and the feed cache that lives as long. */
static int txn_begin(tide_store *s, tide_error *err)
{
  int code = step_done(s, s->st[ST_BEGIN], "begin", err);

  if (code != 0)
    return code;
  tf_clear(s);
  s->tf_live = 1;
  s->poisoned = 0;
  return 0;
}

/* Rolls back whatever is open (SQLite may already have rolled back by
 * itself after an I/O error or a full disk) and drops the cache. */
static void txn_rollback(tide_store *s)
{
  if (!sqlite3_get_autocommit(s->db))
    (void)step_done(s, s->st[ST_ROLLBACK], "rollback", NULL);
  pend_clear(s);
  tf_clear(s);
  s->tf_live = 0;
  s->poisoned = 0;
}

/* Writes the cached feed rows back and commits; rolls back on failure. */
static int txn_commit(tide_store *s, tide_error *err)
{
  int code;

  if (s->poisoned || sqlite3_get_autocommit(s->db)) {
    txn_rollback(s);
    return tide_error_set(err, TIDE_E_STORE, 0,
                          "store: transaction rolled back after a storage error");
  }
  code = pend_flush(s, err);
  if (code == 0)
    code = tf_flush(s, err);
  if (code == 0)
    code = step_done(s, s->st[ST_COMMIT], "commit", err);
  if (code != 0) {
    txn_rollback(s);
    return code;
  }
  tf_clear(s);
  s->tf_live = 0;
  return 0;
}

int tide_store_begin(tide_store *s, tide_error *err)
{
  int code;

  if (s->in_txn)
    return tide_error_set(err, TIDE_E_INVAL, 0, "store: a transaction is already open");
  if (s->read_only)
    return tide_error_set(err, TIDE_E_STORE, 0, "store: opened read-only (readonly database)");
  code = txn_begin(s, err);
  if (code != 0)
    return code;
  s->in_txn = 1;
  return 0;
}

void tide_store_rollback(tide_store *s)
{
  if (s == NULL || !s->in_txn)
    return;
  txn_rollback(s);
  s->in_txn = 0;
}

int tide_store_commit(tide_store *s, tide_error *err)
{
  if (!s->in_txn)
    return tide_error_set(err, TIDE_E_INVAL, 0, "store: no transaction to commit");
  s->in_txn = 0;
  return txn_commit(s, err);
}

int tide_store_in_transaction(const tide_store *s)
{
  return s->in_txn;
}

/* ---- Feed state ---------------------------------------------------------- */

/* Reads pk's feeds row into *out.  Returns 1 (found), 0 (no such feed)
 * or a negative code. */
static int feed_read(tide_store *s, const uint8_t pk[TIDE_PK_BYTES], txn_feed *out, tide_error *err)
{
  char author[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *st = s->st[ST_FEED_GET];
  int r;

  memset(out, 0, sizeof *out);
  memcpy(out->pk, pk, TIDE_PK_BYTES);
  bind_text(st, 1, format_feed(author, pk), TIDE_FEED_ID_LEN);
  r = step_row(s, st, "read feed", err);
  if (r <= 0)
    return r;
  out->num = sqlite3_column_int64(st, 0);
  out->latest = sqlite3_column_int64(st, 1);
  out->forked = sqlite3_column_int(st, 3) != 0;
  r = column_blob32(st, 2, out->latest_id, "latest id", err);
  sqlite3_reset(st);
  if (r == 0 && (out->num <= 0 || out->latest <= 0))
    r = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                       "store: feed %s has number %lld and latest sequence %lld", author,
                       (long long)out->num, (long long)out->latest);
  return r == 0 ? 1 : r;
}

/* Inside a transaction: pk's cached state, read from `feeds` on first
 * use (an entry with num 0 stands for a feed not stored yet).  NULL with
 * *code set on failure. */
static txn_feed *feed_entry(tide_store *s, const uint8_t pk[TIDE_PK_BYTES], int *code,
                            tide_error *err)
{
  txn_feed *tf = tf_find(s, pk), tmp;
  int r;

  if (tf != NULL)
    return tf;
  r = feed_read(s, pk, &tmp, err);
  if (r < 0) {
    *code = r;
    return NULL;
  }
  tf = tf_add(s, pk);
  if (tf == NULL) {
    *code = tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory");
    return NULL;
  }
  *tf = tmp;
  tf->used = 1;
  return tf;
}

/* pk's state for a query: through the cache inside a transaction, else
 * read.  Returns 1 (stored), 0 (no messages of pk) or a negative code. */
static int feed_lookup(tide_store *s, const uint8_t pk[TIDE_PK_BYTES], txn_feed *out,
                       tide_error *err)
{
  if (s->tf_live) {
    int code = 0;
    txn_feed *tf = feed_entry(s, pk, &code, err);
    if (tf == NULL)
      return code;
    *out = *tf;
    return tf->num > 0;
  }
  return feed_read(s, pk, out, err);
}

/* ---- Appending --------------------------------------------------------- */

/* 1 for JSON true, 0 for false, -1 for anything else or nothing. */
static int tristate(const tide_json *v)
{
  if (v != NULL && tide_json_typeof(v) == TIDE_JSON_TRUE)
    return 1;
  if (v != NULL && tide_json_typeof(v) == TIDE_JSON_FALSE)
    return 0;
  return -1;
}

/* The contact index: content {"type":"contact","contact":"@...",...},
 * queued like the message rows. */
static int index_contact(tide_store *s, const tide_msg *m, int64_t num, int64_t seq,
                         tide_error *err)
{
  const tide_json *c = tide_msg_content(m);
  const tide_json *t, *who, *f, *b;
  const char *ts, *ws;
  size_t tl, wl;
  uint8_t pk[TIDE_PK_BYTES];
  pend_contact *pc;

  if (c == NULL || tide_json_typeof(c) != TIDE_JSON_OBJECT)
    return 0;
  t = tide_json_object_getz(c, "type");
  ts = tide_json_string(t, &tl);
  if (ts == NULL || tl != 7 || memcmp(ts, "contact", 7) != 0)
    return 0;
  who = tide_json_object_getz(c, "contact");
  ws = tide_json_string(who, &wl);
  if (ws == NULL || tide_feed_id_parse(pk, ws, wl) != 0)
    return 0;
  f = tide_json_object_getz(c, "following");
  b = tide_json_object_getz(c, "blocking");
  pc = &s->pc[s->npc];
  pc->num = num;
  pc->seq = seq;
  memcpy(pc->contact, pk, TIDE_PK_BYTES);
  pc->following = tristate(f);
  pc->blocking = tristate(b);
  if (++s->npc == PEND_ROWS)
    return pend_full(s, 1, err);
  return 0;
}

/* 1 when m's "previous" names id by ssb-validate's loose comparison, 0
 * when not, negative (TIDE_E_NOMEM) on failure.  A previous that is a
 * canonical id string (tide_msg_previous() gives its bytes) equals the
 * canonical text of id exactly when the bytes are equal, so the usual
 * case needs no formatting. */
static int previous_is(const tide_msg *m, const uint8_t id[TIDE_HASH_BYTES])
{
  uint8_t p[TIDE_HASH_BYTES];

  if (tide_msg_previous(m, p))
    return memcmp(p, id, TIDE_HASH_BYTES) == 0;
  return tide_msg_previous_matches(m, id);
}

/* 1 when id is stored as fork evidence, 0 when not, or a negative code. */
static int fork_has(tide_store *s, const uint8_t id[TIDE_HASH_BYTES], tide_error *err)
{
  sqlite3_stmt *st = s->st[ST_FORK_HAS];
  int r;

  bind_blob32(st, 1, id);
  r = step_row(s, st, "read forks", err);
  if (r == 1)
    sqlite3_reset(st);
  return r;
}

/* Writes m as fork evidence (sequence seq, stored_id `stored`) and marks
 * the feed (which has a row) forked at forked_seq. */
static int record_fork(tide_store *s, txn_feed *tf, const tide_msg *m, int64_t seq,
                       const uint8_t stored[TIDE_HASH_BYTES], int64_t forked_seq,
                       int64_t received_ms, tide_error *err)
{
  const char *text;
  size_t text_len;
  sqlite3_stmt *st;
  int r;

  text = tide_msg_text(m, &text_len);
  st = s->st[ST_FORK_INSERT];
  bind_blob32(st, 1, tide_msg_id(m));
  sqlite3_bind_int64(st, 2, tf->num);
  sqlite3_bind_int64(st, 3, seq);
  bind_blob32(st, 4, stored);
  sqlite3_bind_int64(st, 5, received_ms);
  bind_text(st, 6, text, text_len);
  r = step_done(s, st, "record fork", err);
  if (r != 0)
    return r;
  tf->forked = 1;
  st = s->st[ST_FEED_FORKED];
  sqlite3_bind_int64(st, 1, tf->num);
  sqlite3_bind_int64(st, 2, forked_seq);
  return step_done(s, st, "mark feed forked", err);
}

/* Error for a message of a forked feed. */
static int forked_error(const uint8_t pk[TIDE_PK_BYTES], tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1];
  return tide_error_set(err, TIDE_E_STORE_FORKED, 0, "store: feed %s is forked",
                        format_feed(a, pk));
}

static int gap_error(const uint8_t pk[TIDE_PK_BYTES], int64_t latest, int64_t seq, tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1];
  return tide_error_set(
      err, TIDE_E_STORE_GAP, 0, "gap: feed %s missing sequence %lld (have up to %lld, got %lld)",
      format_feed(a, pk), (long long)(latest + 1), (long long)latest, (long long)seq);
}

/* Before m (id) is recorded as fork evidence: 0 when it is not stored as
 * evidence yet and its feed is not frozen; else TIDE_E_EXISTS,
 * TIDE_E_STORE_FORKED or a storage error. */
static int evidence_unseen(tide_store *s, const txn_feed *tf, const uint8_t *id, tide_error *err)
{
  char i1[TIDE_MSG_ID_LEN + 1];
  int r = fork_has(s, id, err);

  if (r < 0)
    return r;
  if (r == 1)
    return tide_error_set(err, TIDE_E_EXISTS, 0,
                          "store: message %s already stored as fork evidence",
                          format_msg_id(i1, id));
  if (tf->forked)
    return forked_error(tf->pk, err);
  return 0;
}

/* m at a sequence the feed already holds: the same message (EXISTS), a
 * known piece of evidence (EXISTS), or new fork evidence (FORK). */
static int append_stored_seq(tide_store *s, txn_feed *tf, const tide_msg *m, int64_t received_ms,
                             tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1], i1[TIDE_MSG_ID_LEN + 1], i2[TIDE_MSG_ID_LEN + 1];
  const uint8_t *id = tide_msg_id(m);
  uint8_t stored[TIDE_HASH_BYTES];
  int64_t seq = tide_msg_sequence(m);
  sqlite3_stmt *st = s->st[ST_ID_AT];
  int r = pend_sync(s, err);

  if (r != 0)
    return r;
  sqlite3_bind_int64(st, 1, tf->num);
  sqlite3_bind_int64(st, 2, seq);
  r = step_row(s, st, "read message id", err);
  if (r < 0)
    return r;
  if (r == 0)
    return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                          "store: feed %s claims sequence %lld but message %lld is missing",
                          format_feed(a, tf->pk), (long long)tf->latest, (long long)seq);
  r = column_blob32(st, 0, stored, "message id", err);
  sqlite3_reset(st);
  if (r != 0)
    return r;
  if (memcmp(stored, id, TIDE_HASH_BYTES) == 0)
    return tide_error_set(err, TIDE_E_EXISTS, 0, "store: message %s already stored",
                          format_msg_id(i1, id));
  r = evidence_unseen(s, tf, id, err);
  if (r != 0)
    return r;
  r = record_fork(s, tf, m, seq, stored, seq, received_ms, err);
  if (r != 0)
    return r;
  return tide_error_set(
      err, TIDE_E_STORE_FORK, 0, "fork: feed %s has two messages at sequence %lld (%s and %s)",
      format_feed(a, tf->pk), (long long)seq, format_msg_id(i1, stored), format_msg_id(i2, id));
}

/* m one past the latest but chained on another message at seq-1: fork
 * evidence (see tide_store_record_fork()). */
static int record_evidence(tide_store *s, txn_feed *tf, const tide_msg *m, int64_t received_ms,
                           tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1], i1[TIDE_MSG_ID_LEN + 1], i2[TIDE_MSG_ID_LEN + 1],
      i3[TIDE_MSG_ID_LEN + 1];
  const uint8_t *id = tide_msg_id(m);
  uint8_t prev[TIDE_HASH_BYTES];
  int64_t seq = tide_msg_sequence(m);
  int r;

  r = evidence_unseen(s, tf, id, err);
  if (r != 0)
    return r;
  if (seq > tf->latest + 1)
    return gap_error(tf->pk, tf->latest, seq, err);
  if (seq == 1)
    return tide_error_set(err, TIDE_E_INVAL, 0,
                          "store: message 1 of %s is no fork evidence (the feed is new)",
                          format_feed(a, tf->pk));
  r = previous_is(m, tf->latest_id);
  if (r == 0)
    r = tide_msg_previous_coerced(m, prev);
  else if (r == 1)
    return tide_error_set(err, TIDE_E_INVAL, 0,
                          "store: message %lld of %s chains on the latest message: no fork",
                          (long long)seq, format_feed(a, tf->pk));
  if (r < 0)
    return tide_error_set(err, r, 0, "store: out of memory");
  if (r == 0)
    return tide_error_set(err, TIDE_E_INVAL, 0, "store: message %lld of %s has no previous",
                          (long long)seq, format_feed(a, tf->pk));
  r = record_fork(s, tf, m, seq, tf->latest_id, seq - 1, received_ms, err);
  if (r != 0)
    return r;
  return tide_error_set(err, TIDE_E_STORE_FORK, 0,
                        "fork: feed %s has two messages at sequence %lld (%s, and %s that "
                        "message %s names as previous)",
                        format_feed(a, tf->pk), (long long)(seq - 1),
                        format_msg_id(i1, tf->latest_id), format_msg_id(i2, prev),
                        format_msg_id(i3, id));
}

/* The append proper, inside a transaction (the caller's or our own).
 * With `evidence`, m is only recorded as fork evidence (see
 * tide_store_record_fork()), never appended.  The usual case (the next
 * message of a feed seen earlier in the transaction) costs a copy into
 * the queue of rows (pend_add); the feed's row is written back at
 * commit. */
static int append_in_txn(tide_store *s, const tide_msg *m, int64_t received_ms, int evidence,
                         tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1], i1[TIDE_MSG_ID_LEN + 1], i2[TIDE_MSG_ID_LEN + 1];
  uint8_t pk[TIDE_PK_BYTES], prev[TIDE_HASH_BYTES];
  const uint8_t *id = tide_msg_id(m);
  int64_t seq = tide_msg_sequence(m);
  int r, code = 0;
  txn_feed *tf;

  if (!tide_msg_author(m, pk) || seq <= 0)
    return tide_error_set(err, TIDE_E_INVAL, 0, "store: message has no valid author or sequence");
  tf = feed_entry(s, pk, &code, err);
  if (tf == NULL)
    return code;
  if (seq <= tf->latest)
    return append_stored_seq(s, tf, m, received_ms, err);
  if (evidence)
    return record_evidence(s, tf, m, received_ms, err);
  if (tf->forked)
    return forked_error(pk, err);
  if (seq > tf->latest + 1)
    return gap_error(pk, tf->latest, seq, err);
  if (seq == 1) {
    const tide_json *pv = tide_json_object_getz(tide_msg_value(m), "previous");
    if (pv == NULL || tide_json_typeof(pv) != TIDE_JSON_NULL)
      return tide_error_set(err, TIDE_E_INVAL, 0,
                            "store: first message of %s must have previous null",
                            format_feed(a, pk));
  } else {
    /* The loose comparison ssb-validate makes (never a stricter one). */
    r = previous_is(m, tf->latest_id);
    if (r < 0)
      return tide_error_set(err, r, 0, "store: out of memory");
    if (r == 0) {
      r = tide_msg_previous_coerced(m, prev);
      if (r < 0)
        return tide_error_set(err, r, 0, "store: out of memory");
      if (r == 0)
        return tide_error_set(err, TIDE_E_INVAL, 0, "store: message %lld of %s has no previous",
                              (long long)seq, format_feed(a, pk));
      return tide_error_set(err, TIDE_E_INVAL, 0,
                            "store: previous %s of %s:%lld does not match latest %s",
                            format_msg_id(i1, prev), format_feed(a, pk), (long long)seq,
                            format_msg_id(i2, tf->latest_id));
    }
  }

  if (tf->num == 0) {
    /* A new feed: its row (already holding this message as the latest)
     * gives it its number. */
    sqlite3_stmt *fst = s->st[ST_FEED_NEW];
    bind_text(fst, 1, format_feed(a, pk), TIDE_FEED_ID_LEN);
    sqlite3_bind_int64(fst, 2, seq);
    bind_blob32(fst, 3, id);
    r = step_done(s, fst, "add feed", err);
    if (r != 0)
      return r;
    tf->num = sqlite3_last_insert_rowid(s->db);
  } else {
    tf->dirty = 1;
  }
  r = pend_add(s, tf, m, received_ms, err);
  if (r != 0)
    return r;
  tf->latest = seq;
  memcpy(tf->latest_id, id, TIDE_HASH_BYTES);
  return index_contact(s, m, tf->num, seq, err);
}

static int is_storage_error(int code)
{
  return code == TIDE_E_STORE || code == TIDE_E_NOMEM || code == TIDE_E_STORE_CORRUPT;
}

static int append_or_record(tide_store *s, const tide_msg *m, int64_t received_ms, int evidence,
                            tide_error *err)
{
  int code, c2;

  if (s->in_txn) {
    if (s->poisoned)
      return tide_error_set(err, TIDE_E_STORE, 0,
                            "store: transaction failed earlier; roll it back");
    code = append_in_txn(s, m, received_ms, evidence, err);
    if (is_storage_error(code))
      s->poisoned = 1;
    return code;
  }
  code = txn_begin(s, err);
  if (code != 0)
    return code;
  code = append_in_txn(s, m, received_ms, evidence, err);
  if (code == 0 || code == TIDE_E_STORE_FORK) {
    /* Both wrote something; a failing commit replaces the verdict. */
    c2 = txn_commit(s, err);
    return c2 == 0 ? code : c2;
  }
  txn_rollback(s);
  return code;
}

int tide_store_append(tide_store *s, const tide_msg *m, int64_t received_ms, tide_error *err)
{
  return append_or_record(s, m, received_ms, 0, err);
}

int tide_store_record_fork(tide_store *s, const tide_msg *m, int64_t received_ms, tide_error *err)
{
  return append_or_record(s, m, received_ms, 1, err);
}

/* ---- Queries ------------------------------------------------------------ */

int tide_store_latest(tide_store *s, tide_feed_state *out, int *forked,
                      const uint8_t author[TIDE_PK_BYTES], tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1];
  txn_feed f;
  int r = feed_lookup(s, author, &f, err);

  if (r < 0)
    return r;
  if (r == 0)
    return tide_error_set(err, TIDE_E_NOTFOUND, 0, "store: no messages of %s",
                          format_feed(a, author));
  out->sequence = f.latest;
  memcpy(out->id, f.latest_id, TIDE_HASH_BYTES);
  if (forked != NULL)
    *forked = f.forked;
  return 0;
}

/* Writes queued rows out, then binds author's feed number and sequence
 * as parameters 1 and 2 of st.  Returns 1, 0 when the feed is unknown
 * (nothing bound), or a negative code. */
static int bind_feed_seq(tide_store *s, sqlite3_stmt *st, const uint8_t author[TIDE_PK_BYTES],
                         int64_t sequence, tide_error *err)
{
  txn_feed f;
  int r = pend_sync(s, err);

  if (r == 0)
    r = feed_lookup(s, author, &f, err);
  if (r == 1) {
    sqlite3_bind_int64(st, 1, f.num);
    sqlite3_bind_int64(st, 2, sequence);
  }
  return r;
}

int tide_store_get_id(tide_store *s, uint8_t id[TIDE_HASH_BYTES],
                      const uint8_t author[TIDE_PK_BYTES], int64_t sequence, tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *st = s->st[ST_ID_AT];
  int r = bind_feed_seq(s, st, author, sequence, err);

  if (r < 0)
    return r;
  if (r == 1) {
    r = step_row(s, st, "read message id", err);
    if (r < 0)
      return r;
  }
  if (r == 0)
    return tide_error_set(err, TIDE_E_NOTFOUND, 0, "store: no message %lld of %s",
                          (long long)sequence, format_feed(a, author));
  r = column_blob32(st, 0, id, "message id", err);
  sqlite3_reset(st);
  return r;
}

/* Fills rec from a row of RECORD_COLUMNS (id, sequence, timestamp,
 * received, json), and author from column 5 when pk is NULL. */
static int row_record(tide_store *s, sqlite3_stmt *st, tide_store_record *rec, const uint8_t *pk,
                      tide_error *err)
{
  int r = column_blob32(st, 0, rec->id, "message id", err);

  if (r != 0)
    return r;
  if (pk != NULL)
    memcpy(rec->author, pk, TIDE_PK_BYTES);
  else if ((r = column_feed(st, 5, rec->author, err)) != 0)
    return r;
  rec->sequence = sqlite3_column_int64(st, 1);
  switch (sqlite3_column_type(st, 2)) {
  case SQLITE_FLOAT:
  case SQLITE_INTEGER: rec->timestamp = sqlite3_column_double(st, 2); break;
  default: rec->timestamp = NAN; /* not a number in the message */
  }
  rec->received_ms = sqlite3_column_int64(st, 3);
  rec->text = (const char *)sqlite3_column_text(st, 4);
  rec->text_len = (size_t)sqlite3_column_bytes(st, 4);
  if (rec->text == NULL) {
    if (sqlite3_errcode(s->db) == SQLITE_NOMEM)
      return tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory reading a message");
    rec->text = "";
  }
  return 0;
}

static int get_row(tide_store *s, sqlite3_stmt *st, tide_buf *text, tide_store_record *rec,
                   const uint8_t *pk, tide_error *err)
{
  tide_store_record tmp;
  int r = sqlite3_step(st), code;

  if (rec == NULL)
    rec = &tmp;
  if (r == SQLITE_DONE) {
    sqlite3_reset(st);
    return tide_error_set(err, TIDE_E_NOTFOUND, 0, "store: no such message");
  }
  if (r != SQLITE_ROW) {
    code = tide__store_error(s, r, "read message", err);
    sqlite3_reset(st);
    return code;
  }
  code = row_record(s, st, rec, pk, err);
  if (code == 0) {
    tide_buf_reset(text);
    code = tide_buf_append(text, rec->text, rec->text_len);
    if (code != 0)
      tide_error_set(err, code, 0, "store: out of memory");
    rec->text = text->data;
  }
  sqlite3_reset(st);
  return code;
}

int tide_store_get(tide_store *s, tide_buf *text, tide_store_record *rec,
                   const uint8_t author[TIDE_PK_BYTES], int64_t sequence, tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *st = s->st[ST_GET_SEQ];
  int code = bind_feed_seq(s, st, author, sequence, err);

  if (code < 0)
    return code;
  if (code == 1) {
    code = get_row(s, st, text, rec, author, err);
  } else {
    code = TIDE_E_NOTFOUND;
  }
  if (code == TIDE_E_NOTFOUND)
    tide_error_set(err, code, 0, "store: no message %lld of %s", (long long)sequence,
                   format_feed(a, author));
  return code;
}

int tide_store_get_by_id(tide_store *s, tide_buf *text, tide_store_record *rec,
                         const uint8_t id[TIDE_HASH_BYTES], tide_error *err)
{
  char i[TIDE_MSG_ID_LEN + 1];
  sqlite3_stmt *st = s->st[ST_GET_ID];
  int code = pend_sync(s, err);

  if (code != 0)
    return code;
  bind_id_lookup(st, id);
  code = get_row(s, st, text, rec, NULL, err);
  if (code == TIDE_E_NOTFOUND)
    tide_error_set(err, code, 0, "store: no message %s", format_msg_id(i, id));
  return code;
}

int tide_store_has(tide_store *s, const uint8_t id[TIDE_HASH_BYTES], tide_error *err)
{
  sqlite3_stmt *st = s->st[ST_MSG_HAS];
  int r = pend_sync(s, err);

  if (r != 0)
    return r;
  bind_id_lookup(st, id);
  r = step_row(s, st, "read messages", err);
  if (r != 0) {
    if (r == 1)
      sqlite3_reset(st);
    return r;
  }
  return fork_has(s, id, err);
}

/* Prepares a statement for an iterator (fresh each time, so iterators may
 * nest and callbacks may use the store's other queries). */
static int prepare(tide_store *s, sqlite3_stmt **st, const char *sql, tide_error *err)
{
  int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
  return rc == SQLITE_OK ? 0 : tide__store_error(s, rc, "prepare", err);
}

int tide_store_iter_feed(tide_store *s, const uint8_t author[TIDE_PK_BYTES], int64_t from,
                         int64_t to, tide_store_record_cb cb, void *ctx, tide_error *err)
{
  sqlite3_stmt *st = NULL;
  tide_store_record rec;
  txn_feed f;
  int code, rc;

  code = pend_sync(s, err);
  if (code == 0)
    code = feed_lookup(s, author, &f, err);
  if (code <= 0)
    return code; /* no such feed: no messages */
  code = prepare(s, &st,
                 "SELECT " RECORD_COLUMNS " FROM messages m "
                 "WHERE m.feed = ?1 AND m.sequence >= ?2 AND m.sequence <= ?3 ORDER BY m.sequence",
                 err);
  if (code != 0)
    return code;
  sqlite3_bind_int64(st, 1, f.num);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to <= 0 ? INT64_MAX : to);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    code = row_record(s, st, &rec, author, err);
    if (code == 0)
      code = cb(ctx, &rec);
    if (code != 0)
      goto out;
  }
  if (rc != SQLITE_DONE)
    code = tide__store_error(s, rc, "read feed messages", err);
out:
  sqlite3_finalize(st);
  return code;
}

int tide_store_feeds(tide_store *s, tide_store_feed_cb cb, void *ctx, tide_error *err)
{
  sqlite3_stmt *st = NULL;
  tide_store_feed f;
  int code, rc;

  if (s->in_txn && (code = tf_flush(s, err)) != 0)
    return code;
  code = prepare(s, &st, "SELECT author, latest_seq, latest_id, forked FROM feeds ORDER BY author",
                 err);
  if (code != 0)
    return code;
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    code = column_feed(st, 0, f.author, err);
    if (code == 0)
      code = column_blob32(st, 2, f.latest.id, "latest id", err);
    if (code != 0)
      goto out;
    f.latest.sequence = sqlite3_column_int64(st, 1);
    f.forked = sqlite3_column_int(st, 3) != 0;
    code = cb(ctx, &f);
    if (code != 0)
      goto out;
  }
  if (rc != SQLITE_DONE)
    code = tide__store_error(s, rc, "read feeds", err);
out:
  sqlite3_finalize(st);
  return code;
}

int tide_store_forks(tide_store *s, const uint8_t *author, tide_store_fork_cb cb, void *ctx,
                     tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *st = NULL;
  tide_store_fork f;
  int code, rc;

  code = prepare(s, &st,
                 "SELECT f.author, k.sequence, k.stored_id, k.fork_id, k.detected, k.json "
                 "FROM forks k JOIN feeds f ON f.num = k.feed "
                 "WHERE ?1 IS NULL OR f.author = ?1 ORDER BY f.author, k.sequence, k.fork_id",
                 err);
  if (code != 0)
    return code;
  if (author != NULL)
    bind_text(st, 1, format_feed(a, author), TIDE_FEED_ID_LEN);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    code = column_feed(st, 0, f.author, err);
    if (code == 0)
      code = column_blob32(st, 2, f.stored_id, "stored id", err);
    if (code == 0)
      code = column_blob32(st, 3, f.fork_id, "fork id", err);
    if (code != 0)
      goto out;
    f.sequence = sqlite3_column_int64(st, 1);
    f.detected_ms = sqlite3_column_int64(st, 4);
    f.fork_text = (const char *)sqlite3_column_text(st, 5);
    f.fork_text_len = (size_t)sqlite3_column_bytes(st, 5);
    if (f.fork_text == NULL)
      f.fork_text = "";
    code = cb(ctx, &f);
    if (code != 0)
      goto out;
  }
  if (rc != SQLITE_DONE)
    code = tide__store_error(s, rc, "read forks", err);
out:
  sqlite3_finalize(st);
  return code;
}

static int column_tristate(sqlite3_stmt *st, int col)
{
  if (sqlite3_column_type(st, col) == SQLITE_NULL)
    return -1;
  return sqlite3_column_int(st, col) != 0;
}

int tide_store_contacts(tide_store *s, int64_t after_rowid, tide_store_contact_cb cb, void *ctx,
                        tide_error *err)
{
  sqlite3_stmt *st = NULL;
  tide_store_contact c;
  int64_t last_num = 0; /* the author of the row before: parsed once */
  int code = pend_sync(s, err), rc;

  if (code == 0)
    code = prepare(s, &st,
                   "SELECT c.row_id, c.feed, f.author, c.contact, c.following, c.blocking, "
                   "c.sequence FROM contacts c JOIN feeds f ON f.num = c.feed "
                   "WHERE c.row_id > ?1 ORDER BY c.row_id",
                   err);
  if (code != 0)
    return code;
  sqlite3_bind_int64(st, 1, after_rowid);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t num = sqlite3_column_int64(st, 1);
    c.rowid = sqlite3_column_int64(st, 0);
    if (num != last_num) {
      last_num = 0;
      code = column_feed(st, 2, c.author, err);
      if (code != 0)
        goto out;
      last_num = num;
    }
    code = column_blob32(st, 3, c.contact, "contact", err);
    if (code != 0)
      goto out;
    c.following = column_tristate(st, 4);
    c.blocking = column_tristate(st, 5);
    c.sequence = sqlite3_column_int64(st, 6);
    code = cb(ctx, &c);
    if (code != 0)
      goto out;
  }
  if (rc != SQLITE_DONE)
    code = tide__store_error(s, rc, "read contacts", err);
out:
  sqlite3_finalize(st);
  return code;
}

int tide_store_get_stats(tide_store *s, tide_store_stats *out, tide_error *err)
{
  int64_t v[7] = {0};
  static const char *const q[7] = {
      "SELECT count(*) FROM feeds",
      "SELECT count(*) FROM messages",
      "SELECT count(*) FROM feeds WHERE forked != 0",
      "SELECT count(*) FROM forks",
      "SELECT count(*) FROM contacts",
      "PRAGMA page_count",
      "PRAGMA page_size",
  };
  int code = pend_sync(s, err);

  if (code != 0 || (s->in_txn && (code = tf_flush(s, err)) != 0))
    return code;
  for (int i = 0; i < 7; i++) {
    code = pragma_int(s, q[i], &v[i], err);
    if (code != 0)
      return code;
  }
  out->feeds = (uint64_t)v[0];
  out->messages = (uint64_t)v[1];
  out->forked_feeds = (uint64_t)v[2];
  out->forks = (uint64_t)v[3];
  out->contacts = (uint64_t)v[4];
  out->bytes = (uint64_t)v[5] * (uint64_t)v[6];
  return 0;
}

/* ---- Consistency check -------------------------------------------------- */

static int check_integrity(tide_store *s, tide_error *err)
{
  sqlite3_stmt *st = NULL;
  int code, rc;

  code = prepare(s, &st, "PRAGMA integrity_check", err);
  if (code != 0)
    return code;
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    const char *t = (const char *)sqlite3_column_text(st, 0);
    if (t == NULL || strcmp(t, "ok") != 0)
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: integrity_check: %s",
                            t == NULL ? "(null)" : t);
  } else {
    code = tide__store_error(s, rc, "integrity_check", err);
  }
  sqlite3_finalize(st);
  return code;
}

/* Checks one feed's log: 1..latest, ids recompute, chain links. */
static int check_feed(tide_store *s, sqlite3_stmt *st, const char *author, int64_t num,
                      int64_t latest, const uint8_t latest_id[TIDE_HASH_BYTES], tide_error *err)
{
  char i1[TIDE_MSG_ID_LEN + 1], i2[TIDE_MSG_ID_LEN + 1];
  uint8_t pk[TIDE_PK_BYTES], apk[TIDE_PK_BYTES], prev[TIDE_HASH_BYTES], sid[TIDE_HASH_BYTES];
  uint8_t last[TIDE_HASH_BYTES] = {0};
  int64_t expect = 1;
  int rc, code = 0;
  tide_msg *m = NULL;

  if (tide_feed_id_parse(apk, author, strlen(author)) != 0)
    return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: malformed feed id %s", author);
  sqlite3_bind_int64(st, 1, num);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t seq = sqlite3_column_int64(st, 0);
    const char *json = (const char *)sqlite3_column_text(st, 2);
    size_t jl = (size_t)sqlite3_column_bytes(st, 2);
    tide_error perr;

    if (seq != expect) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s: expected sequence %lld, found %lld", author,
                            (long long)expect, (long long)seq);
      goto out;
    }
    code = column_blob32(st, 1, sid, "message id", err);
    if (code != 0)
      goto out;
    if (sqlite3_column_int64(st, 3) != id_prefix_of(sid)) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s message %lld: id_prefix does not match its id", author,
                            (long long)seq);
      goto out;
    }
    if (json == NULL || tide_msg_parse(&m, json, jl, &perr) != 0) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s message %lld does not parse", author, (long long)seq);
      goto out;
    }
    if (memcmp(sid, tide_msg_id(m), TIDE_HASH_BYTES) != 0) {
      code =
          tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                         "store: feed %s message %lld: stored id %s but text hashes to %s", author,
                         (long long)seq, format_msg_id(i1, sid), format_msg_id(i2, tide_msg_id(m)));
      goto out;
    }
    if (!tide_msg_author(m, pk) || memcmp(pk, apk, sizeof pk) != 0 || tide_msg_sequence(m) != seq) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s message %lld: author or sequence differ in its text",
                            author, (long long)seq);
      goto out;
    }
    if (seq == 1 ? tide_msg_previous(m, prev) != 0 : tide_msg_previous_matches(m, last) != 1) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s message %lld: previous does not link to message %lld",
                            author, (long long)seq, (long long)(seq - 1));
      goto out;
    }
    memcpy(last, sid, TIDE_HASH_BYTES);
    tide_msg_free(m);
    m = NULL;
    expect++;
  }
  if (rc != SQLITE_DONE) {
    code = tide__store_error(s, rc, "read feed", err);
    goto out;
  }
  if (expect - 1 != latest || (latest > 0 && memcmp(last, latest_id, TIDE_HASH_BYTES) != 0))
    code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                          "store: feed %s: feeds table says latest %lld %s, log ends at %lld %s",
                          author, (long long)latest, format_msg_id(i1, latest_id),
                          (long long)(expect - 1), expect > 1 ? format_msg_id(i2, last) : "");
out:
  tide_msg_free(m);
  sqlite3_reset(st);
  return code;
}

/* One "SELECT count(*) ..." that must give 0; else STORE_CORRUPT with
 * "store: <count> <what>". */
static int check_none(tide_store *s, const char *sql, const char *what, tide_error *err)
{
  int64_t n = 0;
  int code = pragma_int(s, sql, &n, err);

  if (code == 0 && n != 0)
    code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: %lld %s", (long long)n, what);
  return code;
}

int tide_store_check(tide_store *s, tide_error *err)
{
  sqlite3_stmt *feeds = NULL, *msgs = NULL;
  int code = pend_sync(s, err), rc;

  if (code != 0 || (s->in_txn && (code = tf_flush(s, err)) != 0))
    return code;
  code = check_integrity(s, err);
  if (code == 0)
    code = check_none(s, "SELECT count(*) FROM messages WHERE feed NOT IN (SELECT num FROM feeds)",
                      "messages belong to no feed", err);
  if (code == 0)
    code = check_none(s,
                      "SELECT count(*) FROM forks WHERE feed NOT IN "
                      "(SELECT num FROM feeds WHERE forked != 0)",
                      "pieces of fork evidence for feeds not marked forked", err);
  if (code == 0)
    code = check_none(s, "SELECT count(*) FROM contacts WHERE feed NOT IN (SELECT num FROM feeds)",
                      "indexed contact messages belong to no feed", err);
  if (code == 0)
    code = prepare(s, &feeds,
                   "SELECT author, num, latest_seq, latest_id FROM feeds ORDER BY author", err);
  if (code == 0)
    code = prepare(
        s, &msgs,
        "SELECT sequence, id, json, id_prefix FROM messages WHERE feed = ?1 ORDER BY sequence",
        err);
  if (code != 0)
    goto out;
  while ((rc = sqlite3_step(feeds)) == SQLITE_ROW) {
    const char *a = (const char *)sqlite3_column_text(feeds, 0);
    uint8_t lid[TIDE_HASH_BYTES];
    code = column_blob32(feeds, 3, lid, "latest id", err);
    if (code == 0)
      code = check_feed(s, msgs, a == NULL ? "" : a, sqlite3_column_int64(feeds, 1),
                        sqlite3_column_int64(feeds, 2), lid, err);
    if (code != 0)
      goto out;
  }
  if (rc != SQLITE_DONE)
    code = tide__store_error(s, rc, "read feeds", err);
out:
  sqlite3_finalize(feeds);
  sqlite3_finalize(msgs);
  return code;
}
