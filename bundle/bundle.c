/* bundle.c - bundle container: preamble, chained signed chunks, zstd with
 * the built-in dictionary, optional sealing (docs/bundle.md). */
#include "tide/bundle.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define FLAG_RECIPIENT   0x01u
#define FLAG_SEALED      0x02u
#define CHUNK_FINAL      0x01u
#define DOMAIN_PREAMBLE  "tide-bundle-1"
#define DOMAIN_CHUNK     "tide-bundle-chunk-1"
#define SEALED_KEY_BYTES (crypto_box_SEALBYTES + crypto_secretstream_xchacha20poly1305_KEYBYTES)
#define SS_HEADER_BYTES  crypto_secretstream_xchacha20poly1305_HEADERBYTES
#define SS_ABYTES        crypto_secretstream_xchacha20poly1305_ABYTES
/* flags + longest varint of a chunk length + signature */
#define CHUNK_OVERHEAD (1 + 3 + TIDE_SIG_BYTES)

const char *tide_bundle_strerror(int code)
{
  switch (code) {
  case TIDE_E_BUNDLE_FORMAT: return "not a tide bundle or malformed";
  case TIDE_E_BUNDLE_VERSION: return "unsupported bundle version";
  case TIDE_E_BUNDLE_TRUNCATED: return "bundle is truncated";
  case TIDE_E_BUNDLE_AUTH: return "bundle signature does not verify";
  case TIDE_E_BUNDLE_SEALED: return "bundle is sealed to someone else";
  case TIDE_E_BUNDLE_DICT: return "bundle needs an unknown compression dictionary";
  case TIDE_E_BUNDLE_ZSTD: return "bundle decompression failed";
  case TIDE_E_BUNDLE_CONTENT: return "bundle content is malformed";
  case TIDE_E_BUNDLE_BUDGET: return "byte budget too small";
  default: return tide_frame_strerror(code);
  }
}

/* The chain hash after one chunk. */
static void chain_next(uint8_t h[32], uint8_t flags, const uint8_t *lenv, size_t lenv_len,
                       const uint8_t *payload, size_t n)
{
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 32);
  crypto_generichash_update(&st, h, 32);
  crypto_generichash_update(&st, &flags, 1);
  crypto_generichash_update(&st, lenv, lenv_len);
  crypto_generichash_update(&st, payload, n);
  crypto_generichash_final(&st, h, 32);
}

static void chain_start(uint8_t h[32], const uint8_t *preamble, size_t n)
{
  crypto_generichash_state st;
  crypto_generichash_init(&st, NULL, 0, 32);
  crypto_generichash_update(&st, (const uint8_t *)DOMAIN_PREAMBLE, sizeof DOMAIN_PREAMBLE - 1);
  crypto_generichash_update(&st, preamble, n);
  crypto_generichash_final(&st, h, 32);
}

static void chunk_signed_bytes(uint8_t out[sizeof DOMAIN_CHUNK - 1 + 32], const uint8_t h[32])
{
  memcpy(out, DOMAIN_CHUNK, sizeof DOMAIN_CHUNK - 1);
  memcpy(out + sizeof DOMAIN_CHUNK - 1, h, 32);
}

/* ================================================================ writer */

struct tide_bundle_writer {
  const tide_keypair *sender;
  tide_bundle_info info;
  tide_frame_codec *codec;
  ZSTD_CCtx *cctx;
  uint8_t chain[32];
  crypto_secretstream_xchacha20poly1305_state ss;
  tide_buf z;       /* compressed bytes not yet in a chunk */
  tide_buf sigs;    /* side-stream bytes (keys, hashes, signatures) not yet in a chunk */
  uint64_t pending; /* uncompressed bytes pushed since the last flush */
  uint64_t out_bytes, in_bytes, max_bytes;
  size_t chunk_bytes;
  int finished;
};

static int zerr(tide_error *err, size_t code, const char *what)
{
  return tide_error_set(err, TIDE_E_BUNDLE_ZSTD, 0, "bundle: zstd %s: %s", what,
                        ZSTD_getErrorName(code));
}

