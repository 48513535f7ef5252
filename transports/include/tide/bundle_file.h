/* tide/bundle_file.h - bundles as a transport: asynchronous EBT over
 * bundle files, and the USB stick as a mule (docs/bundle.md).
 *
 * Export cuts a bundle against what we know of the recipient: the clock
 * entries its bundles carried (kept in the store by tide_clock_save(THEIRS)),
 * or a clock the caller names, and includes, feed by feed, the messages
 * the recipient lacks, within a byte budget.  The bundle names, for each
 * feed it carries, the sequence it was cut against (CLOCK kind BASE: what
 * the recipient must already hold), and carries our clock (CLOCK kind
 * SENDER): to a recipient only the entries that changed since we last
 * told it (request skipping; TIDE_CLOCK_OURS remembers what we told,
 * corrected by the BASE entries of its bundles) plus the feeds we send,
 * to anyone all of it.  Import feeds every message through the normal ingest
 * pipeline (signature, chain, ssb-validate rules), records the sender's
 * clock (only when the bundle is newer than the last one recorded for that
 * sender: a replayed old bundle cannot roll our knowledge back), and
 * reports per message new / already had / rejected with the reason.
 * Because the next export to that peer is cut against its latest clock,
 * whatever it never acknowledged is sent again.
 *
 * Files are written under a temporary name in the target directory,
 * fsynced, renamed, and the directory is fsynced: a reader never sees a
 * half-written bundle under its final name.
 *
 * The store keeps two tables of this module: bundle_peers (the creation
 * time of the newest bundle recorded per sender) and bundle_imported (ids
 * of bundles imported completely).
 *
 * Not thread-safe: the store is used by one thread. */
#ifndef TIDE_BUNDLE_FILE_H
#define TIDE_BUNDLE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "tide/buf.h"
#include "tide/bundle.h"
#include "tide/clock.h"
#include "tide/common.h"
#include "tide/keys.h"
#include "tide/store.h"

/* Progress: called now and then with messages done so far and the total
 * when known (else 0). */
typedef void (*tide_bundle_progress_cb)(void *ctx, uint64_t done, uint64_t total);

typedef struct tide_bundle_export_opts {
  const uint8_t *recipient; /* NULL: a bundle for anyone */
  int seal;                 /* seal to the recipient */
  const tide_clock *base;   /* cut against this clock; NULL: the recipient's
                               recorded clock, or nothing (everything) */
  uint64_t max_bytes;       /* 0: no budget */
  uint64_t max_messages;    /* 0: no limit */
  uint64_t now_ms;          /* creation time */
  int level;                /* zstd level, 0 = default */
  int no_dict;              /* do not use the dictionary */
  size_t chunk_bytes;       /* chunk size; 0 = default */
  tide_bundle_progress_cb progress;
  void *progress_ctx;
} tide_bundle_export_opts;

typedef struct tide_bundle_export_stats {
  uint64_t messages;    /* messages in the bundle */
  uint64_t feeds;       /* feeds with at least one message in it */
  uint64_t bytes;       /* bundle size */
  uint64_t frame_bytes; /* uncompressed frame stream size */
  uint64_t left_out;    /* messages the recipient lacks that did not fit */
  uint8_t id[TIDE_BUNDLE_ID_BYTES];
} tide_bundle_export_stats;

/* Writes a bundle into out (appended).  Errors: TIDE_E_STORE,
 * TIDE_E_BUNDLE_BUDGET (the budget cannot hold the clocks), TIDE_E_NOMEM,
 * TIDE_E_INVAL.  stats may be NULL. */
TIDE_WUR int tide_bundle_export_buf(tide_store *s, const tide_keypair *me,
                                    const tide_bundle_export_opts *o, tide_buf *out,
                                    tide_bundle_export_stats *stats, tide_error *err);

/* Same, into the file path (temporary name, fsync, rename, fsync of the
 * directory).  An existing file is replaced.  TIDE_E_IO (err names the
 * path and the system's reason) as well. */
TIDE_WUR int tide_bundle_export_file(tide_store *s, const tide_keypair *me,
                                     const tide_bundle_export_opts *o, const char *path,
                                     tide_bundle_export_stats *stats, tide_error *err);

/* One rejected message, reported during import (pointers borrowed). */
typedef void (*tide_bundle_reject_cb)(void *ctx, const uint8_t *author, int64_t sequence,
                                      const char *reason);

typedef struct tide_bundle_import_opts {
  uint64_t now_ms; /* received time stored with messages */
  size_t threads;  /* ingest threads, 0 = online CPUs */
  tide_bundle_reject_cb on_reject;
  void *reject_ctx;
  tide_bundle_progress_cb progress;
  void *progress_ctx;
} tide_bundle_import_opts;

