/* test_serial.c - the libserialport driver on real pseudo-terminals made by
 * the link simulator (build/tools/linksim), and the link layer over it in
 * real time. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tide/link.h"
#include "tide/serial.h"
#include "tide_test.h"

typedef struct sim {
  pid_t pid;
  char a[256], b[256];
} sim;

/* Simulators still running when a test fails half-way; the suite's
 * cleanup stops them (by pid). */
static pid_t live_sims[16];

static void sim_track(pid_t pid, int on)
{
  for (size_t i = 0; i < 16; i++) {
    if (on && live_sims[i] == 0) {
      live_sims[i] = pid;
      return;
    }
    if (!on && live_sims[i] == pid) {
      live_sims[i] = 0;
      return;
    }
  }
}

static int stop_leftover_sims(void)
{
  for (size_t i = 0; i < 16; i++)
    if (live_sims[i] > 0) {
      kill(live_sims[i], SIGTERM);
      waitpid(live_sims[i], NULL, 0);
      live_sims[i] = 0;
    }
  return 0;
}

static uint64_t now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Starts linksim with args; fills the two pty paths.  0 or -1. */
static int sim_start(sim *s, const char *const *args)
{
  const char *bin = getenv("TIDE_BINARY_DIR");
  char path[1024];
  const char *argv[24];
  int pfd[2], n = 0;
  FILE *f;

  snprintf(path, sizeof path, "%s/tools/linksim", bin ? bin : ".");
  argv[n++] = path;
  while (args && *args && n < 22)
    argv[n++] = *args++;
  argv[n] = NULL;
  if (pipe(pfd) != 0)
    return -1;
  s->pid = fork();
  if (s->pid < 0)
    return -1;
  if (s->pid == 0) {
    dup2(pfd[1], 1);
    close(pfd[0]);
    close(pfd[1]);
    execv(path, (char *const *)argv);
    _exit(127);
  }
  close(pfd[1]);
  sim_track(s->pid, 1);
  f = fdopen(pfd[0], "r");
  if (f == NULL || fgets(s->a, sizeof s->a, f) == NULL || fgets(s->b, sizeof s->b, f) == NULL) {
    if (f)
      fclose(f);
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    sim_track(s->pid, 0);
    return -1;
  }
  fclose(f);
  s->a[strcspn(s->a, "\n")] = 0;
  s->b[strcspn(s->b, "\n")] = 0;
  return 0;
}