static int emit_chunk(tide_bundle_writer *w, tide_buf *out, int final)
{
  uint8_t flags = final ? CHUNK_FINAL : 0;
  uint8_t lenv[10], sb[sizeof DOMAIN_CHUNK - 1 + 32], sig[TIDE_SIG_BYTES];
  size_t lenv_len = 0, n, start = out->len;
  tide_buf plain = TIDE_BUF_INIT;
  uint64_t v;
  uint8_t *payload;
  uint8_t *sealed = NULL;
  int rc;

  /* payload: varint zstd length | zstd bytes | side-stream bytes */
  rc = tide_varint_put(&plain, w->z.len);
  if (rc == 0 && w->z.len > 0)
    rc = tide_buf_append(&plain, w->z.data, w->z.len);
  if (rc == 0 && w->sigs.len > 0)
    rc = tide_buf_append(&plain, w->sigs.data, w->sigs.len);
  if (rc != 0)
    goto out;
  payload = (uint8_t *)plain.data;
  n = plain.len;
  if (w->info.sealed) {
    sealed = malloc(n + SS_ABYTES);
    if (sealed == NULL) {
      rc = TIDE_E_NOMEM;
      goto out;
    }
    crypto_secretstream_xchacha20poly1305_push(
        &w->ss, sealed, NULL, payload, n, NULL, 0,
        final ? crypto_secretstream_xchacha20poly1305_TAG_FINAL : 0);
    payload = sealed;
    n += SS_ABYTES;
  }
  v = n;
  do {
    uint8_t b = (uint8_t)(v & 0x7f);
    v >>= 7;
    lenv[lenv_len++] = (uint8_t)(b | (v ? 0x80 : 0));
  } while (v != 0);
  chain_next(w->chain, flags, lenv, lenv_len, payload, n);
  chunk_signed_bytes(sb, w->chain);
  crypto_sign_detached(sig, NULL, sb, sizeof sb, w->sender->sk);
  rc = tide_buf_putc(out, (char)flags);
  if (rc == 0)
    rc = tide_buf_append(out, lenv, lenv_len);
  if (rc == 0)
    rc = tide_buf_append(out, payload, n);
  if (rc == 0)
    rc = tide_buf_append(out, sig, sizeof sig);
  if (rc == 0) {
    w->out_bytes += out->len - start;
    tide_buf_reset(&w->z);
    tide_buf_reset(&w->sigs);
  } else {
    out->len = start;
  }
out:
  free(sealed);
  tide_buf_free(&plain);
  return rc;
}

/* Runs the compressor over in with the given directive, appending its
 * output to w->z and cutting chunks as they fill. */
static int compress(tide_bundle_writer *w, tide_buf *out, const void *in, size_t len,
                    ZSTD_EndDirective mode, tide_error *err)
{
  ZSTD_inBuffer ib = {in, len, 0};
  int rc;

  for (;;) {
    size_t left;
    ZSTD_outBuffer ob;
    rc = tide_buf_reserve(&w->z, ZSTD_CStreamOutSize());
    if (rc != 0)
      return rc;
    ob.dst = w->z.data + w->z.len;
    ob.size = w->z.cap - w->z.len - 1;
    ob.pos = 0;
    left = ZSTD_compressStream2(w->cctx, &ob, &ib, mode);
    if (ZSTD_isError(left))
      return zerr(err, left, "compress");
    w->z.len += ob.pos;
    /* a safety cut inside a huge push; normal cuts happen in _push() */
    if (w->z.len + w->sigs.len >= TIDE_BUNDLE_MAX_CHUNK / 2 && mode != ZSTD_e_end) {
      rc = emit_chunk(w, out, 0);
      if (rc != 0)
        return rc;
    }
    if (mode == ZSTD_e_continue ? ib.pos == ib.size : left == 0)
      break;
  }
  return 0;
}

