/* json_parse.c - JSON text to document, with JSON.parse's grammar.
 *
 * The parser is iterative: open containers are frames on an explicit
 * stack, and the members or items of every open container wait on one
 * scratch stack until the container closes, when they are laid out in
 * the arena at their exact size (objects in V8 order, see json.c).  Deep
 * input therefore cannot overflow the C stack, and a typical message
 * costs one malloc (the arena's first chunk).
 *
 * On request the parser also checks, in the same pass, whether the text is
 * already in the form tide_json_write() prints for a given indent (the
 * "canonical" form SSB signs): whitespace exactly as the writer lays it
 * out, strings escaped exactly as V8 escapes them, numbers spelt as
 * Number::toString spells them, object members already in V8 order with
 * no duplicates.  And it can write the canonical text as it goes: when
 * the strings, numbers and member order are canonical (whatever the
 * whitespace: a message travels compact or indented), that text is the
 * tokens of the input laid out again, so the caller need not print the
 * value.
 *
 * In situ: a caller that owns a writable copy of the text may let the
 * parser keep the strings there (decoded in place, the closing quote
 * replaced by the NUL), saving a copy per string. */
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
  unsigned char *w; /* in situ: the same text, writable; else NULL */
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
  int canon_tok; /* checking: strings, numbers, member order canonical so far */
  int canon_ws;  /* checking: whitespace canonical so far */
  int indent;    /* the indent of the canonical form checked */
  int nonascii;  /* a byte >= 0x80 was seen */
  size_t root_start, root_end;
  /* the canonical text written so far (in the arena), while `emit` */
  int emit;
  char *o;
  size_t olen, ocap, omax;
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

/* Whitespace expected before a token in the canonical form. */
#define WS_ANY   0 /* not checked (around the root value) */
#define WS_NONE  1 /* nothing */
#define WS_COLON 2 /* after "key":, one space with an indent */
#define WS_LINE  3 /* a line break and the indent of the current depth */

/* 1 when the whitespace s[from..p->pos) is what the writer puts at this
 * place; `depth` is the nesting of the line for WS_LINE. */
static int ws_canonical(const parser *p, size_t from, int want, size_t depth)
{
  size_t n = p->pos - from;

  switch (want) {
  case WS_NONE: return n == 0;
  case WS_COLON: return p->indent == 0 ? n == 0 : n == 1 && p->s[from] == ' ';
  case WS_LINE:
    if (p->indent == 0)
      return n == 0;
    if (n != (size_t)p->indent * depth + 1 || p->s[from] != '\n')
      return 0;
    /* skip_ws() took only whitespace: look for anything but spaces */
    for (size_t i = from + 1; i < p->pos; i++)
      if (p->s[i] != ' ')
        return 0;
    return 1;
  default: return 1;
  }
}

/* Skips whitespace and, while checking, compares it with `want`. */
static void skip_ws_expect(parser *p, int want, size_t depth)
{
  size_t from = p->pos;

  skip_ws(p);
  if (p->canon_ws && !ws_canonical(p, from, want, depth))
    p->canon_ws = 0;
}

/* --- Writing the canonical text ------------------------------------------ */

/* Slack kept after the text, so a line's spaces and short literals can
 * be stored in whole words. */
#define OUT_SLACK 16

/* Makes room for n more bytes (plus OUT_SLACK); 0 when the text is given
 * up (longer than omax, or out of memory: the caller then prints the
 * value the usual way, which reports any real shortage). */
static int out_grow(parser *p, size_t n)
{
  size_t cap = p->ocap;
  char *q;

  if (n > p->omax - p->olen) {
    p->emit = 0;
    return 0;
  }
  while (cap - p->olen < n + OUT_SLACK)
    cap = cap < ((size_t)1 << 16) ? ((size_t)1 << 16) : cap * 2;
  q = tide__json_alloc(p->doc, cap + 1);
  if (q == NULL) {
    p->emit = 0;
    return 0;
  }
  if (p->olen > 0)
    memcpy(q, p->o, p->olen);
  p->o = q;
  p->ocap = cap;
  return 1;
}

