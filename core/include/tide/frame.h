/* tide/frame.h - the binary replication frame codec (see docs/frames.md).
 *
 * One frame vocabulary for every link that is not SSB-over-TCP: bundle
 * files, serial radio, anything else.  A stream of frames is produced by
 * one encoder and consumed by one decoder; both keep per-stream state (a
 * tide_frame_codec), so:
 *   - each 32-byte feed key travels once per stream: the first mention
 *     carries the key and assigns it the next small index, later mentions
 *     send the index (a varint);
 *   - a message travels without what the receiver can rebuild: the author
 *     (the feed index), the sequence (implied: last seq + 1), previous
 *     (implied: the id of the last message of that feed in this stream),
 *     the "hash" name, the key order (one flag) and base64 (the signature
 *     and box content travel as raw bytes); the timestamp is a zigzag
 *     varint delta from the feed's previous timestamp when it is an
 *     integer, else 8 raw IEEE bytes.  The decoder rebuilds the canonical
 *     text JSON.stringify(msg, null, 2) byte for byte and parses it into a
 *     tide_msg, so the id is recomputed and the signature can be checked
 *     by the normal ingest pipeline.  A message whose text the structured
 *     form cannot reproduce exactly travels "raw" (its compact JSON).
 *
 * The codec is plain: no compression (bundles and the radio wrap the frame
 * stream in zstd), no I/O, no clock.  Frames are length-prefixed, so a
 * decoder can be fed arbitrary slices of a stream.
 *
 * Wire layout of one frame:  varint body_len | u8 type | body
 * (body_len counts the type byte and the body).  Varints are unsigned
 * LEB128, at most 10 bytes, minimal form required.
 *
 * Thread safety: a codec is used by one thread at a time; distinct codecs
 * are independent.  Errors are in the frame range (-600..-699). */
#ifndef TIDE_FRAME_H
#define TIDE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "tide/buf.h"
#include "tide/common.h"
#include "tide/keys.h"
#include "tide/msg.h"

/* Format version carried in HELLO. */
#define TIDE_FRAME_VERSION 1

/* Largest frame (type byte + body) an encoder writes and a decoder
 * accepts.  A MESSAGES frame never exceeds it: encoders split. */
#define TIDE_FRAME_MAX_BYTES ((size_t)1 << 20)

/* Most feeds one stream may index; a stream that defines more is
 * rejected (TIDE_E_FRAME_LIMIT). */
#define TIDE_FRAME_MAX_FEEDS ((size_t)1 << 20)

/* Largest sequence number / EBT clock value accepted (2^53). */
#define TIDE_FRAME_MAX_SEQ ((int64_t)1 << 53)

/* Bytes of a short key: a CLOCK frame with short keys (see
 * tide_frame_encode_clock_short) names each feed it introduces by the
 * first 8 bytes of its key instead of 32. */
#define TIDE_FRAME_SHORT_KEY_BYTES 8

/* HELLO capability bits (tide_frame_encode_hello_caps): the sender of
 * the HELLO decodes CLOCK frames with short keys. */
#define TIDE_FRAME_CAP_SHORT_KEYS 0x1u

/* HELLO capability bit: the sender proves the freshness of its HELLO
 * with a PROOF frame (tide_frame_encode_proof) once it has the
 * receiver's HELLO, and requires one from a receiver whose HELLO sets
 * this bit too (docs/frames.md, "PROOF").  An API value: on the wire it
 * is HELLO flag bit 2. */
#define TIDE_FRAME_CAP_PROOF 0x4u

/* Bytes of the HELLO nonce. */
#define TIDE_FRAME_NONCE_BYTES 16

/* Frame errors (module range -600..-699; tide_strerror() says "frame
 * error" for all of them, tide_frame_strerror() is specific). */
enum {
  TIDE_E_FRAME_MALFORMED = -600, /* truncated field, bad varint, bad length */
  TIDE_E_FRAME_TYPE = -601,      /* unknown frame type or version */
  TIDE_E_FRAME_FEED = -602,      /* feed index not defined, key defined twice, or
                                    messages/request for an unresolved short key */
  TIDE_E_FRAME_REBUILD = -603,   /* a message cannot be rebuilt (bad content) */
  TIDE_E_FRAME_SIGNATURE = -604, /* HELLO (or PROOF) signature does not verify */
  TIDE_E_FRAME_LIMIT = -605,     /* a size or count limit is exceeded */
};

