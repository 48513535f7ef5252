/* test_json.c - the V8-exact JSON module.
 *
 * Every expected string below was printed by node (V8) with
 * JSON.stringify(JSON.parse(text)) or JSON.stringify(value, null, n);
 * raw UTF-8 is written as \x escapes.  The random differential test
 * against node is tests/js/json-diff.js (ctest json.diff_node). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide/json.h"
#include "tide_test.h"

/* Parses text (NUL-terminated) and returns JSON.stringify(v, null, indent)
 * as a malloc'd string, or NULL when the parse fails. */
static char *restringify(const char *text, int indent)
{
  tide_json_doc *doc = NULL;
  tide_buf out = TIDE_BUF_INIT;
  char *s = NULL;

  if (tide_json_parse(&doc, text, strlen(text), NULL, NULL) != 0)
    return NULL;
  if (tide_json_write(&out, tide_json_root(doc), indent) == 0)
    s = tide_buf_steal(&out, NULL);
  tide_buf_free(&out);
  tide_json_doc_free(doc);
  return s;
}

static void check_restringify(const char *text, int indent, const char *want)
{
  char *got = restringify(text, indent);
  CU_ASSERT_PTR_NOT_NULL_FATAL(got);
  if (strcmp(got, want) != 0)
    fprintf(stderr, "\n  text %s (indent %d)\n  got  %s\n  want %s\n", text, indent, got, want);
  CU_ASSERT_STRING_EQUAL(got, want);
  free(got);
}

/* --- Numbers -------------------------------------------------------------- */

static void check_number(double d, const char *want)
{
  char buf[TIDE_JSON_NUMBER_BYTES];
  size_t n = tide_json_format_number(buf, d);
  if (strcmp(buf, want) != 0)
    fprintf(stderr, "\n  %.17g: got %s want %s\n", d, buf, want);
  CU_ASSERT_STRING_EQUAL(buf, want);
  CU_ASSERT_EQUAL(n, strlen(want));
}

static void test_number_format(void)
{
  check_number(0.1 + 0.2, "0.30000000000000004");
  check_number(1e21, "1e+21");
  check_number(1e-7, "1e-7");
  check_number(123456789012345680000.0, "123456789012345680000");
  check_number(9007199254740993.0, "9007199254740992"); /* 2^53 + 1 rounds to 2^53 */
  check_number(9007199254740991.0, "9007199254740991");
  check_number(-9007199254740991.0, "-9007199254740991");
  check_number(5e-324, "5e-324");
  check_number(1.5e-323, "1.5e-323");
  check_number(1e-323, "1e-323");
  check_number(1.7976931348623157e308, "1.7976931348623157e+308");
  check_number(-1.7976931348623157e308, "-1.7976931348623157e+308");
  check_number(2.2250738585072014e-308, "2.2250738585072014e-308");
  check_number(-0.0, "0");
  check_number(0.0, "0");
  check_number(100, "100");
  check_number(-1, "-1");
  check_number(1e100, "1e+100");
  check_number(1e20, "100000000000000000000");
  check_number(999999999999999900000.0, "999999999999999900000");
  check_number(0.000001, "0.000001");
  check_number(0.0000012345, "0.0000012345");
  check_number(1.5e-7, "1.5e-7");
  check_number(-1.5e-7, "-1.5e-7");
  check_number(5e-7, "5e-7");
  check_number(0.1, "0.1");
  check_number(0.5, "0.5");
  check_number(4.35, "4.35");
  check_number(-123.456, "-123.456");
  check_number(1514871658466.001, "1514871658466.001");
  check_number(1000000000000000.2, "1000000000000000.2");
  check_number(100.0 / 3, "33.333333333333336");
  check_number(1.0 / 3, "0.3333333333333333");
  check_number(2.0 / 3, "0.6666666666666666");
  check_number(1e23, "1e+23");
  check_number(1.23e-18, "1.23e-18");
  check_number(9223372036854775808.0, "9223372036854776000");
  check_number(12345678901234567890.0, "12345678901234567000");
  check_number(1514871658466.0, "1514871658466");
  /* Powers of two: the rounding interval is lopsided, and V8 picks the
   * shortest digits closest to the value (node: String(2**-70) ...). */
  check_number(ldexp(1, -70), "8.470329472543003e-22");
  check_number(ldexp(1, -1000), "9.332636185032189e-302");
  check_number(ldexp(1, 100), "1.2676506002282294e+30");
  check_number(NAN, "NaN");
  check_number(INFINITY, "Infinity");
  check_number(-INFINITY, "-Infinity");
}

/* Reference for Number::toString's digits, literally from the spec: the
 * smallest p for which some p-digit decimal reads back as d (glibc's
 * "%.*e" is the nearest p-digit decimal; when it does not read back, the
 * only other candidate is its neighbour on the far side of d).  Writes
 * the digits without trailing zeros. */
static void reference_digits(double d, char *out)
{
  char buf[64], alt[64];

  for (int p = 1; p <= 17; p++) {
    char digits[32];
    int k = 0, e;
    const char *q;
    double r;
    snprintf(buf, sizeof buf, "%.*e", p - 1, d);
    for (q = buf; *q != 'e'; q++)
      if (*q >= '0' && *q <= '9')
        digits[k++] = *q;
    e = atoi(q + 1);
    r = strtod(buf, NULL);
    if (r != d) {
      int i = k - 1;
      if (r < d) { /* try the next p-digit decimal up */
        while (i >= 0 && digits[i] == '9')
          digits[i--] = '0';
        if (i < 0) {
          digits[0] = '1';
          e++;
        } else {
          digits[i]++;
        }
      } else { /* ... or down */
        while (i >= 0 && digits[i] == '0')
          digits[i--] = '9';
        digits[i]--;
        if (digits[0] == '0') {
          memmove(digits, digits + 1, (size_t)k - 1);
          digits[k - 1] = '9';
          e--;
        }
      }
      snprintf(alt, sizeof alt, "%.*se%d", k, digits, e - (k - 1));
      if (strtod(alt, NULL) != d)
        continue;
    }
    while (k > 1 && digits[k - 1] == '0')
      k--;
    memcpy(out, digits, (size_t)k);
    out[k] = '\0';
    return;
  }
  strcpy(out, "?");
}

/* The significant digits of a Number::toString text, trailing zeros
 * dropped. */
static void text_digits(const char *s, char *out)
{
  int k = 0;
  for (; *s != '\0' && *s != 'e'; s++)
    if (*s >= '0' && *s <= '9' && (k > 0 || *s != '0'))
      out[k++] = *s;
  while (k > 1 && out[k - 1] == '0')
    k--;
  out[k] = '\0';
}

