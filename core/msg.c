/* msg.c - classic SSB messages: parse, canonical text, id, signature,
 * validation exactly as ssb-validate@4.1.4 checkInvalid(), creation.
 *
 * The JavaScript reference works on the value JSON.parse() made, with
 * JavaScript's loose semantics: `!=` converts operands, RegExp.test()
 * converts its argument to a string, string concatenation calls
 * toString().  A JSON object may carry an own "toString" member, which
 * makes those conversions throw a TypeError.  The helpers below reproduce
 * the conversions on parsed JSON values (see docs/messages.md). */
#include "tide/msg.h"

#include "json_int.h"
#include "msg_int.h"

#if defined(TIDE_HAVE_LIBCRYPTO)
/* SHA256_Init/Update/Final: deprecated in OpenSSL 3 in favour of EVP, but
 * the direct calls avoid EVP's per-call algorithm fetch. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>
#endif

#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A message lives in the arena of its parsed document, with a copy of the
 * received text (the parser keeps the strings in it, in situ) and the
 * canonical text, which the parser writes while it reads the received
 * tokens.  Only when those are not canonical (escapes or numbers spelt
 * differently, members out of V8 order) is the text printed from the
 * parsed value, into a heap block (text_heap). */
struct tide_msg {
  tide_json_doc *doc; /* owns this struct too */
  const tide_json *root;
  const char *text; /* canonical JSON.stringify(msg, null, 2), UTF-8 */
  char *text_heap;  /* the text when it was printed (owned), else NULL */
  size_t text_len;
  size_t utf16_len;   /* JS .length of the text */
  size_t signing_cut; /* text[0..cut) + "\n}" is the unsigned text; 0: none */
  uint8_t id[TIDE_HASH_BYTES];
  /* members, NULL when absent */
  const tide_json *author, *sequence, *previous, *timestamp, *hash, *content, *signature;
  int has_pk;
  uint8_t pk[TIDE_PK_BYTES];
  int has_prev;
  uint8_t prev[TIDE_HASH_BYTES];
  int64_t seq;
  int oversized; /* text not kept (longer than MSG_TEXT_MAX bytes) */
};

/* Nesting accepted by tide_msg_parse() (see there). */
#define MSG_MAX_DEPTH 10000

/* Canonical texts longer than this (bytes) are neither written nor
 * hashed: such a message is far over the 8192-unit limit, and the text
 * grows with the square of the nesting depth (18 MB for 3000 levels), so
 * a few KB of input would otherwise cost megabytes and, to hash them, most
 * of a second of CPU.  Validation still gives ssb-validate's reason, from
 * the computed length and a text prefix; the id is left all zeros. */
#define MSG_TEXT_MAX ((size_t)256 << 10)

/* Result of a JavaScript conversion that may throw. */
#define JS_THROW 1

/* ---- small text helpers -------------------------------------------- */

static int is_ascii(const char *s, size_t n)
{
  size_t i = 0;
  uint64_t acc = 0;

  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    memcpy(&w, s + i, 8);
    acc |= w;
  }
  for (; i < n; i++)
    acc |= (uint8_t)s[i];
  return (acc & UINT64_C(0x8080808080808080)) == 0;
}

/* 1 for the bytes of the standard base64 alphabet. */
static const unsigned char b64_alphabet[256] = {
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
};

static int b64_char(char c)
{
  return b64_alphabet[(unsigned char)c];
}

/* is-canonical-base64's unbounded pattern:
 * (?:[b64]{4})*(?:[b64](?:[AQgw]==|[b64][AEIMQUYcgkosw048]=))? */
static int canonical_b64_any(const char *s, size_t n)
{
  size_t i;

  if (n % 4 != 0)
    return 0;
  if (n == 0)
    return 1;
  for (i = 0; i < n - 4; i++)
    if (!b64_char(s[i]))
      return 0;
  s += n - 4;
  if (!b64_char(s[0]))
    return 0;
  if (s[2] == '=' && s[3] == '=')
    return strchr("AQgw", s[1]) != NULL && s[1] != '\0';
  if (s[3] == '=')
    return b64_char(s[1]) && s[2] != '\0' && strchr("AEIMQUYcgkosw048", s[2]) != NULL;
  return b64_char(s[1]) && b64_char(s[2]) && b64_char(s[3]);
}

