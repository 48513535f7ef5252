/* tide/rcrypt.h - optional encryption of a radio session's streams.
 *
 * Off by default: amateur radio rules forbid encryption (signatures are
 * allowed); use it only on licensed bands that permit it.  Both ends must
 * enable it (tide sync serial --encrypt); a mismatch ends the session on
 * both sides with TIDE_E_RCRYPT_MISMATCH.
 *
 * Key exchange: before any stream byte, each side sends one KEX record
 * (TIDE_RCRYPT_KEX_BYTES):
 *
 *   magic "TXK\x01" || identity pk (32) || ephemeral X25519 pk (32)
 *   || ed25519 signature (64) of "tide-rcrypt-kex-v1" || identity pk
 *   || ephemeral pk
 *
 * The side whose ephemeral key sorts lower is the crypto_kx client.  Each
 * direction's key is BLAKE2b-256 keyed with that direction's crypto_kx
 * session key over X25519(our identity, peer identity) (both ed25519 keys
 * converted to X25519) || client KEX || server KEX.  So the keys are fresh
 * per session (forward secrecy from the ephemeral keys), and only the two
 * identity holders can derive them; a replayed KEX or HELLO cannot be
 * used.  The session then requires the HELLO's sender to equal the KEX
 * identity.
 *
 * Records: the compressed stream of each direction is cut into records
 * of at most TIDE_RCRYPT_RECORD_MAX bytes, each sent as
 *
 *   length (u16 LE, plaintext bytes, 1..RECORD_MAX) || XChaCha20-Poly1305
 *   ciphertext || tag (16)
 *
 * with the length as associated data and the nonce the record counter of
 * that direction (u64 LE, zero-padded to 24 bytes; never sent).  Overhead:
 * TIDE_RCRYPT_RECORD_OVERHEAD bytes per record.  Any authentication
 * failure is fatal (TIDE_E_RCRYPT_AUTH).  Sans-I/O; one thread per
 * object. */
#ifndef TIDE_RCRYPT_H
#define TIDE_RCRYPT_H

#include <stddef.h>
#include <stdint.h>

#include "tide/buf.h"
#include "tide/common.h"
#include "tide/keys.h"

enum {
  TIDE_E_RCRYPT_MISMATCH = -830, /* one end encrypts, the other does not */
  TIDE_E_RCRYPT_AUTH = -831,     /* a record or KEX fails authentication */
};

#define TIDE_RCRYPT_KEX_BYTES       (4 + 32 + 32 + 64)
#define TIDE_RCRYPT_RECORD_MAX      1024
#define TIDE_RCRYPT_RECORD_OVERHEAD (2 + 16)

typedef struct tide_rcrypt tide_rcrypt;

/* Creates the encryption state for one session and its KEX record, with a
 * fresh ephemeral key.  kp is borrowed for the object's lifetime;
 * expect_peer (32 bytes or NULL) is copied: a KEX from another identity is
 * refused.  TIDE_E_NOMEM. */
TIDE_WUR int tide_rcrypt_new(tide_rcrypt **out, const tide_keypair *kp, const uint8_t *expect_peer);

/* Frees (and wipes) the state; NULL is a no-op. */
void tide_rcrypt_free(tide_rcrypt *c);

/* Our KEX record (TIDE_RCRYPT_KEX_BYTES, borrowed). */
const uint8_t *tide_rcrypt_kex(const tide_rcrypt *c);

/* Offers the first bytes of the peer's stream.  Takes what belongs to the
 * peer's KEX record (*used <= len; never more) and, once the record is
 * whole, verifies it and derives the keys.  TIDE_E_RCRYPT_MISMATCH when
 * the stream does not start with a KEX (a plain peer), TIDE_E_RCRYPT_AUTH
 * for a bad signature, an unexpected identity, our own keys or unusable
 * keys; err says which. */
TIDE_WUR int tide_rcrypt_kex_input(tide_rcrypt *c, const uint8_t *data, size_t len, size_t *used,
                                   tide_error *err);

/* 1 once the keys are derived. */
int tide_rcrypt_ready(const tide_rcrypt *c);

/* The peer's identity from its KEX (valid once ready). */
const uint8_t *tide_rcrypt_peer(const tide_rcrypt *c);

/* Appends the records carrying len plaintext bytes to out.  Requires
 * ready.  TIDE_E_INVAL when not ready, TIDE_E_NOMEM. */
TIDE_WUR int tide_rcrypt_seal(tide_rcrypt *c, const uint8_t *in, size_t len, tide_buf *out);

/* Feeds received record bytes (any split); appends the plaintext of each
 * complete record to out.  TIDE_E_RCRYPT_AUTH when a record does not
 * authenticate (tampered, or another key), TIDE_E_INVAL when not ready,
 * TIDE_E_NOMEM; err says which. */
TIDE_WUR int tide_rcrypt_open(tide_rcrypt *c, const uint8_t *in, size_t len, tide_buf *out,
                              tide_error *err);

/* 1 when the first 4 bytes of a stream (len >= 4) are a KEX magic: a
 * plain receiver uses it to say that its peer encrypts. */
int tide_rcrypt_is_kex(const uint8_t *head, size_t len);

#endif
