/* serial.c - libserialport driver; see tide/serial.h. */
#include "tide/serial.h"

#include <errno.h>
#include <fcntl.h>
#include <libserialport.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct tide_serial {
  struct sp_port *port;
  int fd;
  char *name;
};

int tide_serial_errno_code(int errnum, int opening)
{
  switch (errnum) {
  case ENOENT:
  case ENODEV:
  case ENXIO: return opening ? TIDE_E_SERIAL_NOPORT : TIDE_E_SERIAL_GONE;
  case EIO: return opening ? TIDE_E_IO : TIDE_E_SERIAL_GONE;
  case EACCES:
  case EPERM: return TIDE_E_PERM;
  case EBUSY:
  case EWOULDBLOCK: return TIDE_E_SERIAL_BUSY;
  default: return TIDE_E_IO;
  }
}

static int os_error(tide_error *err, int opening, const char *name, const char *what)
{
  int e = sp_last_error_code();
  char *m = sp_last_error_message();
  int code = tide_serial_errno_code(e, opening);
  const char *hint = "";

  if (code == TIDE_E_PERM)
    hint = " (is the user in the dialout group?)";
  tide_error_set(err, code, 0, "%s %s: %s: %s%s", what, name, tide_link_strerror(code),
                 m ? m : "unknown error", hint);
  sp_free_error_message(m);
  return code;
}

static int errno_error(tide_error *err, int e, int opening, const char *name, const char *what)
{
  int code = tide_serial_errno_code(e, opening);
  tide_error_set(err, code, 0, "%s %s: %s: %s", what, name, tide_link_strerror(code), strerror(e));
  return code;
}

/* libserialport 0.1.1 looks a port up in /sys/class/tty/<name after
 * "/dev/"> and wants a symbolic link there, which a pseudo-terminal
 * (/dev/pts/N, as socat or a serial-over-network bridge makes) does not
 * have, so it reports "no such port" for a device that exists.  For an
 * existing character device we open it ourselves and name it by the alias
 * "/dev/../../../proc/self/fd/N": open() of that path opens the same
 * device again, and the lookup lands on the /proc symbolic link (read as a
 * plain native port).  Returns the helper descriptor (the caller closes it
 * once the port is open) and fills alias, or -1. */
static int sysfs_alias(char *alias, size_t cap, const char *name)
{
  struct stat st;
  int fd, n;

  fd = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0)
    return -1;
  if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode) || !isatty(fd)) {
    close(fd);
    return -1;
  }
  n = snprintf(alias, cap, "/dev/../../../proc/self/fd/%d", fd);
  if (n <= 0 || (size_t)n >= cap) {
    close(fd);
    return -1;
  }
  return fd;
}

int tide_serial_open(tide_serial **out, const char *name, uint32_t baud, int rtscts,
                     tide_error *err)
{
  tide_serial *s;
  struct sp_port_config *cfg = NULL;
  enum sp_return opened;
  int rc = 0, helper = -1;

  *out = NULL;
  if (name == NULL || *name == '\0')
    return tide_error_set(err, TIDE_E_SERIAL_NOPORT, 0, "no serial port given");
  s = calloc(1, sizeof *s);
  if (s == NULL)
    return TIDE_E_NOMEM;
  s->fd = -1;
  s->name = strdup(name);
  if (s->name == NULL) {
    rc = TIDE_E_NOMEM;
    goto out;
  }
  if (sp_get_port_by_name(name, &s->port) != SP_OK) {
    char alias[64];

    s->port = NULL;
    helper = sysfs_alias(alias, sizeof alias, name);
    if (helper < 0 || sp_get_port_by_name(alias, &s->port) != SP_OK) {
      if (helper >= 0)
        close(helper);
      s->port = NULL;
      rc = tide_error_set(err, TIDE_E_SERIAL_NOPORT, 0, "open %s: no such serial port", name);
      goto out;
    }
  }
  opened = sp_open(s->port, SP_MODE_READ_WRITE);
  if (helper >= 0) {
    close(helper);
    helper = -1;
  }
  if (opened != SP_OK) {
    rc = os_error(err, 1, name, "open");
    sp_free_port(s->port);
    s->port = NULL;
    goto out;
  }
  if (sp_get_port_handle(s->port, &s->fd) != SP_OK || s->fd < 0) {
    rc = tide_error_set(err, TIDE_E_IO, 0, "open %s: no file descriptor", name);
    goto out;
  }
  /* Another tide (or minicom) on the same port would interleave bytes. */
  if (flock(s->fd, LOCK_EX | LOCK_NB) != 0) {
    rc = errno_error(err, errno == EWOULDBLOCK ? EBUSY : errno, 1, name, "lock");
    goto out;
  }
  if (sp_new_config(&cfg) != SP_OK) {
    rc = TIDE_E_NOMEM;
    goto out;
  }
  if (sp_set_config_baudrate(cfg, (int)baud) != SP_OK || sp_set_config_bits(cfg, 8) != SP_OK ||
      sp_set_config_parity(cfg, SP_PARITY_NONE) != SP_OK ||
      sp_set_config_stopbits(cfg, 1) != SP_OK ||
      sp_set_config_flowcontrol(cfg, rtscts ? SP_FLOWCONTROL_RTSCTS : SP_FLOWCONTROL_NONE) !=
          SP_OK) {
    rc = tide_error_set(err, TIDE_E_SERIAL_CONFIG, 0, "configure %s: bad settings", name);
    goto out;
  }
  if (sp_set_config(s->port, cfg) != SP_OK) {
    rc = os_error(err, 1, name, "configure");
    if (rc == TIDE_E_IO)
      rc = tide_error_set(err, TIDE_E_SERIAL_CONFIG, 0,
                          "configure %s: the port refused %u baud 8N1%s", name, (unsigned)baud,
                          rtscts ? " with RTS/CTS" : "");
    goto out;
  }
  (void)sp_flush(s->port, SP_BUF_BOTH);
out:
  sp_free_config(cfg);
  if (rc != 0) {
    tide_serial_close(s);
    return rc;
  }
  *out = s;
  return 0;
}

