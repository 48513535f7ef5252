/* test_frame.c - the binary frame codec: every frame type round trip,
 * byte-exact message rebuild over the conformance set, streaming decode
 * and rejection of malformed frames. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "store_fixture.h"
#include "tide/buf.h"
#include "tide/frame.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"
#include "tide_test.h"

/* Decodes exactly one frame from b, asserting it uses all bytes. */
static int decode_all(tide_frame_codec *c, tide_frame *f, const tide_buf *b)
{
  size_t used = 0;
  tide_error e;
  int rc = tide_frame_decode(c, f, (const uint8_t *)b->data, b->len, &used, &e);
  if (rc == 0)
    CU_ASSERT_EQUAL(used, b->len);
  return rc;
}

static void test_varint(void)
{
  static const uint64_t vals[] = {
      0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)1 << 53, UINT64_MAX};
  tide_buf b = TIDE_BUF_INIT;
  uint64_t v;

  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_varint_put(&b, vals[i]), 0);
    CU_ASSERT_EQUAL(tide_varint_get(&v, (const uint8_t *)b.data, b.len), (int)b.len);
    CU_ASSERT_EQUAL(v, vals[i]);
    /* every proper prefix is "need more" */
    for (size_t k = 0; k < b.len; k++)
      CU_ASSERT_EQUAL(tide_varint_get(&v, (const uint8_t *)b.data, k), 0);
  }
  {
    const uint8_t nonmin[] = {0x80, 0x00};
    const uint8_t toolong[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    const uint8_t eleven[] = {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01};
    CU_ASSERT_EQUAL(tide_varint_get(&v, nonmin, 2), -1);
    CU_ASSERT_EQUAL(tide_varint_get(&v, toolong, 10), -1);
    CU_ASSERT_EQUAL(tide_varint_get(&v, eleven, 11), -1);
  }
  tide_buf_free(&b);
}

static void test_hello(void)
{
  tide_keypair a, r;
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT;
  tide_frame f;
  uint8_t nonce[TIDE_FRAME_NONCE_BYTES];

  fx_keys(&a, 3);
  fx_keys(&r, 4);
  memset(nonce, 0x5a, sizeof nonce);
  tide_frame_init(&f);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_hello(enc, &b, &a, r.pk, 1700000000123ull, nonce), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.type, TIDE_FRAME_HELLO);
  CU_ASSERT_EQUAL(f.hello.version, TIDE_FRAME_VERSION);
  CU_ASSERT_EQUAL(memcmp(f.hello.sender, a.pk, 32), 0);
  CU_ASSERT_EQUAL(f.hello.has_recipient, 1);
  CU_ASSERT_EQUAL(memcmp(f.hello.recipient, r.pk, 32), 0);
  CU_ASSERT_EQUAL(f.hello.time_ms, 1700000000123ull);
  CU_ASSERT_EQUAL(memcmp(f.hello.nonce, nonce, sizeof nonce), 0);

  /* without recipient */
  tide_buf_reset(&b);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_hello(enc, &b, &a, NULL, 5, nonce), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.hello.has_recipient, 0);
  CU_ASSERT_EQUAL(f.hello.time_ms, 5);

  /* any flipped byte after the length fails (signature or structure) */
  for (size_t i = 1; i < b.len; i++) {
    size_t used;
    int rc;
    b.data[i] ^= 0x01;
    rc = tide_frame_decode(dec, &f, (const uint8_t *)b.data, b.len, &used, NULL);
    CU_ASSERT(rc == TIDE_E_FRAME_SIGNATURE || rc == TIDE_E_FRAME_TYPE ||
              rc == TIDE_E_FRAME_MALFORMED);
    b.data[i] ^= 0x01;
  }
  tide_frame_clear(&f);
  tide_buf_free(&b);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
}

static void test_clock_note_ack_request(void)
{
  tide_keypair k[3];
  tide_frame_entry e[3];
  tide_frame_request rq[2];
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT;
  tide_frame f;
  size_t first_len;

  for (int i = 0; i < 3; i++) {
    fx_keys(&k[i], 10 + i);
    memcpy(e[i].feed, k[i].pk, 32);
  }
  e[0].value = -1;
  e[1].value = 0;
  e[2].value = ((int64_t)1 << 40) | 1;
  tide_frame_init(&f);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock(enc, &b, TIDE_FRAME_CLOCK_BASE, e, 3), 0);
  first_len = b.len;
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.type, TIDE_FRAME_CLOCK);
  CU_ASSERT_EQUAL(f.clock_kind, TIDE_FRAME_CLOCK_BASE);
  CU_ASSERT_EQUAL_FATAL(f.n_entries, 3);
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(memcmp(f.entries[i].feed, k[i].pk, 32), 0);
    CU_ASSERT_EQUAL(f.entries[i].value, e[i].value);
  }
  /* keys travel once: the second clock is much smaller */
  tide_buf_reset(&b);
  e[1].value = 14;
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock(enc, &b, TIDE_FRAME_CLOCK_SENDER, e, 3), 0);
  CU_ASSERT(b.len < first_len - 90);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.clock_kind, TIDE_FRAME_CLOCK_SENDER);
  CU_ASSERT_EQUAL(f.entries[1].value, 14);
  CU_ASSERT_EQUAL(tide_frame_codec_feeds(dec), 3);

  tide_buf_reset(&b);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_note(enc, &b, &e[1], 1), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.type, TIDE_FRAME_NOTE);
  CU_ASSERT_EQUAL_FATAL(f.n_entries, 1);
  CU_ASSERT_EQUAL(memcmp(f.entries[0].feed, k[1].pk, 32), 0);
  CU_ASSERT_EQUAL(f.entries[0].value, 14);

  tide_buf_reset(&b);
  e[0].value = 7;
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_ack(enc, &b, e, 1), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.type, TIDE_FRAME_ACK);
  CU_ASSERT_EQUAL(f.entries[0].value, 7);
  e[0].value = -1; /* not a sequence */
  CU_ASSERT_EQUAL(tide_frame_encode_ack(enc, &b, e, 1), TIDE_E_INVAL);
  e[0].value = -2; /* not a clock value */
  CU_ASSERT_EQUAL(tide_frame_encode_clock(enc, &b, 0, e, 1), TIDE_E_INVAL);

  tide_buf_reset(&b);
  memcpy(rq[0].feed, k[2].pk, 32);
  rq[0].from = 5;
  rq[0].limit = 0;
  fx_keys(&k[0], 99); /* a new feed inside a REQUEST */
  memcpy(rq[1].feed, k[0].pk, 32);
  rq[1].from = 1;
  rq[1].limit = 100;
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_request(enc, &b, rq, 2), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.type, TIDE_FRAME_REQUEST);
  CU_ASSERT_EQUAL_FATAL(f.n_requests, 2);
  CU_ASSERT_EQUAL(memcmp(f.requests[0].feed, k[2].pk, 32), 0);
  CU_ASSERT_EQUAL(f.requests[0].from, 5);
  CU_ASSERT_EQUAL(f.requests[1].limit, 100);
  CU_ASSERT_EQUAL(memcmp(f.requests[1].feed, k[0].pk, 32), 0);

  /* empty clock */
  tide_buf_reset(&b);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock(enc, &b, 0, NULL, 0), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.n_entries, 0);

  tide_frame_clear(&f);
  tide_buf_free(&b);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
}