/* Length in bytes of the WTF-8 sequence at s (1..4), assuming valid text. */
static size_t wtf8_seq_len(unsigned char c)
{
  return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

/* 1 when the BMP code point encoded at s[0..n) is one of JavaScript's line
 * terminators (which '.' in a regular expression does not match). */
static int is_line_terminator(const char *s, size_t n)
{
  if (n == 1)
    return s[0] == '\n' || s[0] == '\r';
  return n == 3 && (unsigned char)s[0] == 0xE2 && (unsigned char)s[1] == 0x80 &&
         ((unsigned char)s[2] == 0xA8 || (unsigned char)s[2] == 0xA9);
}

/* ssb-ref isFeedId: /^@[b64]{42}[AEIMQUYcgkosw048]=.(?:sha256|ed25519)$/
 * (the '.' before the suffix is unescaped: any one UTF-16 unit that is not
 * a line terminator).  Returns 0 when it does not match, else the kind of
 * curve ssb-validate then sees: */
#define AUTHOR_ED25519 1 /* "@<key>.ed25519" */
#define AUTHOR_SHA256  2 /* "@<key>.sha256": ssb-keys throws "unknown curve" */
#define AUTHOR_NOCURVE 3 /* any other unit in place of the '.' */
static int feed_id_rx(const tide_json *v)
{
  const char *s;
  size_t n, k;

  if (v == NULL || tide_json_typeof(v) != TIDE_JSON_STRING)
    return 0;
  s = tide_json_string(v, &n);
  if (n < 45 + 1 + 6 || s[0] != '@')
    return 0;
  for (size_t i = 1; i <= 42; i++)
    if (!b64_char(s[i]))
      return 0;
  if (strchr("AEIMQUYcgkosw048", s[43]) == NULL || s[43] == '\0' || s[44] != '=')
    return 0;
  k = wtf8_seq_len((unsigned char)s[45]);
  if (k == 4 || 45 + k > n || is_line_terminator(s + 45, k))
    return 0;
  if (n - 45 - k == 7 && memcmp(s + 45 + k, "ed25519", 7) == 0)
    return s[45] == '.' ? AUTHOR_ED25519 : AUTHOR_NOCURVE;
  if (n - 45 - k == 6 && memcmp(s + 45 + k, "sha256", 6) == 0)
    return s[45] == '.' ? AUTHOR_SHA256 : AUTHOR_NOCURVE;
  return 0;
}

/* ssb-validate isEncrypted: a non-empty string matching
 * /^<canonical base64>\.box.*$/ ('.*' stops at line terminators). */
static int is_encrypted(const tide_json *v)
{
  const char *s, *dot;
  size_t n, i;

  if (v == NULL || tide_json_typeof(v) != TIDE_JSON_STRING)
    return 0;
  s = tide_json_string(v, &n);
  dot = memchr(s, '.', n);
  if (dot == NULL || !canonical_b64_any(s, (size_t)(dot - s)))
    return 0;
  i = (size_t)(dot - s) + 1;
  if (n - i < 3 || memcmp(s + i, "box", 3) != 0)
    return 0;
  for (i += 3; i < n;) {
    size_t k = wtf8_seq_len((unsigned char)s[i]);
    if (i + k > n || is_line_terminator(s + i, k))
      return 0;
    i += k;
  }
  return 1;
}

/* ---- JavaScript conversions on JSON values ---------------------------- */

/* Appends ToString(v) (v NULL = undefined) as JavaScript computes it for
 * `'' + v` or RegExp.test(v): objects print "[object Object]" unless they
 * have an own "toString" member, which is not callable, so the conversion
 * throws; arrays join their items with ',' (null items print nothing).
 * Returns 0, JS_THROW or TIDE_E_NOMEM. */
static int js_to_string(tide_buf *out, const tide_json *v, int in_array)
{
  char num[TIDE_JSON_NUMBER_BYTES];
  const char *s;
  size_t n;
  int rc;

  if (v == NULL)
    return in_array ? 0 : tide_buf_puts(out, "undefined");
  switch (tide_json_typeof(v)) {
  case TIDE_JSON_NULL: return in_array ? 0 : tide_buf_puts(out, "null");
  case TIDE_JSON_FALSE: return tide_buf_puts(out, "false");
  case TIDE_JSON_TRUE: return tide_buf_puts(out, "true");
  case TIDE_JSON_NUMBER:
    n = tide_json_format_number(num, tide_json_number(v));
    return tide_buf_append(out, num, n);
  case TIDE_JSON_STRING: s = tide_json_string(v, &n); return tide_buf_append(out, s, n);
  case TIDE_JSON_OBJECT:
    if (tide_json_object_getz(v, "toString") != NULL)
      return JS_THROW;
    return tide_buf_puts(out, "[object Object]");
  case TIDE_JSON_ARRAY:
    n = tide_json_length(v);
    for (size_t i = 0; i < n; i++) {
      if (i > 0 && (rc = tide_buf_putc(out, ',')) != 0)
        return rc;
      rc = js_to_string(out, tide_json_array_get(v, i), 1);
      if (rc != 0)
        return rc;
    }
    return 0;
  }
  return 0;
}

/* JavaScript's WhiteSpace or LineTerminator encoded exactly as s[0..n)
 * (WTF-8)?  Used with n = 1, 2, 3. */
static int js_space_is(const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;

  switch (n) {
  case 1: return u[0] == ' ' || (u[0] >= 0x09 && u[0] <= 0x0D);
  case 2: return u[0] == 0xC2 && u[1] == 0xA0; /* U+00A0 */
  case 3:
    if (u[0] == 0xE2 && u[1] == 0x80) /* U+2000..200A, 2028, 2029, 202F */
      return (u[2] >= 0x80 && u[2] <= 0x8A) || u[2] == 0xA8 || u[2] == 0xA9 || u[2] == 0xAF;
    return (u[0] == 0xE1 && u[1] == 0x9A && u[2] == 0x80) || /* U+1680 */
           (u[0] == 0xE2 && u[1] == 0x81 && u[2] == 0x9F) || /* U+205F */
           (u[0] == 0xE3 && u[1] == 0x80 && u[2] == 0x80) || /* U+3000 */
           (u[0] == 0xEF && u[1] == 0xBB && u[2] == 0xBF);   /* U+FEFF */
  default: return 0;
  }
}

static int digit_value(char c, int base)
{
  int d = c >= '0' && c <= '9'   ? c - '0'
          : c >= 'a' && c <= 'z' ? c - 'a' + 10
          : c >= 'A' && c <= 'Z' ? c - 'A' + 10
                                 : 99;
  return d < base ? d : -1;
}

/* JavaScript ToNumber(string) (StringToNumber): NaN when not numeric. */
static double js_string_to_number(const char *s, size_t n)
{
  char tmp[128];
  size_t i = 0, k;
  int base = 0;

  for (;;) { /* StringToNumber trims white space at both ends */
    for (k = 1; k <= 3 && k <= n; k++)
      if (js_space_is(s, k) && (k == 1 || ((unsigned char)s[0] >= 0xC0)))
        break;
    if (k > 3 || k > n)
      break;
    s += k;
    n -= k;
  }
  for (;;) {
    for (k = 1; k <= 3 && k <= n; k++)
      if (js_space_is(s + n - k, k))
        break;
    if (k > 3 || k > n)
      break;
    n -= k;
  }
  if (n == 0)
    return 0.0;
  if (n >= 2 && s[0] == '0' && (s[1] | 0x20) == 'x')
    base = 16;
  else if (n >= 2 && s[0] == '0' && (s[1] | 0x20) == 'o')
    base = 8;
  else if (n >= 2 && s[0] == '0' && (s[1] | 0x20) == 'b')
    base = 2;
  if (base != 0) {
    double v = 0.0;
    uint64_t acc = 0;
    int overflow = 0;
    if (n == 2)
      return NAN;
    for (i = 2; i < n; i++) {
      int d = digit_value(s[i], base);
      if (d < 0)
        return NAN;
      if (acc > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
        overflow = 1;
      if (!overflow)
        acc = acc * (uint64_t)base + (uint64_t)d;
      v = v * base + d;
    }
    /* Exact below 2^64; above, the value is far from any sequence. */
    return overflow ? v : (double)acc;
  }
  i = 0;
  if (s[0] == '+' || s[0] == '-')
    i = 1;
  if (n - i == 8 && memcmp(s + i, "Infinity", 8) == 0)
    return s[0] == '-' ? -INFINITY : INFINITY;
  {
    size_t int_digits = 0, frac_digits = 0;
    while (i < n && s[i] >= '0' && s[i] <= '9') {
      i++;
      int_digits++;
    }
    if (i < n && s[i] == '.') {
      i++;
      while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
        frac_digits++;
      }
    }
    if (int_digits + frac_digits == 0)
      return NAN;
    if (i < n && (s[i] | 0x20) == 'e') {
      size_t exp_digits = 0;
      i++;
      if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
      while (i < n && s[i] >= '0' && s[i] <= '9') {
        i++;
        exp_digits++;
      }
      if (exp_digits == 0)
        return NAN;
    }
  }
  if (i != n)
    return NAN;
  if (n < sizeof tmp) {
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    return strtod(tmp, NULL);
  } else {
    char *big = malloc(n + 1);
    double v;
    if (big == NULL)
      return NAN;
    memcpy(big, s, n);
    big[n] = '\0';
    v = strtod(big, NULL);
    free(big);
    return v;
  }
}

/* `v != num` in JavaScript: returns LOOSE_EQ, LOOSE_NE, LOOSE_THROW (the
 * conversion throws a TypeError) or TIDE_E_NOMEM. */
#define LOOSE_EQ    0
#define LOOSE_NE    1
#define LOOSE_THROW 2
static int loose_ne_number(const tide_json *v, double num)
{
  tide_buf tmp = TIDE_BUF_INIT;
  const char *s;
  size_t n;
  int rc;

  if (v == NULL)
    return LOOSE_NE;
  switch (tide_json_typeof(v)) {
  case TIDE_JSON_NULL: return LOOSE_NE;
  case TIDE_JSON_FALSE: return num == 0.0 ? LOOSE_EQ : LOOSE_NE;
  case TIDE_JSON_TRUE: return num == 1.0 ? LOOSE_EQ : LOOSE_NE;
  case TIDE_JSON_NUMBER: return tide_json_number(v) == num ? LOOSE_EQ : LOOSE_NE;
  case TIDE_JSON_STRING:
    s = tide_json_string(v, &n);
    return js_string_to_number(s, n) == num ? LOOSE_EQ : LOOSE_NE;
  default: break;
  }
  rc = js_to_string(&tmp, v, 0);
  if (rc == 0)
    rc =
        js_string_to_number(tmp.data != NULL ? tmp.data : "", tmp.len) == num ? LOOSE_EQ : LOOSE_NE;
  else if (rc == JS_THROW)
    rc = LOOSE_THROW;
  tide_buf_free(&tmp);
  return rc;
}

/* `v != str` in JavaScript for a string str that is not numeric (a message
 * id): same return values as loose_ne_number(). */
static int loose_ne_id(const tide_json *v, const char *str, size_t len)
{
  tide_buf tmp = TIDE_BUF_INIT;
  const char *s;
  size_t n;
  int rc;

  if (v == NULL)
    return LOOSE_NE;
  switch (tide_json_typeof(v)) {
  case TIDE_JSON_STRING:
    s = tide_json_string(v, &n);
    return n == len && memcmp(s, str, n) == 0 ? LOOSE_EQ : LOOSE_NE;
  case TIDE_JSON_OBJECT:
  case TIDE_JSON_ARRAY: break;
  default: return LOOSE_NE; /* null; booleans and numbers compare with NaN */
  }
  rc = js_to_string(&tmp, v, 0);
  if (rc == 0)
    rc = tmp.len == len && memcmp(tmp.data, str, len) == 0 ? LOOSE_EQ : LOOSE_NE;
  else if (rc == JS_THROW)
    rc = LOOSE_THROW;
  tide_buf_free(&tmp);
  return rc;
}

/* `m.previous != id` in JavaScript, for the message id `id` given as its
 * hash.  A string equals the id's text exactly when it is a well-formed
 * id of that hash (tide_msg_id_parse() accepts only the canonical
 * spelling, which tide_msg_id_format() prints), so strings are compared
 * without printing the id.  Same return values as loose_ne_id(). */
static int loose_ne_msg_id(const tide_msg *m, const uint8_t id[TIDE_HASH_BYTES])
{
  char text[TIDE_MSG_ID_LEN + 1];

  if (m->previous != NULL && tide_json_typeof(m->previous) == TIDE_JSON_STRING)
    return m->has_prev && memcmp(m->prev, id, TIDE_HASH_BYTES) == 0 ? LOOSE_EQ : LOOSE_NE;
  tide_msg_id_format(text, id);
  return loose_ne_id(m->previous, text, TIDE_MSG_ID_LEN);
}

/* ---- error text ------------------------------------------------------- */

/* Builds err->msg from pieces, truncating at a UTF-8 boundary when the
 * reason is longer than TIDE_ERROR_MSG_BYTES - 1 (ssb-validate embeds the
 * whole message text in some reasons). */
typedef struct reason {
  tide_error *err;
  size_t len;
  int full;
} reason;

static void reason_start(reason *r, tide_error *err, int code, int fatal)
{
  r->err = err;
  r->len = 0;
  r->full = 0;
  if (err != NULL) {
    err->code = code;
    err->fatal = fatal;
    err->offset = 0;
    err->msg[0] = '\0';
  }
}

static void reason_add(reason *r, const char *s, size_t n)
{
  size_t room;

  if (r->err == NULL || r->full)
    return;
  room = sizeof r->err->msg - 1 - r->len;
  if (n > room) {
    n = room;
    /* do not cut a UTF-8 sequence */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
      n--;
    r->full = 1;
  }
  memcpy(r->err->msg + r->len, s, n);
  r->len += n;
  r->err->msg[r->len] = '\0';
}

static void reason_str(reason *r, const char *s)
{
  reason_add(r, s, strlen(s));
}

static void reason_number(reason *r, double d)
{
  char num[TIDE_JSON_NUMBER_BYTES];
  size_t n = tide_json_format_number(num, d);
  reason_add(r, num, n);
}

static int fail(tide_error *err, int fatal, const char *fmt, ...) TIDE_PRINTF(3, 4);
static int fail(tide_error *err, int fatal, const char *fmt, ...)
{
  va_list ap;

  if (err == NULL)
    return TIDE_E_MSG_INVALID;
  err->code = TIDE_E_MSG_INVALID;
  err->fatal = fatal;
  err->offset = 0;
  va_start(ap, fmt);
  (void)vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  return TIDE_E_MSG_INVALID;
}

#define TYPEERROR_PRIMITIVE "TypeError: Cannot convert object to primitive value"

/* The message-id hash.  libsodium's SHA-256 is portable C; OpenSSL's
 * libcrypto uses the CPU's SHA extensions where present, which is several
 * times faster (bench/msg: the id hash is about half of tide_msg_parse()
 * with libsodium).  Build with TIDE_HAVE_LIBCRYPTO and link libcrypto to
 * use it; both give the same digest. */
#if defined(TIDE_HAVE_LIBCRYPTO)
typedef SHA256_CTX hash_state;
#define hash_init(st)         SHA256_Init(st)
#define hash_update(st, p, n) SHA256_Update((st), (p), (n))
#define hash_final(st, out)   SHA256_Final((out), (st))
#else
typedef crypto_hash_sha256_state hash_state;
#define hash_init(st)         crypto_hash_sha256_init(st)
#define hash_update(st, p, n) crypto_hash_sha256_update((st), (const unsigned char *)(p), (n))
#define hash_final(st, out)   crypto_hash_sha256_final((st), (out))
#endif

/* Feeds Buffer.from(t, 'binary') - one byte per UTF-16 unit, its low 8
 * bits - to the hash, streaming through a small buffer, and returns the
 * number of UTF-16 units (the JS .length).  t is writer output: valid
 * WTF-8 made of whole sequences.  ASCII, which maps to itself, is copied
 * eight bytes at a time. */
#define LATIN1_CHUNK 1024

static size_t hash_latin1(hash_state *st, const unsigned char *t, size_t n)
{
  size_t i = 0, k = 0, units = 0;
  unsigned char chunk[LATIN1_CHUNK + 32];

  while (i < n) {
    unsigned char c;
    uint32_t cp;

    if (k > LATIN1_CHUNK) {
      hash_update(st, chunk, k);
      units += k;
      k = 0;
    }
    /* Whole words of ASCII (the chunk has room for one more word and a
     * character after the limit). */
#if TIDE__JSON_SSE2
    while (i + 16 <= n && k <= LATIN1_CHUNK && tide__json_high16(t + i) == 0) {
      memcpy(chunk + k, t + i, 16);
      k += 16;
      i += 16;
    }
#endif
    while (i + 8 <= n && k <= LATIN1_CHUNK) {
      uint64_t w;
      memcpy(&w, t + i, 8);
      if ((w & UINT64_C(0x8080808080808080)) != 0)
        break;
      memcpy(chunk + k, &w, 8);
      k += 8;
      i += 8;
    }
    if (i >= n)
      break;
    c = t[i];
    if (c < 0x80) {
      chunk[k++] = c;
      i++;
      continue;
    }
    if (c < 0xE0 && i + 1 < n) {
      cp = (uint32_t)(c & 0x1F) << 6 | (t[i + 1] & 0x3F);
      i += 2;
    } else if (c < 0xF0 && i + 2 < n) {
      cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(t[i + 1] & 0x3F) << 6 | (t[i + 2] & 0x3F);
      i += 3;
    } else if (i + 3 < n) {
      cp = ((uint32_t)(c & 0x07) << 18 | (uint32_t)(t[i + 1] & 0x3F) << 12 |
            (uint32_t)(t[i + 2] & 0x3F) << 6 | (t[i + 3] & 0x3F)) -
           0x10000;
      chunk[k++] = (unsigned char)((0xD800 + (cp >> 10)) & 0xFF); /* high surrogate */
      cp = 0xDC00 + (cp & 0x3FF);                                 /* low surrogate */
      i += 4;
    } else {
      break; /* truncated sequence: cannot happen for writer output */
    }
    chunk[k++] = (unsigned char)(cp & 0xFF);
  }
  hash_update(st, chunk, k);
  return units + k;
}

/* Computes the id of m's text and its JS length.  For ASCII text both
 * are the text itself. */
static void hash_text(tide_msg *m, int ascii)
{
  hash_state st;

  hash_init(&st);
  if (ascii) {
    hash_update(&st, m->text, m->text_len);
    m->utf16_len = m->text_len;
  } else {
    m->utf16_len = hash_latin1(&st, (const unsigned char *)m->text, m->text_len);
  }
  hash_final(&st, m->id);
}

/* ---- canonical length without the text ------------------------------- */

/* Lengths of a text in UTF-16 units and UTF-8 bytes. */
typedef struct text_len {
  size_t units, bytes;
} text_len;

static void add_ascii(text_len *t, size_t n)
{
  t->units += n;
  t->bytes += n;
}

/* Adds the length of the JSON string literal V8 writes for the WTF-8
 * string s (quotes included). */
static void add_string(text_len *t, const char *s, size_t n)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;

  add_ascii(t, 2);
  while (i < n) {
    unsigned char c = u[i];
    if (c < 0x80) {
      if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t')
        add_ascii(t, 2);
      else
        add_ascii(t, c < 0x20 ? 6 : 1);
      i++;
    } else if (c < 0xE0) {
      t->units += 1;
      t->bytes += 2;
      i += 2;
    } else if (c < 0xF0) {
      if (c == 0xED && i + 1 < n && u[i + 1] >= 0xA0) { /* lone surrogate: \udxxx */
        add_ascii(t, 6);
      } else {
        t->units += 1;
        t->bytes += 3;
      }
      i += 3;
    } else {
      t->units += 2;
      t->bytes += 4;
      i += 4;
    }
  }
}

