/* sim.h - a deterministic, seeded discrete-event network simulator.
 *
 * Many nodes, each with the real EBT engine (tide/ebt.h), a real store
 * (in-memory SQLite, tide/store.h), a follow graph and its own key pair,
 * exchange frames over virtual links with latency, loss (modelled as an
 * ARQ retransmission: a lost frame arrives 2 x latency later, order is
 * kept), bandwidth, and optionally dropped messages (a link that loses
 * message frames but not notes, to make holes).  Messages are real
 * signed SSB messages (tide_msg_create), validated (tide_msg_validate)
 * and appended (tide_store_append) by every receiver.  A flooding mode
 * (every new message to every neighbour but the one it came from) runs
 * in the same simulator as the reference.
 *
 * Everything is driven by one seeded PRNG and an event queue ordered by
 * (time, insertion number): a seed gives the same run every time.
 *
 * Byte accounting: message bytes are the canonical JSON text (what the
 * store keeps and EBT over TCP carries); note bytes are counted twice:
 * as EBT JSON note objects (tide_clock_json_entry_bytes) and as binary
 * frames, encoded by the real frame codec (tide/frame.h) with one codec
 * per link direction and session: each session opens with a CLOCK with
 * short keys (8 bytes of each feed key new to the stream, as the radio
 * session sends it to a peer that offers them), later notes are NOTE
 * frames.  The receiver decodes them with the real decoder, resolving
 * short keys among the keys its engine knows (tide_ebt_find_prefix);
 * entries it cannot resolve are dropped, as a real receiver drops them.
 * See docs/replication.md. */
#ifndef TIDE_SIM_H
#define TIDE_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "tide/ebt.h"

typedef struct tide_sim tide_sim;

#define TIDE_SIM_EBT   0
#define TIDE_SIM_FLOOD 1

typedef struct tide_sim_config {
  uint64_t seed;
  int nodes;             /* node count (all created at start; see join) */
  int mode;              /* TIDE_SIM_EBT or TIDE_SIM_FLOOD */
  int64_t latency_ms;    /* one-way link latency (default 50) */
  double loss;           /* per-frame loss probability (ARQ retry) */
  double bytes_per_ms;   /* link bandwidth; 0 = unlimited */
  double msg_drop;       /* probability a message frame is lost for good */
  int64_t patience_ms;   /* EBT patience (default 10 x latency) */
  int text_bytes;        /* length of each post's text (default 200) */
  int64_t note_delay_ms; /* EBT lazy-note batching delay (0 = none) */
  int full_keys;         /* 1: sessions open with full keys (a NOTE frame, as to
                            a peer without short keys) */
} tide_sim_config;

typedef struct tide_sim_stats {
  uint64_t published;    /* messages authored */
  uint64_t msg_frames;   /* full-message copies received by nodes */
  uint64_t msg_bytes;    /* their bytes */
  uint64_t new_msgs;     /* copies that were new to the receiver */
  uint64_t note_entries; /* note entries received */
  uint64_t note_bytes_json;
  uint64_t note_bytes_bin;
  uint64_t note_frames;
  uint64_t first_note_bytes_json; /* of which: each session's first notes */
  uint64_t first_note_bytes_bin;
  uint64_t first_note_bytes_bin_full; /* the same first notes with full keys
                                         (what they cost without short keys) */
  uint64_t unresolved_entries;        /* note entries a receiver dropped: short keys
                                         of feeds it does not know */
  uint64_t stream_errors;             /* messages of a feed whose short key the
                                         receiving stream left unresolved (a real
                                         stream would fail): dropped, counted */
  uint64_t store_dups;                /* appends the store refused as already stored */
  uint64_t gaps;                      /* messages that arrived after a hole */
  uint64_t invalid;                   /* messages rejected by validation */
  int64_t max_delay_ms;               /* over messages: last reception - publication */
  int64_t delay_sum_ms;               /* over new receptions: reception - publication */
  uint64_t delay_n;
  int64_t last_new_ms; /* time of the last new message anywhere */
} tide_sim_stats;

/* Creates a simulator with cfg->nodes nodes, all alive, no links; every
 * node replicates every node's feed (explicit follows in its graph).
 * TIDE_E_NOMEM, TIDE_E_INVAL, or store errors. */
int tide_sim_new(tide_sim **out, const tide_sim_config *cfg);

/* Frees everything; NULL is a no-op. */
void tide_sim_free(tide_sim *s);

/* Schedules a link between a and b to come up (or go down) at at_ms.
 * Links start down.  A link coming up starts an EBT session on both
 * ends with the clocks they stored for each other; going down stores
 * them and ends the sessions (frames in flight are lost). */
int tide_sim_link_up(tide_sim *s, int a, int b, int64_t at_ms);
int tide_sim_link_down(tide_sim *s, int a, int b, int64_t at_ms);

/* Topologies (links up at at_ms). */
/* A random ring (so the graph is connected), then random links until
 * every node has ~k (k = 2: the ring alone). */
int tide_sim_topo_random(tide_sim *s, int k, int64_t at_ms);
int tide_sim_topo_line(tide_sim *s, int64_t at_ms);
int tide_sim_topo_star(tide_sim *s, int64_t at_ms); /* node 0 is the hub */
/* `clusters` groups with ~k random links inside each, joined in a ring by
 * `bridges` links between consecutive clusters. */
int tide_sim_topo_clusters(tide_sim *s, int clusters, int k, int bridges, int64_t at_ms);

/* Partition: every existing link between a node < split and a node >=
 * split goes down at from_ms and comes back up at to_ms. */
int tide_sim_partition(tide_sim *s, int split, int64_t from_ms, int64_t to_ms);

/* Schedules node to author one message at at_ms (skipped if dead then). */
int tide_sim_publish(tide_sim *s, int node, int64_t at_ms);

/* Schedules `count` messages from random authors at random times in
 * [from_ms, to_ms). */
int tide_sim_publish_random(tide_sim *s, int count, int64_t from_ms, int64_t to_ms);

/* Node dies at at_ms: all its links go down for good. */
int tide_sim_kill(tide_sim *s, int node, int64_t at_ms);

/* Node starts dead and joins at at_ms with links to k random live nodes. */
int tide_sim_join(tide_sim *s, int node, int k, int64_t at_ms);

/* Node's store is wiped at at_ms (a fresh empty store and engine; keys
 * kept), and its links are restarted. */
int tide_sim_wipe(tide_sim *s, int node, int64_t at_ms);

/* Runs events up to and including until_ms (or until none is left).
 * Returns 0 or the first error an engine or store reported. */
int tide_sim_run(tide_sim *s, int64_t until_ms);

/* 1 when every live node holds the same sequence of every feed, in its
 * engine and in its store. */
int tide_sim_converged(tide_sim *s);

/* 1 when every live node's store passes tide_store_check (gap-free
 * logs, hash chains intact, SQLite integrity). */
int tide_sim_check_stores(tide_sim *s);

/* Share of (live node, message) pairs delivered, over the messages held
 * by at least one live node: 1.0 = complete. */
double tide_sim_delivery(tide_sim *s);

/* Messages authored that no live node holds (lost with their author). */
uint64_t tide_sim_lost(tide_sim *s);

/* Live nodes. */
int tide_sim_alive(tide_sim *s);

/* Counters. */
void tide_sim_get_stats(tide_sim *s, tide_sim_stats *out);

/* The engine counters of one node. */
void tide_sim_node_ebt_stats(tide_sim *s, int node, tide_ebt_stats *out);

/* Current simulated time. */
int64_t tide_sim_now(tide_sim *s);

#endif
