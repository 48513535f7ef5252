/* ingest.c - benchmark of the ingest pipeline against raw signature
 * verification and against the JavaScript reference (ssb-validate).
 *
 *     ingest [--messages N] [--feeds F] [--js PATH-TO-bench-validate.js]
 *            [--only ingest_1t]
 *
 * Generates N (default 20000) messages over F (default 100) feeds with
 * varied content into a JSONL file in a temporary directory, then prints
 * `name value unit` lines:
 *   verify_per_s                 crypto_sign_verify_detached on the same
 *                                messages' signed bytes, one thread
 *   ingest_1t_per_s              parse + verify + validate + store into a
 *                                SQLite file (WAL, synchronous=FULL), one
 *                                thread (no worker pool)
 *   ingest_all_per_s             same with one worker per online CPU
 *   cores                        online CPUs
 *   ingest_1t_vs_verify          ingest_1t / verify (target >= 0.90)
 *   ingest_all_vs_verify_x_cores ingest_all / (verify * cores) (>= 0.85)
 *   js_validate_per_s            ssb-validate append() on one thread, run by
 *                                node in the same run
 *   ingest_vs_js_validate        ingest_all / js: all cores against the
 *                                one-thread reference (target >= 2)
 *   ingest_1t_vs_js_validate     ingest_1t / js
 *   js_validate_cpu_per_s, ingest_1t_vs_js_validate_cpu   the single-thread
 *                                figures per CPU second of each process
 *   verify_cpu_per_s, ingest_1t_vs_verify_cpu   the same single-thread
 *                                ratio per second of this process's CPU
 *                                time (getrusage: user + system; fsync
 *                                waits are not CPU time)
 * Each timed ingest runs on a fresh store (closing it is timed: it
 * checkpoints the WAL).  The run is made of ROUNDS paired rounds:
 *     verify, ingest 1 thread, verify, ingest all cores, verify, js
 * and each ratio is taken within its round, against the verify passes
 * right before and after the ingest it measures, so that a slow spell of
 * a shared machine weighs on both sides of the ratio.  Every ratio is
 * printed as the median over the rounds (NAME) with its spread (NAME_min,
 * NAME_max); rates are medians too.  Per-round figures go to stderr.
 * Exit status 1 when a phase fails (a message not accepted, a signature
 * that does not verify); node missing is reported on stderr and the js
 * figures are left out.
 * --only ingest_1t runs one single-thread ingest and nothing else (for
 * profilers: perf, callgrind). */
#include <sodium.h>
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

#define ROUNDS 3

/* Prints the median of a ratio as NAME and its spread as NAME_min and
 * NAME_max, with `digits` decimals. */
static void print_ratio(const char *name, const double *v, int digits)
{
  double lo = v[0], hi = v[0];

  for (int i = 1; i < ROUNDS; i++) {
    lo = v[i] < lo ? v[i] : lo;
    hi = v[i] > hi ? v[i] : hi;
  }
  printf("%s %.*f ratio\n%s_min %.*f ratio\n%s_max %.*f ratio\n", name, digits,
         gen_median(v, ROUNDS), name, digits, lo, name, digits, hi);
}

static double cpu_s(void)
{
  struct rusage r;
  getrusage(RUSAGE_SELF, &r);
  return (double)r.ru_utime.tv_sec + (double)r.ru_utime.tv_usec / 1e6 + (double)r.ru_stime.tv_sec +
         (double)r.ru_stime.tv_usec / 1e6;
}

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct counts {
  size_t accepted, other;
  char first_reason[256];
} counts;

static void on_result(void *ctx, const tide_ingest_result *r)
{
  counts *c = ctx;
  if (r->verdict == TIDE_INGEST_ACCEPTED) {
    c->accepted++;
  } else {
    if (c->other++ == 0)
      snprintf(c->first_reason, sizeof c->first_reason, "%s", r->reason);
  }
}

/* One timed pass of crypto_sign_verify_detached over every message;
 * returns messages per second (per CPU second in *cpu_rate), or -1 when
 * a signature does not verify. */
static double verify_rate(const gen_signed *sm, size_t n, double *cpu_rate)
{
  double t0 = now_s(), c0 = cpu_s(), t;
  size_t ok = 0;

  for (size_t i = 0; i < n; i++)
    ok += crypto_sign_verify_detached(sm[i].sig, (const unsigned char *)sm[i].bytes, sm[i].len,
                                      sm[i].pk) == 0;
  t = now_s() - t0;
  *cpu_rate = (double)n / (cpu_s() - c0);
  if (ok != n) {
    fprintf(stderr, "bench: %zu of %zu signatures verify\n", ok, n);
    return -1;
  }
  return (double)n / t;
}

