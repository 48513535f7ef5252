/* test_bundle.c - bundle container and asynchronous EBT over bundles:
 * round trips, sealing, convergence of two and three homes, idempotent
 * and replayed imports, and adversarial bundles (flipped bytes,
 * truncation, forged signer, forks): each gives a clear error and the
 * store holds exactly the valid prefix. */
#include <stdlib.h>
#include <string.h>

#include "bundle_fixture.h"
#include "tide/bundle.h"
#include "tide/bundle_file.h"
#include "tide/clock.h"
#include "tide/frame.h"
#include "tide_test.h"

static tide_bundle_export_opts eopts(const uint8_t *recipient, uint64_t now)
{
  tide_bundle_export_opts o;
  memset(&o, 0, sizeof o);
  o.recipient = recipient;
  o.now_ms = now;
  return o;
}

static tide_bundle_import_opts iopts(uint64_t now)
{
  tide_bundle_import_opts o;
  memset(&o, 0, sizeof o);
  o.now_ms = now;
  o.threads = 1;
  return o;
}

/* Reads a whole bundle with the reader in slices of `slice` bytes;
 * returns the end code and counts messages. */
static int read_bundle(const tide_buf *b, const tide_keypair *me, size_t slice, size_t *msgs,
                       tide_error *err)
{
  tide_bundle_reader *r = NULL;
  tide_frame f;
  size_t pos = 0;
  int rc = 0;

  *msgs = 0;
  tide_frame_init(&f);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_reader_new(&r, me, 0), 0);
  while (pos < b->len && rc == 0) {
    size_t k = b->len - pos < slice ? b->len - pos : slice;
    rc = tide_bundle_reader_push(r, (const uint8_t *)b->data + pos, k, err);
    pos += k;
    while (tide_bundle_reader_next(r, &f, NULL) == 0)
      *msgs += f.n_msgs;
  }
  if (rc == 0)
    rc = tide_bundle_reader_end(r, err);
  for (;;) {
    int k = tide_bundle_reader_next(r, &f, rc == 0 ? err : NULL);
    if (k != 0) {
      if (rc == 0 && k != TIDE_E_CLOSED)
        rc = k;
      break;
    }
    *msgs += f.n_msgs;
  }
  tide_frame_clear(&f);
  tide_bundle_reader_free(r);
  return rc;
}

/* Counts the entries of the sender and base CLOCK frames of a bundle. */
static void clock_entries(const tide_buf *b, const tide_keypair *me, size_t *sender, size_t *base)
{
  tide_bundle_reader *r = NULL;
  tide_frame f;

  *sender = *base = 0;
  tide_frame_init(&f);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_reader_new(&r, me, 0), 0);
  CU_ASSERT_EQUAL(tide_bundle_reader_push(r, (const uint8_t *)b->data, b->len, NULL), 0);
  CU_ASSERT_EQUAL(tide_bundle_reader_end(r, NULL), 0);
  while (tide_bundle_reader_next(r, &f, NULL) == 0)
    if (f.type == TIDE_FRAME_CLOCK) {
      if (f.clock_kind == TIDE_FRAME_CLOCK_SENDER)
        *sender += f.n_entries;
      else
        *base += f.n_entries;
    }
  tide_frame_clear(&f);
  tide_bundle_reader_free(r);
}

static void test_container_roundtrip(void)
{
  bx_home a;
  tide_buf b = TIDE_BUF_INIT;
  tide_bundle_export_opts o = eopts(NULL, 1000);
  tide_bundle_export_stats st;
  size_t msgs;
  tide_error e;

  bx_open(&a, 40, NULL, NULL);
  bx_publish(&a, 700); /* several chunks */
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &b, &st, &e), 0);
  CU_ASSERT_EQUAL(st.messages, 700);
  CU_ASSERT_EQUAL(st.feeds, 1);
  CU_ASSERT_EQUAL(st.bytes, b.len);
  CU_ASSERT(b.len > TIDE_BUNDLE_CHUNK_BYTES);
  CU_ASSERT_EQUAL(memcmp(b.data, TIDE_BUNDLE_MAGIC, 8), 0);
  /* any slicing of the input gives the same result */
  CU_ASSERT_EQUAL(read_bundle(&b, NULL, 1, &msgs, &e), 0);
  CU_ASSERT_EQUAL(msgs, 700);
  CU_ASSERT_EQUAL(read_bundle(&b, NULL, 4093, &msgs, &e), 0);
  CU_ASSERT_EQUAL(msgs, 700);
  CU_ASSERT_EQUAL(read_bundle(&b, NULL, b.len, &msgs, &e), 0);
  CU_ASSERT_EQUAL(msgs, 700);
  tide_buf_free(&b);
  bx_close(&a);
}

