/* test_rsession.c - replication sessions over a simulated radio link in
 * virtual time: two homes converge, the link recovers from a cable pull,
 * a HELLO from the wrong key ends the session. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linkmodel.h"
#include "tide/bundle.h"
#include "tide/ebt.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/link.h"
#include "tide/msg.h"
#include "tide/rsession.h"
#include "tide/store.h"
#include "tide_test.h"
#include "vlink.h"

typedef struct home {
  tide_keypair kp;
  tide_store *st;
  tide_ebt *e;
  tide_rsession *s;
  int err;
  tide_error errd;
} home;

static void publish(home *h, int n, uint64_t seed)
{
  tide_feed_state st, *prev = NULL;
  for (int i = 0; i < n; i++) {
    tide_json_doc *doc = tide_json_doc_new();
    tide_json *c = tide_json_new_object(doc);
    char text[200];
    int len = snprintf(text, sizeof text, "log %d: wind %d knots from %d, %d nm to go", i,
                       (int)(seed % 30), (int)((seed >> 8) % 360), (int)((seed >> 20) % 100));
    tide_msg *m = NULL;
    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    CU_ASSERT_EQUAL_FATAL(
        tide_json_object_set(doc, c, "type", 4, tide_json_new_string(doc, "post", 4)), 0);
    CU_ASSERT_EQUAL_FATAL(
        tide_json_object_set(doc, c, "text", 4, tide_json_new_string(doc, text, (size_t)len)), 0);
    CU_ASSERT_EQUAL_FATAL(tide_msg_create(&m, &h->kp, prev, 1.7e12 + i * 1000.0, c, NULL, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tide_store_append(h->st, m, 0, NULL), 0);
    memcpy(st.id, tide_msg_id(m), TIDE_HASH_BYTES);
    st.sequence = i + 1;
    prev = &st;
    tide_msg_free(m);
    tide_json_doc_free(doc);
  }
}

static void home_init(home *h, uint8_t seedbyte, int n)
{
  uint8_t seed[TIDE_SEED_BYTES];
  memset(h, 0, sizeof *h);
  memset(seed, seedbyte, sizeof seed);
  CU_ASSERT_EQUAL_FATAL(tide_keys_from_seed(&h->kp, seed), 0);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&h->st, TIDE_STORE_MEMORY, 0, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_ebt_new(&h->e), 0);
  publish(h, n, seedbyte);
}

static void home_free(home *h)
{
  tide_rsession_free(h->s);
  tide_ebt_free(h->e);
  tide_store_close(h->st);
  tide_keys_wipe(&h->kp);
}

typedef struct pair {
  home *h[2];
} pair;

static int pump(void *ctx, int side, tide_link *l, uint64_t now)
{
  pair *p = ctx;
  home *h = p->h[side];
  int rc;
  (void)l;
  if (h->s == NULL || h->err)
    return 0;
  rc = tide_rsession_step(h->s, now, &h->errd);
  if (rc != 0) {
    h->err = rc;
    return rc;
  }
  return 0;
}

/* The stranger's side also refuses (a's HELLO is addressed to b, not to
 * it); only a's verdict matters here. */
static int pump_a_only_fails(void *ctx, int side, tide_link *l, uint64_t now)
{
  int rc = pump(ctx, side, l, now);
  return side == 0 ? rc : 0;
}

static int both_sync(void *ctx)
{
  pair *p = ctx;
  return tide_rsession_in_sync(p->h[0]->s) && tide_rsession_in_sync(p->h[1]->s);
}

static void start_keys(home *h, tide_link *l, const uint8_t *expect, const tide_keypair *as,
                       int full_keys)
{
  tide_rsession_config cfg;
  size_t dlen;
  uint32_t did;
  memset(&cfg, 0, sizeof cfg);
  cfg.kp = as ? as : &h->kp;
  cfg.expect_peer = expect;
  cfg.store = h->st;
  cfg.ebt = h->e;
  cfg.dict = tide_bundle_dict(&dlen, &did);
  cfg.dict_len = dlen;
  cfg.wall_ms = 1700000000000ull;
  cfg.full_keys = full_keys;
  CU_ASSERT_EQUAL_FATAL(tide_rsession_new(&h->s, l, &cfg, 0, NULL), 0);
}

