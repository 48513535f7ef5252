/* ssbgen.h - deterministic synthetic SSB-like feeds, for training the
 * bundle dictionary (bundle/dict/train.c) and for the bundle benchmark
 * (tests/bench/bundle.c).
 *
 * The structure follows what classic SSB feeds hold: votes, posts (with
 * replies, channels and mentions), contacts, abouts, channel
 * subscriptions, pub announcements and private boxes, with references to
 * earlier messages and to other feeds, integer millisecond timestamps
 * (a few fractional ones) and skewed activity per feed.  The words of the
 * texts come from the caller: the trainer reads them from a text corpus,
 * the benchmark uses its own list, so the dictionary never sees the
 * benchmark's vocabulary.
 *
 * Every message is really signed (tide_msg_create).  Header-only, static
 * functions; aborts when a message cannot be built (a generator bug). */
#ifndef TIDE_SSBGEN_H
#define TIDE_SSBGEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide/buf.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"

typedef struct ssbgen {
  uint64_t rng;
  const char *const *words;
  size_t nwords;
  size_t nfeeds;
  tide_keypair *kp;
  tide_msg **last;                    /* latest message of each feed (owned) */
  double *ts;                         /* latest timestamp of each feed */
  uint8_t (*recent)[TIDE_HASH_BYTES]; /* ring of recent message ids */
  size_t nrecent, recent_pos;
} ssbgen;