static uint64_t xorshift64(uint64_t *s)
{
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* tide_json_format_number against the spec-literal reference over random
 * doubles: any bit pattern, powers of two, and numbers of 1..17 digits. */
static void test_number_reference(void)
{
  uint64_t seed = 0x9E3779B97F4A7C15u;
  int bad = 0;

  for (int i = 0; i < 30000; i++) {
    char got[TIDE_JSON_NUMBER_BYTES], gd[32], want[32];
    uint64_t bits = xorshift64(&seed);
    double d;
    switch (i % 3) {
    case 0: memcpy(&d, &bits, sizeof d); break;
    case 1: d = ldexp(1.0, (int)(bits % 2098) - 1074); break;
    default: {
      char t[64];
      snprintf(t, sizeof t, "%.*e", (int)(bits % 17), (double)(bits >> 11) * 0x1p-53);
      d = strtod(t, NULL) * pow(10, (double)((int)((bits >> 5) % 80) - 40));
    }
    }
    if (!isfinite(d) || d == 0)
      continue;
    d = fabs(d);
    tide_json_format_number(got, d);
    text_digits(got, gd);
    reference_digits(d, want);
    if (strcmp(gd, want) != 0 || strtod(got, NULL) != d) {
      if (bad++ < 10)
        fprintf(stderr, "\n  %a: got %s, reference digits %s\n", d, got, want);
    }
  }
  CU_ASSERT_EQUAL(bad, 0);
}

static double parse_num(const char *text)
{
  tide_json_doc *doc = NULL;
  double d = -12345.678;
  int rc = tide_json_parse(&doc, text, strlen(text), NULL, NULL);
  CU_ASSERT_EQUAL(rc, 0);
  if (rc == 0) {
    CU_ASSERT_EQUAL(tide_json_typeof(tide_json_root(doc)), TIDE_JSON_NUMBER);
    d = tide_json_number(tide_json_root(doc));
  }
  tide_json_doc_free(doc);
  return d;
}

static void test_number_parse(void)
{
  CU_ASSERT(parse_num("0.1") == 0.1);
  CU_ASSERT(parse_num("-0") == 0 && signbit(parse_num("-0")));
  CU_ASSERT(parse_num("0") == 0 && !signbit(parse_num("0")));
  CU_ASSERT(parse_num("1e400") == INFINITY);
  CU_ASSERT(parse_num("-1e400") == -INFINITY);
  CU_ASSERT(parse_num("1e-400") == 0);
  CU_ASSERT(parse_num("1E+2") == 100);
  CU_ASSERT(parse_num("9007199254740993") == 9007199254740992.0);
  CU_ASSERT(parse_num("1.7976931348623158e308") == 1.7976931348623157e308);
  CU_ASSERT(parse_num("1.7976931348623159e308") == INFINITY);
  CU_ASSERT(parse_num("2.4703282292062328e-324") == 5e-324); /* just above the midpoint */
  CU_ASSERT(parse_num("2.4703282292062327e-324") == 0);      /* just below it */
  CU_ASSERT(parse_num("123456789012345678901234567890") == 123456789012345678901234567890.0);
  CU_ASSERT(parse_num("0.000000000000000000000000000000000000000001") == 1e-42);
  CU_ASSERT(parse_num("1e999999999999999999999") == INFINITY);
  CU_ASSERT(parse_num("0e999999999999999999999") == 0);
  /* 2^53 + 1 is the midpoint of 2^53 and 2^53 + 2: ties to even (2^53);
   * any digit after it tips the balance. */
  CU_ASSERT(parse_num("9007199254740993.0") == 9007199254740992.0);
  CU_ASSERT(parse_num("9007199254740993.000000000000000000000000000000000000000001") ==
            9007199254740994.0);
  {
    /* Digits beyond the 800 kept are summarised, not ignored. */
    char text[1200];
    memcpy(text, "9007199254740993.", 17);
    memset(text + 17, '0', 1100);
    memcpy(text + 1117, "1", 2);
    CU_ASSERT(parse_num(text) == 9007199254740994.0);
  }
  check_restringify("[1e400,-1e400,-0,1E21,0.0000001,1e-7,100e-2]", 0,
                    "[null,null,0,1e+21,1e-7,1e-7,1]");
}

/* --- Strings ---------------------------------------------------------------- */

static void test_string_escapes(void)
{
  /* node: JSON.stringify(JSON.parse(text)) */
  check_restringify("\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f \\\"\\\\\\/"
                    "\\u007f\\u0080\\u2028\\u2029\\ud800\\udbff\\udc00\\udfff"
                    "\\ud83d\\ude00\\uD83D\\uDE00\\u00e9\"",
                    0,
                    "\"\\u0000\\u0001\\b\\t\\n\\u000b\\f\\r\\u000e\\u001f \\\"\\\\/"
                    "\x7f\xc2\x80\xe2\x80\xa8\xe2\x80\xa9\\ud800\xf4\x8f\xb0\x80\\udfff"
                    "\xf0\x9f\x98\x80\xf0\x9f\x98\x80\xc3\xa9\"");
  /* Raw UTF-8 stays raw; '/' is not escaped. */
  check_restringify("\"a/b \xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80 \x7f\"", 2,
                    "\"a/b \xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80 \x7f\"");
  /* Lone surrogates next to other text, and a high surrogate followed by
   * a non-surrogate escape. */
  check_restringify("[\"x\\uDBFFy\",\"\\udc00\\ud800\",\"\\ud83d\\u0041\"]", 0,
                    "[\"x\\udbffy\",\"\\udc00\\ud800\",\"\\ud83dA\"]");
}

/* Strings longer than the writer's 4 KiB blocks, with a lone surrogate
 * and multi-byte characters straddling the block boundary. */
static void test_long_strings(void)
{
  for (int shift = 0; shift < 4; shift++) {
    tide_buf text = TIDE_BUF_INIT, want = TIDE_BUF_INIT;
    char *got;
    int ok = 1;
    size_t n = 4093 + (size_t)shift;

    ok &= tide_buf_putc(&text, '"') == 0 && tide_buf_putc(&want, '"') == 0;
    for (size_t i = 0; i < n; i++)
      ok &= tide_buf_putc(&text, 'a') == 0 && tide_buf_putc(&want, 'a') == 0;
    ok &= tide_buf_puts(&text, "\\uD800") == 0 && tide_buf_puts(&want, "\\ud800") == 0;
    for (int i = 0; i < 3000; i++)
      ok &= tide_buf_puts(&text, "\xc3\xa9\\u00e9\xf0\x9f\x98\x80") == 0 &&
            tide_buf_puts(&want, "\xc3\xa9\xc3\xa9\xf0\x9f\x98\x80") == 0;
    ok &= tide_buf_puts(&text, "\\u0001\\udfff\"") == 0 &&
          tide_buf_puts(&want, "\\u0001\\udfff\"") == 0;
    CU_ASSERT_FATAL(ok);
    got = restringify(text.data, shift % 2 ? 2 : 0);
    CU_ASSERT_PTR_NOT_NULL(got);
    CU_ASSERT(got != NULL && strcmp(got, want.data) == 0);
    free(got);
    tide_buf_free(&text);
    tide_buf_free(&want);
  }
}

static void test_string_wtf8(void)
{
  tide_json_doc *doc = NULL;
  const char *s;
  size_t len;
  const char *text = "[\"\\ud83d\\ude00\",\"\\ud800\",\"\\udc00x\",\"a\\u0000b\"]";

  CU_ASSERT_EQUAL_FATAL(tide_json_parse(&doc, text, strlen(text), NULL, NULL), 0);
  s = tide_json_string(tide_json_array_get(tide_json_root(doc), 0), &len);
  CU_ASSERT(len == 4 && memcmp(s, "\xf0\x9f\x98\x80", 4) == 0);
  s = tide_json_string(tide_json_array_get(tide_json_root(doc), 1), &len);
  CU_ASSERT(len == 3 && memcmp(s, "\xed\xa0\x80", 3) == 0);
  s = tide_json_string(tide_json_array_get(tide_json_root(doc), 2), &len);
  CU_ASSERT(len == 4 && memcmp(s, "\xed\xb0\x80x", 4) == 0);
  s = tide_json_string(tide_json_array_get(tide_json_root(doc), 3), &len);
  CU_ASSERT(len == 3 && memcmp(s, "a\0b", 4) == 0); /* NUL inside, NUL after */
  tide_json_doc_free(doc);
}

static void test_write_string(void)
{
  tide_buf b = TIDE_BUF_INIT;

  CU_ASSERT_EQUAL(tide_json_write_string(&b, "a\"\\\x01\x1f\xed\xa0\x80\xe2\x80\xa8", 11), 0);
  CU_ASSERT_STRING_EQUAL(b.data, "\"a\\\"\\\\\\u0001\\u001f\\ud800\xe2\x80\xa8\"");
  tide_buf_reset(&b);
  CU_ASSERT_EQUAL(tide_json_write_string(&b, "", 0), 0);
  CU_ASSERT_STRING_EQUAL(b.data, "\"\"");
  tide_buf_reset(&b);
  /* Not WTF-8: rejected, buffer untouched. */
  CU_ASSERT_EQUAL(tide_json_write_string(&b, "\xc0\x80", 2), TIDE_E_JSON_UTF8);
  CU_ASSERT_EQUAL(b.len, 0);
  tide_buf_free(&b);
}

/* --- Key order -------------------------------------------------------------- */

static void test_key_order(void)
{
  check_restringify("{\"b\":1,\"a\":2,\"1\":3,\"0\":4,\"10\":5,\"2\":6}", 0,
                    "{\"0\":4,\"1\":3,\"2\":6,\"10\":5,\"b\":1,\"a\":2}");
  check_restringify(
      "{\"b\":1,\"a\":2,\"1\":3,\"0\":4,\"10\":5,\"2\":6}", 2,
      "{\n  \"0\": 4,\n  \"1\": 3,\n  \"2\": 6,\n  \"10\": 5,\n  \"b\": 1,\n  \"a\": 2\n}");
  /* "4294967295", "01", "-1", "1.0" are ordinary keys. */
  check_restringify(
      "{\"x\":1,\"4294967295\":2,\"4294967294\":3,\"01\":4,\"-1\":5,\"1.0\":6,\"0\":7,\"\":8}", 0,
      "{\"0\":7,\"4294967294\":3,\"x\":1,\"4294967295\":2,\"01\":4,\"-1\":5,\"1.0\":6,\"\":8}");
  /* Nested objects are ordered too. */
  check_restringify("{\"z\":{\"b\":[],\"a\":{},\"3\":[1,{\"y\":null,\"2\":true}]}}", 0,
                    "{\"z\":{\"3\":[1,{\"2\":true,\"y\":null}],\"b\":[],\"a\":{}}}");
  check_restringify("{\"z\":{\"b\":[],\"a\":{},\"3\":[1,{\"y\":null,\"2\":true}]}}", 4,
                    "{\n    \"z\": {\n        \"3\": [\n            1,\n            {\n"
                    "                \"2\": true,\n                \"y\": null\n            }\n"
                    "        ],\n        \"b\": [],\n        \"a\": {}\n    }\n}");
  check_restringify("{\"__proto__\":1,\"constructor\":2}", 0,
                    "{\"__proto__\":1,\"constructor\":2}");
  /* An escaped spelling of an index key is the same key. */
  check_restringify("{\"a\":0,\"\\u0031\":1,\"1\":2}", 0, "{\"1\":2,\"a\":0}");
}

static void test_duplicates(void)
{
  check_restringify("{\"a\":1,\"b\":2,\"a\":3,\"1\":\"x\",\"1\":\"y\"}", 0,
                    "{\"1\":\"y\",\"a\":3,\"b\":2}");
  check_restringify("{\"a\":1,\"b\":2,\"a\":3,\"1\":\"x\",\"1\":\"y\"}", 2,
                    "{\n  \"1\": \"y\",\n  \"a\": 3,\n  \"b\": 2\n}");
  check_restringify("{\"a\":{\"x\":1},\"a\":[]}", 0, "{\"a\":[]}");
}

static void test_layout(void)
{
  check_restringify("[[],{},[[]],{\"a\":[]}]", 0, "[[],{},[[]],{\"a\":[]}]");
  check_restringify("[[],{},[[]],{\"a\":[]}]", 2,
                    "[\n  [],\n  {},\n  [\n    []\n  ],\n  {\n    \"a\": []\n  }\n]");
  check_restringify(" \t\r\n{ \"a\" :\t[ 1 , 2 ] }\n ", 0, "{\"a\":[1,2]}");
  check_restringify("\"s\"", 2, "\"s\"");
  check_restringify("true", 2, "true");
  check_restringify("null", 0, "null");
  check_restringify("[true,false,null]", 10,
                    "[\n          true,\n          false,\n          null\n]");
}

/* Many keys: duplicates and index keys at scale must stay correct (and
 * near-linear: a quadratic layout would make this test crawl). */
static void test_big_object(void)
{
  enum { N = 100000 };
  tide_buf text = TIDE_BUF_INIT, out = TIDE_BUF_INIT;
  tide_json_doc *doc = NULL;
  tide_json *root;
  int ok = 1;

  CU_ASSERT_EQUAL_FATAL(tide_buf_putc(&text, '{'), 0);
  for (int i = 0; i < N; i++) /* k0..k99999, then every 10th again, then index keys */
    ok &= tide_buf_printf(&text, "\"k%d\":%d,", i, i) == 0;
  for (int i = 0; i < N; i += 10)
    ok &= tide_buf_printf(&text, "\"k%d\":-%d,", i, i) == 0;
  for (int i = N - 1; i >= 0; i -= 2)
    ok &= tide_buf_printf(&text, "\"%d\":%d,", i, i) == 0;
  ok &= tide_buf_puts(&text, "\"end\":0}") == 0;
  CU_ASSERT_FATAL(ok);
  CU_ASSERT_EQUAL_FATAL(tide_json_parse(&doc, text.data, text.len, NULL, NULL), 0);
  root = tide_json_root(doc);
  CU_ASSERT_EQUAL(tide_json_length(root), N + N / 2 + 1);
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(root, 0, NULL), "1");
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(root, N / 2 - 1, NULL), "99999");
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(root, N / 2, NULL), "k0");
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_value(root, N / 2)), 0);
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_getz(root, "k10")), -10);
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_getz(root, "k11")), 11);
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_getz(root, "77777")), 77777);
  CU_ASSERT_PTR_NULL(tide_json_object_getz(root, "77776"));
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(root, N + N / 2, NULL), "end");
  CU_ASSERT_EQUAL(tide_json_write(&out, root, 0), 0);
  CU_ASSERT(strncmp(out.data, "{\"1\":1,\"3\":3,", 13) == 0);
  CU_ASSERT(strstr(out.data, "\"99999\":99999,\"k0\":0,\"k1\":1,") != NULL);
  tide_buf_free(&out);
  tide_buf_free(&text);
  tide_json_doc_free(doc);
}

