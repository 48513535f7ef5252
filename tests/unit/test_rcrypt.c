/* test_rcrypt.c - optional encryption of radio sessions: the record layer
 * (round trip, third party, tampering), and whole sessions in virtual time
 * (lora-e22 with loss, no plaintext on the air, a bit flipped by an
 * attacker who recomputes the CRC, mismatched --encrypt settings). */
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
#include "tide/rcrypt.h"
#include "tide/rsession.h"
#include "tide/store.h"
#include "tide_test.h"
#include "vlink.h"

/* Every message carries this; it must never show on the air encrypted. */
#define SECRET "rendezvous-at-kilometre-marker"

/* Where needle first occurs in hay, or NULL. */
static const void *find_bytes(const void *hay, size_t n, const void *needle, size_t k)
{
  const uint8_t *h = hay;
  for (size_t i = 0; k <= n && i + k <= n; i++)
    if (memcmp(h + i, needle, k) == 0)
      return h + i;
  return NULL;
}

static void keys(tide_keypair *kp, uint8_t b)
{
  uint8_t seed[TIDE_SEED_BYTES];
  memset(seed, b, sizeof seed);
  CU_ASSERT_EQUAL_FATAL(tide_keys_from_seed(kp, seed), 0);
}

/* Runs the KEX between a and b (whole records). */
static void kex(tide_rcrypt *a, tide_rcrypt *b)
{
  size_t used;
  CU_ASSERT_EQUAL_FATAL(
      tide_rcrypt_kex_input(a, tide_rcrypt_kex(b), TIDE_RCRYPT_KEX_BYTES, &used, NULL), 0);
  CU_ASSERT_EQUAL(used, TIDE_RCRYPT_KEX_BYTES);
  CU_ASSERT_EQUAL_FATAL(
      tide_rcrypt_kex_input(b, tide_rcrypt_kex(a), TIDE_RCRYPT_KEX_BYTES, &used, NULL), 0);
  CU_ASSERT(tide_rcrypt_ready(a) && tide_rcrypt_ready(b));
}