static void test_sealed(void)
{
  bx_home a, b, c;
  tide_buf buf = TIDE_BUF_INIT;
  tide_bundle_export_opts o;
  tide_bundle_import_opts io = iopts(5);
  tide_bundle_import_stats st;
  tide_bundle_reader *r;
  tide_error e;
  size_t msgs;
  int fin;

  bx_open(&a, 41, NULL, NULL);
  bx_open(&b, 42, NULL, NULL);
  bx_open(&c, 43, NULL, NULL);
  bx_publish(&a, 30);
  o = eopts(b.kp.pk, 2000);
  o.seal = 1;
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, NULL, &e), 0);
  /* the plaintext never appears in a sealed bundle (it is not even
   * compressed in the clear) */
  CU_ASSERT_EQUAL(read_bundle(&buf, &b.kp, 999, &msgs, &e), 0);
  CU_ASSERT_EQUAL(msgs, 30);
  /* anyone else: a clear error naming the recipient, nothing imported */
  tide_error_clear(&e);
  CU_ASSERT_EQUAL(
      tide_bundle_import_buf(c.store, &c.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e),
      TIDE_E_BUNDLE_SEALED);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "sealed to @"));
  CU_ASSERT_EQUAL(bx_count(&c), 0);
  CU_ASSERT_EQUAL(read_bundle(&buf, NULL, 999, &msgs, &e), TIDE_E_BUNDLE_SEALED);
  CU_ASSERT_EQUAL(msgs, 0);
  /* but its signatures can still be verified without the key */
  CU_ASSERT_EQUAL_FATAL(tide_bundle_reader_new(&r, &c.kp, 1), 0);
  CU_ASSERT_EQUAL(tide_bundle_reader_push(r, (const uint8_t *)buf.data, buf.len, &e), 0);
  CU_ASSERT_EQUAL(tide_bundle_reader_end(r, &e), 0);
  CU_ASSERT(tide_bundle_reader_chunks(r, &fin) >= 1);
  CU_ASSERT_EQUAL(fin, 1);
  CU_ASSERT_EQUAL(tide_bundle_reader_info(r)->sealed, 1);
  tide_bundle_reader_free(r);
  /* the recipient imports it */
  CU_ASSERT_EQUAL(
      tide_bundle_import_buf(b.store, &b.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e), 0);
  CU_ASSERT_EQUAL(st.added, 30);
  CU_ASSERT_EQUAL(bx_latest(&b, a.kp.pk), 30);
  /* sealing needs a recipient */
  o = eopts(NULL, 1);
  o.seal = 1;
  CU_ASSERT_EQUAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, NULL, &e), TIDE_E_INVAL);
  tide_buf_free(&buf);
  bx_close(&a);
  bx_close(&b);
  bx_close(&c);
}

/* A exports for B, B imports and replies, A imports: both hold
 * everything after one exchange each way, and the reply carries only
 * what A lacked. */
