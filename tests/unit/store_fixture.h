/* store_fixture.h - messages for the store and ingest tests.
 *
 * Keys come from fixed seeds (seed bytes all equal to n), timestamps are
 * fixed, so every run builds the same messages.  All helpers abort the
 * test program on failure to build a message: a fixture that cannot be
 * built makes every later assertion meaningless. */
#ifndef TIDE_STORE_FIXTURE_H
#define TIDE_STORE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "tide/buf.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"

static inline void fx_die(const char *what, int rc, const tide_error *e)
{
  fprintf(stderr, "fixture: %s failed: %d %s\n", what, rc, tide_error_text(e, rc));
  abort();
}

static inline void fx_keys(tide_keypair *kp, int n)
{
  uint8_t seed[TIDE_SEED_BYTES];
  memset(seed, n, sizeof seed);
  if (tide_keys_from_seed(kp, seed) != 0)
    fx_die("keys", -1, NULL);
}

static inline void fx_state(tide_feed_state *st, const tide_msg *m)
{
  memcpy(st->id, tide_msg_id(m), TIDE_HASH_BYTES);
  st->sequence = tide_msg_sequence(m);
}

/* Signs `content` as the message after prev (NULL: the first). */
static inline tide_msg *fx_sign(const tide_keypair *kp, const tide_msg *prev,
                                const tide_json *content)
{
  tide_feed_state st;
  tide_msg *m = NULL;
  tide_error e;
  int rc;

  if (prev != NULL)
    fx_state(&st, prev);
  rc = tide_msg_create(&m, kp, prev != NULL ? &st : NULL,
                       1700000000000.0 + (prev != NULL ? (double)tide_msg_sequence(prev) : 0.0),
                       content, NULL, &e);
  if (rc != 0)
    fx_die("tide_msg_create", rc, &e);
  return m;
}

static inline tide_json *fx_str(tide_json_doc *d, const char *s)
{
  return tide_json_new_string(d, s, strlen(s));
}

static inline void fx_set(tide_json_doc *d, tide_json *o, const char *k, tide_json *v)
{
  if (v == NULL || tide_json_object_set(d, o, k, strlen(k), v) != 0)
    fx_die("json", -1, NULL);
}

/* {"type":"post","text":text} */
static inline tide_msg *fx_post(const tide_keypair *kp, const tide_msg *prev, const char *text)
{
  tide_json_doc *d = tide_json_doc_new();
  tide_json *o = tide_json_new_object(d);
  tide_msg *m;

  fx_set(d, o, "type", fx_str(d, "post"));
  fx_set(d, o, "text", fx_str(d, text));
  m = fx_sign(kp, prev, o);
  tide_json_doc_free(d);
  return m;
}

/* {"type":"contact","contact":who,"following":f?,"blocking":b?}; f and b
 * are 1/0, or -1 to leave the field out. */
static inline tide_msg *fx_contact(const tide_keypair *kp, const tide_msg *prev, const char *who,
                                   int f, int b)
{
  tide_json_doc *d = tide_json_doc_new();
  tide_json *o = tide_json_new_object(d);
  tide_msg *m;

  fx_set(d, o, "type", fx_str(d, "contact"));
  fx_set(d, o, "contact", fx_str(d, who));
  if (f >= 0)
    fx_set(d, o, "following", tide_json_new_bool(d, f));
  if (b >= 0)
    fx_set(d, o, "blocking", tide_json_new_bool(d, b));
  m = fx_sign(kp, prev, o);
  tide_json_doc_free(d);
  return m;
}

/* n posts of kp's feed into out[0..n). */
static inline void fx_chain(tide_msg **out, const tide_keypair *kp, size_t n, const char *tag)
{
  char text[64];
  for (size_t i = 0; i < n; i++) {
    snprintf(text, sizeof text, "%s %zu", tag, i + 1);
    out[i] = fx_post(kp, i == 0 ? NULL : out[i - 1], text);
  }
}