static void test_records(void)
{
  tide_keypair ka, kb, kc;
  tide_rcrypt *a, *b, *c, *a2;
  tide_buf sealed = TIDE_BUF_INIT, plain = TIDE_BUF_INIT, other = TIDE_BUF_INIT;
  uint8_t msg[3000];
  tide_error err;
  size_t used;

  keys(&ka, 1);
  keys(&kb, 2);
  keys(&kc, 3);
  for (size_t i = 0; i < sizeof msg; i++)
    msg[i] = (uint8_t)("0123456789" SECRET)[i % (10 + sizeof SECRET - 1)];
  CU_ASSERT_EQUAL_FATAL(tide_rcrypt_new(&a, &ka, kb.pk), 0);
  CU_ASSERT_EQUAL_FATAL(tide_rcrypt_new(&b, &kb, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_rcrypt_new(&c, &kc, NULL), 0);
  CU_ASSERT(!tide_rcrypt_ready(a));
  CU_ASSERT_EQUAL(tide_rcrypt_seal(a, msg, 10, &sealed), TIDE_E_INVAL); /* no keys yet */
  kex(a, b);
  CU_ASSERT(memcmp(tide_rcrypt_peer(a), kb.pk, TIDE_PK_BYTES) == 0);
  CU_ASSERT(memcmp(tide_rcrypt_peer(b), ka.pk, TIDE_PK_BYTES) == 0);

  /* 3000 bytes: three records, overhead per record as documented */
  CU_ASSERT_EQUAL_FATAL(tide_rcrypt_seal(a, msg, sizeof msg, &sealed), 0);
  CU_ASSERT_EQUAL(sealed.len, sizeof msg + 3 * TIDE_RCRYPT_RECORD_OVERHEAD);
  CU_ASSERT(find_bytes(sealed.data, sealed.len, SECRET, strlen(SECRET)) == NULL);
  /* opened one byte at a time */
  for (size_t i = 0; i < sealed.len; i++)
    CU_ASSERT_EQUAL_FATAL(tide_rcrypt_open(b, (const uint8_t *)sealed.data + i, 1, &plain, NULL),
                          0);
  CU_ASSERT_EQUAL_FATAL(plain.len, sizeof msg);
  CU_ASSERT(memcmp(plain.data, msg, sizeof msg) == 0);

  /* A third party that saw a's KEX and ran its own exchange with a's
   * record cannot open a's records. */
  CU_ASSERT_EQUAL_FATAL(
      tide_rcrypt_kex_input(c, tide_rcrypt_kex(a), TIDE_RCRYPT_KEX_BYTES, &used, NULL), 0);
  tide_error_clear(&err);
  CU_ASSERT_EQUAL(tide_rcrypt_open(c, (const uint8_t *)sealed.data, sealed.len, &other, &err),
                  TIDE_E_RCRYPT_AUTH);
  CU_ASSERT(strstr(err.msg, "does not authenticate") != NULL);
  CU_ASSERT_EQUAL(other.len, 0);

  /* A flipped ciphertext bit ends the stream with a clear error. */
  tide_buf_reset(&sealed);
  tide_buf_reset(&plain);
  CU_ASSERT_EQUAL_FATAL(tide_rcrypt_seal(a, msg, 100, &sealed), 0);
  sealed.data[50] ^= 0x04;
  tide_error_clear(&err);
  CU_ASSERT_EQUAL(tide_rcrypt_open(b, (const uint8_t *)sealed.data, sealed.len, &plain, &err),
                  TIDE_E_RCRYPT_AUTH);
  CU_ASSERT(strstr(err.msg, "tampered") != NULL);
  CU_ASSERT_EQUAL(plain.len, 0);

  /* A KEX with a bad signature, from an unexpected key, or a plain zstd
   * stream instead of a KEX are refused. */
  CU_ASSERT_EQUAL_FATAL(tide_rcrypt_new(&a2, &ka, kb.pk), 0);
  {
    uint8_t k[TIDE_RCRYPT_KEX_BYTES];
    memcpy(k, tide_rcrypt_kex(b), sizeof k);
    k[40] ^= 1; /* the ephemeral key */
    CU_ASSERT_EQUAL(tide_rcrypt_kex_input(a2, k, sizeof k, &used, &err), TIDE_E_RCRYPT_AUTH);
    CU_ASSERT(strstr(err.msg, "signature") != NULL);
  }
  tide_rcrypt_free(a2);
  CU_ASSERT_EQUAL_FATAL(tide_rcrypt_new(&a2, &ka, kb.pk), 0);
  CU_ASSERT_EQUAL(tide_rcrypt_kex_input(a2, tide_rcrypt_kex(c), TIDE_RCRYPT_KEX_BYTES, &used, &err),
                  TIDE_E_RCRYPT_AUTH);
  CU_ASSERT(strstr(err.msg, "expected peer") != NULL);
  tide_rcrypt_free(a2);
  CU_ASSERT_EQUAL_FATAL(tide_rcrypt_new(&a2, &ka, NULL), 0);
  {
    const uint8_t z[6] = {0x28, 0xb5, 0x2f, 0xfd, 0x00, 0x58};
    CU_ASSERT_EQUAL(tide_rcrypt_kex_input(a2, z, sizeof z, &used, &err), TIDE_E_RCRYPT_MISMATCH);
    CU_ASSERT(strstr(err.msg, "peer does not") != NULL);
  }
  CU_ASSERT(tide_rcrypt_is_kex(tide_rcrypt_kex(a2), 4));
  tide_rcrypt_free(a2);

  tide_buf_free(&sealed);
  tide_buf_free(&plain);
  tide_buf_free(&other);
  tide_rcrypt_free(a);
  tide_rcrypt_free(b);
  tide_rcrypt_free(c);
}

/* ---- sessions ---- */

typedef struct home {
  tide_keypair kp;
  tide_store *st;
  tide_ebt *e;
  tide_rsession *s;
  int err;
  tide_error errd;
} home;

static void publish(home *h, int n)
{
  tide_feed_state st, *prev = NULL;
  for (int i = 0; i < n; i++) {
    tide_json_doc *doc = tide_json_doc_new();
    tide_json *c = tide_json_new_object(doc);
    char text[200];
    int len = snprintf(text, sizeof text, "day %d: meet at the " SECRET " %d", i, i * 7 + 3);
    tide_msg *m = NULL;
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
  memset(h, 0, sizeof *h);
  keys(&h->kp, seedbyte);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&h->st, TIDE_STORE_MEMORY, 0, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_ebt_new(&h->e), 0);
  publish(h, n);
}

static void home_free(home *h)
{
  tide_rsession_free(h->s);
  tide_ebt_free(h->e);
  tide_store_close(h->st);
  tide_keys_wipe(&h->kp);
}

static void declare(home *h, const home *o, int64_t mine, int64_t theirs)
{
  CU_ASSERT_EQUAL_FATAL(tide_ebt_set_feed(h->e, h->kp.pk, 1, mine, 0), 0);
  CU_ASSERT_EQUAL_FATAL(tide_ebt_set_feed(h->e, o->kp.pk, 1, theirs, 0), 0);
}

static void start(home *h, tide_link *l, const uint8_t *expect, int encrypt)
{
  tide_rsession_config cfg;
  size_t dlen;
  uint32_t did;
  memset(&cfg, 0, sizeof cfg);
  cfg.kp = &h->kp;
  cfg.expect_peer = expect;
  cfg.store = h->st;
  cfg.ebt = h->e;
  cfg.dict = tide_bundle_dict(&dlen, &did);
  cfg.dict_len = dlen;
  cfg.wall_ms = 1700000000000ull;
  cfg.encrypt = encrypt;
  CU_ASSERT_EQUAL_FATAL(tide_rsession_new(&h->s, l, &cfg, 0, NULL), 0);
}

static void same_feed(home *a, home *b, const uint8_t *pk, int n)
{
  for (int q = 1; q <= n; q++) {
    uint8_t ia[TIDE_HASH_BYTES], ib[TIDE_HASH_BYTES];
    CU_ASSERT_EQUAL_FATAL(tide_store_get_id(a->st, ia, pk, q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(tide_store_get_id(b->st, ib, pk, q, NULL), 0);
    CU_ASSERT(memcmp(ia, ib, TIDE_HASH_BYTES) == 0);
  }
}

typedef struct pair {
  home *h[2];
} pair;

static int pump(void *ctx, int side, tide_link *l, uint64_t now)
{
  pair *p = ctx;
  home *h = p->h[side];
  (void)l;
  if (h->s == NULL || h->err)
    return 0;
  h->err = tide_rsession_step(h->s, now, &h->errd);
  return h->err;
}

static int both_sync(void *ctx)
{
  pair *p = ctx;
  return tide_rsession_in_sync(p->h[0]->s) && tide_rsession_in_sync(p->h[1]->s);
}

/* Two homes x 150 messages over lora-e22 at 10 % loss, encrypted. */
static void test_converge_e22(void)
{
  home a, b;
  pair p = {{&a, &b}};
  tide_link_profile prof;
  linkmodel_params mp;
  tide_rsession_stats sa;
  vlink *v;
  int rc, side, n = 150;

  home_init(&a, 1, n);
  home_init(&b, 2, n);
  declare(&a, &b, n, 0);
  declare(&b, &a, n, 0);
  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&prof, "lora-e22"), 0);
  memset(&mp, 0, sizeof mp);
  mp.baud = prof.baud;
  mp.packet_bytes = prof.packet_bytes;
  mp.latency_us = prof.latency_ms * 1000ull;
  mp.loss = 0.10;
  mp.ber = 1e-5;
  mp.half_duplex = prof.half_duplex;
  mp.seed = 78;
  v = vlink_new(&prof, &prof, &mp, 78);
  CU_ASSERT_PTR_NOT_NULL_FATAL(v);
  start(&a, vlink_link(v, 0), b.kp.pk, 1);
  start(&b, vlink_link(v, 1), NULL, 1);
  rc = vlink_run(v, pump, both_sync, &p, 6ull * 3600 * 1000, &side);
  if (rc != 0)
    fprintf(stderr, "encrypted e22: rc %d side %d: %s / %s\n", rc, side, a.errd.msg, b.errd.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  same_feed(&a, &b, a.kp.pk, n);
  same_feed(&a, &b, b.kp.pk, n);
  CU_ASSERT(memcmp(tide_rsession_peer(b.s), a.kp.pk, TIDE_PK_BYTES) == 0);
  tide_rsession_get_stats(a.s, &sa);
  CU_ASSERT_EQUAL(sa.msgs_new, (uint64_t)n);
  CU_ASSERT_EQUAL(tide_rsession_close(a.s, vlink_now(v), NULL), 0);
  CU_ASSERT_EQUAL(tide_rsession_close(b.s, vlink_now(v), NULL), 0);
  vlink_free(v);
  home_free(&a);
  home_free(&b);
}

/* A direct full-duplex line in virtual time that records every byte on the
 * air and can play an attacker: it flips one bit in the payload of side
 * 0's `flip_nth` DATA frame (1-based, 0: never) and recomputes the CRC. */
typedef struct air {
  tide_buf bytes;
  unsigned flip_nth, data_frames;
  int flipped;
} air;

static void tamper(air *ar, uint8_t *frame, size_t *len)
{
  uint8_t body[TIDE_LINK_MAX_WIRE_BYTES];
  size_t n, off;
  tide_link_frame f;

  if (*len < 2 || tide_link_cobs_decode(body, sizeof body, &n, frame, *len - 1) != 0 ||
      tide_link_frame_parse(&f, body, n, NULL) != 0 || f.type != TIDE_LINK_T_DATA)
    return;
  if (++ar->data_frames != ar->flip_nth || f.len < 8)
    return;
  off = (size_t)(f.data - body) + f.len / 2;
  body[off] ^= 0x10;
  /* Re-framed with a CRC over the flipped body: only the AEAD can tell. */
  CU_ASSERT_EQUAL_FATAL(tide_link_frame_encode(frame, TIDE_LINK_MAX_WIRE_BYTES, len, body, n - 4),
                        0);
  ar->flipped = 1;
}

/* Runs a and b (encryption settings ea, eb) until both are in sync, both
 * failed, or 10 virtual minutes passed.  Returns 1 when in sync. */
static int run_direct(home *a, home *b, int ea, int eb, air *ar)
{
  tide_link_profile prof;
  tide_link *l[2] = {NULL, NULL};
  home *h[2] = {a, b};
  uint8_t buf[TIDE_LINK_MAX_WIRE_BYTES + 8];
  uint64_t now = 0;
  int synced = 0;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&prof, "cable"), 0);
  for (int i = 0; i < 2; i++) {
    tide_link_config lc;
    memset(&lc, 0, sizeof lc);
    lc.initiator = i == 0;
    lc.seed = 11u + (unsigned)i;
    CU_ASSERT_EQUAL_FATAL(tide_link_new(&l[i], &prof, &lc, 0, NULL), 0);
  }
  start(a, l[0], b->kp.pk, ea);
  start(b, l[1], a->kp.pk, eb);
  while (now < 600000) {
    int moved = 0;
    for (int i = 0; i < 2; i++)
      if (!h[i]->err)
        h[i]->err = tide_rsession_step(h[i]->s, now, &h[i]->errd);
    for (int i = 0; i < 2; i++) {
      size_t n;
      while (tide_link_output(l[i], now, buf, sizeof buf, &n) == 0 && n > 0) {
        if (i == 0 && ar->flip_nth)
          tamper(ar, buf, &n);
        CU_ASSERT_EQUAL_FATAL(tide_buf_append(&ar->bytes, buf, n), 0);
        CU_ASSERT_EQUAL_FATAL(tide_link_input(l[1 - i], now, buf, n), 0);
        moved = 1;
      }
    }
    if (tide_rsession_in_sync(a->s) && tide_rsession_in_sync(b->s)) {
      synced = 1;
      break;
    }
    if (a->err && b->err)
      break;
    if (!moved)
      now += 1;
  }
  tide_rsession_free(a->s);
  tide_rsession_free(b->s);
  a->s = b->s = NULL;
  tide_link_free(l[0]);
  tide_link_free(l[1]);
  return synced;
}