static int is_open_container(const tide_json *v)
{
  tide_json_type ty = tide_json_typeof(v);
  return (ty == TIDE_JSON_OBJECT || ty == TIDE_JSON_ARRAY) && tide_json_length(v) > 0;
}

/* Adds the length of a scalar or empty container as the writer prints
 * it (non-finite numbers print null). */
static void add_leaf(text_len *t, const tide_json *v, int exact)
{
  char num[TIDE_JSON_NUMBER_BYTES];
  const char *s;
  size_t n;

  if (!exact) { /* an upper bound: no escape is longer than 6 bytes */
    if (tide_json_typeof(v) == TIDE_JSON_STRING) {
      (void)tide_json_string(v, &n);
      add_ascii(t, 6 * n + 2);
      return;
    }
    if (tide_json_typeof(v) == TIDE_JSON_NUMBER) {
      add_ascii(t, TIDE_JSON_NUMBER_BYTES);
      return;
    }
  }
  switch (tide_json_typeof(v)) {
  case TIDE_JSON_NULL:
  case TIDE_JSON_TRUE: add_ascii(t, 4); break;
  case TIDE_JSON_FALSE: add_ascii(t, 5); break;
  case TIDE_JSON_NUMBER:
    if (isfinite(tide_json_number(v)))
      add_ascii(t, tide_json_format_number(num, tide_json_number(v)));
    else
      add_ascii(t, 4);
    break;
  case TIDE_JSON_STRING:
    s = tide_json_string(v, &n);
    add_string(t, s, n);
    break;
  default: add_ascii(t, 2); break; /* "[]" or "{}" */
  }
}

