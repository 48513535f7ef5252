/* ingest.c - the ingest pipeline (see tide/ingest.h, docs/store.md).
 *
 * Data flow.  push() appends inputs to the `filling` batch.  When it is
 * full it goes to the worker pool (behind the `verifying` batch, whose
 * chunks may still be in progress), and the calling thread validates +
 * appends + commits the `verifying` batch chunk by chunk, each as soon as
 * it is parsed and checked (taking chunks itself rather than sleeping
 * when none is ready).  So the SQLite work of batch k overlaps the
 * parsing and signature checks of batches k and k+1, no core waits for a
 * whole batch at the start or the end of an import.  Two batches are
 * used in turn (the one just stored is filled next), so memory stays
 * bounded by two batches.  Without workers
 * the calling thread parses and checks INLINE_CHUNK items at a time inside
 * the batch's transaction.
 *
 * Ordering.  Each verified batch is processed in input order.  A message
 * whose sequence is beyond the feed's latest+1 is moved to the feed's
 * hold list (sorted by sequence); each time a feed advances, its hold
 * list is drained while its first entry is <= latest+1.
 *
 * Verdicts are queued while a batch is processed and reported only after
 * its commit succeeded; a failed commit reports nothing of that batch and
 * breaks the session (sticky error). */
#include "tide/ingest.h"

#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Items per work unit taken by a worker. */
#define CHUNK 16
/* Without workers, items are parsed and their signatures checked this
 * many at a time, between the SQLite work of the previous ones: each kind
 * of work runs in a row (the signature code and its tables stay in the
 * CPU caches, not evicted by SQLite for every message), while the
 * messages themselves are still in the caches when they are stored. */
#define INLINE_CHUNK 64

typedef struct item {
  uint64_t tag;
  size_t off, len; /* raw text: the batch's text[off..off+len) until parsed */
  tide_msg *msg;   /* parsed (owned) */
  int sig;         /* TIDE_MSG_SIG_UNCHECKED, 0 or a negative code */
  int parse_code;
  char *parse_msg; /* owned, when parsing failed */
} item;

/* Raw texts are copied into one growing block per batch (`text`), not
 * one allocation per input; the block is reused by the next batch.
 * While a batch is with the worker pool, its items are cut into chunks of
 * CHUNK: `next` is the first item no thread took yet, `finished` counts
 * the items of finished chunks and done[c] is set when chunk c is
 * finished (all three under the pool's mutex). */
typedef struct batch {
  item *items;
  size_t n, cap;
  char *text;
  size_t text_len, text_cap;
  unsigned char *done; /* one flag per chunk, cap / CHUNK + 1 of them */
  size_t next, finished;
  int in_pool;
} batch;

/* A batch text block larger than this is released after use (one huge
 * input must not pin its memory for the whole session). */
#define TEXT_KEEP ((size_t)8 << 20)

/* A verdict waiting for the batch's commit. */
typedef struct verdict {
  uint64_t tag;
  tide_ingest_verdict v;
  int code;
  char *reason;  /* owned or NULL */
  tide_msg *msg; /* owned or NULL */
  int has_author;
  uint8_t author[TIDE_PK_BYTES];
  int64_t sequence;
} verdict;

typedef struct feed {
  uint8_t pk[TIDE_PK_BYTES];
  int exists; /* the store holds messages of it */
  int forked;
  int64_t latest;
  uint8_t latest_id[TIDE_HASH_BYTES];
  /* latest as probably_stored() may read it (0 when !exists) */
  _Atomic int64_t known;
  uint64_t checked_txn; /* transaction in which the state was last re-read */
  item *held;           /* sorted by sequence */
  size_t nheld, capheld;
  struct feed *next_held; /* list of feeds with held messages */
  int on_held_list;
} feed;

/* The worker pool holds up to two batches (jobs[0] the older): the one
 * the calling thread is storing, whose chunks may still be in progress,
 * and the next one.  Workers take chunks in input order, from the older
 * batch first. */
typedef struct pool {
  pthread_mutex_t mu;
  pthread_cond_t work;
  pthread_cond_t done;
  batch *jobs[2];
  size_t njobs;
  int waiting; /* the calling thread waits on `done` */
  int stop;
  pthread_t *threads;
  size_t nthreads;
  struct tide_ingest *ing;
} pool;

struct tide_ingest {
  tide_store *store;
  tide_ingest_cb cb;
  void *ctx;
  size_t batch_size, max_held;
  int has_hmac;
  uint8_t hmac[TIDE_HMAC_KEY_BYTES];
  int64_t received_ms;

  batch b[2];
  batch *filling, *verifying; /* verifying: with the workers, or NULL */
  pool pool;
  int pool_started;

  /* Feed table: open addressing on the public key.  Only the calling
   * thread changes it, under the write lock; workers look up under the
   * read lock. */
  pthread_rwlock_t feeds_lock;
  feed **feeds;
  size_t nfeeds, capfeeds;
  feed *held_feeds;
  size_t held;

  verdict *out;
  size_t nout, capout;

  uint64_t txn; /* number of the current batch transaction */
  int broken;   /* sticky storage error */
  tide_error broken_err;
  tide_ingest_stats stats;
};

/* ---- Small helpers ------------------------------------------------------ */

static void item_clear(item *it)
{
  free(it->parse_msg);
  tide_msg_free(it->msg);
  memset(it, 0, sizeof *it);
}

static void batch_clear(batch *b)
{
  for (size_t i = 0; i < b->n; i++)
    item_clear(&b->items[i]);
  b->n = 0;
  b->text_len = 0;
  if (b->text_cap > TEXT_KEEP) {
    free(b->text);
    b->text = NULL;
    b->text_cap = 0;
  }
}

static char *vformat(const char *fmt, va_list ap) TIDE_PRINTF(1, 0);

