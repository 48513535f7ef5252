/* tide/ebt.h - the EBT replication engine (epidemic broadcast trees),
 * sans-I/O.
 *
 * One tide_ebt serves every peer of a node, over every kind of link:
 * TCP sessions, serial radio sessions, and bundle files whose "peer"
 * answers hours or days later.  It never does I/O and never reads the
 * clock: the transport feeds it events plus the current time (now_ms, any
 * monotonic millisecond count) and drains actions:
 *
 *   inputs  tide_ebt_set_feed        the replication set and our sequences
 *           tide_ebt_connect         a peer session starts (stored clocks)
 *           tide_ebt_on_notes        notes (a partial clock) from a peer
 *           tide_ebt_wants           "should I validate this message?"
 *           tide_ebt_on_message      what became of a message from a peer
 *           tide_ebt_on_append       a message appended by other means
 *           tide_ebt_disconnect      the peer session ended
 *           tide_ebt_tick            time passes
 *   outputs tide_ebt_poll            TIDE_EBT_NOTES: send these notes
 *                                    TIDE_EBT_SEND: send messages from..to
 *                                      of a feed (the transport reads them
 *                                      from the store, in order)
 *           tide_ebt_next_wake       when to call tide_ebt_tick next
 *           tide_ebt_peer_clocks     the two clocks to store for the peer
 *
 * Mode switches are notes, as on the SSB wire: a note with an even value
 * asks the peer to push the feed to us (eager), an odd one asks it to stop
 * pushing and send notes only (lazy); see tide/clock.h for the encoding.
 * Notes from the engine are therefore valid EBT v3 notes, and messages it
 * asks to send are what ssb-ebt would send.
 *
 * Per peer and per feed the engine keeps the talk's list in 32 bytes:
 * their sequence, what we sent them, what we asked for, what they asked
 * for, both modes, and a timestamp; feeds are numbered by a small index
 * (the 32-byte key is kept once per feed, not per pair).
 *
 * Rules (docs/replication.md has the full list and the reasoning):
 *   - At connect we send only the feeds whose sequence changed since the
 *     value we last sent this peer, feeds they were ahead on, feeds
 *     either side last marked "don't replicate" (a stray -1 never sticks)
 *     and feeds new to the replication set.  Without stored clocks (first
 *     contact) we send the full clock.  When the peer mentions a feed we
 *     skipped, we answer with our value for it.
 *   - A peer that mentions a sequence lower than what it told us before
 *     (wiped store, old backup) has its remembered clock reset: we send it
 *     our full clock and refill it.
 *   - The first peer (in connection order) that has a feed is asked to
 *     push it (eager); others are asked for notes only (lazy).
 *   - A pushed message we already had -> we ask that peer to go lazy.
 *   - A note about a message we lack from a lazy peer -> asked to go eager
 *     at once when no eager peer serves the feed, else after the eager
 *     peer's patience (opts.patience_ms) ran out without the message.
 *   - When the eager peer of a feed disconnects, a lazy peer that
 *     announced newer messages is switched to eager.
 *   - A message that cannot be appended because an earlier one is missing
 *     (a hole, TIDE_EBT_RX_GAP) makes us re-request the feed from our
 *     sequence; a peer asking from a sequence below what we already sent
 *     is served again from there.  Nothing waits for a reply: an
 *     asynchronous peer simply answers in a later session.
 *   - A feed we start replicating mid-session is noted to every peer; a
 *     peer that told us its sequence before (while we answered -1) and
 *     is ahead is asked to push it.  A peer that notes a feed we have,
 *     after its opening clock, and never said anything of it before (or
 *     last said -1) is answered with our note even when we had told it
 *     already: it could not take our note in (it did not know the feed,
 *     e.g. a short key it could not resolve, or did not replicate it).
 *
 * Errors: TIDE_E_INVAL (bad argument, unknown peer handle), TIDE_E_NOMEM.
 * On TIDE_E_NOMEM the engine stays consistent but may have lost queued
 * actions; the transport should end the session.
 *
 * Thread safety: none; one engine is driven by one thread (transports of
 * several links share it by calling from one event loop). */
#ifndef TIDE_EBT_H
#define TIDE_EBT_H

#include <stddef.h>
#include <stdint.h>

#include "tide/clock.h"
#include "tide/common.h"
#include "tide/keys.h"

