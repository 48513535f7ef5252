/* json.c - JSON benchmark: the per-message work of ingest (parse a signed
 * SSB message, write it back with indent 2, its 'binary' bytes for the
 * id hash) and number formatting, against memcpy of the same text as the
 * floor measured in the same run.
 *
 * Output, one figure per line (`name value unit`):
 *   msg_bytes                  size of the test message (indent 2 text)
 *   memcpy_ns                  copying the text (reference floor)
 *   parse_ns                   tide_json_parse
 *   write_pretty_ns            tide_json_write, indent 2, reused buffer
 *   parse_write_pretty_ns      both (the canonical text the long way)
 *   parse_write_latin1_ns      both plus tide_json_latin1 of the output
 *   canon_compact_ns           tide_json_parse_canonical of the compact
 *                              text (as messages travel) to indent 2: the
 *                              canonical text written while parsing
 *   canon_pretty_ns            the same from the indent-2 text itself
 *   canon_vs_parse_write       canon_compact / parse_write_pretty
 *   parse_write_vs_memcpy      ratio parse_write_pretty / memcpy
 *   format_int_ns              tide_json_format_number(1514871658466)
 *   format_frac_ns             tide_json_format_number(1514871658466.001)
 *   format_tiny_ns             tide_json_format_number(5e-324)
 *   parse_big_mb_s             parsing a 2 MB array of such messages
 * Each figure is the best of 50 short runs (the machine is shared).  Exit status
 * 1 when the round trip is not exact. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tide/json.h"

#define RUNS 50

static const char message[] =
    "{\n"
    "  \"previous\": \"%XMRyRaFy2Yp7bS8lH5Ywlav5Lxx3OAGTEVfWK2Pm4OU=.sha256\",\n"
    "  \"author\": \"@FCX/tsDLpubCPKKfIrw4gc+SQkHcaD17s7GI6i/ziWY=.ed25519\",\n"
    "  \"sequence\": 1234,\n"
    "  \"timestamp\": 1514871658466,\n"
    "  \"hash\": \"sha256\",\n"
    "  \"content\": {\n"
    "    \"type\": \"post\",\n"
    "    \"text\": \"Sailing past the harbour wall at dawn \xe2\x80\x94 wind 12 kn from the "
    "south-west, \\\"all good\\\" on board \xf0\x9f\x98\x80\\nNext stop: the islands.\",\n"
    "    \"root\": \"%Jzc1h7yLDbXLMsv5PBkNJGqF2x3xMDrvvfJ0Mmf9b1Y=.sha256\",\n"
    "    \"branch\": \"%Jzc1h7yLDbXLMsv5PBkNJGqF2x3xMDrvvfJ0Mmf9b1Y=.sha256\",\n"
    "    \"mentions\": [\n"
    "      {\n"
    "        \"link\": \"@Wc3a0BmQxfGrbqwx6fBkmwxRHe3eRyHrUuKpPc0qRxg=.ed25519\",\n"
    "        \"name\": \"harbour\"\n"
    "      }\n"
    "    ],\n"
    "    \"channel\": \"sailing\"\n"
    "  },\n"
    "  \"signature\": \"nkY4Wsn9feosxvX7bpLK7OxjdSVw6gSz1tKSRtQ4+W7XYJgqrfDqf1WbovXyC3J8V0"
    "Kd2mPJvNjHnQ5dbKxBCg==.sig.ed25519\"\n"
    "}";

static double now_ns(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

typedef enum op { OP_MEMCPY, OP_PARSE, OP_WRITE, OP_PARSE_WRITE, OP_PARSE_WRITE_BIN, OP_CANON } op;

/* ns per operation, best of RUNS; -1 on failure. */
static double time_op(op which, const char *text, size_t len, long iters)
{
  double best = -1;
  tide_buf out = TIDE_BUF_INIT, bin = TIDE_BUF_INIT;
  tide_json_doc *keep = NULL;
  char *copy = malloc(len + 1);
  volatile size_t sink = 0;

  if (copy == NULL || tide_json_parse(&keep, text, len, NULL, NULL) != 0)
    goto out;
  for (int r = 0; r < RUNS; r++) {
    double t0 = now_ns(), dt;
    for (long i = 0; i < iters; i++) {
      tide_json_doc *doc = NULL;
      switch (which) {
      case OP_MEMCPY:
        memcpy(copy, text, len);
        sink += (unsigned char)copy[i % (long)len];
        break;
      case OP_PARSE:
        if (tide_json_parse(&doc, text, len, NULL, NULL) != 0)
          goto out;
        tide_json_doc_free(doc);
        break;
      case OP_WRITE:
        tide_buf_reset(&out);
        if (tide_json_write(&out, tide_json_root(keep), TIDE_JSON_PRETTY) != 0)
          goto out;
        break;
      case OP_CANON:
        tide_buf_reset(&out);
        if (tide_json_parse_canonical(&doc, &out, NULL, text, len, TIDE_JSON_PRETTY, NULL, NULL) !=
            0)
          goto out;
        tide_json_doc_free(doc);
        break;
      case OP_PARSE_WRITE:
      case OP_PARSE_WRITE_BIN:
        if (tide_json_parse(&doc, text, len, NULL, NULL) != 0)
          goto out;
        tide_buf_reset(&out);
        if (tide_json_write(&out, tide_json_root(doc), TIDE_JSON_PRETTY) != 0)
          goto out;
        if (which == OP_PARSE_WRITE_BIN) {
          tide_buf_reset(&bin);
          if (tide_json_latin1(&bin, out.data, out.len) != 0)
            goto out;
        }
        tide_json_doc_free(doc);
        break;
      }
    }
    dt = (now_ns() - t0) / (double)iters;
    if (best < 0 || dt < best)
      best = dt;
  }
out:
  (void)sink;
  free(copy);
  tide_buf_free(&out);
  tide_buf_free(&bin);
  tide_json_doc_free(keep);
  return best;
}