static char *vformat(const char *fmt, va_list ap)
{
  va_list ap2;
  int n;
  char *s;

  va_copy(ap2, ap);
  n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    return NULL;
  s = malloc((size_t)n + 1);
  if (s != NULL)
    vsnprintf(s, (size_t)n + 1, fmt, ap);
  return s;
}

static feed *feed_find(const tide_ingest *ing, const uint8_t pk[TIDE_PK_BYTES]);

/* 1 when the store already holds a message at m's sequence of m's feed,
 * as far as the calling thread has told the workers.  Such a message is
 * almost always ALREADY (re-imports, resumed imports after a crash), so
 * its signature check is left to the calling thread, which verifies it
 * only if it turns out to be needed (a fork candidate).  Skipping here
 * never skips a check: an item left TIDE_MSG_SIG_UNCHECKED is verified by
 * tide_msg_validate() whenever it is validated. */
static int probably_stored(tide_ingest *ing, const tide_msg *m)
{
  uint8_t pk[TIDE_PK_BYTES];
  int64_t seq = tide_msg_sequence(m), known = 0;
  feed *f;

  if (!tide_msg_author(m, pk) || seq <= 0)
    return 0;
  pthread_rwlock_rdlock(&ing->feeds_lock);
  f = feed_find(ing, pk);
  if (f != NULL)
    known = atomic_load_explicit(&f->known, memory_order_relaxed);
  pthread_rwlock_unlock(&ing->feeds_lock);
  return seq <= known;
}

/* Parses one item of b (once). */
static void parse_item(const batch *b, item *it)
{
  tide_error e;

  if (it->msg == NULL && it->parse_code == 0) {
    tide_error_clear(&e);
    it->parse_code =
        tide_msg_parse(&it->msg, b->text != NULL ? b->text + it->off : "", it->len, &e);
    if (it->parse_code != 0) {
      it->msg = NULL;
      it->parse_msg = strdup(tide_error_text(&e, it->parse_code));
    }
  }
}

/* Checks a parsed item's signature unless it is probably stored already
 * (then tide_msg_validate() checks it if it is ever validated). */
static void check_item(tide_ingest *ing, item *it)
{
  if (it->msg != NULL && it->sig == TIDE_MSG_SIG_UNCHECKED && !probably_stored(ing, it->msg))
    it->sig = tide_msg_verify_signature(it->msg, ing->has_hmac ? ing->hmac : NULL);
}

/* Parses items [from, to) of b, then checks their signatures.  Each kind
 * of work runs over the whole range in turn rather than alternating per
 * message, so the signature code and its tables stay in the CPU caches
 * (the same for the parser). */
static void prepare_range(tide_ingest *ing, batch *b, size_t from, size_t to)
{
  for (size_t i = from; i < to; i++)
    parse_item(b, &b->items[i]);
  for (size_t i = from; i < to; i++)
    check_item(ing, &b->items[i]);
}

/* ---- Worker pool --------------------------------------------------------- */

/* Takes b's next chunk not taken yet: items [*from, *to).  0 when every
 * chunk of b is taken.  Under the pool's mutex. */
static int take_chunk_of(batch *b, size_t *from, size_t *to)
{
  if (b->next >= b->n)
    return 0;
  *from = b->next;
  *to = b->next + CHUNK < b->n ? b->next + CHUNK : b->n;
  b->next = *to;
  return 1;
}

/* Takes the next chunk of the oldest job with one left: its batch, and
 * the items [*from, *to).  NULL when every chunk is taken.  Under p->mu. */
static batch *take_chunk(pool *p, size_t *from, size_t *to)
{
  for (size_t j = 0; j < p->njobs; j++)
    if (take_chunk_of(p->jobs[j], from, to))
      return p->jobs[j];
  return NULL;
}

/* Marks the chunk of b starting at item `from` finished.  Under p->mu. */
static void finish_chunk(pool *p, batch *b, size_t from, size_t to)
{
  b->done[from / CHUNK] = 1;
  b->finished += to - from;
  if (p->waiting)
    pthread_cond_broadcast(&p->done);
}

