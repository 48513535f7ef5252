/* mkmsgs.c - messages created and signed by tide, for the JavaScript
 * reference to check (the reverse direction of the conformance suite).
 *
 *   mkmsgs OUT.jsonl [PER_FEED]
 *
 * Creates PER_FEED (default 100) messages on each of 6 feeds with
 * tide_msg_create(): feeds 0-3 on the main network, feeds 4 and 5 each
 * with its own HMAC ("sign cap") key.  Content comes from a corpus of
 * tricky JSON texts (parsed by tide_json_parse: escapes, lone surrogates,
 * number spellings, duplicate and index-like keys, deep nesting, box
 * strings), from a seeded random generator (WTF-8 strings, doubles from
 * random bits, nested values), and from padding grown until
 * tide_msg_create refuses the next size (the 8192 limit).  Everything is
 * deterministic.
 *
 * Each output line is
 *   {"hmacKey":null|"<base64>","nearLimit":bool,"key":"%...","text":"<canonical>","value":{...}}
 * where text is tide's canonical JSON.stringify(value, null, 2) and key its
 * id; tests/js/check-tide-messages.js validates every line with
 * ssb-validate (state chained per feed) and compares ids and text.
 * Exit status 0, or 1 with a message on stderr. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_util.h"
#include "tide/common.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"

#define N_FEEDS 6

/* Content values written as JSON text: tide parses them, so the corpus
 * also exercises the parser's view of escapes and number spellings. */
static const char *const corpus[] = {
    "{\"type\":\"post\",\"text\":\"hello world\"}",
    "{\"type\":\"post\",\"text\":\"\xe6\xbc\xa2\xe5\xad\x97\xe3\x81\x8b\xe3\x81\xaa "
    "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xf0\xa0\x80\x80\"}",
    "{\"type\":\"post\",\"text\":"
    "\"\xf0\x9f\x98\x80\xf0\x9f\x8f\xb3\xef\xb8\x8f\xe2\x80\x8d\xf0\x9f\x8c\x88 \\ud83d\\ude00\"}",
    "{\"type\":\"post\",\"text\":\"e\\u0301 a\xcc\x88 \\u00c5 A\\u030a\"}",
    "{\"type\":\"post\",\"lone\":[\"\\ud800\",\"\\udbff\",\"\\udc00\",\"\\udfff\",\"a\\ud83d\","
    "\"\\ude00\\ud83d\",\"\\ud83d\\ud83d\"]}",
    "{\"type\":\"post\",\"esc\":\"\\\"\\\\\\/"
    "\\b\\f\\n\\r\\t\",\"ctl\":\"\\u0000\\u0001\\u0007\\u000b\\u000e\\u001f\\u007f\\u0080\\u009f\","
    "\"sep\":\"\\u2028\\u2029\",\"bom\":\"\\ufeff\\uffff\\ufffe\"}",
    "{\"type\":\"numbers\",\"a\":1e21,\"b\":1E21,\"c\":1e-7,\"d\":0.30000000000000004,\"e\":-0,"
    "\"f\":-0.0,\"g\":1e20,\"h\":100e-2,\"i\":5e-324,\"j\":1.7976931348623157e308,\"k\":0.000001,"
    "\"l\":1.5e-7,\"m\":123456789012345678901234567890}",
    "{\"type\":\"bigints\",\"a\":9007199254740992,\"b\":9007199254740993,\"c\":9007199254740995,"
    "\"d\":18446744073709551615,\"e\":-9223372036854775808,\"f\":2147483648,\"g\":4294967296}",
    "{\"type\":\"nested\",\"a\":{\"b\":{\"c\":{\"d\":[1,[2,[3,[4,{\"e\":[]}]]]]}}},\"f\":[[[[[]]]]]"
    ",\"g\":[{},[],\"\",null]}",
    "{\"type\":\"empty\",\"s\":\"\",\"o\":{},\"a\":[],\"n\":null,\"t\":true,\"f\":false}",
    "{\"type\":\"order\",\"b\":1,\"a\":2,\"10\":\"ten\",\"2\":\"two\",\"1\":\"one\",\"01\":\"z\","
    "\"-1\":\"m\",\"4294967294\":\"max\",\"4294967295\":\"not index\",\"1.5\":\"f\"}",
    "{\"type\":\"dupes\",\"a\":1,\"b\":2,\"a\":3,\"type\":\"dupes2\"}",
    "{\"type\":\"abc\"}",
    "{\"type\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
    "{\"type\":\"\\ud83d\\ude00\\ud83d\\ude00\"}",
    "{\"type\":\"post\",\"mentions\":[[null,false]],\"channel\":\"\"}",
    "{\"type\":\"proto\",\"__proto__\":{\"x\":1},\"constructor\":\"c\",\"toString\":1}",
    "{\"type\":\"key\\u0000nul\",\"\\u0000\":\"\\u0000\",\"\":\"\"}",
    "  {  \"type\" : \"spaced\" ,\r\n\t\"v\" : [ 1 , 2 ] }  ",
    "\"aGVsbG8gd29ybGQ=.box\"",
    "\"AAAA.box2\"",
};

