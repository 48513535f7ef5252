/* cmd_init.c - `tide init`: create the home directory, the identity and
 * the store; `tide whoami`. */
#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "tide/store.h"

static const char init_usage[] =
    "usage: tide init [--import-secret FILE]\n"
    "       tide init --new-store\n"
    "\n"
    "Creates the node's home directory (mode 0700), a new ed25519 identity in\n"
    "HOME/secret (mode 0600, the JSON layout of SSB's ~/.ssb/secret) and an\n"
    "empty store, then prints the new feed id.\n"
    "\n"
    "  --import-secret FILE  reuse an existing SSB identity: FILE has the layout\n"
    "                        of ~/.ssb/secret (curve, public, private, id;\n"
    "                        '#' comment lines allowed)\n"
    "  --new-store           keep the home's identity and make an empty store\n"
    "                        where the store is missing or empty (after losing\n"
    "                        it). Other commands refuse to, because publishing\n"
    "                        on a new store restarts your feed at sequence 1,\n"
    "                        which peers holding your messages take for a fork:\n"
    "                        sync your own feed back from a peer (or import a\n"
    "                        backup) before you publish again. A store that\n"
    "                        exists is left as it is.\n"
    "\n"
    "An existing secret is never overwritten: init fails with exit status 1.\n";

static const char whoami_usage[] = "usage: tide whoami\n"
                                   "\n"
                                   "Prints this node's feed id (@...ed25519).\n";

#define SECRET_FILE_MAX 65536

/* Creates dir and its missing parents (parents with mode 0755 minus umask,
 * dir itself 0700).  Returns 0 or -1 with errno. */
static int make_dirs(char *dir)
{
  struct stat st;
  char *p;

  if (stat(dir, &st) == 0)
    return S_ISDIR(st.st_mode) ? 0 : (errno = ENOTDIR, -1);
  for (p = dir + 1; *p != '\0'; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
      *p = '/';
      return -1;
    }
    *p = '/';
  }
  if (mkdir(dir, 0700) != 0 && errno != EEXIST)
    return -1;
  return 0;
}

/* `tide init --new-store`: an empty store beside the existing identity,
 * when the store is missing or empty; an existing store is kept. */
static int init_new_store(tide_cli *cli)
{
  char *store_path = NULL;
  tide_error err;
  int code, rc = TIDE_EXIT_FAIL;

  tide_error_clear(&err);
  if (tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY) != 0)
    return TIDE_EXIT_FAIL;
  if (tide_cli_home_path(cli, &store_path, TIDE_CLI_STORE_FILE) != 0)
    return tide_cli_error(cli, "out of memory");
  code = tide_store_open(&cli->store, store_path, TIDE_STORE_EXISTING, &err);
  if (code == 0) {
    tide_cli_note(cli, "%s holds a store already: kept as it is", store_path);
  } else if (code != TIDE_E_NOTFOUND) {
    (void)tide_cli_error(cli, "cannot open the store %s: %s", store_path,
                         tide_error_text(&err, code));
    goto out;
  } else {
    if (tide_cli_open(cli, TIDE_CLI_NEED_STORE | TIDE_CLI_STORE_CREATE) != 0)
      goto out;
    tide_cli_note(cli,
                  "new empty store %s: sync your own feed back from a peer (or import a "
                  "backup) before you publish",
                  store_path);
  }
  printf("%s\n", cli->feed_id);
  rc = TIDE_EXIT_OK;
out:
  free(store_path);
  return rc;
}