static void *worker_main(void *arg)
{
  pool *p = arg;

  pthread_mutex_lock(&p->mu);
  for (;;) {
    size_t from = 0, to = 0;
    batch *b = NULL;

    while (!p->stop && (b = take_chunk(p, &from, &to)) == NULL)
      pthread_cond_wait(&p->work, &p->mu);
    if (p->stop)
      break;
    pthread_mutex_unlock(&p->mu);
    prepare_range(p->ing, b, from, to);
    pthread_mutex_lock(&p->mu);
    finish_chunk(p, b, from, to);
  }
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* Hands the full batch b to the workers (behind the job in progress, if
 * any).  At most two jobs: the caller stores one while the next one is
 * prepared. */
static void pool_submit(pool *p, batch *b)
{
  memset(b->done, 0, b->n / CHUNK + 1);
  b->next = 0;
  b->finished = 0;
  b->in_pool = 1;
  pthread_mutex_lock(&p->mu);
  p->jobs[p->njobs++] = b;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
}

/* Returns once chunk c of b (a job of the pool) is finished.  The calling
 * thread does not just sleep meanwhile: while chunks of b are left it
 * takes them like a worker (so no core idles while it waits, and the
 * messages it stores next were prepared on its own core). */
static void pool_wait_chunk(pool *p, batch *b, size_t c)
{
  pthread_mutex_lock(&p->mu);
  while (!b->done[c]) {
    size_t from, to;

    if (take_chunk_of(b, &from, &to)) {
      pthread_mutex_unlock(&p->mu);
      prepare_range(p->ing, b, from, to);
      pthread_mutex_lock(&p->mu);
      finish_chunk(p, b, from, to);
    } else {
      p->waiting = 1;
      pthread_cond_wait(&p->done, &p->mu);
      p->waiting = 0;
    }
  }
  pthread_mutex_unlock(&p->mu);
}

/* Takes b out of the pool: its chunks not taken yet are dropped (none are
 * left after a complete pass), the ones in progress are waited for. */
static void pool_remove(pool *p, batch *b)
{
  pthread_mutex_lock(&p->mu);
  b->finished += b->n - b->next;
  b->next = b->n;
  while (b->finished < b->n) {
    p->waiting = 1;
    pthread_cond_wait(&p->done, &p->mu);
    p->waiting = 0;
  }
  for (size_t j = 0; j < p->njobs; j++) {
    if (p->jobs[j] == b) {
      memmove(&p->jobs[j], &p->jobs[j + 1], (p->njobs - j - 1) * sizeof *p->jobs);
      p->njobs--;
      break;
    }
  }
  b->in_pool = 0;
  pthread_mutex_unlock(&p->mu);
}

static void pool_stop(pool *p, size_t started)
{
  pthread_mutex_lock(&p->mu);
  p->stop = 1;
  pthread_cond_broadcast(&p->work);
  pthread_mutex_unlock(&p->mu);
  for (size_t i = 0; i < started; i++)
    pthread_join(p->threads[i], NULL);
}

/* ---- Feed table ---------------------------------------------------------- */

static size_t feed_hash(const uint8_t pk[TIDE_PK_BYTES])
{
  size_t h;
  memcpy(&h, pk, sizeof h); /* keys are uniformly random */
  return h;
}

static int feeds_grow(tide_ingest *ing)
{
  size_t ncap = ing->capfeeds == 0 ? 64 : ing->capfeeds * 2;
  feed **nt = calloc(ncap, sizeof *nt);

  if (nt == NULL)
    return TIDE_E_NOMEM;
  for (size_t i = 0; i < ing->capfeeds; i++) {
    feed *f = ing->feeds[i];
    if (f == NULL)
      continue;
    size_t j = feed_hash(f->pk) & (ncap - 1);
    while (nt[j] != NULL)
      j = (j + 1) & (ncap - 1);
    nt[j] = f;
  }
  free(ing->feeds);
  ing->feeds = nt;
  ing->capfeeds = ncap;
  return 0;
}

static feed *feed_find(const tide_ingest *ing, const uint8_t pk[TIDE_PK_BYTES])
{
  size_t j;
  feed *f;

  if (ing->capfeeds == 0)
    return NULL;
  j = feed_hash(pk) & (ing->capfeeds - 1);
  while ((f = ing->feeds[j]) != NULL) {
    if (memcmp(f->pk, pk, TIDE_PK_BYTES) == 0)
      return f;
    j = (j + 1) & (ing->capfeeds - 1);
  }
  return NULL;
}

static void feed_set_latest(feed *f, int exists, int64_t seq, const uint8_t id[TIDE_HASH_BYTES])
{
  f->exists = exists;
  f->latest = exists ? seq : 0;
  if (exists)
    memcpy(f->latest_id, id, TIDE_HASH_BYTES);
  atomic_store_explicit(&f->known, f->latest, memory_order_relaxed);
}

/* Finds or loads the feed's state; NULL on a storage error (*code).
 * Runs on the calling thread only. */
static feed *feed_get(tide_ingest *ing, const uint8_t pk[TIDE_PK_BYTES], int *code, tide_error *err)
{
  size_t j;
  feed *f = feed_find(ing, pk);
  tide_feed_state st;
  int forked = 0, r;

  if (f != NULL)
    return f;
  f = calloc(1, sizeof *f);
  if (f == NULL) {
    *code = tide_error_set(err, TIDE_E_NOMEM, 0, "ingest: out of memory");
    return NULL;
  }
  memcpy(f->pk, pk, TIDE_PK_BYTES);
  r = tide_store_latest(ing->store, &st, &forked, pk, err);
  if (r == 0) {
    feed_set_latest(f, 1, st.sequence, st.id);
    f->forked = forked;
  } else if (r != TIDE_E_NOTFOUND) {
    free(f);
    *code = r;
    return NULL;
  }
  pthread_rwlock_wrlock(&ing->feeds_lock);
  if ((ing->nfeeds + 1) * 2 > ing->capfeeds && feeds_grow(ing) != 0) {
    pthread_rwlock_unlock(&ing->feeds_lock);
    free(f);
    *code = tide_error_set(err, TIDE_E_NOMEM, 0, "ingest: out of memory");
    return NULL;
  }
  j = feed_hash(pk) & (ing->capfeeds - 1);
  while (ing->feeds[j] != NULL)
    j = (j + 1) & (ing->capfeeds - 1);
  ing->feeds[j] = f;
  ing->nfeeds++;
  pthread_rwlock_unlock(&ing->feeds_lock);
  return f;
}

/* Reloads every cached feed state from the store (after a rollback the
 * cache may be ahead of the store).  Held messages stay held. */
static int feeds_reload(tide_ingest *ing, tide_error *err)
{
  for (size_t i = 0; i < ing->capfeeds; i++) {
    feed *f = ing->feeds[i];
    tide_feed_state st;
    int forked = 0, r;

    if (f == NULL)
      continue;
    r = tide_store_latest(ing->store, &st, &forked, f->pk, err);
    if (r == 0) {
      feed_set_latest(f, 1, st.sequence, st.id);
      f->forked = forked;
    } else if (r == TIDE_E_NOTFOUND) {
      feed_set_latest(f, 0, 0, NULL);
      f->forked = 0;
    } else {
      return r;
    }
  }
  return 0;
}

/* ---- Verdicts ------------------------------------------------------------ */

/* Queues a verdict for item it (takes its msg).  Returns 0 or NOMEM. */
static int queue(tide_ingest *ing, item *it, tide_ingest_verdict v, int code, const char *fmt, ...)
    TIDE_PRINTF(5, 6);

static int queue(tide_ingest *ing, item *it, tide_ingest_verdict v, int code, const char *fmt, ...)
{
  verdict *o;
  va_list ap;

  if (ing->nout == ing->capout) {
    size_t ncap = ing->capout == 0 ? 256 : ing->capout * 2;
    verdict *no = realloc(ing->out, ncap * sizeof *no);
    if (no == NULL)
      return TIDE_E_NOMEM;
    ing->out = no;
    ing->capout = ncap;
  }
  o = &ing->out[ing->nout];
  memset(o, 0, sizeof *o);
  o->tag = it->tag;
  o->v = v;
  o->code = code;
  if (fmt != NULL) {
    va_start(ap, fmt);
    o->reason = vformat(fmt, ap);
    va_end(ap);
    if (o->reason == NULL)
      return TIDE_E_NOMEM;
  }
  o->msg = it->msg;
  it->msg = NULL;
  if (o->msg != NULL) {
    o->has_author = tide_msg_author(o->msg, o->author);
    o->sequence = tide_msg_sequence(o->msg);
  }
  ing->nout++;
  return 0;
}

static void verdict_free(verdict *o)
{
  free(o->reason);
  tide_msg_free(o->msg);
}

/* Reports the queued verdicts (after a commit) and empties the queue. */
static void deliver(tide_ingest *ing)
{
  for (size_t i = 0; i < ing->nout; i++) {
    verdict *o = &ing->out[i];
    tide_ingest_result r;

    r.tag = o->tag;
    r.verdict = o->v;
    r.code = o->code;
    r.reason = o->reason != NULL ? o->reason : "";
    r.msg = o->msg;
    r.has_author = o->has_author;
    memcpy(r.author, o->author, TIDE_PK_BYTES);
    r.sequence = o->sequence;
    switch (o->v) {
    case TIDE_INGEST_ACCEPTED: ing->stats.accepted++; break;
    case TIDE_INGEST_ALREADY: ing->stats.already++; break;
    case TIDE_INGEST_REJECTED: ing->stats.rejected++; break;
    case TIDE_INGEST_FORK: ing->stats.forks++; break;
    }
    ing->cb(ing->ctx, &r);
    verdict_free(o);
  }
  ing->nout = 0;
}

static void discard_verdicts(tide_ingest *ing)
{
  for (size_t i = 0; i < ing->nout; i++)
    verdict_free(&ing->out[i]);
  ing->nout = 0;
}

/* ---- Holding ------------------------------------------------------------- */

static int hold(tide_ingest *ing, feed *f, item *it)
{
  int64_t seq = tide_msg_sequence(it->msg);
  size_t pos;

  if (f->nheld == f->capheld) {
    size_t ncap = f->capheld == 0 ? 8 : f->capheld * 2;
    item *nh = realloc(f->held, ncap * sizeof *nh);
    if (nh == NULL)
      return TIDE_E_NOMEM;
    f->held = nh;
    f->capheld = ncap;
  }
  /* Stable insertion by sequence (arrivals are mostly in order: scan from
   * the end). */
  pos = f->nheld;
  while (pos > 0 && tide_msg_sequence(f->held[pos - 1].msg) > seq)
    pos--;
  memmove(&f->held[pos + 1], &f->held[pos], (f->nheld - pos) * sizeof *f->held);
  f->held[pos] = *it;
  memset(it, 0, sizeof *it);
  f->nheld++;
  ing->held++;
  if (!f->on_held_list) {
    f->on_held_list = 1;
    f->next_held = ing->held_feeds;
    ing->held_feeds = f;
  }
  return 0;
}

/* ---- Deciding one message ----------------------------------------------- */

static int is_storage(int code)
{
  return code == TIDE_E_STORE || code == TIDE_E_NOMEM || code == TIDE_E_STORE_CORRUPT ||
         code == TIDE_E_INTERNAL;
}

static const uint8_t *hmac_of(const tide_ingest *ing)
{
  return ing->has_hmac ? ing->hmac : NULL;
}

/* The feed id text for a reason (formatted only when one is needed). */
static const char *feed_text(char fid[TIDE_FEED_ID_LEN + 1], const uint8_t pk[TIDE_PK_BYTES])
{
  tide_feed_id_format(fid, pk);
  return fid;
}

/* 0 when the item's message is valid (shape, order, signature) as message `seq`
 * of its feed after the message its own "previous" names (the synthetic
 * state {previous, seq-1}; no state for seq 1): then it is fork evidence
 * wherever it conflicts with our log.  Otherwise the validation error
 * (TIDE_E_MSG_INVALID when "previous" names no message id), or
 * TIDE_E_NOMEM. */
static int fork_candidate(tide_ingest *ing, item *it, tide_error *e)
{
  tide_feed_state st;
  int64_t seq = tide_msg_sequence(it->msg);
  int r;

  if (seq > 1) {
    r = tide_msg_previous_coerced(it->msg, st.id);
    if (r < 0)
      return tide_error_set(e, r, 0, "out of memory");
    if (r == 0)
      return tide_error_set(e, TIDE_E_MSG_INVALID, 0, "previous names no message");
    st.sequence = seq - 1;
  }
  return tide_msg_validate(it->msg, seq > 1 ? &st : NULL, hmac_of(ing), it->sig, e);
}

/* Decides one item: queues a verdict or holds it.  Returns 0, or a
 * storage error (the batch must be rolled back).  *advanced is set to the
 * feed that moved forward (its hold list may now be ready). */
static int decide(tide_ingest *ing, item *it, feed **advanced, tide_error *err)
{
  uint8_t pk[TIDE_PK_BYTES];
  char fid[TIDE_FEED_ID_LEN + 1];
  tide_error e;
  tide_feed_state st;
  int64_t seq;
  feed *f;
  int r, code = 0;

  *advanced = NULL;
  if (it->msg == NULL)
    return queue(ing, it, TIDE_INGEST_REJECTED, it->parse_code, "%s",
                 it->parse_msg != NULL ? it->parse_msg : tide_strerror(it->parse_code));
  seq = tide_msg_sequence(it->msg);
  tide_error_clear(&e);
  if (!tide_msg_author(it->msg, pk)) {
    /* Let the validator name what is wrong, as ssb-validate would. */
    r = tide_msg_validate(it->msg, NULL, hmac_of(ing), it->sig, &e);
    if (r != 0)
      return queue(ing, it, TIDE_INGEST_REJECTED, r, "%s", tide_error_text(&e, r));
    return queue(ing, it, TIDE_INGEST_REJECTED, TIDE_E_MSG_INVALID,
                 "invalid message: no valid author or sequence");
  }
  if (seq <= 0) {
    /* A sequence that is not a positive integer: ssb-validate judges it
     * against the feed's latest message ("expected sequence N but
     * got:..."), or as a first message when the feed is new. */
    f = feed_get(ing, pk, &code, err);
    if (f == NULL)
      return code;
    if (f->exists) {
      memcpy(st.id, f->latest_id, TIDE_HASH_BYTES);
      st.sequence = f->latest;
    }
    r = tide_msg_validate(it->msg, f->exists ? &st : NULL, hmac_of(ing), it->sig, &e);
    if (r != 0)
      return queue(ing, it, TIDE_INGEST_REJECTED, r, "%s", tide_error_text(&e, r));
    return queue(ing, it, TIDE_INGEST_REJECTED, TIDE_E_MSG_INVALID,
                 "invalid message: no valid author or sequence");
  }
  f = feed_get(ing, pk, &code, err);
  if (f == NULL)
    return code;

  if (f->exists && seq <= f->latest) {
    /* Already stored, or a fork. */
    uint8_t at[TIDE_HASH_BYTES];
    const uint8_t *id = tide_msg_id(it->msg);

    if (seq == f->latest) {
      memcpy(at, f->latest_id, TIDE_HASH_BYTES);
    } else {
      r = tide_store_get_id(ing->store, at, pk, seq, err);
      if (r != 0)
        return r == TIDE_E_NOTFOUND ? TIDE_E_STORE_CORRUPT : r;
    }
    if (memcmp(at, id, TIDE_HASH_BYTES) == 0)
      return queue(ing, it, TIDE_INGEST_ALREADY, 0, NULL);
    r = tide_store_has(ing->store, id, err);
    if (r < 0)
      return r;
    if (r == 1)
      return queue(ing, it, TIDE_INGEST_ALREADY, 0, NULL);
    if (f->forked)
      return queue(ing, it, TIDE_INGEST_REJECTED, TIDE_E_STORE_FORKED,
                   "feed %s is forked: no further messages are accepted", feed_text(fid, pk));
    /* A fork counts only when the other message is itself valid as
     * message `seq` of this feed after its own previous (which we may
     * never have seen). */
    r = fork_candidate(ing, it, &e);
    if (r == TIDE_E_NOMEM)
      return tide_error_set(err, r, 0, "ingest: out of memory");
    if (r != 0) {
      /* Not a fork: an invalid message.  Give the reason ssb-validate
       * gives, which judges it against the feed's latest message. */
      memcpy(st.id, f->latest_id, TIDE_HASH_BYTES);
      st.sequence = f->latest;
      tide_error_clear(&e);
      r = tide_msg_validate(it->msg, &st, hmac_of(ing), it->sig, &e);
      if (r == 0)
        r = tide_error_set(&e, TIDE_E_MSG_INVALID, 0, "invalid message at sequence %lld",
                           (long long)seq);
      return queue(ing, it, TIDE_INGEST_REJECTED, r, "%s", tide_error_text(&e, r));
    }
    r = tide_store_append(ing->store, it->msg, ing->received_ms, &e);
    if (r == TIDE_E_STORE_FORK) {
      f->forked = 1;
      return queue(ing, it, TIDE_INGEST_FORK, r, "%s", tide_error_text(&e, r));
    }
    if (r == TIDE_E_EXISTS)
      return queue(ing, it, TIDE_INGEST_ALREADY, 0, NULL);
    if (is_storage(r) || r == 0) {
      *err = e;
      return r == 0 ? tide_error_set(err, TIDE_E_INTERNAL, 0, "ingest: fork was appended") : r;
    }
    return queue(ing, it, TIDE_INGEST_REJECTED, r, "%s", tide_error_text(&e, r));
  }
  if (f->forked) {
    /* fork evidence one past the latest may come again */
    r = seq == f->latest + 1 ? tide_store_has(ing->store, tide_msg_id(it->msg), err) : 0;
    if (r < 0)
      return r;
    if (r == 1)
      return queue(ing, it, TIDE_INGEST_ALREADY, 0, NULL);
    return queue(ing, it, TIDE_INGEST_REJECTED, TIDE_E_STORE_FORKED,
                 "feed %s is forked: no further messages are accepted", feed_text(fid, pk));
  }
  if (seq > f->latest + 1 && f->checked_txn != ing->txn) {
    /* Another connection may have appended to this feed since its state
     * was cached: read it again (once per transaction, in which nobody
     * else can write) before holding the message back. */
    int64_t before = f->latest;
    int forked = 0;

    f->checked_txn = ing->txn;
    r = tide_store_latest(ing->store, &st, &forked, pk, err);
    if (r != 0 && r != TIDE_E_NOTFOUND)
      return r;
    if (r == 0 && (st.sequence != before || forked != f->forked)) {
      feed_set_latest(f, 1, st.sequence, st.id);
      f->forked = forked;
      return decide(ing, it, advanced, err);
    }
  }
  if (seq > f->latest + 1) {
    if (ing->held >= ing->max_held)
      return queue(ing, it, TIDE_INGEST_REJECTED, TIDE_E_STORE_GAP,
                   "gap: feed %s missing sequence %lld before %lld (hold limit %zu reached)",
                   feed_text(fid, pk), (long long)(f->latest + 1), (long long)seq, ing->max_held);
    r = hold(ing, f, it);
    return r == 0 ? 0 : tide_error_set(err, r, 0, "ingest: out of memory");
  }
  /* seq == latest + 1 */
  if (f->exists) {
    memcpy(st.id, f->latest_id, TIDE_HASH_BYTES);
    st.sequence = f->latest;
  }
  r = tide_msg_validate(it->msg, f->exists ? &st : NULL, hmac_of(ing), it->sig, &e);
  if (r != 0 && f->exists && seq > 1) {
    /* Chained on another message at seq-1 than ours: fork evidence when
     * it is valid after its own previous. */
    tide_error e2;
    int pm = tide_msg_previous_matches(it->msg, f->latest_id);

    if (pm < 0)
      return tide_error_set(err, pm, 0, "ingest: out of memory");
    tide_error_clear(&e2);
    if (pm == 0 && (pm = fork_candidate(ing, it, &e2)) == TIDE_E_NOMEM)
      return tide_error_set(err, pm, 0, "ingest: out of memory");
    if (pm == 0) {
      r = tide_store_record_fork(ing->store, it->msg, ing->received_ms, &e2);
      if (r == TIDE_E_STORE_FORK) {
        f->forked = 1;
        return queue(ing, it, TIDE_INGEST_FORK, r, "%s", tide_error_text(&e2, r));
      }
      if (r == TIDE_E_EXISTS)
        return queue(ing, it, TIDE_INGEST_ALREADY, 0, NULL);
      if (is_storage(r)) {
        *err = e2;
        return r;
      }
      return queue(ing, it, TIDE_INGEST_REJECTED, r, "%s", tide_error_text(&e2, r));
    }
  }
  if (r != 0)
    return queue(ing, it, TIDE_INGEST_REJECTED, r, "%s", tide_error_text(&e, r));
  r = tide_store_append(ing->store, it->msg, ing->received_ms, &e);
  if (r == 0) {
    feed_set_latest(f, 1, seq, tide_msg_id(it->msg));
    *advanced = f;
    return queue(ing, it, TIDE_INGEST_ACCEPTED, 0, NULL);
  }
  if (r == TIDE_E_EXISTS)
    return queue(ing, it, TIDE_INGEST_ALREADY, 0, NULL);
  if (r == TIDE_E_STORE_FORK) {
    /* Another connection appended a different message at this sequence
     * since our state was cached; m was valid after message seq-1, which
     * is unchanged (logs only grow), so this is a real fork. */
    f->forked = 1;
    return queue(ing, it, TIDE_INGEST_FORK, r, "%s", tide_error_text(&e, r));
  }
  if (is_storage(r)) {
    *err = e;
    return r;
  }
  /* The store disagrees with the cache in another way: report it. */
  return queue(ing, it, TIDE_INGEST_REJECTED, r, "%s", tide_error_text(&e, r));
}

/* Decides the held messages of f that are now due (sequence <= latest+1),
 * in sequence order, until the first one that must still wait. */
static int drain(tide_ingest *ing, feed *f, tide_error *err)
{
  int code = 0;

  while (code == 0 && f->nheld > 0 && tide_msg_sequence(f->held[0].msg) <= f->latest + 1) {
    item h;
    feed *g = NULL;

    /* Of several held messages for latest+1, decide first the one that
     * chains on our latest: the others are then fork evidence against it,
     * whatever their order in the input. */
    if (f->exists && tide_msg_sequence(f->held[0].msg) == f->latest + 1) {
      size_t k;
      for (k = 0; k < f->nheld && tide_msg_sequence(f->held[k].msg) == f->latest + 1; k++) {
        int pm = tide_msg_previous_matches(f->held[k].msg, f->latest_id);
        if (pm < 0)
          return tide_error_set(err, pm, 0, "ingest: out of memory");
        if (pm == 1)
          break;
      }
      if (k > 0 && k < f->nheld && tide_msg_sequence(f->held[k].msg) == f->latest + 1) {
        h = f->held[k];
        memmove(&f->held[1], &f->held[0], k * sizeof *f->held);
        f->held[0] = h;
      }
    }
    h = f->held[0];

    memmove(&f->held[0], &f->held[1], (f->nheld - 1) * sizeof *f->held);
    f->nheld--;
    ing->held--;
    code = decide(ing, &h, &g, err);
    item_clear(&h);
    (void)g; /* same feed: the loop condition re-reads its state */
  }
  return code;
}

/* Decides an item, then drains the hold list of the feed it advanced. */
static int decide_and_drain(tide_ingest *ing, item *it, tide_error *err)
{
  feed *f = NULL;
  int code = decide(ing, it, &f, err);

  if (code == 0 && f != NULL)
    code = drain(ing, f, err);
  return code;
}

/* Re-reads the state of every feed with held messages (another
 * connection may have filled the gap) and drains what became due. */
static int recheck_held(tide_ingest *ing, tide_error *err)
{
  for (feed *f = ing->held_feeds; f != NULL; f = f->next_held) {
    tide_feed_state st;
    int forked = 0, r;

    if (f->nheld == 0)
      continue;
    r = tide_store_latest(ing->store, &st, &forked, f->pk, err);
    if (r != 0 && r != TIDE_E_NOTFOUND)
      return r;
    if (r == 0) {
      feed_set_latest(f, 1, st.sequence, st.id);
      f->forked = forked;
    }
    f->checked_txn = ing->txn;
    r = drain(ing, f, err);
    if (r != 0)
      return r;
  }
  return 0;
}

static void set_broken(tide_ingest *ing, int code, const tide_error *e)
{
  ing->broken = code;
  ing->broken_err = *e;
  ing->broken_err.code = code;
}

/* Validates, appends and commits one prepared batch, then reports.  With
 * `recheck`, held messages are retried against a fresh store state at the
 * end of the batch (used by tide_ingest_finish()). */
static int process(tide_ingest *ing, batch *b, int recheck, tide_error *err)
{
  tide_error e;
  int code = 0;

  tide_error_clear(&e);
  if (b->n == 0 && !(recheck && ing->held > 0))
    return 0;
  code = tide_store_begin(ing->store, &e);
  if (code != 0)
    goto fail;
  ing->txn++;
  for (size_t i = 0; i < b->n; i++) {
    /* With the pool, each chunk is stored as soon as it is prepared, while
     * the workers go on with the next ones. */
    if (b->in_pool && i % CHUNK == 0)
      pool_wait_chunk(&ing->pool, b, i / CHUNK);
    else if (!ing->pool_started && i % INLINE_CHUNK == 0)
      prepare_range(ing, b, i, i + INLINE_CHUNK < b->n ? i + INLINE_CHUNK : b->n);
    code = decide_and_drain(ing, &b->items[i], &e);
    if (code != 0)
      break;
  }
  if (code == 0 && recheck)
    code = recheck_held(ing, &e);
  if (code != 0) {
    if (e.msg[0] == '\0')
      tide_error_set(&e, code, 0, "ingest: %s", tide_strerror(code));
    tide_store_rollback(ing->store);
    goto fail;
  }
  if (b->in_pool)
    pool_remove(&ing->pool, b); /* every chunk is finished: only unlinks it */
  code = tide_store_commit(ing->store, &e);
  if (code != 0)
    goto fail;
  ing->stats.batches++;
  batch_clear(b);
  deliver(ing);
  return 0;
fail:
  /* Nothing of this batch is kept or reported.  The cache may be ahead of
   * the store: reload it (best effort; the session is broken anyway). */
  if (b->in_pool)
    pool_remove(&ing->pool, b); /* waits for the chunks in progress */
  discard_verdicts(ing);
  batch_clear(b);
  (void)feeds_reload(ing, NULL);
  set_broken(ing, code, &e);
  if (err != NULL)
    *err = ing->broken_err;
  return code;
}

/* ---- Public API ---------------------------------------------------------- */

int tide_ingest_new(tide_ingest **out, tide_store *store, const tide_ingest_options *opt,
                    tide_ingest_cb cb, void *ctx)
{
  tide_ingest *ing;
  tide_ingest_options o;
  size_t threads;

  *out = NULL;
  if (store == NULL || cb == NULL || tide_store_in_transaction(store))
    return TIDE_E_INVAL;
  memset(&o, 0, sizeof o);
  if (opt != NULL)
    o = *opt;
  ing = calloc(1, sizeof *ing);
  if (ing == NULL)
    return TIDE_E_NOMEM;
  ing->store = store;
  ing->cb = cb;
  ing->ctx = ctx;
  ing->batch_size = o.batch != 0 ? o.batch : TIDE_INGEST_DEFAULT_BATCH;
  ing->max_held = o.max_held != 0 ? o.max_held : TIDE_INGEST_DEFAULT_MAX_HELD;
  if (o.hmac_key != NULL) {
    ing->has_hmac = 1;
    memcpy(ing->hmac, o.hmac_key, TIDE_HMAC_KEY_BYTES);
  }
  ing->received_ms = o.received_ms;
  ing->filling = &ing->b[0];
  if (pthread_rwlock_init(&ing->feeds_lock, NULL) != 0) {
    free(ing);
    return TIDE_E_INTERNAL;
  }
  ing->verifying = NULL;

  threads = o.threads;
  if (threads == 0) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    threads = n > 0 ? (size_t)n : 1;
  }
  if (threads > 1) {
    pool *p = &ing->pool;
    size_t started = 0;

    p->ing = ing;
    p->threads = calloc(threads, sizeof *p->threads);
    if (p->threads == NULL) {
      pthread_rwlock_destroy(&ing->feeds_lock);
      free(ing);
      return TIDE_E_NOMEM;
    }
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, NULL);
    pthread_cond_init(&p->done, NULL);
    for (; started < threads; started++) {
      if (pthread_create(&p->threads[started], NULL, worker_main, p) != 0)
        break;
    }
    p->nthreads = started;
    ing->pool_started = 1;
    if (started < threads) {
      tide_ingest_free(ing);
      return TIDE_E_INTERNAL;
    }
  }
  *out = ing;
  return 0;
}