static double time_format(double d, long iters)
{
  char buf[TIDE_JSON_NUMBER_BYTES];
  volatile size_t sink = 0;
  double best = -1;

  for (int r = 0; r < RUNS; r++) {
    double t0 = now_ns(), dt;
    for (long i = 0; i < iters; i++)
      sink += tide_json_format_number(buf, d);
    dt = (now_ns() - t0) / (double)iters;
    if (best < 0 || dt < best)
      best = dt;
  }
  (void)sink;
  return best;
}

int main(void)
{
  size_t len = sizeof message - 1;
  tide_json_doc *doc = NULL, *keepdoc = NULL;
  tide_buf out = TIDE_BUF_INIT, big = TIDE_BUF_INIT;
  tide_buf compact = TIDE_BUF_INIT, canon = TIDE_BUF_INIT;
  double memcpy_ns, parse_ns, write_ns, pw_ns, pwb_ns, cc_ns, cp_ns, best = -1;
  int ok = 1;

  /* The message is in canonical form: the round trip must be exact. */
  if (tide_json_parse(&doc, message, len, NULL, NULL) != 0 ||
      tide_json_write(&out, tide_json_root(doc), TIDE_JSON_PRETTY) != 0 || out.len != len ||
      memcmp(out.data, message, len) != 0) {
    fprintf(stderr, "json bench: message does not round-trip\n");
    return 1;
  }
  /* The compact text must give the canonical text back. */
  if (tide_json_write(&compact, tide_json_root(doc), TIDE_JSON_COMPACT) != 0 ||
      tide_json_parse_canonical(&keepdoc, &canon, NULL, compact.data, compact.len, TIDE_JSON_PRETTY,
                                NULL, NULL) != 0 ||
      canon.len != len || memcmp(canon.data, message, len) != 0) {
    fprintf(stderr, "json bench: compact message does not give the canonical text\n");
    return 1;
  }
  tide_json_doc_free(keepdoc);
  tide_buf_free(&canon);
  tide_json_doc_free(doc);
  tide_buf_free(&out);

  memcpy_ns = time_op(OP_MEMCPY, message, len, 40000);
  parse_ns = time_op(OP_PARSE, message, len, 1000);
  write_ns = time_op(OP_WRITE, message, len, 1000);
  pw_ns = time_op(OP_PARSE_WRITE, message, len, 1000);
  pwb_ns = time_op(OP_PARSE_WRITE_BIN, message, len, 1000);
  cc_ns = time_op(OP_CANON, compact.data, compact.len, 1000);
  cp_ns = time_op(OP_CANON, message, len, 1000);
  tide_buf_free(&compact);
  if (memcpy_ns < 0 || parse_ns < 0 || write_ns < 0 || pw_ns < 0 || pwb_ns < 0 || cc_ns < 0 ||
      cp_ns < 0) {
    fprintf(stderr, "json bench: an operation failed\n");
    return 1;
  }
  printf("msg_bytes %zu bytes\n", len);
  printf("memcpy_ns %.1f ns\n", memcpy_ns);
  printf("parse_ns %.1f ns\n", parse_ns);
  printf("write_pretty_ns %.1f ns\n", write_ns);
  printf("parse_write_pretty_ns %.1f ns\n", pw_ns);
  printf("parse_write_latin1_ns %.1f ns\n", pwb_ns);
  printf("parse_write_vs_memcpy %.1f x\n", pw_ns / (memcpy_ns > 0 ? memcpy_ns : 1));
  printf("canon_compact_ns %.1f ns\n", cc_ns);
  printf("canon_pretty_ns %.1f ns\n", cp_ns);
  printf("canon_vs_parse_write %.2f ratio\n", cc_ns / (pw_ns > 0 ? pw_ns : 1));
  printf("format_int_ns %.1f ns\n", time_format(1514871658466.0, 40000));
  printf("format_frac_ns %.1f ns\n", time_format(1514871658466.001, 4000));
  printf("format_tiny_ns %.1f ns\n", time_format(5e-324, 1000));

  ok &= tide_buf_putc(&big, '[') == 0;
  while (ok && big.len < ((size_t)2 << 20)) {
    ok &= tide_buf_append(&big, message, len) == 0;
    ok &= tide_buf_putc(&big, ',') == 0;
  }
  ok &= tide_buf_puts(&big, "null]") == 0;
  for (int r = 0; ok && r < RUNS; r++) {
    double t0 = now_ns(), dt;
    ok &= tide_json_parse(&doc, big.data, big.len, NULL, NULL) == 0;
    dt = now_ns() - t0;
    tide_json_doc_free(doc);
    doc = NULL;
    if (best < 0 || dt < best)
      best = dt;
  }
  if (!ok) {
    fprintf(stderr, "json bench: big parse failed\n");
    tide_buf_free(&big);
    return 1;
  }
  printf("parse_big_mb_s %.1f MB/s\n", (double)big.len / 1e6 / (best / 1e9));
  tide_buf_free(&big);
  return 0;
}
