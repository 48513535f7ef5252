/* test_link.c - the radio link layer in virtual time: framing, ARQ over a
 * lossy/corrupting/duplicating link model, half-duplex turns, duty cycle,
 * cable pull, peer restart, dead peer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "linkmodel.h"
#include "tide/link.h"
#include "tide_test.h"
#include "vlink.h"

/* ---- framing ---- */

static void test_crc(void)
{
  CU_ASSERT_EQUAL(tide_link_crc32c((const uint8_t *)"123456789", 9), 0xE3069283u);
  CU_ASSERT_EQUAL(tide_link_crc32c(NULL, 0), 0u);
}

static void cobs_roundtrip(const uint8_t *in, size_t n)
{
  uint8_t enc[2048], dec[2048];
  size_t el, dl;
  CU_ASSERT_EQUAL_FATAL(tide_link_cobs_encode(enc, sizeof enc, &el, in, n), 0);
  CU_ASSERT(el <= n + n / 254 + 1);
  for (size_t i = 0; i < el; i++)
    CU_ASSERT_NOT_EQUAL(enc[i], 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_cobs_decode(dec, sizeof dec, &dl, enc, el), 0);
  CU_ASSERT_EQUAL_FATAL(dl, n);
  CU_ASSERT(memcmp(dec, in, n) == 0);
}

static void test_cobs(void)
{
  uint8_t b[1200] = {0};
  uint64_t s = 1;
  uint8_t bad1[] = {0x03, 0x11}; /* code runs past the end */
  uint8_t bad2[] = {0x02, 0x00}; /* zero inside */
  uint8_t out[8];
  size_t ol;

  cobs_roundtrip(b, 0);
  memset(b, 0, sizeof b);
  cobs_roundtrip(b, 1);
  cobs_roundtrip(b, 300);
  memset(b, 0x41, sizeof b);
  cobs_roundtrip(b, 253);
  cobs_roundtrip(b, 254);
  cobs_roundtrip(b, 255);
  cobs_roundtrip(b, 508);
  cobs_roundtrip(b, 1200);
  for (int r = 0; r < 200; r++) {
    size_t n = (size_t)(r * 7 % 1200);
    for (size_t i = 0; i < n; i++) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      b[i] = (uint8_t)((s >> 33) % 3 == 0 ? 0 : s >> 40);
    }
    cobs_roundtrip(b, n);
  }
  CU_ASSERT_EQUAL(tide_link_cobs_decode(out, sizeof out, &ol, bad1, sizeof bad1),
                  TIDE_E_LINK_FRAME);
  CU_ASSERT_EQUAL(tide_link_cobs_decode(out, sizeof out, &ol, bad2, sizeof bad2),
                  TIDE_E_LINK_FRAME);
  CU_ASSERT_EQUAL(tide_link_cobs_encode(out, 2, &ol, b, 4), TIDE_E_BUFSIZE);
}

static size_t mk_body(uint8_t *b, uint8_t h, const uint8_t *rest, size_t n)
{
  uint32_t c;
  b[0] = h;
  memcpy(b + 1, rest, n);
  c = tide_link_crc32c(b, n + 1);
  b[n + 1] = (uint8_t)c;
  b[n + 2] = (uint8_t)(c >> 8);
  b[n + 3] = (uint8_t)(c >> 16);
  b[n + 4] = (uint8_t)(c >> 24);
  return n + 5;
}

static void test_frame_parse(void)
{
  uint8_t b[64];
  uint8_t data[] = {7, 3, 'h', 'i'};
  uint8_t syn[] = {1, 2, 3, 4, 0, 0, 0, 0, 32, 0};
  uint8_t synbad[] = {1, 2, 3, 4, 0, 0, 0, 0, 0, 0};
  tide_link_frame f;
  tide_error err;
  size_t n;

  n = mk_body(b, TIDE_LINK_T_DATA | TIDE_LINK_F_TURN, data, sizeof data);
  CU_ASSERT_EQUAL_FATAL(tide_link_frame_parse(&f, b, n, &err), 0);
  CU_ASSERT_EQUAL(f.type, TIDE_LINK_T_DATA);
  CU_ASSERT_EQUAL(f.flags, TIDE_LINK_F_TURN);
  CU_ASSERT_EQUAL(f.seq, 7);
  CU_ASSERT_EQUAL(f.ack, 3);
  CU_ASSERT_EQUAL(f.len, 2);
  CU_ASSERT(memcmp(f.data, "hi", 2) == 0);
  /* every single-bit error is caught */
  for (size_t bit = 0; bit < n * 8; bit++) {
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, NULL), TIDE_E_LINK_FRAME);
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  /* DATA without payload, reserved bits, too short, SYN layout */
  n = mk_body(b, TIDE_LINK_T_DATA, data, 2);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, &err), TIDE_E_LINK_FRAME);
  n = mk_body(b, 0x10 | TIDE_LINK_T_ACK, data, 1);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, &err), TIDE_E_LINK_FRAME);
  CU_ASSERT(strstr(err.msg, "reserved") != NULL);
  n = mk_body(b, 3, data, 1);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, &err), TIDE_E_LINK_FRAME);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, 3, &err), TIDE_E_LINK_FRAME);
  n = mk_body(b, TIDE_LINK_T_SYN, syn, sizeof syn);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, &err), 0);
  n = mk_body(b, TIDE_LINK_T_SYN, synbad, sizeof synbad);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, &err), TIDE_E_LINK_FRAME);
  n = mk_body(b, TIDE_LINK_T_SYN, syn, sizeof syn - 1);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, &err), TIDE_E_LINK_FRAME);
}

static void test_profiles(void)
{
  tide_link_profile p;
  tide_error err;
  const char *const *names = tide_link_profile_names();
  int count = 0;

  for (; *names; names++, count++) {
    CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, *names), 0);
    CU_ASSERT_EQUAL(tide_link_profile_check(&p, &err), 0);
    CU_ASSERT(tide_link_payload_max(&p) > 0);
    /* a full DATA frame fits one modem packet */
    CU_ASSERT(tide_link_payload_max(&p) + 7 + (tide_link_payload_max(&p) + 7) / 254 + 2 <=
              p.packet_bytes);
  }
  CU_ASSERT_EQUAL(count, 4);
  CU_ASSERT_EQUAL(tide_link_profile_get(&p, "lora-e22"), 0);
  CU_ASSERT_EQUAL(p.packet_bytes, 240);
  CU_ASSERT_EQUAL(p.half_duplex, 1);
  CU_ASSERT_EQUAL(p.duty_ppm, 100000u);
  CU_ASSERT_EQUAL(tide_link_payload_max(&p), 231u);
  CU_ASSERT_EQUAL(tide_link_profile_get(&p, "lora-e32"), 0);
  CU_ASSERT_EQUAL(p.packet_bytes, 58);
  CU_ASSERT_EQUAL(tide_link_payload_max(&p), 49u);
  CU_ASSERT_EQUAL(tide_link_profile_get(&p, "nope"), TIDE_E_LINK_PROFILE);

  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "baud", "19200", &err), 0);
  CU_ASSERT_EQUAL(p.baud, 19200u);
  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "duty", "0.1", &err), 0);
  CU_ASSERT_EQUAL(p.duty_ppm, 1000u);
  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "duty", "100%", &err), 0);
  CU_ASSERT_EQUAL(p.duty_ppm, 1000000u);
  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "duplex", "full", &err), 0);
  CU_ASSERT_EQUAL(p.half_duplex, 0);
  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "baud", "9600x", &err), TIDE_E_LINK_PROFILE);
  CU_ASSERT(strstr(err.msg, "baud") != NULL);
  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "duty", "0", &err), TIDE_E_LINK_PROFILE);
  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "duty", "101", &err), TIDE_E_LINK_PROFILE);
  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "window", "128", &err), TIDE_E_LINK_PROFILE);
  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "colour", "blue", &err), TIDE_E_LINK_PROFILE);
  CU_ASSERT(strstr(err.msg, "colour") != NULL);
  CU_ASSERT_EQUAL(tide_link_profile_set(&p, "rto-min", "99999", &err), 0);
  CU_ASSERT_EQUAL(tide_link_profile_check(&p, &err), TIDE_E_LINK_PROFILE);
}

