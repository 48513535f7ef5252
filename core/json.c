/* json.c - JSON documents: the arena, reading and building values,
 * objects in V8 enumeration order, deep copies.
 *
 * Parsing lives in json_parse.c, writing and the JavaScript string
 * measures in json_write.c, number conversion in json_num.c. */
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "json_int.h"
#include "tide/json.h"

/* --- Arena -------------------------------------------------------------- */

#define ALIGN          TIDE__JSON_ALIGN
#define CHUNK_HEAD     TIDE__JSON_CHUNK_HEAD
#define CHUNK_MAX_GROW ((size_t)1 << 24)

static size_t align_up(size_t n)
{
  return (n + (ALIGN - 1)) & ~(size_t)(ALIGN - 1);
}

static char *chunk_data(tide__json_chunk *c)
{
  return (char *)c + CHUNK_HEAD;
}

static tide__json_chunk *chunk_new(size_t size)
{
  tide__json_chunk *c;

  if (size > SIZE_MAX - CHUNK_HEAD)
    return NULL;
  c = malloc(CHUNK_HEAD + size);
  if (c == NULL)
    return NULL;
  c->next = NULL;
  c->size = size;
  c->used = 0;
  return c;
}

tide_json_doc *tide__json_doc_create(size_t hint)
{
  tide__json_chunk *c;
  tide_json_doc *doc;
  size_t head = align_up(sizeof *doc);

  if (hint < 256)
    hint = 256;
  if (hint > SIZE_MAX / 2)
    return NULL;
  c = chunk_new(head + align_up(hint));
  if (c == NULL)
    return NULL;
  doc = (tide_json_doc *)chunk_data(c);
  c->used = head;
  memset(doc, 0, sizeof *doc);
  doc->chunk = c;
  return doc;
}

void *tide__json_alloc_slow(tide_json_doc *doc, size_t n)
{
  tide__json_chunk *c = doc->chunk, *big;
  size_t size;
  char *p;

  if (n > SIZE_MAX - ALIGN)
    return NULL;
  n = align_up(n == 0 ? 1 : n);
  if (c->size - c->used >= n) {
    p = chunk_data(c) + c->used;
    c->used += n;
    return p;
  }
  if (n > c->size / 2) {
    /* A big block gets a chunk of its own, linked behind the current one
     * so the free space of the current chunk stays in use. */
    big = chunk_new(n);
    if (big == NULL)
      return NULL;
    big->used = n;
    big->next = c->next;
    c->next = big;
    return chunk_data(big);
  }
  size = c->size < CHUNK_MAX_GROW ? c->size * 2 : c->size;
  c = chunk_new(size);
  if (c == NULL)
    return NULL;
  c->next = doc->chunk;
  doc->chunk = c;
  c->used = n;
  return chunk_data(c);
}

void *tide__json_realloc(tide_json_doc *doc, void *p, size_t old, size_t n)
{
  tide__json_chunk *c = doc->chunk;
  void *q;

  if (p != NULL && n > old) {
    size_t a_old = align_up(old == 0 ? 1 : old), a_new;
    if (n > SIZE_MAX - ALIGN)
      return NULL;
    a_new = align_up(n);
    if ((char *)p + a_old == chunk_data(c) + c->used && c->size - c->used >= a_new - a_old) {
      c->used += a_new - a_old;
      return p;
    }
  }
  if (p != NULL && n <= old)
    return p;
  q = tide__json_alloc(doc, n);
  if (q != NULL && p != NULL && old > 0)
    memcpy(q, p, old);
  return q;
}

tide_json_doc *tide_json_doc_new(void)
{
  return tide__json_doc_create(1024);
}

void tide_json_doc_free(tide_json_doc *doc)
{
  tide__json_chunk *c, *next;

  if (doc == NULL)
    return;
  /* The document itself lives in the oldest chunk: read the chain head
   * before freeing anything. */
  for (c = doc->chunk; c != NULL; c = next) {
    next = c->next;
    free(c);
  }
}

tide_json *tide_json_root(const tide_json_doc *doc)
{
  return doc == NULL ? NULL : doc->root;
}

/* --- Keys and lookup ---------------------------------------------------- */

