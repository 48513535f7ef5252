/* bench/reconnect.c - request skipping on a reconnect.
 *
 * Two nodes replicating the same 10,000 feeds (each with 1..100
 * messages, equal on both) meet, exchange clocks, part and store the
 * clocks they remember for each other (tide_clock_save, SQLite).  While
 * apart, 10 feeds change (5 on each node, one new message each).  They
 * meet again with the stored clocks.  The real engines talk through an
 * in-memory link that moves everything queued in one direction per
 * "flight" (both directions at once); a round trip is two flights.
 * Prints:
 *   full_clock_bytes                a whole 10,000-feed clock, EBT JSON
 *   first_meeting_note_bytes        notes of the first meeting (JSON)
 *   reconnect_note_bytes            notes of the second meeting (JSON)
 *   reconnect_bytes_vs_full_clock   the ratio of the two (JSON)
 *   reconnect_bytes_vs_full_clock_bin  same with binary NOTE frames
 *   reconnect_messages              messages sent on the second meeting
 *   reconnect_round_trips           flights / 2 until both are quiet
 *   reconnect_round_trips_1k        the same with 1,000 feeds
 * Messages themselves are counted, not sized: the ratio is about the
 * replication overhead, which is what request skipping saves. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide/clock.h"
#include "tide/ebt.h"
#include "tide/store.h"

typedef struct side {
  tide_ebt *e;
  tide_store *st;
  uint8_t id[32];
  tide_ebt_peer peer;
  tide_clock *fidx; /* binary per-stream feed index of what this side sends */
} side;

typedef struct tally {
  uint64_t json, bin, msgs;
} tally;

