/* test_store.c - the SQLite message store. */
#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../core/store_int.h"
#include "store_fixture.h"
#include "store_v1.h"
#include "tide/store.h"
#include "tide_test.h"

static tide_store *open_mem(void)
{
  tide_store *s = NULL;
  tide_error e;
  int rc = tide_store_open(&s, TIDE_STORE_MEMORY, 0, &e);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  return s;
}

static char *store_path(const char *dir)
{
  size_t n = strlen(dir) + 16;
  char *p = malloc(n);
  snprintf(p, n, "%s/store.db", dir);
  return p;
}

static int same_text(const tide_msg *m, const char *t, size_t n)
{
  size_t ml;
  const char *mt = tide_msg_text(m, &ml);
  return ml == n && memcmp(mt, t, n) == 0;
}

/* ---- append and queries ---------------------------------------------- */

typedef struct collect {
  int n;
  int64_t seqs[16];
  tide_store_feed feeds[8];
} collect;

static int collect_rec(void *ctx, const tide_store_record *r)
{
  collect *c = ctx;
  if (c->n < 16)
    c->seqs[c->n] = r->sequence;
  c->n++;
  return 0;
}

static int collect_feed(void *ctx, const tide_store_feed *f)
{
  collect *c = ctx;
  if (c->n < 8)
    c->feeds[c->n] = *f;
  c->n++;
  return 0;
}

static int stop_at_two(void *ctx, const tide_store_record *r)
{
  collect *c = ctx;
  (void)r;
  return ++c->n == 2 ? 42 : 0;
}

static void test_append_query(void)
{
  tide_keypair a, b;
  tide_msg *ma[5], *mb[2];
  tide_store *s = open_mem();
  tide_feed_state st;
  tide_store_record rec;
  tide_buf text = TIDE_BUF_INIT;
  tide_store_stats stats;
  tide_error e;
  collect c;
  int forked = -1;
  uint8_t id[TIDE_HASH_BYTES];

  fx_keys(&a, 1);
  fx_keys(&b, 2);
  fx_chain(ma, &a, 5, "a");
  fx_chain(mb, &b, 2, "b");
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, a.pk, &e), TIDE_E_NOTFOUND);
  for (int i = 0; i < 5; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, ma[i], 1000 + i, &e), 0);
  for (int i = 0; i < 2; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, mb[i], 2000 + i, &e), 0);

  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 5);
  CU_ASSERT_EQUAL(memcmp(st.id, tide_msg_id(ma[4]), TIDE_HASH_BYTES), 0);
  CU_ASSERT_EQUAL(forked, 0);

  CU_ASSERT_EQUAL(tide_store_get(s, &text, &rec, a.pk, 3, &e), 0);
  CU_ASSERT(same_text(ma[2], text.data, text.len));
  CU_ASSERT(same_text(ma[2], rec.text, rec.text_len));
  CU_ASSERT_EQUAL(rec.sequence, 3);
  CU_ASSERT_EQUAL(rec.received_ms, 1002);
  CU_ASSERT_EQUAL(rec.timestamp, tide_msg_timestamp(ma[2]));
  CU_ASSERT_EQUAL(memcmp(rec.author, a.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT_EQUAL(memcmp(rec.id, tide_msg_id(ma[2]), TIDE_HASH_BYTES), 0);
  CU_ASSERT_EQUAL(tide_store_get(s, &text, NULL, a.pk, 6, &e), TIDE_E_NOTFOUND);

  CU_ASSERT_EQUAL(tide_store_get_by_id(s, &text, &rec, tide_msg_id(mb[1]), &e), 0);
  CU_ASSERT(same_text(mb[1], text.data, text.len));
  CU_ASSERT_EQUAL(rec.sequence, 2);
  CU_ASSERT_EQUAL(memcmp(rec.author, b.pk, TIDE_PK_BYTES), 0);
  memset(id, 7, sizeof id);
  CU_ASSERT_EQUAL(tide_store_get_by_id(s, &text, &rec, id, &e), TIDE_E_NOTFOUND);
  CU_ASSERT_EQUAL(tide_store_has(s, id, &e), 0);
  CU_ASSERT_EQUAL(tide_store_has(s, tide_msg_id(ma[0]), &e), 1);

  CU_ASSERT_EQUAL(tide_store_get_id(s, id, a.pk, 2, &e), 0);
  CU_ASSERT_EQUAL(memcmp(id, tide_msg_id(ma[1]), TIDE_HASH_BYTES), 0);
  CU_ASSERT_EQUAL(tide_store_get_id(s, id, a.pk, 9, &e), TIDE_E_NOTFOUND);

  memset(&c, 0, sizeof c);
  CU_ASSERT_EQUAL(tide_store_iter_feed(s, a.pk, 2, 4, collect_rec, &c, &e), 0);
  CU_ASSERT_EQUAL(c.n, 3);
  CU_ASSERT(c.seqs[0] == 2 && c.seqs[1] == 3 && c.seqs[2] == 4);
  memset(&c, 0, sizeof c);
  CU_ASSERT_EQUAL(tide_store_iter_feed(s, a.pk, 4, 0, collect_rec, &c, &e), 0);
  CU_ASSERT_EQUAL(c.n, 2);
  memset(&c, 0, sizeof c);
  CU_ASSERT_EQUAL(tide_store_iter_feed(s, a.pk, 1, 0, stop_at_two, &c, &e), 42);
  CU_ASSERT_EQUAL(c.n, 2);

  memset(&c, 0, sizeof c);
  CU_ASSERT_EQUAL(tide_store_feeds(s, collect_feed, &c, &e), 0);
  CU_ASSERT_EQUAL(c.n, 2);
  for (int i = 0; i < 2; i++) {
    int is_a = memcmp(c.feeds[i].author, a.pk, TIDE_PK_BYTES) == 0;
    CU_ASSERT(is_a || memcmp(c.feeds[i].author, b.pk, TIDE_PK_BYTES) == 0);
    CU_ASSERT_EQUAL(c.feeds[i].latest.sequence, is_a ? 5 : 2);
    CU_ASSERT_EQUAL(c.feeds[i].forked, 0);
  }

  /* Schema 2: feeds hold the SSB feed id text, messages refer to them
   * by number and hold the 32 bytes of their id. */
  {
    sqlite3_stmt *q = NULL;
    int rows = 0;
    CU_ASSERT_EQUAL_FATAL(sqlite3_prepare_v2(tide__store_db(s),
                                             "SELECT f.author, m.id, m.sequence FROM messages m "
                                             "JOIN feeds f ON f.num = m.feed ORDER BY m.rowid",
                                             -1, &q, NULL),
                          SQLITE_OK);
    while (sqlite3_step(q) == SQLITE_ROW) {
      char fid[TIDE_FEED_ID_LEN + 1];
      const char *author = (const char *)sqlite3_column_text(q, 0);
      int is_a = strcmp(author, (tide_feed_id_format(fid, a.pk), fid)) == 0;
      int64_t seq = sqlite3_column_int64(q, 2);
      tide_msg *msg = is_a ? ma[seq - 1] : mb[seq - 1];
      CU_ASSERT(is_a || strcmp(author, (tide_feed_id_format(fid, b.pk), fid)) == 0);
      CU_ASSERT_EQUAL(sqlite3_column_type(q, 1), SQLITE_BLOB);
      CU_ASSERT_EQUAL_FATAL(sqlite3_column_bytes(q, 1), TIDE_HASH_BYTES);
      CU_ASSERT_EQUAL(memcmp(sqlite3_column_blob(q, 1), tide_msg_id(msg), TIDE_HASH_BYTES), 0);
      rows++;
    }
    sqlite3_finalize(q);
    CU_ASSERT_EQUAL(rows, 7);
  }

  CU_ASSERT_EQUAL(tide_store_get_stats(s, &stats, &e), 0);
  CU_ASSERT_EQUAL(stats.feeds, 2);
  CU_ASSERT_EQUAL(stats.messages, 7);
  CU_ASSERT_EQUAL(stats.forks, 0);
  CU_ASSERT_EQUAL(stats.forked_feeds, 0);
  CU_ASSERT(stats.bytes > 0);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);

  tide_buf_free(&text);
  fx_free_all(ma, 5);
  fx_free_all(mb, 2);
  tide_store_close(s);
}

