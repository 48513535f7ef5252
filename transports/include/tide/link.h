/* tide/link.h - the radio/serial link layer: framing, selective-repeat ARQ,
 * half-duplex turn-taking, duty-cycle budget, link profiles.
 *
 * The link layer is sans-I/O: it never touches a port or a clock.  Raw bytes
 * read from the line go in with tide_link_input(), bytes to write come out
 * of tide_link_output(), and the current time is passed in milliseconds on
 * every call.  tide_link_next_wakeup() says when the link wants to be called
 * again if nothing arrives.  The link offers the layer above a reliable,
 * ordered byte stream in each direction (tide_link_send / tide_link_recv).
 *
 * Wire format (docs/radio.md is the specification): every frame is
 * COBS(header || payload || CRC-32C) followed by one 0x00 delimiter.  The
 * header's first byte carries the frame type, TURN ("your turn") and IDLE
 * bits; DATA frames carry an 8-bit sequence number and a cumulative
 * acknowledgement; ACK frames carry a cumulative acknowledgement and a
 * selective-acknowledgement bitmap; SYN frames carry 32-bit link ids so a
 * restarted peer is recognised; EXT frames carry optional information a
 * receiver may drop (kind PAUSE: "my duty budget is spent, I stay silent
 * for N ms", sent before a side goes quiet).
 *
 * Thread safety: a tide_link is used by one thread at a time; distinct
 * links are independent.  The functions here allocate only in
 * tide_link_new() and when the receive or send queues grow. */
#ifndef TIDE_LINK_H
#define TIDE_LINK_H

#include <stddef.h>
#include <stdint.h>

#include "tide/common.h"

/* Error codes of the serial transport (range -800..-899 of common.h). */
enum {
  TIDE_E_SERIAL_NOPORT = -800,   /* no such serial port */
  TIDE_E_SERIAL_BUSY = -801,     /* port is in use by another process */
  TIDE_E_SERIAL_GONE = -802,     /* port vanished (unplugged) */
  TIDE_E_SERIAL_CONFIG = -803,   /* port refused the settings (baud, 8N1, flow) */
  TIDE_E_LINK_FRAME = -810,      /* malformed or corrupted frame */
  TIDE_E_LINK_PEER_RESET = -811, /* the peer restarted its side of the link */
  TIDE_E_LINK_DEAD = -812,       /* no answer from the peer within the profile's limit */
  TIDE_E_LINK_PROFILE = -813,    /* unknown profile or invalid profile value */
};

/* A static description of a serial/link error code (falls back to
 * tide_strerror for others); never NULL. */
const char *tide_link_strerror(int code);

/* Frame type field (low two bits of the first header byte). */
#define TIDE_LINK_T_DATA 0u
#define TIDE_LINK_T_ACK  1u
#define TIDE_LINK_T_SYN  2u
#define TIDE_LINK_T_EXT  3u /* extension: kind byte, then the kind's body */
/* EXT kinds. */
#define TIDE_LINK_EXT_PAUSE 1u /* u32 LE: silent for this many ms (duty budget) */
/* Header flag bits. */
#define TIDE_LINK_F_TURN 0x04u /* last frame of this transmission: your turn */
#define TIDE_LINK_F_IDLE 0x08u /* the sender has nothing more queued */
#define TIDE_LINK_F_MASK 0x0fu /* bits 4..7 must be zero (protocol version 0) */

/* Fixed per-frame costs. */
#define TIDE_LINK_CRC_BYTES      4
#define TIDE_LINK_DATA_HDR_BYTES 3
#define TIDE_LINK_MAX_SACK_BYTES 16 /* SACK bitmap covers 128 sequence numbers */
#define TIDE_LINK_PAUSE_BYTES    6  /* EXT PAUSE body without CRC: header, kind, u32 */
/* Announcements a side may repeat in one duty pause, after the first, when
 * the peer hands it the turn (the duty ledger keeps room for all of them). */
