/* test_store_faults.c - SQLite-style failure loops for the store and the
 * ingest pipeline.
 *
 * 1. Allocation failure: SQLite's allocator is replaced by one that fails
 *    every allocation from the N-th on; for N = 1, 2, ... an import runs
 *    (open, ingest in small batches, close) until one completes.
 * 2. I/O failure: a VFS shim over the default VFS fails every write, sync
 *    or truncate from the N-th on (as a dying disk would); same loop.
 * 3. Power loss: the shim remembers every write not yet synced; at the
 *    N-th write of an import the "power is cut": each unsynced write is
 *    kept, undone or torn at random, and nothing reaches the disk after.
 * After every failed attempt, with faults off, the store must open, pass
 * tide_store_check(), and hold every message reported ACCEPTED.
 * 4. The same three loops over the upgrade of a version-1 store (opening
 *    it writable): after every failure the file is still the intact
 *    version-1 store or the complete version-2 one, never a mix, and
 *    opening it then gives every message.
 *
 * This is its own executable because it reconfigures SQLite globally. */
#include <limits.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_fixture.h"
#include "store_v1.h"
#include "tide/ingest.h"
#include "tide/store.h"
#include "tide_test.h"

/* ---- fault switch -------------------------------------------------------- */

static long fault_countdown = -1; /* -1: off; 0: failing; n > 0: n calls left */

static int fault_hit(void)
{
  if (fault_countdown < 0)
    return 0;
  if (fault_countdown == 0)
    return 1;
  fault_countdown--;
  return fault_countdown == 0;
}

/* ---- allocator ----------------------------------------------------------- */

static sqlite3_mem_methods real_mem;

static void *faulty_malloc(int n)
{
  return fault_hit() ? NULL : real_mem.xMalloc(n);
}

static void *faulty_realloc(void *p, int n)
{
  return fault_hit() ? NULL : real_mem.xRealloc(p, n);
}

static void faulty_free(void *p)
{
  real_mem.xFree(p);
}

static int faulty_size(void *p)
{
  return real_mem.xSize(p);
}

static int faulty_roundup(int n)
{
  return real_mem.xRoundup(n);
}

static int faulty_init(void *a)
{
  return real_mem.xInit(a);
}

static void faulty_shutdown(void *a)
{
  real_mem.xShutdown(a);
}

/* ---- VFS shim ------------------------------------------------------------ */

typedef struct shim_file {
  sqlite3_file base;
  sqlite3_file *real; /* allocated right after this struct */
} shim_file;

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static sqlite3_io_methods shim_io;

/* Power-loss simulation.  While recording, every write remembers what it
 * overwrote until the file is synced.  At the cut, each unsynced write is
 * independently kept, undone, or torn (its second half undone), as a disk
 * cache losing power may do; from then on nothing reaches the disk. */
typedef struct undo {
  shim_file *f;
  sqlite3_int64 off;
  int n;
  unsigned char *old; /* the old bytes of [off, off + old_n) */
  int old_n;
  sqlite3_int64 old_size;
} undo;

static int power_recording;
static int power_cut;
static long power_writes, power_cut_at;
static uint64_t power_rng;
static undo *undos;
static size_t nundo, capundo;

static uint64_t power_rand(void)
{
  power_rng ^= power_rng << 13;
  power_rng ^= power_rng >> 7;
  power_rng ^= power_rng << 17;
  return power_rng;
}

static void forget_undos(shim_file *f)
{
  size_t j = 0;
  for (size_t i = 0; i < nundo; i++) {
    if (f == NULL || undos[i].f == f)
      free(undos[i].old);
    else
      undos[j++] = undos[i];
  }
  nundo = j;
}

