/* json_write.c - JSON.stringify as V8 prints it, and the JavaScript
 * string measures (UTF-16 length, 'binary' encoding, WTF-8 validity).
 *
 * SerializeJSONProperty / QuoteJSONString (ECMA-262 25.5.2) with V8's
 * output: lowercase hex in \u escapes; with an indent, members go on their
 * own lines, "key": value, and empty containers print as {} and []. */
#include <stdlib.h>
#include <string.h>

#include "json_int.h"
#include "tide/json.h"

/* Per ASCII byte: 0 = copy raw, 'u' = \u00xx, else the short escape. */
static const char esc_table[128] = {
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'b', 't', 'n', 'u', 'f', 'r', 'u', 'u', 'u',  'u', 'u',
    'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 'u', 0,   0,   '"', 0,    0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   '\\', 0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,    0,   0,
    0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,   0,
};

static const char hexdig[] = "0123456789abcdef";

/* Room for n more bytes (and the NUL tide_buf keeps after the data). */
static int need(tide_buf *b, size_t n)
{
  if (b->cap > b->len && b->cap - b->len > n)
    return 0;
  return tide_buf_reserve(b, n);
}

/* Escapes s[i..stop) of the valid WTF-8 string s[0..len) into o and
 * returns the new end.  o must have room for 6 * (stop - i) + 8 bytes.  A
 * lone surrogate that starts before stop is escaped whole (it may end
 * after stop); *next receives where the caller resumes. */
static char *escape_run(char *o, const unsigned char *s, size_t i, size_t stop, size_t len,
                        size_t *next)
{
  while (i < stop) {
    unsigned c;
#if TIDE__JSON_SWAR
    {
      /* Bytes that need no escape, eight at a time: everything but
       * controls, '"', '\\' and 0xED (which may start a lone surrogate);
       * non-ASCII UTF-8 is copied raw.  A short tail is padded with 'a'.
       * The whole word is stored; the reserve covers the overhang. */
      size_t r = stop - i, k;
      uint64_t x, m;
      if (r >= 8) {
        x = tide__json_load8(s + i);
      } else {
        x = TIDE__JSON_ONES * 'a';
        memcpy(&x, s + i, r);
      }
      m = tide__json_ctl8(x) | tide__json_eq8(x, '"') | tide__json_eq8(x, '\\') |
          tide__json_eq8(x, 0xED);
      memcpy(o, &x, 8);
      k = m != 0 ? tide__json_first8(m) : r < 8 ? r : 8;
      o += k;
      i += k;
      if (m == 0)
        continue;
    }
#endif
    c = s[i];
    if (c < 0x80) {
      char e = esc_table[c];
      i++;
      if (e == 0) {
        *o++ = (char)c;
      } else if (e != 'u') {
        *o++ = '\\';
        *o++ = e;
      } else {
        memcpy(o, "\\u00", 4);
        o[4] = hexdig[c >> 4];
        o[5] = hexdig[c & 15];
        o += 6;
      }
    } else if (c == 0xED && i + 2 < len && s[i + 1] >= 0xA0) {
      /* A lone surrogate (WTF-8): well-formed JSON.stringify escapes it. */
      unsigned cp = ((c & 0x0Fu) << 12) | ((s[i + 1] & 0x3Fu) << 6) | (s[i + 2] & 0x3Fu);
      o[0] = '\\';
      o[1] = 'u';
      o[2] = hexdig[cp >> 12];
      o[3] = hexdig[(cp >> 8) & 15];
      o[4] = hexdig[(cp >> 4) & 15];
      o[5] = hexdig[cp & 15];
      o += 6;
      i += 3;
    } else {
      *o++ = (char)c;
      i++;
    }
  }
  *next = i;
  return o;
}

/* A JSON string literal for valid WTF-8 s. */
static int put_string(tide_buf *b, const char *str, size_t len)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;
  char *o;
  int rc;

  if (len <= 4096) { /* the usual case: one reserve for everything */
    rc = need(b, len * 6 + 10);
    if (rc != 0)
      return rc;
    o = b->data + b->len;
    *o++ = '"';
    o = escape_run(o, s, 0, len, len, &i);
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    return 0;
  }
  rc = need(b, 1);
  if (rc != 0)
    return rc;
  b->data[b->len++] = '"';
  while (i < len) {
    /* Escapes at most sextuple a byte: reserve per block. */
    size_t blk = len - i < 4096 ? len - i : 4096;
    rc = need(b, blk * 6 + 8);
    if (rc != 0)
      return rc;
    o = escape_run(b->data + b->len, s, i, i + blk, len, &i);
    b->len = (size_t)(o - b->data);
  }
  rc = need(b, 1);
  if (rc != 0)
    return rc;
  b->data[b->len++] = '"';
  return 0;
}

