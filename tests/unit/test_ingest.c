/* test_ingest.c - the ingest pipeline: verdicts, ordering, forks, gaps,
 * commit-before-ack, storage failures. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../core/store_int.h"
#include "store_fixture.h"
#include "tide/ingest.h"
#include "tide/store.h"
#include "tide_test.h"

#define MAXV 1024

typedef struct seen {
  int n;
  int verdict[MAXV]; /* by tag; -1 = none */
  int count[4];
  int dup; /* a tag reported twice */
  char reason[MAXV][160];
  int code[MAXV];
  /* commit-before-ack check */
  tide_store *observer;
  int unseen_accepted;
} seen;

static void seen_init(seen *s)
{
  memset(s, 0, sizeof *s);
  for (int i = 0; i < MAXV; i++)
    s->verdict[i] = -1;
}

static void on_result(void *ctx, const tide_ingest_result *r)
{
  seen *s = ctx;

  s->n++;
  if (getenv("TIDE_TEST_VERBOSE") != NULL)
    fprintf(stderr, "tag %llu verdict %d code %d seq %lld: %s\n", (unsigned long long)r->tag,
            (int)r->verdict, r->code, (long long)r->sequence, r->reason);
  if (r->tag >= MAXV)
    return;
  if (s->verdict[r->tag] != -1)
    s->dup++;
  s->verdict[r->tag] = (int)r->verdict;
  s->count[r->verdict]++;
  s->code[r->tag] = r->code;
  snprintf(s->reason[r->tag], sizeof s->reason[r->tag], "%s", r->reason);
  if (r->verdict == TIDE_INGEST_ACCEPTED && s->observer != NULL) {
    /* Another connection must already see the message: it is committed. */
    if (r->msg == NULL || tide_store_has(s->observer, tide_msg_id(r->msg), NULL) != 1)
      s->unseen_accepted++;
  }
}

static tide_store *open_mem(void)
{
  tide_store *st = NULL;
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&st, TIDE_STORE_MEMORY, 0, NULL), 0);
  return st;
}

static int push_text(tide_ingest *ing, uint64_t tag, const tide_msg *m)
{
  size_t n;
  const char *t = tide_msg_text(m, &n);
  return tide_ingest_push(ing, tag, t, n, NULL);
}

static tide_ingest *new_ingest(tide_store *st, size_t threads, size_t batch, seen *s)
{
  tide_ingest_options o;
  tide_ingest *ing = NULL;

  memset(&o, 0, sizeof o);
  o.threads = threads;
  o.batch = batch;
  o.received_ms = 123;
  CU_ASSERT_EQUAL_FATAL(tide_ingest_new(&ing, st, &o, on_result, s), 0);
  return ing;
}

/* Feeds x messages, interleaved (or shuffled within each feed). */
enum { FEEDS = 4, PER = 25 };

static void make_feeds(tide_msg *m[FEEDS][PER])
{
  for (int f = 0; f < FEEDS; f++) {
    tide_keypair kp;
    fx_keys(&kp, 40 + f);
    fx_chain(m[f], &kp, PER, "ingest");
  }
}

static void free_feeds(tide_msg *m[FEEDS][PER])
{
  for (int f = 0; f < FEEDS; f++)
    fx_free_all(m[f], PER);
}

static void check_all_feeds(tide_store *st, tide_msg *m[FEEDS][PER], int64_t want)
{
  for (int f = 0; f < FEEDS; f++) {
    tide_feed_state fs;
    uint8_t pk[TIDE_PK_BYTES];
    CU_ASSERT_FATAL(tide_msg_author(m[f][0], pk));
    CU_ASSERT_EQUAL(tide_store_latest(st, &fs, NULL, pk, NULL), 0);
    CU_ASSERT_EQUAL(fs.sequence, want);
  }
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
}

static void run_in_order(size_t threads)
{
  tide_msg *m[FEEDS][PER];
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;
  tide_ingest_stats stats;

  make_feeds(m);
  seen_init(&s);
  ing = new_ingest(st, threads, 7, &s);
  for (int i = 0; i < PER; i++)
    for (int f = 0; f < FEEDS; f++)
      CU_ASSERT_EQUAL(push_text(ing, (uint64_t)(i * FEEDS + f), m[f][i]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.n, FEEDS * PER);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_ACCEPTED], FEEDS * PER);
  CU_ASSERT_EQUAL(s.dup, 0);
  tide_ingest_get_stats(ing, &stats);
  CU_ASSERT_EQUAL(stats.accepted, FEEDS * PER);
  CU_ASSERT_EQUAL(stats.pending, 0);
  CU_ASSERT_EQUAL(stats.held, 0);
  CU_ASSERT(stats.batches >= (FEEDS * PER) / 7);
  CU_ASSERT_EQUAL(tide_ingest_threads(ing), threads == 1 ? 0 : threads);
  check_all_feeds(st, m, PER);

  /* The same messages again: all ALREADY, nothing changes. */
  seen_init(&s);
  for (int f = 0; f < FEEDS; f++)
    for (int i = 0; i < PER; i++)
      CU_ASSERT_EQUAL(push_text(ing, (uint64_t)(f * PER + i), m[f][i]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_ALREADY], FEEDS * PER);
  check_all_feeds(st, m, PER);

  tide_ingest_free(ing);
  tide_store_close(st);
  free_feeds(m);
}

static void test_in_order_inline(void)
{
  run_in_order(1);
}

static void test_in_order_threads(void)
{
  run_in_order(3);
}

/* Any order within and across feeds: held messages are retried when the
 * missing ones arrive, across batches. */
