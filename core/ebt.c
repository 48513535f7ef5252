/* ebt.c - the EBT replication engine (see tide/ebt.h and
 * docs/replication.md).  Sans-I/O: events in, actions out. */
#include "tide/ebt.h"

#include <stdlib.h>
#include <string.h>

#include "feedmap_int.h"

#define NONE    UINT32_MAX
#define UNKNOWN INT32_MIN /* a pair value never said */

/* Pair flags. */
enum {
  P_HEARD = 1u << 0,     /* the peer sent a note for the feed this session */
  P_MENTIONED = 1u << 1, /* we sent (or queued) a note this session */
  P_WE_RX = 1u << 2,     /* we asked the peer to push (our last note even) */
  P_THEY_RX = 1u << 3,   /* the peer asked us to push (its last note even) */
  P_PENDING = 1u << 4,   /* a note is queued */
  P_GAPREQ = 1u << 5,    /* re-requested after a hole at gapseq */
  P_BAD = 1u << 6,       /* the peer sent an invalid message of the feed */
  P_WAITING = 1u << 7,   /* on the wait list: announced newer, eager is elsewhere */
  P_DEFERRED = 1u << 8   /* a lazy note waits in the peer's deferred batch */
};

/* The per (peer, feed) state: the talk's list.  Modes are the WE_RX /
 * THEY_RX flags; "what each side asked for" is the sequence part of ours
 * (we asked from seq(ours)+1) and of theirs (they asked from
 * seq(theirs)+1). */
struct pair {
  int32_t theirs;   /* last value the peer sent us (raised by its messages) */
  int32_t ours;     /* last value we sent the peer */
  int32_t sent;     /* highest sequence queued to the peer this session */
  int32_t gapseq;   /* our sequence when we last re-requested after a hole */
  int64_t deadline; /* P_WAITING: when to stop waiting for the eager peer */
  uint32_t flags;
};

struct feed {
  int64_t our_seq;
  uint32_t eager; /* interactive peer asked to push this feed, or NONE */
  uint8_t replicate;
};

struct peer {
  uint8_t used, started;
  unsigned flags;
  int64_t patience;
  struct pair *pairs;
  size_t npairs; /* allocated entries */
  uint32_t *pending;
  size_t npending, cappending;
  int empty_note; /* emit a NOTES action even without entries */
  int64_t note_delay;
  uint32_t *deferred; /* lazy notes waiting for flush_at */
  size_t ndeferred, capdeferred;
  int64_t flush_at;
  long self_feed;   /* index of the peer's own feed, or -1 */
  uint8_t notes_in; /* its first notes (its opening clock) arrived */
};

struct send {
  uint32_t peer, feed;
  int64_t from, to;
};

struct waiter {
  uint32_t peer, feed;
};

struct tide_ebt {
  tide__feedmap fmap;
  struct feed *feeds; /* fmap.cap entries */
  struct peer *peers;
  size_t npeers;
  struct send *sends;
  size_t sends_head, nsends, capsends;
  struct waiter *waits;
  size_t nwaits, capwaits;
  tide_ebt_note *scratch;
  size_t capscratch;
  tide_ebt_stats stats;
};

size_t tide_ebt_pair_bytes(void)
{
  return sizeof(struct pair);
}

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
  if (need <= *cap)
    return 0;
  size_t n = *cap ? *cap : 8;
  while (n < need)
    n *= 2;
  void *q = realloc(*p, n * elem);
  if (!q)
    return TIDE_E_NOMEM;
  *p = q;
  *cap = n;
  return 0;
}

static int32_t seq_of(int32_t v)
{
  return v < 0 ? -1 : v >> 1;
}
static int32_t clamp_seq(int64_t s)
{
  return s > TIDE_CLOCK_SEQ_MAX ? (int32_t)TIDE_CLOCK_SEQ_MAX : (int32_t)s;
}

static void pair_init(struct pair *p)
{
  p->theirs = UNKNOWN;
  p->ours = UNKNOWN;
  p->sent = -1;
  p->gapseq = -1;
  p->deadline = 0;
  p->flags = 0;
}

/* Makes sure peer pr has pair entries for every feed. */
static int peer_fit(tide_ebt *e, struct peer *pr)
{
  size_t need = e->fmap.n;
  if (need <= pr->npairs)
    return 0;
  size_t n = pr->npairs ? pr->npairs : 16;
  while (n < need)
    n *= 2;
  struct pair *q = realloc(pr->pairs, n * sizeof *q);
  if (!q)
    return TIDE_E_NOMEM;
  for (size_t i = pr->npairs; i < n; i++)
    pair_init(&q[i]);
  pr->pairs = q;
  pr->npairs = n;
  return 0;
}

