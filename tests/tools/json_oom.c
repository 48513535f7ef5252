/* json_oom.c - allocation-failure loop for the JSON module (after
 * SQLite's out-of-memory tests).
 *
 * This executable compiles core/json*.c and core/buf.c itself with malloc
 * and realloc renamed to json_oom_malloc / json_oom_realloc (see
 * tests/cmake/json.cmake).  For N = 0, 1, 2, ... the N-th allocation and
 * every later one fails, and a workload (parse a text that exercises every
 * growth path, write it, build, clone, print) runs to completion: every
 * step must either succeed or report TIDE_E_NOMEM / NULL, leave no partial
 * output, and leak nothing (ASan's leak checker runs at exit in the
 * sanitizer build).  The loop ends at the first N that fails no
 * allocation; exit status 0 when every run behaved. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide/json.h"

void *json_oom_malloc(size_t n);
void *json_oom_realloc(void *p, size_t n);

static long fail_at = -1; /* test-only state: the next allocation to fail */
static long allocs;
static int failed;

void *json_oom_malloc(size_t n)
{
  if (fail_at >= 0 && allocs++ >= fail_at) {
    failed = 1;
    return NULL;
  }
  return malloc(n);
}

void *json_oom_realloc(void *p, size_t n)
{
  if (fail_at >= 0 && allocs++ >= fail_at) {
    failed = 1;
    return NULL;
  }
  return realloc(p, n);
}

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "json_oom: fail_at %ld: check failed at line %d: %s\n", fail_at, __LINE__,   \
              #cond);                                                                              \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

/* A text that makes the parser grow every structure it has: many members
 * (scratch stack), nesting past the inline frame stack, a large object
 * (hash table), unsorted index keys (sort buffer), long strings (extra
 * arena chunks), escapes and numbers on the slow path. */
static char *make_text(size_t *len)
{
  tide_buf b = TIDE_BUF_INIT;
  int ok = 1;

  ok &= tide_buf_puts(&b, "{\"deep\":") == 0;
  for (int i = 0; i < 80; i++)
    ok &= tide_buf_putc(&b, '[') == 0;
  ok &= tide_buf_puts(&b, "1.7976931348623157e308") == 0;
  for (int i = 0; i < 80; i++)
    ok &= tide_buf_putc(&b, ']') == 0;
  for (int i = 0; i < 300; i++)
    ok &= tide_buf_printf(&b, ",\"k%d\":\"v\\u00e9\\ud83d\\ude00%d\",\"%d\":%d.25e-3", i, i,
                          (i * 37) % 300, i) == 0;
  ok &= tide_buf_puts(&b, ",\"k7\":\"dup\",\"long\":\"") == 0;
  for (int i = 0; i < 3000; i++)
    ok &= tide_buf_puts(&b, "abcdefgh\\n") == 0;
  ok &= tide_buf_puts(&b, "\"}") == 0;
  if (!ok) {
    tide_buf_free(&b);
    return NULL;
  }
  return tide_buf_steal(&b, len);
}

static int workload(const char *text, size_t len, const char *want, size_t wantlen)
{
  tide_json_doc *doc = NULL, *doc2 = NULL;
  tide_buf out = TIDE_BUF_INIT;
  tide_json *obj, *copy;
  tide_error err;
  int rc;

  rc = tide_json_parse(&doc, text, len, NULL, &err);
  CHECK(rc == 0 || rc == TIDE_E_NOMEM);
  if (rc == 0) {
    rc = tide_json_write(&out, tide_json_root(doc), TIDE_JSON_PRETTY);
    CHECK(rc == 0 || rc == TIDE_E_NOMEM);
    if (rc == 0 && want != NULL)
      CHECK(out.len == wantlen && memcmp(out.data, want, wantlen) == 0);
    if (rc != 0)
      CHECK(out.len == 0);
    tide_buf_free(&out);
  } else {
    CHECK(doc == NULL && err.code == TIDE_E_NOMEM);
  }

  /* Builder: grow an object past the hash threshold, then clone. */
  doc2 = tide_json_doc_new();
  if (doc2 != NULL) {
    obj = tide_json_new_object(doc2);
    for (int i = 0; obj != NULL && i < 60; i++) {
      char k[16];
      int n = snprintf(k, sizeof k, i % 3 ? "key%d" : "%d", 60 - i);
      tide_json *v = tide_json_new_number(doc2, i + 0.5);
      if (v == NULL)
        break;
      rc = tide_json_object_set(doc2, obj, k, (size_t)n, v);
      CHECK(rc == 0 || rc == TIDE_E_NOMEM);
    }
    if (obj != NULL && doc != NULL) {
      copy = tide_json_clone(doc2, tide_json_root(doc));
      if (copy != NULL) {
        rc = tide_json_object_set(doc2, obj, "copy", 4, copy);
        CHECK(rc == 0 || rc == TIDE_E_NOMEM);
      }
    }
    if (obj != NULL) {
      rc = tide_json_write(&out, obj, TIDE_JSON_COMPACT);
      CHECK(rc == 0 || rc == TIDE_E_NOMEM);
      tide_buf_free(&out);
      rc = tide_json_latin1(&out, "a\xc3\xa9", 3);
      CHECK(rc == 0 || rc == TIDE_E_NOMEM);
      tide_buf_free(&out);
    }
  }
  tide_json_doc_free(doc2);
  tide_json_doc_free(doc);
  return 0;
}

int main(void)
{
  size_t len, wantlen;
  char *text = make_text(&len), *want;
  tide_json_doc *doc = NULL;
  tide_buf ref = TIDE_BUF_INIT;
  long runs = 0;

  if (text == NULL || tide_json_parse(&doc, text, len, NULL, NULL) != 0 ||
      tide_json_write(&ref, tide_json_root(doc), TIDE_JSON_PRETTY) != 0) {
    fprintf(stderr, "json_oom: set-up failed\n");
    return 1;
  }
  tide_json_doc_free(doc);
  want = tide_buf_steal(&ref, &wantlen);
  for (fail_at = 0;; fail_at++) {
    allocs = 0;
    failed = 0;
    if (workload(text, len, want, wantlen) != 0)
      return 1;
    runs++;
    if (!failed)
      break;
  }
  fail_at = -1;
  printf("json_oom: %ld runs, every allocation failure handled\n", runs);
  free(want);
  free(text);
  return 0;
}
