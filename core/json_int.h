/* json_int.h - private structures of the JSON module (json*.c).
 *
 * A document is an arena: a chain of chunks served by a bump pointer.
 * Nodes, strings, member and item arrays all live in it and are released
 * together by tide_json_doc_free().
 *
 * Objects keep their members already in V8 enumeration order: the
 * `nindex` array-index keys first, sorted by value, then the other
 * ("named") keys in insertion order.  Writers and readers just walk the
 * array.  Large objects get a hash table over the named part for lookups
 * made through the API (the parser deduplicates by sorting instead). */
#ifndef TIDE_JSON_INT_H
#define TIDE_JSON_INT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tide/json.h"

/* Marks a key that is not an array index ("4294967295" is not one, so the
 * value cannot collide with a real index). */
#define TIDE__JSON_NOINDEX UINT32_MAX

/* Objects with more named members than this get a lookup hash table. */
#define TIDE__JSON_HASH_MIN 16

/* Nesting cap for walking a value (writer, clone).  It stops a value the
 * builder made cyclic from running away; parsed documents are far below. */
#define TIDE__JSON_WALK_MAX_DEPTH ((size_t)1 << 20)

typedef struct tide__json_member {
  const char *key; /* NUL-terminated WTF-8, owned by the document */
  size_t keylen;
  uint32_t index; /* array index value, or TIDE__JSON_NOINDEX */
  tide_json *value;
} tide__json_member;

typedef struct tide__json_hash {
  uint32_t *slots; /* named-part position + 1; 0 = empty */
  size_t mask;     /* slot count - 1 (a power of two) */
  size_t count;    /* named members indexed */
} tide__json_hash;

struct tide_json {
  uint8_t type;    /* tide_json_type */
  uint32_t nindex; /* objects: members that are array indices */
  size_t len;      /* string bytes, array items, object members */
  size_t cap;      /* arrays and objects: allocated slots */
  union {
    double num;
    char *str;
    tide_json **items;
    tide__json_member *members;
  } u;
  tide__json_hash *hash; /* objects: lookup table over named members */
};

typedef struct tide__json_chunk {
  struct tide__json_chunk *next;
  size_t size;
  size_t used;
  /* data follows, aligned to max_align_t */
} tide__json_chunk;

struct tide_json_doc {
  tide__json_chunk *chunk; /* current chunk (head of the chain) */
  tide_json *root;
  int have_hash_key;
  uint8_t hash_key[16]; /* SipHash key for lookup tables, made on demand */
};

/* Makes a document whose first chunk holds `hint` bytes.  NULL on OOM. */
tide_json_doc *tide__json_doc_create(size_t hint);

/* Bytes an in-situ text must have allocated after its end (read, never
 * used: the parser copies short runs in whole words). */
#define TIDE__JSON_INSITU_SLACK 16

/* What a parse learns about the text beyond its value. */
typedef struct tide__json_canon {
  int indent;        /* in: the style to compare with (0..10), or -1: none */
  int insitu;        /* in: the text is the caller's writable copy, with
                        TIDE__JSON_INSITU_SLACK more bytes allocated after
                        it; strings may be kept (and decoded) in it, which
                        changes it */
  size_t max_text;   /* in: > 0: write the canonical text, unless it is
                        longer than this */
  int canonical;     /* out: the value's text is byte for byte what
                        tide_json_write(root, indent) prints */
  int ascii;         /* out: the text has no byte >= 0x80 */
  size_t start, end; /* out: the value is text[start..end) (whitespace
                        around it excluded) */
  char *text;        /* out: with max_text, the canonical text (NUL-
                        terminated, in the document's arena), or NULL when
                        the input's tokens are not canonical (then print
                        the value) or it would be too long */
  size_t length;     /* out: its length */
} tide__json_canon;

/* Parses text into doc, which must have no root yet (its arena may hold
 * other allocations of the caller): tide_json_parse() without creating the
 * document.  canon may be NULL.  On failure the document may hold partial
 * allocations; the caller frees it.  Same errors as tide_json_parse(). */
int tide__json_parse_doc(tide_json_doc *doc, const char *text, size_t len,
                         const tide_json_limits *lim, tide__json_canon *canon, tide_error *err);

#define TIDE__JSON_ALIGN      8
#define TIDE__JSON_CHUNK_HEAD ((sizeof(tide__json_chunk) + 15) & ~(size_t)15)

/* Arena allocation that may start a new chunk; NULL on OOM. */
void *tide__json_alloc_slow(tide_json_doc *doc, size_t n);

/* Arena allocation, aligned for any node or pointer; NULL on OOM.  The
 * bump-pointer case is inline: the parser allocates per value. */
static inline void *tide__json_alloc(tide_json_doc *doc, size_t n)
{
  tide__json_chunk *c = doc->chunk;

  if (n - 1 < c->size - c->used) { /* n > 0, and the rounded size fits */
    size_t a = (n + (TIDE__JSON_ALIGN - 1)) & ~(size_t)(TIDE__JSON_ALIGN - 1);
    if (a <= c->size - c->used) {
      char *p = (char *)c + TIDE__JSON_CHUNK_HEAD + c->used;
      c->used += a;
      return p;
    }
  }
  return tide__json_alloc_slow(doc, n);
}

/* Grows an arena block in place when it is the newest allocation, else
 * copies it; NULL on OOM (the old block stays valid). */
void *tide__json_realloc(tide_json_doc *doc, void *p, size_t old, size_t n);