/* ---- stream transfer in virtual time ---- */

typedef struct xfer {
  uint8_t *src[2];
  size_t len[2], sent[2];
  uint8_t *dst[2];
  size_t got[2];
  int corrupt; /* a delivered byte differed */
} xfer;

static void xfer_init(xfer *x, size_t len0, size_t len1, uint64_t seed)
{
  memset(x, 0, sizeof *x);
  x->len[0] = len0;
  x->len[1] = len1;
  for (int i = 0; i < 2; i++) {
    x->src[i] = malloc(x->len[i] + 1);
    x->dst[i] = malloc(x->len[1 - i] + 1);
    for (size_t k = 0; k < x->len[i]; k++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      /* compressible-ish bytes with zeros, like a real stream */
      x->src[i][k] = (uint8_t)((seed >> 60) < 3 ? 0 : seed >> 33);
    }
  }
}

static void xfer_free(xfer *x)
{
  for (int i = 0; i < 2; i++) {
    free(x->src[i]);
    free(x->dst[i]);
  }
}

static int xfer_pump(void *ctx, int side, tide_link *l, uint64_t now_ms)
{
  xfer *x = ctx;
  uint8_t buf[4096];
  size_t n, acc;
  int rc;
  (void)now_ms;
  while ((n = tide_link_recv(l, buf, sizeof buf)) > 0) {
    size_t want = x->len[1 - side];
    if (x->got[side] + n > want) {
      x->corrupt = 1;
      return TIDE_E_INTERNAL;
    }
    if (memcmp(buf, x->src[1 - side] + x->got[side], n) != 0)
      x->corrupt = 1;
    memcpy(x->dst[side] + x->got[side], buf, n);
    x->got[side] += n;
  }
  if (x->sent[side] < x->len[side]) {
    rc = tide_link_send(l, x->src[side] + x->sent[side], x->len[side] - x->sent[side], 1, &acc);
    if (rc != 0)
      return rc;
    x->sent[side] += acc;
  }
  return 0;
}

static int xfer_done(void *ctx)
{
  xfer *x = ctx;
  return x->got[0] == x->len[1] && x->got[1] == x->len[0];
}

static linkmodel_params model_for(const tide_link_profile *p, double loss, double ber, double dup,
                                  uint64_t seed)
{
  linkmodel_params mp;
  memset(&mp, 0, sizeof mp);
  mp.baud = p->baud;
  mp.packet_bytes = p->packet_bytes;
  mp.latency_us = (uint64_t)p->latency_ms * 1000u;
  mp.loss = loss;
  mp.ber = ber;
  mp.dup = dup;
  mp.half_duplex = p->half_duplex;
  mp.seed = seed;
  return mp;
}

static int run_xfer(const char *profile, size_t a, size_t b, double loss, double ber, double dup,
                    uint64_t seed, tide_link_stats st[2], linkmodel_stats *ms)
{
  tide_link_profile p;
  linkmodel_params mp;
  vlink *v;
  xfer x;
  int rc, side;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, profile), 0);
  mp = model_for(&p, loss, ber, dup, seed);
  v = vlink_new(&p, &p, &mp, seed);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  xfer_init(&x, a, b, seed);
  rc = vlink_run(v, xfer_pump, xfer_done, &x, 4ull * 3600 * 1000, &side);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_FALSE(x.corrupt);
  CU_ASSERT_EQUAL(x.got[1], a);
  CU_ASSERT_EQUAL(x.got[0], b);
  CU_ASSERT(memcmp(x.dst[1], x.src[0], x.got[1]) == 0);
  CU_ASSERT(memcmp(x.dst[0], x.src[1], x.got[0]) == 0);
  if (st) {
    tide_link_get_stats(vlink_link(v, 0), vlink_now(v), &st[0]);
    tide_link_get_stats(vlink_link(v, 1), vlink_now(v), &st[1]);
  }
  if (ms)
    linkmodel_get_stats(vlink_model(v), ms);
  xfer_free(&x);
  vlink_free(v);
  return rc;
}

static void test_clean_all_profiles(void)
{
  const char *const *names = tide_link_profile_names();
  for (; *names; names++) {
    tide_link_stats st[2];
    linkmodel_stats ms;
    size_t n = strcmp(*names, "lora-e32") == 0 ? 6000 : 30000;
    run_xfer(*names, n, n / 3, 0, 0, 0, 11, st, &ms);
    CU_ASSERT_EQUAL(st[0].retransmits, 0);
    CU_ASSERT_EQUAL(st[1].retransmits, 0);
    CU_ASSERT_EQUAL(ms.collided[0] + ms.collided[1], 0); /* turns never overlap */
    CU_ASSERT_EQUAL(st[0].rx_bad_frames + st[1].rx_bad_frames, 0);
  }
}

static void test_lossy_e22(void)
{
  tide_link_stats st[2];
  linkmodel_stats ms;
  run_xfer("lora-e22", 60000, 40000, 0.10, 1e-5, 0, 5, st, &ms);
  CU_ASSERT(ms.lost[0] + ms.lost[1] > 0);
  CU_ASSERT(st[0].retransmits + st[1].retransmits > 0);
}

static void test_lossy_all(void)
{
  const char *const *names = tide_link_profile_names();
  for (uint64_t seed = 1; seed <= 3; seed++)
    for (names = tide_link_profile_names(); *names; names++)
      run_xfer(*names, strcmp(*names, "lora-e32") == 0 ? 3000 : 12000, 5000, 0.2, 1e-5, 0.02, seed,
               NULL, NULL);
}

/* Heavy bit errors: many frames arrive damaged; none is delivered. */
static void test_corrupt_never_delivered(void)
{
  tide_link_stats st[2];
  linkmodel_stats ms;
  run_xfer("cable", 40000, 40000, 0, 2e-4, 0, 9, st, &ms);
  CU_ASSERT(ms.corrupted[0] + ms.corrupted[1] > 20);
  CU_ASSERT(st[0].rx_bad_frames + st[1].rx_bad_frames > 20);
  run_xfer("lora-e32", 3000, 3000, 0, 5e-4, 0, 9, st, &ms);
  CU_ASSERT(st[0].rx_bad_frames + st[1].rx_bad_frames > 5);
}

static void test_duplicates(void)
{
  tide_link_stats st[2];
  linkmodel_stats ms;
  run_xfer("rfd900", 30000, 30000, 0.05, 0, 0.3, 4, st, &ms);
  CU_ASSERT(ms.duplicated[0] + ms.duplicated[1] > 10);
  CU_ASSERT(st[0].rx_dup_frames + st[1].rx_dup_frames > 10);
  run_xfer("lora-e22", 20000, 20000, 0.05, 0, 0.3, 4, st, &ms);
  CU_ASSERT(st[0].rx_dup_frames + st[1].rx_dup_frames > 5);
}

