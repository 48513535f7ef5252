/* buf.c - growable byte buffer. */
#include "tide/buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void tide_buf_init(tide_buf *b)
{
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
}

void tide_buf_free(tide_buf *b)
{
  if (b == NULL)
    return;
  free(b->data);
  tide_buf_init(b);
}

void tide_buf_reset(tide_buf *b)
{
  b->len = 0;
  if (b->data != NULL)
    b->data[0] = '\0';
}

int tide_buf_reserve(tide_buf *b, size_t extra)
{
  size_t need, cap;
  char *p;

  if (extra > SIZE_MAX - b->len - 1)
    return TIDE_E_NOMEM;
  need = b->len + extra + 1;
  if (need <= b->cap)
    return 0;
  cap = b->cap ? b->cap : 64;
  while (cap < need)
    cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  p = realloc(b->data, cap);
  if (p == NULL)
    return TIDE_E_NOMEM;
  b->data = p;
  b->cap = cap;
  return 0;
}

int tide_buf_append(tide_buf *b, const void *p, size_t n)
{
  int rc = tide_buf_reserve(b, n);
  if (rc != 0)
    return rc;
  if (n > 0)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return 0;
}

int tide_buf_puts(tide_buf *b, const char *s)
{
  return tide_buf_append(b, s, strlen(s));
}

int tide_buf_putc(tide_buf *b, char c)
{
  return tide_buf_append(b, &c, 1);
}

int tide_buf_printf(tide_buf *b, const char *fmt, ...)
{
  va_list ap;
  int n;
  int rc;

  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0)
    return TIDE_E_INVAL;
  rc = tide_buf_reserve(b, (size_t)n);
  if (rc != 0)
    return rc;
  va_start(ap, fmt);
  (void)vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
  return 0;
}

char *tide_buf_steal(tide_buf *b, size_t *len)
{
  char *p = b->data;
  if (len != NULL)
    *len = b->len;
  tide_buf_init(b);
  return p;
}
