/* clock.c - vector clocks in the EBT v3 value encoding (see tide/clock.h). */
#include "tide/clock.h"

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "feedmap_int.h"
#include "store_int.h"
#include "tide/json.h"
#include "tide/store.h"

struct tide_clock {
  tide__feedmap map;
  int64_t *values; /* parallel to map.keys, map.cap entries */
};

int tide_clock_value_check(int64_t v)
{
  return (v == -1 || (v >= 0 && v <= TIDE_CLOCK_VALUE_MAX)) ? 0 : TIDE_E_INVAL;
}

int tide_clock_new(tide_clock **out)
{
  tide_clock *c = calloc(1, sizeof *c);
  if (!c)
    return TIDE_E_NOMEM;
  tide__feedmap_init(&c->map);
  *out = c;
  return 0;
}

void tide_clock_free(tide_clock *c)
{
  if (!c)
    return;
  tide__feedmap_free(&c->map);
  free(c->values);
  free(c);
}

void tide_clock_clear(tide_clock *c)
{
  tide__feedmap_clear(&c->map);
}

size_t tide_clock_count(const tide_clock *c)
{
  return c->map.n;
}

int tide_clock_set(tide_clock *c, const uint8_t feed[TIDE_PK_BYTES], int64_t value)
{
  size_t idx, oldcap = c->map.cap;
  int rc = tide__feedmap_add(&c->map, &idx, NULL, feed);
  if (rc)
    return rc;
  if (c->map.cap != oldcap || !c->values) {
    int64_t *v = realloc(c->values, c->map.cap * sizeof *v);
    if (!v) {
      /* Undo the addition so keys and values stay parallel. */
      size_t i, moved;
      (void)tide__feedmap_remove(&c->map, &i, &moved, feed);
      return TIDE_E_NOMEM;
    }
    c->values = v;
  }
  c->values[idx] = value;
  return 0;
}

int tide_clock_get(const tide_clock *c, int64_t *value, const uint8_t feed[TIDE_PK_BYTES])
{
  long i = tide__feedmap_find(&c->map, feed);
  if (i < 0)
    return TIDE_E_NOTFOUND;
  if (value)
    *value = c->values[i];
  return 0;
}

int tide_clock_remove(tide_clock *c, const uint8_t feed[TIDE_PK_BYTES])
{
  size_t i, moved;
  if (!tide__feedmap_remove(&c->map, &i, &moved, feed))
    return 0;
  c->values[i] = c->values[moved];
  return 1;
}

int tide_clock_next(const tide_clock *c, size_t *iter, uint8_t feed[TIDE_PK_BYTES], int64_t *value)
{
  if (*iter >= c->map.n)
    return 0;
  if (feed)
    memcpy(feed, c->map.keys[*iter], TIDE_PK_BYTES);
  if (value)
    *value = c->values[*iter];
  (*iter)++;
  return 1;
}

int tide_clock_copy(tide_clock *dst, const tide_clock *src)
{
  tide_clock_clear(dst);
  for (size_t i = 0; i < src->map.n; i++) {
    int rc = tide_clock_set(dst, src->map.keys[i], src->values[i]);
    if (rc)
      return rc;
  }
  return 0;
}

/* --- JSON ----------------------------------------------------------------- */

static size_t digits(int64_t v)
{
  char tmp[24];
  return (size_t)snprintf(tmp, sizeof tmp, "%lld", (long long)v);
}

size_t tide_clock_json_entry_bytes(int64_t value)
{
  /* "<53-char feed id>":<digits>, */
  return 1 + TIDE_FEED_ID_LEN + 1 + 1 + digits(value) + 1;
}

int tide_clock_json_write(tide_buf *out, const tide_clock *c)
{
  char id[TIDE_FEED_ID_LEN + 1];
  int rc = tide_buf_putc(out, '{');
  for (size_t i = 0; rc == 0 && i < c->map.n; i++) {
    tide_feed_id_format(id, c->map.keys[i]);
    rc = tide_buf_printf(out, "%s\"%s\":%lld", i ? "," : "", id, (long long)c->values[i]);
  }
  if (rc == 0)
    rc = tide_buf_putc(out, '}');
  return rc;
}

