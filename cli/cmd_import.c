/* cmd_import.c - `tide import FILE.jsonl`: validate and store messages.
 *
 * Each non-blank line is a message value, or a {"key","value"} wrapper
 * (also ssb-db's {"key","value","timestamp"}), as `tide export` writes.
 * Lines go through the ingest pipeline (tide/ingest.h, driven by
 * importer.c): signatures are checked in parallel, messages are validated
 * against the store in line order, and a message whose predecessors are
 * missing is held until they arrive later in the file.  Line numbers are
 * the ingest tags, so every verdict is reported against its line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "tide/store.h"

static const char import_usage[] =
    "usage: tide import FILE.jsonl    ('-' reads standard input)\n"
    "\n"
    "Validates every message in FILE (one JSON per line: a message value, or\n"
    "{\"key\":\"%...\",\"value\":<message>} as 'tide export' writes it) and stores\n"
    "each valid one, whoever its author.  Messages may come in any order: one\n"
    "whose predecessors are missing waits for them until the end of the file,\n"
    "and is then rejected with a reason starting 'gap'.  A given key must\n"
    "equal the id computed from the value.  Blank lines are ignored.\n"
    "\n"
    "Prints 'line N: REASON' for each rejected line (REASON worded as\n"
    "ssb-validate words it), then the counts:\n"
    "  accepted: N\n"
    "  already had: N\n"
    "  rejected: N\n"
    "\n"
    "  -j, --threads N   signature-checking threads (default: all CPUs)\n"
    "\n"
    "Exit status: 0 when no line was rejected, 1 otherwise (valid lines are\n"
    "stored either way), 2 for a usage error.\n";

int tide_cmd_import(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_THREADS = 1 };
  static const tide_cli_opt opts[] = {{"threads", 'j', 1, OPT_THREADS}, {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  const char *path = NULL;
  tide_cli_importer c;
  tide_cli_progress prog;
  tide_error err, ferr;
  FILE *f = NULL;
  struct stat fst;
  char *line = NULL, *end;
  size_t cap = 0, i;
  ssize_t got;
  uint64_t lineno = 0, bytes = 0;
  unsigned long threads = 0;
  int o, rc = TIDE_EXIT_FAIL, irc = 0, frc;

  memset(&c, 0, sizeof c);
  tide_error_clear(&err);
  tide_error_clear(&ferr);
  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case OPT_THREADS:
      errno = 0;
      threads = strtoul(st.value, &end, 10);
      if (errno != 0 || *end != '\0' || st.value[0] == '\0' || st.value[0] == '-' || threads > 1024)
        return tide_cli_usage(cli, "--threads needs a number from 0 to 1024");
      break;
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, import_usage);
    case TIDE_CLI_OPT_ARG:
      if (path != NULL)
        return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
      path = st.value;
      break;
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (path == NULL)
    return tide_cli_usage(cli, "missing the file to import ('-' for standard input)");
  if (tide_cli_open(cli, TIDE_CLI_NEED_STORE) != 0)
    return TIDE_EXIT_FAIL;

  if (strcmp(path, "-") == 0) {
    f = stdin;
  } else if ((f = fopen(path, "r")) == NULL) {
    return tide_cli_error(cli, "%s: %s", path, strerror(errno));
  }
  irc = tide_cli_importer_init(&c, cli->store, threads, tide_cli_now_ms());
  if (irc != 0) {
    (void)tide_cli_error(cli, "cannot start the ingest pipeline: %s", tide_strerror(irc));
    goto out;
  }
  tide_cli_progress_start(
      cli, &prog, "import",
      fstat(fileno(f), &fst) == 0 && S_ISREG(fst.st_mode) ? (uint64_t)fst.st_size : 0);
  while ((got = getline(&line, &cap, f)) >= 0) {
    size_t len = (size_t)got;
    lineno++;
    bytes += len;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      len--;
    if ((lineno & 1023) == 0) {
      tide_cli_importer_set_time(&c, tide_cli_now_ms());
      tide_cli_progress_update(&prog, bytes);
    }
    irc = tide_cli_importer_line(&c, lineno, line, len, &err);
    if (irc != 0)
      break;
  }
  tide_cli_progress_end(&prog);
  if (irc == 0 && ferror(f)) {
    (void)tide_cli_error(cli, "%s: read error: %s",
                         strcmp(path, "-") == 0 ? "standard input" : path, strerror(errno));
    goto out;
  }
  /* Also after a failure: it sorts the reports (the session's error is
   * sticky, so nothing more is stored). */
  frc = tide_cli_importer_finish(&c, irc != 0 ? &ferr : &err);
  if (irc == 0)
    irc = frc;
  if (irc != 0)
    (void)tide_cli_error(cli, "storage failure: %s (messages reported accepted are stored)",
                         tide_error_text(&err, irc));
  else
    rc = TIDE_EXIT_OK;
  if (c.oom) {
    (void)tide_cli_error(cli, "out of memory while recording rejections");
    rc = TIDE_EXIT_FAIL;
  }
  for (i = 0; i < c.nrej; i++)
    printf("line %llu: %s\n", (unsigned long long)c.rej[i].line, c.rej[i].reason);
  printf("accepted: %llu\nalready had: %llu\nrejected: %llu\n", (unsigned long long)c.accepted,
         (unsigned long long)c.already, (unsigned long long)c.rejected);
  if (c.forks > 0)
    tide_cli_verbose(cli, "%llu fork(s) recorded as evidence", (unsigned long long)c.forks);
  if (rc == TIDE_EXIT_OK && c.rejected > 0)
    rc = TIDE_EXIT_FAIL;
out:
  tide_cli_importer_free(&c);
  if (f != NULL && f != stdin)
    (void)fclose(f);
  free(line);
  return rc;
}
