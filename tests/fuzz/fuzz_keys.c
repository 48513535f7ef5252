/* fuzz_keys.c - libFuzzer target for the secret-file parser and the id
 * parsers.
 *
 * Parses the input as a secret file; when it is accepted, the key pair
 * must be consistent (the secret key re-derives from its seed and holds
 * the public key), and the file tide writes for it must parse back to the
 * same keys.  The input is also read as a feed id and a message id: what
 * parses must format back to the same text.  Any mismatch aborts. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide/keys.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  const char *text = (const char *)data;
  tide_keypair kp, again, derived;
  tide_buf out = TIDE_BUF_INIT;
  uint8_t pk[TIDE_PK_BYTES], hash[TIDE_HASH_BYTES];
  char back[TIDE_FEED_ID_LEN + 1], mback[TIDE_MSG_ID_LEN + 1];
  tide_error e;
  int rc;

  if (sodium_init() < 0)
    abort();
  rc = tide_keys_secret_parse(&kp, text, size, &e);
  if (rc == 0) {
    if (tide_keys_from_seed(&derived, kp.sk) != 0)
      abort();
    if (memcmp(derived.sk, kp.sk, sizeof kp.sk) != 0 || memcmp(derived.pk, kp.pk, sizeof kp.pk))
      abort();
    if (tide_keys_secret_format(&out, &kp) != 0)
      abort();
    if (tide_keys_secret_parse(&again, out.data, out.len, &e) != 0)
      abort();
    if (memcmp(again.sk, kp.sk, sizeof kp.sk) != 0 || memcmp(again.pk, kp.pk, sizeof kp.pk) != 0)
      abort();
    tide_keys_wipe(&again);
    tide_keys_wipe(&derived);
    tide_keys_wipe(&kp);
    tide_buf_free(&out);
  } else if (rc != TIDE_E_KEY_FORMAT && rc != TIDE_E_KEY_CURVE && rc != TIDE_E_NOMEM) {
    abort();
  }
  if (tide_feed_id_parse(pk, text, size) == 0) {
    tide_feed_id_format(back, pk);
    if (size != TIDE_FEED_ID_LEN || memcmp(back, text, size) != 0)
      abort();
  }
  if (tide_msg_id_parse(hash, text, size) == 0) {
    tide_msg_id_format(mback, hash);
    if (size != TIDE_MSG_ID_LEN || memcmp(mback, text, size) != 0)
      abort();
  }
  return 0;
}
