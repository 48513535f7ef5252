/* ingest_cost.c - where the time of a one-thread ingest goes, per message,
 * on bench/ingest's messages (same generator and seed).
 *
 *     ingest_cost [--messages N] [--feeds F]
 *
 * Each round times, one after the other (so a slow spell of the shared
 * machine weighs on all of them alike):
 *   verify       crypto_sign_verify_detached over the signed bytes
 *   parse        tide_msg_parse + tide_msg_free (canonical text, id hash)
 *   store        tide_store_append of the parsed messages into a fresh
 *                store, one transaction per TIDE_INGEST_DEFAULT_BATCH, the
 *                close (WAL checkpoint) included: what `tide import` pays
 *                for storing (WAL, synchronous = FULL)
 *   sqlite_floor the same canonical texts into a bare SQLite table (no
 *                index, no other column, same page and cache size, WAL,
 *                synchronous = OFF): the least any store keeping the
 *                texts in a SQLite file pays on this machine
 *   ingest_1t    tide_ingest with one thread, fresh store (as bench/ingest)
 * and prints medians over ROUNDS rounds as `name value unit`, in
 * microseconds per message:
 *   verify_us, parse_us, store_us (wall), store_cpu_us (user + system
 *   CPU of this process), store_user_us, store_sys_us, store_wait_us
 *   (wall minus CPU: waiting for fdatasync), sqlite_floor_cpu_us,
 *   ingest_1t_us, overhead_1t_us (ingest_1t_us - verify_us, per round),
 *   budget_1t_us: what bench/ingest's target ingest_1t_vs_verify >= 0.90
 *   leaves beside the signature check (verify_us / 0.90 - verify_us), and
 *   budget_all_cpu_us: the CPU time per message beside the signature that
 *   ingest_all_vs_verify_x_cores >= 0.85 leaves with every core busy
 *   (verify_us / 0.85 - verify_us).
 * Exit status 1 when a stage fails. */
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "msggen.h"
#include "tide/common.h"
#include "tide/ingest.h"
#include "tide/store.h"

#define ROUNDS 5

typedef struct clocks {
  double wall, user, sys;
} clocks;

static clocks clocks_now(void)
{
  struct timespec ts;
  struct rusage r;
  clocks c;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  getrusage(RUSAGE_SELF, &r);
  c.wall = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
  c.user = (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6;
  c.sys = (double)r.ru_stime.tv_sec + (double)r.ru_stime.tv_usec / 1e6;
  return c;
}

/* Per-message microseconds between two readings. */
static clocks clocks_per_msg(clocks a, clocks b, size_t n)
{
  clocks d;
  d.wall = (b.wall - a.wall) * 1e6 / (double)n;
  d.user = (b.user - a.user) * 1e6 / (double)n;
  d.sys = (b.sys - a.sys) * 1e6 / (double)n;
  return d;
}

static int verify_all(const gen_signed *sm, size_t n)
{
  size_t ok = 0;
  for (size_t i = 0; i < n; i++)
    ok += crypto_sign_verify_detached(sm[i].sig, (const unsigned char *)sm[i].bytes, sm[i].len,
                                      sm[i].pk) == 0;
  return ok == n ? 0 : -1;
}

static int parse_all(char **lines, const size_t *lens, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    tide_msg *m;
    tide_error e;
    if (tide_msg_parse(&m, lines[i], lens[i], &e) != 0) {
      fprintf(stderr, "bench: line %zu: %s\n", i + 1, e.msg);
      return -1;
    }
    tide_msg_free(m);
  }
  return 0;
}

/* Appends the parsed messages to a fresh store in batches; the close is
 * inside the timed part (the caller's clocks). */
static int store_all(const char *path, tide_msg *const *msgs, size_t n)
{
  tide_store *st = NULL;
  tide_error e;
  int rc = -1;

  gen_remove_db(path);
  if (tide_store_open(&st, path, 0, &e) != 0)
    goto out;
  for (size_t i = 0; i < n; i += TIDE_INGEST_DEFAULT_BATCH) {
    if (tide_store_begin(st, &e) != 0)
      goto out;
    for (size_t j = i; j < n && j < i + TIDE_INGEST_DEFAULT_BATCH; j++)
      if (tide_store_append(st, msgs[j], 1, &e) != 0)
        goto out;
    if (tide_store_commit(st, &e) != 0)
      goto out;
  }
  rc = 0;
out:
  if (rc != 0)
    fprintf(stderr, "bench: store: %s\n", e.msg);
  tide_store_close(st);
  return rc;
}