/* Encodes msgs[0..n) as one MESSAGES frame with enc, decodes with dec and
 * checks each rebuilt message has the same canonical text and id. */
static void roundtrip_msgs(tide_frame_codec *enc, tide_frame_codec *dec, tide_msg *const *msgs,
                           size_t n, size_t *wire, size_t *canon)
{
  tide_buf b = TIDE_BUF_INIT;
  tide_frame f;
  tide_error e;
  int rc;

  tide_frame_init(&f);
  tide_error_clear(&e);
  rc = tide_frame_encode_messages(enc, &b, msgs, n, &e);
  if (rc != 0)
    fprintf(stderr, "encode: %d %s\n", rc, e.msg);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.type, TIDE_FRAME_MESSAGES);
  CU_ASSERT_EQUAL_FATAL(f.n_msgs, n);
  for (size_t i = 0; i < n; i++) {
    size_t l1, l2;
    const char *t1 = tide_msg_text(msgs[i], &l1), *t2 = tide_msg_text(f.msgs[i], &l2);
    CU_ASSERT_EQUAL(l1, l2);
    CU_ASSERT(l1 == l2 && memcmp(t1, t2, l1) == 0);
    CU_ASSERT_EQUAL(memcmp(tide_msg_id(msgs[i]), tide_msg_id(f.msgs[i]), 32), 0);
    if (canon != NULL)
      *canon += l1;
  }
  if (wire != NULL)
    *wire += b.len;
  tide_frame_clear(&f);
  tide_buf_free(&b);
}

