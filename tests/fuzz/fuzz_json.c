/* fuzz_json.c - libFuzzer target for the JSON parser and writer.
 *
 * Parses the input (with a small depth limit so deep nesting is rejected
 * quickly); when it parses, writes it compact and with indent 2, re-parses
 * both outputs and checks that they serialise to the same bytes again
 * (the writer's output is a fixed point), that the compact text reads
 * back as the same value (numbers round-trip, order and lookups agree),
 * that the output is valid UTF-8 with consistent 'binary' and UTF-16
 * measures, and that a deep clone writes identically.  Any mismatch
 * aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_fixed_point(const tide_buf *text, int indent)
{
  tide_json_doc *doc = NULL;
  tide_buf again = TIDE_BUF_INIT;

  if (tide_json_parse(&doc, text->data, text->len, NULL, NULL) != 0)
    abort(); /* our own output must parse */
  if (tide_json_write(&again, tide_json_root(doc), indent) != 0)
    abort();
  if (again.len != text->len || memcmp(again.data, text->data, again.len) != 0)
    abort();
  tide_buf_free(&again);
  tide_json_doc_free(doc);
}

/* 1 when b is what JSON.stringify(a) reads back as: same types, numbers
 * equal (so the printed digits round-trip; non-finite numbers print as
 * null), same strings and members in the same order.  Depth is bounded by
 * the parse limit. */
static int same_value(const tide_json *a, const tide_json *b)
{
  tide_json_type ta = tide_json_typeof(a), tb = tide_json_typeof(b);
  size_t la, lb, n;
  const char *sa, *sb;

  if (ta == TIDE_JSON_NUMBER && tide_json_number(a) - tide_json_number(a) != 0)
    return tb == TIDE_JSON_NULL;
  if (ta != tb)
    return 0;
  switch (ta) {
  case TIDE_JSON_NUMBER: return tide_json_number(a) == tide_json_number(b);
  case TIDE_JSON_STRING:
    sa = tide_json_string(a, &la);
    sb = tide_json_string(b, &lb);
    return la == lb && memcmp(sa, sb, la) == 0;
  case TIDE_JSON_ARRAY:
  case TIDE_JSON_OBJECT:
    n = tide_json_length(a);
    if (n != tide_json_length(b))
      return 0;
    for (size_t i = 0; i < n; i++) {
      if (ta == TIDE_JSON_ARRAY) {
        if (!same_value(tide_json_array_get(a, i), tide_json_array_get(b, i)))
          return 0;
        continue;
      }
      sa = tide_json_object_key(a, i, &la);
      sb = tide_json_object_key(b, i, &lb);
      if (la != lb || memcmp(sa, sb, la) != 0 ||
          tide_json_object_get(a, sa, la) != tide_json_object_value(a, i) ||
          !same_value(tide_json_object_value(a, i), tide_json_object_value(b, i)))
        return 0;
    }
    return 1;
  default: return 1;
  }
}

/* 1 when s holds a surrogate code point (ED A0..BF xx). */
static int has_surrogate(const tide_buf *s)
{
  for (size_t i = 0; i + 1 < s->len; i++)
    if ((unsigned char)s->data[i] == 0xED && (unsigned char)s->data[i + 1] >= 0xA0)
      return 1;
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tide_json_limits lim = {64, 1 << 20};
  tide_json_doc *doc = NULL, *doc2 = NULL;
  tide_buf compact = TIDE_BUF_INIT, pretty = TIDE_BUF_INIT, cloned = TIDE_BUF_INIT;
  tide_buf bin = TIDE_BUF_INIT;
  tide_error err;
  tide_json *copy;
  int rc;

  rc = tide_json_parse(&doc, (const char *)data, size, &lim, &err);
  if (rc != 0) {
    if (doc != NULL || err.code != rc || err.offset > size)
      abort();
    return 0;
  }
  if (tide_json_write(&compact, tide_json_root(doc), TIDE_JSON_COMPACT) != 0 ||
      tide_json_write(&pretty, tide_json_root(doc), TIDE_JSON_PRETTY) != 0)
    abort();
  /* The compact text reads back as the same value. */
  if (tide_json_parse(&doc2, compact.data, compact.len, &lim, NULL) != 0 ||
      !same_value(tide_json_root(doc), tide_json_root(doc2)))
    abort();
  tide_json_doc_free(doc2);
  doc2 = NULL;
  check_fixed_point(&compact, TIDE_JSON_COMPACT);
  check_fixed_point(&pretty, TIDE_JSON_PRETTY);
  /* The output is well-formed Unicode: lone surrogates are escaped. */
  if (!tide_json_valid_wtf8(pretty.data, pretty.len) || has_surrogate(&pretty) ||
      tide_json_latin1(&bin, pretty.data, pretty.len) != 0 ||
      bin.len != tide_json_utf16_length(pretty.data, pretty.len))
    abort();
  doc2 = tide_json_doc_new();
  if (doc2 == NULL)
    abort();
  copy = tide_json_clone(doc2, tide_json_root(doc));
  if (copy == NULL || tide_json_write(&cloned, copy, TIDE_JSON_PRETTY) != 0 ||
      cloned.len != pretty.len || memcmp(cloned.data, pretty.data, pretty.len) != 0)
    abort();
  tide_buf_free(&compact);
  tide_buf_free(&pretty);
  tide_buf_free(&cloned);
  tide_buf_free(&bin);
  tide_json_doc_free(doc2);
  tide_json_doc_free(doc);
  return 0;
}