void tide_ingest_free(tide_ingest *ing)
{
  if (ing == NULL)
    return;
  if (ing->pool_started) {
    while (ing->pool.njobs > 0)
      pool_remove(&ing->pool, ing->pool.jobs[0]);
    pool_stop(&ing->pool, ing->pool.nthreads);
    pthread_mutex_destroy(&ing->pool.mu);
    pthread_cond_destroy(&ing->pool.work);
    pthread_cond_destroy(&ing->pool.done);
    free(ing->pool.threads);
  }
  for (int i = 0; i < 2; i++) {
    batch_clear(&ing->b[i]);
    free(ing->b[i].items);
    free(ing->b[i].text);
    free(ing->b[i].done);
  }
  for (size_t i = 0; i < ing->capfeeds; i++) {
    feed *f = ing->feeds[i];
    if (f == NULL)
      continue;
    for (size_t j = 0; j < f->nheld; j++)
      item_clear(&f->held[j]);
    free(f->held);
    free(f);
  }
  free(ing->feeds);
  pthread_rwlock_destroy(&ing->feeds_lock);
  discard_verdicts(ing);
  free(ing->out);
  sodium_memzero(ing->hmac, sizeof ing->hmac);
  free(ing);
}

void tide_ingest_set_time(tide_ingest *ing, int64_t received_ms)
{
  ing->received_ms = received_ms;
}

