/* session.c - replication session over a radio link; see tide/rsession.h. */
#include "tide/rsession.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tide/buf.h"
#include "tide/clock.h"
#include "tide/frame.h"
#include "tide/msg.h"
#include "tide/radio.h"
#include "tide/rcrypt.h"

/* Messages per MESSAGES frame: a few hundred bytes each, so a frame stays
 * a few KiB and priorities act at that grain. */
#define BATCH 8

/* Work waiting to enter the stream.  Frames are encoded only when they
 * enter the stream, because the frame codec's state (feed indexes,
 * implied sequence and previous) follows stream order: reordering encoded
 * frames would break it.  So priorities are applied to jobs. */
typedef struct job {
  struct job *next;
  int kind; /* JOB_NOTE, JOB_CLOCK, JOB_ACK, JOB_RANGE */
  tide_frame_entry *e;
  size_t n;
  uint8_t feed[TIDE_PK_BYTES];
  int64_t from, to;
} job;
enum { JOB_NOTE, JOB_CLOCK, JOB_ACK, JOB_RANGE };
/* Ranges this short are live traffic (a new message or two) and go before
 * the backlog. */
#define SMALL_RANGE 2

typedef struct feedrec {
  uint8_t pk[TIDE_PK_BYTES];
  int64_t acked; /* the peer told us (ACK) it holds up to this */
} feedrec;

struct tide_rsession {
  tide_link *link;
  tide_rsession_config cfg;
  tide_radio_tx *tx;
  tide_radio_rx *rx;
  tide_frame_codec *enc, *dec;
  int hello_rx;
  uint8_t peer[TIDE_PK_BYTES];
  uint8_t nonce[TIDE_FRAME_NONCE_BYTES];      /* of our HELLO */
  uint8_t peer_nonce[TIDE_FRAME_NONCE_BYTES]; /* of the peer's HELLO */
  int need_proof;                             /* the peer is accepted only after its PROOF */
  int connected;                              /* the peer is authenticated and joined the engine */
  tide_ebt_peer h;
  int peer_short; /* the peer's HELLO offered short keys */
  int opened;     /* our session-opening clock is queued */
  uint64_t notes_rx;
  feedrec *feeds;
  size_t nfeeds, capfeeds;
  job *head[TIDE_RADIO_PRIOS], *tail[TIDE_RADIO_PRIOS];
  tide_rsession_stats st;
  tide_rcrypt *crypt;    /* NULL: plain session */
  size_t kex_tx, kex_rx; /* KEX bytes sent to / taken from the link */
  /* A plain session whose peer encrypts: the error is held back until our
   * HELLO reached the peer (or MISMATCH_WAIT_MS passed), so that the
   * peer, which is waiting for a KEX, can report the mismatch too. */
  int mismatch;
  uint64_t mismatch_at;
};
#define MISMATCH_WAIT_MS 30000

static int feed_index(tide_rsession *s, const uint8_t pk[TIDE_PK_BYTES], size_t *idx)
{
  for (size_t i = 0; i < s->nfeeds; i++)
    if (memcmp(s->feeds[i].pk, pk, TIDE_PK_BYTES) == 0) {
      *idx = i;
      return 0;
    }
  if (s->nfeeds == s->capfeeds) {
    size_t cap = s->capfeeds ? s->capfeeds * 2 : 16;
    feedrec *n = realloc(s->feeds, cap * sizeof *n);
    if (n == NULL)
      return TIDE_E_NOMEM;
    s->feeds = n;
    s->capfeeds = cap;
  }
  memcpy(s->feeds[s->nfeeds].pk, pk, TIDE_PK_BYTES);
  s->feeds[s->nfeeds].acked = 0;
  *idx = s->nfeeds++;
  return 0;
}

/* Resolves the peer's short keys among the feeds our engine knows. */
static int resolve_prefix(void *ctx, uint8_t key[TIDE_PK_BYTES],
                          const uint8_t prefix[TIDE_FRAME_SHORT_KEY_BYTES])
{
  const tide_rsession *s = ctx;
  int n = tide_ebt_find_prefix(s->cfg.ebt, key, prefix, TIDE_FRAME_SHORT_KEY_BYTES);
  return n == 1   ? TIDE_FRAME_PREFIX_FOUND
         : n == 2 ? TIDE_FRAME_PREFIX_AMBIGUOUS
                  : TIDE_FRAME_PREFIX_UNKNOWN;
}

