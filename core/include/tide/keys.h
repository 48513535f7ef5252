/* tide/keys.h - ed25519 identities and SSB ids.
 *
 * A feed id is "@" + canonical base64(32-byte public key) + ".ed25519";
 * a message id is "%" + canonical base64(32-byte sha256) + ".sha256".
 * Canonical base64: standard alphabet, '=' padding, unused bits zero.
 *
 * The secret file has the layout of SSB's ~/.ssb/secret: a JSON object
 * {"curve":"ed25519","public":"<b64>.ed25519","private":"<b64 of the 64-byte
 * secret key>.ed25519","id":"@<b64>.ed25519"}, possibly preceded and
 * followed by lines starting with '#'.  Reading and writing the file itself
 * is the caller's job (core does no I/O).
 *
 * Secrets: tide_keypair holds the secret key; wipe it with
 * tide_keys_wipe().  All functions are thread-safe. */
#ifndef TIDE_KEYS_H
#define TIDE_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "tide/buf.h"
#include "tide/common.h"

#define TIDE_PK_BYTES       32
#define TIDE_SK_BYTES       64
#define TIDE_SEED_BYTES     32
#define TIDE_SIG_BYTES      64
#define TIDE_HASH_BYTES     32
#define TIDE_HMAC_KEY_BYTES 32
/* "@" + 44 base64 + ".ed25519" */
#define TIDE_FEED_ID_LEN 53
/* "%" + 44 base64 + ".sha256" */
#define TIDE_MSG_ID_LEN 52

typedef struct tide_keypair {
  uint8_t pk[TIDE_PK_BYTES];
  uint8_t sk[TIDE_SK_BYTES]; /* libsodium layout: seed || pk */
} tide_keypair;

/* Makes a new random key pair.  Always succeeds once tide_init() ran. */
int tide_keys_generate(tide_keypair *kp);

/* Derives the key pair of a 32-byte seed (crypto_sign_seed_keypair). */
int tide_keys_from_seed(tide_keypair *kp, const uint8_t seed[TIDE_SEED_BYTES]);

/* Overwrites the secret key (sodium_memzero). */
void tide_keys_wipe(tide_keypair *kp);

/* Writes "@<b64>.ed25519" and a NUL into out. */
void tide_feed_id_format(char out[TIDE_FEED_ID_LEN + 1], const uint8_t pk[TIDE_PK_BYTES]);

/* Parses a feed id (exact length, canonical base64, ".ed25519").
 * TIDE_E_KEY_FORMAT for malformed text, TIDE_E_KEY_CURVE for another
 * suffix. */
TIDE_WUR int tide_feed_id_parse(uint8_t pk[TIDE_PK_BYTES], const char *s, size_t len);

/* Writes "%<b64>.sha256" and a NUL into out. */
void tide_msg_id_format(char out[TIDE_MSG_ID_LEN + 1], const uint8_t hash[TIDE_HASH_BYTES]);

/* Parses a message id.  TIDE_E_KEY_FORMAT. */
TIDE_WUR int tide_msg_id_parse(uint8_t hash[TIDE_HASH_BYTES], const char *s, size_t len);

/* Decodes canonical standard base64 (padding required, zero unused bits)
 * of exactly want bytes.  TIDE_E_KEY_FORMAT otherwise (out may then hold
 * partial output). */
TIDE_WUR int tide_b64_decode_exact(uint8_t *out, size_t want, const char *s, size_t len);

/* Appends standard padded base64 of bin to out.  TIDE_E_NOMEM. */
TIDE_WUR int tide_b64_encode(tide_buf *out, const uint8_t *bin, size_t len);

/* Appends the secret-file text for kp (with a '#' comment header that
 * warns not to share it).  TIDE_E_NOMEM. */
TIDE_WUR int tide_keys_secret_format(tide_buf *out, const tide_keypair *kp);

/* Parses secret-file text as ssb-keys loadSync() does ('#' to the end of
 * a line is ignored, lines are joined) and takes the curve and keys as its
 * sign() does: the curve is "curve" when truthy, else the suffix of
 * "public"; it must be ed25519 (else TIDE_E_KEY_CURVE).  "public" and
 * "private" are an optional sigil, canonical base64, and an optional
 * ".suffix".  Checks that the private key's seed re-derives the whole
 * secret key and "public", and that "id" (when present with its '@'
 * sigil; ssb-keys derives it otherwise) names the same key.
 * TIDE_E_KEY_FORMAT / TIDE_E_KEY_CURVE with a message in err,
 * TIDE_E_NOMEM. */
TIDE_WUR int tide_keys_secret_parse(tide_keypair *kp, const char *text, size_t len,
                                    tide_error *err);

#endif