static void test_any_order(void)
{
  tide_msg *m[FEEDS][PER];
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;
  int order[FEEDS * PER];
  uint32_t x = 12345;

  make_feeds(m);
  for (int i = 0; i < FEEDS * PER; i++)
    order[i] = i;
  for (int i = FEEDS * PER - 1; i > 0; i--) { /* fixed shuffle */
    x = x * 1103515245u + 12345u;
    int j = (int)((x >> 8) % (uint32_t)(i + 1));
    int t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  seen_init(&s);
  ing = new_ingest(st, 2, 9, &s);
  for (int i = 0; i < FEEDS * PER; i++) {
    int k = order[i];
    CU_ASSERT_EQUAL(push_text(ing, (uint64_t)k, m[k / PER][k % PER]), 0);
  }
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_ACCEPTED], FEEDS * PER);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.n, FEEDS * PER);
  CU_ASSERT_EQUAL(s.dup, 0);
  check_all_feeds(st, m, PER);
  tide_ingest_free(ing);
  tide_store_close(st);
  free_feeds(m);
}

/* Reverse order inside one batch, and duplicates while held. */
static void test_reverse_and_duplicates(void)
{
  tide_keypair kp;
  tide_msg *m[10];
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;

  fx_keys(&kp, 50);
  fx_chain(m, &kp, 10, "rev");
  seen_init(&s);
  ing = new_ingest(st, 1, 100, &s);
  for (int i = 9; i >= 0; i--)
    CU_ASSERT_EQUAL(push_text(ing, (uint64_t)i, m[i]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 20, m[5]), 0); /* duplicate, processed after 1..10 */
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  for (int i = 0; i < 10; i++)
    CU_ASSERT_EQUAL(s.verdict[i], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[20], TIDE_INGEST_ALREADY);

  /* Two copies of the same held message. */
  tide_ingest_free(ing);
  tide_store_close(st);
  st = open_mem();
  seen_init(&s);
  ing = new_ingest(st, 2, 3, &s);
  CU_ASSERT_EQUAL(push_text(ing, 3, m[2]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 4, m[2]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 2, m[1]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 1, m[0]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_ACCEPTED], 3);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_ALREADY], 1);
  CU_ASSERT_EQUAL(s.n, 4);
  tide_ingest_free(ing);
  tide_store_close(st);
  fx_free_all(m, 10);
}

/* A gap that never fills: rejected at finish, naming the missing one. */
static void test_gap_at_finish(void)
{
  tide_keypair kp;
  tide_msg *m[6];
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;
  tide_ingest_stats stats;

  fx_keys(&kp, 51);
  fx_chain(m, &kp, 6, "gap");
  seen_init(&s);
  ing = new_ingest(st, 2, 2, &s);
  CU_ASSERT_EQUAL(push_text(ing, 0, m[0]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 1, m[1]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 3, m[3]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 5, m[5]), 0);
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0);
  tide_ingest_get_stats(ing, &stats);
  CU_ASSERT_EQUAL(stats.held, 2);
  CU_ASSERT_EQUAL(s.n, 2);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[0], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[1], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[3], TIDE_INGEST_REJECTED);
  CU_ASSERT_EQUAL(s.verdict[5], TIDE_INGEST_REJECTED);
  CU_ASSERT_EQUAL(s.code[3], TIDE_E_STORE_GAP);
  CU_ASSERT_EQUAL(strncmp(s.reason[3], "gap: ", 5), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(s.reason[3], "missing sequence 3"));
  CU_ASSERT_PTR_NOT_NULL(strstr(s.reason[5], "missing sequence 3"));
  tide_ingest_get_stats(ing, &stats);
  CU_ASSERT_EQUAL(stats.held, 0);
  CU_ASSERT_EQUAL(stats.rejected, 2);

  /* The session is reusable: the missing message and the rest now. */
  seen_init(&s);
  for (int i = 2; i < 6; i++)
    CU_ASSERT_EQUAL(push_text(ing, (uint64_t)i, m[i]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_ACCEPTED], 4);
  tide_ingest_free(ing);
  tide_store_close(st);
  fx_free_all(m, 6);
}

static void test_hold_limit(void)
{
  tide_keypair kp;
  tide_msg *m[5];
  tide_store *st = open_mem();
  tide_ingest_options o;
  tide_ingest *ing = NULL;
  seen s;

  fx_keys(&kp, 52);
  fx_chain(m, &kp, 5, "hold");
  seen_init(&s);
  memset(&o, 0, sizeof o);
  o.threads = 1;
  o.max_held = 2;
  CU_ASSERT_EQUAL_FATAL(tide_ingest_new(&ing, st, &o, on_result, &s), 0);
  for (int i = 4; i >= 1; i--)
    CU_ASSERT_EQUAL(push_text(ing, (uint64_t)i, m[i]), 0);
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0);
  /* 5 and 4 held, 3 and 2 over the limit. */
  CU_ASSERT_EQUAL(s.verdict[2], TIDE_INGEST_REJECTED);
  CU_ASSERT_EQUAL(s.verdict[1], TIDE_INGEST_REJECTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(s.reason[2], "hold limit"));
  CU_ASSERT_EQUAL(push_text(ing, 0, m[0]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[0], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[3], TIDE_INGEST_REJECTED); /* 2 never came */
  CU_ASSERT_EQUAL(s.verdict[4], TIDE_INGEST_REJECTED);
  tide_ingest_free(ing);
  tide_store_close(st);
  fx_free_all(m, 5);
}

