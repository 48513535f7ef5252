/* bundle.c - bundle benchmark: size per message against the canonical
 * JSON and against zstd -19 of the same messages as JSONL (both measured
 * here with libzstd), for one large bundle and for bundles of 10 messages
 * between two peers in steady state; export and import rates against the
 * ingest rate, all in one run.
 *
 *     build/bench/bundle [MESSAGES [SMALL_BUNDLES]]   (default 10000 200)
 *
 * Rates are the best of three runs each (ingest and import interleaved),
 * since the machine is shared.
 *
 * Messages: synthetic SSB-like feeds (bundle/dict/ssbgen.h) with this
 * benchmark's own word list (the dictionary was trained on other text).
 * Prints `name value unit` lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

#include "../../bundle/dict/ssbgen.h"
#include "tide/bundle.h"
#include "tide/bundle_file.h"
#include "tide/ingest.h"
#include "tide/store.h"

static const char *const words[] = {
    "we",          "sailed",   "out",      "of",          "the",         "bay",        "this",
    "morning",     "and",      "wind",     "picked",      "up",          "around",     "noon",
    "so",          "reefed",   "main",     "anyone",      "heading",     "to",         "island",
    "next",        "week",     "fresh",    "bread",       "at",          "market",     "thanks",
    "for",         "help",     "with",     "engine",      "yesterday",   "radio",      "check",
    "on",          "channel",  "sixteen",  "fog",         "rolling",     "in",         "from",
    "south",       "tide",     "turns",    "six",         "harbour",     "master",     "says",
    "moorings",    "are",      "full",     "until",       "friday",      "fish",       "tonight",
    "who",         "has",      "spare",    "impeller",    "battery",     "low",        "solar",
    "panel",       "works",    "great",    "rain",        "again",       "lighthouse", "keeper",
    "waved",       "dolphins", "followed", "us",          "hours",       "beautiful",  "sunset",
    "cold",        "night",    "watch",    "stars",       "bright",      "coffee",     "ready",
    "galley",      "kids",     "swimming", "beach",       "is",          "quiet",      "storm",
    "warning",     "for",      "tomorrow", "stay",        "in",          "port",       "new",
    "chart",       "shows",    "rocks",    "near",        "entrance",    "careful",    "low",
    "water",       "depth",    "sounder",  "broken",      "fixed",       "it",         "with",
    "tape",        "ha",       "café",     "crêpes",      "über",        "naïve",      "🌊",
    "⛵",           "☀️",   "ok",       "yes",         "no",          "maybe",      "later",
    "see",         "you",      "soon",     "love",        "this",        "community",  "ssb",
    "scuttlebutt", "offline",  "first",    "gossip",      "replication", "pub",        "invite",
    "follow",      "back",     "hello",    "friends",     "good",        "day",        "everyone",
    "please",      "share",    "photos",   "blob",        "link",        "below",      "thread",
    "reply",       "agree",    "disagree", "interesting", "idea",        "meeting",    "dock",
    "three",       "o'clock",
};

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what, int rc, const tide_error *e)
{
  fprintf(stderr, "bench bundle: %s failed: %d %s\n", what, rc, tide_error_text(e, rc));
  exit(1);
}

typedef struct ingest_count {
  uint64_t accepted, other;
} ingest_count;

static void count_cb(void *ctx, const tide_ingest_result *r)
{
  ingest_count *c = ctx;
  if (r->verdict == TIDE_INGEST_ACCEPTED)
    c->accepted++;
  else
    c->other++;
}

typedef struct collect {
  tide_buf *jsonl; /* compact JSON lines, export order */
  uint64_t canon;  /* canonical text bytes */
  uint64_t n;
  uint64_t mark[1]; /* unused */
} collect;

static int collect_cb(void *ctx, const tide_store_record *rec)
{
  collect *c = ctx;
  tide_msg *m = NULL;
  int rc = tide_msg_parse(&m, rec->text, rec->text_len, NULL);
  if (rc == 0)
    rc = tide_json_write(c->jsonl, tide_msg_value(m), TIDE_JSON_COMPACT);
  if (rc == 0)
    rc = tide_buf_putc(c->jsonl, '\n');
  tide_msg_free(m);
  c->canon += rec->text_len;
  c->n++;
  return rc;
}