/* --- Errors --------------------------------------------------------------- */

typedef struct bad_case {
  const char *text;
  size_t len; /* 0: strlen */
  int code;
  size_t offset;
  const char *msg; /* a substring of the message */
} bad_case;

static void test_syntax_errors(void)
{
  static const bad_case cases[] = {
      {"{\"a\":1,\"b\":2 \"c\":3}", 0, TIDE_E_JSON_SYNTAX, 13, "expected ',' or '}' at byte 13"},
      {"{\"a\":1,}", 0, TIDE_E_JSON_SYNTAX, 7, "expected '\"' to start a key at byte 7"},
      {"[1,]", 0, TIDE_E_JSON_SYNTAX, 3, "expected a value at byte 3"},
      {"[1 2]", 0, TIDE_E_JSON_SYNTAX, 3, "expected ',' or ']' at byte 3"},
      {"{\"a\" 1}", 0, TIDE_E_JSON_SYNTAX, 5, "expected ':' at byte 5"},
      {"{a:1}", 0, TIDE_E_JSON_SYNTAX, 1, "key"},
      {"", 0, TIDE_E_JSON_SYNTAX, 0, "expected a value at byte 0 (end of input)"},
      {"   ", 0, TIDE_E_JSON_SYNTAX, 3, "end of input"},
      {"[1,2", 0, TIDE_E_JSON_SYNTAX, 4, "expected ',' or ']' at byte 4 (end of input)"},
      {"01", 0, TIDE_E_JSON_SYNTAX, 1, "leading zero"},
      {"-01", 0, TIDE_E_JSON_SYNTAX, 2, "leading zero"},
      {"[00]", 0, TIDE_E_JSON_SYNTAX, 2, "leading zero"},
      {"1.", 0, TIDE_E_JSON_SYNTAX, 2, "digit after '.'"},
      {".5", 0, TIDE_E_JSON_SYNTAX, 0, "expected a value"},
      {"1e", 0, TIDE_E_JSON_SYNTAX, 2, "exponent"},
      {"1e+", 0, TIDE_E_JSON_SYNTAX, 3, "exponent"},
      {"-", 0, TIDE_E_JSON_SYNTAX, 1, "expected digit"},
      {"+1", 0, TIDE_E_JSON_SYNTAX, 0, "expected a value"},
      {"NaN", 0, TIDE_E_JSON_SYNTAX, 0, "expected a value"},
      {"Infinity", 0, TIDE_E_JSON_SYNTAX, 0, "expected a value"},
      {"tru", 0, TIDE_E_JSON_SYNTAX, 3, "expected a value"},
      {"nul1", 0, TIDE_E_JSON_SYNTAX, 3, "expected a value"},
      {"[1]x", 0, TIDE_E_JSON_SYNTAX, 3, "unexpected data after the JSON value at byte 3"},
      {"1 2", 0, TIDE_E_JSON_SYNTAX, 2, "unexpected data"},
      {"[1]/*c*/", 0, TIDE_E_JSON_SYNTAX, 3, "unexpected data"},
      {"'a'", 0, TIDE_E_JSON_SYNTAX, 0, "expected a value"},
      {"\"abc", 0, TIDE_E_JSON_SYNTAX, 4, "unterminated string"},
      {"\"a\tb\"", 0, TIDE_E_JSON_SYNTAX, 2, "control character in string at byte 2"},
      {"\"a\\x\"", 0, TIDE_E_JSON_SYNTAX, 2, "invalid escape at byte 2"},
      {"\"\\u12\"", 0, TIDE_E_JSON_SYNTAX, 1, "invalid \\u escape at byte 1"},
      {"\"\\u12g4\"", 0, TIDE_E_JSON_SYNTAX, 1, "invalid \\u escape"},
      {"\"\\", 0, TIDE_E_JSON_SYNTAX, 2, "unterminated string"},
      /* Only space, tab, LF and CR are whitespace. */
      {"\v1", 0, TIDE_E_JSON_SYNTAX, 0, "expected a value"},
      {"\f1", 0, TIDE_E_JSON_SYNTAX, 0, "expected a value"},
      {"\xef\xbb\xbf"
       "1",
       0, TIDE_E_JSON_SYNTAX, 0, "expected a value"}, /* BOM */
      {"[\xc2\xa0"
       "1]",
       0, TIDE_E_JSON_SYNTAX, 1, "expected a value"}, /* NBSP */
      {"[1,\xe2\x80\xa8"
       "2]",
       0, TIDE_E_JSON_SYNTAX, 3, "expected a value"},
      {"[1]\0", 4, TIDE_E_JSON_SYNTAX, 3, "unexpected data"},
      /* Invalid UTF-8 in raw input. */
      {"\"\xc0\x80\"", 0, TIDE_E_JSON_UTF8, 1, "invalid UTF-8 at byte 1"},
      {"\"\xed\xa0\x80\"", 0, TIDE_E_JSON_UTF8, 1, "invalid UTF-8"}, /* raw surrogate */
      {"\"ab\xf5\x80\x80\x80\"", 0, TIDE_E_JSON_UTF8, 3, "invalid UTF-8"},
      {"\"\xe2\x82\"", 0, TIDE_E_JSON_UTF8, 1, "invalid UTF-8"},
      {"\"\xf4\x90\x80\x80\"", 0, TIDE_E_JSON_UTF8, 1, "invalid UTF-8"}, /* > U+10FFFF */
      {"\"\xe0\x80\xaf\"", 0, TIDE_E_JSON_UTF8, 1, "invalid UTF-8"},     /* overlong */
      {"{\"k\xff\":1}", 0, TIDE_E_JSON_UTF8, 3, "invalid UTF-8"},
      {"[1,\xff]", 0, TIDE_E_JSON_UTF8, 3, "invalid UTF-8"},
      {"\"\x80\"", 0, TIDE_E_JSON_UTF8, 1, "invalid UTF-8"},
  };

  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    const bad_case *c = &cases[i];
    size_t len = c->len ? c->len : strlen(c->text);
    tide_json_doc *doc = (tide_json_doc *)&doc; /* must be reset to NULL */
    tide_error err;
    int rc = tide_json_parse(&doc, c->text, len, NULL, &err);
    if (rc != c->code || err.offset != c->offset || strstr(err.msg, c->msg) == NULL)
      fprintf(stderr, "\n  case %zu: rc %d offset %zu msg \"%s\"\n", i, rc, err.offset, err.msg);
    CU_ASSERT_EQUAL(rc, c->code);
    CU_ASSERT_EQUAL(err.code, c->code);
    CU_ASSERT_EQUAL(err.offset, c->offset);
    CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, c->msg));
    CU_ASSERT_PTR_NULL(doc);
  }
}

