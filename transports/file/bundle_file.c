/* bundle_file.c - asynchronous EBT over bundle files: export against the
 * recipient's recorded clock, import through the ingest pipeline, safe
 * file writing (docs/bundle.md). */
#include "tide/bundle_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../core/store_int.h"
#include "bundle_file_int.h"
#include "tide/frame.h"
#include "tide/ingest.h"
#include "tide/msg.h"

/* Messages per MESSAGES frame and the frame size the exporter aims at. */
#define EXPORT_FRAME_MSGS  64
#define EXPORT_FRAME_BYTES ((size_t)256 << 10)
/* Clock entries per CLOCK frame (each at most 1 + 10 + 32 + 10 bytes). */
#define CLOCK_FRAME_ENTRIES 16384
/* Read slice for imports. */
#define READ_SLICE ((size_t)64 << 10)

/* ------------------------------------------------------------ tables */

static int tables(tide_store *s, tide_error *err)
{
  int rc = sqlite3_exec(tide__store_db(s),
                        "CREATE TABLE IF NOT EXISTS bundle_peers ("
                        " peer BLOB PRIMARY KEY, last_created_ms INTEGER NOT NULL);"
                        "CREATE TABLE IF NOT EXISTS bundle_imported ("
                        " id BLOB PRIMARY KEY, sender BLOB NOT NULL,"
                        " created_ms INTEGER NOT NULL, imported_ms INTEGER NOT NULL);",
                        NULL, NULL, NULL);
  return rc == SQLITE_OK ? 0 : tide__store_error(s, rc, "create bundle tables", err);
}

int tide_bundle_was_imported(tide_store *s, const uint8_t id[TIDE_BUNDLE_ID_BYTES], tide_error *err)
{
  sqlite3_stmt *st = NULL;
  int rc = tables(s, err), src;

  if (rc != 0)
    return rc;
  src = sqlite3_prepare_v2(tide__store_db(s), "SELECT 1 FROM bundle_imported WHERE id=?1", -1, &st,
                           NULL);
  if (src == SQLITE_OK)
    src = sqlite3_bind_blob(st, 1, id, TIDE_BUNDLE_ID_BYTES, SQLITE_STATIC);
  if (src == SQLITE_OK) {
    src = sqlite3_step(st);
    rc = src == SQLITE_ROW ? 1 : src == SQLITE_DONE ? 0 : tide__store_error(s, src, "query", err);
  } else {
    rc = tide__store_error(s, src, "query", err);
  }
  sqlite3_finalize(st);
  return rc;
}

static int mark_imported(tide_store *s, const tide_bundle_info *info, uint64_t now, tide_error *err)
{
  sqlite3_stmt *st = NULL;
  int src = sqlite3_prepare_v2(tide__store_db(s),
                               "INSERT OR IGNORE INTO bundle_imported VALUES (?1,?2,?3,?4)", -1,
                               &st, NULL);
  if (src == SQLITE_OK)
    src = sqlite3_bind_blob(st, 1, info->id, TIDE_BUNDLE_ID_BYTES, SQLITE_STATIC);
  if (src == SQLITE_OK)
    src = sqlite3_bind_blob(st, 2, info->sender, TIDE_PK_BYTES, SQLITE_STATIC);
  if (src == SQLITE_OK)
    src = sqlite3_bind_int64(st, 3, (sqlite3_int64)info->created_ms);
  if (src == SQLITE_OK)
    src = sqlite3_bind_int64(st, 4, (sqlite3_int64)now);
  if (src == SQLITE_OK)
    src = sqlite3_step(st);
  sqlite3_finalize(st);
  return src == SQLITE_DONE ? 0 : tide__store_error(s, src, "record imported bundle", err);
}

/* Sets every entry of diff in the stored clock `dir` of peer. */
static int overlay_clock(tide_store *s, const uint8_t peer[TIDE_PK_BYTES], tide_clock_dir dir,
                         const tide_clock *diff, tide_error *err)
{
  tide_clock *c = NULL;
  size_t it = 0;
  uint8_t feed[TIDE_PK_BYTES];
  int64_t v;
  int rc = tide_clock_new(&c);

  if (rc == 0)
    rc = tide_clock_load(c, s, peer, dir, err);
  while (rc == 0 && tide_clock_next(diff, &it, feed, &v))
    rc = tide_clock_set(c, feed, v);
  if (rc == 0)
    rc = tide_clock_save(s, peer, dir, c, err);
  tide_clock_free(c);
  return rc;
}

