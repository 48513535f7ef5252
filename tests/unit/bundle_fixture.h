/* bundle_fixture.h - homes (a key pair and a store) with feeds of signed
 * messages, for the bundle and USB tests.  Deterministic: keys from fixed
 * seeds, content from a counter. */
#ifndef TIDE_BUNDLE_FIXTURE_H
#define TIDE_BUNDLE_FIXTURE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_fixture.h"
#include "tide/store.h"

typedef struct bx_home {
  tide_keypair kp;
  tide_store *store;
  tide_msg *last; /* latest own message (owned) */
  int n;          /* own messages published */
} bx_home;

/* Opens a store at dir/name.sqlite (":memory:" when dir is NULL) for the
 * key of seed. */
static inline void bx_open(bx_home *h, int seed, const char *dir, const char *name)
{
  char path[4096];
  tide_error e;
  int rc;

  memset(h, 0, sizeof *h);
  fx_keys(&h->kp, seed);
  if (dir != NULL)
    snprintf(path, sizeof path, "%s/%s.sqlite", dir, name);
  else
    snprintf(path, sizeof path, "%s", TIDE_STORE_MEMORY);
  rc = tide_store_open(&h->store, path, 0, &e);
  if (rc != 0)
    fx_die("tide_store_open", rc, &e);
}

static inline void bx_close(bx_home *h)
{
  tide_store_close(h->store);
  tide_msg_free(h->last);
  memset(h, 0, sizeof *h);
}

/* Publishes k posts of varied length on h's own feed. */
static inline void bx_publish(bx_home *h, int k)
{
  for (int i = 0; i < k; i++) {
    char text[600];
    tide_msg *m;
    tide_error e;
    int rc, len = 20 + (h->n * 37) % 300;
    uint32_t x = (uint32_t)h->n * 2654435761u + h->kp.pk[0];
    snprintf(text, sizeof text, "post %d of %02x: ", h->n + 1, h->kp.pk[0]);
    for (int j = (int)strlen(text); j < len; j++) {
      x = x * 1103515245u + 12345u;
      text[j] = "abcdefghij klmnopqrstuvwxyz .,"[(x >> 16) % 30];
    }
    text[len] = '\0';
    m = fx_post(&h->kp, h->last, text);
    rc = tide_store_append(h->store, m, 1, &e);
    if (rc != 0)
      fx_die("tide_store_append", rc, &e);
    tide_msg_free(h->last);
    h->last = m;
    h->n++;
  }
}

/* The latest sequence h's store holds of feed pk (0 when none). */
static inline int64_t bx_latest(const bx_home *h, const uint8_t pk[TIDE_PK_BYTES])
{
  tide_feed_state st;
  if (tide_store_latest(h->store, &st, NULL, pk, NULL) != 0)
    return 0;
  return st.sequence;
}

static inline uint64_t bx_count(const bx_home *h)
{
  tide_store_stats st;
  if (tide_store_get_stats(h->store, &st, NULL) != 0)
    return (uint64_t)-1;
  return st.messages;
}

#endif