static char *nested(size_t depth, char open, char close)
{
  char *s = malloc(2 * depth + 1);
  if (s == NULL)
    return NULL;
  memset(s, open, depth);
  memset(s + depth, close, depth);
  s[2 * depth] = '\0';
  return s;
}

static void test_limits(void)
{
  tide_json_doc *doc = NULL;
  tide_json_limits lim = {0, 0};
  tide_error err;
  tide_buf out = TIDE_BUF_INIT;
  char *s;

  s = nested(TIDE_JSON_DEFAULT_DEPTH, '[', ']');
  CU_ASSERT_EQUAL(tide_json_parse(&doc, s, strlen(s), NULL, &err), 0);
  tide_json_doc_free(doc);
  free(s);
  s = nested(TIDE_JSON_DEFAULT_DEPTH + 1, '[', ']');
  CU_ASSERT_EQUAL(tide_json_parse(&doc, s, strlen(s), NULL, &err), TIDE_E_JSON_DEPTH);
  CU_ASSERT_EQUAL(err.offset, TIDE_JSON_DEFAULT_DEPTH);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "nesting deeper than 512 at byte 512"));
  free(s);

  lim.max_depth = 3;
  CU_ASSERT_EQUAL(tide_json_parse(&doc, "{\"a\":[{}]}", 10, &lim, &err), 0);
  tide_json_doc_free(doc);
  CU_ASSERT_EQUAL(tide_json_parse(&doc, "{\"a\":[{\"b\":[]}]}", 16, &lim, &err), TIDE_E_JSON_DEPTH);

  /* Deep input with a raised limit: the parser and writer are iterative. */
  lim.max_depth = 200000;
  s = nested(200000, '[', ']');
  CU_ASSERT_EQUAL_FATAL(tide_json_parse(&doc, s, strlen(s), &lim, &err), 0);
  CU_ASSERT_EQUAL(tide_json_write(&out, tide_json_root(doc), 0), 0);
  CU_ASSERT(out.len == strlen(s) && memcmp(out.data, s, out.len) == 0);
  tide_buf_free(&out);
  tide_json_doc_free(doc);
  free(s);

  lim.max_depth = 0;
  lim.max_bytes = 4;
  CU_ASSERT_EQUAL(tide_json_parse(&doc, "1234", 4, &lim, &err), 0);
  tide_json_doc_free(doc);
  CU_ASSERT_EQUAL(tide_json_parse(&doc, "12345", 5, &lim, &err), TIDE_E_TOOBIG);
  CU_ASSERT_PTR_NULL(doc);
  CU_ASSERT_EQUAL(tide_json_parse(NULL, "1", 1, NULL, NULL), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_json_parse(&doc, NULL, 1, NULL, NULL), TIDE_E_INVAL);
}

