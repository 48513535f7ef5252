/* usb.c - the USB stick as a mule: a flat drop folder of bundles and
 * clock files shared by the nodes that visit it (docs/bundle.md). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_file_int.h"
#include "tide/bundle_file.h"
#include "tide/frame.h"

#define SUFFIX       ".tideb"
#define PREAMBLE_MAX 256

int tide_usb_name_ok(const char *name, char *kind)
{
  size_t len = strlen(name), hex;

  if (len < 2 + 6 || name[1] != '-' || (name[0] != 'b' && name[0] != 'c'))
    return 0;
  hex = name[0] == 'b' ? 2 * TIDE_BUNDLE_ID_BYTES : 2 * TIDE_PK_BYTES;
  if (len != 2 + hex + strlen(SUFFIX) || strcmp(name + 2 + hex, SUFFIX) != 0)
    return 0;
  for (size_t i = 2; i < 2 + hex; i++)
    if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
      return 0;
  if (kind != NULL)
    *kind = name[0];
  return 1;
}

static void hex_of(char *out, const uint8_t *bin, size_t n)
{
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = digits[bin[i] >> 4];
    out[2 * i + 1] = digits[bin[i] & 15];
  }
  out[2 * n] = '\0';
}

static void unhex(uint8_t *out, const char *s, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    int hi = s[2 * i] <= '9' ? s[2 * i] - '0' : s[2 * i] - 'a' + 10;
    int lo = s[2 * i + 1] <= '9' ? s[2 * i + 1] - '0' : s[2 * i + 1] - 'a' + 10;
    out[i] = (uint8_t)(hi << 4 | lo);
  }
}

typedef struct name_list {
  char **v;
  size_t n, cap;
} name_list;

static int list_add(name_list *l, const char *s)
{
  if (l->n == l->cap) {
    size_t nc = l->cap ? l->cap * 2 : 16;
    char **nv = realloc(l->v, nc * sizeof *nv);
    if (nv == NULL)
      return TIDE_E_NOMEM;
    l->v = nv;
    l->cap = nc;
  }
  l->v[l->n] = strdup(s);
  if (l->v[l->n] == NULL)
    return TIDE_E_NOMEM;
  l->n++;
  return 0;
}

static void list_free(name_list *l)
{
  for (size_t i = 0; i < l->n; i++)
    free(l->v[i]);
  free(l->v);
}

static int name_cmp(const void *a, const void *b)
{
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Opens a stick file: relative to the folder, never following a link,
 * regular files only.  Returns the descriptor or a negative code with
 * *msg set. */
static int open_entry(int dfd, const char *name, const char **msg)
{
  struct stat st;
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);

  if (fd < 0) {
    *msg = errno == ELOOP ? "is a symbolic link: not followed" : strerror(errno);
    return TIDE_E_IO;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    *msg = "not a regular file";
    return TIDE_E_IO;
  }
  return fd;
}

/* Reads the preamble of an open bundle file (then rewinds it). */
static int read_info(int fd, tide_bundle_info *info, tide_error *err)
{
  uint8_t buf[PREAMBLE_MAX];
  tide_bundle_reader *r = NULL;
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  int rc;

  if (n < 0)
    return tide_error_set(err, TIDE_E_IO, 0, "read: %s", strerror(errno));
  rc = tide_bundle_reader_new(&r, NULL, 1);
  if (rc != 0)
    return rc;
  rc = tide_bundle_reader_push(r, buf, (size_t)n, err);
  if (rc == 0 && tide_bundle_reader_info(r) == NULL)
    rc = tide_error_set(err, TIDE_E_BUNDLE_TRUNCATED, 0, "bundle: file ends inside the header");
  if (rc == 0)
    *info = *tide_bundle_reader_info(r);
  tide_bundle_reader_free(r);
  return rc;
}

/* Per-feed highest sequence carried by a bundle. */
typedef struct content {
  tide_clock *max;
  tide_bundle_info info;
  int complete;
} content;