/* Frame types (the type byte). */
typedef enum tide_frame_type {
  TIDE_FRAME_HELLO = 1,    /* who is speaking; signed */
  TIDE_FRAME_CLOCK = 2,    /* a whole vector clock (kind says whose) */
  TIDE_FRAME_NOTE = 3,     /* changes to the sender's clock (EBT notes) */
  TIDE_FRAME_MESSAGES = 4, /* messages, in feed order */
  TIDE_FRAME_REQUEST = 5,  /* please send feed f from sequence s */
  TIDE_FRAME_ACK = 6,      /* I now hold feed f up to sequence s */
  TIDE_FRAME_PROOF = 7     /* my HELLO is fresh: signed over your HELLO's nonce */
} tide_frame_type;

/* What a CLOCK frame describes. */
typedef enum tide_frame_clock_kind {
  TIDE_FRAME_CLOCK_SENDER = 0, /* the sender's own clock (replaces the last one) */
  TIDE_FRAME_CLOCK_BASE = 1    /* the receiver's clock as the sender knew it when it
                                  cut this stream: what the receiver must already hold */
} tide_frame_clock_kind;

/* One clock entry.  value uses the EBT v3 encoding: seq << 1 | lazy bit
 * (1 = do not send messages, only notes), or -1 = do not replicate.
 * For ACK entries value is a plain sequence number. */
typedef struct tide_frame_entry {
  uint8_t feed[TIDE_PK_BYTES];
  int64_t value;
} tide_frame_entry;

/* One REQUEST entry: send messages of feed from sequence `from` on,
 * at most `limit` of them (0 = no limit). */
typedef struct tide_frame_request {
  uint8_t feed[TIDE_PK_BYTES];
  int64_t from;
  uint64_t limit;
} tide_frame_request;

/* HELLO content.  `recipient` is meaningful when has_recipient is 1.
 * The signature (by sender) covers the domain string "tide-frame-hello-1"
 * and every other field; tide_frame_decode() verifies it. */
typedef struct tide_frame_hello {
  uint8_t version;
  uint8_t sender[TIDE_PK_BYTES];
  int has_recipient;
  uint8_t recipient[TIDE_PK_BYTES];
  uint64_t time_ms;
  uint8_t nonce[TIDE_FRAME_NONCE_BYTES];
  uint8_t sig[TIDE_SIG_BYTES];
  unsigned caps; /* TIDE_FRAME_CAP_* the sender announced (signed too) */
} tide_frame_hello;

/* A decoded frame.  The arrays belong to the frame and are released by
 * tide_frame_clear(); a caller may take a message out of msgs[] (or a
 * text out of texts[]) by setting the slot to NULL (then it owns and
 * frees it). */
typedef struct tide_frame {
  tide_frame_type type;
  tide_frame_hello hello;            /* HELLO */
  uint8_t proof_sig[TIDE_SIG_BYTES]; /* PROOF: the signature (not verified by
                                        the decoder: see tide_frame_proof_verify) */
  tide_frame_clock_kind clock_kind;  /* CLOCK */
  int short_keys;                    /* CLOCK: sent with short keys */
  tide_frame_entry *entries;         /* CLOCK, NOTE, ACK */
  size_t n_entries;
  size_t n_unresolved;          /* CLOCK, NOTE, ACK: entries left out of entries[]
                                   because their feed is a short key that does not
                                   resolve here (see tide_frame_codec_set_resolver) */
  tide_frame_request *requests; /* REQUEST */
  size_t n_requests;
  tide_msg **msgs; /* MESSAGES, in stream order */
  size_t n_msgs;
  char **texts; /* MESSAGES in texts mode: canonical
                   texts (NUL-terminated, malloc'd) */
  size_t *text_lens;
  size_t n_texts;
} tide_frame;

/* Per-stream state of one direction: the feed index table and, per feed,
 * the id, sequence and timestamp of the last message seen. */
