/* train.c - tide-dict-train: trains the zstd dictionary that bundles use
 * (bundle/dict/ssb-v1.zdict; docs/bundle.md, "The dictionary").
 *
 *     tide-dict-train -o OUT.zdict [--size BYTES] [--samples N] [--seed S]
 *                     CORPUS.txt...
 *
 * The samples are the compressed part of small bundles (what a
 * dictionary helps most): each holds the clock entries and about ten
 * messages of synthetic SSB-like feeds (ssbgen.h), encoded as the
 * exporter encodes them (fresh frame codec, side stream left out).  The words of the
 * message texts are taken from the CORPUS files (any plain text; the
 * shipped dictionary was trained on the GNU GPL text of Debian's
 * base-files package, /usr/share/common-licenses/GPL-3), never from the
 * benchmark's word list.  Deterministic for a given corpus and seed. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zdict.h>

#include "ssbgen.h"
#include "tide/common.h"
#include "tide/frame.h"

static int read_words(const char *path, char ***words, size_t *n, size_t *cap)
{
  FILE *f = fopen(path, "rb");
  char w[64];
  size_t len = 0;
  int c;

  if (f == NULL) {
    fprintf(stderr, "tide-dict-train: %s: %s\n", path, strerror(errno));
    return -1;
  }
  do {
    c = fgetc(f);
    if (c == EOF || c == ' ' || c == '\n' || c == '\t' || c == '\r') {
      if (len > 0 && len < sizeof w) {
        w[len] = '\0';
        if (*n == *cap) {
          size_t nc = *cap ? *cap * 2 : 1024;
          char **nw = realloc(*words, nc * sizeof *nw);
          if (nw == NULL)
            return -1;
          *words = nw;
          *cap = nc;
        }
        if (((*words)[*n] = strdup(w)) == NULL)
          return -1;
        (*n)++;
      }
      len = 0;
    } else if (len < sizeof w - 1) {
      w[len++] = (char)c;
    } else {
      len = sizeof w; /* too long: dropped */
    }
  } while (c != EOF);
  fclose(f);
  return 0;
}

static int cmp_feed(const void *a, const void *b)
{
  uint8_t pa[TIDE_PK_BYTES], pb[TIDE_PK_BYTES];
  const tide_msg *ma = *(tide_msg *const *)a, *mb = *(tide_msg *const *)b;
  int c;
  (void)tide_msg_author(ma, pa);
  (void)tide_msg_author(mb, pb);
  c = memcmp(pa, pb, sizeof pa);
  if (c != 0)
    return c;
  return tide_msg_sequence(ma) < tide_msg_sequence(mb) ? -1 : 1;
}

int main(int argc, char **argv)
{
  const char *out = NULL;
  size_t dict_size = 32768, nsamples = 3000, nwords = 0, capwords = 0;
  unsigned long long seed = 1;
  char **words = NULL;
  ssbgen g;
  tide_buf all = TIDE_BUF_INIT;
  size_t *sizes;
  void *dict;
  size_t got;
  FILE *f;

  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
      out = argv[++i];
    } else if (strcmp(argv[i], "--size") == 0 && i + 1 < argc) {
      dict_size = strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc) {
      nsamples = strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = strtoull(argv[++i], NULL, 10);
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "usage: tide-dict-train -o OUT.zdict [--size BYTES] [--samples N] "
                      "[--seed S] CORPUS.txt...\n");
      return 2;
    } else if (read_words(argv[i], &words, &nwords, &capwords) != 0) {
      return 1;
    }
  }
  if (out == NULL || nwords < 100 || dict_size < 1024 || nsamples < 10) {
    fprintf(stderr, "tide-dict-train: need -o OUT and a corpus of at least 100 words\n");
    return 2;
  }
  if (tide_init() != 0)
    return 1;
  sizes = calloc(nsamples, sizeof *sizes);
  if (sizes == NULL)
    return 1;
  ssbgen_init(&g, seed, 30, 200, (const char *const *)words, nwords);
  for (size_t s = 0; s < nsamples; s++) {
    tide_frame_codec *c = tide_frame_codec_new();
    tide_buf side = TIDE_BUF_INIT;
    tide_msg *m[12];
    tide_frame_entry e[12];
    size_t n = 6 + (size_t)(ssbgen_rand(&g) % 7), before = all.len, ne = 0;
    if (c == NULL)
      return 1;
    /* as in a bundle: random binary fields go to the side stream, which
     * is not compressed; the samples are the compressed part only */
    tide_frame_codec_use_side_stream(c);
    for (size_t k = 0; k < n; k++)
      m[k] = ssbgen_next(&g);
    qsort(m, n, sizeof *m, cmp_feed);
    for (size_t k = 0; k < n; k++) {
      uint8_t pk[TIDE_PK_BYTES];
      (void)tide_msg_author(m[k], pk);
      if (ne == 0 || memcmp(e[ne - 1].feed, pk, sizeof pk) != 0) {
        memcpy(e[ne].feed, pk, sizeof pk);
        e[ne++].value = tide_msg_sequence(m[k]) * 2;
      } else {
        e[ne - 1].value = tide_msg_sequence(m[k]) * 2;
      }
    }
    if (tide_frame_encode_clock(c, &all, TIDE_FRAME_CLOCK_SENDER, e, ne) != 0)
      return 1;
    for (size_t k = 0; k < ne; k++)
      e[k].value = e[k].value > 2 ? 2 : 0;
    if (tide_frame_encode_clock(c, &all, TIDE_FRAME_CLOCK_BASE, e, ne) != 0 ||
        tide_frame_encode_messages(c, &all, m, n, NULL) != 0)
      return 1;
    sizes[s] = all.len - before;
    if (tide_frame_codec_take_side(c, &side) != 0)
      return 1;
    tide_buf_free(&side);
    for (size_t k = 0; k < n; k++)
      tide_msg_free(m[k]);
    tide_frame_codec_free(c);
  }
  dict = malloc(dict_size);
  if (dict == NULL)
    return 1;
  got = ZDICT_trainFromBuffer(dict, dict_size, all.data, sizes, (unsigned)nsamples);
  if (ZDICT_isError(got)) {
    fprintf(stderr, "tide-dict-train: %s\n", ZDICT_getErrorName(got));
    return 1;
  }
  f = fopen(out, "wb");
  if (f == NULL || fwrite(dict, 1, got, f) != got || fclose(f) != 0) {
    fprintf(stderr, "tide-dict-train: %s: %s\n", out, strerror(errno));
    return 1;
  }
  printf("wrote %s: %zu bytes, id %u, from %zu samples (%zu bytes)\n", out, got,
         ZDICT_getDictID(dict, got), nsamples, all.len);
  ssbgen_free(&g);
  for (size_t i = 0; i < nwords; i++)
    free(words[i]);
  free(words);
  free(sizes);
  free(dict);
  tide_buf_free(&all);
  return 0;
}
