/* mkfeed.c - writes an identity and a feed of signed messages for the
 * end-to-end serial tests:
 *
 *   mkfeed SECRET_OUT JSONL_OUT SEED COUNT
 *
 * SECRET_OUT gets the SSB-style secret of the key derived from SEED (for
 * `tide init --import-secret`), JSONL_OUT COUNT messages of that feed,
 * one compact JSON value per line (for `tide import`).  Messages are
 * short posts, so a 9600-baud test carries them in seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide/buf.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"

int main(int argc, char **argv)
{
  tide_keypair kp;
  uint8_t seed[TIDE_SEED_BYTES];
  tide_buf out = TIDE_BUF_INIT;
  tide_feed_state st, *prev = NULL;
  FILE *f;
  long n;

  if (argc != 5 || tide_init() != 0) {
    fprintf(stderr, "usage: mkfeed SECRET_OUT JSONL_OUT SEED COUNT\n");
    return 2;
  }
  memset(seed, atoi(argv[3]), sizeof seed);
  n = atol(argv[4]);
  if (tide_keys_from_seed(&kp, seed) != 0 || tide_keys_secret_format(&out, &kp) != 0)
    return 1;
  f = fopen(argv[1], "w");
  if (f == NULL || fwrite(out.data, 1, out.len, f) != out.len || fclose(f) != 0)
    return 1;
  tide_buf_reset(&out);
  for (long i = 0; i < n; i++) {
    tide_json_doc *doc = tide_json_doc_new();
    tide_json *c = tide_json_new_object(doc);
    tide_msg *m = NULL;
    tide_error err;
    char text[64];
    int len = snprintf(text, sizeof text, "pos %ld ok", i);
    if (tide_json_object_set(doc, c, "type", 4, tide_json_new_string(doc, "post", 4)) != 0 ||
        tide_json_object_set(doc, c, "text", 4, tide_json_new_string(doc, text, (size_t)len)) !=
            0 ||
        tide_msg_create(&m, &kp, prev, 1700000000000.0 + (double)i, c, NULL, &err) != 0 ||
        tide_json_write(&out, tide_msg_value(m), 0) != 0 || tide_buf_putc(&out, '\n') != 0) {
      fprintf(stderr, "mkfeed: cannot create message %ld\n", i);
      return 1;
    }
    memcpy(st.id, tide_msg_id(m), TIDE_HASH_BYTES);
    st.sequence = i + 1;
    prev = &st;
    tide_msg_free(m);
    tide_json_doc_free(doc);
  }
  f = fopen(argv[2], "w");
  if (f == NULL || fwrite(out.data ? out.data : "", 1, out.len, f) != out.len || fclose(f) != 0)
    return 1;
  tide_buf_free(&out);
  tide_keys_wipe(&kp);
  return 0;
}
