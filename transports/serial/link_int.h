/* link_int.h - internals of the link layer shared by link.c (the state
 * machine) and link_codec.c (profiles): the airtime arithmetic that the
 * duty ledger and the profile check must agree on. */
#ifndef TIDE_LINK_INT_H
#define TIDE_LINK_INT_H

#include <stddef.h>
#include <stdint.h>

#include "tide/link.h"

/* Airtime, in microseconds at p's baud rate, of a frame whose body without
 * the CRC has body_wo_crc bytes: CRC, COBS overhead and delimiter added. */
uint64_t tide__link_wire_us(const tide_link_profile *p, size_t body_wo_crc);

/* Airtime of one duty-pause announcement: an ACK with a full SACK bitmap
 * and an EXT PAUSE frame (docs/radio.md section 6). */
uint64_t tide__link_ann_us(const tide_link_profile *p);

/* What every DATA or ACK frame leaves in the duty budget: room for the
 * announcement and its TIDE_LINK_PAUSE_REPEATS repeats. */
uint64_t tide__link_reserve_us(const tide_link_profile *p);

/* The budget a duty window must hold so that a side can ever send: one
 * full DATA frame of p's packet size plus the reserve. */
uint64_t tide__link_duty_need_us(const tide_link_profile *p);

#endif