static void record_undo(shim_file *s, sqlite3_int64 off, int n)
{
  sqlite3_int64 size = 0;
  undo *u;

  if (nundo == capundo) {
    capundo = capundo == 0 ? 64 : capundo * 2;
    undos = realloc(undos, capundo * sizeof *undos);
    if (undos == NULL)
      abort();
  }
  u = &undos[nundo++];
  memset(u, 0, sizeof *u);
  u->f = s;
  u->off = off;
  u->n = n;
  (void)s->real->pMethods->xFileSize(s->real, &size);
  u->old_size = size;
  if (size > off) {
    u->old_n = size - off < n ? (int)(size - off) : n;
    u->old = malloc((size_t)u->old_n);
    if (u->old == NULL || s->real->pMethods->xRead(s->real, u->old, u->old_n, off) != SQLITE_OK)
      abort();
  }
}

/* Undoes [from, off + n) of u (from >= u->off). */
static void undo_part(const undo *u, sqlite3_int64 from)
{
  sqlite3_file *r = u->f->real;
  sqlite3_int64 old_end = u->off + u->old_n;

  if (from < old_end)
    (void)r->pMethods->xWrite(r, u->old + (from - u->off), (int)(old_end - from), from);
  if (from == u->off && u->old_size < u->off + u->n)
    (void)r->pMethods->xTruncate(r, u->old_size);
}

static void power_fail(void)
{
  power_cut = 1;
  for (size_t i = nundo; i-- > 0;) {
    const undo *u = &undos[i];
    switch (power_rand() % 4) {
    case 0:
    case 1: undo_part(u, u->off); break;
    case 2: break; /* reached the platter */
    default: undo_part(u, u->off + u->n / 2); break;
    }
  }
  forget_undos(NULL);
}

static int shim_close(sqlite3_file *f)
{
  shim_file *s = (shim_file *)f;
  int rc = s->real->pMethods != NULL ? s->real->pMethods->xClose(s->real) : SQLITE_OK;
  forget_undos(s);
  return rc;
}
static int shim_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o)
{
  return ((shim_file *)f)->real->pMethods->xRead(((shim_file *)f)->real, b, n, o);
}
static int shim_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
  if (power_cut)
    return SQLITE_IOERR_WRITE;
  if (power_recording) {
    if (++power_writes >= power_cut_at) {
      power_fail();
      return SQLITE_IOERR_WRITE;
    }
    record_undo((shim_file *)f, o, n);
  }
  if (fault_hit())
    return SQLITE_IOERR_WRITE;
  return ((shim_file *)f)->real->pMethods->xWrite(((shim_file *)f)->real, b, n, o);
}
static int shim_truncate(sqlite3_file *f, sqlite3_int64 n)
{
  if (power_cut)
    return SQLITE_IOERR_TRUNCATE;
  if (power_recording) {
    sqlite3_int64 size = 0;
    shim_file *s = (shim_file *)f;
    (void)s->real->pMethods->xFileSize(s->real, &size);
    if (size > n)
      record_undo(s, n, (int)(size - n)); /* undoing restores the tail */
  }
  if (fault_hit())
    return SQLITE_IOERR_TRUNCATE;
  return ((shim_file *)f)->real->pMethods->xTruncate(((shim_file *)f)->real, n);
}
static int shim_sync(sqlite3_file *f, int flags)
{
  if (power_cut)
    return SQLITE_IOERR_FSYNC;
  if (power_recording)
    forget_undos((shim_file *)f); /* durable from here on */
  if (fault_hit())
    return SQLITE_IOERR_FSYNC;
  return ((shim_file *)f)->real->pMethods->xSync(((shim_file *)f)->real, flags);
}
static int shim_size(sqlite3_file *f, sqlite3_int64 *n)
{
  return ((shim_file *)f)->real->pMethods->xFileSize(((shim_file *)f)->real, n);
}
static int shim_lock(sqlite3_file *f, int l)
{
  return ((shim_file *)f)->real->pMethods->xLock(((shim_file *)f)->real, l);
}
static int shim_unlock(sqlite3_file *f, int l)
{
  return ((shim_file *)f)->real->pMethods->xUnlock(((shim_file *)f)->real, l);
}
static int shim_check_lock(sqlite3_file *f, int *out)
{
  return ((shim_file *)f)->real->pMethods->xCheckReservedLock(((shim_file *)f)->real, out);
}
static int shim_fcntl(sqlite3_file *f, int op, void *arg)
{
  return ((shim_file *)f)->real->pMethods->xFileControl(((shim_file *)f)->real, op, arg);
}
static int shim_sector(sqlite3_file *f)
{
  return ((shim_file *)f)->real->pMethods->xSectorSize(((shim_file *)f)->real);
}
static int shim_devchar(sqlite3_file *f)
{
  return ((shim_file *)f)->real->pMethods->xDeviceCharacteristics(((shim_file *)f)->real);
}
static int shim_shm_map(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
  return ((shim_file *)f)->real->pMethods->xShmMap(((shim_file *)f)->real, pg, sz, ext, pp);
}
static int shim_shm_lock(sqlite3_file *f, int off, int n, int flags)
{
  return ((shim_file *)f)->real->pMethods->xShmLock(((shim_file *)f)->real, off, n, flags);
}
static void shim_shm_barrier(sqlite3_file *f)
{
  ((shim_file *)f)->real->pMethods->xShmBarrier(((shim_file *)f)->real);
}
static int shim_shm_unmap(sqlite3_file *f, int del)
{
  return ((shim_file *)f)->real->pMethods->xShmUnmap(((shim_file *)f)->real, del);
}

