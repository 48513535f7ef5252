/* sim.c - the deterministic network simulator (see sim.h). */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

#include "tide/clock.h"
#include "tide/frame.h"
#include "tide/graph.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"
#include "tide/store.h"

enum { EV_LINK_UP, EV_LINK_DOWN, EV_DELIVER, EV_TICK, EV_PUBLISH, EV_KILL, EV_JOIN, EV_WIPE };
enum { FR_NOTES, FR_MSG };

typedef struct frame {
  int type;
  tide_ebt_note *notes;
  size_t n;
  const char *text; /* borrowed from the simulator's message table */
  size_t len;
  uint8_t feed[TIDE_PK_BYTES];
  int64_t seq;
  int author;    /* node index of the feed's author */
  uint8_t *wire; /* FR_NOTES: the encoded frame */
  size_t wire_len;
} frame;

typedef struct event {
  int64_t t;
  uint64_t order;
  int type;
  int a, b; /* nodes, or a = link for DELIVER */
  int dir;
  uint32_t gen;
  frame *f;
} event;

typedef struct sim_link {
  int a, b;
  int up;
  uint32_t gen;
  tide_ebt_peer h[2]; /* h[0]: handle at a for b; h[1]: at b for a */
  int64_t busy[2], last[2];
  tide_frame_codec *enc[2], *dec[2]; /* binary note streams, dir 0 = a->b */
  int spoke[2];                      /* the session's first notes went out */
} sim_link;

typedef struct held {
  uint8_t feed[TIDE_PK_BYTES];
  int64_t seq;
  int author;
  const char *text;
  size_t len;
  int from_link;
} held;

typedef struct sim_node {
  tide_keypair kp;
  tide_store *st;
  tide_ebt *e;
  int alive;
  int64_t tick_at;
  int *hlink; /* peer handle -> link index */
  size_t nhlink;
  held *held; /* flooding: out-of-order messages */
  size_t nheld, capheld;
  int64_t *lseq;                   /* per author: latest sequence in the store */
  uint8_t (*lid)[TIDE_HASH_BYTES]; /* per author: its id */
} sim_node;

/* Per author and sequence: publication time, last reception, and the
 * message text.  Every copy of a message is the same bytes (its id is
 * their hash), so frames point here instead of carrying copies. */
typedef struct msgtimes {
  int64_t *pub, *last;
  char **text;
  size_t *tlen;
  size_t n, cap;
} msgtimes;

struct tide_sim {
  tide_sim_config cfg;
  uint64_t rng;
  int64_t now;
  sim_node *nodes;
  sim_link *links;
  size_t nlinks, caplinks;
  uint8_t *adj; /* n x n: 1 + link index, saturated at 255 -> scan */
  event *heap;
  size_t nheap, capheap;
  uint64_t order;
  msgtimes *times;                      /* per author */
  uint8_t (*verified)[TIDE_HASH_BYTES]; /* signature cache, open addressing */
  size_t nverified, capverified;
  tide_sim_stats st;
  int err;
};

/* --- PRNG, heap ------------------------------------------------------------ */

static uint64_t rnd(tide_sim *s)
{
  uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static double rndf(tide_sim *s)
{
  return (double)(rnd(s) >> 11) / 9007199254740992.0;
}

static int before(const event *x, const event *y)
{
  return x->t < y->t || (x->t == y->t && x->order < y->order);
}

static int push_event(tide_sim *s, event ev)
{
  if (s->nheap == s->capheap) {
    size_t cap = s->capheap ? s->capheap * 2 : 1024;
    event *h = realloc(s->heap, cap * sizeof *h);
    if (!h)
      return TIDE_E_NOMEM;
    s->heap = h;
    s->capheap = cap;
  }
  ev.order = s->order++;
  size_t i = s->nheap++;
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!before(&ev, &s->heap[p]))
      break;
    s->heap[i] = s->heap[p];
    i = p;
  }
  s->heap[i] = ev;
  return 0;
}

static event pop_event(tide_sim *s)
{
  event top = s->heap[0], last = s->heap[--s->nheap];
  size_t i = 0;
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= s->nheap)
      break;
    if (c + 1 < s->nheap && before(&s->heap[c + 1], &s->heap[c]))
      c++;
    if (!before(&s->heap[c], &last))
      break;
    s->heap[i] = s->heap[c];
    i = c;
  }
  if (s->nheap)
    s->heap[i] = last;
  return top;
}

static void frame_free(frame *f)
{
  if (!f)
    return;
  free(f->notes);
  free(f->wire);
  free(f);
}

/* --- signature cache --------------------------------------------------------- */

static size_t vslot(const tide_sim *s, const uint8_t id[TIDE_HASH_BYTES])
{
  uint64_t h;
  memcpy(&h, id, sizeof h);
  return (size_t)(h & (s->capverified - 1));
}

static int verified_has(const tide_sim *s, const uint8_t id[TIDE_HASH_BYTES])
{
  static const uint8_t zero[TIDE_HASH_BYTES];
  if (!s->capverified)
    return 0;
  for (size_t i = vslot(s, id);; i = (i + 1) & (s->capverified - 1)) {
    if (memcmp(s->verified[i], zero, TIDE_HASH_BYTES) == 0)
      return 0;
    if (memcmp(s->verified[i], id, TIDE_HASH_BYTES) == 0)
      return 1;
  }
}

static int verified_add(tide_sim *s, const uint8_t id[TIDE_HASH_BYTES])
{
  static const uint8_t zero[TIDE_HASH_BYTES];
  if ((s->nverified + 1) * 2 > s->capverified) {
    size_t cap = s->capverified ? s->capverified * 2 : 1024;
    uint8_t(*old)[TIDE_HASH_BYTES] = s->verified;
    size_t oldcap = s->capverified;
    s->verified = calloc(cap, TIDE_HASH_BYTES);
    if (!s->verified) {
      s->verified = old;
      return TIDE_E_NOMEM;
    }
    s->capverified = cap;
    for (size_t i = 0; i < oldcap; i++) {
      if (memcmp(old[i], zero, TIDE_HASH_BYTES) == 0)
        continue;
      size_t j = vslot(s, old[i]);
      while (memcmp(s->verified[j], zero, TIDE_HASH_BYTES) != 0)
        j = (j + 1) & (cap - 1);
      memcpy(s->verified[j], old[i], TIDE_HASH_BYTES);
    }
    free(old);
  }
  size_t j = vslot(s, id);
  while (memcmp(s->verified[j], zero, TIDE_HASH_BYTES) != 0)
    j = (j + 1) & (s->capverified - 1);
  memcpy(s->verified[j], id, TIDE_HASH_BYTES);
  s->nverified++;
  return 0;
}

