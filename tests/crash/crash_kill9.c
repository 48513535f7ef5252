/* crash_kill9.c - kill -9 test of the store and the ingest pipeline.
 *
 *     crash_kill9 [--messages N] [--feeds F] [--kills K] [--budget SECONDS]
 *
 * Generates N messages over F feeds (tide_msg_create, fixed seeds) into a
 * JSONL file in a fresh temporary directory, then repeatedly forks a child
 * that imports the file through the ingest pipeline into a file store and
 * writes "ack LINE" to a pipe for every message reported ACCEPTED or
 * ALREADY (reported only after the batch committed).  The parent kills the
 * child with SIGKILL at a random moment (at least K times), restarts the
 * import on the same store, and after every kill opens the store and
 * checks:
 *   - PRAGMA integrity_check is "ok" and every feed is a gap-free prefix
 *     1..n with a valid hash chain (tide_store_check);
 *   - each feed's stored messages are exactly the generated messages
 *     1..n of that feed (no foreign or duplicated message);
 *   - every acknowledged message is present.
 * When an import runs to completion the store is verified to be complete,
 * removed, and a new cycle starts from an empty store, so kills keep
 * landing on writes.  Children are stopped by PID; the whole test is
 * bounded by --budget (fails if K kills did not happen in time).
 * Exit status 0 on success, 1 on a failed check. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../bench/msggen.h"
#include "tide/common.h"
#include "tide/ingest.h"
#include "tide/store.h"

typedef struct config {
  size_t messages, feeds, kills;
  double budget_s;
} config;

static double now_s(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the child: import and acknowledge --------------------------------- */

typedef struct child_ctx {
  int fd;
  int failed;
} child_ctx;

static void child_result(void *ctx, const tide_ingest_result *r)
{
  child_ctx *c = ctx;
  char line[64];
  int n;

  if (r->verdict != TIDE_INGEST_ACCEPTED && r->verdict != TIDE_INGEST_ALREADY) {
    fprintf(stderr, "crash child: line %llu: unexpected verdict %d: %s\n",
            (unsigned long long)r->tag, (int)r->verdict, r->reason);
    c->failed = 1;
    return;
  }
  /* One write per line (< PIPE_BUF): a line is in the pipe entirely or
   * not at all when the kill comes. */
  n = snprintf(line, sizeof line, "ack %llu\n", (unsigned long long)r->tag);
  if (write(c->fd, line, (size_t)n) != n)
    c->failed = 1;
}

static int child_import(const char *jsonl, const char *store_path, int fd)
{
  char *buf = NULL, **lines = NULL;
  size_t *lens = NULL, n;
  tide_store *st = NULL;
  tide_ingest *ing = NULL;
  tide_ingest_options o;
  child_ctx c = {fd, 0};
  tide_error e;
  int rc = 2;

  n = gen_read_lines(jsonl, &buf, &lines, &lens);
  if (n == 0 || tide_store_open(&st, store_path, 0, &e) != 0) {
    fprintf(stderr, "crash child: cannot start: %s\n", n == 0 ? "no input" : e.msg);
    goto out;
  }
  memset(&o, 0, sizeof o);
  o.batch = 250;
  o.received_ms = 1;
  if (tide_ingest_new(&ing, st, &o, child_result, &c) != 0)
    goto out;
  for (size_t i = 0; i < n; i++) {
    if (lens[i] == 0)
      continue;
    if (tide_ingest_push(ing, i, lines[i], lens[i], &e) != 0) {
      fprintf(stderr, "crash child: %s\n", e.msg);
      goto out;
    }
  }
  if (tide_ingest_finish(ing, &e) != 0) {
    fprintf(stderr, "crash child: %s\n", e.msg);
    goto out;
  }
  rc = c.failed ? 3 : 0;
out:
  tide_ingest_free(ing);
  tide_store_close(st);
  free(buf);
  free(lines);
  free(lens);
  return rc;
}

/* ---- the parent: kill, verify ------------------------------------------ */

typedef struct world {
  config cfg;
  char dir[256], jsonl[300], store[300];
  gen_line *lines;
  uint8_t (*pks)[TIDE_PK_BYTES];
  unsigned char *acked;
  uint64_t rng;
} world;

static int fail(const char *fmt, ...) TIDE_PRINTF(1, 2);

static int fail(const char *fmt, ...)
{
  va_list ap;

  fprintf(stderr, "crash_kill9: FAILED: ");
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  return 1;
}

static void remove_store(const world *w)
{
  char p[320];
  unlink(w->store);
  snprintf(p, sizeof p, "%s-wal", w->store);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", w->store);
  unlink(p);
}