/* The same in texts mode: the decoder's texts equal the canonical texts. */
static void roundtrip_texts(tide_msg *const *msgs, size_t n)
{
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT;
  tide_frame f;
  size_t used = 0;

  tide_frame_codec_decode_texts(dec);
  tide_frame_init(&f);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_messages(enc, &b, msgs, n, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_frame_decode(dec, &f, (const uint8_t *)b.data, b.len, &used, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(f.n_texts, n);
  for (size_t i = 0; i < n; i++) {
    size_t l;
    const char *t = tide_msg_text(msgs[i], &l);
    CU_ASSERT(f.text_lens[i] == l && memcmp(f.texts[i], t, l) == 0);
  }
  tide_frame_clear(&f);
  tide_buf_free(&b);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
}

static tide_msg *parse_value(const tide_json *v)
{
  tide_buf t = TIDE_BUF_INIT;
  tide_msg *m = NULL;

  if (tide_json_write(&t, v, TIDE_JSON_COMPACT) != 0 ||
      tide_msg_parse(&m, t.data, t.len, NULL) != 0)
    m = NULL;
  tide_buf_free(&t);
  return m;
}

/* ssb-validation-dataset: every message whose author is a feed id is
 * rebuilt byte for byte (valid or not: the codec must not change what
 * the validator sees), alone in a fresh stream. */
static void test_conformance_dataset(void)
{
  char path[4096];
  size_t len, done = 0, valid_ids = 0;
  char *text;
  tide_json_doc *doc = NULL;

  snprintf(path, sizeof path, "%s/tests/js/node_modules/ssb-validation-dataset/data.json",
           tide_test_source_dir());
  text = tide_test_read_file(path, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  CU_ASSERT_EQUAL_FATAL(tide_json_parse(&doc, text, len, NULL, NULL), 0);
  for (size_t i = 0; i < tide_json_length(tide_json_root(doc)); i++) {
    const tide_json *c = tide_json_array_get(tide_json_root(doc), i);
    const tide_json *mv = tide_json_object_getz(c, "message");
    const tide_json *idv = tide_json_object_getz(c, "id");
    tide_msg *m;
    uint8_t pk[32];
    tide_frame_codec *enc, *dec;

    if (tide_json_typeof(mv) != TIDE_JSON_OBJECT)
      continue;
    m = parse_value(mv);
    CU_ASSERT_PTR_NOT_NULL_FATAL(m);
    if (!tide_msg_author(m, pk)) {
      tide_msg_free(m);
      continue;
    }
    if (tide_json_typeof(tide_json_object_getz(c, "valid")) == TIDE_JSON_TRUE &&
        tide_json_typeof(idv) == TIDE_JSON_STRING) {
      size_t il;
      const char *is = tide_json_string(idv, &il);
      char mine[TIDE_MSG_ID_LEN + 1];
      tide_msg_id_format(mine, tide_msg_id(m));
      CU_ASSERT(il == TIDE_MSG_ID_LEN && memcmp(is, mine, il) == 0);
      valid_ids++;
    }
    enc = tide_frame_codec_new();
    dec = tide_frame_codec_new();
    roundtrip_msgs(enc, dec, &m, 1, NULL, NULL);
    roundtrip_texts(&m, 1);
    tide_frame_codec_free(enc);
    tide_frame_codec_free(dec);
    tide_msg_free(m);
    done++;
  }
  CU_ASSERT(done >= 100);
  CU_ASSERT(valid_ids >= 20);
  tide_json_doc_free(doc);
  free(text);
}

/* Reads a JSONL file of {"key","value"} or test cases {"message"}. */
static size_t load_jsonl(tide_msg **out, size_t cap, const char *rel)
{
  char path[4096];
  size_t len, n = 0;
  char *text, *p, *end;

  snprintf(path, sizeof path, "%s/%s", tide_test_source_dir(), rel);
  text = tide_test_read_file(path, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(text);
  for (p = text; p < text + len && n < cap; p = end + 1) {
    tide_json_doc *doc = NULL;
    const tide_json *v;
    end = memchr(p, '\n', (size_t)(text + len - p));
    if (end == NULL)
      end = text + len;
    if (end == p)
      continue;
    CU_ASSERT_EQUAL_FATAL(tide_json_parse(&doc, p, (size_t)(end - p), NULL, NULL), 0);
    v = tide_json_object_getz(tide_json_root(doc), "value");
    if (v == NULL)
      v = tide_json_object_getz(tide_json_root(doc), "message");
    out[n] = parse_value(v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(out[n]);
    n++;
    tide_json_doc_free(doc);
  }
  free(text);
  return n;
}

/* The 235 real messages of one go-ssb feed in one stream: previous and
 * sequence are implied, ids are equal, the stream is far smaller than
 * the canonical text. */
static void test_conformance_feed_stream(void)
{
  tide_msg *msgs[300];
  size_t n = load_jsonl(msgs, 300, "tests/data/go-ssb-legacy.jsonl");
  size_t wire = 0, canon = 0;
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();

  CU_ASSERT_EQUAL_FATAL(n, 235);
  for (size_t i = 0; i < n; i += 40)
    roundtrip_msgs(enc, dec, msgs + i, n - i < 40 ? n - i : 40, &wire, &canon);
  /* 182201 canonical bytes, about 106000 on the wire (long posts) */
  CU_ASSERT(wire * 10 < canon * 6);
  CU_ASSERT_EQUAL(tide_frame_codec_feeds(dec), 1);
  for (size_t i = 0; i < n; i++)
    tide_msg_free(msgs[i]);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);

  n = load_jsonl(msgs, 300, "tests/data/go-ssb-verify-bugs.jsonl");
  CU_ASSERT_EQUAL_FATAL(n, 2);
  enc = tide_frame_codec_new();
  dec = tide_frame_codec_new();
  roundtrip_msgs(enc, dec, msgs, n, NULL, NULL);
  for (size_t i = 0; i < n; i++)
    tide_msg_free(msgs[i]);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
}

/* Texts mode and side stream: the decoder gives canonical texts, byte
 * for byte, with implied fields resolved through ids it computes. */
static void test_texts_and_side_stream(void)
{
  tide_msg *msgs[300];
  size_t n = load_jsonl(msgs, 300, "tests/data/go-ssb-legacy.jsonl");
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT, side = TIDE_BUF_INIT;
  tide_frame f;
  size_t k = 0, inline_len, side_len;

  CU_ASSERT_EQUAL_FATAL(n, 235);
  tide_frame_codec_use_side_stream(enc);
  tide_frame_codec_use_side_stream(dec);
  tide_frame_codec_decode_texts(dec);
  tide_frame_init(&f);
  for (size_t i = 0; i < n; i += 50)
    CU_ASSERT_EQUAL_FATAL(
        tide_frame_encode_messages(enc, &b, msgs + i, n - i < 50 ? n - i : 50, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_frame_codec_take_side(enc, &side), 0);
  /* 32 bytes of key and 64 of signature per message at least */
  CU_ASSERT(side.len >= 32 + 64 * n);
  inline_len = b.len;
  side_len = side.len;
  /* without the side stream the decoder fails cleanly */
  {
    tide_frame_codec *d2 = tide_frame_codec_new();
    size_t used;
    tide_frame_codec_use_side_stream(d2);
    CU_ASSERT_EQUAL(tide_frame_decode(d2, &f, (const uint8_t *)b.data, b.len, &used, NULL),
                    TIDE_E_FRAME_MALFORMED);
    tide_frame_codec_free(d2);
  }
  CU_ASSERT_EQUAL_FATAL(tide_frame_codec_give_side(dec, (const uint8_t *)side.data, side.len), 0);
  for (size_t pos = 0; pos < b.len;) {
    size_t used = 0;
    CU_ASSERT_EQUAL_FATAL(
        tide_frame_decode(dec, &f, (const uint8_t *)b.data + pos, b.len - pos, &used, NULL), 0);
    CU_ASSERT_EQUAL(f.n_msgs, 0);
    for (size_t i = 0; i < f.n_texts; i++, k++) {
      size_t l;
      const char *t = tide_msg_text(msgs[k], &l);
      CU_ASSERT(f.text_lens[i] == l && memcmp(f.texts[i], t, l) == 0);
    }
    pos += used;
  }
  CU_ASSERT_EQUAL(k, n);
  CU_ASSERT(inline_len + side_len > 0);
  tide_frame_clear(&f);
  tide_buf_free(&b);
  tide_buf_free(&side);
  for (size_t i = 0; i < n; i++)
    tide_msg_free(msgs[i]);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
}

/* Messages made here: box content, fractional timestamps, both key
 * orders, unicode, nested content, several interleaved feeds. */
static void test_created_messages(void)
{
  static const char *contents[] = {
      "{\"type\":\"post\",\"text\":\"h\\u00e9llo \\u20ac \\ud83d\\ude00 \\u0001\"}",
      "{\"type\":\"vote\",\"vote\":{\"link\":\"%AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=."
      "sha256\","
      "\"value\":1,\"expression\":\"Like\"}}",
      "{\"type\":\"xyz\",\"10\":1,\"2\":[1.5,-0,1e21,1e-7,null,true,{}],\"a\":{\"b\":[]}}",
      "\"c2VjcmV0IGJveGVkIGNvbnRlbnQ=.box\"",
      "\"bm90IGNhbm9uaWNhbA==.box2\"",
      "{\"type\":\"about\",\"about\":\"@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519\","
      "\"name\":\"x\\ny\\\"z\\\\\"}"};
  const size_t nc = sizeof contents / sizeof contents[0];
  tide_keypair kp[2];
  tide_msg *msgs[24], *last[2] = {NULL, NULL};
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  size_t n = 0;

  fx_keys(&kp[0], 21);
  fx_keys(&kp[1], 22);
  for (size_t i = 0; i < 24; i++) {
    int w = (int)(i % 3 == 0);
    tide_json_doc *d = NULL;
    tide_feed_state st;
    tide_error e;
    double ts = 1600000000000.0 + (double)i * 1000.0 + (i % 4 == 1 ? 0.25 : 0.0);
    CU_ASSERT_EQUAL_FATAL(
        tide_json_parse(&d, contents[i % nc], strlen(contents[i % nc]), NULL, NULL), 0);
    if (last[w] != NULL)
      fx_state(&st, last[w]);
    if (i == 7)
      ts = -5.0; /* timestamps may go backwards */
    CU_ASSERT_EQUAL_FATAL(
        tide_msg_create(&msgs[n], &kp[w], last[w] ? &st : NULL, ts, tide_json_root(d), NULL, &e),
        0);
    last[w] = msgs[n++];
    tide_json_doc_free(d);
  }
  roundtrip_msgs(enc, dec, msgs, 10, NULL, NULL);
  roundtrip_msgs(enc, dec, msgs + 10, n - 10, NULL, NULL);
  roundtrip_texts(msgs, n);
  CU_ASSERT_EQUAL(tide_frame_codec_feeds(enc), 2);
  /* with reference compaction (votes and abouts carry ids) */
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
  enc = tide_frame_codec_new();
  dec = tide_frame_codec_new();
  tide_frame_codec_compact_refs(enc);
  {
    size_t w1 = 0, w2 = 0;
    tide_frame_codec *e2 = tide_frame_codec_new(), *d2 = tide_frame_codec_new();
    roundtrip_msgs(enc, dec, msgs, n, &w1, NULL);
    roundtrip_msgs(e2, d2, msgs, n, &w2, NULL);
    CU_ASSERT(w1 < w2); /* 44 base64 characters and quotes become 1 + 32 bytes */
    tide_frame_codec_free(e2);
    tide_frame_codec_free(d2);
  }
  /* A stream that starts mid-feed: previous and sequence explicit. */
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
  enc = tide_frame_codec_new();
  dec = tide_frame_codec_new();
  roundtrip_msgs(enc, dec, msgs + 5, 7, NULL, NULL);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
  for (size_t i = 0; i < n; i++)
    tide_msg_free(msgs[i]);
}

/* A message the structured form cannot reproduce travels raw. */
static void test_raw_fallback(void)
{
  static const char *texts[] = {
      /* extra key */
      "{\"previous\":null,\"author\":\"@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519\","
      "\"sequence\":1,\"timestamp\":1,\"hash\":\"sha256\",\"content\":{\"type\":\"post\"},"
      "\"signature\":\"x.sig.ed25519\",\"extra\":1}",
      /* other order */
      "{\"author\":\"@AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=.ed25519\",\"previous\":null,"
      "\"sequence\":1.5,\"timestamp\":\"x\",\"hash\":\"blake\",\"content\":{\"type\":\"post\"},"
      "\"signature\":\"AAAA.sig.ed25519\"}"};
  for (size_t i = 0; i < 2; i++) {
    tide_msg *m = NULL;
    tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
    tide_buf b = TIDE_BUF_INIT;
    CU_ASSERT_EQUAL_FATAL(tide_msg_parse(&m, texts[i], strlen(texts[i]), NULL), 0);
    roundtrip_msgs(enc, dec, &m, 1, NULL, NULL);
    /* the raw flag is on the wire */
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_messages(enc, &b, &m, 1, NULL), 0);
    CU_ASSERT_EQUAL((uint8_t)b.data[b.data[0] & 0x80 ? 4 : 3], 0x80);
    tide_buf_free(&b);
    tide_msg_free(m);
    tide_frame_codec_free(enc);
    tide_frame_codec_free(dec);
  }
}

/* Frames fed one byte at a time: TIDE_E_AGAIN until complete. */
static void test_streaming(void)
{
  tide_keypair kp;
  tide_msg *m[3];
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT;
  tide_frame_entry e;
  tide_frame f;
  size_t pos = 0, frames = 0, avail = 0;

  fx_keys(&kp, 30);
  m[0] = fx_post(&kp, NULL, "one");
  m[1] = fx_post(&kp, m[0], "two");
  m[2] = fx_post(&kp, m[1], "three");
  memcpy(e.feed, kp.pk, 32);
  e.value = 6;
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock(enc, &b, 0, &e, 1), 0);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_messages(enc, &b, m, 3, NULL), 0);
  tide_frame_init(&f);
  while (pos < b.len) {
    size_t used = 0;
    int rc;
    if (avail < b.len - pos)
      avail++;
    rc = tide_frame_decode(dec, &f, (const uint8_t *)b.data + pos, avail, &used, NULL);
    if (rc == TIDE_E_AGAIN) {
      CU_ASSERT_EQUAL(used, 0);
      continue;
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    pos += used;
    avail -= used;
    frames++;
  }
  CU_ASSERT_EQUAL(frames, 2);
  CU_ASSERT_EQUAL(f.n_msgs, 3);
  tide_frame_clear(&f);
  tide_buf_free(&b);
  for (int i = 0; i < 3; i++)
    tide_msg_free(m[i]);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
}

static int decode_bytes(const uint8_t *p, size_t n)
{
  tide_frame_codec *dec = tide_frame_codec_new();
  tide_frame f;
  size_t used;
  tide_error e;
  int rc;

  tide_frame_init(&f);
  tide_error_clear(&e);
  rc = tide_frame_decode(dec, &f, p, n, &used, &e);
  if (rc != 0 && rc != TIDE_E_AGAIN)
    CU_ASSERT(e.msg[0] != '\0');
  tide_frame_clear(&f);
  tide_frame_codec_free(dec);
  return rc;
}

static void test_malformed(void)
{
  const uint8_t empty[] = {0x00};
  const uint8_t unknown[] = {0x01, 0x09};
  const uint8_t huge[] = {0x81, 0x80, 0x80, 0x01, 0x02};
  const uint8_t undef[] = {0x04, 0x03, 0x01, 0x01, 0x01}; /* NOTE n=1, feed index 0 undefined */
  const uint8_t kind[] = {0x03, 0x02, 0x07, 0x00};        /* clock kind 7 */
  const uint8_t trailing[] = {0x04, 0x02, 0x00, 0x00, 0xff};
  const uint8_t count[] = {0x03, 0x02, 0x00, 0x7f}; /* 127 entries in 0 bytes */
  uint8_t dup[1 + 1 + 1 + 1 + 32 + 1 + 1 + 32 + 1];
  size_t k = 0;

  CU_ASSERT_EQUAL(decode_bytes(empty, sizeof empty), TIDE_E_FRAME_MALFORMED);
  CU_ASSERT_EQUAL(decode_bytes(unknown, sizeof unknown), TIDE_E_FRAME_TYPE);
  CU_ASSERT_EQUAL(decode_bytes(huge, sizeof huge), TIDE_E_FRAME_LIMIT);
  CU_ASSERT_EQUAL(decode_bytes(undef, sizeof undef), TIDE_E_FRAME_FEED);
  CU_ASSERT_EQUAL(decode_bytes(kind, sizeof kind), TIDE_E_FRAME_TYPE);
  CU_ASSERT_EQUAL(decode_bytes(trailing, sizeof trailing), TIDE_E_FRAME_MALFORMED);
  CU_ASSERT_EQUAL(decode_bytes(count, sizeof count), TIDE_E_FRAME_MALFORMED);
  /* a key defined twice */
  dup[k++] = (uint8_t)(sizeof dup - 1);
  dup[k++] = TIDE_FRAME_NOTE;
  dup[k++] = 2;
  dup[k++] = 0;
  memset(dup + k, 7, 32);
  k += 32;
  dup[k++] = 1;
  dup[k++] = 0;
  memset(dup + k, 7, 32);
  k += 32;
  dup[k++] = 1;
  CU_ASSERT_EQUAL_FATAL(k, sizeof dup);
  CU_ASSERT_EQUAL(decode_bytes(dup, sizeof dup), TIDE_E_FRAME_FEED);
}

/* --- short keys -------------------------------------------------------- */

/* A resolver over a small list of known keys (linear scan). */
typedef struct known {
  uint8_t keys[8][TIDE_PK_BYTES];
  size_t n;
  int calls;
} known;

static int known_resolve(void *ctx, uint8_t key[TIDE_PK_BYTES],
                         const uint8_t prefix[TIDE_FRAME_SHORT_KEY_BYTES])
{
  known *k = ctx;
  int found = 0;
  k->calls++;
  for (size_t i = 0; i < k->n; i++)
    if (memcmp(k->keys[i], prefix, TIDE_FRAME_SHORT_KEY_BYTES) == 0) {
      if (found++)
        return TIDE_FRAME_PREFIX_AMBIGUOUS;
      memcpy(key, k->keys[i], TIDE_PK_BYTES);
    }
  return found ? TIDE_FRAME_PREFIX_FOUND : TIDE_FRAME_PREFIX_UNKNOWN;
}

static void known_add(known *k, const uint8_t *key)
{
  memcpy(k->keys[k->n++], key, TIDE_PK_BYTES);
}

/* Decodes one frame from b, returning the error (no assertion). */
static int decode_rc(tide_frame_codec *c, tide_frame *f, const tide_buf *b)
{
  size_t used = 0;
  tide_error e;
  tide_error_clear(&e);
  int rc = tide_frame_decode(c, f, (const uint8_t *)b->data, b->len, &used, &e);
  if (rc != 0)
    CU_ASSERT(e.msg[0] != '\0');
  return rc;
}

static void test_short_keys_roundtrip(void)
{
  tide_keypair k[3];
  tide_frame_entry e[3];
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_frame_codec *fenc = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT, full = TIDE_BUF_INIT;
  tide_frame f;
  known kn;

  memset(&kn, 0, sizeof kn);
  for (int i = 0; i < 3; i++) {
    fx_keys(&k[i], 20 + i);
    memcpy(e[i].feed, k[i].pk, 32);
    e[i].value = 2 * i;
    known_add(&kn, k[i].pk);
  }
  tide_frame_codec_set_resolver(dec, known_resolve, &kn);
  tide_frame_init(&f);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(enc, &b, TIDE_FRAME_CLOCK_SENDER, e, 3), 0);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock(fenc, &full, TIDE_FRAME_CLOCK_SENDER, e, 3), 0);
  /* len, type, kind, n, 3 x (feedref 0, 8 bytes, value) */
  CU_ASSERT_EQUAL(b.len, 4 + 3 * 10);
  CU_ASSERT_EQUAL(full.len, b.len + 3 * 24);
  CU_ASSERT_EQUAL((uint8_t)b.data[2], 0x80); /* kind 0 with the short-keys bit */
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.type, TIDE_FRAME_CLOCK);
  CU_ASSERT_EQUAL(f.clock_kind, TIDE_FRAME_CLOCK_SENDER);
  CU_ASSERT_EQUAL(f.short_keys, 1);
  CU_ASSERT_EQUAL(f.n_unresolved, 0);
  CU_ASSERT_EQUAL_FATAL(f.n_entries, 3);
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(memcmp(f.entries[i].feed, k[i].pk, 32), 0);
    CU_ASSERT_EQUAL(f.entries[i].value, 2 * i);
    CU_ASSERT_EQUAL(tide_frame_codec_known(dec, (size_t)i), 1);
  }
  CU_ASSERT_EQUAL(tide_frame_codec_known(dec, 3), -1);
  CU_ASSERT_EQUAL(tide_frame_codec_index(enc, k[2].pk), 2);
  /* later frames use the index; a base clock with short keys works too */
  tide_buf_reset(&b);
  e[1].value = 9;
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_note(enc, &b, &e[1], 1), 0);
  CU_ASSERT_EQUAL(b.len, 5);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(memcmp(f.entries[0].feed, k[1].pk, 32), 0);
  CU_ASSERT_EQUAL(f.entries[0].value, 9);
  tide_buf_reset(&b);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(enc, &b, TIDE_FRAME_CLOCK_BASE, e, 3), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.clock_kind, TIDE_FRAME_CLOCK_BASE);
  CU_ASSERT_EQUAL(f.n_entries, 3);
  /* an empty clock with short keys */
  tide_buf_reset(&b);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(enc, &b, TIDE_FRAME_CLOCK_SENDER, NULL, 0),
                        0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.n_entries, 0);
  CU_ASSERT_EQUAL(tide_frame_encode_clock_short(enc, &b, (tide_frame_clock_kind)2, e, 1),
                  TIDE_E_INVAL);

  /* the side stream carries the 8 bytes like any key */
  {
    tide_frame_codec *se = tide_frame_codec_new(), *sd = tide_frame_codec_new();
    tide_buf side = TIDE_BUF_INIT;
    tide_frame_codec_use_side_stream(se);
    tide_frame_codec_use_side_stream(sd);
    tide_frame_codec_set_resolver(sd, known_resolve, &kn);
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(se, &b, TIDE_FRAME_CLOCK_SENDER, e, 3), 0);
    CU_ASSERT_EQUAL_FATAL(tide_frame_codec_take_side(se, &side), 0);
    CU_ASSERT_EQUAL(side.len, 3 * TIDE_FRAME_SHORT_KEY_BYTES);
    CU_ASSERT_EQUAL_FATAL(tide_frame_codec_give_side(sd, (const uint8_t *)side.data, side.len), 0);
    CU_ASSERT_EQUAL_FATAL(decode_all(sd, &f, &b), 0);
    CU_ASSERT_EQUAL_FATAL(f.n_entries, 3);
    CU_ASSERT_EQUAL(memcmp(f.entries[2].feed, k[2].pk, 32), 0);
    tide_buf_free(&side);
    tide_frame_codec_free(se);
    tide_frame_codec_free(sd);
  }
  tide_frame_clear(&f);
  tide_buf_free(&b);
  tide_buf_free(&full);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(fenc);
  tide_frame_codec_free(dec);
}