static void test_two_homes_converge(void)
{
  bx_home a, b;
  tide_buf buf = TIDE_BUF_INIT;
  tide_bundle_export_opts o;
  tide_bundle_export_stats es;
  tide_bundle_import_opts io = iopts(10);
  tide_bundle_import_stats st;
  tide_error e;

  bx_open(&a, 44, NULL, NULL);
  bx_open(&b, 45, NULL, NULL);
  bx_publish(&a, 50);
  bx_publish(&b, 20);
  o = eopts(b.kp.pk, 100);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, &es, &e), 0);
  CU_ASSERT_EQUAL(es.messages, 50);
  CU_ASSERT_EQUAL_FATAL(
      tide_bundle_import_buf(b.store, &b.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e), 0);
  CU_ASSERT_EQUAL(st.added, 50);
  CU_ASSERT_EQUAL(st.clock_recorded, 1);
  CU_ASSERT_EQUAL(st.complete, 1);
  tide_buf_reset(&buf);
  o = eopts(a.kp.pk, 200);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(b.store, &b.kp, &o, &buf, &es, &e), 0);
  CU_ASSERT_EQUAL(es.messages, 20); /* not A's own 50 back */
  CU_ASSERT_EQUAL_FATAL(
      tide_bundle_import_buf(a.store, &a.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e), 0);
  CU_ASSERT_EQUAL(st.added, 20);
  CU_ASSERT_EQUAL(bx_latest(&a, b.kp.pk), 20);
  CU_ASSERT_EQUAL(bx_latest(&b, a.kp.pk), 50);
  /* now nothing is left to send either way, and the clock we already
   * told B is not repeated (request skipping) */
  tide_buf_reset(&buf);
  o = eopts(b.kp.pk, 300);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, &es, &e), 0);
  CU_ASSERT_EQUAL(es.messages, 0);
  {
    size_t ns, nb;
    clock_entries(&buf, NULL, &ns, &nb);
    CU_ASSERT_EQUAL(ns, 1); /* only news for B: A now holds B's 20 */
    bx_publish(&a, 1);
    tide_buf_reset(&buf);
    o = eopts(b.kp.pk, 310);
    CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, &es, &e), 0);
    CU_ASSERT_EQUAL(es.messages, 1);
    clock_entries(&buf, NULL, &ns, &nb);
    CU_ASSERT_EQUAL(ns, 1); /* only A's own feed changed */
    CU_ASSERT_EQUAL(nb, 1); /* B must hold A's feed up to 50 */
    o = eopts(NULL, 320);   /* a bundle for anyone carries the whole clock */
    tide_buf_reset(&buf);
    CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, &es, &e), 0);
    clock_entries(&buf, NULL, &ns, &nb);
    CU_ASSERT_EQUAL(ns, 2);
    tide_buf_reset(&buf);
    o = eopts(b.kp.pk, 330);
    CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, &es, &e), 0);
  }
  /* idempotent re-import of the same bundle */
  CU_ASSERT_EQUAL_FATAL(
      tide_bundle_import_buf(b.store, &b.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e), 0);
  CU_ASSERT_EQUAL(tide_store_check(a.store, NULL), 0);
  CU_ASSERT_EQUAL(tide_store_check(b.store, NULL), 0);
  tide_buf_free(&buf);
  bx_close(&a);
  bx_close(&b);
}

static void test_three_homes_converge(void)
{
  bx_home h[3];
  tide_buf buf = TIDE_BUF_INIT;
  tide_bundle_import_opts io = iopts(10);
  tide_bundle_import_stats st;
  tide_error e;
  uint64_t now = 1000;

  for (int i = 0; i < 3; i++) {
    bx_open(&h[i], 46 + i, NULL, NULL);
    bx_publish(&h[i], 10 + 5 * i);
  }
  /* a ring of exchanges: 0 -> 1 -> 2 -> 0 -> 1 */
  for (int k = 0; k < 4; k++) {
    int from = k % 3, to = (k + 1) % 3;
    tide_bundle_export_opts o = eopts(h[to].kp.pk, now++);
    tide_buf_reset(&buf);
    CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(h[from].store, &h[from].kp, &o, &buf, NULL, &e),
                          0);
    CU_ASSERT_EQUAL_FATAL(tide_bundle_import_buf(h[to].store, &h[to].kp, (const uint8_t *)buf.data,
                                                 buf.len, &io, &st, &e),
                          0);
  }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      CU_ASSERT_EQUAL(bx_latest(&h[i], h[j].kp.pk), 10 + 5 * j);
  tide_buf_free(&buf);
  for (int i = 0; i < 3; i++)
    bx_close(&h[i]);
}

/* What a recipient never acknowledged is sent again; a replayed old
 * bundle does not roll its sender's recorded clock back. */
