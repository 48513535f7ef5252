/* vlink.c - see vlink.h. */
#include "vlink.h"

#include <stdlib.h>
#include <string.h>

struct vlink {
  linkmodel *m;
  tide_link *l[2];
  tide_link_profile prof[2];
  uint64_t now;
  unsigned resets[2];
  vlink_tx *log[2];
  size_t nlog[2], caplog[2];
};

vlink *vlink_new(const tide_link_profile *prof0, const tide_link_profile *prof1,
                 const linkmodel_params *mp, uint64_t seed)
{
  vlink *v = calloc(1, sizeof *v);
  tide_link_config cfg = {0};
  if (v == NULL)
    return NULL;
  v->m = linkmodel_new(mp);
  v->prof[0] = *prof0;
  v->prof[1] = *prof1;
  for (int i = 0; i < 2; i++) {
    cfg.initiator = i == 0;
    cfg.seed = seed * 7 + (uint64_t)i + 1;
    cfg.link_id = 0;
    if (v->m == NULL || tide_link_new(&v->l[i], &v->prof[i], &cfg, 0, NULL) != 0) {
      vlink_free(v);
      return NULL;
    }
  }
  return v;
}

void vlink_free(vlink *v)
{
  if (v == NULL)
    return;
  linkmodel_free(v->m);
  tide_link_free(v->l[0]);
  tide_link_free(v->l[1]);
  free(v->log[0]);
  free(v->log[1]);
  free(v);
}

tide_link *vlink_link(vlink *v, int side)
{
  return v->l[side];
}

linkmodel *vlink_model(vlink *v)
{
  return v->m;
}

uint64_t vlink_now(const vlink *v)
{
  return v->now;
}

unsigned vlink_resets(const vlink *v, int side)
{
  return v->resets[side];
}

const vlink_tx *vlink_txlog(const vlink *v, int side, size_t *n)
{
  *n = v->nlog[side];
  return v->log[side];
}

int vlink_restart(vlink *v, int side, uint64_t seed)
{
  return vlink_restart_as(v, side, seed, side == 0);
}

int vlink_restart_as(vlink *v, int side, uint64_t seed, int initiator)
{
  tide_link_config cfg = {initiator, seed, 0, 0};
  tide_link *n;
  int rc = tide_link_new(&n, &v->prof[side], &cfg, v->now, NULL);
  if (rc != 0)
    return rc;
  tide_link_free(v->l[side]);
  v->l[side] = n;
  return 0;
}

static int log_tx(vlink *v, int side, uint64_t at, size_t bytes)
{
  if (v->nlog[side] == v->caplog[side]) {
    size_t cap = v->caplog[side] ? v->caplog[side] * 2 : 1024;
    vlink_tx *q = realloc(v->log[side], cap * sizeof *q);
    if (q == NULL)
      return TIDE_E_NOMEM;
    v->log[side] = q;
    v->caplog[side] = cap;
  }
  v->log[side][v->nlog[side]].at_ms = at;
  v->log[side][v->nlog[side]].bytes = (uint32_t)bytes;
  v->nlog[side]++;
  return 0;
}

int vlink_run(vlink *v, vlink_pump_fn pump, int (*done)(void *ctx), void *ctx, uint64_t until_ms,
              int *err_side)
{
  uint8_t buf[TIDE_LINK_MAX_WIRE_BYTES];
  int rc;

  for (;;) {
    uint64_t next = UINT64_MAX, ev;
    for (int i = 0; i < 2; i++) {
      size_t n;
      while ((n = linkmodel_read(v->m, i, v->now * 1000u, buf, sizeof buf)) > 0) {
        rc = tide_link_input(v->l[i], v->now, buf, n);
        if (rc == TIDE_E_LINK_PEER_RESET) {
          v->resets[i]++;
        } else if (rc != 0) {
          *err_side = i;
          return rc;
        }
      }
    }
    for (int i = 0; i < 2; i++) {
      size_t n;
      if (pump) {
        rc = pump(ctx, i, v->l[i], v->now);
        if (rc != 0) {
          *err_side = i;
          return rc;
        }
      }
      for (;;) {
        rc = tide_link_output(v->l[i], v->now, buf, sizeof buf, &n);
        if (rc != 0) {
          *err_side = i;
          return rc;
        }
        if (n == 0)
          break;
        linkmodel_write(v->m, i, v->now * 1000u, buf, n);
        rc = log_tx(v, i, v->now, n);
        if (rc != 0)
          return rc;
      }
    }
    if (done && done(ctx))
      return 0;
    for (int i = 0; i < 2; i++) {
      uint64_t w = tide_link_next_wakeup(v->l[i], v->now);
      if (w < next)
        next = w;
    }
    ev = linkmodel_next_event(v->m);
    if (ev != UINT64_MAX && (ev + 999) / 1000 < next)
      next = (ev + 999) / 1000;
    if (next <= v->now)
      next = v->now + 1;
    if (next == UINT64_MAX || next > until_ms) {
      *err_side = -1;
      return TIDE_E_TIMEOUT;
    }
    v->now = next;
  }
}
