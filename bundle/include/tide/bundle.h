/* tide/bundle.h - bundle files: a signed, compressed, optionally sealed
 * frame stream from one node to one recipient or to anyone
 * (see docs/bundle.md for the byte layout).
 *
 * A bundle is a preamble (magic, version, flags, a random bundle id, the
 * sender's key, the recipient's key or none, the creation time, the id of
 * the zstd dictionary, and when sealed the sealed per-bundle key) followed
 * by chunks.  Each chunk carries a slice of one zstd stream (with the
 * dictionary) of binary frames (tide/frame.h), is chained to everything
 * before it by a BLAKE2b hash, and is signed by the sender; the last chunk
 * is flagged final.  A reader therefore accepts exactly the prefix of
 * chunks that verify: a damaged or truncated bundle yields its valid
 * prefix and a clear error.  Sealed bundles encrypt each chunk with
 * crypto_secretstream (XChaCha20-Poly1305) under a random key that is
 * crypto_box_seal'ed to the recipient's curve25519 key.
 *
 * The first frames of every bundle written by tide are a CLOCK of kind
 * SENDER (the sender's clock when the bundle was cut) and a CLOCK of kind
 * BASE (the recipient's clock the bundle was cut against), then MESSAGES.
 *
 * Writer and reader are sans-I/O state machines: the writer appends bytes
 * to a caller's tide_buf (the caller writes them to a file), the reader
 * takes bytes pushed in and hands out frames.  Writing files safely
 * (temporary name, fsync, rename) and the store side are in
 * tide/bundle_file.h.
 *
 * Thread safety: one writer or reader per thread; distinct objects are
 * independent.  Errors are in the bundle range (-700..-799). */
#ifndef TIDE_BUNDLE_H
#define TIDE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "tide/buf.h"
#include "tide/common.h"
#include "tide/frame.h"
#include "tide/keys.h"

#define TIDE_BUNDLE_MAGIC       "TIDEBNDL"
#define TIDE_BUNDLE_MAGIC_BYTES 8
#define TIDE_BUNDLE_VERSION     1
#define TIDE_BUNDLE_ID_BYTES    16

/* The writer cuts a chunk once this much compressed data is pending. */
#define TIDE_BUNDLE_CHUNK_BYTES ((size_t)64 << 10)
/* Largest chunk payload a reader accepts. */
#define TIDE_BUNDLE_MAX_CHUNK ((size_t)1 << 20)
/* zstd window limit for reading (2^24 = 16 MiB of memory at most). */
#define TIDE_BUNDLE_WINDOW_LOG_MAX 24
/* Default zstd level. */
#define TIDE_BUNDLE_DEFAULT_LEVEL 19

enum {
  TIDE_E_BUNDLE_FORMAT = -700,    /* not a bundle, or a malformed preamble/chunk */
  TIDE_E_BUNDLE_VERSION = -701,   /* a bundle format version this tide cannot read */
  TIDE_E_BUNDLE_TRUNCATED = -702, /* ends before its final chunk */
  TIDE_E_BUNDLE_AUTH = -703,      /* a chunk's signature does not verify: damaged,
                                     or not signed by the sender the header names */
  TIDE_E_BUNDLE_SEALED = -704,    /* sealed to someone else, or cannot be opened */
  TIDE_E_BUNDLE_DICT = -705,      /* compressed with a dictionary we do not have */
  TIDE_E_BUNDLE_ZSTD = -706,      /* zstd failed (detail has zstd's message) */
  TIDE_E_BUNDLE_CONTENT = -707,   /* the authenticated content holds bad frames */
  TIDE_E_BUNDLE_BUDGET = -708     /* the byte budget cannot hold even the header */
};

/* What the preamble says. */
typedef struct tide_bundle_info {
  uint8_t version;
  uint8_t id[TIDE_BUNDLE_ID_BYTES];
  uint8_t sender[TIDE_PK_BYTES];
  int has_recipient;
  uint8_t recipient[TIDE_PK_BYTES];
  int sealed;
  uint64_t created_ms;
  uint32_t dict_id; /* 0 = no dictionary */
} tide_bundle_info;

/* A static description of a bundle (or frame) error; never NULL. */
const char *tide_bundle_strerror(int code);

/* The built-in zstd dictionary (bundle/dict/): its bytes and id, or NULL
 * (and *id = 0) when tide was built without one.  Static memory. */
const uint8_t *tide_bundle_dict(size_t *len, uint32_t *id);

/* --- Writing ----------------------------------------------------------- */

typedef struct tide_bundle_writer tide_bundle_writer;

typedef struct tide_bundle_writer_opts {
  const uint8_t *recipient; /* NULL: a bundle for anyone */
  int seal;                 /* 1: only the recipient can read (needs recipient) */
  uint64_t created_ms;      /* the caller's clock */
  int level;                /* zstd level; 0 = TIDE_BUNDLE_DEFAULT_LEVEL */
  int no_dict;              /* 1: do not use the built-in dictionary */
  uint64_t max_bytes;       /* budget for the whole file; 0 = none */
  size_t chunk_bytes;       /* cut chunks at about this size; 0 =
                               TIDE_BUNDLE_CHUNK_BYTES (at most half of
                               TIDE_BUNDLE_MAX_CHUNK) */
  uint64_t size_hint;       /* expected frame bytes (0 = unknown): lets zstd
                               size its tables, which matters for small
                               bundles at high levels */
} tide_bundle_writer_opts;