static uint64_t rng = 42;
static uint64_t rnd(void)
{
  uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static size_t varint_len(uint64_t v)
{
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

/* What one side put on the link in one flight. */
typedef struct load {
  tide_ebt_note *notes;
  size_t n;
  struct {
    uint8_t feed[32];
    int64_t from, to;
  } sends[64];
  size_t ns;
  size_t actions;
} load;

/* Takes everything `from` queued, sizing the notes. */
static int collect(side *from, load *ld, tally *t)
{
  tide_ebt_action a;
  memset(ld, 0, sizeof *ld);
  while (tide_ebt_poll(from->e, &a)) {
    ld->actions++;
    if (a.type == TIDE_EBT_NOTES) {
      size_t json = 2, bin = 0;
      for (size_t i = 0; i < a.n_notes; i++) {
        int64_t idx;
        json += tide_clock_json_entry_bytes(a.notes[i].value);
        if (tide_clock_get(from->fidx, &idx, a.notes[i].feed) != 0) {
          idx = (int64_t)tide_clock_count(from->fidx);
          if (tide_clock_set(from->fidx, a.notes[i].feed, idx))
            return 1;
          bin += 33;
        } else {
          bin += varint_len((uint64_t)idx + 1);
        }
        bin += varint_len((uint64_t)(a.notes[i].value + 1));
      }
      if (a.n_notes)
        json--;
      bin += 1 + varint_len(a.n_notes);
      bin += varint_len(bin);
      t->json += json;
      t->bin += bin;
      tide_ebt_note *nb = realloc(ld->notes, (ld->n + a.n_notes + 1) * sizeof *nb);
      if (!nb)
        return 1;
      ld->notes = nb;
      memcpy(ld->notes + ld->n, a.notes, a.n_notes * sizeof *nb);
      ld->n += a.n_notes;
    } else if (ld->ns < 64) {
      memcpy(ld->sends[ld->ns].feed, a.feed, 32);
      ld->sends[ld->ns].from = a.from_seq;
      ld->sends[ld->ns++].to = a.to_seq;
    } else {
      return 1;
    }
  }
  return 0;
}

/* Hands a load to `to`: notes, then the messages (appended as new). */
static int deliver(side *to, load *ld, tally *t, int64_t now)
{
  int err = 0;
  if (ld->actions && tide_ebt_on_notes(to->e, to->peer, ld->notes, ld->n, now))
    err = 1;
  for (size_t i = 0; i < ld->ns; i++)
    for (int64_t q = ld->sends[i].from; q <= ld->sends[i].to; q++) {
      t->msgs++;
      if (tide_ebt_on_message(to->e, to->peer, ld->sends[i].feed, q, TIDE_EBT_RX_NEW, now))
        err = 1;
    }
  free(ld->notes);
  ld->notes = NULL;
  return err;
}

static int meet(side *s, tally *t, int *flights)
{
  int err = 0;
  for (int k = 0; k < 2; k++) {
    side *me = &s[k], *other = &s[1 - k];
    tide_clock *th = NULL, *ou = NULL;
    if (tide_clock_new(&th) || tide_clock_new(&ou) || tide_clock_new(&me->fidx))
      return 1;
    if (tide_clock_load(th, me->st, other->id, TIDE_CLOCK_THEIRS, NULL) ||
        tide_clock_load(ou, me->st, other->id, TIDE_CLOCK_OURS, NULL))
      return 1;
    int first = tide_clock_count(th) == 0 && tide_clock_count(ou) == 0;
    tide_ebt_peer_opts o = {
        .theirs = first ? NULL : th, .ours = first ? NULL : ou, .id = other->id};
    if (tide_ebt_connect(me->e, &me->peer, &o, 0))
      return 1;
    tide_clock_free(th);
    tide_clock_free(ou);
  }
  *flights = 0;
  for (;;) {
    /* Both directions travel at once: take both sides' queues first. */
    load l0, l1;
    err |= collect(&s[0], &l0, t);
    err |= collect(&s[1], &l1, t);
    if (l0.actions + l1.actions == 0 || err) {
      free(l0.notes);
      free(l1.notes);
      break;
    }
    (*flights)++;
    err |= deliver(&s[1], &l0, t, *flights);
    err |= deliver(&s[0], &l1, t, *flights);
  }
  if (err)
    return 1;
  for (int k = 0; k < 2; k++) {
    side *me = &s[k], *other = &s[1 - k];
    tide_clock *th = NULL, *ou = NULL;
    if (tide_clock_new(&th) || tide_clock_new(&ou))
      return 1;
    if (tide_ebt_peer_clocks(me->e, me->peer, th, ou) ||
        tide_clock_save(me->st, other->id, TIDE_CLOCK_THEIRS, th, NULL) ||
        tide_clock_save(me->st, other->id, TIDE_CLOCK_OURS, ou, NULL) ||
        tide_ebt_disconnect(me->e, me->peer, 0))
      return 1;
    tide_clock_free(th);
    tide_clock_free(ou);
    tide_clock_free(me->fidx);
    me->fidx = NULL;
  }
  return 0;
}

static int scenario(int nfeeds, int changes, tally *first, tally *second, int *flights,
                    uint64_t *full_json)
{
  side s[2];
  uint8_t(*feeds)[32] = malloc((size_t)nfeeds * 32);
  int64_t *seqs = malloc((size_t)nfeeds * sizeof *seqs);
  tide_clock *full = NULL;
  int rc = 1, f1;
  memset(s, 0, sizeof s);
  if (!feeds || !seqs || tide_clock_new(&full))
    goto out;
  for (int k = 0; k < 2; k++) {
    for (int i = 0; i < 32; i++)
      s[k].id[i] = (uint8_t)(rnd() & 0xff);
    if (tide_ebt_new(&s[k].e) || tide_store_open(&s[k].st, TIDE_STORE_MEMORY, 0, NULL))
      goto out;
  }
  for (int i = 0; i < nfeeds; i++) {
    uint64_t r[4] = {rnd(), rnd(), rnd(), rnd()};
    memcpy(feeds[i], r, 32);
    seqs[i] = 1 + (int64_t)(rnd() % 100);
    for (int k = 0; k < 2; k++)
      if (tide_ebt_set_feed(s[k].e, feeds[i], 1, seqs[i], 0))
        goto out;
    if (tide_clock_set(full, feeds[i], tide_clock_value(seqs[i], 1)))
      goto out;
  }
  tide_buf b = TIDE_BUF_INIT;
  if (tide_clock_json_write(&b, full))
    goto out;
  *full_json = b.len;
  tide_buf_free(&b);
  if (meet(s, first, &f1))
    goto out;
  for (int c = 0; c < changes; c++) {
    int i = (int)(rnd() % (uint64_t)nfeeds);
    if (tide_ebt_on_append(s[c % 2].e, feeds[i], ++seqs[i], 1))
      goto out;
  }
  memset(second, 0, sizeof *second);
  if (meet(s, second, flights))
    goto out;
  rc = 0;
  for (int i = 0; i < nfeeds; i++)
    if (tide_ebt_our_seq(s[0].e, feeds[i]) != tide_ebt_our_seq(s[1].e, feeds[i]))
      rc = 2;
out:
  for (int k = 0; k < 2; k++) {
    tide_ebt_free(s[k].e);
    tide_store_close(s[k].st);
    tide_clock_free(s[k].fidx);
  }
  tide_clock_free(full);
  free(feeds);
  free(seqs);
  return rc;
}

int main(void)
{
  tally first = {0, 0, 0}, second = {0, 0, 0}, f1k = {0, 0, 0}, s1k = {0, 0, 0};
  int flights = 0, flights1k = 0;
  uint64_t full = 0, full1k = 0;
  if (tide_init() != 0)
    return 1;
  int rc = scenario(10000, 10, &first, &second, &flights, &full);
  if (!rc)
    rc = scenario(1000, 10, &f1k, &s1k, &flights1k, &full1k);
  if (rc) {
    fprintf(stderr, "reconnect: %s\n", rc == 2 ? "clocks differ after the meeting" : "failure");
    return 1;
  }
  /* A full clock in binary: per entry the key (with its feedref) and the value. */
  uint64_t full_bin = 0;
  full_bin = (uint64_t)10000 * (33 + 2) + 1 + varint_len(10000) + 3;
  printf("full_clock_bytes %llu bytes\n", (unsigned long long)full);
  printf("first_meeting_note_bytes %llu bytes\n", (unsigned long long)first.json);
  printf("reconnect_note_bytes %llu bytes\n", (unsigned long long)second.json);
  printf("reconnect_bytes_vs_full_clock %.5f ratio\n", (double)second.json / (double)full);
  printf("reconnect_note_bytes_bin %llu bytes\n", (unsigned long long)second.bin);
  printf("full_clock_bytes_bin %llu bytes\n", (unsigned long long)full_bin);
  printf("reconnect_bytes_vs_full_clock_bin %.5f ratio\n", (double)second.bin / (double)full_bin);
  printf("reconnect_messages %llu messages\n", (unsigned long long)second.msgs);
  printf("reconnect_round_trips %.1f round_trips\n", flights / 2.0);
  printf("reconnect_round_trips_1k %.1f round_trips\n", flights1k / 2.0);
  return 0;
}