int tide_cmd_init(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_IMPORT = 1, OPT_NEW_STORE };
  static const tide_cli_opt opts[] = {
      {"import-secret", 0, 1, OPT_IMPORT}, {"new-store", 0, 0, OPT_NEW_STORE}, {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  const char *import = NULL;
  tide_buf text = TIDE_BUF_INIT, out = TIDE_BUF_INIT;
  tide_keypair kp;
  tide_error err;
  char *secret_path = NULL;
  struct stat sst;
  int id, rc = TIDE_EXIT_FAIL, krc, new_store = 0;

  memset(&kp, 0, sizeof kp);
  tide_error_clear(&err);
  tide_cli_getopt_init(&st, argc, argv);
  while ((id = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (id) {
    case OPT_IMPORT: import = st.value; break;
    case OPT_NEW_STORE: new_store = 1; break;
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, init_usage);
    case TIDE_CLI_OPT_ARG: return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
    default: return TIDE_EXIT_USAGE;
    }
  }

  if (new_store && import != NULL)
    return tide_cli_usage(cli, "--new-store keeps the home's identity: no --import-secret with it");
  if (new_store)
    return init_new_store(cli);
  if (tide_cli_home_path(cli, &secret_path, TIDE_CLI_SECRET_FILE) != 0)
    return tide_cli_error(cli, "out of memory");
  /* Checked first for a clear message; the exclusive write below is what
   * really guarantees that no secret is ever replaced. */
  if (lstat(secret_path, &sst) == 0) {
    (void)tide_cli_error(cli,
                         "%s already exists: refusing to overwrite an identity "
                         "(move it away first to make a new one)",
                         secret_path);
    goto out;
  }

  if (import != NULL) {
    if (tide_cli_read_file(cli, &text, import, SECRET_FILE_MAX) != 0)
      goto out;
    krc = tide_keys_secret_parse(&kp, text.data != NULL ? text.data : "", text.len, &err);
    if (krc != 0) {
      (void)tide_cli_error(cli, "%s: not a usable secret file: %s", import,
                           tide_error_text(&err, krc));
      goto out;
    }
  } else if (tide_keys_generate(&kp) != 0) {
    (void)tide_cli_error(cli, "cannot generate a key pair");
    goto out;
  }

  if (make_dirs(cli->home) != 0) {
    (void)tide_cli_error(cli, "cannot create %s: %s", cli->home, strerror(errno));
    goto out;
  }
  if (chmod(cli->home, 0700) != 0) {
    (void)tide_cli_error(cli, "cannot set mode 0700 on %s: %s", cli->home, strerror(errno));
    goto out;
  }
  if (tide_keys_secret_format(&out, &kp) != 0) {
    (void)tide_cli_error(cli, "out of memory");
    goto out;
  }
  krc = tide_cli_write_file_atomic(secret_path, out.data, out.len, 0600, 1);
  if (krc == TIDE_E_EXISTS) {
    (void)tide_cli_error(cli, "%s already exists: refusing to overwrite an identity", secret_path);
    goto out;
  }
  if (krc != 0) {
    (void)tide_cli_error(cli, "cannot write %s: %s", secret_path,
                         krc == TIDE_E_IO ? strerror(errno) : tide_strerror(krc));
    goto out;
  }
  cli->keys = kp;
  tide_feed_id_format(cli->feed_id, kp.pk);
  cli->have_identity = 1;
  /* Create the store now so the home is complete and errors show early. */
  if (tide_cli_open(cli, TIDE_CLI_NEED_STORE | TIDE_CLI_STORE_CREATE) != 0)
    goto out;
  printf("%s\n", cli->feed_id);
  tide_cli_verbose(cli, "identity written to %s", secret_path);
  rc = TIDE_EXIT_OK;
out:
  tide_keys_wipe(&kp);
  if (text.data != NULL)
    sodium_memzero(text.data, text.cap);
  if (out.data != NULL)
    sodium_memzero(out.data, out.cap);
  tide_buf_free(&text);
  tide_buf_free(&out);
  free(secret_path);
  return rc;
}

int tide_cmd_whoami(tide_cli *cli, int argc, char **argv)
{
  tide_cli_getopt st;
  int id;

  tide_cli_getopt_init(&st, argc, argv);
  while ((id = tide_cli_getopt_next(cli, &st, NULL)) != TIDE_CLI_OPT_END) {
    switch (id) {
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, whoami_usage);
    case TIDE_CLI_OPT_ARG: return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY) != 0)
    return TIDE_EXIT_FAIL;
  printf("%s\n", cli->feed_id);
  return TIDE_EXIT_OK;
}
