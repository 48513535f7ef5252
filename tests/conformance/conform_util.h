/* conform_util.h - small helpers shared by the conformance tools
 * (tests/conformance/conform.c, tests/conformance/mkmsgs.c).
 *
 * Not part of libtide.  Functions print nothing; callers report.  Not
 * thread-safe (they are used by single-threaded test programs). */
#ifndef TIDE_CONFORM_UTIL_H
#define TIDE_CONFORM_UTIL_H

#include <stddef.h>

#include "tide/buf.h"
#include "tide/json.h"

/* Reads the whole file at path into a malloc'd, NUL-terminated buffer and
 * sets *len.  Returns NULL (errno set) when it cannot. */
char *conform_read_file(const char *path, size_t *len);

/* One line of a text buffer: [start, start + len), without the '\n'. */
typedef struct conform_line {
  const char *start;
  size_t len;
} conform_line;

/* Splits text into lines (a final line without '\n' counts; empty lines
 * are kept so line numbers match).  Returns a malloc'd array and sets
 * *count; NULL when out of memory. */
conform_line *conform_split_lines(const char *text, size_t len, size_t *count);

/* Appends JSON.stringify(v) to out and NUL-terminates.  0 or a negative
 * TIDE_E_* code. */
int conform_json_text(tide_buf *out, const tide_json *v);

/* The NUL-terminated copy of a JSON string member obj[key], or NULL when
 * absent or not a string.  Valid while obj's document lives. */
const char *conform_get_string(const tide_json *obj, const char *key, size_t *len);

#endif