/* The same texts into a bare table: the SQLite floor. */
static int sqlite_floor(const char *path, tide_msg *const *msgs, size_t n)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *ins = NULL;
  int rc = -1;

  gen_remove_db(path);
  if (sqlite3_open(path, &db) != SQLITE_OK ||
      sqlite3_exec(db,
                   "PRAGMA page_size = 8192; PRAGMA journal_mode = WAL; "
                   "PRAGMA synchronous = OFF; PRAGMA cache_size = -16384; "
                   "PRAGMA secure_delete = OFF; CREATE TABLE t (json TEXT NOT NULL)",
                   NULL, NULL, NULL) != SQLITE_OK ||
      sqlite3_prepare_v2(db, "INSERT INTO t (json) VALUES (?1)", -1, &ins, NULL) != SQLITE_OK)
    goto out;
  for (size_t i = 0; i < n; i += TIDE_INGEST_DEFAULT_BATCH) {
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
      goto out;
    for (size_t j = i; j < n && j < i + TIDE_INGEST_DEFAULT_BATCH; j++) {
      size_t len;
      const char *text = tide_msg_text(msgs[j], &len);
      sqlite3_bind_text(ins, 1, text, (int)len, SQLITE_STATIC);
      if (sqlite3_step(ins) != SQLITE_DONE)
        goto out;
      sqlite3_reset(ins);
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
      goto out;
  }
  rc = 0;
out:
  if (rc != 0)
    fprintf(stderr, "bench: sqlite floor: %s\n", db != NULL ? sqlite3_errmsg(db) : "no memory");
  sqlite3_finalize(ins);
  sqlite3_close(db);
  return rc;
}

static size_t accepted;

static void on_result(void *ctx, const tide_ingest_result *r)
{
  (void)ctx;
  accepted += r->verdict == TIDE_INGEST_ACCEPTED;
}

static int ingest_1t(const char *path, char **lines, const size_t *lens, size_t n)
{
  tide_store *st = NULL;
  tide_ingest *ing = NULL;
  tide_ingest_options o;
  tide_error e;
  int rc = -1;

  gen_remove_db(path);
  accepted = 0;
  memset(&o, 0, sizeof o);
  o.threads = 1;
  o.received_ms = 1;
  if (tide_store_open(&st, path, 0, &e) != 0 || tide_ingest_new(&ing, st, &o, on_result, NULL) != 0)
    goto out;
  for (size_t i = 0; i < n; i++)
    if (tide_ingest_push(ing, i, lines[i], lens[i], &e) != 0)
      goto out;
  if (tide_ingest_finish(ing, &e) != 0)
    goto out;
  rc = accepted == n ? 0 : -1;
  if (rc != 0)
    snprintf(e.msg, sizeof e.msg, "only %zu of %zu accepted", accepted, n);
out:
  if (rc != 0)
    fprintf(stderr, "bench: ingest: %s\n", e.msg);
  tide_ingest_free(ing);
  tide_store_close(st);
  return rc;
}