uint32_t tide__json_key_index(const char *key, size_t len)
{
  uint64_t v = 0;

  if (len == 0 || len > 10)
    return TIDE__JSON_NOINDEX;
  if (key[0] == '0')
    return len == 1 ? 0 : TIDE__JSON_NOINDEX;
  for (size_t i = 0; i < len; i++) {
    unsigned d = (unsigned char)key[i] - (unsigned)'0';
    if (d > 9)
      return TIDE__JSON_NOINDEX;
    v = v * 10 + d;
  }
  /* 4294967295 (2^32 - 1) is not an array index in ECMAScript. */
  return v >= TIDE__JSON_NOINDEX ? TIDE__JSON_NOINDEX : (uint32_t)v;
}

static int key_eq(const tide__json_member *m, const char *key, size_t len)
{
  /* Keys of the same length mostly differ in their first byte already. */
  return m->keylen == len && (len == 0 || (m->key[0] == key[0] && memcmp(m->key, key, len) == 0));
}

/* Position of index key `idx` among m[0..n) (sorted), or where it would
 * go; *found says which. */
static size_t index_search(const tide__json_member *m, size_t n, uint32_t idx, int *found)
{
  size_t lo = 0, hi = n;

  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (m[mid].index < idx)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = lo < n && m[lo].index == idx;
  return lo;
}

static uint64_t key_hash(const uint8_t hk[16], const char *key, size_t len)
{
  unsigned char out[crypto_shorthash_BYTES];
  uint64_t h = 0;

  (void)crypto_shorthash(out, (const unsigned char *)key, len, hk);
  for (int i = 0; i < 8; i++)
    h = (h << 8) | out[i];
  return h;
}

static const uint8_t *doc_hash_key(tide_json_doc *doc)
{
  if (!doc->have_hash_key) {
    /* A random SipHash key per document keeps crafted keys from turning
     * lookups quadratic. */
    randombytes_buf(doc->hash_key, sizeof doc->hash_key);
    doc->have_hash_key = 1;
  }
  return doc->hash_key;
}

/* The hash key travels with the table so that functions without the
 * document (tide_json_object_remove) can rebuild it. */
typedef struct hash_table {
  tide__json_hash h;
  const uint8_t *hk;
} hash_table;

static const tide__json_member *named_part(const tide_json *obj)
{
  return obj->u.members + obj->nindex;
}

/* Finds key among the named members through the table: named position or
 * -1. */
static ptrdiff_t hash_find(const tide_json *obj, const char *key, size_t len)
{
  const hash_table *t = (const hash_table *)obj->hash;
  const tide__json_member *named = named_part(obj);
  size_t i = (size_t)key_hash(t->hk, key, len) & t->h.mask;

  for (;;) {
    uint32_t s = t->h.slots[i];
    if (s == 0)
      return -1;
    if (key_eq(&named[s - 1], key, len))
      return (ptrdiff_t)(s - 1);
    i = (i + 1) & t->h.mask;
  }
}

/* Adds named position pos (not present yet); the table has room. */
static void hash_put(tide__json_hash *h, const uint8_t *hk, const tide__json_member *named,
                     size_t pos)
{
  size_t i = (size_t)key_hash(hk, named[pos].key, named[pos].keylen) & h->mask;

  while (h->slots[i] != 0)
    i = (i + 1) & h->mask;
  h->slots[i] = (uint32_t)(pos + 1);
  h->count++;
}

static void hash_fill(tide__json_hash *h, const uint8_t *hk, const tide__json_member *named,
                      size_t n)
{
  memset(h->slots, 0, (h->mask + 1) * sizeof *h->slots);
  h->count = 0;
  for (size_t i = 0; i < n; i++)
    hash_put(h, hk, named, i);
}

/* (Re)builds obj's table for its named members with room for `room`
 * named members in all (load factor at most one half). */
static int hash_build(tide_json_doc *doc, tide_json *obj, size_t room)
{
  size_t n = obj->len - obj->nindex, slots = 64;
  hash_table *t = (hash_table *)obj->hash;

  if (room < n)
    room = n;
  if (room > UINT32_MAX - 1)
    return TIDE_E_TOOBIG;
  while (slots < room * 2)
    slots *= 2;
  if (t == NULL || t->h.mask + 1 < slots) {
    t = tide__json_alloc(doc, sizeof *t);
    if (t == NULL)
      return TIDE_E_NOMEM;
    t->h.slots = tide__json_alloc(doc, slots * sizeof *t->h.slots);
    if (t->h.slots == NULL)
      return TIDE_E_NOMEM;
    t->h.mask = slots - 1;
    t->hk = doc_hash_key(doc);
  }
  hash_fill(&t->h, t->hk, named_part(obj), n);
  obj->hash = &t->h;
  return 0;
}