/* A message of author kp, sequence 1. */
static tide_msg *first_post(const tide_keypair *kp)
{
  return fx_post(kp, NULL, "short keys");
}

static void test_short_keys_unresolved(void)
{
  tide_keypair k[3];
  tide_frame_entry e[3];
  tide_frame_request rq;
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT, clk = TIDE_BUF_INIT;
  tide_frame f;
  tide_msg *m;
  known kn;

  memset(&kn, 0, sizeof kn);
  for (int i = 0; i < 3; i++) {
    fx_keys(&k[i], 30 + i);
    memcpy(e[i].feed, k[i].pk, 32);
    e[i].value = 4;
  }
  known_add(&kn, k[0].pk);
  known_add(&kn, k[1].pk); /* k[2] is unknown to the receiver */
  tide_frame_codec_set_resolver(dec, known_resolve, &kn);
  tide_frame_init(&f);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(enc, &clk, TIDE_FRAME_CLOCK_SENDER, e, 3), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &clk), 0);
  CU_ASSERT_EQUAL(f.n_entries, 2);
  CU_ASSERT_EQUAL(f.n_unresolved, 1);
  CU_ASSERT_EQUAL(tide_frame_codec_feeds(dec), 3);
  CU_ASSERT_EQUAL(tide_frame_codec_known(dec, 2), 0);
  /* NOTE and ACK entries about it are left out; others stay */
  tide_buf_reset(&b);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_note(enc, &b, e, 3), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.n_entries, 2);
  CU_ASSERT_EQUAL(f.n_unresolved, 1);
  tide_buf_reset(&b);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_ack(enc, &b, &e[2], 1), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.n_entries, 0);
  CU_ASSERT_EQUAL(f.n_unresolved, 1);
  /* MESSAGES of it while unresolved: a stream error */
  m = first_post(&k[2]);
  tide_buf_reset(&b);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_messages(enc, &b, &m, 1, NULL), 0);
  CU_ASSERT_EQUAL(decode_rc(dec, &f, &b), TIDE_E_FRAME_FEED);
  CU_ASSERT_EQUAL(f.n_msgs, 0);
  /* REQUEST of it too (a fresh stream: the error ended the last one) */
  {
    tide_frame_codec *d2 = tide_frame_codec_new();
    tide_frame_codec *e2 = tide_frame_codec_new();
    tide_frame_codec_set_resolver(d2, known_resolve, &kn);
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(e2, &b, TIDE_FRAME_CLOCK_SENDER, e, 3), 0);
    CU_ASSERT_EQUAL_FATAL(decode_all(d2, &f, &b), 0);
    memcpy(rq.feed, k[2].pk, 32);
    rq.from = 1;
    rq.limit = 0;
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_request(e2, &b, &rq, 1), 0);
    CU_ASSERT_EQUAL(decode_rc(d2, &f, &b), TIDE_E_FRAME_FEED);
    tide_frame_codec_free(d2);
    tide_frame_codec_free(e2);
  }
  /* The receiver learns the feed: the next reference resolves it, and
   * messages of it decode. */
  {
    tide_frame_codec *d3 = tide_frame_codec_new();
    tide_frame_codec *e3 = tide_frame_codec_new();
    tide_frame_codec_set_resolver(d3, known_resolve, &kn);
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(e3, &b, TIDE_FRAME_CLOCK_SENDER, e, 3), 0);
    CU_ASSERT_EQUAL_FATAL(decode_all(d3, &f, &b), 0);
    CU_ASSERT_EQUAL(f.n_unresolved, 1);
    known_add(&kn, k[2].pk);
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_note(e3, &b, &e[2], 1), 0);
    CU_ASSERT_EQUAL_FATAL(decode_all(d3, &f, &b), 0);
    CU_ASSERT_EQUAL_FATAL(f.n_entries, 1);
    CU_ASSERT_EQUAL(memcmp(f.entries[0].feed, k[2].pk, 32), 0);
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_messages(e3, &b, &m, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(decode_all(d3, &f, &b), 0);
    CU_ASSERT_EQUAL_FATAL(f.n_msgs, 1);
    CU_ASSERT_EQUAL(memcmp(tide_msg_id(f.msgs[0]), tide_msg_id(m), TIDE_HASH_BYTES), 0);
    tide_frame_codec_free(d3);
    tide_frame_codec_free(e3);
    kn.n--;
  }
  /* without a resolver every short key is unresolved */
  {
    tide_frame_codec *d4 = tide_frame_codec_new();
    CU_ASSERT_EQUAL_FATAL(decode_all(d4, &f, &clk), 0);
    CU_ASSERT_EQUAL(f.n_entries, 0);
    CU_ASSERT_EQUAL(f.n_unresolved, 3);
    tide_frame_codec_free(d4);
  }
  tide_msg_free(m);
  tide_frame_clear(&f);
  tide_buf_free(&b);
  tide_buf_free(&clk);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
}