/* No bytes carried for 30 simulated seconds in the middle of a transfer. */
static void test_cable_pull(void)
{
  const char *profiles[] = {"lora-e22", "cable", "lora-e32"};
  for (size_t k = 0; k < 3; k++) {
    tide_link_profile p;
    linkmodel_params mp;
    vlink *v;
    xfer x;
    int rc, side;
    size_t n = k == 2 ? 4000 : k == 1 ? 300000 : 40000;

    CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, profiles[k]), 0);
    mp = model_for(&p, 0.02, 0, 0, 3);
    v = vlink_new(&p, &p, &mp, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    linkmodel_outage(vlink_model(v), 2000000, 32000000); /* 2 s .. 32 s */
    xfer_init(&x, n, n / 2, 3);
    rc = vlink_run(v, xfer_pump, xfer_done, &x, 3600 * 1000, &side);
    CU_ASSERT_EQUAL(rc, 0);
    CU_ASSERT_FALSE(x.corrupt);
    CU_ASSERT(memcmp(x.dst[1], x.src[0], n) == 0);
    CU_ASSERT(vlink_now(v) > 32000);
    xfer_free(&x);
    vlink_free(v);
  }
}

/* Side s of v never transmitted more than its budget in any window of the
 * duty cycle (sliding window over transmission start times). */
static void check_duty(vlink *v, int s, const tide_link_profile *p)
{
  uint64_t budget_us = (uint64_t)p->duty_ppm * p->duty_window_ms / 1000u;
  size_t n, j = 0;
  const vlink_tx *log = vlink_txlog(v, s, &n);
  uint64_t sum = 0;
  int over = 0;
  CU_ASSERT(n > 0);
  for (size_t i = 0; i < n; i++) {
    sum += tide_link_line_us(p, log[i].bytes);
    while (log[j].at_ms + p->duty_window_ms <= log[i].at_ms) {
      sum -= tide_link_line_us(p, log[j].bytes);
      j++;
    }
    if (sum > budget_us)
      over = 1;
  }
  CU_ASSERT_FALSE(over);
}

/* The sender never exceeds its duty-cycle budget in any window, reports
 * the budget and the time it waited, and still delivers everything. */
static void test_duty_cycle(void)
{
  tide_link_profile p;
  linkmodel_params mp;
  vlink *v;
  xfer x;
  int rc, side;
  tide_link_stats st;
  uint64_t budget_us;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, "lora-e22"), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "duty", "1", NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "duty-window", "60000", NULL), 0);
  budget_us = (uint64_t)p.duty_ppm * p.duty_window_ms / 1000u; /* 600 ms */
  mp = model_for(&p, 0.05, 0, 0, 8);
  v = vlink_new(&p, &p, &mp, 8);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  xfer_init(&x, 3000, 500, 8);
  rc = vlink_run(v, xfer_pump, xfer_done, &x, 24ull * 3600 * 1000, &side);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_FALSE(x.corrupt);
  CU_ASSERT_EQUAL(budget_us, 600000u);
  for (int s = 0; s < 2; s++)
    check_duty(v, s, &p);
  tide_link_get_stats(vlink_link(v, 0), vlink_now(v), &st);
  CU_ASSERT_EQUAL(st.duty_budget_ms, 600u);
  CU_ASSERT(st.duty_wait_ms > 0);
  /* 3000 bytes at ~0.6 s of air per minute cannot go in under 4 minutes */
  CU_ASSERT(vlink_now(v) > 4 * 60 * 1000);
  xfer_free(&x);
  vlink_free(v);
}

/* A duty budget that cannot hold one full DATA frame plus the reserve for
 * the pause announcements would block the sender for good: the profile
 * check refuses it and names the smallest duty that works; that duty
 * does carry data (both ways, both sides at the minimum). */
static void duty_floor(const char *profile, const char *window, size_t a, size_t b)
{
  tide_link_profile p, q;
  tide_error err;
  tide_link *l = NULL;
  linkmodel_params mp;
  vlink *v;
  xfer x;
  uint64_t min_ppm, need_us;
  char want[64], val[32];
  int rc, side;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, profile), 0);
  if (window)
    CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "duty-window", window, NULL), 0);
  min_ppm = tide_link_duty_min_ppm(&p);
  CU_ASSERT_FATAL(min_ppm > 1 && min_ppm < 1000000u);
  /* one full DATA frame plus two announcements, each an ACK with a full
   * bitmap (24 bytes on the line) and a PAUSE (12 bytes) */
  {
    size_t body = 3 + tide_link_payload_max(&p) + 4;
    need_us = tide_link_line_us(&p, body + body / 254 + 2) +
              2 * (tide_link_line_us(&p, 24) + tide_link_line_us(&p, 12));
    CU_ASSERT(body + body / 254 + 2 <= p.packet_bytes);
  }
  CU_ASSERT(min_ppm * p.duty_window_ms / 1000u >= need_us);
  CU_ASSERT((min_ppm - 1) * p.duty_window_ms / 1000u < need_us);

  /* one part per million less is refused, by the check and by tide_link_new */
  q = p;
  snprintf(val, sizeof val, "%llu.%04llu", (unsigned long long)((min_ppm - 1) / 10000u),
           (unsigned long long)((min_ppm - 1) % 10000u));
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&q, "duty", val, &err), 0);
  CU_ASSERT_EQUAL(q.duty_ppm, min_ppm - 1);
  CU_ASSERT_EQUAL(tide_link_profile_check(&q, &err), TIDE_E_LINK_PROFILE);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "less than one"));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "pause reserve"));
  snprintf(want, sizeof want, "use duty >= %llu.", (unsigned long long)(min_ppm / 10000u));
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, want));
  CU_ASSERT_EQUAL(tide_link_new(&l, &q, NULL, 0, &err), TIDE_E_LINK_PROFILE);
  CU_ASSERT_PTR_NULL(l);
  /* the duty the message names is accepted */
  {
    const char *s = strstr(err.msg, "use duty >= ");
    CU_ASSERT_PTR_NOT_NULL_FATAL(s);
    CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&q, "duty", s + strlen("use duty >= "), &err), 0);
    CU_ASSERT_EQUAL(q.duty_ppm, min_ppm);
    CU_ASSERT_EQUAL(tide_link_profile_check(&q, &err), 0);
  }

  mp = model_for(&q, 0, 0, 0, 17);
  v = vlink_new(&q, &q, &mp, 17);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  xfer_init(&x, a, b, 17);
  rc = vlink_run(v, xfer_pump, xfer_done, &x, 200ull * q.duty_window_ms, &side);
  if (rc != 0)
    fprintf(stderr, "duty floor %s: rc %d (%s) side %d at %llu ms, got %zu/%zu of %zu/%zu\n",
            profile, rc, tide_link_strerror(rc), side, (unsigned long long)vlink_now(v), x.got[1],
            x.got[0], a, b);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_FALSE(x.corrupt);
  CU_ASSERT(memcmp(x.dst[1], x.src[0], a) == 0);
  CU_ASSERT(memcmp(x.dst[0], x.src[1], b) == 0);
  check_duty(v, 0, &q);
  check_duty(v, 1, &q);
  xfer_free(&x);
  vlink_free(v);
}