typedef struct tide_frame_codec tide_frame_codec;

/* A fresh codec (empty feed table); NULL when out of memory.  Use one for
 * encoding one stream, another for decoding one stream. */
tide_frame_codec *tide_frame_codec_new(void);

/* Frees a codec; NULL is a no-op. */
void tide_frame_codec_free(tide_frame_codec *c);

/* Number of feeds the codec has indexed so far. */
size_t tide_frame_codec_feeds(const tide_frame_codec *c);

/* Reference compaction (encoder): message content strings that are
 * whole ids ("%<b64>.sha256", "@<b64>.ed25519", "&<b64>.sha256") travel
 * as a marker byte plus their 32 raw bytes (docs/frames.md).  Decoders
 * always understand it.  Off by default: in zstd-compressed streams the
 * compressor already deduplicates repeated ids, and measured bundles grew
 * with it; it pays on uncompressed links. */
void tide_frame_codec_compact_refs(tide_frame_codec *c);

/* Texts mode (decoder): MESSAGES frames give each message's canonical
 * text (f->texts) instead of a parsed tide_msg (f->msgs), so the caller
 * can hand the parsing to the ingest pipeline's worker threads
 * (tide_ingest_push).  The codec still computes each id (sha256 of the
 * text's latin1 bytes) for the implied previous of the next message. */
void tide_frame_codec_decode_texts(tide_frame_codec *c);

/* Side stream: from now on, the random binary fields of the frames this
 * codec encodes or decodes (feed keys, explicit previous hashes, box
 * bytes, signatures) do not travel inside the frames but in a separate
 * byte stream, in frame order (docs/frames.md, "Side stream").  Bundles
 * use it: random bytes do not compress and spoil the compression of the
 * text around them, so they travel outside zstd.  Both ends must agree.
 * HELLO frames are not affected. */
void tide_frame_codec_use_side_stream(tide_frame_codec *c);

/* Encoder side: appends the side-stream bytes of the frames encoded since
 * the last call to out and forgets them.  TIDE_E_NOMEM. */
TIDE_WUR int tide_frame_codec_take_side(tide_frame_codec *c, tide_buf *out);

/* Decoder side: queues len bytes of the side stream (copied).  A frame
 * that needs more side bytes than were given fails with
 * TIDE_E_FRAME_MALFORMED.  TIDE_E_NOMEM. */
TIDE_WUR int tide_frame_codec_give_side(tide_frame_codec *c, const uint8_t *data, size_t len);

/* What a resolver found for a short key. */
enum {
  TIDE_FRAME_PREFIX_UNKNOWN = 0,  /* no known key starts with it */
  TIDE_FRAME_PREFIX_FOUND = 1,    /* exactly one does: copied into key */
  TIDE_FRAME_PREFIX_AMBIGUOUS = 2 /* several do: treated as unknown */
};

/* Resolves a short key (the first TIDE_FRAME_SHORT_KEY_BYTES bytes of a
 * feed key) against the keys the codec's user knows; returns a
 * TIDE_FRAME_PREFIX_* value and, for FOUND, writes the key (which must
 * start with prefix).  tide_ebt_find_prefix() has this contract. */
typedef int (*tide_frame_resolver)(void *ctx, uint8_t key[TIDE_PK_BYTES],
                                   const uint8_t prefix[TIDE_FRAME_SHORT_KEY_BYTES]);

/* Decoder: sets the resolver used for short keys (CLOCK frames sent with
 * tide_frame_encode_clock_short); ctx is borrowed for the codec's life.
 * Without one, every short key is unresolved.  A short key that resolves
 * to a key not yet in the stream's feed table enters it as that key.
 * Otherwise (unknown, ambiguous, or a key the table already holds under
 * another index) it enters as "unresolved": CLOCK, NOTE and ACK entries
 * for it are left out of the decoded frame (counted in n_unresolved),
 * every later reference tries to resolve it again, and a MESSAGES or
 * REQUEST frame that names it while it is still unresolved fails with
 * TIDE_E_FRAME_FEED.  The receiver does not know such a feed, so it does
 * not want it (docs/frames.md, "Short keys"). */
