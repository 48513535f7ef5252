/* fuzz_frame.c - libFuzzer target for the binary frame decoder.
 *
 * The input is a frame stream: frames are decoded in order with one codec
 * (so feed indexes and implied fields carry across frames) until the
 * input ends or a frame is rejected.  Every decoded frame is re-encoded
 * with a second codec and decoded again, which must succeed and give the
 * same messages: a decoder that accepts what the encoder cannot
 * reproduce is a bug.  Short keys resolve among a fixed set of known
 * keys: 0x01 x 32 (whose short key is ambiguous: 0x01 x 31 + 0x02 is
 * known too), 0x03 x 32 and 0x04 x 32 (docs/frames.md, "Short keys"). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide/frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int resolve(void *ctx, uint8_t key[TIDE_PK_BYTES],
                   const uint8_t prefix[TIDE_FRAME_SHORT_KEY_BYTES])
{
  static const uint8_t fill[4] = {0x01, 0x01, 0x03, 0x04};
  int found = 0;
  (void)ctx;
  for (int i = 0; i < 4; i++) {
    uint8_t k[TIDE_PK_BYTES];
    memset(k, fill[i], sizeof k);
    if (i == 1)
      k[31] = 0x02;
    if (memcmp(k, prefix, TIDE_FRAME_SHORT_KEY_BYTES) != 0)
      continue;
    if (found++)
      return TIDE_FRAME_PREFIX_AMBIGUOUS;
    memcpy(key, k, sizeof k);
  }
  return found ? TIDE_FRAME_PREFIX_FOUND : TIDE_FRAME_PREFIX_UNKNOWN;
}

static void reencode(tide_frame_codec *enc, tide_frame_codec *dec, const tide_frame *f)
{
  tide_buf b = TIDE_BUF_INIT;
  tide_frame g;
  size_t used;
  int rc = 0;

  tide_frame_init(&g);
  switch (f->type) {
  case TIDE_FRAME_CLOCK:
    rc = tide_frame_encode_clock(enc, &b, f->clock_kind, f->entries, f->n_entries);
    break;
  case TIDE_FRAME_NOTE: rc = tide_frame_encode_note(enc, &b, f->entries, f->n_entries); break;
  case TIDE_FRAME_ACK: rc = tide_frame_encode_ack(enc, &b, f->entries, f->n_entries); break;
  case TIDE_FRAME_REQUEST:
    rc = tide_frame_encode_request(enc, &b, f->requests, f->n_requests);
    break;
  case TIDE_FRAME_MESSAGES:
    rc = tide_frame_encode_messages(enc, &b, f->msgs, f->n_msgs, NULL);
    break;
  default: goto out;
  }
  if (rc == TIDE_E_INVAL || rc == TIDE_E_FRAME_LIMIT)
    goto out; /* e.g. a message without a valid author cannot be encoded */
  if (rc != 0)
    abort();
  if (tide_frame_decode(dec, &g, (const uint8_t *)b.data, b.len, &used, NULL) != 0 ||
      used != b.len || g.type != f->type || g.n_msgs != f->n_msgs || g.n_entries != f->n_entries ||
      g.n_requests != f->n_requests)
    abort();
  for (size_t i = 0; i < f->n_msgs; i++) {
    size_t l1, l2;
    const char *t1 = tide_msg_text(f->msgs[i], &l1), *t2 = tide_msg_text(g.msgs[i], &l2);
    if (l1 != l2 || memcmp(t1, t2, l1) != 0)
      abort();
  }
out:
  tide_frame_clear(&g);
  tide_buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int inited;
  tide_frame_codec *c = tide_frame_codec_new();
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_frame f;
  size_t pos = 0;

  if (!inited) {
    if (tide_init() != 0)
      abort();
    inited = 1;
  }
  if (c == NULL || enc == NULL || dec == NULL)
    abort();
  tide_frame_codec_set_resolver(c, resolve, NULL);
  tide_frame_init(&f);
  while (pos < size) {
    size_t used = 0;
    tide_error err;
    int rc = tide_frame_decode(c, &f, data + pos, size - pos, &used, &err);
    if (rc != 0)
      break;
    reencode(enc, dec, &f);
    pos += used;
  }
  tide_frame_clear(&f);
  tide_frame_codec_free(c);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
  return 0;
}