/* Bad inputs: not JSON, not an object, bad signature, bad sequence. */
static void test_rejected(void)
{
  tide_keypair kp;
  tide_msg *m[3];
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;
  size_t n;
  const char *t;
  char *bad;
  char *p;

  fx_keys(&kp, 53);
  fx_chain(m, &kp, 3, "rej");
  seen_init(&s);
  ing = new_ingest(st, 2, 4, &s);
  CU_ASSERT_EQUAL(tide_ingest_push(ing, 0, "{not json", 9, NULL), 0);
  CU_ASSERT_EQUAL(tide_ingest_push(ing, 1, "[1,2]", 5, NULL), 0);
  CU_ASSERT_EQUAL(push_text(ing, 2, m[0]), 0);
  /* Message 2 with its text changed after signing. */
  t = tide_msg_text(m[1], &n);
  bad = malloc(n + 1);
  memcpy(bad, t, n);
  bad[n] = '\0';
  p = strstr(bad, "rej 2");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  p[4] = '7';
  CU_ASSERT_EQUAL(tide_ingest_push(ing, 3, bad, n, NULL), 0);
  CU_ASSERT_EQUAL(tide_ingest_push(ing, 4, "{}", 2, NULL), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);

  CU_ASSERT_EQUAL(s.verdict[0], TIDE_INGEST_REJECTED);
  CU_ASSERT(s.code[0] <= -100 && s.code[0] > -200); /* a JSON error */
  CU_ASSERT(s.reason[0][0] != '\0');
  CU_ASSERT_EQUAL(s.verdict[1], TIDE_INGEST_REJECTED);
  CU_ASSERT(s.reason[1][0] != '\0');
  CU_ASSERT_EQUAL(s.verdict[2], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[3], TIDE_INGEST_REJECTED);
  CU_ASSERT_EQUAL(s.code[3], TIDE_E_MSG_INVALID);
  CU_ASSERT(s.reason[3][0] != '\0');
  CU_ASSERT_EQUAL(s.verdict[4], TIDE_INGEST_REJECTED);
  CU_ASSERT(s.reason[4][0] != '\0');
  CU_ASSERT_EQUAL(s.n, 5);

  /* The genuine message 2 is still welcome. */
  seen_init(&s);
  CU_ASSERT_EQUAL(push_text(ing, 5, m[1]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[5], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);

  free(bad);
  tide_ingest_free(ing);
  tide_store_close(st);
  fx_free_all(m, 3);
}

/* Pushed texts are copied at once (the caller may reuse its buffer), into
 * one block per batch that is reused batch after batch: empty and huge
 * inputs, compact lines, with and without worker threads. */
static void run_batch_texts(size_t threads)
{
  enum { N = 12 };
  tide_keypair kp;
  tide_msg *m[N];
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;
  size_t big_len = (size_t)9 << 20, tag = 0;
  char *big = malloc(big_len), *line = malloc(16384);

  CU_ASSERT_PTR_NOT_NULL_FATAL(big);
  CU_ASSERT_PTR_NOT_NULL_FATAL(line);
  /* 9 MiB: more than a batch keeps; not JSON once the spaces end */
  memset(big, ' ', big_len);
  big[big_len - 1] = '{';
  fx_keys(&kp, 61);
  fx_chain(m, &kp, N, "batch text");
  seen_init(&s);
  ing = new_ingest(st, threads, 3, &s);
  CU_ASSERT_EQUAL(tide_ingest_push(ing, tag++, "", 0, NULL), 0); /* first of a batch */
  for (int i = 0; i < N; i++) {
    tide_buf b = TIDE_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(tide_json_write(&b, tide_msg_value(m[i]), TIDE_JSON_COMPACT), 0);
    CU_ASSERT_FATAL(b.len < 16384);
    memcpy(line, b.data, b.len);
    CU_ASSERT_EQUAL(tide_ingest_push(ing, tag++, line, b.len, NULL), 0);
    memset(line, 'x', b.len); /* the session has its own copy */
    tide_buf_free(&b);
    if (i == 4)
      CU_ASSERT_EQUAL(tide_ingest_push(ing, tag++, big, big_len, NULL), 0);
  }
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.n, N + 2);
  CU_ASSERT_EQUAL(s.dup, 0);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_ACCEPTED], N);
  CU_ASSERT_EQUAL(s.verdict[0], TIDE_INGEST_REJECTED);
  CU_ASSERT_EQUAL(s.code[0], TIDE_E_JSON_SYNTAX);
  CU_ASSERT_EQUAL(s.verdict[6], TIDE_INGEST_REJECTED);
  CU_ASSERT_EQUAL(s.code[6], TIDE_E_JSON_SYNTAX);
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
  {
    /* stored as the canonical (indent 2) text, not the compact line */
    tide_buf text = TIDE_BUF_INIT;
    size_t want;
    const char *t = tide_msg_text(m[N - 1], &want);
    CU_ASSERT_EQUAL(tide_store_get_by_id(st, &text, NULL, tide_msg_id(m[N - 1]), NULL), 0);
    CU_ASSERT(text.len == want && memcmp(text.data, t, want) == 0);
    tide_buf_free(&text);
  }
  tide_ingest_free(ing);
  tide_store_close(st);
  fx_free_all(m, N);
  free(big);
  free(line);
}

static void test_batch_texts_inline(void)
{
  run_batch_texts(1);
}

static void test_batch_texts_threads(void)
{
  run_batch_texts(2);
}

/* A valid different message at a stored sequence is a fork: evidence is
 * kept, the feed is forked and refuses more.  An invalid one is not. */
