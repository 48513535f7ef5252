/* msg.c - message benchmark: parse (JSON, canonical text, id) and full
 * validation against the raw libsodium ed25519 verify rate, one thread,
 * measured in the same run.
 *
 * Output, one figure per line (`name value unit`):
 *   msg_bytes            mean canonical size of the test messages
 *   verify_raw_rate      crypto_sign_verify_detached over the signed bytes
 *   parse_rate           tide_msg_parse of the compact wire text
 *   parse_cost_ratio     parse time / raw verify time (target well < 0.10)
 *   validate_rate        tide_msg_parse + tide_msg_validate (with verify)
 *   validate_vs_verify   validate_rate / verify_raw_rate
 * The measurements alternate in chunks of 20 messages (load from other
 * processes hits them alike) and use this thread's CPU time; each total
 * is the best of 3 passes. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tide/msg.h"

#define N_MSGS 1000
#define ROUNDS 3
#define CHUNK  20

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts); /* CPU time: the machine is shared */
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
  static char *wire[N_MSGS];
  static size_t wire_len[N_MSGS];
  static char *unsigned_text[N_MSGS];
  static size_t unsigned_len[N_MSGS];
  static uint8_t sigs[N_MSGS][TIDE_SIG_BYTES];
  static tide_feed_state states[N_MSGS];
  tide_json_doc *doc;
  tide_keypair kp;
  tide_feed_state st;
  tide_error err;
  size_t total = 0;
  double t0, t_verify = 1e9, t_parse = 1e9, t_validate = 1e9;
  int rc;

  if (tide_init() != 0)
    return 1;
  doc = tide_json_doc_new();
  if (doc == NULL || tide_keys_generate(&kp) != 0)
    return 1;
  /* A feed of ~600-byte posts with some non-ASCII text. */
  for (int i = 0; i < N_MSGS; i++) {
    char text[512];
    tide_json *c = tide_json_new_object(doc), *v;
    tide_msg *m = NULL;
    tide_buf b = TIDE_BUF_INIT;
    const char *canon;
    size_t len;

    snprintf(text, sizeof text,
             "Message %d of the benchmark feed. Wind NW 4, sea slight, visibility good; "
             "position 54\xc2\xb0 10' N 10\xc2\xb0 52' E. All crew well, next sync at the "
             "harbour. Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod "
             "tempor incididunt ut labore et dolore magna aliqua.",
             i);
    v = tide_json_new_string(doc, "post", 4);
    if (c == NULL || v == NULL || tide_json_object_set(doc, c, "type", 4, v) != 0)
      return 1;
    v = tide_json_new_string(doc, text, strlen(text));
    if (v == NULL || tide_json_object_set(doc, c, "text", 4, v) != 0)
      return 1;
    v = tide_json_new_string(doc, "#sailing", 8);
    if (v == NULL || tide_json_object_set(doc, c, "channel", 7, v) != 0)
      return 1;
    rc = tide_msg_create(&m, &kp, i > 0 ? &st : NULL, 1700000000000.0 + i * 1000.0, c, NULL, &err);
    if (rc != 0) {
      fprintf(stderr, "create: %s\n", tide_error_text(&err, rc));
      return 1;
    }
    if (i > 0)
      states[i] = st;
    memcpy(st.id, tide_msg_id(m), TIDE_HASH_BYTES);
    st.sequence = tide_msg_sequence(m);
    canon = tide_msg_text(m, &len);
    total += len;
    /* the wire form is compact JSON */
    if (tide_json_write(&b, tide_msg_value(m), TIDE_JSON_COMPACT) != 0)
      return 1;
    wire[i] = tide_buf_steal(&b, &wire_len[i]);
    /* the signed bytes: canonical text without the signature member */
    {
      const char *cut = strstr(canon, ",\n  \"signature\": \"");
      const char *sig = cut + 18;
      size_t got = 0;
      unsigned_len[i] = (size_t)(cut - canon) + 2;
      unsigned_text[i] = malloc(unsigned_len[i]);
      if (unsigned_text[i] == NULL)
        return 1;
      memcpy(unsigned_text[i], canon, unsigned_len[i] - 2);
      memcpy(unsigned_text[i] + unsigned_len[i] - 2, "\n}", 2);
      if (sodium_base642bin(sigs[i], TIDE_SIG_BYTES, sig, 88, NULL, &got, NULL,
                            sodium_base64_VARIANT_ORIGINAL) != 0 ||
          got != TIDE_SIG_BYTES)
        return 1;
    }
    tide_msg_free(m);
  }

  /* The three measurements alternate in chunks of CHUNK messages, so
   * that load from other processes affects them alike; each total is the
   * best of ROUNDS passes. */
  for (int r = 0; r < ROUNDS; r++) {
    double sv = 0, sp = 0, sa = 0;
    for (int base = 0; base < N_MSGS; base += CHUNK) {
      t0 = now_s();
      for (int i = base; i < base + CHUNK; i++)
        if (crypto_sign_verify_detached(sigs[i], (const unsigned char *)unsigned_text[i],
                                        unsigned_len[i], kp.pk) != 0)
          return 1;
      sv += now_s() - t0;

      t0 = now_s();
      for (int i = base; i < base + CHUNK; i++) {
        tide_msg *m = NULL;
        if (tide_msg_parse(&m, wire[i], wire_len[i], &err) != 0)
          return 1;
        tide_msg_free(m);
      }
      sp += now_s() - t0;

      t0 = now_s();
      for (int i = base; i < base + CHUNK; i++) {
        tide_msg *m = NULL;
        if (tide_msg_parse(&m, wire[i], wire_len[i], &err) != 0 ||
            tide_msg_validate(m, i > 0 ? &states[i] : NULL, NULL, TIDE_MSG_SIG_UNCHECKED, &err) !=
                0) {
          fprintf(stderr, "validate %d: %s\n", i, err.msg);
          return 1;
        }
        tide_msg_free(m);
      }
      sa += now_s() - t0;
    }
    t_verify = sv < t_verify ? sv : t_verify;
    t_parse = sp < t_parse ? sp : t_parse;
    t_validate = sa < t_validate ? sa : t_validate;
  }

  printf("msg_bytes %zu bytes\n", total / N_MSGS);
  printf("verify_raw_rate %.0f msg/s\n", N_MSGS / t_verify);
  printf("parse_rate %.0f msg/s\n", N_MSGS / t_parse);
  printf("parse_cost_ratio %.4f ratio\n", t_parse / t_verify);
  printf("validate_rate %.0f msg/s\n", N_MSGS / t_validate);
  printf("validate_vs_verify %.3f ratio\n", t_verify / t_validate);

  for (int i = 0; i < N_MSGS; i++) {
    free(wire[i]);
    free(unsigned_text[i]);
  }
  tide_keys_wipe(&kp);
  tide_json_doc_free(doc);
  return 0;
}