int tide_bundle_writer_new(tide_bundle_writer **wp, tide_buf *out, const tide_keypair *sender,
                           const tide_bundle_writer_opts *o, tide_error *err)
{
  tide_bundle_writer *w;
  tide_buf pre = TIDE_BUF_INIT;
  uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
  uint8_t curve_pk[crypto_box_PUBLICKEYBYTES];
  uint8_t sealed_key[SEALED_KEY_BYTES], header[SS_HEADER_BYTES];
  const uint8_t *dict;
  size_t dict_len;
  uint8_t le[4];
  int rc = 0;

  *wp = NULL;
  if (o->seal && o->recipient == NULL)
    return tide_error_set(err, TIDE_E_INVAL, 0, "bundle: sealing needs a recipient");
  w = calloc(1, sizeof *w);
  if (w == NULL)
    return TIDE_E_NOMEM;
  w->sender = sender;
  w->max_bytes = o->max_bytes;
  w->chunk_bytes = o->chunk_bytes > 0 && o->chunk_bytes < TIDE_BUNDLE_MAX_CHUNK / 2
                       ? o->chunk_bytes
                       : TIDE_BUNDLE_CHUNK_BYTES;
  w->info.version = TIDE_BUNDLE_VERSION;
  randombytes_buf(w->info.id, sizeof w->info.id);
  memcpy(w->info.sender, sender->pk, TIDE_PK_BYTES);
  w->info.has_recipient = o->recipient != NULL;
  if (o->recipient != NULL)
    memcpy(w->info.recipient, o->recipient, TIDE_PK_BYTES);
  w->info.sealed = o->seal != 0;
  w->info.created_ms = o->created_ms;
  dict = o->no_dict ? NULL : tide_bundle_dict(&dict_len, &w->info.dict_id);
  if (dict == NULL)
    w->info.dict_id = 0;
  w->codec = tide_frame_codec_new();
  w->cctx = ZSTD_createCCtx();
  if (w->codec == NULL || w->cctx == NULL) {
    rc = TIDE_E_NOMEM;
    goto out;
  }
  tide_frame_codec_use_side_stream(w->codec);
  {
    size_t r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel,
                                      o->level > 0 ? o->level : TIDE_BUNDLE_DEFAULT_LEVEL);
    /* A window no larger than the expected content keeps small bundles
     * from allocating level 19's full tables (tens of MiB). */
    int wlog = 23;
    if (o->size_hint > 0)
      for (wlog = 17; wlog < 23 && ((uint64_t)1 << wlog) < o->size_hint; wlog++)
        ;
    if (!ZSTD_isError(r))
      r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_windowLog, wlog);
    if (!ZSTD_isError(r) && wlog < 23)
      r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_hashLog, wlog + 1);
    if (!ZSTD_isError(r) && wlog < 23)
      r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_chainLog, wlog + 2);
    if (!ZSTD_isError(r))
      r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 0);
    if (!ZSTD_isError(r))
      r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_contentSizeFlag, 0);
    if (!ZSTD_isError(r))
      r = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_dictIDFlag, 0);
    if (!ZSTD_isError(r) && dict != NULL)
      r = ZSTD_CCtx_loadDictionary(w->cctx, dict, dict_len);
    if (ZSTD_isError(r)) {
      rc = zerr(err, r, "setup");
      goto out;
    }
  }
  /* Preamble. */
  rc = tide_buf_append(&pre, TIDE_BUNDLE_MAGIC, TIDE_BUNDLE_MAGIC_BYTES);
  if (rc == 0)
    rc = tide_buf_putc(&pre, TIDE_BUNDLE_VERSION);
  if (rc == 0)
    rc = tide_buf_putc(&pre, (char)((w->info.has_recipient ? FLAG_RECIPIENT : 0) |
                                    (w->info.sealed ? FLAG_SEALED : 0)));
  if (rc == 0)
    rc = tide_buf_append(&pre, w->info.id, sizeof w->info.id);
  if (rc == 0)
    rc = tide_buf_append(&pre, w->info.sender, TIDE_PK_BYTES);
  if (rc == 0 && w->info.has_recipient)
    rc = tide_buf_append(&pre, w->info.recipient, TIDE_PK_BYTES);
  if (rc == 0)
    rc = tide_varint_put(&pre, w->info.created_ms);
  for (int i = 0; i < 4; i++)
    le[i] = (uint8_t)(w->info.dict_id >> (8 * i));
  if (rc == 0)
    rc = tide_buf_append(&pre, le, 4);
  if (rc == 0 && w->info.sealed) {
    if (crypto_sign_ed25519_pk_to_curve25519(curve_pk, o->recipient) != 0) {
      rc = tide_error_set(err, TIDE_E_INVAL, 0, "bundle: recipient key is not a valid ed25519 key");
      goto out;
    }
    crypto_secretstream_xchacha20poly1305_keygen(key);
    crypto_box_seal(sealed_key, key, sizeof key, curve_pk);
    crypto_secretstream_xchacha20poly1305_init_push(&w->ss, header, key);
    sodium_memzero(key, sizeof key);
    rc = tide_buf_append(&pre, sealed_key, sizeof sealed_key);
    if (rc == 0)
      rc = tide_buf_append(&pre, header, sizeof header);
  }
  if (rc != 0)
    goto out;
  if (w->max_bytes != 0 && pre.len + CHUNK_OVERHEAD + 32 > w->max_bytes) {
    rc = tide_error_set(err, TIDE_E_BUNDLE_BUDGET, 0,
                        "bundle: a budget of %llu bytes cannot hold a bundle",
                        (unsigned long long)w->max_bytes);
    goto out;
  }
  chain_start(w->chain, (const uint8_t *)pre.data, pre.len);
  rc = tide_buf_append(out, pre.data, pre.len);
  if (rc == 0)
    w->out_bytes = pre.len;