/* One timed import into a fresh store; returns messages per second or a
 * negative value on failure. */
static double ingest_rate(const char *store_path, char **lines, size_t *lens, size_t n,
                          size_t threads, double *cpu_rate)
{
  tide_store *st = NULL;
  tide_ingest *ing = NULL;
  tide_ingest_options o;
  counts c;
  tide_error e;
  double t0, t1 = 0, c0, rate = -1;

  gen_remove_db(store_path);
  memset(&c, 0, sizeof c);
  if (tide_store_open(&st, store_path, 0, &e) != 0) {
    fprintf(stderr, "bench: %s\n", e.msg);
    return -1;
  }
  memset(&o, 0, sizeof o);
  o.threads = threads;
  o.received_ms = 1;
  t0 = now_s();
  c0 = cpu_s();
  if (tide_ingest_new(&ing, st, &o, on_result, &c) != 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    if (tide_ingest_push(ing, i, lines[i], lens[i], &e) != 0) {
      fprintf(stderr, "bench: %s\n", e.msg);
      goto out;
    }
  }
  if (tide_ingest_finish(ing, &e) != 0) {
    fprintf(stderr, "bench: %s\n", e.msg);
    goto out;
  }
  /* Closing is timed too: it checkpoints what the WAL still holds. */
  tide_ingest_free(ing);
  ing = NULL;
  tide_store_close(st);
  st = NULL;
  t1 = now_s();
  *cpu_rate = (double)n / (cpu_s() - c0);
  if (c.accepted != n) {
    fprintf(stderr, "bench: only %zu of %zu accepted (first problem: %s)\n", c.accepted, n,
            c.first_reason);
    goto out;
  }
  rate = (double)n / (t1 - t0);
out:
  tide_ingest_free(ing);
  tide_store_close(st);
  gen_remove_db(store_path);
  return rate;
}

/* Runs node on the JS reference script; returns its rate or -1. */
static double js_rate(const char *script, const char *jsonl, double *cpu_rate)
{
  char cmd[2048];
  char line[256];
  double rate = -1;
  FILE *p;

  if (access(script, R_OK) != 0) {
    fprintf(stderr, "bench: %s not found: js figures skipped\n", script);
    return -1;
  }
  snprintf(cmd, sizeof cmd, "node '%s' '%s'", script, jsonl);
  p = popen(cmd, "r");
  if (p == NULL)
    return -1;
  while (fgets(line, sizeof line, p) != NULL) {
    double v;
    if (sscanf(line, "js_validate_per_s %lf", &v) == 1)
      rate = v;
    else if (sscanf(line, "js_validate_cpu_per_s %lf", &v) == 1)
      *cpu_rate = v;
  }
  if (pclose(p) != 0)
    rate = -1;
  if (rate < 0)
    fprintf(stderr, "bench: node %s failed: js figures skipped\n", script);
  return rate;
}

