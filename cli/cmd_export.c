/* cmd_export.c - reading the store: `tide export`, `tide feed`,
 * `tide feeds` and `tide status`. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "tide/json.h"
#include "tide/msg.h"
#include "tide/store.h"

static const char export_usage[] =
    "usage: tide export [@FEED]\n"
    "\n"
    "Writes stored messages to standard output as JSON lines\n"
    "  {\"key\":\"%...sha256\",\"value\":<message>}\n"
    "for every feed (ordered by feed id) or for one, each feed in sequence\n"
    "order.  The value is JSON.stringify(message) (compact); 'tide import'\n"
    "re-canonicalises it to the signed text, so ids are reproduced exactly.\n";

static const char feed_usage[] = "usage: tide feed @FEED [--json]\n"
                                 "\n"
                                 "Shows the messages of one feed in sequence order, one per line:\n"
                                 "  SEQ  TIME (ISO-8601 UTC)  %ID  TYPE  SHORT CONTENT\n"
                                 "\n"
                                 "  --json   print JSON lines as 'tide export @FEED' does\n";

static const char feeds_usage[] =
    "usage: tide feeds [--json]\n"
    "\n"
    "Lists the feeds in the store, one per line: feed id, latest sequence, and\n"
    "'forked' when fork evidence was recorded for it (else 'ok').\n"
    "\n"
    "  --json   one JSON object per line: {\"id\":\"@...\",\"sequence\":N,\"forked\":false}\n";

static const char status_usage[] =
    "usage: tide status\n"
    "\n"
    "Shows this node's identity, home directory, store file and size, and the\n"
    "number of feeds, messages and forks stored.\n";

int tide_cli_export_line(tide_buf *out, const uint8_t id[TIDE_HASH_BYTES], const char *text,
                         size_t len)
{
  char key[TIDE_MSG_ID_LEN + 1];
  tide_json_doc *doc = NULL;
  int rc;

  rc = tide_json_parse(&doc, text, len, NULL, NULL);
  if (rc != 0)
    return rc;
  tide_msg_id_format(key, id);
  if ((rc = tide_buf_puts(out, "{\"key\":\"")) != 0 || (rc = tide_buf_puts(out, key)) != 0 ||
      (rc = tide_buf_puts(out, "\",\"value\":")) != 0 ||
      (rc = tide_json_write(out, tide_json_root(doc), TIDE_JSON_COMPACT)) != 0 ||
      (rc = tide_buf_puts(out, "}\n")) != 0)
    goto out;
out:
  tide_json_doc_free(doc);
  return rc;
}

/* --- export and feed --json ------------------------------------------------ */

typedef struct export_ctx {
  tide_cli *cli;
  tide_buf line;
  int failed; /* already reported */
  int human;  /* feed's table output instead of JSON lines */
  uint64_t count;
} export_ctx;

#define CB_STOP 1

static int write_out(export_ctx *x)
{
  if (fwrite(x->line.data, 1, x->line.len, stdout) != x->line.len) {
    (void)tide_cli_error(x->cli, "cannot write standard output: %s", strerror(errno));
    x->failed = 1;
    return CB_STOP;
  }
  return 0;
}

/* Appends a one-line, at most `max` characters, version of s (newlines
 * and control characters shown as spaces) to out. */
static int put_short(tide_buf *out, const char *s, size_t len, size_t max)
{
  size_t i, shown = 0;
  int rc = 0;

  for (i = 0; i < len && rc == 0; i++) {
    unsigned char ch = (unsigned char)s[i];
    if ((ch & 0xC0) != 0x80 && ++shown > max) { /* count code points */
      rc = tide_buf_puts(out, "...");
      break;
    }
    rc = tide_buf_putc(out, ch < 0x20 || ch == 0x7f ? ' ' : (char)ch);
  }
  return rc;
}