static void test_duty_floor(void)
{
  tide_link_profile p;
  tide_error err;

  duty_floor("lora-e22", NULL, 1000, 300);
  duty_floor("lora-e22", "60000", 2000, 500);
  duty_floor("lora-e32", "600000", 300, 100);
  duty_floor("rfd900", "60000", 2000, 2000);
  duty_floor("cable", "1000", 4000, 1000);
  /* the example of the message: lora-e22 at 0.009 % of an hour */
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, "lora-e22"), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "duty", "0.009", &err), 0);
  CU_ASSERT_EQUAL(tide_link_profile_check(&p, &err), TIDE_E_LINK_PROFILE);
  CU_ASSERT_STRING_EQUAL(err.msg,
                         "duty 0.009 % of a 3600 s window gives 324.0 ms of airtime per window, "
                         "less than one 240-byte frame plus the pause reserve (325.0 ms) at 9600 "
                         "baud: use duty >= 0.0091");
  /* not even a whole window holds one frame: only no limit works */
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "baud", "300", &err), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "packet", "4096", &err), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "duty-window", "60000", &err), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "duty", "99", &err), 0);
  CU_ASSERT(tide_link_duty_min_ppm(&p) > 1000000u);
  CU_ASSERT_EQUAL(tide_link_profile_check(&p, &err), TIDE_E_LINK_PROFILE);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "use duty=100 (no limit)"));
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "duty", "100", &err), 0);
  CU_ASSERT_EQUAL(tide_link_profile_check(&p, &err), 0);
}

static int both_ready(void *ctx)
{
  vlink *v = ctx;
  return tide_link_ready(vlink_link(v, 0)) && tide_link_ready(vlink_link(v, 1));
}

/* A restarted peer is noticed: the other side reports a reset and the new
 * link carries data again. */
static void test_peer_restart(void)
{
  tide_link_profile p;
  linkmodel_params mp;
  vlink *v;
  xfer x;
  int rc, side;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, "rfd900"), 0);
  mp = model_for(&p, 0, 0, 0, 2);
  v = vlink_new(&p, &p, &mp, 2);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  xfer_init(&x, 2000, 2000, 2);
  rc = vlink_run(v, xfer_pump, xfer_done, &x, 600000, &side);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  xfer_free(&x);
  CU_ASSERT_EQUAL(vlink_resets(v, 1), 0);
  CU_ASSERT_EQUAL_FATAL(vlink_restart(v, 0, 99), 0);
  /* The restarted side synchronises again; the other notices the reset
   * (its queued stream is void: the layer above starts over). */
  rc = vlink_run(v, NULL, both_ready, v, vlink_now(v) + 600000, &side);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  xfer_init(&x, 1000, 1000, 3);
  rc = vlink_run(v, xfer_pump, xfer_done, &x, vlink_now(v) + 600000, &side);
  if (rc != 0)
    fprintf(stderr, "restart: rc %d side %d\n", rc, side);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(vlink_resets(v, 1), 1);
  CU_ASSERT(memcmp(x.dst[1], x.src[0], 1000) == 0);
  xfer_free(&x);
  vlink_free(v);
}

/* Nobody answers: the initiator gives up after dead_ms with LINK_DEAD. */
static void test_dead_peer(void)
{
  tide_link_profile p;
  tide_link *l;
  tide_link_config cfg = {1, 1, 0, 0};
  uint8_t out[TIDE_LINK_MAX_WIRE_BYTES];
  size_t n, syns = 0;
  uint64_t t = 0;
  int rc = 0;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, "lora-e22"), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_new(&l, &p, &cfg, 0, NULL), 0);
  while (t < 10ull * p.dead_ms) {
    rc = tide_link_output(l, t, out, sizeof out, &n);
    if (rc != 0)
      break;
    if (n > 0)
      syns++;
    t = tide_link_next_wakeup(l, t);
    if (t == UINT64_MAX)
      break;
  }
  CU_ASSERT_EQUAL(rc, TIDE_E_LINK_DEAD);
  CU_ASSERT(t >= p.dead_ms);
  CU_ASSERT(syns >= 3); /* it retried, with backoff */
  CU_ASSERT(syns < 40);
  CU_ASSERT_STRING_EQUAL(tide_link_strerror(TIDE_E_LINK_DEAD), "no answer from the peer");
  tide_link_free(l);
}

/* A listener with nobody talking stays quiet and never dies. */
static void test_listener_quiet(void)
{
  tide_link_profile p;
  tide_link *l;
  tide_link_config cfg = {0, 1, 0, 0};
  uint8_t out[64];
  size_t n;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, "cable"), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_new(&l, &p, &cfg, 0, NULL), 0);
  CU_ASSERT_EQUAL(tide_link_output(l, 1000000, out, sizeof out, &n), 0);
  CU_ASSERT_EQUAL(n, 0);
  CU_ASSERT_EQUAL(tide_link_next_wakeup(l, 1000000), UINT64_MAX);
  tide_link_free(l);
}

/* ---- duty pause announcements (docs/radio.md section 6) ---- */

static void test_pause_frame(void)
{
  uint8_t b[64];
  uint8_t pause[] = {TIDE_LINK_EXT_PAUSE, 0x10, 0x27, 0x00, 0x00}; /* 10000 ms */
  uint8_t other[] = {0x7f, 0x10, 0x27, 0x00, 0x00};
  tide_link_frame f;
  tide_error err;
  size_t n;

  n = mk_body(b, TIDE_LINK_T_EXT | TIDE_LINK_F_TURN, pause, sizeof pause);
  CU_ASSERT_EQUAL(n, TIDE_LINK_PAUSE_BYTES + TIDE_LINK_CRC_BYTES);
  CU_ASSERT_EQUAL_FATAL(tide_link_frame_parse(&f, b, n, &err), 0);
  CU_ASSERT_EQUAL(f.type, TIDE_LINK_T_EXT);
  CU_ASSERT_EQUAL(f.kind, TIDE_LINK_EXT_PAUSE);
  CU_ASSERT_EQUAL(f.flags, TIDE_LINK_F_TURN);
  CU_ASSERT_EQUAL(f.pause_ms, 10000u);
  /* the CRC covers the announcement like any frame */
  for (size_t bit = 0; bit < n * 8; bit++) {
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, NULL), TIDE_E_LINK_FRAME);
    b[bit / 8] ^= (uint8_t)(1u << (bit % 8));
  }
  n = mk_body(b, TIDE_LINK_T_EXT, pause, sizeof pause - 1);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, &err), TIDE_E_LINK_FRAME);
  CU_ASSERT(strstr(err.msg, "PAUSE") != NULL);
  n = mk_body(b, TIDE_LINK_T_EXT, pause, 0);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, &err), TIDE_E_LINK_FRAME);
  n = mk_body(b, TIDE_LINK_T_EXT, other, sizeof other);
  CU_ASSERT_EQUAL(tide_link_frame_parse(&f, b, n, &err), TIDE_E_LINK_FRAME);
  CU_ASSERT(strstr(err.msg, "kind") != NULL);
}

/* A transfer in which one side's tiny duty budget runs out mid-transfer,
 * with a pause much longer than the dead time.  The pump records what the
 * other side retransmits while it knows the peer is paused. */