static void test_fork(void)
{
  tide_keypair kp;
  tide_msg *m[5], *alt, *bogus_alt;
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;
  tide_feed_state fs;
  tide_store_stats stats;
  int forked = 0;
  size_t n;
  const char *t;
  char *bad, *p;

  fx_keys(&kp, 54);
  fx_chain(m, &kp, 5, "fork");
  alt = fx_post(&kp, m[0], "the other second message");
  bogus_alt = fx_post(&kp, m[0], "an altered second message");
  t = tide_msg_text(bogus_alt, &n);
  bad = malloc(n + 1);
  memcpy(bad, t, n);
  p = strstr(bad, "altered");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  p[0] = 'A'; /* breaks the signature */

  seen_init(&s);
  ing = new_ingest(st, 2, 2, &s);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(push_text(ing, (uint64_t)i, m[i]), 0);
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0);
  /* Sequence 2 is stored: the workers leave this one's signature to the
   * calling thread, which must still check it before calling it a fork. */
  CU_ASSERT_EQUAL(tide_ingest_push(ing, 10, bad, n, NULL), 0);
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[10], TIDE_INGEST_REJECTED);
  CU_ASSERT_EQUAL(tide_store_latest(st, &fs, &forked, kp.pk, NULL), 0);
  CU_ASSERT_EQUAL(forked, 0);

  CU_ASSERT_EQUAL(push_text(ing, 4, m[4]), 0); /* held: 4 is missing */
  CU_ASSERT_EQUAL(push_text(ing, 11, alt), 0);
  CU_ASSERT_EQUAL(push_text(ing, 3, m[3]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 12, alt), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[11], TIDE_INGEST_FORK);
  CU_ASSERT_EQUAL(s.code[11], TIDE_E_STORE_FORK);
  CU_ASSERT_PTR_NOT_NULL(strstr(s.reason[11], "sequence 2"));
  CU_ASSERT_EQUAL(s.verdict[3], TIDE_INGEST_REJECTED);
  CU_ASSERT_EQUAL(s.code[3], TIDE_E_STORE_FORKED);
  CU_ASSERT_PTR_NOT_NULL(strstr(s.reason[3], "forked"));
  CU_ASSERT_EQUAL(s.verdict[12], TIDE_INGEST_ALREADY);
  CU_ASSERT_EQUAL(s.verdict[4], TIDE_INGEST_REJECTED); /* held, then forked */
  CU_ASSERT_EQUAL(s.code[4], TIDE_E_STORE_FORKED);
  CU_ASSERT_EQUAL(tide_store_latest(st, &fs, &forked, kp.pk, NULL), 0);
  CU_ASSERT_EQUAL(forked, 1);
  CU_ASSERT_EQUAL(fs.sequence, 3);
  CU_ASSERT_EQUAL(tide_store_get_stats(st, &stats, NULL), 0);
  CU_ASSERT_EQUAL(stats.forks, 1);

  /* A new session sees the forked flag from the store. */
  tide_ingest_free(ing);
  seen_init(&s);
  ing = new_ingest(st, 1, 10, &s);
  CU_ASSERT_EQUAL(push_text(ing, 3, m[3]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 0, m[0]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[3], TIDE_INGEST_REJECTED);
  CU_ASSERT_EQUAL(s.verdict[0], TIDE_INGEST_ALREADY);

  free(bad);
  tide_msg_free(alt);
  tide_msg_free(bogus_alt);
  tide_ingest_free(ing);
  tide_store_close(st);
  fx_free_all(m, 5);
}

static int count_forks_cb(void *ctx, const tide_store_fork *f)
{
  (void)f;
  (*(int *)ctx)++;
  return 0;
}

/* A fork whose branch point we never saw: B3 chains on a B2 we do not
 * have.  It is signed proof of a different message at sequence 2 (or 3):
 * a fork, not an invalid message (issue: keep both as evidence). */