static int shim_open(sqlite3_vfs *v, const char *name, sqlite3_file *f, int flags, int *out)
{
  shim_file *s = (shim_file *)f;
  int rc;

  (void)v;
  s->real = (sqlite3_file *)(s + 1);
  memset(s->real, 0, (size_t)real_vfs->szOsFile);
  rc = real_vfs->xOpen(real_vfs, name, s->real, flags, out);
  f->pMethods = s->real->pMethods != NULL ? &shim_io : NULL;
  return rc;
}

static int shim_delete(sqlite3_vfs *v, const char *name, int sync_dir)
{
  (void)v;
  if (power_cut)
    return SQLITE_IOERR_DELETE;
  return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static void install_shim(void)
{
  real_vfs = sqlite3_vfs_find(NULL);
  shim_io = (sqlite3_io_methods){
      .iVersion = 2,
      .xClose = shim_close,
      .xRead = shim_read,
      .xWrite = shim_write,
      .xTruncate = shim_truncate,
      .xSync = shim_sync,
      .xFileSize = shim_size,
      .xLock = shim_lock,
      .xUnlock = shim_unlock,
      .xCheckReservedLock = shim_check_lock,
      .xFileControl = shim_fcntl,
      .xSectorSize = shim_sector,
      .xDeviceCharacteristics = shim_devchar,
      .xShmMap = shim_shm_map,
      .xShmLock = shim_shm_lock,
      .xShmBarrier = shim_shm_barrier,
      .xShmUnmap = shim_shm_unmap,
  };
  shim_vfs = *real_vfs;
  shim_vfs.zName = "tide-faulty";
  shim_vfs.szOsFile = (int)sizeof(shim_file) + real_vfs->szOsFile;
  shim_vfs.xOpen = shim_open;
  shim_vfs.xDelete = shim_delete;
  shim_vfs.pNext = NULL;
  (void)sqlite3_vfs_register(&shim_vfs, 1);
}

/* ---- the loop ------------------------------------------------------------ */

enum { NMSG = 24 };

typedef struct acks {
  int accepted[NMSG];
  int verdicts;
} acks;

static void on_result(void *ctx, const tide_ingest_result *r)
{
  acks *a = ctx;
  a->verdicts++;
  if (r->verdict == TIDE_INGEST_ACCEPTED && r->tag < NMSG)
    a->accepted[r->tag] = 1;
}

static int is_failure_code(int rc)
{
  return rc == TIDE_E_STORE || rc == TIDE_E_NOMEM;
}

/* One import attempt under faults; returns 0 when everything succeeded. */
static int attempt(const char *path, tide_msg **m, acks *a)
{
  tide_store *st = NULL;
  tide_ingest *ing = NULL;
  tide_ingest_options o;
  tide_error e;
  int rc;

  rc = tide_store_open(&st, path, 0, &e);
  if (rc != 0) {
    CU_ASSERT(is_failure_code(rc));
    CU_ASSERT(e.msg[0] != '\0');
    CU_ASSERT_PTR_NULL(st);
    return rc;
  }
  memset(&o, 0, sizeof o);
  o.threads = 2;
  o.batch = 5;
  rc = tide_ingest_new(&ing, st, &o, on_result, a);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  for (int i = 0; i < NMSG && rc == 0; i++) {
    size_t n;
    const char *t = tide_msg_text(m[i], &n);
    rc = tide_ingest_push(ing, (uint64_t)i, t, n, &e);
  }
  if (rc == 0)
    rc = tide_ingest_finish(ing, &e);
  if (rc != 0) {
    CU_ASSERT(is_failure_code(rc));
    CU_ASSERT(e.msg[0] != '\0');
  }
  tide_ingest_free(ing);
  tide_store_close(st);
  return rc;
}

/* With faults off: the store is valid and holds what was acknowledged. */
static void verify(const char *path, tide_msg **m, const tide_keypair *kp, const acks *a,
                   int complete)
{
  tide_store *st = NULL;
  tide_feed_state fs;
  tide_error e;
  int64_t latest = 0;
  int rc;

  fault_countdown = -1;
  rc = tide_store_open(&st, path, 0, &e);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  CU_ASSERT_EQUAL(tide_store_check(st, &e), 0);
  rc = tide_store_latest(st, &fs, NULL, kp->pk, &e);
  CU_ASSERT(rc == 0 || rc == TIDE_E_NOTFOUND);
  if (rc == 0) {
    latest = fs.sequence;
    CU_ASSERT_EQUAL(memcmp(fs.id, tide_msg_id(m[latest - 1]), TIDE_HASH_BYTES), 0);
  }
  for (int i = 0; i < NMSG; i++)
    if (a->accepted[i])
      CU_ASSERT(i < latest);
  if (complete)
    CU_ASSERT_EQUAL(latest, NMSG);
  tide_store_close(st);
}

static void run_loop(const char *tag)
{
  char *dir = tide_test_tmpdir(tag);
  char path[512];
  tide_keypair kp;
  tide_msg *m[NMSG];
  acks a;
  long n;
  int rc = -1, failures = 0;

  snprintf(path, sizeof path, "%s/store.db", dir);
  fx_keys(&kp, 77);
  fx_chain(m, &kp, NMSG, "fault");
  memset(&a, 0, sizeof a);
  for (n = 1; n < 100000; n++) {
    /* Reset between attempts is not needed: each attempt resumes on the
     * store the previous one left, as a restarted import would. */
    fault_countdown = n;
    rc = attempt(path, m, &a);
    fault_countdown = -1;
    if (rc == 0)
      break;
    failures++;
    verify(path, m, &kp, &a, 0);
  }
  if (getenv("TIDE_TEST_VERBOSE") != NULL)
    fprintf(stderr, "%s: %d failed attempts before success\n", tag, failures);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(failures > 10);
  verify(path, m, &kp, &a, 1);
  fx_free_all(m, NMSG);
  tide_test_rmtree(dir);
  free(dir);
}

/* Restarts SQLite with the failing allocator (faulty_*) in front of the
 * real one (saved in real_mem). */
static void faulty_mem_install(void)
{
  sqlite3_mem_methods faulty;

  CU_ASSERT_EQUAL_FATAL(sqlite3_shutdown(), SQLITE_OK);
  CU_ASSERT_EQUAL_FATAL(sqlite3_config(SQLITE_CONFIG_GETMALLOC, &real_mem), SQLITE_OK);
  faulty = real_mem;
  faulty.xMalloc = faulty_malloc;
  faulty.xRealloc = faulty_realloc;
  faulty.xFree = faulty_free;
  faulty.xSize = faulty_size;
  faulty.xRoundup = faulty_roundup;
  faulty.xInit = faulty_init;
  faulty.xShutdown = faulty_shutdown;
  CU_ASSERT_EQUAL_FATAL(sqlite3_config(SQLITE_CONFIG_MALLOC, &faulty), SQLITE_OK);
  CU_ASSERT_EQUAL_FATAL(sqlite3_initialize(), SQLITE_OK);
}

/* Restarts SQLite with the real allocator again. */
static void faulty_mem_remove(void)
{
  CU_ASSERT_EQUAL(sqlite3_shutdown(), SQLITE_OK);
  CU_ASSERT_EQUAL(sqlite3_config(SQLITE_CONFIG_MALLOC, &real_mem), SQLITE_OK);
  CU_ASSERT_EQUAL(sqlite3_initialize(), SQLITE_OK);
}

static void test_oom_loop(void)
{
  faulty_mem_install();
  run_loop("store-oom");
  faulty_mem_remove();
}

static void test_ioerr_loop(void)
{
  install_shim();
  run_loop("store-ioerr");
  (void)sqlite3_vfs_unregister(&shim_vfs);
}

/* One import on a fresh store with power cut at the cut_at-th write
 * (LONG_MAX: never); returns the number of writes seen. */
static long power_attempt(const char *dir, int round, long cut_at, tide_msg **m,
                          const tide_keypair *kp)
{
  char path[512];
  tide_store *st = NULL;
  tide_ingest *ing = NULL;
  tide_ingest_options o;
  acks a;
  int rc = 0;
  long writes;

  snprintf(path, sizeof path, "%s/power-%d.db", dir, round);
  memset(&a, 0, sizeof a);
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&st, path, 0, NULL), 0);
  memset(&o, 0, sizeof o);
  o.threads = 1;
  o.batch = 3;
  CU_ASSERT_EQUAL_FATAL(tide_ingest_new(&ing, st, &o, on_result, &a), 0);
  power_rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)cut_at;
  power_writes = 0;
  power_cut_at = cut_at;
  power_recording = 1;
  for (int i = 0; i < NMSG && rc == 0; i++) {
    size_t n;
    const char *t = tide_msg_text(m[i], &n);
    rc = tide_ingest_push(ing, (uint64_t)i, t, n, NULL);
  }
  if (rc == 0)
    rc = tide_ingest_finish(ing, NULL);
  CU_ASSERT(rc == 0 || (power_cut && is_failure_code(rc)));
  tide_ingest_free(ing);
  tide_store_close(st); /* after a cut, nothing of this reaches the disk */
  writes = power_writes;
  power_recording = 0;
  power_cut = 0;
  forget_undos(NULL);
  verify(path, m, kp, &a, cut_at == LONG_MAX);
  return writes;
}