typedef struct walk_frame {
  const tide_json *v;
  size_t i, n;
} walk_frame;

/* Computes the length of JSON.stringify(root, null, 2) without writing
 * it, walking with an explicit stack (no recursion, any depth).  With
 * exact == 0, a cheaper upper bound (strings and numbers are not
 * measured).  TIDE_E_NOMEM. */
static int pretty_len(text_len *t, const tide_json *root, int exact)
{
  walk_frame local[64], *st = local;
  size_t depth = 0, cap = 64;
  int rc = 0;

  t->units = t->bytes = 0;
  if (!is_open_container(root)) {
    add_leaf(t, root, exact);
    return 0;
  }
  st[0].v = root;
  st[0].i = 0;
  st[0].n = tide_json_length(root);
  /* "[", the commas, "\n" + indent 0, "]" */
  add_ascii(t, 2 + (st[0].n - 1) + 1);
  depth = 1;
  while (depth > 0) {
    walk_frame *f = &st[depth - 1];
    const tide_json *child;

    if (f->i == f->n) {
      depth--;
      continue;
    }
    add_ascii(t, 1 + 2 * depth); /* "\n" + the child's indent */
    if (tide_json_typeof(f->v) == TIDE_JSON_OBJECT) {
      size_t klen;
      const char *key = tide_json_object_key(f->v, f->i, &klen);
      if (exact)
        add_string(t, key, klen);
      else
        add_ascii(t, 6 * klen + 2);
      add_ascii(t, 2); /* ": " */
      child = tide_json_object_value(f->v, f->i);
    } else {
      child = tide_json_array_get(f->v, f->i);
    }
    f->i++;
    if (!is_open_container(child)) {
      add_leaf(t, child, exact);
      continue;
    }
    if (depth == cap) {
      walk_frame *bigger = malloc(2 * cap * sizeof *bigger);
      if (bigger == NULL) {
        rc = TIDE_E_NOMEM;
        break;
      }
      memcpy(bigger, st, depth * sizeof *st);
      if (st != local)
        free(st);
      st = bigger;
      cap *= 2;
    }
    st[depth].v = child;
    st[depth].i = 0;
    st[depth].n = tide_json_length(child);
    /* brackets, commas, and the closing line's "\n" + indent */
    add_ascii(t, 2 + (st[depth].n - 1) + 1 + 2 * depth);
    depth++;
  }
  if (st != local)
    free(st);
  return rc;
}

/* Appends at least the first `limit` bytes of JSON.stringify(root, null,
 * 2) to out without writing all of it (for reasons that embed the text
 * of a message too long to keep).  Same walk as pretty_len(); strings
 * and numbers are written by the JSON module.  TIDE_E_NOMEM. */
static int pretty_prefix(tide_buf *out, const tide_json *root, size_t limit)
{
  walk_frame local[64], *st = local;
  size_t depth = 0, cap = 64;
  int rc = 0;

  if (!is_open_container(root)) {
    rc = tide_json_write(out, root, TIDE_JSON_PRETTY);
    goto out;
  }
  st[0].v = root;
  st[0].i = 0;
  st[0].n = tide_json_length(root);
  rc = tide_buf_putc(out, tide_json_typeof(root) == TIDE_JSON_OBJECT ? '{' : '[');
  depth = 1;
  while (rc == 0 && depth > 0 && out->len < limit) {
    walk_frame *f = &st[depth - 1];
    const tide_json *child;

    if (f->i == f->n) {
      depth--;
      rc = tide_buf_putc(out, '\n');
      for (size_t k = 0; rc == 0 && k < 2 * depth; k++)
        rc = tide_buf_putc(out, ' ');
      if (rc == 0)
        rc = tide_buf_putc(out, tide_json_typeof(f->v) == TIDE_JSON_OBJECT ? '}' : ']');
      continue;
    }
    rc = tide_buf_puts(out, f->i > 0 ? ",\n" : "\n");
    for (size_t k = 0; rc == 0 && k < 2 * depth; k++)
      rc = tide_buf_putc(out, ' ');
    if (rc != 0)
      break;
    if (tide_json_typeof(f->v) == TIDE_JSON_OBJECT) {
      size_t klen;
      const char *key = tide_json_object_key(f->v, f->i, &klen);
      rc = tide_json_write_string(out, key, klen);
      if (rc == 0)
        rc = tide_buf_puts(out, ": ");
      child = tide_json_object_value(f->v, f->i);
    } else {
      child = tide_json_array_get(f->v, f->i);
    }
    f->i++;
    if (rc != 0)
      break;
    if (!is_open_container(child)) {
      rc = tide_json_write(out, child, TIDE_JSON_PRETTY);
      continue;
    }
    if (depth == cap) {
      walk_frame *bigger = malloc(2 * cap * sizeof *bigger);
      if (bigger == NULL) {
        rc = TIDE_E_NOMEM;
        break;
      }
      memcpy(bigger, st, depth * sizeof *st);
      if (st != local)
        free(st);
      st = bigger;
      cap *= 2;
    }
    st[depth].v = child;
    st[depth].i = 0;
    st[depth].n = tide_json_length(child);
    rc = tide_buf_putc(out, tide_json_typeof(child) == TIDE_JSON_OBJECT ? '{' : '[');
    depth++;
  }
  if (st != local)
    free(st);
out:
  return rc;
}

