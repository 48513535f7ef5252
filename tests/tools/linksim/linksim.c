/* linksim.c - a serial radio link between two pseudo-terminals.
 *
 *   linksim [--profile P] [--baud N] [--packet N] [--latency-ms N]
 *           [--loss P] [--ber P] [--dup P] [--half-duplex|--full-duplex]
 *           [--seed N] [--outage-ms FROM:TO]
 *
 * Creates two pseudo-terminals and prints a path for each (A, then B) on
 * stdout, one per line.  libserialport 0.1.1 accepts only names under
 * /dev/ that have an entry under /sys/class/tty, which a pty lacks; so
 * linksim makes a directory with symlinks A and B to the ptys and prints
 * them as "/dev/../../../<dir>/A": the same file for open(), and a
 * symlink for libserialport's /sys/class/tty/<name> lookup.  (The modem
 * line ioctls a pty lacks are the business of cli/pty_ioctl.c.)  Bytes written to either are
 * carried to the other through the link model of linkmodel.h in real time: paced at the baud rate,
 * cut into modem packets, delayed, lost, corrupted, duplicated, destroyed by half-duplex
 * collisions, all drawn from the seeded generator.  The defaults come from the profile (lora-e22
 * unless given). Stops cleanly on SIGTERM or SIGINT and prints the model's counters on stderr. Test
 * tool: loopback only, no network. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "linkmodel.h"
#include "tide/link.h"

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
  (void)sig;
  stop_flag = 1;
}

static uint64_t mono_us(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Opens a pty master in raw mode; returns the master fd and keeps the
 * slave open in *slave_fd so the master never reads EIO while no client
 * has the slave open. */
static int open_pty(char *path, size_t cap, int *slave_fd)
{
  struct termios t;
  int m = posix_openpt(O_RDWR | O_NOCTTY);
  const char *name;
  if (m < 0)
    return -1;
  if (grantpt(m) != 0 || unlockpt(m) != 0 || (name = ptsname(m)) == NULL) {
    close(m);
    return -1;
  }
  snprintf(path, cap, "%s", name);
  *slave_fd = open(path, O_RDWR | O_NOCTTY);
  if (*slave_fd < 0) {
    close(m);
    return -1;
  }
  if (tcgetattr(*slave_fd, &t) == 0) {
    cfmakeraw(&t);
    (void)tcsetattr(*slave_fd, TCSANOW, &t);
  }
  if (fcntl(m, F_SETFL, fcntl(m, F_GETFL) | O_NONBLOCK) != 0) {
    close(*slave_fd);
    close(m);
    return -1;
  }
  return m;
}

static void usage(void)
{
  fprintf(stderr, "usage: linksim [--profile P] [--baud N] [--packet N] [--latency-ms N]\n"
                  "               [--loss P] [--ber P] [--dup P] [--half-duplex|--full-duplex]\n"
                  "               [--seed N] [--outage-ms FROM:TO]\n");
}