/* A post of kp's feed at `seq` with the JSON texts `previous` and
 * `timestamp` put in verbatim (e.g. "[\"%...\"]", "\"yesterday\""),
 * signed as JSON.stringify(value, null, 2) renders them.  When `wire_ts`
 * is not NULL the timestamp is replaced by it after signing (as a peer
 * would send "1e400", which JSON.parse reads as Infinity and
 * JSON.stringify signs as null). */
static inline tide_msg *fx_raw(const tide_keypair *kp, int64_t seq, const char *previous,
                               const char *timestamp, const char *wire_ts)
{
  char fid[TIDE_FEED_ID_LEN + 1], in[1024], sig_line[160];
  unsigned char sig[64];
  tide_buf text = TIDE_BUF_INIT, sig64 = TIDE_BUF_INIT, out = TIDE_BUF_INIT;
  tide_json_doc *d = NULL;
  tide_msg *m = NULL;
  tide_error e;
  int rc;

  tide_feed_id_format(fid, kp->pk);
  snprintf(in, sizeof in,
           "{\"previous\":%s,\"author\":\"%s\",\"sequence\":%lld,\"timestamp\":%s,"
           "\"hash\":\"sha256\",\"content\":{\"type\":\"post\",\"text\":\"raw %lld\"}}",
           previous, fid, (long long)seq, timestamp, (long long)seq);
  rc = tide_json_parse(&d, in, strlen(in), NULL, &e);
  if (rc != 0)
    fx_die("fx_raw parse", rc, &e);
  if (tide_json_write(&text, tide_json_root(d), 2) != 0)
    fx_die("fx_raw write", -1, NULL);
  crypto_sign_detached(sig, NULL, (const unsigned char *)text.data, text.len, kp->sk);
  if (tide_b64_encode(&sig64, sig, sizeof sig) != 0)
    fx_die("fx_raw b64", -1, NULL);
  snprintf(sig_line, sizeof sig_line, ",\n  \"signature\": \"%.*s.sig.ed25519\"\n}", (int)sig64.len,
           (const char *)sig64.data);
  for (size_t i = 0; i + 1 < text.len; i++) { /* all but the closing brace */
    if (wire_ts != NULL && strncmp((const char *)text.data + i, "\"timestamp\": ", 13) == 0) {
      size_t j = i + 13;
      if (tide_buf_append(&out, text.data + i, 13) != 0 || tide_buf_puts(&out, wire_ts) != 0)
        fx_die("fx_raw buf", -1, NULL);
      while (text.data[j] != ',')
        j++;
      i = j - 1;
      continue;
    }
    if (tide_buf_putc(&out, (char)text.data[i]) != 0)
      fx_die("fx_raw buf", -1, NULL);
  }
  while (out.len > 0 && out.data[out.len - 1] == '\n')
    out.len--;
  if (tide_buf_puts(&out, sig_line) != 0)
    fx_die("fx_raw buf", -1, NULL);
  rc = tide_msg_parse(&m, (const char *)out.data, out.len, &e);
  if (rc != 0)
    fx_die("fx_raw msg", rc, &e);
  tide_json_doc_free(d);
  tide_buf_free(&text);
  tide_buf_free(&sig64);
  tide_buf_free(&out);
  return m;
}

/* The id of m as text, for fx_raw's `previous`: "\"%...\"". */
static inline void fx_quoted_id(char out[TIDE_MSG_ID_LEN + 3], const tide_msg *m)
{
  out[0] = '"';
  tide_msg_id_format(out + 1, tide_msg_id(m));
  out[TIDE_MSG_ID_LEN + 1] = '"';
  out[TIDE_MSG_ID_LEN + 2] = '\0';
}

static inline void fx_free_all(tide_msg **m, size_t n)
{
  for (size_t i = 0; i < n; i++)
    tide_msg_free(m[i]);
}

#endif