static void test_gap_already_previous(void)
{
  tide_keypair a;
  tide_msg *m[4], *other[2];
  tide_store *s = open_mem();
  tide_feed_state st;
  tide_error e;

  fx_keys(&a, 3);
  fx_chain(m, &a, 4, "x");
  fx_chain(other, &a, 2, "y"); /* same feed, different content */

  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), TIDE_E_STORE_GAP);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "missing sequence 1"));
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[2], 0, &e), TIDE_E_STORE_GAP);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "missing sequence 2"));
  /* other[1] is sequence 2 but links to other[0], not m[0]. */
  CU_ASSERT_EQUAL(tide_store_append(s, other[1], 0, &e), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), TIDE_E_EXISTS);
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), TIDE_E_EXISTS);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 2);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);

  fx_free_all(m, 4);
  fx_free_all(other, 2);
  tide_store_close(s);
}

static int count_fork(void *ctx, const tide_store_fork *f)
{
  (void)f;
  (*(int *)ctx)++;
  return 0;
}

typedef struct fork_seen {
  int n;
  tide_store_fork f;
  char text[16384];
} fork_seen;

static int keep_fork(void *ctx, const tide_store_fork *f)
{
  fork_seen *fs = ctx;
  fs->n++;
  fs->f = *f;
  memcpy(fs->text, f->fork_text, f->fork_text_len < sizeof fs->text ? f->fork_text_len : 0);
  return 0;
}

static void test_fork(void)
{
  tide_keypair a, b;
  tide_msg *m[4], *alt, *bm[1];
  tide_store *s = open_mem();
  tide_feed_state st;
  tide_store_stats stats;
  tide_error e;
  fork_seen fs;
  int forked = 0, n = 0;
  size_t alen;
  const char *atext;

  fx_keys(&a, 4);
  fx_keys(&b, 5);
  fx_chain(m, &a, 4, "main");
  fx_chain(bm, &b, 1, "b");
  alt = fx_post(&a, m[0], "the other branch");
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, m[i], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, alt, 77, &e), TIDE_E_STORE_FORK);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "sequence 2"));

  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 3);
  CU_ASSERT_EQUAL(forked, 1);
  CU_ASSERT_EQUAL(tide_store_append(s, m[3], 0, &e), TIDE_E_STORE_FORKED);
  CU_ASSERT_EQUAL(tide_store_append(s, alt, 0, &e), TIDE_E_EXISTS);
  CU_ASSERT_EQUAL(tide_store_has(s, tide_msg_id(alt), &e), 1);
  /* Another feed is not affected. */
  CU_ASSERT_EQUAL(tide_store_append(s, bm[0], 0, &e), 0);

  memset(&fs, 0, sizeof fs);
  CU_ASSERT_EQUAL(tide_store_forks(s, a.pk, keep_fork, &fs, &e), 0);
  CU_ASSERT_EQUAL(fs.n, 1);
  CU_ASSERT_EQUAL(fs.f.sequence, 2);
  CU_ASSERT_EQUAL(fs.f.detected_ms, 77);
  CU_ASSERT_EQUAL(memcmp(fs.f.stored_id, tide_msg_id(m[1]), TIDE_HASH_BYTES), 0);
  CU_ASSERT_EQUAL(memcmp(fs.f.fork_id, tide_msg_id(alt), TIDE_HASH_BYTES), 0);
  atext = tide_msg_text(alt, &alen);
  CU_ASSERT_EQUAL(memcmp(fs.text, atext, alen), 0);
  CU_ASSERT_EQUAL(tide_store_forks(s, b.pk, count_fork, &n, &e), 0);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_EQUAL(tide_store_forks(s, NULL, count_fork, &n, &e), 0);
  CU_ASSERT_EQUAL(n, 1);

  CU_ASSERT_EQUAL(tide_store_get_stats(s, &stats, &e), 0);
  CU_ASSERT_EQUAL(stats.forks, 1);
  CU_ASSERT_EQUAL(stats.forked_feeds, 1);
  CU_ASSERT_EQUAL(stats.messages, 4);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  /* Evidence without the flag is an inconsistency the check reports. */
  CU_ASSERT_EQUAL(sqlite3_exec(tide__store_db(s), "UPDATE feeds SET forked = 0", NULL, NULL, NULL),
                  SQLITE_OK);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), TIDE_E_STORE_CORRUPT);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "fork evidence"));

  fx_free_all(m, 4);
  fx_free_all(bm, 1);
  tide_msg_free(alt);
  tide_store_close(s);
}

/* ---- transactions ----------------------------------------------------- */

static void test_transactions(void)
{
  tide_keypair a;
  tide_msg *m[3];
  tide_store *s = open_mem();
  tide_feed_state st;
  tide_error e;

  fx_keys(&a, 6);
  fx_chain(m, &a, 3, "t");
  CU_ASSERT_EQUAL(tide_store_commit(s, &e), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_store_begin(s, &e), 0);
  CU_ASSERT_EQUAL(tide_store_in_transaction(s), 1);
  CU_ASSERT_EQUAL(tide_store_begin(s, &e), TIDE_E_INVAL);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, m[i], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 3);
  tide_store_rollback(s);
  CU_ASSERT_EQUAL(tide_store_in_transaction(s), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), TIDE_E_NOTFOUND);

  /* A verdict (gap) inside a transaction does not spoil it. */
  CU_ASSERT_EQUAL(tide_store_begin(s, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[2], 0, &e), TIDE_E_STORE_GAP);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_commit(s, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 2);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);

  fx_free_all(m, 3);
  tide_store_close(s);
}

static int count_feed(void *ctx, const tide_store_feed *f)
{
  if (f->latest.sequence > *(int64_t *)ctx)
    *(int64_t *)ctx = f->latest.sequence;
  return 0;
}

/* Inside a transaction every query sees the transaction's own appends
 * (the store batches its feeds-row updates until commit). */
static void test_transaction_reads(void)
{
  tide_keypair a;
  tide_msg *m[3], *alt;
  tide_store *s = open_mem();
  tide_feed_state st;
  tide_store_stats stats;
  tide_error e;
  int forked = 0;
  int64_t max = 0;
  sqlite3_stmt *q = NULL;

  fx_keys(&a, 15);
  fx_chain(m, &a, 3, "tr");
  alt = fx_post(&a, m[0], "tr other");
  CU_ASSERT_EQUAL(tide_store_begin(s, &e), 0);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, m[i], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 3);
  CU_ASSERT_EQUAL(memcmp(st.id, tide_msg_id(m[2]), TIDE_HASH_BYTES), 0);
  CU_ASSERT_EQUAL(tide_store_feeds(s, count_feed, &max, &e), 0);
  CU_ASSERT_EQUAL(max, 3);
  /* Raw SQL through tide__store_db() sees the current row too. */
  CU_ASSERT_EQUAL(tide_store_append(s, alt, 0, &e), TIDE_E_STORE_FORK);
  CU_ASSERT_EQUAL_FATAL(
      sqlite3_prepare_v2(tide__store_db(s), "SELECT latest_seq, forked FROM feeds", -1, &q, NULL),
      SQLITE_OK);
  CU_ASSERT_EQUAL(sqlite3_step(q), SQLITE_ROW);
  CU_ASSERT_EQUAL(sqlite3_column_int64(q, 0), 3);
  CU_ASSERT_EQUAL(sqlite3_column_int(q, 1), 1);
  sqlite3_finalize(q);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, a.pk, &e), 0);
  CU_ASSERT_EQUAL(forked, 1);
  CU_ASSERT_EQUAL(tide_store_get_stats(s, &stats, &e), 0);
  CU_ASSERT_EQUAL(stats.forked_feeds, 1);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  /* Rolled back: nothing of it remains, in the log or the feeds row. */
  tide_store_rollback(s);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), TIDE_E_NOTFOUND);
  CU_ASSERT_EQUAL(tide_store_get_stats(s, &stats, &e), 0);
  CU_ASSERT_EQUAL(stats.feeds, 0);
  CU_ASSERT_EQUAL(stats.messages, 0);
  /* The same batch committed. */
  CU_ASSERT_EQUAL(tide_store_begin(s, &e), 0);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, m[i], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_commit(s, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 3);
  CU_ASSERT_EQUAL(forked, 0);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);

  fx_free_all(m, 3);
  tide_msg_free(alt);
  tide_store_close(s);
}

