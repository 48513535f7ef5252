/* tide/clock.h - vector clocks: feed id -> EBT v3 value.
 *
 * A clock maps a feed (its 32-byte ed25519 public key) to one integer in
 * the value encoding of EBT v3, exactly as the npm package
 * epidemic-broadcast-trees defines it in v3.js (identical in 7.0.0, which
 * the stock ssb-server 16 runs, and in 9.0.4):
 *
 *     note(seq, rx)  = seq == -1 ? -1 : (seq << 1) | !rx
 *     sequence(v)    = v >> 1            (v == -1: -1)
 *     receive(v)     = !(v & 1)          even: "push messages to me" (eager)
 *                                        odd:  "only notes, please" (lazy)
 *     replicate(v)   = v != -1           -1: "I do not replicate this feed"
 *
 * so 0 = "have nothing, send from 1", 1 = "have nothing, don't push",
 * 6 = "have 3, push", 7 = "have 3, lazy", -1 = "not interested".  A clock
 * encoded as a JSON object {"@<base64>.ed25519": value, ...} is therefore
 * an EBT v3 note object that the TCP transport puts on the SSB wire
 * unchanged (tide_clock_json_write / tide_clock_json_read).
 *
 * JavaScript computes `<<` and `>>` on int32, so sequences of 2^30 and
 * more cannot be expressed: TIDE_CLOCK_SEQ_MAX.  Values other than -1
 * below zero mean nonsense in JS (-3 would be "replicate, seq -2"); tide
 * never sends them and rejects them on input (tide_clock_value_check).
 *
 * A tide_clock is an opaque hash map owned by the caller
 * (tide_clock_new/tide_clock_free).  Not thread-safe: one clock, one
 * thread.  The functions at the end keep per-peer clocks in the store
 * (SQLite table `peer_clocks`) for request skipping, see docs/replication.md. */
#ifndef TIDE_CLOCK_H
#define TIDE_CLOCK_H

#include <stddef.h>
#include <stdint.h>

#include "tide/buf.h"
#include "tide/common.h"
#include "tide/keys.h"

/* The value meaning "I do not replicate this feed". */
#define TIDE_CLOCK_NO_REPLICATE ((int64_t)-1)

/* Largest sequence that survives JavaScript's int32 `seq << 1`. */
#define TIDE_CLOCK_SEQ_MAX ((int64_t)0x3fffffff)

/* Largest valid value: note(TIDE_CLOCK_SEQ_MAX, lazy). */
#define TIDE_CLOCK_VALUE_MAX ((int64_t)0x7fffffff)

/* Encodes a sequence (0..TIDE_CLOCK_SEQ_MAX, or -1) and the receive
 * flag (1 = eager: "push me messages", 0 = lazy) as an EBT v3 value. */
static inline int64_t tide_clock_value(int64_t seq, int rx)
{
  return seq == -1 ? -1 : (int64_t)(((uint64_t)seq << 1) | (rx ? 0u : 1u));
}

/* The sequence carried by a value (-1 for "don't replicate"). */
static inline int64_t tide_clock_value_seq(int64_t v)
{
  return v < 0 ? -1 : v >> 1;
}

/* 1 when the value asks for messages to be pushed (even), else 0.  Like
 * JS, -1 (odd) reads as "don't push". */
static inline int tide_clock_value_rx(int64_t v)
{
  return (v & 1) == 0;
}

/* 1 unless the value is exactly -1. */
static inline int tide_clock_value_replicate(int64_t v)
{
  return v != -1;
}

/* 0 when v is a value tide accepts from a peer (-1 or
 * 0..TIDE_CLOCK_VALUE_MAX), else TIDE_E_INVAL. */
TIDE_WUR int tide_clock_value_check(int64_t v);

typedef struct tide_clock tide_clock;

/* Creates an empty clock; *out is owned by the caller.  TIDE_E_NOMEM. */
TIDE_WUR int tide_clock_new(tide_clock **out);

/* Frees a clock; NULL is a no-op. */
void tide_clock_free(tide_clock *c);

/* Removes every entry (keeps the memory). */
void tide_clock_clear(tide_clock *c);

/* Number of entries. */
size_t tide_clock_count(const tide_clock *c);

/* Sets feed -> value (any int64: the clock stores what it is given; use
 * tide_clock_value_check on peer input).  TIDE_E_NOMEM. */