/* --- Reading and building --------------------------------------------------- */

static void test_read_api(void)
{
  const char *text = "{\"s\":\"hi\",\"n\":-2.5,\"a\":[true,false,null],\"o\":{},\"1\":1}";
  tide_json_doc *doc = NULL;
  tide_json *root, *a;
  size_t len;

  CU_ASSERT_EQUAL_FATAL(tide_json_parse(&doc, text, strlen(text), NULL, NULL), 0);
  root = tide_json_root(doc);
  CU_ASSERT_EQUAL(tide_json_typeof(root), TIDE_JSON_OBJECT);
  CU_ASSERT_EQUAL(tide_json_length(root), 5);
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(root, 0, &len), "1");
  CU_ASSERT_EQUAL(len, 1);
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(root, 1, &len), "s");
  CU_ASSERT_PTR_NULL(tide_json_object_key(root, 5, &len));
  CU_ASSERT_PTR_NULL(tide_json_object_value(root, 5));
  CU_ASSERT_STRING_EQUAL(tide_json_string(tide_json_object_getz(root, "s"), &len), "hi");
  CU_ASSERT_EQUAL(len, 2);
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_getz(root, "n")), -2.5);
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_get(root, "1", 1)), 1);
  CU_ASSERT_PTR_NULL(tide_json_object_getz(root, "missing"));
  CU_ASSERT_PTR_NULL(tide_json_object_get(root, "s\0", 2));
  a = tide_json_object_getz(root, "a");
  CU_ASSERT_EQUAL(tide_json_typeof(a), TIDE_JSON_ARRAY);
  CU_ASSERT_EQUAL(tide_json_length(a), 3);
  CU_ASSERT_EQUAL(tide_json_typeof(tide_json_array_get(a, 0)), TIDE_JSON_TRUE);
  CU_ASSERT_EQUAL(tide_json_typeof(tide_json_array_get(a, 1)), TIDE_JSON_FALSE);
  CU_ASSERT_EQUAL(tide_json_typeof(tide_json_array_get(a, 2)), TIDE_JSON_NULL);
  CU_ASSERT_PTR_NULL(tide_json_array_get(a, 3));
  CU_ASSERT_PTR_NULL(tide_json_array_get(root, 0)); /* not an array */
  CU_ASSERT_EQUAL(tide_json_length(tide_json_object_getz(root, "o")), 0);
  CU_ASSERT_EQUAL(tide_json_length(tide_json_object_getz(root, "s")), 0);
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_getz(root, "s")), 0);
  CU_ASSERT_PTR_NULL(tide_json_string(tide_json_object_getz(root, "n"), &len));
  CU_ASSERT_PTR_NULL(tide_json_object_getz(a, "0")); /* not an object */
  tide_json_doc_free(doc);
  tide_json_doc_free(NULL);
}

static char *write_str(const tide_json *v, int indent)
{
  tide_buf b = TIDE_BUF_INIT;
  char *s = NULL;
  if (tide_json_write(&b, v, indent) == 0)
    s = tide_buf_steal(&b, NULL);
  tide_buf_free(&b);
  return s;
}

static void test_builder(void)
{
  tide_json_doc *doc = tide_json_doc_new();
  tide_json *obj, *arr, *inner, *copy;
  tide_json_doc *doc2;
  char *s;

  CU_ASSERT_PTR_NOT_NULL_FATAL(doc);
  CU_ASSERT_PTR_NULL(tide_json_root(doc));
  obj = tide_json_new_object(doc);
  arr = tide_json_new_array(doc);
  CU_ASSERT_EQUAL(tide_json_object_set(doc, obj, "b", 1, tide_json_new_number(doc, 1)), 0);
  CU_ASSERT_EQUAL(tide_json_object_set(doc, obj, "a", 1, tide_json_new_string(doc, "x\n", 2)), 0);
  CU_ASSERT_EQUAL(tide_json_object_set(doc, obj, "10", 2, tide_json_new_null(doc)), 0);
  CU_ASSERT_EQUAL(tide_json_object_set(doc, obj, "2", 1, tide_json_new_bool(doc, 1)), 0);
  CU_ASSERT_EQUAL(tide_json_object_set(doc, obj, "4294967295", 10, tide_json_new_bool(doc, 0)), 0);
  /* Replacing keeps the position. */
  CU_ASSERT_EQUAL(tide_json_object_set(doc, obj, "b", 1, tide_json_new_number(doc, 0.5)), 0);
  CU_ASSERT_EQUAL(tide_json_array_push(doc, arr, tide_json_new_number(doc, NAN)), 0);
  CU_ASSERT_EQUAL(tide_json_array_push(doc, arr, tide_json_new_number(doc, -INFINITY)), 0);
  CU_ASSERT_EQUAL(tide_json_array_push(doc, arr, tide_json_new_object(doc)), 0);
  CU_ASSERT_EQUAL(tide_json_object_set(doc, obj, "arr", 3, arr), 0);
  s = write_str(obj, 0);
  CU_ASSERT_STRING_EQUAL(s, "{\"2\":true,\"10\":null,\"b\":0.5,\"a\":\"x\\n\",\"4294967295\":false,"
                            "\"arr\":[null,null,{}]}");
  free(s);

  /* Remove keeps the others in order. */
  tide_json_object_remove(obj, "10", 2);
  tide_json_object_remove(obj, "a", 1);
  tide_json_object_remove(obj, "nope", 4);
  s = write_str(obj, 2);
  CU_ASSERT_STRING_EQUAL(s, "{\n  \"2\": true,\n  \"b\": 0.5,\n  \"4294967295\": false,\n"
                            "  \"arr\": [\n    null,\n    null,\n    {}\n  ]\n}");
  free(s);

  /* Argument checks. */
  CU_ASSERT_EQUAL(tide_json_array_push(doc, obj, arr), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_json_object_set(doc, arr, "k", 1, obj), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_json_object_set(doc, obj, "\xff", 1, arr), TIDE_E_INVAL);
  CU_ASSERT_PTR_NULL(tide_json_new_string(doc, "\xed\xa0\x80\xed\xb0\x80", 6)); /* split pair */
  CU_ASSERT_PTR_NOT_NULL(tide_json_new_string(doc, "\xed\xa0\x80", 3));
  {
    tide_buf b = TIDE_BUF_INIT;
    CU_ASSERT_EQUAL(tide_json_write(&b, obj, 11), TIDE_E_INVAL);
    CU_ASSERT_EQUAL(tide_json_write(&b, obj, -1), TIDE_E_INVAL);
    tide_buf_free(&b);
  }

  /* Clone into another document, then free the source. */
  inner = tide_json_new_object(doc);
  for (int i = 0; i < 40; i++) {
    char k[16];
    int n = snprintf(k, sizeof k, "key%d", i);
    CU_ASSERT_EQUAL(tide_json_object_set(doc, inner, k, (size_t)n, tide_json_new_number(doc, i)),
                    0);
  }
  CU_ASSERT_EQUAL(tide_json_object_set(doc, obj, "inner", 5, inner), 0);
  doc2 = tide_json_doc_new();
  copy = tide_json_clone(doc2, obj);
  CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
  s = write_str(obj, 2);
  tide_json_doc_free(doc);
  {
    char *t = write_str(copy, 2);
    CU_ASSERT_STRING_EQUAL(s, t);
    free(t);
  }
  free(s);
  CU_ASSERT_EQUAL(
      tide_json_number(tide_json_object_getz(tide_json_object_getz(copy, "inner"), "key33")), 33);
  tide_json_doc_free(doc2);
}

