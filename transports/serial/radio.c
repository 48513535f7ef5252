/* radio.c - priority queues and the per-direction zstd stream; see
 * tide/radio.h. */
#include "tide/radio.h"

#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "tide/rcrypt.h"

typedef struct qframe {
  struct qframe *next;
  size_t len;
  uint8_t data[];
} qframe;

struct tide_radio_tx {
  ZSTD_CCtx *cctx;
  qframe *head[TIDE_RADIO_PRIOS], *tail[TIDE_RADIO_PRIOS];
  size_t queued[TIDE_RADIO_PRIOS];
  uint8_t *out; /* compressed bytes not yet in the link */
  size_t out_off, out_len, out_cap;
  tide_radio_stats st;
  tide_rcrypt *crypt; /* borrowed; NULL: plain stream */
  tide_buf sealed;
};

struct tide_radio_rx {
  ZSTD_DCtx *dctx;
  uint8_t *buf; /* decompressed, unconsumed */
  size_t off, len, cap;
  tide_radio_stats st;
  tide_rcrypt *crypt; /* borrowed; NULL: plain stream */
  tide_buf plain;     /* opened records of one link read */
  uint8_t head[4];    /* the stream's first bytes */
  size_t headn;
};

void tide_radio_tx_set_crypt(tide_radio_tx *t, tide_rcrypt *c)
{
  t->crypt = c;
}

void tide_radio_rx_set_crypt(tide_radio_rx *r, tide_rcrypt *c)
{
  r->crypt = c;
}

int tide_radio_tx_new(tide_radio_tx **out, const uint8_t *dict, size_t dict_len, int level)
{
  tide_radio_tx *t = calloc(1, sizeof *t);
  size_t r;

  *out = NULL;
  if (t == NULL)
    return TIDE_E_NOMEM;
  t->cctx = ZSTD_createCCtx();
  t->out_cap = ZSTD_CStreamOutSize();
  t->out = malloc(t->out_cap);
  if (t->cctx == NULL || t->out == NULL) {
    tide_radio_tx_free(t);
    return TIDE_E_NOMEM;
  }
  r = ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_compressionLevel, level ? level : 19);
  /* Small frames: no checksum (the link's CRC and the signatures cover
   * the content), no dictionary id (agreed in the HELLO exchange). */
  if (!ZSTD_isError(r))
    r = ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_checksumFlag, 0);
  if (!ZSTD_isError(r))
    r = ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_dictIDFlag, 0);
  if (!ZSTD_isError(r))
    r = ZSTD_CCtx_setParameter(t->cctx, ZSTD_c_windowLog, 20);
  if (!ZSTD_isError(r) && dict != NULL && dict_len > 0)
    r = ZSTD_CCtx_loadDictionary(t->cctx, dict, dict_len);
  if (ZSTD_isError(r)) {
    tide_radio_tx_free(t);
    return TIDE_E_INVAL;
  }
  *out = t;
  return 0;
}

void tide_radio_tx_free(tide_radio_tx *t)
{
  if (t == NULL)
    return;
  for (int p = 0; p < TIDE_RADIO_PRIOS; p++) {
    qframe *q = t->head[p];
    while (q) {
      qframe *n = q->next;
      free(q);
      q = n;
    }
  }
  ZSTD_freeCCtx(t->cctx);
  tide_buf_free(&t->sealed);
  free(t->out);
  free(t);
}

int tide_radio_tx_queue(tide_radio_tx *t, int prio, const uint8_t *frame, size_t len)
{
  qframe *q;
  if (prio < 0 || prio >= TIDE_RADIO_PRIOS || (len > 0 && frame == NULL))
    return TIDE_E_INVAL;
  q = malloc(sizeof *q + len);
  if (q == NULL)
    return TIDE_E_NOMEM;
  q->next = NULL;
  q->len = len;
  if (len > 0)
    memcpy(q->data, frame, len);
  if (t->tail[prio])
    t->tail[prio]->next = q;
  else
    t->head[prio] = q;
  t->tail[prio] = q;
  t->queued[prio] += len;
  t->st.frames++;
  return 0;
}

