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
  m->keys = NULL;
  m->slots = NULL;
  m->n = m->cap = m->nslots = 0;
}

void tide__feedmap_clear(tide__feedmap *m)
{
  m->n = 0;
  if (m->slots)
    memset(m->slots, 0, m->nslots * sizeof *m->slots);
}

static size_t slot_of(const tide__feedmap *m, const uint8_t key[TIDE_PK_BYTES])
{
  unsigned char h[crypto_shorthash_BYTES];
  uint64_t v;
  crypto_shorthash(h, key, TIDE_PK_BYTES, m->hkey);
  memcpy(&v, h, sizeof v);
  return (size_t)(v & (m->nslots - 1));
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
  uint32_t *slots = calloc(nslots, sizeof *slots);
  if (!slots)
    return TIDE_E_NOMEM;
  free(m->slots);
  m->slots = slots;
  m->nslots = nslots;
  for (size_t i = 0; i < m->n; i++) {
    size_t s = slot_of(m, m->keys[i]);
    while (m->slots[s])
      s = (s + 1) & (nslots - 1);
    m->slots[s] = (uint32_t)(i + 1);
  }
  return 0;
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
  memcpy(m->keys[m->n], key, TIDE_PK_BYTES);
  size_t s = slot_of(m, key);
  while (m->slots[s])
    s = (s + 1) & (m->nslots - 1);
  m->slots[s] = (uint32_t)(m->n + 1);
  *idx = m->n++;
  if (added)
    *added = 1;
  return 0;
}

/* The slot holding index i (which must be present). */
static size_t slot_holding(const tide__feedmap *m, size_t i)
{
  size_t s = slot_of(m, m->keys[i]);
  while (m->slots[s] != i + 1)
    s = (s + 1) & (m->nslots - 1);
  return s;
}

int tide__feedmap_remove(tide__feedmap *m, size_t *idx, size_t *moved,
                         const uint8_t key[TIDE_PK_BYTES])
{
  long f = tide__feedmap_find(m, key);
  if (f < 0)
    return 0;
  size_t i = (size_t)f, last = m->n - 1, mask = m->nslots - 1;
  /* Backward-shift deletion of i's slot. */
  size_t hole = slot_holding(m, i);
  m->slots[hole] = 0;
  for (size_t s = (hole + 1) & mask; m->slots[s]; s = (s + 1) & mask) {
    size_t home = slot_of(m, m->keys[m->slots[s] - 1]);
    /* Move the entry back when its home is not in (hole, s]. */
    int in_range = hole <= s ? (home > hole && home <= s) : (home > hole || home <= s);
    if (!in_range) {
      m->slots[hole] = m->slots[s];
      m->slots[s] = 0;
      hole = s;
    }
  }
  if (i != last) {
    size_t ls = slot_holding(m, last);
    memcpy(m->keys[i], m->keys[last], TIDE_PK_BYTES);
    m->slots[ls] = (uint32_t)(i + 1);
  }
  m->n--;
  *idx = i;
  *moved = last;
  return 1;
}