/* Encrypted: nothing of the content, not even the zstd stream, is on the
 * air.  Plain (the control): the zstd stream is there for anyone. */
static void test_no_plaintext_on_air(void)
{
  static const uint8_t zstd_frame[4] = {0x28, 0xb5, 0x2f, 0xfd};
  for (int enc = 0; enc < 2; enc++) {
    home a, b;
    air ar;
    memset(&ar, 0, sizeof ar);
    home_init(&a, 1, 40);
    home_init(&b, 2, 40);
    declare(&a, &b, 40, 0);
    declare(&b, &a, 40, 0);
    CU_ASSERT_EQUAL(run_direct(&a, &b, enc, enc, &ar), 1);
    same_feed(&a, &b, a.kp.pk, 40);
    same_feed(&a, &b, b.kp.pk, 40);
    CU_ASSERT(ar.bytes.len > 40 * 100);
    if (enc) {
      CU_ASSERT(find_bytes(ar.bytes.data, ar.bytes.len, SECRET, strlen(SECRET)) == NULL);
      CU_ASSERT(find_bytes(ar.bytes.data, ar.bytes.len, "meet at", 7) == NULL);
      CU_ASSERT(find_bytes(ar.bytes.data, ar.bytes.len, zstd_frame, 4) == NULL);
    } else {
      CU_ASSERT(find_bytes(ar.bytes.data, ar.bytes.len, zstd_frame, 4) != NULL);
    }
    tide_buf_free(&ar.bytes);
    home_free(&a);
    home_free(&b);
  }
}

