/* pty_ioctl.c - lets `tide sync serial` use pseudo-terminals.
 *
 * libserialport 0.1.1 reads and sets the modem control lines (TIOCMGET,
 * TIOCMSET, TIOCMBIS, TIOCMBIC) while it opens and configures a port.  The
 * Linux pty driver has no modem lines and answers ENOTTY, so sp_open()
 * fails on a pty, although a pty is how virtual serial links (socat,
 * serial-over-network bridges, simulators) appear.  The tide program
 * therefore wraps ioctl(): when one of those four requests fails with
 * ENOTTY on a pty slave (Unix98 majors 136..143), it answers like a port
 * with DSR, CTS and carrier up.  Every other call, and every call on a real
 * serial port, goes to the C library unchanged.  This lives in the program,
 * not in libtide, so no library user gets an ioctl() it did not ask for. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

int ioctl(int fd, unsigned long req, ...);

static int pty_slave(int fd)
{
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode))
    return 0;
  return major(st.st_rdev) >= 136 && major(st.st_rdev) <= 143;
}

int ioctl(int fd, unsigned long req, ...)
{
  typedef int (*ioctl_fn)(int, unsigned long, ...);
  static ioctl_fn next;
  va_list ap;
  void *arg;
  int r, saved;

  va_start(ap, req);
  arg = va_arg(ap, void *);
  va_end(ap);
  if (next == NULL) {
    /* POSIX: dlsym's result may be converted to a function pointer. */
    void *sym = dlsym(RTLD_NEXT, "ioctl");
    memcpy(&next, &sym, sizeof next);
  }
  if (next == NULL) {
    errno = ENOSYS;
    return -1;
  }
  r = next(fd, req, arg);
  saved = errno;
  if (r < 0 && saved == ENOTTY &&
      (req == TIOCMGET || req == TIOCMSET || req == TIOCMBIS || req == TIOCMBIC) && pty_slave(fd)) {
    if (req == TIOCMGET && arg != NULL)
      *(int *)arg = TIOCM_DSR | TIOCM_CTS | TIOCM_CAR;
    return 0;
  }
  errno = saved;
  return r;
}