static int broken(const tide_ingest *ing, tide_error *err)
{
  if (err != NULL)
    *err = ing->broken_err;
  return ing->broken;
}

/* Processes the batch with the workers (if any), chunk by chunk as they
 * are prepared. */
static int drain_verifying(tide_ingest *ing, tide_error *err)
{
  batch *v = ing->verifying;

  if (v == NULL)
    return 0;
  ing->verifying = NULL;
  return process(ing, v, 0, err);
}

/* The filling batch is complete: move it along the pipeline.  It goes to
 * the workers behind the previous batch, which the calling thread then
 * stores chunk by chunk while the workers prepare the rest of it and go
 * on with the new one: no core waits for a whole batch. */
static int advance(tide_ingest *ing, tide_error *err)
{
  batch *full = ing->filling;
  batch *prev = ing->verifying;

  if (full->n == 0)
    return 0;
  if (!ing->pool_started)
    return process(ing, full, 0, err); /* prepares in chunks, see there */
  pool_submit(&ing->pool, full);
  ing->verifying = full;
  /* the other batch: empty, or `prev`, empty once processed */
  ing->filling = full == &ing->b[0] ? &ing->b[1] : &ing->b[0];
  return prev != NULL ? process(ing, prev, 0, err) : 0;
}

static item *next_slot(tide_ingest *ing)
{
  batch *b = ing->filling;

  if (b->n == b->cap) {
    size_t ncap = b->cap == 0 ? 64 : b->cap * 2;
    item *ni;
    if (ncap > ing->batch_size)
      ncap = ing->batch_size > b->cap ? ing->batch_size : b->cap + 1;
    ni = realloc(b->items, ncap * sizeof *ni);
    if (ni == NULL)
      return NULL;
    b->items = ni;
    if (ing->pool_started) {
      unsigned char *nd = realloc(b->done, ncap / CHUNK + 1);
      if (nd == NULL)
        return NULL; /* items grew, cap did not: retried next time */
      b->done = nd;
    }
    b->cap = ncap;
  }
  memset(&b->items[b->n], 0, sizeof b->items[b->n]);
  return &b->items[b->n++];
}