int tide__msg_pretty_len(const tide_json *v, size_t *units, size_t *bytes)
{
  text_len t;
  int rc = pretty_len(&t, v, 1);
  *units = t.units;
  *bytes = t.bytes;
  return rc;
}

/* ---- parsing ---------------------------------------------------------- */

/* Finds where the signature member starts in the canonical text, so that
 * the unsigned text is text[0..cut) + "\n}" without re-serialising. */
static int find_signing_cut(tide_msg *m)
{
  size_t n = tide_json_length(m->root), klen, slen, vlen;
  const char *key, *s;
  const tide_json *v;
  tide_buf tmp = TIDE_BUF_INIT;
  static const char head[] = ",\n  \"signature\": ";
  size_t tail;
  int rc;

  m->signing_cut = 0;
  if (n < 2)
    return 0;
  key = tide_json_object_key(m->root, n - 1, &klen);
  v = tide_json_object_value(m->root, n - 1);
  if (klen != 9 || memcmp(key, "signature", 9) != 0 || tide_json_typeof(v) != TIDE_JSON_STRING)
    return 0;
  s = tide_json_string(v, &slen);
  vlen = slen + 2;
  if (!tide__json_plain(s, slen)) {
    /* needs escaping (or is a lone surrogate): measure it */
    rc = tide_json_write_string(&tmp, s, slen);
    if (rc != 0)
      return rc;
    vlen = tmp.len;
    tide_buf_free(&tmp);
  }
  tail = sizeof head - 1 + vlen + 2;
  if (tail >= m->text_len || memcmp(m->text + m->text_len - tail, head, sizeof head - 1) != 0 ||
      memcmp(m->text + m->text_len - 2, "\n}", 2) != 0)
    return TIDE_E_INTERNAL;
  m->signing_cut = m->text_len - tail;
  return 0;
}

/* The seven members of a message, found in one pass over the root (the
 * parser merged duplicate keys, so each key occurs once). */
static void read_members(tide_msg *m)
{
  size_t nm = tide_json_length(m->root);
  const char *s;
  size_t n;

  for (size_t i = 0; i < nm; i++) {
    size_t klen;
    const char *k = tide_json_object_key(m->root, i, &klen);
    const tide_json *v = tide_json_object_value(m->root, i);

    switch (klen) {
    case 4:
      if (memcmp(k, "hash", 4) == 0)
        m->hash = v;
      break;
    case 6:
      if (memcmp(k, "author", 6) == 0)
        m->author = v;
      break;
    case 7:
      if (memcmp(k, "content", 7) == 0)
        m->content = v;
      break;
    case 8:
      if (memcmp(k, "sequence", 8) == 0)
        m->sequence = v;
      else if (memcmp(k, "previous", 8) == 0)
        m->previous = v;
      break;
    case 9:
      if (memcmp(k, "timestamp", 9) == 0)
        m->timestamp = v;
      else if (memcmp(k, "signature", 9) == 0)
        m->signature = v;
      break;
    default: break;
    }
  }

  if (m->author != NULL && tide_json_typeof(m->author) == TIDE_JSON_STRING) {
    s = tide_json_string(m->author, &n);
    m->has_pk = tide_feed_id_parse(m->pk, s, n) == 0;
  }
  if (m->previous != NULL && tide_json_typeof(m->previous) == TIDE_JSON_STRING) {
    s = tide_json_string(m->previous, &n);
    m->has_prev = tide_msg_id_parse(m->prev, s, n) == 0;
  }
  if (m->sequence != NULL && tide_json_typeof(m->sequence) == TIDE_JSON_NUMBER) {
    double d = tide_json_number(m->sequence);
    if (d >= 1.0 && d <= 9007199254740992.0 && d == floor(d))
      m->seq = (int64_t)d;
  }
}

/* Prints the canonical text of a message that did not arrive in canonical
 * form (or is too long to keep), then hashes it. */
static int print_text(tide_msg *m, size_t len)
{
  tide_buf text = TIDE_BUF_INIT;
  text_len want;
  int rc;

  /* a cheap bound first; measure exactly only when it is over the cap */
  rc = pretty_len(&want, m->root, 0);
  if (rc == 0 && want.bytes > MSG_TEXT_MAX)
    rc = pretty_len(&want, m->root, 1);
  if (rc != 0)
    return rc;
  if (want.bytes > MSG_TEXT_MAX) {
    /* never valid: keep the length, not the text (see MSG_TEXT_MAX) */
    m->oversized = 1;
    m->utf16_len = want.units;
    m->text = "";
    return 0;
  }
  /* The text is never longer than the bound, and rarely much longer than
   * the input (escapes written differently, whitespace added). */
  rc = tide_buf_reserve(&text, want.bytes < 2 * len + 64 ? want.bytes : 2 * len + 64);
  if (rc == 0)
    rc = tide_json_write(&text, m->root, TIDE_JSON_PRETTY);
  if (rc != 0) {
    tide_buf_free(&text);
    return rc;
  }
  m->text_len = text.len;
  m->text_heap = tide_buf_steal(&text, NULL);
  if (m->text_heap == NULL)
    return TIDE_E_INTERNAL;
  m->text = m->text_heap;
  hash_text(m, is_ascii(m->text, m->text_len));
  return find_signing_cut(m);
}

int tide_msg_parse(tide_msg **out, const char *json, size_t len, tide_error *err)
{
  tide_json_doc *doc;
  tide_msg *m = NULL;
  char *copy;
  tide_json_type t;
  /* Deeper than about 90 levels, the canonical text exceeds 8192 units
   * anyway; up to MSG_MAX_DEPTH tide still parses and reports the size
   * as ssb-validate does.  V8 itself throws RangeError a few thousand
   * levels down. */
  tide_json_limits lim = {.max_depth = MSG_MAX_DEPTH, .max_bytes = 0};
  tide__json_canon canon = {.indent = TIDE_JSON_PRETTY, .insitu = 1, .max_text = MSG_TEXT_MAX};
  int rc;

  *out = NULL;
  if (json == NULL && len > 0)
    return tide_error_set(err, TIDE_E_INVAL, 0, "no input");
  if (len > TIDE_JSON_DEFAULT_BYTES)
    return tide_error_set(err, TIDE_E_TOOBIG, 0, "input of %zu bytes exceeds the limit of %zu", len,
                          TIDE_JSON_DEFAULT_BYTES);
  /* One block for everything in the usual case: the message, a copy of
   * the text, the canonical text (a little longer), and the parsed nodes
   * (about three times the text). */
  doc = tide__json_doc_create(len < ((size_t)1 << 18) ? 6 * len + 1024 : (size_t)1 << 21);
  if (doc == NULL)
    return tide_error_set(err, TIDE_E_NOMEM, 0, "out of memory");
  m = tide__json_alloc(doc, sizeof *m);
  copy = tide__json_alloc(doc, len + 1 + TIDE__JSON_INSITU_SLACK);
  if (m == NULL || copy == NULL) {
    rc = TIDE_E_NOMEM;
    goto out;
  }
  memset(m, 0, sizeof *m);
  m->doc = doc;
  if (len > 0)
    memcpy(copy, json, len);
  memset(copy + len, 0, 1 + TIDE__JSON_INSITU_SLACK);
  rc = tide__json_parse_doc(doc, copy, len, &lim, &canon, err);
  if (rc != 0)
    goto out;
  m->root = tide_json_root(doc);
  t = tide_json_typeof(m->root);
  if (t != TIDE_JSON_OBJECT) {
    /* ssb-validate reads msg.author first: null throws, anything else has
     * no author. */
    if (t == TIDE_JSON_NULL)
      rc = fail(err, 0, "TypeError: Cannot read properties of null (reading 'author')");
    else
      rc = fail(err, 0, "invalid message: must have author");
    goto out;
  }
  if (canon.text != NULL) {
    /* The parser wrote the canonical text: the received tokens (the
     * message travelled compact, or already indented) laid out again. */
    m->text = canon.text;
    m->text_len = canon.length;
    hash_text(m, canon.ascii);
    rc = find_signing_cut(m);
  } else {
    rc = print_text(m, len);
  }
  if (rc != 0)
    goto out;
  read_members(m);
out:
  if (rc != 0) {
    if (rc == TIDE_E_NOMEM)
      tide_error_set(err, rc, 0, "out of memory");
    if (m != NULL)
      free(m->text_heap);
    tide_json_doc_free(doc);
    return rc;
  }
  *out = m;
  return 0;
}

