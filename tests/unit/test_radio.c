/* test_radio.c - the radio stream layer: priorities, one zstd stream per
 * direction over a lossy link in virtual time, rejection of a foreign or
 * corrupt stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linkmodel.h"
#include "tide/link.h"
#include "tide/radio.h"
#include "tide_test.h"
#include "vlink.h"

/* Test frames: [tag u8][seq u32 LE][len u16 LE][len filler bytes]. */
static size_t mk(uint8_t *b, uint8_t tag, uint32_t seq, uint16_t len)
{
  b[0] = tag;
  b[1] = (uint8_t)seq;
  b[2] = (uint8_t)(seq >> 8);
  b[3] = (uint8_t)(seq >> 16);
  b[4] = (uint8_t)(seq >> 24);
  b[5] = (uint8_t)len;
  b[6] = (uint8_t)(len >> 8);
  /* half noise, half text: compresses to about 60 %, like signed messages */
  uint64_t x = seq * 0x9e3779b97f4a7c15ULL + 1;
  for (uint16_t i = 0; i < len; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b[7 + i] = i < len / 2 ? (uint8_t)x
                           : (uint8_t)("the quick brown fox jumps over the lazy dog "[i % 44]);
  }
  return 7u + len;
}

typedef struct run {
  tide_radio_tx *tx;
  tide_radio_rx *rx;
  uint32_t bulk_total, bulk_got, control_at; /* bulk frames seen before the control one */
  int control_seen, control_queued, bad;
  uint32_t next_bulk;
  uint64_t wire_at_queue, wire_at_arrival; /* receiver's stream bytes */
} run;

static int pump(void *ctx, int side, tide_link *l, uint64_t now)
{
  run *r = ctx;
  tide_error err;
  int rc;
  (void)now;
  if (side == 0) {
    /* once the backlog is flowing, a control frame (a clock) shows up */
    if (!r->control_queued && tide_link_ready(l) && r->bulk_got >= 10) {
      uint8_t b[64];
      size_t n = mk(b, 'C', 0, 40);
      rc = tide_radio_tx_queue(r->tx, TIDE_RADIO_PRIO_CONTROL, b, n);
      if (rc != 0)
        return rc;
      r->control_queued = 1;
      {
        tide_radio_stats rs;
        tide_radio_rx_get_stats(r->rx, &rs);
        r->wire_at_queue = rs.wire_bytes;
      }
    }
    return tide_radio_tx_pump(r->tx, l, &err);
  }
  rc = tide_radio_rx_pump(r->rx, l, &err);
  if (rc != 0)
    return rc;
  for (;;) {
    size_t len, flen;
    const uint8_t *d = tide_radio_rx_data(r->rx, &len);
    uint32_t seq;
    if (len < 7)
      return 0;
    flen = 7u + ((size_t)d[5] | (size_t)d[6] << 8);
    if (len < flen)
      return 0;
    seq = (uint32_t)d[1] | (uint32_t)d[2] << 8 | (uint32_t)d[3] << 16 | (uint32_t)d[4] << 24;
    if (d[0] == 'B') {
      if (seq != r->next_bulk)
        r->bad = 1;
      r->next_bulk++;
      r->bulk_got++;
    } else if (d[0] == 'C') {
      tide_radio_stats rs;
      tide_radio_rx_get_stats(r->rx, &rs);
      r->control_seen = 1;
      r->control_at = r->bulk_got;
      r->wire_at_arrival = rs.wire_bytes;
    } else {
      r->bad = 1;
    }
    tide_radio_rx_consume(r->rx, flen);
  }
}

static int done(void *ctx)
{
  run *r = ctx;
  return r->bulk_got == r->bulk_total && r->control_seen;
}

