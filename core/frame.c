/* frame.c - the binary replication frame codec (docs/frames.md). */
#include "tide/frame.h"

#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "tide/json.h"

/* Message flag bits (docs/frames.md, "MESSAGES"). */
#define MF_PREV_MASK        0x03u
#define MF_PREV_NULL        0x00u
#define MF_PREV_IMPLIED     0x01u
#define MF_PREV_EXPLICIT    0x02u
#define MF_SEQ_EXPLICIT     0x04u
#define MF_TS_DOUBLE        0x08u
#define MF_SWAPPED          0x10u
#define MF_BOX              0x20u
#define MF_REFS             0x40u
#define MF_RAW              0x80u

#define HELLO_DOMAIN        "tide-frame-hello-1"
#define HELLO_HAS_RECIPIENT 0x01u
#define HELLO_SHORT_KEYS    0x02u
#define HELLO_PROOF         0x04u
#define PROOF_DOMAIN        "tide-frame-proof-1"
#define PROOF_SIGNED_BYTES                                                                         \
  (sizeof PROOF_DOMAIN - 1 + 2 * TIDE_PK_BYTES + 2 * TIDE_FRAME_NONCE_BYTES)

/* CLOCK kind byte: bit 7 says the frame uses short keys; the rest is
 * the kind. */
#define CLOCK_SHORT_KEYS 0x80u
#define CLOCK_KIND_MASK  0x7fu

typedef struct feed_state {
  uint8_t pk[TIDE_PK_BYTES];
  uint8_t last_id[TIDE_HASH_BYTES];
  int has_id;
  int64_t last_seq;
  int64_t last_ts;
  int unresolved; /* decoder: pk holds only a short key (not in slots) */
  int from_short; /* decoder: pk was resolved from a short key */
} feed_state;

struct tide_frame_codec {
  feed_state *feeds;
  size_t n_feeds, cap_feeds;
  uint32_t *slots;   /* feed index + 1; 0 = empty */
  size_t mask;       /* slots - 1, a power of two */
  int detached;      /* random binary fields travel in the side stream */
  int texts_mode;    /* decoder: MESSAGES give canonical texts, not tide_msg */
  int refs;          /* encoder: compact references in content */
  tide_buf side_out; /* encoder: side-stream bytes not yet taken */
  tide_buf side_in;  /* decoder: side-stream bytes given, not yet used */
  size_t side_in_pos;
  tide_frame_resolver resolve; /* decoder: short keys -> keys */
  void *resolve_ctx;
};

/* ---------------------------------------------------------------- varints */

int tide_varint_put(tide_buf *out, uint64_t v)
{
  uint8_t tmp[10];
  size_t n = 0;

  do {
    uint8_t b = (uint8_t)(v & 0x7f);
    v >>= 7;
    tmp[n++] = (uint8_t)(b | (v ? 0x80 : 0));
  } while (v != 0);
  return tide_buf_append(out, tmp, n);
}

int tide_varint_get(uint64_t *v, const uint8_t *in, size_t len)
{
  uint64_t r = 0;

  for (size_t i = 0; i < 10; i++) {
    uint8_t b;
    if (i >= len)
      return 0;
    b = in[i];
    if (i == 9 && (b & 0xfe) != 0)
      return -1; /* more than 64 bits */
    r |= (uint64_t)(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (i > 0 && b == 0)
        return -1; /* non-minimal */
      *v = r;
      return (int)i + 1;
    }
  }
  return -1;
}