static int queue_frame(tide_rsession *s, int prio, tide_buf *b)
{
  int rc = tide_radio_tx_queue(s->tx, prio, (const uint8_t *)b->data, b->len);
  if (rc == 0) {
    s->st.frames_sent++;
    s->st.raw_tx += b->len;
  }
  tide_buf_reset(b);
  return rc;
}

int tide_rsession_new(tide_rsession **out, tide_link *l, const tide_rsession_config *cfg,
                      uint64_t now_ms, tide_error *err)
{
  tide_rsession *s;
  tide_buf b = TIDE_BUF_INIT;
  int rc;

  *out = NULL;
  (void)now_ms;
  if (cfg == NULL || cfg->kp == NULL || cfg->store == NULL || cfg->ebt == NULL)
    return tide_error_set(err, TIDE_E_INVAL, 0, "radio session: missing key, store or engine");
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return TIDE_E_NOMEM;
  s->link = l;
  s->cfg = *cfg;
  s->enc = tide_frame_codec_new();
  s->dec = tide_frame_codec_new();
  rc = s->enc && s->dec ? 0 : TIDE_E_NOMEM;
  if (rc == 0)
    rc = tide_radio_tx_new(&s->tx, cfg->dict, cfg->dict_len, 0);
  if (rc == 0)
    rc = tide_radio_rx_new(&s->rx, cfg->dict, cfg->dict_len);
  if (rc == 0 && cfg->encrypt) {
    rc = tide_rcrypt_new(&s->crypt, cfg->kp, cfg->expect_peer);
    if (rc == 0) {
      tide_radio_tx_set_crypt(s->tx, s->crypt);
      tide_radio_rx_set_crypt(s->rx, s->crypt);
    }
  }
  if (rc == 0) {
    /* Short keys: offered unless configured off, or unless two keys we
     * know share a short key (one of the peer's could then be ambiguous
     * here, and a peer that later sends messages of that feed would end
     * the stream; docs/frames.md). */
    unsigned caps =
        cfg->full_keys || tide_ebt_prefix_collisions(cfg->ebt) > 0 ? 0 : TIDE_FRAME_CAP_SHORT_KEYS;
    /* The proof of freshness: offered unless talking to a tide from
     * before it (which rejects unknown HELLO flags). */
    if (!cfg->legacy_hello)
      caps |= TIDE_FRAME_CAP_PROOF;
    tide_frame_codec_set_resolver(s->dec, resolve_prefix, s);
    if (cfg->nonce)
      memcpy(s->nonce, cfg->nonce, sizeof s->nonce);
    else
      randombytes_buf(s->nonce, sizeof s->nonce);
    s->cfg.nonce = NULL; /* borrowed only for the call */
    rc = tide_frame_encode_hello_caps(s->enc, &b, cfg->kp, cfg->expect_peer, cfg->wall_ms, s->nonce,
                                      caps);
  }
  if (rc == 0)
    rc = queue_frame(s, TIDE_RADIO_PRIO_CONTROL, &b);
  tide_buf_free(&b);
  if (rc != 0) {
    tide_rsession_free(s);
    return tide_error_set(err, rc, 0, "radio session: %s", tide_link_strerror(rc));
  }
  *out = s;
  return 0;
}

static void job_push(tide_rsession *s, int prio, job *j)
{
  j->next = NULL;
  if (s->tail[prio])
    s->tail[prio]->next = j;
  else
    s->head[prio] = j;
  s->tail[prio] = j;
}

static int job_entries(tide_rsession *s, int kind, const tide_frame_entry *e, size_t n)
{
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return TIDE_E_NOMEM;
  j->kind = kind;
  j->n = n;
  j->e = malloc((n ? n : 1) * sizeof *j->e);
  if (j->e == NULL) {
    free(j);
    return TIDE_E_NOMEM;
  }
  if (n)
    memcpy(j->e, e, n * sizeof *e);
  job_push(s, TIDE_RADIO_PRIO_CONTROL, j);
  return 0;
}