/* Index of feed, adding it (not replicated, our_seq 0) when new. */
static int feed_add(tide_ebt *e, size_t *idx, const uint8_t key[TIDE_PK_BYTES])
{
  size_t oldcap = e->fmap.cap;
  int added, rc = tide__feedmap_add(&e->fmap, idx, &added, key);
  if (rc)
    return rc;
  if (e->fmap.cap != oldcap || !e->feeds) {
    struct feed *f = realloc(e->feeds, e->fmap.cap * sizeof *f);
    if (!f) {
      size_t i, moved;
      (void)tide__feedmap_remove(&e->fmap, &i, &moved, key);
      return TIDE_E_NOMEM;
    }
    e->feeds = f;
  }
  if (added) {
    e->feeds[*idx].our_seq = 0;
    e->feeds[*idx].eager = NONE;
    e->feeds[*idx].replicate = 0;
    for (size_t p = 0; p < e->npeers; p++)
      if (e->peers[p].used && (rc = peer_fit(e, &e->peers[p])))
        return rc;
  }
  return 0;
}

static struct peer *peer_get(tide_ebt *e, tide_ebt_peer peer)
{
  if (peer >= e->npeers || !e->peers[peer].used)
    return NULL;
  return &e->peers[peer];
}

static const struct peer *peer_cget(const tide_ebt *e, tide_ebt_peer peer)
{
  if (peer >= e->npeers || !e->peers[peer].used)
    return NULL;
  return &e->peers[peer];
}

static int note(tide_ebt *e, uint32_t peer, size_t f, int rx);
static int add_wait(tide_ebt *e, uint32_t peer, size_t f, int64_t now_ms);

/* Moves the peer's deferred lazy notes into its pending batch, dropping
 * those the peer no longer needs (it has our sequence, or asked us to
 * push, or the feed left the replication set). */
static int flush_deferred(tide_ebt *e, uint32_t peer)
{
  struct peer *pr = &e->peers[peer];
  size_t n = pr->ndeferred;
  pr->ndeferred = 0;
  for (size_t i = 0; i < n; i++) {
    size_t f = pr->deferred[i];
    struct pair *p = &pr->pairs[f];
    const struct feed *fd = &e->feeds[f];
    p->flags &= ~(uint32_t)P_DEFERRED;
    if (!fd->replicate || (p->flags & (P_PENDING | P_THEY_RX)) || p->theirs == -1 ||
        (p->theirs >= 0 && seq_of(p->theirs) >= clamp_seq(fd->our_seq)))
      continue;
    int rc = note(e, peer, f, (p->flags & P_WE_RX) != 0);
    if (rc)
      return rc;
  }
  return 0;
}

/* A lazy note for (peer, f): at once, or in the peer's deferred batch. */
static int lazy_note(tide_ebt *e, uint32_t peer, size_t f, int64_t now_ms)
{
  struct peer *pr = &e->peers[peer];
  struct pair *p = &pr->pairs[f];
  if (pr->note_delay <= 0)
    return note(e, peer, f, (p->flags & P_WE_RX) != 0);
  if (p->flags & (P_DEFERRED | P_PENDING))
    return 0;
  int rc = grow((void **)&pr->deferred, &pr->capdeferred, pr->ndeferred + 1, sizeof *pr->deferred);
  if (rc)
    return rc;
  if (pr->ndeferred == 0)
    pr->flush_at = now_ms + pr->note_delay;
  pr->deferred[pr->ndeferred++] = (uint32_t)f;
  p->flags |= P_DEFERRED;
  return 0;
}

/* Queues a note for (peer, f); its value is computed when polled.  rx
 * sets our mode for the pair (ignored when the feed is not replicated:
 * the note will say -1). */
static int note(tide_ebt *e, uint32_t peer, size_t f, int rx)
{
  struct peer *pr = &e->peers[peer];
  struct pair *p = &pr->pairs[f];
  if (rx && e->feeds[f].replicate)
    p->flags |= P_WE_RX;
  else
    p->flags &= ~(uint32_t)P_WE_RX;
  p->flags |= P_MENTIONED;
  if (p->flags & P_PENDING)
    return 0;
  int rc = grow((void **)&pr->pending, &pr->cappending, pr->npending + 1, sizeof *pr->pending);
  if (rc)
    return rc;
  pr->pending[pr->npending++] = (uint32_t)f;
  p->flags |= P_PENDING;
  return pr->ndeferred ? flush_deferred(e, peer) : 0;
}

/* Would we ask this peer to push f now?  Async peers always (a bundle
 * should carry messages, not notes); otherwise only when no interactive
 * peer is the eager source of f yet. */
static int choose_rx(const tide_ebt *e, uint32_t peer, size_t f)
{
  const struct peer *pr = &e->peers[peer];
  if (pr->pairs[f].flags & P_BAD)
    return 0;
  if (pr->flags & TIDE_EBT_PEER_ASYNC)
    return 1;
  if (pr->self_feed == (long)f)
    return 1;
  return e->feeds[f].eager == NONE || e->feeds[f].eager == peer;
}

/* Notes (peer, f) with choose_rx, making the peer the eager source when
 * it is asked to push. */
