/* tide/store.h - the message store: per-feed append-only logs in SQLite.
 *
 * A tide_store is one SQLite database (a file path, or ":memory:") in WAL
 * mode with synchronous=FULL: once tide_store_commit() (or an append made
 * outside an explicit transaction) returns 0, the messages survive kill -9
 * and power loss.  See docs/store.md for the schema and the durability
 * argument.  Users may inspect a store with the sqlite3 shell; the tables
 * are `feeds`, `messages`, `forks` and `contacts` with plain column names;
 * feeds.author holds the feed id text ("@...ed25519"), the other tables
 * refer to a feed by its number feeds.num, and message ids are stored as
 * their 32 bytes (schema version 2; a version-1 store is upgraded by the
 * first writable tide_store_open()).
 *
 * What is stored per message: the exact canonical signed JSON text
 * (tide_msg_text()), its id, author, sequence, timestamp and the time it
 * was received (passed in by the caller: the core never reads the clock).
 *
 * Invariant: every feed in the store is a gap-free prefix 1..latest whose
 * hash chain links (message n's "previous" is the id of message n-1).
 * tide_store_append() enforces this; it does NOT check signatures or the
 * other ssb-validate rules: callers pass only messages that passed
 * tide_msg_validate() against the feed's state (the ingest pipeline,
 * tide/ingest.h, does exactly this and is the normal way to add messages).
 *
 * Forks: a different message at a sequence the store already holds is a
 * fork.  The store keeps both messages (the stored one in `messages`, the
 * other one as evidence in `forks`), marks the feed forked and refuses any
 * further appends to it (TIDE_E_STORE_FORKED).
 *
 * Errors: SQLite failures are returned as TIDE_E_STORE with SQLite's
 * message (sqlite3_errmsg) in err->msg; TIDE_E_STORE_SCHEMA for a database
 * that is not a tide store or comes from a newer tide; TIDE_E_NOMEM.
 * Every function taking `tide_error *err` accepts NULL.
 *
 * Ownership: the store owns its SQLite connection.  Records passed to
 * callbacks borrow memory that is valid only during the callback.
 *
 * Thread safety: a tide_store is used by one thread at a time (the SQLite
 * connection is opened in multi-thread mode, not serialized).  Several
 * tide_store handles (in one or several processes) may open the same file:
 * WAL lets readers run beside one writer, and writers wait up to the busy
 * timeout (default 5000 ms) before failing with TIDE_E_STORE. */
#ifndef TIDE_STORE_H
#define TIDE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "tide/buf.h"
#include "tide/common.h"
#include "tide/keys.h"
#include "tide/msg.h"

/* The schema version this tide writes and reads (PRAGMA user_version). */
#define TIDE_STORE_SCHEMA_VERSION 2

/* The path that opens a private in-memory store. */
#define TIDE_STORE_MEMORY ":memory:"

/* Flags for tide_store_open(). */
#define TIDE_STORE_READ_ONLY 0x1u /* open an existing store, never write */
/* Open an existing tide store only: a missing file, or one holding no
 * tables (emptied), is TIDE_E_NOTFOUND instead of becoming a new empty
 * store.  For a node's own store, where a silently new store would
 * restart its feed at sequence 1 (a fork of its own feed). */
#define TIDE_STORE_EXISTING 0x2u

/* Default busy timeout in milliseconds. */
#define TIDE_STORE_BUSY_TIMEOUT_MS 5000

typedef struct tide_store tide_store;

/* One feed as the store knows it. */
typedef struct tide_store_feed {
  uint8_t author[TIDE_PK_BYTES];
  tide_feed_state latest; /* id and sequence of its latest message */
  int forked;             /* 1 when a fork was recorded: appends refused */
} tide_store_feed;

/* One stored message.  text is the canonical signed JSON (not
 * NUL-terminated in general; use text_len).  In callbacks every pointer
 * is borrowed until the callback returns; from tide_store_get*() text
 * points into the caller's tide_buf. */