/* Copies s[0..len) into the arena with a NUL after it. */
static inline char *tide__json_strdup(tide_json_doc *doc, const char *s, size_t len)
{
  char *p;

  if (len == SIZE_MAX)
    return NULL;
  p = (char *)tide__json_alloc(doc, len + 1);
  if (p == NULL)
    return NULL;
  if (len > 0)
    memcpy(p, s, len);
  p[len] = '\0';
  return p;
}

/* A fresh node of the given type; NULL on OOM. */
static inline tide_json *tide__json_node(tide_json_doc *doc, tide_json_type type)
{
  tide_json *v = (tide_json *)tide__json_alloc(doc, sizeof *v);

  if (v == NULL)
    return NULL;
  memset(v, 0, sizeof *v);
  v->type = (uint8_t)type;
  return v;
}

/* The array index a key denotes (canonical decimal <= 4294967294), else
 * TIDE__JSON_NOINDEX. */
uint32_t tide__json_key_index(const char *key, size_t len);

/* Lays out the n members parsed for obj (insertion order, duplicates
 * included) in V8 order: index keys ascending, then named keys; a
 * duplicate keeps its first position and takes its last value.
 * *scratch (*scratch_cap bytes) is a malloc'd temporary the caller frees
 * at the end of the parse.  TIDE_E_NOMEM, TIDE_E_TOOBIG. */
int tide__json_object_finish(tide_json_doc *doc, tide_json *obj, const tide__json_member *in,
                             size_t n, void **scratch, size_t *scratch_cap);

/* Parses a JSON number token that the grammar already accepted. */
double tide__json_parse_number(const char *s, size_t len);

/* Eight bytes at a time ("SWAR"): masks with the high bit set in each
 * byte lane that matches.  Only the lowest flagged lane is exact (a borrow
 * can flag lanes above a true match), which is all the scanners need:
 * they stop at the first special byte.  Little-endian only; elsewhere the
 * scanners go byte by byte. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ &&                        \
    (defined(__GNUC__) || defined(__clang__))
#define TIDE__JSON_SWAR  1
#define TIDE__JSON_ONES  UINT64_C(0x0101010101010101)
#define TIDE__JSON_HIGHS UINT64_C(0x8080808080808080)

static inline uint64_t tide__json_load8(const unsigned char *p)
{
  uint64_t x;
  memcpy(&x, p, 8);
  return x;
}

/* Lanes equal to byte b. */
static inline uint64_t tide__json_eq8(uint64_t x, unsigned b)
{
  x ^= TIDE__JSON_ONES * b;
  return (x - TIDE__JSON_ONES) & ~x & TIDE__JSON_HIGHS;
}

/* Lanes below 0x20 (control characters). */
static inline uint64_t tide__json_ctl8(uint64_t x)
{
  return (x - TIDE__JSON_ONES * 0x20) & ~x & TIDE__JSON_HIGHS;
}

/* Index of the lowest flagged lane of a non-zero mask. */
static inline size_t tide__json_first8(uint64_t m)
{
  return (size_t)__builtin_ctzll(m) >> 3;
}
#else
#define TIDE__JSON_SWAR 0
#endif

/* Sixteen bytes at a time with SSE2 (every x86-64 has it): a mask with
 * bit i set when byte i needs attention in a string literal: '"', '\\',
 * a control character (below 0x20) or a non-ASCII byte (0x80 and up,
 * negative as signed bytes). */
#if defined(__SSE2__)
#include <emmintrin.h>
#define TIDE__JSON_SSE2 1
static inline unsigned tide__json_special16(const unsigned char *p)
{
  __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
  __m128i q = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
  __m128i b = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
  __m128i c = _mm_cmplt_epi8(x, _mm_set1_epi8(0x20));
  return (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_or_si128(q, b), c));
}

/* Bit i set when byte i of p[0..16) is 0x80 or more. */
static inline unsigned tide__json_high16(const unsigned char *p)
{
  return (unsigned)_mm_movemask_epi8(_mm_loadu_si128((const __m128i *)(const void *)p));
}
#else
#define TIDE__JSON_SSE2 0
#endif

/* 1 when s[0..n) has no byte that a string literal escapes or that could
 * start a lone surrogate: no '"', '\\', control character or non-ASCII
 * byte.  Such a string is written as it is, between quotes. */
static inline int tide__json_plain(const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0;

#if TIDE__JSON_SSE2
  for (; i + 16 <= n; i += 16)
    if (tide__json_special16(s + i) != 0)
      return 0;
#endif
  for (; i < n; i++)
    if (s[i] < 0x20 || s[i] == '"' || s[i] == '\\' || s[i] >= 0x80)
      return 0;
  return 1;
}

/* Length of the UTF-8 sequence at p[0..n), 0 when it is not valid.
 * With `wtf8`, surrogate code points (ED A0..BF xx) are accepted too. */
static inline size_t tide__json_utf8_len(const unsigned char *p, size_t n, int wtf8)
{
  unsigned c = p[0];

  if (c < 0x80)
    return 1;
  if (c < 0xC2)
    return 0;
  if (c < 0xE0)
    return n >= 2 && (p[1] & 0xC0) == 0x80 ? 2 : 0;
  if (c < 0xF0) {
    if (n < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
      return 0;
    if (c == 0xE0 && p[1] < 0xA0)
      return 0;
    if (c == 0xED && p[1] >= 0xA0 && !wtf8)
      return 0;
    return 3;
  }
  if (c < 0xF5) {
    if (n < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
      return 0;
    if (c == 0xF0 && p[1] < 0x90)
      return 0;
    if (c == 0xF4 && p[1] >= 0x90)
      return 0;
    return 4;
  }
  return 0;
}

#endif