out:
  tide_buf_free(&pre);
  if (rc != 0) {
    tide_bundle_writer_free(w);
    return rc;
  }
  *wp = w;
  return 0;
}

void tide_bundle_writer_free(tide_bundle_writer *w)
{
  if (w == NULL)
    return;
  tide_frame_codec_free(w->codec);
  ZSTD_freeCCtx(w->cctx);
  tide_buf_free(&w->z);
  tide_buf_free(&w->sigs);
  sodium_memzero(&w->ss, sizeof w->ss);
  free(w);
}

tide_frame_codec *tide_bundle_writer_codec(tide_bundle_writer *w)
{
  return w->codec;
}

const tide_bundle_info *tide_bundle_writer_info(const tide_bundle_writer *w)
{
  return &w->info;
}

uint64_t tide_bundle_writer_bytes_out(const tide_bundle_writer *w)
{
  return w->out_bytes;
}

uint64_t tide_bundle_writer_bytes_in(const tide_bundle_writer *w)
{
  return w->in_bytes;
}

/* Upper bound of the final size if `more` uncompressed bytes follow. */
static uint64_t size_bound(const tide_bundle_writer *w, uint64_t more)
{
  uint64_t raw = w->pending + more;
  /* zstd never expands by more than a block header per 128 KiB block,
   * plus the frame epilogue. */
  uint64_t zbound = w->z.len + w->sigs.len + raw + 3 * (raw / (128 << 10) + 2) + 16 + 4;
  uint64_t chunks = zbound / w->chunk_bytes + 1;
  uint64_t per = CHUNK_OVERHEAD + (w->info.sealed ? SS_ABYTES : 0);
  return w->out_bytes + zbound + chunks * per;
}

int tide_bundle_writer_fits(tide_bundle_writer *w, tide_buf *out, size_t more, int *fits,
                            tide_error *err)
{
  int rc;

  *fits = 1;
  if (w->max_bytes == 0 || size_bound(w, more) <= w->max_bytes)
    return 0;
  if (w->pending > 0) {
    rc = compress(w, out, NULL, 0, ZSTD_e_flush, err);
    if (rc != 0)
      return rc;
    w->pending = 0;
  }
  *fits = size_bound(w, more) <= w->max_bytes;
  return 0;
}

int tide_bundle_writer_push(tide_bundle_writer *w, tide_buf *out, const void *frames, size_t len,
                            tide_error *err)
{
  int rc;

  if (w->finished)
    return tide_error_set(err, TIDE_E_INVAL, 0, "bundle: push after finish");
  /* the frames' side bytes first: a chunk never carries compressed data
   * whose side bytes are not in it or an earlier chunk */
  rc = tide_frame_codec_take_side(w->codec, &w->sigs);
  if (rc == 0)
    rc = compress(w, out, frames, len, ZSTD_e_continue, err);
  if (rc == 0) {
    w->pending += len;
    w->in_bytes += len;
  }
  /* Cut a chunk once enough is pending, flushing zstd first so the chunk
   * holds whole frames: a damaged later chunk then leaves all of them. */
  if (rc == 0 && w->z.len + w->sigs.len + w->pending / 4 >= w->chunk_bytes) {
    rc = compress(w, out, NULL, 0, ZSTD_e_flush, err);
    if (rc == 0) {
      w->pending = 0;
      rc = emit_chunk(w, out, 0);
    }
  }
  return rc;
}

int tide_bundle_writer_finish(tide_bundle_writer *w, tide_buf *out, tide_error *err)
{
  int rc;

  if (w->finished)
    return tide_error_set(err, TIDE_E_INVAL, 0, "bundle: finished twice");
  rc = compress(w, out, NULL, 0, ZSTD_e_end, err);
  if (rc == 0)
    rc = emit_chunk(w, out, 1);
  if (rc == 0)
    w->finished = 1;
  return rc;
}

/* ================================================================ reader */

enum { RS_PREAMBLE, RS_CHUNKS, RS_DONE };

struct tide_bundle_reader {
  const tide_keypair *me;
  int verify_only;
  int state;
  int have_info;
  tide_bundle_info info;
  int error;          /* sticky */
  tide_error err;     /* its detail */
  tide_buf in;        /* unparsed input */
  uint64_t in_offset; /* file offset of in.data[0] */
  uint8_t chain[32];
  crypto_secretstream_xchacha20poly1305_state ss;
  int ss_ready;
  size_t chunks;
  int final_seen;
  int ended; /* _end() called */
  uint64_t verified_bytes, plain_bytes;
  /* verified compressed data waiting for decompression */
  tide_buf zq;
  size_t zq_pos;
  ZSTD_DCtx *dctx;
  int zstd_done;  /* the zstd frame ended */
  int zstd_more;  /* zstd may hold more output */
  tide_buf plain; /* decompressed, not yet decoded */
  size_t plain_pos;
  tide_frame_codec *codec;
};