/* Starts a bundle signed by sender (borrowed until _free) and appends its
 * preamble to out.  Errors: TIDE_E_INVAL (seal without recipient, bad
 * recipient key), TIDE_E_BUNDLE_ZSTD, TIDE_E_BUNDLE_BUDGET (max_bytes
 * below the preamble), TIDE_E_NOMEM.  *w is owned by the caller. */
TIDE_WUR int tide_bundle_writer_new(tide_bundle_writer **w, tide_buf *out,
                                    const tide_keypair *sender, const tide_bundle_writer_opts *opts,
                                    tide_error *err);

/* Frees the writer (wiping keys); NULL is a no-op. */
void tide_bundle_writer_free(tide_bundle_writer *w);

/* The frame codec of this bundle's stream: encode frames with it, then
 * pass the bytes to tide_bundle_writer_push().  Owned by the writer. */
tide_frame_codec *tide_bundle_writer_codec(tide_bundle_writer *w);

/* The preamble's information (id, sender ...). */
const tide_bundle_info *tide_bundle_writer_info(const tide_bundle_writer *w);

/* Checks whether `more` further bytes of frames still fit the budget
 * together with finishing the bundle; flushes the compressor to measure
 * exactly when the estimate is close.  *fits = 1 or 0 (always 1 without
 * a budget).  May append chunks to out.  TIDE_E_BUNDLE_ZSTD, NOMEM. */
TIDE_WUR int tide_bundle_writer_fits(tide_bundle_writer *w, tide_buf *out, size_t more, int *fits,
                                     tide_error *err);

/* Compresses frame bytes (whole frames, from the writer's codec) and
 * appends any complete chunks to out.  TIDE_E_BUNDLE_ZSTD, NOMEM. */
TIDE_WUR int tide_bundle_writer_push(tide_bundle_writer *w, tide_buf *out, const void *frames,
                                     size_t len, tide_error *err);

/* Ends the zstd stream and appends the remaining chunks, the last one
 * flagged final.  No push after this.  TIDE_E_BUNDLE_ZSTD, NOMEM. */
TIDE_WUR int tide_bundle_writer_finish(tide_bundle_writer *w, tide_buf *out, tide_error *err);

/* Bytes appended to out so far over the writer's life (preamble and
 * chunks), and uncompressed frame bytes pushed. */
uint64_t tide_bundle_writer_bytes_out(const tide_bundle_writer *w);
uint64_t tide_bundle_writer_bytes_in(const tide_bundle_writer *w);

/* --- Reading ----------------------------------------------------------- */

typedef struct tide_bundle_reader tide_bundle_reader;

/* A reader.  me (borrowed until _free; may be NULL) opens bundles sealed
 * to it.  With verify_only set the reader checks the chunks' signatures
 * and the chain but never decrypts or decompresses (inspecting a bundle
 * sealed to someone else); _next() then returns no frames.  NOMEM. */
TIDE_WUR int tide_bundle_reader_new(tide_bundle_reader **r, const tide_keypair *me,
                                    int verify_only);

/* Frees the reader; NULL is a no-op. */
void tide_bundle_reader_free(tide_bundle_reader *r);

/* Makes _next() give MESSAGES as canonical texts (tide_frame.texts)
 * rather than parsed messages: see tide_frame_codec_decode_texts().
 * Call before the first _next(). */
void tide_bundle_reader_decode_texts(tide_bundle_reader *r);

/* Feeds the next len bytes of the file (copied).  Complete chunks are
 * verified at once.  Push in slices (e.g. 64 KiB) and drain frames with
 * _next() in between: verified content waits in memory until read.
 * Errors are sticky (every later call repeats them) and carry the file
 * offset in err->offset: TIDE_E_BUNDLE_FORMAT, _VERSION, _AUTH, _SEALED
 * (sealed to someone else / not openable with me), _DICT, TIDE_E_NOMEM.
 * What was verified before the error can still be read with _next(). */
TIDE_WUR int tide_bundle_reader_push(tide_bundle_reader *r, const uint8_t *in, size_t len,
                                     tide_error *err);

/* Tells the reader the file ended.  Returns 0 when the final chunk was
 * seen, TIDE_E_BUNDLE_TRUNCATED otherwise (or the sticky error). */
TIDE_WUR int tide_bundle_reader_end(tide_bundle_reader *r, tide_error *err);

/* The preamble, or NULL until it has been read. */
const tide_bundle_info *tide_bundle_reader_info(const tide_bundle_reader *r);

/* Decodes the next frame of the verified content into *f (cleared
 * first).  Returns 0 with a frame; TIDE_E_AGAIN when more input is
 * needed (push more, or _end() at EOF); TIDE_E_CLOSED after the last
 * frame of a complete bundle; TIDE_E_BUNDLE_CONTENT (frame error, detail
 * in err), TIDE_E_BUNDLE_ZSTD; after _end() on a truncated bundle, the
 * frames of the valid prefix and then TIDE_E_BUNDLE_TRUNCATED. */
TIDE_WUR int tide_bundle_reader_next(tide_bundle_reader *r, tide_frame *f, tide_error *err);

/* Chunks verified so far, and whether the final one was among them. */
size_t tide_bundle_reader_chunks(const tide_bundle_reader *r, int *final_seen);

/* Bytes consumed (file offset of the verified prefix) and decompressed. */
uint64_t tide_bundle_reader_bytes_verified(const tide_bundle_reader *r);
uint64_t tide_bundle_reader_bytes_plain(const tide_bundle_reader *r);

#endif
