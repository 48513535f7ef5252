/* cmd_usb.c - `tide usb sync DIR`: the USB stick as a mule
 * (docs/bundle.md, "The USB stick as a mule"). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tide/bundle_file.h"

static const char usb_usage[] =
    "usage: tide usb sync DIR [--max-bytes N] [-j N]\n"
    "\n"
    "Uses the folder DIR (a USB stick) as a mule between nodes:\n"
    "  - imports every bundle on it not imported yet;\n"
    "  - writes one bundle with what the nodes known on the stick lack (from\n"
    "    the clocks they left there; everything when none is known yet),\n"
    "    at most N bytes with --max-bytes;\n"
    "  - leaves our clock on it;\n"
    "  - removes the bundles every recipient has acknowledged.\n"
    "Only files named b-<32 hex>.tideb and c-<64 hex>.tideb are read;\n"
    "links and other files are never followed or touched.\n"
    "\n"
    "  -j, --threads N  signature-checking threads (default: all CPUs)\n"
    "\n"
    "Messages that only lack earlier ones of their feed (a bundle cut for\n"
    "another node) are reported as waiting: a later bundle brings them.\n"
    "\n"
    "Exit status: 0 success; 1 when a file on the stick was bad or a message\n"
    "was rejected as invalid (the rest is still synced); 2 for a usage error.\n";

typedef struct usb_ctx {
  const tide_cli *cli;
  int bad;
  uint64_t waiting; /* messages refused only because earlier ones are missing */
} usb_ctx;

static void on_file(void *ctx, const char *name, int code, const char *msg)
{
  usb_ctx *u = ctx;
  (void)code;
  tide_cli_error(u->cli, "%s: %s", name, msg);
  u->bad++;
}

static void on_reject(void *ctx, const uint8_t *author, int64_t seq, const char *reason)
{
  usb_ctx *u = ctx;
  char id[TIDE_FEED_ID_LEN + 1] = "?";
  if (author != NULL)
    tide_feed_id_format(id, author);
  /* A bundle cut for another node may start past what we hold of a feed:
   * its messages wait for a later bundle that carries the earlier ones.
   * That is the normal life of a stick, not a failure. */
  if (strncmp(reason, "gap", 3) == 0) {
    u->waiting++;
    printf("%s sequence %" PRId64 ": not yet: %s\n", id, seq, reason);
    return;
  }
  printf("%s sequence %" PRId64 ": rejected: %s\n", id, seq, reason);
}

int tide_cmd_usb(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_MAX = 1, OPT_THREADS };
  static const tide_cli_opt opts[] = {
      {"max-bytes", 0, 1, OPT_MAX}, {"threads", 'j', 1, OPT_THREADS}, {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  tide_usb_opts uo;
  tide_usb_stats us;
  usb_ctx u;
  tide_error err;
  const char *dir = NULL;
  char *end;
  unsigned long long v;
  int o, rc;

  if (argc < 2 || strcmp(argv[1], "sync") != 0) {
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
      return tide_cli_help(cli, usb_usage);
    return tide_cli_usage(cli, "usage: tide usb sync DIR");
  }
  memset(&uo, 0, sizeof uo);
  tide_cli_getopt_init(&st, argc - 1, argv + 1);
  while ((o = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case OPT_MAX:
    case OPT_THREADS:
      errno = 0;
      v = strtoull(st.value, &end, 10);
      if (errno != 0 || *end != '\0' || st.value[0] == '\0' || st.value[0] == '-' ||
          (o == OPT_MAX && v == 0) || (o == OPT_THREADS && v > 1024))
        return tide_cli_usage(cli, "%s needs a number", o == OPT_MAX ? "--max-bytes" : "--threads");
      if (o == OPT_MAX)
        uo.max_bytes = v;
      else
        uo.threads = (size_t)v;
      break;
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, usb_usage);
    case TIDE_CLI_OPT_ARG:
      if (dir != NULL)
        return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
      dir = st.value;
      break;
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (dir == NULL)
    return tide_cli_usage(cli, "usb sync needs the stick folder DIR");
  if ((rc = tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY | TIDE_CLI_NEED_STORE)) != 0)
    return rc;
  uo.now_ms = (uint64_t)tide_cli_now_ms();
  uo.on_reject = on_reject;
  uo.reject_ctx = &u;
  u.cli = cli;
  u.bad = 0;
  u.waiting = 0;
  tide_error_clear(&err);
  rc = tide_usb_sync(cli->store, &cli->keys, dir, &uo, on_file, &u, &us, &err);
  if (rc != 0)
    return tide_cli_error(cli, "%s", tide_error_text(&err, rc));
  printf("bundles on the stick: %" PRIu64 " (imported %" PRIu64 ", skipped %" PRIu64
         ", bad %" PRIu64 ")\n",
         us.bundles_seen, us.bundles_imported, us.bundles_skipped, us.bundles_failed);
  printf("messages: new %" PRIu64 ", already had %" PRIu64 ", rejected %" PRIu64
         ", waiting for earlier ones %" PRIu64 "\n",
         us.added, us.already, us.rejected - u.waiting, u.waiting);
  printf("nodes known on the stick: %" PRIu64 "\n", us.peers);
  if (us.wrote_bundle)
    printf("left a bundle: %" PRIu64 " messages, %" PRIu64 " bytes\n", us.wrote_messages,
           us.wrote_bytes);
  else
    printf("left no bundle: the known nodes lack nothing we have\n");
  printf("removed bundles everyone has: %" PRIu64 "\n", us.removed);
  if (us.ignored > 0)
    printf("ignored files: %" PRIu64 "\n", us.ignored);
  return u.bad > 0 || us.rejected > u.waiting ? TIDE_EXIT_FAIL : TIDE_EXIT_OK;
}