/* --- nodes ------------------------------------------------------------------ */

static int node_index(const tide_sim *s, const uint8_t pk[TIDE_PK_BYTES])
{
  for (int i = 0; i < s->cfg.nodes; i++)
    if (memcmp(s->nodes[i].kp.pk, pk, TIDE_PK_BYTES) == 0)
      return i;
  return -1;
}

/* Fresh store and engine; the engine replicates every node's feed (the
 * set given by the node's follow graph with explicit follows). */
static int node_setup(tide_sim *s, int i)
{
  sim_node *n = &s->nodes[i];
  tide_graph *g = NULL;
  int rc = tide_store_open(&n->st, TIDE_STORE_MEMORY, 0, NULL);
  if (!rc)
    rc = tide_ebt_new(&n->e);
  if (!rc)
    rc = tide_graph_new(&g, n->kp.pk, TIDE_GRAPH_DEFAULT_HOPS);
  for (int j = 0; !rc && j < s->cfg.nodes; j++)
    rc = tide_graph_follow(g, s->nodes[j].kp.pk, 1);
  for (int j = 0; !rc && j < s->cfg.nodes; j++)
    if (tide_graph_replicates(g, s->nodes[j].kp.pk))
      rc = tide_ebt_set_feed(n->e, s->nodes[j].kp.pk, 1, 0, s->now);
  tide_graph_free(g);
  n->tick_at = -1;
  free(n->lseq);
  free(n->lid);
  n->lseq = calloc((size_t)s->cfg.nodes, sizeof *n->lseq);
  n->lid = calloc((size_t)s->cfg.nodes, sizeof *n->lid);
  if (!rc && (!n->lseq || !n->lid))
    rc = TIDE_E_NOMEM;
  return rc;
}

static void node_teardown(sim_node *n)
{
  tide_ebt_free(n->e);
  tide_store_close(n->st);
  n->e = NULL;
  n->st = NULL;
  n->nheld = 0;
}

int tide_sim_new(tide_sim **out, const tide_sim_config *cfg)
{
  if (!cfg || cfg->nodes < 1)
    return TIDE_E_INVAL;
  tide_sim *s = calloc(1, sizeof *s);
  if (!s)
    return TIDE_E_NOMEM;
  s->cfg = *cfg;
  if (s->cfg.latency_ms <= 0)
    s->cfg.latency_ms = 50;
  if (s->cfg.patience_ms <= 0)
    s->cfg.patience_ms = 10 * s->cfg.latency_ms;
  if (s->cfg.text_bytes <= 0)
    s->cfg.text_bytes = 200;
  s->rng = cfg->seed;
  int n = cfg->nodes, rc = 0;
  s->nodes = calloc((size_t)n, sizeof *s->nodes);
  s->adj = calloc((size_t)n * (size_t)n, 1);
  s->times = calloc((size_t)n, sizeof *s->times);
  if (!s->nodes || !s->adj || !s->times)
    rc = TIDE_E_NOMEM;
  for (int i = 0; !rc && i < n; i++) {
    uint8_t seed[TIDE_SEED_BYTES];
    for (size_t k = 0; k < sizeof seed; k += 8) {
      uint64_t r = rnd(s);
      memcpy(seed + k, &r, 8);
    }
    rc = tide_keys_from_seed(&s->nodes[i].kp, seed);
    s->nodes[i].alive = 1;
  }
  for (int i = 0; !rc && i < n; i++)
    rc = node_setup(s, i);
  if (rc) {
    tide_sim_free(s);
    return rc;
  }
  *out = s;
  return 0;
}

void tide_sim_free(tide_sim *s)
{
  if (!s)
    return;
  for (int i = 0; s->nodes && i < s->cfg.nodes; i++) {
    node_teardown(&s->nodes[i]);
    free(s->nodes[i].hlink);
    free(s->nodes[i].held);
    free(s->nodes[i].lseq);
    free(s->nodes[i].lid);
    tide_keys_wipe(&s->nodes[i].kp);
  }
  for (size_t i = 0; i < s->nlinks; i++)
    for (int d = 0; d < 2; d++) {
      tide_frame_codec_free(s->links[i].enc[d]);
      tide_frame_codec_free(s->links[i].dec[d]);
    }
  for (size_t i = 0; i < s->nheap; i++)
    frame_free(s->heap[i].f);
  for (int i = 0; s->times && i < s->cfg.nodes; i++) {
    free(s->times[i].pub);
    free(s->times[i].last);
    for (size_t k = 0; k < s->times[i].cap; k++)
      free(s->times[i].text[k]);
    free(s->times[i].text);
    free(s->times[i].tlen);
  }
  free(s->times);
  free(s->heap);
  free(s->links);
  free(s->adj);
  free(s->nodes);
  free(s->verified);
  free(s);
}

/* --- links ------------------------------------------------------------------ */

static int link_find(tide_sim *s, int a, int b)
{
  for (size_t i = 0; i < s->nlinks; i++)
    if ((s->links[i].a == a && s->links[i].b == b) || (s->links[i].a == b && s->links[i].b == a))
      return (int)i;
  return -1;
}