static void test_resend_and_replay(void)
{
  bx_home a, b;
  tide_buf lost = TIDE_BUF_INIT, old = TIDE_BUF_INIT, nb = TIDE_BUF_INIT, buf = TIDE_BUF_INIT;
  tide_bundle_export_opts o;
  tide_bundle_export_stats es;
  tide_bundle_import_opts io = iopts(10);
  tide_bundle_import_stats st;
  tide_clock *c;
  tide_error e;
  int64_t v;

  bx_open(&a, 50, NULL, NULL);
  bx_open(&b, 51, NULL, NULL);
  bx_publish(&a, 12);
  bx_publish(&b, 3);
  o = eopts(b.kp.pk, 100);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &lost, &es, &e), 0);
  CU_ASSERT_EQUAL(es.messages, 12); /* this bundle is lost on the way */
  /* B sends an old bundle, then a newer one; both lack A's messages */
  o = eopts(a.kp.pk, 150);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(b.store, &b.kp, &o, &old, NULL, &e), 0);
  bx_publish(&b, 2);
  o = eopts(a.kp.pk, 160);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(b.store, &b.kp, &o, &nb, NULL, &e), 0);
  CU_ASSERT_EQUAL_FATAL(
      tide_bundle_import_buf(a.store, &a.kp, (const uint8_t *)nb.data, nb.len, &io, &st, &e), 0);
  CU_ASSERT_EQUAL(st.added, 5);
  CU_ASSERT_EQUAL(st.clock_recorded, 1);
  /* the replayed old bundle: nothing new, the clock stays B's newer one */
  CU_ASSERT_EQUAL_FATAL(
      tide_bundle_import_buf(a.store, &a.kp, (const uint8_t *)old.data, old.len, &io, &st, &e), 0);
  CU_ASSERT_EQUAL(st.added, 0);
  CU_ASSERT_EQUAL(st.already, 3);
  CU_ASSERT_EQUAL(st.clock_recorded, 0);
  CU_ASSERT_EQUAL_FATAL(tide_clock_new(&c), 0);
  CU_ASSERT_EQUAL_FATAL(tide_clock_load(c, a.store, b.kp.pk, TIDE_CLOCK_THEIRS, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_clock_get(c, &v, b.kp.pk), 0);
  CU_ASSERT_EQUAL(tide_clock_value_seq(v), 5);
  tide_clock_free(c);
  /* A's next bundle for B carries the 12 again, since B's clock lacks them */
  o = eopts(b.kp.pk, 200);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, &es, &e), 0);
  CU_ASSERT_EQUAL(es.messages, 12);
  tide_buf_free(&lost);
  tide_buf_free(&old);
  tide_buf_free(&nb);
  tide_buf_free(&buf);
  bx_close(&a);
  bx_close(&b);
}

/* A bundle names the clock it was cut against: an importer that lacks
 * what it assumed is told so, and the messages after the gap are
 * rejected with a "gap" reason, never stored out of order. */
static void test_base_clock(void)
{
  bx_home a, b;
  tide_buf buf = TIDE_BUF_INIT;
  tide_bundle_export_opts o = eopts(NULL, 50);
  tide_bundle_import_opts io = iopts(60);
  tide_bundle_import_stats st;
  tide_clock *since;
  tide_error e;

  bx_open(&a, 66, NULL, NULL);
  bx_open(&b, 67, NULL, NULL);
  bx_publish(&a, 9);
  CU_ASSERT_EQUAL_FATAL(tide_clock_new(&since), 0);
  CU_ASSERT_EQUAL_FATAL(tide_clock_set(since, a.kp.pk, tide_clock_value(5, 1)), 0);
  o.base = since;
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, NULL, &e), 0);
  CU_ASSERT_EQUAL_FATAL(
      tide_bundle_import_buf(b.store, &b.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e), 0);
  CU_ASSERT_EQUAL(st.messages, 4); /* 6..9 */
  CU_ASSERT_EQUAL(st.behind_feeds, 1);
  CU_ASSERT_EQUAL(st.added, 0);
  CU_ASSERT_EQUAL(st.rejected, 4);
  CU_ASSERT_EQUAL(bx_count(&b), 0);
  tide_clock_free(since);
  tide_buf_free(&buf);
  bx_close(&a);
  bx_close(&b);
}