void tide_rsession_free(tide_rsession *s)
{
  if (s == NULL)
    return;
  for (int p = 0; p < TIDE_RADIO_PRIOS; p++)
    while (s->head[p]) {
      job *j = s->head[p];
      s->head[p] = j->next;
      free(j->e);
      free(j);
    }
  tide_radio_tx_free(s->tx);
  tide_radio_rx_free(s->rx);
  tide_frame_codec_free(s->enc);
  tide_frame_codec_free(s->dec);
  tide_rcrypt_free(s->crypt);
  free(s->feeds);
  free(s);
}

/* The peer is authenticated: it joins the engine with the clocks stored
 * for it (request skipping). */
static int authenticated(tide_rsession *s, int fresh, uint64_t now_ms, tide_error *err)
{
  tide_clock *theirs = NULL, *ours = NULL;
  tide_ebt_peer_opts o;
  int rc;

  s->st.peer_fresh = fresh;
  rc = tide_clock_new(&theirs);
  if (rc == 0)
    rc = tide_clock_new(&ours);
  if (rc == 0)
    rc = tide_clock_load(theirs, s->cfg.store, s->peer, TIDE_CLOCK_THEIRS, err);
  if (rc == 0)
    rc = tide_clock_load(ours, s->cfg.store, s->peer, TIDE_CLOCK_OURS, err);
  if (rc == 0) {
    int first = tide_clock_count(theirs) == 0 && tide_clock_count(ours) == 0;
    memset(&o, 0, sizeof o);
    o.theirs = first ? NULL : theirs;
    o.ours = first ? NULL : ours;
    o.id = s->peer;
    o.note_delay_ms = 0;
    rc = tide_ebt_connect(s->cfg.ebt, &s->h, &o, (int64_t)now_ms);
    if (rc == 0)
      s->connected = 1;
  }
  tide_clock_free(theirs);
  tide_clock_free(ours);
  return rc;
}

static int on_hello(tide_rsession *s, const tide_frame_hello *h, uint64_t now_ms, tide_error *err)
{
  char want[TIDE_FEED_ID_LEN + 1], got[TIDE_FEED_ID_LEN + 1];
  int peer_proof = (h->caps & TIDE_FRAME_CAP_PROOF) != 0;
  int64_t skew;
  int rc;

  tide_feed_id_format(got, h->sender);
  if (s->hello_rx)
    return tide_error_set(err, TIDE_E_RSESSION_PROTO, 0, "second HELLO from %s", got);
  if (s->cfg.expect_peer && memcmp(s->cfg.expect_peer, h->sender, TIDE_PK_BYTES) != 0) {
    tide_feed_id_format(want, s->cfg.expect_peer);
    return tide_error_set(err, TIDE_E_RSESSION_PEER, 0, "peer refused: HELLO from %s, expected %s",
                          got, want);
  }
  if (h->has_recipient && memcmp(h->recipient, s->cfg.kp->pk, TIDE_PK_BYTES) != 0)
    return tide_error_set(err, TIDE_E_RSESSION_PEER, 0,
                          "peer refused: HELLO from %s is addressed to another node", got);
  if (s->crypt && memcmp(h->sender, tide_rcrypt_peer(s->crypt), TIDE_PK_BYTES) != 0)
    return tide_error_set(err, TIDE_E_RSESSION_PEER, 0,
                          "peer refused: HELLO from %s, but the key exchange was signed by "
                          "another key",
                          got);
  if (memcmp(h->sender, s->cfg.kp->pk, TIDE_PK_BYTES) == 0)
    return tide_error_set(err, TIDE_E_RSESSION_PEER, 0,
                          "peer refused: HELLO carries our own key (a loop or a replay)");
  skew = (int64_t)h->time_ms - (int64_t)s->cfg.wall_ms;
  if (s->cfg.wall_ms && (skew > TIDE_RSESSION_HELLO_SKEW_MS || -skew > TIDE_RSESSION_HELLO_SKEW_MS))
    return tide_error_set(err, TIDE_E_RSESSION_PEER, 0,
                          "peer refused: HELLO from %s is %lld s away from our clock", got,
                          (long long)(skew / 1000));
  /* Proof of freshness (unencrypted sessions; the key exchange proves
   * it otherwise).  A HELLO without the offer is what a tide from before
   * the proof sends, and what a replayer of such a HELLO sends: refused
   * unless we were told to talk to old peers.  A peer that offers it
   * while we do not (legacy_hello) will refuse our HELLO: say so here. */
  if (s->crypt == NULL && !s->cfg.legacy_hello && !peer_proof)
    return tide_error_set(err, TIDE_E_RSESSION_PEER, 0,
                          "peer refused: HELLO from %s offers no proof of freshness (it runs a "
                          "tide from before HELLO proofs or --legacy-hello, or it is a replayed "
                          "HELLO); to talk to an old tide, run with --legacy-hello",
                          got);
  if (s->crypt == NULL && s->cfg.legacy_hello && peer_proof)
    return tide_error_set(err, TIDE_E_RSESSION_PEER, 0,
                          "peer refused: %s requires a proof of freshness, which we do not "
                          "offer (--legacy-hello); drop --legacy-hello to talk to it",
                          got);
  memcpy(s->peer, h->sender, TIDE_PK_BYTES);
  memcpy(s->peer_nonce, h->nonce, TIDE_FRAME_NONCE_BYTES);
  s->hello_rx = 1;
  s->peer_short = (h->caps & TIDE_FRAME_CAP_SHORT_KEYS) != 0;
  if (s->crypt)
    return authenticated(s, TIDE_RSESSION_FRESH_KEX, now_ms, err);
  if (!peer_proof)
    return authenticated(s, TIDE_RSESSION_FRESH_NONE, now_ms, err);
  /* Prove our freshness to the peer; it proves its own with its PROOF,
   * which we wait for before acting on anything it says. */
  {
    tide_buf b = TIDE_BUF_INIT;
    s->need_proof = 1;
    rc = tide_frame_encode_proof(s->enc, &b, s->cfg.kp, s->peer, s->peer_nonce, s->nonce);
    if (rc == 0)
      rc = queue_frame(s, TIDE_RADIO_PRIO_CONTROL, &b);
    tide_buf_free(&b);
  }
  return rc;
}