TIDE_WUR int tide_clock_set(tide_clock *c, const uint8_t feed[TIDE_PK_BYTES], int64_t value);

/* Looks feed up: 0 and *value, or TIDE_E_NOTFOUND (value untouched). */
TIDE_WUR int tide_clock_get(const tide_clock *c, int64_t *value, const uint8_t feed[TIDE_PK_BYTES]);

/* Removes feed; returns 1 when it was present, 0 otherwise. */
int tide_clock_remove(tide_clock *c, const uint8_t feed[TIDE_PK_BYTES]);

/* Iterates: start with *iter = 0; each call returns 1 and fills feed and
 * *value (either may be NULL) with the next entry, or 0 at the end.  The
 * order is unspecified but stable while the clock is not modified. */
int tide_clock_next(const tide_clock *c, size_t *iter, uint8_t feed[TIDE_PK_BYTES], int64_t *value);

/* Replaces dst's content by a copy of src.  TIDE_E_NOMEM (dst is then
 * left with a subset of src). */
TIDE_WUR int tide_clock_copy(tide_clock *dst, const tide_clock *src);

/* --- EBT JSON (the SSB wire form) ---------------------------------------- */

/* Appends the clock as a compact EBT v3 note object, e.g.
 * {"@AAAA...=.ed25519":6,"@BBBB...=.ed25519":-1}, to out.  Entries come
 * in tide_clock_next order.  TIDE_E_NOMEM. */
TIDE_WUR int tide_clock_json_write(tide_buf *out, const tide_clock *c);

/* Bytes one entry takes in tide_clock_json_write's output (key, quotes,
 * colon, digits; plus 1 for the separating comma), used to account for
 * note sizes.  An object of n entries has 2 + sum(entry bytes) - 1 bytes
 * (2 for "{}" when empty). */
size_t tide_clock_json_entry_bytes(int64_t value);

/* Parses an EBT note object (also the {"clock": {...}} wrapper that JS
 * accepts) into c (entries are added to what c holds).  Every key must
 * be a feed id "@<44 base64>.ed25519" and every value an integer accepted
 * by tide_clock_value_check.  On error c may hold some of the entries.
 * Errors: TIDE_E_JSON_* (not JSON), TIDE_E_INVAL (not an object, bad key
 * or value; err says which and where), TIDE_E_NOMEM. */
TIDE_WUR int tide_clock_json_read(tide_clock *c, const char *json, size_t len, tide_error *err);

/* --- Per-peer clocks in the store (request skipping) ---------------------- */

typedef struct tide_store tide_store;

/* Which of the two clocks remembered per peer. */
typedef enum tide_clock_dir {
  TIDE_CLOCK_THEIRS = 0, /* the last value the peer sent us for each feed */
  TIDE_CLOCK_OURS = 1    /* the last value we sent the peer for each feed */
} tide_clock_dir;

/* Loads the stored clock `dir` of peer into c (cleared first); an
 * unknown peer gives an empty clock.  Creates the table when missing.
 * Errors: TIDE_E_STORE, TIDE_E_NOMEM, TIDE_E_INVAL (bad dir). */
TIDE_WUR int tide_clock_load(tide_clock *c, tide_store *s, const uint8_t peer[TIDE_PK_BYTES],
                             tide_clock_dir dir, tide_error *err);

/* Replaces the stored clock `dir` of peer by c (rows not in c are
 * deleted): this is also how a peer whose clock went backwards gets its
 * stored clock reset.  Runs in its own transaction, or inside the
 * caller's when one is open (tide_store_begin).  Errors: TIDE_E_STORE,
 * TIDE_E_NOMEM, TIDE_E_INVAL. */
TIDE_WUR int tide_clock_save(tide_store *s, const uint8_t peer[TIDE_PK_BYTES], tide_clock_dir dir,
                             const tide_clock *c, tide_error *err);

/* Forgets both stored clocks of peer (the next meeting is a first
 * contact).  TIDE_E_STORE. */
TIDE_WUR int tide_clock_forget(tide_store *s, const uint8_t peer[TIDE_PK_BYTES], tide_error *err);

/* Fills c (cleared first) with our own clock as the store holds it:
 * feed -> note(latest sequence, eager) for every feed in the store.
 * TIDE_E_STORE, TIDE_E_NOMEM. */
TIDE_WUR int tide_clock_from_store(tide_clock *c, tide_store *s, tide_error *err);

#endif