/* Records what a bundle from info->sender tells, when it is newer than the
 * last bundle recorded from that sender (*recorded = 1, else 0):
 *   - its sender clock entries update our view of the sender's clock
 *     (THEIRS);
 *   - when it was cut for us, its base entries are the sender's view of
 *     our clock: they replace what we believe we told it (OURS), so a
 *     telling that got lost is told again. */
static int record_clock(tide_store *s, const tide_bundle_info *info, const tide_clock *c,
                        const tide_clock *base, const tide_keypair *me, int *recorded,
                        tide_error *err)
{
  sqlite3 *db = tide__store_db(s);
  sqlite3_stmt *st = NULL;
  int64_t last = -1;
  int src, rc;

  *recorded = 0;
  src = sqlite3_prepare_v2(db, "SELECT last_created_ms FROM bundle_peers WHERE peer=?1", -1, &st,
                           NULL);
  if (src == SQLITE_OK)
    src = sqlite3_bind_blob(st, 1, info->sender, TIDE_PK_BYTES, SQLITE_STATIC);
  if (src == SQLITE_OK) {
    src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
      last = sqlite3_column_int64(st, 0);
      src = SQLITE_DONE;
    }
  }
  sqlite3_finalize(st);
  st = NULL;
  if (src != SQLITE_DONE)
    return tide__store_error(s, src, "read bundle_peers", err);
  if ((int64_t)info->created_ms <= last)
    return 0;
  rc = overlay_clock(s, info->sender, TIDE_CLOCK_THEIRS, c, err);
  if (rc == 0 && me != NULL && info->has_recipient &&
      memcmp(info->recipient, me->pk, TIDE_PK_BYTES) == 0 && tide_clock_count(base) > 0)
    rc = overlay_clock(s, info->sender, TIDE_CLOCK_OURS, base, err);
  if (rc != 0)
    return rc;
  src = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO bundle_peers VALUES (?1,?2)", -1, &st, NULL);
  if (src == SQLITE_OK)
    src = sqlite3_bind_blob(st, 1, info->sender, TIDE_PK_BYTES, SQLITE_STATIC);
  if (src == SQLITE_OK)
    src = sqlite3_bind_int64(st, 2, (sqlite3_int64)info->created_ms);
  if (src == SQLITE_OK)
    src = sqlite3_step(st);
  sqlite3_finalize(st);
  if (src != SQLITE_DONE)
    return tide__store_error(s, src, "write bundle_peers", err);
  *recorded = 1;
  return 0;
}

/* ------------------------------------------------------------ export */

typedef struct feed_list {
  uint8_t (*pk)[TIDE_PK_BYTES];
  int64_t *seq;
  size_t n, cap;
} feed_list;

static int feeds_cb(void *ctx, const tide_store_feed *f)
{
  feed_list *l = ctx;
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 64;
    void *a = realloc(l->pk, nc * sizeof *l->pk), *b;
    if (a == NULL)
      return TIDE_E_NOMEM;
    l->pk = a;
    b = realloc(l->seq, nc * sizeof *l->seq);
    if (b == NULL)
      return TIDE_E_NOMEM;
    l->seq = b;
    l->cap = nc;
  }
  memcpy(l->pk[l->n], f->author, TIDE_PK_BYTES);
  l->seq[l->n] = f->latest.sequence;
  l->n++;
  return 0;
}

typedef struct exporter {
  tide_bundle_writer *w;
  tide_buf *out;
  int fd;           /* >= 0: out is drained into this file */
  const char *path; /* its name, for messages */
  tide_buf frame;
  tide_msg *batch[EXPORT_FRAME_MSGS];
  size_t nbatch, batch_bytes;
  int full; /* budget reached */
  uint64_t messages, feeds_with, left_out, total;
  int64_t cur_feed_added;
  const tide_bundle_export_opts *o;
  tide_error *err;
  int rc;
} exporter;