static int link_get(tide_sim *s, int a, int b)
{
  int l = link_find(s, a, b);
  if (l >= 0)
    return l;
  if (s->nlinks == s->caplinks) {
    size_t cap = s->caplinks ? s->caplinks * 2 : 64;
    sim_link *nl = realloc(s->links, cap * sizeof *nl);
    if (!nl)
      return TIDE_E_NOMEM;
    s->links = nl;
    s->caplinks = cap;
  }
  sim_link *L = &s->links[s->nlinks];
  memset(L, 0, sizeof *L);
  L->a = a;
  L->b = b;
  s->adj[(size_t)a * (size_t)s->cfg.nodes + (size_t)b] = 1;
  s->adj[(size_t)b * (size_t)s->cfg.nodes + (size_t)a] = 1;
  return (int)s->nlinks++;
}

/* Encodes notes frame f for direction dir with the real codec: the
 * session's first notes as a CLOCK with short keys (unless cfg.full_keys),
 * later ones as NOTE frames.  Keeps the bytes in f for the receiver's
 * decoder; *full gets the size of the first frame with full keys. */
static int encode_notes(tide_sim *s, sim_link *L, int dir, frame *f, size_t *full)
{
  tide_frame_entry *e = malloc((f->n ? f->n : 1) * sizeof *e);
  tide_buf b = TIDE_BUF_INIT, ref = TIDE_BUF_INIT;
  int first = !L->spoke[dir], rc = e ? 0 : TIDE_E_NOMEM;
  for (size_t i = 0; !rc && i < f->n; i++) {
    memcpy(e[i].feed, f->notes[i].feed, TIDE_PK_BYTES);
    e[i].value = f->notes[i].value;
  }
  if (!rc && first && !s->cfg.full_keys)
    rc = tide_frame_encode_clock_short(L->enc[dir], &b, TIDE_FRAME_CLOCK_SENDER, e, f->n);
  else if (!rc)
    rc = tide_frame_encode_note(L->enc[dir], &b, e, f->n);
  *full = b.len;
  if (!rc && first && !s->cfg.full_keys) {
    /* the reference: the same first frame of a fresh stream, full keys */
    tide_frame_codec *c = tide_frame_codec_new();
    rc = c ? tide_frame_encode_note(c, &ref, e, f->n) : TIDE_E_NOMEM;
    *full = ref.len;
    tide_frame_codec_free(c);
  }
  if (!rc) {
    f->wire = (uint8_t *)tide_buf_steal(&b, &f->wire_len);
    if (!f->wire)
      rc = TIDE_E_NOMEM;
  }
  tide_buf_free(&b);
  tide_buf_free(&ref);
  free(e);
  return rc;
}

/* Puts f on link l in direction dir (0: a->b), taking ownership. */
static int transmit(tide_sim *s, int l, int dir, frame *f)
{
  sim_link *L = &s->links[l];
  size_t bytes;
  if (f->type == FR_NOTES) {
    size_t json = 2, full = 0;
    for (size_t i = 0; i < f->n; i++)
      json += tide_clock_json_entry_bytes(f->notes[i].value);
    if (f->n)
      json -= 1;
    int rc = encode_notes(s, L, dir, f, &full);
    if (rc) {
      frame_free(f);
      return rc;
    }
    s->st.note_bytes_json += json;
    s->st.note_bytes_bin += f->wire_len;
    s->st.note_frames++;
    if (!L->spoke[dir]) {
      L->spoke[dir] = 1;
      s->st.first_note_bytes_bin += f->wire_len;
      s->st.first_note_bytes_bin_full += full;
      s->st.first_note_bytes_json += json;
    }
    bytes = f->wire_len;
  } else {
    bytes = f->len;
    s->st.msg_bytes += f->len;
  }
  int64_t t0 = s->now > L->busy[dir] ? s->now : L->busy[dir];
  int64_t ser = s->cfg.bytes_per_ms > 0 ? (int64_t)((double)bytes / s->cfg.bytes_per_ms) : 0;
  L->busy[dir] = t0 + ser;
  int64_t at = t0 + ser + s->cfg.latency_ms;
  while (s->cfg.loss > 0 && rndf(s) < s->cfg.loss)
    at += 2 * s->cfg.latency_ms;
  if (at < L->last[dir])
    at = L->last[dir];
  L->last[dir] = at;
  if (f->type == FR_MSG && s->cfg.msg_drop > 0 && rndf(s) < s->cfg.msg_drop) {
    frame_free(f);
    return 0;
  }
  event ev = {at, 0, EV_DELIVER, l, 0, dir, L->gen, f};
  int rc = push_event(s, ev);
  if (rc)
    frame_free(f);
  return rc;
}

static int send_msg(tide_sim *s, int l, int dir, int author, int64_t seq, const char *text,
                    size_t len)
{
  frame *f = calloc(1, sizeof *f);
  if (!f)
    return TIDE_E_NOMEM;
  f->type = FR_MSG;
  f->text = text;
  f->len = len;
  memcpy(f->feed, s->nodes[author].kp.pk, TIDE_PK_BYTES);
  f->seq = seq;
  f->author = author;
  return transmit(s, l, dir, f);
}

/* Drains node i's engine actions onto its links and schedules its tick. */
static int pump(tide_sim *s, int i)
{
  sim_node *n = &s->nodes[i];
  tide_ebt_action a;
  int rc = 0;
  if (!n->e)
    return 0;
  while (!rc && tide_ebt_poll(n->e, &a)) {
    int l = n->hlink[a.peer];
    int dir = s->links[l].a == i ? 0 : 1;
    if (a.type == TIDE_EBT_NOTES) {
      frame *f = calloc(1, sizeof *f);
      if (!f) {
        rc = TIDE_E_NOMEM;
        break;
      }
      f->type = FR_NOTES;
      f->n = a.n_notes;
      if (a.n_notes) {
        f->notes = malloc(a.n_notes * sizeof *f->notes);
        if (!f->notes) {
          free(f);
          rc = TIDE_E_NOMEM;
          break;
        }
        memcpy(f->notes, a.notes, a.n_notes * sizeof *f->notes);
      }
      rc = transmit(s, l, dir, f);
    } else {
      /* The engine only asks for what the node holds; the bytes are
       * those of the message table (identical to the store's copy). */
      int author = node_index(s, a.feed);
      if (author < 0 || a.to_seq > n->lseq[author])
        rc = TIDE_E_INTERNAL;
      for (int64_t q = a.from_seq; !rc && q <= a.to_seq; q++)
        rc = send_msg(s, l, dir, author, q, s->times[author].text[q], s->times[author].tlen[q]);
    }
  }
  int64_t w = tide_ebt_next_wake(n->e);
  if (!rc && w >= 0 && (n->tick_at < 0 || w < n->tick_at || n->tick_at < s->now)) {
    if (w < s->now)
      w = s->now;
    n->tick_at = w;
    event ev = {w, 0, EV_TICK, i, 0, 0, 0, NULL};
    rc = push_event(s, ev);
  }
  return rc;
}