static void test_power_loss(void)
{
  char *dir = tide_test_tmpdir("store-power");
  tide_keypair kp;
  tide_msg *m[NMSG];
  long total, step;
  int rounds = 0;

  install_shim();
  fx_keys(&kp, 78);
  fx_chain(m, &kp, NMSG, "power");
  total = power_attempt(dir, 0, LONG_MAX, m, &kp);
  CU_ASSERT(total > 10);
  step = total / 60 + 1;
  for (long cut = 1; cut <= total; cut += step)
    power_attempt(dir, ++rounds, cut, m, &kp);
  if (getenv("TIDE_TEST_VERBOSE") != NULL)
    fprintf(stderr, "power loss: %ld writes per import, %d cuts\n", total, rounds);
  CU_ASSERT(rounds >= 10);
  (void)sqlite3_vfs_unregister(&shim_vfs);
  fx_free_all(m, NMSG);
  tide_test_rmtree(dir);
  free(dir);
}

/* ---- upgrade from version 1 ----------------------------------------------- */

/* A fresh version-1 store at path: NMSG posts of kp's feed and a contact
 * message of kp2's feed about kp. */
static void v1_fresh(const char *path, tide_msg **m, const tide_msg *contact)
{
  char extra[600];
  sqlite3 *db;

  fault_countdown = -1;
  remove(path);
  snprintf(extra, sizeof extra, "%s-wal", path);
  remove(extra);
  snprintf(extra, sizeof extra, "%s-shm", path);
  remove(extra);
  db = v1_create(path);
  v1_exec(db, "BEGIN");
  for (int i = 0; i < NMSG; i++)
    v1_add_message(db, m[i], 100 + i, 0);
  v1_add_message(db, contact, 200, 0);
  v1_exec(db, "COMMIT");
  if (sqlite3_close(db) != SQLITE_OK)
    abort();
}