typedef struct feeds_acc {
  uint8_t (*pk)[TIDE_PK_BYTES];
  size_t n, cap;
} feeds_acc;

static int feeds_cb(void *ctx, const tide_store_feed *f)
{
  feeds_acc *a = ctx;
  if (a->n == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 64;
    void *p = realloc(a->pk, nc * sizeof *a->pk);
    if (p == NULL)
      return TIDE_E_NOMEM;
    a->pk = p;
    a->cap = nc;
  }
  memcpy(a->pk[a->n++], f->author, TIDE_PK_BYTES);
  return 0;
}

static size_t zstd19(const char *data, size_t len)
{
  size_t cap = ZSTD_compressBound(len);
  void *out = malloc(cap);
  size_t n;
  if (out == NULL)
    exit(1);
  n = ZSTD_compress(out, cap, data, len, 19);
  if (ZSTD_isError(n)) {
    fprintf(stderr, "zstd: %s\n", ZSTD_getErrorName(n));
    exit(1);
  }
  free(out);
  return n;
}

/* Ingests the n texts into s with the default pipeline; returns seconds. */
static double ingest_run(tide_store *s, tide_buf *texts, size_t n)
{
  tide_ingest *ing = NULL;
  tide_ingest_options io;
  ingest_count ic = {0, 0};
  tide_error e;
  double t0;
  int rc;

  memset(&io, 0, sizeof io);
  io.received_ms = 1;
  rc = tide_ingest_new(&ing, s, &io, count_cb, &ic);
  if (rc != 0)
    die("ingest", rc, NULL);
  t0 = now_s();
  for (size_t i = 0; i < n; i++)
    if ((rc = tide_ingest_push(ing, i, texts[i].data, texts[i].len, &e)) != 0)
      die("ingest push", rc, &e);
  if ((rc = tide_ingest_finish(ing, &e)) != 0)
    die("ingest finish", rc, &e);
  t0 = now_s() - t0;
  tide_ingest_free(ing);
  if (ic.accepted != n) {
    fprintf(stderr, "bench bundle: only %llu of %zu messages ingested\n",
            (unsigned long long)ic.accepted, n);
    exit(1);
  }
  return t0;
}

static tide_store *open_store(const char *dir, const char *name)
{
  char path[4096];
  tide_store *s = NULL;
  tide_error e;
  int rc;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  rc = tide_store_open(&s, path, 0, &e);
  if (rc != 0)
    die("store open", rc, &e);
  return s;
}

/* Splits the JSONL into consecutive groups of `per` lines and returns the
 * summed zstd -19 size of the groups (each compressed on its own). */
static uint64_t zstd19_groups(const tide_buf *jsonl, size_t per, uint64_t max_groups,
                              uint64_t *msgs)
{
  uint64_t total = 0, groups = 0;
  size_t pos = 0;
  *msgs = 0;
  while (pos < jsonl->len && groups < max_groups) {
    size_t end = pos, k = 0;
    while (end < jsonl->len && k < per) {
      const char *nl = memchr(jsonl->data + end, '\n', jsonl->len - end);
      end = nl != NULL ? (size_t)(nl - jsonl->data) + 1 : jsonl->len;
      k++;
    }
    total += zstd19(jsonl->data + pos, end - pos);
    *msgs += k;
    pos = end;
    groups++;
  }
  return total;
}

