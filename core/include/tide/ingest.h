/* tide/ingest.h - the ingest pipeline: raw messages in, verdicts out.
 *
 * An ingest session takes a stream of messages (raw JSON texts, or
 * already parsed tide_msg) each with a caller tag (a line number, a frame
 * index ...), and:
 *   1. parses them and checks their signatures in parallel on a pool of
 *      worker threads (pthreads; `threads` in the options).  A message at
 *      a sequence the store already holds (a re-import) is left to step 2,
 *      which checks its signature only if it is not the stored message;
 *      with threads == 1 all checks happen in step 2;
 *   2. on the calling thread, in input order, validates each one with
 *      tide_msg_validate() against the feed's state in the store (using
 *      the precomputed signature result) and appends it, one SQLite
 *      transaction per batch;
 *   3. reports one verdict per input through the callback.
 *
 * Verdicts:
 *   ACCEPTED  validated and appended.  Reported only after the batch's
 *             commit returned, so an ACCEPTED message is durable.
 *   ALREADY   a message with the same id is already stored: a no-op.
 *   REJECTED  invalid: `reason` is ssb-validate's reason text (or the
 *             parser's error for text that is not a message, or a
 *             "feed ... is forked" / "gap: ..." reason, see below).
 *   FORK      a different valid message for a sequence already stored:
 *             recorded as fork evidence (after commit), the feed is now
 *             forked and rejects every later message ("feed ... is
 *             forked at sequence N").
 * A message whose sequence is beyond latest+1 is held back (no verdict
 * yet) until the missing ones arrive in the same session; then it is
 * retried.  Inputs may arrive in any order, across and within feeds.
 * tide_ingest_finish() rejects what is still held with a reason starting
 * "gap: " that names the first missing sequence.  The number of held
 * messages is capped (options.max_held); beyond it a message that would be
 * held is rejected at once with a "gap: ... (hold limit ...)" reason.
 *
 * Memory stays bounded on huge imports: at most two batches are in flight
 * (the workers prepare one while the previous one is appended, chunk by
 * chunk as its own preparation completes), plus the held messages and a
 * small per-feed state cache.
 *
 * Storage failures: when an append or commit fails with a storage error
 * (TIDE_E_STORE, TIDE_E_NOMEM), the batch's transaction is rolled back,
 * none of its verdicts are reported, and the session is broken: that
 * call and every later call return the error (sticky).  Nothing that was
 * reported ACCEPTED before is affected.
 *
 * Callbacks run on the calling thread, inside push/flush/finish, after
 * the batch's transaction ended: they may read the store (and e.g. send
 * the message on), but must not call this session's functions.
 *
 * Thread safety: a session and its store are used by one thread (the one
 * calling push/flush/finish); callbacks run on that thread.  The worker
 * threads only parse and verify; they never touch the store.  Do not use
 * the store from elsewhere while a session exists, except between calls
 * on the same thread (reads are fine; do not leave a transaction open). */
#ifndef TIDE_INGEST_H
#define TIDE_INGEST_H

#include <stddef.h>
#include <stdint.h>

#include "tide/common.h"
#include "tide/keys.h"
#include "tide/msg.h"
#include "tide/store.h"

/* Default messages per batch (one transaction each). */
#define TIDE_INGEST_DEFAULT_BATCH 2000
/* Default cap on messages held back waiting for a gap to fill. */
#define TIDE_INGEST_DEFAULT_MAX_HELD 100000

typedef enum tide_ingest_verdict {
  TIDE_INGEST_ACCEPTED = 0,
  TIDE_INGEST_ALREADY = 1,
  TIDE_INGEST_REJECTED = 2,
  TIDE_INGEST_FORK = 3
} tide_ingest_verdict;

/* What the callback receives.  Every pointer is borrowed until the
 * callback returns. */