static void test_fork_unseen_previous(void)
{
  tide_keypair kp;
  tide_msg *a[3], *b[3];
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;
  tide_feed_state fs;
  int forked = 0, nforks = 0;

  fx_keys(&kp, 60);
  fx_chain(a, &kp, 3, "A");
  b[0] = NULL;
  b[1] = fx_post(&kp, a[0], "B 2");
  b[2] = fx_post(&kp, b[1], "B 3");

  /* (a) A1 A2 A3 stored, then B3 at the stored sequence 3. */
  seen_init(&s);
  ing = new_ingest(st, 2, 4, &s);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(push_text(ing, (uint64_t)i, a[i]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 10, b[2]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[10], TIDE_INGEST_FORK);
  CU_ASSERT_EQUAL(s.code[10], TIDE_E_STORE_FORK);
  CU_ASSERT_EQUAL(tide_store_latest(st, &fs, &forked, kp.pk, NULL), 0);
  CU_ASSERT_EQUAL(forked, 1);
  CU_ASSERT_EQUAL(fs.sequence, 3);
  CU_ASSERT_EQUAL(tide_store_forks(st, kp.pk, count_forks_cb, &nforks, NULL), 0);
  CU_ASSERT_EQUAL(nforks, 1);
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
  tide_ingest_free(ing);
  tide_store_close(st);

  /* (b) File order A1, A3, B2: B2 is appended, then the held A3 no longer
   * chains on our message 2 but is signed proof of another one. */
  st = open_mem();
  seen_init(&s);
  ing = new_ingest(st, 1, 8, &s);
  CU_ASSERT_EQUAL(push_text(ing, 0, a[0]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 2, a[2]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 11, b[1]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[0], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[11], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[2], TIDE_INGEST_FORK);
  CU_ASSERT_PTR_NOT_NULL(strstr(s.reason[2], "sequence 2"));
  CU_ASSERT_EQUAL(tide_store_latest(st, &fs, &forked, kp.pk, NULL), 0);
  CU_ASSERT_EQUAL(forked, 1);
  CU_ASSERT_EQUAL(fs.sequence, 2);
  nforks = 0;
  CU_ASSERT_EQUAL(tide_store_forks(st, kp.pk, count_forks_cb, &nforks, NULL), 0);
  CU_ASSERT_EQUAL(nforks, 1);
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
  /* the evidence is kept: pushing it again is ALREADY */
  CU_ASSERT_EQUAL(push_text(ing, 12, a[2]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[12], TIDE_INGEST_ALREADY);
  tide_ingest_free(ing);
  tide_store_close(st);

  /* (c) A1, B3, A3, A2: B3 and A3 wait for message 2; when it comes, the
   * one that chains on it (A3) is decided first, whatever the line order,
   * and B3 is the evidence. */
  st = open_mem();
  seen_init(&s);
  ing = new_ingest(st, 1, 8, &s);
  CU_ASSERT_EQUAL(push_text(ing, 0, a[0]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 10, b[2]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 2, a[2]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 1, a[1]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[1], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[2], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[10], TIDE_INGEST_FORK);
  CU_ASSERT_EQUAL(tide_store_latest(st, &fs, &forked, kp.pk, NULL), 0);
  CU_ASSERT_EQUAL(fs.sequence, 3);
  CU_ASSERT_EQUAL(forked, 1);
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
  tide_ingest_free(ing);
  tide_store_close(st);

  fx_free_all(a, 3);
  fx_free_all(b + 1, 2);
}

/* One past the latest with another previous but a bad signature: no
 * fork, ssb-validate's reason against the latest message. */
static void test_unchained_invalid(void)
{
  tide_keypair kp;
  tide_msg *a[2], *b2, *b3;
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;
  tide_feed_state fs;
  int forked = 0;
  size_t n;
  const char *t;
  char *bad, *p;

  fx_keys(&kp, 61);
  fx_chain(a, &kp, 2, "A");
  b2 = fx_post(&kp, a[0], "B 2");
  b3 = fx_post(&kp, b2, "B 3 signed");
  t = tide_msg_text(b3, &n);
  bad = malloc(n + 1);
  memcpy(bad, t, n);
  p = strstr(bad, "signed");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  p[0] = 'S';

  seen_init(&s);
  ing = new_ingest(st, 2, 4, &s);
  CU_ASSERT_EQUAL(push_text(ing, 0, a[0]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 1, a[1]), 0);
  CU_ASSERT_EQUAL(tide_ingest_push(ing, 10, bad, n, NULL), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[10], TIDE_INGEST_REJECTED);
  CU_ASSERT_PTR_NOT_NULL(strstr(s.reason[10], "expected different previous message"));
  CU_ASSERT_EQUAL(tide_store_latest(st, &fs, &forked, kp.pk, NULL), 0);
  CU_ASSERT_EQUAL(forked, 0);
  CU_ASSERT_EQUAL(fs.sequence, 2);

  free(bad);
  tide_msg_free(b2);
  tide_msg_free(b3);
  fx_free_all(a, 2);
  tide_ingest_free(ing);
  tide_store_close(st);
}

/* Every order of a feed and a fork branch of which we see only the
 * message after the branch point reports the fork. */
static void test_fork_any_order(void)
{
  enum { NA = 4, N = NA + 1 };
  tide_keypair kp;
  tide_msg *all[N], *b2;
  unsigned rng = 12345;

  fx_keys(&kp, 62);
  fx_chain(all, &kp, NA, "A");
  b2 = fx_post(&kp, all[0], "B 2"); /* never pushed */
  all[NA] = fx_post(&kp, b2, "B 3");
  for (int round = 0; round < 40; round++) {
    int order[N], forked = 0;
    tide_store *st = open_mem();
    tide_ingest *ing;
    tide_feed_state fs;
    seen s;

    for (int i = 0; i < N; i++)
      order[i] = i;
    for (int i = N - 1; i > 0; i--) {
      int j, tmp;
      rng = rng * 1103515245u + 12345u;
      j = (int)((rng >> 16) % (unsigned)(i + 1));
      tmp = order[i];
      order[i] = order[j];
      order[j] = tmp;
    }
    seen_init(&s);
    ing = new_ingest(st, round % 2 == 0 ? 1 : 2, (size_t)(1 + round % 3), &s);
    for (int i = 0; i < N; i++)
      CU_ASSERT_EQUAL(push_text(ing, (uint64_t)order[i], all[order[i]]), 0);
    CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
    CU_ASSERT_EQUAL(s.n, N);
    CU_ASSERT_EQUAL(s.count[TIDE_INGEST_FORK], 1);
    CU_ASSERT_EQUAL(s.verdict[NA], TIDE_INGEST_FORK); /* the branch is always the evidence */
    CU_ASSERT_EQUAL(tide_store_latest(st, &fs, &forked, kp.pk, NULL), 0);
    CU_ASSERT_EQUAL(forked, 1);
    CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
    tide_ingest_free(ing);
    tide_store_close(st);
  }
  tide_msg_free(b2);
  fx_free_all(all, N);
}

/* ---- Many batches with workers against the one-thread run --------------- */

/* One verdict as reported, in callback order. */
typedef struct logged {
  uint64_t tag;
  int verdict, code;
  int64_t sequence;
  char reason[200];
  uint8_t id[TIDE_HASH_BYTES];
} logged;

typedef struct vlog {
  logged *v;
  size_t n, cap;
} vlog;

static void on_log(void *ctx, const tide_ingest_result *r)
{
  vlog *l = ctx;
  logged *x;

  if (l->n == l->cap) {
    size_t ncap = l->cap == 0 ? 256 : l->cap * 2;
    logged *nv = realloc(l->v, ncap * sizeof *nv);
    if (nv == NULL)
      abort();
    l->v = nv;
    l->cap = ncap;
  }
  x = &l->v[l->n++];
  memset(x, 0, sizeof *x);
  x->tag = r->tag;
  x->verdict = (int)r->verdict;
  x->code = r->code;
  x->sequence = r->sequence;
  snprintf(x->reason, sizeof x->reason, "%s", r->reason);
  if (r->msg != NULL)
    memcpy(x->id, tide_msg_id(r->msg), TIDE_HASH_BYTES);
}

enum { MB_FEEDS = 6, MB_PER = 70, MB_FORK_AT = 30 };

/* The inputs of a long import: MB_FEEDS feeds of MB_PER messages, in an
 * order that moves forward with some messages late (held across batches)
 * and some early, plus copies, texts that are not messages, a message
 * whose text was changed after signing, a fork of feed 0 and a gap that
 * never fills (message MB_PER - 2 of feed 1 is never pushed: the last
 * two are held, then rejected at finish). */
typedef struct mb_input {
  char **text;
  size_t *len;
  size_t n;
} mb_input;

static void mb_make(mb_input *in, tide_msg *m[MB_FEEDS][MB_PER], tide_msg **fork)
{
  size_t cap = MB_FEEDS * MB_PER * 2 + 16, k;
  unsigned rng = 777;
  int order[MB_FEEDS * MB_PER];
  int n = 0;

  in->text = calloc(cap, sizeof *in->text);
  in->len = calloc(cap, sizeof *in->len);
  CU_ASSERT_FATAL(in->text != NULL && in->len != NULL);
  in->n = 0;
  for (int f = 0; f < MB_FEEDS; f++) {
    tide_keypair kp;
    fx_keys(&kp, 70 + f);
    fx_chain(m[f], &kp, MB_PER, "many");
    if (f == 0) /* another message 31 after message 30: fork evidence */
      *fork = fx_post(&kp, m[0][MB_FORK_AT - 1], "branch");
  }
  /* Round-robin over the feeds, then local swaps at distance up to 40 so
   * that messages arrive early or late across batch boundaries. */
  for (int i = 0; i < MB_PER; i++)
    for (int f = 0; f < MB_FEEDS; f++)
      if (!(f == 1 && i == MB_PER - 3))
        order[n++] = f * MB_PER + i;
  for (int i = 0; i < n; i++) {
    int j, t;
    rng = rng * 1103515245u + 12345u;
    j = i + (int)((rng >> 16) % 41u);
    if (j >= n)
      continue;
    t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  for (int i = 0; i < n; i++) {
    const tide_msg *x = m[order[i] / MB_PER][order[i] % MB_PER];
    const char *t = tide_msg_text(x, &in->len[in->n]);

    in->text[in->n] = malloc(in->len[in->n] + 1);
    CU_ASSERT_FATAL(in->text[in->n] != NULL);
    memcpy(in->text[in->n], t, in->len[in->n]);
    in->n++;
    if (i % 29 == 5) { /* a copy of an earlier input */
      k = in->n - 1 - (size_t)(rng >> 20) % in->n;
      in->len[in->n] = in->len[k];
      in->text[in->n] = malloc(in->len[k] + 1);
      CU_ASSERT_FATAL(in->text[in->n] != NULL);
      memcpy(in->text[in->n], in->text[k], in->len[k]);
      in->n++;
    }
    if (i % 97 == 11) {
      in->text[in->n] = strdup(i % 2 ? "{\"previous\":" : "[]");
      in->len[in->n] = strlen(in->text[in->n]);
      in->n++;
    }
    if (i == n / 2) { /* the fork, and a tampered copy of the last input */
      char *p;
      t = tide_msg_text(*fork, &in->len[in->n]);
      in->text[in->n] = malloc(in->len[in->n] + 1);
      CU_ASSERT_FATAL(in->text[in->n] != NULL);
      memcpy(in->text[in->n], t, in->len[in->n]);
      in->n++;
      in->len[in->n] = in->len[in->n - 2];
      in->text[in->n] = malloc(in->len[in->n] + 1);
      CU_ASSERT_FATAL(in->text[in->n] != NULL);
      memcpy(in->text[in->n], in->text[in->n - 2], in->len[in->n]);
      in->text[in->n][in->len[in->n]] = '\0';
      p = strstr(in->text[in->n], "many ");
      CU_ASSERT_PTR_NOT_NULL_FATAL(p);
      p[4] = p[4] == 'x' ? 'y' : 'x';
      in->n++;
    }
    CU_ASSERT_FATAL(in->n + 4 < cap);
  }
}

static void mb_free(mb_input *in)
{
  for (size_t i = 0; i < in->n; i++)
    free(in->text[i]);
  free(in->text);
  free(in->len);
}

/* Imports `in` into a fresh store (pushed in `pushes` parts, each part
 * flushed except the last, then finished) and logs every verdict. */
static void mb_run(const mb_input *in, size_t threads, size_t batch, int flushes, vlog *log,
                   tide_feed_state latest[MB_FEEDS], tide_msg *m[MB_FEEDS][MB_PER])
{
  tide_store *st = open_mem();
  tide_ingest_options o;
  tide_ingest *ing = NULL;
  tide_ingest_stats stats;

  memset(&o, 0, sizeof o);
  o.threads = threads;
  o.batch = batch;
  o.received_ms = 5;
  CU_ASSERT_EQUAL_FATAL(tide_ingest_new(&ing, st, &o, on_log, log), 0);
  CU_ASSERT_EQUAL(tide_ingest_threads(ing), threads == 1 ? 0 : threads);
  for (size_t i = 0; i < in->n; i++) {
    CU_ASSERT_EQUAL(tide_ingest_push(ing, i, in->text[i], in->len[i], NULL), 0);
    if (flushes > 0 && i % (in->n / (size_t)(flushes + 1)) == 7)
      CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0);
  }
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  tide_ingest_get_stats(ing, &stats);
  CU_ASSERT_EQUAL(stats.pending, 0);
  CU_ASSERT_EQUAL(stats.held, 0);
  CU_ASSERT_EQUAL(log->n, in->n);
  for (int f = 0; f < MB_FEEDS; f++) {
    uint8_t pk[TIDE_PK_BYTES];
    CU_ASSERT_FATAL(tide_msg_author(m[f][0], pk));
    CU_ASSERT_EQUAL(tide_store_latest(st, &latest[f], NULL, pk, NULL), 0);
  }
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
  tide_ingest_free(ing);
  tide_store_close(st);
}

/* A long import in many batches (sizes around and across the workers'
 * chunks, with flushes between) gives with worker threads exactly the
 * verdicts of the one-thread run: same order, verdict, code, reason,
 * sequence and id; and the same stored feeds. */
static void test_many_batches_match(void)
{
  static tide_msg *m[MB_FEEDS][MB_PER];
  tide_msg *fork = NULL;
  mb_input in;
  vlog ref = {0};
  tide_feed_state ref_latest[MB_FEEDS];
  int counts[4] = {0}, gaps = 0;
  static const struct {
    size_t threads, batch;
    int flushes;
  } runs[] = {{2, 1, 0},   {2, 15, 0}, {2, 16, 3},   {2, 17, 0}, {3, 40, 0},
              {2, 100, 2}, {4, 33, 5}, {2, 1000, 0}, {2, 0, 0}};

  mb_make(&in, m, &fork);
  mb_run(&in, 1, 40, 0, &ref, ref_latest, m);
  for (size_t i = 0; i < ref.n; i++) {
    counts[ref.v[i].verdict]++;
    gaps += strncmp(ref.v[i].reason, "gap: ", 5) == 0;
  }
  /* The reference itself is what the inputs call for. */
  CU_ASSERT(counts[TIDE_INGEST_ACCEPTED] > MB_FEEDS * (MB_FORK_AT - 1));
  CU_ASSERT(counts[TIDE_INGEST_ALREADY] > 0);
  CU_ASSERT_EQUAL(counts[TIDE_INGEST_FORK], 1);
  CU_ASSERT(counts[TIDE_INGEST_REJECTED] > 2);
  CU_ASSERT_EQUAL(gaps, 2);
  CU_ASSERT_EQUAL(ref_latest[1].sequence, MB_PER - 3);
  CU_ASSERT_EQUAL(ref_latest[2].sequence, MB_PER);
  for (size_t r = 0; r < sizeof runs / sizeof runs[0]; r++) {
    vlog got = {0};
    tide_feed_state latest[MB_FEEDS];
    size_t same = 0;

    mb_run(&in, runs[r].threads, runs[r].batch, runs[r].flushes, &got, latest, m);
    CU_ASSERT_EQUAL(got.n, ref.n);
    for (size_t i = 0; i < got.n && i < ref.n; i++)
      same += got.v[i].tag == ref.v[i].tag && got.v[i].verdict == ref.v[i].verdict &&
              got.v[i].code == ref.v[i].code && got.v[i].sequence == ref.v[i].sequence &&
              strcmp(got.v[i].reason, ref.v[i].reason) == 0 &&
              memcmp(got.v[i].id, ref.v[i].id, TIDE_HASH_BYTES) == 0;
    if (same != ref.n)
      fprintf(stderr, "threads %zu batch %zu: %zu of %zu verdicts as in the one-thread run\n",
              runs[r].threads, runs[r].batch, same, ref.n);
    CU_ASSERT_EQUAL(same, ref.n);
    for (int f = 0; f < MB_FEEDS; f++) {
      CU_ASSERT_EQUAL(latest[f].sequence, ref_latest[f].sequence);
      CU_ASSERT_EQUAL(memcmp(latest[f].id, ref_latest[f].id, TIDE_HASH_BYTES), 0);
    }
    free(got.v);
  }
  free(ref.v);
  mb_free(&in);
  tide_msg_free(fork);
  for (int f = 0; f < MB_FEEDS; f++)
    fx_free_all(m[f], MB_PER);
}

/* ACCEPTED fires only after commit: a second connection sees it. */
static void test_ack_after_commit(void)
{
  char *dir = tide_test_tmpdir("ingest-ack");
  char path[512];
  tide_msg *m[FEEDS][PER];
  tide_store *st = NULL;
  seen s;
  tide_ingest *ing;

  snprintf(path, sizeof path, "%s/store.db", dir);
  make_feeds(m);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&st, path, 0, NULL), 0);
  seen_init(&s);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&s.observer, path, TIDE_STORE_READ_ONLY, NULL), 0);
  ing = new_ingest(st, 2, 10, &s);
  for (int i = 0; i < PER; i++)
    for (int f = 0; f < FEEDS; f++)
      CU_ASSERT_EQUAL(push_text(ing, (uint64_t)(i * FEEDS + f), m[f][i]), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_ACCEPTED], FEEDS * PER);
  CU_ASSERT_EQUAL(s.unseen_accepted, 0);
  tide_ingest_free(ing);
  tide_store_close(s.observer);
  tide_store_close(st);
  free_feeds(m);
  tide_test_rmtree(dir);
  free(dir);
}