/* Appends in a transaction are written in groups (a multi-row INSERT per
 * 32): every read sees all of them at any point, a rollback drops them,
 * and a commit keeps them, whatever the group boundaries. */
static void test_batched_appends(void)
{
  enum { N = 75 };
  tide_keypair a, b;
  tide_msg *ma[N], *mb[N];
  char prev[TIDE_MSG_ID_LEN + 3];
  tide_store *s = open_mem();
  tide_buf text = TIDE_BUF_INIT;
  tide_store_record rec;
  tide_store_stats stats;
  tide_feed_state st;
  collect c;
  tide_error e;
  sqlite3_stmt *q = NULL;

  fx_keys(&a, 30);
  fx_keys(&b, 31);
  fx_chain(ma, &a, N, "batch a");
  /* b's message 2 has a timestamp that is no number (stored as text); it
   * is in the first group of 32 */
  mb[0] = fx_post(&b, NULL, "batch b 1");
  fx_quoted_id(prev, mb[0]);
  mb[1] = fx_raw(&b, 2, prev, "\"later\"", NULL);
  for (int i = 2; i < N; i++)
    mb[i] = fx_post(&b, mb[i - 1], "batch b");

  for (int round = 0; round < 2; round++) {
    CU_ASSERT_EQUAL_FATAL(tide_store_begin(s, &e), 0);
    for (int i = 0; i < N; i++) {
      CU_ASSERT_EQUAL(tide_store_append(s, ma[i], 10 + i, &e), 0);
      CU_ASSERT_EQUAL(tide_store_append(s, mb[i], 20 + i, &e), 0);
      if (i % 17 == 16) { /* reads at arbitrary points see every append */
        CU_ASSERT_EQUAL(tide_store_get(s, &text, &rec, a.pk, i + 1, &e), 0);
        CU_ASSERT(same_text(ma[i], rec.text, rec.text_len));
        CU_ASSERT_EQUAL(rec.received_ms, 10 + i);
        CU_ASSERT_EQUAL(tide_store_has(s, tide_msg_id(mb[i]), &e), 1);
        CU_ASSERT_EQUAL(tide_store_get_by_id(s, &text, &rec, tide_msg_id(mb[i]), &e), 0);
        CU_ASSERT_EQUAL(rec.sequence, i + 1);
        /* appending a stored message again is recognised */
        CU_ASSERT_EQUAL(tide_store_append(s, ma[i], 0, &e), TIDE_E_EXISTS);
      }
    }
    memset(&c, 0, sizeof c);
    CU_ASSERT_EQUAL(tide_store_iter_feed(s, b.pk, 1, 0, collect_rec, &c, &e), 0);
    CU_ASSERT_EQUAL(c.n, N);
    CU_ASSERT_EQUAL(tide_store_get_stats(s, &stats, &e), 0);
    CU_ASSERT_EQUAL(stats.messages, 2 * N);
    CU_ASSERT_EQUAL_FATAL(
        sqlite3_prepare_v2(tide__store_db(s),
                           "SELECT count(*), min(rowid), max(rowid) FROM messages", -1, &q, NULL),
        SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(q), SQLITE_ROW);
    CU_ASSERT_EQUAL(sqlite3_column_int64(q, 0), 2 * N);
    CU_ASSERT_EQUAL(sqlite3_column_int64(q, 2) - sqlite3_column_int64(q, 1) + 1, 2 * N);
    sqlite3_finalize(q);
    CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
    if (round == 0) {
      tide_store_rollback(s);
      CU_ASSERT_EQUAL(tide_store_get_stats(s, &stats, &e), 0);
      CU_ASSERT_EQUAL(stats.messages, 0);
      CU_ASSERT_EQUAL(stats.feeds, 0);
    } else {
      CU_ASSERT_EQUAL(tide_store_commit(s, &e), 0);
    }
  }
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, b.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, N);
  CU_ASSERT_EQUAL(tide_store_get(s, &text, &rec, b.pk, 2, &e), 0);
  CU_ASSERT(isnan(rec.timestamp));
  CU_ASSERT(same_text(mb[1], rec.text, rec.text_len));
  CU_ASSERT_EQUAL(tide_store_get(s, &text, &rec, a.pk, N, &e), 0);
  CU_ASSERT(same_text(ma[N - 1], rec.text, rec.text_len));
  CU_ASSERT_EQUAL(rec.timestamp, tide_msg_timestamp(ma[N - 1]));
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);

  tide_buf_free(&text);
  fx_free_all(ma, N);
  fx_free_all(mb, N);
  tide_store_close(s);
}

/* ---- contact index ---------------------------------------------------- */

typedef struct contacts_seen {
  int n;
  tide_store_contact c[8];
} contacts_seen;

static int keep_contact(void *ctx, const tide_store_contact *c)
{
  contacts_seen *cs = ctx;
  if (cs->n < 8)
    cs->c[cs->n] = *c;
  cs->n++;
  return 0;
}