#define TIDE_LINK_PAUSE_REPEATS 1
/* Largest frame body (header + payload + CRC) accepted from the line. */
#define TIDE_LINK_MAX_BODY_BYTES 4096
/* Largest encoded frame: body, COBS overhead and the delimiter. */
#define TIDE_LINK_MAX_WIRE_BYTES (TIDE_LINK_MAX_BODY_BYTES + TIDE_LINK_MAX_BODY_BYTES / 254 + 2)
/* Sequence numbers are 8 bits; selective repeat needs window <= 128. */
#define TIDE_LINK_MAX_WINDOW 127

/* A link profile: what the line can do and the limits the sender obeys.
 * All times in milliseconds.  Every field may be overridden by the user;
 * tide_link_profile_check() validates a profile. */
typedef struct tide_link_profile {
  char name[16];
  uint32_t baud;           /* line rate, bits/s, 8N1 (10 line bits per byte) */
  uint16_t packet_bytes;   /* modem packet size: max encoded frame, delimiter included */
  uint8_t half_duplex;     /* 1: only one side may transmit at a time */
  uint8_t rtscts;          /* 1: use RTS/CTS hardware flow control on the port */
  uint32_t duty_ppm;       /* transmit share allowed, parts per million (1000000 = none) */
  uint32_t duty_window_ms; /* duty-cycle observation window (ETSI: one hour) */
  uint32_t latency_ms;     /* expected one-way latency (modem buffering, air, TDM) */
  uint32_t rto_min_ms;     /* retransmission timeout floor */
  uint32_t rto_max_ms;     /* retransmission timeout ceiling (backoff cap) */
  uint32_t dead_ms;        /* peer silent this long with data outstanding: link dead */
  uint16_t window_max;     /* ceiling of the window, frames (<= TIDE_LINK_MAX_WINDOW) */
} tide_link_profile;

/* Fills *p with the built-in profile `name` ("cable", "rfd900",
 * "lora-e22", "lora-e32").  TIDE_E_LINK_PROFILE for an unknown name. */
TIDE_WUR int tide_link_profile_get(tide_link_profile *p, const char *name);

/* The names of the built-in profiles, NULL-terminated; static storage. */
const char *const *tide_link_profile_names(void);

/* Checks that every field is in range (baud 300..4000000, packet 24..4096,
 * duty 1..1000000 ppm, rto_min <= rto_max, window 1..127, ...) and that a
 * duty budget below 100 % (duty x duty-window) holds one full DATA frame
 * plus the reserve kept for duty-pause announcements (docs/radio.md
 * section 1); a smaller budget would block the sender for good.
 * TIDE_E_LINK_PROFILE with the reason in err (for the budget: what the
 * budget gives, what it needs and the smallest duty that works). */
TIDE_WUR int tide_link_profile_check(const tide_link_profile *p, tide_error *err);

/* The smallest duty, in parts per million, whose budget over p's
 * duty-window holds one full DATA frame of p's packet size plus the
 * pause-announcement reserve at p's baud rate; above 1000000 when even
 * the whole window is too short (then only duty 100 %, no limit, works).
 * p's baud, packet and duty-window must be in range. */
uint64_t tide_link_duty_min_ppm(const tide_link_profile *p);

/* Overrides one field by its docs/radio.md name ("baud", "packet",
 * "duplex" = half|full, "duty" = percent, "duty-window", "latency",
 * "rto-min", "rto-max", "dead", "window", "rtscts" = on|off) from text.
 * TIDE_E_LINK_PROFILE for an unknown key or a bad value (err says which). */
TIDE_WUR int tide_link_profile_set(tide_link_profile *p, const char *key, const char *value,
                                   tide_error *err);

/* Microseconds the line needs for n bytes at the profile's baud rate. */
uint64_t tide_link_line_us(const tide_link_profile *p, size_t n);

