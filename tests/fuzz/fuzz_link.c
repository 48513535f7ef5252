/* fuzz_link.c - the link frame decoder (COBS, CRC, layout) and the ARQ
 * receiver.
 *
 * The input is used twice.  First as raw line bytes: split at 0x00 and
 * COBS-decoded and parsed, and fed as a whole into a link.  Then as a
 * script of chunks [mode][len][len bytes]: mode 0 feeds the bytes raw,
 * mode 1 wraps them as a frame body with a correct CRC and COBS encoding
 * (so the fuzzer reaches the ARQ logic behind the CRC), mode 2 advances
 * time by len * 37 ms and runs the link's output.  The receiving link is
 * synchronised with a peer id first, so DATA/ACK frames are processed.
 * Invariants: no crash, no sanitizer report, no unbounded loop; delivered
 * stream bytes never exceed the input size; a peer's announced duty pause
 * (EXT PAUSE frames, reachable through mode 1) never counts for more than
 * the cap, one duty window plus one ledger bucket. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tide/link.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Errors are expected here; only crashes matter. */
static void ignore(int rc)
{
  (void)rc;
}

static void put_frame(tide_link *l, uint64_t now, const uint8_t *body, size_t n)
{
  uint8_t b[TIDE_LINK_MAX_BODY_BYTES + 8], w[TIDE_LINK_MAX_WIRE_BYTES];
  size_t wl;
  if (n > TIDE_LINK_MAX_BODY_BYTES - 4)
    n = TIDE_LINK_MAX_BODY_BYTES - 4;
  memcpy(b, body, n);
  if (tide_link_frame_encode(w, sizeof w, &wl, b, n) != 0)
    abort();
  ignore(tide_link_input(l, now, w, wl));
}

static void drain(tide_link *l, uint64_t now)
{
  uint8_t out[TIDE_LINK_MAX_WIRE_BYTES];
  size_t n;
  for (int i = 0; i < 64; i++) {
    if (tide_link_output(l, now, out, sizeof out, &n) != 0 || n == 0)
      break;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  tide_link_profile p;
  tide_link_config cfg = {0, 5, 0x11111111u, 0};
  tide_link *l = NULL;
  uint8_t body[TIDE_LINK_MAX_BODY_BYTES], rx[8192];
  uint64_t now = 0, got = 0;
  size_t start = 0;
  tide_link_frame f;

  /* 1. stateless decoder */
  for (size_t i = 0; i <= size; i++) {
    if (i == size || data[i] == 0) {
      size_t bl;
      if (tide_link_cobs_decode(body, sizeof body, &bl, data + start, i - start) == 0)
        ignore(tide_link_frame_parse(&f, body, bl, NULL));
      start = i + 1;
    }
  }

  /* 2. the ARQ receiver */
  if (tide_link_profile_get(&p, size > 0 && (data[0] & 1) ? "lora-e32" : "cable") != 0)
    return 0;
  if (tide_link_new(&l, &p, &cfg, 0, NULL) != 0)
    return 0;
  {
    /* SYN from peer 0x22222222 that knows us: the link is ready. */
    uint8_t syn[11] = {
        TIDE_LINK_T_SYN | TIDE_LINK_F_TURN, 0x22, 0x22, 0x22, 0x22, 0x11, 0x11, 0x11, 0x11, 16, 1};
    put_frame(l, now, syn, sizeof syn);
  }
  ignore(tide_link_input(l, now, data, size));
  drain(l, now);
  for (size_t i = 0; i + 2 <= size;) {
    uint8_t mode = data[i] % 3;
    size_t len = data[i + 1];
    i += 2;
    if (len > size - i)
      len = size - i;
    if (mode == 0) {
      ignore(tide_link_input(l, now, data + i, len));
    } else if (mode == 1) {
      put_frame(l, now, data + i, len);
    } else {
      size_t acc;
      now += (uint64_t)len * 37u;
      ignore(tide_link_send(l, data + i, len, 1, &acc));
      drain(l, now);
    }
    got += tide_link_recv(l, rx, sizeof rx);
    {
      tide_link_stats st;
      tide_link_get_stats(l, now, &st);
      if (st.peer_pause_ms > (uint64_t)p.duty_window_ms + p.duty_window_ms / 60)
        abort();
    }
    i += len;
  }
  got += tide_link_recv(l, rx, sizeof rx);
  if (got > size)
    abort();
  (void)tide_link_next_wakeup(l, now);
  tide_link_free(l);
  return 0;
}
