/* test_link_collide.c - two half-duplex link ends that both call at once
 * (as both sides of `tide sync serial` do) and whose transmissions
 * collide must still get through to each other before the dead timer.
 * Both ends time out with the same RTO, so only the retake jitter
 * separates their retries: when it is narrower than a frame's airtime
 * they can collide on every retry until the call dies. */
#include <string.h>

#include "linkmodel.h"
#include "tide/link.h"
#include "tide_test.h"
#include "vlink.h"

#define MSG_BYTES 160 /* about a session HELLO */

typedef struct ctx {
  size_t got[2];
  size_t sent[2];
} ctx;

static int pump(void *c_, int side, tide_link *l, uint64_t now_ms)
{
  ctx *c = c_;
  uint8_t b[512];
  size_t n;
  (void)now_ms;
  if (c->sent[side] < MSG_BYTES) {
    uint8_t m[MSG_BYTES];
    size_t acc;
    memset(m, side + 1, sizeof m);
    if (tide_link_send(l, m, sizeof m - c->sent[side], 1, &acc) != 0)
      return TIDE_E_NOMEM;
    c->sent[side] += acc;
  }
  while ((n = tide_link_recv(l, b, sizeof b)) > 0) {
    for (size_t i = 0; i < n; i++)
      CU_ASSERT_EQUAL(b[i], 2 - side); /* the other side's bytes */
    c->got[side] += n;
  }
  return 0;
}

static int done(void *c_)
{
  ctx *c = c_;
  return c->got[0] >= MSG_BYTES && c->got[1] >= MSG_BYTES;
}

/* Many seeds: each run starts with both ends transmitting at time 0, so
 * their first frames collide; every run must end with both messages
 * delivered, not with a dead link. */
static void test_both_call_at_once(const char *profile)
{
  tide_link_profile p;
  unsigned failed = 0;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, profile), 0);
  for (uint64_t seed = 1; seed <= 300; seed++) {
    linkmodel_params mp;
    vlink *v;
    ctx c;
    int rc, es;

    memset(&mp, 0, sizeof mp);
    mp.baud = p.baud;
    mp.packet_bytes = p.packet_bytes;
    mp.latency_us = (uint64_t)p.latency_ms * 1000u;
    mp.half_duplex = 1;
    mp.seed = seed;
    v = vlink_new(&p, &p, &mp, seed);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL_FATAL(vlink_restart_as(v, 1, seed * 131 + 7, 1), 0);
    memset(&c, 0, sizeof c);
    rc = vlink_run(v, pump, done, &c, p.dead_ms, &es);
    if (rc != 0)
      failed++;
    vlink_free(v);
  }
  CU_ASSERT_EQUAL(failed, 0);
}

static void test_e22(void)
{
  test_both_call_at_once("lora-e22");
}

static void test_e32(void)
{
  test_both_call_at_once("lora-e32");
}

static CU_TestInfo collide_tests[] = {
    {"both call at once, lora-e22", test_e22},
    {"both call at once, lora-e32", test_e32},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("link collisions", collide_tests),
    CU_SUITE_INFO_NULL,
};
