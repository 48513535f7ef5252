/* test_ebt.c - the EBT engine as a state machine: scripted inputs, checked
 * actions.  Each test names the rule it checks (docs/replication.md). */
#include <stdlib.h>
#include <string.h>

#include "tide/clock.h"
#include "tide/ebt.h"
#include "tide_test.h"

static uint8_t FA[32], FB[32], FC[32], FX[32];

static void keys_init(void)
{
  memset(FA, 0xa1, 32);
  memset(FB, 0xb2, 32);
  memset(FC, 0xc3, 32);
  memset(FX, 0xd4, 32);
}

/* Everything one poll loop produced. */
typedef struct out {
  size_t n_notes_actions, n_sends;
  struct {
    tide_ebt_peer peer;
    uint8_t feed[32];
    int64_t value;
  } notes[64];
  size_t n_notes;
  struct {
    tide_ebt_peer peer;
    uint8_t feed[32];
    int64_t from, to;
  } sends[64];
  tide_ebt_peer notes_peers[16];
} out;

static void drain(tide_ebt *e, out *o)
{
  tide_ebt_action a;
  memset(o, 0, sizeof *o);
  while (tide_ebt_poll(e, &a)) {
    if (a.type == TIDE_EBT_NOTES) {
      if (o->n_notes_actions < 16)
        o->notes_peers[o->n_notes_actions] = a.peer;
      o->n_notes_actions++;
      for (size_t i = 0; i < a.n_notes && o->n_notes < 64; i++) {
        o->notes[o->n_notes].peer = a.peer;
        memcpy(o->notes[o->n_notes].feed, a.notes[i].feed, 32);
        o->notes[o->n_notes++].value = a.notes[i].value;
      }
    } else {
      CU_ASSERT_EQUAL(a.type, TIDE_EBT_SEND);
      if (o->n_sends < 64) {
        o->sends[o->n_sends].peer = a.peer;
        memcpy(o->sends[o->n_sends].feed, a.feed, 32);
        o->sends[o->n_sends].from = a.from_seq;
        o->sends[o->n_sends].to = a.to_seq;
      }
      o->n_sends++;
    }
  }
}

/* The value noted to peer for feed, or -99 when not noted. */
static int64_t noted(const out *o, tide_ebt_peer peer, const uint8_t *feed)
{
  int64_t v = -99;
  for (size_t i = 0; i < o->n_notes; i++)
    if (o->notes[i].peer == peer && memcmp(o->notes[i].feed, feed, 32) == 0)
      v = o->notes[i].value;
  return v;
}

static int sent(const out *o, tide_ebt_peer peer, const uint8_t *feed, int64_t from, int64_t to)
{
  for (size_t i = 0; i < o->n_sends && i < 64; i++)
    if (o->sends[i].peer == peer && memcmp(o->sends[i].feed, feed, 32) == 0 &&
        o->sends[i].from == from && o->sends[i].to == to)
      return 1;
  return 0;
}

static void notes1(tide_ebt *e, tide_ebt_peer p, const uint8_t *feed, int64_t v, int64_t now)
{
  tide_ebt_note n;
  memcpy(n.feed, feed, 32);
  n.value = v;
  CU_ASSERT_EQUAL(tide_ebt_on_notes(e, p, &n, 1, now), 0);
}

#define V(seq, rx) tide_clock_value((seq), (rx))

/* Engine replicating A (we have 3) and B (we have 0). */
static tide_ebt *engine(void)
{
  tide_ebt *e = NULL;
  keys_init();
  CU_ASSERT_FATAL(tide_ebt_new(&e) == 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, FA, 1, 3, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, FB, 1, 0, 0), 0);
  return e;
}

static void test_pair_size(void)
{
  CU_ASSERT(tide_ebt_pair_bytes() <= 32);
}

static void test_first_contact_full_clock(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, FC, 0, 9, 0), 0); /* not replicated */
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, NULL, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes_actions, 1);
  CU_ASSERT_EQUAL(o.n_notes, 2);
  CU_ASSERT_EQUAL(noted(&o, p, FA), 6); /* have 3, push: the first peer is eager */
  CU_ASSERT_EQUAL(noted(&o, p, FB), 0);
  CU_ASSERT_EQUAL(noted(&o, p, FC), -99);
  CU_ASSERT_EQUAL(o.n_sends, 0);
  tide_ebt_free(e);
}

static void test_second_peer_lazy(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, p1;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p1, NULL, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p0, FA), 6);
  CU_ASSERT_EQUAL(noted(&o, p1, FA), 7); /* have 3, lazy */
  CU_ASSERT_EQUAL(noted(&o, p1, FB), 1);
  CU_ASSERT_EQUAL(tide_ebt_peer_mode(e, p0, FA), TIDE_EBT_MODE_WE_EAGER);
  CU_ASSERT_EQUAL(tide_ebt_peer_mode(e, p1, FA), 0);
  tide_ebt_free(e);
}

static void test_empty_first_note_and_wait(void)
{
  tide_ebt *e = NULL;
  tide_ebt_peer p, q;
  out o;
  keys_init();
  CU_ASSERT_FATAL(tide_ebt_new(&e) == 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, NULL, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes_actions, 1); /* "{}": an SSB server always speaks */
  CU_ASSERT_EQUAL(o.n_notes, 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, FA, 1, 2, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p, FA), 4); /* newly replicated feed is noted */
  tide_ebt_peer_opts opts = {.flags = TIDE_EBT_PEER_WAIT};
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &q, &opts, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes_actions, 0); /* client waits for the server */
  CU_ASSERT_EQUAL(tide_ebt_on_notes(e, q, NULL, 0, 1), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes_actions, 1);
  CU_ASSERT_EQUAL(noted(&o, q, FA), 5); /* lazy: p is eager for A */
  tide_ebt_free(e);
}