static int count_contacts(void *ctx, const tide_store_contact *c)
{
  (void)c;
  (*(int *)ctx)++;
  return 0;
}

/* With faults off: path is the intact version-1 store or the complete
 * upgrade, and opening it gives every message. */
static void v1_verify(const char *path, tide_msg **m, const tide_keypair *kp)
{
  int64_t version = v1_user_version(path);
  tide_store *st = NULL;
  tide_buf text = TIDE_BUF_INIT;
  tide_store_record rec;
  tide_error e;
  int contacts = 0;

  fault_countdown = -1;
  CU_ASSERT(version == 1 || version == TIDE_STORE_SCHEMA_VERSION);
  CU_ASSERT_EQUAL(
      v1_query_int(path,
                   "SELECT count(*) FROM pragma_integrity_check WHERE integrity_check = 'ok'"),
      1);
  if (version == 1) {
    CU_ASSERT_EQUAL(v1_query_int(path, "SELECT count(*) FROM messages WHERE author LIKE '@%'"),
                    NMSG + 1);
    CU_ASSERT_EQUAL(v1_query_int(path, "SELECT count(msg_id) FROM contacts"), 1);
    CU_ASSERT_EQUAL(v1_query_int(path, "SELECT count(*) FROM sqlite_schema WHERE name LIKE 'v1%'"),
                    0);
  }
  CU_ASSERT_EQUAL_FATAL(tide_store_open(&st, path, 0, &e), 0);
  CU_ASSERT_EQUAL(tide_store_check(st, &e), 0);
  for (int i = 0; i < NMSG; i++) {
    CU_ASSERT_EQUAL(tide_store_get(st, &text, &rec, kp->pk, i + 1, &e), 0);
    CU_ASSERT_EQUAL(rec.received_ms, 100 + i);
    CU_ASSERT_EQUAL(memcmp(rec.id, tide_msg_id(m[i]), TIDE_HASH_BYTES), 0);
  }
  CU_ASSERT_EQUAL(tide_store_contacts(st, 0, count_contacts, &contacts, &e), 0);
  CU_ASSERT_EQUAL(contacts, 1);
  tide_store_close(st);
  tide_buf_free(&text);
}