/* push_msg: already parsed messages, with and without a signature check. */
static void test_push_msg(void)
{
  tide_keypair kp;
  tide_msg *m[3];
  tide_store *st = open_mem();
  seen s;
  tide_ingest *ing;

  fx_keys(&kp, 55);
  fx_chain(m, &kp, 3, "pm");
  seen_init(&s);
  ing = new_ingest(st, 2, 2, &s);
  CU_ASSERT_EQUAL(tide_ingest_push_msg(ing, 0, m[0], TIDE_MSG_SIG_UNCHECKED, NULL), 0);
  CU_ASSERT_EQUAL(tide_ingest_push_msg(ing, 1, m[1], TIDE_MSG_SIG_VALID, NULL), 0);
  /* A caller that found the signature bad says so: rejected. */
  CU_ASSERT_EQUAL(tide_ingest_push_msg(ing, 2, m[2], TIDE_E_MSG_SIGNATURE, NULL), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[0], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[1], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[2], TIDE_INGEST_REJECTED);
  tide_ingest_free(ing);
  tide_store_close(st);
}

/* A storage failure in a batch: nothing of it is reported or kept, the
 * error is sticky, earlier acknowledged messages stay, the store is
 * valid. */
/* The database fills up in the middle of an import with batches of
 * `batch` (over 16: the failing batch is still with the workers). */