static void test_push_on_request(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p, FA, V(1, 1), 1); /* has 1, push to me */
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_sends, 1);
  CU_ASSERT(sent(&o, p, FA, 2, 3));
  CU_ASSERT_EQUAL(o.n_notes, 0); /* we mentioned A already */
  /* A local append is pushed at once. */
  CU_ASSERT_EQUAL(tide_ebt_on_append(e, FA, 4, 2), 0);
  drain(e, &o);
  CU_ASSERT(sent(&o, p, FA, 4, 4));
  /* An old sequence is ignored. */
  CU_ASSERT_EQUAL(tide_ebt_on_append(e, FA, 2, 3), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_sends + o.n_notes, 0);
  tide_ebt_free(e);
}

static void test_lazy_peer_gets_notes(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p, FA, V(3, 0), 1); /* has 3, lazy */
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_sends + o.n_notes, 0);
  CU_ASSERT_EQUAL(tide_ebt_on_append(e, FA, 4, 2), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_sends, 0);
  CU_ASSERT_EQUAL(noted(&o, p, FA), V(4, 1));
  /* A lazy peer that is behind learns that we are ahead. */
  notes1(e, p, FB, V(0, 0), 3);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0); /* B: equal, nothing to say */
  tide_ebt_free(e);
}

static void test_duplicate_switches_to_lazy(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, p1;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p1, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p0, FA, V(5, 0), 1);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0); /* p0 is eager already: it will push */
  CU_ASSERT(tide_ebt_wants(e, p0, FA, 4));
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p0, FA, 4, TIDE_EBT_RX_NEW, 2), 0);
  CU_ASSERT(!tide_ebt_wants(e, p0, FA, 4));
  CU_ASSERT_EQUAL(tide_ebt_our_seq(e, FA), 4);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p1, FA), V(4, 0)); /* lazy p1 hears of #4 */
  /* p0 pushes a message we already had: ask it to go lazy. */
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p0, FA, 4, TIDE_EBT_RX_DUP, 3), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p0, FA), V(4, 0));
  CU_ASSERT_EQUAL(tide_ebt_peer_mode(e, p0, FA) & TIDE_EBT_MODE_WE_EAGER, 0);
  /* A second in-flight duplicate does not repeat the note. */
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p0, FA, 4, TIDE_EBT_RX_DUP, 4), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0);
  tide_ebt_stats st;
  tide_ebt_get_stats(e, &st);
  CU_ASSERT_EQUAL(st.to_lazy, 1);
  CU_ASSERT_EQUAL(st.msgs_dup, 2);
  tide_ebt_free(e);
}

static void test_note_newer_lazy_to_eager(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, p1;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p1, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p0, FA, -1, 1); /* p0 gives A up: nobody is eager for A */
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0);
  notes1(e, p1, FA, V(5, 0), 2); /* lazy p1 has newer */
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p1, FA), V(3, 1)); /* switched to eager at once */
  CU_ASSERT_EQUAL(tide_ebt_next_wake(e), -1);
  tide_ebt_free(e);
}

static void test_patience(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, p1;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p1, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p1, FA, V(5, 0), 1000); /* lazy p1 has newer; p0 is eager */
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0);
  CU_ASSERT_EQUAL(tide_ebt_next_wake(e), 1000 + TIDE_EBT_DEFAULT_PATIENCE_MS);
  CU_ASSERT_EQUAL(tide_ebt_tick(e, 3999), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0);
  CU_ASSERT_EQUAL(tide_ebt_tick(e, 4000), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p0, FA), V(3, 0)); /* p0 -> lazy */
  CU_ASSERT_EQUAL(noted(&o, p1, FA), V(3, 1)); /* p1 -> eager */
  CU_ASSERT_EQUAL(tide_ebt_next_wake(e), -1);
  tide_ebt_free(e);
}

static void test_patience_met(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, p1;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p1, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p1, FA, V(4, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p0, FA, 4, TIDE_EBT_RX_NEW, 10), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p1, FA), -99); /* p1 has 4 already: no note */
  CU_ASSERT_EQUAL(tide_ebt_tick(e, 5000), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0); /* eager peer delivered: no switch */
  CU_ASSERT_EQUAL(tide_ebt_next_wake(e), -1);
  tide_ebt_free(e);
}

static void test_eager_gone(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, p1, p2;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p1, NULL, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p2, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p1, FA, V(4, 0), 1);
  notes1(e, p2, FA, V(6, 0), 1);
  drain(e, &o);
  CU_ASSERT_EQUAL(tide_ebt_disconnect(e, p0, 2), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p2, FA), V(3, 1)); /* the one furthest ahead */
  CU_ASSERT_EQUAL(noted(&o, p1, FA), -99);
  CU_ASSERT_EQUAL(o.n_notes, 1);
  /* Nothing is sent to a peer that is gone, and its handle is invalid. */
  CU_ASSERT_EQUAL(tide_ebt_on_notes(e, p0, NULL, 0, 3), TIDE_E_INVAL);
  tide_ebt_free(e);
}