/* Position of key among all members of obj, or -1. */
static ptrdiff_t member_find(const tide_json *obj, const char *key, size_t len)
{
  uint32_t idx = tide__json_key_index(key, len);
  size_t n;
  int found;

  if (idx != TIDE__JSON_NOINDEX) {
    size_t pos = index_search(obj->u.members, obj->nindex, idx, &found);
    return found ? (ptrdiff_t)pos : -1;
  }
  if (obj->hash != NULL) {
    ptrdiff_t pos = hash_find(obj, key, len);
    return pos < 0 ? -1 : pos + (ptrdiff_t)obj->nindex;
  }
  n = obj->len;
  for (size_t i = obj->nindex; i < n; i++)
    if (key_eq(&obj->u.members[i], key, len))
      return (ptrdiff_t)i;
  return -1;
}

/* --- Object layout for the parser ---------------------------------------- */

static void merge_sort_index(tide__json_member *m, tide__json_member *tmp, size_t n)
{
  size_t half, i, j, k;

  if (n < 2)
    return;
  if (n <= 8) {
    for (i = 1; i < n; i++) {
      tide__json_member x = m[i];
      for (j = i; j > 0 && m[j - 1].index > x.index; j--)
        m[j] = m[j - 1];
      m[j] = x;
    }
    return;
  }
  half = n / 2;
  merge_sort_index(m, tmp, half);
  merge_sort_index(m + half, tmp, n - half);
  if (m[half - 1].index <= m[half].index)
    return;
  memcpy(tmp, m, half * sizeof *m);
  i = 0;
  j = half;
  k = 0;
  while (i < half && j < n)
    m[k++] = tmp[i].index <= m[j].index ? tmp[i++] : m[j++];
  while (i < half)
    m[k++] = tmp[i++];
}

int tide__json_object_finish(tide_json_doc *doc, tide_json *obj, const tide__json_member *in,
                             size_t n, void **scratch, size_t *scratch_cap)
{
  tide__json_member *out;
  size_t ni = 0, nn = 0, k;
  int rc;

  obj->len = 0;
  obj->cap = 0;
  obj->nindex = 0;
  obj->u.members = NULL;
  if (n == 0)
    return 0;
  out = tide__json_alloc(doc, n * sizeof *out);
  if (out == NULL)
    return TIDE_E_NOMEM;
  obj->u.members = out;
  obj->cap = n;

  /* Index keys, stably sorted, duplicates collapsed to the last value. */
  for (size_t i = 0; i < n; i++)
    if (in[i].index != TIDE__JSON_NOINDEX)
      out[ni++] = in[i];
  if (ni > 1) {
    int sorted = 1;
    for (size_t i = 1; i < ni && sorted; i++)
      sorted = out[i - 1].index < out[i].index;
    if (!sorted) {
      if (*scratch_cap < ni * sizeof *out) {
        void *p = realloc(*scratch, ni * sizeof *out);
        if (p == NULL)
          return TIDE_E_NOMEM;
        *scratch = p;
        *scratch_cap = ni * sizeof *out;
      }
      merge_sort_index(out, *scratch, ni);
      k = 0;
      for (size_t i = 0; i < ni; i++) {
        if (k > 0 && out[k - 1].index == out[i].index) {
          out[k - 1].value = out[i].value;
          continue;
        }
        out[k++] = out[i];
      }
      ni = k;
    }
  }
  if (ni > UINT32_MAX)
    return TIDE_E_TOOBIG;
  obj->nindex = (uint32_t)ni;

  /* Named keys in insertion order; duplicates found linearly in small
   * objects and through the lookup table in large ones. */
  for (size_t i = 0; i < n; i++)
    nn += in[i].index == TIDE__JSON_NOINDEX;
  if (nn > TIDE__JSON_HASH_MIN) {
    obj->len = ni;
    rc = hash_build(doc, obj, nn);
    if (rc != 0)
      return rc;
  }
  k = ni;
  for (size_t i = 0; i < n; i++) {
    ptrdiff_t pos = -1;
    if (in[i].index != TIDE__JSON_NOINDEX)
      continue;
    if (obj->hash != NULL) {
      obj->len = k;
      pos = hash_find(obj, in[i].key, in[i].keylen);
      if (pos >= 0)
        pos += (ptrdiff_t)ni;
    } else {
      for (size_t j = ni; j < k; j++)
        if (key_eq(&out[j], in[i].key, in[i].keylen)) {
          pos = (ptrdiff_t)j;
          break;
        }
    }
    if (pos >= 0) {
      out[pos].value = in[i].value;
      continue;
    }
    out[k] = in[i];
    if (obj->hash != NULL)
      hash_put(obj->hash, ((hash_table *)obj->hash)->hk, out + ni, k - ni);
    k++;
  }
  obj->len = k;
  return 0;
}