/* Default patience: how long an eager peer may leave a message that a
 * lazy peer announced undelivered before the feed is asked from the lazy
 * peer (epidemic-broadcast-trees uses 3000 ms too). */
#define TIDE_EBT_DEFAULT_PATIENCE_MS 3000

/* Peer session flags (tide_ebt_peer_opts.flags). */
#define TIDE_EBT_PEER_WAIT                                                                         \
  0x1u /* hold our first notes until the peer's                                                    \
          first notes arrive (SSB client role:                                                     \
          the server speaks first) */
#define TIDE_EBT_PEER_ASYNC                                                                        \
  0x2u /* replies come in a later session                                                          \
          (bundles): the peer is never used as                                                     \
          the eager source of a feed that an                                                       \
          interactive peer can serve, and its                                                      \
          patience is infinite */

typedef struct tide_ebt tide_ebt;

/* A peer session handle, valid from tide_ebt_connect until
 * tide_ebt_disconnect.  Handles may be reused after a disconnect. */
typedef uint32_t tide_ebt_peer;

/* Options of a peer session.  Both clocks are borrowed for the call only
 * (the engine copies what it needs). */
typedef struct tide_ebt_peer_opts {
  /* The last value the peer sent us per feed, as stored
   * (TIDE_CLOCK_THEIRS), or NULL on first contact. */
  const tide_clock *theirs;
  /* The last value we sent the peer per feed (TIDE_CLOCK_OURS), or NULL
   * on first contact.  When either clock is NULL the full clock is sent. */
  const tide_clock *ours;
  /* Patience of this peer as an eager source, in ms; 0 means
   * TIDE_EBT_DEFAULT_PATIENCE_MS.  Ignored for TIDE_EBT_PEER_ASYNC. */
  int64_t patience_ms;
  unsigned flags; /* TIDE_EBT_PEER_* */
  /* The peer's own feed id (32 bytes, borrowed for the call), or NULL.
   * A peer is the best source of its own feed: it is asked to push it
   * (eager) even when another peer already serves that feed. */
  const uint8_t *id;
  /* Lazy notes ("we now have seq n of a feed you do not ask us to push")
   * wait up to this many ms so that several go out in one NOTES action,
   * and are dropped when the peer tells us meanwhile that it has n.  0
   * sends them at once.  Requests, answers and mode switches never wait
   * (a waiting batch leaves with them).  The transport must call
   * tide_ebt_tick at tide_ebt_next_wake for delayed notes to leave. */
  int64_t note_delay_ms;
} tide_ebt_peer_opts;

/* One note: feed and EBT v3 value. */
typedef struct tide_ebt_note {
  uint8_t feed[TIDE_PK_BYTES];
  int64_t value;
} tide_ebt_note;

typedef enum tide_ebt_action_type {
  TIDE_EBT_NOTES = 1, /* send notes[0..n_notes) to peer as one note
                         object; n_notes may be 0 (the empty first note
                         an SSB server must send) */
  TIDE_EBT_SEND = 2   /* send messages from_seq..to_seq (inclusive) of
                         feed to peer, in order; they are in the store */
} tide_ebt_action_type;

/* An action.  notes is borrowed until the next call on the engine. */
typedef struct tide_ebt_action {
  tide_ebt_action_type type;
  tide_ebt_peer peer;
  const tide_ebt_note *notes; /* TIDE_EBT_NOTES */
  size_t n_notes;
  uint8_t feed[TIDE_PK_BYTES]; /* TIDE_EBT_SEND */
  int64_t from_seq;
  int64_t to_seq;
} tide_ebt_action;

/* What became of a message a peer sent (tide_ebt_on_message). */
typedef enum tide_ebt_rx {
  TIDE_EBT_RX_NEW = 0,    /* validated and appended (durable) */
  TIDE_EBT_RX_DUP = 1,    /* we already had it */
  TIDE_EBT_RX_GAP = 2,    /* not appended: an earlier message is missing */
  TIDE_EBT_RX_INVALID = 3 /* rejected (bad signature, fork, ...) */
} tide_ebt_rx;

