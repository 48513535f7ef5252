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
 *   reconnect_note_bytes_bin        notes of the second meeting, binary
 *                                   frames (the real codec: each meeting
 *                                   opens with a CLOCK with short keys,
 *                                   as on the radio, then NOTE frames)
 *   first_meeting_note_bytes_bin    the same for the first meeting
 *   full_clock_bytes_bin            a whole 10,000-feed clock as first
 *                                   contact sends it: a CLOCK with short
 *                                   keys (8 bytes per feed)
 *   full_clock_bytes_bin_full_keys  the same clock with 32-byte keys (to a
 *                                   peer without short keys)
 *   reconnect_bytes_vs_full_clock_bin  reconnect / full clock (short keys)
 *   reconnect_bytes_vs_full_clock_bin_full_keys  reconnect (full keys) /
 *                                   full clock (full keys)
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
#include "tide/frame.h"
#include "tide/store.h"

typedef struct side {
  tide_ebt *e;
  tide_store *st;
  uint8_t id[32];
  tide_ebt_peer peer;
  tide_frame_codec *enc; /* the binary stream this side sends (one meeting) */
  tide_frame_codec *dec; /* the stream it receives */
  int opened;            /* its opening clock went out */
  int full_keys;         /* open with full keys (a peer without short keys) */
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

/* The receiver resolves short keys among the keys its engine knows. */
static int resolve_prefix(void *ctx, uint8_t key[32], const uint8_t prefix[8])
{
  int r = tide_ebt_find_prefix(ctx, key, prefix, TIDE_FRAME_SHORT_KEY_BYTES);
  return r == 1   ? TIDE_FRAME_PREFIX_FOUND
         : r == 2 ? TIDE_FRAME_PREFIX_AMBIGUOUS
                  : TIDE_FRAME_PREFIX_UNKNOWN;
}

/* What one side put on the link in one flight. */
typedef struct load {
  tide_buf wire; /* the encoded note frames */
  struct {
    uint8_t feed[32];
    int64_t from, to;
  } sends[64];
  size_t ns;
  size_t actions;
} load;

/* Takes everything `from` queued, encoding the notes with the real
 * codec: the meeting's first notes as a CLOCK with short keys (unless
 * full_keys), then NOTE frames. */
static int collect(side *from, load *ld, tally *t)
{
  tide_ebt_action a;
  memset(ld, 0, sizeof *ld);
  while (tide_ebt_poll(from->e, &a)) {
    ld->actions++;
    if (a.type == TIDE_EBT_NOTES) {
      size_t json = 2, before = ld->wire.len;
      tide_frame_entry *e = malloc((a.n_notes + 1) * sizeof *e);
      int rc;
      if (!e)
        return 1;
      for (size_t i = 0; i < a.n_notes; i++) {
        json += tide_clock_json_entry_bytes(a.notes[i].value);
        memcpy(e[i].feed, a.notes[i].feed, 32);
        e[i].value = a.notes[i].value;
      }
      if (a.n_notes)
        json--;
      if (!from->opened && !from->full_keys)
        rc = tide_frame_encode_clock_short(from->enc, &ld->wire, TIDE_FRAME_CLOCK_SENDER, e,
                                           a.n_notes);
      else
        rc = tide_frame_encode_note(from->enc, &ld->wire, e, a.n_notes);
      from->opened = 1;
      free(e);
      if (rc)
        return 1;
      t->json += json;
      t->bin += ld->wire.len - before;
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

/* Hands a load to `to`: the notes its decoder gives (entries about
 * feeds it does not know are left out), then the messages (appended as
 * new). */
static int deliver(side *to, load *ld, tally *t, int64_t now)
{
  int err = 0;
  tide_ebt_note *notes = NULL;
  size_t n = 0, pos = 0;
  while (!err && pos < ld->wire.len) {
    tide_frame f;
    size_t used = 0;
    tide_frame_init(&f);
    if (tide_frame_decode(to->dec, &f, (const uint8_t *)ld->wire.data + pos, ld->wire.len - pos,
                          &used, NULL) != 0) {
      err = 1;
    } else {
      tide_ebt_note *nb = realloc(notes, (n + f.n_entries + 1) * sizeof *nb);
      if (!nb)
        err = 1;
      else
        notes = nb;
      for (size_t i = 0; !err && i < f.n_entries; i++) {
        memcpy(notes[n].feed, f.entries[i].feed, 32);
        notes[n++].value = f.entries[i].value;
      }
      pos += used;
    }
    tide_frame_clear(&f);
  }
  if (!err && ld->actions && tide_ebt_on_notes(to->e, to->peer, notes, n, now))
    err = 1;
  free(notes);
  tide_buf_free(&ld->wire);
  for (size_t i = 0; i < ld->ns; i++)
    for (int64_t q = ld->sends[i].from; q <= ld->sends[i].to; q++) {
      t->msgs++;
      if (tide_ebt_on_message(to->e, to->peer, ld->sends[i].feed, q, TIDE_EBT_RX_NEW, now))
        err = 1;
    }
  return err;
}

static int meet(side *s, tally *t, int *flights)
{
  int err = 0;
  for (int k = 0; k < 2; k++) {
    side *me = &s[k], *other = &s[1 - k];
    tide_clock *th = NULL, *ou = NULL;
    if (tide_clock_new(&th) || tide_clock_new(&ou))
      return 1;
    me->enc = tide_frame_codec_new();
    me->dec = tide_frame_codec_new();
    me->opened = 0;
    if (!me->enc || !me->dec)
      return 1;
    tide_frame_codec_set_resolver(me->dec, resolve_prefix, me->e);
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
      tide_buf_free(&l0.wire);
      tide_buf_free(&l1.wire);
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
    tide_frame_codec_free(me->enc);
    tide_frame_codec_free(me->dec);
    me->enc = me->dec = NULL;
  }
  return 0;
}

/* full_keys: both sides open their meetings with full keys.  full_bin /
 * full_bin_keys (may be NULL): the whole clock as a short-key CLOCK / a
 * full-key frame, encoded by the real codec. */
static int scenario(int nfeeds, int changes, int full_keys, tally *first, tally *second,
                    int *flights, uint64_t *full_json, uint64_t *full_bin, uint64_t *full_bin_keys)
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
    s[k].full_keys = full_keys;
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
  if (full_bin) {
    /* the whole clock in binary, both ways, by the real encoder */
    tide_frame_entry *e = malloc((size_t)nfeeds * sizeof *e);
    tide_frame_codec *c1 = tide_frame_codec_new(), *c2 = tide_frame_codec_new();
    tide_buf b1 = TIDE_BUF_INIT, b2 = TIDE_BUF_INIT;
    int bad = !e || !c1 || !c2;
    for (int i = 0; !bad && i < nfeeds; i++) {
      memcpy(e[i].feed, feeds[i], 32);
      e[i].value = tide_clock_value(seqs[i], 1);
    }
    bad = bad ||
          tide_frame_encode_clock_short(c1, &b1, TIDE_FRAME_CLOCK_SENDER, e, (size_t)nfeeds) ||
          tide_frame_encode_note(c2, &b2, e, (size_t)nfeeds);
    *full_bin = b1.len;
    *full_bin_keys = b2.len;
    free(e);
    tide_frame_codec_free(c1);
    tide_frame_codec_free(c2);
    tide_buf_free(&b1);
    tide_buf_free(&b2);
    if (bad)
      goto out;
  }
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
    tide_frame_codec_free(s[k].enc);
    tide_frame_codec_free(s[k].dec);
  }
  tide_clock_free(full);
  free(feeds);
  free(seqs);
  return rc;
}

int main(void)
{
  tally first = {0, 0, 0}, second = {0, 0, 0}, f1k = {0, 0, 0}, s1k = {0, 0, 0};
  tally ffirst = {0, 0, 0}, fsecond = {0, 0, 0};
  int flights = 0, flights1k = 0, fflights = 0;
  uint64_t full = 0, full1k = 0, full_bin = 0, full_bin_keys = 0, ffull = 0;
  if (tide_init() != 0)
    return 1;
  int rc = scenario(10000, 10, 0, &first, &second, &flights, &full, &full_bin, &full_bin_keys);
  if (!rc)
    rc = scenario(1000, 10, 0, &f1k, &s1k, &flights1k, &full1k, NULL, NULL);
  /* the reference run: the same feeds and meetings, with full keys */
  rng = 42;
  if (!rc)
    rc = scenario(10000, 10, 1, &ffirst, &fsecond, &fflights, &ffull, NULL, NULL);
  if (rc) {
    fprintf(stderr, "reconnect: %s\n", rc == 2 ? "clocks differ after the meeting" : "failure");
    return 1;
  }
  printf("full_clock_bytes %llu bytes\n", (unsigned long long)full);
  printf("first_meeting_note_bytes %llu bytes\n", (unsigned long long)first.json);
  printf("reconnect_note_bytes %llu bytes\n", (unsigned long long)second.json);
  printf("reconnect_bytes_vs_full_clock %.5f ratio\n", (double)second.json / (double)full);
  printf("reconnect_note_bytes_bin %llu bytes\n", (unsigned long long)second.bin);
  printf("first_meeting_note_bytes_bin %llu bytes\n", (unsigned long long)first.bin);
  printf("full_clock_bytes_bin %llu bytes\n", (unsigned long long)full_bin);
  printf("reconnect_bytes_vs_full_clock_bin %.5f ratio\n", (double)second.bin / (double)full_bin);
  printf("reconnect_note_bytes_bin_full_keys %llu bytes\n", (unsigned long long)fsecond.bin);
  printf("first_meeting_note_bytes_bin_full_keys %llu bytes\n", (unsigned long long)ffirst.bin);
  printf("full_clock_bytes_bin_full_keys %llu bytes\n", (unsigned long long)full_bin_keys);
  printf("reconnect_bytes_vs_full_clock_bin_full_keys %.5f ratio\n",
         (double)fsecond.bin / (double)full_bin_keys);
  printf("reconnect_messages %llu messages\n", (unsigned long long)second.msgs);
  printf("reconnect_round_trips %.1f round_trips\n", flights / 2.0);
  printf("reconnect_round_trips_1k %.1f round_trips\n", flights1k / 2.0);
  return 0;
}