/* Writes what the writer produced so far to the file, when streaming. */
static int drain_out(exporter *x, size_t threshold)
{
  const char *p = x->out->data;
  size_t n = x->out->len;

  if (x->fd < 0 || n < threshold || n == 0)
    return 0;
  while (n > 0) {
    ssize_t w = write(x->fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return tide_error_set(x->err, TIDE_E_IO, 0, "%s: write: %s", x->path, strerror(errno));
    p += w;
    n -= (size_t)w;
  }
  tide_buf_reset(x->out);
  return 0;
}

static int flush_batch(exporter *x)
{
  int rc = 0;

  if (x->nbatch == 0)
    return 0;
  tide_buf_reset(&x->frame);
  rc = tide_frame_encode_messages(tide_bundle_writer_codec(x->w), &x->frame, x->batch, x->nbatch,
                                  x->err);
  if (rc == 0)
    rc = tide_bundle_writer_push(x->w, x->out, x->frame.data, x->frame.len, x->err);
  if (rc == 0)
    rc = drain_out(x, (size_t)1 << 20);
  for (size_t i = 0; i < x->nbatch; i++)
    tide_msg_free(x->batch[i]);
  x->nbatch = 0;
  x->batch_bytes = 0;
  return rc;
}

/* An upper bound of a message's size in a frame: the structured form is
 * never longer than the canonical text; the raw form is its compact JSON;
 * plus flags, a feed reference with its key, and length varints. */
#define MSG_FRAME_OVERHEAD 64

static int export_msg_cb(void *ctx, const tide_store_record *rec)
{
  exporter *x = ctx;
  tide_msg *m = NULL;
  size_t need = rec->text_len + MSG_FRAME_OVERHEAD;
  /* room kept for the two clock entries per carried feed written after
   * the messages (at most 3 + 10 bytes each) */
  size_t reserve = 26 * ((size_t)x->feeds_with + 2) + 32;
  int fits = 1, rc;

  if (x->full) {
    x->left_out++;
    return 0;
  }
  rc = tide_bundle_writer_fits(x->w, x->out, x->batch_bytes + need + reserve, &fits, x->err);
  if (rc == 0 && !fits && x->nbatch > 0) {
    /* measure the batch compressed before giving up */
    rc = flush_batch(x);
    if (rc == 0)
      rc = tide_bundle_writer_fits(x->w, x->out, need + reserve, &fits, x->err);
  }
  if (rc != 0)
    return rc;
  if (!fits) {
    x->full = 1;
    x->left_out++;
    return 0;
  }
  rc = tide_msg_parse(&m, rec->text, rec->text_len, x->err);
  if (rc != 0)
    return rc;
  x->batch[x->nbatch++] = m;
  x->batch_bytes += need;
  x->messages++;
  x->cur_feed_added++;
  if (x->o->progress != NULL && x->messages % 1000 == 0)
    x->o->progress(x->o->progress_ctx, x->messages, x->total);
  if (x->nbatch == EXPORT_FRAME_MSGS || x->batch_bytes >= EXPORT_FRAME_BYTES)
    return flush_batch(x);
  return 0;
}

/* Writes the entries of c as CLOCK frames of the given kind, limited to
 * the feeds listed in only (when non-NULL) to keep BASE small. */
static int put_clock(exporter *x, tide_frame_clock_kind kind, const tide_frame_entry *e, size_t n)
{
  size_t done = 0;
  int rc = 0, fits;

  do {
    size_t k = n - done < CLOCK_FRAME_ENTRIES ? n - done : CLOCK_FRAME_ENTRIES;
    tide_buf_reset(&x->frame);
    rc = tide_frame_encode_clock(tide_bundle_writer_codec(x->w), &x->frame, kind, e + done, k);
    if (rc == 0)
      rc = tide_bundle_writer_fits(x->w, x->out, x->frame.len, &fits, x->err);
    if (rc == 0 && !fits)
      rc = tide_error_set(x->err, TIDE_E_BUNDLE_BUDGET, 0,
                          "bundle: the byte budget cannot hold our clock (%zu feeds)", n);
    if (rc == 0)
      rc = tide_bundle_writer_push(x->w, x->out, x->frame.data, x->frame.len, x->err);
    done += k;
  } while (rc == 0 && done < n);
  return rc;
}

/* The exporter: appends the bundle to out, or, with fd >= 0, streams it
 * into fd (out is then a scratch buffer). */
static int export_run(tide_store *s, const tide_keypair *me, const tide_bundle_export_opts *o,
                      tide_buf *out, int fd, const char *path, tide_bundle_export_stats *stats,
                      tide_error *err)
{
  tide_bundle_writer_opts wo;
  exporter x;
  feed_list fl = {NULL, NULL, 0, 0};
  tide_clock *base = NULL, *told = NULL, *ours_c = NULL;
  tide_frame_entry *ours = NULL, *basee = NULL, *late = NULL;
  int64_t *from = NULL, *basev = NULL;
  char *listed = NULL;
  size_t nbase = 0, nours = 0, nlate = 0;
  size_t start = out->len;
  int rc;

  memset(&x, 0, sizeof x);
  x.out = out;
  x.fd = fd;
  x.path = path;
  x.o = o;
  x.err = err;
  tide_buf_init(&x.frame);
  memset(&wo, 0, sizeof wo);
  wo.recipient = o->recipient;
  wo.seal = o->seal;
  wo.created_ms = o->now_ms;
  wo.level = o->level;
  wo.no_dict = o->no_dict;
  wo.max_bytes = o->max_bytes;
  wo.chunk_bytes = o->chunk_bytes;

  rc = tide_store_feeds(s, feeds_cb, &fl, err);
  if (rc == 0)
    rc = tide_clock_new(&base);
  if (rc == 0)
    rc = tide_clock_new(&told);
  if (rc == 0)
    rc = tide_clock_new(&ours_c);
  if (rc != 0)
    goto out;
  if (o->base != NULL) {
    rc = tide_clock_copy(base, o->base);
  } else if (o->recipient != NULL) {
    rc = tide_clock_load(base, s, o->recipient, TIDE_CLOCK_THEIRS, err);
  }
  /* what we told the recipient of our clock, corrected by what its
   * bundles said it believes */
  if (rc == 0 && o->recipient != NULL)
    rc = tide_clock_load(told, s, o->recipient, TIDE_CLOCK_OURS, err);
  if (rc != 0)
    goto out;
  ours = calloc(fl.n ? fl.n : 1, sizeof *ours);
  basee = calloc(fl.n ? fl.n : 1, sizeof *basee);
  late = calloc(fl.n ? fl.n : 1, sizeof *late);
  from = calloc(fl.n ? fl.n : 1, sizeof *from);
  basev = calloc(fl.n ? fl.n : 1, sizeof *basev);
  listed = calloc(fl.n ? fl.n : 1, 1);
  if (ours == NULL || basee == NULL || late == NULL || from == NULL || basev == NULL ||
      listed == NULL) {
    rc = TIDE_E_NOMEM;
    goto out;
  }
  for (size_t i = 0; i < fl.n; i++) {
    int64_t v = 0, mine = tide_clock_value(fl.seq[i], 1), t;
    int has_base = tide_clock_get(base, &v, fl.pk[i]) == 0;
    from[i] = !has_base ? 1 : v == -1 ? -1 : tide_clock_value_seq(v) + 1;
    basev[i] = has_base ? v : 0;
    if (from[i] > 0 && from[i] <= fl.seq[i])
      x.total += (uint64_t)(fl.seq[i] - from[i] + 1);
    rc = tide_clock_set(ours_c, fl.pk[i], mine);
    if (rc != 0)
      goto out;
    /* Our clock: for a recipient, only what changed since we told it
     * (request skipping); for anyone, all of it.  The feeds we carry
     * messages of are listed after the messages in any case. */
    if (o->recipient == NULL || tide_clock_get(told, &t, fl.pk[i]) != 0 || t != mine) {
      memcpy(ours[nours].feed, fl.pk[i], TIDE_PK_BYTES);
      ours[nours++].value = mine;
      listed[i] = 1;
    }
  }
  /* about 450 frame bytes per message and 35 per clock entry */
  wo.size_hint =
      (o->max_messages > 0 && o->max_messages < x.total ? o->max_messages : x.total) * 450 +
      (uint64_t)nours * 35 + 64;
  if (wo.max_bytes != 0 && wo.size_hint > wo.max_bytes * 3)
    wo.size_hint = wo.max_bytes * 3;
  rc = tide_bundle_writer_new(&x.w, out, me, &wo, err);
  if (rc != 0)
    goto out;
  rc = put_clock(&x, TIDE_FRAME_CLOCK_SENDER, ours, nours);
  for (size_t i = 0; rc == 0 && i < fl.n && !x.full; i++) {
    int64_t to = fl.seq[i];
    if (from[i] < 1 || from[i] > fl.seq[i])
      continue;
    if (o->max_messages > 0) {
      uint64_t room = o->max_messages - x.messages;
      if ((uint64_t)(to - from[i] + 1) > room)
        to = from[i] + (int64_t)room - 1;
    }
    x.cur_feed_added = 0;
    if (to >= from[i])
      rc = tide_store_iter_feed(s, fl.pk[i], from[i], to, export_msg_cb, &x, err);
    if (x.cur_feed_added > 0) {
      x.feeds_with++;
      /* what the recipient must already hold of this feed, and (when not
       * listed yet) our own entry for it */
      memcpy(basee[nbase].feed, fl.pk[i], TIDE_PK_BYTES);
      basee[nbase++].value = basev[i];
      if (!listed[i]) {
        memcpy(late[nlate].feed, fl.pk[i], TIDE_PK_BYTES);
        late[nlate++].value = tide_clock_value(fl.seq[i], 1);
      }
    }
    if (o->max_messages > 0 && x.messages >= o->max_messages)
      x.full = 1;
  }
  if (rc == 0)
    rc = flush_batch(&x);
  x.full = 0; /* the reserve below was kept for these frames */
  if (rc == 0 && nlate > 0)
    rc = put_clock(&x, TIDE_FRAME_CLOCK_SENDER, late, nlate);
  if (rc == 0 && nbase > 0)
    rc = put_clock(&x, TIDE_FRAME_CLOCK_BASE, basee, nbase);
  if (rc == 0)
    rc = tide_bundle_writer_finish(x.w, out, err);
  if (rc == 0)
    rc = drain_out(&x, 0);
  /* what we told the recipient: our whole clock, cumulatively */
  if (rc == 0 && o->recipient != NULL)
    rc = tide_clock_save(s, o->recipient, TIDE_CLOCK_OURS, ours_c, err);
  if (rc == 0 && stats != NULL) {
    memset(stats, 0, sizeof *stats);
    stats->messages = x.messages;
    stats->feeds = x.feeds_with;
    stats->bytes = tide_bundle_writer_bytes_out(x.w);
    stats->frame_bytes = tide_bundle_writer_bytes_in(x.w);
    stats->left_out = x.total - x.messages;
    memcpy(stats->id, tide_bundle_writer_info(x.w)->id, TIDE_BUNDLE_ID_BYTES);
  }
  if (rc == 0 && o->progress != NULL)
    o->progress(o->progress_ctx, x.messages, x.total);
out:
  for (size_t i = 0; i < x.nbatch; i++)
    tide_msg_free(x.batch[i]);
  if (rc != 0)
    out->len = start;
  tide_bundle_writer_free(x.w);
  tide_buf_free(&x.frame);
  tide_clock_free(base);
  tide_clock_free(told);
  tide_clock_free(ours_c);
  free(ours);
  free(basee);
  free(late);
  free(from);
  free(basev);
  free(listed);
  free(fl.pk);
  free(fl.seq);
  return rc;
}

int tide_bundle_export_buf(tide_store *s, const tide_keypair *me, const tide_bundle_export_opts *o,
                           tide_buf *out, tide_bundle_export_stats *stats, tide_error *err)
{
  return export_run(s, me, o, out, -1, NULL, stats, err);
}

/* ------------------------------------------------------ safe file writes */

int tide__bundle_write_atomic(const char *path, const void *data, size_t len, tide_error *err)
{
  char *tmp = NULL, *dcopy = NULL, *fcopy = NULL;
  const char *dir, *base;
  size_t n;
  int fd = -1, dfd = -1, rc = 0;
  uint8_t rnd[8];
  const uint8_t *p = data;

  dcopy = strdup(path);
  fcopy = strdup(path);
  if (dcopy == NULL || fcopy == NULL) {
    rc = TIDE_E_NOMEM;
    goto out;
  }
  dir = dirname(dcopy);
  base = basename(fcopy);
  n = strlen(dir) + strlen(base) + 40;
  tmp = malloc(n);
  if (tmp == NULL) {
    rc = TIDE_E_NOMEM;
    goto out;
  }
  randombytes_buf(rnd, sizeof rnd);
  snprintf(tmp, n, "%s/.tmp-%02x%02x%02x%02x%02x%02x%02x%02x-%s", dir, rnd[0], rnd[1], rnd[2],
           rnd[3], rnd[4], rnd[5], rnd[6], rnd[7], base);
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: %s", tmp, strerror(errno));
    goto out;
  }
  while (len > 0) {
    ssize_t w = write(fd, p, len);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      rc = tide_error_set(err, TIDE_E_IO, 0, "%s: write: %s", tmp, strerror(errno));
      goto out;
    }
    p += w;
    len -= (size_t)w;
  }
  if (fsync(fd) != 0) {
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: fsync: %s", tmp, strerror(errno));
    goto out;
  }
  if (close(fd) != 0) {
    fd = -1;
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: close: %s", tmp, strerror(errno));
    goto out;
  }
  fd = -1;
  if (rename(tmp, path) != 0) {
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: rename: %s", path, strerror(errno));
    goto out;
  }
  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    (void)fsync(dfd);
    close(dfd);
  }
