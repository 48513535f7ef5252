/* feedmap.c - dense map of 32-byte feed keys (see feedmap_int.h). */
#include "feedmap_int.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tide/common.h"

void tide__feedmap_init(tide__feedmap *m)
{
  memset(m, 0, sizeof *m);
  randombytes_buf(m->hkey, sizeof m->hkey);
}

void tide__feedmap_free(tide__feedmap *m)
{
  free(m->keys);
  free(m->slots);
  free(m->pslots);
  m->keys = NULL;
  m->slots = NULL;
  m->pslots = NULL;
  m->n = m->cap = m->nslots = m->ncollide = 0;
}

void tide__feedmap_clear(tide__feedmap *m)
{
  m->n = 0;
  m->ncollide = 0;
  if (m->slots)
    memset(m->slots, 0, m->nslots * sizeof *m->slots);
  if (m->pslots)
    memset(m->pslots, 0, m->nslots * sizeof *m->pslots);
}

static size_t slot_of(const tide__feedmap *m, const uint8_t key[TIDE_PK_BYTES])
{
  unsigned char h[crypto_shorthash_BYTES];
  uint64_t v;
  crypto_shorthash(h, key, TIDE_PK_BYTES, m->hkey);
  memcpy(&v, h, sizeof v);
  return (size_t)(v & (m->nslots - 1));
}

/* Home slot of a key's prefix in the prefix index. */
static size_t pslot_of(const tide__feedmap *m, const uint8_t *prefix)
{
  unsigned char h[crypto_shorthash_BYTES];
  uint64_t v;
  crypto_shorthash(h, prefix, TIDE__FEEDMAP_PREFIX_BYTES, m->hkey);
  memcpy(&v, h, sizeof v);
  return (size_t)(v & (m->nslots - 1));
}

static void pslot_put(tide__feedmap *m, uint32_t *pslots, size_t i)
{
  size_t s = pslot_of(m, m->keys[i]);
  while (pslots[s])
    s = (s + 1) & (m->nslots - 1);
  pslots[s] = (uint32_t)(i + 1);
}

long tide__feedmap_find(const tide__feedmap *m, const uint8_t key[TIDE_PK_BYTES])
{
  if (m->nslots == 0)
    return -1;
  for (size_t s = slot_of(m, key);; s = (s + 1) & (m->nslots - 1)) {
    uint32_t v = m->slots[s];
    if (v == 0)
      return -1;
    if (memcmp(m->keys[v - 1], key, TIDE_PK_BYTES) == 0)
      return (long)(v - 1);
  }
}

static int rehash(tide__feedmap *m, size_t nslots)
{
  uint32_t *slots = calloc(nslots, sizeof *slots), *pslots = NULL;
  if (!slots)
    return TIDE_E_NOMEM;
  if (m->pslots && (pslots = calloc(nslots, sizeof *pslots)) == NULL) {
    free(slots);
    return TIDE_E_NOMEM;
  }
  free(m->slots);
  m->slots = slots;
  m->nslots = nslots;
  for (size_t i = 0; i < m->n; i++) {
    size_t s = slot_of(m, m->keys[i]);
    while (m->slots[s])
      s = (s + 1) & (nslots - 1);
    m->slots[s] = (uint32_t)(i + 1);
  }
  if (pslots) {
    free(m->pslots);
    m->pslots = pslots;
    for (size_t i = 0; i < m->n; i++)
      pslot_put(m, pslots, i);
  }
  return 0;
}

int tide__feedmap_index_prefixes(tide__feedmap *m)
{
  if (m->pslots)
    return 0;
  if (m->nslots == 0 && rehash(m, 32) != 0)
    return TIDE_E_NOMEM;
  m->pslots = calloc(m->nslots, sizeof *m->pslots);
  if (!m->pslots)
    return TIDE_E_NOMEM;
  m->ncollide = 0;
  for (size_t i = 0; i < m->n; i++) {
    size_t dummy;
    if (tide__feedmap_find_prefix(m, &dummy, m->keys[i], TIDE__FEEDMAP_PREFIX_BYTES) > 0)
      m->ncollide++;
    pslot_put(m, m->pslots, i);
  }
  return 0;
}