/* Counters, for tests and benchmarks. */
typedef struct tide_ebt_stats {
  uint64_t notes_sent;     /* note entries emitted */
  uint64_t notes_received; /* note entries received */
  uint64_t msgs_requested; /* messages asked to be sent (SEND ranges) */
  uint64_t msgs_new;       /* messages reported RX_NEW */
  uint64_t msgs_dup;       /* messages reported RX_DUP */
  uint64_t msgs_gap;       /* messages reported RX_GAP */
  uint64_t to_lazy;        /* lazy switches asked (dup or patience) */
  uint64_t to_eager;       /* eager switches asked */
  uint64_t resets;         /* peers whose clock went backwards */
} tide_ebt_stats;

/* Creates an engine with no feeds and no peers; *out is owned by the
 * caller.  TIDE_E_NOMEM. */
TIDE_WUR int tide_ebt_new(tide_ebt **out);

/* Frees the engine; NULL is a no-op. */
void tide_ebt_free(tide_ebt *e);

/* Declares feed: replicate (1) or not (0), and our latest sequence of it
 * (0 = none; -1 = unknown, treated as 0).  Call for every feed of the
 * replication set at start (the follow graph, tide/graph.h, gives it, and
 * the store our sequences), and again whenever the set changes.  A
 * sequence lower than the engine's is ignored (it only grows).  Starting
 * to replicate notes the feed to connected peers (the one that announced
 * the most, if any announced more than we have, is asked to push it;
 * else the first, as at connect); stopping sends them -1.
 * TIDE_E_NOMEM, TIDE_E_INVAL. */
TIDE_WUR int tide_ebt_set_feed(tide_ebt *e, const uint8_t feed[TIDE_PK_BYTES], int replicate,
                               int64_t our_seq, int64_t now_ms);

/* Our latest sequence of feed: 0 when none or unknown to the engine. */
int64_t tide_ebt_our_seq(const tide_ebt *e, const uint8_t feed[TIDE_PK_BYTES]);

/* 1 when the engine replicates feed. */
int tide_ebt_replicates(const tide_ebt *e, const uint8_t feed[TIDE_PK_BYTES]);

/* Shortest prefix tide_ebt_find_prefix accepts: the short key of a
 * CLOCK frame (docs/frames.md), TIDE_FRAME_SHORT_KEY_BYTES. */
#define TIDE_EBT_PREFIX_MIN 8

/* Resolves a key prefix (len TIDE_EBT_PREFIX_MIN..TIDE_PK_BYTES bytes)
 * against every key the engine knows: the feeds declared with
 * tide_ebt_set_feed (replicated or not), peers' own feeds and feeds peers
 * mentioned.  Returns 1 and copies the key into key when exactly one
 * known key starts with prefix, 0 when none does, 2 when several do
 * (ambiguous: key untouched), TIDE_E_INVAL for a bad argument.  A hash
 * lookup: O(1). */
int tide_ebt_find_prefix(const tide_ebt *e, uint8_t key[TIDE_PK_BYTES], const uint8_t *prefix,
                         size_t len);

/* How many known keys share their first TIDE_EBT_PREFIX_MIN bytes with
 * another known key (known keys minus distinct prefixes): 0 unless two
 * keys collide on 64 bits, by accident (about n^2 / 2^65) or on purpose.
 * A transport does not offer short keys while it is not 0, so that no
 * peer's short key can be ambiguous here (docs/frames.md). */
size_t tide_ebt_prefix_collisions(const tide_ebt *e);

/* Starts a session with a peer; *peer receives its handle.  Queues the
 * first notes (see the rules above; an empty NOTES action when there is
 * nothing to say, unless TIDE_EBT_PEER_WAIT holds them).  opts may be
 * NULL (first contact, defaults).  TIDE_E_NOMEM, TIDE_E_INVAL. */
TIDE_WUR int tide_ebt_connect(tide_ebt *e, tide_ebt_peer *peer, const tide_ebt_peer_opts *opts,
                              int64_t now_ms);

/* Notes received from peer (n entries; values already checked with
 * tide_clock_value_check by the decoder).  Updates what we know of the
 * peer, answers feeds it mentioned that we skipped, starts or stops
 * pushing, switches modes.  TIDE_E_INVAL (bad handle or value),
 * TIDE_E_NOMEM. */
TIDE_WUR int tide_ebt_on_notes(tide_ebt *e, tide_ebt_peer peer, const tide_ebt_note *notes,
                               size_t n, int64_t now_ms);

/* Convenience: the same for a whole tide_clock. */
TIDE_WUR int tide_ebt_on_clock(tide_ebt *e, tide_ebt_peer peer, const tide_clock *c,
                               int64_t now_ms);