int tide_bundle_reader_new(tide_bundle_reader **rp, const tide_keypair *me, int verify_only)
{
  tide_bundle_reader *r = calloc(1, sizeof *r);

  *rp = NULL;
  if (r == NULL)
    return TIDE_E_NOMEM;
  r->me = me;
  r->verify_only = verify_only != 0;
  r->codec = tide_frame_codec_new();
  r->dctx = ZSTD_createDCtx();
  if (r->codec == NULL || r->dctx == NULL) {
    tide_bundle_reader_free(r);
    return TIDE_E_NOMEM;
  }
  tide_frame_codec_use_side_stream(r->codec);
  *rp = r;
  return 0;
}

void tide_bundle_reader_free(tide_bundle_reader *r)
{
  if (r == NULL)
    return;
  tide_buf_free(&r->in);
  tide_buf_free(&r->zq);
  tide_buf_free(&r->plain);
  ZSTD_freeDCtx(r->dctx);
  tide_frame_codec_free(r->codec);
  sodium_memzero(&r->ss, sizeof r->ss);
  free(r);
}

void tide_bundle_reader_decode_texts(tide_bundle_reader *r)
{
  tide_frame_codec_decode_texts(r->codec);
}

const tide_bundle_info *tide_bundle_reader_info(const tide_bundle_reader *r)
{
  return r->have_info ? &r->info : NULL;
}

size_t tide_bundle_reader_chunks(const tide_bundle_reader *r, int *final_seen)
{
  if (final_seen != NULL)
    *final_seen = r->final_seen;
  return r->chunks;
}

uint64_t tide_bundle_reader_bytes_verified(const tide_bundle_reader *r)
{
  return r->verified_bytes;
}

uint64_t tide_bundle_reader_bytes_plain(const tide_bundle_reader *r)
{
  return r->plain_bytes;
}

/* Records a sticky error (message printf-style, then " (byte N)") and
 * copies it out. */
static int fail(tide_bundle_reader *r, tide_error *err, int code, uint64_t off, const char *fmt,
                ...) TIDE_PRINTF(5, 6);

static int fail(tide_bundle_reader *r, tide_error *err, int code, uint64_t off, const char *fmt,
                ...)
{
  va_list ap;
  size_t n;

  r->error = code;
  tide_error_set(&r->err, code, (size_t)off, "bundle: ");
  va_start(ap, fmt);
  n = strlen(r->err.msg);
  (void)vsnprintf(r->err.msg + n, sizeof r->err.msg - n, fmt, ap);
  va_end(ap);
  n = strlen(r->err.msg);
  (void)snprintf(r->err.msg + n, sizeof r->err.msg - n, " (byte %llu)", (unsigned long long)off);
  if (err != NULL)
    *err = r->err;
  return code;
}

static int sticky(const tide_bundle_reader *r, tide_error *err)
{
  if (err != NULL)
    *err = r->err;
  return r->error;
}