/* A receiving node resolves short keys among the keys its engine knows,
 * as the radio session does. */
static int resolve_prefix(void *ctx, uint8_t key[TIDE_PK_BYTES],
                          const uint8_t prefix[TIDE_FRAME_SHORT_KEY_BYTES])
{
  const sim_node *n = ctx;
  int r = n->e ? tide_ebt_find_prefix(n->e, key, prefix, TIDE_FRAME_SHORT_KEY_BYTES) : 0;
  return r == 1   ? TIDE_FRAME_PREFIX_FOUND
         : r == 2 ? TIDE_FRAME_PREFIX_AMBIGUOUS
                  : TIDE_FRAME_PREFIX_UNKNOWN;
}

static int session_start(tide_sim *s, int l)
{
  sim_link *L = &s->links[l];
  if (L->up || !s->nodes[L->a].alive || !s->nodes[L->b].alive)
    return 0;
  L->up = 1;
  L->gen++;
  L->busy[0] = L->busy[1] = L->last[0] = L->last[1] = s->now;
  for (int d = 0; d < 2; d++) {
    /* fresh streams: both ends start with empty feed tables */
    tide_frame_codec_free(L->enc[d]);
    tide_frame_codec_free(L->dec[d]);
    L->enc[d] = tide_frame_codec_new();
    L->dec[d] = tide_frame_codec_new();
    if (!L->enc[d] || !L->dec[d])
      return TIDE_E_NOMEM;
    tide_frame_codec_set_resolver(L->dec[d], resolve_prefix, &s->nodes[d == 0 ? L->b : L->a]);
  }
  L->spoke[0] = L->spoke[1] = 0;
  if (s->cfg.mode == TIDE_SIM_FLOOD)
    return 0;
  int rc = 0;
  for (int side = 0; side < 2 && !rc; side++) {
    int me = side ? L->b : L->a, other = side ? L->a : L->b;
    sim_node *n = &s->nodes[me];
    tide_clock *th = NULL, *ou = NULL;
    rc = tide_clock_new(&th);
    if (!rc)
      rc = tide_clock_new(&ou);
    if (!rc)
      rc = tide_clock_load(th, n->st, s->nodes[other].kp.pk, TIDE_CLOCK_THEIRS, NULL);
    if (!rc)
      rc = tide_clock_load(ou, n->st, s->nodes[other].kp.pk, TIDE_CLOCK_OURS, NULL);
    int first = !rc && tide_clock_count(th) == 0 && tide_clock_count(ou) == 0;
    tide_ebt_peer_opts o = {.theirs = first ? NULL : th,
                            .ours = first ? NULL : ou,
                            .patience_ms = s->cfg.patience_ms,
                            .id = s->nodes[other].kp.pk,
                            /* Different delays on the two ends, so that one
                             * side's lazy note usually reaches the other before
                             * that one's own note leaves, and cancels it. */
                            .note_delay_ms =
                                me < other ? s->cfg.note_delay_ms : 3 * s->cfg.note_delay_ms};
    if (!rc)
      rc = tide_ebt_connect(n->e, &L->h[side], &o, s->now);
    tide_clock_free(th);
    tide_clock_free(ou);
    if (rc)
      break;
    if (L->h[side] >= n->nhlink) {
      size_t cap = (size_t)L->h[side] + 8;
      int *h = realloc(n->hlink, cap * sizeof *h);
      if (!h)
        return TIDE_E_NOMEM;
      n->hlink = h;
      n->nhlink = cap;
    }
    n->hlink[L->h[side]] = l;
  }
  if (!rc)
    rc = pump(s, L->a);
  if (!rc)
    rc = pump(s, L->b);
  return rc;
}

static int session_end(tide_sim *s, int l)
{
  sim_link *L = &s->links[l];
  if (!L->up)
    return 0;
  L->up = 0;
  L->gen++;
  if (s->cfg.mode == TIDE_SIM_FLOOD)
    return 0;
  int rc = 0;
  for (int side = 0; side < 2 && !rc; side++) {
    int me = side ? L->b : L->a, other = side ? L->a : L->b;
    sim_node *n = &s->nodes[me];
    tide_clock *th = NULL, *ou = NULL;
    rc = tide_clock_new(&th);
    if (!rc)
      rc = tide_clock_new(&ou);
    if (!rc)
      rc = tide_ebt_peer_clocks(n->e, L->h[side], th, ou);
    if (!rc)
      rc = tide_clock_save(n->st, s->nodes[other].kp.pk, TIDE_CLOCK_THEIRS, th, NULL);
    if (!rc)
      rc = tide_clock_save(n->st, s->nodes[other].kp.pk, TIDE_CLOCK_OURS, ou, NULL);
    if (!rc)
      rc = tide_ebt_disconnect(n->e, L->h[side], s->now);
    tide_clock_free(th);
    tide_clock_free(ou);
    if (!rc)
      rc = pump(s, me);
  }
  return rc;
}

/* --- messages -------------------------------------------------------------- */