size_t tide_radio_tx_queued(const tide_radio_tx *t, int prio)
{
  return prio >= 0 && prio < TIDE_RADIO_PRIOS ? t->queued[prio] : 0;
}

int tide_radio_tx_idle(const tide_radio_tx *t)
{
  return t->out_len == t->out_off && t->head[0] == NULL && t->head[1] == NULL && t->head[2] == NULL;
}

/* Runs one zstd call over in (may be empty) with mode, appending output to
 * t->out (which is empty on entry). */
static int compress(tide_radio_tx *t, const uint8_t *in, size_t len, ZSTD_EndDirective mode,
                    tide_error *err)
{
  ZSTD_inBuffer ib = {in, len, 0};
  size_t left;
  do {
    ZSTD_outBuffer ob;
    if (t->out_cap - t->out_len < ZSTD_CStreamOutSize()) {
      size_t cap = t->out_cap * 2;
      uint8_t *n = realloc(t->out, cap);
      if (n == NULL)
        return TIDE_E_NOMEM;
      t->out = n;
      t->out_cap = cap;
    }
    ob.dst = t->out + t->out_len;
    ob.size = t->out_cap - t->out_len;
    ob.pos = 0;
    left = ZSTD_compressStream2(t->cctx, &ob, &ib, mode);
    if (ZSTD_isError(left))
      return tide_error_set(err, TIDE_E_INTERNAL, 0, "zstd: %s", ZSTD_getErrorName(left));
    t->out_len += ob.pos;
  } while (ib.pos < ib.size || (mode != ZSTD_e_continue && left != 0));
  return 0;
}

int tide_radio_tx_pump(tide_radio_tx *t, tide_link *l, tide_error *err)
{
  if (t->crypt && !tide_rcrypt_ready(t->crypt))
    return 0; /* never a plain byte on an encrypted session */
  for (;;) {
    int rc;
    /* Hand over what is already compressed. */
    if (t->out_off < t->out_len) {
      size_t acc;
      rc = tide_link_send(l, t->out + t->out_off, t->out_len - t->out_off, 1, &acc);
      if (rc != 0)
        return rc;
      t->out_off += acc;
      t->st.wire_bytes += acc;
      if (t->out_off < t->out_len)
        return 0; /* the link is full */
    }
    t->out_off = t->out_len = 0;
    if (tide_link_send_room(l) == 0)
      return 0;
    /* Next frame by priority.  Each frame is flushed: a flush ends a zstd
     * block (a few bytes) but keeps the history, and it means the link
     * holds only whole frames, so priorities act frame by frame. */
    {
      int p = 0;
      qframe *q;
      while (p < TIDE_RADIO_PRIOS && t->head[p] == NULL)
        p++;
      if (p == TIDE_RADIO_PRIOS)
        return 0;
      q = t->head[p];
      t->head[p] = q->next;
      if (t->head[p] == NULL)
        t->tail[p] = NULL;
      t->queued[p] -= q->len;
      rc = compress(t, q->data, q->len, ZSTD_e_flush, err);
      t->st.raw_bytes += q->len;
      t->st.flushes++;
      free(q);
      if (rc == 0 && t->crypt && t->out_len > 0) {
        tide_buf_reset(&t->sealed);
        rc = tide_rcrypt_seal(t->crypt, t->out, t->out_len, &t->sealed);
        if (rc == 0 && t->sealed.len > t->out_cap) {
          uint8_t *n = realloc(t->out, t->sealed.len);
          if (n == NULL)
            return TIDE_E_NOMEM;
          t->out = n;
          t->out_cap = t->sealed.len;
        }
        if (rc == 0) {
          memcpy(t->out, t->sealed.data, t->sealed.len);
          t->out_len = t->sealed.len;
        }
      }
      if (rc != 0)
        return rc;
    }
  }
}

void tide_radio_tx_get_stats(const tide_radio_tx *t, tide_radio_stats *st)
{
  *st = t->st;
}