/* An attacker flips a ciphertext bit and fixes the CRC: the link delivers
 * it, the record layer refuses it and the session ends with a clear error. */
static void test_flipped_bit(void)
{
  home a, b;
  air ar;
  memset(&ar, 0, sizeof ar);
  ar.flip_nth = 6; /* after the KEX and the HELLO */
  home_init(&a, 1, 60);
  home_init(&b, 2, 60);
  declare(&a, &b, 60, 0);
  declare(&b, &a, 60, 0);
  CU_ASSERT_EQUAL(run_direct(&a, &b, 1, 1, &ar), 0);
  CU_ASSERT(ar.flipped);
  CU_ASSERT_EQUAL(b.err, TIDE_E_RCRYPT_AUTH);
  CU_ASSERT(strstr(b.errd.msg, "tampered") != NULL);
  /* b stored nothing past the damage: what it holds of a's feed is a
   * valid prefix */
  CU_ASSERT_EQUAL(tide_store_check(b.st, NULL), 0);
  tide_buf_free(&ar.bytes);
  home_free(&a);
  home_free(&b);
}

/* One side runs --encrypt, the other does not: both stop with a clear
 * error, and no message crosses in plaintext. */
static void test_mismatch(void)
{
  for (int enc_a = 0; enc_a < 2; enc_a++) {
    home a, b, *enc, *plain;
    air ar;
    tide_feed_state st;
    memset(&ar, 0, sizeof ar);
    home_init(&a, 1, 5);
    home_init(&b, 2, 5);
    declare(&a, &b, 5, 0);
    declare(&b, &a, 5, 0);
    CU_ASSERT_EQUAL(run_direct(&a, &b, enc_a, !enc_a, &ar), 0);
    enc = enc_a ? &a : &b;
    plain = enc_a ? &b : &a;
    CU_ASSERT_EQUAL(enc->err, TIDE_E_RCRYPT_MISMATCH);
    CU_ASSERT(strstr(enc->errd.msg, "we encrypt (--encrypt) but the peer does not") != NULL);
    CU_ASSERT_EQUAL(plain->err, TIDE_E_RCRYPT_MISMATCH);
    CU_ASSERT(strstr(plain->errd.msg, "the peer encrypts (--encrypt) but we do not") != NULL);
    CU_ASSERT_EQUAL(tide_store_latest(a.st, &st, NULL, b.kp.pk, NULL), TIDE_E_NOTFOUND);
    CU_ASSERT_EQUAL(tide_store_latest(b.st, &st, NULL, a.kp.pk, NULL), TIDE_E_NOTFOUND);
    tide_buf_free(&ar.bytes);
    home_free(&a);
    home_free(&b);
  }
}

static CU_TestInfo rcrypt_tests[] = {
    {"records: round trip, third party, flipped bit, bad KEX", test_records},
    {"encrypted sync, lora-e22 10% loss BER 1e-5", test_converge_e22},
    {"no plaintext on the air when encrypted", test_no_plaintext_on_air},
    {"flipped ciphertext bit with a fixed CRC ends the session", test_flipped_bit},
    {"mismatched --encrypt: clear error on both sides", test_mismatch},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("radio encryption", rcrypt_tests),
    CU_SUITE_INFO_NULL,
};