void tide_msg_free(tide_msg *m)
{
  if (m == NULL)
    return;
  free(m->text_heap);
  tide_json_doc_free(m->doc); /* m itself lives in the document */
}

const char *tide_msg_text(const tide_msg *m, size_t *len)
{
  if (len != NULL)
    *len = m->text_len;
  return m->text;
}

const uint8_t *tide_msg_id(const tide_msg *m)
{
  return m->id;
}

int tide_msg_author(const tide_msg *m, uint8_t pk[TIDE_PK_BYTES])
{
  if (!m->has_pk)
    return 0;
  memcpy(pk, m->pk, TIDE_PK_BYTES);
  return 1;
}

int64_t tide_msg_sequence(const tide_msg *m)
{
  return m->seq;
}

int tide_msg_previous(const tide_msg *m, uint8_t hash[TIDE_HASH_BYTES])
{
  if (!m->has_prev)
    return 0;
  memcpy(hash, m->prev, TIDE_HASH_BYTES);
  return 1;
}

int tide_msg_previous_matches(const tide_msg *m, const uint8_t id[TIDE_HASH_BYTES])
{
  int rc = loose_ne_msg_id(m, id);

  if (rc == TIDE_E_NOMEM)
    return rc;
  return rc == LOOSE_EQ;
}

int tide_msg_previous_coerced(const tide_msg *m, uint8_t hash[TIDE_HASH_BYTES])
{
  tide_buf tmp = TIDE_BUF_INIT;
  char back[TIDE_MSG_ID_LEN + 1];
  int rc;

  if (m->previous == NULL)
    return 0;
  switch (tide_json_typeof(m->previous)) {
  case TIDE_JSON_STRING:
  case TIDE_JSON_OBJECT:
  case TIDE_JSON_ARRAY: break;
  default: return 0; /* null, booleans and numbers never equal an id */
  }
  rc = js_to_string(&tmp, m->previous, 0);
  if (rc == 0) {
    rc =
        tmp.len == TIDE_MSG_ID_LEN && tide_msg_id_parse(hash, (const char *)tmp.data, tmp.len) == 0;
    if (rc) {
      /* only ids whose text is exactly the canonical form compare equal */
      tide_msg_id_format(back, hash);
      rc = memcmp(back, tmp.data, TIDE_MSG_ID_LEN) == 0;
    }
  } else if (rc == JS_THROW) {
    rc = 0;
  }
  tide_buf_free(&tmp);
  return rc;
}

double tide_msg_timestamp(const tide_msg *m)
{
  if (m->timestamp == NULL || tide_json_typeof(m->timestamp) != TIDE_JSON_NUMBER)
    return NAN;
  return tide_json_number(m->timestamp);
}

const tide_json *tide_msg_value(const tide_msg *m)
{
  return m->root;
}

const tide_json *tide_msg_content(const tide_msg *m)
{
  return m->content;
}

/* ---- signature -------------------------------------------------------- */

/* Decodes "<base64 of 64 bytes>.sig.ed25519". */
static int decode_signature(uint8_t sig[TIDE_SIG_BYTES], const tide_json *v)
{
  const char *s;
  size_t n;

  if (v == NULL || tide_json_typeof(v) != TIDE_JSON_STRING)
    return -1;
  s = tide_json_string(v, &n);
  if (n != 88 + 12 || memcmp(s + 88, ".sig.ed25519", 12) != 0)
    return -1;
  return tide_b64_decode_exact(sig, TIDE_SIG_BYTES, s, 88) == 0 ? 0 : -1;
}

/* Verifies sig over the unsigned text bytes (HMAC'd first when a key is
 * given). */
static int verify_bytes(const uint8_t sig[TIDE_SIG_BYTES], const uint8_t pk[TIDE_PK_BYTES],
                        const char *bytes, size_t n, const uint8_t *hmac_key)
{
  uint8_t mac[crypto_auth_BYTES];

  if (hmac_key != NULL) {
    crypto_auth(mac, (const unsigned char *)bytes, n, hmac_key);
    return crypto_sign_verify_detached(sig, mac, sizeof mac, pk) == 0 ? 0 : TIDE_E_MSG_SIGNATURE;
  }
  return crypto_sign_verify_detached(sig, (const unsigned char *)bytes, n, pk) == 0
             ? 0
             : TIDE_E_MSG_SIGNATURE;
}

int tide_msg_verify_signature(const tide_msg *m, const uint8_t *hmac_key)
{
  uint8_t sig[TIDE_SIG_BYTES];
  char stackbuf[4096];
  char *bytes = stackbuf;
  tide_json_doc *doc = NULL;
  tide_buf tmp = TIDE_BUF_INIT;
  size_t n;
  int rc;

  if (m->oversized || !m->has_pk || decode_signature(sig, m->signature) != 0)
    return TIDE_E_MSG_SIGNATURE;
  if (m->signing_cut > 0) {
    /* JSON.stringify(msg without signature, null, 2) is the canonical
     * text cut before ",\n  \"signature\"" and closed with "\n}". */
    n = m->signing_cut + 2;
    if (n > sizeof stackbuf) {
      bytes = malloc(n);
      if (bytes == NULL)
        return TIDE_E_NOMEM;
    }
    memcpy(bytes, m->text, m->signing_cut);
    memcpy(bytes + m->signing_cut, "\n}", 2);
    rc = verify_bytes(sig, m->pk, bytes, n, hmac_key);
    if (bytes != stackbuf)
      free(bytes);
    return rc;
  }
  /* The signature is not the last member: serialise a copy without it
   * (ssb-keys verifyObj deletes it from a clone). */
  doc = tide_json_doc_new();
  if (doc == NULL)
    return TIDE_E_NOMEM;
  {
    tide_json *copy = tide_json_clone(doc, m->root);
    if (copy == NULL) {
      rc = TIDE_E_NOMEM;
      goto out;
    }
    tide_json_object_remove(copy, "signature", 9);
    rc = tide_json_write(&tmp, copy, TIDE_JSON_PRETTY);
    if (rc != 0)
      goto out;
  }
  rc = verify_bytes(sig, m->pk, tmp.data, tmp.len, hmac_key);
out:
  tide_buf_free(&tmp);
  tide_json_doc_free(doc);
  return rc;
}

/* ---- validation ------------------------------------------------------- */

/* ssb-validate isValidOrder(msg, signed): Object.keys() order. */
static int valid_order(const tide_json *root, int is_signed)
{
  static const struct {
    const char *name;
    size_t len;
  } want[] = {{"previous", 8}, {NULL, 0},      {NULL, 0},       {"timestamp", 9},
              {"hash", 4},     {"content", 7}, {"signature", 9}};
  size_t n = tide_json_length(root), klen;
  const char *k1, *k2, *k;

  if (is_signed ? n != 7 : n < 6)
    return 0;
  for (size_t i = 0; i < (is_signed ? 7u : 6u); i++) {
    if (want[i].name == NULL)
      continue;
    k = tide_json_object_key(root, i, &klen);
    if (klen != want[i].len || memcmp(k, want[i].name, klen) != 0)
      return 0;
  }
  k1 = tide_json_object_key(root, 1, &klen);
  if (!((klen == 8 && memcmp(k1, "sequence", 8) == 0) ||
        (klen == 6 && memcmp(k1, "author", 6) == 0)))
    return 0;
  k2 = tide_json_object_key(root, 2, &klen);
  if (k1[0] == 's')
    return klen == 6 && memcmp(k2, "author", 6) == 0;
  return klen == 8 && memcmp(k2, "sequence", 8) == 0;
}