/* Checks the store after a kill.  *stored gets the message count. */
static int verify(world *w, size_t *stored, int expect_complete)
{
  tide_store *st = NULL;
  tide_error e;
  int64_t *latest = calloc(w->cfg.feeds, sizeof *latest);
  int bad = 0;
  tide_store_stats stats;

  *stored = 0;
  if (latest == NULL)
    return 1;
  if (tide_store_open(&st, w->store, 0, &e) != 0) {
    bad = fail("cannot open the store: %s", e.msg);
    goto out;
  }
  if (tide_store_check(st, &e) != 0) {
    bad = fail("store check: %s", e.msg);
    goto out;
  }
  for (size_t f = 0; f < w->cfg.feeds; f++) {
    tide_feed_state fs;
    int forked = 0, r = tide_store_latest(st, &fs, &forked, w->pks[f], &e);
    if (r == 0) {
      latest[f] = fs.sequence;
      if (forked)
        bad = fail("feed %zu is marked forked", f);
    } else if (r != TIDE_E_NOTFOUND) {
      bad = fail("latest: %s", e.msg);
      goto out;
    }
  }
  for (size_t i = 0; i < w->cfg.messages && !bad; i++) {
    const gen_line *l = &w->lines[i];
    uint8_t id[TIDE_HASH_BYTES];

    if (l->sequence <= latest[l->feed]) {
      if (tide_store_get_id(st, id, w->pks[l->feed], l->sequence, &e) != 0 ||
          memcmp(id, l->id, sizeof id) != 0)
        bad = fail("line %zu: stored message differs from the generated one", i);
      ++*stored;
    } else if (w->acked[i]) {
      bad = fail("line %zu was acknowledged but is not in the store", i);
    } else if (expect_complete) {
      bad = fail("line %zu missing after a complete import", i);
    }
  }
  if (!bad && (tide_store_get_stats(st, &stats, &e) != 0 || stats.messages != *stored))
    bad = fail("store holds %lld messages beyond the generated ones",
               (long long)stats.messages - (long long)*stored);
out:
  tide_store_close(st);
  free(latest);
  return bad;
}

/* Reads "ack N" lines from fd until EOF or until `until` (monotonic s);
 * returns 1 at EOF, 0 at the deadline, -1 on a malformed line. */
