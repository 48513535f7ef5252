/* link.c - the sans-I/O link state machine: SYN exchange, selective-repeat
 * ARQ, half-duplex turn-taking, duty-cycle ledger.  docs/radio.md is the
 * specification; this comment only maps it onto the code.
 *
 * Sender: stream bytes wait in `sq` (sq[0] is stream offset sq_base); frames
 * are cut from it lazily at transmission time and remembered in slot[seq]
 * as (offset, length) so a retransmission resends the same bytes under the
 * same sequence number.  Receiver: out-of-order payloads wait in `rbuf`
 * (one payload_max slot per seq modulo the window) until the gap before
 * them closes; in-order bytes go to `rq` for tide_link_recv().
 *
 * Time: the API speaks milliseconds; the line is paced in microseconds
 * (a byte at 115200 baud takes 87 us) through tx_busy_us. */
#include <stdlib.h>
#include <string.h>

#include "link_int.h"
#include "tide/link.h"

enum { SLOT_FREE = 0, SLOT_INFLIGHT, SLOT_SACKED, SLOT_LOST };
enum { TURN_HAVE = 0, TURN_PEER = 1 };
#define DUTY_BUCKETS 60

typedef struct txslot {
  uint64_t off;       /* stream offset of the payload */
  uint64_t tx_end_us; /* when its last transmission left the line */
  uint16_t len;
  uint8_t state;
  uint8_t tries;
} txslot;

struct tide_link {
  tide_link_profile p;
  size_t pmax; /* DATA payload per frame */
  uint64_t rng;
  int initiator;
  int persistent;
  int dead;

  /* SYN state */
  uint32_t my_id, peer_id;
  int peer_known;      /* we have the peer's id */
  int peer_knows_us;   /* the peer has ours: DATA may flow */
  int syn_owed;        /* send a SYN soon (reply or retry) */
  uint64_t syn_due_ms; /* next SYN retry while not synchronised */
  int pending_reset;   /* report TIDE_E_LINK_PEER_RESET from input */
  unsigned peer_window;

  /* line receive assembly */
  uint8_t rx[TIDE_LINK_MAX_WIRE_BYTES];
  size_t rx_len;
  int rx_overflow;

  /* send side */
  uint8_t *sq;
  size_t sq_len, sq_cap;
  uint64_t sq_base, snd_cut, push_upto;
  uint8_t snd_una, snd_nxt;
  txslot slot[256];

  /* receive side */
  uint8_t rcv_next;
  uint8_t rhave[256];
  uint16_t rlen[256];
  uint8_t *rbuf; /* 256 * pmax, indexed by seq */
  uint8_t *rq;
  size_t rq_off, rq_len, rq_cap;
  int ack_owed; /* the peer sent DATA we have not acknowledged */
  int ack_now;  /* acknowledge without waiting (gap, dup, TURN) */
  unsigned rx_since_ack;
  uint64_t ack_due_ms;

  /* timing and turns */
  uint64_t tx_busy_us;    /* when the line finishes what we wrote */
  int tx_short;           /* the last frame did not fill a modem packet */
  uint64_t last_rx_ms;    /* last byte from the line */
  uint64_t last_valid_ms; /* last good frame from the peer */
  int turn;
  int in_burst;      /* frames sent in this turn */
  int turn_open;     /* sent frames in this turn, none with TURN yet */
  uint64_t now_ms;   /* latest time seen */
  uint64_t quiet_ms; /* latest time with nothing outstanding */
  int waiting;       /* we gave the turn and expect an answer */
  int peer_idle;     /* the peer's last TURN said IDLE */
  uint64_t turn_given_ms;
  uint32_t jitter_ms;
  unsigned rx_in_turn;    /* good frames since we handed over the turn */
  unsigned tx_unanswered; /* frames sent since the last good frame */

  /* RTT (Jacobson/Karels, Karn) in ms, scaled: srtt8 = 8*srtt, rttvar4 = 4*rttvar */
  uint32_t srtt8, rttvar4, rto_ms;
  int backoff;
  uint64_t rto_due_ms; /* full duplex: oldest frame's timer */

  /* duty-cycle ledger */
  uint64_t duty_bucket_ms;
  uint64_t duty_stamp[DUTY_BUCKETS + 1];
  uint64_t duty_us[DUTY_BUCKETS + 1];
  uint64_t duty_budget_us;
  uint64_t duty_blocked_since;
  uint32_t duty_jitter_ms; /* spreads the two sides' restarts after a wait */
  uint64_t duty_resume_ms;
  uint64_t dead_credit_ms; /* time held back by our own duty budget since the last good frame */

  /* duty-pause announcements (EXT PAUSE, docs/radio.md section 6) */
  int ann_due;               /* announce the pause at the next chance */
  unsigned ann_sent;         /* announcements sent in this wait */
  uint64_t ann_until_ms;     /* end of the pause we announced (0: none in this wait) */
  uint64_t peer_pause_until; /* the peer announced silence until then (capped; 0: none) */

  tide_link_stats st;
};

static int outstanding(const tide_link *l);
static int syn_retry(const tide_link *l);

/* When the next frame may be written.  Full packets go back to back (one
 * packet of lead keeps the line busy); after a short frame the line must
 * fall idle for four byte times first, so that a transparent-mode modem,
 * which closes a packet after three idle byte times, ends its packet with
 * our frame and frames and packets stay aligned. */
static uint64_t line_free_us(const tide_link *l)
{
  uint64_t lead = tide_link_line_us(&l->p, l->p.packet_bytes);
  if (l->tx_short)
    return l->tx_busy_us + tide_link_line_us(&l->p, 4);
  return l->tx_busy_us > lead ? l->tx_busy_us - lead : 0;
}

