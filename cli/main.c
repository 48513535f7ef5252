/* main.c - the `tide` program: global options and command dispatch.
 *
 *     tide [--home DIR] [-v|-q] COMMAND [ARGS...]
 *
 * See docs/cli.md for every command.  Each command is a function in
 * cli/cmd_<name>.c registered in commands[] below. */
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tide/common.h"

/* The dispatch table.  To add a command: a prototype in cli.h and one
 * line here.  Aliases (unfollow, unblock) share a function that looks at
 * argv[0]. */
static const tide_cli_command commands[] = {
    {"init", tide_cmd_init, "create this node's identity (or import an SSB secret)"},
    {"whoami", tide_cmd_whoami, "print this node's feed id"},
    {"publish", tide_cmd_publish, "sign and append a message to your own feed"},
    {"follow", tide_cmd_follow, "publish a contact message following a feed"},
    {"unfollow", tide_cmd_follow, "publish a contact message unfollowing a feed"},
    {"block", tide_cmd_block, "publish a contact message blocking a feed"},
    {"unblock", tide_cmd_block, "publish a contact message unblocking a feed"},
    {"import", tide_cmd_import, "validate and store messages from a JSONL file"},
    {"export", tide_cmd_export, "write stored messages as JSONL"},
    {"feed", tide_cmd_feed, "show the messages of one feed"},
    {"feeds", tide_cmd_feeds, "list the feeds in the store"},
    {"status", tide_cmd_status, "show identity, home and store summary"},
    /* Other modules register their commands below, one line each. */
    {"bundle", tide_cmd_bundle, "export, import or inspect bundle files"},
    {"usb", tide_cmd_usb, "sync with a USB stick folder (bundles as a mule)"},
    {"sync", tide_cmd_serial, "sync over a serial radio link: tide sync serial PORT"},
    {NULL, NULL, NULL}};

static const char usage_text[] =
    "usage: tide [--home DIR] [-v|-q] COMMAND [ARGS...]\n"
    "\n"
    "Global options (before the command; --home is also accepted after it):\n"
    "  --home DIR     node directory (default $TIDE_HOME, else ~/.tide)\n"
    "  -v, --verbose  more messages on stderr\n"
    "  -q, --quiet    fewer messages on stderr (no progress display)\n"
    "  -h, --help     this help;  tide help COMMAND  for a command's help\n"
    "  --version      print the version\n";

static void print_usage(FILE *f)
{
  size_t i;

  fputs(usage_text, f);
  fputs("\nCommands:\n", f);
  for (i = 0; commands[i].name != NULL; i++)
    fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fputs("\nExit status: 0 success, 1 runtime error, 2 usage error.\n", f);
}

static const tide_cli_command *find_command(const char *name)
{
  size_t i;

  for (i = 0; commands[i].name != NULL; i++)
    if (strcmp(commands[i].name, name) == 0)
      return &commands[i];
  return NULL;
}

/* The default home: $TIDE_HOME, else $HOME/.tide, else the passwd entry's
 * home directory + "/.tide". */
static int default_home(tide_cli *cli)
{
  const char *env = getenv("TIDE_HOME");
  const char *base;
  struct passwd *pw;
  char *path;
  size_t n;
  int rc;

  if (env != NULL && env[0] != '\0')
    return tide_cli_set_home(cli, env);
  base = getenv("HOME");
  if (base == NULL || base[0] == '\0') {
    pw = getpwuid(getuid());
    base = pw != NULL ? pw->pw_dir : NULL;
  }
  if (base == NULL || base[0] == '\0')
    return TIDE_E_NOTFOUND;
  n = strlen(base) + sizeof "/.tide";
  path = malloc(n);
  if (path == NULL)
    return TIDE_E_NOMEM;
  (void)snprintf(path, n, "%s/.tide", base);
  rc = tide_cli_set_home(cli, path);
  free(path);
  return rc;
}

static int run_help(tide_cli *cli, int argc, char **argv)
{
  const tide_cli_command *c;
  char *sub[3];

  if (argc < 2) {
    print_usage(stdout);
    return TIDE_EXIT_OK;
  }
  if (argc > 2)
    return tide_cli_usage(cli, "too many arguments");
  c = find_command(argv[1]);
  if (c == NULL)
    return tide_cli_usage(cli, "unknown command '%s'", argv[1]);
  sub[0] = argv[1];
  sub[1] = (char *)"--help";
  sub[2] = NULL;
  cli->cmd = c->name;
  return c->fn(cli, 2, sub);
}

int main(int argc, char **argv)
{
  tide_cli cli;
  const tide_cli_command *c;
  const char *home = NULL;
  int i, rc;

  memset(&cli, 0, sizeof cli);
  cli.prog = "tide";
  cli.stderr_tty = isatty(STDERR_FILENO);
  if (tide_init() != 0) {
    fprintf(stderr, "tide: cannot initialise libsodium\n");
    return TIDE_EXIT_FAIL;
  }

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) {
      i++;
      break;
    }
    if (a[0] != '-' || a[1] == '\0')
      break;
    if (strcmp(a, "--home") == 0) {
      if (i + 1 >= argc)
        return tide_cli_usage(&cli, "option '--home' needs a value");
      home = argv[++i];
    } else if (strncmp(a, "--home=", 7) == 0) {
      home = a + 7;
    } else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
      cli.verbosity++;
    } else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
      cli.verbosity = -1;
    } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
      print_usage(stdout);
      return TIDE_EXIT_OK;
    } else if (strcmp(a, "--version") == 0) {
      printf("tide %s\n", TIDE_VERSION_STRING);
      return TIDE_EXIT_OK;
    } else {
      return tide_cli_usage(&cli, "unknown option '%s'", a);
    }
  }
  if (i >= argc) {
    print_usage(stderr);
    return TIDE_EXIT_USAGE;
  }
  if (home != NULL && home[0] == '\0')
    return tide_cli_usage(&cli, "--home needs a non-empty directory");

  rc = home != NULL ? tide_cli_set_home(&cli, home) : default_home(&cli);
  if (rc != 0) {
    fprintf(stderr, "tide: cannot determine the home directory (use --home or TIDE_HOME)\n");
    return TIDE_EXIT_FAIL;
  }

  if (strcmp(argv[i], "help") == 0) {
    cli.cmd = "help";
    rc = run_help(&cli, argc - i, argv + i);
  } else {
    c = find_command(argv[i]);
    if (c == NULL) {
      rc = tide_cli_usage(&cli, "unknown command '%s' (see 'tide --help')", argv[i]);
    } else {
      cli.cmd = c->name;
      rc = c->fn(&cli, argc - i, argv + i);
    }
  }
  if (fflush(stdout) != 0 && rc == TIDE_EXIT_OK)
    rc = tide_cli_error(&cli, "cannot write standard output");
  tide_cli_close(&cli);
  return rc;
}