typedef struct tide_store_record {
  uint8_t id[TIDE_HASH_BYTES];
  uint8_t author[TIDE_PK_BYTES];
  int64_t sequence;
  double timestamp;    /* the message's claimed timestamp (ms); NaN when it is not a
                        * JSON number (valid after message 1) */
  int64_t received_ms; /* when this store received it (caller's clock) */
  const char *text;
  size_t text_len;
} tide_store_record;

/* Fork evidence: at `sequence` of feed `author` the store holds message
 * `stored_id`; `fork_text` is the other, valid, message with id
 * `fork_id`.  Pointers borrowed during the callback. */
typedef struct tide_store_fork {
  uint8_t author[TIDE_PK_BYTES];
  int64_t sequence;
  uint8_t stored_id[TIDE_HASH_BYTES];
  uint8_t fork_id[TIDE_HASH_BYTES];
  int64_t detected_ms; /* received time passed with the fork message */
  const char *fork_text;
  size_t fork_text_len;
} tide_store_fork;

/* A "contact" message indexed at append time: content {"type":"contact",
 * "contact": <feed id>, "following": bool?, "blocking": bool?}.
 * following / blocking are 1 (true), 0 (false) or -1 (absent or not a
 * boolean).  rowid increases with every indexed message, so a reader can
 * resume after the last row it saw.  Per author, rows come in sequence
 * order: a later row overrides an earlier one for the same contact. */
typedef struct tide_store_contact {
  int64_t rowid;
  uint8_t author[TIDE_PK_BYTES];
  uint8_t contact[TIDE_PK_BYTES];
  int following;
  int blocking;
  int64_t sequence;
} tide_store_contact;

/* Counts and size. */
typedef struct tide_store_stats {
  uint64_t feeds;
  uint64_t messages;
  uint64_t forked_feeds;
  uint64_t forks;    /* rows of fork evidence */
  uint64_t contacts; /* indexed contact messages */
  uint64_t bytes;    /* database size: page_count * page_size */
} tide_store_stats;

/* Callbacks for the iterators.  Return 0 to continue; any other value
 * stops the iteration, and the iterator returns that value. */
typedef int (*tide_store_feed_cb)(void *ctx, const tide_store_feed *feed);
typedef int (*tide_store_record_cb)(void *ctx, const tide_store_record *rec);
typedef int (*tide_store_fork_cb)(void *ctx, const tide_store_fork *fork);
typedef int (*tide_store_contact_cb)(void *ctx, const tide_store_contact *c);

/* --- Opening -------------------------------------------------------------- */

/* Opens (creating when absent, unless TIDE_STORE_READ_ONLY) the store at
 * path (a file name, or TIDE_STORE_MEMORY).  Sets WAL mode,
 * synchronous=FULL and the busy timeout, creates the schema in a new
 * database and checks PRAGMA user_version / application_id of an existing
 * one.  A store of schema version 1 is upgraded to version 2 in one
 * transaction (all or nothing: a failure or a crash leaves the version-1
 * store intact); read-only, it is refused with TIDE_E_STORE_SCHEMA.
 * *out is owned by the caller (tide_store_close()).
 * Errors: TIDE_E_STORE (cannot open or not a database, or the upgrade
 * failed; detail from SQLite), TIDE_E_STORE_SCHEMA (a non-tide database, a
 * version-1 store opened read-only, or a schema version other than 1 and
 * TIDE_STORE_SCHEMA_VERSION: the message names both versions),
 * TIDE_E_NOMEM, TIDE_E_INVAL (NULL path). */
TIDE_WUR int tide_store_open(tide_store **out, const char *path, unsigned flags, tide_error *err);

/* Closes the store; an open transaction is rolled back (nothing of it is
 * kept).  NULL is a no-op. */
void tide_store_close(tide_store *s);