/* Largest DATA payload per frame for the profile (packet minus header, CRC,
 * COBS overhead and delimiter). */
size_t tide_link_payload_max(const tide_link_profile *p);

/* ---- framing helpers (public for tests and fuzzing) ---- */

/* CRC-32C (Castagnoli, reflected, init and xor-out 0xffffffff). */
uint32_t tide_link_crc32c(const uint8_t *p, size_t n);

/* COBS-encodes in[0..n) into out (capacity cap) without the delimiter.
 * Output length is n + n/254 + 1 at most.  TIDE_E_BUFSIZE. */
TIDE_WUR int tide_link_cobs_encode(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *in,
                                   size_t n);

/* A whole frame on the wire: appends the CRC-32C of body[0..n) to body
 * (which must have room for 4 more bytes), COBS-encodes the result into
 * out (capacity cap) and adds the 0 delimiter; *out_len gets its length.
 * TIDE_E_BUFSIZE when out is too small. */
TIDE_WUR int tide_link_frame_encode(uint8_t *out, size_t cap, size_t *out_len, uint8_t *body,
                                    size_t n);

/* COBS-decodes one frame (no delimiter, no zero byte inside) into out.
 * TIDE_E_LINK_FRAME for a zero byte or a code running past the end;
 * TIDE_E_BUFSIZE when out is too small. */
TIDE_WUR int tide_link_cobs_decode(uint8_t *out, size_t cap, size_t *out_len, const uint8_t *in,
                                   size_t n);

/* A decoded frame: pointers into the caller's body buffer. */
typedef struct tide_link_frame {
  unsigned type;       /* TIDE_LINK_T_* */
  unsigned flags;      /* TIDE_LINK_F_* */
  uint8_t seq;         /* DATA */
  uint8_t ack;         /* DATA, ACK: next sequence number expected */
  uint8_t kind;        /* EXT: TIDE_LINK_EXT_* */
  uint32_t pause_ms;   /* EXT PAUSE: announced silence, as sent (not capped) */
  const uint8_t *data; /* DATA payload, ACK bitmap, SYN ids */
  size_t len;
} tide_link_frame;

/* Parses a COBS-decoded frame body: checks the CRC, the reserved bits and
 * the per-type layout (DATA: 3-byte header and 1+ payload bytes; ACK: 2
 * bytes then at most 16 bitmap bytes; SYN: exactly 1+10 bytes; EXT: a
 * known kind, PAUSE exactly 1+1+4 bytes).  TIDE_E_LINK_FRAME with the
 * reason in err (may be NULL); an EXT frame of an unknown kind is rejected
 * like any malformed frame (a receiver drops it, as a tide from before EXT
 * frames drops every EXT frame). */
TIDE_WUR int tide_link_frame_parse(tide_link_frame *f, const uint8_t *body, size_t n,
                                   tide_error *err);

/* ---- the link state machine ---- */

typedef struct tide_link tide_link;

typedef struct tide_link_config {
  int initiator;    /* 1: this side holds the turn first (the dialling side) */
  uint64_t seed;    /* seeds the backoff jitter (reproducible runs) */
  uint32_t link_id; /* this side's link id; 0 picks one from seed */
  int persistent;   /* 1: keep calling (a SYN every rto-max) while nobody answers
                       instead of failing with TIDE_E_LINK_DEAD: a listener
                       that also calls */
} tide_link_config;

