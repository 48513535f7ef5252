/* store.c - the SQLite message store (see tide/store.h, docs/store.md).
 *
 * Schema version 1.  Ids are kept in their text form so that the sqlite3
 * shell shows what users know from SSB; the cost (base64 of two 32-byte
 * values per append) is negligible next to the signature check.
 *
 * Durability: journal_mode=WAL with synchronous=FULL makes SQLite fsync
 * the WAL on every commit, so a commit that returned is on stable storage
 * (survives kill -9 and power loss).  NORMAL would survive kill -9 too,
 * but could lose the last commits on power loss, which "a message once
 * acknowledged is never lost" forbids. */
#include "tide/store.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_int.h"

/* "tide" in ASCII: PRAGMA application_id of every tide store. */
#define APPLICATION_ID 0x74696465

static const char schema_sql[] =
    "CREATE TABLE feeds (\n"
    "  author     TEXT PRIMARY KEY,           -- feed id @<base64>.ed25519\n"
    "  latest_seq INTEGER NOT NULL,           -- sequence of its latest message\n"
    "  latest_id  TEXT NOT NULL,              -- id %<base64>.sha256 of it\n"
    "  forked     INTEGER NOT NULL DEFAULT 0, -- 1: fork seen, appends refused\n"
    "  forked_seq INTEGER                     -- sequence of the first fork\n"
    ") WITHOUT ROWID;\n"
    "CREATE TABLE messages (\n"
    "  id        TEXT NOT NULL UNIQUE,        -- %<base64>.sha256\n"
    "  author    TEXT NOT NULL,               -- feed id\n"
    "  sequence  INTEGER NOT NULL,\n"
    "  timestamp REAL NOT NULL,               -- claimed by the author, ms (or JSON text)\n"
    "  received  INTEGER NOT NULL,            -- receiver's clock, ms\n"
    "  json      TEXT NOT NULL,               -- exact canonical signed JSON\n"
    "  PRIMARY KEY (author, sequence)\n"
    ");\n"
    "CREATE TABLE forks (\n"
    "  fork_id   TEXT PRIMARY KEY,            -- id of the other message\n"
    "  author    TEXT NOT NULL,\n"
    "  sequence  INTEGER NOT NULL,\n"
    "  stored_id TEXT NOT NULL,               -- id of the message in the log\n"
    "  detected  INTEGER NOT NULL,            -- receiver's clock, ms\n"
    "  json      TEXT NOT NULL                -- the other message, verbatim\n"
    ");\n"
    "CREATE INDEX forks_by_feed ON forks (author, sequence);\n"
    "CREATE TABLE contacts (\n"
    "  row_id    INTEGER PRIMARY KEY,\n"
    "  author    TEXT NOT NULL,               -- who published the contact msg\n"
    "  contact   TEXT NOT NULL,               -- the feed it is about\n"
    "  following INTEGER,                     -- 1, 0 or NULL (not said)\n"
    "  blocking  INTEGER,                     -- 1, 0 or NULL (not said)\n"
    "  sequence  INTEGER NOT NULL,            -- of the contact message\n"
    "  msg_id    TEXT NOT NULL\n"
    ");\n"
    "CREATE INDEX contacts_by_author ON contacts (author, contact);\n"
    "CREATE INDEX contacts_by_contact ON contacts (contact);\n";

enum {
  ST_FEED_GET,
  ST_ID_AT,
  ST_MSG_INSERT,
  ST_FEED_UPSERT,
  ST_FORK_HAS,
  ST_MSG_HAS,
  ST_FORK_INSERT,
  ST_FEED_FORKED,
  ST_CONTACT_INSERT,
  ST_GET_SEQ,
  ST_GET_ID,
  ST_BEGIN,
  ST_COMMIT,
  ST_ROLLBACK,
  ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_FEED_GET] = "SELECT latest_seq, latest_id, forked FROM feeds WHERE author = ?1",
    [ST_ID_AT] = "SELECT id FROM messages WHERE author = ?1 AND sequence = ?2",
    [ST_MSG_INSERT] = "INSERT INTO messages (id, author, sequence, timestamp, received, json) "
                      "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_FEED_UPSERT] = "INSERT INTO feeds (author, latest_seq, latest_id) VALUES (?1, ?2, ?3) "
                       "ON CONFLICT (author) DO UPDATE SET latest_seq = excluded.latest_seq, "
                       "latest_id = excluded.latest_id",
    [ST_FORK_HAS] = "SELECT 1 FROM forks WHERE fork_id = ?1",
    [ST_MSG_HAS] = "SELECT 1 FROM messages WHERE id = ?1",
    [ST_FORK_INSERT] = "INSERT INTO forks (fork_id, author, sequence, stored_id, detected, json) "
                       "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_FEED_FORKED] = "UPDATE feeds SET forked = 1, forked_seq = coalesce(forked_seq, ?2) "
                       "WHERE author = ?1",
    [ST_CONTACT_INSERT] = "INSERT INTO contacts (author, contact, following, blocking, sequence, "
                          "msg_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    [ST_GET_SEQ] = "SELECT id, author, sequence, timestamp, received, json FROM messages "
                   "WHERE author = ?1 AND sequence = ?2",
    [ST_GET_ID] = "SELECT id, author, sequence, timestamp, received, json FROM messages "
                  "WHERE id = ?1",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
};