/* Sets the busy timeout (how long a writer waits for another
 * connection's lock).  TIDE_E_STORE. */
TIDE_WUR int tide_store_set_busy_timeout(tide_store *s, int ms, tide_error *err);

/* --- Transactions ------------------------------------------------------- */

/* Begins a write transaction (BEGIN IMMEDIATE): later appends are kept
 * only when tide_store_commit() succeeds.  Transactions do not nest:
 * TIDE_E_INVAL when one is open.  TIDE_E_STORE (e.g. busy). */
TIDE_WUR int tide_store_begin(tide_store *s, tide_error *err);

/* Commits the open transaction; when it returns 0 its messages are
 * durable.  When an append inside the transaction failed with
 * TIDE_E_STORE or TIDE_E_NOMEM (a storage error, not a verdict such as
 * GAP/EXISTS/FORK), the transaction is poisoned: commit rolls it back and
 * returns TIDE_E_STORE; nothing of it is kept.  A failing COMMIT also
 * rolls back.  TIDE_E_INVAL when no transaction is open. */
TIDE_WUR int tide_store_commit(tide_store *s, tide_error *err);

/* Rolls the open transaction back (no-op when none is open).  The store
 * is left exactly as it was before tide_store_begin(). */
void tide_store_rollback(tide_store *s);

/* 1 when a transaction is open. */
int tide_store_in_transaction(const tide_store *s);

/* --- Appending ------------------------------------------------------------ */

/* Appends m to its author's log.  m must be valid (tide_msg_validate()
 * against this store's state of the feed at sequence-1).  received_ms is
 * the caller's clock.  Outside a transaction the append commits on its
 * own (durable on return); inside one it is kept on commit.  Also indexes
 * contact messages (see tide_store_contact).
 * Returns:
 *   0                   appended;
 *   TIDE_E_EXISTS       this exact message (same id) is already stored,
 *                       in the log or as fork evidence: nothing changes;
 *   TIDE_E_STORE_FORK   a different message is stored at this sequence:
 *                       m is recorded as fork evidence and the feed is
 *                       marked forked (this is a write: it needs the
 *                       commit like an append);
 *   TIDE_E_STORE_FORKED the feed is already marked forked: refused;
 *   TIDE_E_STORE_GAP    sequence > latest+1 (err says which is missing);
 *   TIDE_E_INVAL        no valid author or sequence, or "previous" does
 *                       not match the latest message's id (or is not null
 *                       for sequence 1);
 *   TIDE_E_STORE / TIDE_E_NOMEM  storage failure (poisons an open
 *                       transaction; outside one nothing is kept). */
TIDE_WUR int tide_store_append(tide_store *s, const tide_msg *m, int64_t received_ms,
                               tide_error *err);

/* Records m as fork evidence without appending it.  Like
 * tide_store_append() for a sequence <= latest (a different message at a
 * stored sequence); for sequence == latest+1 (> 1), m's "previous" must
 * not (loosely, tide_msg_previous_matches()) name the latest message but
 * must name some message id: m is then signed proof of a different
 * message at sequence-1 and is recorded with sequence = its own sequence,
 * stored_id = our message at sequence-1, and the feed is marked forked at
 * sequence-1.  m must be valid against the state {its own previous,
 * sequence-1} (tide_msg_validate(); the caller checks it, signature
 * included).  Returns TIDE_E_STORE_FORK (recorded: needs the commit like an
 * append), TIDE_E_EXISTS, TIDE_E_STORE_FORKED, TIDE_E_STORE_GAP,
 * TIDE_E_INVAL (m chains on the latest message, has no previous id, or
 * is no fork evidence otherwise), TIDE_E_STORE / TIDE_E_NOMEM. */
TIDE_WUR int tide_store_record_fork(tide_store *s, const tide_msg *m, int64_t received_ms,
                                    tide_error *err);

