/* json_parse.c - JSON text to document, with JSON.parse's grammar.
 *
 * The parser is iterative: open containers are frames on an explicit
 * stack, and the members or items of every open container wait on one
 * scratch stack until the container closes, when they are laid out in
 * the arena at their exact size (objects in V8 order, see json.c).  Deep
 * input therefore cannot overflow the C stack, and a typical message
 * costs one malloc (the arena's first chunk). */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "json_int.h"
#include "tide/json.h"

typedef struct frame {
  tide_json *node;
  size_t base; /* first scratch slot of this container */
} frame;

typedef struct parser {
  const unsigned char *s;
  size_t len;
  size_t pos;
  size_t max_depth;
  tide_json_doc *doc;
  tide_error *err;
  tide__json_member *m; /* scratch: pending members/items */
  size_t mn, mcap;
  frame *f;
  size_t fn, fcap;
  void *sort_tmp;
  size_t sort_cap;
  tide__json_member m_local[64];
  frame f_local[32];
} parser;

static int syntax(parser *p, size_t at, const char *what)
{
  if (at >= p->len)
    return tide_error_set(p->err, TIDE_E_JSON_SYNTAX, at, "%s at byte %zu (end of input)", what,
                          at);
  return tide_error_set(p->err, TIDE_E_JSON_SYNTAX, at, "%s at byte %zu", what, at);
}

static int bad_utf8(parser *p, size_t at)
{
  return tide_error_set(p->err, TIDE_E_JSON_UTF8, at, "invalid UTF-8 at byte %zu", at);
}

/* An unexpected byte where a token should start: invalid UTF-8 is
 * reported as such, anything else as `what`. */
static int unexpected(parser *p, size_t at, const char *what)
{
  if (at < p->len && p->s[at] >= 0x80 && tide__json_utf8_len(p->s + at, p->len - at, 0) == 0)
    return bad_utf8(p, at);
  return syntax(p, at, what);
}

static void skip_ws(parser *p)
{
  const unsigned char *s = p->s;
  size_t i = p->pos, n = p->len;

  while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
    i++;
  p->pos = i;
}

static int grow_stack(void **stack, size_t *cap, void *local, size_t size)
{
  size_t ncap = *cap * 2;
  void *q;

  if (ncap > SIZE_MAX / size)
    return TIDE_E_NOMEM;
  if (*stack == local) {
    q = malloc(ncap * size);
    if (q != NULL)
      memcpy(q, local, *cap * size);
  } else {
    q = realloc(*stack, ncap * size);
  }
  if (q == NULL)
    return TIDE_E_NOMEM;
  *stack = q;
  *cap = ncap;
  return 0;
}

static int push_member(parser *p, const char *key, size_t keylen, uint32_t index, tide_json *value)
{
  tide__json_member *m;

  if (p->mn == p->mcap) {
    void *st = p->m;
    int rc = grow_stack(&st, &p->mcap, p->m_local, sizeof *p->m);
    if (rc != 0)
      return rc;
    p->m = st;
  }
  m = &p->m[p->mn++];
  m->key = key;
  m->keylen = keylen;
  m->index = index;
  m->value = value;
  return 0;
}

static int hexval(unsigned c)
{
  if (c - '0' < 10)
    return (int)(c - '0');
  c |= 0x20;
  if (c - 'a' < 6)
    return (int)(c - 'a' + 10);
  return -1;
}

/* Four hex digits at s[0..4) (caller checked the length), or -1. */
static long hex4(const unsigned char *s)
{
  long v = 0;

  for (int i = 0; i < 4; i++) {
    int h = hexval(s[i]);
    if (h < 0)
      return -1;
    v = v * 16 + h;
  }
  return v;
}