int main(int argc, char **argv)
{
  size_t nmsg = 20000, nfeeds = 100, n;
  const char *src = getenv("TIDE_SOURCE_DIR");
  const char *jsonl, *store;
  char script[1024];
  char **lines;
  size_t *lens;
  gen_bench_set set;
  gen_signed *sm = NULL;
  double verify[ROUNDS], one[ROUNDS], all[ROUNDS], js[ROUNDS], js_cpu[ROUNDS], verify_cpu[ROUNDS];
  double r_1t[ROUNDS], r_all[ROUNDS], r_1t_cpu[ROUNDS], r_js[ROUNDS], r_1t_js[ROUNDS];
  double r_1t_js_cpu[ROUNDS], unused;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  int rc = 1, only_1t = 0;

  snprintf(script, sizeof script, "%s/tests/js/bench-validate.js", src != NULL ? src : ".");
  for (int i = 1; i + 1 < argc; i += 2) {
    if (strcmp(argv[i], "--messages") == 0)
      nmsg = strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--feeds") == 0)
      nfeeds = strtoul(argv[i + 1], NULL, 10);
    else if (strcmp(argv[i], "--js") == 0)
      snprintf(script, sizeof script, "%s", argv[i + 1]);
    else if (strcmp(argv[i], "--only") == 0)
      only_1t = strcmp(argv[i + 1], "ingest_1t") == 0;
  }
  if (cores < 1)
    cores = 1;
  if (tide_init() != 0 || nmsg == 0 || nfeeds == 0)
    return 1;
  if (gen_bench_set_make(&set, nmsg, nfeeds) != 0)
    goto out;
  n = set.n;
  lines = set.lines;
  lens = set.lens;
  jsonl = set.jsonl;
  store = set.db;

  /* Reference: raw libsodium verification of the same messages. */
  sm = calloc(n, sizeof *sm);
  if (sm == NULL)
    goto out;
  for (size_t i = 0; i < n; i++)
    if (gen_extract_signed(&sm[i], lines[i], lens[i]) != 0) {
      fprintf(stderr, "bench: cannot extract the signature of line %zu\n", i);
      goto out;
    }
  if (only_1t) {
    /* Profiling aid: one single-thread ingest, nothing else. */
    double a_cpu = 0, a = ingest_rate(store, lines, lens, n, 1, &a_cpu);
    printf("ingest_1t_per_s %.0f msg/s\ningest_1t_cpu_per_s %.0f msg/s\n", a, a_cpu);
    rc = a < 0;
    goto out;
  }
  /* Paired rounds: every ingest is set against the verify passes run
   * just before and after it, so a slow spell of the machine weighs on
   * both sides of its ratio.  The figures are medians over the rounds. */
  for (int r = 0; r < ROUNDS; r++) {
    double va, vb, vc, va_cpu, vb_cpu, vc_cpu, one_cpu = 0;
    va = verify_rate(sm, n, &va_cpu);
    one[r] = ingest_rate(store, lines, lens, n, 1, &one_cpu);
    vb = verify_rate(sm, n, &vb_cpu);
    all[r] = ingest_rate(store, lines, lens, n, 0, &unused);
    vc = verify_rate(sm, n, &vc_cpu);
    if (va < 0 || vb < 0 || vc < 0 || one[r] < 0 || all[r] < 0)
      goto out;
    verify[r] = (va + vb + vc) / 3;
    verify_cpu[r] = (va_cpu + vb_cpu) / 2;
    r_1t[r] = one[r] / ((va + vb) / 2);
    r_all[r] = all[r] / ((vb + vc) / 2 * (double)cores);
    r_1t_cpu[r] = one_cpu / verify_cpu[r];
    js_cpu[r] = -1;
    js[r] = js_rate(script, jsonl, &js_cpu[r]);
    r_js[r] = js[r] > 0 ? all[r] / js[r] : -1;
    r_1t_js[r] = js[r] > 0 ? one[r] / js[r] : -1;
    r_1t_js_cpu[r] = js[r] > 0 && js_cpu[r] > 0 ? one_cpu / js_cpu[r] : -1;
    fprintf(stderr,
            "round %d: verify %.0f/%.0f/%.0f msg/s, ingest 1 thread %.0f, all cores %.0f, "
            "js %.0f\n",
            r + 1, va, vb, vc, one[r], all[r], js[r]);
  }

  printf("messages %zu count\n", n);
  printf("feeds %zu count\n", nfeeds);
  printf("rounds %d count\n", ROUNDS);
  printf("cores %ld count\n", cores);
  printf("verify_per_s %.0f msg/s\n", gen_median(verify, ROUNDS));
  printf("ingest_1t_per_s %.0f msg/s\n", gen_median(one, ROUNDS));
  printf("ingest_all_per_s %.0f msg/s\n", gen_median(all, ROUNDS));
  print_ratio("ingest_1t_vs_verify", r_1t, 3);
  print_ratio("ingest_all_vs_verify_x_cores", r_all, 3);
  printf("verify_cpu_per_s %.0f msg/s\n", gen_median(verify_cpu, ROUNDS));
  print_ratio("ingest_1t_vs_verify_cpu", r_1t_cpu, 3);
  if (gen_median(js, ROUNDS) > 0) {
    printf("js_validate_per_s %.0f msg/s\n", gen_median(js, ROUNDS));
    print_ratio("ingest_vs_js_validate", r_js, 2);
    print_ratio("ingest_1t_vs_js_validate", r_1t_js, 2);
    if (gen_median(r_1t_js_cpu, ROUNDS) > 0)
      print_ratio("ingest_1t_vs_js_validate_cpu", r_1t_js_cpu, 2);
  }
  rc = 0;
out:
  if (sm != NULL)
    for (size_t i = 0; i < nmsg; i++)
      free(sm[i].bytes);
  free(sm);
  gen_bench_set_free(&set);
  return rc;
}