static int sim_stop(sim *s)
{
  int status = -1;
  if (s->pid <= 0)
    return -1;
  kill(s->pid, SIGTERM);
  waitpid(s->pid, &status, 0);
  sim_track(s->pid, 0);
  s->pid = 0;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_errno_map(void)
{
  CU_ASSERT_EQUAL(tide_serial_errno_code(ENOENT, 1), TIDE_E_SERIAL_NOPORT);
  CU_ASSERT_EQUAL(tide_serial_errno_code(ENOENT, 0), TIDE_E_SERIAL_GONE);
  CU_ASSERT_EQUAL(tide_serial_errno_code(EIO, 0), TIDE_E_SERIAL_GONE);
  CU_ASSERT_EQUAL(tide_serial_errno_code(EACCES, 1), TIDE_E_PERM);
  CU_ASSERT_EQUAL(tide_serial_errno_code(EBUSY, 1), TIDE_E_SERIAL_BUSY);
  CU_ASSERT_EQUAL(tide_serial_errno_code(EINVAL, 1), TIDE_E_IO);
  CU_ASSERT_STRING_EQUAL(tide_link_strerror(TIDE_E_SERIAL_NOPORT), "no such serial port");
}

static void test_no_such_port(void)
{
  tide_serial *s;
  tide_error err;
  int rc = tide_serial_open(&s, "/dev/ttyTIDE-does-not-exist", 9600, 0, &err);
  CU_ASSERT_EQUAL(rc, TIDE_E_SERIAL_NOPORT);
  CU_ASSERT_PTR_NULL(s);
  CU_ASSERT(strstr(err.msg, "ttyTIDE-does-not-exist") != NULL);
  CU_ASSERT(strstr(err.msg, "no such") != NULL);
}

static void test_busy_and_perm(void)
{
  sim sm;
  tide_serial *s1, *s2;
  tide_error err;
  int rc;

  CU_ASSERT_EQUAL_FATAL(sim_start(&sm, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_serial_open(&s1, sm.a, 9600, 0, &err), 0);
  rc = tide_serial_open(&s2, sm.a, 9600, 0, &err);
  CU_ASSERT_EQUAL(rc, TIDE_E_SERIAL_BUSY);
  CU_ASSERT(strstr(err.msg, "busy") != NULL);
  tide_serial_close(s1);
  /* released on close */
  CU_ASSERT_EQUAL(tide_serial_open(&s2, sm.a, 9600, 0, &err), 0);
  tide_serial_close(s2);
  if (geteuid() != 0) {
    /* root bypasses file permissions; everyone else gets EACCES */
    CU_ASSERT_EQUAL_FATAL(chmod(sm.b, 0), 0);
    rc = tide_serial_open(&s2, sm.b, 9600, 0, &err);
    CU_ASSERT_EQUAL(rc, TIDE_E_PERM);
    CU_ASSERT(strstr(err.msg, "dialout") != NULL);
  }
  CU_ASSERT_EQUAL(sim_stop(&sm), 0);
}

/* Bytes written on one pty arrive on the other, paced by the simulator. */
static void test_raw_bytes(void)
{
  const char *args[] = {"--profile", "cable", "--seed", "3", NULL};
  sim sm;
  tide_serial *a, *b;
  tide_error err;
  uint8_t msg[300], got[600];
  size_t n = 0;
  uint64_t t0;

  for (size_t i = 0; i < sizeof msg; i++)
    msg[i] = (uint8_t)(i * 7 + 1);
  CU_ASSERT_EQUAL_FATAL(sim_start(&sm, args), 0);
  CU_ASSERT_EQUAL_FATAL(tide_serial_open(&a, sm.a, 115200, 0, &err), 0);
  CU_ASSERT_EQUAL_FATAL(tide_serial_open(&b, sm.b, 115200, 0, &err), 0);
  CU_ASSERT_EQUAL(tide_serial_write(a, msg, sizeof msg, 1000, &err), 0);
  t0 = now_ms();
  while (n < sizeof msg && now_ms() - t0 < 5000) {
    int r;
    size_t k;
    CU_ASSERT_EQUAL_FATAL(tide_serial_wait(b, 100, &r, &err), 0);
    CU_ASSERT_EQUAL_FATAL(tide_serial_read(b, got + n, sizeof got - n, &k, &err), 0);
    n += k;
  }
  CU_ASSERT_EQUAL(n, sizeof msg);
  CU_ASSERT(memcmp(got, msg, sizeof msg) == 0);
  /* 300 bytes at 115200 baud take at least 26 ms on the simulated line */
  tide_serial_close(a);
  tide_serial_close(b);
  CU_ASSERT_EQUAL(sim_stop(&sm), 0);
}

/* Two links in real time over the simulator with loss and bit errors. */
static void run_links(const char *profile, const char *const *args, size_t len, double max_s)
{
  sim sm;
  tide_link_profile p;
  tide_serial *port[2];
  tide_link *l[2];
  tide_error err;
  uint8_t *src[2], *dst[2];
  size_t sent[2] = {0, 0}, got[2] = {0, 0};
  uint64_t t0;
  int rc = 0;

  CU_ASSERT_EQUAL_FATAL(tide_link_profile_get(&p, profile), 0);
  CU_ASSERT_EQUAL_FATAL(sim_start(&sm, args), 0);
  for (int i = 0; i < 2; i++) {
    tide_link_config cfg = {i == 0, (uint64_t)i + 5, 0, 0};
    CU_ASSERT_EQUAL_FATAL(tide_serial_open(&port[i], i ? sm.b : sm.a, p.baud, 0, &err), 0);
    CU_ASSERT_EQUAL_FATAL(tide_link_new(&l[i], &p, &cfg, 0, &err), 0);
    src[i] = malloc(len);
    dst[i] = malloc(len);
    for (size_t k = 0; k < len; k++)
      src[i][k] = (uint8_t)(k * 131 + (size_t)i * 17 + k / 251);
  }
  t0 = now_ms();
  while ((got[0] < len || got[1] < len) && now_ms() - t0 < (uint64_t)(max_s * 1000)) {
    uint64_t t = now_ms() - t0, wake = UINT64_MAX;
    uint8_t buf[TIDE_LINK_MAX_WIRE_BYTES];
    size_t n;
    for (int i = 0; i < 2 && rc == 0; i++) {
      size_t acc;
      rc = tide_serial_read(port[i], buf, sizeof buf, &n, &err);
      if (rc == 0 && n > 0)
        rc = tide_link_input(l[i], t, buf, n);
      while (rc == 0 && (n = tide_link_recv(l[i], buf, sizeof buf)) > 0) {
        CU_ASSERT_FATAL(got[i] + n <= len);
        memcpy(dst[i] + got[i], buf, n);
        got[i] += n;
      }
      if (rc == 0 && sent[i] < len) {
        rc = tide_link_send(l[i], src[i] + sent[i], len - sent[i], 1, &acc);
        sent[i] += acc;
      }
      while (rc == 0) {
        rc = tide_link_output(l[i], t, buf, sizeof buf, &n);
        if (rc != 0 || n == 0)
          break;
        rc = tide_serial_write(port[i], buf, n, 2000, &err);
      }
      n = tide_link_next_wakeup(l[i], t);
      if (n < wake)
        wake = n;
    }
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    {
      struct pollfd pfd[2];
      uint64_t t2 = now_ms() - t0;
      int to = wake == UINT64_MAX ? 50 : wake <= t2 ? 0 : (int)(wake - t2);
      if (to > 50)
        to = 50;
      for (int i = 0; i < 2; i++) {
        pfd[i].fd = tide_serial_fd(port[i]);
        pfd[i].events = POLLIN;
        pfd[i].revents = 0;
      }
      (void)poll(pfd, 2, to);
    }
  }
  CU_ASSERT_EQUAL(got[0], len);
  CU_ASSERT_EQUAL(got[1], len);
  CU_ASSERT(memcmp(dst[1], src[0], got[1]) == 0);
  CU_ASSERT(memcmp(dst[0], src[1], got[0]) == 0);
  for (int i = 0; i < 2; i++) {
    tide_link_free(l[i]);
    tide_serial_close(port[i]);
    free(src[i]);
    free(dst[i]);
  }
  CU_ASSERT_EQUAL(sim_stop(&sm), 0);
}

static void test_link_cable(void)
{
  const char *args[] = {"--profile", "cable",  "--loss", "0.05", "--ber",
                        "1e-5",      "--seed", "7",      NULL};
  run_links("cable", args, 40000, 30);
}

static void test_link_e22(void)
{
  const char *args[] = {"--profile", "lora-e22", "--loss", "0.05", "--seed", "9", NULL};
  run_links("lora-e22", args, 3000, 40);
}

/* The simulator goes away (the USB adapter is pulled): the driver says so. */
static void test_unplug(void)
{
  sim sm;
  tide_serial *a;
  tide_error err;
  uint8_t buf[64];
  size_t n;
  int rc = 0, r;
  uint64_t t0;

  CU_ASSERT_EQUAL_FATAL(sim_start(&sm, NULL), 0);
  CU_ASSERT_EQUAL_FATAL(tide_serial_open(&a, sm.a, 9600, 0, &err), 0);
  CU_ASSERT_EQUAL(sim_stop(&sm), 0);
  t0 = now_ms();
  while (rc == 0 && now_ms() - t0 < 3000) {
    rc = tide_serial_wait(a, 100, &r, &err);
    if (rc == 0 && r)
      rc = tide_serial_read(a, buf, sizeof buf, &n, &err);
  }
  CU_ASSERT_EQUAL(rc, TIDE_E_SERIAL_GONE);
  CU_ASSERT(strstr(err.msg, "unplugged") != NULL);
  tide_serial_close(a);
}

static CU_TestInfo driver_tests[] = {
    {"errno mapping", test_errno_map},
    {"no such port", test_no_such_port},
    {"busy and permission", test_busy_and_perm},
    {"raw bytes through linksim", test_raw_bytes},
    {"unplugged", test_unplug},
    {"link over pty, cable, 5% loss", test_link_cable},
    {"link over pty, lora-e22, 5% loss", test_link_e22},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    {.pName = "serial driver",
     .pInitFunc = NULL,
     .pCleanupFunc = stop_leftover_sims,
     .pSetUpFunc = NULL,
     .pTearDownFunc = NULL,
     .pTests = driver_tests},
    CU_SUITE_INFO_NULL,
};