static int read_acks(world *w, int fd, char *carry, size_t *clen, double until)
{
  for (;;) {
    struct pollfd p = {fd, POLLIN, 0};
    double left = until - now_s();
    int ms = until <= 0 ? -1 : (left <= 0 ? 0 : (int)(left * 1000.0) + 1);
    ssize_t got;
    char *s, *nl;

    if (until > 0 && left <= 0)
      return 0;
    if (poll(&p, 1, ms) < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (p.revents == 0)
      continue;
    got = read(fd, carry + *clen, 4096 - 1 - *clen);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    if (got == 0)
      return 1;
    *clen += (size_t)got;
    carry[*clen] = '\0';
    s = carry;
    while ((nl = strchr(s, '\n')) != NULL) {
      unsigned long long tag;
      *nl = '\0';
      if (sscanf(s, "ack %llu", &tag) != 1 || tag >= w->cfg.messages)
        return -1;
      w->acked[tag] = 1;
      s = nl + 1;
    }
    *clen = strlen(s);
    memmove(carry, s, *clen + 1);
  }
}

static int run(world *w)
{
  /* Kill moments are uniform in [0, window): at most half a second, so
   * that K kills fit the budget; a killed import restarts from the top and
   * skips what is stored quickly, so the store still grows run by run. */
  double start = now_s(), window = 0.5;
  size_t kills = 0, runs = 0, completes = 0, stored = 0, max_stored = 0;
  int bad = 0;

  while (kills < w->cfg.kills) {
    int pfd[2], status = 0, eof, killed = 0;
    char carry[4096];
    size_t clen = 0;
    double t0, delay;
    pid_t pid;

    if (now_s() - start > w->cfg.budget_s) {
      fprintf(stderr, "crash_kill9: FAILED: only %zu kills within %.0f s\n", kills,
              w->cfg.budget_s);
      return 1;
    }
    if (pipe(pfd) != 0)
      return fail("pipe: %s", strerror(errno));
    fflush(NULL);
    pid = fork();
    if (pid < 0)
      return fail("fork: %s", strerror(errno));
    if (pid == 0) {
      close(pfd[0]);
      _exit(child_import(w->jsonl, w->store, pfd[1]));
    }
    close(pfd[1]);
    runs++;
    t0 = now_s();
    delay = window * (double)(gen_rand(&w->rng) % 10000) / 10000.0;
    eof = read_acks(w, pfd[0], carry, &clen, t0 + delay);
    if (eof == 0) {
      kill(pid, SIGKILL);
      killed = 1;
      eof = read_acks(w, pfd[0], carry, &clen, -1);
    }
    close(pfd[0]);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
    if (eof < 0)
      return fail("malformed ack line from the child");
    if (killed && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      double tv = now_s();
      kills++;
      bad = verify(w, &stored, 0);
      if (getenv("TIDE_CRASH_VERBOSE") != NULL)
        fprintf(stderr, "kill %zu after %.3f s: %zu stored, check took %.3f s\n", kills, delay,
                stored, now_s() - tv);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      /* Ran to completion: everything must be there.  Start over. */
      double took = now_s() - t0;
      completes++;
      bad = verify(w, &stored, 1);
      if (!bad && stored != w->cfg.messages)
        bad = fail("complete import stored %zu messages", stored);
      if (took > 0.05 && took < window)
        window = took;
      remove_store(w);
      memset(w->acked, 0, w->cfg.messages);
    } else {
      return fail("child ended unexpectedly (status %d)", status);
    }
    if (bad)
      return 1;
    if (stored > max_stored)
      max_stored = stored;
  }
  /* Finally an uninterrupted import on the last killed store. */
  {
    pid_t pid = fork();
    int status = 0;
    if (pid == 0) {
      int dn = open("/dev/null", O_WRONLY);
      _exit(child_import(w->jsonl, w->store, dn));
    }
    if (pid < 0)
      return fail("fork: %s", strerror(errno));
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
      ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
      return fail("final import failed (status %d)", status);
    if (verify(w, &stored, 1) || stored != w->cfg.messages)
      return fail("final store incomplete (%zu messages)", stored);
  }
  printf("crash_kill9: %zu kills, %zu runs, %zu complete imports, up to %zu of %zu messages "
         "stored at a kill, %.1f s: ok\n",
         kills, runs, completes, max_stored, w->cfg.messages, now_s() - start);
  return 0;
}

static int parse_args(config *c, int argc, char **argv)
{
  c->messages = 20000;
  c->feeds = 50;
  c->kills = 50;
  c->budget_s = 55;
  for (int i = 1; i < argc; i++) {
    if (i + 1 >= argc)
      return -1;
    if (strcmp(argv[i], "--messages") == 0)
      c->messages = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--feeds") == 0)
      c->feeds = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--kills") == 0)
      c->kills = strtoul(argv[++i], NULL, 10);
    else if (strcmp(argv[i], "--budget") == 0)
      c->budget_s = strtod(argv[++i], NULL);
    else
      return -1;
  }
  return c->messages > 0 && c->feeds > 0 && c->feeds <= 255 ? 0 : -1;
}

int main(int argc, char **argv)
{
  world w;
  const char *tmp = getenv("TMPDIR");
  int rc = 1;

  memset(&w, 0, sizeof w);
  if (parse_args(&w.cfg, argc, argv) != 0) {
    fprintf(stderr, "usage: crash_kill9 [--messages N] [--feeds F<=255] [--kills K] "
                    "[--budget S]\n");
    return 2;
  }
  if (tide_init() != 0)
    return 1;
  snprintf(w.dir, sizeof w.dir, "%s/tide-crash-XXXXXX", tmp != NULL ? tmp : "/tmp");
  if (mkdtemp(w.dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  snprintf(w.jsonl, sizeof w.jsonl, "%s/messages.jsonl", w.dir);
  snprintf(w.store, sizeof w.store, "%s/store.db", w.dir);
  w.lines = calloc(w.cfg.messages, sizeof *w.lines);
  w.acked = calloc(w.cfg.messages, 1);
  w.pks = calloc(w.cfg.feeds, sizeof *w.pks);
  w.rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 20);
  if (w.lines == NULL || w.acked == NULL || w.pks == NULL)
    goto out;
  if (gen_write_jsonl(w.jsonl, w.cfg.messages, w.cfg.feeds, 7, w.lines) != 0)
    goto out;
  for (size_t i = 0; i < w.cfg.messages; i++)
    memcpy(w.pks[w.lines[i].feed], w.lines[i].author, TIDE_PK_BYTES);
  printf("crash_kill9: seed %llu, %zu messages over %zu feeds in %s\n", (unsigned long long)w.rng,
         w.cfg.messages, w.cfg.feeds, w.dir);
  rc = run(&w);
out:
  remove_store(&w);
  unlink(w.jsonl);
  rmdir(w.dir);
  free(w.lines);
  free(w.acked);
  free(w.pks);
  return rc;
}
