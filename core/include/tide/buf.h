/* tide/buf.h - growable byte buffer used for serialised output.
 *
 * A tide_buf is caller-owned (usually on the stack); its data is heap
 * memory owned by the buffer and released by tide_buf_free().  data is
 * always NUL-terminated after a successful append (the NUL is not counted
 * in len), so text can be passed to C string functions when it contains no
 * NUL.  Not thread-safe: one buffer, one thread. */
#ifndef TIDE_BUF_H
#define TIDE_BUF_H

#include <stddef.h>

#include "tide/common.h"

typedef struct tide_buf {
  char *data;
  size_t len;
  size_t cap;
} tide_buf;

#define TIDE_BUF_INIT                                                                              \
  {                                                                                                \
    NULL, 0, 0                                                                                     \
  }

/* Sets an empty buffer (no allocation). */
void tide_buf_init(tide_buf *b);

/* Releases the memory and leaves an empty buffer; NULL is a no-op. */
void tide_buf_free(tide_buf *b);

/* Empties the buffer, keeping its memory. */
void tide_buf_reset(tide_buf *b);

/* Makes room for `extra` more bytes (plus the NUL).  TIDE_E_NOMEM. */
TIDE_WUR int tide_buf_reserve(tide_buf *b, size_t extra);

/* Appends n bytes.  TIDE_E_NOMEM. */
TIDE_WUR int tide_buf_append(tide_buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string.  TIDE_E_NOMEM. */
TIDE_WUR int tide_buf_puts(tide_buf *b, const char *s);

/* Appends one byte.  TIDE_E_NOMEM. */
TIDE_WUR int tide_buf_putc(tide_buf *b, char c);

/* Appends printf-style text.  TIDE_E_NOMEM. */
TIDE_WUR int tide_buf_printf(tide_buf *b, const char *fmt, ...) TIDE_PRINTF(2, 3);

/* Takes the data out: returns the heap block (caller frees) and leaves the
 * buffer empty.  Returns NULL for a buffer that never allocated. */
char *tide_buf_steal(tide_buf *b, size_t *len);

#endif
