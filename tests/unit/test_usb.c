/* test_usb.c - the USB stick as a mule: homes converging through a
 * travelling folder, bundles removed once every node has them, and file
 * names or links that try to leave the folder. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bundle_fixture.h"
#include "tide/bundle_file.h"
#include "tide_test.h"

typedef struct file_log {
  int count;
  char last[512];
  char last_name[256];
} file_log;

static void on_file(void *ctx, const char *name, int code, const char *msg)
{
  file_log *l = ctx;
  (void)code;
  l->count++;
  snprintf(l->last, sizeof l->last, "%s", msg);
  snprintf(l->last_name, sizeof l->last_name, "%s", name);
}

static int sync_home(bx_home *h, const char *dir, uint64_t now, tide_usb_stats *st, file_log *log)
{
  tide_usb_opts o;
  tide_error e;
  int rc;

  memset(&o, 0, sizeof o);
  o.now_ms = now;
  o.threads = 1;
  tide_error_clear(&e);
  rc = tide_usb_sync(h->store, &h->kp, dir, &o, on_file, log, st, &e);
  if (rc != 0)
    fprintf(stderr, "usb sync: %s\n", e.msg);
  return rc;
}

static size_t count_files(const char *dir, char prefix)
{
  char cmd[4200];
  size_t n = 0;
  FILE *p;
  snprintf(cmd, sizeof cmd, "ls -1 '%s'", dir);
  p = popen(cmd, "r");
  if (p == NULL)
    return 0;
  while (fgets(cmd, sizeof cmd, p) != NULL)
    if (cmd[0] == prefix && cmd[1] == '-')
      n++;
  pclose(p);
  return n;
}

static void test_names(void)
{
  char kind = 0;
  char good_b[64], good_c[128];

  snprintf(good_b, sizeof good_b, "b-%s.tideb", "0123456789abcdef0123456789abcdef");
  snprintf(good_c, sizeof good_c, "c-%s%s.tideb", "0123456789abcdef0123456789abcdef",
           "0123456789abcdef0123456789abcdef");
  CU_ASSERT_EQUAL(tide_usb_name_ok(good_b, &kind), 1);
  CU_ASSERT_EQUAL(kind, 'b');
  CU_ASSERT_EQUAL(tide_usb_name_ok(good_c, &kind), 1);
  CU_ASSERT_EQUAL(kind, 'c');
  CU_ASSERT_EQUAL(tide_usb_name_ok("b-../../etc/passwd.tideb", NULL), 0);
  CU_ASSERT_EQUAL(tide_usb_name_ok("b-0123456789abcdef0123456789abcde/.tideb", NULL), 0);
  CU_ASSERT_EQUAL(tide_usb_name_ok("b-0123456789ABCDEF0123456789abcdef.tideb", NULL), 0);
  CU_ASSERT_EQUAL(tide_usb_name_ok("b-0123456789abcdef0123456789abcdef.tideb.x", NULL), 0);
  CU_ASSERT_EQUAL(tide_usb_name_ok("b-0123456789abcdef0123456789abcdef0.tideb", NULL), 0);
  CU_ASSERT_EQUAL(tide_usb_name_ok("c-0123456789abcdef0123456789abcdef.tideb", NULL), 0);
  CU_ASSERT_EQUAL(tide_usb_name_ok("..", NULL), 0);
  CU_ASSERT_EQUAL(tide_usb_name_ok("", NULL), 0);
  CU_ASSERT_EQUAL(tide_usb_name_ok("x-0123456789abcdef0123456789abcdef.tideb", NULL), 0);
}

/* A stick travelling A -> B -> C -> A -> B -> C: everyone ends with
 * everyone's news, and bundles everyone holds are removed. */
static void test_travelling_stick(void)
{
  char *dir = tide_test_tmpdir("usb");
  bx_home h[3];
  tide_usb_stats st;
  file_log log;
  uint64_t now = 1000;
  static const int order[] = {0, 1, 2, 0, 1, 2};

  CU_ASSERT_PTR_NOT_NULL_FATAL(dir);
  memset(&log, 0, sizeof log);
  for (int i = 0; i < 3; i++) {
    bx_open(&h[i], 70 + i, NULL, NULL);
    bx_publish(&h[i], 8 + 3 * i);
  }
  for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
    int i = order[k];
    CU_ASSERT_EQUAL_FATAL(sync_home(&h[i], dir, now++, &st, &log), 0);
    if (k == 0) {
      CU_ASSERT_EQUAL(st.peers, 0);
      CU_ASSERT_EQUAL(st.wrote_bundle, 1);
      CU_ASSERT_EQUAL(st.wrote_messages, 8); /* no one known: everything */
    }
    if (k == 1) {
      CU_ASSERT_EQUAL(st.added, 8);
      CU_ASSERT_EQUAL(st.peers, 1);
      CU_ASSERT_EQUAL(st.wrote_messages, 11); /* only what A lacks */
    }
    if (k == 3) /* A back: has B's and C's news */
      for (int j = 0; j < 3; j++)
        CU_ASSERT_EQUAL(bx_latest(&h[0], h[j].kp.pk), 8 + 3 * j);
  }
  for (int i = 0; i < 3; i++)
    for (int j = 0; j < 3; j++)
      CU_ASSERT_EQUAL(bx_latest(&h[i], h[j].kp.pk), 8 + 3 * j);
  CU_ASSERT_EQUAL(log.count, 0);
  CU_ASSERT_EQUAL(count_files(dir, 'c'), 3);
  /* one more round: nothing new, every bundle is acknowledged by all */
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL_FATAL(sync_home(&h[i], dir, now++, &st, &log), 0);
    CU_ASSERT_EQUAL(st.added, 0);
    CU_ASSERT_EQUAL(st.wrote_bundle, 0);
  }
  CU_ASSERT_EQUAL(count_files(dir, 'b'), 0);
  /* a sync right after a sync imports nothing again */
  CU_ASSERT_EQUAL_FATAL(sync_home(&h[0], dir, now++, &st, &log), 0);
  CU_ASSERT_EQUAL(st.bundles_imported, 0);
  for (int i = 0; i < 3; i++) {
    CU_ASSERT_EQUAL(tide_store_check(h[i].store, NULL), 0);
    bx_close(&h[i]);
  }
  tide_test_rmtree(dir);
  free(dir);
}