int tide_radio_rx_new(tide_radio_rx **out, const uint8_t *dict, size_t dict_len)
{
  tide_radio_rx *r = calloc(1, sizeof *r);
  size_t z;

  *out = NULL;
  if (r == NULL)
    return TIDE_E_NOMEM;
  r->dctx = ZSTD_createDCtx();
  if (r->dctx == NULL) {
    tide_radio_rx_free(r);
    return TIDE_E_NOMEM;
  }
  z = ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, 20);
  if (!ZSTD_isError(z) && dict != NULL && dict_len > 0)
    z = ZSTD_DCtx_loadDictionary(r->dctx, dict, dict_len);
  if (ZSTD_isError(z)) {
    tide_radio_rx_free(r);
    return TIDE_E_INVAL;
  }
  *out = r;
  return 0;
}

void tide_radio_rx_free(tide_radio_rx *r)
{
  if (r == NULL)
    return;
  ZSTD_freeDCtx(r->dctx);
  tide_buf_free(&r->plain);
  free(r->buf);
  free(r);
}

int tide_radio_rx_pump(tide_radio_rx *r, tide_link *l, tide_error *err)
{
  uint8_t in[4096];
  size_t n;

  if (r->crypt && !tide_rcrypt_ready(r->crypt))
    return 0; /* the session runs the key exchange first */
  while ((n = tide_link_recv(l, in, sizeof in)) > 0) {
    ZSTD_inBuffer ib = {in, n, 0};
    r->st.wire_bytes += n;
    if (r->crypt) {
      int rc;
      tide_buf_reset(&r->plain);
      rc = tide_rcrypt_open(r->crypt, in, n, &r->plain, err);
      if (rc != 0)
        return rc;
      ib.src = r->plain.data;
      ib.size = r->plain.len;
    } else if (r->headn < 4) {
      size_t k = 4 - r->headn < n ? 4 - r->headn : n;
      memcpy(r->head + r->headn, in, k);
      r->headn += k;
      if (tide_rcrypt_is_kex(r->head, r->headn))
        return tide_error_set(err, TIDE_E_RCRYPT_MISMATCH, 0,
                              "encryption: the peer encrypts (--encrypt) but we do not; both "
                              "ends need the same setting");
    }
    while (ib.pos < ib.size) {
      ZSTD_outBuffer ob;
      size_t z;
      if (r->off > 0 && r->off == r->len)
        r->off = r->len = 0;
      if (r->len - r->off > TIDE_RADIO_RX_MAX)
        return tide_error_set(err, TIDE_E_TOOBIG, 0,
                              "radio stream: more than %zu decompressed bytes pending",
                              TIDE_RADIO_RX_MAX);
      if (r->cap - r->len < 65536) {
        if (r->off > 0) {
          memmove(r->buf, r->buf + r->off, r->len - r->off);
          r->len -= r->off;
          r->off = 0;
        }
        if (r->cap - r->len < 65536) {
          size_t cap = r->cap ? r->cap * 2 : 131072;
          uint8_t *b = realloc(r->buf, cap);
          if (b == NULL)
            return TIDE_E_NOMEM;
          r->buf = b;
          r->cap = cap;
        }
      }
      ob.dst = r->buf + r->len;
      ob.size = r->cap - r->len;
      ob.pos = 0;
      z = ZSTD_decompressStream(r->dctx, &ob, &ib);
      if (ZSTD_isError(z))
        return tide_error_set(err, TIDE_E_LINK_FRAME, 0, "radio stream does not decompress: %s",
                              ZSTD_getErrorName(z));
      r->len += ob.pos;
      r->st.raw_bytes += ob.pos;
    }
  }
  return 0;
}

const uint8_t *tide_radio_rx_data(const tide_radio_rx *r, size_t *len)
{
  *len = r->len - r->off;
  return r->buf ? r->buf + r->off : (const uint8_t *)"";
}

void tide_radio_rx_consume(tide_radio_rx *r, size_t n)
{
  if (n > r->len - r->off)
    n = r->len - r->off;
  r->off += n;
}

void tide_radio_rx_get_stats(const tide_radio_rx *r, tide_radio_stats *st)
{
  *st = r->st;
}