/* Stored clocks: our value and theirs are equal for A and B; C changed. */
static void test_request_skipping(void)
{
  tide_ebt *e = engine();
  tide_clock *theirs, *ours;
  tide_ebt_peer p;
  out o;
  CU_ASSERT_FATAL(tide_clock_new(&theirs) == 0 && tide_clock_new(&ours) == 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, FC, 1, 7, 0), 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FA, V(3, 0)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FB, V(0, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FC, V(5, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FA, V(3, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FB, V(0, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FC, V(5, 1)), 0);
  tide_ebt_peer_opts opts = {.theirs = theirs, .ours = ours};
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, &opts, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 1);
  CU_ASSERT_EQUAL(noted(&o, p, FC), V(7, 1));
  /* The peer mentions A, which we skipped: answer with our part. */
  notes1(e, p, FA, V(3, 0), 1);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 1);
  CU_ASSERT_EQUAL(noted(&o, p, FA), V(3, 1));
  /* Their clock for the store. */
  CU_ASSERT_EQUAL(tide_ebt_peer_clocks(e, p, theirs, ours), 0);
  int64_t v;
  CU_ASSERT_EQUAL(tide_clock_get(ours, &v, FC), 0);
  CU_ASSERT_EQUAL(v, V(7, 1));
  CU_ASSERT_EQUAL(tide_clock_get(theirs, &v, FB), 0);
  CU_ASSERT_EQUAL(v, V(0, 1));
  tide_clock_free(theirs);
  tide_clock_free(ours);
  tide_ebt_free(e);
}

/* epidemic-broadcast-trees #34 / ssb-ebt #59: a wiped peer is refilled. */
static void test_wiped_peer_refilled(void)
{
  tide_ebt *e = engine();
  tide_clock *theirs, *ours;
  tide_ebt_peer p;
  out o;
  CU_ASSERT_FATAL(tide_clock_new(&theirs) == 0 && tide_clock_new(&ours) == 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FA, V(3, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FB, V(0, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FA, V(3, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FB, V(0, 1)), 0);
  tide_ebt_peer_opts opts = {.theirs = theirs, .ours = ours};
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, &opts, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0); /* everything skipped */
  notes1(e, p, FA, V(0, 1), 1);  /* "I have nothing of A" */
  drain(e, &o);
  CU_ASSERT(sent(&o, p, FA, 1, 3)); /* refilled */
  CU_ASSERT(noted(&o, p, FA) >= 0); /* and our full clock is sent */
  CU_ASSERT(noted(&o, p, FB) >= 0);
  tide_ebt_stats st;
  tide_ebt_get_stats(e, &st);
  CU_ASSERT_EQUAL(st.resets, 1);
  CU_ASSERT_EQUAL(tide_ebt_peer_clocks(e, p, theirs, NULL), 0);
  int64_t v;
  CU_ASSERT_EQUAL(tide_clock_get(theirs, &v, FA), 0);
  CU_ASSERT_EQUAL(v, V(0, 1)); /* the remembered clock is reset */
  CU_ASSERT_EQUAL(tide_clock_get(theirs, &v, FB), TIDE_E_NOTFOUND);
  tide_clock_free(theirs);
  tide_clock_free(ours);
  tide_ebt_free(e);
}

/* ssb-ebt #61: a stray "don't replicate" does not stop replication. */
static void test_stray_dont_replicate(void)
{
  tide_ebt *e = engine();
  tide_clock *theirs, *ours;
  tide_ebt_peer p;
  out o;
  CU_ASSERT_FATAL(tide_clock_new(&theirs) == 0 && tide_clock_new(&ours) == 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FA, -1), 0); /* remembered from an old session */
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FB, V(0, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FA, V(3, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FB, V(0, 1)), 0);
  tide_ebt_peer_opts opts = {.theirs = theirs, .ours = ours};
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, &opts, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p, FA), V(3, 1)); /* asked again despite the -1 */
  CU_ASSERT_EQUAL(noted(&o, p, FB), -99);
  notes1(e, p, FA, V(1, 1), 1);
  drain(e, &o);
  CU_ASSERT(sent(&o, p, FA, 2, 3));
  /* In a session: -1, then the peer follows after all. */
  notes1(e, p, FA, -1, 2);
  CU_ASSERT_EQUAL(tide_ebt_on_append(e, FA, 4, 3), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_sends + o.n_notes, 0);
  notes1(e, p, FA, V(3, 1), 4);
  drain(e, &o);
  CU_ASSERT(sent(&o, p, FA, 4, 4));
  tide_clock_free(theirs);
  tide_clock_free(ours);
  tide_ebt_free(e);
}

/* A hole (6 lost, 8 arrives) is re-requested once, and the sender
 * serves a request below what it sent. */