static int mention(tide_ebt *e, uint32_t peer, size_t f)
{
  int rx = choose_rx(e, peer, f);
  if (rx && !(e->peers[peer].flags & TIDE_EBT_PEER_ASYNC))
    e->feeds[f].eager = peer;
  return note(e, peer, f, rx);
}

static int queue_send(tide_ebt *e, uint32_t peer, size_t f, int64_t from, int64_t to)
{
  if (from > to)
    return 0;
  e->stats.msgs_requested += (uint64_t)(to - from + 1);
  if (e->nsends > e->sends_head) {
    struct send *last = &e->sends[e->nsends - 1];
    if (last->peer == peer && last->feed == f && last->to + 1 == from) {
      last->to = to;
      return 0;
    }
  }
  if (e->sends_head > 0 && e->sends_head == e->nsends)
    e->sends_head = e->nsends = 0;
  int rc = grow((void **)&e->sends, &e->capsends, e->nsends + 1, sizeof *e->sends);
  if (rc)
    return rc;
  e->sends[e->nsends++] = (struct send){peer, (uint32_t)f, from, to};
  return 0;
}

/* The connected interactive peer that announced the most of f (more
 * than we have), or NONE. */
static uint32_t best_source(const tide_ebt *e, size_t f)
{
  uint32_t best = NONE;
  int32_t best_seq = clamp_seq(e->feeds[f].our_seq);
  for (uint32_t q = 0; q < e->npeers; q++) {
    const struct peer *pr = &e->peers[q];
    if (!pr->used || !pr->started || (pr->flags & TIDE_EBT_PEER_ASYNC))
      continue;
    const struct pair *p = &pr->pairs[f];
    if ((p->flags & P_BAD) || p->theirs < 0)
      continue;
    if (seq_of(p->theirs) > best_seq) {
      best_seq = seq_of(p->theirs);
      best = q;
    }
  }
  return best;
}

/* Switches f to the connected interactive peer that announced the most
 * (more than we have), when there is one. */
static int reassign(tide_ebt *e, size_t f)
{
  e->feeds[f].eager = NONE;
  uint32_t best = best_source(e, f);
  if (best == NONE)
    return 0;
  e->feeds[f].eager = best;
  e->peers[best].pairs[f].flags &= ~(uint32_t)P_WAITING;
  e->stats.to_eager++;
  return note(e, best, f, 1);
}

/* Our sequence of f grew to seq (appended locally or received from src):
 * push it to peers that asked, note it to the others. */
static int advance(tide_ebt *e, size_t f, int64_t seq, uint32_t src, int64_t now_ms)
{
  struct feed *fd = &e->feeds[f];
  if (seq <= fd->our_seq)
    return 0;
  fd->our_seq = seq;
  if (!fd->replicate)
    return 0;
  for (uint32_t q = 0; q < e->npeers; q++) {
    struct peer *pr = &e->peers[q];
    if (!pr->used || !pr->started || q == src)
      continue;
    struct pair *p = &pr->pairs[f];
    if (p->theirs == -1)
      continue; /* the peer does not replicate it */
    int rc = 0;
    if (p->flags & P_THEY_RX) {
      int64_t have = p->sent > seq_of(p->theirs) ? p->sent : seq_of(p->theirs);
      if (have < seq) {
        rc = queue_send(e, q, f, have + 1, seq);
        p->sent = clamp_seq(seq);
      }
    } else if (p->theirs == UNKNOWN || seq_of(p->theirs) < seq) {
      rc = (p->flags & P_MENTIONED) ? lazy_note(e, q, f, now_ms) : mention(e, q, f);
    }
    if (rc)
      return rc;
  }
  return 0;
}

int tide_ebt_new(tide_ebt **out)
{
  tide_ebt *e = calloc(1, sizeof *e);
  if (!e)
    return TIDE_E_NOMEM;
  tide__feedmap_init(&e->fmap);
  if (tide__feedmap_index_prefixes(&e->fmap) != 0) {
    tide__feedmap_free(&e->fmap);
    free(e);
    return TIDE_E_NOMEM;
  }
  *out = e;
  return 0;
}

void tide_ebt_free(tide_ebt *e)
{
  if (!e)
    return;
  for (size_t i = 0; i < e->npeers; i++) {
    free(e->peers[i].pairs);
    free(e->peers[i].pending);
    free(e->peers[i].deferred);
  }
  free(e->peers);
  free(e->feeds);
  free(e->sends);
  free(e->waits);
  free(e->scratch);
  tide__feedmap_free(&e->fmap);
  free(e);
}

/* Drops queued sends matching peer (or any peer when NONE) and feed (or
 * any feed when NONE). */
static void drop_sends(tide_ebt *e, uint32_t peer, uint32_t feed)
{
  size_t w = e->sends_head;
  for (size_t r = e->sends_head; r < e->nsends; r++) {
    const struct send *s = &e->sends[r];
    if ((peer == NONE || s->peer == peer) && (feed == NONE || s->feed == feed))
      continue;
    e->sends[w++] = *s;
  }
  e->nsends = w;
}