static void test_contacts(void)
{
  tide_keypair a, b, c;
  char bid[TIDE_FEED_ID_LEN + 1], cid[TIDE_FEED_ID_LEN + 1];
  tide_msg *m[5];
  tide_store *s = open_mem();
  tide_store_stats stats;
  contacts_seen cs;
  tide_error e;

  fx_keys(&a, 7);
  fx_keys(&b, 8);
  fx_keys(&c, 9);
  tide_feed_id_format(bid, b.pk);
  tide_feed_id_format(cid, c.pk);
  m[0] = fx_contact(&a, NULL, bid, 1, -1);
  m[1] = fx_post(&a, m[0], "not a contact");
  m[2] = fx_contact(&a, m[1], "@not-a-feed-id", 1, -1);
  m[3] = fx_contact(&a, m[2], cid, -1, 1);
  m[4] = fx_contact(&a, m[3], bid, 0, 0);
  for (int i = 0; i < 5; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, m[i], 0, &e), 0);

  memset(&cs, 0, sizeof cs);
  CU_ASSERT_EQUAL(tide_store_contacts(s, 0, keep_contact, &cs, &e), 0);
  CU_ASSERT_EQUAL_FATAL(cs.n, 3);
  CU_ASSERT_EQUAL(memcmp(cs.c[0].author, a.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT_EQUAL(memcmp(cs.c[0].contact, b.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT_EQUAL(cs.c[0].following, 1);
  CU_ASSERT_EQUAL(cs.c[0].blocking, -1);
  CU_ASSERT_EQUAL(cs.c[0].sequence, 1);
  CU_ASSERT_EQUAL(memcmp(cs.c[1].contact, c.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT_EQUAL(cs.c[1].following, -1);
  CU_ASSERT_EQUAL(cs.c[1].blocking, 1);
  CU_ASSERT_EQUAL(cs.c[1].sequence, 4);
  CU_ASSERT_EQUAL(cs.c[2].following, 0);
  CU_ASSERT_EQUAL(cs.c[2].blocking, 0);
  CU_ASSERT_EQUAL(cs.c[2].sequence, 5);
  CU_ASSERT(cs.c[0].rowid < cs.c[1].rowid && cs.c[1].rowid < cs.c[2].rowid);

  {
    int64_t after = cs.c[0].rowid;
    memset(&cs, 0, sizeof cs);
    CU_ASSERT_EQUAL(tide_store_contacts(s, after, keep_contact, &cs, &e), 0);
    CU_ASSERT_EQUAL(cs.n, 2);
  }
  CU_ASSERT_EQUAL(tide_store_get_stats(s, &stats, &e), 0);
  CU_ASSERT_EQUAL(stats.contacts, 3);

  /* 40 contact messages in one transaction (queued rows, written 32 at a
   * time): readers inside it see them all, in sequence order. */
  {
    enum { N = 40 };
    tide_keypair d;
    tide_msg *dm[N];
    int64_t last = 0;
    int ordered = 1;

    fx_keys(&d, 10);
    for (int i = 0; i < N; i++)
      dm[i] = fx_contact(&d, i == 0 ? NULL : dm[i - 1], i % 2 ? bid : cid, i % 3 == 0, -1);
    CU_ASSERT_EQUAL_FATAL(tide_store_begin(s, &e), 0);
    for (int i = 0; i < N; i++)
      CU_ASSERT_EQUAL(tide_store_append(s, dm[i], 0, &e), 0);
    memset(&cs, 0, sizeof cs);
    CU_ASSERT_EQUAL(tide_store_contacts(s, 0, keep_contact, &cs, &e), 0);
    CU_ASSERT_EQUAL(cs.n, 3 + N);
    CU_ASSERT_EQUAL(tide_store_commit(s, &e), 0);
    memset(&cs, 0, sizeof cs);
    CU_ASSERT_EQUAL(tide_store_contacts(s, 0, keep_contact, &cs, &e), 0);
    CU_ASSERT_EQUAL(cs.n, 3 + N);
    CU_ASSERT_EQUAL(tide_store_get_stats(s, &stats, &e), 0);
    CU_ASSERT_EQUAL(stats.contacts, 3 + N);
    CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
    /* rows of d come in sequence order, following as written */
    for (int64_t after = 0;;) {
      contacts_seen one;
      memset(&one, 0, sizeof one);
      CU_ASSERT_EQUAL_FATAL(tide_store_contacts(s, after, keep_contact, &one, &e), 0);
      if (one.n == 0)
        break;
      for (int i = 0; i < one.n && i < 8; i++) {
        if (memcmp(one.c[i].author, d.pk, TIDE_PK_BYTES) == 0) {
          int64_t q = one.c[i].sequence;
          ordered &= q == last + 1 && one.c[i].following == ((q - 1) % 3 == 0);
          last = q;
        }
        after = one.c[i].rowid;
      }
    }
    CU_ASSERT(ordered);
    CU_ASSERT_EQUAL(last, N);
    fx_free_all(dm, N);
  }

  fx_free_all(m, 5);
  tide_store_close(s);
}

/* ---- files: reopen, schema, read-only, storage errors ----------------- */

static void test_reopen(void)
{
  char *dir = tide_test_tmpdir("store-reopen");
  char *path = store_path(dir);
  tide_keypair a;
  tide_msg *m[3];
  tide_store *s = NULL;
  tide_feed_state st;
  tide_buf text = TIDE_BUF_INIT;
  tide_error e;

  fx_keys(&a, 10);
  fx_chain(m, &a, 3, "r");
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, m[i], 5, &e), 0);
  tide_store_close(s);
  s = NULL;
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 3);
  CU_ASSERT_EQUAL(tide_store_get(s, &text, NULL, a.pk, 2, &e), 0);
  CU_ASSERT(same_text(m[1], text.data, text.len));
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  {
    sqlite3_stmt *q = NULL;
    CU_ASSERT_EQUAL(sqlite3_prepare_v2(tide__store_db(s), "PRAGMA journal_mode", -1, &q, NULL),
                    SQLITE_OK);
    CU_ASSERT_EQUAL(sqlite3_step(q), SQLITE_ROW);
    CU_ASSERT_STRING_EQUAL((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
  }
  tide_store_close(s);

  tide_buf_free(&text);
  fx_free_all(m, 3);
  tide_test_rmtree(dir);
  free(path);
  free(dir);
}

static void raw_exec(const char *path, const char *sql)
{
  sqlite3 *db = NULL;
  CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &db), SQLITE_OK);
  CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(db);
}

static void test_schema_version(void)
{
  char *dir = tide_test_tmpdir("store-schema");
  char *path = store_path(dir);
  char other[512], junk[512];
  tide_store *s = NULL;
  tide_error e;
  FILE *f;

  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  tide_store_close(s);
  s = NULL;
  raw_exec(path, "PRAGMA user_version = 99");
  CU_ASSERT_EQUAL(tide_store_open(&s, path, 0, &e), TIDE_E_STORE_SCHEMA);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "99"));
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "newer"));
  CU_ASSERT_EQUAL(tide_store_open(&s, path, TIDE_STORE_READ_ONLY, &e), TIDE_E_STORE_SCHEMA);

  /* Another program's database is not taken over. */
  snprintf(other, sizeof other, "%s/other.db", dir);
  raw_exec(other, "CREATE TABLE t (x); INSERT INTO t VALUES (1)");
  CU_ASSERT_EQUAL(tide_store_open(&s, other, 0, &e), TIDE_E_STORE_SCHEMA);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not a tide store"));

  /* Not a database at all. */
  snprintf(junk, sizeof junk, "%s/junk.db", dir);
  f = fopen(junk, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  for (int i = 0; i < 200; i++)
    fputs("this is not a database file. ", f);
  fclose(f);
  CU_ASSERT_EQUAL(tide_store_open(&s, junk, 0, &e), TIDE_E_STORE);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not a database"));

  tide_test_rmtree(dir);
  free(path);
  free(dir);
}

static void test_read_only(void)
{
  char *dir = tide_test_tmpdir("store-ro");
  char *path = store_path(dir);
  char missing[512];
  tide_keypair a;
  tide_msg *m[2];
  tide_store *s = NULL;
  tide_feed_state st;
  tide_error e;

  fx_keys(&a, 11);
  fx_chain(m, &a, 2, "ro");
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), 0);
  tide_store_close(s);
  s = NULL;

  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, TIDE_STORE_READ_ONLY, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), TIDE_E_STORE);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "readonly"));
  CU_ASSERT_EQUAL(tide_store_begin(s, &e), TIDE_E_STORE);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 1);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  tide_store_close(s);
  s = NULL;

  snprintf(missing, sizeof missing, "%s/missing.db", dir);
  CU_ASSERT_EQUAL(tide_store_open(&s, missing, TIDE_STORE_READ_ONLY, &e), TIDE_E_NOTFOUND);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "does not exist"));
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_EQUAL(tide_store_open(&s, NULL, 0, &e), TIDE_E_INVAL);

  fx_free_all(m, 2);
  tide_test_rmtree(dir);
  free(path);
  free(dir);
}

/* TIDE_STORE_EXISTING: a missing or emptied file is TIDE_E_NOTFOUND and
 * stays as it was (no file made, nothing written into the empty one); a
 * store with content, or one whose only content is still in its WAL,
 * opens. */
static void test_existing_only(void)
{
  char *dir = tide_test_tmpdir("store-existing");
  char *path = store_path(dir);
  char wal[600];
  tide_keypair a;
  tide_msg *m[1];
  tide_store *s = NULL, *keep = NULL;
  tide_feed_state st;
  struct stat sb;
  tide_error e;
  FILE *f;

  fx_keys(&a, 12);
  fx_chain(m, &a, 1, "existing");
  CU_ASSERT_EQUAL(tide_store_open(&s, path, TIDE_STORE_EXISTING, &e), TIDE_E_NOTFOUND);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "does not exist"));
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_NOT_EQUAL(stat(path, &sb), 0);

  f = fopen(path, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fclose(f);
  CU_ASSERT_EQUAL(tide_store_open(&s, path, TIDE_STORE_EXISTING, &e), TIDE_E_NOTFOUND);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "is empty"));
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_EQUAL_FATAL(stat(path, &sb), 0);
  CU_ASSERT_EQUAL(sb.st_size, 0);
  snprintf(wal, sizeof wal, "%s-wal", path);
  CU_ASSERT_NOT_EQUAL(stat(wal, &sb), 0);

  /* Created by a plain open; while that connection stays open, what it
   * wrote may be only in the WAL: the check reads through it. */
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&keep, path, 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(keep, m[0], 0, &e), 0);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, TIDE_STORE_EXISTING, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 1);
  tide_store_close(s);
  tide_store_close(keep);
  s = NULL;
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, TIDE_STORE_EXISTING, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 1);
  tide_store_close(s);

  fx_free_all(m, 1);
  tide_test_rmtree(dir);
  free(path);
  free(dir);
}