typedef struct pause_run {
  xfer x;
  int q;                 /* the side that waits for the paused one */
  int in_pause;          /* q knew of a pause at its last pump */
  uint64_t retx_prev;    /* q's retransmissions at its last pump */
  uint64_t pause_retx;   /* q's retransmissions while it knew of a pause */
  uint64_t max_pause;    /* longest pause q was told of */
  int lose_first;        /* drop the first announcement on the line */
  int lost;              /* it was dropped */
  uint64_t data_at_loss; /* the paused side's DATA frames then */
  int heard;             /* q heard of a pause after the loss */
  int heard_repeat;      /* ... from the repeat, within the same wait */
  vlink *v;
} pause_run;

static int pause_pump(void *ctx, int side, tide_link *l, uint64_t now_ms)
{
  pause_run *r = ctx;
  if (side == r->q) {
    tide_link_stats st;
    tide_link_get_stats(l, now_ms, &st);
    if (r->in_pause)
      r->pause_retx += st.retransmits - r->retx_prev;
    r->retx_prev = st.retransmits;
    r->in_pause = st.peer_pause_ms > 0;
    if (st.peer_pause_ms > r->max_pause)
      r->max_pause = st.peer_pause_ms;
    if (r->lost && !r->heard && st.peer_pauses > 0) {
      tide_link_stats ps;
      tide_link_get_stats(vlink_link(r->v, 1 - side), now_ms, &ps);
      r->heard = 1;
      r->heard_repeat = ps.pauses_sent == 2 && ps.tx_data_frames == r->data_at_loss;
    }
  }
  return xfer_pump(&r->x, side, l, now_ms);
}

static int pause_done(void *ctx)
{
  pause_run *r = ctx;
  tide_link_stats st;
  if (r->lose_first) {
    /* Stop once the first announcement is on the line (the run resumes
     * after the test has dropped it). */
    tide_link_get_stats(vlink_link(r->v, 1 - r->q), vlink_now(r->v), &st);
    if (st.pauses_sent > 0)
      return 1;
  }
  return xfer_done(&r->x);
}

/* Runs the transfer with side `paused` on a 1 % budget per 10 minutes
 * (6 s of airtime: spent after a few kB), the other on the profile's
 * default; both directions carry data, so the waiting side always has
 * frames in flight while the paused one is silent. */
static void pause_sync(const char *profile, int paused, size_t n, size_t nq, double loss,
                       int lose_first)
{
  tide_link_profile p[2];
  linkmodel_params mp;
  pause_run r;
  tide_link_stats st[2];
  int rc, side;

  memset(&r, 0, sizeof r);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p[0], profile), 0);
  if (strcmp(profile, "rfd900") == 0) /* full duplex on a 10 % band */
    CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p[0], "duty", "10", NULL), 0);
  p[1] = p[0];
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p[paused], "duty", "1", NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p[paused], "duty-window", "600000", NULL), 0);
  mp = model_for(&p[0], loss, 0, 0, 21);
  r.v = vlink_new(&p[0], &p[1], &mp, 21);
  CU_ASSERT_PTR_NOT_NULL_FATAL(r.v);
  r.q = 1 - paused;
  r.lose_first = lose_first;
  xfer_init(&r.x, paused == 0 ? n : nq, paused == 0 ? nq : n, 21);
  rc = vlink_run(r.v, pause_pump, pause_done, &r, 24ull * 3600 * 1000, &side);
  if (lose_first && rc == 0 && !xfer_done(&r.x)) {
    /* The announcement (ACK + PAUSE, or PAUSE alone) is still in the
     * modem or on the air: nothing gets through for the next 300 ms. */
    uint64_t t = vlink_now(r.v) * 1000u;
    tide_link_get_stats(vlink_link(r.v, paused), vlink_now(r.v), &st[0]);
    CU_ASSERT_EQUAL(st[0].pauses_sent, 1);
    r.data_at_loss = st[0].tx_data_frames;
    linkmodel_outage(vlink_model(r.v), t > 1000 ? t - 1000 : 0, t + 300000);
    r.lose_first = 0;
    r.lost = 1;
    rc = vlink_run(r.v, pause_pump, pause_done, &r, 24ull * 3600 * 1000, &side);
  }
  if (rc != 0)
    fprintf(stderr, "pause %s: rc %d (%s) side %d at %llu ms\n", profile, rc,
            tide_link_strerror(rc), side, (unsigned long long)vlink_now(r.v));
  CU_ASSERT_EQUAL(rc, 0); /* not TIDE_E_LINK_DEAD */
  CU_ASSERT_FALSE(r.x.corrupt);
  CU_ASSERT(memcmp(r.x.dst[1], r.x.src[0], r.x.len[0]) == 0);
  CU_ASSERT(memcmp(r.x.dst[0], r.x.src[1], r.x.len[1]) == 0);
  tide_link_get_stats(vlink_link(r.v, 0), vlink_now(r.v), &st[0]);
  tide_link_get_stats(vlink_link(r.v, 1), vlink_now(r.v), &st[1]);
  /* the paused side waited far longer than the dead time, and said so */
  CU_ASSERT(st[paused].duty_wait_ms > 2u * p[paused].dead_ms);
  CU_ASSERT(st[paused].pauses_sent > 0);
  CU_ASSERT(st[r.q].peer_pauses > 0);
  CU_ASSERT(r.max_pause > p[r.q].dead_ms);
  CU_ASSERT(r.max_pause <= p[paused].duty_window_ms + p[paused].duty_window_ms / 60);
  if (loss == 0 && !lose_first) {
    /* nothing was retransmitted into the pause */
    CU_ASSERT_EQUAL(r.pause_retx, 0);
    CU_ASSERT_EQUAL(st[r.q].retransmits, 0);
  } else {
    /* at most one window per announcement heard */
    CU_ASSERT(r.pause_retx <= (1u + TIDE_LINK_PAUSE_REPEATS) * p[r.q].window_max);
  }
  if (lose_first) {
    /* the peer first heard of the pause from the repeat, in the same wait */
    CU_ASSERT(r.lost);
    CU_ASSERT(r.heard_repeat);
    CU_ASSERT_EQUAL(st[r.q].peer_pauses + 1, st[paused].pauses_sent);
  }
  check_duty(r.v, paused, &p[paused]);
  check_duty(r.v, r.q, &p[r.q]);
  xfer_free(&r.x);
  vlink_free(r.v);
}

/* One side's duty budget runs out for minutes: the other is told, waits
 * without retransmitting, and the transfer completes (it used to end with
 * TIDE_E_LINK_DEAD after `dead` ms). */
static void test_pause_sync(void)
{
  pause_sync("lora-e22", 0, 30000, 30000, 0, 0);
  pause_sync("lora-e22", 1, 30000, 200000, 0, 0);
  pause_sync("lora-e32", 1, 8000, 40000, 0, 0);
  pause_sync("rfd900", 0, 100000, 500000, 0, 0); /* full duplex: the RTO timer waits */
}

/* The same on a lossy line: announcements and their ACKs can be lost. */
static void test_pause_lossy(void)
{
  pause_sync("lora-e22", 0, 30000, 60000, 0.05, 0);
}

/* The first announcement is lost: the peer, not knowing, hands the turn
 * back with its retransmissions, and the paused side repeats it. */
static void test_pause_lost(void)
{
  pause_sync("lora-e22", 0, 30000, 200000, 0, 1);
  pause_sync("rfd900", 1, 100000, 100000, 0, 1);
}

static void put_body(tide_link *l, uint64_t now, const uint8_t *body, size_t n)
{
  uint8_t b[64], w[80];
  size_t wl;
  memcpy(b, body, n);
  CU_ASSERT_EQUAL_FATAL(tide_link_frame_encode(w, sizeof w, &wl, b, n), 0);
  CU_ASSERT_EQUAL(tide_link_input(l, now, w, wl), 0);
}