void tide_frame_codec_set_resolver(tide_frame_codec *c, tide_frame_resolver fn, void *ctx);

/* The index of feed pk in the codec's table, or -1 (encoder side: what
 * a frame sent now would call it). */
long tide_frame_codec_index(const tide_frame_codec *c, const uint8_t pk[TIDE_PK_BYTES]);

/* Decoder side: 1 when feed index i names a feed known here (a full key,
 * or a short key that resolves now: an unresolved one is tried again, as
 * a frame's reference would), 0 when it stays unresolved (a MESSAGES or
 * REQUEST frame naming it would fail), -1 when no feed has index i. */
int tide_frame_codec_known(tide_frame_codec *c, size_t i);

/* Zeroes a frame for first use (no allocation). */
void tide_frame_init(tide_frame *f);

/* Releases what a decoded frame holds (messages still in msgs[] are
 * freed) and zeroes it; NULL is a no-op. */
void tide_frame_clear(tide_frame *f);

/* A static description of a frame error code (falls back to
 * tide_strerror() for other codes); never NULL. */
const char *tide_frame_strerror(int code);

/* --- Encoding: each call appends exactly one frame to out. ------------- */

/* HELLO signed with kp; recipient may be NULL (speaking to anyone); nonce
 * is TIDE_FRAME_NONCE_BYTES caller-chosen bytes (random per session).
 * TIDE_E_NOMEM. */
TIDE_WUR int tide_frame_encode_hello(tide_frame_codec *c, tide_buf *out, const tide_keypair *kp,
                                     const uint8_t *recipient, uint64_t time_ms,
                                     const uint8_t nonce[TIDE_FRAME_NONCE_BYTES]);

/* CLOCK of the given kind with n entries (n may be 0).  Values must be
 * -1..TIDE_FRAME_MAX_SEQ*2+1 (TIDE_E_INVAL).  TIDE_E_NOMEM,
 * TIDE_E_FRAME_LIMIT (too many feeds or too large). */
TIDE_WUR int tide_frame_encode_clock(tide_frame_codec *c, tide_buf *out, tide_frame_clock_kind kind,
                                     const tide_frame_entry *entries, size_t n);

/* The same CLOCK with short keys: each feed new to the stream is named
 * by the first TIDE_FRAME_SHORT_KEY_BYTES bytes of its key, which the
 * receiver resolves among the keys it knows (tide_frame_codec_set_resolver);
 * later frames refer to it by index as usual.  Only for a receiver that
 * announced TIDE_FRAME_CAP_SHORT_KEYS.  When two keys of the frame, or a
 * key of the frame and one already in the stream, share their short key,
 * the frame is sent with full keys instead (never ambiguous from the
 * sender's side).  Errors as tide_frame_encode_clock. */
TIDE_WUR int tide_frame_encode_clock_short(tide_frame_codec *c, tide_buf *out,
                                           tide_frame_clock_kind kind,
                                           const tide_frame_entry *entries, size_t n);

/* HELLO with capability bits (TIDE_FRAME_CAP_*); caps 0 is exactly
 * tide_frame_encode_hello.  TIDE_E_INVAL for unknown bits, TIDE_E_NOMEM. */
TIDE_WUR int tide_frame_encode_hello_caps(tide_frame_codec *c, tide_buf *out,
                                          const tide_keypair *kp, const uint8_t *recipient,
                                          uint64_t time_ms,
                                          const uint8_t nonce[TIDE_FRAME_NONCE_BYTES],
                                          unsigned caps);

/* PROOF: proves to the peer that our HELLO is fresh.  Signed with kp
 * over the domain string "tide-frame-proof-1", our key, peer (the peer's
 * key), peer_nonce (the nonce of the peer's HELLO of this session) and
 * our_nonce (the nonce of our HELLO); the frame carries only the 64-byte
 * signature (66 bytes in all), the receiver knows the rest.  Send it
 * only to a peer whose HELLO set TIDE_FRAME_CAP_PROOF, after that HELLO
 * arrived.  TIDE_E_NOMEM. */
