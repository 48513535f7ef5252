/* tide/graph.h - the follow graph and the replication set.
 *
 * Contact messages ({"type":"contact","contact":<feed>,"following":bool,
 * "blocking":bool}) indexed by the store (tide_store_contacts) give a
 * directed follow graph.  The replication set of a node `self` is:
 *   every feed within `hops` follow hops of self (self is hop 0, the feeds
 *   self follows hop 1, ...; default TIDE_GRAPH_DEFAULT_HOPS = 2),
 *   plus explicit follows (tide_graph_follow),
 *   minus the feeds self blocks (by a contact message or tide_graph_block),
 *   and never a feed reached only through a blocked feed.
 * A later contact message of an author about the same contact overrides
 * the earlier one; "blocking": true also ends a follow.
 *
 * Updates are incremental: tide_graph_sync reads only the contact rows
 * added since the last sync, and tide_graph_changes reports only the
 * feeds whose membership changed, so the EBT engine (tide_ebt_set_feed)
 * follows the set without rescanning it.
 *
 * A tide_graph is owned by the caller; not thread-safe. */
#ifndef TIDE_GRAPH_H
#define TIDE_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include "tide/common.h"
#include "tide/keys.h"

#define TIDE_GRAPH_DEFAULT_HOPS 2

typedef struct tide_graph tide_graph;
typedef struct tide_store tide_store;

/* Creates a graph for self replicating within hops follow hops (0 =
 * self only).  *out is owned by the caller.  TIDE_E_NOMEM. */
TIDE_WUR int tide_graph_new(tide_graph **out, const uint8_t self[TIDE_PK_BYTES], unsigned hops);

/* Frees the graph; NULL is a no-op. */
void tide_graph_free(tide_graph *g);

/* Changes the hop limit.  TIDE_E_NOMEM. */
TIDE_WUR int tide_graph_set_hops(tide_graph *g, unsigned hops);

/* Applies one contact message of author about contact: following and
 * blocking are 1, 0, or -1 (absent: that relation is unchanged).
 * TIDE_E_NOMEM. */
TIDE_WUR int tide_graph_contact(tide_graph *g, const uint8_t author[TIDE_PK_BYTES],
                                const uint8_t contact[TIDE_PK_BYTES], int following, int blocking);

/* Explicit follow (on = 1) or its removal (0): the feed is replicated
 * whatever the graph says, unless blocked.  TIDE_E_NOMEM. */
TIDE_WUR int tide_graph_follow(tide_graph *g, const uint8_t feed[TIDE_PK_BYTES], int on);

/* Explicit block (on = 1) or its removal: never replicated.
 * TIDE_E_NOMEM. */
TIDE_WUR int tide_graph_block(tide_graph *g, const uint8_t feed[TIDE_PK_BYTES], int on);

/* Reads the store's contact rows added since the last sync (all on the
 * first call) and applies them.  TIDE_E_STORE, TIDE_E_NOMEM. */
TIDE_WUR int tide_graph_sync(tide_graph *g, tide_store *s, tide_error *err);

/* 1 when feed is in the replication set. */
int tide_graph_replicates(tide_graph *g, const uint8_t feed[TIDE_PK_BYTES]);

/* Hop distance of feed from self (0 for self), or -1 when it is not
 * reachable within the hop limit (explicit follows count as hop 1). */
int tide_graph_hops(tide_graph *g, const uint8_t feed[TIDE_PK_BYTES]);

/* Number of feeds in the replication set. */
size_t tide_graph_count(tide_graph *g);

/* Called per feed by tide_graph_each / tide_graph_changes; a non-zero
 * return stops the walk and is returned. */
typedef int (*tide_graph_cb)(void *ctx, const uint8_t feed[TIDE_PK_BYTES], int replicate);

/* Calls cb(ctx, feed, 1) for every feed in the replication set. */
int tide_graph_each(tide_graph *g, tide_graph_cb cb, void *ctx);

/* Calls cb for every feed whose membership changed since the previous
 * call (the first call reports every member with replicate = 1), then
 * forgets the changes.  Returns 0 or cb's non-zero value (the changes not
 * yet reported are kept). */
int tide_graph_changes(tide_graph *g, tide_graph_cb cb, void *ctx);

#endif