/* Parses the preamble when complete: 1 parsed, 0 need more, <0 error. */
static int parse_preamble(tide_bundle_reader *r, tide_error *err)
{
  const uint8_t *p = (const uint8_t *)r->in.data;
  size_t n = r->in.len, pos;
  uint64_t created;
  uint8_t flags;
  int k;

  if (n < TIDE_BUNDLE_MAGIC_BYTES + 2) {
    if (memcmp(p, TIDE_BUNDLE_MAGIC, n < 8 ? n : 8) != 0)
      return fail(r, err, TIDE_E_BUNDLE_FORMAT, 0, "not a tide bundle (no magic)");
    return 0;
  }
  if (memcmp(p, TIDE_BUNDLE_MAGIC, TIDE_BUNDLE_MAGIC_BYTES) != 0)
    return fail(r, err, TIDE_E_BUNDLE_FORMAT, 0, "not a tide bundle (no magic)");
  if (p[8] != TIDE_BUNDLE_VERSION)
    return fail(r, err, TIDE_E_BUNDLE_VERSION, 8, "unsupported format version %u", p[8]);
  flags = p[9];
  if ((flags & ~(FLAG_RECIPIENT | FLAG_SEALED)) != 0 ||
      ((flags & FLAG_SEALED) && !(flags & FLAG_RECIPIENT)))
    return fail(r, err, TIDE_E_BUNDLE_FORMAT, 9, "bad flags");
  pos = 10;
  if (n < pos + TIDE_BUNDLE_ID_BYTES + TIDE_PK_BYTES)
    return 0;
  memcpy(r->info.id, p + pos, TIDE_BUNDLE_ID_BYTES);
  pos += TIDE_BUNDLE_ID_BYTES;
  memcpy(r->info.sender, p + pos, TIDE_PK_BYTES);
  pos += TIDE_PK_BYTES;
  r->info.has_recipient = (flags & FLAG_RECIPIENT) != 0;
  r->info.sealed = (flags & FLAG_SEALED) != 0;
  if (r->info.has_recipient) {
    if (n < pos + TIDE_PK_BYTES)
      return 0;
    memcpy(r->info.recipient, p + pos, TIDE_PK_BYTES);
    pos += TIDE_PK_BYTES;
  }
  k = tide_varint_get(&created, p + pos, n - pos);
  if (k == 0)
    return 0;
  if (k < 0)
    return fail(r, err, TIDE_E_BUNDLE_FORMAT, pos, "malformed creation time");
  pos += (size_t)k;
  r->info.created_ms = created;
  if (n < pos + 4)
    return 0;
  r->info.dict_id = (uint32_t)p[pos] | (uint32_t)p[pos + 1] << 8 | (uint32_t)p[pos + 2] << 16 |
                    (uint32_t)p[pos + 3] << 24;
  pos += 4;
  if (r->info.sealed) {
    if (n < pos + SEALED_KEY_BYTES + SS_HEADER_BYTES)
      return 0;
    if (!r->verify_only) {
      uint8_t cpk[crypto_box_PUBLICKEYBYTES], csk[crypto_box_SECRETKEYBYTES];
      uint8_t key[crypto_secretstream_xchacha20poly1305_KEYBYTES];
      int ok = r->me != NULL && memcmp(r->me->pk, r->info.recipient, TIDE_PK_BYTES) == 0 &&
               crypto_sign_ed25519_pk_to_curve25519(cpk, r->me->pk) == 0 &&
               crypto_sign_ed25519_sk_to_curve25519(csk, r->me->sk) == 0 &&
               crypto_box_seal_open(key, p + pos, SEALED_KEY_BYTES, cpk, csk) == 0 &&
               crypto_secretstream_xchacha20poly1305_init_pull(&r->ss, p + pos + SEALED_KEY_BYTES,
                                                               key) == 0;
      sodium_memzero(csk, sizeof csk);
      sodium_memzero(key, sizeof key);
      r->have_info = 1; /* the header is readable even when we cannot open it */
      r->info.version = TIDE_BUNDLE_VERSION;
      if (!ok) {
        char who[TIDE_FEED_ID_LEN + 1];
        tide_feed_id_format(who, r->info.recipient);
        return fail(r, err, TIDE_E_BUNDLE_SEALED, pos, "sealed to %s; only that key can open it",
                    who);
      }
      r->ss_ready = 1;
    }
    pos += SEALED_KEY_BYTES + SS_HEADER_BYTES;
  }
  if (!r->verify_only) {
    size_t dlen;
    uint32_t did;
    const uint8_t *dict = tide_bundle_dict(&dlen, &did);
    size_t z = ZSTD_DCtx_setParameter(r->dctx, ZSTD_d_windowLogMax, TIDE_BUNDLE_WINDOW_LOG_MAX);
    if (r->info.dict_id != 0) {
      if (dict == NULL || did != r->info.dict_id) {
        char idt[16];
        r->have_info = 1;
        snprintf(idt, sizeof idt, "%u", (unsigned)r->info.dict_id);
        return fail(r, err, TIDE_E_BUNDLE_DICT, pos - 4,
                    "compressed with dictionary %s, which this tide lacks", idt);
      }
      if (!ZSTD_isError(z))
        z = ZSTD_DCtx_loadDictionary(r->dctx, dict, dlen);
    }
    if (ZSTD_isError(z))
      return fail(r, err, TIDE_E_BUNDLE_ZSTD, 0, "zstd setup: %s", ZSTD_getErrorName(z));
  }
  r->info.version = TIDE_BUNDLE_VERSION;
  r->have_info = 1;
  chain_start(r->chain, p, pos);
  r->verified_bytes = pos;
  return (int)pos;
}

/* Verifies one complete chunk at the head of r->in: >0 bytes used, 0 need
 * more, <0 error. */