static size_t put_utf8(char *o, unsigned long cp)
{
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | (cp >> 6));
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) { /* includes lone surrogates: WTF-8 */
    o[0] = (char)(0xE0 | (cp >> 12));
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | (cp >> 18));
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Parses the string literal at p->pos (a '"') into the arena. */
static int parse_string(parser *p, char **out, size_t *outlen)
{
  const unsigned char *s = p->s;
  size_t start = p->pos + 1, i = start, n = p->len, end, o;
  int has_esc = 0;
  char *d;

  /* Pass 1: find the closing quote; check raw bytes and escape letters. */
  for (;;) {
    unsigned c;
#if TIDE__JSON_SWAR
    /* Skip plain ASCII eight bytes at a time. */
    while (i + 8 <= n) {
      uint64_t x = tide__json_load8(s + i);
      uint64_t m = tide__json_ctl8(x) | tide__json_eq8(x, '"') | tide__json_eq8(x, '\\') |
                   (x & TIDE__JSON_HIGHS);
      if (m != 0) {
        i += tide__json_first8(m);
        break;
      }
      i += 8;
    }
#endif
    if (i >= n)
      return syntax(p, n, "unterminated string");
    c = s[i];
    if (c == '"')
      break;
    if (c == '\\') {
      if (i + 1 >= n)
        return syntax(p, n, "unterminated string");
      switch (s[i + 1]) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
      case 'u': break;
      default: return syntax(p, i, "invalid escape");
      }
      has_esc = 1;
      i += 2;
      continue;
    }
    if (c < 0x20)
      return syntax(p, i, "control character in string");
    if (c >= 0x80) {
      size_t k = tide__json_utf8_len(s + i, n - i, 0);
      if (k == 0)
        return bad_utf8(p, i);
      i += k;
      continue;
    }
    i++;
  }
  end = i;
  p->pos = end + 1;
  if (!has_esc) {
    d = tide__json_strdup(p->doc, (const char *)s + start, end - start);
    if (d == NULL)
      return TIDE_E_NOMEM;
    *out = d;
    *outlen = end - start;
    return 0;
  }

  /* Pass 2: decode; the result is never longer than the literal. */
  d = tide__json_alloc(p->doc, end - start + 1);
  if (d == NULL)
    return TIDE_E_NOMEM;
  o = 0;
  for (i = start; i < end;) {
    long cu, lo;
    if (s[i] != '\\') {
      const unsigned char *bs = memchr(s + i, '\\', end - i);
      size_t run = bs == NULL ? end - i : (size_t)(bs - (s + i));
      memcpy(d + o, s + i, run);
      o += run;
      i += run;
      continue;
    }
    switch (s[i + 1]) {
    case 'b': d[o++] = '\b'; break;
    case 'f': d[o++] = '\f'; break;
    case 'n': d[o++] = '\n'; break;
    case 'r': d[o++] = '\r'; break;
    case 't': d[o++] = '\t'; break;
    case 'u':
      if (end - i < 6 || (cu = hex4(s + i + 2)) < 0)
        return syntax(p, i, "invalid \\u escape");
      if (cu >= 0xD800 && cu <= 0xDBFF && end - i >= 12 && s[i + 6] == '\\' && s[i + 7] == 'u' &&
          (lo = hex4(s + i + 8)) >= 0xDC00 && lo <= 0xDFFF) {
        /* A surrogate pair: one astral code point. */
        o += put_utf8(d + o, 0x10000 + (((unsigned long)cu - 0xD800) << 10) +
                                 ((unsigned long)lo - 0xDC00));
        i += 12;
        continue;
      }
      o += put_utf8(d + o, (unsigned long)cu);
      i += 6;
      continue;
    default: d[o++] = (char)s[i + 1]; break; /* " \ / */
    }
    i += 2;
  }
  d[o] = '\0';
  *out = d;
  *outlen = o;
  return 0;
}

static int parse_number(parser *p, tide_json **out)
{
  const unsigned char *s = p->s;
  size_t i = p->pos, n = p->len, start = p->pos;
  tide_json *v;

  if (s[i] == '-')
    i++;
  if (i >= n || s[i] - (unsigned)'0' > 9)
    return unexpected(p, i, "expected digit");
  if (s[i] == '0') {
    i++;
    if (i < n && s[i] - (unsigned)'0' <= 9)
      return syntax(p, i, "leading zero in number");
  } else {
    while (i < n && s[i] - (unsigned)'0' <= 9)
      i++;
  }
  if (i < n && s[i] == '.') {
    i++;
    if (i >= n || s[i] - (unsigned)'0' > 9)
      return unexpected(p, i, "expected digit after '.'");
    while (i < n && s[i] - (unsigned)'0' <= 9)
      i++;
  }
  if (i < n && (s[i] | 0x20) == 'e') {
    i++;
    if (i < n && (s[i] == '+' || s[i] == '-'))
      i++;
    if (i >= n || s[i] - (unsigned)'0' > 9)
      return unexpected(p, i, "expected digit in exponent");
    while (i < n && s[i] - (unsigned)'0' <= 9)
      i++;
  }
  v = tide__json_node(p->doc, TIDE_JSON_NUMBER);
  if (v == NULL)
    return TIDE_E_NOMEM;
  v->u.num = tide__json_parse_number((const char *)s + start, i - start);
  p->pos = i;
  *out = v;
  return 0;
}