static int read_content(int fd, const tide_keypair *me, content *c, tide_error *err)
{
  tide_bundle_reader *r = NULL;
  tide_frame f;
  uint8_t buf[1 << 16];
  int rc;

  tide_frame_init(&f);
  c->complete = 0;
  rc = tide_bundle_reader_new(&r, me, 0);
  if (rc != 0)
    return rc;
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0) {
      rc = tide_error_set(err, TIDE_E_IO, 0, "read: %s", strerror(errno));
      break;
    }
    rc = n == 0 ? tide_bundle_reader_end(r, err) : tide_bundle_reader_push(r, buf, (size_t)n, err);
    while (rc == 0) {
      int k = tide_bundle_reader_next(r, &f, err);
      if (k == TIDE_E_AGAIN)
        break;
      if (k == TIDE_E_CLOSED) {
        c->complete = 1;
        break;
      }
      if (k != 0) {
        rc = k;
        break;
      }
      for (size_t i = 0; i < f.n_msgs; i++) {
        uint8_t pk[TIDE_PK_BYTES];
        int64_t seq = tide_msg_sequence(f.msgs[i]), v;
        if (!tide_msg_author(f.msgs[i], pk))
          continue;
        if (tide_clock_get(c->max, &v, pk) != 0 || v < seq)
          rc = tide_clock_set(c->max, pk, seq);
      }
    }
    if (rc != 0 || n == 0 || c->complete)
      break;
  }
  if (tide_bundle_reader_info(r) != NULL)
    c->info = *tide_bundle_reader_info(r);
  tide_frame_clear(&f);
  tide_bundle_reader_free(r);
  return rc;
}

/* 1 when clock covers every (feed, seq) of max. */
static int covers(const tide_clock *clock, const tide_clock *max)
{
  size_t it = 0;
  uint8_t feed[TIDE_PK_BYTES];
  int64_t seq, v;

  while (tide_clock_next(max, &it, feed, &seq)) {
    if (tide_clock_get(clock, &v, feed) != 0)
      return 0;
    if (v != -1 && tide_clock_value_seq(v) < seq)
      return 0;
  }
  return 1;
}

static void report(tide_usb_file_cb cb, void *ctx, const char *name, int code, const char *msg)
{
  if (cb != NULL)
    cb(ctx, name, code, msg);
}