static inline int out_room(parser *p, size_t n)
{
  return (p->ocap - p->olen >= n + OUT_SLACK) || out_grow(p, n);
}

static void out_bytes(parser *p, const void *b, size_t n)
{
  if (p->emit && out_room(p, n)) {
    memcpy(p->o + p->olen, b, n);
    p->olen += n;
  }
}

/* out_bytes() for text[from..from+n): in situ, the caller's copy has
 * TIDE__JSON_INSITU_SLACK readable bytes after the text, so short runs
 * are copied sixteen bytes at a time (the output has the same slack). */
static inline void out_text(parser *p, size_t from, size_t n)
{
  char *o;

  if (!p->emit || !out_room(p, n))
    return;
  o = p->o + p->olen;
  p->olen += n;
  if (p->w != NULL && n <= 64) {
    for (size_t k = 0; k < n; k += 16)
      memcpy(o + k, p->s + from + k, 16);
  } else {
    memcpy(o, p->s + from, n);
  }
}

static void out_byte(parser *p, char c)
{
  if (p->emit && out_room(p, 1))
    p->o[p->olen++] = c;
}

/* A line break and the indent of `depth` (nothing without an indent). */
static void out_line(parser *p, size_t depth)
{
  size_t n;

  if (!p->emit || p->indent == 0)
    return;
  n = (size_t)p->indent * depth;
  if (depth > p->omax || !out_room(p, n + 1))
    return;
  p->o[p->olen] = '\n';
  for (size_t k = 0; k < n; k += 8)
    memcpy(p->o + p->olen + 1 + k, "        ", 8);
  p->olen += n + 1;
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

/* 1 when the \\u escape with hex digits h[0..4) and value cu is the one the
 * writer prints: lowercase hex, for a control character that has no short
 * escape, or for a lone surrogate.  Anything else is printed raw or with
 * its short escape. */
static int canonical_u_escape(const unsigned char *h, long cu)
{
  int ok = (cu < 0x20 && cu != '\b' && cu != '\t' && cu != '\n' && cu != '\f' && cu != '\r') ||
           (cu >= 0xD800 && cu <= 0xDFFF);

  for (int k = 0; ok && k < 4; k++)
    ok = !(h[k] >= 'A' && h[k] <= 'F');
  return ok;
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
#if TIDE__JSON_SSE2
    /* Skip plain ASCII sixteen bytes at a time. */
    while (i + 16 <= n) {
      unsigned m = tide__json_special16(s + i);
      if (m != 0) {
        i += (size_t)__builtin_ctz(m);
        break;
      }
      i += 16;
    }
#elif TIDE__JSON_SWAR
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
      p->nonascii = 1;
      i += k;
      continue;
    }
    i++;
  }
  end = i;
  p->pos = end + 1;
  /* The literal as it stands is the canonical one if its escapes are
   * (checked below). */
  out_text(p, start - 1, end - start + 2);
  if (!has_esc) {
    if (p->w != NULL) {
      p->w[end] = '\0'; /* the closing quote, already passed */
      d = (char *)p->w + start;
    } else {
      d = tide__json_strdup(p->doc, (const char *)s + start, end - start);
      if (d == NULL)
        return TIDE_E_NOMEM;
    }
    *out = d;
    *outlen = end - start;
    return 0;
  }

  /* Pass 2: decode; the result is never longer than the literal, and in
   * situ every byte is read before the decoded text reaches it. */
  if (p->w != NULL) {
    d = (char *)p->w + start;
  } else {
    d = tide__json_alloc(p->doc, end - start + 1);
    if (d == NULL)
      return TIDE_E_NOMEM;
  }
  o = 0;
  for (i = start; i < end;) {
    long cu, lo;
    if (s[i] != '\\') {
      const unsigned char *bs = memchr(s + i, '\\', end - i);
      size_t run = bs == NULL ? end - i : (size_t)(bs - (s + i));
      memmove(d + o, s + i, run);
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
        /* A surrogate pair: one astral code point (written raw). */
        o += put_utf8(d + o, 0x10000 + (((unsigned long)cu - 0xD800) << 10) +
                                 ((unsigned long)lo - 0xDC00));
        p->canon_tok = 0;
        i += 12;
        continue;
      }
      if (p->canon_tok && !canonical_u_escape(s + i + 2, cu))
        p->canon_tok = 0;
      o += put_utf8(d + o, (unsigned long)cu);
      i += 6;
      continue;
    case '/':
      d[o++] = '/';
      p->canon_tok = 0;
      break;                                 /* written raw */
    default: d[o++] = (char)s[i + 1]; break; /* " \ */
    }
    i += 2;
  }
  d[o] = '\0';
  *out = d;
  *outlen = o;
  return 0;
}

