/* fuzz_rsession.c - the radio session's receive path: the zstd stream
 * (tide_radio_rx) and the handling of decoded frames (HELLO checks, notes,
 * ACKs, messages into a store).
 *
 * Input: [mode][rest].  mode bit 0 set: rest is raw stream bytes (what
 * the link would deliver, i.e. compressed); clear: rest is plain frame
 * bytes, compressed here with the same zstd settings as a real sender,
 * so the fuzzer reaches the frame handlers.  mode bit 1 set: the session
 * runs with legacy_hello (accepts a HELLO without the proof offer);
 * clear: it offers the proof of freshness and requires a PROOF.  The
 * bytes reach the session as in-order DATA frames of a synchronised
 * link.  The session is the node of seed 32 x 0x01
 * and its HELLO nonce is fixed (16 bytes FUZZ_NONCE_BYTE), so a seed
 * file can carry a valid PROOF: one by the key of seed 0x02 over that
 * nonce (the corpus files hello_proof_*; docs/frames.md, "PROOF").
 * Invariants: no crash, no sanitizer report, and the store stays
 * consistent (tide_store_check). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "tide/ebt.h"
#include "tide/frame.h"
#include "tide/keys.h"
#include "tide/link.h"
#include "tide/rsession.h"
#include "tide/store.h"

/* Our HELLO nonce: fixed so that seeds can prove freshness to us. */
#define FUZZ_NONCE_BYTE 0x5a

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ignore(int rc)
{
  (void)rc;
}

static void put_frame(tide_link *l, const uint8_t *body, size_t n)
{
  uint8_t b[TIDE_LINK_MAX_BODY_BYTES + 8], w[TIDE_LINK_MAX_WIRE_BYTES];
  size_t wl;
  memcpy(b, body, n);
  if (tide_link_frame_encode(w, sizeof w, &wl, b, n) != 0)
    abort();
  ignore(tide_link_input(l, 0, w, wl));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int inited;
  tide_link_profile p;
  tide_link_config cfg = {0, 3, 0x11111111u, 0};
  tide_link *l = NULL;
  tide_store *st = NULL;
  tide_ebt *e = NULL;
  tide_rsession *s = NULL;
  tide_rsession_config rc;
  tide_keypair kp, other;
  uint8_t seed[TIDE_SEED_BYTES], nonce[TIDE_FRAME_NONCE_BYTES];
  uint8_t *z = NULL;
  const uint8_t *stream;
  size_t slen;
  tide_error err;

  if (!inited) {
    if (tide_init() != 0)
      abort();
    inited = 1;
  }
  if (size < 1)
    return 0;
  memset(seed, 1, sizeof seed);
  if (tide_keys_from_seed(&kp, seed) != 0)
    abort();
  memset(seed, 2, sizeof seed);
  if (tide_keys_from_seed(&other, seed) != 0)
    abort();
  if (data[0] & 1) {
    stream = data + 1;
    slen = size - 1;
  } else {
    /* Compress the plain frames the way a sender does. */
    ZSTD_CCtx *c = ZSTD_createCCtx();
    size_t cap = ZSTD_compressBound(size) + 64, r;
    z = malloc(cap);
    if (c == NULL || z == NULL)
      abort();
    ignore((int)ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 0)));
    ignore((int)ZSTD_isError(ZSTD_CCtx_setParameter(c, ZSTD_c_dictIDFlag, 0)));
    r = ZSTD_compress2(c, z, cap, data + 1, size - 1);
    ZSTD_freeCCtx(c);
    if (ZSTD_isError(r)) {
      free(z);
      return 0;
    }
    stream = z;
    slen = r;
  }
  if (tide_link_profile_get(&p, "cable") != 0 || tide_link_new(&l, &p, &cfg, 0, NULL) != 0 ||
      tide_store_open(&st, TIDE_STORE_MEMORY, 0, NULL) != 0 || tide_ebt_new(&e) != 0 ||
      tide_ebt_set_feed(e, kp.pk, 1, 0, 0) != 0 || tide_ebt_set_feed(e, other.pk, 1, 0, 0) != 0)
    goto out;
  {
    uint8_t syn[11] = {
        TIDE_LINK_T_SYN | TIDE_LINK_F_TURN, 0x22, 0x22, 0x22, 0x22, 0x11, 0x11, 0x11, 0x11, 64, 1};
    put_frame(l, syn, sizeof syn);
  }
  memset(&rc, 0, sizeof rc);
  rc.kp = &kp;
  rc.store = st;
  rc.ebt = e;
  rc.legacy_hello = (data[0] & 2) != 0;
  memset(nonce, FUZZ_NONCE_BYTE, sizeof nonce);
  rc.nonce = nonce;
  if (tide_rsession_new(&s, l, &rc, 0, &err) != 0)
    goto out;
  /* The stream as in-order DATA frames of up to 200 bytes. */
  for (size_t off = 0, seq = 0; off < slen && seq < 100; seq++) {
    uint8_t body[3 + 200];
    size_t n = slen - off < 200 ? slen - off : 200;
    body[0] = TIDE_LINK_T_DATA;
    body[1] = (uint8_t)seq;
    body[2] = 0;
    memcpy(body + 3, stream + off, n);
    put_frame(l, body, 3 + n);
    off += n;
    if (tide_rsession_step(s, seq, &err) != 0)
      break;
  }
  if (tide_store_check(st, NULL) != 0)
    abort();
out:
  tide_rsession_free(s);
  tide_ebt_free(e);
  tide_store_close(st);
  tide_link_free(l);
  free(z);
  tide_keys_wipe(&kp);
  tide_keys_wipe(&other);
  return 0;
}