/* object_set at scale: the lookup table keeps it near-linear, and index
 * keys inserted out of order end up sorted. */
static void test_builder_big(void)
{
  enum { N = 100000 };
  tide_json_doc *doc = tide_json_doc_new();
  tide_json *obj = tide_json_new_object(doc);
  char k[32];
  int ok = 1;

  for (int i = 0; i < N; i++) {
    int n = snprintf(k, sizeof k, "name%d", i);
    ok &= tide_json_object_set(doc, obj, k, (size_t)n, tide_json_new_number(doc, i)) == 0;
  }
  for (int i = 0; i < 1000; i++) {
    int n = snprintf(k, sizeof k, "%d", (i * 7919) % 1000);
    ok &= tide_json_object_set(doc, obj, k, (size_t)n, tide_json_new_number(doc, -i)) == 0;
  }
  for (int i = 0; i < N; i += 2) {
    int n = snprintf(k, sizeof k, "name%d", i);
    ok &= tide_json_object_set(doc, obj, k, (size_t)n, tide_json_new_number(doc, -1)) == 0;
  }
  CU_ASSERT(ok);
  CU_ASSERT_EQUAL(tide_json_length(obj), N + 1000);
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(obj, 0, NULL), "0");
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(obj, 999, NULL), "999");
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(obj, 1000, NULL), "name0");
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_getz(obj, "name4")), -1);
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_getz(obj, "name5")), 5);
  for (int i = 0; i < 100; i++) {
    int n = snprintf(k, sizeof k, "name%d", i);
    tide_json_object_remove(obj, k, (size_t)n);
  }
  CU_ASSERT_EQUAL(tide_json_length(obj), N + 1000 - 100);
  CU_ASSERT_PTR_NULL(tide_json_object_getz(obj, "name50"));
  CU_ASSERT_EQUAL(tide_json_number(tide_json_object_getz(obj, "name101")), 101);
  CU_ASSERT_STRING_EQUAL(tide_json_object_key(obj, 1000, NULL), "name100");
  tide_json_doc_free(doc);
}

/* --- JavaScript string measures ------------------------------------------- */

static void check_latin1(const char *s, size_t len, const char *want, size_t wantlen)
{
  tide_buf b = TIDE_BUF_INIT;
  CU_ASSERT_EQUAL(tide_json_latin1(&b, s, len), 0);
  CU_ASSERT_EQUAL(b.len, wantlen);
  CU_ASSERT(b.len == wantlen && (wantlen == 0 || memcmp(b.data, want, wantlen) == 0));
  tide_buf_free(&b);
}

static void test_js_measures(void)
{
  tide_buf b = TIDE_BUF_INIT;

  /* node: Buffer.from("a\u00e9\u2028\u{1F600}\ud800", "binary") */
  check_latin1("a\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\xed\xa0\x80", 13, "a\xe9\x28\x3d\x00\x00", 6);
  check_latin1("\xf4\x8f\xbf\xbf", 4, "\xff\xff", 2); /* U+10FFFF = dbff dfff */
  check_latin1("\xef\xbf\xbf\xc4\x80", 5, "\xff\x00", 2);
  check_latin1("", 0, "", 0);
  /* Long ASCII runs (copied a word at a time) around other text. */
  check_latin1("0123456789abcdef\xc3\xa9"
               "0123456789",
               28,
               "0123456789abcdef\xe9"
               "0123456789",
               27);
  CU_ASSERT(!tide_json_valid_wtf8("0123456789abcdef\xc3", 17));
  CU_ASSERT(tide_json_valid_wtf8("0123456789abcdef\xc3\xa9"
                                 "0123456789",
                                 28));
  CU_ASSERT_EQUAL(tide_json_latin1(&b, "\xff", 1), TIDE_E_JSON_UTF8);
  tide_buf_free(&b);

  /* node: "a\u00e9\u2028\u{1F600}\ud800".length === 6 */
  CU_ASSERT_EQUAL(tide_json_utf16_length("a\xc3\xa9\xe2\x80\xa8\xf0\x9f\x98\x80\xed\xa0\x80", 13),
                  6);
  CU_ASSERT_EQUAL(tide_json_utf16_length("", 0), 0);
  CU_ASSERT_EQUAL(tide_json_utf16_length("a\0b", 3), 3);

  CU_ASSERT(tide_json_valid_wtf8("", 0));
  CU_ASSERT(tide_json_valid_wtf8(NULL, 0));
  CU_ASSERT(tide_json_valid_wtf8("a\xc3\xa9\xf0\x9f\x98\x80", 7));
  CU_ASSERT(tide_json_valid_wtf8("\xed\xa0\x80", 3));              /* lone high */
  CU_ASSERT(tide_json_valid_wtf8("\xed\xb0\x80\xed\xa0\x80", 6));  /* low then high */
  CU_ASSERT(!tide_json_valid_wtf8("\xed\xa0\x80\xed\xb0\x80", 6)); /* pair split in two */
  CU_ASSERT(!tide_json_valid_wtf8("\xc0\x80", 2));
  CU_ASSERT(!tide_json_valid_wtf8("\xc3", 1));
  CU_ASSERT(!tide_json_valid_wtf8("\xf8\x88\x80\x80\x80", 5));
  CU_ASSERT(!tide_json_valid_wtf8("\xf4\x90\x80\x80", 4));
  CU_ASSERT(!tide_json_valid_wtf8("\xe0\x9f\xbf", 3));
}

/* --- Canonical form check ------------------------------------------------- */

/* tide_json_parse_canonical(text, indent) must say 1 exactly when
 * printing the parsed value again gives the text back, and the canonical
 * text it makes must be what the writer prints. */
