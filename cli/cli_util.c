/* cli_util.c - messages, option parsing, files, time and progress for the
 * tide commands (see cli.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* --- Messages ------------------------------------------------------------ */

static void vreport(const tide_cli *cli, const char *fmt, va_list ap) TIDE_PRINTF(2, 0);

static void vreport(const tide_cli *cli, const char *fmt, va_list ap)
{
  if (cli->cmd != NULL)
    fprintf(stderr, "%s %s: ", cli->prog != NULL ? cli->prog : "tide", cli->cmd);
  else
    fprintf(stderr, "%s: ", cli->prog != NULL ? cli->prog : "tide");
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
}

int tide_cli_error(const tide_cli *cli, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vreport(cli, fmt, ap);
  va_end(ap);
  return TIDE_EXIT_FAIL;
}

int tide_cli_usage(const tide_cli *cli, const char *fmt, ...)
{
  va_list ap;

  va_start(ap, fmt);
  vreport(cli, fmt, ap);
  va_end(ap);
  if (cli->cmd != NULL && strcmp(cli->cmd, "help") != 0)
    fprintf(stderr, "Try 'tide %s --help'.\n", cli->cmd);
  else
    fputs("Try 'tide --help'.\n", stderr);
  return TIDE_EXIT_USAGE;
}

void tide_cli_verbose(const tide_cli *cli, const char *fmt, ...)
{
  va_list ap;

  if (cli->verbosity <= 0)
    return;
  va_start(ap, fmt);
  vreport(cli, fmt, ap);
  va_end(ap);
}

void tide_cli_note(const tide_cli *cli, const char *fmt, ...)
{
  va_list ap;

  if (cli->verbosity < 0)
    return;
  va_start(ap, fmt);
  vreport(cli, fmt, ap);
  va_end(ap);
}

int tide_cli_help(const tide_cli *cli, const char *text)
{
  size_t n = strlen(text);

  (void)cli;
  fputs(text, stdout);
  if (n == 0 || text[n - 1] != '\n')
    fputc('\n', stdout);
  return TIDE_EXIT_OK;
}

/* --- Option parsing ------------------------------------------------------ */

void tide_cli_getopt_init(tide_cli_getopt *st, int argc, char **argv)
{
  st->argc = argc;
  st->argv = argv;
  st->index = 1;
  st->only_operands = 0;
  st->value = NULL;
}

/* Takes the value of an option that needs one: inline ("--x=v") or the
 * next argument.  Returns 0, or prints a usage error and returns -1. */
static int take_value(tide_cli *cli, tide_cli_getopt *st, const char *inl, const char *shown)
{
  if (inl != NULL) {
    st->value = inl;
    return 0;
  }
  if (st->index >= st->argc) {
    (void)tide_cli_usage(cli, "option '%s' needs a value", shown);
    return -1;
  }
  st->value = st->argv[st->index++];
  return 0;
}

int tide_cli_getopt_next(tide_cli *cli, tide_cli_getopt *st, const tide_cli_opt *opts)
{
  const char *a, *name, *eq;
  size_t nlen, i;

  for (;;) {
    st->value = NULL;
    if (st->index >= st->argc)
      return TIDE_CLI_OPT_END;
    a = st->argv[st->index++];
    if (st->only_operands || a[0] != '-' || a[1] == '\0') {
      st->value = a; /* an operand; "-" alone means stdin */
      return TIDE_CLI_OPT_ARG;
    }
    if (strcmp(a, "--") == 0) {
      st->only_operands = 1;
      continue;
    }
    if (a[1] == '-') {
      name = a + 2;
      eq = strchr(name, '=');
      nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
      if (nlen == 4 && strncmp(name, "help", 4) == 0 && eq == NULL)
        return TIDE_CLI_OPT_HELP;
      if (nlen == 4 && strncmp(name, "home", 4) == 0) {
        if (take_value(cli, st, eq != NULL ? eq + 1 : NULL, "--home") != 0)
          return TIDE_CLI_OPT_ERROR;
        if (st->value[0] == '\0') {
          (void)tide_cli_usage(cli, "--home needs a non-empty directory");
          return TIDE_CLI_OPT_ERROR;
        }
        if (tide_cli_set_home(cli, st->value) != 0) {
          (void)tide_cli_error(cli, "out of memory");
          return TIDE_CLI_OPT_ERROR;
        }
        continue;
      }
      for (i = 0; opts != NULL && opts[i].name != NULL; i++) {
        if (strlen(opts[i].name) == nlen && strncmp(opts[i].name, name, nlen) == 0)
          break;
      }
      if (opts == NULL || opts[i].name == NULL) {
        (void)tide_cli_usage(cli, "unknown option '%.*s'", (int)(nlen + 2), a);
        return TIDE_CLI_OPT_ERROR;
      }
      if (opts[i].has_arg) {
        if (take_value(cli, st, eq != NULL ? eq + 1 : NULL, a) != 0)
          return TIDE_CLI_OPT_ERROR;
      } else if (eq != NULL) {
        (void)tide_cli_usage(cli, "option '--%s' takes no value", opts[i].name);
        return TIDE_CLI_OPT_ERROR;
      }
      return opts[i].id;
    }
    /* A short option: exactly one letter, "-x" (value in the next word). */
    if (a[2] != '\0') {
      (void)tide_cli_usage(cli, "unknown option '%s'", a);
      return TIDE_CLI_OPT_ERROR;
    }
    if (a[1] == 'h')
      return TIDE_CLI_OPT_HELP;
    for (i = 0; opts != NULL && opts[i].name != NULL; i++)
      if (opts[i].short_name != 0 && opts[i].short_name == a[1])
        break;
    if (opts == NULL || opts[i].name == NULL) {
      (void)tide_cli_usage(cli, "unknown option '%s'", a);
      return TIDE_CLI_OPT_ERROR;
    }
    if (opts[i].has_arg && take_value(cli, st, NULL, a) != 0)
      return TIDE_CLI_OPT_ERROR;
    return opts[i].id;
  }
}

