/* cli_home.c - opening a node's home directory: identity and store. */
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "tide/store.h"

/* Upper bound on a secret file: the JSON is ~350 bytes plus comments. */
#define SECRET_FILE_MAX 65536

static int load_identity(tide_cli *cli)
{
  tide_buf text = TIDE_BUF_INIT;
  tide_error err;
  char *path = NULL;
  struct stat st;
  int rc = TIDE_EXIT_FAIL, krc;

  tide_error_clear(&err);
  if (tide_cli_home_path(cli, &path, TIDE_CLI_SECRET_FILE) != 0)
    return tide_cli_error(cli, "out of memory");
  if (stat(path, &st) != 0) {
    if (errno == ENOENT)
      (void)tide_cli_error(cli, "no identity in %s (run 'tide init' first)", cli->home);
    else
      (void)tide_cli_error(cli, "%s: %s", path, strerror(errno));
    goto out;
  }
  if (tide_cli_read_file(cli, &text, path, SECRET_FILE_MAX) != 0)
    goto out;
  krc = tide_keys_secret_parse(&cli->keys, text.data != NULL ? text.data : "", text.len, &err);
  if (krc != 0) {
    (void)tide_cli_error(cli, "%s: %s", path, tide_error_text(&err, krc));
    goto out;
  }
  tide_feed_id_format(cli->feed_id, cli->keys.pk);
  cli->have_identity = 1;
  if ((st.st_mode & 077) != 0)
    tide_cli_verbose(cli, "warning: %s is readable by others (mode %03o)", path,
                     (unsigned)(st.st_mode & 0777));
  rc = 0;
out:
  if (text.data != NULL)
    sodium_memzero(text.data, text.cap);
  tide_buf_free(&text);
  free(path);
  return rc;
}

/* A home whose store is missing or empty: say why nothing is created. */
static int store_lost(tide_cli *cli, const char *path, const tide_error *err, int code)
{
  return tide_cli_error(cli,
                        "cannot open the store %s: %s; no new one is made in its place (your "
                        "feed would restart at sequence 1, a fork to peers that hold it): "
                        "restore it from a backup, or run 'tide init --new-store' and sync "
                        "your feed back before you publish",
                        path, tide_error_text(err, code));
}

static int open_store(tide_cli *cli, int read_ok, int create)
{
  tide_error err;
  char *path = NULL;
  struct stat st;
  int rc = TIDE_EXIT_FAIL, src;

  tide_error_clear(&err);
  if (stat(cli->home, &st) != 0 || !S_ISDIR(st.st_mode))
    return tide_cli_error(cli, "no tide home at %s (run 'tide init' first, or use --home)",
                          cli->home);
  if (tide_cli_home_path(cli, &path, TIDE_CLI_STORE_FILE) != 0)
    return tide_cli_error(cli, "out of memory");
  src = tide_store_open(&cli->store, path, create ? 0 : TIDE_STORE_EXISTING, &err);
  if (src == TIDE_E_NOTFOUND) {
    cli->store = NULL;
    (void)store_lost(cli, path, &err, src);
    goto out;
  }
  if (src != 0 && read_ok && (access(path, W_OK) != 0 || access(cli->home, W_OK) != 0)) {
    /* A read-only stick or backup: reading needs no write access. */
    tide_cli_verbose(cli, "%s cannot be written: opening it read-only", path);
    tide_error_clear(&err);
    src = tide_store_open(&cli->store, path, TIDE_STORE_READ_ONLY, &err);
  }
  if (src != 0) {
    cli->store = NULL;
    (void)tide_cli_error(cli, "cannot open the store %s: %s", path, tide_error_text(&err, src));
    goto out;
  }
  rc = 0;
out:
  free(path);
  return rc;
}

int tide_cli_open(tide_cli *cli, unsigned need)
{
  if ((need & TIDE_CLI_NEED_IDENTITY) && !cli->have_identity && load_identity(cli) != 0)
    return TIDE_EXIT_FAIL;
  if ((need & TIDE_CLI_NEED_STORE) && cli->store == NULL &&
      open_store(cli, (need & TIDE_CLI_STORE_READ) != 0, (need & TIDE_CLI_STORE_CREATE) != 0) != 0)
    return TIDE_EXIT_FAIL;
  return 0;
}

void tide_cli_close(tide_cli *cli)
{
  tide_store_close(cli->store);
  cli->store = NULL;
  tide_keys_wipe(&cli->keys);
  cli->have_identity = 0;
  free(cli->home);
  cli->home = NULL;
}