/* 1 when the number token t[0..n) is how the writer prints its value d.
 * An integer of at most 15 digits is exact in a double and prints as
 * itself, except "-0" (printed "0"); other tokens are compared with the
 * printed text (a non-finite value prints "null", never equal). */
static int canonical_number(const unsigned char *t, size_t n, int plain, double d)
{
  char num[TIDE_JSON_NUMBER_BYTES];
  size_t k;

  if (plain) {
    size_t digits = n - (t[0] == '-');
    if (digits <= 15)
      return !(n == 2 && t[0] == '-' && t[1] == '0');
  }
  if (d - d != 0)
    return 0;
  k = tide_json_format_number(num, d);
  return k == n && memcmp(num, t, n) == 0;
}

static int parse_number(parser *p, tide_json **out)
{
  const unsigned char *s = p->s;
  size_t i = p->pos, n = p->len, start = p->pos;
  int plain = 1; /* an integer token: no fraction, no exponent */
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
    plain = 0;
    if (i >= n || s[i] - (unsigned)'0' > 9)
      return unexpected(p, i, "expected digit after '.'");
    while (i < n && s[i] - (unsigned)'0' <= 9)
      i++;
  }
  if (i < n && (s[i] | 0x20) == 'e') {
    i++;
    plain = 0;
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
  if (p->canon_tok && !canonical_number(s + start, i - start, plain, v->u.num))
    p->canon_tok = 0;
  out_text(p, start, i - start);
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
  out_bytes(p, word, wlen);
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
  out_byte(p, (char)p->s[p->pos]);
  p->pos++;
  return 0;
}

/* Closes the innermost container: lays out its pending members.  While
 * checking the canonical form, an object whose layout differs from the
 * text (index keys moved to the front, or a duplicate key merged) is not
 * canonical: the writer would print its members in another order. */
static int close_container(parser *p, tide_json **out)
{
  frame *f = &p->f[p->fn - 1];
  tide_json *v = f->node;
  const tide__json_member *in = p->m + f->base;
  size_t n = p->mn - f->base;
  int rc = 0;

  if (v->type == TIDE_JSON_ARRAY) {
    if (n > 0) {
      v->u.items = tide__json_alloc(p->doc, n * sizeof *v->u.items);
      if (v->u.items == NULL)
        return TIDE_E_NOMEM;
      for (size_t i = 0; i < n; i++)
        v->u.items[i] = in[i].value;
    }
    v->len = n;
    v->cap = n;
  } else {
    rc = tide__json_object_finish(p->doc, v, in, n, &p->sort_tmp, &p->sort_cap);
    if (rc != 0)
      return rc;
    if (p->canon_tok) {
      if (v->len != n) {
        p->canon_tok = 0;
      } else {
        for (size_t i = 0; i < n; i++)
          if (v->u.members[i].key != in[i].key) {
            p->canon_tok = 0;
            break;
          }
      }
    }
  }
  if (n > 0)
    out_line(p, p->fn - 1);
  out_byte(p, (char)p->s[p->pos]);
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
  skip_ws_expect(p, WS_NONE, 0);
  if (p->pos >= p->len || p->s[p->pos] != ':')
    return unexpected(p, p->pos, "expected ':'");
  p->pos++;
  out_bytes(p, ": ", p->indent > 0 ? 2 : 1);
  return 0;
}

