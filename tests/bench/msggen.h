/* msggen.h - deterministic, realistically varied SSB message sets for the
 * ingest benchmark and the crash test.
 *
 * gen_write_jsonl() signs `total` messages over `nfeeds` feeds (keys from
 * fixed seeds) with tide_msg_create and writes them to a JSONL file, one
 * compact JSON message per line, feeds interleaved at random (each feed in
 * order).  Content mix, roughly like a real SSB log: posts of 20..700
 * characters (some non-ASCII, some with mentions), votes on earlier
 * messages, contact (follow/block) messages, about messages.
 * Optionally records (author, sequence, id) per line for checks.
 * gen_extract_signed() rebuilds what the author of a line signed, for
 * benchmarks that time crypto_sign_verify_detached on its own. */
#ifndef TIDE_MSGGEN_H
#define TIDE_MSGGEN_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"

typedef struct gen_line {
  uint32_t feed;
  uint8_t author[TIDE_PK_BYTES];
  int64_t sequence;
  uint8_t id[TIDE_HASH_BYTES];
} gen_line;

static inline uint64_t gen_rand(uint64_t *s)
{
  /* splitmix64 */
  uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static const char *const gen_words[] = {
    "the",         "boat",   "harbour", "wind",      "sail",       "radio",       "tide",
    "north",       "anchor", "crew",    "weather",   "forecast",   "knots",       "swell",
    "coffee",      "engine", "diesel",  "chart",     "reef",       "mooring",     "tonight",
    "tomorrow",    "we",     "arrived", "leaving",   "at",         "dawn",        "with",
    "fish",        "and",    "a",       "storm",     "is",         "coming",      "from",
    "west",        "café",   "façade",  "Ålesund",   "日本",       "🌊",           "⛵",
    "naïve",       "über",   "mañana",  "π≈3.14159", "\"quoted\"", "back\\slash", "tab\there",
    "line\nbreak",
};

static inline void gen_text(tide_buf *b, uint64_t *rng, size_t min_len, size_t max_len)
{
  size_t want = min_len + (size_t)(gen_rand(rng) % (max_len - min_len + 1));
  size_t nw = sizeof gen_words / sizeof gen_words[0];

  tide_buf_reset(b);
  while (b->len < want) {
    const char *w = gen_words[gen_rand(rng) % nw];
    if (b->len > 0 && tide_buf_putc(b, ' ') != 0)
      abort();
    if (tide_buf_puts(b, w) != 0)
      abort();
  }
}

static inline void gen_set(tide_json_doc *d, tide_json *o, const char *k, tide_json *v)
{
  if (v == NULL || tide_json_object_set(d, o, k, strlen(k), v) != 0)
    abort();
}

/* Builds the content of the next message of feed f. */
static inline tide_json *gen_content(tide_json_doc *d, uint64_t *rng, const tide_keypair *kps,
                                     size_t nfeeds, size_t f, tide_msg *const *last, tide_buf *tb)
{
  tide_json *o = tide_json_new_object(d);
  unsigned r = (unsigned)(gen_rand(rng) % 100);
  char id[TIDE_MSG_ID_LEN + 1], fid[TIDE_FEED_ID_LEN + 1];
  size_t other = (size_t)(gen_rand(rng) % nfeeds);

  if (o == NULL)
    abort();
  if (r < 15 && last[other] != NULL) {
    tide_json *v = tide_json_new_object(d);
    tide_msg_id_format(id, tide_msg_id(last[other]));
    gen_set(d, o, "type", tide_json_new_string(d, "vote", 4));
    gen_set(d, v, "link", tide_json_new_string(d, id, strlen(id)));
    gen_set(d, v, "value", tide_json_new_number(d, 1));
    gen_set(d, v, "expression", tide_json_new_string(d, "Like", 4));
    gen_set(d, o, "vote", v);
  } else if (r < 25) {
    tide_feed_id_format(fid, kps[other].pk);
    gen_set(d, o, "type", tide_json_new_string(d, "contact", 7));
    gen_set(d, o, "contact", tide_json_new_string(d, fid, strlen(fid)));
    if (gen_rand(rng) % 8 == 0)
      gen_set(d, o, "blocking", tide_json_new_bool(d, 1));
    else
      gen_set(d, o, "following", tide_json_new_bool(d, (int)(gen_rand(rng) % 6 != 0)));
  } else if (r < 32) {
    tide_feed_id_format(fid, kps[f].pk);
    gen_text(tb, rng, 4, 30);
    gen_set(d, o, "type", tide_json_new_string(d, "about", 5));
    gen_set(d, o, "about", tide_json_new_string(d, fid, strlen(fid)));
    gen_set(d, o, "name", tide_json_new_string(d, tb->data, tb->len));
  } else {
    gen_text(tb, rng, 20, 700);
    gen_set(d, o, "type", tide_json_new_string(d, "post", 4));
    gen_set(d, o, "text", tide_json_new_string(d, tb->data, tb->len));
    if (r >= 90) {
      tide_json *arr = tide_json_new_array(d), *mo = tide_json_new_object(d);
      tide_feed_id_format(fid, kps[other].pk);
      gen_set(d, mo, "link", tide_json_new_string(d, fid, strlen(fid)));
      gen_set(d, mo, "name", tide_json_new_string(d, "friend", 6));
      if (arr == NULL || tide_json_array_push(d, arr, mo) != 0)
        abort();
      gen_set(d, o, "mentions", arr);
      gen_set(d, o, "channel", tide_json_new_string(d, "sailing", 7));
    }
  }
  return o;
}

/* Writes the JSONL file.  lines (optional) gets total entries.  Returns
 * 0, or -1 (message printed to stderr). */
static inline int gen_write_jsonl(const char *path, size_t total, size_t nfeeds, uint64_t seed,
                                  gen_line *lines)
{
  tide_keypair *kps = calloc(nfeeds, sizeof *kps);
  tide_msg **last = calloc(nfeeds, sizeof *last);
  tide_buf line = TIDE_BUF_INIT, tb = TIDE_BUF_INIT;
  uint64_t rng = seed;
  FILE *f = fopen(path, "wb");
  int rc = -1;

  if (kps == NULL || last == NULL || f == NULL) {
    fprintf(stderr, "msggen: cannot create %s\n", path);
    goto out;
  }
  for (size_t i = 0; i < nfeeds; i++) {
    uint8_t s[TIDE_SEED_BYTES];
    for (size_t j = 0; j < sizeof s; j++)
      s[j] = (uint8_t)(gen_rand(&rng) >> 24);
    s[0] = (uint8_t)i;
    if (tide_keys_from_seed(&kps[i], s) != 0)
      goto out;
  }
  for (size_t n = 0; n < total; n++) {
    size_t fi = (size_t)(gen_rand(&rng) % nfeeds);
    tide_json_doc *d = tide_json_doc_new();
    tide_json *content;
    tide_feed_state st;
    tide_msg *m = NULL;
    tide_error e;
    int64_t seq = last[fi] != NULL ? tide_msg_sequence(last[fi]) : 0;

    if (d == NULL)
      goto out;
    content = gen_content(d, &rng, kps, nfeeds, fi, last, &tb);
    if (last[fi] != NULL) {
      memcpy(st.id, tide_msg_id(last[fi]), TIDE_HASH_BYTES);
      st.sequence = seq;
    }
    if (tide_msg_create(&m, &kps[fi], last[fi] != NULL ? &st : NULL,
                        1600000000000.0 + (double)n * 1000.0 + (double)(gen_rand(&rng) % 997),
                        content, NULL, &e) != 0) {
      fprintf(stderr, "msggen: tide_msg_create: %s\n", e.msg);
      tide_json_doc_free(d);
      goto out;
    }
    tide_json_doc_free(d);
    tide_buf_reset(&line);
    if (tide_json_write(&line, tide_msg_value(m), TIDE_JSON_COMPACT) != 0 ||
        tide_buf_putc(&line, '\n') != 0 || fwrite(line.data, 1, line.len, f) != line.len) {
      fprintf(stderr, "msggen: write failed\n");
      tide_msg_free(m);
      goto out;
    }
    if (lines != NULL) {
      lines[n].feed = (uint32_t)fi;
      lines[n].sequence = seq + 1;
      memcpy(lines[n].author, kps[fi].pk, TIDE_PK_BYTES);
      memcpy(lines[n].id, tide_msg_id(m), TIDE_HASH_BYTES);
    }
    tide_msg_free(last[fi]);
    last[fi] = m;
  }
  rc = 0;
out:
  if (f != NULL && fclose(f) != 0)
    rc = -1;
  if (last != NULL)
    for (size_t i = 0; i < nfeeds; i++)
      tide_msg_free(last[i]);
  free(last);
  if (kps != NULL)
    for (size_t i = 0; i < nfeeds; i++)
      tide_keys_wipe(&kps[i]);
  free(kps);
  tide_buf_free(&line);
  tide_buf_free(&tb);
  return rc;
}

/* Reads a whole file into memory and splits it into lines (in place).
 * Returns the number of lines, or 0 on failure; *buf to free. */
static inline size_t gen_read_lines(const char *path, char **buf, char ***lines, size_t **lens)
{
  FILE *f = fopen(path, "rb");
  size_t cap = 0, n = 0, len = 0;
  char *b = NULL;
  long sz;

  *buf = NULL;
  *lines = NULL;
  *lens = NULL;
  if (f == NULL)
    return 0;
  if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return 0;
  }
  b = malloc((size_t)sz + 1);
  if (b == NULL || fread(b, 1, (size_t)sz, f) != (size_t)sz) {
    free(b);
    fclose(f);
    return 0;
  }
  fclose(f);
  len = (size_t)sz;
  b[len] = '\0';
  for (size_t i = 0; i < len;) {
    char *nl = memchr(b + i, '\n', len - i);
    size_t e = nl != NULL ? (size_t)(nl - b) : len;
    if (n == cap) {
      cap = cap == 0 ? 1024 : cap * 2;
      *lines = realloc(*lines, cap * sizeof **lines);
      *lens = realloc(*lens, cap * sizeof **lens);
      if (*lines == NULL || *lens == NULL)
        abort();
    }
    (*lines)[n] = b + i;
    (*lens)[n] = e - i;
    b[e] = '\0';
    n++;
    i = e + 1;
  }
  *buf = b;
  return n;
}