TIDE_WUR int tide_frame_encode_proof(tide_frame_codec *c, tide_buf *out, const tide_keypair *kp,
                                     const uint8_t peer[TIDE_PK_BYTES],
                                     const uint8_t peer_nonce[TIDE_FRAME_NONCE_BYTES],
                                     const uint8_t our_nonce[TIDE_FRAME_NONCE_BYTES]);

/* Checks a decoded PROOF's signature: 0 when sig is signer's signature
 * over the PROOF bytes for receiver (whose HELLO carried receiver_nonce)
 * and signer_nonce (the nonce of signer's HELLO), TIDE_E_FRAME_SIGNATURE
 * otherwise.  The receiver of a PROOF passes the peer's key as signer,
 * its own key as receiver, its own HELLO nonce as receiver_nonce and the
 * peer's HELLO nonce as signer_nonce.  The decoder does not call it:
 * only the session knows the nonces. */
TIDE_WUR int tide_frame_proof_verify(const uint8_t sig[TIDE_SIG_BYTES],
                                     const uint8_t signer[TIDE_PK_BYTES],
                                     const uint8_t receiver[TIDE_PK_BYTES],
                                     const uint8_t receiver_nonce[TIDE_FRAME_NONCE_BYTES],
                                     const uint8_t signer_nonce[TIDE_FRAME_NONCE_BYTES]);

/* NOTE: changed entries of the sender's clock; same rules as CLOCK. */
TIDE_WUR int tide_frame_encode_note(tide_frame_codec *c, tide_buf *out,
                                    const tide_frame_entry *entries, size_t n);

/* ACK: entries whose value is a sequence 0..TIDE_FRAME_MAX_SEQ. */
TIDE_WUR int tide_frame_encode_ack(tide_frame_codec *c, tide_buf *out,
                                   const tide_frame_entry *entries, size_t n);

/* REQUEST: from 1..TIDE_FRAME_MAX_SEQ. */
TIDE_WUR int tide_frame_encode_request(tide_frame_codec *c, tide_buf *out,
                                       const tide_frame_request *reqs, size_t n);

/* MESSAGES: the n messages (borrowed) in order.  Each message is sent in
 * structured form when the rebuild reproduces its canonical text exactly
 * (checked by the encoder), else raw.  The message's author must be a
 * valid feed id (else TIDE_E_INVAL with err->msg).  The caller keeps the
 * frame under TIDE_FRAME_MAX_BYTES by passing few enough messages
 * (a classic message is at most ~24 KiB of UTF-8): TIDE_E_FRAME_LIMIT
 * otherwise, with out unchanged.  TIDE_E_NOMEM. */
TIDE_WUR int tide_frame_encode_messages(tide_frame_codec *c, tide_buf *out, tide_msg *const *msgs,
                                        size_t n, tide_error *err);

/* --- Decoding ---------------------------------------------------------- */

/* Decodes the first frame of in[0..len) into *f (which must be
 * initialised or cleared; it is cleared first) and sets *consumed to its
 * size.  Returns 0 on success; TIDE_E_AGAIN when in holds only part of a
 * frame (*consumed = 0: feed more bytes); TIDE_E_FRAME_* when the frame
 * is bad (err->msg says why, err->offset is the offset within the frame).
 * After an error other than TIDE_E_AGAIN the codec state is undefined:
 * the stream must be abandoned (the frames before stay valid).
 * Messages are rebuilt and parsed but NOT validated: run them through
 * tide_msg_validate() / ingest.  TIDE_E_NOMEM. */
TIDE_WUR int tide_frame_decode(tide_frame_codec *c, tide_frame *f, const uint8_t *in, size_t len,
                               size_t *consumed, tide_error *err);

/* --- Varints (shared with the bundle and radio formats) ---------------- */

/* Appends v as unsigned LEB128.  TIDE_E_NOMEM. */
TIDE_WUR int tide_varint_put(tide_buf *out, uint64_t v);

/* Reads a minimal unsigned LEB128 of at most 10 bytes from in[0..len):
 * returns the bytes used (>0), 0 when in ends inside the varint, or -1
 * when it is malformed (too long, overflow, non-minimal). */
int tide_varint_get(uint64_t *v, const uint8_t *in, size_t len);

#endif
