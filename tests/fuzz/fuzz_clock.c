/* fuzz_clock.c - libFuzzer target for EBT note objects and the engine
 * behind them.
 *
 * Parses the input as an EBT note (tide_clock_json_read).  When it
 * parses, every value must pass tide_clock_value_check, the clock must
 * write back to JSON that reads as the same clock (a fixed point), and
 * the notes are fed to an EBT engine, as a peer's first and second notes
 * (the second with every sequence lowered, to drive the reset path),
 * followed by messages and a tick; every action must refer to a feed the
 * engine knows, with from <= to.  Any mismatch aborts. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide/clock.h"
#include "tide/ebt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void drain(tide_ebt *e)
{
  tide_ebt_action a;
  while (tide_ebt_poll(e, &a)) {
    if (a.type == TIDE_EBT_SEND && (a.from_seq < 1 || a.from_seq > a.to_seq))
      abort();
    if (a.type == TIDE_EBT_NOTES)
      for (size_t i = 0; i < a.n_notes; i++)
        if (tide_clock_value_check(a.notes[i].value) != 0)
          abort();
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  tide_clock *c = NULL, *d = NULL;
  tide_buf out = TIDE_BUF_INIT;
  tide_ebt *e = NULL;
  if (!ready) {
    if (tide_init() != 0)
      abort();
    ready = 1;
  }
  if (tide_clock_new(&c) || tide_clock_new(&d))
    abort();
  if (tide_clock_json_read(c, (const char *)data, size, NULL) != 0)
    goto out;
  size_t it = 0;
  uint8_t feed[32];
  int64_t v, w;
  while (tide_clock_next(c, &it, feed, &v))
    if (tide_clock_value_check(v) != 0)
      abort();
  if (tide_clock_json_write(&out, c) != 0)
    abort();
  if (tide_clock_json_read(d, out.data, out.len, NULL) != 0)
    abort();
  if (tide_clock_count(d) != tide_clock_count(c))
    abort();
  it = 0;
  while (tide_clock_next(c, &it, feed, &v))
    if (tide_clock_get(d, &w, feed) != 0 || w != v)
      abort();

  /* The engine: replicate every other feed of the note, hold seq 5. */
  tide_ebt_peer p, q;
  if (tide_ebt_new(&e) != 0)
    abort();
  it = 0;
  int k = 0;
  while (tide_clock_next(c, &it, feed, &v))
    if (tide_ebt_set_feed(e, feed, k++ % 2 == 0, 5, 0) != 0)
      abort();
  if (tide_ebt_connect(e, &p, NULL, 0) != 0)
    abort();
  tide_ebt_peer_opts o = {.note_delay_ms = 10};
  if (tide_ebt_connect(e, &q, &o, 0) != 0)
    abort();
  drain(e);
  if (tide_ebt_on_clock(e, p, c, 1) != 0)
    abort();
  if (tide_ebt_on_clock(e, q, c, 1) != 0)
    abort();
  drain(e);
  it = 0;
  while (tide_clock_next(c, &it, feed, &v)) {
    int64_t low = v > 3 ? v - 4 : v;
    if (tide_clock_set(d, feed, low) != 0)
      abort();
    int64_t seq = tide_clock_value_seq(v);
    if (seq > 0 && tide_ebt_wants(e, p, feed, seq)) {
      if (tide_ebt_on_message(e, p, feed, seq, TIDE_EBT_RX_GAP, 2) != 0)
        abort();
      if (tide_ebt_on_message(e, q, feed, 6, TIDE_EBT_RX_NEW, 2) != 0)
        abort();
    }
  }
  drain(e);
  if (tide_ebt_on_clock(e, p, d, 3) != 0)
    abort();
  if (tide_ebt_tick(e, 100000) != 0)
    abort();
  drain(e);
  if (tide_ebt_disconnect(e, q, 100001) != 0)
    abort();
  drain(e);
out:
  tide_ebt_free(e);
  tide_buf_free(&out);
  tide_clock_free(c);
  tide_clock_free(d);
  return 0;
}