typedef struct gen_signed {
  uint8_t pk[TIDE_PK_BYTES];
  uint8_t sig[TIDE_SIG_BYTES];
  char *bytes;
  size_t len;
} gen_signed;

/* Rebuilds what the author signed: the canonical text without
 * "signature" (JSON.stringify(msg, null, 2)), and the raw signature. */
static inline int gen_extract_signed(gen_signed *out, const char *line, size_t len)
{
  tide_json_doc *doc = NULL, *copy = NULL;
  tide_json *v, *sig;
  tide_buf b = TIDE_BUF_INIT;
  const char *s;
  size_t sl;
  int rc = -1;

  if (tide_json_parse(&doc, line, len, NULL, NULL) != 0)
    goto out;
  copy = tide_json_doc_new();
  v = copy != NULL ? tide_json_clone(copy, tide_json_root(doc)) : NULL;
  if (v == NULL)
    goto out;
  sig = tide_json_object_getz(v, "signature");
  s = tide_json_string(sig, &sl);
  if (s == NULL || sl < 12 || memcmp(s + sl - 12, ".sig.ed25519", 12) != 0 ||
      tide_b64_decode_exact(out->sig, TIDE_SIG_BYTES, s, sl - 12) != 0)
    goto out;
  s = tide_json_string(tide_json_object_getz(v, "author"), &sl);
  if (s == NULL || tide_feed_id_parse(out->pk, s, sl) != 0)
    goto out;
  tide_json_object_remove(v, "signature", 9);
  if (tide_json_write(&b, v, TIDE_JSON_PRETTY) != 0)
    goto out;
  out->bytes = tide_buf_steal(&b, &out->len);
  rc = 0;
out:
  tide_buf_free(&b);
  tide_json_doc_free(doc);
  tide_json_doc_free(copy);
  return rc;
}