int tide_ebt_set_feed(tide_ebt *e, const uint8_t feed[TIDE_PK_BYTES], int replicate,
                      int64_t our_seq, int64_t now_ms)
{
  size_t f;
  int rc;
  if (!e || !feed)
    return TIDE_E_INVAL;
  if ((rc = feed_add(e, &f, feed)))
    return rc;
  struct feed *fd = &e->feeds[f];
  int was = fd->replicate;
  replicate = replicate ? 1 : 0;
  if (was && replicate)
    return advance(e, f, our_seq, NONE, now_ms);
  if (our_seq > fd->our_seq)
    fd->our_seq = our_seq;
  if (was == replicate)
    return 0;
  fd->replicate = (uint8_t)replicate;
  fd->eager = NONE;
  if (!replicate)
    drop_sends(e, NONE, (uint32_t)f);
  /* A peer may have told us its sequence while we did not replicate the
   * feed (we answered -1) or in an earlier session: the one furthest
   * ahead is asked to push at once, and the others that announced more
   * than we have wait on it (rule 6), instead of the first peer in
   * connection order, which may have nothing. */
  uint32_t best = replicate ? best_source(e, f) : NONE;
  if (best != NONE) {
    fd->eager = best;
    e->stats.to_eager++;
  }
  for (uint32_t q = 0; q < e->npeers; q++) {
    struct peer *pr = &e->peers[q];
    if (!pr->used || !pr->started)
      continue;
    struct pair *p = &pr->pairs[f];
    if (replicate) {
      rc = q == best ? note(e, q, f, 1) : mention(e, q, f);
      if (!rc && best != NONE && !(pr->flags & TIDE_EBT_PEER_ASYNC) &&
          !(p->flags & (P_WE_RX | P_BAD)) && p->theirs >= 0 &&
          seq_of(p->theirs) > clamp_seq(fd->our_seq))
        rc = add_wait(e, q, f, now_ms);
    } else {
      p->flags &= ~(uint32_t)(P_THEY_RX | P_WAITING);
      rc = (p->flags & (P_MENTIONED | P_HEARD)) ? note(e, q, f, 0) : 0;
    }
    if (rc)
      return rc;
  }
  return 0;
}

int64_t tide_ebt_our_seq(const tide_ebt *e, const uint8_t feed[TIDE_PK_BYTES])
{
  long f = tide__feedmap_find(&e->fmap, feed);
  return f < 0 ? 0 : e->feeds[f].our_seq;
}

int tide_ebt_replicates(const tide_ebt *e, const uint8_t feed[TIDE_PK_BYTES])
{
  long f = tide__feedmap_find(&e->fmap, feed);
  return f >= 0 && e->feeds[f].replicate;
}

int tide_ebt_find_prefix(const tide_ebt *e, uint8_t key[TIDE_PK_BYTES], const uint8_t *prefix,
                         size_t len)
{
  size_t f = 0;
  int n;
  if (!e || !key || !prefix || len < TIDE_EBT_PREFIX_MIN || len > TIDE_PK_BYTES)
    return TIDE_E_INVAL;
  n = tide__feedmap_find_prefix(&e->fmap, &f, prefix, len);
  if (n == 1)
    memcpy(key, e->fmap.keys[f], TIDE_PK_BYTES);
  return n;
}

size_t tide_ebt_prefix_collisions(const tide_ebt *e)
{
  return e ? e->fmap.ncollide : 0;
}

/* The first notes of a session: request skipping. */
static int start_peer(tide_ebt *e, uint32_t peer, int full)
{
  struct peer *pr = &e->peers[peer];
  pr->started = 1;
  pr->empty_note = 1;
  for (size_t f = 0; f < e->fmap.n; f++) {
    const struct feed *fd = &e->feeds[f];
    struct pair *p = &pr->pairs[f];
    if (!fd->replicate || (p->flags & P_MENTIONED))
      continue;
    int32_t ours = clamp_seq(fd->our_seq);
    int include = full || p->ours == UNKNOWN || p->ours == -1 || p->theirs == UNKNOWN ||
                  p->theirs == -1 || seq_of(p->ours) != ours || seq_of(p->theirs) > ours;
    if (!include)
      continue;
    int rc = mention(e, peer, f);
    if (rc)
      return rc;
  }
  return 0;
}