static int on_proof(tide_rsession *s, const tide_frame *f, uint64_t now_ms, tide_error *err)
{
  char got[TIDE_FEED_ID_LEN + 1];

  tide_feed_id_format(got, s->peer);
  if (!s->need_proof)
    return tide_error_set(err, TIDE_E_RSESSION_PROTO, 0,
                          "%s sent a PROOF that the session does not use", got);
  if (s->connected)
    return tide_error_set(err, TIDE_E_RSESSION_PROTO, 0, "second PROOF from %s", got);
  if (tide_frame_proof_verify(f->proof_sig, s->peer, s->cfg.kp->pk, s->nonce, s->peer_nonce) != 0)
    return tide_error_set(err, TIDE_E_RSESSION_PEER, 0,
                          "peer refused: no proof of freshness from %s: its PROOF does not "
                          "verify against our nonce and its HELLO key (a replayed HELLO, or a "
                          "PROOF signed by another key)",
                          got);
  return authenticated(s, TIDE_RSESSION_FRESH_PROOF, now_ms, err);
}

/* Validates and appends one message from the peer; reports to the engine. */
static int on_msg(tide_rsession *s, tide_msg *m, uint64_t now_ms, size_t *acked_idx, int *acked)
{
  uint8_t author[TIDE_PK_BYTES];
  int64_t seq = tide_msg_sequence(m);
  tide_feed_state st;
  tide_ebt_rx rx;
  int rc, forked = 0, have;
  size_t idx;

  *acked = 0;
  if (tide_msg_author(m, author) != 1 || seq < 1)
    return 0; /* no feed to report it against: dropped */
  s->st.msgs_received++;
  if (!tide_ebt_wants(s->cfg.ebt, s->h, author, seq)) {
    if (tide_ebt_replicates(s->cfg.ebt, author) && seq <= tide_ebt_our_seq(s->cfg.ebt, author))
      return tide_ebt_on_message(s->cfg.ebt, s->h, author, seq, TIDE_EBT_RX_DUP, (int64_t)now_ms);
    return 0;
  }
  rc = tide_store_latest(s->cfg.store, &st, &forked, author, NULL);
  if (rc != 0 && rc != TIDE_E_NOTFOUND)
    return rc;
  have = rc == 0;
  if (have && seq <= st.sequence) {
    rx = TIDE_EBT_RX_DUP;
  } else if ((have ? st.sequence : 0) + 1 != seq) {
    rx = TIDE_EBT_RX_GAP;
  } else if (forked ||
             tide_msg_validate(m, have ? &st : NULL, NULL, TIDE_MSG_SIG_UNCHECKED, NULL) != 0) {
    rx = TIDE_EBT_RX_INVALID;
  } else {
    rc = tide_store_append(s->cfg.store, m, (int64_t)now_ms, NULL);
    if (rc == TIDE_E_STORE_FORK || rc == TIDE_E_STORE_FORKED)
      rx = TIDE_EBT_RX_INVALID;
    else if (rc != 0)
      return rc;
    else {
      rx = TIDE_EBT_RX_NEW;
      s->st.msgs_new++;
    }
  }
  if (rx == TIDE_EBT_RX_NEW || rx == TIDE_EBT_RX_DUP) {
    rc = feed_index(s, author, &idx);
    if (rc != 0)
      return rc;
    *acked_idx = idx;
    *acked = 1;
  }
  return tide_ebt_on_message(s->cfg.ebt, s->h, author, seq, rx, (int64_t)now_ms);
}

