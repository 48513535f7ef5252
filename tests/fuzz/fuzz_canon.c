/* fuzz_canon.c - libFuzzer target for the canonical-text paths of the
 * JSON parser: tide_json_parse_canonical() and the in-situ parse that
 * tide_msg_parse() runs.
 *
 * The first input byte picks the indent (0..10); the rest is the text.
 * Invariants checked (a violation aborts):
 *   - tide_json_parse_canonical() accepts exactly what tide_json_parse()
 *     accepts, with the same error code;
 *   - the canonical text it makes is what tide_json_write() prints for the
 *     parsed value, and *canonical says whether that is the input itself;
 *   - for an object, tide_msg_parse() (strings decoded in place in its
 *     copy of the text, canonical text written while parsing) gives the
 *     text tide_json_write() prints for its parsed value with indent 2,
 *     whatever the input's layout. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide/json.h"
#include "tide/msg.h"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_msg(const char *text, size_t len)
{
  tide_msg *m = NULL;
  tide_buf out = TIDE_BUF_INIT;
  const char *t;
  size_t tl;

  if (tide_msg_parse(&m, text, len, NULL) != 0)
    return;
  t = tide_msg_text(m, &tl);
  if (tl > 0) { /* 0: too long to keep (deep nesting) */
    CHECK(tide_json_write(&out, tide_msg_value(m), TIDE_JSON_PRETTY) == 0);
    CHECK(out.len == tl && memcmp(out.data, t, tl) == 0 && t[tl] == '\0');
  }
  tide_buf_free(&out);
  tide_msg_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tide_json_limits lim = {.max_depth = 64, .max_bytes = 1 << 20};
  tide_json_doc *doc = NULL, *plain = NULL;
  tide_buf made = TIDE_BUF_INIT, printed = TIDE_BUF_INIT;
  const char *text;
  size_t len;
  int indent, canonical = -1, rc, rc_plain;

  if (size == 0)
    return 0;
  indent = data[0] % 11;
  text = (const char *)data + 1;
  len = size - 1;
  rc = tide_json_parse_canonical(&doc, &made, &canonical, text, len, indent, &lim, NULL);
  rc_plain = tide_json_parse(&plain, text, len, &lim, NULL);
  CHECK(rc == rc_plain);
  if (rc != 0) {
    CHECK(doc == NULL && canonical == 0 && made.len == 0);
    goto out;
  }
  CHECK(tide_json_write(&printed, tide_json_root(doc), indent) == 0);
  CHECK(made.len == printed.len && memcmp(made.data, printed.data, made.len) == 0);
  CHECK(canonical == (printed.len == len && memcmp(printed.data, text, len) == 0));
  tide_buf_reset(&printed);
  CHECK(tide_json_write(&printed, tide_json_root(plain), indent) == 0);
  CHECK(made.len == printed.len && memcmp(made.data, printed.data, made.len) == 0);
  if (tide_json_typeof(tide_json_root(doc)) == TIDE_JSON_OBJECT)
    check_msg(text, len);
out:
  tide_buf_free(&made);
  tide_buf_free(&printed);
  tide_json_doc_free(doc);
  tide_json_doc_free(plain);
  return 0;
}