/* The byte budget holds; what did not fit follows in the next bundle. */
static void test_budget(void)
{
  bx_home a, b;
  tide_buf buf = TIDE_BUF_INIT;
  tide_bundle_export_opts o;
  tide_bundle_export_stats es;
  tide_bundle_import_opts io = iopts(10);
  tide_bundle_import_stats st;
  tide_error e;
  uint64_t got = 0;
  int rounds = 0;

  bx_open(&a, 52, NULL, NULL);
  bx_open(&b, 53, NULL, NULL);
  bx_publish(&a, 300);
  while (got < 300 && rounds < 20) {
    o = eopts(b.kp.pk, 100 + (uint64_t)rounds);
    o.max_bytes = 8000;
    tide_buf_reset(&buf);
    CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, &es, &e), 0);
    CU_ASSERT(buf.len <= 8000);
    CU_ASSERT(es.messages > 0);
    CU_ASSERT_EQUAL(es.messages + es.left_out, 300 - got);
    CU_ASSERT_EQUAL_FATAL(
        tide_bundle_import_buf(b.store, &b.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e),
        0);
    CU_ASSERT_EQUAL(st.added, es.messages);
    got += st.added;
    /* B acknowledges: its reply carries its clock */
    o = eopts(a.kp.pk, 100 + (uint64_t)rounds);
    tide_buf_reset(&buf);
    CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(b.store, &b.kp, &o, &buf, NULL, &e), 0);
    CU_ASSERT_EQUAL_FATAL(
        tide_bundle_import_buf(a.store, &a.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e),
        0);
    rounds++;
  }
  if (got != 300)
    fprintf(stderr, "budget: got %llu in %d rounds\n", (unsigned long long)got, rounds);
  CU_ASSERT_EQUAL(got, 300);
  CU_ASSERT(rounds > 2);
  /* a budget that cannot hold the header is refused */
  o = eopts(b.kp.pk, 1);
  o.max_bytes = 50;
  CU_ASSERT_EQUAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, NULL, &e), TIDE_E_BUNDLE_BUDGET);
  tide_buf_free(&buf);
  bx_close(&a);
  bx_close(&b);
}

/* Messages the reader yields before an error: the expected valid prefix. */
static size_t prefix_msgs(const tide_buf *b)
{
  size_t msgs;
  tide_error e;
  (void)read_bundle(b, NULL, 65536, &msgs, &e);
  return msgs;
}

/* Checks that s holds exactly the first `want` messages of feed pk, as a
 * consistent store. */
static void assert_prefix(tide_store *s, const uint8_t pk[TIDE_PK_BYTES], size_t want)
{
  tide_feed_state st;
  tide_store_stats ss;
  int rc = tide_store_latest(s, &st, NULL, pk, NULL);

  if (want == 0) {
    CU_ASSERT_EQUAL(rc, TIDE_E_NOTFOUND);
  } else {
    CU_ASSERT(rc == 0 && st.sequence == (int64_t)want);
  }
  CU_ASSERT_EQUAL(tide_store_get_stats(s, &ss, NULL), 0);
  CU_ASSERT_EQUAL(ss.messages, want);
  CU_ASSERT_EQUAL(tide_store_check(s, NULL), 0);
}

static void test_flipped_bytes(void)
{
  bx_home a;
  tide_buf b = TIDE_BUF_INIT;
  tide_bundle_export_opts o = eopts(NULL, 7);
  tide_bundle_import_opts io = iopts(10);
  tide_error e;
  size_t positions = 0, partial = 0;

  bx_open(&a, 54, NULL, NULL);
  bx_publish(&a, 600);
  o.level = 3;
  o.chunk_bytes = 8192;
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &b, NULL, &e), 0);
  CU_ASSERT_FATAL(b.len > 8 * 8192);
  for (size_t pos = 0; pos < b.len; pos += (pos < 200 ? 7 : b.len / 37)) {
    bx_home h;
    tide_bundle_import_stats st;
    size_t want;
    int rc;
    b.data[pos] ^= 0x20;
    want = prefix_msgs(&b);
    bx_open(&h, 55, NULL, NULL);
    tide_error_clear(&e);
    rc = tide_bundle_import_buf(h.store, &h.kp, (const uint8_t *)b.data, b.len, &io, &st, &e);
    CU_ASSERT(rc < 0 && rc != TIDE_E_STORE && rc != TIDE_E_NOMEM);
    CU_ASSERT(e.msg[0] != '\0');
    CU_ASSERT_EQUAL(st.complete, 0);
    /* the prefix before the damaged chunk is imported, nothing else */
    CU_ASSERT_EQUAL(st.added, want);
    assert_prefix(h.store, a.kp.pk, want);
    if (want > 0)
      partial++;
    bx_close(&h);
    b.data[pos] ^= 0x20;
    positions++;
  }
  CU_ASSERT(positions > 50);
  CU_ASSERT(partial > 5); /* damage after the first chunk keeps a prefix */
  tide_buf_free(&b);
  bx_close(&a);
}