static int on_frame(tide_rsession *s, tide_frame *f, uint64_t now_ms, tide_error *err)
{
  int rc = 0;
  size_t idx;

  s->st.frames_received++;
  s->st.unresolved_rx += f->n_unresolved;
  if (f->type == TIDE_FRAME_HELLO)
    return on_hello(s, &f->hello, now_ms, err);
  if (!s->hello_rx)
    return tide_error_set(err, TIDE_E_RSESSION_PROTO, 0, "peer sent frame type %d before HELLO",
                          (int)f->type);
  if (f->type == TIDE_FRAME_PROOF)
    return on_proof(s, f, now_ms, err);
  if (!s->connected) {
    /* A genuine peer sends nothing before its PROOF (it cannot have
     * authenticated us before it had our HELLO, and it sends its PROOF
     * then).  Holding such frames would buffer an unauthenticated
     * party's data; ignoring them would hide a replay.  Refused. */
    char got[TIDE_FEED_ID_LEN + 1];
    tide_feed_id_format(got, s->peer);
    return tide_error_set(err, TIDE_E_RSESSION_PEER, 0,
                          "peer refused: no proof of freshness from %s: it sent frame type %d "
                          "before its PROOF (a replayed HELLO?)",
                          got, (int)f->type);
  }
  switch (f->type) {
  case TIDE_FRAME_CLOCK:
  case TIDE_FRAME_NOTE: {
    tide_ebt_note *notes = malloc((f->n_entries ? f->n_entries : 1) * sizeof *notes);
    if (notes == NULL)
      return TIDE_E_NOMEM;
    for (size_t i = 0; i < f->n_entries && rc == 0; i++) {
      memcpy(notes[i].feed, f->entries[i].feed, TIDE_PK_BYTES);
      notes[i].value = f->entries[i].value;
      rc = feed_index(s, f->entries[i].feed, &idx);
    }
    if (rc == 0)
      rc = tide_ebt_on_notes(s->cfg.ebt, s->h, notes, f->n_entries, (int64_t)now_ms);
    free(notes);
    s->notes_rx++;
    return rc;
  }
  case TIDE_FRAME_ACK:
    for (size_t i = 0; i < f->n_entries && rc == 0; i++) {
      rc = feed_index(s, f->entries[i].feed, &idx);
      if (rc == 0 && f->entries[i].value > s->feeds[idx].acked)
        s->feeds[idx].acked = f->entries[i].value;
    }
    return rc;
  case TIDE_FRAME_MESSAGES: {
    tide_frame_entry *acks = NULL;
    size_t nacks = 0;
    tide_buf b = TIDE_BUF_INIT;
    if (f->n_msgs > 0 && (acks = calloc(f->n_msgs, sizeof *acks)) == NULL)
      return TIDE_E_NOMEM;
    rc = tide_store_begin(s->cfg.store, NULL);
    for (size_t i = 0; i < f->n_msgs && rc == 0; i++) {
      int acked;
      rc = on_msg(s, f->msgs[i], now_ms, &idx, &acked);
      if (rc == 0 && acked) {
        size_t k = 0;
        while (k < nacks && memcmp(acks[k].feed, s->feeds[idx].pk, TIDE_PK_BYTES) != 0)
          k++;
        if (k == nacks)
          memcpy(acks[nacks++].feed, s->feeds[idx].pk, TIDE_PK_BYTES);
        acks[k].value = tide_ebt_our_seq(s->cfg.ebt, s->feeds[idx].pk);
      }
    }
    if (rc == 0)
      rc = tide_store_commit(s->cfg.store, NULL);
    /* Tell the sender what we now hold (durable: after the commit). */
    if (rc == 0 && nacks > 0)
      rc = job_entries(s, JOB_ACK, acks, nacks);
    tide_buf_free(&b);
    free(acks);
    return rc;
  }
  case TIDE_FRAME_REQUEST:
    /* The engine's notes carry requests on this transport; a REQUEST frame
     * is answered by the notes already exchanged. */
    return 0;
  default:
    return tide_error_set(err, TIDE_E_RSESSION_PROTO, 0, "unexpected frame type %d", (int)f->type);
  }
}

