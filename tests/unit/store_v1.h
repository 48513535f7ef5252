/* store_v1.h - version-1 stores, built with raw SQL, for the upgrade tests.
 *
 * V1_SCHEMA is the exact schema that tide wrote with PRAGMA user_version
 * = 1 (core/store.c before schema 2).  v1_create() makes such a store
 * (WAL mode, application_id "tide"), v1_add_*() fill it the way version 1
 * did: ids as text, feeds keyed by author text.  The helpers abort the
 * test program when SQLite fails: a fixture that cannot be built makes
 * every later assertion meaningless. */
#ifndef TIDE_STORE_V1_H
#define TIDE_STORE_V1_H

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"

#define V1_SCHEMA                                                                                  \
  "CREATE TABLE feeds (\n"                                                                         \
  "  author     TEXT PRIMARY KEY,           -- feed id @<base64>.ed25519\n"                        \
  "  latest_seq INTEGER NOT NULL,           -- sequence of its latest message\n"                   \
  "  latest_id  TEXT NOT NULL,              -- id %<base64>.sha256 of it\n"                        \
  "  forked     INTEGER NOT NULL DEFAULT 0, -- 1: fork seen, appends refused\n"                    \
  "  forked_seq INTEGER                     -- sequence of the first fork\n"                       \
  ") WITHOUT ROWID;\n"                                                                             \
  "CREATE TABLE messages (\n"                                                                      \
  "  id        TEXT NOT NULL UNIQUE,        -- %<base64>.sha256\n"                                 \
  "  author    TEXT NOT NULL,               -- feed id\n"                                          \
  "  sequence  INTEGER NOT NULL,\n"                                                                \
  "  timestamp REAL NOT NULL,               -- claimed by the author, ms (or JSON text)\n"         \
  "  received  INTEGER NOT NULL,            -- receiver's clock, ms\n"                             \
  "  json      TEXT NOT NULL,               -- exact canonical signed JSON\n"                      \
  "  PRIMARY KEY (author, sequence)\n"                                                             \
  ");\n"                                                                                           \
  "CREATE TABLE forks (\n"                                                                         \
  "  fork_id   TEXT PRIMARY KEY,            -- id of the other message\n"                          \
  "  author    TEXT NOT NULL,\n"                                                                   \
  "  sequence  INTEGER NOT NULL,\n"                                                                \
  "  stored_id TEXT NOT NULL,               -- id of the message in the log\n"                     \
  "  detected  INTEGER NOT NULL,            -- receiver's clock, ms\n"                             \
  "  json      TEXT NOT NULL                -- the other message, verbatim\n"                      \
  ");\n"                                                                                           \
  "CREATE INDEX forks_by_feed ON forks (author, sequence);\n"                                      \
  "CREATE TABLE contacts (\n"                                                                      \
  "  row_id    INTEGER PRIMARY KEY,\n"                                                             \
  "  author    TEXT NOT NULL,               -- who published the contact msg\n"                    \
  "  contact   TEXT NOT NULL,               -- the feed it is about\n"                             \
  "  following INTEGER,                     -- 1, 0 or NULL (not said)\n"                          \
  "  blocking  INTEGER,                     -- 1, 0 or NULL (not said)\n"                          \
  "  sequence  INTEGER NOT NULL,            -- of the contact message\n"                           \
  "  msg_id    TEXT NOT NULL\n"                                                                    \
  ");\n"                                                                                           \
  "CREATE INDEX contacts_by_author ON contacts (author, contact);\n"                               \
  "CREATE INDEX contacts_by_contact ON contacts (contact);\n"

static inline void v1_die(sqlite3 *db, const char *what)
{
  fprintf(stderr, "store_v1: %s: %s\n", what, db != NULL ? sqlite3_errmsg(db) : "no database");
  abort();
}

static inline void v1_exec(sqlite3 *db, const char *sql)
{
  if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
    v1_die(db, sql);
}