int main(int argc, char **argv)
{
  size_t nmsg = 20000, nfeeds = 100, n = 0;
  const char *db;
  char **lines;
  size_t *lens;
  gen_bench_set set;
  gen_signed *sm = NULL;
  tide_msg **msgs = NULL;
  double verify[ROUNDS], parse[ROUNDS], store[ROUNDS], store_cpu[ROUNDS], store_user[ROUNDS],
      store_sys[ROUNDS], store_wait[ROUNDS], floor_cpu[ROUNDS], ingest[ROUNDS], overhead[ROUNDS];
  int rc = 1;

  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--messages") == 0)
      nmsg = strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--feeds") == 0)
      nfeeds = strtoul(argv[i + 1], NULL, 10);
  }
  if (tide_init() != 0 || nmsg == 0 || nfeeds == 0)
    return 1;
  if (gen_bench_set_make(&set, nmsg, nfeeds) != 0)
    goto out;
  n = set.n;
  lines = set.lines;
  lens = set.lens;
  db = set.db;
  sm = calloc(n, sizeof *sm);
  msgs = calloc(n, sizeof *msgs);
  if (sm == NULL || msgs == NULL)
    goto out;
  for (size_t i = 0; i < n; i++) {
    tide_error e;
    if (gen_extract_signed(&sm[i], lines[i], lens[i]) != 0 ||
        tide_msg_parse(&msgs[i], lines[i], lens[i], &e) != 0) {
      fprintf(stderr, "bench: cannot read line %zu\n", i + 1);
      goto out;
    }
  }

  for (int r = 0; r < ROUNDS; r++) {
    clocks c0, c1, d;

    c0 = clocks_now();
    if (verify_all(sm, n) != 0) {
      fprintf(stderr, "bench: a signature does not verify\n");
      goto out;
    }
    c1 = clocks_now();
    verify[r] = clocks_per_msg(c0, c1, n).wall;

    if (parse_all(lines, lens, n) != 0)
      goto out;
    c0 = clocks_now();
    parse[r] = clocks_per_msg(c1, c0, n).wall;

    if (store_all(db, msgs, n) != 0)
      goto out;
    c1 = clocks_now();
    d = clocks_per_msg(c0, c1, n);
    store[r] = d.wall;
    store_user[r] = d.user;
    store_sys[r] = d.sys;
    store_cpu[r] = d.user + d.sys;
    store_wait[r] = d.wall > store_cpu[r] ? d.wall - store_cpu[r] : 0;

    if (sqlite_floor(db, msgs, n) != 0)
      goto out;
    c0 = clocks_now();
    d = clocks_per_msg(c1, c0, n);
    floor_cpu[r] = d.user + d.sys;

    if (ingest_1t(db, lines, lens, n) != 0)
      goto out;
    c1 = clocks_now();
    ingest[r] = clocks_per_msg(c0, c1, n).wall;
    overhead[r] = ingest[r] - verify[r];
    fprintf(stderr,
            "round %d: verify %.1f, parse %.1f, store %.1f (cpu %.1f), sqlite floor cpu %.1f, "
            "ingest 1 thread %.1f us/msg\n",
            r + 1, verify[r], parse[r], store[r], store_cpu[r], floor_cpu[r], ingest[r]);
  }

  printf("messages %zu count\nfeeds %zu count\nrounds %d count\n", n, nfeeds, ROUNDS);
  printf("verify_us %.2f us/msg\n", gen_median(verify, ROUNDS));
  printf("parse_us %.2f us/msg\n", gen_median(parse, ROUNDS));
  printf("store_us %.2f us/msg\n", gen_median(store, ROUNDS));
  printf("store_cpu_us %.2f us/msg\n", gen_median(store_cpu, ROUNDS));
  printf("store_user_us %.2f us/msg\n", gen_median(store_user, ROUNDS));
  printf("store_sys_us %.2f us/msg\n", gen_median(store_sys, ROUNDS));
  printf("store_wait_us %.2f us/msg\n", gen_median(store_wait, ROUNDS));
  printf("sqlite_floor_cpu_us %.2f us/msg\n", gen_median(floor_cpu, ROUNDS));
  printf("ingest_1t_us %.2f us/msg\n", gen_median(ingest, ROUNDS));
  printf("overhead_1t_us %.2f us/msg\n", gen_median(overhead, ROUNDS));
  printf("budget_1t_us %.2f us/msg\n",
         gen_median(verify, ROUNDS) / 0.90 - gen_median(verify, ROUNDS));
  printf("budget_all_cpu_us %.2f us/msg\n",
         gen_median(verify, ROUNDS) / 0.85 - gen_median(verify, ROUNDS));
  rc = 0;
out:
  if (sm != NULL)
    for (size_t i = 0; i < n; i++)
      free(sm[i].bytes);
  if (msgs != NULL)
    for (size_t i = 0; i < n; i++)
      tide_msg_free(msgs[i]);
  free(sm);
  free(msgs);
  gen_bench_set_free(&set);
  return rc;
}
