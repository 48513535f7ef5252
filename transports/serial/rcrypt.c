/* rcrypt.c - optional encryption of radio streams; see tide/rcrypt.h. */
#include "tide/rcrypt.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t kex_magic[4] = {'T', 'X', 'K', 0x01};
static const uint8_t zstd_magic[4] = {0x28, 0xb5, 0x2f, 0xfd};
static const char kex_context[] = "tide-rcrypt-kex-v1";

#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES   crypto_aead_xchacha20poly1305_ietf_ABYTES
#define KEY_BYTES   crypto_aead_xchacha20poly1305_ietf_KEYBYTES

struct tide_rcrypt {
  const tide_keypair *kp;
  int has_expect, ready;
  uint8_t expect[TIDE_PK_BYTES];
  uint8_t eph_pk[crypto_kx_PUBLICKEYBYTES], eph_sk[crypto_kx_SECRETKEYBYTES];
  uint8_t kex[TIDE_RCRYPT_KEX_BYTES];      /* ours */
  uint8_t peer_kex[TIDE_RCRYPT_KEX_BYTES]; /* theirs, as it arrives */
  size_t peer_kex_len;
  uint8_t tx_key[KEY_BYTES], rx_key[KEY_BYTES];
  uint64_t tx_ctr, rx_ctr;
  uint8_t rec[2 + TIDE_RCRYPT_RECORD_MAX + TAG_BYTES]; /* partial incoming record */
  size_t rec_len;
};

static void kex_signed_part(uint8_t *m, const uint8_t *id, const uint8_t *eph)
{
  memcpy(m, kex_context, sizeof kex_context - 1);
  memcpy(m + sizeof kex_context - 1, id, 32);
  memcpy(m + sizeof kex_context - 1 + 32, eph, 32);
}

int tide_rcrypt_new(tide_rcrypt **out, const tide_keypair *kp, const uint8_t *expect_peer)
{
  uint8_t m[sizeof kex_context - 1 + 64];
  tide_rcrypt *c;

  *out = NULL;
  if (kp == NULL)
    return TIDE_E_INVAL;
  c = calloc(1, sizeof *c);
  if (c == NULL)
    return TIDE_E_NOMEM;
  c->kp = kp;
  if (expect_peer) {
    c->has_expect = 1;
    memcpy(c->expect, expect_peer, TIDE_PK_BYTES);
  }
  crypto_kx_keypair(c->eph_pk, c->eph_sk);
  memcpy(c->kex, kex_magic, 4);
  memcpy(c->kex + 4, kp->pk, 32);
  memcpy(c->kex + 36, c->eph_pk, 32);
  kex_signed_part(m, kp->pk, c->eph_pk);
  crypto_sign_ed25519_detached(c->kex + 68, NULL, m, sizeof m, kp->sk);
  *out = c;
  return 0;
}

void tide_rcrypt_free(tide_rcrypt *c)
{
  if (c == NULL)
    return;
  sodium_memzero(c, sizeof *c);
  free(c);
}

const uint8_t *tide_rcrypt_kex(const tide_rcrypt *c)
{
  return c->kex;
}

int tide_rcrypt_ready(const tide_rcrypt *c)
{
  return c->ready;
}

const uint8_t *tide_rcrypt_peer(const tide_rcrypt *c)
{
  return c->peer_kex + 4;
}

int tide_rcrypt_is_kex(const uint8_t *head, size_t len)
{
  return len >= 4 && memcmp(head, kex_magic, 4) == 0;
}

/* Verifies the peer's whole KEX record and derives both keys. */
static int derive(tide_rcrypt *c, tide_error *err)
{
  const uint8_t *id = c->peer_kex + 4, *eph = c->peer_kex + 36, *sig = c->peer_kex + 68;
  uint8_t m[sizeof kex_context - 1 + 64];
  uint8_t my_x[crypto_scalarmult_BYTES], peer_x[crypto_scalarmult_BYTES];
  uint8_t ss[crypto_scalarmult_BYTES], krx[crypto_kx_SESSIONKEYBYTES],
      ktx[crypto_kx_SESSIONKEYBYTES];
  int client, rc = 0;
  crypto_generichash_state h;

  kex_signed_part(m, id, eph);
  if (crypto_sign_ed25519_verify_detached(sig, m, sizeof m, id) != 0)
    return tide_error_set(err, TIDE_E_RCRYPT_AUTH, 0,
                          "encryption: the peer's key exchange signature does not verify");
  if (c->has_expect && memcmp(id, c->expect, TIDE_PK_BYTES) != 0)
    return tide_error_set(err, TIDE_E_RCRYPT_AUTH, 0,
                          "encryption: key exchange from another node than the expected peer");
  if (memcmp(id, c->kp->pk, TIDE_PK_BYTES) == 0 || memcmp(eph, c->eph_pk, 32) == 0)
    return tide_error_set(err, TIDE_E_RCRYPT_AUTH, 0,
                          "encryption: key exchange carries our own key (a loop or a replay)");
  client = memcmp(c->eph_pk, eph, 32) < 0;
  if ((client ? crypto_kx_client_session_keys(krx, ktx, c->eph_pk, c->eph_sk, eph)
              : crypto_kx_server_session_keys(krx, ktx, c->eph_pk, c->eph_sk, eph)) != 0 ||
      crypto_sign_ed25519_sk_to_curve25519(my_x, c->kp->sk) != 0 ||
      crypto_sign_ed25519_pk_to_curve25519(peer_x, id) != 0 ||
      crypto_scalarmult(ss, my_x, peer_x) != 0) {
    rc = tide_error_set(err, TIDE_E_RCRYPT_AUTH, 0, "encryption: the peer's keys are unusable");
    goto out;
  }
  for (int dir = 0; dir < 2; dir++) {
    crypto_generichash_init(&h, dir ? krx : ktx, sizeof ktx, KEY_BYTES);
    crypto_generichash_update(&h, ss, sizeof ss);
    crypto_generichash_update(&h, client ? c->kex : c->peer_kex, TIDE_RCRYPT_KEX_BYTES);
    crypto_generichash_update(&h, client ? c->peer_kex : c->kex, TIDE_RCRYPT_KEX_BYTES);
    crypto_generichash_final(&h, dir ? c->rx_key : c->tx_key, KEY_BYTES);
  }
  c->ready = 1;
out:
  sodium_memzero(my_x, sizeof my_x);
  sodium_memzero(ss, sizeof ss);
  sodium_memzero(krx, sizeof krx);
  sodium_memzero(ktx, sizeof ktx);
  sodium_memzero(c->eph_sk, sizeof c->eph_sk);
  return rc;
}