static void start(home *h, tide_link *l, const uint8_t *expect, const tide_keypair *as)
{
  start_keys(h, l, expect, as, 0);
}

static void declare(home *h, const home *o, int64_t mine, int64_t theirs)
{
  CU_ASSERT_EQUAL_FATAL(tide_ebt_set_feed(h->e, h->kp.pk, 1, mine, 0), 0);
  CU_ASSERT_EQUAL_FATAL(tide_ebt_set_feed(h->e, o->kp.pk, 1, theirs, 0), 0);
}

/* Every message of feed pk is in both stores with the same id. */
static void same_feed(home *a, home *b, const uint8_t *pk, int n)
{
  for (int q = 1; q <= n; q++) {
    uint8_t ia[TIDE_HASH_BYTES], ib[TIDE_HASH_BYTES];
    CU_ASSERT_EQUAL_FATAL(tide_store_get_id(a->st, ia, pk, q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tide_store_get_id(b->st, ib, pk, q, NULL), 0);
    CU_ASSERT(memcmp(ia, ib, TIDE_HASH_BYTES) == 0);
  }
  CU_ASSERT_EQUAL(tide_store_check(a->st, NULL), 0);
  CU_ASSERT_EQUAL(tide_store_check(b->st, NULL), 0);
}

static void converge(const char *profile, int n, double loss, double ber, int pull)
{
  home a, b;
  pair p = {{&a, &b}};
  tide_link_profile prof;
  linkmodel_params mp;
  vlink *v;
  int rc, side;

  home_init(&a, 1, n);
  home_init(&b, 2, n);
  declare(&a, &b, n, 0);
  declare(&b, &a, n, 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&prof, profile), 0);
  memset(&mp, 0, sizeof mp);
  mp.baud = prof.baud;
  mp.packet_bytes = prof.packet_bytes;
  mp.latency_us = prof.latency_ms * 1000ull;
  mp.loss = loss;
  mp.ber = ber;
  mp.half_duplex = prof.half_duplex;
  mp.seed = 77;
  v = vlink_new(&prof, &prof, &mp, 77);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  if (pull)
    linkmodel_outage(vlink_model(v), 20000000, 50000000); /* 20 s .. 50 s */
  start(&a, vlink_link(v, 0), b.kp.pk, NULL);
  start(&b, vlink_link(v, 1), a.kp.pk, NULL);
  rc = vlink_run(v, pump, both_sync, &p, 6ull * 3600 * 1000, &side);
  if (rc != 0) {
    tide_rsession_stats sa, sb;
    tide_rsession_get_stats(a.s, &sa);
    tide_rsession_get_stats(b.s, &sb);
    fprintf(stderr,
            "converge %s: rc %d side %d at %llu ms: %s / %s; a sent %llu got %llu new %llu, b "
            "sent %llu got %llu new %llu; a: our %lld/%lld peer %lld/%lld; sync %d %d\n",
            profile, rc, side, (unsigned long long)vlink_now(v), a.errd.msg, b.errd.msg,
            (unsigned long long)sa.msgs_sent, (unsigned long long)sa.msgs_received,
            (unsigned long long)sa.msgs_new, (unsigned long long)sb.msgs_sent,
            (unsigned long long)sb.msgs_received, (unsigned long long)sb.msgs_new,
            (long long)tide_ebt_our_seq(a.e, a.kp.pk), (long long)tide_ebt_our_seq(a.e, b.kp.pk),
            (long long)tide_ebt_peer_seq(a.e, 0, a.kp.pk),
            (long long)tide_ebt_peer_seq(a.e, 0, b.kp.pk), tide_rsession_in_sync(a.s),
            tide_rsession_in_sync(b.s));
    fprintf(stderr, "a frames tx %llu rx %llu raw %llu/%llu wire %llu/%llu\n",
            (unsigned long long)sa.frames_sent, (unsigned long long)sa.frames_received,
            (unsigned long long)sa.raw_tx, (unsigned long long)sa.raw_rx,
            (unsigned long long)sa.wire_tx, (unsigned long long)sa.wire_rx);
  }
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  if (pull)
    CU_ASSERT(vlink_now(v) > 50000);
  same_feed(&a, &b, a.kp.pk, n);
  same_feed(&a, &b, b.kp.pk, n);
  CU_ASSERT_EQUAL(tide_rsession_close(a.s, vlink_now(v), NULL), 0);
  CU_ASSERT_EQUAL(tide_rsession_close(b.s, vlink_now(v), NULL), 0);
  vlink_free(v);
  home_free(&a);
  home_free(&b);
}