/* The grammar as a loop.  `want` is the whitespace the canonical form has
 * before the next value; the members or items of a container are at depth
 * p->fn (the number of open containers), its closing bracket at p->fn - 1. */
static int run(parser *p)
{
  tide_json *v = NULL;
  size_t from;
  int want = WS_ANY, rc;

  skip_ws(p);
  p->root_start = p->pos;
value:
  skip_ws_expect(p, want, p->fn);
  if (p->pos >= p->len)
    return syntax(p, p->pos, "expected a value");
  switch (p->s[p->pos]) {
  case '{':
    rc = open_container(p, TIDE_JSON_OBJECT, &v);
    if (rc != 0)
      return rc;
    from = p->pos;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '}') {
      if (from != p->pos)
        p->canon_ws = 0; /* the writer prints {} */
      rc = close_container(p, &v);
      if (rc != 0)
        return rc;
      goto after;
    }
    if (p->canon_ws && !ws_canonical(p, from, WS_LINE, p->fn))
      p->canon_ws = 0;
    out_line(p, p->fn);
    rc = parse_key(p);
    if (rc != 0)
      return rc;
    want = WS_COLON;
    goto value;
  case '[':
    rc = open_container(p, TIDE_JSON_ARRAY, &v);
    if (rc != 0)
      return rc;
    from = p->pos;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ']') {
      if (from != p->pos)
        p->canon_ws = 0; /* the writer prints [] */
      rc = close_container(p, &v);
      if (rc != 0)
        return rc;
      goto after;
    }
    if (p->canon_ws && !ws_canonical(p, from, WS_LINE, p->fn))
      p->canon_ws = 0;
    out_line(p, p->fn);
    want = WS_NONE;
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
      p->root_end = p->pos;
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
    from = p->pos;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == ',') {
      if (from != p->pos)
        p->canon_ws = 0;
      p->pos++;
      out_byte(p, ',');
      out_line(p, p->fn);
      if (!is_obj) {
        want = WS_LINE;
        goto value;
      }
      skip_ws_expect(p, WS_LINE, p->fn);
      rc = parse_key(p);
      if (rc != 0)
        return rc;
      want = WS_COLON;
      goto value;
    }
    if (p->pos < p->len && p->s[p->pos] == (is_obj ? '}' : ']')) {
      if (p->canon_ws && !ws_canonical(p, from, WS_LINE, p->fn - 1))
        p->canon_ws = 0;
      rc = close_container(p, &v);
      if (rc != 0)
        return rc;
      continue;
    }
    return unexpected(p, p->pos, is_obj ? "expected ',' or '}'" : "expected ',' or ']'");
  }
}

int tide__json_parse_doc(tide_json_doc *doc, const char *text, size_t len,
                         const tide_json_limits *lim, tide__json_canon *canon, tide_error *err)
{
  size_t max_bytes = TIDE_JSON_DEFAULT_BYTES;
  parser p;
  int rc;

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
  p.doc = doc;
  p.m = p.m_local;
  p.mcap = sizeof p.m_local / sizeof p.m_local[0];
  p.f = p.f_local;
  p.fcap = sizeof p.f_local / sizeof p.f_local[0];
  if (canon != NULL && canon->indent >= 0 && canon->indent <= 10) {
    p.canon_tok = 1;
    p.canon_ws = 1;
    p.indent = canon->indent;
    if (canon->insitu)
      p.w = (unsigned char *)(uintptr_t)text; /* the caller's own copy */
    if (canon->max_text > 0) {
      /* Usually a little longer than the input (compact to indented). */
      p.emit = 1;
      p.omax = canon->max_text;
      p.ocap = len + len / 2 + 256;
      if (p.ocap > p.omax + OUT_SLACK)
        p.ocap = p.omax + OUT_SLACK;
      p.o = tide__json_alloc(doc, p.ocap + 1);
      if (p.o == NULL)
        p.emit = 0;
    }
  }
  rc = run(&p);
  if (rc == TIDE_E_NOMEM || rc == TIDE_E_TOOBIG)
    (void)tide_error_set(err, rc, p.pos, "%s at byte %zu", tide_strerror(rc), p.pos);
  if (p.m != p.m_local)
    free(p.m);
  if (p.f != p.f_local)
    free(p.f);
  free(p.sort_tmp);
  if (canon != NULL) {
    canon->canonical = rc == 0 && p.canon_tok && p.canon_ws;
    canon->ascii = !p.nonascii;
    canon->start = p.root_start;
    canon->end = p.root_end;
    canon->text = NULL;
    canon->length = 0;
    if (rc == 0 && p.canon_tok && p.emit) {
      p.o[p.olen] = '\0';
      canon->text = p.o;
      canon->length = p.olen;
    }
  }
  return rc;
}