/* Fails from the n-th allocation (or write) on, for growing n, until an
 * upgrade completes.  An upgrade makes thousands of allocations, so with
 * `stride` n grows by 1 + n / 32 (every point up to 32, then ~3% apart)
 * to keep the loop to a few hundred attempts. */
static void upgrade_loop(const char *tag, int stride)
{
  char *dir = tide_test_tmpdir(tag);
  char path[512], who[TIDE_FEED_ID_LEN + 1];
  tide_keypair kp, kp2;
  tide_msg *m[NMSG], *contact;
  tide_error e;
  long n;
  int rc = -1, failures = 0;

  snprintf(path, sizeof path, "%s/store.db", dir);
  fx_keys(&kp, 79);
  fx_keys(&kp2, 80);
  fx_chain(m, &kp, NMSG, "upgrade");
  tide_feed_id_format(who, kp.pk);
  contact = fx_contact(&kp2, NULL, who, 1, -1);
  for (n = 1; n < 100000; n += stride ? 1 + n / 32 : 1) {
    tide_store *st = NULL;
    v1_fresh(path, m, contact);
    fault_countdown = n;
    rc = tide_store_open(&st, path, 0, &e);
    fault_countdown = -1;
    if (rc == 0) {
      tide_store_close(st);
      break;
    }
    CU_ASSERT(is_failure_code(rc));
    CU_ASSERT_PTR_NULL(st);
    failures++;
    v1_verify(path, m, &kp);
  }
  if (getenv("TIDE_TEST_VERBOSE") != NULL)
    fprintf(stderr, "%s: %d failed upgrades before success\n", tag, failures);
  CU_ASSERT_EQUAL(rc, 0);
  CU_ASSERT(failures > 10);
  CU_ASSERT_EQUAL(v1_user_version(path), TIDE_STORE_SCHEMA_VERSION);
  v1_verify(path, m, &kp);
  fx_free_all(m, NMSG);
  tide_msg_free(contact);
  tide_test_rmtree(dir);
  free(dir);
}