static void test_priority_and_stream(void)
{
  const char *profiles[] = {"lora-e22", "cable"};
  for (size_t k = 0; k < 2; k++) {
    tide_link_profile p;
    linkmodel_params mp;
    vlink *v;
    run r;
    int rc, side;
    uint8_t b[700];
    tide_radio_stats ts, rs;

    CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, profiles[k]), 0);
    memset(&mp, 0, sizeof mp);
    mp.baud = p.baud;
    mp.packet_bytes = p.packet_bytes;
    mp.latency_us = p.latency_ms * 1000ull;
    mp.loss = 0.1;
    mp.ber = 1e-5;
    mp.half_duplex = p.half_duplex;
    mp.seed = 5;
    v = vlink_new(&p, &p, &mp, 5);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    memset(&r, 0, sizeof r);
    CU_ASSERT_EQUAL_FATAL(tide_radio_tx_new(&r.tx, NULL, 0, 3), 0);
    CU_ASSERT_EQUAL_FATAL(tide_radio_rx_new(&r.rx, NULL, 0), 0);
    /* a long backlog queued up front */
    r.bulk_total = 400;
    for (uint32_t i = 0; i < r.bulk_total; i++)
      CU_ASSERT_EQUAL_FATAL(tide_radio_tx_queue(r.tx, TIDE_RADIO_PRIO_BULK, b,
                                                mk(b, 'B', i, (uint16_t)(300 + i % 300))),
                            0);
    rc = vlink_run(v, pump, done, &r, 24ull * 3600 * 1000, &side);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_FALSE(r.bad);
    CU_ASSERT_EQUAL(r.bulk_got, r.bulk_total);
    CU_ASSERT(r.control_seen);
    /* The clock overtook the backlog: behind it were only the bytes the
     * link had already taken, at most a window in flight and a window
     * queued (plus the frame being compressed). */
    CU_ASSERT(r.control_at < r.bulk_total / 2);
    CU_ASSERT(r.wire_at_arrival - r.wire_at_queue <=
              2u * p.window_max * tide_link_payload_max(&p) + 700);
    tide_radio_tx_get_stats(r.tx, &ts);
    tide_radio_rx_get_stats(r.rx, &rs);
    CU_ASSERT_EQUAL(ts.raw_bytes, rs.raw_bytes);
    CU_ASSERT(ts.wire_bytes < ts.raw_bytes * 3 / 4); /* the text half compresses */
    tide_radio_tx_free(r.tx);
    tide_radio_rx_free(r.rx);
    vlink_free(v);
  }
}

/* Bytes that are not our zstd stream are refused with a clear error. */
static void test_foreign_stream(void)
{
  tide_link_profile p;
  linkmodel_params mp;
  vlink *v;
  tide_radio_rx *rx;
  tide_error err;
  size_t acc;
  uint8_t junk[64];
  int rc, side;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, "cable"), 0);
  memset(&mp, 0, sizeof mp);
  mp.baud = p.baud;
  mp.packet_bytes = p.packet_bytes;
  mp.latency_us = 5000;
  v = vlink_new(&p, &p, &mp, 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  CU_ASSERT_EQUAL_FATAL(tide_radio_rx_new(&rx, NULL, 0), 0);
  for (size_t i = 0; i < sizeof junk; i++)
    junk[i] = (uint8_t)(i * 37 + 11);
  rc = vlink_run(v, NULL, NULL, NULL, 2000, &side); /* SYN exchange */
  CU_ASSERT_EQUAL(rc, TIDE_E_TIMEOUT);
  CU_ASSERT_EQUAL_FATAL(tide_link_send(vlink_link(v, 0), junk, sizeof junk, 1, &acc), 0);
  rc = vlink_run(v, NULL, NULL, NULL, 4000, &side);
  CU_ASSERT_EQUAL(rc, TIDE_E_TIMEOUT);
  rc = tide_radio_rx_pump(rx, vlink_link(v, 1), &err);
  CU_ASSERT_EQUAL(rc, TIDE_E_LINK_FRAME);
  CU_ASSERT(strstr(err.msg, "decompress") != NULL);
  tide_radio_rx_free(rx);
  vlink_free(v);
}

static void test_bad_args(void)
{
  tide_radio_tx *tx;
  uint8_t b[4] = {1, 2, 3, 4};
  CU_ASSERT_EQUAL_FATAL(tide_radio_tx_new(&tx, NULL, 0, 0), 0);
  CU_ASSERT_EQUAL(tide_radio_tx_queue(tx, 3, b, 4), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_radio_tx_queue(tx, -1, b, 4), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_radio_tx_queue(tx, TIDE_RADIO_PRIO_SMALL, b, 4), 0);
  CU_ASSERT_EQUAL(tide_radio_tx_queued(tx, TIDE_RADIO_PRIO_SMALL), 4u);
  CU_ASSERT_FALSE(tide_radio_tx_idle(tx));
  tide_radio_tx_free(tx);
}

static CU_TestInfo radio_tests[] = {
    {"priority over backlog, lossy link", test_priority_and_stream},
    {"foreign stream refused", test_foreign_stream},
    {"bad arguments", test_bad_args},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("radio stream", radio_tests),
    CU_SUITE_INFO_NULL,
};