/* --- Queries ------------------------------------------------------------- */

/* The latest state of a feed: *out gets its latest id and sequence and
 * *forked (when non-NULL) the forked flag.  TIDE_E_NOTFOUND when the
 * store holds no message of author; TIDE_E_STORE. */
TIDE_WUR int tide_store_latest(tide_store *s, tide_feed_state *out, int *forked,
                               const uint8_t author[TIDE_PK_BYTES], tide_error *err);

/* The id of message `sequence` of author.  TIDE_E_NOTFOUND; TIDE_E_STORE. */
TIDE_WUR int tide_store_get_id(tide_store *s, uint8_t id[TIDE_HASH_BYTES],
                               const uint8_t author[TIDE_PK_BYTES], int64_t sequence,
                               tide_error *err);

/* Message `sequence` of author: text replaces the content of *text and
 * *rec (when non-NULL) is filled, rec->text pointing into text->data.
 * TIDE_E_NOTFOUND; TIDE_E_STORE; TIDE_E_NOMEM. */
TIDE_WUR int tide_store_get(tide_store *s, tide_buf *text, tide_store_record *rec,
                            const uint8_t author[TIDE_PK_BYTES], int64_t sequence, tide_error *err);

/* The message with this id (only the logs; fork evidence is read with
 * tide_store_forks()).  Same outputs and errors as tide_store_get(). */
TIDE_WUR int tide_store_get_by_id(tide_store *s, tide_buf *text, tide_store_record *rec,
                                  const uint8_t id[TIDE_HASH_BYTES], tide_error *err);

/* 1 when a message with this id is stored (log or fork evidence), 0 when
 * not; negative TIDE_E_STORE on failure. */
TIDE_WUR int tide_store_has(tide_store *s, const uint8_t id[TIDE_HASH_BYTES], tide_error *err);

/* Calls cb for messages from..to (inclusive; to = 0 means up to the
 * latest) of author, in sequence order.  cb must not append or begin,
 * commit or roll back a transaction.  Returns 0 after the last message
 * (also when there is none), cb's non-zero value when it stopped,
 * TIDE_E_STORE. */
TIDE_WUR int tide_store_iter_feed(tide_store *s, const uint8_t author[TIDE_PK_BYTES], int64_t from,
                                  int64_t to, tide_store_record_cb cb, void *ctx, tide_error *err);

/* Calls cb for every feed (ordered by author id text), with its latest
 * state and forked flag.  Same return convention. */
TIDE_WUR int tide_store_feeds(tide_store *s, tide_store_feed_cb cb, void *ctx, tide_error *err);

/* Calls cb for every piece of fork evidence, of one author (when author
 * is non-NULL) or of all, ordered by author and sequence.  Same return
 * convention. */
TIDE_WUR int tide_store_forks(tide_store *s, const uint8_t *author, tide_store_fork_cb cb,
                              void *ctx, tide_error *err);

/* Calls cb for every indexed contact message with rowid > after_rowid,
 * in rowid order (pass 0 for all).  Same return convention.  This is the
 * follow graph's input. */
TIDE_WUR int tide_store_contacts(tide_store *s, int64_t after_rowid, tide_store_contact_cb cb,
                                 void *ctx, tide_error *err);

/* Fills *out with counts and the database size.  TIDE_E_STORE. */
TIDE_WUR int tide_store_get_stats(tide_store *s, tide_store_stats *out, tide_error *err);

/* Runs PRAGMA integrity_check plus tide's own consistency check (every
 * feed is a gap-free prefix 1..latest, feeds.latest matches the log, each
 * message's "previous" is the id of the one before).  0 when both pass;
 * TIDE_E_STORE_CORRUPT with the first problem in err; TIDE_E_STORE.
 * Reads the whole store: for tests, `tide store check` and after crashes,
 * not for every open. */
TIDE_WUR int tide_store_check(tide_store *s, tide_error *err);

#endif