static void test_upgrade_oom_loop(void)
{
  faulty_mem_install();
  upgrade_loop("store-up-oom", 1);
  faulty_mem_remove();
}

static void test_upgrade_ioerr_loop(void)
{
  install_shim();
  upgrade_loop("store-up-ioerr", 0);
  (void)sqlite3_vfs_unregister(&shim_vfs);
}

/* Upgrades a fresh version-1 store with the power cut at the cut_at-th
 * write (LONG_MAX: never); returns the number of writes seen. */
static long upgrade_power_attempt(const char *path, long cut_at, tide_msg **m,
                                  const tide_msg *contact, const tide_keypair *kp)
{
  tide_store *st = NULL;
  long writes;
  int rc;

  v1_fresh(path, m, contact);
  power_rng = 0x2545f4914f6cdd1dull ^ (uint64_t)cut_at;
  power_writes = 0;
  power_cut_at = cut_at;
  power_recording = 1;
  rc = tide_store_open(&st, path, 0, NULL);
  CU_ASSERT(rc == 0 || (power_cut && is_failure_code(rc)));
  tide_store_close(st); /* after a cut, nothing of this reaches the disk */
  writes = power_writes;
  power_recording = 0;
  power_cut = 0;
  forget_undos(NULL);
  if (cut_at == LONG_MAX)
    CU_ASSERT_EQUAL(v1_user_version(path), TIDE_STORE_SCHEMA_VERSION);
  v1_verify(path, m, kp);
  return writes;
}

static void test_upgrade_power_loss(void)
{
  char *dir = tide_test_tmpdir("store-up-power");
  char path[512], who[TIDE_FEED_ID_LEN + 1];
  tide_keypair kp, kp2;
  tide_msg *m[NMSG], *contact;
  long total, step;
  int rounds = 0;

  install_shim();
  snprintf(path, sizeof path, "%s/store.db", dir);
  fx_keys(&kp, 81);
  fx_keys(&kp2, 82);
  fx_chain(m, &kp, NMSG, "upgrade power");
  tide_feed_id_format(who, kp.pk);
  contact = fx_contact(&kp2, NULL, who, 0, 1);
  total = upgrade_power_attempt(path, LONG_MAX, m, contact, &kp);
  CU_ASSERT(total > 10);
  step = total / 60 + 1;
  for (long cut = 1; cut <= total; cut += step, rounds++)
    upgrade_power_attempt(path, cut, m, contact, &kp);
  if (getenv("TIDE_TEST_VERBOSE") != NULL)
    fprintf(stderr, "upgrade power loss: %ld writes per upgrade, %d cuts\n", total, rounds);
  CU_ASSERT(rounds >= 10);
  (void)sqlite3_vfs_unregister(&shim_vfs);
  fx_free_all(m, NMSG);
  tide_msg_free(contact);
  tide_test_rmtree(dir);
  free(dir);
}

static CU_TestInfo fault_tests[] = {
    {"allocation failure loop", test_oom_loop},
    {"I/O failure loop", test_ioerr_loop},
    {"power loss tears unsynced writes", test_power_loss},
    {"upgrade from version 1: allocation failure loop", test_upgrade_oom_loop},
    {"upgrade from version 1: I/O failure loop", test_upgrade_ioerr_loop},
    {"upgrade from version 1: power loss", test_upgrade_power_loss},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("store faults", fault_tests),
    CU_SUITE_INFO_NULL,
};