/* --- Reading ------------------------------------------------------------ */

tide_json_type tide_json_typeof(const tide_json *v)
{
  return v == NULL ? TIDE_JSON_NULL : (tide_json_type)v->type;
}

double tide_json_number(const tide_json *v)
{
  return v != NULL && v->type == TIDE_JSON_NUMBER ? v->u.num : 0.0;
}

const char *tide_json_string(const tide_json *v, size_t *len)
{
  if (v == NULL || v->type != TIDE_JSON_STRING) {
    if (len != NULL)
      *len = 0;
    return NULL;
  }
  if (len != NULL)
    *len = v->len;
  return v->u.str;
}

size_t tide_json_length(const tide_json *v)
{
  if (v == NULL || (v->type != TIDE_JSON_ARRAY && v->type != TIDE_JSON_OBJECT))
    return 0;
  return v->len;
}

tide_json *tide_json_array_get(const tide_json *v, size_t i)
{
  if (v == NULL || v->type != TIDE_JSON_ARRAY || i >= v->len)
    return NULL;
  return v->u.items[i];
}

const char *tide_json_object_key(const tide_json *v, size_t i, size_t *len)
{
  if (v == NULL || v->type != TIDE_JSON_OBJECT || i >= v->len) {
    if (len != NULL)
      *len = 0;
    return NULL;
  }
  if (len != NULL)
    *len = v->u.members[i].keylen;
  return v->u.members[i].key;
}

tide_json *tide_json_object_value(const tide_json *v, size_t i)
{
  if (v == NULL || v->type != TIDE_JSON_OBJECT || i >= v->len)
    return NULL;
  return v->u.members[i].value;
}

tide_json *tide_json_object_get(const tide_json *v, const char *key, size_t keylen)
{
  ptrdiff_t pos;

  if (v == NULL || v->type != TIDE_JSON_OBJECT || (key == NULL && keylen > 0))
    return NULL;
  pos = member_find(v, key, keylen);
  return pos < 0 ? NULL : v->u.members[pos].value;
}

tide_json *tide_json_object_getz(const tide_json *v, const char *key)
{
  return key == NULL ? NULL : tide_json_object_get(v, key, strlen(key));
}

/* --- Building ----------------------------------------------------------- */

tide_json *tide_json_new_null(tide_json_doc *doc)
{
  return tide__json_node(doc, TIDE_JSON_NULL);
}

tide_json *tide_json_new_bool(tide_json_doc *doc, int value)
{
  return tide__json_node(doc, value ? TIDE_JSON_TRUE : TIDE_JSON_FALSE);
}

tide_json *tide_json_new_number(tide_json_doc *doc, double value)
{
  tide_json *v = tide__json_node(doc, TIDE_JSON_NUMBER);

  if (v != NULL)
    v->u.num = value;
  return v;
}

tide_json *tide_json_new_string(tide_json_doc *doc, const char *s, size_t len)
{
  tide_json *v;

  if ((s == NULL && len > 0) || !tide_json_valid_wtf8(s, len))
    return NULL;
  v = tide__json_node(doc, TIDE_JSON_STRING);
  if (v == NULL)
    return NULL;
  v->u.str = tide__json_strdup(doc, s, len);
  if (v->u.str == NULL)
    return NULL;
  v->len = len;
  return v;
}

