/* fuzz_msg.c - libFuzzer target for message parsing and validation.
 *
 * The input is the JSON text of a message.  It is parsed, then validated
 * without state, with the state its own previous/sequence claim, and with
 * a state that does not match; the signature is checked alone as well.
 * Invariants checked (a violation aborts):
 *   - the canonical length computed without writing equals the text's;
 *   - the canonical text parses again to the same text and id;
 *   - the id is sha256 of the text's latin1 bytes;
 *   - a rejection always carries a reason;
 *   - a valid message has a well-formed author, a sequence >= 1, at most
 *     8192 UTF-16 units, a verifying signature, and stays valid when the
 *     signature verdict is passed in precomputed;
 *   - with the signature declared valid, a message rejected only for its
 *     signature becomes valid, and nothing else changes. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide/msg.h"

#include "../../core/msg_int.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_verdict(const tide_msg *m, const tide_feed_state *st)
{
  tide_error err, err2;
  uint8_t pk[TIDE_PK_BYTES];
  size_t len;
  const char *text = tide_msg_text(m, &len);
  int rc = tide_msg_validate(m, st, NULL, TIDE_MSG_SIG_UNCHECKED, &err);
  int rc_valid_sig = tide_msg_validate(m, st, NULL, TIDE_MSG_SIG_VALID, &err2);

  if (rc == TIDE_E_NOMEM || rc_valid_sig == TIDE_E_NOMEM)
    return;
  if (rc != 0) {
    CHECK(rc == TIDE_E_MSG_INVALID);
    CHECK(err.msg[0] != '\0');
    CHECK(err.fatal == 0 || err.fatal == 1);
    if (strcmp(err.msg, "invalid signature") == 0)
      CHECK(rc_valid_sig == 0);
    else
      CHECK(rc_valid_sig == rc && strcmp(err.msg, err2.msg) == 0 && err.fatal == err2.fatal);
    return;
  }
  CHECK(rc_valid_sig == 0);
  CHECK(tide_msg_author(m, pk) == 1);
  CHECK(tide_msg_sequence(m) >= 1);
  CHECK(tide_json_utf16_length(text, len) <= TIDE_MSG_MAX_LENGTH);
  CHECK(tide_msg_verify_signature(m, NULL) == 0);
  CHECK(tide_msg_validate(m, st, NULL, TIDE_E_MSG_SIGNATURE, &err) == TIDE_E_MSG_INVALID);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tide_msg *m = NULL, *again = NULL;
  tide_buf latin = TIDE_BUF_INIT;
  uint8_t h[TIDE_HASH_BYTES];
  tide_feed_state st;
  tide_error err;
  const char *text, *text2;
  size_t len, len2;
  int rc;

  if (tide_init() != 0)
    abort();
  rc = tide_msg_parse(&m, (const char *)data, size, &err);
  if (rc != 0) {
    CHECK(m == NULL);
    return 0;
  }
  text = tide_msg_text(m, &len);
  {
    /* the computed canonical length matches the text (or, for a text
     * too long to keep, exceeds the cap) */
    size_t units, bytes;
    if (tide__msg_pretty_len(tide_msg_value(m), &units, &bytes) == 0) {
      if (len == 0)
        CHECK(bytes > ((size_t)256 << 10));
      else
        CHECK(bytes == len && units == tide_json_utf16_length(text, len));
    }
  }
  if (len == 0) { /* oversized: only the verdicts can be checked */
    check_verdict(m, NULL);
    tide_msg_free(m);
    return 0;
  }

  /* canonical text is a fixed point, and the id is sha256(latin1(text)) */
  rc = tide_msg_parse(&again, text, len, &err);
  if (rc == 0) {
    text2 = tide_msg_text(again, &len2);
    CHECK(len2 == len && memcmp(text, text2, len) == 0);
    CHECK(memcmp(tide_msg_id(m), tide_msg_id(again), TIDE_HASH_BYTES) == 0);
    tide_msg_free(again);
  } else {
    CHECK(rc == TIDE_E_NOMEM);
  }
  if (tide_json_latin1(&latin, text, len) == 0) {
    crypto_hash_sha256(h, (const unsigned char *)latin.data, latin.len);
    CHECK(memcmp(h, tide_msg_id(m), sizeof h) == 0);
  }
  tide_buf_free(&latin);

  check_verdict(m, NULL);
  /* the state the message claims to follow */
  memset(&st, 0, sizeof st);
  (void)tide_msg_previous(m, st.id);
  st.sequence = tide_msg_sequence(m) - 1;
  check_verdict(m, &st);
  /* a state it does not follow */
  memset(st.id, 0xA5, sizeof st.id);
  st.sequence = 41;
  check_verdict(m, &st);
  /* any 32 bytes as HMAC key: the signature cannot verify unless valid */
  rc = tide_msg_verify_signature(m, st.id);
  CHECK(rc == 0 || rc == TIDE_E_MSG_SIGNATURE || rc == TIDE_E_NOMEM);

  tide_msg_free(m);
  return 0;
}