static int canonical_oracle(const char *text, size_t len, int indent, int *parsed)
{
  tide_json_doc *doc = NULL;
  tide_buf out = TIDE_BUF_INIT, made = TIDE_BUF_INIT;
  int canon = -1, want, ok;

  CU_ASSERT_FATAL(tide_buf_append(&made, "<", 1) == 0); /* appends after this */
  *parsed = tide_json_parse_canonical(&doc, &made, &canon, text, len, indent, NULL, NULL) == 0;
  if (!*parsed) {
    CU_ASSERT_EQUAL(canon, 0);
    CU_ASSERT_PTR_NULL(doc);
    CU_ASSERT_EQUAL(made.len, 1);
    tide_buf_free(&made);
    return 1;
  }
  CU_ASSERT_FATAL(tide_json_write(&out, tide_json_root(doc), indent) == 0);
  want = out.len == len && memcmp(out.data, text, len) == 0;
  ok = canon == want && made.len == out.len + 1 && memcmp(made.data + 1, out.data, out.len) == 0 &&
       made.data[made.len] == '\0';
  if (!ok)
    fprintf(stderr,
            "\n  canonical check says %d, writer says %d (indent %d) for:\n%.*s\n"
            "  made:\n%.*s\n  printed:\n%.*s\n",
            canon, want, indent, (int)len, text, (int)made.len - 1, made.data + 1, (int)out.len,
            out.data);
  tide_buf_free(&out);
  tide_buf_free(&made);
  tide_json_doc_free(doc);
  return ok;
}

static void check_canonical(const char *text, int indent, int want)
{
  tide_json_doc *doc = NULL;
  int canon = -1, parsed;

  CU_ASSERT_EQUAL_FATAL(
      tide_json_parse_canonical(&doc, NULL, &canon, text, strlen(text), indent, NULL, NULL), 0);
  if (canon != want)
    fprintf(stderr, "\n  %s (indent %d): canonical %d, want %d\n", text, indent, canon, want);
  CU_ASSERT_EQUAL(canon, want);
  tide_json_doc_free(doc);
  CU_ASSERT(canonical_oracle(text, strlen(text), indent, &parsed));
}

static void test_canonical_cases(void)
{
  tide_json_doc *doc = NULL;
  int canon = 1;

  check_canonical("{\n  \"a\": 1,\n  \"b\": [\n    true,\n    null\n  ],\n  \"c\": {}\n}", 2, 1);
  check_canonical("{\"a\":1,\"b\":[true,null],\"c\":{}}", 0, 1);
  check_canonical("{\"a\":1,\"b\":[true,null],\"c\":{}}", 2, 0);
  check_canonical("{\n  \"a\": 1\n}", 0, 0);
  check_canonical("{\n  \"a\": 1\n}\n", 2, 0); /* trailing newline */
  check_canonical(" {\n  \"a\": 1\n}", 2, 0);  /* leading space */
  check_canonical("{\n  \"a\":1\n}", 2, 0);    /* no space after ':' */
  check_canonical("{\n  \"a\" : 1\n}", 2, 0);  /* space before ':' */
  check_canonical("{\n  \"a\": 1 ,\n  \"b\": 2\n}", 2, 0);
  check_canonical("{\n   \"a\": 1\n}", 2, 0); /* three spaces */
  check_canonical("{\n\t\"a\": 1\n}", 2, 0);
  check_canonical("{\r\n  \"a\": 1\n}", 2, 0);
  check_canonical("{\n  \"a\": 1\n  }", 2, 0);
  check_canonical("{ }", 2, 0);
  check_canonical("[\n]", 2, 0);
  check_canonical("[\n      1\n]", 6, 1);
  check_canonical("[\n      1\n]", 2, 0);
  /* member order: index keys first, ascending; no duplicates */
  check_canonical("{\"1\":1,\"2\":2,\"a\":3}", 0, 1);
  check_canonical("{\"2\":1,\"1\":2,\"a\":3}", 0, 0);
  check_canonical("{\"a\":1,\"1\":2}", 0, 0);
  check_canonical("{\"a\":1,\"a\":2}", 0, 0);
  check_canonical("{\"01\":1,\"a\":2,\"4294967295\":3}", 0, 1);
  /* numbers */
  check_canonical("[1,-1,0,123456789012345,1.5,1e+21,1e-7,0.000001]", 0, 1);
  check_canonical("[-0]", 0, 0);
  check_canonical("[1.0]", 0, 0);
  check_canonical("[1E+21]", 0, 0);
  check_canonical("[1e21]", 0, 0);
  check_canonical("[100e-2]", 0, 0);
  check_canonical("[1e400]", 0, 0); /* Infinity prints null */
  check_canonical("[12345678901234567890]", 0, 0);
  check_canonical("[123456789012345680000]", 0, 1);
  check_canonical("[9007199254740993]", 0, 0);
  check_canonical("[1514871658466.001]", 0, 1);
  /* strings */
  check_canonical("[\"a\\\"b\\\\c\\b\\f\\n\\r\\t\"]", 0, 1);
  check_canonical("[\"\\u0000\\u001f\\u0007\"]", 0, 1);
  check_canonical("[\"\\u001F\"]", 0, 0);
  check_canonical("[\"\\u000a\"]", 0, 0);
  check_canonical("[\"\\u0041\"]", 0, 0);
  check_canonical("[\"\\u007f\"]", 0, 0);
  check_canonical("[\"\\/\"]", 0, 0);
  check_canonical("[\"/\\u00e9\"]", 0, 0);
  check_canonical("[\"/\xc3\xa9\xe2\x80\xa8\x7f\"]", 0, 1);
  check_canonical("[\"\\ud800\",\"\\udfff\",\"\\udbff\\ud800\"]", 0, 1);
  check_canonical("[\"\\uD800\"]", 0, 0);
  check_canonical("[\"\\ud83d\\ude00\"]", 0, 0);
  check_canonical("[\"\xf0\x9f\x98\x80\"]", 0, 1);
  check_canonical("{\"\\u0041\":1}", 0, 0);
  /* scalars print the same with any indent */
  check_canonical("\"x\"", 2, 1);
  check_canonical("17", 10, 1);
  check_canonical("[]", 2, 1);
  /* arguments */
  CU_ASSERT_EQUAL(tide_json_parse_canonical(&doc, NULL, &canon, "1", 1, 11, NULL, NULL),
                  TIDE_E_INVAL);
  CU_ASSERT_EQUAL(canon, 0);
  CU_ASSERT_PTR_NULL(doc);
  canon = 1;
  CU_ASSERT_EQUAL(tide_json_parse_canonical(&doc, NULL, &canon, "[1,]", 4, 0, NULL, NULL),
                  TIDE_E_JSON_SYNTAX);
  CU_ASSERT_EQUAL(canon, 0);
  CU_ASSERT_PTR_NULL(doc);
  /* neither output wanted: a plain parse */
  CU_ASSERT_EQUAL(tide_json_parse_canonical(&doc, NULL, NULL, "[1]", 3, 0, NULL, NULL), 0);
  CU_ASSERT_EQUAL(tide_json_length(tide_json_root(doc)), 1);
  tide_json_doc_free(doc);
}

/* A small deterministic generator (xorshift64*). */
static uint64_t rng_next(uint64_t *s)
{
  *s ^= *s >> 12;
  *s ^= *s << 25;
  *s ^= *s >> 27;
  return *s * UINT64_C(2685821657736338717);
}

static unsigned rng_below(uint64_t *s, unsigned n)
{
  return (unsigned)(rng_next(s) % n);
}

static void put(tide_buf *b, const char *s)
{
  CU_ASSERT_FATAL(tide_buf_puts(b, s) == 0);
}

/* Pieces of strings: each is written in its canonical spelling or, now
 * and then, in another spelling JSON.parse reads as the same text. */