static void test_short_keys_ambiguous(void)
{
  tide_keypair k[2];
  tide_frame_entry e[2];
  uint8_t twin[32], twin2[32];
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT;
  tide_frame f;
  known kn;

  memset(&kn, 0, sizeof kn);
  fx_keys(&k[0], 40);
  fx_keys(&k[1], 41);
  memcpy(twin, k[0].pk, 32); /* shares k[0]'s 8 first bytes */
  twin[31] ^= 0x55;
  known_add(&kn, k[0].pk);
  known_add(&kn, twin);
  known_add(&kn, k[1].pk);
  tide_frame_codec_set_resolver(dec, known_resolve, &kn);
  tide_frame_init(&f);
  memcpy(e[0].feed, k[0].pk, 32);
  memcpy(e[1].feed, k[1].pk, 32);
  e[0].value = e[1].value = 0;
  /* two known keys share k[0]'s short key: ambiguous, so unresolved */
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(enc, &b, TIDE_FRAME_CLOCK_SENDER, e, 2), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL_FATAL(f.n_entries, 1);
  CU_ASSERT_EQUAL(f.n_unresolved, 1);
  CU_ASSERT_EQUAL(memcmp(f.entries[0].feed, k[1].pk, 32), 0);
  CU_ASSERT_EQUAL(tide_frame_codec_known(dec, 0), 0);

  /* The sender never sends a short key that is ambiguous on its side:
   * two new keys sharing a short key, or one shared with a key already in
   * the stream, make it send the frame with full keys. */
  {
    tide_frame_codec *e2 = tide_frame_codec_new(), *d2 = tide_frame_codec_new();
    tide_frame_entry t[2];
    memcpy(t[0].feed, k[0].pk, 32);
    memcpy(t[1].feed, twin, 32);
    t[0].value = t[1].value = 2;
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(e2, &b, TIDE_FRAME_CLOCK_SENDER, t, 2), 0);
    CU_ASSERT_EQUAL((uint8_t)b.data[2], 0x00);        /* the kind byte without the bit */
    CU_ASSERT_EQUAL_FATAL(decode_all(d2, &f, &b), 0); /* no resolver needed */
    CU_ASSERT_EQUAL_FATAL(f.n_entries, 2);
    CU_ASSERT_EQUAL(f.short_keys, 0);
    CU_ASSERT_EQUAL(memcmp(f.entries[1].feed, twin, 32), 0);
    /* twin2 shares the short key of k[0], already in the stream */
    memcpy(twin2, k[0].pk, 32);
    twin2[20] ^= 0x11;
    memcpy(t[0].feed, twin2, 32);
    memcpy(t[1].feed, k[1].pk, 32);
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(e2, &b, TIDE_FRAME_CLOCK_SENDER, t, 2), 0);
    CU_ASSERT_EQUAL_FATAL(decode_all(d2, &f, &b), 0);
    CU_ASSERT_EQUAL(f.short_keys, 0);
    CU_ASSERT_EQUAL_FATAL(f.n_entries, 2);
    CU_ASSERT_EQUAL(memcmp(f.entries[0].feed, twin2, 32), 0);
    /* the same key twice in one frame is not a collision */
    memcpy(t[0].feed, k[1].pk, 32);
    fx_keys(&k[0], 42);
    memcpy(t[1].feed, k[0].pk, 32);
    tide_frame_entry u[3] = {t[1], t[1], t[0]};
    tide_buf_reset(&b);
    CU_ASSERT_EQUAL_FATAL(tide_frame_encode_clock_short(e2, &b, TIDE_FRAME_CLOCK_SENDER, u, 3), 0);
    CU_ASSERT_EQUAL((uint8_t)b.data[2], 0x80);
    tide_frame_codec_free(e2);
    tide_frame_codec_free(d2);
  }
  tide_frame_clear(&f);
  tide_buf_free(&b);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
}