/* A link synchronised with peer 0x22222222 by hand, holding the turn. */
static tide_link *hand_link(const char *profile, uint64_t now)
{
  tide_link_profile p;
  tide_link_config cfg = {0, 5, 0x11111111u, 0};
  tide_link *l = NULL;
  uint8_t syn[11] = {
      TIDE_LINK_T_SYN | TIDE_LINK_F_TURN, 0x22, 0x22, 0x22, 0x22, 0x11, 0x11, 0x11, 0x11, 32, 1};
  if (tide_link_profile_get(&p, profile) != 0 || tide_link_new(&l, &p, &cfg, now, NULL) != 0)
    return NULL;
  put_body(l, now, syn, sizeof syn);
  return l;
}

/* Runs l with nobody answering until it fails or `until`; counts the
 * frames it sent before `quiet_until` into *early and the retransmissions
 * among them into *early_retx. */
static int run_silent(tide_link *l, uint64_t *t, uint64_t until, uint64_t quiet_until,
                      unsigned *early, uint64_t *early_retx)
{
  uint8_t out[TIDE_LINK_MAX_WIRE_BYTES];
  tide_link_stats st;
  size_t n;
  int rc = 0;
  while (*t < until) {
    rc = tide_link_output(l, *t, out, sizeof out, &n);
    if (rc != 0)
      break;
    if (n > 0 && *t < quiet_until) {
      (*early)++;
      tide_link_get_stats(l, *t, &st);
      *early_retx = st.retransmits;
    }
    if (n > 0)
      continue;
    *t = tide_link_next_wakeup(l, *t);
    if (*t == UINT64_MAX)
      break;
  }
  return rc;
}

/* A corrupt or hostile pause value is capped at our duty window; the peer
 * is declared dead dead_ms after the (capped) pause, never later, and
 * nothing is retransmitted before the pause ends. */
static void test_pause_capped(void)
{
  tide_link_profile p;
  tide_link *l;
  tide_link_stats st;
  uint8_t huge[] = {
      TIDE_LINK_T_EXT | TIDE_LINK_F_TURN, TIDE_LINK_EXT_PAUSE, 0xff, 0xff, 0xff, 0xff};
  uint8_t small[] = {TIDE_LINK_T_EXT | TIDE_LINK_F_TURN, TIDE_LINK_EXT_PAUSE, 0x88, 0x13, 0, 0};
  uint8_t data[] = {TIDE_LINK_T_DATA | TIDE_LINK_F_TURN, 0, 0, 'x'};
  uint8_t msg[3000], out[TIDE_LINK_MAX_WIRE_BYTES];
  size_t acc, n;
  uint64_t t = 1000, t0, early_retx = 0;
  unsigned early = 0;
  int rc;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, "lora-e22"), 0);
  l = hand_link("lora-e22", t);
  CU_ASSERT_PTR_NOT_NULL_FATAL(l);
  CU_ASSERT_TRUE(tide_link_ready(l));
  /* a pause of 5 s is taken as is; DATA from the peer ends it */
  put_body(l, t, small, sizeof small);
  tide_link_get_stats(l, t, &st);
  CU_ASSERT_EQUAL(st.peer_pause_ms, 5000u);
  CU_ASSERT_EQUAL(st.peer_pauses, 1);
  tide_link_get_stats(l, t + 4000, &st);
  CU_ASSERT_EQUAL(st.peer_pause_ms, 1000u);
  put_body(l, t + 10, data, sizeof data);
  tide_link_get_stats(l, t + 10, &st);
  CU_ASSERT_EQUAL(st.peer_pause_ms, 0);

  /* our SYN answer goes out, then the peer hands back the turn with a
   * pause of 0xffffffff ms (49 days), capped at the duty window plus one
   * ledger bucket (1 h 1 min) */
  CU_ASSERT_EQUAL(tide_link_output(l, t, out, sizeof out, &n), 0);
  CU_ASSERT(n > 0);
  t += 500;
  memset(msg, 0x5a, sizeof msg);
  CU_ASSERT_EQUAL(tide_link_send(l, msg, sizeof msg, 1, &acc), 0);
  CU_ASSERT(acc > 0);
  put_body(l, t, huge, sizeof huge);
  t0 = t;
  tide_link_get_stats(l, t, &st);
  CU_ASSERT_EQUAL(st.peer_pause_ms, p.duty_window_ms + p.duty_window_ms / 60);
  rc = run_silent(l, &t, t0 + 3ull * p.duty_window_ms, t0 + st.peer_pause_ms, &early, &early_retx);
  CU_ASSERT_EQUAL(rc, TIDE_E_LINK_DEAD);
  /* its turn: one burst of new data (the peer's receiver works), then
   * silence until the pause ends; only then retransmissions */
  CU_ASSERT(early > 0);
  CU_ASSERT(early <= p.window_max);
  CU_ASSERT_EQUAL(early_retx, 0);
  tide_link_get_stats(l, t, &st);
  CU_ASSERT(st.tx_data_frames > 0);
  CU_ASSERT(st.retransmits > 0); /* after the pause it asked again */
  /* dead `dead` ms after the capped pause: not before, not later */
  CU_ASSERT(t >= t0 + p.duty_window_ms + p.duty_window_ms / 60 + p.dead_ms);
  CU_ASSERT(t <= t0 + p.duty_window_ms + p.duty_window_ms / 60 + p.dead_ms + p.rto_max_ms);
  tide_link_free(l);
}

/* The paused side: its announcement says how long it will be silent and
 * fits its budget; a peer that hands it the turn during the pause (it
 * missed the announcement) gets one repeat with the time left; after
 * that it stays silent until the pause ends. */