static void test_truncated(void)
{
  bx_home a;
  tide_buf b = TIDE_BUF_INIT;
  tide_bundle_export_opts o = eopts(NULL, 7);
  tide_bundle_import_opts io = iopts(10);
  tide_error e;
  size_t lens = 0, full;

  bx_open(&a, 56, NULL, NULL);
  bx_publish(&a, 600);
  o.level = 3;
  o.chunk_bytes = 8192;
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &b, NULL, &e), 0);
  full = b.len;
  for (size_t len = 0; len < full; len += (len < 300 ? 11 : full / 29)) {
    bx_home h;
    tide_bundle_import_stats st;
    size_t want;
    int rc;
    b.len = len;
    want = prefix_msgs(&b);
    bx_open(&h, 57, NULL, NULL);
    tide_error_clear(&e);
    rc = tide_bundle_import_buf(h.store, &h.kp, (const uint8_t *)b.data, len, &io, &st, &e);
    CU_ASSERT(rc == TIDE_E_BUNDLE_TRUNCATED || (len < 8 && rc == TIDE_E_BUNDLE_TRUNCATED));
    CU_ASSERT(strstr(e.msg, "truncated") != NULL || strstr(e.msg, "header") != NULL);
    CU_ASSERT_EQUAL(st.added, want);
    assert_prefix(h.store, a.kp.pk, want);
    bx_close(&h);
    lens++;
  }
  b.len = full;
  CU_ASSERT(lens > 40);
  tide_buf_free(&b);
  bx_close(&a);
}

/* The header names B as sender but A signed the chunks. */
static void test_forged_sender(void)
{
  bx_home a, b, c;
  tide_buf buf = TIDE_BUF_INIT;
  tide_bundle_export_opts o = eopts(NULL, 9);
  tide_bundle_import_opts io = iopts(10);
  tide_bundle_import_stats st;
  tide_error e;

  bx_open(&a, 58, NULL, NULL);
  bx_open(&b, 59, NULL, NULL);
  bx_open(&c, 60, NULL, NULL);
  bx_publish(&a, 5);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(a.store, &a.kp, &o, &buf, NULL, &e), 0);
  /* sender key at offset 8 + 1 + 1 + 16 */
  CU_ASSERT_EQUAL_FATAL(memcmp(buf.data + 26, a.kp.pk, 32), 0);
  memcpy(buf.data + 26, b.kp.pk, 32);
  CU_ASSERT_EQUAL(
      tide_bundle_import_buf(c.store, &c.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e),
      TIDE_E_BUNDLE_AUTH);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "not signed by the sender"));
  CU_ASSERT_EQUAL(bx_count(&c), 0);
  CU_ASSERT_EQUAL(st.clock_recorded, 0);
  tide_buf_free(&buf);
  bx_close(&a);
  bx_close(&b);
  bx_close(&c);
}