static int put_raw(tide_buf *b, const char *s, size_t n)
{
  int rc = need(b, n);
  if (rc != 0)
    return rc;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  return 0;
}

/* Between tokens: a ',' when `comma`, then with an indent a newline and
 * depth * indent spaces (stored eight at a time; the reserve covers the
 * overhang). */
static int put_break(tide_buf *b, int comma, size_t depth, int indent)
{
  size_t n = indent > 0 ? depth * (size_t)indent : 0;
  char *o;
  int rc = need(b, n + 10);

  if (rc != 0)
    return rc;
  o = b->data + b->len;
  if (comma)
    *o++ = ',';
  if (indent > 0) {
    *o++ = '\n';
    for (size_t k = 0; k < n; k += 8)
      memcpy(o + k, "        ", 8);
    o += n;
  }
  b->len = (size_t)(o - b->data);
  return 0;
}

/* A scalar, or the text of an empty container.  *open is set for a
 * non-empty container (the caller walks into it). */
static int put_value(tide_buf *b, const tide_json *v, int *open)
{
  char num[TIDE_JSON_NUMBER_BYTES];
  size_t n;
  int rc;

  *open = 0;
  switch (v->type) {
  case TIDE_JSON_NULL: return put_raw(b, "null", 4);
  case TIDE_JSON_FALSE: return put_raw(b, "false", 5);
  case TIDE_JSON_TRUE: return put_raw(b, "true", 4);
  case TIDE_JSON_NUMBER:
    rc = need(b, TIDE_JSON_NUMBER_BYTES);
    if (rc != 0)
      return rc;
    if (v->u.num - v->u.num != 0) /* NaN or an infinity */
      return put_raw(b, "null", 4);
    n = tide_json_format_number(num, v->u.num);
    memcpy(b->data + b->len, num, n);
    b->len += n;
    return 0;
  case TIDE_JSON_STRING: return put_string(b, v->u.str, v->len);
  case TIDE_JSON_ARRAY:
    if (v->len == 0)
      return put_raw(b, "[]", 2);
    *open = 1;
    return put_raw(b, "[", 1);
  case TIDE_JSON_OBJECT:
    if (v->len == 0)
      return put_raw(b, "{}", 2);
    *open = 1;
    return put_raw(b, "{", 1);
  default: return TIDE_E_INTERNAL;
  }
}

typedef struct wframe {
  const tide_json *v;
  size_t i;
} wframe;

int tide_json_write(tide_buf *out, const tide_json *v, int indent)
{
  wframe local[32], *stack = local;
  size_t depth = 0, cap = 32, start;
  int open, rc;

  if (out == NULL || v == NULL || indent < 0 || indent > 10)
    return TIDE_E_INVAL;
  start = out->len;
  rc = put_value(out, v, &open);
  if (rc != 0 || !open)
    goto out;
  stack[0].v = v;
  stack[0].i = 0;
  depth = 1;
  while (depth > 0) {
    wframe *f = &stack[depth - 1];
    const tide_json *child;
    if (f->i == f->v->len) {
      rc = put_break(out, 0, depth - 1, indent);
      if (rc != 0)
        goto out;
      /* put_break left room for the bracket. */
      out->data[out->len++] = f->v->type == TIDE_JSON_ARRAY ? ']' : '}';
      depth--;
      continue;
    }
    rc = put_break(out, f->i > 0, depth, indent);
    if (rc != 0)
      goto out;
    if (f->v->type == TIDE_JSON_ARRAY) {
      child = f->v->u.items[f->i];
    } else {
      const tide__json_member *m = &f->v->u.members[f->i];
      rc = put_string(out, m->key, m->keylen);
      if (rc == 0)
        rc = need(out, 2);
      if (rc != 0)
        goto out;
      out->data[out->len++] = ':';
      if (indent > 0)
        out->data[out->len++] = ' ';
      child = m->value;
    }
    f->i++;
    rc = put_value(out, child, &open);
    if (rc != 0)
      goto out;
    if (!open)
      continue;
    if (depth >= TIDE__JSON_WALK_MAX_DEPTH) {
      rc = TIDE_E_JSON_DEPTH; /* a cycle made with the builder */
      goto out;
    }
    if (depth == cap) {
      wframe *p;
      cap *= 2;
      p = stack == local ? malloc(cap * sizeof *p) : realloc(stack, cap * sizeof *p);
      if (p == NULL) {
        rc = TIDE_E_NOMEM;
        goto out;
      }
      if (stack == local)
        memcpy(p, local, sizeof local);
      stack = p;
    }
    stack[depth].v = child;
    stack[depth].i = 0;
    depth++;
  }
out:
  if (stack != local)
    free(stack);
  if (rc != 0)
    out->len = start; /* nothing half-written */
  if (out->data != NULL)
    out->data[out->len] = '\0';
  return rc;
}