static int parse_literal(parser *p, const char *word, size_t wlen, tide_json_type type,
                         tide_json **out)
{
  tide_json *v;

  if (p->len - p->pos < wlen || memcmp(p->s + p->pos, word, wlen) != 0) {
    /* Point at the first byte that differs. */
    size_t i = p->pos;
    while (i < p->len && i - p->pos < wlen && p->s[i] == (unsigned char)word[i - p->pos])
      i++;
    return unexpected(p, i, "expected a value");
  }
  v = tide__json_node(p->doc, type);
  if (v == NULL)
    return TIDE_E_NOMEM;
  p->pos += wlen;
  *out = v;
  return 0;
}

static int open_container(parser *p, tide_json_type type, tide_json **node)
{
  frame *f;

  if (p->fn >= p->max_depth)
    return tide_error_set(p->err, TIDE_E_JSON_DEPTH, p->pos, "nesting deeper than %zu at byte %zu",
                          p->max_depth, p->pos);
  if (p->fn == p->fcap) {
    void *st = p->f;
    int rc = grow_stack(&st, &p->fcap, p->f_local, sizeof *p->f);
    if (rc != 0)
      return rc;
    p->f = st;
  }
  *node = tide__json_node(p->doc, type);
  if (*node == NULL)
    return TIDE_E_NOMEM;
  f = &p->f[p->fn++];
  f->node = *node;
  f->base = p->mn;
  p->pos++;
  return 0;
}

/* Closes the innermost container: lays out its pending members. */
static int close_container(parser *p, tide_json **out)
{
  frame *f = &p->f[p->fn - 1];
  tide_json *v = f->node;
  size_t n = p->mn - f->base;
  int rc = 0;

  if (v->type == TIDE_JSON_ARRAY) {
    if (n > 0) {
      v->u.items = tide__json_alloc(p->doc, n * sizeof *v->u.items);
      if (v->u.items == NULL)
        return TIDE_E_NOMEM;
      for (size_t i = 0; i < n; i++)
        v->u.items[i] = p->m[f->base + i].value;
    }
    v->len = n;
    v->cap = n;
  } else {
    rc = tide__json_object_finish(p->doc, v, p->m + f->base, n, &p->sort_tmp, &p->sort_cap);
    if (rc != 0)
      return rc;
  }
  p->mn = f->base;
  p->fn--;
  p->pos++;
  *out = v;
  return 0;
}

/* Parses an object key and the ':' after it; p->pos is at the key. */
static int parse_key(parser *p)
{
  char *key;
  size_t keylen;
  int rc;

  if (p->pos >= p->len || p->s[p->pos] != '"')
    return unexpected(p, p->pos, "expected '\"' to start a key");
  rc = parse_string(p, &key, &keylen);
  if (rc != 0)
    return rc;
  rc = push_member(p, key, keylen, tide__json_key_index(key, keylen), NULL);
  if (rc != 0)
    return rc;
  skip_ws(p);
  if (p->pos >= p->len || p->s[p->pos] != ':')
    return unexpected(p, p->pos, "expected ':'");
  p->pos++;
  return 0;
}