static int parse_chunk(tide_bundle_reader *r, tide_error *err)
{
  const uint8_t *p = (const uint8_t *)r->in.data;
  size_t n = r->in.len, pos = 1, plen;
  uint64_t len;
  uint64_t off = r->in_offset;
  uint8_t flags, sb[sizeof DOMAIN_CHUNK - 1 + 32], h[32];
  int k;

  if (n < 1)
    return 0;
  if (r->final_seen)
    return fail(r, err, TIDE_E_BUNDLE_FORMAT, off, "data after the final chunk");
  flags = p[0];
  if ((flags & ~CHUNK_FINAL) != 0)
    return fail(r, err, TIDE_E_BUNDLE_FORMAT, off, "bad chunk flags (damaged)");
  k = tide_varint_get(&len, p + 1, n - 1);
  if (k == 0)
    return 0;
  if (k < 0 || len > TIDE_BUNDLE_MAX_CHUNK + SS_ABYTES)
    return fail(r, err, TIDE_E_BUNDLE_FORMAT, off + 1, "bad chunk length (damaged)");
  pos += (size_t)k;
  plen = (size_t)len;
  if (n < pos + plen + TIDE_SIG_BYTES)
    return 0;
  memcpy(h, r->chain, 32);
  chain_next(h, flags, p + 1, (size_t)k, p + pos, plen);
  chunk_signed_bytes(sb, h);
  if (crypto_sign_verify_detached(p + pos + plen, sb, sizeof sb, r->info.sender) != 0) {
    char who[TIDE_FEED_ID_LEN + 1];
    tide_feed_id_format(who, r->info.sender);
    return fail(r, err, TIDE_E_BUNDLE_AUTH, off,
                "chunk %zu: signature by %s does not verify: damaged, or not signed by the sender "
                "the header names",
                r->chunks + 1, who);
  }
  memcpy(r->chain, h, 32);
  if (!r->verify_only) {
    const uint8_t *data = p + pos;
    size_t dlen = plen;
    uint8_t *clear = NULL;
    int rc;
    if (r->info.sealed) {
      unsigned char tag = 0;
      unsigned long long cl = 0;
      if (plen < SS_ABYTES)
        return fail(r, err, TIDE_E_BUNDLE_FORMAT, off, "sealed chunk too short");
      clear = malloc(plen);
      if (clear == NULL)
        return TIDE_E_NOMEM;
      if (crypto_secretstream_xchacha20poly1305_pull(&r->ss, clear, &cl, &tag, p + pos, plen, NULL,
                                                     0) != 0 ||
          ((flags & CHUNK_FINAL) != 0) !=
              (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)) {
        free(clear);
        return fail(r, err, TIDE_E_BUNDLE_SEALED, off, "sealed chunk does not decrypt");
      }
      data = clear;
      dlen = (size_t)cl;
    }
    {
      uint64_t zlen;
      int kz = tide_varint_get(&zlen, data, dlen);
      if (kz <= 0 || zlen > dlen - (size_t)kz) {
        free(clear);
        return fail(r, err, TIDE_E_BUNDLE_FORMAT, off, "malformed signed chunk payload");
      }
      /* compact the queue before appending */
      if (r->zq_pos > 0 && r->zq_pos == r->zq.len) {
        tide_buf_reset(&r->zq);
        r->zq_pos = 0;
      }
      rc = tide_buf_append(&r->zq, data + kz, (size_t)zlen);
      if (rc == 0)
        rc = tide_frame_codec_give_side(r->codec, data + kz + zlen,
                                        dlen - (size_t)kz - (size_t)zlen);
    }
    free(clear);
    if (rc != 0)
      return rc;
  }
  r->chunks++;
  if (flags & CHUNK_FINAL)
    r->final_seen = 1;
  r->verified_bytes = off + pos + plen + TIDE_SIG_BYTES;
  return (int)(pos + plen + TIDE_SIG_BYTES);
}

static void consume_in(tide_bundle_reader *r, size_t n)
{
  memmove(r->in.data, r->in.data + n, r->in.len - n);
  r->in.len -= n;
  r->in_offset += n;
}

int tide_bundle_reader_push(tide_bundle_reader *r, const uint8_t *in, size_t len, tide_error *err)
{
  int rc;

  if (r->error != 0)
    return sticky(r, err);
  if (len > 0 && (rc = tide_buf_append(&r->in, in, len)) != 0)
    return rc;
  for (;;) {
    int k = r->state == RS_PREAMBLE ? parse_preamble(r, err) : parse_chunk(r, err);
    if (k < 0)
      return k;
    if (k == 0)
      return 0;
    consume_in(r, (size_t)k);
    r->state = RS_CHUNKS;
  }
}

