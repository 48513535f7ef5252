/* ptyshim.c - lets libserialport open Linux pseudo-terminals in tests.
 *
 * libserialport 0.1.1 reads and sets the modem control lines (TIOCMGET,
 * TIOCMBIS, TIOCMBIC) while opening and configuring a port; the Linux pty
 * driver has no modem lines and answers ENOTTY, so sp_open() fails on a
 * pty.  This shim wraps ioctl(): when one of those four requests fails
 * with ENOTTY on a pty slave (Unix98 major 136..143), it behaves like a
 * port with DSR, CTS and carrier up.  Every other call, and every call on
 * a real port, goes to the C library untouched.  Linked into test_serial
 * and preloaded (LD_PRELOAD) into the tide binary by the end-to-end
 * tests; never part of libtide. */
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

static int is_pty_slave(int fd)
{
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISCHR(st.st_mode))
    return 0;
  return major(st.st_rdev) >= 136 && major(st.st_rdev) <= 143;
}

int ioctl(int fd, unsigned long req, ...)
{
  typedef int (*ioctl_fn)(int, unsigned long, ...);
  static ioctl_fn real;
  va_list ap;
  void *arg;
  int r, saved;

  va_start(ap, req);
  arg = va_arg(ap, void *);
  va_end(ap);
  if (real == NULL) {
    /* POSIX: dlsym's result may be converted to a function pointer. */
    void *sym = dlsym(RTLD_NEXT, "ioctl");
    memcpy(&real, &sym, sizeof real);
  }
  if (real == NULL) {
    errno = ENOSYS;
    return -1;
  }
  r = real(fd, req, arg);
  saved = errno;
  if (r < 0 && saved == ENOTTY &&
      (req == TIOCMGET || req == TIOCMSET || req == TIOCMBIS || req == TIOCMBIC) &&
      is_pty_slave(fd)) {
    if (req == TIOCMGET && arg != NULL)
      *(int *)arg = TIOCM_DSR | TIOCM_CTS | TIOCM_CAR;
    return 0;
  }
  errno = saved;
  return r;
}