int tide_ebt_connect(tide_ebt *e, tide_ebt_peer *peer, const tide_ebt_peer_opts *opts,
                     int64_t now_ms)
{
  static const tide_ebt_peer_opts defaults = {.theirs = NULL};
  uint32_t h;
  int rc;
  (void)now_ms;
  if (!e || !peer)
    return TIDE_E_INVAL;
  if (!opts)
    opts = &defaults;
  for (h = 0; h < e->npeers && e->peers[h].used; h++) {
  }
  if (h == e->npeers) {
    struct peer *np = realloc(e->peers, (e->npeers + 1) * sizeof *np);
    if (!np)
      return TIDE_E_NOMEM;
    e->peers = np;
    memset(&e->peers[e->npeers++], 0, sizeof *np);
  }
  struct peer *pr = &e->peers[h];
  pr->used = 1;
  pr->started = 0;
  pr->flags = opts->flags;
  pr->patience = opts->patience_ms > 0 ? opts->patience_ms : TIDE_EBT_DEFAULT_PATIENCE_MS;
  pr->npending = 0;
  pr->empty_note = 0;
  pr->ndeferred = 0;
  pr->note_delay = opts->note_delay_ms > 0 ? opts->note_delay_ms : 0;
  pr->self_feed = -1;
  pr->notes_in = 0;
  for (size_t i = 0; i < pr->npairs; i++)
    pair_init(&pr->pairs[i]);
  if (opts->id) {
    size_t sf;
    if ((rc = feed_add(e, &sf, opts->id)))
      goto fail;
    pr = &e->peers[h];
    pr->self_feed = (long)sf;
  }
  if ((rc = peer_fit(e, pr)))
    goto fail;
  const tide_clock *cl[2] = {opts->theirs, opts->ours};
  for (int k = 0; k < 2; k++) {
    if (!cl[k])
      continue;
    size_t it = 0;
    uint8_t key[TIDE_PK_BYTES];
    int64_t v;
    while (tide_clock_next(cl[k], &it, key, &v)) {
      long f = tide__feedmap_find(&e->fmap, key);
      if (f < 0 || tide_clock_value_check(v) != 0)
        continue;
      if (k == 0)
        pr->pairs[f].theirs = (int32_t)v;
      else
        pr->pairs[f].ours = (int32_t)v;
    }
  }
  *peer = h;
  if (!(opts->flags & TIDE_EBT_PEER_WAIT) &&
      (rc = start_peer(e, h, opts->theirs == NULL || opts->ours == NULL)))
    goto fail;
  return 0;
fail:
  pr->used = 0;
  pr->npending = 0;
  return rc;
}

/* The peer's clock went backwards: forget what we remembered of it and
 * send our whole clock so that it is refilled. */
static int reset_peer(tide_ebt *e, uint32_t peer)
{
  struct peer *pr = &e->peers[peer];
  e->stats.resets++;
  /* What the peer said in this session stands (a clock may come in
   * several calls); what we remembered from earlier sessions goes.  Only
   * pairs heard this session can have pushes queued. */
  for (size_t f = 0; f < e->fmap.n; f++) {
    struct pair *p = &pr->pairs[f];
    if (p->flags & P_HEARD)
      continue;
    p->theirs = UNKNOWN;
    p->sent = -1;
    p->flags &= ~(uint32_t)P_THEY_RX;
  }
  for (size_t f = 0; f < e->fmap.n; f++) {
    if (!e->feeds[f].replicate)
      continue;
    struct pair *p = &pr->pairs[f];
    int rc = (p->flags & P_MENTIONED) ? note(e, peer, f, (p->flags & P_WE_RX) != 0)
                                      : mention(e, peer, f);
    if (rc)
      return rc;
  }
  return 0;
}

static int add_wait(tide_ebt *e, uint32_t peer, size_t f, int64_t now_ms)
{
  struct pair *p = &e->peers[peer].pairs[f];
  if (p->flags & P_WAITING)
    return 0;
  uint32_t eager = e->feeds[f].eager;
  int rc = grow((void **)&e->waits, &e->capwaits, e->nwaits + 1, sizeof *e->waits);
  if (rc)
    return rc;
  e->waits[e->nwaits++] = (struct waiter){peer, (uint32_t)f};
  p->deadline = now_ms + e->peers[eager].patience;
  p->flags |= P_WAITING;
  return 0;
}