int tide_usb_sync(tide_store *s, const tide_keypair *me, const char *dir, const tide_usb_opts *o,
                  tide_usb_file_cb on_file, void *file_ctx, tide_usb_stats *stats, tide_error *err)
{
  name_list bundles = {NULL, 0, 0}, clocks = {NULL, 0, 0};
  uint8_t(*peers)[TIDE_PK_BYTES] = NULL;
  size_t npeers = 0;
  tide_clock *ours = NULL, *base = NULL, *pc = NULL;
  tide_bundle_import_opts io;
  tide_usb_stats local;
  char myhex[2 * TIDE_PK_BYTES + 1];
  char *path = NULL;
  DIR *d = NULL;
  struct dirent *e;
  int dfd = -1, rc = 0;

  if (stats == NULL)
    stats = &local;
  memset(stats, 0, sizeof *stats);
  memset(&io, 0, sizeof io);
  io.now_ms = o->now_ms;
  io.threads = o->threads;
  io.on_reject = o->on_reject;
  io.reject_ctx = o->reject_ctx;
  hex_of(myhex, me->pk, TIDE_PK_BYTES);
  path = malloc(strlen(dir) + 2 + 2 * TIDE_PK_BYTES + 16);
  if (path == NULL)
    return TIDE_E_NOMEM;

  dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) {
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: %s", dir, strerror(errno));
    goto out;
  }
  {
    int dup_fd = dup(dfd);
    d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
    if (d == NULL) {
      if (dup_fd >= 0)
        close(dup_fd);
      rc = tide_error_set(err, TIDE_E_IO, 0, "%s: %s", dir, strerror(errno));
      goto out;
    }
  }
  while ((e = readdir(d)) != NULL) {
    char kind;
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0 ||
        strncmp(e->d_name, ".tmp-", 5) == 0)
      continue;
    if (!tide_usb_name_ok(e->d_name, &kind)) {
      stats->ignored++;
      continue;
    }
    rc = list_add(kind == 'b' ? &bundles : &clocks, e->d_name);
    if (rc != 0)
      goto out;
  }
  if (bundles.n > 1)
    qsort(bundles.v, bundles.n, sizeof *bundles.v, name_cmp);
  if (clocks.n > 1)
    qsort(clocks.v, clocks.n, sizeof *clocks.v, name_cmp);

  /* 1. bundles not imported yet */
  for (size_t i = 0; i < bundles.n; i++) {
    const char *name = bundles.v[i], *msg = NULL;
    tide_bundle_info info;
    tide_bundle_import_stats st;
    tide_error fe;
    char idhex[2 * TIDE_BUNDLE_ID_BYTES + 1];
    int fd = open_entry(dfd, name, &msg), k;

    stats->bundles_seen++;
    if (fd < 0) {
      report(on_file, file_ctx, name, fd, msg);
      stats->bundles_failed++;
      continue;
    }
    tide_error_clear(&fe);
    k = read_info(fd, &info, &fe);
    if (k == 0) {
      hex_of(idhex, info.id, TIDE_BUNDLE_ID_BYTES);
      if (strncmp(name + 2, idhex, 2 * TIDE_BUNDLE_ID_BYTES) != 0)
        k = tide_error_set(&fe, TIDE_E_BUNDLE_FORMAT, 0,
                           "bundle: its id %s differs from its file name", idhex);
    }
    if (k != 0) {
      report(on_file, file_ctx, name, k, fe.msg);
      stats->bundles_failed++;
      close(fd);
      continue;
    }
    if (memcmp(info.sender, me->pk, TIDE_PK_BYTES) == 0 ||
        (info.sealed && memcmp(info.recipient, me->pk, TIDE_PK_BYTES) != 0)) {
      stats->bundles_skipped++;
      close(fd);
      continue;
    }
    k = tide_bundle_was_imported(s, info.id, err);
    if (k < 0) {
      rc = k;
      close(fd);
      goto out;
    }
    if (k == 1) {
      stats->bundles_skipped++;
      close(fd);
      continue;
    }
    k = tide__bundle_import_fd(s, me, fd, name, &io, &st, &fe);
    close(fd);
    stats->added += st.added;
    stats->already += st.already;
    stats->rejected += st.rejected;
    if (k == TIDE_E_STORE || k == TIDE_E_NOMEM) {
      rc = k;
      if (err != NULL)
        *err = fe;
      goto out;
    }
    if (k != 0) {
      report(on_file, file_ctx, name, k, fe.msg);
      stats->bundles_failed++;
    } else {
      stats->bundles_imported++;
    }
  }

  /* 2. the other nodes' clocks */
  peers = calloc(clocks.n ? clocks.n : 1, sizeof *peers);
  if (peers == NULL) {
    rc = TIDE_E_NOMEM;
    goto out;
  }
  for (size_t i = 0; i < clocks.n; i++) {
    const char *name = clocks.v[i], *msg = NULL;
    tide_bundle_info info;
    tide_bundle_import_stats st;
    tide_error fe;
    uint8_t pk[TIDE_PK_BYTES];
    int fd, k;

    unhex(pk, name + 2, TIDE_PK_BYTES);
    if (memcmp(pk, me->pk, TIDE_PK_BYTES) == 0)
      continue;
    fd = open_entry(dfd, name, &msg);
    if (fd < 0) {
      report(on_file, file_ctx, name, fd, msg);
      continue;
    }
    tide_error_clear(&fe);
    k = read_info(fd, &info, &fe);
    if (k == 0 && memcmp(info.sender, pk, TIDE_PK_BYTES) != 0)
      k = tide_error_set(&fe, TIDE_E_BUNDLE_AUTH, 0,
                         "clock file is signed by another key than its name says");
    if (k == 0)
      k = tide__bundle_import_fd(s, me, fd, name, &io, &st, &fe);
    close(fd);
    if (k == TIDE_E_STORE || k == TIDE_E_NOMEM) {
      rc = k;
      if (err != NULL)
        *err = fe;
      goto out;
    }
    if (k != 0) {
      report(on_file, file_ctx, name, k, fe.msg);
      continue;
    }
    memcpy(peers[npeers++], pk, TIDE_PK_BYTES);
  }
  stats->peers = npeers;

  /* 3. one bundle with what the known nodes lack */
  if ((rc = tide_clock_new(&ours)) != 0 || (rc = tide_clock_new(&base)) != 0 ||
      (rc = tide_clock_new(&pc)) != 0)
    goto out;
  rc = tide_clock_from_store(ours, s, err);
  if (rc != 0)
    goto out;
  if (npeers > 0) {
    size_t it = 0;
    uint8_t feed[TIDE_PK_BYTES];
    int64_t v;
    int64_t *mins = calloc(tide_clock_count(ours) + 1, sizeof *mins);
    if (mins == NULL) {
      rc = TIDE_E_NOMEM;
      goto out;
    }
    for (size_t k = 0; k < tide_clock_count(ours); k++)
      mins[k] = -2; /* no peer wants it yet */
    for (size_t p = 0; p < npeers && rc == 0; p++) {
      size_t k = 0;
      rc = tide_clock_load(pc, s, peers[p], TIDE_CLOCK_THEIRS, err);
      it = 0;
      while (rc == 0 && tide_clock_next(ours, &it, feed, &v)) {
        int64_t pv, seq;
        seq = tide_clock_get(pc, &pv, feed) == 0 ? (pv == -1 ? -1 : tide_clock_value_seq(pv)) : 0;
        if (seq >= 0 && (mins[k] < 0 || seq < mins[k]))
          mins[k] = seq;
        k++;
      }
    }
    it = 0;
    for (size_t k = 0; rc == 0 && tide_clock_next(ours, &it, feed, &v); k++)
      rc = tide_clock_set(base, feed, mins[k] < 0 ? -1 : tide_clock_value(mins[k], 1));
    free(mins);
    if (rc != 0)
      goto out;
  }
  {
    tide_bundle_export_opts eo;
    tide_bundle_export_stats es;
    memset(&eo, 0, sizeof eo);
    eo.base = base;
    eo.max_bytes = o->max_bytes;
    eo.now_ms = o->now_ms;
    char *tmp = NULL;
    rc = tide__bundle_export_tmp(s, me, &eo, dir, &tmp, &es, err);
    if (rc != 0)
      goto out;
    if (es.messages > 0) {
      char idhex[2 * TIDE_BUNDLE_ID_BYTES + 1];
      hex_of(idhex, es.id, TIDE_BUNDLE_ID_BYTES);
      sprintf(path, "%s/b-%s%s", dir, idhex, SUFFIX);
      rc = tide__bundle_commit_tmp(tmp, path, err);
      free(tmp);
      if (rc != 0)
        goto out;
      stats->wrote_bundle = 1;
      stats->wrote_messages = es.messages;
      stats->wrote_bytes = es.bytes;
      rc = list_add(&bundles, path + strlen(dir) + 1);
      if (rc != 0)
        goto out;
    } else {
      (void)unlink(tmp);
      free(tmp);
    }
    /* 4. our clock: a bundle cut against our own clock carries none */
    memset(&eo, 0, sizeof eo);
    eo.base = ours;
    eo.now_ms = o->now_ms;
    rc = tide__bundle_export_tmp(s, me, &eo, dir, &tmp, NULL, err);
    if (rc != 0)
      goto out;
    sprintf(path, "%s/c-%s%s", dir, myhex, SUFFIX);
    rc = tide__bundle_commit_tmp(tmp, path, err);
    free(tmp);
    if (rc != 0)
      goto out;
  }

  /* 5. remove what every recipient has */
  for (size_t i = 0; i < bundles.n; i++) {
    const char *name = bundles.v[i], *msg = NULL;
    content c;
    tide_error fe;
    int fd = open_entry(dfd, name, &msg), k, all = 1;

    if (fd < 0)
      continue;
    memset(&c, 0, sizeof c);
    if ((rc = tide_clock_new(&c.max)) != 0) {
      close(fd);
      goto out;
    }
    tide_error_clear(&fe);
    k = read_content(fd, me, &c, &fe);
    close(fd);
    if (k == 0 && c.complete) {
      if (c.info.has_recipient) {
        if (memcmp(c.info.recipient, me->pk, TIDE_PK_BYTES) == 0) {
          all = covers(ours, c.max);
        } else {
          rc = tide_clock_load(pc, s, c.info.recipient, TIDE_CLOCK_THEIRS, err);
          all = rc == 0 && covers(pc, c.max);
        }
      } else {
        /* every node known on the stick other than the sender, and at
         * least one of them */
        size_t judged = 0;
        if (memcmp(c.info.sender, me->pk, TIDE_PK_BYTES) != 0) {
          all = covers(ours, c.max);
          judged++;
        }
        for (size_t p = 0; all && rc == 0 && p < npeers; p++) {
          if (memcmp(c.info.sender, peers[p], TIDE_PK_BYTES) == 0)
            continue;
          rc = tide_clock_load(pc, s, peers[p], TIDE_CLOCK_THEIRS, err);
          all = rc == 0 && covers(pc, c.max);
          judged++;
        }
        if (judged == 0)
          all = 0;
      }
      if (rc == 0 && all && unlinkat(dfd, name, 0) == 0)
        stats->removed++;
    }
    tide_clock_free(c.max);
    if (rc != 0)
      goto out;
  }
  if (fsync(dfd) != 0 && errno != EINVAL)
    rc = tide_error_set(err, TIDE_E_IO, 0, "%s: fsync: %s", dir, strerror(errno));
out:
  if (d != NULL)
    closedir(d);
  if (dfd >= 0)
    close(dfd);
  list_free(&bundles);
  list_free(&clocks);
  free(peers);
  free(path);
  tide_clock_free(ours);
  tide_clock_free(base);
  tide_clock_free(pc);
  return rc;
}