/* Creates a version-1 store at path (which must not exist yet). */
static inline sqlite3 *v1_create(const char *path)
{
  sqlite3 *db = NULL;

  if (sqlite3_open(path, &db) != SQLITE_OK)
    v1_die(db, "open");
  v1_exec(db, "PRAGMA journal_mode = WAL");
  v1_exec(db, "BEGIN");
  v1_exec(db, V1_SCHEMA);
  v1_exec(db, "PRAGMA application_id = 1953064037; PRAGMA user_version = 1");
  v1_exec(db, "COMMIT");
  return db;
}

/* Runs sql with text/integer parameters: fmt has one letter per
 * parameter, 't' (const char *, NULL binds NULL), 'i' (int64_t) or 'n'
 * (NULL). */
static inline void v1_run(sqlite3 *db, const char *sql, const char *fmt, ...)
{
  sqlite3_stmt *st = NULL;
  va_list ap;

  if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
    v1_die(db, sql);
  va_start(ap, fmt);
  for (int i = 0; fmt[i] != '\0'; i++) {
    if (fmt[i] == 't') {
      const char *t = va_arg(ap, const char *);
      if (t == NULL)
        sqlite3_bind_null(st, i + 1);
      else
        sqlite3_bind_text(st, i + 1, t, -1, SQLITE_TRANSIENT);
    } else if (fmt[i] == 'i') {
      sqlite3_bind_int64(st, i + 1, va_arg(ap, int64_t));
    } else {
      sqlite3_bind_null(st, i + 1);
    }
  }
  va_end(ap);
  if (sqlite3_step(st) != SQLITE_DONE)
    v1_die(db, sql);
  sqlite3_finalize(st);
}

/* Appends m to its feed the way version 1 did (message row, feeds row,
 * contact row for a contact message with row_id contact_row, or the next
 * one when 0). */