/* xorshift64*: a seeded PRNG so the output is the same on every run. */
static uint64_t rng_next(uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * 2685821657736338717ULL;
}

static size_t rng_below(uint64_t *s, size_t n)
{
  return (size_t)(rng_next(s) % n);
}

/* Appends the WTF-8 encoding of code point cp (lone surrogates allowed). */
static int put_cp(tide_buf *b, uint32_t cp)
{
  char u[4];
  size_t n;
  if (cp < 0x80) {
    u[0] = (char)cp;
    n = 1;
  } else if (cp < 0x800) {
    u[0] = (char)(0xc0 | (cp >> 6));
    u[1] = (char)(0x80 | (cp & 0x3f));
    n = 2;
  } else if (cp < 0x10000) {
    u[0] = (char)(0xe0 | (cp >> 12));
    u[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[2] = (char)(0x80 | (cp & 0x3f));
    n = 3;
  } else {
    u[0] = (char)(0xf0 | (cp >> 18));
    u[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
    u[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
    u[3] = (char)(0x80 | (cp & 0x3f));
    n = 4;
  }
  return tide_buf_append(b, u, n);
}

static const uint32_t code_points[] = {
    'a',    'Z',    '0',    ' ',     '/',     '"',     '\\',    '\'',   '<',    '&',    0x08,
    0x0c,   '\n',   '\r',   '\t',    0x00,    0x01,    0x1f,    0x7f,   0x80,   0xa0,   0xe9,
    0xff,   0x100,  0x301,  0x308,   0x2028,  0x2029,  0x200d,  0xfeff, 0xfffd, 0xffff, 0x6f22,
    0x5b57, 0x304b, 0xd55c, 0x20000, 0x1f600, 0x1f3f3, 0x1f1f3, 0xd800, 0xdbff, 0xdc00, 0xdfff};

static tide_json *rand_string(tide_json_doc *doc, uint64_t *s, size_t max)
{
  tide_buf b = TIDE_BUF_INIT;
  size_t n = rng_below(s, max + 1);
  uint32_t prev = 0;
  tide_json *v = NULL;
  for (size_t i = 0; i < n; i++) {
    uint32_t cp = code_points[rng_below(s, sizeof code_points / sizeof code_points[0])];
    /* a high then a low surrogate would be a pair, which WTF-8 spells
     * as one 4-byte sequence: keep lone surrogates lone */
    if (prev >= 0xd800 && prev <= 0xdbff && cp >= 0xdc00 && cp <= 0xdfff)
      cp = 'x';
    if (put_cp(&b, cp) != 0)
      goto out;
    prev = cp;
  }
  v = tide_json_new_string(doc, b.data ? b.data : "", b.len);
out:
  tide_buf_free(&b);
  return v;
}

static double rand_double(uint64_t *s)
{
  uint64_t bits = rng_next(s);
  double d;
  memcpy(&d, &bits, sizeof d);
  if (d != d || d - d != 0) /* NaN or infinite */
    d = (double)(bits >> 11) / 7.0;
  return d;
}

static const char *const keys_pool[] = {
    "text",   "a",          "b",  "",           "0",          "1",        "2",
    "10",     "01",         "-1", "4294967294", "4294967295", "\xc3\xa9", "\xf0\x9f\x98\x80",
    "length", "constructor"};

static tide_json *rand_value(tide_json_doc *doc, uint64_t *s, int depth)
{
  size_t r = rng_below(s, depth > 4 ? 6 : 9);
  switch (r) {
  case 0: return tide_json_new_null(doc);
  case 1: return tide_json_new_bool(doc, (int)rng_below(s, 2));
  case 2: return tide_json_new_number(doc, rand_double(s));
  case 3:
    return tide_json_new_number(doc,
                                (double)(int64_t)rng_next(s) / (double)(1 + rng_below(s, 1000)));
  case 4:
  case 5: return rand_string(doc, s, 24);
  case 6: {
    tide_json *a = tide_json_new_array(doc);
    size_t n = rng_below(s, 5);
    for (size_t i = 0; a && i < n; i++) {
      tide_json *it = rand_value(doc, s, depth + 1);
      if (it == NULL || tide_json_array_push(doc, a, it) != 0)
        return NULL;
    }
    return a;
  }
  default: {
    tide_json *o = tide_json_new_object(doc);
    size_t n = rng_below(s, 5);
    for (size_t i = 0; o && i < n; i++) {
      const char *k = keys_pool[rng_below(s, sizeof keys_pool / sizeof keys_pool[0])];
      tide_json *it = rand_value(doc, s, depth + 1);
      if (it == NULL || tide_json_object_set(doc, o, k, strlen(k), it) != 0)
        return NULL;
    }
    return o;
  }
  }
}

static tide_json *rand_content(tide_json_doc *doc, uint64_t *s)
{
  static const char *const types[] = {"post", "vote", "tide-test",
                                      "\xe6\xbc\xa2\xe5\xad\x97\xe3\x81\x8b",
                                      "\xf0\x9f\x98\x80\xf0\x9f\x98\x80"};
  tide_json *o = tide_json_new_object(doc);
  const char *t = types[rng_below(s, sizeof types / sizeof types[0])];
  tide_json *tv = tide_json_new_string(doc, t, strlen(t));
  if (o == NULL || tv == NULL || tide_json_object_set(doc, o, "type", 4, tv) != 0)
    return NULL;
  size_t n = 1 + rng_below(s, 6);
  for (size_t i = 0; i < n; i++) {
    const char *k = keys_pool[rng_below(s, sizeof keys_pool / sizeof keys_pool[0])];
    tide_json *v = rand_value(doc, s, 0);
    if (v == NULL || tide_json_object_set(doc, o, k, strlen(k), v) != 0)
      return NULL;
  }
  return o;
}

/* {"type":"pad","text": unit * n} */
static tide_json *pad_content(tide_json_doc *doc, const char *unit, size_t n)
{
  tide_buf b = TIDE_BUF_INIT;
  tide_json *o = tide_json_new_object(doc), *t = tide_json_new_string(doc, "pad", 3), *v = NULL;
  for (size_t i = 0; i < n; i++)
    if (tide_buf_puts(&b, unit) != 0)
      goto out;
  v = tide_json_new_string(doc, b.data ? b.data : "", b.len);
  if (o == NULL || t == NULL || v == NULL || tide_json_object_set(doc, o, "type", 4, t) != 0 ||
      tide_json_object_set(doc, o, "text", 4, v) != 0)
    o = NULL;
out:
  tide_buf_free(&b);
  return v ? o : NULL;
}

typedef struct feed {
  tide_keypair kp;
  int has_prev;
  tide_feed_state prev;
  int hmac;
  uint8_t hmac_key[TIDE_HMAC_KEY_BYTES];
  char hmac_b64[64];
} feed;

/* Writes one output line for m. */
static int emit(FILE *out, const feed *f, const tide_msg *m, int near_limit)
{
  tide_buf line = TIDE_BUF_INIT;
  char id[TIDE_MSG_ID_LEN + 1];
  size_t tlen;
  const char *text = tide_msg_text(m, &tlen);
  int rc;

  tide_msg_id_format(id, tide_msg_id(m));
  rc = tide_buf_puts(&line, "{\"hmacKey\":");
  if (rc == 0 && f->hmac)
    rc = tide_buf_printf(&line, "\"%s\"", f->hmac_b64);
  else if (rc == 0)
    rc = tide_buf_puts(&line, "null");
  if (rc == 0)
    rc = tide_buf_printf(
        &line, ",\"nearLimit\":%s,\"key\":\"%s\",\"text\":", near_limit ? "true" : "false", id);
  if (rc == 0)
    rc = tide_json_write_string(&line, text, tlen);
  if (rc == 0)
    rc = tide_buf_puts(&line, ",\"value\":");
  if (rc == 0)
    rc = tide_json_write(&line, tide_msg_value(m), TIDE_JSON_COMPACT);
  if (rc == 0)
    rc = tide_buf_puts(&line, "}\n");
  if (rc == 0 && fwrite(line.data, 1, line.len, out) != line.len)
    rc = TIDE_E_IO;
  tide_buf_free(&line);
  return rc;
}

/* Creates the next message of f; returns 0, or the error of
 * tide_msg_create (message in err). *out owned by the caller. */
static int create_next(tide_msg **out, feed *f, double ts, const tide_json *content,
                       tide_error *err)
{
  return tide_msg_create(out, &f->kp, f->has_prev ? &f->prev : NULL, ts, content,
                         f->hmac ? f->hmac_key : NULL, err);
}

static void advance(feed *f, const tide_msg *m)
{
  memcpy(f->prev.id, tide_msg_id(m), TIDE_HASH_BYTES);
  f->prev.sequence = tide_msg_sequence(m);
  f->has_prev = 1;
}

/* The largest padding of `unit` that tide_msg_create accepts; creates and
 * emits that message.  Also checks that one more unit is refused with
 * TIDE_E_MSG_INVALID. */
static int near_limit(FILE *out, feed *f, double ts, const char *unit)
{
  size_t lo = 0, hi = 9000; /* lo fits, hi does not */
  tide_msg *m = NULL;
  tide_error err;
  int rc = -1;
  tide_json_doc *doc = tide_json_doc_new();

  if (doc == NULL)
    return -1;
  while (hi - lo > 1) {
    size_t mid = lo + (hi - lo) / 2;
    tide_json *c = pad_content(doc, unit, mid);
    if (c == NULL)
      goto out;
    int r = create_next(&m, f, ts, c, &err);
    tide_msg_free(m);
    m = NULL;
    if (r == 0) {
      lo = mid;
    } else if (r == TIDE_E_MSG_INVALID) {
      hi = mid;
    } else {
      fprintf(stderr, "mkmsgs: tide_msg_create: %s\n", tide_error_text(&err, r));
      goto out;
    }
  }
  tide_json *c = pad_content(doc, unit, lo);
  if (c == NULL || create_next(&m, f, ts, c, &err) != 0)
    goto out;
  if (emit(out, f, m, 1) != 0)
    goto out;
  advance(f, m);
  rc = 0;
out:
  tide_msg_free(m);
  tide_json_doc_free(doc);
  return rc;
}

int main(int argc, char **argv)
{
  feed feeds[N_FEEDS];
  uint64_t rng = 0x7469646552657673ULL;
  size_t per_feed = 100, made = 0;
  FILE *out;
  int status = 1;
  static const char *const units[] = {"a",    "\xc3\xa9", "\xe6\xbc\xa2", "\xf0\x9f\x98\x80",
                                      "\x01", "\n",       "\"",           "\xed\xa0\x80"};

  if (argc < 2 || argc > 3) {
    fprintf(stderr, "usage: mkmsgs OUT.jsonl [PER_FEED]\n");
    return 2;
  }
  if (argc == 3)
    per_feed = strtoul(argv[2], NULL, 10);
  if (tide_init() != 0)
    return 1;
  out = fopen(argv[1], "wb");
  if (out == NULL) {
    perror(argv[1]);
    return 1;
  }

  memset(feeds, 0, sizeof feeds);
  for (int i = 0; i < N_FEEDS; i++) {
    uint8_t seed[TIDE_SEED_BYTES];
    for (size_t j = 0; j < sizeof seed; j++)
      seed[j] = (uint8_t)(i * 37 + j * 11 + 5);
    if (tide_keys_from_seed(&feeds[i].kp, seed) != 0)
      goto out;
    if (i >= 4) {
      tide_buf b = TIDE_BUF_INIT;
      feeds[i].hmac = 1;
      for (size_t j = 0; j < TIDE_HMAC_KEY_BYTES; j++)
        feeds[i].hmac_key[j] = (uint8_t)(i * 101 + j * 7 + 1);
      if (tide_b64_encode(&b, feeds[i].hmac_key, TIDE_HMAC_KEY_BYTES) != 0 || b.len >= 64) {
        tide_buf_free(&b);
        goto out;
      }
      memcpy(feeds[i].hmac_b64, b.data, b.len);
      feeds[i].hmac_b64[b.len] = '\0';
      tide_buf_free(&b);
    }
  }

  for (size_t n = 0; n < per_feed; n++) {
    for (int i = 0; i < N_FEEDS; i++) {
      feed *f = &feeds[i];
      double ts = 1700000000000.0 + (double)n * 1009.0 + i;
      tide_json_doc *doc = NULL;
      tide_json *content = NULL;
      tide_error err;
      tide_msg *m = NULL;
      size_t slot = n * N_FEEDS + (size_t)i;
      size_t ncorpus = sizeof corpus / sizeof corpus[0];

      if (i % 3 == 1)
        ts += 0.5;
      if (i % 3 == 2 && n % 10 == 3)
        ts = (double)n / 3.0;
      if (n % 12 == 11) {
        if (near_limit(out, f, ts,
                       units[(n / 12 + (size_t)i) % (sizeof units / sizeof units[0])]) != 0) {
          fprintf(stderr, "mkmsgs: near-limit message failed on feed %d\n", i);
          goto out;
        }
        made++;
        continue;
      }
      if (slot < ncorpus || rng_below(&rng, 8) == 0) {
        const char *src = corpus[slot < ncorpus ? slot : rng_below(&rng, ncorpus)];
        if (tide_json_parse(&doc, src, strlen(src), NULL, &err) != 0) {
          fprintf(stderr, "mkmsgs: corpus entry does not parse: %s: %s\n", src, err.msg);
          goto out;
        }
        content = tide_json_root(doc);
      } else {
        doc = tide_json_doc_new();
        content = doc ? rand_content(doc, &rng) : NULL;
      }
      if (content == NULL) {
        tide_json_doc_free(doc);
        goto out;
      }
      int r = create_next(&m, f, ts, content, &err);
      if (r != 0) {
        fprintf(stderr, "mkmsgs: tide_msg_create (feed %d, message %zu): %s\n", i, n,
                tide_error_text(&err, r));
        tide_json_doc_free(doc);
        goto out;
      }
      if (emit(out, f, m, 0) != 0) {
        tide_msg_free(m);
        tide_json_doc_free(doc);
        goto out;
      }
      advance(f, m);
      made++;
      tide_msg_free(m);
      tide_json_doc_free(doc);
    }
  }
  status = 0;
out:
  for (int i = 0; i < N_FEEDS; i++)
    tide_keys_wipe(&feeds[i].kp);
  if (fclose(out) != 0)
    status = 1;
  if (status == 0)
    printf("mkmsgs: %zu messages over %d feeds\n", made, N_FEEDS);
  return status;
}