static void test_hole_does_not_stall(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p, FA, V(9, 1), 1);
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p, FA, 4, TIDE_EBT_RX_NEW, 2), 0);
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p, FA, 6, TIDE_EBT_RX_GAP, 2), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p, FA), V(4, 1)); /* "have 4, push from 5" */
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p, FA, 7, TIDE_EBT_RX_GAP, 3), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0); /* once per hole */
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p, FA, 5, TIDE_EBT_RX_NEW, 4), 0);
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p, FA, 7, TIDE_EBT_RX_GAP, 4), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p, FA), V(5, 1)); /* a new hole, a new request */

  /* Sender side: the peer asks from 2 after we pushed up to 3. */
  tide_ebt *s = engine();
  tide_ebt_peer q;
  CU_ASSERT_EQUAL(tide_ebt_connect(s, &q, NULL, 0), 0);
  drain(s, &o);
  notes1(s, q, FA, V(0, 1), 1);
  drain(s, &o);
  CU_ASSERT(sent(&o, q, FA, 1, 3));
  notes1(s, q, FA, V(1, 1), 2);
  drain(s, &o);
  CU_ASSERT(sent(&o, q, FA, 2, 3));
  tide_ebt_free(s);
  tide_ebt_free(e);
}

/* A peer that cannot serve the hole (partial feed) is replaced by one
 * that announces more, once its patience ran out. */
static void test_partial_source_replaced(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, p1;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p1, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p0, FA, V(9, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p0, FA, 8, TIDE_EBT_RX_GAP, 1), 0);
  notes1(e, p1, FA, V(9, 0), 2);
  drain(e, &o);
  CU_ASSERT_EQUAL(tide_ebt_tick(e, 2 + TIDE_EBT_DEFAULT_PATIENCE_MS), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p1, FA), V(3, 1));
  CU_ASSERT_EQUAL(noted(&o, p0, FA), V(3, 0));
  tide_ebt_free(e);
}

static void test_not_replicated(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p, FX, V(4, 1), 1);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p, FX), -1);
  CU_ASSERT(!tide_ebt_wants(e, p, FX, 1));
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p, FX, 1, TIDE_EBT_RX_NEW, 2), 0);
  CU_ASSERT_EQUAL(tide_ebt_our_seq(e, FX), 0);
  notes1(e, p, FX, V(5, 1), 3);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0); /* said once */
  /* Stop replicating B: connected peers hear -1. */
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, FB, 0, 0, 4), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p, FB), -1);
  /* Bad values are rejected. */
  tide_ebt_note bad = {{0}, -3};
  CU_ASSERT_EQUAL(tide_ebt_on_notes(e, p, &bad, 1, 5), TIDE_E_INVAL);
  tide_ebt_free(e);
}

static void test_async_peer(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, b;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  tide_ebt_peer_opts opts = {.flags = TIDE_EBT_PEER_ASYNC};
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &b, &opts, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, b, FA), V(3, 1)); /* a bundle carries messages */
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, b, FA, 3, TIDE_EBT_RX_DUP, 1), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0); /* duplicates are tolerated, no round trip */
  notes1(e, b, FA, V(2, 1), 1);
  drain(e, &o);
  CU_ASSERT(sent(&o, b, FA, 3, 3));
  tide_ebt_free(e);
}

static void test_invalid_message(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, p1;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p1, NULL, 0), 0);
  drain(e, &o);
  notes1(e, p1, FA, V(6, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p0, FA, 4, TIDE_EBT_RX_INVALID, 1), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p0, FA), V(3, 0));
  CU_ASSERT_EQUAL(noted(&o, p1, FA), V(3, 1));
  CU_ASSERT(!tide_ebt_wants(e, p0, FA, 4));
  tide_ebt_free(e);
}

/* A peer is asked eagerly for its own feed even when another peer is
 * the eager source. */
static void test_own_feed_from_author(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p0, p1;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p0, NULL, 0), 0);
  tide_ebt_peer_opts opts = {.id = FB};
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p1, &opts, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p0, FB), V(0, 1));
  CU_ASSERT_EQUAL(noted(&o, p1, FB), V(0, 1)); /* the author itself */
  CU_ASSERT_EQUAL(noted(&o, p1, FA), V(3, 0));
  tide_ebt_free(e);
}

/* Lazy notes wait note_delay_ms, leave together, and are dropped when
 * the peer said meanwhile that it has the message. */
static void test_note_delay(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p;
  out o;
  tide_ebt_peer_opts opts = {.note_delay_ms = 100};
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, &opts, 0), 0);
  drain(e, &o);
  notes1(e, p, FA, V(3, 0), 1);
  notes1(e, p, FB, V(0, 0), 1);
  drain(e, &o);
  CU_ASSERT_EQUAL(tide_ebt_on_append(e, FA, 4, 10), 0);
  CU_ASSERT_EQUAL(tide_ebt_on_append(e, FB, 1, 20), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes_actions, 0);
  CU_ASSERT_EQUAL(tide_ebt_next_wake(e), 110);
  CU_ASSERT_EQUAL(tide_ebt_tick(e, 109), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes_actions, 0);
  CU_ASSERT_EQUAL(tide_ebt_tick(e, 110), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes_actions, 1); /* one batch */
  CU_ASSERT_EQUAL(noted(&o, p, FA), V(4, 1));
  CU_ASSERT_EQUAL(noted(&o, p, FB), V(1, 1));
  CU_ASSERT_EQUAL(tide_ebt_next_wake(e), -1);
  /* The peer gets #5 elsewhere and says so before the batch leaves. */
  CU_ASSERT_EQUAL(tide_ebt_on_append(e, FA, 5, 200), 0);
  notes1(e, p, FA, V(5, 0), 250);
  CU_ASSERT_EQUAL(tide_ebt_tick(e, 300), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0);
  /* A request leaving at once takes the waiting batch along. */
  CU_ASSERT_EQUAL(tide_ebt_on_append(e, FB, 2, 400), 0);
  CU_ASSERT_EQUAL(tide_ebt_on_message(e, p, FA, 7, TIDE_EBT_RX_GAP, 410), 0); /* re-request now */
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes_actions, 1);
  CU_ASSERT_EQUAL(noted(&o, p, FA), V(5, 1));
  CU_ASSERT_EQUAL(noted(&o, p, FB), V(2, 1));
  tide_ebt_free(e);
}