/* The human-readable line of `tide feed`. */
static int format_human(tide_buf *out, const tide_store_record *rec)
{
  char when[TIDE_CLI_TIME_BYTES], id[TIDE_MSG_ID_LEN + 1];
  tide_buf tmp = TIDE_BUF_INIT;
  const tide_json *content, *t, *v;
  tide_msg *m = NULL;
  const char *s;
  size_t n;
  int rc;

  tide_cli_format_time(when, rec->timestamp);
  tide_msg_id_format(id, rec->id);
  rc = tide_buf_printf(out, "%6lld  %s  %s  ", (long long)rec->sequence, when, id);
  if (rc != 0)
    return rc;
  rc = tide_msg_parse(&m, rec->text, rec->text_len, NULL);
  if (rc != 0)
    return rc;
  content = tide_msg_content(m);
  if (tide_json_typeof(content) == TIDE_JSON_STRING) {
    rc = tide_buf_puts(out, "(encrypted)");
    goto out;
  }
  t = tide_json_object_getz(content, "type");
  s = tide_json_string(t, &n);
  if (s != NULL)
    rc = put_short(out, s, n, 32);
  else
    rc = tide_buf_puts(out, "?");
  if (rc == 0)
    rc = tide_buf_puts(out, "  ");
  if (rc != 0)
    goto out;
  if (s != NULL && n == 4 && memcmp(s, "post", 4) == 0 &&
      (v = tide_json_object_getz(content, "text")) != NULL &&
      (s = tide_json_string(v, &n)) != NULL) {
    rc = put_short(out, s, n, 72);
  } else if (s != NULL && n == 7 && memcmp(s, "contact", 7) == 0 &&
             (v = tide_json_object_getz(content, "contact")) != NULL &&
             (s = tide_json_string(v, &n)) != NULL) {
    const tide_json *fo = tide_json_object_getz(content, "following");
    const tide_json *bl = tide_json_object_getz(content, "blocking");
    rc = put_short(out, s, n, 60);
    if (rc == 0 && fo != NULL)
      rc = tide_buf_puts(out,
                         tide_json_typeof(fo) == TIDE_JSON_TRUE ? " following" : " not following");
    if (rc == 0 && bl != NULL)
      rc = tide_buf_puts(out, tide_json_typeof(bl) == TIDE_JSON_TRUE ? " blocked" : " unblocked");
  } else {
    rc = tide_json_write(&tmp, content, TIDE_JSON_COMPACT);
    if (rc == 0)
      rc = put_short(out, tmp.data, tmp.len, 72);
  }
out:
  if (rc == 0)
    rc = tide_buf_putc(out, '\n');
  tide_buf_free(&tmp);
  tide_msg_free(m);
  return rc;
}

static int on_record(void *ctx, const tide_store_record *rec)
{
  export_ctx *x = ctx;
  int rc;

  tide_buf_reset(&x->line);
  rc = x->human ? format_human(&x->line, rec)
                : tide_cli_export_line(&x->line, rec->id, rec->text, rec->text_len);
  if (rc != 0) {
    (void)tide_cli_error(x->cli, "cannot format message %lld: %s", (long long)rec->sequence,
                         tide_strerror(rc));
    x->failed = 1;
    return CB_STOP;
  }
  x->count++;
  return write_out(x);
}

static int export_feed(export_ctx *x, const uint8_t pk[TIDE_PK_BYTES])
{
  tide_error err;
  int rc;

  tide_error_clear(&err);
  rc = tide_store_iter_feed(x->cli->store, pk, 1, 0, on_record, x, &err);
  if (rc < 0 && !x->failed) {
    (void)tide_cli_error(x->cli, "store: %s", tide_error_text(&err, rc));
    x->failed = 1;
  }
  return x->failed ? CB_STOP : 0;
}

static int on_feed_export(void *ctx, const tide_store_feed *feed)
{
  return export_feed(ctx, feed->author);
}

static int export_run(tide_cli *cli, const char *only, int human)
{
  uint8_t pk[TIDE_PK_BYTES];
  export_ctx x;
  tide_error err;
  tide_feed_state latest;
  int rc;

  memset(&x, 0, sizeof x);
  x.cli = cli;
  x.human = human;
  tide_error_clear(&err);
  if (only != NULL && tide_cli_parse_feed(cli, pk, only) != 0)
    return TIDE_EXIT_USAGE;
  if (tide_cli_open(cli, TIDE_CLI_NEED_STORE | TIDE_CLI_STORE_READ) != 0)
    return TIDE_EXIT_FAIL;
  if (only != NULL) {
    rc = tide_store_latest(cli->store, &latest, NULL, pk, &err);
    if (rc == TIDE_E_NOTFOUND) {
      tide_buf_free(&x.line);
      return tide_cli_error(cli, "no messages of %s in this store", only);
    }
    if (rc != 0) {
      tide_buf_free(&x.line);
      return tide_cli_error(cli, "store: %s", tide_error_text(&err, rc));
    }
    (void)export_feed(&x, pk);
  } else {
    rc = tide_store_feeds(cli->store, on_feed_export, &x, &err);
    if (rc < 0 && !x.failed) {
      (void)tide_cli_error(cli, "store: %s", tide_error_text(&err, rc));
      x.failed = 1;
    }
  }
  tide_buf_free(&x.line);
  if (!x.failed)
    tide_cli_verbose(cli, "%llu message(s)", (unsigned long long)x.count);
  return x.failed ? TIDE_EXIT_FAIL : TIDE_EXIT_OK;
}

int tide_cmd_export(tide_cli *cli, int argc, char **argv)
{
  tide_cli_getopt st;
  const char *only = NULL;
  int o;

  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, NULL)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, export_usage);
    case TIDE_CLI_OPT_ARG:
      if (only != NULL)
        return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
      only = st.value;
      break;
    default: return TIDE_EXIT_USAGE;
    }
  }
  return export_run(cli, only, 0);
}

