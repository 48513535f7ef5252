/* conform_util.c - helpers shared by the conformance tools. */
#include "conform_util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *conform_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *data = NULL;
  size_t cap = 0, n = 0;

  if (f == NULL)
    return NULL;
  for (;;) {
    if (n + 65536 + 1 > cap) {
      size_t ncap = cap ? cap * 2 : 1 << 20;
      char *p = realloc(data, ncap);
      if (p == NULL) {
        free(data);
        fclose(f);
        errno = ENOMEM;
        return NULL;
      }
      data = p;
      cap = ncap;
    }
    size_t got = fread(data + n, 1, cap - n - 1, f);
    n += got;
    if (got == 0) {
      if (ferror(f)) {
        free(data);
        fclose(f);
        errno = EIO;
        return NULL;
      }
      break;
    }
  }
  fclose(f);
  data[n] = '\0';
  *len = n;
  return data;
}

conform_line *conform_split_lines(const char *text, size_t len, size_t *count)
{
  size_t n = 0, cap = 1024;
  conform_line *lines = malloc(cap * sizeof *lines);
  const char *p = text, *end = text + len;

  if (lines == NULL)
    return NULL;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *stop = nl ? nl : end;
    if (n == cap) {
      conform_line *q = realloc(lines, 2 * cap * sizeof *lines);
      if (q == NULL) {
        free(lines);
        return NULL;
      }
      lines = q;
      cap *= 2;
    }
    lines[n].start = p;
    lines[n].len = (size_t)(stop - p);
    n++;
    p = nl ? nl + 1 : end;
  }
  *count = n;
  return lines;
}

int conform_json_text(tide_buf *out, const tide_json *v)
{
  int rc = tide_json_write(out, v, TIDE_JSON_COMPACT);
  if (rc != 0)
    return rc;
  rc = tide_buf_reserve(out, 1);
  if (rc != 0)
    return rc;
  out->data[out->len] = '\0';
  return 0;
}

const char *conform_get_string(const tide_json *obj, const char *key, size_t *len)
{
  const tide_json *v = tide_json_object_getz(obj, key);
  if (v == NULL || tide_json_typeof(v) != TIDE_JSON_STRING)
    return NULL;
  return tide_json_string(v, len);
}