static int fail(tide_error *err, int code, size_t offset, const char *prefix, const char *what)
{
  if (err) {
    err->code = code;
    err->fatal = 0;
    err->offset = offset;
    snprintf(err->msg, sizeof err->msg, "%s%s", prefix, what);
  }
  return code;
}

int tide_clock_json_read(tide_clock *c, const char *json, size_t len, tide_error *err)
{
  tide_json_doc *doc = NULL;
  int rc = tide_json_parse(&doc, json, len, NULL, err);
  if (rc)
    return rc;
  const tide_json *obj = tide_json_root(doc);
  if (tide_json_typeof(obj) == TIDE_JSON_OBJECT && tide_json_length(obj) == 1) {
    size_t kl;
    const char *k = tide_json_object_key(obj, 0, &kl);
    const tide_json *inner = tide_json_object_value(obj, 0);
    if (kl == 5 && memcmp(k, "clock", 5) == 0 && tide_json_typeof(inner) == TIDE_JSON_OBJECT)
      obj = inner;
  }
  if (tide_json_typeof(obj) != TIDE_JSON_OBJECT) {
    rc = fail(err, TIDE_E_INVAL, 0, "EBT note is not a JSON object", "");
    goto out;
  }
  for (size_t i = 0; i < tide_json_length(obj); i++) {
    size_t kl;
    const char *k = tide_json_object_key(obj, i, &kl);
    const tide_json *v = tide_json_object_value(obj, i);
    uint8_t pk[TIDE_PK_BYTES];
    char shown[64];
    snprintf(shown, sizeof shown, "%.*s", (int)(kl < 60 ? kl : 60), k);
    if (tide_feed_id_parse(pk, k, kl) != 0) {
      rc = fail(err, TIDE_E_INVAL, i, "EBT note key is not a feed id: ", shown);
      goto out;
    }
    double d = tide_json_typeof(v) == TIDE_JSON_NUMBER ? tide_json_number(v) : NAN;
    if (!(d == floor(d)) || d < -1 || d > (double)TIDE_CLOCK_VALUE_MAX) {
      rc = fail(err, TIDE_E_INVAL, i, "EBT note value is not -1 or 0..2^31-1 for ", shown);
      goto out;
    }
    rc = tide_clock_set(c, pk, (int64_t)d);
    if (rc)
      goto out;
  }
out:
  tide_json_doc_free(doc);
  return rc;
}

/* --- Store ---------------------------------------------------------------- */

static const char *k_schema =
    "CREATE TABLE IF NOT EXISTS peer_clocks ("
    " peer TEXT NOT NULL, dir INTEGER NOT NULL, feed TEXT NOT NULL,"
    " value INTEGER NOT NULL, PRIMARY KEY (peer, dir, feed)) WITHOUT ROWID";