/* Copies json[0..len) to the end of b's text block; *off is where. */
static int text_append(batch *b, size_t *off, const char *json, size_t len)
{
  if (len > b->text_cap - b->text_len) {
    size_t cap = b->text_cap == 0 ? (size_t)64 << 10 : b->text_cap;
    char *p;
    while (cap - b->text_len < len) {
      if (cap > SIZE_MAX / 2)
        return TIDE_E_NOMEM;
      cap *= 2;
    }
    p = realloc(b->text, cap);
    if (p == NULL)
      return TIDE_E_NOMEM;
    b->text = p;
    b->text_cap = cap;
  }
  if (len > 0)
    memcpy(b->text + b->text_len, json, len);
  *off = b->text_len;
  b->text_len += len;
  return 0;
}

static int pushed(tide_ingest *ing, tide_error *err)
{
  if (ing->filling->n >= ing->batch_size)
    return advance(ing, err);
  return 0;
}

int tide_ingest_push(tide_ingest *ing, uint64_t tag, const char *json, size_t len, tide_error *err)
{
  item *it;

  if (ing->broken)
    return broken(ing, err);
  it = next_slot(ing);
  if (it == NULL)
    return tide_error_set(err, TIDE_E_NOMEM, 0, "ingest: out of memory");
  it->tag = tag;
  it->sig = TIDE_MSG_SIG_UNCHECKED;
  if (text_append(ing->filling, &it->off, json, len) != 0) {
    ing->filling->n--;
    return tide_error_set(err, TIDE_E_NOMEM, 0, "ingest: out of memory");
  }
  it->len = len;
  return pushed(ing, err);
}