/* Counters for progress reports and benchmarks. */
typedef struct tide_link_stats {
  uint64_t tx_bytes; /* bytes handed to the line, all frames */
  uint64_t rx_bytes; /* bytes read from the line */
  uint64_t tx_frames, rx_frames;
  uint64_t tx_data_frames, tx_ack_frames, tx_syn_frames;
  uint64_t retransmits;     /* DATA frames sent again */
  uint64_t rx_bad_frames;   /* frames rejected (CRC, layout, COBS) */
  uint64_t rx_dup_frames;   /* DATA frames received twice */
  uint64_t payload_sent;    /* stream bytes acknowledged by the peer */
  uint64_t payload_recv;    /* stream bytes delivered in order */
  uint64_t airtime_ms;      /* total transmit time */
  uint64_t duty_used_ms;    /* transmit time inside the current duty window */
  uint64_t duty_budget_ms;  /* allowed transmit time per duty window */
  uint64_t duty_wait_ms;    /* time spent waiting for the duty budget */
  uint32_t srtt_ms, rto_ms; /* smoothed round trip and current timeout */
  uint32_t window;          /* current window, frames */
  uint32_t peer_resets;     /* times the peer restarted the link */
  uint64_t pauses_sent;     /* duty-pause announcements sent (EXT PAUSE, repeats included) */
  uint64_t peer_pauses;     /* duty-pause announcements received from the peer */
  uint64_t peer_pause_ms;   /* the peer's announced duty pause left at now_ms (0: none) */
} tide_link_stats;

/* Creates a link for profile p (copied).  The link starts unsynchronised:
 * it exchanges SYN frames before DATA.  TIDE_E_LINK_PROFILE (err says why),
 * TIDE_E_NOMEM.  Free with tide_link_free(). */
TIDE_WUR int tide_link_new(tide_link **out, const tide_link_profile *p, const tide_link_config *cfg,
                           uint64_t now_ms, tide_error *err);

/* Frees the link; NULL is a no-op. */
void tide_link_free(tide_link *l);

/* Feeds bytes read from the line at time now_ms.  Damaged frames are
 * counted and dropped, never delivered.  Returns 0, TIDE_E_NOMEM, or
 * TIDE_E_LINK_PEER_RESET once when the peer restarted its link (the
 * stream state was reset; the session above must start again). */
TIDE_WUR int tide_link_input(tide_link *l, uint64_t now_ms, const uint8_t *bytes, size_t len);

/* Produces at most one frame to write to the line now, into out (capacity
 * cap >= TIDE_LINK_MAX_WIRE_BYTES or the profile's packet size).  *out_len
 * is 0 when nothing may be sent now (line busy, not our turn, window full,
 * duty budget spent, nothing queued).  The link assumes the bytes are
 * written right away and leave at the profile's baud rate.  Returns 0,
 * TIDE_E_BUFSIZE, or TIDE_E_LINK_DEAD when the peer has not answered for
 * the profile's dead_ms while data was outstanding (sticky). */
TIDE_WUR int tide_link_output(tide_link *l, uint64_t now_ms, uint8_t *out, size_t cap,
                              size_t *out_len);

/* The earliest time at which calling tide_link_output() could produce
 * something or a timer fires; UINT64_MAX when only input can wake it. */
uint64_t tide_link_next_wakeup(const tide_link *l, uint64_t now_ms);

/* How many stream bytes the link wants now: room left in its send queue,
 * sized to one window plus one burst so that whatever the layer above
 * queues next (clocks, notes) waits at most about one window. */
size_t tide_link_send_room(const tide_link *l);

/* Queues up to len stream bytes (copies them) and sets *accepted.  With
 * push != 0 the queued bytes are sent even if they do not fill a frame.
 * TIDE_E_NOMEM. */
TIDE_WUR int tide_link_send(tide_link *l, const uint8_t *data, size_t len, int push,
                            size_t *accepted);

/* Copies up to cap received in-order stream bytes out and returns how
 * many. */
size_t tide_link_recv(tide_link *l, uint8_t *out, size_t cap);

/* 1 when the link is synchronised with the peer (SYN exchange done). */
int tide_link_ready(const tide_link *l);

/* 1 when every queued byte was sent and acknowledged. */
int tide_link_drained(const tide_link *l);

/* Copies the counters. */
void tide_link_get_stats(const tide_link *l, uint64_t now_ms, tide_link_stats *st);

#endif