/* msg.hash === 'sha256' */
static int is_sha256(const tide_json *v)
{
  size_t n = 0;
  const char *s = v != NULL ? tide_json_string(v, &n) : NULL;
  return s != NULL && n == 6 && memcmp(s, "sha256", 6) == 0;
}

/* Is v one of JavaScript's objects (object or array, not null)? */
static int js_is_object(const tide_json *v)
{
  tide_json_type t = v != NULL ? tide_json_typeof(v) : TIDE_JSON_NULL;
  return t == TIDE_JSON_OBJECT || t == TIDE_JSON_ARRAY;
}

/* ssb-validate isInteger: ~~n === n, i.e. a number that is an int32. */
static int js_is_int32(const tide_json *v)
{
  double d;

  if (v == NULL || tide_json_typeof(v) != TIDE_JSON_NUMBER)
    return 0;
  d = tide_json_number(v);
  return d >= -2147483648.0 && d <= 2147483647.0 && d == floor(d);
}

/* ssb-validate isSigMatchesCurve: 1 when it matches, 0 when not,
 * LOOSE_THROW when converting the signature to a string throws. */
static int sig_matches_curve(const tide_json *sigv, int author_kind)
{
  const char *s;
  size_t n, curve_len;

  if (sigv == NULL || tide_json_typeof(sigv) != TIDE_JSON_STRING) {
    /* RegExp.test(String(sig)): no non-string converts to a matching
     * string of the right .length, but objects may throw. */
    if (sigv != NULL && js_is_object(sigv)) {
      tide_buf tmp = TIDE_BUF_INIT;
      int rc = js_to_string(&tmp, sigv, 0);
      tide_buf_free(&tmp);
      if (rc == JS_THROW)
        return LOOSE_THROW;
    }
    return 0;
  }
  /* /\.(\w+)/.exec(author): only "." + curve has a dot. */
  if (author_kind == AUTHOR_ED25519)
    curve_len = 7;
  else if (author_kind == AUTHOR_SHA256)
    curve_len = 6;
  else
    return 0;
  s = tide_json_string(sigv, &n);
  /* length - (curve + 5) === 88 and ends with ".sig." + curve; then the
   * regular expression reduces to: the first 88 units are canonical
   * base64 (the remainder is ASCII by the suffix comparison). */
  if (n != 88 + 5 + curve_len || memcmp(s + 88, ".sig.", 5) != 0 ||
      memcmp(s + 93, curve_len == 7 ? "ed25519" : "sha256", curve_len) != 0)
    return 0;
  return canonical_b64_any(s, 88);
}

static void reason_state_json(reason *r, const tide_feed_state *state)
{
  char id[TIDE_MSG_ID_LEN + 1];

  tide_msg_id_format(id, state->id);
  reason_str(r, "{\"id\":\"");
  reason_str(r, id);
  reason_str(r, "\",\"sequence\":");
  reason_number(r, (double)state->sequence);
  reason_str(r, "}");
}

/* Appends ToString(v) to the reason; 0 or JS_THROW (NOMEM is reported as
 * a shortened reason). */
static int reason_js(reason *r, const tide_json *v)
{
  tide_buf tmp = TIDE_BUF_INIT;
  int rc = js_to_string(&tmp, v, 0);

  if (rc == 0)
    reason_add(r, tmp.data != NULL ? tmp.data : "", tmp.len);
  else if (rc != JS_THROW)
    reason_str(r, "(out of memory)");
  tide_buf_free(&tmp);
  return rc == JS_THROW ? JS_THROW : 0;
}

/* isInvalidShape() without its first checks (done by the caller), from the
 * size check on; len16 is the JS length of the encoded message. */
static int check_size_and_type(const tide_json *content, size_t len16, tide_error *err)
{
  const tide_json *type;
  reason r;

  if (len16 > TIDE_MSG_MAX_LENGTH)
    return fail(err, 0, "Encoded message must not be larger than 8192 bytes. Current size is %zu",
                len16);
  if (is_encrypted(content))
    return 0;
  type = tide_json_object_getz(content, "type"); /* NULL for arrays */
  if (type != NULL && tide_json_typeof(type) == TIDE_JSON_STRING) {
    size_t n, u16;
    const char *s = tide_json_string(type, &n);
    u16 = tide_json_utf16_length(s, n);
    if (u16 >= 3 && u16 <= 52)
      return 0;
  }
  reason_start(&r, err, TIDE_E_MSG_INVALID, 0);
  reason_str(&r, "type must be a string3 <= type.length < 52, was:");
  if (reason_js(&r, type) == JS_THROW)
    return fail(err, 0, TYPEERROR_PRIMITIVE);
  return TIDE_E_MSG_INVALID;
}

int tide_msg_validate(const tide_msg *m, const tide_feed_state *state, const uint8_t *hmac_key,
                      int sig, tide_error *err)
{
  const char *author;
  size_t author_len;
  int kind, rc;
  reason r;

  /* 1. author (a well-formed "@<key>.ed25519" id, which read_members()
   * decoded, is what the expression takes as an ed25519 author) */
  kind = m->has_pk ? AUTHOR_ED25519 : feed_id_rx(m->author);
  if (kind == 0)
    return fail(err, 0, "invalid message: must have author");
  author = tide_json_string(m->author, &author_len);
  /* 2. signature matches the author's curve */
  rc = sig_matches_curve(m->signature, kind);
  if (rc == LOOSE_THROW)
    return fail(err, 0, TYPEERROR_PRIMITIVE);
  if (rc != 1)
    return fail(err, 0, "invalid message: signature type must match author type");
  /* 3. position in the feed */
  if (state != NULL) {
    double want = (double)state->sequence + 1;

    rc = loose_ne_number(m->sequence, want);
    if (rc == LOOSE_THROW)
      return fail(err, 0, TYPEERROR_PRIMITIVE);
    if (rc == TIDE_E_NOMEM)
      return tide_error_set(err, rc, 0, "out of memory");
    if (rc == LOOSE_NE) {
      reason_start(&r, err, TIDE_E_MSG_INVALID, 0);
      reason_str(&r, "invalid message: expected sequence ");
      reason_number(&r, want);
      reason_str(&r, " but got:");
      if (reason_js(&r, m->sequence) == JS_THROW)
        return fail(err, 0, TYPEERROR_PRIMITIVE);
      reason_str(&r, "in state:");
      reason_state_json(&r, state);
      reason_str(&r, ", on feed:");
      reason_add(&r, author, author_len);
      return TIDE_E_MSG_INVALID;
    }
    rc = loose_ne_msg_id(m, state->id);
    if (rc == LOOSE_THROW)
      return fail(err, 0, TYPEERROR_PRIMITIVE);
    if (rc == TIDE_E_NOMEM)
      return tide_error_set(err, rc, 0, "out of memory");
    if (rc == LOOSE_NE) {
      reason_start(&r, err, TIDE_E_MSG_INVALID, 1);
      reason_str(&r, "invalid message: expected different previous message, on feed:");
      reason_add(&r, author, author_len);
      return TIDE_E_MSG_INVALID;
    }
  } else {
    const char *what = NULL;
    if (m->previous == NULL || tide_json_typeof(m->previous) != TIDE_JSON_NULL)
      what = "previous: null";
    else if (m->sequence == NULL || tide_json_typeof(m->sequence) != TIDE_JSON_NUMBER ||
             tide_json_number(m->sequence) != 1.0)
      what = "sequence: 1";
    else if (m->timestamp == NULL || tide_json_typeof(m->timestamp) != TIDE_JSON_NUMBER)
      what = "timestamp";
    if (what != NULL) {
      reason_start(&r, err, TIDE_E_MSG_INVALID, 1);
      reason_str(&r, "initial message must have ");
      reason_str(&r, what);
      reason_str(&r, ", on feed:");
      reason_add(&r, author, author_len);
      return TIDE_E_MSG_INVALID;
    }
  }
  /* 4. key order */
  if (!valid_order(m->root, 1))
    return fail(err, 1, "message must have keys in allowed order");
  /* 5. shape (the object, author and order checks hold by now) */
  if (!js_is_int32(m->sequence) || !(js_is_object(m->content) || is_encrypted(m->content)) ||
      !is_sha256(m->hash)) {
    reason_start(&r, err, TIDE_E_MSG_INVALID, 0);
    reason_str(&r, "message has invalid properties:");
    if (m->oversized) {
      tide_buf pre = TIDE_BUF_INIT;
      if (pretty_prefix(&pre, m->root, TIDE_ERROR_MSG_BYTES) != 0) {
        tide_buf_free(&pre);
        return tide_error_set(err, TIDE_E_NOMEM, 0, "out of memory");
      }
      reason_add(&r, pre.data, pre.len);
      tide_buf_free(&pre);
    } else {
      reason_add(&r, m->text, m->text_len);
    }
    return TIDE_E_MSG_INVALID;
  }
  rc = check_size_and_type(m->content, m->utf16_len, err);
  if (rc != 0)
    return rc;
  /* 6. the HMAC key is 32 bytes by type: nothing to check. */
  /* 7. signature; ssb-keys only knows the ed25519 curve. */
  if (kind == AUTHOR_SHA256)
    return fail(err, 0, "unknown curve:sha256 expected: ed25519");
  if (sig == TIDE_MSG_SIG_UNCHECKED)
    sig = tide_msg_verify_signature(m, hmac_key);
  if (sig == TIDE_E_NOMEM)
    return tide_error_set(err, sig, 0, "out of memory");
  if (sig != 0)
    return fail(err, 1, "invalid signature");
  tide_error_clear(err);
  return 0;
}