/* A client (WAIT) whose server turns out to be wiped: the reset happens
 * before our first notes, which are then the full clock. */
static void test_wait_then_wiped(void)
{
  tide_ebt *e = engine();
  tide_clock *theirs, *ours;
  tide_ebt_peer p;
  out o;
  CU_ASSERT_FATAL(tide_clock_new(&theirs) == 0 && tide_clock_new(&ours) == 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FA, V(3, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FB, V(0, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FA, V(3, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FB, V(0, 1)), 0);
  tide_ebt_peer_opts opts = {.theirs = theirs, .ours = ours, .flags = TIDE_EBT_PEER_WAIT};
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, &opts, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes_actions, 0);
  notes1(e, p, FA, V(1, 1), 1);
  drain(e, &o);
  CU_ASSERT(sent(&o, p, FA, 2, 3));
  CU_ASSERT(noted(&o, p, FA) >= 0);
  CU_ASSERT(noted(&o, p, FB) >= 0); /* skipped before the reset, sent after */
  CU_ASSERT_EQUAL(tide_ebt_peer_seq(e, p, FA), 1);
  CU_ASSERT_EQUAL(tide_ebt_peer_seq(e, p, FB), -1);
  tide_ebt_stats st;
  tide_ebt_get_stats(e, &st);
  CU_ASSERT_EQUAL(st.resets, 1);
  tide_clock_free(theirs);
  tide_clock_free(ours);
  tide_ebt_free(e);
}

/* A clock that arrives in two parts, the second going backwards: what
 * the first part asked for is still served after the reset. */
static void test_reset_keeps_this_session(void)
{
  tide_ebt *e = engine();
  tide_clock *theirs, *ours;
  tide_ebt_peer p;
  out o;
  CU_ASSERT_FATAL(tide_clock_new(&theirs) == 0 && tide_clock_new(&ours) == 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, FC, 1, 7, 0), 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FA, V(3, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FB, V(0, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(theirs, FC, V(2, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FA, V(3, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FB, V(0, 1)), 0);
  CU_ASSERT_EQUAL(tide_clock_set(ours, FC, V(7, 1)), 0);
  tide_ebt_peer_opts opts = {.theirs = theirs, .ours = ours};
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, &opts, 0), 0);
  notes1(e, p, FC, V(2, 1), 1);
  notes1(e, p, FA, V(1, 1), 1); /* backwards: wiped */
  drain(e, &o);
  CU_ASSERT(sent(&o, p, FC, 3, 7));
  CU_ASSERT(sent(&o, p, FA, 2, 3));
  CU_ASSERT(noted(&o, p, FB) >= 0);
  CU_ASSERT_EQUAL(tide_ebt_peer_seq(e, p, FC), 2);
  tide_clock_free(theirs);
  tide_clock_free(ours);
  tide_ebt_free(e);
}

/* Reference trace [1] of epidemic-broadcast-trees 9.0.4 (see the SSB
 * notes, 5.4): A has A:1..3, B has nothing, both replicate A, B dials A:
 * A->B {"A":6}  B->A {"A":0}  A->B msg1 msg2 msg3. */
static void test_reference_trace(void)
{
  tide_ebt *a = NULL, *b = NULL;
  tide_ebt_peer ab, ba;
  tide_ebt_action act;
  keys_init();
  CU_ASSERT_FATAL(tide_ebt_new(&a) == 0 && tide_ebt_new(&b) == 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(a, FA, 1, 3, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(b, FA, 1, 0, 0), 0);
  tide_ebt_peer_opts client = {.flags = TIDE_EBT_PEER_WAIT};
  CU_ASSERT_EQUAL(tide_ebt_connect(a, &ab, NULL, 0), 0);    /* server */
  CU_ASSERT_EQUAL(tide_ebt_connect(b, &ba, &client, 0), 0); /* client */
  CU_ASSERT_EQUAL(tide_ebt_poll(b, &act), 0);               /* the client waits */
  CU_ASSERT_FATAL(tide_ebt_poll(a, &act) == 1);
  CU_ASSERT_EQUAL(act.type, TIDE_EBT_NOTES);
  CU_ASSERT_FATAL(act.n_notes == 1);
  CU_ASSERT_EQUAL(act.notes[0].value, 6);
  CU_ASSERT_EQUAL(tide_ebt_on_notes(b, ba, act.notes, 1, 1), 0);
  CU_ASSERT_FATAL(tide_ebt_poll(b, &act) == 1);
  CU_ASSERT_EQUAL(act.type, TIDE_EBT_NOTES);
  CU_ASSERT_FATAL(act.n_notes == 1);
  CU_ASSERT_EQUAL(act.notes[0].value, 0);
  CU_ASSERT_EQUAL(tide_ebt_poll(b, &act), 0);
  tide_ebt_note n0 = {{0}, 0};
  memcpy(n0.feed, FA, 32);
  CU_ASSERT_EQUAL(tide_ebt_on_notes(a, ab, &n0, 1, 2), 0);
  CU_ASSERT_FATAL(tide_ebt_poll(a, &act) == 1);
  CU_ASSERT_EQUAL(act.type, TIDE_EBT_SEND);
  CU_ASSERT_EQUAL(act.from_seq, 1);
  CU_ASSERT_EQUAL(act.to_seq, 3);
  CU_ASSERT_EQUAL(tide_ebt_poll(a, &act), 0);
  for (int q = 1; q <= 3; q++)
    CU_ASSERT_EQUAL(tide_ebt_on_message(b, ba, FA, q, TIDE_EBT_RX_NEW, 3), 0);
  CU_ASSERT_EQUAL(tide_ebt_our_seq(b, FA), 3);
  CU_ASSERT_EQUAL(tide_ebt_poll(b, &act), 0); /* nothing more to say */
  tide_ebt_free(a);
  tide_ebt_free(b);
}

/* A few engines wired back to back, for rules that need several nodes.
 * Notes arrive at once and in order; a SEND from..to arrives message by
 * message and is reported as the receiving transport would (new, a hole,
 * or a duplicate).  drop_unknown[i]: node i's transport drops note
 * entries of feeds its engine does not know, as a radio session drops a
 * short key that does not resolve (docs/frames.md, "Short keys"). */
#define NET_MAX 3
typedef struct net {
  tide_ebt *e[NET_MAX];
  tide_ebt_peer h[NET_MAX][NET_MAX]; /* h[i][j]: node i's handle of node j */
  int linked[NET_MAX][NET_MAX];
  int drop_unknown[NET_MAX];
  size_t dropped;                        /* entries dropped by drop_unknown */
  size_t entries[NET_MAX];               /* note entries node i sent */
  size_t msgs_in[NET_MAX];               /* messages node i received */
  size_t dups_in[NET_MAX];               /* of which it already had */
  size_t entries_feed[NET_MAX][NET_MAX]; /* [i][j]: entries of net_feed i sent to j */
  const uint8_t *net_feed;
  int64_t now;
} net;

static void net_init(net *n)
{
  memset(n, 0, sizeof *n);
  keys_init();
  for (int i = 0; i < NET_MAX; i++)
    CU_ASSERT_FATAL(tide_ebt_new(&n->e[i]) == 0);
}

static void net_free(net *n)
{
  for (int i = 0; i < NET_MAX; i++)
    tide_ebt_free(n->e[i]);
}

/* i connects to j: a first contact, both sides speak at once. */
static void net_link(net *n, int i, int j)
{
  CU_ASSERT_EQUAL(tide_ebt_connect(n->e[i], &n->h[i][j], NULL, n->now), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(n->e[j], &n->h[j][i], NULL, n->now), 0);
  n->linked[i][j] = n->linked[j][i] = 1;
}

static int net_peer(const net *n, int i, tide_ebt_peer h)
{
  for (int j = 0; j < NET_MAX; j++)
    if (n->linked[i][j] && n->h[i][j] == h)
      return j;
  CU_FAIL("action for an unknown peer");
  return 0;
}

/* Delivers one action of node i. */
static void net_deliver(net *n, int i, const tide_ebt_action *a)
{
  int j = net_peer(n, i, a->peer);
  tide_ebt_peer back = n->h[j][i];
  if (a->type == TIDE_EBT_NOTES) {
    tide_ebt_note kept[64];
    size_t k = 0;
    CU_ASSERT_FATAL(a->n_notes <= 64);
    for (size_t x = 0; x < a->n_notes; x++) {
      uint8_t key[32];
      n->entries[i]++;
      if (n->net_feed && memcmp(a->notes[x].feed, n->net_feed, 32) == 0)
        n->entries_feed[i][j]++;
      if (n->drop_unknown[j] && tide_ebt_find_prefix(n->e[j], key, a->notes[x].feed, 32) != 1) {
        n->dropped++;
        continue;
      }
      kept[k++] = a->notes[x];
    }
    CU_ASSERT_EQUAL(tide_ebt_on_notes(n->e[j], back, kept, k, n->now), 0);
    return;
  }
  for (int64_t q = a->from_seq; q <= a->to_seq; q++) {
    tide_ebt_rx rx;
    int64_t have = tide_ebt_our_seq(n->e[j], a->feed);
    n->msgs_in[j]++;
    if (tide_ebt_wants(n->e[j], back, a->feed, q))
      rx = q == have + 1 ? TIDE_EBT_RX_NEW : TIDE_EBT_RX_GAP;
    else if (tide_ebt_replicates(n->e[j], a->feed) && q <= have)
      rx = TIDE_EBT_RX_DUP;
    else
      continue;
    if (rx == TIDE_EBT_RX_DUP)
      n->dups_in[j]++;
    CU_ASSERT_EQUAL(tide_ebt_on_message(n->e[j], back, a->feed, q, rx, n->now), 0);
  }
}

/* Runs until nothing is left to do before until (ticking the engines at
 * their wake-up times), then sets the time to until. */
static void net_run(net *n, int64_t until)
{
  for (int rounds = 0; rounds < 10000; rounds++) {
    int any = 0;
    tide_ebt_action a;
    for (int i = 0; i < NET_MAX; i++)
      while (tide_ebt_poll(n->e[i], &a)) {
        any = 1;
        net_deliver(n, i, &a);
      }
    if (any)
      continue;
    int64_t wake = -1;
    for (int i = 0; i < NET_MAX; i++) {
      int64_t w = tide_ebt_next_wake(n->e[i]);
      if (w >= 0 && (wake < 0 || w < wake))
        wake = w;
    }
    if (wake < 0 || wake > until)
      break;
    if (wake > n->now)
      n->now = wake;
    for (int i = 0; i < NET_MAX; i++)
      CU_ASSERT_EQUAL(tide_ebt_tick(n->e[i], n->now), 0);
  }
  n->now = until;
}

/* A feed we start replicating mid-session (rule 12).  R (node 0) is
 * linked first to Q (node 1), which replicates X but has none of it, then
 * to P (node 2), which has X 1..5; Q and P are not linked.  When
 * R_knows, R's engine knows X but does not replicate it, so it answers
 * P's opening clock with -1; otherwise R's engine does not know X at all
 * and its transport drops P's entry (a short key that does not resolve).
 * Later R starts replicating X: within the session, and although P
 * publishes nothing new, R must get X 1..5 from P. */
static void late_feed(int r_knows)
{
  net n;
  enum { R = 0, Q = 1, P = 2 };
  net_init(&n);
  n.net_feed = FX;
  for (int i = 0; i < NET_MAX; i++)
    CU_ASSERT_EQUAL(tide_ebt_set_feed(n.e[i], FA, 1, i == P ? 2 : 0, 0), 0);
  if (r_knows)
    CU_ASSERT_EQUAL(tide_ebt_set_feed(n.e[R], FX, 0, 0, 0), 0);
  n.drop_unknown[R] = !r_knows;
  CU_ASSERT_EQUAL(tide_ebt_set_feed(n.e[Q], FX, 1, 0, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(n.e[P], FX, 1, 5, 0), 0);
  net_link(&n, R, Q);
  net_link(&n, R, P);
  net_run(&n, 3 * TIDE_EBT_DEFAULT_PATIENCE_MS); /* A moves from Q to P by patience */
  CU_ASSERT_EQUAL(tide_ebt_our_seq(n.e[R], FA), 2);
  CU_ASSERT_EQUAL(tide_ebt_our_seq(n.e[R], FX), 0);
  CU_ASSERT_EQUAL(tide_ebt_replicates(n.e[R], FX), 0);
  CU_ASSERT_EQUAL(tide_ebt_peer_seq(n.e[R], n.h[R][P], FX), r_knows ? 5 : -1);
  CU_ASSERT_EQUAL(n.dropped > 0, !r_knows);
  CU_ASSERT_EQUAL(n.entries_feed[R][P], r_knows ? 1 : 0); /* the -1 */
  size_t p_before = n.entries_feed[P][R], r_before = n.entries_feed[R][P];

  CU_ASSERT_EQUAL(tide_ebt_set_feed(n.e[R], FX, 1, 0, n.now), 0);
  net_run(&n, n.now + 3 * TIDE_EBT_DEFAULT_PATIENCE_MS);
  CU_ASSERT_EQUAL(tide_ebt_our_seq(n.e[P], FX), 5); /* P published nothing */
  CU_ASSERT_EQUAL(tide_ebt_our_seq(n.e[R], FX), 5);
  CU_ASSERT_EQUAL(tide_ebt_peer_seq(n.e[R], n.h[R][P], FX), 5);
  CU_ASSERT_EQUAL(n.dups_in[R], 0);
  /* What it took.  R knew P's sequence: one eager note to P, which
   * pushes.  R did not: a lazy note to P (Q, first, was asked to push),
   * P's answer (it had told R before, but R never took it in), and after
   * Q's patience R's eager note to P. */
  CU_ASSERT_EQUAL(n.entries_feed[R][P] - r_before, r_knows ? 1 : 2);
  CU_ASSERT_EQUAL(n.entries_feed[P][R] - p_before, r_knows ? 0 : 1);
  net_free(&n);
}

static void test_late_feed_after_dont_replicate(void)
{
  late_feed(1);
}

static void test_late_feed_unknown_key(void)
{
  late_feed(0);
}

/* The other side of rule 12: a peer that noted a feed we have, while we
 * had already told it our sequence, is answered again only when it never
 * said anything of the feed before (or said -1), and not in its opening
 * clock, which crossed ours.  Anything else would repeat every note. */
static void test_answer_unaware_peer(void)
{
  tide_ebt *e = engine();
  tide_ebt_peer p;
  out o;
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, FC, 1, 4, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, NULL, 0), 0);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p, FA), V(3, 1));
  CU_ASSERT_EQUAL(noted(&o, p, FC), V(4, 1));
  /* Its opening clock crossed ours: A behind, lazy.  Not answered. */
  notes1(e, p, FA, V(1, 0), 1);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0);
  /* A later lazy note on A: it has heard us (it said A before). */
  notes1(e, p, FA, V(2, 0), 2);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0);
  /* C: it never said anything of C, then notes it lazily from 0: it did
   * not take in our note.  Answered at once, once. */
  notes1(e, p, FC, V(0, 0), 3);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 1);
  CU_ASSERT_EQUAL(noted(&o, p, FC), V(4, 1));
  notes1(e, p, FC, V(0, 0), 4);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0);
  /* A: it gives A up, then wants it again from 2, lazily: answered. */
  notes1(e, p, FA, -1, 5);
  drain(e, &o);
  CU_ASSERT_EQUAL(o.n_notes, 0);
  notes1(e, p, FA, V(2, 0), 6);
  drain(e, &o);
  CU_ASSERT_EQUAL(noted(&o, p, FA), V(3, 0)); /* lazy: its -1 ended our request */
  CU_ASSERT_EQUAL(o.n_sends, 0);
  /* Eagerly: pushed, as always. */
  notes1(e, p, FA, -1, 7);
  notes1(e, p, FA, V(1, 1), 8);
  drain(e, &o);
  CU_ASSERT(sent(&o, p, FA, 2, 3));
  CU_ASSERT_EQUAL(o.n_notes, 0);
  tide_ebt_free(e);
}

