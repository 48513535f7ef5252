/* fuzz_bundle.c - libFuzzer target for the bundle reader.
 *
 * The first input byte chooses the decoding mode (bit 0: canonical texts,
 * as the importer uses, else parsed messages) and the slice size the
 * bundle is pushed in (1..128 bytes, so chunk and preamble boundaries are
 * crossed everywhere); the rest is the bundle.  The reader holds the key of seed 0x07, so seed
 * bundles sealed to that key are opened and their content decoded too.
 * Every frame of the verified prefix is decoded; whatever the input, the
 * reader must end with a frame count and an error code, never a crash,
 * and never report a complete bundle that ended in an error. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide/bundle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int inited;
  static tide_keypair me;
  tide_bundle_reader *r = NULL;
  tide_frame f;
  size_t slice, pos = 1;
  int rc = 0, fin = 0;

  if (!inited) {
    uint8_t seed[TIDE_SEED_BYTES];
    memset(seed, 7, sizeof seed);
    if (tide_init() != 0 || tide_keys_from_seed(&me, seed) != 0)
      abort();
    inited = 1;
  }
  if (size < 1)
    return 0;
  slice = (size_t)(data[0] >> 1) + 1;
  if (tide_bundle_reader_new(&r, &me, 0) != 0)
    abort();
  if (data[0] & 1)
    tide_bundle_reader_decode_texts(r);
  tide_frame_init(&f);
  while (pos < size && rc == 0) {
    size_t k = size - pos < slice ? size - pos : slice;
    rc = tide_bundle_reader_push(r, data + pos, k, NULL);
    pos += k;
    while (tide_bundle_reader_next(r, &f, NULL) == 0)
      ;
  }
  if (rc == 0)
    rc = tide_bundle_reader_end(r, NULL);
  for (;;) {
    int k = tide_bundle_reader_next(r, &f, NULL);
    if (k != 0) {
      if (k == TIDE_E_CLOSED && rc != 0)
        abort(); /* a clean end after an error */
      break;
    }
  }
  (void)tide_bundle_reader_chunks(r, &fin);
  if (rc == 0 && !fin)
    abort(); /* a complete bundle always has its final chunk */
  tide_frame_clear(&f);
  tide_bundle_reader_free(r);
  return 0;
}