/* A feed's row as seen inside an explicit transaction.  Appends in a
 * batch update these instead of the `feeds` row (one UPSERT per feed per
 * batch instead of one per message); they are written back before COMMIT
 * and before anything reads `feeds` (tf_flush).  Inside BEGIN IMMEDIATE no
 * other connection can write, so the cache cannot go stale; it is dropped
 * at the end of every transaction. */
typedef struct txn_feed {
  uint8_t pk[TIDE_PK_BYTES];
  char latest_id[TIDE_MSG_ID_LEN + 1];
  int64_t latest; /* 0: no messages */
  int forked;
  int dirty; /* latest differs from the feeds row */
  int used;
} txn_feed;

struct tide_store {
  sqlite3 *db;
  sqlite3_stmt *st[ST_COUNT];
  int in_txn;   /* a caller's transaction is open */
  int poisoned; /* a storage error happened inside it */
  int read_only;
  txn_feed *tf; /* open addressing on pk; tf_cap is 0 or a power of 2 */
  size_t tf_n, tf_cap;
};

/* ------------------------------------------------------------------------ */

static int tf_flush(tide_store *s, tide_error *err);

sqlite3 *tide__store_db(tide_store *s)
{
  /* The caller may read `feeds` with its own SQL: bring it up to date.  A
   * failure poisons the open transaction (its commit will fail). */
  if (s->in_txn)
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

/* Ids are public, so the store formats them with a plain table-driven
 * base64 (libsodium's constant-time encoder costs several thousand
 * instructions per id, and every append formats three).  The output is
 * identical to tide_feed_id_format() / tide_msg_id_format(); the unit
 * tests compare the two. */
static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Writes the 44-character padded base64 of 32 bytes. */
static void b64_32(char out[44], const uint8_t in[32])
{
  size_t i, o = 0;

  for (i = 0; i + 3 <= 30; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = b64_alphabet[v & 63];
  }
  {
    uint32_t v = (uint32_t)in[30] << 16 | (uint32_t)in[31] << 8;
    out[o++] = b64_alphabet[v >> 18];
    out[o++] = b64_alphabet[(v >> 12) & 63];
    out[o++] = b64_alphabet[(v >> 6) & 63];
    out[o++] = '=';
  }
}

static void format_feed(char out[TIDE_FEED_ID_LEN + 1], const uint8_t pk[TIDE_PK_BYTES])
{
  out[0] = '@';
  b64_32(out + 1, pk);
  memcpy(out + 45, ".ed25519", 9);
}

static void format_msg_id(char out[TIDE_MSG_ID_LEN + 1], const uint8_t id[TIDE_HASH_BYTES])
{
  out[0] = '%';
  b64_32(out + 1, id);
  memcpy(out + 45, ".sha256", 8);
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
static int bind_text(sqlite3_stmt *st, int i, const char *t, size_t n);

/* Writes one entry's latest state to its feeds row. */
static int tf_write(tide_store *s, txn_feed *e, tide_error *err)
{
  char author[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *st = s->st[ST_FEED_UPSERT];
  int code;

  if (!e->dirty)
    return 0;
  format_feed(author, e->pk);
  bind_text(st, 1, author, TIDE_FEED_ID_LEN);
  sqlite3_bind_int64(st, 2, e->latest);
  bind_text(st, 3, e->latest_id, TIDE_MSG_ID_LEN);
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

/* Reads a text id column into binary; TIDE_E_STORE_CORRUPT when the
 * store holds something that is not an id. */
static int column_feed(tide_store *s, sqlite3_stmt *st, int col, uint8_t pk[TIDE_PK_BYTES],
                       tide_error *err)
{
  const char *t = (const char *)sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);

  (void)s;
  if (t == NULL || tide_feed_id_parse(pk, t, (size_t)n) != 0)
    return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: malformed feed id '%.*s'",
                          t == NULL ? 0 : (n > 80 ? 80 : n), t == NULL ? "" : t);
  return 0;
}

static int column_msg_id(tide_store *s, sqlite3_stmt *st, int col, uint8_t id[TIDE_HASH_BYTES],
                         tide_error *err)
{
  const char *t = (const char *)sqlite3_column_text(st, col);
  int n = sqlite3_column_bytes(st, col);

  (void)s;
  if (t == NULL || tide_msg_id_parse(id, t, (size_t)n) != 0)
    return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: malformed message id '%.*s'",
                          t == NULL ? 0 : (n > 80 ? 80 : n), t == NULL ? "" : t);
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

static int bind_text(sqlite3_stmt *st, int i, const char *t, size_t n)
{
  return sqlite3_bind_text(st, i, t, (int)n, SQLITE_STATIC);
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

/* Creates the schema in an empty database or checks an existing one. */
static int setup_schema(tide_store *s, int read_only, tide_error *err)
{
  int64_t version = 0, app = 0, objects = 0;
  int code;
  int began = 0;

  if (!read_only) {
    /* IMMEDIATE: two processes creating the same new store must not both
     * create the tables. */
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
    if (read_only) {
      code = tide_error_set(err, TIDE_E_STORE_SCHEMA, 0,
                            "store: empty database, not a tide store (open it writable once "
                            "to create one)");
      goto out;
    }
    code = exec_sql(s, schema_sql, "create schema", err);
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
  } else if (version != TIDE_STORE_SCHEMA_VERSION) {
    code = tide_error_set(err, TIDE_E_STORE_SCHEMA, 0,
                          "store: schema version %lld, but this tide reads version %d%s",
                          (long long)version, TIDE_STORE_SCHEMA_VERSION,
                          version > TIDE_STORE_SCHEMA_VERSION ? " (made by a newer tide)" : "");
    goto out;
  }
  if (began) {
    code = exec_sql(s, "COMMIT", "commit schema", err);
    began = 0;
  }
out:
  if (began)
    (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
  return code;
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
  oflags |= read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
  if (rc != SQLITE_OK) {
    if (s->db == NULL) {
      code = tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory opening %s", path);
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
  if (code != 0) {
    tide_error_set(err, code, 0, "store: cannot read %s: %s", path, sqlite3_errmsg(s->db));
    goto out;
  }
  if (!read_only) {
    sqlite3_stmt *st = NULL;
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
  /* A 16 MiB page cache keeps the id index and recent pages in memory
   * during large imports (the default is 2 MiB); it costs nothing until
   * used.  Not persistent: set on every open. */
  code = exec_sql(s, "PRAGMA cache_size = -16384", "set cache size", err);
  if (code != 0)
    goto out;
  /* Checkpoint when the WAL holds 4096 pages (16 MiB) rather than 1000:
   * a batch rewrites most index pages, and a checkpoint after nearly every
   * batch copied them to the database (and synced it) again and again.
   * Durability is unchanged: commits sync the WAL (synchronous = FULL). */
  code = exec_sql(s, "PRAGMA wal_autocheckpoint = 4096", "set checkpoint", err);
  if (code != 0)
    goto out;
  s->read_only = read_only;
  code = setup_schema(s, read_only, err);
  if (code != 0)
    goto out;
  for (int i = 0; i < ST_COUNT; i++) {
    rc = sqlite3_prepare_v3(s->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &s->st[i], NULL);
    if (rc != SQLITE_OK) {
      code = tide__store_error(s, rc, "prepare", err);
      goto out;
    }
  }
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
  sqlite3_close_v2(s->db);
  free(s->tf);
  free(s);
}

int tide_store_set_busy_timeout(tide_store *s, int ms, tide_error *err)
{
  int rc = sqlite3_busy_timeout(s->db, ms);
  return rc == SQLITE_OK ? 0 : tide__store_error(s, rc, "busy timeout", err);
}

/* ---- Transactions ------------------------------------------------------ */

int tide_store_begin(tide_store *s, tide_error *err)
{
  int code;

  if (s->in_txn)
    return tide_error_set(err, TIDE_E_INVAL, 0, "store: a transaction is already open");
  if (s->read_only)
    return tide_error_set(err, TIDE_E_STORE, 0, "store: opened read-only (readonly database)");
  code = step_done(s, s->st[ST_BEGIN], "begin", err);
  if (code != 0)
    return code;
  s->in_txn = 1;
  s->poisoned = 0;
  tf_clear(s);
  return 0;
}

void tide_store_rollback(tide_store *s)
{
  if (s == NULL || !s->in_txn)
    return;
  /* SQLite may already have rolled back by itself (I/O error, full disk);
   * then there is nothing to undo. */
  if (!sqlite3_get_autocommit(s->db))
    (void)step_done(s, s->st[ST_ROLLBACK], "rollback", NULL);
  s->in_txn = 0;
  s->poisoned = 0;
  tf_clear(s);
}

int tide_store_commit(tide_store *s, tide_error *err)
{
  int code;

  if (!s->in_txn)
    return tide_error_set(err, TIDE_E_INVAL, 0, "store: no transaction to commit");
  if (!s->poisoned && !sqlite3_get_autocommit(s->db) && tf_flush(s, err) != 0) {
    tide_store_rollback(s);
    return TIDE_E_STORE;
  }
  if (s->poisoned || sqlite3_get_autocommit(s->db)) {
    tide_store_rollback(s);
    return tide_error_set(err, TIDE_E_STORE, 0,
                          "store: transaction rolled back after a storage error");
  }
  code = step_done(s, s->st[ST_COMMIT], "commit", err);
  if (code != 0) {
    tide_store_rollback(s);
    return code;
  }
  s->in_txn = 0;
  tf_clear(s);
  return 0;
}

int tide_store_in_transaction(const tide_store *s)
{
  return s->in_txn;
}

/* ---- Appending --------------------------------------------------------- */

/* The contact index: content {"type":"contact","contact":"@...",...}. */
static int index_contact(tide_store *s, const tide_msg *m, const char *author, const char *id,
                         int64_t seq, tide_error *err)
{
  const tide_json *c = tide_msg_content(m);
  const tide_json *t, *who, *f, *b;
  const char *ts, *ws;
  size_t tl, wl;
  uint8_t pk[TIDE_PK_BYTES];
  sqlite3_stmt *st = s->st[ST_CONTACT_INSERT];

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
  bind_text(st, 1, author, TIDE_FEED_ID_LEN);
  bind_text(st, 2, ws, wl);
  if (f != NULL && tide_json_typeof(f) == TIDE_JSON_TRUE)
    sqlite3_bind_int(st, 3, 1);
  else if (f != NULL && tide_json_typeof(f) == TIDE_JSON_FALSE)
    sqlite3_bind_int(st, 3, 0);
  else
    sqlite3_bind_null(st, 3);
  if (b != NULL && tide_json_typeof(b) == TIDE_JSON_TRUE)
    sqlite3_bind_int(st, 4, 1);
  else if (b != NULL && tide_json_typeof(b) == TIDE_JSON_FALSE)
    sqlite3_bind_int(st, 4, 0);
  else
    sqlite3_bind_null(st, 4);
  sqlite3_bind_int64(st, 5, seq);
  bind_text(st, 6, id, TIDE_MSG_ID_LEN);
  return step_done(s, st, "index contact", err);
}

/* Looks up 1 row with one text (and optionally an int) parameter; returns
 * 1 (row, st left on it: caller resets), 0 (none), or a negative code. */
static int lookup(tide_store *s, sqlite3_stmt *st, const char *t, size_t tl, int64_t n, int with_n,
                  const char *what, tide_error *err)
{
  int rc;

  bind_text(st, 1, t, tl);
  if (with_n)
    sqlite3_bind_int64(st, 2, n);
  rc = sqlite3_step(st);
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

/* Binds the timestamp column.  ssb-validate type-checks "timestamp" only
 * on a feed's first message, so any JSON value may come here: a number
 * (also +-Infinity, which JSON.parse gives for "1e400") is stored as a
 * REAL; anything else as its compact JSON text, which always starts with
 * '"', '[', '{', 'n', 't' or 'f' and so never takes REAL affinity (the
 * empty text when the key is missing).  Readers get NaN for a text. */
static int bind_timestamp(sqlite3_stmt *st, int col, const tide_msg *m, double ts)
{
  const tide_json *v;
  tide_buf b = TIDE_BUF_INIT;
  int r;

  if (!isnan(ts)) {
    sqlite3_bind_double(st, col, ts);
    return 0;
  }
  v = tide_json_object_getz(tide_msg_value(m), "timestamp");
  if (v == NULL) {
    sqlite3_bind_text(st, col, "", 0, SQLITE_STATIC);
    return 0;
  }
  r = tide_json_write(&b, v, 0);
  if (r != 0)
    return r;
  r = sqlite3_bind_text(st, col, b.data, (int)b.len, SQLITE_TRANSIENT) == SQLITE_OK ? 0
                                                                                    : TIDE_E_NOMEM;
  tide_buf_free(&b);
  return r;
}

/* Writes m as fork evidence (sequence seq, stored_id `stored`) and marks
 * the feed forked at forked_seq. */
static int record_fork(tide_store *s, txn_feed *tf, const tide_msg *m, const char *author,
                       const char *id, int64_t seq, const char *stored, int64_t forked_seq,
                       int64_t received_ms, tide_error *err)
{
  const char *text;
  size_t text_len;
  sqlite3_stmt *st;
  int r;

  text = tide_msg_text(m, &text_len);
  st = s->st[ST_FORK_INSERT];
  bind_text(st, 1, id, TIDE_MSG_ID_LEN);
  bind_text(st, 2, author, TIDE_FEED_ID_LEN);
  sqlite3_bind_int64(st, 3, seq);
  bind_text(st, 4, stored, strlen(stored));
  sqlite3_bind_int64(st, 5, received_ms);
  bind_text(st, 6, text, text_len);
  r = step_done(s, st, "record fork", err);
  if (r != 0)
    return r;
  if (tf != NULL) {
    r = tf_write(s, tf, err); /* the row must exist and be current */
    if (r != 0)
      return r;
    tf->forked = 1;
  }
  st = s->st[ST_FEED_FORKED];
  bind_text(st, 1, author, TIDE_FEED_ID_LEN);
  sqlite3_bind_int64(st, 2, forked_seq);
  return step_done(s, st, "mark feed forked", err);
}

/* The append proper; the caller handles the transaction around it.
 * With `evidence`, m is only recorded as fork evidence (see
 * tide_store_record_fork()), never appended. */
static int append_in_txn(tide_store *s, const tide_msg *m, int64_t received_ms, int evidence,
                         tide_error *err)
{
  uint8_t pk[TIDE_PK_BYTES], prev[TIDE_HASH_BYTES];
  char author[TIDE_FEED_ID_LEN + 1], id[TIDE_MSG_ID_LEN + 1], prev_txt[TIDE_MSG_ID_LEN + 1];
  char latest_id[TIDE_MSG_ID_LEN + 1] = "";
  int64_t seq = tide_msg_sequence(m), latest = 0;
  double ts = tide_msg_timestamp(m);
  int found, forked = 0, r, has_prev;
  const char *text;
  size_t text_len;
  sqlite3_stmt *st;
  txn_feed *tf;

  if (!tide_msg_author(m, pk) || seq <= 0)
    return tide_error_set(err, TIDE_E_INVAL, 0, "store: message has no valid author or sequence");
  format_feed(author, pk);
  format_msg_id(id, tide_msg_id(m));

  tf = s->in_txn ? tf_find(s, pk) : NULL;
  if (tf != NULL) {
    latest = tf->latest;
    forked = tf->forked;
    memcpy(latest_id, tf->latest_id, sizeof latest_id);
  } else {
    st = s->st[ST_FEED_GET];
    found = lookup(s, st, author, TIDE_FEED_ID_LEN, 0, 0, "read feed", err);
    if (found < 0)
      return found;
    if (found) {
      const char *lt = (const char *)sqlite3_column_text(st, 1);
      latest = sqlite3_column_int64(st, 0);
      forked = sqlite3_column_int(st, 2) != 0;
      if (lt != NULL)
        strncpy(latest_id, lt, TIDE_MSG_ID_LEN);
      latest_id[TIDE_MSG_ID_LEN] = '\0';
      sqlite3_reset(st);
    }
    if (s->in_txn) {
      tf = tf_add(s, pk);
      if (tf == NULL)
        return tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory");
      tf->latest = latest;
      tf->forked = forked;
      memcpy(tf->latest_id, latest_id, sizeof latest_id);
    }
  }

  if (seq <= latest) {
    char stored[TIDE_MSG_ID_LEN + 1] = "";
    st = s->st[ST_ID_AT];
    r = lookup(s, st, author, TIDE_FEED_ID_LEN, seq, 1, "read message id", err);
    if (r < 0)
      return r;
    if (r == 1) {
      const char *t = (const char *)sqlite3_column_text(st, 0);
      if (t != NULL)
        strncpy(stored, t, TIDE_MSG_ID_LEN);
      sqlite3_reset(st);
    } else {
      return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s claims sequence %lld but message %lld is missing",
                            author, (long long)latest, (long long)seq);
    }
    if (strcmp(stored, id) == 0)
      return tide_error_set(err, TIDE_E_EXISTS, 0, "store: message %s already stored", id);
    r = lookup(s, s->st[ST_FORK_HAS], id, TIDE_MSG_ID_LEN, 0, 0, "read forks", err);
    if (r < 0)
      return r;
    if (r == 1) {
      sqlite3_reset(s->st[ST_FORK_HAS]);
      return tide_error_set(err, TIDE_E_EXISTS, 0,
                            "store: message %s already stored as fork "
                            "evidence",
                            id);
    }
    if (forked)
      return tide_error_set(err, TIDE_E_STORE_FORKED, 0, "store: feed %s is forked", author);
    r = record_fork(s, tf, m, author, id, seq, stored, seq, received_ms, err);
    if (r != 0)
      return r;
    return tide_error_set(err, TIDE_E_STORE_FORK, 0,
                          "fork: feed %s has two messages at sequence %lld (%s and %s)", author,
                          (long long)seq, stored, id);
  }
  if (evidence) {
    /* One past the latest, but chained on another message at seq-1. */
    r = lookup(s, s->st[ST_FORK_HAS], id, TIDE_MSG_ID_LEN, 0, 0, "read forks", err);
    if (r < 0)
      return r;
    if (r == 1) {
      sqlite3_reset(s->st[ST_FORK_HAS]);
      return tide_error_set(err, TIDE_E_EXISTS, 0,
                            "store: message %s already stored as fork evidence", id);
    }
    if (forked)
      return tide_error_set(err, TIDE_E_STORE_FORKED, 0, "store: feed %s is forked", author);
    if (seq > latest + 1)
      return tide_error_set(err, TIDE_E_STORE_GAP, 0,
                            "gap: feed %s missing sequence %lld (have up to %lld, got %lld)",
                            author, (long long)(latest + 1), (long long)latest, (long long)seq);
    if (seq == 1)
      return tide_error_set(err, TIDE_E_INVAL, 0,
                            "store: message 1 of %s is no fork evidence (the feed is new)", author);
    if (tide_msg_id_parse(prev, latest_id, TIDE_MSG_ID_LEN) != 0)
      return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: malformed latest id of %s",
                            author);
    r = tide_msg_previous_matches(m, prev);
    if (r == 0)
      r = tide_msg_previous_coerced(m, prev);
    else if (r == 1)
      return tide_error_set(err, TIDE_E_INVAL, 0,
                            "store: message %lld of %s chains on the latest message: no fork",
                            (long long)seq, author);
    if (r < 0)
      return tide_error_set(err, r, 0, "store: out of memory");
    if (r == 0)
      return tide_error_set(err, TIDE_E_INVAL, 0, "store: message %lld of %s has no previous",
                            (long long)seq, author);
    format_msg_id(prev_txt, prev);
    r = record_fork(s, tf, m, author, id, seq, latest_id, seq - 1, received_ms, err);
    if (r != 0)
      return r;
    return tide_error_set(err, TIDE_E_STORE_FORK, 0,
                          "fork: feed %s has two messages at sequence %lld (%s, and %s that "
                          "message %s names as previous)",
                          author, (long long)(seq - 1), latest_id, prev_txt, id);
  }
  if (forked)
    return tide_error_set(err, TIDE_E_STORE_FORKED, 0, "store: feed %s is forked", author);
  if (seq > latest + 1)
    return tide_error_set(err, TIDE_E_STORE_GAP, 0,
                          "gap: feed %s missing sequence %lld (have up to %lld, got %lld)", author,
                          (long long)(latest + 1), (long long)latest, (long long)seq);
  if (seq == 1) {
    const tide_json *pv = tide_json_object_getz(tide_msg_value(m), "previous");
    if (pv == NULL || tide_json_typeof(pv) != TIDE_JSON_NULL)
      return tide_error_set(err, TIDE_E_INVAL, 0,
                            "store: first message of %s must have previous null", author);
  } else {
    /* The loose comparison ssb-validate makes (never a stricter one). */
    if (tide_msg_id_parse(prev, latest_id, TIDE_MSG_ID_LEN) != 0)
      return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: malformed latest id of %s",
                            author);
    r = tide_msg_previous_matches(m, prev);
    if (r < 0)
      return tide_error_set(err, r, 0, "store: out of memory");
    if (r == 0) {
      has_prev = tide_msg_previous_coerced(m, prev);
      if (has_prev < 0)
        return tide_error_set(err, has_prev, 0, "store: out of memory");
      if (!has_prev)
        return tide_error_set(err, TIDE_E_INVAL, 0, "store: message %lld of %s has no previous",
                              (long long)seq, author);
      format_msg_id(prev_txt, prev);
      return tide_error_set(err, TIDE_E_INVAL, 0,
                            "store: previous %s of %s:%lld does not match latest %s", prev_txt,
                            author, (long long)seq, latest_id);
    }
  }

  text = tide_msg_text(m, &text_len);
  st = s->st[ST_MSG_INSERT];
  bind_text(st, 1, id, TIDE_MSG_ID_LEN);
  bind_text(st, 2, author, TIDE_FEED_ID_LEN);
  sqlite3_bind_int64(st, 3, seq);
  r = bind_timestamp(st, 4, m, ts);
  if (r != 0)
    return tide_error_set(err, r, 0, "store: out of memory");
  sqlite3_bind_int64(st, 5, received_ms);
  bind_text(st, 6, text, text_len);
  r = sqlite3_step(st);
  if (r != SQLITE_DONE) {
    int code;
    if ((r & 0xff) == SQLITE_CONSTRAINT) {
      /* Same id elsewhere: only a sha256 collision could do this. */
      code = tide_error_set(err, TIDE_E_EXISTS, 0, "store: message %s already stored", id);
    } else {
      code = tide__store_error(s, r, "insert message", err);
    }
    sqlite3_reset(st);
    return code;
  }
  sqlite3_reset(st);
  if (tf != NULL) {
    tf->latest = seq;
    memcpy(tf->latest_id, id, sizeof tf->latest_id);
    tf->dirty = 1;
  } else {
    st = s->st[ST_FEED_UPSERT];
    bind_text(st, 1, author, TIDE_FEED_ID_LEN);
    sqlite3_bind_int64(st, 2, seq);
    bind_text(st, 3, id, TIDE_MSG_ID_LEN);
    r = step_done(s, st, "update feed", err);
    if (r != 0)
      return r;
  }
  return index_contact(s, m, author, id, seq, err);
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
  code = step_done(s, s->st[ST_BEGIN], "begin", err);
  if (code != 0)
    return code;
  code = append_in_txn(s, m, received_ms, evidence, err);
  if (code == 0 || code == TIDE_E_STORE_FORK) {
    /* Both wrote something; a failing commit replaces the verdict. */
    c2 = step_done(s, s->st[ST_COMMIT], "commit", err);
    if (c2 == 0)
      return code;
    code = c2;
  }
  if (!sqlite3_get_autocommit(s->db))
    (void)step_done(s, s->st[ST_ROLLBACK], "rollback", NULL);
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
  sqlite3_stmt *st = s->st[ST_FEED_GET];
  int r;

  format_feed(a, author);
  if (s->in_txn) {
    txn_feed *tf = tf_find(s, author);
    if (tf != NULL && tf->latest == 0)
      return tide_error_set(err, TIDE_E_NOTFOUND, 0, "store: no messages of %s", a);
    if (tf != NULL) {
      out->sequence = tf->latest;
      if (forked != NULL)
        *forked = tf->forked;
      if (tide_msg_id_parse(out->id, tf->latest_id, TIDE_MSG_ID_LEN) != 0)
        return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: malformed message id");
      return 0;
    }
  }
  r = lookup(s, st, a, TIDE_FEED_ID_LEN, 0, 0, "read feed", err);
  if (r < 0)
    return r;
  if (r == 0)
    return tide_error_set(err, TIDE_E_NOTFOUND, 0, "store: no messages of %s", a);
  out->sequence = sqlite3_column_int64(st, 0);
  r = column_msg_id(s, st, 1, out->id, err);
  if (forked != NULL)
    *forked = sqlite3_column_int(st, 2) != 0;
  sqlite3_reset(st);
  return r;
}

int tide_store_get_id(tide_store *s, uint8_t id[TIDE_HASH_BYTES],
                      const uint8_t author[TIDE_PK_BYTES], int64_t sequence, tide_error *err)
{
  char a[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *st = s->st[ST_ID_AT];
  int r;

  format_feed(a, author);
  r = lookup(s, st, a, TIDE_FEED_ID_LEN, sequence, 1, "read message id", err);
  if (r < 0)
    return r;
  if (r == 0)
    return tide_error_set(err, TIDE_E_NOTFOUND, 0, "store: no message %lld of %s",
                          (long long)sequence, a);
  r = column_msg_id(s, st, 0, id, err);
  sqlite3_reset(st);
  return r;
}

/* Fills rec from a row (id, author, sequence, timestamp, received, json). */
static int row_record(tide_store *s, sqlite3_stmt *st, tide_store_record *rec, tide_error *err)
{
  int r = column_msg_id(s, st, 0, rec->id, err);

  if (r == 0)
    r = column_feed(s, st, 1, rec->author, err);
  if (r != 0)
    return r;
  rec->sequence = sqlite3_column_int64(st, 2);
  switch (sqlite3_column_type(st, 3)) {
  case SQLITE_FLOAT:
  case SQLITE_INTEGER: rec->timestamp = sqlite3_column_double(st, 3); break;
  default: rec->timestamp = NAN; /* not a number in the message */
  }
  rec->received_ms = sqlite3_column_int64(st, 4);
  rec->text = (const char *)sqlite3_column_text(st, 5);
  rec->text_len = (size_t)sqlite3_column_bytes(st, 5);
  if (rec->text == NULL) {
    if (sqlite3_errcode(s->db) == SQLITE_NOMEM)
      return tide_error_set(err, TIDE_E_NOMEM, 0, "store: out of memory reading a message");
    rec->text = "";
  }
  return 0;
}

static int get_row(tide_store *s, sqlite3_stmt *st, tide_buf *text, tide_store_record *rec,
                   tide_error *err)
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
  code = row_record(s, st, rec, err);
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
  int code;

  format_feed(a, author);
  bind_text(st, 1, a, TIDE_FEED_ID_LEN);
  sqlite3_bind_int64(st, 2, sequence);
  code = get_row(s, st, text, rec, err);
  if (code == TIDE_E_NOTFOUND)
    tide_error_set(err, code, 0, "store: no message %lld of %s", (long long)sequence, a);
  return code;
}

int tide_store_get_by_id(tide_store *s, tide_buf *text, tide_store_record *rec,
                         const uint8_t id[TIDE_HASH_BYTES], tide_error *err)
{
  char i[TIDE_MSG_ID_LEN + 1];
  sqlite3_stmt *st = s->st[ST_GET_ID];
  int code;

  format_msg_id(i, id);
  bind_text(st, 1, i, TIDE_MSG_ID_LEN);
  code = get_row(s, st, text, rec, err);
  if (code == TIDE_E_NOTFOUND)
    tide_error_set(err, code, 0, "store: no message %s", i);
  return code;
}

int tide_store_has(tide_store *s, const uint8_t id[TIDE_HASH_BYTES], tide_error *err)
{
  char i[TIDE_MSG_ID_LEN + 1];
  int r;

  format_msg_id(i, id);
  r = lookup(s, s->st[ST_MSG_HAS], i, TIDE_MSG_ID_LEN, 0, 0, "read messages", err);
  if (r != 0) {
    if (r == 1)
      sqlite3_reset(s->st[ST_MSG_HAS]);
    return r;
  }
  r = lookup(s, s->st[ST_FORK_HAS], i, TIDE_MSG_ID_LEN, 0, 0, "read forks", err);
  if (r == 1)
    sqlite3_reset(s->st[ST_FORK_HAS]);
  return r;
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
  char a[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *st = NULL;
  tide_store_record rec;
  int code, rc;

  format_feed(a, author);
  code = prepare(s, &st,
                 "SELECT id, author, sequence, timestamp, received, json FROM messages "
                 "WHERE author = ?1 AND sequence >= ?2 AND sequence <= ?3 ORDER BY sequence",
                 err);
  if (code != 0)
    return code;
  bind_text(st, 1, a, TIDE_FEED_ID_LEN);
  sqlite3_bind_int64(st, 2, from);
  sqlite3_bind_int64(st, 3, to <= 0 ? INT64_MAX : to);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    code = row_record(s, st, &rec, err);
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
    code = column_feed(s, st, 0, f.author, err);
    if (code == 0)
      code = column_msg_id(s, st, 2, f.latest.id, err);
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
                 "SELECT author, sequence, stored_id, fork_id, detected, json FROM forks "
                 "WHERE ?1 IS NULL OR author = ?1 ORDER BY author, sequence, fork_id",
                 err);
  if (code != 0)
    return code;
  if (author != NULL) {
    format_feed(a, author);
    bind_text(st, 1, a, TIDE_FEED_ID_LEN);
  }
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    code = column_feed(s, st, 0, f.author, err);
    if (code == 0)
      code = column_msg_id(s, st, 2, f.stored_id, err);
    if (code == 0)
      code = column_msg_id(s, st, 3, f.fork_id, err);
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
  int code, rc;

  code = prepare(s, &st,
                 "SELECT row_id, author, contact, following, blocking, sequence FROM contacts "
                 "WHERE row_id > ?1 ORDER BY row_id",
                 err);
  if (code != 0)
    return code;
  sqlite3_bind_int64(st, 1, after_rowid);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    c.rowid = sqlite3_column_int64(st, 0);
    code = column_feed(s, st, 1, c.author, err);
    if (code == 0)
      code = column_feed(s, st, 2, c.contact, err);
    if (code != 0)
      goto out;
    c.following = column_tristate(st, 3);
    c.blocking = column_tristate(st, 4);
    c.sequence = sqlite3_column_int64(st, 5);
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
  int code;

  if (s->in_txn && (code = tf_flush(s, err)) != 0)
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
static int check_feed(tide_store *s, sqlite3_stmt *st, const char *author, int64_t latest,
                      const char *latest_id, tide_error *err)
{
  char prev_id[TIDE_MSG_ID_LEN + 1] = "", id[TIDE_MSG_ID_LEN + 1];
  uint8_t pk[TIDE_PK_BYTES], apk[TIDE_PK_BYTES], prev[TIDE_HASH_BYTES];
  int64_t expect = 1;
  int rc, code = 0;
  tide_msg *m = NULL;

  if (tide_feed_id_parse(apk, author, strlen(author)) != 0)
    return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: malformed feed id %s", author);
  bind_text(st, 1, author, strlen(author));
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    int64_t seq = sqlite3_column_int64(st, 0);
    const char *sid = (const char *)sqlite3_column_text(st, 1);
    const char *json = (const char *)sqlite3_column_text(st, 2);
    size_t jl = (size_t)sqlite3_column_bytes(st, 2);
    tide_error perr;

    if (seq != expect) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s: expected sequence %lld, found %lld", author,
                            (long long)expect, (long long)seq);
      goto out;
    }
    if (json == NULL || tide_msg_parse(&m, json, jl, &perr) != 0) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s message %lld does not parse", author, (long long)seq);
      goto out;
    }
    format_msg_id(id, tide_msg_id(m));
    if (sid == NULL || strcmp(sid, id) != 0) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s message %lld: stored id %s but text hashes to %s",
                            author, (long long)seq, sid == NULL ? "(null)" : sid, id);
      goto out;
    }
    if (!tide_msg_author(m, pk) || memcmp(pk, apk, sizeof pk) != 0 || tide_msg_sequence(m) != seq) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s message %lld: author or sequence differ in its text",
                            author, (long long)seq);
      goto out;
    }
    if (seq == 1 ? tide_msg_previous(m, prev) != 0
                 : (tide_msg_id_parse(prev, prev_id, strlen(prev_id)) != 0 ||
                    tide_msg_previous_matches(m, prev) != 1)) {
      code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                            "store: feed %s message %lld: previous does not link to message %lld",
                            author, (long long)seq, (long long)(seq - 1));
      goto out;
    }
    format_msg_id(prev_id, tide_msg_id(m));
    tide_msg_free(m);
    m = NULL;
    expect++;
  }
  if (rc != SQLITE_DONE) {
    code = tide__store_error(s, rc, "read feed", err);
    goto out;
  }
  if (expect - 1 != latest || strcmp(prev_id, latest_id) != 0)
    code = tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                          "store: feed %s: feeds table says latest %lld %s, log ends at %lld %s",
                          author, (long long)latest, latest_id, (long long)(expect - 1), prev_id);