static int one_note(tide_ebt *e, uint32_t peer, size_t f, int64_t v, int64_t now_ms)
{
  struct peer *pr = &e->peers[peer];
  struct pair *p = &pr->pairs[f];
  struct feed *fd = &e->feeds[f];
  int rc = 0;
  e->stats.notes_received++;
  if (!fd->replicate) {
    p->theirs = (int32_t)v;
    p->flags |= P_HEARD;
    /* Tell the peer once that we do not replicate it. */
    if (v != -1 && !((p->flags & P_MENTIONED) && p->ours == -1))
      rc = note(e, peer, f, 0);
    return rc;
  }
  int first = !(p->flags & P_HEARD);
  /* Rule 12: after its opening clock, the peer notes a feed it never
   * said anything of (in any session) or last said -1 to: it did not
   * take in what we told it of the feed (it did not know the feed, a
   * short key it could not resolve, or did not replicate it then), so
   * a note from us does not count as told. */
  int unaware = pr->notes_in && (p->theirs == UNKNOWN || p->theirs == -1);
  p->theirs = (int32_t)v;
  p->flags |= P_HEARD;
  if (v == -1) {
    /* Not interested (for now): stop pushing, find another source.  The
     * -1 is remembered but never used to skip this feed later. */
    p->flags &= ~(uint32_t)(P_THEY_RX | P_WAITING);
    if (fd->eager == peer) {
      p->flags &= ~(uint32_t)P_WE_RX;
      rc = reassign(e, f);
    }
    return rc;
  }
  int32_t s = seq_of((int32_t)v);
  int64_t ours = fd->our_seq;
  if (tide_clock_value_rx(v)) {
    /* Push everything after s; a request below what we already sent (a
     * hole on their side) is served again from there. */
    p->flags |= P_THEY_RX;
    if (s < ours) {
      if ((rc = queue_send(e, peer, f, (int64_t)s + 1, ours)))
        return rc;
      p->sent = clamp_seq(ours);
    } else {
      p->sent = s;
    }
  } else {
    p->flags &= ~(uint32_t)P_THEY_RX;
    if (ours > s && (p->flags & P_MENTIONED) && !(p->flags & P_PENDING)) {
      if (seq_of(p->ours) < clamp_seq(ours))
        rc = lazy_note(e, peer, f, now_ms); /* let them know we are ahead */
      else if (unaware)
        rc = note(e, peer, f, (p->flags & P_WE_RX) != 0); /* an answer: at once */
    }
  }
  if (rc)
    return rc;
  if (first && !(p->flags & P_MENTIONED) && (rc = mention(e, peer, f)))
    return rc;
  if (s > ours && !(p->flags & P_WE_RX) && !(p->flags & P_BAD)) {
    uint32_t eager = fd->eager;
    if (pr->flags & TIDE_EBT_PEER_ASYNC) {
      rc = note(e, peer, f, 1);
    } else if (eager == NONE || eager == peer) {
      fd->eager = peer;
      e->stats.to_eager++;
      rc = note(e, peer, f, 1);
    } else {
      rc = add_wait(e, peer, f, now_ms);
    }
  }
  return rc;
}

int tide_ebt_on_notes(tide_ebt *e, tide_ebt_peer peer, const tide_ebt_note *notes, size_t n,
                      int64_t now_ms)
{
  if (!e)
    return TIDE_E_INVAL;
  struct peer *pr = peer_get(e, peer);
  if (!pr || (n && !notes))
    return TIDE_E_INVAL;
  for (size_t i = 0; i < n; i++)
    if (tide_clock_value_check(notes[i].value) != 0)
      return TIDE_E_INVAL;
  /* A sequence below what the peer told us before: its store was wiped
   * or restored.  Reset before processing the batch, so that nothing of
   * the batch is forgotten. */
  for (size_t i = 0; i < n; i++) {
    long f = tide__feedmap_find(&e->fmap, notes[i].feed);
    if (f < 0 || !e->feeds[f].replicate || notes[i].value < 0)
      continue;
    int32_t t = pr->pairs[f].theirs;
    if (t >= 0 && seq_of((int32_t)notes[i].value) < seq_of(t)) {
      if (pr->started) {
        int rc = reset_peer(e, peer);
        if (rc)
          return rc;
      } else {
        e->stats.resets++;
        for (size_t g = 0; g < e->fmap.n; g++)
          pr->pairs[g].theirs = UNKNOWN;
      }
      break;
    }
  }
  int waiting = !pr->started;
  if (waiting)
    pr->started = 1; /* answers below count as our first notes */
  for (size_t i = 0; i < n; i++) {
    size_t f;
    int rc = feed_add(e, &f, notes[i].feed);
    if (!rc)
      rc = one_note(e, peer, f, notes[i].value, now_ms);
    if (rc)
      return rc;
  }
  pr->notes_in = 1; /* its opening clock, which crossed ours, is in */
  if (waiting)
    return start_peer(e, peer, 0);
  return 0;
}

int tide_ebt_on_clock(tide_ebt *e, tide_ebt_peer peer, const tide_clock *c, int64_t now_ms)
{
  size_t it = 0, n = 0, count;
  int rc;
  if (!e || !c)
    return TIDE_E_INVAL;
  /* One call for the whole clock, so that a reset it triggers sees all
   * of it at once. */
  count = tide_clock_count(c);
  tide_ebt_note *all = malloc((count ? count : 1) * sizeof *all);
  if (!all)
    return TIDE_E_NOMEM;
  while (n < count && tide_clock_next(c, &it, all[n].feed, &all[n].value))
    n++;
  rc = tide_ebt_on_notes(e, peer, all, n, now_ms);
  free(all);
  return rc;
}

int tide_ebt_wants(const tide_ebt *e, tide_ebt_peer peer, const uint8_t feed[TIDE_PK_BYTES],
                   int64_t seq)
{
  const struct peer *pr = e ? peer_cget(e, peer) : NULL;
  if (!pr)
    return 0;
  long f = tide__feedmap_find(&e->fmap, feed);
  if (f < 0 || !e->feeds[f].replicate)
    return 0;
  if ((size_t)f < pr->npairs && (pr->pairs[f].flags & P_BAD))
    return 0;
  return seq > e->feeds[f].our_seq;
}