/* ---- creation --------------------------------------------------------- */

int tide_msg_create(tide_msg **out_msg, const tide_keypair *kp, const tide_feed_state *prev,
                    double timestamp, const tide_json *content, const uint8_t *hmac_key,
                    tide_error *err)
{
  tide_json_doc *doc = NULL;
  tide_json *obj, *v;
  tide_buf text = TIDE_BUF_INIT;
  char id[TIDE_MSG_ID_LEN + 1];
  char author[TIDE_FEED_ID_LEN + 1];
  uint8_t sig[TIDE_SIG_BYTES], mac[crypto_auth_BYTES];
  char sig_b64[sodium_base64_ENCODED_LEN(TIDE_SIG_BYTES, sodium_base64_VARIANT_ORIGINAL)];
  tide_msg *m = NULL;
  size_t len16;
  int rc;

  if (out_msg != NULL)
    *out_msg = NULL;
  if (isnan(timestamp))
    return fail(err, 0, "timestamp must be provided");
  if (!isfinite(timestamp))
    return fail(err, 0, "timestamp must be a finite number");
  if (content == NULL || !(js_is_object(content) || is_encrypted(content)))
    return fail(err, 0, "invalid message content, must be object or encrypted string");

  doc = tide_json_doc_new();
  if (doc == NULL)
    return tide_error_set(err, TIDE_E_NOMEM, 0, "out of memory");
  rc = TIDE_E_NOMEM;
  obj = tide_json_new_object(doc);
  if (obj == NULL)
    goto out;
  if (prev != NULL) {
    tide_msg_id_format(id, prev->id);
    v = tide_json_new_string(doc, id, TIDE_MSG_ID_LEN);
  } else {
    v = tide_json_new_null(doc);
  }
  if (v == NULL || (rc = tide_json_object_set(doc, obj, "previous", 8, v)) != 0)
    goto out;
  tide_feed_id_format(author, kp->pk);
  rc = TIDE_E_NOMEM;
  v = tide_json_new_string(doc, author, TIDE_FEED_ID_LEN);
  if (v == NULL || (rc = tide_json_object_set(doc, obj, "author", 6, v)) != 0)
    goto out;
  rc = TIDE_E_NOMEM;
  v = tide_json_new_number(doc, prev != NULL ? (double)prev->sequence + 1 : 1.0);
  if (v == NULL || (rc = tide_json_object_set(doc, obj, "sequence", 8, v)) != 0)
    goto out;
  rc = TIDE_E_NOMEM;
  v = tide_json_new_number(doc, timestamp);
  if (v == NULL || (rc = tide_json_object_set(doc, obj, "timestamp", 9, v)) != 0)
    goto out;
  rc = TIDE_E_NOMEM;
  v = tide_json_new_string(doc, "sha256", 6);
  if (v == NULL || (rc = tide_json_object_set(doc, obj, "hash", 4, v)) != 0)
    goto out;
  rc = TIDE_E_NOMEM;
  v = tide_json_clone(doc, content);
  if (v == NULL || (rc = tide_json_object_set(doc, obj, "content", 7, v)) != 0)
    goto out;

  /* isInvalidShape() of the unsigned message, as ssb-validate create(). */
  rc = tide_json_write(&text, obj, TIDE_JSON_PRETTY);
  if (rc != 0)
    goto out;
  if (!js_is_int32(tide_json_object_getz(obj, "sequence"))) {
    reason r;
    reason_start(&r, err, TIDE_E_MSG_INVALID, 0);
    reason_str(&r, "message has invalid properties:");
    reason_add(&r, text.data, text.len);
    rc = TIDE_E_MSG_INVALID;
    goto out;
  }
  len16 = is_ascii(text.data, text.len) ? text.len : tide_json_utf16_length(text.data, text.len);
  rc = check_size_and_type(v, len16, err);
  if (rc != 0)
    goto out;

  /* Sign the UTF-8 text (through the HMAC when a key is given). */
  if (hmac_key != NULL) {
    crypto_auth(mac, (const unsigned char *)text.data, text.len, hmac_key);
    crypto_sign_detached(sig, NULL, mac, sizeof mac, kp->sk);
  } else {
    crypto_sign_detached(sig, NULL, (const unsigned char *)text.data, text.len, kp->sk);
  }
  sodium_bin2base64(sig_b64, sizeof sig_b64, sig, sizeof sig, sodium_base64_VARIANT_ORIGINAL);
  /* Append the signature member: "...\n}" -> "...,\n  \"signature\": \"..\"\n}". */
  text.len -= 2;
  rc = tide_buf_printf(&text, ",\n  \"signature\": \"%s.sig.ed25519\"\n}", sig_b64);
  if (rc != 0)
    goto out;
  rc = tide_msg_parse(&m, text.data, text.len, err);
  if (rc != 0)
    goto out;
  /* ssb-validate create() checks the size before signing only; a message
   * that the signature pushes over the limit is then refused by append()
   * (ssb-db publish fails with this reason).  Refuse it here. */
  if (m->utf16_len > TIDE_MSG_MAX_LENGTH) {
    rc = fail(err, 0, "Encoded message must not be larger than 8192 bytes. Current size is %zu",
              m->utf16_len);
    goto out;
  }
  if (m->text_len != text.len || memcmp(m->text, text.data, text.len) != 0) {
    rc = tide_error_set(err, TIDE_E_INTERNAL, 0, "canonical text changed on re-parse");
    goto out;
  }
  if (out_msg != NULL) {
    *out_msg = m;
    m = NULL;
  }
  tide_error_clear(err);
out:
  if (rc == TIDE_E_NOMEM)
    tide_error_set(err, rc, 0, "out of memory");
  tide_msg_free(m);
  tide_buf_free(&text);
  tide_json_doc_free(doc);
  return rc;
}