int tide_ingest_push_msg(tide_ingest *ing, uint64_t tag, tide_msg *m, int sig, tide_error *err)
{
  item *it;

  if (ing->broken) {
    tide_msg_free(m);
    return broken(ing, err);
  }
  it = next_slot(ing);
  if (it == NULL) {
    tide_msg_free(m);
    return tide_error_set(err, TIDE_E_NOMEM, 0, "ingest: out of memory");
  }
  it->tag = tag;
  it->msg = m;
  it->sig = sig;
  return pushed(ing, err);
}

int tide_ingest_flush(tide_ingest *ing, tide_error *err)
{
  int code;

  if (ing->broken)
    return broken(ing, err);
  /* advance() hands the filling batch to the workers before it processes
   * the one they verified, so both overlap; with nothing filling it
   * does nothing and drain_verifying() processes that one. */
  code = advance(ing, err);
  if (code != 0)
    return code;
  return drain_verifying(ing, err);
}

int tide_ingest_finish(tide_ingest *ing, tide_error *err)
{
  int code = tide_ingest_flush(ing, err);

  if (code != 0)
    return code;
  /* The filling batch is empty now: use it for a last look at the store
   * for feeds with held messages. */
  code = process(ing, ing->filling, 1, err);
  if (code != 0)
    return code;
  for (feed *f = ing->held_feeds; f != NULL; f = f->next_held) {
    char fid[TIDE_FEED_ID_LEN + 1];

    tide_feed_id_format(fid, f->pk);
    for (size_t j = 0; j < f->nheld; j++) {
      item *it = &f->held[j];
      if (code == 0 && f->forked)
        code = queue(ing, it, TIDE_INGEST_REJECTED, TIDE_E_STORE_FORKED,
                     "feed %s is forked: no further messages are accepted", fid);
      else if (code == 0)
        code = queue(ing, it, TIDE_INGEST_REJECTED, TIDE_E_STORE_GAP,
                     "gap: feed %s missing sequence %lld (have up to %lld, got %lld)", fid,
                     (long long)(f->latest + 1), (long long)f->latest,
                     (long long)tide_msg_sequence(it->msg));
      item_clear(it);
    }
    ing->held -= f->nheld;
    f->nheld = 0;
    f->on_held_list = 0;
  }
  ing->held_feeds = NULL;
  if (code != 0) {
    tide_error e;
    tide_error_set(&e, code, 0, "ingest: out of memory");
    discard_verdicts(ing);
    set_broken(ing, code, &e);
    return broken(ing, err);
  }
  deliver(ing);
  return 0;
}

void tide_ingest_get_stats(const tide_ingest *ing, tide_ingest_stats *out)
{
  *out = ing->stats;
  out->held = ing->held;
  out->pending = ing->filling->n + (ing->verifying != NULL ? ing->verifying->n : 0);
}

size_t tide_ingest_threads(const tide_ingest *ing)
{
  return ing->pool_started ? ing->pool.nthreads : 0;
}