out:
  if (fd >= 0)
    close(fd);
  if (rc != 0 && tmp != NULL)
    (void)unlink(tmp);
  free(tmp);
  free(dcopy);
  free(fcopy);
  return rc;
}

int tide__bundle_export_tmp(tide_store *s, const tide_keypair *me, const tide_bundle_export_opts *o,
                            const char *dir, char **tmp_path, tide_bundle_export_stats *stats,
                            tide_error *err)
{
  tide_buf scratch = TIDE_BUF_INIT;
  uint8_t rnd[8];
  size_t n = strlen(dir) + 40;
  char *tmp = malloc(n);
  int fd = -1, rc;

  *tmp_path = NULL;
  if (tmp == NULL)
    return TIDE_E_NOMEM;
  randombytes_buf(rnd, sizeof rnd);
  snprintf(tmp, n, "%s/.tmp-%02x%02x%02x%02x%02x%02x%02x%02x.tideb", dir, rnd[0], rnd[1], rnd[2],
           rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) {
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: %s", tmp, strerror(errno));
    free(tmp);
    return rc;
  }
  rc = export_run(s, me, o, &scratch, fd, tmp, stats, err);
  if (rc == 0 && fsync(fd) != 0)
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: fsync: %s", tmp, strerror(errno));
  if (close(fd) != 0 && rc == 0)
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: close: %s", tmp, strerror(errno));
  tide_buf_free(&scratch);
  if (rc != 0) {
    (void)unlink(tmp);
    free(tmp);
    return rc;
  }
  *tmp_path = tmp;
  return 0;
}