int main(int argc, char **argv)
{
  static const struct option opts[] = {{"profile", required_argument, NULL, 'p'},
                                       {"baud", required_argument, NULL, 'b'},
                                       {"packet", required_argument, NULL, 'k'},
                                       {"latency-ms", required_argument, NULL, 'l'},
                                       {"loss", required_argument, NULL, 'L'},
                                       {"ber", required_argument, NULL, 'e'},
                                       {"dup", required_argument, NULL, 'd'},
                                       {"half-duplex", no_argument, NULL, 'H'},
                                       {"full-duplex", no_argument, NULL, 'F'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"outage-ms", required_argument, NULL, 'o'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  tide_link_profile prof;
  linkmodel_params mp;
  linkmodel *m;
  linkmodel_stats st;
  char path[2][256], dir[64], link[2][128];
  int master[2], slave[2];
  uint64_t t0, out_from = 0, out_to = 0;
  long baud = -1, packet = -1, latency = -1;
  int duplex = -1, c;
  struct sigaction sa;

  memset(&mp, 0, sizeof mp);
  mp.seed = 1;
  if (tide_link_profile_get(&prof, "lora-e22") != 0)
    return 2;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    switch (c) {
    case 'p':
      if (tide_link_profile_get(&prof, optarg) != 0) {
        fprintf(stderr, "linksim: unknown profile '%s'\n", optarg);
        return 2;
      }
      break;
    case 'b': baud = strtol(optarg, NULL, 10); break;
    case 'k': packet = strtol(optarg, NULL, 10); break;
    case 'l': latency = strtol(optarg, NULL, 10); break;
    case 'L': mp.loss = strtod(optarg, NULL); break;
    case 'e': mp.ber = strtod(optarg, NULL); break;
    case 'd': mp.dup = strtod(optarg, NULL); break;
    case 'H': duplex = 1; break;
    case 'F': duplex = 0; break;
    case 's': mp.seed = strtoull(optarg, NULL, 10); break;
    case 'o': {
      unsigned long long a, b;
      if (sscanf(optarg, "%llu:%llu", &a, &b) != 2 || b < a) {
        usage();
        return 2;
      }
      out_from = a * 1000u;
      out_to = b * 1000u;
      break;
    }
    default: usage(); return c == 'h' ? 0 : 2;
    }
  }
  mp.baud = baud > 0 ? (uint32_t)baud : prof.baud;
  mp.packet_bytes = packet > 0 ? (uint32_t)packet : prof.packet_bytes;
  mp.latency_us = (uint64_t)(latency >= 0 ? latency : (long)prof.latency_ms) * 1000u;
  mp.half_duplex = duplex >= 0 ? duplex : prof.half_duplex;
  if (mp.loss < 0 || mp.loss > 1 || mp.ber < 0 || mp.ber > 1 || mp.dup < 0 || mp.dup > 1) {
    fprintf(stderr, "linksim: probabilities must lie in [0, 1]\n");
    return 2;
  }
  m = linkmodel_new(&mp);
  if (m == NULL) {
    fprintf(stderr, "linksim: bad parameters\n");
    return 2;
  }
  for (int i = 0; i < 2; i++) {
    master[i] = open_pty(path[i], sizeof path[i], &slave[i]);
    if (master[i] < 0) {
      fprintf(stderr, "linksim: cannot create a pseudo-terminal: %s\n", strerror(errno));
      return 1;
    }
  }
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
  snprintf(dir, sizeof dir, "/tmp/linksim.XXXXXX");
  if (mkdtemp(dir) == NULL) {
    fprintf(stderr, "linksim: mkdtemp: %s\n", strerror(errno));
    return 1;
  }
  for (int i = 0; i < 2; i++) {
    snprintf(link[i], sizeof link[i], "%s/%c", dir, 'A' + i);
    if (symlink(path[i], link[i]) != 0) {
      fprintf(stderr, "linksim: symlink: %s\n", strerror(errno));
      return 1;
    }
  }
  printf("/dev/../../..%s\n/dev/../../..%s\n", link[0], link[1]);
  fflush(stdout);
  t0 = mono_us();
  if (out_to > out_from)
    linkmodel_outage(m, out_from, out_to);

  while (!stop_flag) {
    struct pollfd pfd[2];
    uint8_t buf[4096];
    uint64_t now = mono_us() - t0, ev;
    int timeout;

    for (int i = 0; i < 2; i++) {
      size_t n;
      while ((n = linkmodel_read(m, i, now, buf, sizeof buf)) > 0) {
        ssize_t w = write(master[i], buf, n);
        (void)w; /* a full pty buffer drops bytes, as a modem would */
      }
    }
    ev = linkmodel_next_event(m);
    timeout = 200;
    if (ev != UINT64_MAX)
      timeout = ev <= now ? 0 : (int)((ev - now + 999) / 1000);
    if (timeout > 200)
      timeout = 200;
    for (int i = 0; i < 2; i++) {
      pfd[i].fd = master[i];
      pfd[i].events = POLLIN;
      pfd[i].revents = 0;
    }
    if (poll(pfd, 2, timeout) < 0 && errno != EINTR)
      break;
    now = mono_us() - t0;
    for (int i = 0; i < 2; i++) {
      if (!(pfd[i].revents & POLLIN))
        continue;
      for (;;) {
        ssize_t n = read(master[i], buf, sizeof buf);
        if (n <= 0)
          break;
        linkmodel_write(m, i, now, buf, (size_t)n);
      }
    }
  }
  linkmodel_get_stats(m, &st);
  fprintf(stderr,
          "linksim: A->B %llu bytes %llu packets (lost %llu, collided %llu, corrupted %llu, "
          "duplicated %llu); B->A %llu bytes %llu packets (lost %llu, collided %llu, corrupted "
          "%llu, duplicated %llu)\n",
          (unsigned long long)st.bytes_in[0], (unsigned long long)st.packets[0],
          (unsigned long long)st.lost[0], (unsigned long long)st.collided[0],
          (unsigned long long)st.corrupted[0], (unsigned long long)st.duplicated[0],
          (unsigned long long)st.bytes_in[1], (unsigned long long)st.packets[1],
          (unsigned long long)st.lost[1], (unsigned long long)st.collided[1],
          (unsigned long long)st.corrupted[1], (unsigned long long)st.duplicated[1]);
  for (int i = 0; i < 2; i++) {
    unlink(link[i]);
    close(slave[i]);
    close(master[i]);
  }
  rmdir(dir);
  linkmodel_free(m);
  return 0;
}