static int record_time(tide_sim *s, int author, int64_t seq, int publish)
{
  msgtimes *mt = &s->times[author];
  if ((size_t)seq >= mt->cap) {
    size_t cap = mt->cap ? mt->cap : 16;
    while (cap <= (size_t)seq)
      cap *= 2;
    int64_t *p = realloc(mt->pub, cap * sizeof *p);
    if (!p)
      return TIDE_E_NOMEM;
    mt->pub = p;
    int64_t *q = realloc(mt->last, cap * sizeof *q);
    if (!q)
      return TIDE_E_NOMEM;
    mt->last = q;
    char **t = realloc(mt->text, cap * sizeof *t);
    if (!t)
      return TIDE_E_NOMEM;
    mt->text = t;
    size_t *tl = realloc(mt->tlen, cap * sizeof *tl);
    if (!tl)
      return TIDE_E_NOMEM;
    mt->tlen = tl;
    for (size_t k = mt->cap; k < cap; k++) {
      mt->pub[k] = mt->last[k] = -1;
      mt->text[k] = NULL;
      mt->tlen[k] = 0;
    }
    mt->cap = cap;
  }
  if (publish) {
    mt->pub[seq] = s->now;
    mt->last[seq] = s->now;
  } else if (mt->pub[seq] >= 0) {
    s->st.delay_sum_ms += s->now - mt->pub[seq];
    s->st.delay_n++;
  }
  if (!publish && s->now > mt->last[seq]) {
    mt->last[seq] = s->now;
    if (mt->pub[seq] >= 0 && s->now - mt->pub[seq] > s->st.max_delay_ms)
      s->st.max_delay_ms = s->now - mt->pub[seq];
  }
  if (!publish)
    s->st.last_new_ms = s->now;
  return 0;
}

/* Flooding: forward to every up link of node i except `except`. */
static int flood(tide_sim *s, int i, int except, int author, int64_t seq, const char *text,
                 size_t len)
{
  for (size_t l = 0; l < s->nlinks; l++) {
    sim_link *L = &s->links[l];
    if (!L->up || (int)l == except || (L->a != i && L->b != i))
      continue;
    int rc = send_msg(s, (int)l, L->a == i ? 0 : 1, author, seq, text, len);
    if (rc)
      return rc;
  }
  return 0;
}

static int do_publish(tide_sim *s, int i)
{
  sim_node *n = &s->nodes[i];
  if (!n->alive)
    return 0;
  tide_feed_state prev;
  int has = n->lseq[i] > 0;
  prev.sequence = n->lseq[i];
  memcpy(prev.id, n->lid[i], TIDE_HASH_BYTES);
  tide_json_doc *doc = tide_json_doc_new();
  char *txt = malloc((size_t)s->cfg.text_bytes);
  int rc = (!doc || !txt) ? TIDE_E_NOMEM : 0;
  tide_msg *m = NULL;
  if (!rc) {
    for (int k = 0; k < s->cfg.text_bytes; k++)
      txt[k] = (char)('a' + rnd(s) % 26);
    tide_json *c = tide_json_new_object(doc);
    rc = tide_json_object_set(doc, c, "type", 4, tide_json_new_string(doc, "post", 4));
    if (!rc)
      rc = tide_json_object_set(doc, c, "text", 4,
                                tide_json_new_string(doc, txt, (size_t)s->cfg.text_bytes));
    if (!rc)
      rc = tide_msg_create(&m, &n->kp, has ? &prev : NULL, 1.7e12 + (double)s->now, c, NULL, NULL);
  }
  if (!rc)
    rc = tide_store_append(n->st, m, s->now, NULL);
  if (!rc) {
    int64_t seq = tide_msg_sequence(m);
    n->lseq[i] = seq;
    memcpy(n->lid[i], tide_msg_id(m), TIDE_HASH_BYTES);
    s->st.published++;
    rc = record_time(s, i, seq, 1);
    if (!rc)
      rc = verified_add(s, tide_msg_id(m));
    if (!rc) {
      size_t len;
      const char *t = tide_msg_text(m, &len);
      char *copy = malloc(len + 1);
      if (!copy) {
        rc = TIDE_E_NOMEM;
      } else {
        memcpy(copy, t, len);
        copy[len] = 0;
        s->times[i].text[seq] = copy;
        s->times[i].tlen[seq] = len;
      }
    }
    if (!rc && s->cfg.mode == TIDE_SIM_FLOOD) {
      rc = flood(s, i, -1, i, seq, s->times[i].text[seq], s->times[i].tlen[seq]);
    } else if (!rc) {
      rc = tide_ebt_on_append(n->e, n->kp.pk, seq, s->now);
      if (!rc)
        rc = pump(s, i);
    }
  }
  tide_msg_free(m);
  tide_json_doc_free(doc);
  free(txt);
  return rc;
}

/* Validates and appends text at node i: 0 = appended, TIDE_E_EXISTS,
 * TIDE_E_STORE_GAP, or another error for invalid messages. */
static int accept(tide_sim *s, int i, int author, int64_t seq, const char *text, size_t len)
{
  sim_node *n = &s->nodes[i];
  tide_feed_state st;
  int64_t latest = n->lseq[author];
  int have = latest > 0;
  st.sequence = latest;
  memcpy(st.id, n->lid[author], TIDE_HASH_BYTES);
  if (seq <= latest)
    return TIDE_E_EXISTS;
  if (seq > latest + 1)
    return TIDE_E_STORE_GAP;
  tide_msg *m = NULL;
  int rc = tide_msg_parse(&m, text, len, NULL);
  if (rc)
    return TIDE_E_MSG_INVALID;
  int sig = verified_has(s, tide_msg_id(m)) ? TIDE_MSG_SIG_VALID : TIDE_MSG_SIG_UNCHECKED;
  rc = tide_msg_validate(m, have ? &st : NULL, NULL, sig, NULL);
  if (!rc && sig == TIDE_MSG_SIG_UNCHECKED)
    rc = verified_add(s, tide_msg_id(m));
  if (!rc)
    rc = tide_store_append(n->st, m, s->now, NULL);
  if (!rc) {
    n->lseq[author] = seq;
    memcpy(n->lid[author], tide_msg_id(m), TIDE_HASH_BYTES);
  }
  tide_msg_free(m);
  return rc;
}