static inline uint64_t ssbgen_rand(ssbgen *g)
{
  uint64_t z = (g->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static inline void ssbgen_die(const char *what)
{
  fprintf(stderr, "ssbgen: %s failed\n", what);
  abort();
}

/* Feeds get keys from seed bytes (seed_base + i). */
static inline void ssbgen_init(ssbgen *g, uint64_t seed, size_t nfeeds, int seed_base,
                               const char *const *words, size_t nwords)
{
  memset(g, 0, sizeof *g);
  g->rng = seed;
  g->words = words;
  g->nwords = nwords;
  g->nfeeds = nfeeds;
  g->kp = calloc(nfeeds, sizeof *g->kp);
  g->last = calloc(nfeeds, sizeof *g->last);
  g->ts = calloc(nfeeds, sizeof *g->ts);
  g->recent = calloc(256, sizeof *g->recent);
  if (g->kp == NULL || g->last == NULL || g->ts == NULL || g->recent == NULL)
    ssbgen_die("allocation");
  for (size_t i = 0; i < nfeeds; i++) {
    uint8_t s[TIDE_SEED_BYTES];
    for (size_t k = 0; k < sizeof s; k++)
      s[k] = (uint8_t)(seed_base + (int)i + (int)k * 7);
    if (tide_keys_from_seed(&g->kp[i], s) != 0)
      ssbgen_die("keys");
    g->ts[i] = 1500000000000.0 + (double)(ssbgen_rand(g) % 100000000ull);
  }
}

static inline void ssbgen_free(ssbgen *g)
{
  for (size_t i = 0; i < g->nfeeds; i++)
    tide_msg_free(g->last[i]);
  free(g->kp);
  free(g->last);
  free(g->ts);
  free(g->recent);
  memset(g, 0, sizeof *g);
}

static inline void ssbgen_text(ssbgen *g, tide_buf *b, size_t min_len, size_t max_len)
{
  size_t want = min_len + (size_t)(ssbgen_rand(g) % (max_len - min_len + 1));
  int sentence = 1;

  tide_buf_reset(b);
  while (b->len < want) {
    const char *w = g->words[ssbgen_rand(g) % g->nwords];
    if (b->len > 0 && tide_buf_putc(b, ' ') != 0)
      ssbgen_die("text");
    if (tide_buf_puts(b, w) != 0)
      ssbgen_die("text");
    if (sentence && b->data[b->len - strlen(w)] >= 'a' && b->data[b->len - strlen(w)] <= 'z')
      b->data[b->len - strlen(w)] = (char)(b->data[b->len - strlen(w)] - 'a' + 'A');
    sentence = 0;
    if (ssbgen_rand(g) % 12 == 0) {
      const char *p = ssbgen_rand(g) % 4 == 0 ? (ssbgen_rand(g) % 2 ? "!" : "?") : ".";
      if (tide_buf_puts(b, p) != 0)
        ssbgen_die("text");
      sentence = 1;
      if (ssbgen_rand(g) % 5 == 0 && tide_buf_puts(b, "\n\n") != 0)
        ssbgen_die("text");
    }
  }
}

static inline tide_json *ssbgen_str(tide_json_doc *d, const char *s, size_t n)
{
  tide_json *v = tide_json_new_string(d, s, n);
  if (v == NULL)
    ssbgen_die("json string");
  return v;
}

static inline void ssbgen_set(tide_json_doc *d, tide_json *o, const char *k, tide_json *v)
{
  if (v == NULL || tide_json_object_set(d, o, k, strlen(k), v) != 0)
    ssbgen_die("json set");
}

static inline tide_json *ssbgen_feed_ref(ssbgen *g, tide_json_doc *d, size_t i)
{
  char id[TIDE_FEED_ID_LEN + 1];
  tide_feed_id_format(id, g->kp[i].pk);
  return ssbgen_str(d, id, TIDE_FEED_ID_LEN);
}

static inline tide_json *ssbgen_msg_ref(ssbgen *g, tide_json_doc *d)
{
  char id[TIDE_MSG_ID_LEN + 1];
  uint8_t h[TIDE_HASH_BYTES];
  if (g->nrecent == 0) {
    for (size_t k = 0; k < sizeof h; k++)
      h[k] = (uint8_t)ssbgen_rand(g);
  } else {
    memcpy(h, g->recent[ssbgen_rand(g) % g->nrecent], sizeof h);
  }
  tide_msg_id_format(id, h);
  return ssbgen_str(d, id, TIDE_MSG_ID_LEN);
}

static inline tide_json *ssbgen_word(ssbgen *g, tide_json_doc *d)
{
  const char *w = g->words[ssbgen_rand(g) % g->nwords];
  return ssbgen_str(d, w, strlen(w));
}

/* Builds one content object of a random kind (private boxes are made
 * by ssbgen_next). */
static inline tide_json *ssbgen_content(ssbgen *g, tide_json_doc *d, size_t author)
{
  tide_json *o = tide_json_new_object(d), *x, *y;
  tide_buf t = TIDE_BUF_INIT;
  unsigned r = (unsigned)(ssbgen_rand(g) % 88);

  if (o == NULL)
    ssbgen_die("json");
  if (r < 34) { /* vote */
    ssbgen_set(d, o, "type", ssbgen_str(d, "vote", 4));
    x = tide_json_new_object(d);
    ssbgen_set(d, x, "link", ssbgen_msg_ref(g, d));
    ssbgen_set(d, x, "value", tide_json_new_number(d, ssbgen_rand(g) % 10 ? 1 : 0));
    ssbgen_set(d, x, "expression",
               ssbgen_str(d, ssbgen_rand(g) % 10 ? "Like" : "Unlike", ssbgen_rand(g) % 10 ? 4 : 6));
    ssbgen_set(d, o, "vote", x);
  } else if (r < 60) { /* post */
    ssbgen_set(d, o, "type", ssbgen_str(d, "post", 4));
    ssbgen_text(g, &t, 10, ssbgen_rand(g) % 4 ? 280 : 1500);
    ssbgen_set(d, o, "text", ssbgen_str(d, t.data, t.len));
    if (ssbgen_rand(g) % 2) {
      ssbgen_set(d, o, "root", ssbgen_msg_ref(g, d));
      ssbgen_set(d, o, "branch", ssbgen_msg_ref(g, d));
    }
    if (ssbgen_rand(g) % 5 == 0)
      ssbgen_set(d, o, "channel", ssbgen_word(g, d));
    if (ssbgen_rand(g) % 6 == 0) {
      x = tide_json_new_array(d);
      y = tide_json_new_object(d);
      ssbgen_set(d, y, "link", ssbgen_feed_ref(g, d, ssbgen_rand(g) % g->nfeeds));
      ssbgen_set(d, y, "name", ssbgen_word(g, d));
      if (x == NULL || tide_json_array_push(d, x, y) != 0)
        ssbgen_die("json");
      ssbgen_set(d, o, "mentions", x);
    }
  } else if (r < 75) { /* contact */
    ssbgen_set(d, o, "type", ssbgen_str(d, "contact", 7));
    ssbgen_set(d, o, "contact", ssbgen_feed_ref(g, d, ssbgen_rand(g) % g->nfeeds));
    if (ssbgen_rand(g) % 8) {
      ssbgen_set(d, o, "following", tide_json_new_bool(d, ssbgen_rand(g) % 6 != 0));
    } else {
      ssbgen_set(d, o, "blocking", tide_json_new_bool(d, 1));
    }
  } else if (r < 81) { /* about */
    ssbgen_set(d, o, "type", ssbgen_str(d, "about", 5));
    ssbgen_set(d, o, "about", ssbgen_feed_ref(g, d, author));
    if (ssbgen_rand(g) % 2) {
      ssbgen_set(d, o, "name", ssbgen_word(g, d));
    } else if (ssbgen_rand(g) % 2) {
      char blob[TIDE_MSG_ID_LEN + 1];
      uint8_t h[TIDE_HASH_BYTES];
      for (size_t k = 0; k < sizeof h; k++)
        h[k] = (uint8_t)ssbgen_rand(g);
      tide_msg_id_format(blob, h);
      blob[0] = '&';
      ssbgen_set(d, o, "image", ssbgen_str(d, blob, TIDE_MSG_ID_LEN));
    } else {
      ssbgen_text(g, &t, 20, 200);
      ssbgen_set(d, o, "description", ssbgen_str(d, t.data, t.len));
    }
  } else if (r < 86) { /* channel */
    ssbgen_set(d, o, "type", ssbgen_str(d, "channel", 7));
    ssbgen_set(d, o, "channel", ssbgen_word(g, d));
    ssbgen_set(d, o, "subscribed", tide_json_new_bool(d, ssbgen_rand(g) % 4 != 0));
  } else { /* pub */
    char host[64];
    ssbgen_set(d, o, "type", ssbgen_str(d, "pub", 3));
    x = tide_json_new_object(d);
    snprintf(host, sizeof host, "pub%u.example.org", (unsigned)(ssbgen_rand(g) % 50));
    ssbgen_set(d, x, "host", ssbgen_str(d, host, strlen(host)));
    ssbgen_set(d, x, "port", tide_json_new_number(d, 8008));
    ssbgen_set(d, x, "key", ssbgen_feed_ref(g, d, ssbgen_rand(g) % g->nfeeds));
    ssbgen_set(d, o, "address", x);
  }
  tide_buf_free(&t);
  return o;
}

/* Signs the next message of a feed chosen with skewed activity; returns
 * it (owned by the caller; the generator keeps its own reference). */
static inline tide_msg *ssbgen_next(ssbgen *g)
{
  size_t f;
  tide_json_doc *d = tide_json_doc_new();
  tide_json *content;
  tide_feed_state st;
  tide_msg *m = NULL, *copy = NULL;
  const char *text;
  size_t len;
  tide_error e;
  double ts;

  if (d == NULL)
    ssbgen_die("doc");
  /* activity: feed i is chosen with weight about 1/(i+1) */
  do {
    f = (size_t)(ssbgen_rand(g) % g->nfeeds);
  } while (ssbgen_rand(g) % (f + 1) != 0);
  if (ssbgen_rand(g) % 100 >= 90) {
    /* a private box (content is a string) */
    uint8_t raw[1000];
    tide_buf t = TIDE_BUF_INIT;
    size_t n = 100 + (size_t)(ssbgen_rand(g) % 800);
    for (size_t k = 0; k < n; k++)
      raw[k] = (uint8_t)ssbgen_rand(g);
    if (tide_b64_encode(&t, raw, n) != 0 || tide_buf_puts(&t, ".box") != 0)
      ssbgen_die("box");
    content = ssbgen_str(d, t.data, t.len);
    tide_buf_free(&t);
  } else {
    content = ssbgen_content(g, d, f);
  }
  ts = g->ts[f] + (double)(1000 + ssbgen_rand(g) % 36000000ull);
  if (ssbgen_rand(g) % 33 == 0)
    ts += (double)(ssbgen_rand(g) % 1000) / 1000.0;
  g->ts[f] = ts;
  if (g->last[f] != NULL) {
    memcpy(st.id, tide_msg_id(g->last[f]), TIDE_HASH_BYTES);
    st.sequence = tide_msg_sequence(g->last[f]);
  }
  if (tide_msg_create(&m, &g->kp[f], g->last[f] != NULL ? &st : NULL, ts, content, NULL, &e) != 0) {
    /* an oversized message: try again with other content */
    tide_json_doc_free(d);
    return ssbgen_next(g);
  }
  tide_json_doc_free(d);
  text = tide_msg_text(m, &len);
  if (tide_msg_parse(&copy, text, len, NULL) != 0)
    ssbgen_die("parse");
  tide_msg_free(g->last[f]);
  g->last[f] = copy;
  memcpy(g->recent[g->recent_pos], tide_msg_id(m), TIDE_HASH_BYTES);
  g->recent_pos = (g->recent_pos + 1) % 256;
  if (g->nrecent < 256)
    g->nrecent++;
  return m;
}

#endif
