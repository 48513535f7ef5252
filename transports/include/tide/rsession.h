/* tide/rsession.h - a replication session over a serial radio link.
 *
 * Sans-I/O on the line side: the session drives a tide_link (which the
 * caller feeds with line bytes and drains to the line) and uses the store
 * and the EBT engine it is given.  Sequence of a session:
 *
 *   1. Each side queues a HELLO (tide/frame.h) signed with its identity,
 *      addressed to the expected peer when one is configured, with a
 *      random nonce.  A HELLO that does not verify, comes from another key
 *      than the expected one, is addressed to another node, or is more
 *      than TIDE_RSESSION_HELLO_SKEW_MS away from our clock ends the
 *      session with TIDE_E_RSESSION_PEER and a message that says which.
 *      Proof of freshness (unencrypted sessions): both HELLOs offer
 *      TIDE_FRAME_CAP_PROOF; once a side has the peer's HELLO it sends a
 *      PROOF frame signed over the peer's nonce and its own, and it
 *      accepts the peer only after the peer's PROOF verifies against the
 *      peer's HELLO key and OUR nonce.  Until then nothing the peer says
 *      is acted on; any other frame first, or a PROOF that does not
 *      verify (a replayed HELLO), ends the session with
 *      TIDE_E_RSESSION_PEER ("no proof of freshness from @...").  A
 *      peer whose HELLO does not offer the proof is refused unless
 *      legacy_hello is set (docs/radio.md, section 7).  Encrypted
 *      sessions need no PROOF: the key exchange already proves
 *      freshness.
 *   2. Once the peer is authenticated, the EBT engine connects it with
 *      the clocks stored for it
 *      (request skipping), and its NOTES and SEND actions become NOTE and
 *      MESSAGES frames; received MESSAGES are validated, appended, and
 *      acknowledged with ACK frames (which is how the sender learns the
 *      peer holds them).  Frames travel through the radio stream layer
 *      (tide/radio.h): control before small messages before the backlog,
 *      one zstd stream per direction with the bundle dictionary.
 *   3. tide_rsession_in_sync() says when both sides hold the same
 *      messages of every replicated feed and nothing is in flight;
 *      tide_rsession_close() stores the peer's clocks for next time.
 *
 * One thread per session.  The store, engine, link and key pair are
 * borrowed for the session's lifetime. */
#ifndef TIDE_RSESSION_H
#define TIDE_RSESSION_H

#include <stddef.h>
#include <stdint.h>

#include "tide/common.h"
#include "tide/ebt.h"
#include "tide/keys.h"
#include "tide/link.h"
#include "tide/store.h"

enum {
  TIDE_E_RSESSION_PEER = -820,  /* the peer's HELLO is refused (err says why) */
  TIDE_E_RSESSION_PROTO = -821, /* the peer broke the session protocol */
};

/* HELLO time stamps further than this from our clock are refused. */
#define TIDE_RSESSION_HELLO_SKEW_MS (15 * 60 * 1000)

typedef struct tide_rsession tide_rsession;

typedef struct tide_rsession_config {
  const tide_keypair *kp;     /* our identity (borrowed) */
  const uint8_t *expect_peer; /* 32-byte key of the only acceptable peer, or NULL */
  tide_store *store;          /* borrowed */
  tide_ebt *ebt;              /* borrowed; feeds already declared */
  const uint8_t *dict;        /* zstd dictionary or NULL */
  size_t dict_len;
  uint64_t wall_ms;     /* wall-clock time for the HELLO */
  int encrypt;          /* 1: encrypt both streams (tide/rcrypt.h); both ends must
                         * agree.  Off by default: amateur radio forbids it. */
  int full_keys;        /* 1: do not offer short keys in our HELLO, so the peer's
                         * opening clock names feeds by full keys (as a peer
                         * without short keys does); 0: offer them (docs/radio.md) */
  int legacy_hello;     /* 1: for a peer running a tide from before HELLO proofs
                         * (which rejects the offer): do not offer the proof of
                         * freshness, and accept a peer's HELLO without it
                         * (stats.peer_fresh is then TIDE_RSESSION_FRESH_NONE:
                         * such a HELLO can be replayed within the 15-minute
                         * window); a peer that offers the proof is refused.
                         * 0 (default): offer it, refuse a peer that does not. */
  const uint8_t *nonce; /* TIDE_FRAME_NONCE_BYTES for our HELLO, or NULL (the
                         * normal case): a random one.  For tests and fuzzing
                         * only: a nonce used twice lets a recorded session
                         * be replayed to us. */
} tide_rsession_config;