/* Encodes up to BATCH messages of j's range from the store as one
 * MESSAGES frame into out and advances the range. */
static int encode_range(tide_rsession *s, job *j, tide_buf *out, tide_error *err)
{
  tide_msg *batch[BATCH];
  size_t n = 0;
  tide_buf text = TIDE_BUF_INIT;
  int rc = 0;

  while (j->from <= j->to && n < BATCH && rc == 0) {
    tide_buf_reset(&text);
    rc = tide_store_get(s->cfg.store, &text, NULL, j->feed, j->from, err);
    if (rc == 0)
      rc = tide_msg_parse(&batch[n], text.data, text.len, err);
    if (rc == 0) {
      n++;
      j->from++;
    }
  }
  if (rc == 0 && n > 0)
    rc = tide_frame_encode_messages(s->enc, out, batch, n, err);
  if (rc == 0)
    s->st.msgs_sent += n;
  for (size_t i = 0; i < n; i++)
    tide_msg_free(batch[i]);
  tide_buf_free(&text);
  return rc;
}

/* Keeps one frame ready in the radio layer: takes the highest-priority
 * job, encodes one frame of it and queues it. */
static int feed_stream(tide_rsession *s, tide_error *err)
{
  tide_buf b = TIDE_BUF_INIT;
  int rc = 0;

  while (rc == 0 && tide_radio_tx_queued(s->tx, TIDE_RADIO_PRIO_CONTROL) == 0 &&
         tide_radio_tx_queued(s->tx, TIDE_RADIO_PRIO_SMALL) == 0 &&
         tide_radio_tx_queued(s->tx, TIDE_RADIO_PRIO_BULK) == 0) {
    int p = 0;
    job *j;
    while (p < TIDE_RADIO_PRIOS && s->head[p] == NULL)
      p++;
    if (p == TIDE_RADIO_PRIOS)
      break;
    j = s->head[p];
    if (j->kind == JOB_CLOCK) {
      /* the session-opening clock: short keys when the peer offered them */
      rc = s->peer_short
               ? tide_frame_encode_clock_short(s->enc, &b, TIDE_FRAME_CLOCK_SENDER, j->e, j->n)
               : tide_frame_encode_note(s->enc, &b, j->e, j->n);
      s->st.open_clock_tx = b.len;
      s->st.short_keys_tx = s->peer_short;
    } else if (j->kind == JOB_NOTE)
      rc = tide_frame_encode_note(s->enc, &b, j->e, j->n);
    else if (j->kind == JOB_ACK)
      rc = tide_frame_encode_ack(s->enc, &b, j->e, j->n);
    else
      rc = encode_range(s, j, &b, err);
    if (rc == 0 && b.len > 0)
      rc = queue_frame(s, p, &b);
    if (j->kind != JOB_RANGE || j->from > j->to || rc != 0) {
      s->head[p] = j->next;
      if (s->head[p] == NULL)
        s->tail[p] = NULL;
      free(j->e);
      free(j);
    }
    if (rc == 0)
      rc = tide_radio_tx_pump(s->tx, s->link, err);
    if (tide_link_send_room(s->link) == 0)
      break;
  }
  tide_buf_free(&b);
  return rc;
}