/* Median of n values (n odd, at most 15), for benchmark rounds. */
static inline double gen_median(const double *v, int n)
{
  double s[15];
  if (n < 1 || n > 15)
    abort();
  memcpy(s, v, (size_t)n * sizeof *s);
  for (int i = 1; i < n; i++)
    for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
      double t = s[j];
      s[j] = s[j - 1];
      s[j - 1] = t;
    }
  return s[n / 2];
}

/* Removes a SQLite file and its -wal and -shm companions. */
static inline void gen_remove_db(const char *path)
{
  char p[512];
  unlink(path);
  snprintf(p, sizeof p, "%s-wal", path);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", path);
  unlink(p);
}

/* A benchmark's message set: a temporary folder under $TMPDIR (or /tmp)
 * holding messages.jsonl (gen_write_jsonl with seed 42) and room for a
 * store.db, and the file's lines in memory. */
typedef struct gen_bench_set {
  char dir[256], jsonl[300], db[300];
  char *buf;
  char **lines;
  size_t *lens;
  size_t n;
} gen_bench_set;

/* Makes the folder and nmsg messages over nfeeds feeds.  Returns 0, or -1
 * (reason on stderr); gen_bench_set_free() in both cases. */
static inline int gen_bench_set_make(gen_bench_set *s, size_t nmsg, size_t nfeeds)
{
  const char *tmp = getenv("TMPDIR");

  memset(s, 0, sizeof *s);
  snprintf(s->dir, sizeof s->dir, "%s/tide-bench-XXXXXX", tmp != NULL ? tmp : "/tmp");
  if (mkdtemp(s->dir) == NULL) {
    perror("mkdtemp");
    s->dir[0] = '\0';
    return -1;
  }
  snprintf(s->jsonl, sizeof s->jsonl, "%s/messages.jsonl", s->dir);
  snprintf(s->db, sizeof s->db, "%s/store.db", s->dir);
  if (gen_write_jsonl(s->jsonl, nmsg, nfeeds, 42, NULL) != 0)
    return -1;
  s->n = gen_read_lines(s->jsonl, &s->buf, &s->lines, &s->lens);
  while (s->n > 0 && s->lens[s->n - 1] == 0)
    s->n--;
  if (s->n != nmsg) {
    fprintf(stderr, "msggen: read %zu of %zu lines back\n", s->n, nmsg);
    return -1;
  }
  return 0;
}

/* Frees the lines and removes the folder with what is in it. */
static inline void gen_bench_set_free(gen_bench_set *s)
{
  free(s->buf);
  free(s->lines);
  free(s->lens);
  if (s->dir[0] == '\0')
    return;
  gen_remove_db(s->db);
  unlink(s->jsonl);
  rmdir(s->dir);
}

#endif