/* A bundle from a node that holds a forked version of A's feed. */
static void test_forked_feed(void)
{
  bx_home a, evil, c;
  tide_buf buf = TIDE_BUF_INIT;
  tide_bundle_export_opts o = eopts(NULL, 9);
  tide_bundle_import_opts io = iopts(10);
  tide_bundle_import_stats st;
  tide_msg *m1, *m2a, *m2b, *m3b;
  tide_error e;

  bx_open(&a, 61, NULL, NULL);
  bx_open(&evil, 62, NULL, NULL);
  bx_open(&c, 63, NULL, NULL);
  m1 = fx_post(&a.kp, NULL, "one");
  m2a = fx_post(&a.kp, m1, "two");
  m2b = fx_post(&a.kp, m1, "two, forked");
  m3b = fx_post(&a.kp, m2b, "three on the fork");
  CU_ASSERT_EQUAL_FATAL(tide_store_append(c.store, m1, 1, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_store_append(c.store, m2a, 1, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_store_append(evil.store, m1, 1, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_store_append(evil.store, m2b, 1, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_store_append(evil.store, m3b, 1, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_buf(evil.store, &evil.kp, &o, &buf, NULL, &e), 0);
  CU_ASSERT_EQUAL(
      tide_bundle_import_buf(c.store, &c.kp, (const uint8_t *)buf.data, buf.len, &io, &st, &e), 0);
  CU_ASSERT_EQUAL(st.added, 0);
  CU_ASSERT_EQUAL(st.already, 1);
  CU_ASSERT_EQUAL(st.forks, 1);
  CU_ASSERT_EQUAL(st.rejected, 2); /* the fork and the message after it */
  CU_ASSERT_EQUAL(bx_latest(&c, a.kp.pk), 2);
  {
    uint8_t id[32];
    CU_ASSERT_EQUAL(tide_store_get_id(c.store, id, a.kp.pk, 2, NULL), 0);
    CU_ASSERT_EQUAL(memcmp(id, tide_msg_id(m2a), 32), 0);
  }
  CU_ASSERT_EQUAL(tide_store_check(c.store, NULL), 0);
  tide_msg_free(m1);
  tide_msg_free(m2a);
  tide_msg_free(m2b);
  tide_msg_free(m3b);
  tide_buf_free(&buf);
  bx_close(&a);
  bx_close(&evil);
  bx_close(&c);
}

/* Files: written through a temporary name; import streams from disk. */
static void test_files(void)
{
  char *dir = tide_test_tmpdir("bundle");
  char path[4096];
  bx_home a, b;
  tide_bundle_export_opts o;
  tide_bundle_import_opts io = iopts(10);
  tide_bundle_import_stats st;
  tide_bundle_export_stats es;
  tide_error e;

  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  bx_open(&a, 64, dir, "a");
  bx_open(&b, 65, dir, "b");
  bx_publish(&a, 40);
  snprintf(path, sizeof path, "%s/out.tideb", dir);
  o = eopts(b.kp.pk, 5);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_export_file(a.store, &a.kp, &o, path, &es, &e), 0);
  CU_ASSERT_EQUAL_FATAL(tide_bundle_import_file(b.store, &b.kp, path, &io, &st, &e), 0);
  CU_ASSERT_EQUAL(st.added, 40);
  CU_ASSERT_EQUAL(st.bytes, es.bytes);
  CU_ASSERT_EQUAL(tide_bundle_was_imported(b.store, es.id, NULL), 1);
  CU_ASSERT_EQUAL(tide_bundle_import_file(b.store, &b.kp, "/nonexistent/x.tideb", &io, &st, &e),
                  TIDE_E_IO);
  CU_ASSERT_PTR_NOT_NULL(strstr(e.msg, "/nonexistent/x.tideb"));
  /* garbage is "not a bundle" */
  CU_ASSERT_EQUAL(
      tide_bundle_import_buf(b.store, &b.kp, (const uint8_t *)"hello world", 11, &io, &st, &e),
      TIDE_E_BUNDLE_FORMAT);
  bx_close(&a);
  bx_close(&b);
  tide_test_rmtree(dir);
  free(dir);
}

static CU_TestInfo bundle_tests[] = {
    {"container round trip in any slicing", test_container_roundtrip},
    {"sealed bundle: recipient only, clear error for others", test_sealed},
    {"two homes converge in one exchange each way", test_two_homes_converge},
    {"three homes converge", test_three_homes_converge},
    {"unacknowledged messages are resent; replay cannot roll back", test_resend_and_replay},
    {"byte budget", test_budget},
    {"base clock: what the importer must already hold", test_base_clock},
    {"flipped bytes: clear error, store holds the valid prefix", test_flipped_bytes},
    {"truncation: clear error, store holds the valid prefix", test_truncated},
    {"forged sender", test_forged_sender},
    {"forked feed", test_forked_feed},
    {"files", test_files},
    CU_TEST_INFO_NULL};

CU_SuiteInfo tide_test_suites[] = {TIDE_SUITE("bundle", bundle_tests), CU_SUITE_INFO_NULL};