/* --- Home ---------------------------------------------------------------- */

int tide_cli_set_home(tide_cli *cli, const char *dir)
{
  size_t n = strlen(dir);
  char *copy;

  /* Trailing slashes only make paths ugly ("/x//secret"); keep "/". */
  while (n > 1 && dir[n - 1] == '/')
    n--;
  copy = malloc(n + 1);
  if (copy == NULL)
    return TIDE_E_NOMEM;
  memcpy(copy, dir, n);
  copy[n] = '\0';
  free(cli->home);
  cli->home = copy;
  return 0;
}

int tide_cli_home_path(const tide_cli *cli, char **out, const char *name)
{
  size_t n = strlen(cli->home) + 1 + strlen(name) + 1;
  char *p = malloc(n);

  *out = NULL;
  if (p == NULL)
    return TIDE_E_NOMEM;
  if (strcmp(cli->home, "/") == 0)
    (void)snprintf(p, n, "/%s", name);
  else
    (void)snprintf(p, n, "%s/%s", cli->home, name);
  *out = p;
  return 0;
}

/* --- Files --------------------------------------------------------------- */

int tide_cli_read_file(const tide_cli *cli, tide_buf *out, const char *path, size_t max)
{
  int fd, rc = TIDE_EXIT_FAIL, is_stdin = strcmp(path, "-") == 0;
  const char *shown = is_stdin ? "standard input" : path;
  size_t start = out->len;
  ssize_t got;

  fd = is_stdin ? STDIN_FILENO : open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return tide_cli_error(cli, "%s: %s", shown, strerror(errno));
  for (;;) {
    if (tide_buf_reserve(out, 65536) != 0) {
      (void)tide_cli_error(cli, "%s: out of memory", shown);
      goto out;
    }
    got = read(fd, out->data + out->len, 65536);
    if (got < 0) {
      if (errno == EINTR)
        continue;
      (void)tide_cli_error(cli, "%s: %s", shown, strerror(errno));
      goto out;
    }
    if (got == 0)
      break;
    out->len += (size_t)got;
    out->data[out->len] = '\0';
    if (max != 0 && out->len - start > max) {
      (void)tide_cli_error(cli, "%s: larger than %zu bytes", shown, max);
      goto out;
    }
  }
  rc = 0;
out:
  if (!is_stdin)
    (void)close(fd);
  return rc;
}

