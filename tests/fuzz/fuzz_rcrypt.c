/* fuzz_rcrypt.c - libFuzzer target for the radio encryption parsers
 * (tide/rcrypt.h).
 *
 * Two parts of every input:
 *  - the whole input is offered as a peer's KEX record, in slices of
 *    1 + data[0] % 16 bytes: it must be refused or accepted without a
 *    crash, and never take more than TIDE_RCRYPT_KEX_BYTES;
 *  - two fresh sides run a real KEX, one seals 3000 known bytes, the input
 *    is XORed over the sealed stream (its tail beyond the stream is
 *    appended), and the other side opens it in the same slices: whatever
 *    it returns before failing must be a prefix of the known bytes (an
 *    altered record never yields plaintext), and an unaltered stream must
 *    open whole. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide/rcrypt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int inited;
  static tide_keypair ka, kb;
  static uint8_t plain[3000];
  tide_rcrypt *a = NULL, *b = NULL, *c = NULL;
  tide_buf sealed = TIDE_BUF_INIT, out = TIDE_BUF_INIT;
  size_t slice, used, total = 0, pos;
  int rc = 0, changed = 0;

  if (!inited) {
    uint8_t seed[TIDE_SEED_BYTES];
    if (tide_init() != 0)
      abort();
    memset(seed, 1, sizeof seed);
    if (tide_keys_from_seed(&ka, seed) != 0)
      abort();
    memset(seed, 2, sizeof seed);
    if (tide_keys_from_seed(&kb, seed) != 0)
      abort();
    for (size_t i = 0; i < sizeof plain; i++)
      plain[i] = (uint8_t)(i * 7 + 3);
    inited = 1;
  }
  if (size < 1)
    return 0;
  slice = 1 + data[0] % 16;

  /* the input as a KEX record */
  if (tide_rcrypt_new(&c, &ka, NULL) != 0)
    abort();
  for (pos = 0; pos < size && rc == 0; pos += slice) {
    size_t n = size - pos < slice ? size - pos : slice;
    rc = tide_rcrypt_kex_input(c, data + pos, n, &used, NULL);
    if (used > n)
      abort();
    total += used;
  }
  if (total > TIDE_RCRYPT_KEX_BYTES)
    abort();
  tide_rcrypt_free(c);

  /* the input over a real sealed stream */
  if (tide_rcrypt_new(&a, &ka, kb.pk) != 0 || tide_rcrypt_new(&b, &kb, ka.pk) != 0 ||
      tide_rcrypt_kex_input(a, tide_rcrypt_kex(b), TIDE_RCRYPT_KEX_BYTES, &used, NULL) != 0 ||
      tide_rcrypt_kex_input(b, tide_rcrypt_kex(a), TIDE_RCRYPT_KEX_BYTES, &used, NULL) != 0 ||
      tide_rcrypt_seal(a, plain, sizeof plain, &sealed) != 0)
    abort();
  for (size_t i = 1; i < size; i++) {
    if (i - 1 < sealed.len) {
      sealed.data[i - 1] ^= (char)data[i];
      changed |= data[i] != 0;
    } else if (tide_buf_append(&sealed, data + i, 1) != 0) {
      abort();
    }
  }
  rc = 0;
  for (pos = 0; pos < sealed.len && rc == 0; pos += slice) {
    size_t n = sealed.len - pos < slice ? sealed.len - pos : slice;
    rc = tide_rcrypt_open(b, (const uint8_t *)sealed.data + pos, n, &out, NULL);
    if (rc != 0 && rc != TIDE_E_RCRYPT_AUTH)
      abort();
  }
  if (out.len > sizeof plain || (out.len > 0 && memcmp(out.data, plain, out.len) != 0))
    abort(); /* plaintext that was never sealed */
  if (!changed && size - 1 <= sizeof plain && (rc != 0 || out.len != sizeof plain))
    abort(); /* an unaltered stream opens whole */
  tide_buf_free(&sealed);
  tide_buf_free(&out);
  tide_rcrypt_free(a);
  tide_rcrypt_free(b);
  return 0;
}