int tide_bundle_reader_end(tide_bundle_reader *r, tide_error *err)
{
  r->ended = 1;
  if (r->error != 0)
    return sticky(r, err);
  if (!r->have_info || r->state == RS_PREAMBLE)
    return fail(r, err, TIDE_E_BUNDLE_TRUNCATED, r->in_offset + r->in.len,
                "file ends inside the header");
  if (!r->final_seen)
    return fail(r, err, TIDE_E_BUNDLE_TRUNCATED, r->verified_bytes,
                "%s; the valid prefix ends here",
                r->in.len > 0 ? "truncated inside a chunk" : "truncated: final chunk missing");
  return 0;
}

/* Decompresses some queued data into plain.  Returns 1 when it made
 * progress, 0 when nothing is queued, <0 on error. */
static int inflate_some(tide_bundle_reader *r, tide_error *err)
{
  ZSTD_inBuffer ib;
  ZSTD_outBuffer ob;
  size_t ret;
  int rc;

  if (r->zq_pos == r->zq.len && !r->zstd_more)
    return 0;
  if (r->zstd_done)
    return fail(r, err, TIDE_E_BUNDLE_CONTENT, r->verified_bytes,
                "data after the end of the compressed stream");
  /* drop decoded bytes from plain */
  if (r->plain_pos > 0) {
    memmove(r->plain.data, r->plain.data + r->plain_pos, r->plain.len - r->plain_pos);
    r->plain.len -= r->plain_pos;
    r->plain_pos = 0;
  }
  if (r->plain.len > TIDE_FRAME_MAX_BYTES + 16)
    return fail(r, err, TIDE_E_BUNDLE_CONTENT, r->verified_bytes, "frame larger than the limit");
  rc = tide_buf_reserve(&r->plain, ZSTD_DStreamOutSize());
  if (rc != 0)
    return rc;
  ib.src = r->zq.data + r->zq_pos;
  ib.size = r->zq.len - r->zq_pos;
  ib.pos = 0;
  ob.dst = r->plain.data + r->plain.len;
  ob.size = ZSTD_DStreamOutSize();
  ob.pos = 0;
  ret = ZSTD_decompressStream(r->dctx, &ob, &ib);
  if (ZSTD_isError(ret))
    return fail(r, err, TIDE_E_BUNDLE_ZSTD, r->verified_bytes,
                "zstd: %s; the valid prefix ends here", ZSTD_getErrorName(ret));
  r->zq_pos += ib.pos;
  r->plain.len += ob.pos;
  r->plain_bytes += ob.pos;
  r->zstd_more = ob.pos == ob.size;
  if (ret == 0) {
    r->zstd_done = 1;
    r->zstd_more = 0;
  }
  if (r->zq_pos == r->zq.len) {
    tide_buf_reset(&r->zq);
    r->zq_pos = 0;
  }
  return 1;
}

int tide_bundle_reader_next(tide_bundle_reader *r, tide_frame *f, tide_error *err)
{
  tide_frame_clear(f);
  if (r->verify_only)
    return r->error != 0 ? sticky(r, err) : (r->final_seen ? TIDE_E_CLOSED : TIDE_E_AGAIN);
  for (;;) {
    size_t used = 0;
    tide_error fe;
    int rc;

    if (r->plain.len > r->plain_pos) {
      tide_error_clear(&fe);
      rc = tide_frame_decode(r->codec, f, (const uint8_t *)r->plain.data + r->plain_pos,
                             r->plain.len - r->plain_pos, &used, &fe);
      if (rc == 0) {
        r->plain_pos += used;
        return 0;
      }
      if (rc == TIDE_E_NOMEM)
        return rc;
      if (rc != TIDE_E_AGAIN)
        return fail(r, err, TIDE_E_BUNDLE_CONTENT, r->verified_bytes,
                    "bad frame in signed content: %s", fe.msg);
    }
    rc = inflate_some(r, err);
    if (rc < 0)
      return rc;
    if (rc > 0)
      continue;
    if (r->final_seen && r->error == 0) {
      if (!r->zstd_done)
        return fail(r, err, TIDE_E_BUNDLE_CONTENT, r->verified_bytes,
                    "compressed stream ends early");
      if (r->plain.len > r->plain_pos)
        return fail(r, err, TIDE_E_BUNDLE_CONTENT, r->verified_bytes,
                    "content ends inside a frame");
      return TIDE_E_CLOSED;
    }
    if (r->error != 0)
      return sticky(r, err);
    if (r->ended)
      return fail(r, err, TIDE_E_BUNDLE_TRUNCATED, r->verified_bytes,
                  "truncated; the valid prefix ends here");
    return TIDE_E_AGAIN;
  }
}