static int ensure_table(tide_store *s, tide_error *err)
{
  int rc = sqlite3_exec(tide__store_db(s), k_schema, NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : tide__store_error(s, rc, "create peer_clocks", err);
}

int tide_clock_load(tide_clock *c, tide_store *s, const uint8_t peer[TIDE_PK_BYTES],
                    tide_clock_dir dir, tide_error *err)
{
  char pid[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *st = NULL;
  int rc;
  if (dir != TIDE_CLOCK_THEIRS && dir != TIDE_CLOCK_OURS)
    return TIDE_E_INVAL;
  tide_clock_clear(c);
  if ((rc = ensure_table(s, err)))
    return rc;
  sqlite3 *db = tide__store_db(s);
  tide_feed_id_format(pid, peer);
  int src = sqlite3_prepare_v2(db, "SELECT feed, value FROM peer_clocks WHERE peer=?1 AND dir=?2",
                               -1, &st, NULL);
  if (src != SQLITE_OK)
    return tide__store_error(s, src, "load peer clock", err);
  sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
  sqlite3_bind_int(st, 2, (int)dir);
  while ((src = sqlite3_step(st)) == SQLITE_ROW) {
    uint8_t pk[TIDE_PK_BYTES];
    const char *f = (const char *)sqlite3_column_text(st, 0);
    int n = sqlite3_column_bytes(st, 0);
    if (!f || tide_feed_id_parse(pk, f, (size_t)n) != 0)
      continue; /* foreign row: skip */
    if ((rc = tide_clock_set(c, pk, sqlite3_column_int64(st, 1))))
      goto out;
  }
  if (src != SQLITE_DONE)
    rc = tide__store_error(s, src, "load peer clock", err);
out:
  sqlite3_finalize(st);
  return rc;
}

int tide_clock_save(tide_store *s, const uint8_t peer[TIDE_PK_BYTES], tide_clock_dir dir,
                    const tide_clock *c, tide_error *err)
{
  char pid[TIDE_FEED_ID_LEN + 1], fid[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *del = NULL, *ins = NULL;
  int rc, src, own_txn = 0;
  if (dir != TIDE_CLOCK_THEIRS && dir != TIDE_CLOCK_OURS)
    return TIDE_E_INVAL;
  if ((rc = ensure_table(s, err)))
    return rc;
  sqlite3 *db = tide__store_db(s);
  tide_feed_id_format(pid, peer);
  if (!tide_store_in_transaction(s)) {
    if ((src = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL)) != SQLITE_OK)
      return tide__store_error(s, src, "save peer clock", err);
    own_txn = 1;
  }
  src = sqlite3_prepare_v2(db, "DELETE FROM peer_clocks WHERE peer=?1 AND dir=?2", -1, &del, NULL);
  if (src == SQLITE_OK)
    src = sqlite3_prepare_v2(
        db, "INSERT INTO peer_clocks (peer, dir, feed, value) VALUES (?1,?2,?3,?4)", -1, &ins,
        NULL);
  if (src != SQLITE_OK)
    goto sqlfail;
  sqlite3_bind_text(del, 1, pid, -1, SQLITE_STATIC);
  sqlite3_bind_int(del, 2, (int)dir);
  if ((src = sqlite3_step(del)) != SQLITE_DONE)
    goto sqlfail;
  sqlite3_bind_text(ins, 1, pid, -1, SQLITE_STATIC);
  sqlite3_bind_int(ins, 2, (int)dir);
  for (size_t i = 0; i < c->map.n; i++) {
    tide_feed_id_format(fid, c->map.keys[i]);
    sqlite3_bind_text(ins, 3, fid, -1, SQLITE_STATIC);
    sqlite3_bind_int64(ins, 4, c->values[i]);
    if ((src = sqlite3_step(ins)) != SQLITE_DONE)
      goto sqlfail;
    sqlite3_reset(ins);
  }
  if (own_txn && (src = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL)) != SQLITE_OK)
    goto sqlfail;
  own_txn = 0;
  goto out;
sqlfail:
  rc = tide__store_error(s, src, "save peer clock", err);
out:
  sqlite3_finalize(del);
  sqlite3_finalize(ins);
  if (own_txn)
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  return rc;
}

int tide_clock_forget(tide_store *s, const uint8_t peer[TIDE_PK_BYTES], tide_error *err)
{
  char pid[TIDE_FEED_ID_LEN + 1];
  sqlite3_stmt *st = NULL;
  int rc;
  if ((rc = ensure_table(s, err)))
    return rc;
  tide_feed_id_format(pid, peer);
  int src =
      sqlite3_prepare_v2(tide__store_db(s), "DELETE FROM peer_clocks WHERE peer=?1", -1, &st, NULL);
  if (src == SQLITE_OK) {
    sqlite3_bind_text(st, 1, pid, -1, SQLITE_STATIC);
    src = sqlite3_step(st);
  }
  if (src != SQLITE_DONE)
    rc = tide__store_error(s, src, "forget peer clock", err);
  sqlite3_finalize(st);
  return rc;
}

static int add_feed(void *ctx, const tide_store_feed *f)
{
  return tide_clock_set(ctx, f->author, tide_clock_value(f->latest.sequence, 1));
}

int tide_clock_from_store(tide_clock *c, tide_store *s, tide_error *err)
{
  tide_clock_clear(c);
  return tide_store_feeds(s, add_feed, c, err);
}
