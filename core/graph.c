/* graph.c - follow graph and replication set (see tide/graph.h).
 *
 * Nodes are feeds numbered by a feedmap; each node keeps its contact
 * edges (the latest following/blocking state per contact).  The set is a
 * breadth-first walk from self over "following" edges, up to `hops`,
 * never entering a feed self blocks.  It is recomputed lazily after a
 * change, and tide_graph_changes reports the difference to what it
 * reported before. */
#include "tide/graph.h"

#include <stdlib.h>
#include <string.h>

#include "feedmap_int.h"
#include "tide/store.h"

struct edge {
  uint32_t to;
  int8_t following, blocking; /* 1, 0, -1 (never said) */
};

struct node {
  struct edge *edges;
  size_t nedges, capedges;
  int hops; /* -1: not in the set */
  uint8_t explicit_follow, explicit_block;
  uint8_t reported; /* membership last reported by tide_graph_changes */
};

struct tide_graph {
  tide__feedmap map;
  struct node *nodes; /* map.cap entries */
  uint32_t self;
  unsigned hops;
  int dirty;
  int64_t last_rowid;
  uint32_t *queue;
  size_t capqueue;
  size_t count;
};

static int node_add(tide_graph *g, uint32_t *idx, const uint8_t key[TIDE_PK_BYTES])
{
  size_t i, oldcap = g->map.cap;
  int added, rc = tide__feedmap_add(&g->map, &i, &added, key);
  if (rc)
    return rc;
  if (g->map.cap != oldcap || !g->nodes) {
    struct node *n = realloc(g->nodes, g->map.cap * sizeof *n);
    if (!n) {
      size_t a, b;
      (void)tide__feedmap_remove(&g->map, &a, &b, key);
      return TIDE_E_NOMEM;
    }
    g->nodes = n;
  }
  if (added) {
    memset(&g->nodes[i], 0, sizeof g->nodes[i]);
    g->nodes[i].hops = -1;
  }
  *idx = (uint32_t)i;
  return 0;
}

int tide_graph_new(tide_graph **out, const uint8_t self[TIDE_PK_BYTES], unsigned hops)
{
  tide_graph *g = calloc(1, sizeof *g);
  if (!g)
    return TIDE_E_NOMEM;
  tide__feedmap_init(&g->map);
  g->hops = hops;
  g->dirty = 1;
  int rc = node_add(g, &g->self, self);
  if (rc) {
    tide_graph_free(g);
    return rc;
  }
  *out = g;
  return 0;
}

void tide_graph_free(tide_graph *g)
{
  if (!g)
    return;
  for (size_t i = 0; i < g->map.n; i++)
    free(g->nodes[i].edges);
  free(g->nodes);
  free(g->queue);
  tide__feedmap_free(&g->map);
  free(g);
}

int tide_graph_set_hops(tide_graph *g, unsigned hops)
{
  if (g->hops != hops)
    g->dirty = 1;
  g->hops = hops;
  return 0;
}

int tide_graph_contact(tide_graph *g, const uint8_t author[TIDE_PK_BYTES],
                       const uint8_t contact[TIDE_PK_BYTES], int following, int blocking)
{
  uint32_t a, c;
  int rc = node_add(g, &a, author);
  if (!rc)
    rc = node_add(g, &c, contact);
  if (rc)
    return rc;
  struct node *n = &g->nodes[a];
  struct edge *e = NULL;
  for (size_t i = 0; i < n->nedges; i++)
    if (n->edges[i].to == c)
      e = &n->edges[i];
  if (!e) {
    if (n->nedges == n->capedges) {
      size_t cap = n->capedges ? n->capedges * 2 : 4;
      struct edge *ne = realloc(n->edges, cap * sizeof *ne);
      if (!ne)
        return TIDE_E_NOMEM;
      n->edges = ne;
      n->capedges = cap;
    }
    e = &n->edges[n->nedges++];
    e->to = c;
    e->following = -1;
    e->blocking = -1;
  }
  if (following >= 0)
    e->following = following ? 1 : 0;
  if (blocking >= 0) {
    e->blocking = blocking ? 1 : 0;
    if (blocking > 0)
      e->following = 0; /* a block ends a follow */
  }
  g->dirty = 1;
  return 0;
}

