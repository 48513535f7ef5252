/* linkmodel.h - a model of a serial radio link, shared by the virtual-time
 * tests, the radio benchmark and the pty link simulator (linksim).
 *
 * Two endpoints (0 and 1) write bytes into their modem.  Bytes leave the
 * UART at the baud rate (8N1); the modem cuts them into packets of at most
 * packet_bytes, or earlier when the UART falls idle for three byte times
 * (the Ebyte transparent-mode rule).  Each packet arrives at the other
 * endpoint `latency_us` after its last byte, unless it is lost (loss
 * probability per packet), collides (half duplex: the two directions'
 * packets overlap in time, both are lost), falls in an outage (cable
 * pull), and it may have bits flipped (bit-error rate) or be delivered
 * twice (duplication).  Every random draw comes from a seeded generator,
 * so a run is reproducible.  Times are microseconds, supplied by the
 * caller (virtual time in tests, CLOCK_MONOTONIC in linksim).
 *
 * Not thread-safe; one model per simulated link. */
#ifndef TIDE_LINKMODEL_H
#define TIDE_LINKMODEL_H

#include <stddef.h>
#include <stdint.h>

typedef struct linkmodel_params {
  uint32_t baud;         /* bits per second, 10 bits per byte */
  uint32_t packet_bytes; /* modem packet size */
  uint64_t latency_us;   /* last byte of a packet to its delivery */
  double loss;           /* probability a packet is lost */
  double ber;            /* probability a bit is flipped */
  double dup;            /* probability a packet is delivered twice */
  int half_duplex;       /* overlapping packets destroy each other */
  uint64_t seed;
} linkmodel_params;

typedef struct linkmodel_stats {
  uint64_t bytes_in[2]; /* bytes written by endpoint i */
  uint64_t packets[2];  /* packets sent by endpoint i */
  uint64_t lost[2], collided[2], corrupted[2], duplicated[2], outage[2];
  uint64_t bytes_out[2]; /* bytes delivered to endpoint i */
} linkmodel_stats;

typedef struct linkmodel linkmodel;

/* Creates a model; NULL when out of memory or baud/packet_bytes is 0. */
linkmodel *linkmodel_new(const linkmodel_params *p);

/* Frees the model; NULL is a no-op. */
void linkmodel_free(linkmodel *m);

/* Endpoint `from` writes n bytes at time now_us (non-decreasing). */
int linkmodel_write(linkmodel *m, int from, uint64_t now_us, const uint8_t *b, size_t n);

/* Moves the model to now_us and copies up to cap bytes delivered to
 * endpoint `to` by then; returns the count. */
size_t linkmodel_read(linkmodel *m, int to, uint64_t now_us, uint8_t *out, size_t cap);

/* The next time something happens inside the model (a packet closes or is
 * delivered), UINT64_MAX when idle. */
uint64_t linkmodel_next_event(const linkmodel *m);

/* Nothing is carried between from_us and to_us (a pulled cable). */
void linkmodel_outage(linkmodel *m, uint64_t from_us, uint64_t to_us);

/* Time at which the UART of endpoint `from` has sent everything written. */
uint64_t linkmodel_tx_idle_at(const linkmodel *m, int from);

void linkmodel_get_stats(const linkmodel *m, linkmodel_stats *st);

#endif
