/* tide/radio.h - the radio session's stream layer: replication frames
 * (tide/frame.h) in three priority queues, one zstd stream per direction
 * that lives for the whole session, carried by a tide_link.
 *
 * Sender (tide_radio_tx): the session queues encoded frames with a
 * priority; tide_radio_tx_pump() feeds the link whenever it has send room,
 * always from the highest non-empty queue (control before small messages
 * before the backlog), compresses them into the session's zstd stream and
 * flushes the stream after each frame (the session puts a batch of
 * messages in one MESSAGES frame), so the peer can decode everything sent
 * so far.  Because the link only takes about one window
 * ahead (tide_link_send_room), a clock or note queued behind a long
 * backlog waits at most about one window.
 *
 * Receiver (tide_radio_rx): reads the link's in-order stream, decompresses
 * it, and offers the decompressed frame bytes to the session, which decodes
 * them with tide_frame_decode() and consumes what it decoded.  The
 * decompressed backlog is capped (TIDE_RADIO_RX_MAX), and zstd's window is
 * capped, so a hostile peer cannot make the receiver allocate without
 * bound.
 *
 * Both sides must use the same dictionary (or none); the session agrees on
 * it in the HELLO exchange.  Sans-I/O; one thread per object. */
#ifndef TIDE_RADIO_H
#define TIDE_RADIO_H

#include <stddef.h>
#include <stdint.h>

#include "tide/common.h"
#include "tide/link.h"
#include "tide/rcrypt.h"

enum {
  TIDE_RADIO_PRIO_CONTROL = 0, /* HELLO, CLOCK, NOTE, REQUEST, ACK */
  TIDE_RADIO_PRIO_SMALL = 1,   /* messages frames under TIDE_RADIO_SMALL_BYTES */
  TIDE_RADIO_PRIO_BULK = 2,    /* the backlog */
  TIDE_RADIO_PRIOS = 3
};
#define TIDE_RADIO_SMALL_BYTES 1024
/* Most decompressed bytes held for the session at once. */
#define TIDE_RADIO_RX_MAX ((size_t)4 << 20)

typedef struct tide_radio_tx tide_radio_tx;
typedef struct tide_radio_rx tide_radio_rx;

typedef struct tide_radio_stats {
  uint64_t frames;     /* frames queued (tx) */
  uint64_t raw_bytes;  /* frame bytes before compression (tx) / after (rx) */
  uint64_t wire_bytes; /* compressed stream bytes handed to / read from the link */
  uint64_t flushes;    /* zstd flushes (tx) */
} tide_radio_stats;

/* Creates a sender.  dict (may be NULL) is copied; level is the zstd level
 * (0: 19, the small-frame sweet spot; radio CPUs are never the bottleneck
 * at 9600 baud).  TIDE_E_NOMEM, TIDE_E_INVAL for a bad dictionary. */
TIDE_WUR int tide_radio_tx_new(tide_radio_tx **out, const uint8_t *dict, size_t dict_len,
                               int level);

/* Frees a sender; NULL is a no-op. */
void tide_radio_tx_free(tide_radio_tx *t);

/* Queues one encoded frame (copied) at priority prio (TIDE_RADIO_PRIO_*).
 * TIDE_E_INVAL for a bad priority, TIDE_E_NOMEM. */
TIDE_WUR int tide_radio_tx_queue(tide_radio_tx *t, int prio, const uint8_t *frame, size_t len);

/* Moves as much as the link accepts now: compressed bytes left over from
 * the last call first, then new frames by priority.  TIDE_E_NOMEM,
 * TIDE_E_INTERNAL (zstd failure, detail in err). */
TIDE_WUR int tide_radio_tx_pump(tide_radio_tx *t, tide_link *l, tide_error *err);

/* Bytes of frames waiting at priority prio (not yet compressed). */
size_t tide_radio_tx_queued(const tide_radio_tx *t, int prio);

/* 1 when nothing is queued or waiting to enter the link. */
int tide_radio_tx_idle(const tide_radio_tx *t);

void tide_radio_tx_get_stats(const tide_radio_tx *t, tide_radio_stats *st);

/* Encrypts the stream with c (borrowed; NULL: plain).  Nothing is handed
 * to the link until c is ready; each flushed chunk of compressed bytes
 * becomes rcrypt records (tide/rcrypt.h). */
void tide_radio_tx_set_crypt(tide_radio_tx *t, tide_rcrypt *c);

/* Creates a receiver; dict as for the sender.  TIDE_E_NOMEM,
 * TIDE_E_INVAL. */
TIDE_WUR int tide_radio_rx_new(tide_radio_rx **out, const uint8_t *dict, size_t dict_len);

/* Frees a receiver; NULL is a no-op. */
void tide_radio_rx_free(tide_radio_rx *r);

/* Reads the link's stream and decompresses it.  TIDE_E_LINK_FRAME when the
 * stream does not decompress (err says why: a corrupt or foreign stream,
 * or a dictionary mismatch), TIDE_E_TOOBIG when the session left more than
 * TIDE_RADIO_RX_MAX bytes unconsumed, TIDE_E_NOMEM. */
TIDE_WUR int tide_radio_rx_pump(tide_radio_rx *r, tide_link *l, tide_error *err);

/* The decompressed bytes not yet consumed (borrowed until the next call
 * on r). */
const uint8_t *tide_radio_rx_data(const tide_radio_rx *r, size_t *len);

/* Drops the first n decompressed bytes (n <= the available length). */
void tide_radio_rx_consume(tide_radio_rx *r, size_t n);

void tide_radio_rx_get_stats(const tide_radio_rx *r, tide_radio_stats *st);

/* Decrypts the stream with c (borrowed; NULL: plain).  Nothing is read
 * from the link until c is ready (the session feeds the peer's KEX to c
 * first); then tide_radio_rx_pump also fails with TIDE_E_RCRYPT_AUTH when
 * a record does not authenticate.  A plain receiver fails with
 * TIDE_E_RCRYPT_MISMATCH when the peer's stream starts with a KEX. */
void tide_radio_rx_set_crypt(tide_radio_rx *r, tide_rcrypt *c);

#endif