static int run(parser *p)
{
  tide_json *v = NULL;
  int rc;

value:
  skip_ws(p);
  if (p->pos >= p->len)
    return syntax(p, p->pos, "expected a value");
  switch (p->s[p->pos]) {
  case '{':
    rc = open_container(p, TIDE_JSON_OBJECT, &v);
    if (rc != 0)
      return rc;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
      rc = close_container(p, &v);
      if (rc != 0)
        return rc;
      goto after;
    }
    rc = parse_key(p);
    if (rc != 0)
      return rc;
    goto value;
  case '[':
    rc = open_container(p, TIDE_JSON_ARRAY, &v);
    if (rc != 0)
      return rc;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
      rc = close_container(p, &v);
      if (rc != 0)
        return rc;
      goto after;
    }
    goto value;
  case '"':
    v = tide__json_node(p->doc, TIDE_JSON_STRING);
    if (v == NULL)
      return TIDE_E_NOMEM;
    rc = parse_string(p, &v->u.str, &v->len);
    break;
  case 't': rc = parse_literal(p, "true", 4, TIDE_JSON_TRUE, &v); break;
  case 'f': rc = parse_literal(p, "false", 5, TIDE_JSON_FALSE, &v); break;
  case 'n': rc = parse_literal(p, "null", 4, TIDE_JSON_NULL, &v); break;
  case '-':
  case '0':
  case '1':
  case '2':
  case '3':
  case '4':
  case '5':
  case '6':
  case '7':
  case '8':
  case '9': rc = parse_number(p, &v); break;
  default: return unexpected(p, p->pos, "expected a value");
  }
  if (rc != 0)
    return rc;

after:
  /* v is a complete value: attach it to the open container, if any. */
  for (;;) {
    frame *f;
    int is_obj;
    if (p->fn == 0) {
      skip_ws(p);
      if (p->pos != p->len)
        return unexpected(p, p->pos, "unexpected data after the JSON value");
      p->doc->root = v;
      return 0;
    }
    f = &p->f[p->fn - 1];
    is_obj = f->node->type == TIDE_JSON_OBJECT;
    if (is_obj) {
      p->m[p->mn - 1].value = v;
    } else {
      rc = push_member(p, NULL, 0, TIDE__JSON_NOINDEX, v);
      if (rc != 0)
        return rc;
    }
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ',') {
      p->pos++;
      if (!is_obj)
        goto value;
      skip_ws(p);
      rc = parse_key(p);
      if (rc != 0)
        return rc;
      goto value;
    }
    if (p->pos < p->len && p->s[p->pos] == (is_obj ? '}' : ']')) {
      rc = close_container(p, &v);
      if (rc != 0)
        return rc;
      continue;
    }
    return unexpected(p, p->pos, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

int tide_json_parse(tide_json_doc **out, const char *text, size_t len, const tide_json_limits *lim,
                    tide_error *err)
{
  size_t max_bytes = TIDE_JSON_DEFAULT_BYTES, hint;
  parser p;
  int rc;

  if (out == NULL)
    return tide_error_set(err, TIDE_E_INVAL, 0, "no output pointer");
  *out = NULL;
  if (text == NULL && len > 0)
    return tide_error_set(err, TIDE_E_INVAL, 0, "no input");
  tide_error_clear(err);
  memset(&p, 0, offsetof(parser, m_local));
  p.max_depth = TIDE_JSON_DEFAULT_DEPTH;
  if (lim != NULL) {
    if (lim->max_depth > 0)
      p.max_depth = lim->max_depth;
    if (lim->max_bytes > 0)
      max_bytes = lim->max_bytes;
  }
  if (len > max_bytes)
    return tide_error_set(err, TIDE_E_TOOBIG, 0, "input of %zu bytes exceeds the limit of %zu", len,
                          max_bytes);
  p.s = (const unsigned char *)text;
  p.len = len;
  p.err = err;
  p.m = p.m_local;
  p.mcap = sizeof p.m_local / sizeof p.m_local[0];
  p.f = p.f_local;
  p.fcap = sizeof p.f_local / sizeof p.f_local[0];
  /* Nodes, strings and member arrays take roughly three times the text. */
  hint = len < ((size_t)1 << 18) ? len * 3 + 512 : (size_t)1 << 20;
  p.doc = tide__json_doc_create(hint);
  if (p.doc == NULL) {
    rc = tide_error_set(err, TIDE_E_NOMEM, 0, "out of memory");
    goto out;
  }
  rc = run(&p);
  if (rc == TIDE_E_NOMEM || rc == TIDE_E_TOOBIG)
    (void)tide_error_set(err, rc, p.pos, "%s at byte %zu", tide_strerror(rc), p.pos);
out:
  if (p.m != p.m_local)
    free(p.m);
  if (p.f != p.f_local)
    free(p.f);
  free(p.sort_tmp);
  if (rc != 0) {
    tide_json_doc_free(p.doc);
    return rc;
  }
  *out = p.doc;
  return 0;
}