/* 1 when a message seq of feed from peer should be validated and
 * appended: we replicate the feed and do not have seq yet.  0 means drop
 * it (still report it with tide_ebt_on_message as RX_DUP when seq <= our
 * sequence, so the peer is switched to lazy). */
int tide_ebt_wants(const tide_ebt *e, tide_ebt_peer peer, const uint8_t feed[TIDE_PK_BYTES],
                   int64_t seq);

/* Reports what became of message seq of feed received from peer.
 * RX_NEW also acts as tide_ebt_on_append (it is forwarded to eager peers,
 * noted to lazy ones), so do not report it twice.  Messages for feeds the
 * engine does not replicate are ignored.  TIDE_E_INVAL, TIDE_E_NOMEM. */
TIDE_WUR int tide_ebt_on_message(tide_ebt *e, tide_ebt_peer peer, const uint8_t feed[TIDE_PK_BYTES],
                                 int64_t seq, tide_ebt_rx rx, int64_t now_ms);

/* A message seq of feed was appended by other means (our own new
 * message, a message from another engine or an import).  Ignored unless
 * the engine replicates feed; a sequence not above ours is ignored.
 * TIDE_E_NOMEM, TIDE_E_INVAL. */
TIDE_WUR int tide_ebt_on_append(tide_ebt *e, const uint8_t feed[TIDE_PK_BYTES], int64_t seq,
                                int64_t now_ms);

/* Ends a peer session: pending actions for it are dropped, and the feeds
 * it served eagerly are asked from lazy peers that announced newer
 * messages.  Call tide_ebt_peer_clocks first to store its clocks.
 * TIDE_E_INVAL, TIDE_E_NOMEM. */
TIDE_WUR int tide_ebt_disconnect(tide_ebt *e, tide_ebt_peer peer, int64_t now_ms);

/* Lets time pass: patience timers that ran out switch feeds to other
 * peers.  TIDE_E_NOMEM. */
TIDE_WUR int tide_ebt_tick(tide_ebt *e, int64_t now_ms);

/* The time tide_ebt_tick wants to be called next, or -1 for never
 * (nothing is waiting). */
int64_t tide_ebt_next_wake(const tide_ebt *e);

/* Takes the next action: returns 1 and fills *out, or 0 when none is
 * queued.  NOTES actions of a peer come before its SEND actions; order
 * within each kind is the order of decisions.  out->notes is valid until
 * the next call on the engine. */
int tide_ebt_poll(tide_ebt *e, tide_ebt_action *out);

/* The two clocks to remember for peer (tide_clock_save).  Over a link
 * that may lose what was sent without telling (a bundle that never
 * arrives), save `ours` only once the peer has answered that session,
 * or pass NULL for it at the next connect: request skipping trusts that
 * the peer heard what we last told it.  theirs = the
 * last value the peer sent us per feed (sequences raised by messages it
 * sent us), ours = the last value we sent it per feed.  Both are cleared
 * first; either may be NULL.  After the peer's clock went backwards,
 * theirs holds only what it said since.  TIDE_E_INVAL, TIDE_E_NOMEM. */
TIDE_WUR int tide_ebt_peer_clocks(const tide_ebt *e, tide_ebt_peer peer, tide_clock *theirs,
                                  tide_clock *ours);

/* What we know the peer holds of feed: its sequence, or -1 when it
 * never told us (or does not replicate it). */
int64_t tide_ebt_peer_seq(const tide_ebt *e, tide_ebt_peer peer, const uint8_t feed[TIDE_PK_BYTES]);

/* Mode flags of the pair (peer, feed) for tests and diagnostics:
 * bit 0 (TIDE_EBT_MODE_WE_EAGER) we asked the peer to push,
 * bit 1 (TIDE_EBT_MODE_THEY_EAGER) the peer asked us to push. */
#define TIDE_EBT_MODE_WE_EAGER   0x1
#define TIDE_EBT_MODE_THEY_EAGER 0x2
int tide_ebt_peer_mode(const tide_ebt *e, tide_ebt_peer peer, const uint8_t feed[TIDE_PK_BYTES]);

/* Counters since tide_ebt_new. */
void tide_ebt_get_stats(const tide_ebt *e, tide_ebt_stats *out);

/* Bytes of per-pair state in memory (the talk's list), for the docs and
 * a test that it stays at most 32. */
size_t tide_ebt_pair_bytes(void);

#endif