static void test_pause_announce(void)
{
  tide_link_profile p;
  tide_link *l;
  tide_link_config cfg = {0, 5, 0x11111111u, 0};
  tide_link_stats st;
  uint8_t syn[11] = {
      TIDE_LINK_T_SYN | TIDE_LINK_F_TURN, 0x22, 0x22, 0x22, 0x22, 0x11, 0x11, 0x11, 0x11, 32, 1};
  uint8_t out[TIDE_LINK_MAX_WIRE_BYTES], body[TIDE_LINK_MAX_BODY_BYTES];
  uint8_t msg[20000];
  uint8_t data[] = {TIDE_LINK_T_DATA | TIDE_LINK_F_TURN, 0, 0, 'y'};
  uint64_t t = 0, air_us = 0, budget_us, first_pause = 0, first_at = 0;
  unsigned pauses = 0, after = 0;
  tide_link_frame f;
  size_t n, bl, acc;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, "lora-e22"), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "duty", "1", NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_set(&p, "duty-window", "600000", NULL), 0);
  budget_us = (uint64_t)p.duty_ppm * p.duty_window_ms / 1000u;
  CU_ASSERT_EQUAL_FATAL(tide_link_new(&l, &p, &cfg, 0, NULL), 0);
  put_body(l, 0, syn, sizeof syn);
  memset(msg, 0x33, sizeof msg);
  CU_ASSERT_EQUAL(tide_link_send(l, msg, sizeof msg, 1, &acc), 0);
  /* The peer acknowledges everything and hands the turn straight back
   * each time, until the first announcement; it never hears that one. */
  while (t < 4ull * p.duty_window_ms && (pauses == 0 || t < first_at + first_pause)) {
    CU_ASSERT_EQUAL_FATAL(tide_link_output(l, t, out, sizeof out, &n), 0);
    if (n > 0) {
      air_us += tide_link_line_us(&p, n);
      CU_ASSERT_FATAL(tide_link_cobs_decode(body, sizeof body, &bl, out, n - 1) == 0);
      CU_ASSERT_FATAL(tide_link_frame_parse(&f, body, bl, NULL) == 0);
      if (f.type == TIDE_LINK_T_EXT) {
        pauses++;
        CU_ASSERT(f.flags & TIDE_LINK_F_TURN);
        if (pauses == 1) {
          first_pause = f.pause_ms;
          first_at = t;
          CU_ASSERT(air_us <= budget_us); /* the reserve paid for it */
        } else if (pauses == 2) {
          /* the repeat: the time left of the same pause */
          CU_ASSERT(f.pause_ms <= first_pause - (t - first_at));
          CU_ASSERT(f.pause_ms + 1000 >= first_pause - (t - first_at));
        }
      } else if (pauses >= 2 && t < first_at + first_pause) {
        after++; /* nothing after the repeat until the pause ends */
      }
      if (f.flags & TIDE_LINK_F_TURN) {
        uint8_t ack[2] = {TIDE_LINK_T_ACK | TIDE_LINK_F_TURN, 0};
        tide_link_get_stats(l, t, &st);
        ack[1] = (uint8_t)st.tx_data_frames; /* all DATA frames received */
        t += 300;
        if (pauses == 0)
          put_body(l, t, ack, sizeof ack);
        else if (pauses <= 2)
          put_body(l, t + 20000, data, sizeof data); /* missed it: its DATA + TURN */
      }
      continue;
    }
    t = tide_link_next_wakeup(l, t);
    if (t == UINT64_MAX)
      break;
  }
  CU_ASSERT(first_pause > 2u * p.dead_ms);
  CU_ASSERT(first_pause <= p.duty_window_ms + 1000);
  CU_ASSERT_EQUAL(after, 0);
  tide_link_get_stats(l, t, &st);
  CU_ASSERT_EQUAL(st.pauses_sent, 1u + TIDE_LINK_PAUSE_REPEATS);
  CU_ASSERT(st.duty_wait_ms > 0);
  tide_link_free(l);
}

/* ---- link establishment (docs/radio.md section 3) ---- */

/* Two links joined by hand, so that a test can drop one particular frame:
 * each frame a side writes leaves its line after the previous one and
 * arrives whole at the other side its airtime plus the latency later,
 * unless drop() says it is lost.  Each side sends len[side] stream bytes
 * (pushed) from time send_at[side] on. */
#define HP_MAX_FRAMES  512
#define HP_FRAME_BYTES 600

typedef struct hp_frame {
  int to;
  uint64_t at_ms;
  size_t len;
  uint8_t b[HP_FRAME_BYTES];
} hp_frame;

typedef struct hpair {
  tide_link_profile p;
  tide_link *l[2];
  uint64_t t;
  uint64_t busy_us[2]; /* when each side's line is free */
  hp_frame *q;         /* frames on the line, in sending order */
  size_t nq;
  /* drop rule: return 1 to lose the frame f sent by side `from` */
  int (*drop)(struct hpair *h, int from, const tide_link_frame *f);
  unsigned dropped;
  unsigned syns[2];    /* SYN frames sent by each side */
  unsigned syn_ok1[2]; /* ... with flag bit 0 ("I know that you know me") */
  /* stream: side i sends len[i] bytes of value i + 1 once t >= send_at[i] */
  size_t len[2], sent[2], got[2];
  uint64_t send_at[2];
  int bad_byte;
  int off[2]; /* the side was switched off: it neither hears nor sends */
} hpair;

static int hp_drop_third_syn(hpair *h, int from, const tide_link_frame *f)
{
  /* SYN(A, B, w, 1) from the caller: the third leg of the exchange. */
  return from == 0 && f->type == TIDE_LINK_T_SYN && (f->data[9] & 1u) && h->dropped == 0;
}

/* The caller's first SYN goes out, then the caller is switched off. */
static int hp_caller_vanishes(hpair *h, int from, const tide_link_frame *f)
{
  (void)f;
  if (from == 0)
    h->off[0] = 1;
  return 0;
}

static hpair *hp_new(const char *profile, int initiator1, uint64_t seed)
{
  hpair *h = calloc(1, sizeof *h);
  if (h == NULL)
    return NULL;
  h->q = calloc(HP_MAX_FRAMES, sizeof *h->q);
  for (int i = 0; i < 2; i++) {
    tide_link_config cfg = {i == 0 ? 1 : initiator1, seed + (uint64_t)i, 0x1000u + (uint32_t)i, 0};
    if (h->q == NULL || tide_link_profile_get(&h->p, profile) != 0 ||
        tide_link_new(&h->l[i], &h->p, &cfg, 0, NULL) != 0) {
      tide_link_free(h->l[0]);
      free(h->q);
      free(h);
      return NULL;
    }
  }
  return h;
}

static void hp_free(hpair *h)
{
  if (h == NULL)
    return;
  tide_link_free(h->l[0]);
  tide_link_free(h->l[1]);
  free(h->q);
  free(h);
}

/* One side's stream: deliver what arrived, queue what is due. */
static int hp_pump(hpair *h, int i)
{
  uint8_t b[1024];
  size_t n, acc;
  int rc;
  while ((n = tide_link_recv(h->l[i], b, sizeof b)) > 0) {
    for (size_t k = 0; k < n; k++)
      if (b[k] != (uint8_t)(2 - i))
        h->bad_byte = 1;
    h->got[i] += n;
  }
  if (h->t >= h->send_at[i] && h->sent[i] < h->len[i]) {
    memset(b, i + 1, sizeof b);
    n = h->len[i] - h->sent[i] < sizeof b ? h->len[i] - h->sent[i] : sizeof b;
    rc = tide_link_send(h->l[i], b, n, 1, &acc);
    if (rc != 0)
      return rc;
    h->sent[i] += acc;
  }
  return 0;
}

/* Runs until both sides received everything the other sent, a link error
 * (returned, *err_side says whose), `until` passes (TIDE_E_TIMEOUT), or
 * nothing can happen any more: no frame on the line and no timer on
 * either side (TIDE_E_AGAIN - a deadlock). */
