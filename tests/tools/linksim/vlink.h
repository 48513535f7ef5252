/* vlink.h - two tide_link endpoints joined by a linkmodel, run in virtual
 * time.  Used by the link and session tests and the radio benchmark.
 *
 * Each step delivers what the model carried, lets the caller's pump move
 * stream bytes in and out of the links, drains the links' output into the
 * model, then jumps to the next time anything can happen. */
#ifndef TIDE_VLINK_H
#define TIDE_VLINK_H

#include <stddef.h>
#include <stdint.h>

#include "linkmodel.h"
#include "tide/link.h"

typedef struct vlink vlink;

/* Called once per step per side; returns 0 or a negative error that stops
 * the run.  `now_ms` is the virtual time. */
typedef int (*vlink_pump_fn)(void *ctx, int side, tide_link *l, uint64_t now_ms);

/* A transmission by one side, for duty-cycle checks. */
typedef struct vlink_tx {
  uint64_t at_ms;
  uint32_t bytes;
} vlink_tx;

/* Creates the pair: side 0 is the initiator.  prof[i] is side i's profile;
 * mp describes the line.  NULL on failure. */
vlink *vlink_new(const tide_link_profile *prof0, const tide_link_profile *prof1,
                 const linkmodel_params *mp, uint64_t seed);
void vlink_free(vlink *v);

tide_link *vlink_link(vlink *v, int side);
linkmodel *vlink_model(vlink *v);
uint64_t vlink_now(const vlink *v);

/* Replaces side's link by a fresh one with another id (a restart). */
int vlink_restart(vlink *v, int side, uint64_t seed);

/* As vlink_restart, choosing whether the new link is an initiator (1 on
 * both sides: both call at once, as `tide sync serial` does). */
int vlink_restart_as(vlink *v, int side, uint64_t seed, int initiator);

/* Runs until done(ctx) returns non-zero (checked every step), a pump or
 * link error (returned; *err_side says whose), or until_ms passes
 * (TIDE_E_TIMEOUT).  Link input returning TIDE_E_LINK_PEER_RESET is
 * counted in vlink_resets() and not an error. */
int vlink_run(vlink *v, vlink_pump_fn pump, int (*done)(void *ctx), void *ctx, uint64_t until_ms,
              int *err_side);

unsigned vlink_resets(const vlink *v, int side);

/* The transmissions of side, in order; *n receives the count. */
const vlink_tx *vlink_txlog(const vlink *v, int side, size_t *n);

#endif