static uint64_t zigzag(int64_t v)
{
  return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static int64_t unzigzag(uint64_t v)
{
  return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* ----------------------------------------------------------- feed table */

static uint64_t pk_hash(const uint8_t pk[TIDE_PK_BYTES])
{
  uint64_t h;
  memcpy(&h, pk, sizeof h); /* keys are uniformly random */
  return h ^ (h >> 29);
}

tide_frame_codec *tide_frame_codec_new(void)
{
  tide_frame_codec *c = calloc(1, sizeof *c);

  if (c == NULL)
    return NULL;
  c->slots = calloc(64, sizeof *c->slots);
  if (c->slots == NULL) {
    free(c);
    return NULL;
  }
  c->mask = 63;
  return c;
}

void tide_frame_codec_free(tide_frame_codec *c)
{
  if (c == NULL)
    return;
  free(c->feeds);
  free(c->slots);
  tide_buf_free(&c->side_out);
  tide_buf_free(&c->side_in);
  free(c);
}

size_t tide_frame_codec_feeds(const tide_frame_codec *c)
{
  return c->n_feeds;
}

void tide_frame_codec_compact_refs(tide_frame_codec *c)
{
  c->refs = 1;
}

void tide_frame_codec_decode_texts(tide_frame_codec *c)
{
  c->texts_mode = 1;
}

void tide_frame_codec_use_side_stream(tide_frame_codec *c)
{
  c->detached = 1;
}

void tide_frame_codec_set_resolver(tide_frame_codec *c, tide_frame_resolver fn, void *ctx)
{
  c->resolve = fn;
  c->resolve_ctx = ctx;
}

int tide_frame_codec_take_side(tide_frame_codec *c, tide_buf *out)
{
  int rc = 0;
  if (c->side_out.len > 0)
    rc = tide_buf_append(out, c->side_out.data, c->side_out.len);
  if (rc == 0)
    tide_buf_reset(&c->side_out);
  return rc;
}

int tide_frame_codec_give_side(tide_frame_codec *c, const uint8_t *data, size_t len)
{
  if (c->side_in_pos > 0 && c->side_in_pos == c->side_in.len) {
    tide_buf_reset(&c->side_in);
    c->side_in_pos = 0;
  }
  return len > 0 ? tide_buf_append(&c->side_in, data, len) : 0;
}

/* Appends n bytes of a random binary field (key, hash, signature, box
 * bytes) to the frame, or to the side stream when the codec uses one. */
static int put_raw(tide_frame_codec *c, tide_buf *out, const void *p, size_t n)
{
  return tide_buf_append(c->detached ? &c->side_out : out, p, n);
}

/* Index of pk, or -1. */
static long feed_find(const tide_frame_codec *c, const uint8_t pk[TIDE_PK_BYTES])
{
  for (size_t i = pk_hash(pk) & c->mask;; i = (i + 1) & c->mask) {
    uint32_t s = c->slots[i];
    if (s == 0)
      return -1;
    if (memcmp(c->feeds[s - 1].pk, pk, TIDE_PK_BYTES) == 0)
      return (long)(s - 1);
  }
}

/* 1 when a key in the table starts with prefix (its first
 * TIDE_FRAME_SHORT_KEY_BYTES bytes).  pk_hash() reads only those bytes,
 * so such keys share prefix's home slot and its probe run. */
static int feed_prefix_taken(const tide_frame_codec *c, const uint8_t *prefix)
{
  for (size_t i = pk_hash(prefix) & c->mask;; i = (i + 1) & c->mask) {
    uint32_t s = c->slots[i];
    if (s == 0)
      return 0;
    if (memcmp(c->feeds[s - 1].pk, prefix, TIDE_FRAME_SHORT_KEY_BYTES) == 0)
      return 1;
  }
}

long tide_frame_codec_index(const tide_frame_codec *c, const uint8_t pk[TIDE_PK_BYTES])
{
  return feed_find(c, pk);
}

/* Puts feed k (resolved) into the slot table. */
static void slot_put(tide_frame_codec *c, size_t k)
{
  size_t i = pk_hash(c->feeds[k].pk) & c->mask;
  while (c->slots[i] != 0)
    i = (i + 1) & c->mask;
  c->slots[i] = (uint32_t)(k + 1);
}

static int slots_grow(tide_frame_codec *c)
{
  size_t ncap = (c->mask + 1) * 2;
  uint32_t *ns = calloc(ncap, sizeof *ns);

  if (ns == NULL)
    return TIDE_E_NOMEM;
  free(c->slots);
  c->slots = ns;
  c->mask = ncap - 1;
  for (size_t k = 0; k < c->n_feeds; k++)
    if (!c->feeds[k].unresolved)
      slot_put(c, k);
  return 0;
}

/* Appends pk as a new feed (caller checked it is absent); with
 * unresolved set, pk is only a short key (the rest zero) and stays out
 * of the slot table. */
static int feed_add_as(tide_frame_codec *c, const uint8_t *pk, int unresolved, size_t *index)
{
  if (c->n_feeds >= TIDE_FRAME_MAX_FEEDS)
    return TIDE_E_FRAME_LIMIT;
  if (c->n_feeds == c->cap_feeds) {
    size_t ncap = c->cap_feeds ? c->cap_feeds * 2 : 16;
    feed_state *nf = realloc(c->feeds, ncap * sizeof *nf);
    if (nf == NULL)
      return TIDE_E_NOMEM;
    c->feeds = nf;
    c->cap_feeds = ncap;
  }
  if ((c->n_feeds + 1) * 2 > c->mask + 1) {
    int rc = slots_grow(c);
    if (rc != 0)
      return rc;
  }
  memset(&c->feeds[c->n_feeds], 0, sizeof c->feeds[0]);
  memcpy(c->feeds[c->n_feeds].pk, pk, unresolved ? TIDE_FRAME_SHORT_KEY_BYTES : TIDE_PK_BYTES);
  c->feeds[c->n_feeds].unresolved = unresolved;
  if (!unresolved)
    slot_put(c, c->n_feeds);
  *index = c->n_feeds++;
  return 0;
}

static int feed_add(tide_frame_codec *c, const uint8_t pk[TIDE_PK_BYTES], size_t *index)
{
  return feed_add_as(c, pk, 0, index);
}

/* Tries to resolve unresolved feed k through the resolver: 1 when it now
 * holds a full key.  A key the table already holds (under another index)
 * does not count: the sender would have used that index, so its short
 * key names another feed. */
static int feed_resolve(tide_frame_codec *c, size_t k)
{
  feed_state *fs = &c->feeds[k];
  uint8_t key[TIDE_PK_BYTES];

  if (!fs->unresolved)
    return 1;
  if (c->resolve == NULL || c->resolve(c->resolve_ctx, key, fs->pk) != TIDE_FRAME_PREFIX_FOUND ||
      memcmp(key, fs->pk, TIDE_FRAME_SHORT_KEY_BYTES) != 0 || feed_find(c, key) >= 0)
    return 0;
  memcpy(fs->pk, key, TIDE_PK_BYTES);
  fs->unresolved = 0;
  fs->from_short = 1;
  slot_put(c, k); /* feed_add_as() kept room for every feed, resolved or not */
  return 1;
}

int tide_frame_codec_known(tide_frame_codec *c, size_t i)
{
  if (i >= c->n_feeds)
    return -1;
  return feed_resolve(c, i);
}

/* A full key arrived that the table holds as feed j, resolved from a
 * short key.  The sender would have referred to j if it meant this key,
 * so j's short key named another feed (one whose key shares its first
 * bytes, which we do not know): j becomes unresolved again and the full
 * key gets the new index.  The slot that pointed at j points at it. */
static int feed_take_over(tide_frame_codec *c, size_t j, const uint8_t pk[TIDE_PK_BYTES],
                          size_t *index)
{
  int rc = feed_add_as(c, pk, 1, index); /* kept out of the slots for now */
  size_t i;

  if (rc != 0)
    return rc;
  memcpy(c->feeds[*index].pk, pk, TIDE_PK_BYTES);
  c->feeds[*index].unresolved = 0;
  for (i = pk_hash(pk) & c->mask; c->slots[i] != j + 1; i = (i + 1) & c->mask) {
  }
  c->slots[i] = (uint32_t)(*index + 1);
  memset(c->feeds[j].pk + TIDE_FRAME_SHORT_KEY_BYTES, 0,
         TIDE_PK_BYTES - TIDE_FRAME_SHORT_KEY_BYTES);
  c->feeds[j].unresolved = 1;
  c->feeds[j].from_short = 0;
  return 0;
}

/* Writes a feed reference: 0 + key for a new feed (its short key when
 * short is set), index + 1 otherwise. */
static int put_feedref_as(tide_frame_codec *c, tide_buf *out, const uint8_t pk[TIDE_PK_BYTES],
                          int short_key, size_t *index)
{
  long i = feed_find(c, pk);
  int rc;

  if (i >= 0) {
    *index = (size_t)i;
    return tide_varint_put(out, (uint64_t)i + 1);
  }
  rc = feed_add(c, pk, index);
  if (rc != 0)
    return rc;
  rc = tide_varint_put(out, 0);
  if (rc == 0)
    rc = put_raw(c, out, pk, short_key ? TIDE_FRAME_SHORT_KEY_BYTES : TIDE_PK_BYTES);
  return rc;
}

static int put_feedref(tide_frame_codec *c, tide_buf *out, const uint8_t pk[TIDE_PK_BYTES],
                       size_t *index)
{
  return put_feedref_as(c, out, pk, 0, index);
}

/* ------------------------------------------------------------- reading */

typedef struct rd {
  const uint8_t *p;
  size_t len, pos;
  tide_error *err;
} rd;

static int rd_fail(rd *r, int code, const char *what)
{
  return tide_error_set(r->err, code, r->pos, "frame: %s at byte %zu", what, r->pos);
}

static int rd_varint(rd *r, uint64_t *v, const char *what)
{
  int n = tide_varint_get(v, r->p + r->pos, r->len - r->pos);
  if (n <= 0)
    return tide_error_set(r->err, TIDE_E_FRAME_MALFORMED, r->pos, "frame: %s: %s at byte %zu", what,
                          n == 0 ? "truncated varint" : "malformed varint", r->pos);
  r->pos += (size_t)n;
  return 0;
}

static int rd_bytes(rd *r, const uint8_t **out, size_t n, const char *what)
{
  if (r->len - r->pos < n)
    return tide_error_set(r->err, TIDE_E_FRAME_MALFORMED, r->pos,
                          "frame: %s: truncated (%zu bytes needed, %zu left) at byte %zu", what, n,
                          r->len - r->pos, r->pos);
  *out = r->p + r->pos;
  r->pos += n;
  return 0;
}

/* Reads n bytes of a random binary field from the frame, or from the side
 * stream when the codec uses one (the pointer is valid until the next
 * tide_frame_codec_give_side()). */
static int rd_raw(tide_frame_codec *c, rd *r, const uint8_t **out, size_t n, const char *what)
{
  if (!c->detached)
    return rd_bytes(r, out, n, what);
  if (c->side_in.len - c->side_in_pos < n)
    return tide_error_set(r->err, TIDE_E_FRAME_MALFORMED, r->pos,
                          "frame: %s: side stream exhausted at byte %zu", what, r->pos);
  *out = (const uint8_t *)c->side_in.data + c->side_in_pos;
  c->side_in_pos += n;
  return 0;
}

/* Reads a feed reference into *index.  With short_keys (a CLOCK with
 * short keys), a new feed is named by its short key and may stay
 * unresolved: callers check with feed_resolve(). */
static int rd_feedref_as(tide_frame_codec *c, rd *r, int short_keys, size_t *index)
{
  uint64_t v;
  const uint8_t *pk = NULL;
  int rc = rd_varint(r, &v, "feed reference");

  if (rc != 0)
    return rc;
  if (v == 0 && short_keys) {
    rc = rd_raw(c, r, &pk, TIDE_FRAME_SHORT_KEY_BYTES, "short key");
    if (rc != 0)
      return rc;
    rc = feed_add_as(c, pk, 1, index);
    if (rc == TIDE_E_FRAME_LIMIT)
      return rd_fail(r, rc, "too many feeds in one stream");
    if (rc == 0)
      (void)feed_resolve(c, *index);
    return rc;
  }
  if (v == 0) {
    long j;
    rc = rd_raw(c, r, &pk, TIDE_PK_BYTES, "feed key");
    if (rc != 0)
      return rc;
    j = feed_find(c, pk);
    if (j >= 0 && !c->feeds[j].from_short)
      return rd_fail(r, TIDE_E_FRAME_FEED, "feed key defined twice");
    rc = j >= 0 ? feed_take_over(c, (size_t)j, pk, index) : feed_add(c, pk, index);
    if (rc == TIDE_E_FRAME_LIMIT)
      return rd_fail(r, rc, "too many feeds in one stream");
    return rc;
  }
  if (v > c->n_feeds)
    return rd_fail(r, TIDE_E_FRAME_FEED, "undefined feed index");
  *index = (size_t)(v - 1);
  return 0;
}

/* A feed reference that must name a known feed (MESSAGES, REQUEST). */
static int rd_feedref(tide_frame_codec *c, rd *r, size_t *index)
{
  int rc = rd_feedref_as(c, r, 0, index);
  if (rc == 0 && !feed_resolve(c, *index))
    return rd_fail(r, TIDE_E_FRAME_FEED, "feed named by a short key that does not resolve here");
  return rc;
}

/* --------------------------------------------------------- frame basics */

void tide_frame_init(tide_frame *f)
{
  memset(f, 0, sizeof *f);
}

void tide_frame_clear(tide_frame *f)
{
  if (f == NULL)
    return;
  free(f->entries);
  free(f->requests);
  for (size_t i = 0; i < f->n_msgs; i++)
    tide_msg_free(f->msgs[i]);
  free(f->msgs);
  for (size_t i = 0; i < f->n_texts; i++)
    free(f->texts[i]);
  free(f->texts);
  free(f->text_lens);
  memset(f, 0, sizeof *f);
}

const char *tide_frame_strerror(int code)
{
  switch (code) {
  case TIDE_E_FRAME_MALFORMED: return "malformed frame";
  case TIDE_E_FRAME_TYPE: return "unknown frame type or version";
  case TIDE_E_FRAME_FEED: return "bad feed reference in frame";
  case TIDE_E_FRAME_REBUILD: return "message cannot be rebuilt from frame";
  case TIDE_E_FRAME_SIGNATURE: return "frame signature does not verify";
  case TIDE_E_FRAME_LIMIT: return "frame limit exceeded";
  default: return tide_strerror(code);
  }
}

/* A copy of the feed table taken before encoding a frame, so a frame
 * that cannot be emitted leaves the stream state as it was. */
typedef struct snapshot {
  feed_state *feeds;
  size_t n;
  size_t sig_len;
} snapshot;

static int snapshot_take(const tide_frame_codec *c, snapshot *s)
{
  s->n = c->n_feeds;
  s->sig_len = c->side_out.len;
  s->feeds = NULL;
  if (s->n == 0)
    return 0;
  s->feeds = malloc(s->n * sizeof *s->feeds);
  if (s->feeds == NULL)
    return TIDE_E_NOMEM;
  memcpy(s->feeds, c->feeds, s->n * sizeof *s->feeds);
  return 0;
}

/* Releases the snapshot; with restore set, first drops the feeds added
 * since and restores the others' state. */
static void snapshot_end(tide_frame_codec *c, snapshot *s, int restore)
{
  if (restore && c->n_feeds > s->n) {
    c->n_feeds = s->n;
    memset(c->slots, 0, (c->mask + 1) * sizeof *c->slots);
    for (size_t k = 0; k < c->n_feeds; k++)
      if (!s->feeds[k].unresolved)
        slot_put(c, k);
  }
  if (restore && s->n > 0)
    memcpy(c->feeds, s->feeds, s->n * sizeof *s->feeds);
  if (restore)
    c->side_out.len = s->sig_len;
  free(s->feeds);
  s->feeds = NULL;
}

/* Appends the length-prefixed frame whose type byte and body are in
 * body; out is left as it was on failure. */
static int finish_frame(tide_buf *out, size_t start, const tide_buf *body)
{
  int rc;

  if (body->len > TIDE_FRAME_MAX_BYTES)
    return TIDE_E_FRAME_LIMIT;
  rc = tide_varint_put(out, body->len);
  if (rc == 0)
    rc = tide_buf_append(out, body->data, body->len);
  if (rc != 0)
    out->len = start;
  return rc;
}

/* ---------------------------------------------------------------- HELLO */

static int hello_body(tide_buf *b, const tide_frame_hello *h)
{
  int rc = tide_buf_putc(b, TIDE_FRAME_HELLO);
  if (rc == 0)
    rc = tide_buf_putc(b, (char)h->version);
  if (rc == 0)
    rc = tide_buf_putc(b, (char)((h->has_recipient ? HELLO_HAS_RECIPIENT : 0) |
                                 ((h->caps & TIDE_FRAME_CAP_SHORT_KEYS) ? HELLO_SHORT_KEYS : 0) |
                                 ((h->caps & TIDE_FRAME_CAP_PROOF) ? HELLO_PROOF : 0)));
  if (rc == 0)
    rc = tide_buf_append(b, h->sender, TIDE_PK_BYTES);
  if (rc == 0 && h->has_recipient)
    rc = tide_buf_append(b, h->recipient, TIDE_PK_BYTES);
  if (rc == 0)
    rc = tide_varint_put(b, h->time_ms);
  if (rc == 0)
    rc = tide_buf_append(b, h->nonce, TIDE_FRAME_NONCE_BYTES);
  return rc;
}

/* The signed bytes: domain string followed by the body without the
 * signature (type byte included). */
static int hello_signed(tide_buf *b, const tide_frame_hello *h)
{
  int rc = tide_buf_append(b, HELLO_DOMAIN, sizeof HELLO_DOMAIN - 1);
  return rc != 0 ? rc : hello_body(b, h);
}

int tide_frame_encode_hello(tide_frame_codec *c, tide_buf *out, const tide_keypair *kp,
                            const uint8_t *recipient, uint64_t time_ms,
                            const uint8_t nonce[TIDE_FRAME_NONCE_BYTES])
{
  return tide_frame_encode_hello_caps(c, out, kp, recipient, time_ms, nonce, 0);
}

int tide_frame_encode_hello_caps(tide_frame_codec *c, tide_buf *out, const tide_keypair *kp,
                                 const uint8_t *recipient, uint64_t time_ms,
                                 const uint8_t nonce[TIDE_FRAME_NONCE_BYTES], unsigned caps)
{
  tide_frame_hello h;
  tide_buf sb = TIDE_BUF_INIT, body = TIDE_BUF_INIT;
  int rc;

  (void)c; /* HELLO does not touch the stream state */
  if ((caps & ~(TIDE_FRAME_CAP_SHORT_KEYS | TIDE_FRAME_CAP_PROOF)) != 0)
    return TIDE_E_INVAL;
  memset(&h, 0, sizeof h);
  h.caps = caps;
  h.version = TIDE_FRAME_VERSION;
  memcpy(h.sender, kp->pk, TIDE_PK_BYTES);
  h.has_recipient = recipient != NULL;
  if (recipient != NULL)
    memcpy(h.recipient, recipient, TIDE_PK_BYTES);
  h.time_ms = time_ms;
  memcpy(h.nonce, nonce, TIDE_FRAME_NONCE_BYTES);
  rc = hello_signed(&sb, &h);
  if (rc != 0)
    goto out;
  crypto_sign_detached(h.sig, NULL, (const uint8_t *)sb.data, sb.len, kp->sk);
  rc = hello_body(&body, &h);
  if (rc == 0)
    rc = tide_buf_append(&body, h.sig, TIDE_SIG_BYTES);
  if (rc == 0)
    rc = finish_frame(out, out->len, &body);
out:
  tide_buf_free(&sb);
  tide_buf_free(&body);
  return rc;
}

static int decode_hello(rd *r, tide_frame *f)
{
  tide_frame_hello *h = &f->hello;
  const uint8_t *p = NULL;
  uint8_t flags;
  uint64_t t;
  tide_buf sb = TIDE_BUF_INIT;
  int rc;

  if ((rc = rd_bytes(r, &p, 2, "hello header")) != 0)
    return rc;
  h->version = p[0];
  flags = p[1];
  if (h->version != TIDE_FRAME_VERSION)
    return rd_fail(r, TIDE_E_FRAME_TYPE, "unsupported hello version");
  if ((flags & ~(HELLO_HAS_RECIPIENT | HELLO_SHORT_KEYS | HELLO_PROOF)) != 0)
    return rd_fail(r, TIDE_E_FRAME_MALFORMED, "unknown hello flags");
  h->caps = ((flags & HELLO_SHORT_KEYS) ? TIDE_FRAME_CAP_SHORT_KEYS : 0) |
            ((flags & HELLO_PROOF) ? TIDE_FRAME_CAP_PROOF : 0);
  if ((rc = rd_bytes(r, &p, TIDE_PK_BYTES, "hello sender")) != 0)
    return rc;
  memcpy(h->sender, p, TIDE_PK_BYTES);
  h->has_recipient = (flags & HELLO_HAS_RECIPIENT) != 0;
  if (h->has_recipient) {
    if ((rc = rd_bytes(r, &p, TIDE_PK_BYTES, "hello recipient")) != 0)
      return rc;
    memcpy(h->recipient, p, TIDE_PK_BYTES);
  }
  if ((rc = rd_varint(r, &t, "hello time")) != 0)
    return rc;
  h->time_ms = t;
  if ((rc = rd_bytes(r, &p, TIDE_FRAME_NONCE_BYTES, "hello nonce")) != 0)
    return rc;
  memcpy(h->nonce, p, TIDE_FRAME_NONCE_BYTES);
  if ((rc = rd_bytes(r, &p, TIDE_SIG_BYTES, "hello signature")) != 0)
    return rc;
  memcpy(h->sig, p, TIDE_SIG_BYTES);
  rc = hello_signed(&sb, h);
  if (rc == 0 &&
      crypto_sign_verify_detached(h->sig, (const uint8_t *)sb.data, sb.len, h->sender) != 0)
    rc = rd_fail(r, TIDE_E_FRAME_SIGNATURE, "hello signature does not verify");
  tide_buf_free(&sb);
  return rc;
}

/* ---------------------------------------------------------------- PROOF */

/* The bytes a PROOF signature covers: the domain string, the signer's
 * key, the receiver's key, the receiver's HELLO nonce, the signer's
 * HELLO nonce (docs/frames.md, "PROOF"). */
static void proof_signed(uint8_t m[PROOF_SIGNED_BYTES], const uint8_t signer[TIDE_PK_BYTES],
                         const uint8_t receiver[TIDE_PK_BYTES],
                         const uint8_t receiver_nonce[TIDE_FRAME_NONCE_BYTES],
                         const uint8_t signer_nonce[TIDE_FRAME_NONCE_BYTES])
{
  size_t o = sizeof PROOF_DOMAIN - 1;
  memcpy(m, PROOF_DOMAIN, o);
  memcpy(m + o, signer, TIDE_PK_BYTES);
  o += TIDE_PK_BYTES;
  memcpy(m + o, receiver, TIDE_PK_BYTES);
  o += TIDE_PK_BYTES;
  memcpy(m + o, receiver_nonce, TIDE_FRAME_NONCE_BYTES);
  o += TIDE_FRAME_NONCE_BYTES;
  memcpy(m + o, signer_nonce, TIDE_FRAME_NONCE_BYTES);
}

int tide_frame_encode_proof(tide_frame_codec *c, tide_buf *out, const tide_keypair *kp,
                            const uint8_t peer[TIDE_PK_BYTES],
                            const uint8_t peer_nonce[TIDE_FRAME_NONCE_BYTES],
                            const uint8_t our_nonce[TIDE_FRAME_NONCE_BYTES])
{
  uint8_t m[PROOF_SIGNED_BYTES], sig[TIDE_SIG_BYTES];
  tide_buf body = TIDE_BUF_INIT;
  int rc;

  (void)c; /* PROOF does not touch the stream state */
  proof_signed(m, kp->pk, peer, peer_nonce, our_nonce);
  crypto_sign_detached(sig, NULL, m, sizeof m, kp->sk);
  rc = tide_buf_putc(&body, TIDE_FRAME_PROOF);
  if (rc == 0)
    rc = tide_buf_append(&body, sig, TIDE_SIG_BYTES);
  if (rc == 0)
    rc = finish_frame(out, out->len, &body);
  tide_buf_free(&body);
  return rc;
}

int tide_frame_proof_verify(const uint8_t sig[TIDE_SIG_BYTES], const uint8_t signer[TIDE_PK_BYTES],
                            const uint8_t receiver[TIDE_PK_BYTES],
                            const uint8_t receiver_nonce[TIDE_FRAME_NONCE_BYTES],
                            const uint8_t signer_nonce[TIDE_FRAME_NONCE_BYTES])
{
  uint8_t m[PROOF_SIGNED_BYTES];
  proof_signed(m, signer, receiver, receiver_nonce, signer_nonce);
  return crypto_sign_verify_detached(sig, m, sizeof m, signer) == 0 ? 0 : TIDE_E_FRAME_SIGNATURE;
}

static int decode_proof(rd *r, tide_frame *f)
{
  const uint8_t *p = NULL;
  int rc = rd_bytes(r, &p, TIDE_SIG_BYTES, "proof signature");
  if (rc == 0)
    memcpy(f->proof_sig, p, TIDE_SIG_BYTES);
  return rc;
}

/* ------------------------------------------------- CLOCK, NOTE, ACK, REQUEST */

static int cmp_key(const void *a, const void *b)
{
  return memcmp(*(const uint8_t *const *)a, *(const uint8_t *const *)b, TIDE_PK_BYTES);
}

/* 1 when the keys new to the stream among e[0..n) have distinct short
 * keys, none of which a key already in the stream has: then each short
 * key names one feed from the sender's side.  TIDE_E_NOMEM. */
static int short_keys_distinct(const tide_frame_codec *c, const tide_frame_entry *e, size_t n)
{
  const uint8_t **fresh = malloc((n ? n : 1) * sizeof *fresh);
  size_t m = 0;
  int ok = 1;

  if (fresh == NULL)
    return TIDE_E_NOMEM;
  for (size_t i = 0; i < n && ok; i++) {
    if (feed_find(c, e[i].feed) >= 0)
      continue;
    if (feed_prefix_taken(c, e[i].feed))
      ok = 0;
    fresh[m++] = e[i].feed;
  }
  /* sorted by key, keys sharing a short key are neighbours */
  if (ok && m > 1)
    qsort(fresh, m, sizeof *fresh, cmp_key);
  for (size_t i = 1; ok && i < m; i++)
    if (memcmp(fresh[i - 1], fresh[i], TIDE_FRAME_SHORT_KEY_BYTES) == 0 &&
        memcmp(fresh[i - 1], fresh[i], TIDE_PK_BYTES) != 0)
      ok = 0;
  free(fresh);
  return ok;
}

/* kind < 0: no kind byte (NOTE, ACK).  short_keys: a CLOCK with short
 * keys when they are unambiguous from our side. */
static int encode_entries(tide_frame_codec *c, tide_buf *out, int type, int kind, int short_keys,
                          const tide_frame_entry *e, size_t n, int64_t min, int64_t max)
{
  tide_buf body = TIDE_BUF_INIT;
  size_t idx;
  int rc;

  snapshot snap;

  for (size_t i = 0; i < n; i++)
    if (e[i].value < min || e[i].value > max)
      return TIDE_E_INVAL;
  if (short_keys) {
    short_keys = short_keys_distinct(c, e, n);
    if (short_keys < 0)
      return short_keys;
  }
  if ((rc = snapshot_take(c, &snap)) != 0)
    return rc;
  rc = tide_buf_putc(&body, (char)type);
  if (rc == 0 && kind >= 0)
    rc = tide_buf_putc(&body, (char)(kind | (short_keys ? CLOCK_SHORT_KEYS : 0)));
  if (rc == 0)
    rc = tide_varint_put(&body, n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    rc = put_feedref_as(c, &body, e[i].feed, short_keys, &idx);
    if (rc == 0)
      rc = tide_varint_put(&body, (uint64_t)(e[i].value - min));
  }
  if (rc == 0)
    rc = finish_frame(out, out->len, &body);
  snapshot_end(c, &snap, rc != 0);
  tide_buf_free(&body);
  return rc;
}

#define CLOCK_MAX (TIDE_FRAME_MAX_SEQ * 2 + 1)

int tide_frame_encode_clock(tide_frame_codec *c, tide_buf *out, tide_frame_clock_kind kind,
                            const tide_frame_entry *entries, size_t n)
{
  if (kind != TIDE_FRAME_CLOCK_SENDER && kind != TIDE_FRAME_CLOCK_BASE)
    return TIDE_E_INVAL;
  return encode_entries(c, out, TIDE_FRAME_CLOCK, (int)kind, 0, entries, n, -1, CLOCK_MAX);
}

int tide_frame_encode_clock_short(tide_frame_codec *c, tide_buf *out, tide_frame_clock_kind kind,
                                  const tide_frame_entry *entries, size_t n)
{
  if (kind != TIDE_FRAME_CLOCK_SENDER && kind != TIDE_FRAME_CLOCK_BASE)
    return TIDE_E_INVAL;
  return encode_entries(c, out, TIDE_FRAME_CLOCK, (int)kind, 1, entries, n, -1, CLOCK_MAX);
}

int tide_frame_encode_note(tide_frame_codec *c, tide_buf *out, const tide_frame_entry *entries,
                           size_t n)
{
  return encode_entries(c, out, TIDE_FRAME_NOTE, -1, 0, entries, n, -1, CLOCK_MAX);
}

int tide_frame_encode_ack(tide_frame_codec *c, tide_buf *out, const tide_frame_entry *entries,
                          size_t n)
{
  return encode_entries(c, out, TIDE_FRAME_ACK, -1, 0, entries, n, 0, TIDE_FRAME_MAX_SEQ);
}

int tide_frame_encode_request(tide_frame_codec *c, tide_buf *out, const tide_frame_request *reqs,
                              size_t n)
{
  tide_buf body = TIDE_BUF_INIT;
  size_t idx;
  int rc;

  snapshot snap;

  for (size_t i = 0; i < n; i++)
    if (reqs[i].from < 1 || reqs[i].from > TIDE_FRAME_MAX_SEQ)
      return TIDE_E_INVAL;
  if ((rc = snapshot_take(c, &snap)) != 0)
    return rc;
  rc = tide_buf_putc(&body, TIDE_FRAME_REQUEST);
  if (rc == 0)
    rc = tide_varint_put(&body, n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    rc = put_feedref(c, &body, reqs[i].feed, &idx);
    if (rc == 0)
      rc = tide_varint_put(&body, (uint64_t)reqs[i].from);
    if (rc == 0)
      rc = tide_varint_put(&body, reqs[i].limit);
  }
  if (rc == 0)
    rc = finish_frame(out, out->len, &body);
  snapshot_end(c, &snap, rc != 0);
  tide_buf_free(&body);
  return rc;
}

/* Reads a count and checks that at least min_each bytes per item remain,
 * which bounds the allocation by the frame size. */
static int rd_count(rd *r, size_t *n, size_t min_each)
{
  uint64_t v;
  int rc = rd_varint(r, &v, "count");

  if (rc != 0)
    return rc;
  if (v > (r->len - r->pos) / min_each)
    return rd_fail(r, TIDE_E_FRAME_MALFORMED, "count larger than the frame");
  *n = (size_t)v;
  return 0;
}

/* Entries of a CLOCK, NOTE or ACK; those whose feed is an unresolved
 * short key are left out (counted in f->n_unresolved). */
static int decode_entries(tide_frame_codec *c, rd *r, tide_frame *f, int short_keys, int64_t min,
                          int64_t max)
{
  size_t n = 0, idx = 0;
  uint64_t v;
  int rc = rd_count(r, &n, 2);

  if (rc != 0)
    return rc;
  if (n > 0 && (f->entries = calloc(n, sizeof *f->entries)) == NULL)
    return TIDE_E_NOMEM;
  for (size_t i = 0; i < n; i++) {
    if ((rc = rd_feedref_as(c, r, short_keys, &idx)) != 0)
      return rc;
    if ((rc = rd_varint(r, &v, "clock value")) != 0)
      return rc;
    if (v > (uint64_t)(max - min))
      return rd_fail(r, TIDE_E_FRAME_LIMIT, "clock value out of range");
    if (!feed_resolve(c, idx)) {
      f->n_unresolved++;
      continue;
    }
    memcpy(f->entries[f->n_entries].feed, c->feeds[idx].pk, TIDE_PK_BYTES);
    f->entries[f->n_entries++].value = (int64_t)v + min;
  }
  return 0;
}

static int decode_request(tide_frame_codec *c, rd *r, tide_frame *f)
{
  size_t n = 0, idx = 0;
  uint64_t from, limit;
  int rc = rd_count(r, &n, 3);

  if (rc != 0)
    return rc;
  if (n > 0 && (f->requests = calloc(n, sizeof *f->requests)) == NULL)
    return TIDE_E_NOMEM;
  for (size_t i = 0; i < n; i++) {
    if ((rc = rd_feedref(c, r, &idx)) != 0 || (rc = rd_varint(r, &from, "from")) != 0 ||
        (rc = rd_varint(r, &limit, "limit")) != 0)
      return rc;
    if (from < 1 || from > (uint64_t)TIDE_FRAME_MAX_SEQ)
      return rd_fail(r, TIDE_E_FRAME_LIMIT, "request sequence out of range");
    memcpy(f->requests[i].feed, c->feeds[idx].pk, TIDE_PK_BYTES);
    f->requests[i].from = (int64_t)from;
    f->requests[i].limit = limit;
    f->n_requests = i + 1;
  }
  return 0;
}

/* ------------------------------------------------------------- MESSAGES */

/* The structured fields of one message. */
typedef struct msg_fields {
  int swapped;
  int prev_null;
  uint8_t prev[TIDE_HASH_BYTES];
  uint8_t author[TIDE_PK_BYTES];
  int64_t seq;
  double ts;
  int box;             /* content is "<base64>.box" */
  const char *content; /* compact JSON text, or the raw box bytes */
  size_t content_len;
  uint8_t sig[TIDE_SIG_BYTES];
} msg_fields;

static int put_quoted_b64(tide_buf *b, char sigil, const uint8_t *bin, size_t n, const char *suffix)
{
  int rc = tide_buf_putc(b, '"');
  if (rc == 0 && sigil)
    rc = tide_buf_putc(b, sigil);
  if (rc == 0)
    rc = tide_b64_encode(b, bin, n);
  if (rc == 0)
    rc = tide_buf_puts(b, suffix);
  if (rc == 0)
    rc = tide_buf_putc(b, '"');
  return rc;
}

/* Appends the content, pretty-printed at nesting level 1. */
/* Writes compact JSON text re-indented as JSON.stringify(v, null, 2)
 * prints it at nesting level 1: a purely textual transform that is exact
 * for canonical compact text (what encoders send).  Text that is not
 * canonical JSON comes out as some other text, which the message parser
 * then rejects or whose id does not chain: never a wrong message. */
static int reindent(tide_buf *b, const char *s, size_t n)
{
  size_t level = 1;
  int rc = 0;

  for (size_t i = 0; i < n && rc == 0; i++) {
    char ch = s[i];
    if (ch == '"') {
      size_t j = i + 1;
      while (j < n && s[j] != '"')
        j += s[j] == '\\' ? 2 : 1;
      if (j >= n)
        j = n - 1;
      rc = tide_buf_append(b, s + i, j + 1 - i);
      i = j;
    } else if (ch == '{' || ch == '[') {
      if (i + 1 < n && s[i + 1] == (ch == '{' ? '}' : ']')) {
        rc = tide_buf_append(b, s + i, 2);
        i++;
        continue;
      }
      level++;
      rc = tide_buf_putc(b, ch);
      if (rc == 0)
        rc = tide_buf_putc(b, '\n');
      for (size_t k = 0; rc == 0 && k < level; k++)
        rc = tide_buf_append(b, "  ", 2);
    } else if (ch == '}' || ch == ']') {
      if (level > 0)
        level--;
      rc = tide_buf_putc(b, '\n');
      for (size_t k = 0; rc == 0 && k < level; k++)
        rc = tide_buf_append(b, "  ", 2);
      if (rc == 0)
        rc = tide_buf_putc(b, ch);
    } else if (ch == ',') {
      rc = tide_buf_append(b, ",\n", 2);
      for (size_t k = 0; rc == 0 && k < level; k++)
        rc = tide_buf_append(b, "  ", 2);
    } else if (ch == ':') {
      rc = tide_buf_append(b, ": ", 2);
    } else {
      rc = tide_buf_putc(b, ch);
    }
  }
  return rc;
}

static int put_content(tide_buf *b, const msg_fields *m, int fast, tide_error *err)
{
  tide_json_doc *doc = NULL;
  tide_buf tmp = TIDE_BUF_INIT;
  int rc;

  if (m->box) {
    rc = tide_buf_putc(b, '"');
    if (rc == 0)
      rc = tide_b64_encode(b, (const uint8_t *)m->content, m->content_len);
    if (rc == 0)
      rc = tide_buf_puts(b, ".box\"");
    return rc;
  }
  if (fast)
    return reindent(b, m->content, m->content_len);
  rc = tide_json_parse(&doc, m->content, m->content_len, NULL, err);
  if (rc != 0) {
    rc = rc == TIDE_E_NOMEM ? rc : TIDE_E_FRAME_REBUILD;
    goto out;
  }
  rc = tide_json_write(&tmp, tide_json_root(doc), TIDE_JSON_PRETTY);
  if (rc != 0)
    goto out;
  /* Newlines only occur between tokens (strings escape them): indent
   * every line after the first by one more level. */
  for (size_t i = 0; i < tmp.len && rc == 0; i++) {
    rc = tide_buf_putc(b, tmp.data[i]);
    if (rc == 0 && tmp.data[i] == '\n')
      rc = tide_buf_append(b, "  ", 2);
  }
out:
  tide_buf_free(&tmp);
  tide_json_doc_free(doc);
  return rc;
}

/* Writes the canonical text JSON.stringify(msg, null, 2) of m. */
static int rebuild_text(tide_buf *b, const msg_fields *m, int fast, tide_error *err)
{
  char num[TIDE_JSON_NUMBER_BYTES];
  int rc = tide_buf_puts(b, "{\n  \"previous\": ");

  if (rc == 0)
    rc = m->prev_null ? tide_buf_puts(b, "null")
                      : put_quoted_b64(b, '%', m->prev, TIDE_HASH_BYTES, ".sha256");
  for (int k = 0; k < 2 && rc == 0; k++) {
    if ((k == 0) != (m->swapped != 0)) {
      rc = tide_buf_puts(b, ",\n  \"author\": ");
      if (rc == 0)
        rc = put_quoted_b64(b, '@', m->author, TIDE_PK_BYTES, ".ed25519");
    } else {
      rc = tide_buf_printf(b, ",\n  \"sequence\": %lld", (long long)m->seq);
    }
  }
  if (rc == 0) {
    (void)tide_json_format_number(num, m->ts);
    rc = tide_buf_printf(b,
                         ",\n  \"timestamp\": %s,\n  \"hash\": \"sha256\",\n  \"content\": ", num);
  }
  if (rc == 0)
    rc = put_content(b, m, fast, err);
  if (rc == 0)
    rc = tide_buf_puts(b, ",\n  \"signature\": ");
  if (rc == 0)
    rc = put_quoted_b64(b, 0, m->sig, TIDE_SIG_BYTES, ".sig.ed25519");
  if (rc == 0)
    rc = tide_buf_puts(b, "\n}");
  return rc;
}

static int key_is(const tide_json *v, size_t i, const char *name)
{
  size_t len;
  const char *k = tide_json_object_key(v, i, &len);
  return k != NULL && len == strlen(name) && memcmp(k, name, len) == 0;
}

static int str_is(const tide_json *v, const char *s)
{
  size_t len;
  const char *p = tide_json_string(v, &len);
  return p != NULL && len == strlen(s) && memcmp(p, s, len) == 0;
}

/* Decodes "<canonical base64>" + suffix into a malloc'd block. */
/* Decodes "<canonical base64>" + suffix into a malloc'd block: 0, 1 when
 * s has not that form, or TIDE_E_NOMEM. */
static int b64_with_suffix(uint8_t **out, size_t *out_len, const char *s, size_t len,
                           const char *suffix)
{
  size_t sl = strlen(suffix), bl, n;
  uint8_t *bin;

  if (len < sl || memcmp(s + len - sl, suffix, sl) != 0)
    return 1;
  bl = len - sl;
  if (bl % 4 != 0)
    return 1;
  n = bl / 4 * 3;
  if (bl > 0 && s[bl - 1] == '=')
    n--;
  if (bl > 1 && s[bl - 2] == '=')
    n--;
  bin = malloc(n ? n : 1);
  if (bin == NULL)
    return TIDE_E_NOMEM;
  if (tide_b64_decode_exact(bin, n, s, bl) != 0) {
    free(bin);
    return 1;
  }
  *out = bin;
  *out_len = n;
  return 0;
}

/* Extracts the structured fields of m; returns 1 when m has the classic
 * shape the structured form covers, 0 when it must travel raw, or a
 * negative error.  *box_bin / *json_text receive allocations that the
 * caller frees. */
static int extract(msg_fields *f, const tide_msg *m, uint8_t **box_bin, tide_buf *json_text)
{
  const tide_json *v = tide_msg_value(m), *x;
  size_t len;
  const char *s;
  int rc;

  memset(f, 0, sizeof *f);
  if (tide_json_typeof(v) != TIDE_JSON_OBJECT || tide_json_length(v) != 7)
    return 0;
  if (!key_is(v, 0, "previous") || !key_is(v, 3, "timestamp") || !key_is(v, 4, "hash") ||
      !key_is(v, 5, "content") || !key_is(v, 6, "signature"))
    return 0;
  if (key_is(v, 1, "author") && key_is(v, 2, "sequence"))
    f->swapped = 0;
  else if (key_is(v, 1, "sequence") && key_is(v, 2, "author"))
    f->swapped = 1;
  else
    return 0;
  x = tide_json_object_value(v, 0);
  if (tide_json_typeof(x) == TIDE_JSON_NULL) {
    f->prev_null = 1;
  } else {
    s = tide_json_string(x, &len);
    if (s == NULL || tide_msg_id_parse(f->prev, s, len) != 0)
      return 0;
  }
  if (!tide_msg_author(m, f->author))
    return 0;
  f->seq = tide_msg_sequence(m);
  if (f->seq <= 0)
    return 0;
  x = tide_json_object_value(v, 3);
  if (tide_json_typeof(x) != TIDE_JSON_NUMBER)
    return 0;
  f->ts = tide_json_number(x);
  if (!str_is(tide_json_object_value(v, 4), "sha256"))
    return 0;
  s = tide_json_string(tide_json_object_value(v, 6), &len);
  if (s == NULL || len != 88 + 12 || memcmp(s + 88, ".sig.ed25519", 12) != 0 ||
      tide_b64_decode_exact(f->sig, TIDE_SIG_BYTES, s, 88) != 0)
    return 0;
  x = tide_json_object_value(v, 5);
  s = tide_json_string(x, &len);
  if (s != NULL) {
    rc = b64_with_suffix(box_bin, &f->content_len, s, len, ".box");
    if (rc == TIDE_E_NOMEM)
      return rc;
    if (rc == 0) {
      f->box = 1;
      f->content = (const char *)*box_bin;
      return 1;
    }
  }
  rc = tide_json_write(json_text, x, TIDE_JSON_COMPACT);
  if (rc != 0)
    return rc;
  f->content = json_text->data;
  f->content_len = json_text->len;
  return 1;
}

/* Reference compaction: in compact JSON no raw byte below 0x20 can occur,
 * so the bytes 1, 2, 3 stand for a whole string token "%<b64>.sha256",
 * "@<b64>.ed25519", "&<b64>.sha256" whose 32 bytes travel as a raw field
 * (docs/frames.md).  Writes json with such tokens replaced into out and
 * their bytes into refs; returns how many were replaced. */
static const struct {
  char sigil;
  const char *suffix;
} ref_kinds[3] = {{'%', ".sha256"}, {'@', ".ed25519"}, {'&', ".sha256"}};

static int compact_refs(tide_buf *out, tide_buf *refs, size_t *count, const char *json, size_t len)
{
  size_t i = 0;
  int rc = 0;

  *count = 0;
  while (i < len && rc == 0) {
    if (json[i] != '"') {
      rc = tide_buf_putc(out, json[i++]);
      continue;
    }
    /* a string token: find its end */
    size_t j = i + 1;
    while (j < len && json[j] != '"')
      j += json[j] == '\\' ? 2 : 1;
    if (j >= len) {
      rc = tide_buf_append(out, json + i, len - i);
      break;
    }
    {
      const char *t = json + i + 1;
      size_t tl = j - i - 1;
      int kind = -1;
      uint8_t bin[32];
      for (int k = 0; k < 3 && kind < 0; k++) {
        size_t sl = strlen(ref_kinds[k].suffix);
        if (tl == 1 + 44 + sl && t[0] == ref_kinds[k].sigil &&
            memcmp(t + 45, ref_kinds[k].suffix, sl) == 0 &&
            tide_b64_decode_exact(bin, 32, t + 1, 44) == 0)
          kind = k;
      }
      if (kind >= 0) {
        rc = tide_buf_putc(out, (char)(kind + 1));
        if (rc == 0)
          rc = tide_buf_append(refs, bin, 32);
        (*count)++;
      } else {
        rc = tide_buf_append(out, json + i, j + 1 - i);
      }
    }
    i = j + 1;
  }
  return rc;
}

/* Expands the markers of compacted content, reading each reference's 32
 * bytes with rd_raw(). */
static int expand_refs(tide_frame_codec *c, rd *r, tide_buf *out, const char *in, size_t len)
{
  int rc = 0;

  for (size_t i = 0; i < len && rc == 0; i++) {
    unsigned char ch = (unsigned char)in[i];
    const uint8_t *p = NULL;
    if (ch < 1 || ch > 3) {
      rc = tide_buf_putc(out, (char)ch);
      continue;
    }
    rc = rd_raw(c, r, &p, 32, "reference");
    if (rc != 0)
      return rc;
    rc = tide_buf_putc(out, '"');
    if (rc == 0)
      rc = tide_buf_putc(out, ref_kinds[ch - 1].sigil);
    if (rc == 0)
      rc = tide_b64_encode(out, p, 32);
    if (rc == 0)
      rc = tide_buf_puts(out, ref_kinds[ch - 1].suffix);
    if (rc == 0)
      rc = tide_buf_putc(out, '"');
  }
  return rc;
}

/* Length of the JSON object or array at p[0..n) (compact JSON, possibly
 * with reference markers), found by matching brackets outside strings;
 * 0 when p does not start with '{' or '[' or the value does not end. */
static size_t json_extent(const uint8_t *p, size_t n)
{
  size_t depth = 0;

  if (n == 0 || (p[0] != '{' && p[0] != '['))
    return 0;
  for (size_t i = 0; i < n; i++) {
    switch (p[i]) {
    case '"':
      for (i++; i < n && p[i] != '"'; i++)
        if (p[i] == '\\')
          i++;
      if (i >= n)
        return 0;
      break;
    case '{':
    case '[': depth++; break;
    case '}':
    case ']':
      if (--depth == 0)
        return i + 1;
      break;
    default: break;
    }
  }
  return 0;
}

static int ts_is_int(double ts)
{
  return isfinite(ts) && ts == floor(ts) && fabs(ts) <= 9007199254740992.0;
}

/* The state update after a message (both sides run exactly this). */
static void feed_advance(feed_state *fs, const tide_msg *m)
{
  double ts = tide_msg_timestamp(m);

  memcpy(fs->last_id, tide_msg_id(m), TIDE_HASH_BYTES);
  fs->has_id = 1;
  fs->last_seq = tide_msg_sequence(m);
  if (ts_is_int(ts))
    fs->last_ts = (int64_t)ts;
}

/* The same update from the fields of a rebuilt canonical text. */
static int feed_advance_text(feed_state *fs, const char *text, size_t len, int64_t seq, double ts)
{
  tide_buf l1 = TIDE_BUF_INIT;
  int rc = tide_json_latin1(&l1, text, len);

  if (rc != 0)
    return rc;
  crypto_hash_sha256(fs->last_id, (const uint8_t *)l1.data, l1.len);
  tide_buf_free(&l1);
  fs->has_id = 1;
  fs->last_seq = seq;
  if (ts_is_int(ts))
    fs->last_ts = (int64_t)ts;
  return 0;
}

static int encode_one(tide_frame_codec *c, tide_buf *body, const tide_msg *m, tide_error *err)
{
  msg_fields f;
  uint8_t *box_bin = NULL;
  tide_buf json_text = TIDE_BUF_INIT, check = TIDE_BUF_INIT, refs = TIDE_BUF_INIT;
  uint8_t pk[TIDE_PK_BYTES], flags = 0;
  size_t idx, flag_pos, tlen;
  const char *text;
  feed_state *fs;
  int rc, structured;

  if (!tide_msg_author(m, pk)) {
    rc = tide_error_set(err, TIDE_E_INVAL, 0, "frame: message has no valid author");
    goto out;
  }
  rc = tide_buf_putc(body, 0); /* flags, patched below */
  if (rc != 0)
    goto out;
  flag_pos = body->len - 1;
  rc = put_feedref(c, body, pk, &idx);
  if (rc != 0)
    goto out;
  fs = &c->feeds[idx];
  structured = extract(&f, m, &box_bin, &json_text);
  if (structured < 0) {
    rc = structured;
    goto out;
  }
  if (structured) {
    /* Only send the structured form when it rebuilds to the same text. */
    text = tide_msg_text(m, &tlen);
    rc = rebuild_text(&check, &f, 0, NULL);
    if (rc == TIDE_E_NOMEM)
      goto out;
    structured = rc == 0 && check.len == tlen && memcmp(check.data, text, tlen) == 0;
  }
  if (!structured) {
    tide_buf_reset(&json_text);
    rc = tide_json_write(&json_text, tide_msg_value(m), TIDE_JSON_COMPACT);
    if (rc == 0)
      rc = tide_varint_put(body, json_text.len);
    if (rc == 0)
      rc = tide_buf_append(body, json_text.data, json_text.len);
    if (rc != 0)
      goto out;
    body->data[flag_pos] = (char)MF_RAW;
    feed_advance(fs, m);
    goto out;
  }
  if (f.prev_null)
    flags |= MF_PREV_NULL;
  else if (fs->has_id && memcmp(fs->last_id, f.prev, TIDE_HASH_BYTES) == 0)
    flags |= MF_PREV_IMPLIED;
  else
    flags |= MF_PREV_EXPLICIT;
  if (f.seq != fs->last_seq + 1) {
    flags |= MF_SEQ_EXPLICIT;
    rc = tide_varint_put(body, (uint64_t)f.seq);
  }
  if (rc == 0 && (flags & MF_PREV_MASK) == MF_PREV_EXPLICIT)
    rc = put_raw(c, body, f.prev, TIDE_HASH_BYTES);
  if (rc == 0 && ts_is_int(f.ts)) {
    rc = tide_varint_put(body, zigzag((int64_t)f.ts - fs->last_ts));
  } else if (rc == 0) {
    uint64_t bits;
    uint8_t le[8];
    flags |= MF_TS_DOUBLE;
    memcpy(&bits, &f.ts, sizeof bits);
    for (int i = 0; i < 8; i++)
      le[i] = (uint8_t)(bits >> (8 * i));
    rc = tide_buf_append(body, le, 8);
  }
  if (f.swapped)
    flags |= MF_SWAPPED;
  if (f.box)
    flags |= MF_BOX;
  if (rc == 0 && f.box) {
    rc = tide_varint_put(body, f.content_len);
    if (rc == 0)
      rc = put_raw(c, body, f.content, f.content_len);
  } else if (rc == 0) {
    const char *ct = f.content;
    size_t cl = f.content_len, nrefs = 0;
    if (c->refs) {
      /* references out of the JSON text, as raw fields */
      tide_buf_reset(&check);
      rc = compact_refs(&check, &refs, &nrefs, f.content, f.content_len);
      if (rc == 0 && nrefs > 0) {
        flags |= MF_REFS;
        ct = check.data;
        cl = check.len;
      }
    }
    /* an object or array delimits itself: length 0 says "scan for the
     * end" and saves the length */
    if (rc == 0)
      rc = tide_varint_put(body, cl > 0 && (ct[0] == '{' || ct[0] == '[') ? 0 : cl);
    if (rc == 0)
      rc = tide_buf_append(body, ct, cl);
    if (rc == 0 && nrefs > 0)
      rc = put_raw(c, body, refs.data, refs.len);
  }
  if (rc == 0)
    rc = put_raw(c, body, f.sig, TIDE_SIG_BYTES);
  if (rc != 0)
    goto out;
  body->data[flag_pos] = (char)flags;
  feed_advance(fs, m);
out:
  free(box_bin);
  tide_buf_free(&json_text);
  tide_buf_free(&check);
  tide_buf_free(&refs);
  return rc;
}

int tide_frame_encode_messages(tide_frame_codec *c, tide_buf *out, tide_msg *const *msgs, size_t n,
                               tide_error *err)
{
  tide_buf body = TIDE_BUF_INIT;
  snapshot snap;
  int rc = snapshot_take(c, &snap);

  if (rc != 0)
    return rc;
  rc = tide_buf_putc(&body, TIDE_FRAME_MESSAGES);
  if (rc == 0)
    rc = tide_varint_put(&body, n);
  for (size_t i = 0; rc == 0 && i < n; i++)
    rc = encode_one(c, &body, msgs[i], err);
  if (rc == 0)
    rc = finish_frame(out, out->len, &body);
  snapshot_end(c, &snap, rc != 0);
  tide_buf_free(&body);
  return rc;
}

/* Decodes one message: a parsed message into *out, or in texts mode its
 * canonical text into *out_text / *out_len (malloc'd). */
static int decode_one(tide_frame_codec *c, rd *r, tide_msg **out, char **out_text, size_t *out_len)
{
  msg_fields f;
  uint8_t flags;
  const uint8_t *p = NULL;
  uint64_t v;
  size_t idx, start = r->pos;
  feed_state *fs;
  tide_buf text = TIDE_BUF_INIT, expanded = TIDE_BUF_INIT;
  tide_msg *m = NULL;
  int rc;

  memset(&f, 0, sizeof f);
  if ((rc = rd_bytes(r, &p, 1, "message flags")) != 0)
    return rc;
  flags = p[0];
  if ((rc = rd_feedref(c, r, &idx)) != 0)
    return rc;
  fs = &c->feeds[idx];
  if (flags & MF_RAW) {
    if (flags != MF_RAW)
      return rd_fail(r, TIDE_E_FRAME_MALFORMED, "raw message with other flags");
    if ((rc = rd_varint(r, &v, "raw message length")) != 0)
      return rc;
    if (v > r->len - r->pos)
      return rd_fail(r, TIDE_E_FRAME_MALFORMED, "raw message longer than the frame");
    rc = tide_msg_parse(&m, (const char *)r->p + r->pos, (size_t)v, r->err);
    if (rc != 0) {
      if (rc != TIDE_E_NOMEM)
        rc = tide_error_set(r->err, TIDE_E_FRAME_REBUILD, start,
                            "frame: raw message at byte %zu is not a JSON object", start);
      return rc;
    }
    r->pos += (size_t)v;
    if (c->texts_mode) {
      size_t tl;
      const char *t = tide_msg_text(m, &tl);
      *out_text = malloc(tl + 1);
      if (*out_text == NULL) {
        tide_msg_free(m);
        return TIDE_E_NOMEM;
      }
      memcpy(*out_text, t, tl);
      (*out_text)[tl] = '\0';
      *out_len = tl;
      feed_advance(fs, m);
      tide_msg_free(m);
      return 0;
    }
    goto done;
  }
  if ((flags & MF_REFS) && (flags & MF_BOX))
    return rd_fail(r, TIDE_E_FRAME_MALFORMED, "references in box content");
  memcpy(f.author, fs->pk, TIDE_PK_BYTES);
  f.swapped = (flags & MF_SWAPPED) != 0;
  f.box = (flags & MF_BOX) != 0;
  if (flags & MF_SEQ_EXPLICIT) {
    if ((rc = rd_varint(r, &v, "sequence")) != 0)
      return rc;
    if (v < 1 || v > (uint64_t)TIDE_FRAME_MAX_SEQ)
      return rd_fail(r, TIDE_E_FRAME_MALFORMED, "sequence out of range");
    f.seq = (int64_t)v;
  } else {
    if (fs->last_seq < 0 || fs->last_seq >= TIDE_FRAME_MAX_SEQ)
      return rd_fail(r, TIDE_E_FRAME_MALFORMED, "implied sequence out of range");
    f.seq = fs->last_seq + 1;
  }
  switch (flags & MF_PREV_MASK) {
  case MF_PREV_NULL: f.prev_null = 1; break;
  case MF_PREV_IMPLIED:
    if (!fs->has_id)
      return rd_fail(r, TIDE_E_FRAME_MALFORMED, "implied previous without a prior message");
    memcpy(f.prev, fs->last_id, TIDE_HASH_BYTES);
    break;
  case MF_PREV_EXPLICIT:
    if ((rc = rd_raw(c, r, &p, TIDE_HASH_BYTES, "previous")) != 0)
      return rc;
    memcpy(f.prev, p, TIDE_HASH_BYTES);
    break;
  default: return rd_fail(r, TIDE_E_FRAME_MALFORMED, "bad previous mode");
  }
  if (flags & MF_TS_DOUBLE) {
    uint64_t bits = 0;
    if ((rc = rd_bytes(r, &p, 8, "timestamp")) != 0)
      return rc;
    for (int i = 0; i < 8; i++)
      bits |= (uint64_t)p[i] << (8 * i);
    memcpy(&f.ts, &bits, sizeof bits);
  } else {
    int64_t d;
    if ((rc = rd_varint(r, &v, "timestamp")) != 0)
      return rc;
    d = unzigzag(v);
    if (d > (int64_t)1 << 54 || d < -((int64_t)1 << 54))
      return rd_fail(r, TIDE_E_FRAME_MALFORMED, "timestamp delta out of range");
    f.ts = (double)(fs->last_ts + d);
  }
  if ((rc = rd_varint(r, &v, "content length")) != 0)
    return rc;
  if (v > TIDE_FRAME_MAX_BYTES)
    return rd_fail(r, TIDE_E_FRAME_MALFORMED, "content longer than a frame");
  if (f.box) {
    if ((rc = rd_raw(c, r, &p, (size_t)v, "box content")) != 0)
      return rc;
    f.content = (const char *)p;
  } else {
    if (v == 0) {
      v = json_extent(r->p + r->pos, r->len - r->pos);
      if (v == 0)
        return rd_fail(r, TIDE_E_FRAME_MALFORMED, "self-delimited content does not end");
    }
    if (v > r->len - r->pos)
      return rd_fail(r, TIDE_E_FRAME_MALFORMED, "content longer than the frame");
    f.content = (const char *)r->p + r->pos;
    r->pos += (size_t)v;
  }
  f.content_len = (size_t)v;
  if (flags & MF_REFS) {
    rc = expand_refs(c, r, &expanded, f.content, f.content_len);
    if (rc != 0) {
      tide_buf_free(&expanded);
      return rc;
    }
    f.content = expanded.data;
    f.content_len = expanded.len;
  }
  if ((rc = rd_raw(c, r, &p, TIDE_SIG_BYTES, "signature")) != 0) {
    tide_buf_free(&expanded);
    return rc;
  }
  memcpy(f.sig, p, TIDE_SIG_BYTES);
  /* texts mode leaves the parsing to the ingest workers */
  rc = rebuild_text(&text, &f, c->texts_mode, NULL);
  tide_buf_free(&expanded);
  if (rc == 0 && c->texts_mode) {
    /* the ingest pipeline parses it (in parallel); the id for the chain
     * is the sha256 of the canonical text's latin1 bytes */
    rc = feed_advance_text(fs, text.data, text.len, f.seq, f.ts);
    if (rc == 0) {
      *out_text = tide_buf_steal(&text, out_len);
      if (*out_text == NULL)
        rc = TIDE_E_NOMEM;
    }
    tide_buf_free(&text);
    return rc;
  }
  if (rc == 0)
    rc = tide_msg_parse(&m, text.data, text.len, NULL);
  tide_buf_free(&text);
  if (rc != 0) {
    if (rc != TIDE_E_NOMEM)
      rc = tide_error_set(r->err, TIDE_E_FRAME_REBUILD, start,
                          "frame: message at byte %zu has content that is not JSON", start);
    return rc;
  }
done:
  feed_advance(fs, m);
  *out = m;
  return 0;
}

static int decode_messages(tide_frame_codec *c, rd *r, tide_frame *f)
{
  size_t n = 0;
  int rc = rd_count(r, &n, 2);

  if (rc != 0)
    return rc;
  if (c->texts_mode) {
    if (n > 0 && ((f->texts = calloc(n, sizeof *f->texts)) == NULL ||
                  (f->text_lens = calloc(n, sizeof *f->text_lens)) == NULL))
      return TIDE_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
      rc = decode_one(c, r, NULL, &f->texts[i], &f->text_lens[i]);
      if (rc != 0)
        return rc;
      f->n_texts = i + 1;
    }
    return 0;
  }
  if (n > 0 && (f->msgs = calloc(n, sizeof *f->msgs)) == NULL)
    return TIDE_E_NOMEM;
  for (size_t i = 0; i < n; i++) {
    rc = decode_one(c, r, &f->msgs[i], NULL, NULL);
    if (rc != 0)
      return rc;
    f->n_msgs = i + 1;
  }
  return 0;
}

/* ------------------------------------------------------------- decoding */

int tide_frame_decode(tide_frame_codec *c, tide_frame *f, const uint8_t *in, size_t len,
                      size_t *consumed, tide_error *err)
{
  uint64_t blen;
  int n, rc;
  rd r;

  tide_frame_clear(f);
  *consumed = 0;
  n = tide_varint_get(&blen, in, len);
  if (n == 0)
    return TIDE_E_AGAIN;
  if (n < 0)
    return tide_error_set(err, TIDE_E_FRAME_MALFORMED, 0, "frame: malformed length");
  if (blen == 0)
    return tide_error_set(err, TIDE_E_FRAME_MALFORMED, 0, "frame: empty frame");
  if (blen > TIDE_FRAME_MAX_BYTES)
    return tide_error_set(err, TIDE_E_FRAME_LIMIT, 0, "frame: %llu bytes exceeds the limit",
                          (unsigned long long)blen);
  if (len - (size_t)n < blen)
    return TIDE_E_AGAIN;
  r.p = in + n;
  r.len = (size_t)blen;
  r.pos = 1;
  r.err = err;
  f->type = (tide_frame_type)r.p[0];
  switch (r.p[0]) {
  case TIDE_FRAME_HELLO: rc = decode_hello(&r, f); break;
  case TIDE_FRAME_PROOF: rc = decode_proof(&r, f); break;
  case TIDE_FRAME_CLOCK:
    if (r.len < 2) {
      rc = rd_fail(&r, TIDE_E_FRAME_MALFORMED, "clock kind missing");
      break;
    }
    if ((r.p[1] & CLOCK_KIND_MASK) > TIDE_FRAME_CLOCK_BASE) {
      rc = rd_fail(&r, TIDE_E_FRAME_TYPE, "unknown clock kind");
      break;
    }
    f->clock_kind = (tide_frame_clock_kind)(r.p[1] & CLOCK_KIND_MASK);
    f->short_keys = (r.p[1] & CLOCK_SHORT_KEYS) != 0;
    r.pos = 2;
    rc = decode_entries(c, &r, f, f->short_keys, -1, CLOCK_MAX);
    break;
  case TIDE_FRAME_NOTE: rc = decode_entries(c, &r, f, 0, -1, CLOCK_MAX); break;
  case TIDE_FRAME_ACK: rc = decode_entries(c, &r, f, 0, 0, TIDE_FRAME_MAX_SEQ); break;
  case TIDE_FRAME_REQUEST: rc = decode_request(c, &r, f); break;
  case TIDE_FRAME_MESSAGES: rc = decode_messages(c, &r, f); break;
  default: return tide_error_set(err, TIDE_E_FRAME_TYPE, 0, "frame: unknown frame type %u", r.p[0]);
  }
  if (rc == 0 && r.pos != r.len)
    rc = rd_fail(&r, TIDE_E_FRAME_MALFORMED, "trailing bytes in frame");
  if (rc != 0) {
    tide_frame_clear(f);
    return rc;
  }
  *consumed = (size_t)n + r.len;
  return 0;
}