static int run_engine(tide_rsession *s, uint64_t now_ms)
{
  tide_ebt_action a;
  int rc = 0;
  int64_t w = tide_ebt_next_wake(s->cfg.ebt);

  if (w >= 0 && (uint64_t)w <= now_ms)
    rc = tide_ebt_tick(s->cfg.ebt, (int64_t)now_ms);
  while (rc == 0 && tide_ebt_poll(s->cfg.ebt, &a)) {
    if (!s->connected || a.peer != s->h)
      continue; /* another session's action: not ours to send */
    if (a.type == TIDE_EBT_NOTES) {
      tide_frame_entry *e = malloc((a.n_notes ? a.n_notes : 1) * sizeof *e);
      size_t idx;
      if (e == NULL) {
        rc = TIDE_E_NOMEM;
        break;
      }
      for (size_t i = 0; i < a.n_notes && rc == 0; i++) {
        memcpy(e[i].feed, a.notes[i].feed, TIDE_PK_BYTES);
        e[i].value = a.notes[i].value;
        rc = feed_index(s, a.notes[i].feed, &idx);
      }
      /* The engine's first notes for the peer are our clock (whole on a
       * first contact, the changed part after): a CLOCK frame. */
      if (rc == 0)
        rc = job_entries(s, s->opened ? JOB_NOTE : JOB_CLOCK, e, a.n_notes);
      s->opened = 1;
      free(e);
    } else {
      job *j = calloc(1, sizeof *j);
      if (j == NULL) {
        rc = TIDE_E_NOMEM;
        break;
      }
      j->kind = JOB_RANGE;
      memcpy(j->feed, a.feed, TIDE_PK_BYTES);
      j->from = a.from_seq;
      j->to = a.to_seq;
      job_push(s,
               a.to_seq - a.from_seq + 1 <= SMALL_RANGE ? TIDE_RADIO_PRIO_SMALL
                                                        : TIDE_RADIO_PRIO_BULK,
               j);
    }
  }
  return rc;
}

/* Encrypted sessions: sends our KEX record and takes the peer's from the
 * link before any stream byte; 1 when both are done. */
static int kex_step(tide_rsession *s, tide_error *err)
{
  uint8_t in[TIDE_RCRYPT_KEX_BYTES];
  size_t n, used;
  int rc;

  if (s->kex_tx < TIDE_RCRYPT_KEX_BYTES) {
    size_t acc = 0;
    rc = tide_link_send(s->link, tide_rcrypt_kex(s->crypt) + s->kex_tx,
                        TIDE_RCRYPT_KEX_BYTES - s->kex_tx, 1, &acc);
    if (rc != 0)
      return rc;
    s->kex_tx += acc;
  }
  while (s->kex_rx < TIDE_RCRYPT_KEX_BYTES &&
         (n = tide_link_recv(s->link, in, TIDE_RCRYPT_KEX_BYTES - s->kex_rx)) > 0) {
    rc = tide_rcrypt_kex_input(s->crypt, in, n, &used, err);
    if (rc != 0)
      return rc;
    s->kex_rx += used;
  }
  return s->kex_tx == TIDE_RCRYPT_KEX_BYTES && tide_rcrypt_ready(s->crypt);
}

int tide_rsession_step(tide_rsession *s, uint64_t now_ms, tide_error *err)
{
  int rc;

  if (s->crypt && (s->kex_tx < TIDE_RCRYPT_KEX_BYTES || !tide_rcrypt_ready(s->crypt))) {
    rc = kex_step(s, err);
    if (rc <= 0)
      return rc;
  }
  if (s->mismatch) {
    rc = tide_radio_tx_pump(s->tx, s->link, err);
    if (rc == 0 && (tide_link_drained(s->link) || now_ms >= s->mismatch_at + MISMATCH_WAIT_MS))
      rc = tide_error_set(err, TIDE_E_RCRYPT_MISMATCH, 0,
                          "encryption: the peer encrypts (--encrypt) but we do not; both ends "
                          "need the same setting");
    return rc;
  }
  rc = tide_radio_rx_pump(s->rx, s->link, err);
  if (rc == TIDE_E_RCRYPT_MISMATCH) {
    s->mismatch = 1;
    s->mismatch_at = now_ms;
    return tide_radio_tx_pump(s->tx, s->link, err);
  }
  if (rc != 0)
    return rc;
  for (;;) {
    size_t len, used = 0;
    const uint8_t *d = tide_radio_rx_data(s->rx, &len);
    tide_frame f;
    if (len == 0)
      break;
    tide_frame_init(&f);
    rc = tide_frame_decode(s->dec, &f, d, len, &used, err);
    if (rc == TIDE_E_AGAIN)
      break;
    if (rc == TIDE_E_FRAME_SIGNATURE) {
      tide_frame_clear(&f);
      return tide_error_set(err, TIDE_E_RSESSION_PEER, 0,
                            "peer refused: its HELLO signature does not verify (%s)", err->msg);
    }
    if (rc == 0)
      rc = on_frame(s, &f, now_ms, err);
    tide_frame_clear(&f);
    if (rc != 0)
      return rc;
    tide_radio_rx_consume(s->rx, used);
    s->st.raw_rx += used;
  }
  if (s->connected) {
    rc = run_engine(s, now_ms);
    if (rc != 0)
      return rc;
  }
  rc = tide_radio_tx_pump(s->tx, s->link, err);
  if (rc == 0)
    rc = feed_stream(s, err);
  return rc;
}