static const struct {
  const char *canon, *other;
} str_pieces[] = {
    {"a", "\\u0061"},
    {"Z", "\\u005A"},
    {"/", "\\/"},
    {"\\\"", "\\u0022"},
    {"\\\\", "\\u005c"},
    {"\\n", "\\u000a"},
    {"\\t", "\\u0009"},
    {"\\b", "\\u0008"},
    {"\\u0000", "\\u0000"},
    {"\\u001f", "\\u001F"},
    {"\\u0001", "\\u0001"},
    {"\x7f", "\\u007f"},
    {"\xc3\xa9", "\\u00e9"},
    {"\xe2\x82\xac", "\\u20AC"},
    {"\xe2\x80\xa8", "\\u2028"},
    {"\xf0\x9f\x98\x80", "\\ud83d\\ude00"},
    {"\\ud800", "\\uD800"},
    {"\\udc00", "\\uDC00"},
    {"0", "0"},
    {" ", " "},
};

static void put_rand_string(tide_buf *b, uint64_t *rs, int odd)
{
  unsigned n = rng_below(rs, 6);

  put(b, "\"");
  for (unsigned i = 0; i < n; i++) {
    unsigned k = rng_below(rs, sizeof str_pieces / sizeof str_pieces[0]);
    put(b, odd && rng_below(rs, 8) == 0 ? str_pieces[k].other : str_pieces[k].canon);
  }
  put(b, "\"");
}

static void put_rand_number(tide_buf *b, uint64_t *rs, int odd)
{
  char num[TIDE_JSON_NUMBER_BYTES];
  double d;
  uint64_t bits;

  switch (rng_below(rs, 5)) {
  case 0: d = (double)(int)rng_below(rs, 2000) - 1000; break;
  case 1: d = (double)(rng_next(rs) >> rng_below(rs, 64)); break;
  case 2: d = (double)(rng_next(rs) % 100000000) / 1000.0; break;
  case 3:
    do {
      bits = rng_next(rs);
      memcpy(&d, &bits, sizeof d);
    } while (d - d != 0);
    break;
  default: d = ldexp(1.0, (int)rng_below(rs, 200) - 100); break;
  }
  tide_json_format_number(num, d);
  if (odd && rng_below(rs, 6) == 0) {
    static const char *const other[] = {"-0", "1.0", "1E2", "1e+2", "100", "0.5e1", "12e-1"};
    put(b, other[rng_below(rs, 7)]);
    return;
  }
  put(b, num);
}

/* Whitespace before a line of depth `depth`, sometimes misspelt. */
static void put_line(tide_buf *b, uint64_t *rs, int indent, size_t depth, int odd)
{
  if (odd && rng_below(rs, 12) == 0) {
    static const char *const other[] = {"", " ", "\n", "\t", "\r\n", "\n "};
    put(b, other[rng_below(rs, 6)]);
    return;
  }
  if (indent == 0)
    return;
  put(b, "\n");
  for (size_t i = 0; i < depth * (size_t)indent; i++)
    put(b, " ");
}

static const char *const rand_keys[] = {"a", "b", "type", "0", "1", "7", "10", "01", "-1", "x\\n"};

/* Writes a random value in (mostly) the writer's layout; with `odd`,
 * occasional deviations that JSON.parse still accepts. */
static void put_rand_value(tide_buf *b, uint64_t *rs, int indent, size_t depth, int odd)
{
  unsigned kind = depth == 0   ? 5 + rng_below(rs, 2)
                  : depth >= 4 ? rng_below(rs, 5)
                               : rng_below(rs, 7);
  unsigned n;

  switch (kind) {
  case 0: put(b, "null"); return;
  case 1: put(b, rng_below(rs, 2) ? "true" : "false"); return;
  case 2:
  case 3: put_rand_number(b, rs, odd); return;
  case 4: put_rand_string(b, rs, odd); return;
  default: break;
  }
  n = rng_below(rs, 4);
  put(b, kind == 5 ? "[" : "{");
  if (n == 0) {
    if (odd && rng_below(rs, 10) == 0)
      put(b, " ");
    put(b, kind == 5 ? "]" : "}");
    return;
  }
  for (unsigned i = 0; i < n; i++) {
    if (i > 0)
      put(b, ",");
    put_line(b, rs, indent, depth + 1, odd);
    if (kind == 6) {
      /* keys in random order: index keys out of place and duplicates
       * are not canonical */
      put(b, "\"");
      put(b, rand_keys[rng_below(rs, sizeof rand_keys / sizeof rand_keys[0])]);
      put(b, "\":");
      if (indent > 0)
        put(b, odd && rng_below(rs, 20) == 0 ? "" : " ");
      else if (odd && rng_below(rs, 20) == 0)
        put(b, " ");
    }
    put_rand_value(b, rs, indent, depth + 1, odd);
  }
  put_line(b, rs, indent, depth, odd);
  put(b, kind == 5 ? "]" : "}");
}

/* Random texts, canonical or nearly so, against the writer. */
static void test_canonical_random(void)
{
  uint64_t rs = UINT64_C(0x9e3779b97f4a7c15);
  size_t parsed_n = 0, canonical_n = 0, failures = 0;

  for (int round = 0; round < 20000; round++) {
    tide_buf b = TIDE_BUF_INIT;
    int indent = round % 3 == 0 ? 0 : round % 3 == 1 ? 2 : 4, parsed;
    int odd = round % 4 != 0;
    tide_json_doc *doc = NULL;
    int canon = 0;

    put_rand_value(&b, &rs, indent, 0, odd);
    if (!canonical_oracle(b.data, b.len, indent, &parsed))
      failures++;
    /* other layouts of the same tokens are laid out again */
    if (!canonical_oracle(b.data, b.len, indent == 2 ? 0 : 2, &parsed))
      failures++;
    if (parsed &&
        tide_json_parse_canonical(&doc, NULL, &canon, b.data, b.len, indent, NULL, NULL) == 0) {
      parsed_n++;
      canonical_n += (size_t)canon;
    }
    tide_json_doc_free(doc);
    tide_buf_free(&b);
  }
  CU_ASSERT_EQUAL(failures, 0);
  /* both outcomes are well represented */
  CU_ASSERT(parsed_n > 19000);
  CU_ASSERT(canonical_n > 3000 && canonical_n < parsed_n - 3000);
}

static CU_TestInfo number_tests[] = {
    {"format", test_number_format},
    {"format_vs_reference", test_number_reference},
    {"parse", test_number_parse},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo string_tests[] = {
    {"escapes", test_string_escapes},    {"wtf8", test_string_wtf8},
    {"long_strings", test_long_strings}, {"write_string", test_write_string},
    {"js_measures", test_js_measures},   CU_TEST_INFO_NULL,
};

static CU_TestInfo object_tests[] = {
    {"key_order", test_key_order},
    {"duplicates", test_duplicates},
    {"layout", test_layout},
    {"big_object", test_big_object},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo parse_tests[] = {
    {"canonical_cases", test_canonical_cases},
    {"canonical_random", test_canonical_random},
    {"syntax_errors", test_syntax_errors},
    {"limits", test_limits},
    {"read_api", test_read_api},
    CU_TEST_INFO_NULL,
};

static CU_TestInfo builder_tests[] = {
    {"builder", test_builder},
    {"builder_big", test_builder_big},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("json.numbers", number_tests),  TIDE_SUITE("json.strings", string_tests),
    TIDE_SUITE("json.objects", object_tests),  TIDE_SUITE("json.parse", parse_tests),
    TIDE_SUITE("json.builder", builder_tests), CU_SUITE_INFO_NULL,
};
