/* feedmap_int.h - a map from 32-byte feed keys to dense indices 0..n-1.
 *
 * Shared by the clock, the EBT engine and the follow graph: keys are kept
 * once, in insertion order, in a dense array; an open-addressing table of
 * indices (linear probing, backward-shift deletion) finds them.  Slots
 * are hashed with SipHash (crypto_shorthash) under a random per-map key,
 * so a peer sending crafted feed keys cannot force collisions; the dense
 * order, which callers iterate, does not depend on that key, so runs stay
 * deterministic. */
#ifndef TIDE_FEEDMAP_INT_H
#define TIDE_FEEDMAP_INT_H

#include <stddef.h>
#include <stdint.h>

#include "tide/keys.h"

typedef struct tide__feedmap {
  uint8_t (*keys)[TIDE_PK_BYTES]; /* dense, n entries */
  size_t n, cap;
  uint32_t *slots; /* index + 1, 0 = empty */
  size_t nslots;   /* power of two (or 0) */
  unsigned char hkey[16];
  /* Optional prefix index (tide__feedmap_index_prefixes): index + 1 by
   * the first TIDE__FEEDMAP_PREFIX_BYTES of the key, same size as slots;
   * NULL when not enabled. */
  uint32_t *pslots;
  size_t ncollide; /* keys whose prefix another key has too: n - distinct prefixes */
} tide__feedmap;

/* Bytes of a key that the prefix index hashes: the short key of a CLOCK
 * frame (docs/frames.md). */
#define TIDE__FEEDMAP_PREFIX_BYTES 8

/* Initialises an empty map (no allocation). */
void tide__feedmap_init(tide__feedmap *m);

/* Releases the memory; the map is empty afterwards. */
void tide__feedmap_free(tide__feedmap *m);

/* Empties the map, keeping memory. */
void tide__feedmap_clear(tide__feedmap *m);

/* The index of key, or -1. */
long tide__feedmap_find(const tide__feedmap *m, const uint8_t key[TIDE_PK_BYTES]);

/* Adds key when absent; *idx gets its index, *added (may be NULL) 1 when
 * new.  Indices of other keys do not change.  TIDE_E_NOMEM. */
int tide__feedmap_add(tide__feedmap *m, size_t *idx, int *added, const uint8_t key[TIDE_PK_BYTES]);

/* Enables the prefix index (built over the keys already present), so
 * that tide__feedmap_find_prefix works; costs one more slot array.
 * TIDE_E_NOMEM. */
int tide__feedmap_index_prefixes(tide__feedmap *m);

/* Keys starting with prefix[0..len), len TIDE__FEEDMAP_PREFIX_BYTES..
 * TIDE_PK_BYTES: returns how many (0, 1, or 2 meaning "two or more") and,
 * when exactly one, sets *idx.  Needs the prefix index (else 0). */
int tide__feedmap_find_prefix(const tide__feedmap *m, size_t *idx, const uint8_t *prefix,
                              size_t len);

/* Removes key: returns 1 and sets *idx to its old index and *moved to the
 * index of the entry that was moved into *idx (the former last one; equal
 * to *idx when the removed entry was last), or returns 0 when absent.
 * Callers keeping parallel arrays move element *moved to *idx. */
int tide__feedmap_remove(tide__feedmap *m, size_t *idx, size_t *moved,
                         const uint8_t key[TIDE_PK_BYTES]);

#endif