static void test_converge_e22(void)
{
  converge("lora-e22", 500, 0.10, 1e-5, 0);
}

static void test_cable_pull(void)
{
  converge("lora-e22", 150, 0.02, 0, 1);
}

static void test_converge_cable(void)
{
  converge("cable", 300, 0.05, 1e-5, 0);
}

/* A stranger signs its HELLO with its own key: the home that expects a
 * known boat refuses it with a clear error. */
static void test_wrong_key(void)
{
  home a, b, stranger;
  pair p = {{&a, &b}};
  tide_link_profile prof;
  linkmodel_params mp;
  vlink *v;
  int rc, side;

  home_init(&a, 1, 3);
  home_init(&b, 2, 3);
  home_init(&stranger, 9, 0);
  declare(&a, &b, 3, 0);
  declare(&b, &a, 3, 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&prof, "cable"), 0);
  memset(&mp, 0, sizeof mp);
  mp.baud = prof.baud;
  mp.packet_bytes = prof.packet_bytes;
  mp.latency_us = 5000;
  mp.seed = 1;
  v = vlink_new(&prof, &prof, &mp, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  start(&a, vlink_link(v, 0), b.kp.pk, NULL);
  start(&b, vlink_link(v, 1), NULL, &stranger.kp); /* b's side speaks with the wrong key */
  rc = vlink_run(v, pump_a_only_fails, both_sync, &p, 600000, &side);
  CU_ASSERT_EQUAL(rc, TIDE_E_RSESSION_PEER);
  CU_ASSERT_EQUAL(side, 0);
  CU_ASSERT(strstr(a.errd.msg, "expected") != NULL);
  CU_ASSERT_EQUAL(a.err, TIDE_E_RSESSION_PEER);
  /* nothing of a's reached the stranger's side */
  {
    tide_feed_state st;
    CU_ASSERT_EQUAL(tide_store_latest(b.st, &st, NULL, a.kp.pk, NULL), TIDE_E_NOTFOUND);
  }
  vlink_free(v);
  home_free(&a);
  home_free(&b);
  home_free(&stranger);
}

/* A feed key for the short-key runs (distinct first 8 bytes). */
static void some_key(uint8_t k[32], int i, uint8_t tag)
{
  memset(k, tag, 32);
  k[0] = (uint8_t)i;
  k[1] = (uint8_t)(i >> 8);
}

/* Two homes with 20 messages each, 100 more feeds both know and 30
 * that only a knows, sync over a cable; a_full / b_full: that side does
 * not offer short keys.  Returns both sides' stats. */