uint64_t tide_rsession_next_wakeup(const tide_rsession *s)
{
  int64_t w = s->connected ? tide_ebt_next_wake(s->cfg.ebt) : -1;
  return w < 0 ? UINT64_MAX : (uint64_t)w;
}

int tide_rsession_ready(const tide_rsession *s)
{
  return s->connected;
}

const uint8_t *tide_rsession_peer(const tide_rsession *s)
{
  return s->peer;
}

int tide_rsession_in_sync(const tide_rsession *s)
{
  if (!s->connected || s->notes_rx == 0 || !tide_radio_tx_idle(s->tx) ||
      !tide_link_drained(s->link) || s->head[0] || s->head[1] || s->head[2])
    return 0;
  for (size_t i = 0; i < s->nfeeds; i++) {
    const feedrec *f = &s->feeds[i];
    int64_t ours = tide_ebt_our_seq(s->cfg.ebt, f->pk);
    int64_t theirs = tide_ebt_peer_seq(s->cfg.ebt, s->h, f->pk);
    int64_t held = theirs > f->acked ? theirs : f->acked;
    if (!tide_ebt_replicates(s->cfg.ebt, f->pk))
      continue;
    if (theirs < 0 && f->acked == 0)
      continue; /* the peer does not replicate it */
    if (held < ours || ours < theirs)
      return 0;
  }
  return 1;
}

int tide_rsession_close(tide_rsession *s, uint64_t now_ms, tide_error *err)
{
  tide_clock *theirs = NULL, *ours = NULL;
  int rc;
  if (!s->connected)
    return 0;
  rc = tide_clock_new(&theirs);
  if (rc == 0)
    rc = tide_clock_new(&ours);
  if (rc == 0)
    rc = tide_ebt_peer_clocks(s->cfg.ebt, s->h, theirs, ours);
  if (rc == 0)
    rc = tide_clock_save(s->cfg.store, s->peer, TIDE_CLOCK_THEIRS, theirs, err);
  if (rc == 0)
    rc = tide_clock_save(s->cfg.store, s->peer, TIDE_CLOCK_OURS, ours, err);
  if (rc == 0)
    rc = tide_ebt_disconnect(s->cfg.ebt, s->h, (int64_t)now_ms);
  if (rc == 0)
    s->connected = 0;
  tide_clock_free(theirs);
  tide_clock_free(ours);
  return rc;
}

void tide_rsession_get_stats(const tide_rsession *s, tide_rsession_stats *st)
{
  tide_radio_stats t, r;
  tide_radio_tx_get_stats(s->tx, &t);
  tide_radio_rx_get_stats(s->rx, &r);
  *st = s->st;
  st->wire_tx = t.wire_bytes;
  st->wire_rx = r.wire_bytes;
}

void tide_rsession_remaining(const tide_rsession *s, uint64_t *to_send, uint64_t *to_recv)
{
  *to_send = *to_recv = 0;
  if (!s->connected)
    return;
  for (size_t i = 0; i < s->nfeeds; i++) {
    const feedrec *f = &s->feeds[i];
    int64_t ours = tide_ebt_our_seq(s->cfg.ebt, f->pk);
    int64_t theirs = tide_ebt_peer_seq(s->cfg.ebt, s->h, f->pk);
    int64_t held = theirs > f->acked ? theirs : f->acked;
    if (!tide_ebt_replicates(s->cfg.ebt, f->pk) || theirs < 0)
      continue;
    if (ours > held)
      *to_send += (uint64_t)(ours - held);
    if (theirs > ours)
      *to_recv += (uint64_t)(theirs - ours);
  }
}