static uint32_t rnd(tide_link *l)
{
  /* xorshift64* */
  l->rng ^= l->rng >> 12;
  l->rng ^= l->rng << 25;
  l->rng ^= l->rng >> 27;
  return (uint32_t)((l->rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static uint64_t ms_of_us_ceil(uint64_t us)
{
  return (us + 999) / 1000;
}

static uint32_t frame_ms(const tide_link *l)
{
  return (uint32_t)ms_of_us_ceil(tide_link_line_us(&l->p, l->p.packet_bytes));
}

/* Silence after which the other side's turn is taken to be over. */
static uint32_t idle_ms(const tide_link *l)
{
  return 2 * frame_ms(l) + l->p.latency_ms / 2 + 20;
}

/* The longest duty pause announced or believed: one duty window plus one
 * bucket of the ledger.  After that long every frame in the ledger has
 * left it, so no budget needs longer to recover. */
static uint64_t pause_cap_ms(const tide_link *l)
{
  return (uint64_t)l->p.duty_window_ms + l->duty_bucket_ms;
}

/* Airtime of a frame whose body without CRC has body_wo_crc bytes. */
static uint64_t wire_us(const tide_link *l, size_t body_wo_crc)
{
  return tide__link_wire_us(&l->p, body_wo_crc);
}

/* Airtime of one duty-pause announcement: an ACK with a full bitmap and
 * the PAUSE frame. */
static uint64_t ann_us(const tide_link *l)
{
  return tide__link_ann_us(&l->p);
}

/* What every DATA or ACK frame leaves in the duty budget: room for the
 * announcement and its repeats, so that a side whose budget runs out can
 * always say so (and, on half duplex, hand over the turn).  A profile
 * whose budget cannot hold one full DATA frame on top of it is refused by
 * tide_link_profile_check(). */
static uint64_t reserve_us(const tide_link *l)
{
  return tide__link_reserve_us(&l->p);
}

static uint32_t clamp_rto(const tide_link *l, uint64_t v)
{
  if (v < l->p.rto_min_ms)
    v = l->p.rto_min_ms;
  if (v > l->p.rto_max_ms)
    v = l->p.rto_max_ms;
  return (uint32_t)v;
}

static unsigned inflight(const tide_link *l)
{
  return (uint8_t)(l->snd_nxt - l->snd_una);
}

/* The window: the bandwidth-delay product in frames.  Half duplex sends a
 * burst per turn, so the burst must amortise the turnaround: twelve times
 * the product keeps the turnaround near a thirteenth of the cycle. */
static unsigned window(const tide_link *l)
{
  uint64_t bytes_per_s = l->p.baud / 10u;
  uint64_t rtt = l->srtt8 / 8u;
  uint64_t w = (bytes_per_s * rtt / 1000u + l->pmax - 1) / l->pmax;
  unsigned cap = l->p.window_max;
  if (l->peer_window && l->peer_window < cap)
    cap = l->peer_window;
  w = l->p.half_duplex ? 12 * w : 2 * w + 1;
  /* At least 8 frames: with fewer, a lost frame at the end of a short
   * window is found only by the timer, not by a later frame's ACK. */
  if (w < 8)
    w = 8;
  if (w > cap)
    w = cap;
  return (unsigned)w;
}

int tide_link_new(tide_link **out, const tide_link_profile *p, const tide_link_config *cfg,
                  uint64_t now_ms, tide_error *err)
{
  tide_link *l;
  int rc;
  uint64_t srtt;

  *out = NULL;
  rc = tide_link_profile_check(p, err);
  if (rc != 0)
    return rc;
  if (tide_link_payload_max(p) < 8)
    return tide_error_set(err, TIDE_E_LINK_PROFILE, 0, "packet size leaves no payload");
  l = calloc(1, sizeof *l);
  if (l == NULL)
    return TIDE_E_NOMEM;
  l->p = *p;
  l->pmax = tide_link_payload_max(p);
  l->rbuf = malloc(256u * l->pmax);
  if (l->rbuf == NULL) {
    free(l);
    return TIDE_E_NOMEM;
  }
  l->rng = cfg && cfg->seed ? cfg->seed : 0x9e3779b97f4a7c15ULL;
  l->initiator = cfg ? cfg->initiator : 1;
  l->persistent = cfg ? cfg->persistent : 0;
  l->my_id = cfg && cfg->link_id ? cfg->link_id : 0;
  while (l->my_id == 0)
    l->my_id = rnd(l);
  l->turn = l->initiator ? TURN_HAVE : TURN_PEER;
  l->syn_owed = l->initiator;
  l->syn_due_ms = now_ms;
  l->last_rx_ms = now_ms;
  l->last_valid_ms = now_ms;
  l->turn_given_ms = now_ms;
  /* First RTT guess: latency both ways, an ACK, one packet of slack. */
  srtt = 2u * p->latency_ms + ms_of_us_ceil(tide_link_line_us(p, 32)) +
         ms_of_us_ceil(tide_link_line_us(p, p->packet_bytes));
  l->srtt8 = (uint32_t)(srtt * 8);
  l->rttvar4 = (uint32_t)(srtt * 2); /* rttvar = srtt/2 */
  l->rto_ms = clamp_rto(l, srtt + 2 * srtt);
  l->duty_bucket_ms = p->duty_window_ms / DUTY_BUCKETS;
  if (l->duty_bucket_ms == 0)
    l->duty_bucket_ms = 1;
  l->duty_budget_us = (uint64_t)p->duty_ppm * p->duty_window_ms / 1000u;
  for (size_t i = 0; i <= DUTY_BUCKETS; i++)
    l->duty_stamp[i] = UINT64_MAX;
  *out = l;
  return 0;
}

void tide_link_free(tide_link *l)
{
  if (l == NULL)
    return;
  free(l->sq);
  free(l->rq);
  free(l->rbuf);
  free(l);
}

/* ---- duty-cycle ledger ---- */

static uint64_t duty_used_us(const tide_link *l, uint64_t now_ms)
{
  uint64_t cur = now_ms / l->duty_bucket_ms, sum = 0;
  for (size_t i = 0; i <= DUTY_BUCKETS; i++)
    if (l->duty_stamp[i] != UINT64_MAX && l->duty_stamp[i] + DUTY_BUCKETS >= cur)
      sum += l->duty_us[i];
  return sum;
}

/* When enough airtime leaves the window for `need_us` more. */
static uint64_t duty_ready_ms(const tide_link *l, uint64_t now_ms, uint64_t need_us)
{
  uint64_t cur = now_ms / l->duty_bucket_ms;
  uint64_t used = duty_used_us(l, now_ms);
  uint64_t t = cur;

  if (l->p.duty_ppm >= 1000000u || used + need_us <= l->duty_budget_us)
    return now_ms;
  /* Walk forward bucket by bucket until the expired ones free enough. */
  while (used + need_us > l->duty_budget_us && t < cur + DUTY_BUCKETS + 2) {
    t++;
    for (size_t i = 0; i <= DUTY_BUCKETS; i++)
      if (l->duty_stamp[i] != UINT64_MAX && l->duty_stamp[i] + DUTY_BUCKETS + 1 == t)
        used -= l->duty_us[i];
  }
  return t * l->duty_bucket_ms;
}

static void duty_charge(tide_link *l, uint64_t now_ms, uint64_t us)
{
  uint64_t cur = now_ms / l->duty_bucket_ms;
  size_t i = (size_t)(cur % (DUTY_BUCKETS + 1));
  if (l->duty_stamp[i] != cur) {
    l->duty_stamp[i] = cur;
    l->duty_us[i] = 0;
  }
  l->duty_us[i] += us;
}

/* ---- receive side ---- */

static int rq_append(tide_link *l, const uint8_t *p, size_t n)
{
  if (l->rq_off > 0 && l->rq_off == l->rq_len) {
    l->rq_off = l->rq_len = 0;
  }
  if (l->rq_len + n > l->rq_cap) {
    size_t live = l->rq_len - l->rq_off;
    if (l->rq_off > 0) {
      memmove(l->rq, l->rq + l->rq_off, live);
      l->rq_off = 0;
      l->rq_len = live;
    }
    if (l->rq_len + n > l->rq_cap) {
      size_t cap = l->rq_cap ? l->rq_cap : 4096;
      uint8_t *q;
      while (cap < l->rq_len + n)
        cap *= 2;
      q = realloc(l->rq, cap);
      if (q == NULL)
        return TIDE_E_NOMEM;
      l->rq = q;
      l->rq_cap = cap;
    }
  }
  memcpy(l->rq + l->rq_len, p, n);
  l->rq_len += n;
  return 0;
}

static void reset_stream_state(tide_link *l)
{
  l->sq_len = 0;
  l->sq_base = l->snd_cut = l->push_upto = 0;
  l->snd_una = l->snd_nxt = 0;
  memset(l->slot, 0, sizeof l->slot);
  l->rcv_next = 0;
  memset(l->rhave, 0, sizeof l->rhave);
  l->rq_off = l->rq_len = 0;
  l->ack_owed = l->ack_now = 0;
  l->rx_since_ack = 0;
  l->backoff = 0;
}

static int on_data(tide_link *l, uint64_t now_ms, const tide_link_frame *f)
{
  uint8_t d = (uint8_t)(f->seq - l->rcv_next);
  unsigned win = l->p.window_max;
  int rc;

  if (!l->ack_owed)
    l->ack_due_ms = now_ms + 2u * frame_ms(l);
  l->ack_owed = 1;
  l->rx_since_ack++;
  if (d >= win) {
    /* Old (already delivered) or absurdly far ahead: a duplicate. */
    l->st.rx_dup_frames++;
    l->ack_now = 1;
    return 0;
  }
  if (f->len > l->pmax) {
    /* The peer's packet size is larger than ours: we cannot buffer it out
     * of order, but in order it can be delivered directly. */
    if (d != 0)
      return 0;
  }
  if (l->rhave[f->seq]) {
    l->st.rx_dup_frames++;
    l->ack_now = 1;
    return 0;
  }
  if (d != 0) {
    memcpy(l->rbuf + (size_t)f->seq * l->pmax, f->data, f->len);
    l->rlen[f->seq] = (uint16_t)f->len;
    l->rhave[f->seq] = 1;
    l->ack_now = 1; /* a gap: tell the sender at once (full duplex) */
    return 0;
  }
  rc = rq_append(l, f->data, f->len);
  if (rc != 0)
    return rc;
  l->st.payload_recv += f->len;
  l->rcv_next++;
  while (l->rhave[l->rcv_next]) {
    uint8_t s = l->rcv_next;
    rc = rq_append(l, l->rbuf + (size_t)s * l->pmax, l->rlen[s]);
    if (rc != 0)
      return rc;
    l->st.payload_recv += l->rlen[s];
    l->rhave[s] = 0;
    l->rcv_next++;
  }
  return 0;
}

static void rtt_sample(tide_link *l, uint64_t sample_ms)
{
  int64_t err;
  if (sample_ms > 600000)
    return;
  err = (int64_t)sample_ms * 8 - (int64_t)l->srtt8;
  l->srtt8 = (uint32_t)((int64_t)l->srtt8 + err / 8);
  if (err < 0)
    err = -err;
  err /= 2; /* |err| in units of rttvar4 (4*rttvar vs 8*srtt) */
  l->rttvar4 = (uint32_t)((int64_t)l->rttvar4 + (err - (int64_t)l->rttvar4) / 4);
  l->backoff = 0;
  /* RFC 6298 plus the receiver's largest acknowledgement delay (two frame
   * times) and one frame queued ahead of its ACK, as QUIC's max_ack_delay. */
  l->rto_ms = clamp_rto(l, l->srtt8 / 8u + l->rttvar4 + 3u * frame_ms(l));
}

static void sq_trim(tide_link *l, uint64_t upto)
{
  size_t drop;
  if (upto <= l->sq_base)
    return;
  drop = (size_t)(upto - l->sq_base);
  if (drop > l->sq_len)
    drop = l->sq_len;
  memmove(l->sq, l->sq + drop, l->sq_len - drop);
  l->sq_len -= drop;
  l->sq_base += drop;
}

/* Cumulative ack `ack` and an optional SACK bitmap. */
static void on_ack(tide_link *l, uint64_t now_ms, uint8_t ack, const uint8_t *bits, size_t nbits,
                   int may_sample)
{
  unsigned n = (uint8_t)(ack - l->snd_una);
  uint64_t newest_tx = 0, newest_acked_tx = 0;
  int sample = 0;

  if (n > inflight(l))
    return; /* stale or bogus */
  for (unsigned i = 0; i < n; i++) {
    txslot *s = &l->slot[l->snd_una];
    if (s->tx_end_us >= newest_tx) {
      newest_tx = s->tx_end_us;
      sample = s->tries == 1;
    }
    l->st.payload_sent += s->len;
    s->state = SLOT_FREE;
    l->snd_una++;
  }
  if (n > 0) {
    newest_acked_tx = newest_tx;
    /* Half duplex: the sample counts only when the frame that handed over
     * the turn arrived; otherwise the peer answered after a silence
     * timeout and the wait says nothing about the round trip. */
    if (sample && may_sample && newest_tx / 1000 <= now_ms &&
        (!l->p.half_duplex || ms_of_us_ceil(newest_tx) >= l->turn_given_ms))
      rtt_sample(l, now_ms - newest_tx / 1000);
    if (l->snd_una == l->snd_nxt)
      sq_trim(l, l->snd_cut);
    else
      sq_trim(l, l->slot[l->snd_una].off);
    l->backoff = 0;
    l->rto_due_ms = 0;
  }
  for (size_t i = 0; i < nbits * 8; i++) {
    uint8_t seq = (uint8_t)(ack + 1 + i);
    if (!(bits[i / 8] & (1u << (i % 8))))
      continue;
    if ((uint8_t)(seq - l->snd_una) >= inflight(l))
      break;
    if (l->slot[seq].state != SLOT_SACKED) {
      l->slot[seq].state = SLOT_SACKED;
      if (l->slot[seq].tx_end_us > newest_acked_tx)
        newest_acked_tx = l->slot[seq].tx_end_us;
    }
  }
  /* The line keeps order: a frame sent before one that arrived is lost. */
  if (!l->p.half_duplex && newest_acked_tx > 0) {
    for (uint8_t s = l->snd_una; s != l->snd_nxt; s++)
      if (l->slot[s].state == SLOT_INFLIGHT && l->slot[s].tx_end_us < newest_acked_tx)
        l->slot[s].state = SLOT_LOST;
  }
}

/* Half duplex: our turn begins again.  Everything we sent before handing
 * over the turn that was not acknowledged is lost. */
static void take_turn(tide_link *l, uint64_t now_ms, int timed_out)
{
  if (timed_out) {
    /* A radio loses frames without being congested: back off only when
     * answers go missing twice in a row. */
    if (++l->backoff >= 2)
      l->rto_ms = clamp_rto(l, (uint64_t)l->rto_ms * 2);
  }
  for (uint8_t s = l->snd_una; s != l->snd_nxt; s++)
    if (l->slot[s].state == SLOT_INFLIGHT && l->slot[s].tx_end_us / 1000 <= l->turn_given_ms)
      l->slot[s].state = SLOT_LOST;
  if (timed_out && syn_retry(l))
    l->syn_owed = 1;
  l->turn = TURN_HAVE;
  l->in_burst = 0;
  l->turn_open = 0;
  l->waiting = 0;
  (void)now_ms;
}

static void on_syn(tide_link *l, const tide_link_frame *f)
{
  const uint8_t *b = f->data;
  uint32_t their =
      (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
  uint32_t echo =
      (uint32_t)b[4] | (uint32_t)b[5] << 8 | (uint32_t)b[6] << 16 | (uint32_t)b[7] << 24;
  int new_peer = !l->peer_known || their != l->peer_id;

  if (their == 0)
    return;
  if (l->peer_known && their != l->peer_id) {
    /* The peer restarted: its stream starts over, so must ours. */
    reset_stream_state(l);
    l->peer_knows_us = 0;
    l->pending_reset = 1;
    l->st.peer_resets++;
  }
  l->peer_id = their;
  l->peer_known = 1;
  l->peer_window = b[8];
  if (echo == l->my_id)
    l->peer_knows_us = 1;
  if (new_peer || !(b[9] & 1u) || echo != l->my_id)
    l->syn_owed = 1;
}

/* The peer announced a duty pause of ms milliseconds (EXT PAUSE).  The
 * value is capped (pause_cap_ms): a larger one is corrupt or hostile.
 * 0 ends a pause. */
static void on_pause(tide_link *l, uint64_t now_ms, uint32_t ms)
{
  uint64_t cap = pause_cap_ms(l);
  uint64_t v = ms < cap ? ms : cap;
  l->st.peer_pauses++;
  l->peer_pause_until = v > 0 ? now_ms + v : 0;
}

static int on_frame(tide_link *l, uint64_t now_ms, const uint8_t *wire, size_t n)
{
  uint8_t body[TIDE_LINK_MAX_BODY_BYTES];
  size_t blen;
  tide_link_frame f;
  int rc;

  if (n == 0)
    return 0;
  if (tide_link_cobs_decode(body, sizeof body, &blen, wire, n) != 0 ||
      tide_link_frame_parse(&f, body, blen, NULL) != 0) {
    l->st.rx_bad_frames++;
    return 0;
  }
  l->st.rx_frames++;
  l->last_valid_ms = now_ms;
  l->tx_unanswered = 0;
  l->dead_credit_ms = 0;
  if (f.type == TIDE_LINK_T_SYN) {
    l->peer_pause_until = 0;
    on_syn(l, &f);
  } else if (!l->peer_known) {
    /* DATA/ACK/EXT from a peer we never synchronised with (we restarted). */
    l->syn_owed = 1;
  } else {
    l->peer_knows_us = 1; /* it only sends DATA/ACK/EXT once it knows us */
    if (f.type == TIDE_LINK_T_EXT) {
      on_pause(l, now_ms, f.pause_ms);
    } else if (f.type == TIDE_LINK_T_DATA) {
      l->peer_pause_until = 0; /* it sends data again: its pause is over */
      on_ack(l, now_ms, f.ack, NULL, 0, !l->p.half_duplex);
      rc = on_data(l, now_ms, &f);
      if (rc != 0)
        return rc;
    } else {
      /* Half duplex: only the ACK that opens the peer's answer measures
       * the round trip; later ones include the peer's own burst. */
      on_ack(l, now_ms, f.ack, f.data, f.len,
             !l->p.half_duplex || (l->turn == TURN_PEER && l->rx_in_turn == 0));
    }
  }
  l->rx_in_turn++;
  if (l->p.half_duplex && !(f.flags & TIDE_LINK_F_TURN) && l->turn == TURN_HAVE) {
    /* The peer is in the middle of a transmission although we thought the
     * turn was ours (both reclaimed it after a silence): let it finish. */
    l->turn = TURN_PEER;
    l->waiting = 0;
    l->turn_given_ms = now_ms;
    l->in_burst = 0;
    l->turn_open = 0;
  }
  if (f.flags & TIDE_LINK_F_TURN) {
    l->ack_now = 1;
    if (l->p.half_duplex) {
      /* A peer that hands over the turn with its duty pause cannot use it
       * before the pause ends: it does not need an answer. */
      l->peer_idle = (f.flags & TIDE_LINK_F_IDLE) != 0 || f.type == TIDE_LINK_T_EXT;
      take_turn(l, now_ms, 0);
      /* A busy peer handed over: answer even with nothing to say, so the
       * turn comes back to it. */
      if (!l->peer_idle)
        l->ack_owed = 1;
    }
    /* We are in a duty pause and the peer wants an answer: it may have
     * missed our announcement, so repeat it (the reserve has room). */
    if (f.type != TIDE_LINK_T_EXT && l->duty_blocked_since && l->ann_sent > 0 &&
        l->ann_sent <= TIDE_LINK_PAUSE_REPEATS && !l->ann_due && tide_link_ready(l))
      l->ann_due = 1;
  }
  return 0;
}

int tide_link_input(tide_link *l, uint64_t now_ms, const uint8_t *bytes, size_t len)
{
  int rc;

  l->now_ms = now_ms;
  if (len == 0)
    return 0;
  l->st.rx_bytes += len;
  l->last_rx_ms = now_ms;
  if (l->p.half_duplex && l->turn == TURN_PEER)
    l->jitter_ms = rnd(l) % (idle_ms(l) / 2 + 1);
  for (size_t i = 0; i < len; i++) {
    if (bytes[i] != 0) {
      if (l->rx_len < sizeof l->rx)
        l->rx[l->rx_len++] = bytes[i];
      else
        l->rx_overflow = 1;
      continue;
    }
    if (l->rx_overflow) {
      l->st.rx_bad_frames++;
    } else {
      rc = on_frame(l, now_ms, l->rx, l->rx_len);
      if (rc != 0)
        return rc;
    }
    l->rx_len = 0;
    l->rx_overflow = 0;
  }
  if (l->pending_reset) {
    l->pending_reset = 0;
    return TIDE_E_LINK_PEER_RESET;
  }
  return 0;
}

/* ---- send side ---- */

int tide_link_send(tide_link *l, const uint8_t *data, size_t len, int push, size_t *accepted)
{
  size_t room = tide_link_send_room(l);
  size_t n = len < room ? len : room;

  *accepted = 0;
  if (!outstanding(l))
    l->quiet_ms = l->now_ms; /* the dead timer starts with new work */
  if (l->sq_len + n > l->sq_cap) {
    size_t cap = l->sq_cap ? l->sq_cap : 4096;
    uint8_t *q;
    while (cap < l->sq_len + n)
      cap *= 2;
    q = realloc(l->sq, cap);
    if (q == NULL)
      return TIDE_E_NOMEM;
    l->sq = q;
    l->sq_cap = cap;
  }
  if (n > 0)
    memcpy(l->sq + l->sq_len, data, n);
  l->sq_len += n;
  if (push && n == len)
    l->push_upto = l->sq_base + l->sq_len;
  *accepted = n;
  return 0;
}

size_t tide_link_send_room(const tide_link *l)
{
  size_t cap = (size_t)window(l) * l->pmax;
  size_t unsent = (size_t)(l->sq_base + l->sq_len - l->snd_cut);
  if (!(l->peer_known && l->peer_knows_us))
    cap = l->pmax; /* not synchronised yet: take a little */
  return unsent >= cap ? 0 : cap - unsent;
}

size_t tide_link_recv(tide_link *l, uint8_t *out, size_t cap)
{
  size_t n = l->rq_len - l->rq_off;
  if (n > cap)
    n = cap;
  if (n == 0)
    return 0;
  memcpy(out, l->rq + l->rq_off, n);
  l->rq_off += n;
  if (l->rq_off == l->rq_len)
    l->rq_off = l->rq_len = 0;
  return n;
}

int tide_link_ready(const tide_link *l)
{
  return l->peer_known && l->peer_knows_us;
}

int tide_link_drained(const tide_link *l)
{
  return l->snd_una == l->snd_nxt && l->snd_cut == l->sq_base + l->sq_len;
}

static int have_lost(const tide_link *l)
{
  for (uint8_t s = l->snd_una; s != l->snd_nxt; s++)
    if (l->slot[s].state == SLOT_LOST)
      return 1;
  return 0;
}

static size_t new_data_len(const tide_link *l)
{
  uint64_t unsent = l->sq_base + l->sq_len - l->snd_cut;
  if (!tide_link_ready(l) || inflight(l) >= window(l))
    return 0;
  if (unsent >= l->pmax)
    return l->pmax;
  if (unsent > 0 && l->push_upto > l->snd_cut)
    return (size_t)unsent;
  return 0;
}

/* Anything that wants the line (ignoring turn, pacing, duty)? */
static int want_tx(const tide_link *l)
{
  return l->syn_owed || l->ack_owed || l->turn_open || have_lost(l) || new_data_len(l) > 0;
}

static uint64_t retake_at_line(const tide_link *l)
{
  if (l->last_rx_ms > l->turn_given_ms)
    return l->last_rx_ms + idle_ms(l) + l->jitter_ms;
  if (l->waiting) {
    /* Never before the peer could have taken the turn by silence after
     * losing our last frame and its answer could have arrived.  A peer
     * that announced a duty pause cannot answer before the pause ends:
     * the wait for its answer starts then, so nothing is retransmitted
     * into the pause. */
    uint64_t floor_ms = idle_ms(l) * 3u / 2u + 2u * l->p.latency_ms + frame_ms(l);
    uint64_t w = l->rto_ms > floor_ms ? l->rto_ms : floor_ms;
    uint64_t from = l->turn_given_ms;
    if (l->peer_pause_until > from)
      from = l->peer_pause_until;
    return from + w + l->jitter_ms;
  }
  return l->turn_given_ms + idle_ms(l) + l->jitter_ms;
}

/* When we take back a turn we handed over.  While our own duty budget
 * holds us back there is nothing to take it for. */
static uint64_t retake_at(const tide_link *l)
{
  uint64_t t = retake_at_line(l);
  if (l->duty_blocked_since && l->duty_resume_ms > t)
    t = l->duty_resume_ms;
  return t;
}

/* The random part of the wait before we retake a turn we handed over.
 * Both sides of a half-duplex link time out with the same RTO, doubled in
 * step, so after two transmissions collide (both sides reclaimed the turn
 * after a silence, e.g. one of them was descheduled) their next attempts
 * are only the jitter apart.  A jitter narrower than a frame's airtime
 * makes them collide again and again, each attempt an RTO later, until
 * the dead timer ends the call with nothing heard.  So, as in a binary
 * exponential backoff, the spread doubles with every silent turn in a
 * row, in slots of one packet's airtime plus half the silence timeout
 * (two slots after the first silent turn), so repeated collisions become
 * unlikely fast. */
static uint32_t retake_jitter(tide_link *l)
{
  uint64_t span = idle_ms(l) / 2 + 1;
  if (l->waiting && l->backoff > 0) {
    unsigned k = l->backoff < 5 ? (unsigned)l->backoff : 5u;
    span = ((uint64_t)idle_ms(l) / 2 + frame_ms(l)) << k;
    if (span > l->p.rto_max_ms)
      span = l->p.rto_max_ms;
    if (span == 0)
      span = 1;
  }
  return (uint32_t)(rnd(l) % span);
}

/* 1 while our SYN may need repeating on a timer: the caller's until it is
 * answered, and any side's that knows its peer until it hears a frame
 * proving that the peer knows it too (docs/radio.md section 3).  The
 * second rule covers a lost third SYN: without it, a listener whose
 * caller has nothing to send would wait for ever. */
static int syn_retry(const tide_link *l)
{
  return !tide_link_ready(l) && (l->initiator || l->peer_known);
}

static int outstanding(const tide_link *l)
{
  return inflight(l) > 0 || (syn_retry(l) && !l->persistent) ||
         (tide_link_ready(l) && new_data_len(l) > 0);
}

/* The frame the link would send next, decided without side effects. */
typedef struct pick {
  int type;         /* -1: nothing */
  uint8_t seq;      /* DATA */
  size_t dlen;      /* DATA payload */
  int retx;         /* DATA: a retransmission */
  uint64_t need_us; /* airtime the duty budget must allow */
} pick;

static size_t ack_len(const tide_link *l)
{
  size_t nb = 0;
  for (unsigned i = 0; i + 1 < l->p.window_max && i < 8 * TIDE_LINK_MAX_SACK_BYTES; i++)
    if (l->rhave[(uint8_t)(l->rcv_next + 1 + i)])
      nb = i / 8 + 1;
  return 2 + nb;
}

static int ack_due(const tide_link *l, uint64_t now_ms)
{
  if (!l->ack_owed)
    return 0;
  return l->ack_now || l->rx_since_ack >= (window(l) + 1) / 2 || now_ms >= l->ack_due_ms;
}

static pick choose(const tide_link *l, uint64_t now_ms)
{
  pick k = {-1, 0, 0, 0, 0};
  uint64_t reserve = reserve_us(l);

  if (l->syn_owed) {
    k.type = TIDE_LINK_T_SYN;
    k.need_us = wire_us(l, 11);
    return k;
  }
  if (l->p.half_duplex ? (l->ack_owed && l->in_burst == 0) : ack_due(l, now_ms)) {
    k.type = TIDE_LINK_T_ACK;
    k.need_us = wire_us(l, ack_len(l)) + reserve;
    return k;
  }
  for (uint8_t s = l->snd_una; s != l->snd_nxt; s++)
    if (l->slot[s].state == SLOT_LOST) {
      k.type = TIDE_LINK_T_DATA;
      k.seq = s;
      k.dlen = l->slot[s].len;
      k.retx = 1;
      break;
    }
  if (k.type < 0 && (k.dlen = new_data_len(l)) > 0) {
    k.type = TIDE_LINK_T_DATA;
    k.seq = l->snd_nxt;
  }
  if (k.type == TIDE_LINK_T_DATA) {
    /* When the budget runs out, the announcement (ACK + PAUSE with TURN)
     * that the reserve pays for closes the turn: see tide_link_output. */
    k.need_us = wire_us(l, 3 + k.dlen) + reserve;
    return k;
  }
  if (l->p.half_duplex && (l->ack_owed || l->turn_open)) {
    k.type = TIDE_LINK_T_ACK; /* closes the turn */
    k.need_us = wire_us(l, ack_len(l)) + reserve;
  }
  return k;
}

/* When the peer is given up: dead_ms after the last good frame (or the
 * last time we had nothing outstanding), plus the time our own duty
 * budget held us back, and never before dead_ms after the end of a duty
 * pause the peer announced. */
static uint64_t dead_at(const tide_link *l)
{
  uint64_t t = (l->last_valid_ms > l->quiet_ms ? l->last_valid_ms : l->quiet_ms) + l->p.dead_ms +
               l->dead_credit_ms;
  if (l->peer_pause_until != 0 && l->peer_pause_until + l->p.dead_ms > t)
    t = l->peer_pause_until + l->p.dead_ms;
  return t;
}

/* Full duplex: when the oldest frame in flight times out.  Its timer does
 * not run during a duty pause the peer announced. */
static uint64_t rto_at(const tide_link *l)
{
  uint64_t from = ms_of_us_ceil(l->slot[l->snd_una].tx_end_us);
  if (l->peer_pause_until > from)
    from = l->peer_pause_until;
  return from + l->rto_ms;
}

/* Runs the timers: dead peer, turn retake, retransmission timeout, SYN
 * retry.  Returns TIDE_E_LINK_DEAD once the peer is given up. */
static int run_timers(tide_link *l, uint64_t now_ms)
{
  l->now_ms = now_ms;
  if (l->dead)
    return TIDE_E_LINK_DEAD;
  if (!outstanding(l))
    l->quiet_ms = now_ms;
  /* Dead: work outstanding, nothing good heard for dead_ms, and we did
   * ask (three frames since) - a sender held back by its own duty budget
   * has not given the peer a chance to answer. */
  if (outstanding(l) && l->tx_unanswered >= 3 && !l->duty_blocked_since && now_ms >= dead_at(l)) {
    l->dead = 1;
    return TIDE_E_LINK_DEAD;
  }
  if (l->p.half_duplex) {
    if (l->turn == TURN_PEER && (want_tx(l) || l->waiting || inflight(l) > 0) &&
        now_ms >= retake_at(l))
      take_turn(l, now_ms, l->waiting && l->last_rx_ms <= l->turn_given_ms);
  } else if (inflight(l) > 0) {
    /* Full duplex: the oldest unacknowledged frame's retransmission timer. */
    txslot *s = &l->slot[l->snd_una];
    if (s->state == SLOT_INFLIGHT && now_ms >= rto_at(l)) {
      s->state = SLOT_LOST;
      l->backoff++;
      l->rto_ms = clamp_rto(l, (uint64_t)l->rto_ms * 2);
    }
  }
  if (syn_retry(l) && now_ms >= l->syn_due_ms && (!l->p.half_duplex || l->turn == TURN_HAVE))
    l->syn_owed = 1;
  return 0;
}

static void put32(uint8_t *b, uint32_t v)
{
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
}

static int rx_gap(const tide_link *l)
{
  for (unsigned i = 1; i < l->p.window_max; i++)
    if (l->rhave[(uint8_t)(l->rcv_next + i)])
      return 1;
  return 0;
}

/* Writes an ACK body (cumulative ack and SACK bitmap) after the header
 * byte; returns its length without CRC. */
static size_t put_ack(const tide_link *l, uint8_t *body)
{
  size_t m = ack_len(l);
  body[1] = l->rcv_next;
  memset(body + 2, 0, m - 2);
  for (unsigned i = 0; i < (m - 2) * 8; i++)
    if (l->rhave[(uint8_t)(l->rcv_next + 1 + i)])
      body[2 + i / 8] |= (uint8_t)(1u << (i % 8));
  return m;
}

/* The line, the duty ledger and the counters take a frame of n bytes
 * written at now_ms. */
static void charge_tx(tide_link *l, uint64_t now_ms, size_t n)
{
  uint64_t now_us = now_ms * 1000u;
  if (l->tx_busy_us < now_us)
    l->tx_busy_us = now_us;
  l->tx_busy_us += tide_link_line_us(&l->p, n);
  l->tx_short = n < l->p.packet_bytes;
  duty_charge(l, now_ms, tide_link_line_us(&l->p, n));
  l->st.tx_bytes += n;
  l->st.tx_frames++;
  l->tx_unanswered++;
}

/* Half duplex: the frame just written handed the turn to the peer. */
static void give_turn(tide_link *l, int waiting)
{
  l->turn = TURN_PEER;
  l->waiting = waiting;
  l->turn_given_ms = ms_of_us_ceil(l->tx_busy_us);
  l->jitter_ms = retake_jitter(l);
  l->rx_in_turn = 0;
}

/* Our duty budget is spent: tells the peer how long we will be silent
 * (docs/radio.md section 6), one frame per call.  The announcement is an
 * ACK when one is owed, then an EXT PAUSE frame carrying the time left
 * until we send again; on half duplex the PAUSE carries TURN, so the peer
 * may use the line meanwhile.  The ledger's reserve pays for it; should it
 * not fit all the same, we stay silent without announcing.  need_us is
 * the airtime of the frame we wanted to send (0: none). */
static int pause_announce(tide_link *l, uint64_t now_ms, uint64_t need_us, uint8_t *out, size_t cap,
                          size_t *out_len)
{
  uint8_t body[2 + TIDE_LINK_MAX_SACK_BYTES + TIDE_LINK_CRC_BYTES];
  uint64_t pause_us = wire_us(l, TIDE_LINK_PAUSE_BYTES), pause;
  size_t m;
  int rc;

  if (l->ann_due == 1) {
    uint64_t ack_us = l->ack_owed ? wire_us(l, ack_len(l)) : 0;
    uint64_t want = wire_us(l, 3 + l->pmax) + reserve_us(l), until;
    unsigned left = TIDE_LINK_PAUSE_REPEATS + 1u - l->ann_sent;
    if (duty_ready_ms(l, now_ms, ack_us + pause_us) > now_ms) {
      l->ann_due = 0;
      return 0;
    }
    /* Silent until a full DATA frame (or what we wanted to send, if more)
     * fits after the announcements still to come; we keep to it. */
    if (need_us > want)
      want = need_us;
    until = duty_ready_ms(l, now_ms, want + left * ann_us(l)) + l->duty_jitter_ms;
    if (until > l->ann_until_ms)
      l->ann_until_ms = until;
    if (l->ann_until_ms > l->duty_resume_ms)
      l->duty_resume_ms = l->ann_until_ms;
    l->ann_due = 2;
    if (l->ack_owed) {
      body[0] = TIDE_LINK_T_ACK;
      m = put_ack(l, body);
      rc = tide_link_frame_encode(out, cap, out_len, body, m);
      if (rc != 0)
        return rc;
      charge_tx(l, now_ms, *out_len);
      l->ack_owed = l->ack_now = 0;
      l->rx_since_ack = 0;
      l->st.tx_ack_frames++;
      l->in_burst++;
      l->turn_open = l->p.half_duplex;
      return 0;
    }
  }
  if (duty_ready_ms(l, now_ms, pause_us) > now_ms) {
    l->ann_due = 0;
    return 0;
  }
  pause = l->ann_until_ms > now_ms ? l->ann_until_ms - now_ms : 0;
  if (pause > pause_cap_ms(l))
    pause = pause_cap_ms(l); /* only the resume jitter can exceed it */
  body[0] = (uint8_t)(TIDE_LINK_T_EXT | (l->p.half_duplex ? TIDE_LINK_F_TURN : 0u));
  body[1] = TIDE_LINK_EXT_PAUSE;
  put32(body + 2, (uint32_t)pause);
  rc = tide_link_frame_encode(out, cap, out_len, body, TIDE_LINK_PAUSE_BYTES);
  if (rc != 0)
    return rc;
  charge_tx(l, now_ms, *out_len);
  l->ann_due = 0;
  l->ann_sent++;
  l->st.pauses_sent++;
  l->in_burst++;
  l->turn_open = 0;
  if (l->p.half_duplex)
    give_turn(l, 0); /* we expect no answer before the pause ends */
  return 0;
}

int tide_link_output(tide_link *l, uint64_t now_ms, uint8_t *out, size_t cap, size_t *out_len)
{
  uint8_t body[TIDE_LINK_MAX_BODY_BYTES + 8];
  uint64_t now_us = now_ms * 1000u;
  size_t m;
  int rc, last, idle;
  unsigned flags;
  pick k;

  *out_len = 0;
  rc = run_timers(l, now_ms);
  if (rc != 0)
    return rc;
  if (line_free_us(l) > now_us)
    return 0;
  if (l->p.half_duplex && l->turn != TURN_HAVE)
    return 0;
  k = choose(l, now_ms);
  if (k.type < 0 && !(l->ann_due && l->duty_blocked_since))
    return 0;
  {
    uint64_t ready = k.type >= 0 ? duty_ready_ms(l, now_ms, k.need_us) : now_ms;
    if (ready > now_ms || (l->duty_blocked_since && now_ms < l->duty_resume_ms)) {
      if (l->duty_blocked_since == 0) {
        /* A new wait: announce it (only to a synchronised peer). */
        l->duty_blocked_since = now_ms + 1;
        l->duty_jitter_ms = rnd(l) % (idle_ms(l) + 1);
        l->ann_sent = 0;
        l->ann_until_ms = 0;
        l->ann_due = tide_link_ready(l);
      }
      if (ready > now_ms)
        l->duty_resume_ms = ready + l->duty_jitter_ms;
      if (l->ann_until_ms > l->duty_resume_ms)
        l->duty_resume_ms = l->ann_until_ms;
      if (l->ann_due)
        return pause_announce(l, now_ms, k.type >= 0 ? k.need_us : 0, out, cap, out_len);
      return 0;
    }
  }
  l->ann_due = 0;
  if (k.type < 0)
    return 0;
  if (l->duty_blocked_since) {
    l->st.duty_wait_ms += now_ms - (l->duty_blocked_since - 1);
    l->dead_credit_ms += now_ms - (l->duty_blocked_since - 1);
    l->duty_blocked_since = 0;
  }

  switch (k.type) {
  case TIDE_LINK_T_SYN:
    put32(body + 1, l->my_id);
    put32(body + 5, l->peer_known ? l->peer_id : 0);
    body[9] = (uint8_t)l->p.window_max;
    body[10] = (uint8_t)(l->peer_knows_us ? 1 : 0);
    m = 11;
    break;
  case TIDE_LINK_T_ACK: m = put_ack(l, body); break;
  default:
    body[1] = k.seq;
    body[2] = l->rcv_next;
    if (k.retx)
      memcpy(body + 3, l->sq + (l->slot[k.seq].off - l->sq_base), k.dlen);
    else
      memcpy(body + 3, l->sq + (l->snd_cut - l->sq_base), k.dlen);
    m = 3 + k.dlen;
    break;
  }

  /* Is this the last frame of the transmission?  Look at what would remain
   * once it is sent. */
  {
    uint64_t unsent = l->sq_base + l->sq_len - l->snd_cut;
    int more = 0;
    if (k.type == TIDE_LINK_T_DATA && !k.retx)
      unsent -= k.dlen;
    if (k.type == TIDE_LINK_T_SYN) {
      more = 0;
    } else {
      for (uint8_t s = l->snd_una; s != l->snd_nxt; s++)
        if (l->slot[s].state == SLOT_LOST && !(k.type == TIDE_LINK_T_DATA && s == k.seq)) {
          more = 1;
          break;
        }
      if (!more && tide_link_ready(l)) {
        unsigned infl = inflight(l) + (k.type == TIDE_LINK_T_DATA && !k.retx ? 1u : 0u);
        uint64_t cut = l->snd_cut + (k.type == TIDE_LINK_T_DATA && !k.retx ? k.dlen : 0);
        more = infl < window(l) && (unsent >= l->pmax || (unsent > 0 && l->push_upto > cut));
      }
      /* Half duplex: a DATA frame keeps the turn only if the budget allows
       * another frame after it. */
      if (more && l->p.half_duplex &&
          duty_ready_ms(l, now_ms, k.need_us + wire_us(l, 3 + l->pmax)) > now_ms)
        more = 0;
    }
    last = !more;
    idle = unsent == 0 && last;
  }
  flags = (unsigned)k.type;
  if (last)
    flags |= TIDE_LINK_F_TURN;
  if (last && idle)
    flags |= TIDE_LINK_F_IDLE;
  body[0] = (uint8_t)flags;
  rc = tide_link_frame_encode(out, cap, out_len, body, m);
  if (rc != 0)
    return rc;

  /* Commit. */
  charge_tx(l, now_ms, *out_len);
  switch (k.type) {
  case TIDE_LINK_T_SYN:
    l->syn_owed = 0;
    l->syn_due_ms = ms_of_us_ceil(l->tx_busy_us) + l->rto_ms;
    l->st.tx_syn_frames++;
    break;
  case TIDE_LINK_T_ACK:
    l->ack_owed = l->ack_now = 0;
    l->rx_since_ack = 0;
    l->st.tx_ack_frames++;
    break;
  default: {
    txslot *s = &l->slot[k.seq];
    if (!k.retx) {
      s->off = l->snd_cut;
      s->len = (uint16_t)k.dlen;
      s->tries = 0;
      l->snd_cut += k.dlen;
      l->snd_nxt++;
    } else {
      l->st.retransmits++;
    }
    if (s->tries < 255)
      s->tries++;
    s->state = SLOT_INFLIGHT;
    s->tx_end_us = l->tx_busy_us;
    l->st.tx_data_frames++;
    /* The piggybacked cumulative ack is a full acknowledgement when
     * nothing is out of order. */
    if (l->ack_owed && !rx_gap(l)) {
      l->ack_owed = l->ack_now = 0;
      l->rx_since_ack = 0;
    }
    break;
  }
  }
  l->in_burst++;
  l->turn_open = l->p.half_duplex && !last;
  /* Expect an answer when we sent DATA or a SYN, or handed the turn to a
   * peer that still has data. */
  if (l->p.half_duplex && last)
    give_turn(l, k.type != TIDE_LINK_T_ACK || inflight(l) > 0 || !l->peer_idle);
  return 0;
}

uint64_t tide_link_next_wakeup(const tide_link *l, uint64_t now_ms)
{
  uint64_t t = UINT64_MAX, c;
  pick k;

  if (l->dead)
    return now_ms;
  if (outstanding(l) && l->tx_unanswered >= 3 && !l->duty_blocked_since) {
    c = dead_at(l);
    if (c < t)
      t = c;
  }
  if (syn_retry(l) && !l->syn_owed && l->syn_due_ms < t &&
      (!l->p.half_duplex || l->turn == TURN_HAVE))
    t = l->syn_due_ms;
  if (l->p.half_duplex && l->turn == TURN_PEER) {
    if (want_tx(l) || l->waiting || inflight(l) > 0) {
      c = retake_at(l);
      if (c < t)
        t = c;
    }
  } else {
    if (!l->p.half_duplex && inflight(l) > 0 && l->slot[l->snd_una].state == SLOT_INFLIGHT) {
      c = rto_at(l);
      if (c < t)
        t = c;
    }
    if (!l->p.half_duplex && l->ack_owed && !ack_due(l, now_ms) && l->ack_due_ms < t)
      t = l->ack_due_ms;
    k = choose(l, now_ms);
    if (l->ann_due && l->duty_blocked_since) {
      /* An announcement of our duty pause is under way. */
      c = ms_of_us_ceil(line_free_us(l));
      if (c < t)
        t = c;
    } else if (k.type >= 0) {
      c = ms_of_us_ceil(line_free_us(l));
      {
        uint64_t d = duty_ready_ms(l, now_ms, k.need_us);
        if (d > now_ms)
          d += l->duty_blocked_since ? l->duty_jitter_ms : 0;
        if (l->duty_blocked_since && l->duty_resume_ms > d)
          d = l->duty_resume_ms;
        if (d > c)
          c = d;
      }
      if (c < t)
        t = c;
    }
  }
  return t < now_ms ? now_ms : t;
}

void tide_link_get_stats(const tide_link *l, uint64_t now_ms, tide_link_stats *st)
{
  uint64_t air_us = tide_link_line_us(&l->p, (size_t)l->st.tx_bytes);
  *st = l->st;
  st->airtime_ms = air_us / 1000u;
  st->duty_used_ms = duty_used_us(l, now_ms) / 1000u;
  st->duty_budget_ms = l->duty_budget_us / 1000u;
  if (l->duty_blocked_since)
    st->duty_wait_ms += now_ms - (l->duty_blocked_since - 1);
  st->peer_pause_ms = l->peer_pause_until > now_ms ? l->peer_pause_until - now_ms : 0;
  st->srtt_ms = l->srtt8 / 8u;
  st->rto_ms = l->rto_ms;
  st->window = window(l);
}