void tide_serial_close(tide_serial *s)
{
  if (s == NULL)
    return;
  if (s->port) {
    (void)sp_close(s->port);
    sp_free_port(s->port);
  }
  free(s->name);
  free(s);
}

int tide_serial_fd(const tide_serial *s)
{
  return s->fd;
}

const char *tide_serial_name(const tide_serial *s)
{
  return s->name;
}

int tide_serial_read(tide_serial *s, uint8_t *buf, size_t cap, size_t *got, tide_error *err)
{
  enum sp_return r = sp_nonblocking_read(s->port, buf, cap);
  *got = 0;
  if (r < 0) {
    if (sp_last_error_code() == EAGAIN)
      return 0;
    return os_error(err, 0, s->name, "read");
  }
  *got = (size_t)r;
  if (r == 0) {
    /* Nothing read: a hung-up device (USB adapter pulled, pty master
     * closed) reads as empty forever, so look for the hang-up. */
    struct pollfd pfd;
    pfd.fd = s->fd;
    pfd.events = POLLIN;
    pfd.revents = 0;
    if (poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)))
      return tide_error_set(err, TIDE_E_SERIAL_GONE, 0, "read %s: %s", s->name,
                            tide_link_strerror(TIDE_E_SERIAL_GONE));
  }
  return 0;
}

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int tide_serial_write(tide_serial *s, const uint8_t *buf, size_t len, uint32_t timeout_ms,
                      tide_error *err)
{
  uint64_t deadline = mono_ms() + timeout_ms;
  size_t done = 0;

  while (done < len) {
    enum sp_return r = sp_nonblocking_write(s->port, buf + done, len - done);
    struct pollfd pfd;
    uint64_t now;
    if (r < 0) {
      if (sp_last_error_code() != EAGAIN)
        return os_error(err, 0, s->name, "write");
      r = 0;
    }
    done += (size_t)r;
    if (done == len)
      break;
    now = mono_ms();
    if (now >= deadline)
      return tide_error_set(err, TIDE_E_TIMEOUT, done,
                            "write %s: output stalled for %u ms (flow control held off?)", s->name,
                            (unsigned)timeout_ms);
    pfd.fd = s->fd;
    pfd.events = POLLOUT;
    pfd.revents = 0;
    if (poll(&pfd, 1, (int)(deadline - now)) < 0 && errno != EINTR)
      return errno_error(err, errno, 0, s->name, "write");
    if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
      return tide_error_set(err, TIDE_E_SERIAL_GONE, done, "write %s: %s", s->name,
                            tide_link_strerror(TIDE_E_SERIAL_GONE));
  }
  return 0;
}

int tide_serial_wait(tide_serial *s, uint32_t timeout_ms, int *readable, tide_error *err)
{
  struct pollfd pfd;
  int n;

  *readable = 0;
  pfd.fd = s->fd;
  pfd.events = POLLIN;
  pfd.revents = 0;
  n = poll(&pfd, 1, (int)(timeout_ms > 0x7fffffffu ? 0x7fffffffu : timeout_ms));
  if (n < 0) {
    if (errno == EINTR)
      return 0;
    return errno_error(err, errno, 0, s->name, "wait on");
  }
  if (pfd.revents & POLLIN) {
    *readable = 1;
    return 0;
  }
  if (pfd.revents & (POLLHUP | POLLERR | POLLNVAL))
    return tide_error_set(err, TIDE_E_SERIAL_GONE, 0, "%s: %s", s->name,
                          tide_link_strerror(TIDE_E_SERIAL_GONE));
  return 0;
}