int tide_graph_follow(tide_graph *g, const uint8_t feed[TIDE_PK_BYTES], int on)
{
  uint32_t i;
  int rc = node_add(g, &i, feed);
  if (rc)
    return rc;
  g->nodes[i].explicit_follow = on ? 1 : 0;
  g->dirty = 1;
  return 0;
}

int tide_graph_block(tide_graph *g, const uint8_t feed[TIDE_PK_BYTES], int on)
{
  uint32_t i;
  int rc = node_add(g, &i, feed);
  if (rc)
    return rc;
  g->nodes[i].explicit_block = on ? 1 : 0;
  g->dirty = 1;
  return 0;
}

struct sync_ctx {
  tide_graph *g;
};

static int sync_cb(void *ctx, const tide_store_contact *c)
{
  struct sync_ctx *s = ctx;
  int rc = tide_graph_contact(s->g, c->author, c->contact, c->following, c->blocking);
  if (!rc)
    s->g->last_rowid = c->rowid;
  return rc;
}

int tide_graph_sync(tide_graph *g, tide_store *s, tide_error *err)
{
  struct sync_ctx ctx = {g};
  return tide_store_contacts(s, g->last_rowid, sync_cb, &ctx, err);
}

/* 1 when self blocks node i. */
static int blocked(const tide_graph *g, uint32_t i)
{
  if (g->nodes[i].explicit_block)
    return 1;
  const struct node *self = &g->nodes[g->self];
  for (size_t k = 0; k < self->nedges; k++)
    if (self->edges[k].to == i && self->edges[k].blocking == 1)
      return 1;
  return 0;
}

static void recompute(tide_graph *g)
{
  if (!g->dirty)
    return;
  size_t n = g->map.n;
  if (g->capqueue < n) {
    uint32_t *q = realloc(g->queue, n * sizeof *q);
    if (!q)
      return; /* stays dirty: the old answer is kept until memory allows */
    g->queue = q;
    g->capqueue = n;
  }
  for (size_t i = 0; i < n; i++)
    g->nodes[i].hops = -1;
  size_t head = 0, tail = 0;
  g->nodes[g->self].hops = 0;
  g->queue[tail++] = g->self;
  for (size_t i = 0; i < n; i++) {
    if (i != g->self && g->nodes[i].explicit_follow && !blocked(g, (uint32_t)i)) {
      g->nodes[i].hops = 1;
      g->queue[tail++] = (uint32_t)i;
    }
  }
  while (head < tail) {
    uint32_t v = g->queue[head++];
    const struct node *nv = &g->nodes[v];
    if ((unsigned)nv->hops >= g->hops)
      continue;
    for (size_t k = 0; k < nv->nedges; k++) {
      uint32_t w = nv->edges[k].to;
      if (nv->edges[k].following != 1 || g->nodes[w].hops >= 0 || blocked(g, w))
        continue;
      g->nodes[w].hops = nv->hops + 1;
      g->queue[tail++] = w;
    }
  }
  g->count = tail;
  g->dirty = 0;
}

static long find(const tide_graph *g, const uint8_t feed[TIDE_PK_BYTES])
{
  return tide__feedmap_find(&g->map, feed);
}

int tide_graph_replicates(tide_graph *g, const uint8_t feed[TIDE_PK_BYTES])
{
  recompute(g);
  long i = find(g, feed);
  return i >= 0 && g->nodes[i].hops >= 0;
}

int tide_graph_hops(tide_graph *g, const uint8_t feed[TIDE_PK_BYTES])
{
  recompute(g);
  long i = find(g, feed);
  return i < 0 ? -1 : g->nodes[i].hops;
}

size_t tide_graph_count(tide_graph *g)
{
  recompute(g);
  return g->count;
}

int tide_graph_each(tide_graph *g, tide_graph_cb cb, void *ctx)
{
  recompute(g);
  for (size_t i = 0; i < g->map.n; i++) {
    if (g->nodes[i].hops < 0)
      continue;
    int rc = cb(ctx, g->map.keys[i], 1);
    if (rc)
      return rc;
  }
  return 0;
}

int tide_graph_changes(tide_graph *g, tide_graph_cb cb, void *ctx)
{
  recompute(g);
  for (size_t i = 0; i < g->map.n; i++) {
    uint8_t member = g->nodes[i].hops >= 0;
    if (member == g->nodes[i].reported)
      continue;
    int rc = cb(ctx, g->map.keys[i], member);
    if (rc)
      return rc;
    g->nodes[i].reported = member;
  }
  return 0;
}