static int hp_run(hpair *h, uint64_t until, int *err_side)
{
  while (h->t <= until) {
    uint64_t next = UINT64_MAX;
    size_t k = 0;
    int rc;
    /* deliver what arrived by now */
    while (k < h->nq) {
      if (h->q[k].at_ms <= h->t && h->off[h->q[k].to]) {
        memmove(&h->q[k], &h->q[k + 1], (h->nq - k - 1) * sizeof *h->q);
        h->nq--;
      } else if (h->q[k].at_ms <= h->t) {
        rc = tide_link_input(h->l[h->q[k].to], h->t, h->q[k].b, h->q[k].len);
        if (rc != 0 && rc != TIDE_E_LINK_PEER_RESET) {
          *err_side = h->q[k].to;
          return rc;
        }
        memmove(&h->q[k], &h->q[k + 1], (h->nq - k - 1) * sizeof *h->q);
        h->nq--;
      } else {
        k++;
      }
    }
    for (int i = 0; i < 2; i++) {
      rc = h->off[i] ? 0 : hp_pump(h, i);
      if (rc != 0) {
        *err_side = i;
        return rc;
      }
    }
    if (h->got[0] >= h->len[1] && h->got[1] >= h->len[0] && h->sent[0] >= h->len[0] &&
        h->sent[1] >= h->len[1] && tide_link_ready(h->l[0]) && tide_link_ready(h->l[1]))
      return 0;
    for (int i = 0; i < 2; i++) {
      while (!h->off[i]) {
        uint8_t out[TIDE_LINK_MAX_WIRE_BYTES], body[TIDE_LINK_MAX_BODY_BYTES];
        tide_link_frame f;
        size_t n, bl;
        uint64_t start;
        rc = tide_link_output(h->l[i], h->t, out, sizeof out, &n);
        if (rc != 0) {
          *err_side = i;
          return rc;
        }
        if (n == 0)
          break;
        CU_ASSERT_FATAL(n <= HP_FRAME_BYTES && h->nq < HP_MAX_FRAMES);
        CU_ASSERT_FATAL(tide_link_cobs_decode(body, sizeof body, &bl, out, n - 1) == 0);
        CU_ASSERT_FATAL(tide_link_frame_parse(&f, body, bl, NULL) == 0);
        if (f.type == TIDE_LINK_T_SYN) {
          h->syns[i]++;
          h->syn_ok1[i] += (f.data[9] & 1u) != 0;
        }
        start = h->busy_us[i] > h->t * 1000u ? h->busy_us[i] : h->t * 1000u;
        h->busy_us[i] = start + tide_link_line_us(&h->p, n);
        if (h->drop && h->drop(h, i, &f)) {
          h->dropped++;
          continue;
        }
        h->q[h->nq].to = 1 - i;
        h->q[h->nq].at_ms = (h->busy_us[i] + 999) / 1000u + h->p.latency_ms;
        h->q[h->nq].len = n;
        memcpy(h->q[h->nq].b, out, n);
        h->nq++;
      }
    }
    for (size_t j = 0; j < h->nq; j++)
      if (h->q[j].at_ms < next)
        next = h->q[j].at_ms;
    for (int i = 0; i < 2; i++) {
      uint64_t w = h->off[i] ? UINT64_MAX : tide_link_next_wakeup(h->l[i], h->t);
      if (w < next)
        next = w;
      if (h->t < h->send_at[i] && h->sent[i] < h->len[i] && h->send_at[i] < next)
        next = h->send_at[i];
    }
    if (next == UINT64_MAX)
      return TIDE_E_AGAIN;
    h->t = next > h->t ? next : h->t + 1;
  }
  return TIDE_E_TIMEOUT;
}

/* The third SYN of the exchange, SYN(A, B, w, 1), is lost, and the caller
 * has nothing to send.  The listener knows the caller but has no proof that
 * the caller knows it, so it may send nothing; on a full-duplex line
 * nothing else happened (no frame, no timer: hp_run found a deadlock and
 * the listener's data never left).  It now repeats its SYN after a
 * timeout, the caller answers it, and the listener's data flows.  On half
 * duplex the listener's turn timeout already repeated the SYN.  Both
 * sides calling (as `tide sync serial` does) was never affected: the
 * listener then retries as a caller. */
static void third_syn_lost(const char *profile, int initiator1, size_t len0)
{
  hpair *h = hp_new(profile, initiator1, 7);
  int side = -1, rc;
  CU_ASSERT_PTR_NOT_NULL_FATAL(h);
  h->drop = hp_drop_third_syn;
  h->len[0] = len0;
  h->len[1] = 1000;
  rc = hp_run(h, 3ull * h->p.dead_ms, &side);
  if (rc != 0)
    fprintf(stderr, "third SYN lost, %s, listener %s: rc %d side %d at %llu ms\n", profile,
            initiator1 ? "calls" : "listens", rc, side, (unsigned long long)h->t);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT_EQUAL(h->dropped, 1);
  CU_ASSERT_TRUE(tide_link_ready(h->l[0]));
  CU_ASSERT_TRUE(tide_link_ready(h->l[1]));
  CU_ASSERT_EQUAL(h->got[0], 1000);
  CU_ASSERT_EQUAL(h->got[1], len0);
  CU_ASSERT_FALSE(h->bad_byte);
  if (len0 == 0 && !initiator1) {
    /* nothing but the caller's answer to the repeated SYN told it */
    CU_ASSERT(h->syns[1] >= 2);
    CU_ASSERT(h->syn_ok1[0] >= 2);
  }
  hp_free(h);
}

static void test_third_syn_lost(void)
{
  const char *const *names = tide_link_profile_names();
  for (; *names; names++) {
    third_syn_lost(*names, 0, 0);
    third_syn_lost(*names, 0, 500);
    third_syn_lost(*names, 1, 0);
  }
}

/* The caller vanishes after its first SYN: the listener repeats its
 * answer, and gives up after `dead` like a caller (an unanswered SYN is
 * outstanding work), rather than retrying for ever. */
static void test_listener_caller_gone(void)
{
  const char *profiles[] = {"cable", "lora-e22"};
  for (size_t k = 0; k < 2; k++) {
    hpair *h = hp_new(profiles[k], 0, 3);
    int side = -1, rc;
    CU_ASSERT_PTR_NOT_NULL_FATAL(h);
    h->drop = hp_caller_vanishes;
    rc = hp_run(h, 10ull * h->p.dead_ms, &side);
    CU_ASSERT_EQUAL(rc, TIDE_E_LINK_DEAD);
    CU_ASSERT_EQUAL(side, 1);
    CU_ASSERT(h->t >= h->p.dead_ms);
    CU_ASSERT(h->t <= 2ull * h->p.dead_ms);
    CU_ASSERT_EQUAL(h->syns[0], 1);
    CU_ASSERT(h->syns[1] >= 3);
    CU_ASSERT_FALSE(tide_link_ready(h->l[1]));
    hp_free(h);
  }
}

static CU_TestInfo framing_tests[] = {
    {"crc32c", test_crc},
    {"cobs", test_cobs},
    {"frame parse", test_frame_parse},
    {"profiles", test_profiles},
    {"PAUSE frame", test_pause_frame},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo arq_tests[] = {
    {"clean link, every profile", test_clean_all_profiles},
    {"lora-e22 10% loss, BER 1e-5", test_lossy_e22},
    {"20% loss, dup, every profile", test_lossy_all},
    {"corrupted frames never delivered", test_corrupt_never_delivered},
    {"duplicates suppressed", test_duplicates},
    {"cable pull 30 s", test_cable_pull},
    {"duty cycle respected", test_duty_cycle},
    {"duty budget below one frame refused", test_duty_floor},
    {"peer restart", test_peer_restart},
    {"dead peer", test_dead_peer},
    {"quiet listener", test_listener_quiet},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo syn_tests[] = {
    {"third SYN lost, caller idle", test_third_syn_lost},
    {"caller gone after its SYN", test_listener_caller_gone},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo pause_tests[] = {
    {"duty pause longer than dead: sync completes", test_pause_sync},
    {"duty pause on a lossy line", test_pause_lossy},
    {"lost announcement repeated", test_pause_lost},
    {"hostile pause capped", test_pause_capped},
    {"announcement budgeted, one repeat", test_pause_announce},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("link framing", framing_tests),
    TIDE_SUITE("link arq", arq_tests),
    TIDE_SUITE("link establishment", syn_tests),
    TIDE_SUITE("link duty pause", pause_tests),
    CU_SUITE_INFO_NULL,
};