int tide_rcrypt_kex_input(tide_rcrypt *c, const uint8_t *data, size_t len, size_t *used,
                          tide_error *err)
{
  size_t take = TIDE_RCRYPT_KEX_BYTES - c->peer_kex_len;

  *used = 0;
  if (c->ready)
    return 0;
  if (take > len)
    take = len;
  memcpy(c->peer_kex + c->peer_kex_len, data, take);
  c->peer_kex_len += take;
  *used = take;
  if (c->peer_kex_len >= 4 && memcmp(c->peer_kex, kex_magic, 4) != 0) {
    if (memcmp(c->peer_kex, zstd_magic, 4) == 0)
      return tide_error_set(err, TIDE_E_RCRYPT_MISMATCH, 0,
                            "encryption: we encrypt (--encrypt) but the peer does not; both "
                            "ends need the same setting");
    return tide_error_set(err, TIDE_E_RCRYPT_MISMATCH, 0,
                          "encryption: the peer's stream does not start with a key exchange "
                          "(another version, or the peer does not encrypt)");
  }
  if (c->peer_kex_len < TIDE_RCRYPT_KEX_BYTES)
    return 0;
  return derive(c, err);
}

static void nonce_of(uint8_t n[NONCE_BYTES], uint64_t ctr)
{
  memset(n, 0, NONCE_BYTES);
  for (int i = 0; i < 8; i++)
    n[i] = (uint8_t)(ctr >> (8 * i));
}

int tide_rcrypt_seal(tide_rcrypt *c, const uint8_t *in, size_t len, tide_buf *out)
{
  if (!c->ready)
    return TIDE_E_INVAL;
  while (len > 0) {
    size_t n = len < TIDE_RCRYPT_RECORD_MAX ? len : TIDE_RCRYPT_RECORD_MAX;
    uint8_t nonce[NONCE_BYTES], *p;
    int rc = tide_buf_reserve(out, n + TIDE_RCRYPT_RECORD_OVERHEAD);
    if (rc != 0)
      return rc;
    p = (uint8_t *)out->data + out->len;
    p[0] = (uint8_t)n;
    p[1] = (uint8_t)(n >> 8);
    nonce_of(nonce, c->tx_ctr++);
    crypto_aead_xchacha20poly1305_ietf_encrypt(p + 2, NULL, in, n, p, 2, NULL, nonce, c->tx_key);
    out->len += n + TIDE_RCRYPT_RECORD_OVERHEAD;
    in += n;
    len -= n;
  }
  return 0;
}

int tide_rcrypt_open(tide_rcrypt *c, const uint8_t *in, size_t len, tide_buf *out, tide_error *err)
{
  if (!c->ready)
    return tide_error_set(err, TIDE_E_INVAL, 0, "encryption: no keys yet");
  while (len > 0) {
    size_t want = 2, n = 0, take;
    if (c->rec_len >= 2) {
      n = (size_t)c->rec[0] | (size_t)c->rec[1] << 8;
      if (n == 0 || n > TIDE_RCRYPT_RECORD_MAX)
        return tide_error_set(err, TIDE_E_RCRYPT_AUTH, 0,
                              "encryption: record %llu has a bad length (%zu): tampered stream",
                              (unsigned long long)c->rx_ctr, n);
      want = 2 + n + TAG_BYTES;
    }
    take = want - c->rec_len;
    if (take > len)
      take = len;
    memcpy(c->rec + c->rec_len, in, take);
    c->rec_len += take;
    in += take;
    len -= take;
    if (c->rec_len == want && want > 2) {
      uint8_t nonce[NONCE_BYTES];
      int rc = tide_buf_reserve(out, n);
      if (rc != 0)
        return rc;
      nonce_of(nonce, c->rx_ctr);
      if (crypto_aead_xchacha20poly1305_ietf_decrypt((uint8_t *)out->data + out->len, NULL, NULL,
                                                     c->rec + 2, n + TAG_BYTES, c->rec, 2, nonce,
                                                     c->rx_key) != 0)
        return tide_error_set(err, TIDE_E_RCRYPT_AUTH, 0,
                              "encryption: record %llu does not authenticate (tampered, or "
                              "sealed with another key)",
                              (unsigned long long)c->rx_ctr);
      out->len += n;
      c->rx_ctr++;
      c->rec_len = 0;
    }
  }
  return 0;
}