/* Short keys: a prefix resolves to the one known key, or says none or
 * ambiguous; collisions are counted. */
static void test_find_prefix(void)
{
  tide_ebt *e = NULL;
  uint8_t a[32], b[32], twin[32], got[32];
  CU_ASSERT_EQUAL_FATAL(tide_ebt_new(&e), 0);
  memset(a, 0xa1, 32);
  memset(b, 0xb2, 32);
  memcpy(twin, a, 32);
  twin[31] = 0x00;
  CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, a, 8), 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, a, 1, 0, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_set_feed(e, b, 0, 0, 0), 0); /* known, not replicated */
  memset(got, 0, 32);
  CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, a, 8), 1);
  CU_ASSERT_EQUAL(memcmp(got, a, 32), 0);
  CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, b, 8), 1);
  CU_ASSERT_EQUAL(memcmp(got, b, 32), 0);
  CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, b, 32), 1);
  CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, twin, 32), 0);
  CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, a, 7), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, a, 33), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_ebt_prefix_collisions(e), 0);
  /* a feed a peer mentions is known too; one sharing a's 8 bytes makes
   * a's prefix ambiguous */
  tide_ebt_peer p;
  tide_ebt_note n;
  CU_ASSERT_EQUAL(tide_ebt_connect(e, &p, NULL, 0), 0);
  memcpy(n.feed, twin, 32);
  n.value = 2;
  CU_ASSERT_EQUAL(tide_ebt_on_notes(e, p, &n, 1, 0), 0);
  CU_ASSERT_EQUAL(tide_ebt_prefix_collisions(e), 1);
  memset(got, 0, 32);
  CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, a, 8), 2);
  CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, twin, 32), 1);
  CU_ASSERT_EQUAL(memcmp(got, twin, 32), 0);
  /* many keys: each resolves to itself (the index grows with the map) */
  for (int i = 0; i < 300; i++) {
    uint8_t k[32];
    memset(k, 0, 32);
    k[0] = (uint8_t)i;
    k[1] = (uint8_t)(i >> 8);
    k[7] = 0x77;
    CU_ASSERT_EQUAL(tide_ebt_set_feed(e, k, 1, 0, 0), 0);
  }
  for (int i = 0; i < 300; i++) {
    uint8_t k[32];
    memset(k, 0, 32);
    k[0] = (uint8_t)i;
    k[1] = (uint8_t)(i >> 8);
    k[7] = 0x77;
    CU_ASSERT_EQUAL(tide_ebt_find_prefix(e, got, k, 8), 1);
    CU_ASSERT_EQUAL(memcmp(got, k, 32), 0);
  }
  CU_ASSERT_EQUAL(tide_ebt_prefix_collisions(e), 1);
  tide_ebt_free(e);
}