int tide__bundle_commit_tmp(const char *tmp, const char *path, tide_error *err)
{
  char *dcopy = strdup(path);
  int dfd, rc = 0;

  if (dcopy == NULL)
    return TIDE_E_NOMEM;
  if (rename(tmp, path) != 0) {
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: rename: %s", path, strerror(errno));
    (void)unlink(tmp);
  } else {
    dfd = open(dirname(dcopy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
      (void)fsync(dfd);
      close(dfd);
    }
  }
  free(dcopy);
  return rc;
}

int tide_bundle_export_file(tide_store *s, const tide_keypair *me, const tide_bundle_export_opts *o,
                            const char *path, tide_bundle_export_stats *stats, tide_error *err)
{
  char *dcopy = strdup(path), *tmp = NULL;
  int rc;

  /* streamed into a temporary file beside the target, then renamed: a
   * bundle of any size never has to fit in memory */
  if (dcopy == NULL)
    return TIDE_E_NOMEM;
  rc = tide__bundle_export_tmp(s, me, o, dirname(dcopy), &tmp, stats, err);
  if (rc == 0)
    rc = tide__bundle_commit_tmp(tmp, path, err);
  free(tmp);
  free(dcopy);
  return rc;
}

/* ------------------------------------------------------------ import */

typedef struct importer {
  tide_store *s;
  const tide_keypair *me;
  const tide_bundle_import_opts *o;
  tide_bundle_import_stats *st;
  tide_bundle_reader *r;
  tide_ingest *ing;
  tide_clock *sender_clock, *base_clock;
  tide_frame f;
  uint64_t tag;
} importer;

static void ingest_cb(void *ctx, const tide_ingest_result *res)
{
  importer *im = ctx;

  switch (res->verdict) {
  case TIDE_INGEST_ACCEPTED: im->st->added++; break;
  case TIDE_INGEST_ALREADY: im->st->already++; break;
  case TIDE_INGEST_FORK:
    im->st->forks++;
    im->st->rejected++;
    break;
  default: im->st->rejected++; break;
  }
  if ((res->verdict == TIDE_INGEST_REJECTED || res->verdict == TIDE_INGEST_FORK) && im->o != NULL &&
      im->o->on_reject != NULL)
    im->o->on_reject(im->o->reject_ctx, res->has_author ? res->author : NULL, res->sequence,
                     res->verdict == TIDE_INGEST_FORK ? "fork: a different message is stored "
                                                        "at this sequence (feed now forked)"
                                                      : res->reason);
  if (im->o != NULL && im->o->progress != NULL) {
    uint64_t done = im->st->added + im->st->already + im->st->rejected;
    if (done % 1000 == 0)
      im->o->progress(im->o->progress_ctx, done, 0);
  }
}

/* Drains decoded frames into the ingest session.  Returns 0 when more
 * input is needed or the bundle ended, else an error. */
static int drain(importer *im, tide_error *err)
{
  for (;;) {
    int rc = tide_bundle_reader_next(im->r, &im->f, err);
    if (rc == TIDE_E_AGAIN || rc == TIDE_E_CLOSED)
      return 0;
    if (rc != 0)
      return rc;
    switch (im->f.type) {
    case TIDE_FRAME_CLOCK:
    case TIDE_FRAME_NOTE: {
      tide_clock *c = im->f.type == TIDE_FRAME_CLOCK && im->f.clock_kind == TIDE_FRAME_CLOCK_BASE
                          ? im->base_clock
                          : im->sender_clock;
      for (size_t i = 0; i < im->f.n_entries; i++) {
        if (tide_clock_value_check(im->f.entries[i].value) != 0)
          continue; /* a value JS EBT could not express: ignored */
        rc = tide_clock_set(c, im->f.entries[i].feed, im->f.entries[i].value);
        if (rc != 0)
          return rc;
        if (c == im->sender_clock)
          im->st->clock_entries++;
      }
      break;
    }
    case TIDE_FRAME_MESSAGES:
      /* canonical texts: the ingest workers parse and verify them in
       * parallel, exactly as for any other input */
      for (size_t i = 0; i < im->f.n_texts; i++) {
        im->st->messages++;
        rc = tide_ingest_push(im->ing, im->tag++, im->f.texts[i], im->f.text_lens[i], err);
        if (rc != 0)
          return rc;
      }
      break;
    default: break; /* HELLO, REQUEST, ACK carry nothing for a bundle */
    }
  }
}

static int behind_check(importer *im, tide_error *err)
{
  size_t it = 0;
  uint8_t feed[TIDE_PK_BYTES];
  int64_t v;

  while (tide_clock_next(im->base_clock, &it, feed, &v)) {
    tide_feed_state fs;
    int64_t have = 0;
    int rc;
    if (v < 0)
      continue;
    rc = tide_store_latest(im->s, &fs, NULL, feed, err);
    if (rc == 0)
      have = fs.sequence;
    else if (rc != TIDE_E_NOTFOUND)
      return rc;
    if (tide_clock_value_seq(v) > have)
      im->st->behind_feeds++;
  }
  return 0;
}

typedef int (*source_fn)(void *ctx, const uint8_t **p, size_t *n, tide_error *err);

static int import_run(tide_store *s, const tide_keypair *me, source_fn src, void *src_ctx,
                      const tide_bundle_import_opts *o, tide_bundle_import_stats *st,
                      tide_error *err)
{
  importer im;
  tide_ingest_options io;
  tide_error ferr;
  int rc, bundle_rc = 0;

  memset(&im, 0, sizeof im);
  memset(st, 0, sizeof *st);
  tide_error_clear(&ferr);
  im.s = s;
  im.me = me;
  im.o = o;
  im.st = st;
  tide_frame_init(&im.f);
  memset(&io, 0, sizeof io);
  io.threads = o != NULL ? o->threads : 0;
  io.received_ms = o != NULL ? (int64_t)o->now_ms : 0;
  rc = tables(s, err);
  if (rc == 0)
    rc = tide_bundle_reader_new(&im.r, me, 0);
  if (rc == 0)
    tide_bundle_reader_decode_texts(im.r);
  if (rc == 0)
    rc = tide_clock_new(&im.sender_clock);
  if (rc == 0)
    rc = tide_clock_new(&im.base_clock);
  if (rc == 0)
    rc = tide_ingest_new(&im.ing, s, &io, ingest_cb, &im);
  if (rc != 0)
    goto out;
  for (;;) {
    const uint8_t *p = NULL;
    size_t n = 0;
    rc = src(src_ctx, &p, &n, err);
    if (rc != 0)
      goto out;
    if (n == 0)
      break;
    st->bytes += n;
    bundle_rc = tide_bundle_reader_push(im.r, p, n, &ferr);
    if (!st->have_info && tide_bundle_reader_info(im.r) != NULL) {
      st->info = *tide_bundle_reader_info(im.r);
      st->have_info = 1;
    }
    /* frames of the verified prefix are imported even after an error */
    rc = drain(&im, bundle_rc != 0 ? NULL : &ferr);
    if (rc != 0 && bundle_rc == 0)
      bundle_rc = rc;
    if (bundle_rc != 0)
      break;
  }
  if (bundle_rc == 0) {
    bundle_rc = tide_bundle_reader_end(im.r, &ferr);
    rc = drain(&im, bundle_rc != 0 ? NULL : &ferr);
    if (rc != 0 && bundle_rc == 0)
      bundle_rc = rc;
  }
  if (bundle_rc == TIDE_E_NOMEM || bundle_rc == TIDE_E_STORE) {
    rc = bundle_rc;
    goto out;
  }
  rc = tide_ingest_finish(im.ing, err);
  if (rc != 0)
    goto out;
  if (st->have_info && st->info.has_recipient && me != NULL &&
      memcmp(st->info.recipient, me->pk, TIDE_PK_BYTES) != 0)
    st->for_other = 1;
  /* The sender's clock is authenticated as soon as its chunk verified. */
  if (st->have_info && tide_clock_count(im.sender_clock) > 0) {
    rc = record_clock(s, &st->info, im.sender_clock, im.base_clock, me, &st->clock_recorded, err);
    if (rc != 0)
      goto out;
  }
  rc = behind_check(&im, err);
  if (rc != 0)
    goto out;
  if (bundle_rc == 0) {
    st->complete = 1;
    rc = mark_imported(s, &st->info, o != NULL ? o->now_ms : 0, err);
    if (rc != 0)
      goto out;
  } else {
    rc = bundle_rc;
    if (err != NULL)
      *err = ferr;
  }
out:
  tide_ingest_free(im.ing);
  tide_frame_clear(&im.f);
  tide_bundle_reader_free(im.r);
  tide_clock_free(im.sender_clock);
  tide_clock_free(im.base_clock);
  return rc;
}

typedef struct mem_src {
  const uint8_t *p;
  size_t len, pos;
} mem_src;

static int mem_next(void *ctx, const uint8_t **p, size_t *n, tide_error *err)
{
  mem_src *m = ctx;
  size_t k = m->len - m->pos < READ_SLICE ? m->len - m->pos : READ_SLICE;
  (void)err;
  *p = m->p + m->pos;
  *n = k;
  m->pos += k;
  return 0;
}

int tide_bundle_import_buf(tide_store *s, const tide_keypair *me, const uint8_t *data, size_t len,
                           const tide_bundle_import_opts *o, tide_bundle_import_stats *stats,
                           tide_error *err)
{
  mem_src m = {data, len, 0};
  tide_bundle_import_stats local;
  return import_run(s, me, mem_next, &m, o, stats != NULL ? stats : &local, err);
}

typedef struct fd_src {
  int fd;
  const char *path;
  uint8_t buf[READ_SLICE];
} fd_src;

static int fd_next(void *ctx, const uint8_t **p, size_t *n, tide_error *err)
{
  fd_src *f = ctx;
  for (;;) {
    ssize_t r = read(f->fd, f->buf, sizeof f->buf);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0)
      return tide_error_set(err, TIDE_E_IO, 0, "%s: read: %s", f->path, strerror(errno));
    *p = f->buf;
    *n = (size_t)r;
    return 0;
  }
}

int tide__bundle_import_fd(tide_store *s, const tide_keypair *me, int fd, const char *name,
                           const tide_bundle_import_opts *o, tide_bundle_import_stats *stats,
                           tide_error *err)
{
  fd_src *f = malloc(sizeof *f);
  tide_bundle_import_stats local;
  int rc;

  if (f == NULL)
    return TIDE_E_NOMEM;
  f->fd = fd;
  f->path = name;
  rc = import_run(s, me, fd_next, f, o, stats != NULL ? stats : &local, err);
  free(f);
  return rc;
}

int tide_bundle_import_file(tide_store *s, const tide_keypair *me, const char *path,
                            const tide_bundle_import_opts *o, tide_bundle_import_stats *stats,
                            tide_error *err)
{
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  int rc;

  if (fd < 0)
    return tide_error_set(err, TIDE_E_IO, 0, "%s: %s", path, strerror(errno));
  rc = tide__bundle_import_fd(s, me, fd, path, o, stats, err);
  close(fd);
  return rc;
}
