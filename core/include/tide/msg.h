/* tide/msg.h - classic SSB messages: create, sign, parse, validate, id.
 *
 * The executable specification is the JavaScript pair ssb-keys@8 /
 * ssb-validate@4.1.4 (see docs/messages.md):
 *   - signed bytes: UTF-8 of JSON.stringify(msg without signature, null, 2),
 *     optionally HMAC-SHA-512-256'd with a 32-byte "sign cap" key;
 *   - id: "%" + base64(sha256(latin1 low bytes of JSON.stringify(msg, null,
 *     2))) + ".sha256";
 *   - size: UTF-16 length of that text must be <= 8192;
 *   - checks and their order, and the wording of every rejection, follow
 *     ssb-validate's checkInvalid().
 *
 * A tide_msg is an opaque, immutable parsed message.  It owns its parsed
 * JSON and its canonical text; free it with tide_msg_free().  Reading a
 * finished tide_msg from several threads at once is safe, which is how the
 * ingest pipeline checks signatures in parallel. */
#ifndef TIDE_MSG_H
#define TIDE_MSG_H

#include <stddef.h>
#include <stdint.h>

#include "tide/buf.h"
#include "tide/common.h"
#include "tide/json.h"
#include "tide/keys.h"

/* ssb-validate's size limit, in UTF-16 code units of the canonical text. */
#define TIDE_MSG_MAX_LENGTH 8192

typedef struct tide_msg tide_msg;

/* The latest message of a feed as validation needs it: its id and
 * sequence.  A feed with no messages is passed as NULL, not as seq 0. */
typedef struct tide_feed_state {
  uint8_t id[TIDE_HASH_BYTES];
  int64_t sequence;
} tide_feed_state;

/* Parses the JSON text of a message value (any formatting) and computes
 * its canonical text and id.  Succeeds for any JSON text whose root is an
 * object, even when the message is invalid: validity is
 * tide_msg_validate()'s verdict, so reasons match ssb-validate.
 * Nesting up to 10000 levels is parsed (deep messages then fail
 * validation on size, as in ssb-validate).  A message whose canonical
 * text would exceed 256 KiB (never valid; deep nesting makes the text grow
 * with the square of the depth) is neither written nor hashed:
 * tide_msg_text() is empty, tide_msg_id() all zeros,
 * tide_msg_verify_signature() fails, and tide_msg_validate() still gives
 * ssb-validate's reason.
 * Errors: TIDE_E_JSON_* (not JSON, or nested deeper), TIDE_E_MSG_INVALID
 * (root not an object: err->msg is ssb-validate's verdict for it,
 * "invalid message: must have author", or the TypeError it throws for
 * null), TIDE_E_NOMEM.  *out is owned by the caller (NULL on error). */
TIDE_WUR int tide_msg_parse(tide_msg **out, const char *json, size_t len, tide_error *err);

/* Frees a message; NULL is a no-op. */
void tide_msg_free(tide_msg *m);

/* The canonical text JSON.stringify(msg, null, 2) (UTF-8) and its length;
 * owned by m.  This is what the store keeps and serves. */
const char *tide_msg_text(const tide_msg *m, size_t *len);

/* The message id hash (sha256 of the latin1 canonical text); owned by m. */
const uint8_t *tide_msg_id(const tide_msg *m);

/* The author's public key when "author" is a well-formed feed id:
 * returns 1 and fills pk, else 0. */
int tide_msg_author(const tide_msg *m, uint8_t pk[TIDE_PK_BYTES]);

/* The sequence number when it is an integer in 1..2^53, else 0. */
int64_t tide_msg_sequence(const tide_msg *m);

/* The previous id when "previous" is a well-formed message id: returns 1
 * and fills hash; 0 otherwise (null or malformed). */
int tide_msg_previous(const tide_msg *m, uint8_t hash[TIDE_HASH_BYTES]);