static int flood_receive(tide_sim *s, int i, int l, frame *f)
{
  sim_node *n = &s->nodes[i];
  int rc = accept(s, i, f->author, f->seq, f->text, f->len);
  if (rc == TIDE_E_STORE_GAP) {
    if (n->nheld == n->capheld) {
      size_t cap = n->capheld ? n->capheld * 2 : 16;
      held *h = realloc(n->held, cap * sizeof *h);
      if (!h)
        return TIDE_E_NOMEM;
      n->held = h;
      n->capheld = cap;
    }
    held *h = &n->held[n->nheld++];
    memcpy(h->feed, f->feed, TIDE_PK_BYTES);
    h->seq = f->seq;
    h->author = f->author;
    h->text = f->text;
    h->len = f->len;
    h->from_link = l;
    s->st.gaps++;
    return 0;
  }
  if (rc == TIDE_E_EXISTS)
    return 0;
  if (rc) {
    s->st.invalid++;
    return 0;
  }
  s->st.new_msgs++;
  if ((rc = record_time(s, f->author, f->seq, 0)))
    return rc;
  if ((rc = flood(s, i, l, f->author, f->seq, f->text, f->len)))
    return rc;
  /* Held messages that now fit. */
  for (size_t k = 0; k < n->nheld; k++) {
    held h = n->held[k];
    if (h.author != f->author || h.seq != f->seq + 1)
      continue;
    n->held[k] = n->held[--n->nheld];
    frame g = {FR_MSG, NULL, 0, h.text, h.len, {0}, h.seq, h.author, NULL, 0};
    memcpy(g.feed, h.feed, TIDE_PK_BYTES);
    return flood_receive(s, i, h.from_link, &g);
  }
  return 0;
}

static int ebt_receive(tide_sim *s, int i, tide_ebt_peer h, frame *f)
{
  sim_node *n = &s->nodes[i];
  tide_ebt_rx rx;
  if (!tide_ebt_wants(n->e, h, f->feed, f->seq)) {
    if (tide_ebt_replicates(n->e, f->feed) && f->seq <= tide_ebt_our_seq(n->e, f->feed))
      return tide_ebt_on_message(n->e, h, f->feed, f->seq, TIDE_EBT_RX_DUP, s->now);
    return 0; /* a feed we do not replicate: dropped */
  }
  int rc = accept(s, i, f->author, f->seq, f->text, f->len);
  if (rc == 0) {
    rx = TIDE_EBT_RX_NEW;
    s->st.new_msgs++;
    if ((rc = record_time(s, f->author, f->seq, 0)))
      return rc;
  } else if (rc == TIDE_E_EXISTS) {
    rx = TIDE_EBT_RX_DUP;
    s->st.store_dups++;
  } else if (rc == TIDE_E_STORE_GAP) {
    rx = TIDE_EBT_RX_GAP;
    s->st.gaps++;
  } else if (rc == TIDE_E_NOMEM || rc == TIDE_E_STORE) {
    return rc;
  } else {
    rx = TIDE_EBT_RX_INVALID;
    s->st.invalid++;
  }
  return tide_ebt_on_message(n->e, h, f->feed, f->seq, rx, s->now);
}

static int deliver(tide_sim *s, event *ev)
{
  sim_link *L = &s->links[ev->a];
  frame *f = ev->f;
  if (!L->up || ev->gen != L->gen)
    return 0; /* lost with the sim_link */
  int to = ev->dir == 0 ? L->b : L->a;
  int side = ev->dir == 0 ? 1 : 0;
  sim_node *n = &s->nodes[to];
  int rc;
  if (f->type == FR_MSG) {
    s->st.msg_frames++;
    if (s->cfg.mode == TIDE_SIM_FLOOD)
      return flood_receive(s, to, ev->a, f);
    /* In the binary stream the message names its feed by the index the
     * notes gave it; one the receiver left unresolved fails the stream. */
    long idx = tide_frame_codec_index(L->enc[ev->dir], f->feed);
    if (idx >= 0 && tide_frame_codec_known(L->dec[ev->dir], (size_t)idx) == 0) {
      s->st.stream_errors++;
      return 0;
    }
    rc = ebt_receive(s, to, L->h[side], f);
  } else {
    tide_frame fr;
    size_t used = 0;
    tide_frame_init(&fr);
    rc = tide_frame_decode(L->dec[ev->dir], &fr, f->wire, f->wire_len, &used, NULL);
    if (rc || used != f->wire_len) {
      tide_frame_clear(&fr);
      return TIDE_E_INTERNAL; /* our own encoder's frame must decode */
    }
    s->st.unresolved_entries += fr.n_unresolved;
    s->st.note_entries += fr.n_entries;
    /* same layout as the engine's notes; copied to be type-correct */
    for (size_t i = 0; i < fr.n_entries; i++) {
      memcpy(f->notes[i].feed, fr.entries[i].feed, TIDE_PK_BYTES);
      f->notes[i].value = fr.entries[i].value;
    }
    rc = tide_ebt_on_notes(n->e, L->h[side], f->notes, fr.n_entries, s->now);
    tide_frame_clear(&fr);
  }
  if (!rc)
    rc = pump(s, to);
  return rc;
}

/* --- scheduling API ----------------------------------------------------------- */

static int sched(tide_sim *s, int type, int a, int b, int64_t at)
{
  if (a < 0 || a >= s->cfg.nodes || b < 0 || b >= s->cfg.nodes)
    return TIDE_E_INVAL;
  event ev = {at, 0, type, a, b, 0, 0, NULL};
  return push_event(s, ev);
}

int tide_sim_link_up(tide_sim *s, int a, int b, int64_t at_ms)
{
  if (a == b)
    return TIDE_E_INVAL;
  return sched(s, EV_LINK_UP, a, b, at_ms);
}

int tide_sim_link_down(tide_sim *s, int a, int b, int64_t at_ms)
{
  return sched(s, EV_LINK_DOWN, a, b, at_ms);
}

static int linked(const tide_sim *s, int a, int b)
{
  return s->adj[(size_t)a * (size_t)s->cfg.nodes + (size_t)b] != 0;
}