typedef struct tide_bundle_import_stats {
  tide_bundle_info info; /* the header (valid when have_info) */
  int have_info;
  int complete;      /* the whole bundle verified and was read */
  uint64_t messages; /* messages decoded */
  uint64_t added, already, rejected, forks;
  uint64_t clock_entries; /* entries of the sender's clock */
  int clock_recorded;     /* 1: recorded; 0: older than what we had */
  uint64_t behind_feeds;  /* feeds where the bundle's base clock is
                             ahead of our store (we miss older messages) */
  int for_other;          /* addressed to someone else (unsealed) */
  uint64_t bytes;         /* file size read */
} tide_bundle_import_stats;

/* Imports a bundle held in memory.  me opens bundles sealed to us.
 * Returns 0 when the whole bundle was valid and read (individual messages
 * may still have been rejected: see stats), else the error that stopped
 * it with err->msg saying what and where: TIDE_E_BUNDLE_* for the bundle
 * itself (the messages of the valid prefix before the error were
 * imported and stats counts them), TIDE_E_STORE / TIDE_E_NOMEM for
 * storage failures (nothing unacknowledged is claimed). */
TIDE_WUR int tide_bundle_import_buf(tide_store *s, const tide_keypair *me, const uint8_t *data,
                                    size_t len, const tide_bundle_import_opts *o,
                                    tide_bundle_import_stats *stats, tide_error *err);

/* Same, streaming from a file (never held whole in memory).  TIDE_E_IO
 * when the file cannot be read. */
TIDE_WUR int tide_bundle_import_file(tide_store *s, const tide_keypair *me, const char *path,
                                     const tide_bundle_import_opts *o,
                                     tide_bundle_import_stats *stats, tide_error *err);

/* 1 when a bundle with this id was imported completely before, 0 when
 * not, <0 on a store error. */
TIDE_WUR int tide_bundle_was_imported(tide_store *s, const uint8_t id[TIDE_BUNDLE_ID_BYTES],
                                      tide_error *err);

/* --- USB stick (drop folder) ---------------------------------------------
 *
 * Layout of the folder (nothing else is read; names are never trusted):
 *   b-<32 hex digits>.tideb   a bundle; the digits are its bundle id
 *   c-<64 hex digits>.tideb   the clock a node left: a message-less bundle
 *                             signed by the key the digits spell
 *   .tmp-*                    files being written (ignored)
 * Only regular files are opened (O_NOFOLLOW); any other name is skipped
 * and counted.  Nothing outside the folder is ever opened or removed. */

typedef struct tide_usb_opts {
  uint64_t now_ms;
  uint64_t max_bytes; /* budget of the bundle we write; 0 = none */
  size_t threads;
  tide_bundle_reject_cb on_reject;
  void *reject_ctx;
} tide_usb_opts;

typedef struct tide_usb_stats {
  uint64_t bundles_seen, bundles_imported, bundles_skipped, bundles_failed;
  uint64_t added, already, rejected;
  uint64_t peers;   /* other nodes whose clocks are on the stick */
  int wrote_bundle; /* 1 when we left a bundle */
  uint64_t wrote_messages, wrote_bytes;
  uint64_t removed; /* bundles removed: every recipient has them */
  uint64_t ignored; /* names that are not ours to read */
} tide_usb_stats;

/* Failure of one file during a sync (pointers borrowed). */
typedef void (*tide_usb_file_cb)(void *ctx, const char *name, int code, const char *msg);

/* Syncs with the stick folder dir: imports every bundle on it not yet
 * imported, writes one bundle with what the peers known on the stick lack
 * (from their clocks; when no other peer is known, everything), within
 * max_bytes, leaves our clock, and removes bundles whose every recipient
 * has acknowledged them (their clocks on the stick cover the contents;
 * for a bundle for anyone, the recipients are every node whose clock is
 * on the stick).  A bad file does not stop the sync: it is reported
 * through on_file (may be NULL) and counted.  Errors: TIDE_E_IO (the
 * folder cannot be read or written), TIDE_E_STORE, TIDE_E_NOMEM. */
TIDE_WUR int tide_usb_sync(tide_store *s, const tide_keypair *me, const char *dir,
                           const tide_usb_opts *o, tide_usb_file_cb on_file, void *file_ctx,
                           tide_usb_stats *stats, tide_error *err);

/* 1 when name is a file name tide_usb_sync() may read or remove: exactly
 * "b-" + 32 lowercase hex + ".tideb", or "c-" + 64 lowercase hex +
 * ".tideb"; sets *kind to 'b' or 'c'.  0 for anything else (slashes,
 * "..", other characters or lengths). */
int tide_usb_name_ok(const char *name, char *kind);

#endif