/* A short key resolves to a key the stream already holds: the sender
 * meant another feed, so it stays unresolved.  A full key that the
 * stream holds only by resolving a short key takes that key over. */
static void test_short_keys_conflicts(void)
{
  tide_keypair k, o;
  uint8_t other[32];
  tide_frame_codec *dec = tide_frame_codec_new();
  tide_frame f;
  known kn;
  uint8_t p[64];
  size_t n = 0, used;

  memset(&kn, 0, sizeof kn);
  fx_keys(&k, 50);
  fx_keys(&o, 51);
  memcpy(other, k.pk, 32); /* the sender's feed: k's short key, another key */
  other[31] ^= 1;
  known_add(&kn, k.pk);
  tide_frame_codec_set_resolver(dec, known_resolve, &kn);
  tide_frame_init(&f);
  /* NOTE {k: 0} with a full key */
  p[n++] = 36;
  p[n++] = TIDE_FRAME_NOTE;
  p[n++] = 1;
  p[n++] = 0;
  memcpy(p + n, k.pk, 32);
  n += 32;
  p[n++] = 1;
  CU_ASSERT_EQUAL_FATAL(tide_frame_decode(dec, &f, p, n, &used, NULL), 0);
  /* CLOCK short {other: 0}: resolves to k, which index 0 holds */
  n = 0;
  p[n++] = 13;
  p[n++] = TIDE_FRAME_CLOCK;
  p[n++] = 0x80;
  p[n++] = 1;
  p[n++] = 0;
  memcpy(p + n, other, 8);
  n += 8;
  p[n++] = 1;
  CU_ASSERT_EQUAL_FATAL(tide_frame_decode(dec, &f, p, n, &used, NULL), 0);
  CU_ASSERT_EQUAL(f.n_entries, 0);
  CU_ASSERT_EQUAL(f.n_unresolved, 1);
  CU_ASSERT_EQUAL(tide_frame_codec_known(dec, 1), 0);
  tide_frame_codec_free(dec);

  /* take-over: short key of `other` resolves to k (all we know) ... */
  dec = tide_frame_codec_new();
  tide_frame_codec_set_resolver(dec, known_resolve, &kn);
  CU_ASSERT_EQUAL_FATAL(tide_frame_decode(dec, &f, p, n, &used, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(f.n_entries, 1);
  CU_ASSERT_EQUAL(memcmp(f.entries[0].feed, k.pk, 32), 0);
  /* ... then the sender names k in full: k takes index 1, index 0 is
   * unresolved again (it was `other`, which we do not know) */
  n = 0;
  p[n++] = 38;
  p[n++] = TIDE_FRAME_NOTE;
  p[n++] = 2;
  p[n++] = 0;
  memcpy(p + n, k.pk, 32);
  n += 32;
  p[n++] = 5;
  p[n++] = 1; /* index 0 */
  p[n++] = 3;
  CU_ASSERT_EQUAL_FATAL(tide_frame_decode(dec, &f, p, n, &used, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(f.n_entries, 1);
  CU_ASSERT_EQUAL(f.n_unresolved, 1);
  CU_ASSERT_EQUAL(memcmp(f.entries[0].feed, k.pk, 32), 0);
  CU_ASSERT_EQUAL(f.entries[0].value, 4);
  CU_ASSERT_EQUAL(tide_frame_codec_known(dec, 0), 0);
  CU_ASSERT_EQUAL(tide_frame_codec_known(dec, 1), 1);
  /* a full key defined twice is still an error */
  CU_ASSERT_EQUAL(tide_frame_decode(dec, &f, p, n, &used, NULL), TIDE_E_FRAME_FEED);
  tide_frame_clear(&f);
  tide_frame_codec_free(dec);
  (void)o;
}

static void test_short_keys_malformed(void)
{
  /* short CLOCK, n = 1, feedref 0 and only 5 of the 8 bytes */
  const uint8_t cut[] = {0x09, 0x02, 0x80, 0x01, 0x00, 1, 2, 3, 4, 5};
  /* the count check: 2 entries in 2 bytes are fine by count but cut */
  const uint8_t cut2[] = {0x06, 0x02, 0x80, 0x02, 0x00, 1, 2};
  const uint8_t kind82[] = {0x03, 0x02, 0x82, 0x00}; /* kind 2 with the bit */
  const uint8_t kind40[] = {0x03, 0x02, 0x40, 0x00}; /* a reserved bit */
  const uint8_t kind81[] = {0x03, 0x02, 0x81, 0x00}; /* base clock, short keys, empty: fine */
  /* a short key on a NOTE is not a thing: feedref 0 takes 32 bytes */
  const uint8_t note[] = {0x0c, 0x03, 0x01, 0x00, 1, 2, 3, 4, 5, 6, 7, 8, 0x01};
  /* a short CLOCK whose value is out of range */
  uint8_t big[32];
  size_t n = 0;

  CU_ASSERT_EQUAL(decode_bytes(cut, sizeof cut), TIDE_E_FRAME_MALFORMED);
  CU_ASSERT_EQUAL(decode_bytes(cut2, sizeof cut2), TIDE_E_FRAME_MALFORMED);
  CU_ASSERT_EQUAL(decode_bytes(kind82, sizeof kind82), TIDE_E_FRAME_TYPE);
  CU_ASSERT_EQUAL(decode_bytes(kind40, sizeof kind40), TIDE_E_FRAME_TYPE);
  CU_ASSERT_EQUAL(decode_bytes(kind81, sizeof kind81), 0);
  CU_ASSERT_EQUAL(decode_bytes(note, sizeof note), TIDE_E_FRAME_MALFORMED);
  big[n++] = 0;
  big[n++] = 0x02;
  big[n++] = 0x80;
  big[n++] = 0x01;
  big[n++] = 0x00;
  memset(big + n, 9, 8);
  n += 8;
  for (int i = 0; i < 8; i++)
    big[n++] = 0xff;
  big[n++] = 0x7f; /* 2^63 - 1 */
  big[0] = (uint8_t)(n - 1);
  CU_ASSERT_EQUAL(decode_bytes(big, n), TIDE_E_FRAME_LIMIT);
}

static void test_hello_caps(void)
{
  tide_keypair a;
  tide_frame_codec *enc = tide_frame_codec_new(), *dec = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT, plain = TIDE_BUF_INIT;
  tide_frame f;
  uint8_t nonce[TIDE_FRAME_NONCE_BYTES];
  size_t used;

  fx_keys(&a, 60);
  memset(nonce, 1, sizeof nonce);
  tide_frame_init(&f);
  CU_ASSERT_EQUAL_FATAL(
      tide_frame_encode_hello_caps(enc, &b, &a, NULL, 9, nonce, TIDE_FRAME_CAP_SHORT_KEYS), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.hello.caps, TIDE_FRAME_CAP_SHORT_KEYS);
  CU_ASSERT_EQUAL((uint8_t)b.data[3], 0x02); /* length, type, version, flags */
  /* caps 0 is the plain HELLO, byte for byte */
  tide_buf_reset(&b);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_hello_caps(enc, &b, &a, NULL, 9, nonce, 0), 0);
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_hello(enc, &plain, &a, NULL, 9, nonce), 0);
  CU_ASSERT_EQUAL(b.len, plain.len);
  CU_ASSERT_EQUAL(memcmp(b.data, plain.data, b.len), 0);
  CU_ASSERT_EQUAL_FATAL(decode_all(dec, &f, &b), 0);
  CU_ASSERT_EQUAL(f.hello.caps, 0);
  CU_ASSERT_EQUAL(tide_frame_encode_hello_caps(enc, &b, &a, NULL, 9, nonce, 0x2), TIDE_E_INVAL);
  /* the flag is signed: setting it on a plain HELLO breaks the signature;
   * an unknown flag bit is malformed */
  plain.data[3] |= 0x02;
  CU_ASSERT_EQUAL(tide_frame_decode(dec, &f, (const uint8_t *)plain.data, plain.len, &used, NULL),
                  TIDE_E_FRAME_SIGNATURE);
  plain.data[3] ^= 0x0a; /* bit 3: bit 2 is the proof offer */
  CU_ASSERT_EQUAL(tide_frame_decode(dec, &f, (const uint8_t *)plain.data, plain.len, &used, NULL),
                  TIDE_E_FRAME_MALFORMED);
  tide_frame_clear(&f);
  tide_buf_free(&b);
  tide_buf_free(&plain);
  tide_frame_codec_free(enc);
  tide_frame_codec_free(dec);
}

/* A MESSAGES frame cut short inside (with its length fixed up) or with
 * bad content is rejected, never crashes. */
static void test_corrupt_messages(void)
{
  tide_keypair kp;
  tide_msg *m[2];
  tide_frame_codec *enc = tide_frame_codec_new();
  tide_buf b = TIDE_BUF_INIT;
  size_t rejected = 0, total = 0;

  fx_keys(&kp, 31);
  m[0] = fx_post(&kp, NULL, "hello");
  m[1] = fx_post(&kp, m[0], "world");
  CU_ASSERT_EQUAL_FATAL(tide_frame_encode_messages(enc, &b, m, 2, NULL), 0);
  CU_ASSERT_FATAL(b.len < 300 && b.len > 130);
  /* b.data[0..1] is a 2-byte length; shorten the body keeping it valid */
  for (size_t cut = 3; cut < b.len; cut++) {
    uint8_t tmp[400];
    size_t bl = cut - 2;
    int rc;
    memcpy(tmp, b.data, cut);
    tmp[0] = (uint8_t)(0x80 | (bl & 0x7f));
    tmp[1] = (uint8_t)(bl >> 7);
    rc = decode_bytes(tmp, cut);
    total++;
    if (rc != 0 && rc != TIDE_E_AGAIN)
      rejected++;
    CU_ASSERT(rc != 0);
  }
  CU_ASSERT_EQUAL(rejected, total);
  /* the content of the first message starts after flags, feedref, key,
   * timestamp and length: break its JSON */
  {
    size_t at = 0;
    while (at + 7 <= b.len && memcmp(b.data + at, "{\"type\"", 7) != 0)
      at++;
    CU_ASSERT_FATAL(at + 7 <= b.len);
    b.data[at] = '[';
    CU_ASSERT_EQUAL(decode_bytes((const uint8_t *)b.data, b.len), TIDE_E_FRAME_REBUILD);
  }
  tide_buf_free(&b);
  tide_msg_free(m[0]);
  tide_msg_free(m[1]);
  tide_frame_codec_free(enc);
}

static CU_TestInfo frame_tests[] = {
    {"varint", test_varint},
    {"hello round trip and signature", test_hello},
    {"clock, note, ack, request round trip", test_clock_note_ack_request},
    {"ssb-validation-dataset rebuilt byte for byte", test_conformance_dataset},
    {"go-ssb feed stream rebuilt byte for byte", test_conformance_feed_stream},
    {"created messages of every shape", test_created_messages},
    {"texts mode and side stream", test_texts_and_side_stream},
    {"raw fallback", test_raw_fallback},
    {"streaming decode", test_streaming},
    {"malformed frames", test_malformed},
    {"corrupt messages frames", test_corrupt_messages},
    {"short keys round trip", test_short_keys_roundtrip},
    {"short keys: unknown feeds dropped, messages an error", test_short_keys_unresolved},
    {"short keys: ambiguous, sender-side fallback", test_short_keys_ambiguous},
    {"short keys: conflicts with the feed table", test_short_keys_conflicts},
    {"short keys: malformed frames", test_short_keys_malformed},
    {"hello capabilities", test_hello_caps},
    CU_TEST_INFO_NULL};

CU_SuiteInfo tide_test_suites[] = {TIDE_SUITE("frame", frame_tests), CU_SUITE_INFO_NULL};