static void run_storage_failure(size_t batch)
{
  char *dir = tide_test_tmpdir("ingest-full");
  char path[512], sql[128], text[1500];
  enum { N = 200 };
  tide_keypair kp;
  tide_msg *m[N];
  tide_store *st = NULL;
  seen s;
  tide_ingest *ing;
  tide_feed_state fs;
  tide_error e;
  int rc = 0, i;
  sqlite3_stmt *q = NULL;
  int64_t pages = 0;

  snprintf(path, sizeof path, "%s/store.db", dir);
  fx_keys(&kp, 56);
  memset(text, 'w', sizeof text - 1);
  text[sizeof text - 1] = '\0';
  for (i = 0; i < N; i++)
    m[i] = fx_post(&kp, i == 0 ? NULL : m[i - 1], text);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&st, path, 0, NULL), 0);
  seen_init(&s);
  ing = new_ingest(st, 2, batch, &s);
  for (i = 0; i < 10; i++)
    CU_ASSERT_EQUAL(push_text(ing, (uint64_t)i, m[i]), 0);
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_ACCEPTED], 10);

  CU_ASSERT_EQUAL(sqlite3_prepare_v2(tide__store_db(st), "PRAGMA page_count", -1, &q, NULL),
                  SQLITE_OK);
  if (sqlite3_step(q) == SQLITE_ROW)
    pages = sqlite3_column_int64(q, 0);
  sqlite3_finalize(q);
  snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)pages + 6);
  CU_ASSERT_EQUAL(sqlite3_exec(tide__store_db(st), sql, NULL, NULL, NULL), SQLITE_OK);

  for (i = 10; i < N; i++) {
    rc = push_text(ing, (uint64_t)i, m[i]);
    if (rc != 0)
      break;
  }
  if (rc == 0)
    rc = tide_ingest_flush(ing, &e);
  CU_ASSERT_EQUAL(rc, TIDE_E_STORE);
  /* Sticky. */
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, &e), TIDE_E_STORE);
  CU_ASSERT_EQUAL(push_text(ing, 999, m[N - 1]), TIDE_E_STORE);
  CU_ASSERT(e.msg[0] != '\0');
  /* What was reported ACCEPTED is exactly what is stored. */
  CU_ASSERT_EQUAL(tide_store_latest(st, &fs, NULL, kp.pk, NULL), 0);
  CU_ASSERT_EQUAL(fs.sequence, s.count[TIDE_INGEST_ACCEPTED]);
  for (i = 0; i < N; i++)
    if (s.verdict[i] == TIDE_INGEST_ACCEPTED)
      CU_ASSERT(i < fs.sequence);
  CU_ASSERT_EQUAL(s.count[TIDE_INGEST_REJECTED], 0);
  CU_ASSERT_EQUAL(tide_store_in_transaction(st), 0);
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
  tide_ingest_free(ing);
  tide_store_close(st);

  st = NULL;
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&st, path, 0, NULL), 0);
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
  tide_store_close(st);
  fx_free_all(m, N);
  tide_test_rmtree(dir);
  free(dir);
}

