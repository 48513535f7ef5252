/* fuzz_import.c - libFuzzer target for `tide import`'s line handling.
 *
 * The input is a JSONL file.  Its lines go through the CLI's importer
 * (cli/importer.c: wrapper detection, key check, the ingest pipeline with
 * inline verification) into an in-memory store.  Invariants (a violation
 * aborts):
 *   - no storage error is reported for an in-memory store;
 *   - every non-blank line gets exactly one verdict:
 *     accepted + already + rejected == non-blank lines, one report per
 *     rejected line, sorted by line, each with a non-empty one-line reason;
 *   - the store passes tide_store_check() (integrity and chain) afterwards
 *     and holds exactly `accepted` messages;
 *   - importing the same input again accepts nothing new and rejects no
 *     line that was accepted or already had the first time.
 * The importer's source is compiled into this target (the CLI is not part
 * of libtide). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../cli/importer.c"

#include "fuzz_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Feeds data's lines to a new importer on store; returns the number of
 * non-blank lines. */
static uint64_t run_import(tide_cli_importer *im, tide_store *store, const char *data, size_t size)
{
  tide_error err;
  size_t start = 0, end, len;
  uint64_t lineno = 0, lines = 0;

  tide_error_clear(&err);
  CHECK(tide_cli_importer_init(im, store, 1, 1700000000000) == 0);
  while (start < size) {
    end = start;
    while (end < size && data[end] != '\n')
      end++;
    len = end - start;
    lineno++;
    if (!blank(data + start, len))
      lines++;
    CHECK(tide_cli_importer_line(im, lineno, data + start, len, &err) == 0);
    start = end + 1;
  }
  CHECK(tide_cli_importer_finish(im, &err) == 0);
  return lines;
}

static void check_reports(const tide_cli_importer *im, uint64_t lines)
{
  size_t i;

  CHECK(!im->oom);
  CHECK(im->accepted + im->already + im->rejected == lines);
  CHECK(im->nrej == im->rejected);
  for (i = 0; i < im->nrej; i++) {
    CHECK(im->rej[i].reason != NULL && im->rej[i].reason[0] != '\0');
    CHECK(strchr(im->rej[i].reason, '\n') == NULL);
    if (i > 0)
      CHECK(im->rej[i - 1].line < im->rej[i].line);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static int ready;
  tide_store *store = NULL;
  tide_cli_importer im, again;
  tide_store_stats stats;
  uint64_t lines;
  size_t i, j;

  if (!ready) {
    CHECK(tide_init() == 0);
    ready = 1;
  }
  if (size > 1 << 20)
    return 0;
  CHECK(tide_store_open(&store, TIDE_STORE_MEMORY, 0, NULL) == 0);

  lines = run_import(&im, store, (const char *)data, size);
  check_reports(&im, lines);
  CHECK(tide_store_check(store, NULL) == 0);
  CHECK(tide_store_get_stats(store, &stats, NULL) == 0);
  CHECK(stats.messages == im.accepted);

  CHECK(run_import(&again, store, (const char *)data, size) == lines);
  check_reports(&again, lines);
  CHECK(again.accepted == 0);
  /* A line stored the first time is "already had" now, never rejected. */
  for (i = 0, j = 0; i < again.nrej; i++) {
    while (j < im.nrej && im.rej[j].line < again.rej[i].line)
      j++;
    CHECK(j < im.nrej && im.rej[j].line == again.rej[i].line);
  }
  CHECK(tide_store_check(store, NULL) == 0);

  tide_cli_importer_free(&again);
  tide_cli_importer_free(&im);
  tide_store_close(store);
  return 0;
}