static void short_keys_run(int a_full, int b_full, tide_rsession_stats *sa, tide_rsession_stats *sb)
{
  home a, b;
  pair p = {{&a, &b}};
  tide_link_profile prof;
  linkmodel_params mp;
  vlink *v;
  uint8_t k[32];
  int rc, side;

  home_init(&a, 1, 20);
  home_init(&b, 2, 20);
  declare(&a, &b, 20, 0);
  declare(&b, &a, 20, 0);
  for (int i = 0; i < 100; i++) {
    some_key(k, i, 0x5c);
    CU_ASSERT_EQUAL_FATAL(tide_ebt_set_feed(a.e, k, 1, 0, 0), 0);
    CU_ASSERT_EQUAL_FATAL(tide_ebt_set_feed(b.e, k, 1, 0, 0), 0);
  }
  for (int i = 0; i < 30; i++) {
    some_key(k, i, 0xa3);
    CU_ASSERT_EQUAL_FATAL(tide_ebt_set_feed(a.e, k, 1, 0, 0), 0);
  }
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&prof, "cable"), 0);
  memset(&mp, 0, sizeof mp);
  mp.baud = prof.baud;
  mp.packet_bytes = prof.packet_bytes;
  mp.latency_us = 5000;
  mp.loss = 0.02;
  mp.seed = 5;
  v = vlink_new(&prof, &prof, &mp, 5);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  start_keys(&a, vlink_link(v, 0), b.kp.pk, NULL, a_full);
  start_keys(&b, vlink_link(v, 1), a.kp.pk, NULL, b_full);
  rc = vlink_run(v, pump, both_sync, &p, 600000, &side);
  if (rc != 0)
    fprintf(stderr, "short keys %d/%d: rc %d side %d: %s / %s\n", a_full, b_full, rc, side,
            a.errd.msg, b.errd.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  same_feed(&a, &b, a.kp.pk, 20);
  same_feed(&a, &b, b.kp.pk, 20);
  tide_rsession_get_stats(a.s, sa);
  tide_rsession_get_stats(b.s, sb);
  CU_ASSERT_EQUAL(tide_rsession_close(a.s, vlink_now(v), NULL), 0);
  CU_ASSERT_EQUAL(tide_rsession_close(b.s, vlink_now(v), NULL), 0);
  vlink_free(v);
  home_free(&a);
  home_free(&b);
}

/* The session-opening clock names feeds by short keys when the peer's
 * HELLO offers them, by full keys when it does not; the peer ignores
 * the feeds it does not know, and replication completes either way. */
static void test_short_keys(void)
{
  tide_rsession_stats sa, sb, fa, fb, xa, xb;

  short_keys_run(0, 0, &sa, &sb);
  CU_ASSERT_EQUAL(sa.short_keys_tx, 1);
  CU_ASSERT_EQUAL(sb.short_keys_tx, 1);
  CU_ASSERT(sb.unresolved_rx >= 30); /* a's 30 feeds b does not know */
  CU_ASSERT_EQUAL(sa.unresolved_rx, 0);
  /* b does not offer short keys: a names its 132 feeds in full */
  short_keys_run(0, 1, &fa, &fb);
  CU_ASSERT_EQUAL(fa.short_keys_tx, 0);
  CU_ASSERT_EQUAL(fb.short_keys_tx, 1);
  CU_ASSERT_EQUAL(fb.unresolved_rx, 0);
  CU_ASSERT_EQUAL(fa.unresolved_rx, 0);
  /* 132 feeds, 24 bytes each, less the CLOCK kind byte */
  CU_ASSERT_EQUAL(fa.open_clock_tx - sa.open_clock_tx, 132 * 24 - 1);
  /* neither offers */
  short_keys_run(1, 1, &xa, &xb);
  CU_ASSERT_EQUAL(xa.short_keys_tx, 0);
  CU_ASSERT_EQUAL(xb.short_keys_tx, 0);
  CU_ASSERT_EQUAL(xb.open_clock_tx, fb.open_clock_tx + 102 * 24 - 1);
}

static CU_TestInfo session_tests[] = {
    {"two homes x 500 msgs converge, lora-e22 10% loss BER 1e-5", test_converge_e22},
    {"cable pull 30 s mid-sync", test_cable_pull},
    {"cable 5% loss", test_converge_cable},
    {"HELLO from the wrong key", test_wrong_key},
    {"short keys in the opening clock, offered or not", test_short_keys},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("radio session", session_tests),
    CU_SUITE_INFO_NULL,
};