/* Names and links that try to leave the folder are never followed, and
 * nothing outside the folder is read or removed. */
static void test_hostile_folder(void)
{
  char *top = tide_test_tmpdir("usbh");
  char stick[4096], outside[4096], p[4600], q[4600];
  bx_home a, b;
  tide_usb_stats st;
  file_log log;
  struct stat sb;
  const char *hexid = "00112233445566778899aabbccddeeff";

  CU_ASSERT_PTR_NOT_NULL_FATAL(top);
  memset(&log, 0, sizeof log);
  snprintf(stick, sizeof stick, "%s/stick", top);
  snprintf(outside, sizeof outside, "%s/outside", top);
  CU_ASSERT_EQUAL_FATAL(mkdir(stick, 0700), 0);
  CU_ASSERT_EQUAL_FATAL(mkdir(outside, 0700), 0);
  bx_open(&a, 75, NULL, NULL);
  bx_open(&b, 76, NULL, NULL);
  bx_publish(&a, 5);
  /* A leaves a real bundle on a stick, which we move outside the folder */
  CU_ASSERT_EQUAL_FATAL(sync_home(&a, outside, 10, &st, &log), 0);
  /* a symlink with a valid name pointing outside */
  snprintf(p, sizeof p, "%s/b-%s.tideb", stick, hexid);
  {
    char cmd[9300];
    snprintf(cmd, sizeof cmd, "ls %s/b-*.tideb | head -1", outside);
    FILE *f = popen(cmd, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_PTR_NOT_NULL_FATAL(fgets(q, sizeof q, f));
    pclose(f);
    q[strcspn(q, "\n")] = '\0';
  }
  CU_ASSERT_EQUAL_FATAL(symlink(q, p), 0);
  /* a directory with a valid name */
  snprintf(p, sizeof p, "%s/b-%s.tideb", stick, "ffeeddccbbaa99887766554433221100");
  CU_ASSERT_EQUAL_FATAL(mkdir(p, 0700), 0);
  /* names that are not ours: ignored */
  snprintf(p, sizeof p, "%s/..b-%s.tideb", stick, hexid);
  CU_ASSERT_EQUAL_FATAL(close(open(p, O_CREAT | O_WRONLY, 0600)), 0);
  snprintf(p, sizeof p, "%s/notes.txt", stick);
  CU_ASSERT_EQUAL_FATAL(close(open(p, O_CREAT | O_WRONLY, 0600)), 0);
  /* a real bundle renamed: its id does not match its name */
  {
    char cmd[9400];
    snprintf(cmd, sizeof cmd, "cp %s %s/b-%s.tideb", q, stick, "abababababababababababababababab");
    CU_ASSERT_EQUAL_FATAL(system(cmd), 0);
  }
  CU_ASSERT_EQUAL_FATAL(sync_home(&b, stick, 20, &st, &log), 0);
  CU_ASSERT_EQUAL(st.added, 0); /* nothing read through the link or the renamed file */
  CU_ASSERT_EQUAL(st.bundles_failed, 3);
  CU_ASSERT_EQUAL(st.ignored, 2);
  CU_ASSERT_EQUAL(log.count, 3);
  CU_ASSERT_EQUAL(bx_count(&b), 0);
  /* the outside file is still there, the link target untouched */
  CU_ASSERT_EQUAL(stat(q, &sb), 0);
  CU_ASSERT_EQUAL(lstat(p, &sb), 0);
  bx_close(&a);
  bx_close(&b);
  tide_test_rmtree(top);
  free(top);
}

static CU_TestInfo usb_tests[] = {
    {"stick file names", test_names},
    {"travelling stick converges and cleans up", test_travelling_stick},
    {"hostile folder", test_hostile_folder},
    CU_TEST_INFO_NULL};

CU_SuiteInfo tide_test_suites[] = {TIDE_SUITE("usb", usb_tests), CU_SUITE_INFO_NULL};