int tide_json_write_string(tide_buf *out, const char *s, size_t len)
{
  size_t start;
  int rc;

  if (out == NULL || (s == NULL && len > 0))
    return TIDE_E_INVAL;
  if (!tide_json_valid_wtf8(s, len))
    return TIDE_E_JSON_UTF8;
  start = out->len;
  rc = put_string(out, s, len);
  if (rc != 0)
    out->len = start;
  if (out->data != NULL)
    out->data[out->len] = '\0';
  return rc;
}

/* --- JavaScript string measures ----------------------------------------- */

size_t tide_json_utf16_length(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t n = 0;

  /* Every lead byte is one code unit; four-byte sequences are two. */
  for (size_t i = 0; i < len; i++)
    n += ((p[i] & 0xC0) != 0x80) + (p[i] >= 0xF0);
  return n;
}

int tide_json_latin1(tide_buf *out, const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0, o;
  int rc;

  if (out == NULL || (s == NULL && len > 0))
    return TIDE_E_INVAL;
  /* Never more bytes out than in. */
  rc = tide_buf_reserve(out, len);
  if (rc != 0)
    return rc;
  o = out->len;
  while (i < len) {
    unsigned c;
    size_t k;
    unsigned long cp;
#if TIDE__JSON_SWAR
    /* ASCII maps to itself: copy eight bytes at a time. */
    while (i + 8 <= len && (tide__json_load8(p + i) & TIDE__JSON_HIGHS) == 0) {
      memcpy(out->data + o, p + i, 8);
      o += 8;
      i += 8;
    }
    if (i >= len)
      break;
#endif
    c = p[i];
    if (c < 0x80) {
      out->data[o++] = (char)c;
      i++;
      continue;
    }
    k = tide__json_utf8_len(p + i, len - i, 1);
    if (k == 0) {
      out->data[out->len] = '\0';
      return TIDE_E_JSON_UTF8;
    }
    if (k == 2) {
      cp = ((c & 0x1Fu) << 6) | (p[i + 1] & 0x3Fu);
    } else if (k == 3) {
      cp = ((c & 0x0Fu) << 12) | ((p[i + 1] & 0x3Fu) << 6) | (p[i + 2] & 0x3Fu);
    } else {
      cp = ((unsigned long)(c & 0x07u) << 18) | ((unsigned long)(p[i + 1] & 0x3Fu) << 12) |
           ((unsigned long)(p[i + 2] & 0x3Fu) << 6) | (p[i + 3] & 0x3Fu);
      cp -= 0x10000;
      /* The two UTF-16 code units, low byte of each. */
      out->data[o++] = (char)((0xD800 + (cp >> 10)) & 0xFF);
      cp = 0xDC00 + (cp & 0x3FF);
    }
    out->data[o++] = (char)(cp & 0xFF);
    i += k;
  }
  out->len = o;
  out->data[o] = '\0';
  return 0;
}

int tide_json_valid_wtf8(const char *s, size_t len)
{
  const unsigned char *p = (const unsigned char *)s;
  size_t i = 0;
  int prev_high = 0; /* the previous sequence was a high surrogate */

  if (s == NULL)
    return len == 0;
  while (i < len) {
    size_t k;
#if TIDE__JSON_SWAR
    while (i + 8 <= len && (tide__json_load8(p + i) & TIDE__JSON_HIGHS) == 0) {
      i += 8;
      prev_high = 0;
    }
    if (i >= len)
      break;
#endif
    if (p[i] < 0x80) {
      i++;
      prev_high = 0;
      continue;
    }
    k = tide__json_utf8_len(p + i, len - i, 1);
    if (k == 0)
      return 0;
    if (k == 3 && p[i] == 0xED && p[i + 1] >= 0xA0) {
      /* A high surrogate followed by a low one must be written as one
       * four-byte sequence in WTF-8. */
      if (p[i + 1] >= 0xB0 && prev_high)
        return 0;
      prev_high = p[i + 1] < 0xB0;
    } else {
      prev_high = 0;
    }
    i += k;
  }
  return 1;
}