/* Parses into a new document; canon may be NULL. */
static int parse_new(tide_json_doc **out, const char *text, size_t len, const tide_json_limits *lim,
                     tide__json_canon *canon, tide_error *err)
{
  size_t hint;
  tide_json_doc *doc;
  int rc;

  if (out == NULL)
    return tide_error_set(err, TIDE_E_INVAL, 0, "no output pointer");
  *out = NULL;
  if (text == NULL && len > 0)
    return tide_error_set(err, TIDE_E_INVAL, 0, "no input");
  if (lim != NULL && lim->max_bytes > 0 && len > lim->max_bytes)
    return tide_error_set(err, TIDE_E_TOOBIG, 0, "input of %zu bytes exceeds the limit of %zu", len,
                          lim->max_bytes);
  if ((lim == NULL || lim->max_bytes == 0) && len > TIDE_JSON_DEFAULT_BYTES)
    return tide_error_set(err, TIDE_E_TOOBIG, 0, "input of %zu bytes exceeds the limit of %zu", len,
                          TIDE_JSON_DEFAULT_BYTES);
  /* Nodes, strings and member arrays take roughly three times the text. */
  hint = len < ((size_t)1 << 18) ? len * 3 + 512 : (size_t)1 << 20;
  doc = tide__json_doc_create(hint);
  if (doc == NULL)
    return tide_error_set(err, TIDE_E_NOMEM, 0, "out of memory");
  rc = tide__json_parse_doc(doc, text, len, lim, canon, err);
  if (rc != 0) {
    tide_json_doc_free(doc);
    return rc;
  }
  *out = doc;
  return 0;
}

int tide_json_parse(tide_json_doc **out, const char *text, size_t len, const tide_json_limits *lim,
                    tide_error *err)
{
  return parse_new(out, text, len, lim, NULL, err);
}

int tide_json_parse_canonical(tide_json_doc **out, tide_buf *canon_text, int *canonical,
                              const char *text, size_t len, int indent, const tide_json_limits *lim,
                              tide_error *err)
{
  tide__json_canon c;
  int rc;

  if (canonical != NULL)
    *canonical = 0;
  if (indent < 0 || indent > 10) {
    if (out != NULL)
      *out = NULL;
    return tide_error_set(err, TIDE_E_INVAL, 0, "indent %d is not 0..10", indent);
  }
  c.indent = indent;
  c.insitu = 0;
  c.max_text = canon_text != NULL ? SIZE_MAX / 4 : 0;
  rc = parse_new(out, text, len, lim, &c, err);
  if (rc != 0)
    return rc;
  if (canonical != NULL)
    *canonical = c.canonical && c.start == 0 && c.end == len;
  if (canon_text == NULL)
    return 0;
  if (c.text != NULL)
    rc = tide_buf_append(canon_text, c.text, c.length);
  else
    rc = tide_json_write(canon_text, tide_json_root(*out), indent);
  if (rc != 0) {
    tide_json_doc_free(*out);
    *out = NULL;
    if (canonical != NULL)
      *canonical = 0;
    return tide_error_set(err, rc, 0, "%s", tide_strerror(rc));
  }
  return 0;
}