out:
  tide_msg_free(m);
  sqlite3_reset(st);
  return code;
}

int tide_store_check(tide_store *s, tide_error *err)
{
  sqlite3_stmt *feeds = NULL, *msgs = NULL;
  int64_t orphans = 0;
  int code, rc;

  if (s->in_txn && (code = tf_flush(s, err)) != 0)
    return code;
  code = check_integrity(s, err);
  if (code != 0)
    return code;
  code =
      pragma_int(s, "SELECT count(*) FROM messages WHERE author NOT IN (SELECT author FROM feeds)",
                 &orphans, err);
  if (code != 0)
    return code;
  if (orphans != 0)
    return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0, "store: %lld messages belong to no feed",
                          (long long)orphans);
  code = pragma_int(s,
                    "SELECT count(*) FROM forks WHERE author NOT IN "
                    "(SELECT author FROM feeds WHERE forked != 0)",
                    &orphans, err);
  if (code != 0)
    return code;
  if (orphans != 0)
    return tide_error_set(err, TIDE_E_STORE_CORRUPT, 0,
                          "store: %lld pieces of fork evidence for feeds not marked forked",
                          (long long)orphans);
  code = prepare(s, &feeds, "SELECT author, latest_seq, latest_id FROM feeds ORDER BY author", err);
  if (code == 0)
    code =
        prepare(s, &msgs,
                "SELECT sequence, id, json FROM messages WHERE author = ?1 ORDER BY sequence", err);
  if (code != 0)
    goto out;
  while ((rc = sqlite3_step(feeds)) == SQLITE_ROW) {
    const char *a = (const char *)sqlite3_column_text(feeds, 0);
    const char *l = (const char *)sqlite3_column_text(feeds, 2);
    code = check_feed(s, msgs, a == NULL ? "" : a, sqlite3_column_int64(feeds, 1),
                      l == NULL ? "" : l, err);
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