int tide__feedmap_find_prefix(const tide__feedmap *m, size_t *idx, const uint8_t *prefix,
                              size_t len)
{
  int found = 0;
  if (!m->pslots || m->nslots == 0 || len < TIDE__FEEDMAP_PREFIX_BYTES || len > TIDE_PK_BYTES)
    return 0;
  for (size_t s = pslot_of(m, prefix);; s = (s + 1) & (m->nslots - 1)) {
    uint32_t v = m->pslots[s];
    if (v == 0)
      return found;
    if (memcmp(m->keys[v - 1], prefix, len) == 0) {
      if (++found > 1)
        return 2;
      *idx = v - 1;
    }
  }
}

int tide__feedmap_add(tide__feedmap *m, size_t *idx, int *added, const uint8_t key[TIDE_PK_BYTES])
{
  long f = tide__feedmap_find(m, key);
  if (added)
    *added = 0;
  if (f >= 0) {
    *idx = (size_t)f;
    return 0;
  }
  if (m->n >= UINT32_MAX - 1)
    return TIDE_E_NOMEM;
  if (m->n == m->cap) {
    size_t cap = m->cap ? m->cap * 2 : 16;
    void *k = realloc(m->keys, cap * sizeof *m->keys);
    if (!k)
      return TIDE_E_NOMEM;
    m->keys = k;
    m->cap = cap;
  }
  if ((m->n + 1) * 2 > m->nslots) {
    int rc = rehash(m, m->nslots ? m->nslots * 2 : 32);
    if (rc)
      return rc;
  }
  if (m->pslots) {
    size_t other;
    if (tide__feedmap_find_prefix(m, &other, key, TIDE__FEEDMAP_PREFIX_BYTES) > 0)
      m->ncollide++;
  }
  memcpy(m->keys[m->n], key, TIDE_PK_BYTES);
  if (m->pslots)
    pslot_put(m, m->pslots, m->n);
  size_t s = slot_of(m, key);
  while (m->slots[s])
    s = (s + 1) & (m->nslots - 1);
  m->slots[s] = (uint32_t)(m->n + 1);
  *idx = m->n++;
  if (added)
    *added = 1;
  return 0;
}

/* The slot holding index i (which must be present) in slots (the key
 * table or the prefix index, whose home slots home() gives). */
static size_t slot_holding(const tide__feedmap *m, const uint32_t *slots,
                           size_t (*home)(const tide__feedmap *, const uint8_t *), size_t i)
{
  size_t s = home(m, m->keys[i]);
  while (slots[s] != i + 1)
    s = (s + 1) & (m->nslots - 1);
  return s;
}

static size_t key_home(const tide__feedmap *m, const uint8_t *key)
{
  return slot_of(m, key);
}

/* Backward-shift deletion of index i from slots. */
static void slots_delete(tide__feedmap *m, uint32_t *slots,
                         size_t (*home)(const tide__feedmap *, const uint8_t *), size_t i)
{
  size_t mask = m->nslots - 1;
  size_t hole = slot_holding(m, slots, home, i);
  slots[hole] = 0;
  for (size_t s = (hole + 1) & mask; slots[s]; s = (s + 1) & mask) {
    size_t h = home(m, m->keys[slots[s] - 1]);
    /* Move the entry back when its home is not in (hole, s]. */
    int in_range = hole <= s ? (h > hole && h <= s) : (h > hole || h <= s);
    if (!in_range) {
      slots[hole] = slots[s];
      slots[s] = 0;
      hole = s;
    }
  }
}

int tide__feedmap_remove(tide__feedmap *m, size_t *idx, size_t *moved,
                         const uint8_t key[TIDE_PK_BYTES])
{
  long f = tide__feedmap_find(m, key);
  if (f < 0)
    return 0;
  size_t i = (size_t)f, last = m->n - 1;
  slots_delete(m, m->slots, key_home, i);
  if (m->pslots) {
    size_t other;
    slots_delete(m, m->pslots, pslot_of, i);
    if (tide__feedmap_find_prefix(m, &other, m->keys[i], TIDE__FEEDMAP_PREFIX_BYTES) > 0)
      m->ncollide--;
  }
  if (i != last) {
    size_t ls = slot_holding(m, m->slots, key_home, last);
    if (m->pslots) {
      size_t ps = slot_holding(m, m->pslots, pslot_of, last);
      m->pslots[ps] = (uint32_t)(i + 1);
    }
    memcpy(m->keys[i], m->keys[last], TIDE_PK_BYTES);
    m->slots[ls] = (uint32_t)(i + 1);
  }
  m->n--;
  *idx = i;
  *moved = last;
  return 1;
}