/* The child of test_read_only_folder(), without write access to `path`
 * or its folder: returns 0 when every check holds, else the number of
 * the first that failed. */
static int read_only_checks(const char *path, const tide_msg *last, const uint8_t *pk,
                            int wal_pending)
{
  tide_store *s = NULL;
  tide_feed_state st;
  tide_buf text = TIDE_BUF_INIT;
  tide_error e;
  int rc = 0;

  if (tide_store_open(&s, path, 0, &e) == 0 || strstr(e.msg, "cannot be written") == NULL)
    return 1;
  s = NULL;
  if (wal_pending) {
    /* A WAL that may hold transactions: refused, never read past. */
    if (tide_store_open(&s, path, TIDE_STORE_READ_ONLY, &e) == 0 ||
        strstr(e.msg, "write-ahead log") == NULL)
      return 2;
    return 0;
  }
  if (tide_store_open(&s, path, TIDE_STORE_READ_ONLY, &e) != 0)
    return 3;
  if (tide_store_latest(s, &st, NULL, pk, &e) != 0 || st.sequence != 2)
    rc = 4;
  else if (tide_store_get(s, &text, NULL, pk, 2, &e) != 0 || !same_text(last, text.data, text.len))
    rc = 5;
  else if (tide_store_check(s, &e) != 0)
    rc = 6;
  else if (tide_store_append(s, last, 0, &e) == 0)
    rc = 7;
  tide_store_close(s);
  tide_buf_free(&text);
  return rc;
}

/* Runs read_only_checks() in a child process that cannot write the
 * store: as root (CI) it drops to uid/gid 65534 first, since root
 * ignores file modes.  Returns the child's result. */
static int in_read_only_child(const char *path, const tide_msg *last, const uint8_t *pk,
                              int wal_pending)
{
  int status = 0;
  pid_t pid = fork();

  if (pid < 0)
    return -1;
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
      _exit(100);
    _exit(read_only_checks(path, last, pk, wal_pending));
  }
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
    return -1;
  return WEXITSTATUS(status);
}

/* A store on read-only media (a write-protected stick, a backup): the
 * folder and the file cannot be written, so SQLite cannot make the -shm
 * file WAL mode needs; a read-only open still reads it (immutable, when
 * no write-ahead log is pending) and a read-write open says why it
 * fails.  The folder's name needs URI escaping. */
static void test_read_only_folder(void)
{
  char *dir = tide_test_tmpdir("store-rofolder");
  char sub[512], path[600], wal[620];
  tide_keypair a;
  tide_msg *m[2];
  tide_store *s = NULL;
  tide_error e;
  FILE *f;

  fx_keys(&a, 12);
  fx_chain(m, &a, 2, "rof");
  snprintf(sub, sizeof sub, "%s/stick 50%% ?#", dir);
  CU_ASSERT_EQUAL_FATAL(mkdir(sub, 0755), 0);
  snprintf(path, sizeof path, "%s/store.sqlite", sub);
  snprintf(wal, sizeof wal, "%s-wal", path);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), 0);
  tide_store_close(s);
  CU_ASSERT_NOT_EQUAL(access(wal, F_OK), 0); /* a clean close leaves no WAL */

  CU_ASSERT_EQUAL(chmod(dir, 0755), 0);
  CU_ASSERT_EQUAL(chmod(path, 0444), 0);
  CU_ASSERT_EQUAL(chmod(sub, 0555), 0);
  CU_ASSERT_EQUAL(in_read_only_child(path, m[1], a.pk, 0), 0);

  /* A non-empty WAL beside it: the immutable shortcut would skip it. */
  CU_ASSERT_EQUAL(chmod(sub, 0755), 0);
  f = fopen(wal, "wb");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs("pretend frames", f);
  fclose(f);
  CU_ASSERT_EQUAL(chmod(wal, 0444), 0);
  CU_ASSERT_EQUAL(chmod(sub, 0555), 0);
  CU_ASSERT_EQUAL(in_read_only_child(path, m[1], a.pk, 1), 0);

  CU_ASSERT_EQUAL(chmod(sub, 0755), 0);
  fx_free_all(m, 2);
  tide_test_rmtree(dir);
  free(dir);
}

static int64_t pragma(tide_store *s, const char *sql)
{
  sqlite3_stmt *q = NULL;
  int64_t v = -1;
  if (sqlite3_prepare_v2(tide__store_db(s), sql, -1, &q, NULL) == SQLITE_OK &&
      sqlite3_step(q) == SQLITE_ROW)
    v = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  return v;
}

/* A full database in the middle of a batch: the batch fails cleanly,
 * earlier data stays, the store is valid and usable once there is room. */
static void test_full_database(void)
{
  char *dir = tide_test_tmpdir("store-full");
  char *path = store_path(dir);
  char sql[128];
  tide_keypair a;
  enum { N = 300 };
  tide_msg *m[N];
  tide_store *s = NULL;
  tide_feed_state st;
  tide_error e;
  int rc = 0, i, failed_at = -1;
  char text[1200];

  fx_keys(&a, 12);
  memset(text, 'z', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  for (i = 0; i < N; i++)
    m[i] = fx_post(&a, i == 0 ? NULL : m[i - 1], text);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  for (i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, m[i], 0, &e), 0);
  snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld",
           (long long)pragma(s, "PRAGMA page_count") + 4);
  CU_ASSERT_EQUAL(sqlite3_exec(tide__store_db(s), sql, NULL, NULL, NULL), SQLITE_OK);

  CU_ASSERT_EQUAL(tide_store_begin(s, &e), 0);
  for (i = 3; i < N; i++) {
    rc = tide_store_append(s, m[i], 0, &e);
    if (rc != 0) {
      failed_at = i;
      break;
    }
  }
  CU_ASSERT(failed_at > 3);
  CU_ASSERT_EQUAL(rc, TIDE_E_STORE);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "full"));
  /* The poisoned transaction refuses more appends and cannot commit. */
  if (failed_at > 0 && failed_at + 1 < N)
    CU_ASSERT_EQUAL(tide_store_append(s, m[failed_at + 1], 0, &e), TIDE_E_STORE);
  CU_ASSERT_EQUAL(tide_store_commit(s, &e), TIDE_E_STORE);
  CU_ASSERT_EQUAL(tide_store_in_transaction(s), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 3);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);

  /* An autocommit append that does not fit fails and leaves no trace. */
  CU_ASSERT_EQUAL(tide_store_append(s, m[3], 0, &e), 0);
  for (i = 4; i < N; i++) {
    rc = tide_store_append(s, m[i], 0, &e);
    if (rc != 0)
      break;
  }
  CU_ASSERT_EQUAL(rc, TIDE_E_STORE);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, i);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);

  /* With room again, the feed continues. */
  CU_ASSERT_EQUAL(
      sqlite3_exec(tide__store_db(s), "PRAGMA max_page_count = 1000000", NULL, NULL, NULL),
      SQLITE_OK);
  CU_ASSERT_EQUAL(tide_store_append(s, m[i], 0, &e), 0);
  tide_store_close(s);
  s = NULL;
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, i + 1);
  tide_store_close(s);

  fx_free_all(m, N);
  tide_test_rmtree(dir);
  free(path);
  free(dir);
}