tide_json *tide_json_new_array(tide_json_doc *doc)
{
  return tide__json_node(doc, TIDE_JSON_ARRAY);
}

tide_json *tide_json_new_object(tide_json_doc *doc)
{
  return tide__json_node(doc, TIDE_JSON_OBJECT);
}

/* Makes room for one more slot of `size` bytes in v's item/member array. */
static int grow(tide_json_doc *doc, tide_json *v, size_t size)
{
  size_t cap;
  void *p;

  if (v->len < v->cap)
    return 0;
  cap = v->cap < 4 ? 4 : v->cap * 2;
  if (cap > SIZE_MAX / size)
    return TIDE_E_NOMEM;
  p = tide__json_realloc(doc, v->u.items, v->cap * size, cap * size);
  if (p == NULL)
    return TIDE_E_NOMEM;
  v->u.items = p;
  v->cap = cap;
  return 0;
}

int tide_json_array_push(tide_json_doc *doc, tide_json *arr, tide_json *item)
{
  int rc;

  if (doc == NULL || arr == NULL || item == NULL || arr->type != TIDE_JSON_ARRAY)
    return TIDE_E_INVAL;
  rc = grow(doc, arr, sizeof *arr->u.items);
  if (rc != 0)
    return rc;
  arr->u.items[arr->len++] = item;
  return 0;
}

int tide_json_object_set(tide_json_doc *doc, tide_json *obj, const char *key, size_t keylen,
                         tide_json *value)
{
  tide__json_member m;
  ptrdiff_t pos;
  size_t at;
  int found, rc;

  if (doc == NULL || obj == NULL || value == NULL || obj->type != TIDE_JSON_OBJECT ||
      (key == NULL && keylen > 0) || !tide_json_valid_wtf8(key, keylen))
    return TIDE_E_INVAL;
  m.index = tide__json_key_index(key, keylen);
  if (m.index != TIDE__JSON_NOINDEX) {
    at = index_search(obj->u.members, obj->nindex, m.index, &found);
    if (found) {
      obj->u.members[at].value = value;
      return 0;
    }
  } else {
    pos = member_find(obj, key, keylen);
    if (pos >= 0) {
      obj->u.members[pos].value = value;
      return 0;
    }
    at = obj->len;
  }
  if (obj->len >= UINT32_MAX - 1)
    return TIDE_E_TOOBIG;
  m.key = tide__json_strdup(doc, key, keylen);
  if (m.key == NULL)
    return TIDE_E_NOMEM;
  m.keylen = keylen;
  m.value = value;
  rc = grow(doc, obj, sizeof m);
  if (rc != 0)
    return rc;
  /* Inserting an index key shifts the named part as a whole: the table
   * holds named-relative positions, so it stays valid. */
  memmove(obj->u.members + at + 1, obj->u.members + at, (obj->len - at) * sizeof m);
  obj->u.members[at] = m;
  obj->len++;
  if (m.index != TIDE__JSON_NOINDEX) {
    obj->nindex++;
    return 0;
  }
  if (obj->hash != NULL && (obj->hash->count + 1) * 2 <= obj->hash->mask + 1) {
    hash_put(obj->hash, ((hash_table *)obj->hash)->hk, named_part(obj), at - obj->nindex);
    return 0;
  }
  if (obj->hash != NULL || obj->len - obj->nindex > TIDE__JSON_HASH_MIN) {
    rc = hash_build(doc, obj, (obj->len - obj->nindex) * 2);
    if (rc != 0) {
      /* Keep the member; lookups fall back to a linear scan. */
      obj->hash = NULL;
      return rc == TIDE_E_TOOBIG ? 0 : rc;
    }
  }
  return 0;
}

void tide_json_object_remove(tide_json *obj, const char *key, size_t keylen)
{
  ptrdiff_t pos;

  if (obj == NULL || obj->type != TIDE_JSON_OBJECT || (key == NULL && keylen > 0))
    return;
  pos = member_find(obj, key, keylen);
  if (pos < 0)
    return;
  memmove(obj->u.members + pos, obj->u.members + pos + 1,
          (obj->len - (size_t)pos - 1) * sizeof *obj->u.members);
  obj->len--;
  if ((size_t)pos < obj->nindex) {
    obj->nindex--;
    return;
  }
  if (obj->hash != NULL) {
    /* Named positions after pos moved: refill the table in place. */
    hash_table *t = (hash_table *)obj->hash;
    hash_fill(&t->h, t->hk, named_part(obj), obj->len - obj->nindex);
  }
}