static inline void v1_add_message(sqlite3 *db, const tide_msg *m, int64_t received,
                                  int64_t contact_row)
{
  char author[TIDE_FEED_ID_LEN + 1], id[TIDE_MSG_ID_LEN + 1];
  uint8_t pk[TIDE_PK_BYTES];
  size_t len;
  const char *text = tide_msg_text(m, &len);
  double ts = tide_msg_timestamp(m);
  const tide_json *c = tide_msg_content(m), *t, *who, *f, *b;
  sqlite3_stmt *st = NULL;
  char *json = malloc(len + 1);

  if (json == NULL || !tide_msg_author(m, pk))
    v1_die(NULL, "message");
  memcpy(json, text, len);
  json[len] = '\0';
  tide_feed_id_format(author, pk);
  tide_msg_id_format(id, tide_msg_id(m));
  if (sqlite3_prepare_v2(db,
                         "INSERT INTO messages (id, author, sequence, timestamp, received, json) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                         -1, &st, NULL) != SQLITE_OK)
    v1_die(db, "prepare insert");
  sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
  sqlite3_bind_text(st, 2, author, -1, SQLITE_TRANSIENT);
  sqlite3_bind_int64(st, 3, tide_msg_sequence(m));
  if (ts == ts) {
    sqlite3_bind_double(st, 4, ts);
  } else { /* version 1 kept a non-number as its compact JSON text */
    tide_buf tb = TIDE_BUF_INIT;
    const tide_json *v = tide_json_object_getz(tide_msg_value(m), "timestamp");
    if (v != NULL && tide_json_write(&tb, v, 0) != 0)
      v1_die(NULL, "timestamp");
    sqlite3_bind_text(st, 4, v != NULL ? (const char *)tb.data : "", v != NULL ? (int)tb.len : 0,
                      SQLITE_TRANSIENT);
    tide_buf_free(&tb);
  }
  sqlite3_bind_int64(st, 5, received);
  sqlite3_bind_text(st, 6, json, (int)len, SQLITE_TRANSIENT);
  if (sqlite3_step(st) != SQLITE_DONE)
    v1_die(db, "insert message");
  sqlite3_finalize(st);
  v1_run(db,
         "INSERT INTO feeds (author, latest_seq, latest_id) VALUES (?1, ?2, ?3) "
         "ON CONFLICT (author) DO UPDATE SET latest_seq = excluded.latest_seq, "
         "latest_id = excluded.latest_id",
         "tit", author, (int64_t)tide_msg_sequence(m), id);
  if (c == NULL || tide_json_typeof(c) != TIDE_JSON_OBJECT)
    goto out;
  t = tide_json_object_getz(c, "type");
  who = tide_json_object_getz(c, "contact");
  if (t == NULL || tide_json_typeof(t) != TIDE_JSON_STRING || who == NULL ||
      tide_json_typeof(who) != TIDE_JSON_STRING)
    goto out;
  {
    size_t tl, wl;
    const char *ts_ = tide_json_string(t, &tl), *ws = tide_json_string(who, &wl);
    char wbuf[128];
    int64_t fv, bv;
    if (tl != 7 || memcmp(ts_, "contact", 7) != 0 || wl >= sizeof wbuf)
      goto out;
    memcpy(wbuf, ws, wl);
    wbuf[wl] = '\0';
    f = tide_json_object_getz(c, "following");
    b = tide_json_object_getz(c, "blocking");
    fv = f == NULL                                ? -1
         : tide_json_typeof(f) == TIDE_JSON_TRUE  ? 1
         : tide_json_typeof(f) == TIDE_JSON_FALSE ? 0
                                                  : -1;
    bv = b == NULL                                ? -1
         : tide_json_typeof(b) == TIDE_JSON_TRUE  ? 1
         : tide_json_typeof(b) == TIDE_JSON_FALSE ? 0
                                                  : -1;
    v1_run(db,
           "INSERT INTO contacts (row_id, author, contact, following, blocking, sequence, msg_id) "
           "VALUES (CASE WHEN ?1 > 0 THEN ?1 END, ?2, ?3, CASE WHEN ?4 >= 0 THEN ?4 END, "
           "CASE WHEN ?5 >= 0 THEN ?5 END, ?6, ?7)",
           "ittiiit", contact_row, author, wbuf, fv, bv, (int64_t)tide_msg_sequence(m), id);
  }
out:
  free(json);
}

/* Records m as fork evidence against stored (our message at m's
 * sequence) the way version 1 did, and marks the feed forked. */
static inline void v1_add_fork(sqlite3 *db, const tide_msg *m, const tide_msg *stored,
                               int64_t detected)
{
  char author[TIDE_FEED_ID_LEN + 1], id[TIDE_MSG_ID_LEN + 1], sid[TIDE_MSG_ID_LEN + 1];
  uint8_t pk[TIDE_PK_BYTES];
  size_t len;
  const char *text = tide_msg_text(m, &len);
  char *json = malloc(len + 1);

  if (json == NULL || !tide_msg_author(m, pk))
    v1_die(NULL, "fork");
  memcpy(json, text, len);
  json[len] = '\0';
  tide_feed_id_format(author, pk);
  tide_msg_id_format(id, tide_msg_id(m));
  tide_msg_id_format(sid, tide_msg_id(stored));
  v1_run(db,
         "INSERT INTO forks (fork_id, author, sequence, stored_id, detected, json) "
         "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
         "ttitit", id, author, (int64_t)tide_msg_sequence(m), sid, detected, json);
  v1_run(db, "UPDATE feeds SET forked = 1, forked_seq = coalesce(forked_seq, ?2) WHERE author = ?1",
         "ti", author, (int64_t)tide_msg_sequence(m));
  free(json);
}

/* PRAGMA user_version of the database at path, read with raw SQLite
 * (-1 on failure). */
static inline int64_t v1_user_version(const char *path)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int64_t v = -1;

  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

/* One integer from a query on the database at path (-1 on failure). */
static inline int64_t v1_query_int(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int64_t v = -1;

  if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
      sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
    v = sqlite3_column_int64(st, 0);
  sqlite3_finalize(st);
  sqlite3_close(db);
  return v;
}

#endif