/* Another connection holds the write lock: a clean, bounded failure. */
static void test_busy(void)
{
  char *dir = tide_test_tmpdir("store-busy");
  char *path = store_path(dir);
  tide_keypair a;
  tide_msg *m[2];
  tide_store *s = NULL;
  sqlite3 *other = NULL;
  tide_feed_state st;
  tide_error e;

  fx_keys(&a, 13);
  fx_chain(m, &a, 2, "busy");
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_set_busy_timeout(s, 20, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), 0);
  CU_ASSERT_EQUAL_FATAL(sqlite3_open(path, &other), SQLITE_OK);
  CU_ASSERT_EQUAL(sqlite3_exec(other, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), TIDE_E_STORE);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "locked"));
  CU_ASSERT_EQUAL(tide_store_begin(s, &e), TIDE_E_STORE);
  CU_ASSERT_EQUAL(tide_store_in_transaction(s), 0);
  /* Readers are not blocked by a writer (WAL). */
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(sqlite3_exec(other, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
  sqlite3_close(other);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  tide_store_close(s);

  fx_free_all(m, 2);
  tide_test_rmtree(dir);
  free(path);
  free(dir);
}

/* tide_store_check finds damage done behind the store's back. */
static void test_check_detects(void)
{
  tide_keypair a;
  tide_msg *m[3];
  tide_store *s = open_mem();
  tide_error e;
  sqlite3 *db;

  fx_keys(&a, 14);
  fx_chain(m, &a, 3, "c");
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(tide_store_append(s, m[i], 0, &e), 0);
  db = tide__store_db(s);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  CU_ASSERT_EQUAL(sqlite3_exec(db,
                               "UPDATE messages SET json = replace(json, 'c 2', 'c 9') "
                               "WHERE sequence = 2",
                               NULL, NULL, NULL),
                  SQLITE_OK);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), TIDE_E_STORE_CORRUPT);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "hashes to"));
  CU_ASSERT_EQUAL(sqlite3_exec(db, "DELETE FROM messages WHERE sequence = 2", NULL, NULL, NULL),
                  SQLITE_OK);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), TIDE_E_STORE_CORRUPT);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "expected sequence 2"));

  fx_free_all(m, 3);
  tide_store_close(s);
}

static int keep_ts(void *ctx, const tide_store_record *r)
{
  double *ts = ctx;
  if (r->sequence >= 1 && r->sequence <= 6)
    ts[r->sequence - 1] = r->timestamp;
  return 0;
}

/* ssb-validate type-checks "timestamp" only on message 1, and there a
 * wire 1e400 is Infinity, a number: the store keeps all of them. */
static void test_any_timestamp(void)
{
  static const char *const later[] = {"\"yesterday\"", "null", "{}", "[]", "true"};
  tide_keypair a;
  tide_msg *m[6];
  tide_store *s = open_mem();
  tide_store_record rec;
  tide_buf text = TIDE_BUF_INIT;
  char prev[TIDE_MSG_ID_LEN + 3];
  double ts[6] = {0};
  tide_error e;
  tide_feed_state st;

  fx_keys(&a, 9);
  m[0] = fx_raw(&a, 1, "null", "null", "1e400");
  CU_ASSERT(isinf(tide_msg_timestamp(m[0])));
  CU_ASSERT_EQUAL(tide_msg_validate(m[0], NULL, NULL, TIDE_MSG_SIG_UNCHECKED, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), 0);
  for (int i = 1; i < 6; i++) {
    fx_quoted_id(prev, m[i - 1]);
    m[i] = fx_raw(&a, i + 1, prev, later[i - 1], NULL);
    fx_state(&st, m[i - 1]);
    CU_ASSERT_EQUAL(tide_msg_validate(m[i], &st, NULL, TIDE_MSG_SIG_UNCHECKED, &e), 0);
    CU_ASSERT_EQUAL(tide_store_append(s, m[i], 0, &e), 0);
  }
  CU_ASSERT_EQUAL(tide_store_get(s, &text, &rec, a.pk, 2, &e), 0);
  CU_ASSERT(isnan(rec.timestamp));
  CU_ASSERT(same_text(m[1], rec.text, rec.text_len));
  CU_ASSERT_EQUAL(tide_store_iter_feed(s, a.pk, 1, 0, keep_ts, ts, &e), 0);
  CU_ASSERT(isinf(ts[0]) && ts[0] > 0);
  for (int i = 1; i < 6; i++)
    CU_ASSERT(isnan(ts[i]));
  /* a string that looks like a number is still not a number */
  fx_quoted_id(prev, m[5]);
  {
    tide_msg *m7 = fx_raw(&a, 7, prev, "\"123\"", NULL);
    CU_ASSERT_EQUAL(tide_store_append(s, m7, 0, &e), 0);
    CU_ASSERT_EQUAL(tide_store_get(s, &text, &rec, a.pk, 7, &e), 0);
    CU_ASSERT(isnan(rec.timestamp));
    tide_msg_free(m7);
  }
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  tide_buf_free(&text);
  fx_free_all(m, 6);
  tide_store_close(s);
}

/* "previous" as ["%id"] or [["%id"]] passes ssb-validate's loose `!=`:
 * the store chains on the same comparison. */
static void test_loose_previous(void)
{
  tide_keypair a;
  tide_msg *m[4], *bad;
  tide_store *s = open_mem();
  char q[TIDE_MSG_ID_LEN + 3], prev[TIDE_MSG_ID_LEN + 16];
  tide_error e;
  tide_feed_state st;

  fx_keys(&a, 10);
  fx_chain(m, &a, 1, "l");
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), 0);
  fx_quoted_id(q, m[0]);
  snprintf(prev, sizeof prev, "[%s]", q);
  m[1] = fx_raw(&a, 2, prev, "2", NULL);
  CU_ASSERT_EQUAL(tide_msg_previous_matches(m[1], tide_msg_id(m[0])), 1);
  CU_ASSERT_EQUAL(tide_msg_previous_matches(m[1], tide_msg_id(m[1])), 0);
  fx_state(&st, m[0]);
  CU_ASSERT_EQUAL(tide_msg_validate(m[1], &st, NULL, TIDE_MSG_SIG_UNCHECKED, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), 0);
  fx_quoted_id(q, m[1]);
  snprintf(prev, sizeof prev, "[[%s]]", q);
  m[2] = fx_raw(&a, 3, prev, "3", NULL);
  CU_ASSERT_EQUAL(tide_store_append(s, m[2], 0, &e), 0);
  /* two elements coerce to "a,b": not the id */
  fx_quoted_id(q, m[2]);
  snprintf(prev, sizeof prev, "[%s,1]", q);
  bad = fx_raw(&a, 4, prev, "4", NULL);
  CU_ASSERT_EQUAL(tide_msg_previous_matches(bad, tide_msg_id(m[2])), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, bad, 0, &e), TIDE_E_INVAL);
  tide_msg_free(bad);
  m[3] = fx_raw(&a, 4, q, "4", NULL);
  CU_ASSERT_EQUAL(tide_store_append(s, m[3], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, NULL, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 4);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  fx_free_all(m, 4);
  tide_store_close(s);
}

/* tide_store_record_fork: a message one past the latest that chains on
 * another message at sequence-1. */