int tide_ebt_on_message(tide_ebt *e, tide_ebt_peer peer, const uint8_t feed[TIDE_PK_BYTES],
                        int64_t seq, tide_ebt_rx rx, int64_t now_ms)
{
  if (!e || !feed || seq < 1)
    return TIDE_E_INVAL;
  struct peer *pr = peer_get(e, peer);
  if (!pr)
    return TIDE_E_INVAL;
  long fl = tide__feedmap_find(&e->fmap, feed);
  if (fl < 0 || !e->feeds[fl].replicate)
    return 0;
  size_t f = (size_t)fl;
  struct pair *p = &pr->pairs[f];
  struct feed *fd = &e->feeds[f];
  int async = (pr->flags & TIDE_EBT_PEER_ASYNC) != 0;
  int32_t s = clamp_seq(seq);
  if (p->theirs < 0)
    p->theirs = (int32_t)tide_clock_value(s, 0);
  else if (s > seq_of(p->theirs))
    p->theirs = (int32_t)tide_clock_value(s, tide_clock_value_rx(p->theirs));
  switch (rx) {
  case TIDE_EBT_RX_NEW:
    e->stats.msgs_new++;
    p->flags &= ~(uint32_t)P_GAPREQ;
    if ((p->flags & P_WE_RX) && !async)
      fd->eager = peer;
    return advance(e, f, seq, peer, now_ms);
  case TIDE_EBT_RX_DUP:
    e->stats.msgs_dup++;
    if ((p->flags & P_WE_RX) && !async) {
      e->stats.to_lazy++;
      if (fd->eager == peer)
        fd->eager = NONE;
      return note(e, peer, f, 0);
    }
    return 0;
  case TIDE_EBT_RX_GAP:
    e->stats.msgs_gap++;
    if ((p->flags & P_GAPREQ) && p->gapseq == clamp_seq(fd->our_seq))
      return 0;
    p->flags |= P_GAPREQ;
    p->gapseq = clamp_seq(fd->our_seq);
    if (!async)
      fd->eager = peer;
    /* Re-request from our sequence; force a fresh note even when one
     * with the same value went out before. */
    return note(e, peer, f, 1);
  case TIDE_EBT_RX_INVALID:
    p->flags |= P_BAD;
    p->flags &= ~(uint32_t)P_WAITING;
    if (p->flags & P_WE_RX) {
      int rc = note(e, peer, f, 0);
      if (rc)
        return rc;
    }
    return fd->eager == peer ? reassign(e, f) : 0;
  }
  return TIDE_E_INVAL;
}

int tide_ebt_on_append(tide_ebt *e, const uint8_t feed[TIDE_PK_BYTES], int64_t seq, int64_t now_ms)
{
  if (!e || !feed || seq < 1)
    return TIDE_E_INVAL;
  long f = tide__feedmap_find(&e->fmap, feed);
  if (f < 0 || !e->feeds[f].replicate)
    return 0;
  return advance(e, (size_t)f, seq, NONE, now_ms);
}

int tide_ebt_disconnect(tide_ebt *e, tide_ebt_peer peer, int64_t now_ms)
{
  (void)now_ms;
  if (!e)
    return TIDE_E_INVAL;
  struct peer *pr = peer_get(e, peer);
  if (!pr)
    return TIDE_E_INVAL;
  pr->used = 0;
  pr->started = 0;
  pr->npending = 0;
  pr->empty_note = 0;
  pr->ndeferred = 0;
  drop_sends(e, peer, NONE);
  size_t w = 0;
  for (size_t i = 0; i < e->nwaits; i++)
    if (e->waits[i].peer != peer)
      e->waits[w++] = e->waits[i];
  e->nwaits = w;
  for (size_t f = 0; f < e->fmap.n; f++) {
    if (e->feeds[f].eager != peer)
      continue;
    int rc = reassign(e, f);
    if (rc)
      return rc;
  }
  return 0;
}

int tide_ebt_tick(tide_ebt *e, int64_t now_ms)
{
  if (!e)
    return TIDE_E_INVAL;
  size_t w = 0;
  int rc = 0;
  for (size_t i = 0; i < e->nwaits; i++) {
    struct waiter wt = e->waits[i];
    struct peer *pr = &e->peers[wt.peer];
    struct pair *p = &pr->pairs[wt.feed];
    struct feed *fd = &e->feeds[wt.feed];
    if (rc || !pr->used || !(p->flags & P_WAITING))
      continue;
    if (!fd->replicate || p->theirs < 0 || seq_of(p->theirs) <= fd->our_seq ||
        (p->flags & P_WE_RX)) {
      p->flags &= ~(uint32_t)P_WAITING; /* delivered meanwhile */
      continue;
    }
    if (p->deadline > now_ms) {
      e->waits[w++] = wt;
      continue;
    }
    /* The eager peer ran out of patience: move the feed to this peer. */
    p->flags &= ~(uint32_t)P_WAITING;
    uint32_t old = fd->eager;
    if (old != NONE && old != wt.peer) {
      e->stats.to_lazy++;
      rc = note(e, old, wt.feed, 0);
    }
    fd->eager = wt.peer;
    e->stats.to_eager++;
    if (!rc)
      rc = note(e, wt.peer, wt.feed, 1);
  }
  e->nwaits = w;
  for (uint32_t q = 0; !rc && q < e->npeers; q++) {
    struct peer *pr = &e->peers[q];
    if (pr->used && pr->ndeferred && pr->flush_at <= now_ms)
      rc = flush_deferred(e, q);
  }
  return rc;
}