/* 1 when "previous" equals the id `id` under JavaScript's loose `!=`
 * comparison that ssb-validate applies (String(previous) == "%<b64>.sha256":
 * a string, or an array or object whose string coercion is that text,
 * e.g. ["%..."]); 0 otherwise (also when the coercion would throw);
 * TIDE_E_NOMEM. tide_msg_validate() and tide_store_append() both use it. */
int tide_msg_previous_matches(const tide_msg *m, const uint8_t id[TIDE_HASH_BYTES]);

/* The id that "previous" loosely equals (see tide_msg_previous_matches):
 * returns 1 and fills hash when String(previous) is a canonical message
 * id; 0 otherwise; TIDE_E_NOMEM. */
int tide_msg_previous_coerced(const tide_msg *m, uint8_t hash[TIDE_HASH_BYTES]);

/* The timestamp when it is a number, else NaN. */
double tide_msg_timestamp(const tide_msg *m);

/* The parsed message value and its "content" member (NULL if absent);
 * owned by m. */
const tide_json *tide_msg_value(const tide_msg *m);
const tide_json *tide_msg_content(const tide_msg *m);

/* Checks the signature only (thread-safe, no state).  hmac_key is NULL
 * (main network) or TIDE_HMAC_KEY_BYTES bytes.  Returns 0 when it
 * verifies, TIDE_E_MSG_SIGNATURE when it does not or cannot be decoded. */
TIDE_WUR int tide_msg_verify_signature(const tide_msg *m, const uint8_t *hmac_key);

/* Signature knowledge passed to tide_msg_validate(). */
#define TIDE_MSG_SIG_UNCHECKED 1 /* validate checks the signature itself */
#define TIDE_MSG_SIG_VALID     0 /* already verified by the caller */
/* any negative value: verification already failed */

/* Validates m as the next message of a feed whose latest message is
 * *state (NULL for a new feed), exactly as ssb-validate's checkInvalid():
 * same checks, same order, same verdict.  sig is TIDE_MSG_SIG_UNCHECKED or
 * the result of an earlier tide_msg_verify_signature() with the same key;
 * it is only consulted at the last step, so the reason does not change.
 * Returns 0 when valid, else TIDE_E_MSG_INVALID with err->msg holding the
 * reference's reason and err->fatal set as ssb-validate sets it
 * (TIDE_E_NOMEM is possible for pathological values).  Details:
 *   - reasons longer than TIDE_ERROR_MSG_BYTES - 1 are cut at a UTF-8
 *     boundary ("message has invalid properties:" + the whole text);
 *   - the "expected sequence" reason prints the state as
 *     {"id":"%...sha256","sequence":N};
 *   - where ssb-validate throws instead (objects with an own "toString",
 *     ssb-keys' "unknown curve" for "@....sha256" authors) err->msg is the
 *     exception's text and fatal is 0.
 * docs/messages.md lists every check and reason.  Thread-safe. */
TIDE_WUR int tide_msg_validate(const tide_msg *m, const tide_feed_state *state,
                               const uint8_t *hmac_key, int sig, tide_error *err);

/* Creates and signs the next message of kp's feed, with the keys in the
 * order previous, author, sequence, timestamp, hash, content, signature.
 * prev is the feed's latest message (NULL for the first); timestamp in ms
 * since the epoch (finite); content is an object with a string "type" of
 * 3..52 UTF-16 units, or an encrypted string ("<base64>.box...").
 * hmac_key as above.  The content is copied.  On success *out_msg (when
 * out_msg is non-NULL) is the signed message, owned by the caller.
 * TIDE_E_MSG_INVALID when ssb-validate's create() would refuse the
 * content, or the signed message would exceed 8192 UTF-16 units (err says
 * why, with ssb-validate's wording), TIDE_E_NOMEM. */
TIDE_WUR int tide_msg_create(tide_msg **out_msg, const tide_keypair *kp,
                             const tide_feed_state *prev, double timestamp,
                             const tide_json *content, const uint8_t *hmac_key, tide_error *err);

#endif