static void test_record_fork(void)
{
  tide_keypair a;
  tide_msg *m[3], *b2, *b3;
  tide_store *s = open_mem();
  tide_feed_state st;
  fork_seen fs;
  int forked = 0;
  tide_error e;

  fx_keys(&a, 11);
  fx_chain(m, &a, 3, "r");
  b2 = fx_post(&a, m[0], "other 2");
  b3 = fx_post(&a, b2, "other 3");
  CU_ASSERT_EQUAL(tide_store_record_fork(s, m[0], 0, &e), TIDE_E_INVAL); /* new feed */
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_record_fork(s, m[2], 0, &e), TIDE_E_INVAL); /* chains on m[1] */
  CU_ASSERT_EQUAL(tide_store_append(s, b3, 0, &e), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_store_record_fork(s, b3, 77, &e), TIDE_E_STORE_FORK);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "sequence 2"));
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 2);
  CU_ASSERT_EQUAL(forked, 1);
  memset(&fs, 0, sizeof fs);
  CU_ASSERT_EQUAL(tide_store_forks(s, a.pk, keep_fork, &fs, &e), 0);
  CU_ASSERT_EQUAL(fs.n, 1);
  CU_ASSERT_EQUAL(fs.f.sequence, 3);
  CU_ASSERT_EQUAL(fs.f.detected_ms, 77);
  CU_ASSERT_EQUAL(memcmp(fs.f.fork_id, tide_msg_id(b3), TIDE_HASH_BYTES), 0);
  CU_ASSERT_EQUAL(memcmp(fs.f.stored_id, tide_msg_id(m[1]), TIDE_HASH_BYTES), 0);
  CU_ASSERT(same_text(b3, fs.text, fs.f.fork_text_len));
  CU_ASSERT_EQUAL(tide_store_record_fork(s, b3, 0, &e), TIDE_E_EXISTS);
  CU_ASSERT_EQUAL(tide_store_record_fork(s, m[2], 0, &e), TIDE_E_STORE_FORKED);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  tide_store_close(s);

  /* inside a transaction, and beyond latest+1 */
  s = open_mem();
  CU_ASSERT_EQUAL(tide_store_begin(s, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, m[0], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_record_fork(s, b3, 0, &e), TIDE_E_STORE_GAP);
  CU_ASSERT_EQUAL(tide_store_append(s, m[1], 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_record_fork(s, b3, 0, &e), TIDE_E_STORE_FORK);
  CU_ASSERT_EQUAL(tide_store_append(s, m[2], 0, &e), TIDE_E_STORE_FORKED);
  CU_ASSERT_EQUAL(tide_store_commit(s, &e), 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 2);
  CU_ASSERT_EQUAL(forked, 1);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  tide_store_close(s);
  fx_free_all(m, 3);
  tide_msg_free(b2);
  tide_msg_free(b3);
}

/* ---- upgrade from schema version 1 ------------------------------------ */

typedef struct v1_case {
  tide_keypair a, b, c;
  tide_msg *m[9]; /* in the order they were stored */
  int64_t received[9];
  tide_msg *alt; /* fork evidence: another message 2 of b */
  tide_msg *a5;  /* the next message of a, appended after the upgrade */
  tide_msg *b4;  /* the next message of b (forked: refused) */
} v1_case;

/* Builds a version-1 store at path with raw SQL: feed a (5 messages: a
 * text timestamp, two contact messages), feed b (3 messages, forked at 2
 * by alt), feed c (1 contact message), contact rows 3, 4 and 9, and a
 * table of another module. */
static void v1_case_build(v1_case *k, const char *path)
{
  char aid[TIDE_FEED_ID_LEN + 1], bid[TIDE_FEED_ID_LEN + 1], cid[TIDE_FEED_ID_LEN + 1];
  char prev[TIDE_MSG_ID_LEN + 3];
  tide_msg *a[5], *b[3], *c0;
  static const int64_t contact_row[9] = {0, 0, 0, 0, 3, 0, 0, 0, 9};
  sqlite3 *db;

  fx_keys(&k->a, 20);
  fx_keys(&k->b, 21);
  fx_keys(&k->c, 22);
  tide_feed_id_format(aid, k->a.pk);
  tide_feed_id_format(bid, k->b.pk);
  tide_feed_id_format(cid, k->c.pk);
  a[0] = fx_raw(&k->a, 1, "null", "1700000000000", NULL);
  fx_quoted_id(prev, a[0]);
  a[1] = fx_raw(&k->a, 2, prev, "\"yesterday\"", NULL);
  a[2] = fx_contact(&k->a, a[1], bid, 1, -1);
  a[3] = fx_post(&k->a, a[2], "a 4");
  a[4] = fx_contact(&k->a, a[3], cid, -1, 1);
  k->a5 = fx_post(&k->a, a[4], "a 6");
  fx_chain(b, &k->b, 3, "b");
  k->alt = fx_post(&k->b, b[0], "b 2 other");
  k->b4 = fx_post(&k->b, b[2], "b 4");
  c0 = fx_contact(&k->c, NULL, aid, 0, 0);
  /* arrival order: a1 b1 a2 b2 a3 b3 a4 c1 a5 */
  k->m[0] = a[0];
  k->m[1] = b[0];
  k->m[2] = a[1];
  k->m[3] = b[1];
  k->m[4] = a[2];
  k->m[5] = b[2];
  k->m[6] = a[3];
  k->m[7] = c0;
  k->m[8] = a[4];
  db = v1_create(path);
  v1_exec(db, "BEGIN");
  for (int i = 0; i < 9; i++) {
    k->received[i] = 5000 + 7 * i;
    v1_add_message(db, k->m[i], k->received[i], contact_row[i]);
  }
  v1_add_fork(db, k->alt, b[1], 777);
  v1_exec(db, "CREATE TABLE other_module (k TEXT PRIMARY KEY, v INTEGER);"
              "INSERT INTO other_module VALUES ('x', 42);");
  v1_exec(db, "COMMIT");
  CU_ASSERT_EQUAL(sqlite3_close(db), SQLITE_OK);
}

static void v1_case_free(v1_case *k)
{
  fx_free_all(k->m, 9);
  tide_msg_free(k->alt);
  tide_msg_free(k->a5);
  tide_msg_free(k->b4);
}

/* Everything v1_case_build() stored is readable through the API. */
static void v1_case_verify(v1_case *k, tide_store *s)
{
  tide_buf text = TIDE_BUF_INIT;
  tide_store_record rec;
  tide_store_stats stats;
  tide_feed_state st;
  fork_seen fs;
  contacts_seen cs;
  collect c;
  tide_error e;
  int forked = -1;

  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  for (int i = 0; i < 9; i++) {
    uint8_t pk[TIDE_PK_BYTES];
    int64_t seq = tide_msg_sequence(k->m[i]);
    double ts = tide_msg_timestamp(k->m[i]);
    CU_ASSERT_FATAL(tide_msg_author(k->m[i], pk));
    CU_ASSERT_EQUAL_FATAL(tide_store_get(s, &text, &rec, pk, seq, &e), 0);
    CU_ASSERT(same_text(k->m[i], rec.text, rec.text_len));
    CU_ASSERT_EQUAL(memcmp(rec.id, tide_msg_id(k->m[i]), TIDE_HASH_BYTES), 0);
    CU_ASSERT_EQUAL(rec.received_ms, k->received[i]);
    CU_ASSERT(isnan(ts) ? isnan(rec.timestamp) : rec.timestamp == ts);
    CU_ASSERT_EQUAL_FATAL(tide_store_get_by_id(s, &text, &rec, tide_msg_id(k->m[i]), &e), 0);
    CU_ASSERT_EQUAL(memcmp(rec.author, pk, TIDE_PK_BYTES), 0);
    CU_ASSERT_EQUAL(rec.sequence, seq);
    CU_ASSERT_EQUAL(tide_store_has(s, tide_msg_id(k->m[i]), &e), 1);
  }
  CU_ASSERT(isnan(tide_msg_timestamp(k->m[2]))); /* the text timestamp was covered */
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, k->a.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 5);
  CU_ASSERT_EQUAL(memcmp(st.id, tide_msg_id(k->m[8]), TIDE_HASH_BYTES), 0);
  CU_ASSERT_EQUAL(forked, 0);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, k->b.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 3);
  CU_ASSERT_EQUAL(forked, 1);
  CU_ASSERT_EQUAL(tide_store_latest(s, &st, &forked, k->c.pk, &e), 0);
  CU_ASSERT_EQUAL(st.sequence, 1);
  memset(&c, 0, sizeof c);
  CU_ASSERT_EQUAL(tide_store_iter_feed(s, k->a.pk, 1, 0, collect_rec, &c, &e), 0);
  CU_ASSERT_EQUAL(c.n, 5);
  CU_ASSERT(c.seqs[0] == 1 && c.seqs[4] == 5);
  memset(&c, 0, sizeof c);
  CU_ASSERT_EQUAL(tide_store_feeds(s, collect_feed, &c, &e), 0);
  CU_ASSERT_EQUAL(c.n, 3);

  memset(&fs, 0, sizeof fs);
  CU_ASSERT_EQUAL(tide_store_forks(s, k->b.pk, keep_fork, &fs, &e), 0);
  CU_ASSERT_EQUAL_FATAL(fs.n, 1);
  CU_ASSERT_EQUAL(memcmp(fs.f.author, k->b.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT_EQUAL(fs.f.sequence, 2);
  CU_ASSERT_EQUAL(memcmp(fs.f.stored_id, tide_msg_id(k->m[3]), TIDE_HASH_BYTES), 0);
  CU_ASSERT_EQUAL(memcmp(fs.f.fork_id, tide_msg_id(k->alt), TIDE_HASH_BYTES), 0);
  CU_ASSERT_EQUAL(fs.f.detected_ms, 777);
  CU_ASSERT(same_text(k->alt, fs.text, fs.f.fork_text_len));
  CU_ASSERT_EQUAL(tide_store_has(s, tide_msg_id(k->alt), &e), 1);

  memset(&cs, 0, sizeof cs);
  CU_ASSERT_EQUAL(tide_store_contacts(s, 0, keep_contact, &cs, &e), 0);
  CU_ASSERT_EQUAL_FATAL(cs.n, 3);
  CU_ASSERT_EQUAL(cs.c[0].rowid, 3);
  CU_ASSERT_EQUAL(memcmp(cs.c[0].author, k->a.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT_EQUAL(memcmp(cs.c[0].contact, k->b.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT(cs.c[0].following == 1 && cs.c[0].blocking == -1 && cs.c[0].sequence == 3);
  CU_ASSERT_EQUAL(cs.c[1].rowid, 4);
  CU_ASSERT_EQUAL(memcmp(cs.c[1].author, k->c.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT_EQUAL(memcmp(cs.c[1].contact, k->a.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT(cs.c[1].following == 0 && cs.c[1].blocking == 0 && cs.c[1].sequence == 1);
  CU_ASSERT_EQUAL(cs.c[2].rowid, 9);
  CU_ASSERT_EQUAL(memcmp(cs.c[2].author, k->a.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT_EQUAL(memcmp(cs.c[2].contact, k->c.pk, TIDE_PK_BYTES), 0);
  CU_ASSERT(cs.c[2].following == -1 && cs.c[2].blocking == 1 && cs.c[2].sequence == 5);

  CU_ASSERT_EQUAL(tide_store_get_stats(s, &stats, &e), 0);
  CU_ASSERT_EQUAL(stats.feeds, 3);
  CU_ASSERT_EQUAL(stats.messages, 9);
  CU_ASSERT_EQUAL(stats.forked_feeds, 1);
  CU_ASSERT_EQUAL(stats.forks, 1);
  CU_ASSERT_EQUAL(stats.contacts, 3);
  tide_buf_free(&text);
}

/* A version-1 store is upgraded on a writable open: every message, fork,
 * contact and feed state survives, other modules' tables too, and the
 * store keeps working. */
static void test_upgrade_v1(void)
{
  char *dir = tide_test_tmpdir("store-v1");
  char *path = store_path(dir);
  uint8_t id[TIDE_HASH_BYTES];
  v1_case k;
  tide_store *s = NULL;
  tide_error e;

  v1_case_build(&k, path);
  CU_ASSERT_EQUAL(v1_user_version(path), 1);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  CU_ASSERT_EQUAL(pragma(s, "PRAGMA user_version"), TIDE_STORE_SCHEMA_VERSION);
  CU_ASSERT_EQUAL(pragma(s, "SELECT v FROM other_module WHERE k = 'x'"), 42);
  CU_ASSERT_EQUAL(pragma(s, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'v1%'"), 0);
  v1_case_verify(&k, s);
  /* It keeps working: appends go on, the forked feed stays refused. */
  CU_ASSERT_EQUAL(tide_store_append(s, k.a5, 1, &e), 0);
  CU_ASSERT_EQUAL(tide_store_append(s, k.m[5], 1, &e), TIDE_E_EXISTS);
  CU_ASSERT_EQUAL(tide_store_append(s, k.b4, 1, &e), TIDE_E_STORE_FORKED);
  CU_ASSERT_EQUAL(tide_store_append(s, k.alt, 1, &e), TIDE_E_EXISTS);
  tide_store_close(s);
  s = NULL;

  /* Reopening does not upgrade again. */
  CU_ASSERT_EQUAL(v1_user_version(path), TIDE_STORE_SCHEMA_VERSION);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, TIDE_STORE_READ_ONLY, &e), 0);
  CU_ASSERT_EQUAL(tide_store_check(s, &e), 0);
  CU_ASSERT_EQUAL(tide_store_get_id(s, id, k.a.pk, 6, &e), 0);
  CU_ASSERT_EQUAL(memcmp(id, tide_msg_id(k.a5), TIDE_HASH_BYTES), 0);
  tide_store_close(s);

  v1_case_free(&k);
  tide_test_rmtree(dir);
  free(path);
  free(dir);
}

/* A read-only open of a version-1 store says what to do and changes
 * nothing; a failing upgrade (a malformed id) leaves the version-1 store
 * as it was, and succeeds once the row is repaired. */
static void test_upgrade_v1_refused(void)
{
  char *dir = tide_test_tmpdir("store-v1-bad");
  char *path = store_path(dir);
  char sql[256], id[TIDE_MSG_ID_LEN + 1];
  v1_case k;
  tide_store *s = NULL;
  tide_error e;

  v1_case_build(&k, path);
  CU_ASSERT_EQUAL(tide_store_open(&s, path, TIDE_STORE_READ_ONLY, &e), TIDE_E_STORE_SCHEMA);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "version 1"));
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "writable"));
  CU_ASSERT_EQUAL(v1_user_version(path), 1);

  tide_msg_id_format(id, tide_msg_id(k.m[6]));
  snprintf(sql, sizeof sql, "UPDATE messages SET id = 'not an id' WHERE id = '%s'", id);
  raw_exec(path, sql);
  CU_ASSERT_EQUAL(tide_store_open(&s, path, 0, &e), TIDE_E_STORE);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "malformed message id 'not an id'"));
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "unchanged"));
  CU_ASSERT_EQUAL(v1_user_version(path), 1);
  CU_ASSERT_EQUAL(v1_query_int(path, "SELECT count(*) FROM messages WHERE author LIKE '@%'"), 9);
  CU_ASSERT_EQUAL(v1_query_int(path, "SELECT count(msg_id) FROM contacts"), 3);
  CU_ASSERT_EQUAL(v1_query_int(path, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'v1%'"),
                  0);
  CU_ASSERT_EQUAL(
      v1_query_int(path,
                   "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"),
      1);

  snprintf(sql, sizeof sql, "UPDATE messages SET id = '%s' WHERE id = 'not an id'", id);
  raw_exec(path, sql);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s, path, 0, &e), 0);
  v1_case_verify(&k, s);
  tide_store_close(s);

  v1_case_free(&k);
  tide_test_rmtree(dir);
  free(path);
  free(dir);
}

static CU_TestInfo store_tests[] = {
    {"append and queries", test_append_query},
    {"gap, already, previous", test_gap_already_previous},
    {"any timestamp after message 1", test_any_timestamp},
    {"previous compared loosely", test_loose_previous},
    {"fork evidence and forked flag", test_fork},
    {"fork evidence one past the latest", test_record_fork},
    {"transactions and rollback", test_transactions},
    {"reads inside a transaction", test_transaction_reads},
    {"batched appends: reads, rollback, commit", test_batched_appends},
    {"contact index", test_contacts},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo file_tests[] = {
    {"reopen a file store", test_reopen},
    {"schema version and foreign files", test_schema_version},
    {"read-only store", test_read_only},
    {"existing store only", test_existing_only},
    {"read-only folder (write-protected stick)", test_read_only_folder},
    {"full database rolls back", test_full_database},
    {"busy database", test_busy},
    {"check detects damage", test_check_detects},
    {"upgrade from schema version 1", test_upgrade_v1},
    {"upgrade refused or failing leaves version 1", test_upgrade_v1_refused},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("store", store_tests),
    TIDE_SUITE("store files", file_tests),
    CU_SUITE_INFO_NULL,
};