/* Links ~k per node among nodes[lo, hi), marking adjacency as it goes. */
static int random_links(tide_sim *s, int lo, int hi, int k, int64_t at)
{
  int n = hi - lo, rc = 0;
  int *deg = calloc((size_t)s->cfg.nodes, sizeof *deg);
  if (!deg)
    return TIDE_E_NOMEM;
  for (int i = lo; i < hi; i++)
    for (int j = lo; j < hi; j++)
      if (i != j && linked(s, i, j))
        deg[i]++;
  for (int i = lo; i < hi && !rc; i++) {
    int tries = 0;
    while (deg[i] < k && deg[i] < n - 1 && tries < 50 * n) {
      int j = lo + (int)(rnd(s) % (uint64_t)n);
      tries++;
      if (j == i || linked(s, i, j) || (deg[j] >= k && tries < 20 * n))
        continue;
      rc = link_get(s, i, j);
      if (rc < 0)
        break;
      rc = tide_sim_link_up(s, i, j, at);
      deg[i]++;
      deg[j]++;
    }
  }
  free(deg);
  return rc < 0 ? rc : 0;
}

/* A ring through a random permutation of nodes[lo, hi): it keeps the
 * graph connected; random links then bring every node to ~k. */
static int random_ring(tide_sim *s, int lo, int hi, int64_t at)
{
  int n = hi - lo;
  int *perm = malloc((size_t)n * sizeof *perm);
  if (!perm)
    return TIDE_E_NOMEM;
  for (int i = 0; i < n; i++)
    perm[i] = lo + i;
  for (int i = n - 1; i > 0; i--) {
    int j = (int)(rnd(s) % (uint64_t)(i + 1)), t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  int rc = 0;
  for (int i = 0; i < n && n > 1 && !rc; i++) {
    int a = perm[i], b = perm[(i + 1) % n];
    if (linked(s, a, b))
      continue;
    rc = link_get(s, a, b);
    if (rc >= 0)
      rc = tide_sim_link_up(s, a, b, at);
  }
  free(perm);
  return rc < 0 ? rc : 0;
}

int tide_sim_topo_random(tide_sim *s, int k, int64_t at_ms)
{
  int rc = k >= 2 ? random_ring(s, 0, s->cfg.nodes, at_ms) : 0;
  return rc ? rc : random_links(s, 0, s->cfg.nodes, k, at_ms);
}

int tide_sim_topo_line(tide_sim *s, int64_t at_ms)
{
  for (int i = 0; i + 1 < s->cfg.nodes; i++) {
    int rc = link_get(s, i, i + 1);
    if (rc < 0)
      return rc;
    if ((rc = tide_sim_link_up(s, i, i + 1, at_ms)))
      return rc;
  }
  return 0;
}

int tide_sim_topo_star(tide_sim *s, int64_t at_ms)
{
  for (int i = 1; i < s->cfg.nodes; i++) {
    int rc = link_get(s, 0, i);
    if (rc < 0)
      return rc;
    if ((rc = tide_sim_link_up(s, 0, i, at_ms)))
      return rc;
  }
  return 0;
}

int tide_sim_topo_clusters(tide_sim *s, int clusters, int k, int bridges, int64_t at_ms)
{
  int n = s->cfg.nodes, size = n / clusters;
  if (clusters < 1 || size < 2)
    return TIDE_E_INVAL;
  for (int c = 0; c < clusters; c++) {
    int lo = c * size, hi = c == clusters - 1 ? n : lo + size;
    int rc = k >= 2 ? random_ring(s, lo, hi, at_ms) : 0;
    if (!rc)
      rc = random_links(s, lo, hi, k, at_ms);
    if (rc)
      return rc;
  }
  for (int c = 0; c < clusters && clusters > 1; c++) {
    int d = (c + 1) % clusters;
    if (clusters == 2 && c == 1)
      break;
    for (int b = 0; b < bridges; b++) {
      int i = c * size + (int)(rnd(s) % (uint64_t)size);
      int j = d * size + (int)(rnd(s) % (uint64_t)size);
      if (linked(s, i, j))
        continue;
      int rc = link_get(s, i, j);
      if (rc < 0)
        return rc;
      if ((rc = tide_sim_link_up(s, i, j, at_ms)))
        return rc;
    }
  }
  return 0;
}

int tide_sim_partition(tide_sim *s, int split, int64_t from_ms, int64_t to_ms)
{
  for (size_t l = 0; l < s->nlinks; l++) {
    int a = s->links[l].a, b = s->links[l].b;
    if ((a < split) == (b < split))
      continue;
    int rc = tide_sim_link_down(s, a, b, from_ms);
    if (!rc)
      rc = tide_sim_link_up(s, a, b, to_ms);
    if (rc)
      return rc;
  }
  return 0;
}

int tide_sim_publish(tide_sim *s, int node, int64_t at_ms)
{
  return sched(s, EV_PUBLISH, node, node, at_ms);
}

int tide_sim_publish_random(tide_sim *s, int count, int64_t from_ms, int64_t to_ms)
{
  for (int i = 0; i < count; i++) {
    int a = (int)(rnd(s) % (uint64_t)s->cfg.nodes);
    int64_t t = from_ms + (int64_t)(rnd(s) % (uint64_t)(to_ms > from_ms ? to_ms - from_ms : 1));
    int rc = tide_sim_publish(s, a, t);
    if (rc)
      return rc;
  }
  return 0;
}

int tide_sim_kill(tide_sim *s, int node, int64_t at_ms)
{
  return sched(s, EV_KILL, node, node, at_ms);
}

int tide_sim_join(tide_sim *s, int node, int k, int64_t at_ms)
{
  if (node < 0 || node >= s->cfg.nodes)
    return TIDE_E_INVAL;
  s->nodes[node].alive = 0; /* dormant until at_ms */
  event ev = {at_ms, 0, EV_JOIN, node, k, 0, 0, NULL};
  return push_event(s, ev);
}

int tide_sim_wipe(tide_sim *s, int node, int64_t at_ms)
{
  return sched(s, EV_WIPE, node, node, at_ms);
}

static int run_event(tide_sim *s, event *ev)
{
  int rc = 0;
  switch (ev->type) {
  case EV_DELIVER: rc = deliver(s, ev); break;
  case EV_TICK: {
    sim_node *n = &s->nodes[ev->a];
    if (!n->alive || !n->e || ev->t != n->tick_at)
      break;
    n->tick_at = -1;
    rc = tide_ebt_tick(n->e, s->now);
    if (!rc)
      rc = pump(s, ev->a);
    break;
  }
  case EV_LINK_UP: {
    int l = link_get(s, ev->a, ev->b);
    rc = l < 0 ? l : session_start(s, l);
    break;
  }
  case EV_LINK_DOWN: {
    int l = link_find(s, ev->a, ev->b);
    if (l >= 0)
      rc = session_end(s, l);
    break;
  }
  case EV_PUBLISH: rc = do_publish(s, ev->a); break;
  case EV_KILL:
    for (size_t l = 0; l < s->nlinks && !rc; l++)
      if (s->links[l].a == ev->a || s->links[l].b == ev->a)
        rc = session_end(s, (int)l);
    s->nodes[ev->a].alive = 0;
    break;
  case EV_JOIN: {
    s->nodes[ev->a].alive = 1;
    int want = ev->b, tries = 0;
    while (want > 0 && tries++ < 100 * s->cfg.nodes) {
      int j = (int)(rnd(s) % (uint64_t)s->cfg.nodes);
      if (j == ev->a || !s->nodes[j].alive || linked(s, ev->a, j))
        continue;
      int l = link_get(s, ev->a, j);
      if (l < 0)
        return l;
      if ((rc = session_start(s, l)))
        break;
      want--;
    }
    break;
  }
  case EV_WIPE: {
    int i = ev->a;
    int *ups = calloc(s->nlinks + 1, sizeof *ups);
    size_t nups = 0;
    if (!ups)
      return TIDE_E_NOMEM;
    for (size_t l = 0; l < s->nlinks && !rc; l++) {
      if ((s->links[l].a == i || s->links[l].b == i) && s->links[l].up) {
        ups[nups++] = (int)l;
        rc = session_end(s, (int)l);
      }
    }
    if (!rc) {
      node_teardown(&s->nodes[i]);
      rc = node_setup(s, i);
    }
    for (size_t k = 0; k < nups && !rc; k++)
      rc = session_start(s, ups[k]);
    free(ups);
    break;
  }
  }
  return rc;
}

int tide_sim_run(tide_sim *s, int64_t until_ms)
{
  if (s->err)
    return s->err;
  while (s->nheap > 0 && s->heap[0].t <= until_ms) {
    event ev = pop_event(s);
    if (ev.t > s->now)
      s->now = ev.t;
    int rc = run_event(s, &ev);
    frame_free(ev.f);
    if (rc) {
      s->err = rc;
      return rc;
    }
  }
  if (until_ms > s->now && s->nheap == 0)
    s->now = until_ms;
  return 0;
}

/* --- results ---------------------------------------------------------------- */

static int64_t store_seq(sim_node *n, const uint8_t feed[TIDE_PK_BYTES])
{
  tide_feed_state st;
  return tide_store_latest(n->st, &st, NULL, feed, NULL) == 0 ? st.sequence : 0;
}

int tide_sim_converged(tide_sim *s)
{
  int ref = -1;
  for (int i = 0; i < s->cfg.nodes; i++) {
    sim_node *n = &s->nodes[i];
    if (!n->alive)
      continue;
    if (ref < 0) {
      ref = i;
      continue;
    }
    for (int f = 0; f < s->cfg.nodes; f++) {
      const uint8_t *pk = s->nodes[f].kp.pk;
      int64_t a = store_seq(n, pk), b = store_seq(&s->nodes[ref], pk);
      if (a != b)
        return 0;
      if (s->cfg.mode == TIDE_SIM_EBT &&
          (tide_ebt_our_seq(n->e, pk) != a || tide_ebt_our_seq(s->nodes[ref].e, pk) != b))
        return 0;
    }
  }
  return 1;
}

int tide_sim_check_stores(tide_sim *s)
{
  for (int i = 0; i < s->cfg.nodes; i++)
    if (s->nodes[i].alive && tide_store_check(s->nodes[i].st, NULL) != 0)
      return 0;
  return 1;
}

double tide_sim_delivery(tide_sim *s)
{
  uint64_t have = 0, want = 0;
  int alive = tide_sim_alive(s);
  for (int f = 0; f < s->cfg.nodes; f++) {
    int64_t mx = 0;
    for (int i = 0; i < s->cfg.nodes; i++) {
      if (!s->nodes[i].alive)
        continue;
      int64_t q = s->nodes[i].lseq[f];
      have += (uint64_t)q;
      if (q > mx)
        mx = q;
    }
    want += (uint64_t)mx * (uint64_t)alive;
  }
  return want ? (double)have / (double)want : 1.0;
}

uint64_t tide_sim_lost(tide_sim *s)
{
  uint64_t lost = 0;
  for (int f = 0; f < s->cfg.nodes; f++) {
    int64_t mx = 0, authored = store_seq(&s->nodes[f], s->nodes[f].kp.pk);
    for (int i = 0; i < s->cfg.nodes; i++) {
      if (!s->nodes[i].alive)
        continue;
      int64_t q = store_seq(&s->nodes[i], s->nodes[f].kp.pk);
      if (q > mx)
        mx = q;
    }
    if (authored > mx)
      lost += (uint64_t)(authored - mx);
  }
  return lost;
}

int tide_sim_alive(tide_sim *s)
{
  int n = 0;
  for (int i = 0; i < s->cfg.nodes; i++)
    n += s->nodes[i].alive != 0;
  return n;
}

void tide_sim_get_stats(tide_sim *s, tide_sim_stats *out)
{
  *out = s->st;
}

void tide_sim_node_ebt_stats(tide_sim *s, int node, tide_ebt_stats *out)
{
  memset(out, 0, sizeof *out);
  if (node >= 0 && node < s->cfg.nodes && s->nodes[node].e)
    tide_ebt_get_stats(s->nodes[node].e, out);
}

int64_t tide_sim_now(tide_sim *s)
{
  return s->now;
}