/* How the peer's HELLO was shown to be fresh (tide_rsession_stats). */
enum {
  TIDE_RSESSION_FRESH_NONE = 0,  /* not at all: legacy_hello and a peer without the
                                    proof (or the session is not ready yet) */
  TIDE_RSESSION_FRESH_PROOF = 1, /* its PROOF verified against our nonce */
  TIDE_RSESSION_FRESH_KEX = 2    /* encrypted session: the key exchange */
};

typedef struct tide_rsession_stats {
  uint64_t msgs_sent, msgs_received, msgs_new;
  uint64_t frames_sent, frames_received;
  uint64_t raw_tx, raw_rx;   /* frame bytes before compression / after */
  uint64_t wire_tx, wire_rx; /* compressed stream bytes */
  uint64_t open_clock_tx;    /* frame bytes of our session-opening clock */
  int short_keys_tx;         /* 1: it used short keys (the peer offered them) */
  uint64_t unresolved_rx;    /* clock/note/ack entries of the peer about feeds we do
                                not know (short keys that did not resolve): ignored */
  int peer_fresh;            /* TIDE_RSESSION_FRESH_* (meaningful once ready) */
} tide_rsession_stats;

/* Creates a session on link l; queues our HELLO.  TIDE_E_NOMEM,
 * TIDE_E_INVAL. */
TIDE_WUR int tide_rsession_new(tide_rsession **out, tide_link *l, const tide_rsession_config *cfg,
                               uint64_t now_ms, tide_error *err);

/* Frees the session (does not store clocks: see tide_rsession_close);
 * NULL is a no-op. */
void tide_rsession_free(tide_rsession *s);

/* Does all that can be done now: decodes what the link delivered, runs
 * the engine, queues frames and feeds the link.  Call after every
 * tide_link_input and at tide_rsession_next_wakeup.  Errors end the
 * session: TIDE_E_RSESSION_PEER, TIDE_E_RSESSION_PROTO, TIDE_E_FRAME_*,
 * TIDE_E_LINK_FRAME (stream), TIDE_E_STORE, TIDE_E_NOMEM; with encryption
 * also TIDE_E_RCRYPT_MISMATCH (one end encrypts, the other does not) and
 * TIDE_E_RCRYPT_AUTH (bad key exchange, or a record that does not
 * authenticate); err says more. */
TIDE_WUR int tide_rsession_step(tide_rsession *s, uint64_t now_ms, tide_error *err);

/* When the engine wants to be called (delayed notes, patience), or
 * UINT64_MAX. */
uint64_t tide_rsession_next_wakeup(const tide_rsession *s);

/* 1 when the peer is authenticated: its HELLO was accepted and, when
 * the proof of freshness is in use, its PROOF verified.  Only then does
 * the session act on what the peer says. */
int tide_rsession_ready(const tide_rsession *s);

/* The peer's key (valid once ready). */
const uint8_t *tide_rsession_peer(const tide_rsession *s);

/* 1 when both sides hold the same sequence of every feed either side
 * mentioned, the engine has nothing to send and the link is drained. */
int tide_rsession_in_sync(const tide_rsession *s);

/* Stores the peer's clocks (request skipping next time) and disconnects
 * it from the engine.  TIDE_E_STORE, TIDE_E_NOMEM. */
TIDE_WUR int tide_rsession_close(tide_rsession *s, uint64_t now_ms, tide_error *err);

void tide_rsession_get_stats(const tide_rsession *s, tide_rsession_stats *st);

/* Messages we know the peer still lacks (*to_send) and that we still lack
 * from what the peer announced (*to_recv), for progress estimates. */
void tide_rsession_remaining(const tide_rsession *s, uint64_t *to_send, uint64_t *to_recv);

#endif