static CU_TestInfo ebt_tests[] = {
    {"pair state fits in 32 bytes", test_pair_size},
    {"first contact sends the full clock", test_first_contact_full_clock},
    {"first peer eager, second lazy", test_second_peer_lazy},
    {"empty first note; client waits", test_empty_first_note_and_wait},
    {"push on request and on append", test_push_on_request},
    {"lazy peer gets notes", test_lazy_peer_gets_notes},
    {"duplicate from eager peer -> lazy", test_duplicate_switches_to_lazy},
    {"note of newer from lazy -> eager", test_note_newer_lazy_to_eager},
    {"patience runs out -> switch", test_patience},
    {"patience met -> no switch", test_patience_met},
    {"eager peer gone -> lazy ahead eager", test_eager_gone},
    {"request skipping", test_request_skipping},
    {"wiped peer is refilled (ebt#34, ssb-ebt#59)", test_wiped_peer_refilled},
    {"stray -1 recovered (ssb-ebt#61)", test_stray_dont_replicate},
    {"hole is re-requested", test_hole_does_not_stall},
    {"partial source is replaced", test_partial_source_replaced},
    {"feeds not replicated", test_not_replicated},
    {"asynchronous peer", test_async_peer},
    {"invalid message", test_invalid_message},
    {"own feed from its author", test_own_feed_from_author},
    {"lazy notes are delayed and batched", test_note_delay},
    {"client meets a wiped server", test_wait_then_wiped},
    {"reset keeps what this session said", test_reset_keeps_this_session},
    {"reference trace [1] (epidemic-broadcast-trees)", test_reference_trace},
    {"short keys: prefix lookup and collisions", test_find_prefix},
    {"feed wanted mid-session after -1 (rule 12)", test_late_feed_after_dont_replicate},
    {"feed wanted mid-session, key unknown (rule 12)", test_late_feed_unknown_key},
    {"unaware peer is answered (rule 12)", test_answer_unaware_peer},
    CU_TEST_INFO_NULL};

CU_SuiteInfo tide_test_suites[] = {TIDE_SUITE("ebt", ebt_tests), CU_SUITE_INFO_NULL};