typedef struct tide_ingest_result {
  uint64_t tag; /* the caller's tag of this input */
  tide_ingest_verdict verdict;
  int code;            /* 0 for ACCEPTED/ALREADY; the TIDE_E_* code
                          behind a REJECTED (TIDE_E_MSG_INVALID,
                          TIDE_E_JSON_*, TIDE_E_STORE_FORKED,
                          TIDE_E_STORE_GAP ...) or TIDE_E_STORE_FORK */
  const char *reason;  /* "" for ACCEPTED/ALREADY, else why */
  const tide_msg *msg; /* the parsed message, NULL when the input
                          did not parse */
  int has_author;      /* 1 when author below is set */
  uint8_t author[TIDE_PK_BYTES];
  int64_t sequence; /* the message's sequence, 0 if unknown */
} tide_ingest_result;

typedef void (*tide_ingest_cb)(void *ctx, const tide_ingest_result *r);

typedef struct tide_ingest_options {
  size_t threads;          /* parse+verify threads; 0 = online CPUs.  1 runs
                              everything on the calling thread (no pool). */
  size_t batch;            /* inputs per batch/transaction; 0 = default */
  size_t max_held;         /* 0 = TIDE_INGEST_DEFAULT_MAX_HELD */
  const uint8_t *hmac_key; /* NULL or TIDE_HMAC_KEY_BYTES (copied) */
  int64_t received_ms;     /* received time stored with each message;
                              update with tide_ingest_set_time() */
} tide_ingest_options;

/* Counts of verdicts reported so far, and inputs not yet decided. */
typedef struct tide_ingest_stats {
  uint64_t accepted, already, rejected, forks;
  uint64_t held;    /* currently held back for a gap */
  uint64_t pending; /* pushed but not yet processed */
  uint64_t batches; /* transactions committed */
} tide_ingest_stats;

typedef struct tide_ingest tide_ingest;

/* Starts a session appending to store (borrowed: it must outlive the
 * session) and reporting through cb(ctx, result).  opt may be NULL for
 * defaults.  Starts the worker threads.
 * Errors: TIDE_E_INVAL (NULL store/cb, a transaction open on store),
 * TIDE_E_NOMEM, TIDE_E_INTERNAL (cannot start a thread). */
TIDE_WUR int tide_ingest_new(tide_ingest **out, tide_store *store, const tide_ingest_options *opt,
                             tide_ingest_cb cb, void *ctx);

/* Stops the workers and frees the session.  Inputs pushed but not yet
 * processed, and held ones, get no verdict and are not stored (nothing
 * unacknowledged is claimed).  NULL is a no-op. */
void tide_ingest_free(tide_ingest *ing);

/* Sets the received time stored with messages appended from now on. */
void tide_ingest_set_time(tide_ingest *ing, int64_t received_ms);

/* Queues the JSON text json[0..len) (copied) under tag.  When a batch is
 * full it is handed to the workers, and the previous batch is validated,
 * appended and committed, firing callbacks, before this returns.
 * Returns 0, or a sticky storage error (TIDE_E_STORE, TIDE_E_NOMEM).  Bad
 * input is never an error here: it gets a REJECTED verdict. */
TIDE_WUR int tide_ingest_push(tide_ingest *ing, uint64_t tag, const char *json, size_t len,
                              tide_error *err);

/* Queues an already parsed message (takes ownership of m, also on error).
 * sig is TIDE_MSG_SIG_UNCHECKED (the workers verify it) or the result of
 * an earlier tide_msg_verify_signature() with the session's hmac key.
 * Same returns as tide_ingest_push(). */
TIDE_WUR int tide_ingest_push_msg(tide_ingest *ing, uint64_t tag, tide_msg *m, int sig,
                                  tide_error *err);

/* Processes everything pushed so far (waits for the workers, appends,
 * commits, fires callbacks).  Held messages stay held.  Returns 0 or a
 * sticky storage error. */
TIDE_WUR int tide_ingest_flush(tide_ingest *ing, tide_error *err);

/* Flushes, then rejects every message still held (reason "gap: feed @...
 * missing sequence N (have up to M)").  The session can be used again
 * afterwards.  Returns 0 or a sticky storage error. */
TIDE_WUR int tide_ingest_finish(tide_ingest *ing, tide_error *err);

/* Fills *out with the counts so far. */
void tide_ingest_get_stats(const tide_ingest *ing, tide_ingest_stats *out);

/* The number of worker threads in use (0 when threads == 1: inline). */
size_t tide_ingest_threads(const tide_ingest *ing);

#endif