int tide_cmd_feed(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_JSON = 1 };
  static const tide_cli_opt opts[] = {{"json", 0, 0, OPT_JSON}, {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  const char *only = NULL;
  int o, json = 0;

  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case OPT_JSON: json = 1; break;
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, feed_usage);
    case TIDE_CLI_OPT_ARG:
      if (only != NULL)
        return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
      only = st.value;
      break;
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (only == NULL)
    return tide_cli_usage(cli, "missing the feed id (@...ed25519)");
  return export_run(cli, only, !json);
}

/* --- feeds ---------------------------------------------------------------- */

typedef struct feeds_ctx {
  tide_cli *cli;
  int json;
  int failed;
} feeds_ctx;

static int on_feed_list(void *ctx, const tide_store_feed *feed)
{
  feeds_ctx *x = ctx;
  char id[TIDE_FEED_ID_LEN + 1];
  int n;

  tide_feed_id_format(id, feed->author);
  if (x->json)
    n = printf("{\"id\":\"%s\",\"sequence\":%lld,\"forked\":%s}\n", id,
               (long long)feed->latest.sequence, feed->forked ? "true" : "false");
  else
    n = printf("%s  %lld  %s\n", id, (long long)feed->latest.sequence,
               feed->forked ? "forked" : "ok");
  if (n < 0) {
    (void)tide_cli_error(x->cli, "cannot write standard output: %s", strerror(errno));
    x->failed = 1;
    return CB_STOP;
  }
  return 0;
}

int tide_cmd_feeds(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_JSON = 1 };
  static const tide_cli_opt opts[] = {{"json", 0, 0, OPT_JSON}, {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  feeds_ctx x;
  tide_error err;
  int o, rc;

  memset(&x, 0, sizeof x);
  x.cli = cli;
  tide_error_clear(&err);
  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case OPT_JSON: x.json = 1; break;
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, feeds_usage);
    case TIDE_CLI_OPT_ARG: return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (tide_cli_open(cli, TIDE_CLI_NEED_STORE | TIDE_CLI_STORE_READ) != 0)
    return TIDE_EXIT_FAIL;
  rc = tide_store_feeds(cli->store, on_feed_list, &x, &err);
  if (rc < 0 && !x.failed)
    return tide_cli_error(cli, "store: %s", tide_error_text(&err, rc));
  return x.failed ? TIDE_EXIT_FAIL : TIDE_EXIT_OK;
}

/* --- status --------------------------------------------------------------- */

int tide_cmd_status(tide_cli *cli, int argc, char **argv)
{
  tide_cli_getopt st;
  tide_store_stats stats;
  tide_error err;
  char *secret = NULL, *store = NULL;
  struct stat sb;
  int o, rc = TIDE_EXIT_FAIL, src;

  tide_error_clear(&err);
  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, NULL)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, status_usage);
    case TIDE_CLI_OPT_ARG: return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (tide_cli_home_path(cli, &secret, TIDE_CLI_SECRET_FILE) != 0 ||
      tide_cli_home_path(cli, &store, TIDE_CLI_STORE_FILE) != 0) {
    (void)tide_cli_error(cli, "out of memory");
    goto out;
  }
  /* status describes what is there; it creates nothing (the store is
   * opened as an existing one).  A missing identity or store is an error
   * (exit 1) after what can be shown. */
  if (stat(cli->home, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
    (void)tide_cli_error(cli, "no tide home at %s (run 'tide init' first, or use --home)",
                         cli->home);
    goto out;
  }
  if (stat(secret, &sb) != 0) {
    (void)tide_cli_error(cli, "no identity in %s (run 'tide init' first)", cli->home);
    goto out;
  }
  if (tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY) != 0)
    goto out;
  printf("identity: %s\nhome:     %s\n", cli->feed_id, cli->home);
  if (tide_cli_open(cli, TIDE_CLI_NEED_STORE | TIDE_CLI_STORE_READ) != 0)
    goto out;
  src = tide_store_get_stats(cli->store, &stats, &err);
  if (src != 0) {
    (void)tide_cli_error(cli, "store: %s", tide_error_text(&err, src));
    goto out;
  }
  printf("store:    %s (%llu bytes)\n", store, (unsigned long long)stats.bytes);
  printf("feeds:    %llu\nmessages: %llu\nforks:    %llu (in %llu feed%s)\n",
         (unsigned long long)stats.feeds, (unsigned long long)stats.messages,
         (unsigned long long)stats.forks, (unsigned long long)stats.forked_feeds,
         stats.forked_feeds == 1 ? "" : "s");
  rc = TIDE_EXIT_OK;
out:
  free(secret);
  free(store);
  return rc;
}