/* --- Deep copy ---------------------------------------------------------- */

/* Copies a scalar or makes an empty container shell of v's size. */
static tide_json *clone_node(tide_json_doc *doc, const tide_json *v)
{
  tide_json *c = tide__json_node(doc, (tide_json_type)v->type);

  if (c == NULL)
    return NULL;
  switch (v->type) {
  case TIDE_JSON_NUMBER: c->u.num = v->u.num; break;
  case TIDE_JSON_STRING:
    c->u.str = tide__json_strdup(doc, v->u.str, v->len);
    if (c->u.str == NULL)
      return NULL;
    c->len = v->len;
    break;
  case TIDE_JSON_ARRAY:
    if (v->len > 0) {
      c->u.items = tide__json_alloc(doc, v->len * sizeof *c->u.items);
      if (c->u.items == NULL)
        return NULL;
      c->cap = v->len;
    }
    break;
  case TIDE_JSON_OBJECT:
    if (v->len > 0) {
      c->u.members = tide__json_alloc(doc, v->len * sizeof *c->u.members);
      if (c->u.members == NULL)
        return NULL;
      c->cap = v->len;
    }
    c->nindex = v->nindex;
    break;
  default: break;
  }
  return c;
}

typedef struct clone_frame {
  const tide_json *src;
  tide_json *dst;
} clone_frame;

tide_json *tide_json_clone(tide_json_doc *doc, const tide_json *v)
{
  clone_frame local[32], *stack = local, *top;
  size_t depth = 0, cap = 32;
  tide_json *root = NULL, *c;

  if (doc == NULL || v == NULL)
    return NULL;
  root = clone_node(doc, v);
  if (root == NULL || (v->type != TIDE_JSON_ARRAY && v->type != TIDE_JSON_OBJECT))
    return root;
  stack[0].src = v;
  stack[0].dst = root;
  depth = 1;
  /* Iterative walk: dst->len counts the children copied so far. */
  while (depth > 0) {
    const tide_json *child;
    top = &stack[depth - 1];
    if (top->dst->len == top->src->len) {
      if (top->dst->type == TIDE_JSON_OBJECT &&
          top->dst->len - top->dst->nindex > TIDE__JSON_HASH_MIN) {
        if (hash_build(doc, top->dst, 0) == TIDE_E_NOMEM) {
          root = NULL;
          goto out;
        }
      }
      depth--;
      continue;
    }
    if (top->src->type == TIDE_JSON_ARRAY) {
      child = top->src->u.items[top->dst->len];
    } else {
      const tide__json_member *sm = &top->src->u.members[top->dst->len];
      tide__json_member *dm = &top->dst->u.members[top->dst->len];
      dm->key = tide__json_strdup(doc, sm->key, sm->keylen);
      if (dm->key == NULL) {
        root = NULL;
        goto out;
      }
      dm->keylen = sm->keylen;
      dm->index = sm->index;
      child = sm->value;
    }
    c = clone_node(doc, child);
    if (c == NULL) {
      root = NULL;
      goto out;
    }
    if (top->src->type == TIDE_JSON_ARRAY)
      top->dst->u.items[top->dst->len++] = c;
    else
      top->dst->u.members[top->dst->len++].value = c;
    if (c->type != TIDE_JSON_ARRAY && c->type != TIDE_JSON_OBJECT)
      continue;
    if (depth >= TIDE__JSON_WALK_MAX_DEPTH) {
      root = NULL; /* a cycle made with the builder */
      goto out;
    }
    if (depth == cap) {
      clone_frame *p;
      cap *= 2;
      p = stack == local ? malloc(cap * sizeof *p) : realloc(stack, cap * sizeof *p);
      if (p == NULL) {
        root = NULL;
        goto out;
      }
      if (stack == local)
        memcpy(p, local, sizeof local);
      stack = p;
    }
    stack[depth].src = child;
    stack[depth].dst = c;
    depth++;
  }
out:
  if (stack != local)
    free(stack);
  return root;
}