int main(int argc, char **argv)
{
  size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
  size_t small_rounds = argc > 2 ? strtoul(argv[2], NULL, 10) : 200;
  char dir[] = "/tmp/tide-bench-bundle-XXXXXX";
  ssbgen g;
  tide_buf *texts;
  tide_store *src, *imp, *peer;
  tide_bundle_export_opts eo;
  tide_bundle_export_stats es;
  tide_bundle_import_opts iopt;
  tide_bundle_import_stats is;
  tide_buf big = TIDE_BUF_INIT, jsonl = TIDE_BUF_INIT, b = TIDE_BUF_INIT;
  collect col;
  feeds_acc fa = {NULL, 0, 0};
  tide_keypair me, other;
  tide_error e;
  double t0, t_ingest, t_export, t_import;
  uint64_t small_bytes = 0, small_msgs = 0, small_nodict_bytes = 0, zmsgs;
  int rc;

  if (n < 100 || tide_init() != 0 || mkdtemp(dir) == NULL)
    return 1;
  {
    uint8_t s1[32], s2[32];
    memset(s1, 0xa1, sizeof s1);
    memset(s2, 0xb2, sizeof s2);
    if (tide_keys_from_seed(&me, s1) != 0 || tide_keys_from_seed(&other, s2) != 0)
      return 1;
  }

  /* 1. the messages, as JSON texts */
  ssbgen_init(&g, 20240601, 40, 1, words, sizeof words / sizeof words[0]);
  texts = calloc(n, sizeof *texts);
  if (texts == NULL)
    return 1;
  for (size_t i = 0; i < n; i++) {
    tide_msg *m = ssbgen_next(&g);
    tide_buf_init(&texts[i]);
    if (tide_json_write(&texts[i], tide_msg_value(m), TIDE_JSON_COMPACT) != 0)
      return 1;
    tide_msg_free(m);
  }
  ssbgen_free(&g);

  /* 2. the reference: the ingest pipeline on JSON texts (the first run
   * fills the source store; more runs follow below, interleaved with the
   * imports, and the best of each counts: the machine is shared) */
  src = open_store(dir, "src.sqlite");
  t_ingest = ingest_run(src, texts, n);
  /* 3. JSONL in export order (feed by feed), canonical sizes */
  memset(&col, 0, sizeof col);
  col.jsonl = &jsonl;
  if ((rc = tide_store_feeds(src, feeds_cb, &fa, &e)) != 0)
    die("feeds", rc, &e);
  for (size_t f = 0; f < fa.n; f++)
    if ((rc = tide_store_iter_feed(src, fa.pk[f], 1, 0, collect_cb, &col, &e)) != 0)
      die("iter", rc, &e);

  /* 4. one large bundle for anyone */
  memset(&eo, 0, sizeof eo);
  eo.now_ms = 1000;
  t0 = now_s();
  if ((rc = tide_bundle_export_buf(src, &me, &eo, &big, &es, &e)) != 0)
    die("export", rc, &e);
  t_export = now_s() - t0;
  if (es.messages != n)
    return 1;

  /* 5. import it into empty stores, interleaved with ingest runs */
  t_import = 0;
  for (int rep = 0; rep < 3; rep++) {
    char name[64];
    tide_store *s2;
    double t;
    snprintf(name, sizeof name, "ing%d.sqlite", rep);
    s2 = open_store(dir, name);
    t = ingest_run(s2, texts, n);
    if (t < t_ingest)
      t_ingest = t;
    tide_store_close(s2);
    snprintf(name, sizeof name, "imp%d.sqlite", rep);
    imp = open_store(dir, name);
    memset(&iopt, 0, sizeof iopt);
    iopt.now_ms = 2;
    t0 = now_s();
    if ((rc = tide_bundle_import_buf(imp, &other, (const uint8_t *)big.data, big.len, &iopt, &is,
                                     &e)) != 0)
      die("import", rc, &e);
    t = now_s() - t0;
    if (is.added != n)
      return 1;
    if (rep == 0 || t < t_import)
      t_import = t;
    if (rep < 2)
      tide_store_close(imp);
  }

  /* 6. bundles of 10 messages between two peers in steady state: the
   * source sends 10 messages per bundle, the peer imports and replies
   * (acknowledging with its clock), again and again. */
  peer = open_store(dir, "peer.sqlite");
  for (int pass = 0; pass < 2; pass++) {
    tide_store *s_src = pass == 0 ? src : imp;
    tide_store *s_dst = pass == 0 ? peer : open_store(dir, "peer2.sqlite");
    uint64_t bytes = 0, msgs = 0;
    for (size_t r = 0; r < small_rounds; r++) {
      tide_bundle_export_opts so;
      tide_bundle_import_opts sio;
      memset(&so, 0, sizeof so);
      so.recipient = other.pk;
      so.max_messages = 10;
      so.now_ms = 10 + r;
      so.no_dict = pass == 1;
      tide_buf_reset(&b);
      if ((rc = tide_bundle_export_buf(s_src, &me, &so, &b, &es, &e)) != 0)
        die("small export", rc, &e);
      if (es.messages != 10)
        break;
      bytes += b.len;
      msgs += es.messages;
      memset(&sio, 0, sizeof sio);
      sio.now_ms = 10 + r;
      sio.threads = 1;
      if ((rc = tide_bundle_import_buf(s_dst, &other, (const uint8_t *)b.data, b.len, &sio, &is,
                                       &e)) != 0)
        die("small import", rc, &e);
      memset(&so, 0, sizeof so);
      so.recipient = me.pk;
      so.now_ms = 10 + r;
      tide_buf_reset(&b);
      if ((rc = tide_bundle_export_buf(s_dst, &other, &so, &b, NULL, &e)) != 0)
        die("small reply", rc, &e);
      if ((rc = tide_bundle_import_buf(s_src, &me, (const uint8_t *)b.data, b.len, &sio, &is,
                                       &e)) != 0)
        die("small reply import", rc, &e);
    }
    if (pass == 0) {
      small_bytes = bytes;
      small_msgs = msgs;
    } else {
      small_nodict_bytes = bytes;
      tide_store_close(s_dst);
    }
  }

  {
    size_t z_large = zstd19(jsonl.data, jsonl.len);
    uint64_t z_small = zstd19_groups(&jsonl, 10, small_msgs / 10, &zmsgs);
    double bpm_large = (double)big.len / (double)n;
    double zpm_large = (double)z_large / (double)n;
    double jpm = (double)col.canon / (double)n;
    double bpm_small = (double)small_bytes / (double)small_msgs;
    double zpm_small = (double)z_small / (double)zmsgs;
    double ingest_rate = (double)n / t_ingest;
    double export_rate = (double)n / t_export;
    double import_rate = (double)n / t_import;
    printf("messages %zu count\n", n);
    printf("json_canonical_bytes_per_msg %.1f bytes\n", jpm);
    printf("jsonl_bytes_per_msg %.1f bytes\n", (double)jsonl.len / (double)n);
    printf("jsonl_zstd19_bytes_per_msg_large %.1f bytes\n", zpm_large);
    printf("bundle_bytes_per_msg_large %.1f bytes\n", bpm_large);
    printf("bundle_vs_zstd19_large %.3f ratio\n", bpm_large / zpm_large);
    printf("bundle_vs_json_large %.3f ratio\n", bpm_large / jpm);
    printf("small_bundles %llu count\n", (unsigned long long)(small_msgs / 10));
    printf("jsonl_zstd19_bytes_per_msg_small %.1f bytes\n", zpm_small);
    printf("bundle_bytes_per_msg_small %.1f bytes\n", bpm_small);
    printf("bundle_vs_zstd19_small %.3f ratio\n", bpm_small / zpm_small);
    printf("bundle_nodict_bytes_per_msg_small %.1f bytes\n",
           (double)small_nodict_bytes / (double)small_msgs);
    printf("bundle_nodict_vs_zstd19_small %.3f ratio\n",
           (double)small_nodict_bytes / (double)small_msgs / zpm_small);
    printf("ingest_rate %.0f msgs/s\n", ingest_rate);
    printf("bundle_export_rate %.0f msgs/s\n", export_rate);
    printf("bundle_import_rate %.0f msgs/s\n", import_rate);
    printf("bundle_import_vs_ingest %.3f ratio\n", import_rate / ingest_rate);
    printf("bundle_export_vs_ingest %.3f ratio\n", export_rate / ingest_rate);
  }

  tide_store_close(src);
  tide_store_close(imp);
  tide_store_close(peer);
  for (size_t i = 0; i < n; i++)
    tide_buf_free(&texts[i]);
  free(texts);
  free(fa.pk);
  tide_buf_free(&big);
  tide_buf_free(&jsonl);
  tide_buf_free(&b);
  {
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
      return 1;
  }
  return 0;
}