static int write_all(int fd, const void *data, size_t len)
{
  const char *p = data;
  ssize_t n;

  while (len > 0) {
    n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

/* fsyncs the directory holding path so a rename or link is durable. */
static int sync_parent(const char *path)
{
  const char *slash = strrchr(path, '/');
  char dir[PATH_MAX];
  int fd, rc;

  if (slash == NULL) {
    strcpy(dir, ".");
  } else if (slash == path) {
    strcpy(dir, "/");
  } else {
    if ((size_t)(slash - path) >= sizeof dir) {
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(dir, path, (size_t)(slash - path));
    dir[slash - path] = '\0';
  }
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return -1;
  rc = fsync(fd);
  (void)close(fd);
  return rc;
}

int tide_cli_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                               int exclusive)
{
  size_t n = strlen(path) + sizeof ".tmp.XXXXXX";
  char *tmp = malloc(n);
  int fd = -1, rc = TIDE_E_IO, saved = 0;

  if (tmp == NULL)
    return TIDE_E_NOMEM;
  (void)snprintf(tmp, n, "%s.tmp.XXXXXX", path);
  fd = mkstemp(tmp);
  if (fd < 0) {
    saved = errno;
    free(tmp);
    errno = saved;
    return TIDE_E_IO;
  }
  if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0)
    goto fail;
  if (close(fd) != 0) {
    fd = -1;
    goto fail;
  }
  fd = -1;
  if (exclusive) {
    /* link() fails with EEXIST instead of replacing: never overwrite. */
    if (link(tmp, path) == 0) {
      (void)unlink(tmp);
    } else if (errno == EEXIST) {
      rc = TIDE_E_EXISTS;
      goto fail;
    } else if (errno == EPERM || errno == ENOTSUP || errno == EOPNOTSUPP || errno == ENOSYS) {
      /* A file system without hard links (FAT on a USB stick): check,
       * then rename.  Only a writer racing between the two could be
       * replaced. */
      struct stat st;
      if (lstat(path, &st) == 0) {
        rc = TIDE_E_EXISTS;
        errno = EEXIST;
        goto fail;
      }
      if (rename(tmp, path) != 0)
        goto fail;
    } else {
      goto fail;
    }
  } else if (rename(tmp, path) != 0) {
    goto fail;
  }
  if (sync_parent(path) != 0) {
    saved = errno;
    free(tmp);
    errno = saved;
    return TIDE_E_IO;
  }
  free(tmp);
  return 0;
fail:
  saved = errno;
  if (fd >= 0)
    (void)close(fd);
  (void)unlink(tmp);
  free(tmp);
  errno = saved;
  return rc;
}

/* --- Time and ids -------------------------------------------------------- */

int64_t tide_cli_now_ms(void)
{
  struct timespec ts;

  if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
    return 0;
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void tide_cli_format_time(char out[TIDE_CLI_TIME_BYTES], double ms)
{
  char tmp[128];
  size_t n;
  struct tm tm;
  time_t secs;
  long long whole, frac;

  /* Beyond what gmtime handles sensibly (or not a number): show raw. */
  if (!(ms >= -8.64e15 && ms <= 8.64e15)) {
    (void)snprintf(out, TIDE_CLI_TIME_BYTES, "%.17g", ms);
    return;
  }
  whole = (long long)ms;
  if ((double)whole > ms)
    whole--; /* floor for negative values */
  frac = whole % 1000;
  if (frac < 0)
    frac += 1000;
  secs = (time_t)((whole - frac) / 1000);
  if (gmtime_r(&secs, &tm) == NULL) {
    (void)snprintf(out, TIDE_CLI_TIME_BYTES, "%.17g", ms);
    return;
  }
  (void)snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, frac);
  n = strlen(tmp);
  if (n >= TIDE_CLI_TIME_BYTES)
    n = TIDE_CLI_TIME_BYTES - 1; /* cannot happen for years below 1e6 */
  memcpy(out, tmp, n);
  out[n] = '\0';
}

int tide_cli_parse_feed(const tide_cli *cli, uint8_t pk[TIDE_PK_BYTES], const char *text)
{
  int rc = tide_feed_id_parse(pk, text, strlen(text));

  if (rc != 0) {
    (void)tide_cli_error(cli, "not a feed id: '%s' (expected @<base64 of 32 bytes>.ed25519)", text);
    return TIDE_EXIT_USAGE;
  }
  return 0;
}

/* --- Progress ------------------------------------------------------------ */

void tide_cli_progress_start(const tide_cli *cli, tide_cli_progress *p, const char *label,
                             uint64_t total)
{
  memset(p, 0, sizeof *p);
  p->enabled = cli->stderr_tty && cli->verbosity >= 0;
  p->label = label;
  p->total = total;
}

static void progress_draw(tide_cli_progress *p)
{
  if (p->total > 0)
    fprintf(stderr, "\r%s: %llu/%llu (%u%%)\033[K", p->label, (unsigned long long)p->done,
            (unsigned long long)p->total, (unsigned)(p->done * 100 / p->total));
  else
    fprintf(stderr, "\r%s: %llu\033[K", p->label, (unsigned long long)p->done);
  fflush(stderr);
  p->drawn = 1;
}

void tide_cli_progress_update(tide_cli_progress *p, uint64_t done)
{
  int64_t now;

  p->done = done;
  if (!p->enabled)
    return;
  now = tide_cli_now_ms();
  if (p->drawn && now - p->last_ms < 100)
    return;
  p->last_ms = now;
  progress_draw(p);
}

void tide_cli_progress_end(tide_cli_progress *p)
{
  if (p->enabled && p->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
  p->drawn = 0;
}