static void test_storage_failure(void)
{
  run_storage_failure(10);
}

static void test_storage_failure_big_batches(void)
{
  run_storage_failure(70);
}

/* Another connection appends to the same feeds during a session: the
 * session's cached state is stale, yet nothing is wrongly held, rejected
 * or lost. */
static void test_other_writer(void)
{
  char *dir = tide_test_tmpdir("ingest-other");
  char path[512];
  tide_keypair kp;
  tide_msg *m[8];
  tide_store *st = NULL, *other = NULL;
  tide_feed_state fs;
  seen s;
  tide_ingest *ing;

  snprintf(path, sizeof path, "%s/store.db", dir);
  fx_keys(&kp, 57);
  fx_chain(m, &kp, 8, "other");
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&st, path, 0, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&other, path, 0, NULL), 0);
  seen_init(&s);
  ing = new_ingest(st, 2, 4, &s);
  CU_ASSERT_EQUAL(push_text(ing, 0, m[0]), 0);
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0); /* caches latest = 1 */
  CU_ASSERT_EQUAL(tide_store_append(other, m[1], 0, NULL), 0);
  CU_ASSERT_EQUAL(tide_store_append(other, m[2], 0, NULL), 0);
  /* 4 looks like a gap to the stale cache; the store says 3 is there. */
  CU_ASSERT_EQUAL(push_text(ing, 3, m[3]), 0);
  CU_ASSERT_EQUAL(push_text(ing, 1, m[1]), 0);
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[3], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(s.verdict[1], TIDE_INGEST_ALREADY);
  /* Held message 6 waits for 5, which the other connection then adds. */
  CU_ASSERT_EQUAL(push_text(ing, 5, m[5]), 0);
  CU_ASSERT_EQUAL(tide_ingest_flush(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[5], -1);
  CU_ASSERT_EQUAL(tide_store_append(other, m[4], 0, NULL), 0);
  CU_ASSERT_EQUAL(tide_ingest_finish(ing, NULL), 0);
  CU_ASSERT_EQUAL(s.verdict[5], TIDE_INGEST_ACCEPTED);
  CU_ASSERT_EQUAL(tide_store_latest(st, &fs, NULL, kp.pk, NULL), 0);
  CU_ASSERT_EQUAL(fs.sequence, 6);
  CU_ASSERT_EQUAL(tide_store_check(st, NULL), 0);
  tide_ingest_free(ing);
  tide_store_close(other);
  tide_store_close(st);
  fx_free_all(m, 8);
  tide_test_rmtree(dir);
  free(dir);
}

static void test_bad_args(void)
{
  tide_store *st = open_mem();
  tide_ingest *ing = NULL;
  seen s;

  seen_init(&s);
  CU_ASSERT_EQUAL(tide_ingest_new(&ing, NULL, NULL, on_result, &s), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_ingest_new(&ing, st, NULL, NULL, &s), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_store_begin(st, NULL), 0);
  CU_ASSERT_EQUAL(tide_ingest_new(&ing, st, NULL, on_result, &s), TIDE_E_INVAL);
  tide_store_rollback(st);
  /* Default options: threads = online CPUs. */
  CU_ASSERT_EQUAL(tide_ingest_new(&ing, st, NULL, on_result, &s), 0);
  tide_ingest_free(ing);
  tide_ingest_free(NULL);
  tide_store_close(st);
}

static CU_TestInfo ingest_tests[] = {
    {"pushed texts: copies, empty, huge (inline)", test_batch_texts_inline},
    {"pushed texts: copies, empty, huge (threads)", test_batch_texts_threads},
    {"in order, inline", test_in_order_inline},
    {"in order, worker threads", test_in_order_threads},
    {"any order across batches", test_any_order},
    {"reverse order and duplicates", test_reverse_and_duplicates},
    {"gap rejected at finish", test_gap_at_finish},
    {"hold limit", test_hold_limit},
    {"fork on a branch we never saw", test_fork_unseen_previous},
    {"unchained and invalid is no fork", test_unchained_invalid},
    {"fork found in any order", test_fork_any_order},
    {"many batches: workers match one thread", test_many_batches_match},
    {"rejected inputs", test_rejected},
    {"fork evidence", test_fork},
    {"ACCEPTED only after commit", test_ack_after_commit},
    {"already parsed messages", test_push_msg},
    {"storage failure rolls back", test_storage_failure},
    {"storage failure rolls back (batches of 70)", test_storage_failure_big_batches},
    {"another writer on the same store", test_other_writer},
    {"bad arguments", test_bad_args},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("ingest", ingest_tests),
    CU_SUITE_INFO_NULL,
};