int64_t tide_ebt_next_wake(const tide_ebt *e)
{
  int64_t best = -1;
  for (size_t i = 0; i < e->nwaits; i++) {
    const struct pair *p = &e->peers[e->waits[i].peer].pairs[e->waits[i].feed];
    if (!(p->flags & P_WAITING))
      continue;
    if (best < 0 || p->deadline < best)
      best = p->deadline;
  }
  for (size_t q = 0; q < e->npeers; q++) {
    const struct peer *pr = &e->peers[q];
    if (pr->used && pr->ndeferred && (best < 0 || pr->flush_at < best))
      best = pr->flush_at;
  }
  return best;
}

int tide_ebt_poll(tide_ebt *e, tide_ebt_action *out)
{
  for (uint32_t q = 0; q < e->npeers; q++) {
    struct peer *pr = &e->peers[q];
    if (!pr->used || (!pr->npending && !pr->empty_note))
      continue;
    if (grow((void **)&e->scratch, &e->capscratch, pr->npending + 1, sizeof *e->scratch))
      return 0; /* out of memory: the notes stay queued */
    size_t n = 0;
    for (size_t i = 0; i < pr->npending; i++) {
      size_t f = pr->pending[i];
      struct pair *p = &pr->pairs[f];
      const struct feed *fd = &e->feeds[f];
      int64_t v =
          fd->replicate ? tide_clock_value(clamp_seq(fd->our_seq), (p->flags & P_WE_RX) != 0) : -1;
      p->flags &= ~(uint32_t)P_PENDING;
      p->ours = (int32_t)v;
      memcpy(e->scratch[n].feed, e->fmap.keys[f], TIDE_PK_BYTES);
      e->scratch[n++].value = v;
    }
    pr->npending = 0;
    pr->empty_note = 0;
    e->stats.notes_sent += n;
    memset(out, 0, sizeof *out);
    out->type = TIDE_EBT_NOTES;
    out->peer = q;
    out->notes = e->scratch;
    out->n_notes = n;
    return 1;
  }
  if (e->sends_head < e->nsends) {
    const struct send *s = &e->sends[e->sends_head++];
    memset(out, 0, sizeof *out);
    out->type = TIDE_EBT_SEND;
    out->peer = s->peer;
    memcpy(out->feed, e->fmap.keys[s->feed], TIDE_PK_BYTES);
    out->from_seq = s->from;
    out->to_seq = s->to;
    if (e->sends_head == e->nsends)
      e->sends_head = e->nsends = 0;
    return 1;
  }
  return 0;
}

int tide_ebt_peer_clocks(const tide_ebt *e, tide_ebt_peer peer, tide_clock *theirs,
                         tide_clock *ours)
{
  if (!e)
    return TIDE_E_INVAL;
  const struct peer *pr = peer_cget(e, peer);
  if (!pr)
    return TIDE_E_INVAL;
  if (theirs)
    tide_clock_clear(theirs);
  if (ours)
    tide_clock_clear(ours);
  for (size_t f = 0; f < e->fmap.n; f++) {
    const struct pair *p = &pr->pairs[f];
    int rc = 0;
    if (theirs && p->theirs != UNKNOWN)
      rc = tide_clock_set(theirs, e->fmap.keys[f], p->theirs);
    if (!rc && ours && p->ours != UNKNOWN)
      rc = tide_clock_set(ours, e->fmap.keys[f], p->ours);
    if (rc)
      return rc;
  }
  return 0;
}

int64_t tide_ebt_peer_seq(const tide_ebt *e, tide_ebt_peer peer, const uint8_t feed[TIDE_PK_BYTES])
{
  const struct peer *pr = peer_cget(e, peer);
  long f = tide__feedmap_find(&e->fmap, feed);
  if (!pr || f < 0)
    return -1;
  int32_t v = pr->pairs[f].theirs;
  return v < 0 ? -1 : seq_of(v);
}

int tide_ebt_peer_mode(const tide_ebt *e, tide_ebt_peer peer, const uint8_t feed[TIDE_PK_BYTES])
{
  const struct peer *pr = peer_cget(e, peer);
  long f = tide__feedmap_find(&e->fmap, feed);
  if (!pr || f < 0)
    return 0;
  uint32_t fl = pr->pairs[f].flags;
  return ((fl & P_WE_RX) ? TIDE_EBT_MODE_WE_EAGER : 0) |
         ((fl & P_THEY_RX) ? TIDE_EBT_MODE_THEY_EAGER : 0);
}

void tide_ebt_get_stats(const tide_ebt *e, tide_ebt_stats *out)
{
  *out = e->stats;
}
