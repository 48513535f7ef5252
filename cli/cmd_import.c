/* cmd_import.c - `tide import FILE.jsonl`: validate and store messages.
 *
 * Each non-blank line is a message value, or a {"key","value"} wrapper
 * (also ssb-db's {"key","value","timestamp"}), as `tide export` writes.
 * Lines go through the ingest pipeline (tide/ingest.h): signatures are
 * checked in parallel, messages are validated against the store in line
 * order, and a message whose predecessors are missing is held until they
 * arrive later in the file.  Line numbers are the ingest tags, so every
 * verdict is reported against its line. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "tide/ingest.h"
#include "tide/json.h"
#include "tide/msg.h"
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

/* Longest line handed to the pipeline. */
#define LINE_MAX_BYTES ((size_t)1 << 20)

typedef struct reject {
  uint64_t line;
  char *reason;
} reject;

typedef struct import_ctx {
  tide_cli *cli;
  uint64_t accepted, already, rejected, forks;
  reject *rej;
  size_t nrej, caprej;
  int oom;
} import_ctx;

static void add_reject(import_ctx *c, uint64_t line, const char *prefix, const char *reason)
{
  size_t n;
  reject *grown;
  char *copy, *p;

  c->rejected++;
  if (c->nrej == c->caprej) {
    n = c->caprej != 0 ? c->caprej * 2 : 64;
    grown = realloc(c->rej, n * sizeof *grown);
    if (grown == NULL) {
      c->oom = 1;
      return;
    }
    c->rej = grown;
    c->caprej = n;
  }
  n = strlen(prefix) + strlen(reason) + 1;
  copy = malloc(n);
  if (copy == NULL) {
    c->oom = 1;
    return;
  }
  (void)snprintf(copy, n, "%s%s", prefix, reason);
  /* Reasons may quote the input (a type, a key): keep each report on one
   * line and free of terminal control characters. */
  for (p = copy; *p != '\0'; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
  c->rej[c->nrej].line = line;
  c->rej[c->nrej].reason = copy;
  c->nrej++;
}

static void on_verdict(void *ctx, const tide_ingest_result *r)
{
  import_ctx *c = ctx;

  switch (r->verdict) {
  case TIDE_INGEST_ACCEPTED: c->accepted++; break;
  case TIDE_INGEST_ALREADY: c->already++; break;
  case TIDE_INGEST_FORK:
    c->forks++;
    add_reject(c, r->tag, "fork (kept as evidence, feed now frozen): ",
               r->reason != NULL && r->reason[0] != '\0' ? r->reason
                                                         : "conflicts with a stored message");
    break;
  case TIDE_INGEST_REJECTED:
  default:
    add_reject(c, r->tag, "", r->reason != NULL && r->reason[0] != '\0' ? r->reason : "invalid");
    break;
  }
}

static int cmp_reject(const void *a, const void *b)
{
  const reject *x = a, *y = b;

  return x->line < y->line ? -1 : x->line > y->line;
}

/* 1 when the first member of the JSON object in s is "previous": the line
 * is then a message value and goes to the ingest workers unparsed. */
static int starts_like_message(const char *s, size_t len)
{
  static const char key[] = "\"previous\"";
  size_t i = 0;

  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
    i++;
  if (i >= len || s[i] != '{')
    return 0;
  i++;
  while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
    i++;
  return len - i >= sizeof key - 1 && memcmp(s + i, key, sizeof key - 1) == 0;
}

/* 1 when v is a {"key","value"[,"timestamp"]} wrapper. */
static int is_wrapper(const tide_json *v)
{
  size_t i, n, klen;
  const char *k;

  if (tide_json_typeof(v) != TIDE_JSON_OBJECT || tide_json_object_getz(v, "value") == NULL)
    return 0;
  n = tide_json_length(v);
  for (i = 0; i < n; i++) {
    k = tide_json_object_key(v, i, &klen);
    if (!((klen == 3 && memcmp(k, "key", 3) == 0) || (klen == 5 && memcmp(k, "value", 5) == 0) ||
          (klen == 9 && memcmp(k, "timestamp", 9) == 0)))
      return 0;
  }
  return 1;
}

/* Handles one line that may be a wrapper: parses it here, checks the key
 * and queues the parsed message.  Returns 0, or a sticky ingest error. */
static int push_slow(import_ctx *c, tide_ingest *ing, uint64_t line, const char *s, size_t len,
                     tide_buf *scratch, tide_error *err)
{
  tide_json_doc *doc = NULL;
  tide_msg *inner = NULL;
  const tide_json *root, *value, *keyv;
  tide_error perr;
  const char *key;
  size_t keylen;
  char computed[TIDE_MSG_ID_LEN + 1];
  int rc;

  tide_error_clear(&perr);
  /* Not JSON, or not a wrapper: the pipeline parses and judges the line
   * itself, with the same wording as for any other line. */
  if (tide_json_parse(&doc, s, len, NULL, &perr) != 0)
    return tide_ingest_push(ing, line, s, len, err);
  root = tide_json_root(doc);
  if (!is_wrapper(root)) {
    tide_json_doc_free(doc);
    return tide_ingest_push(ing, line, s, len, err);
  }
  value = tide_json_object_getz(root, "value");
  keyv = tide_json_object_getz(root, "key");
  tide_buf_reset(scratch);
  rc = tide_json_write(scratch, value, TIDE_JSON_COMPACT);
  if (rc != 0) {
    tide_json_doc_free(doc);
    return tide_error_set(err, rc, 0, "out of memory");
  }
  tide_error_clear(&perr);
  rc = tide_msg_parse(&inner, scratch->data, scratch->len, &perr);
  if (rc != 0) {
    add_reject(c, line, "\"value\" is not a message: ", tide_error_text(&perr, rc));
    goto out_ok;
  }
  if (keyv != NULL) {
    key = tide_json_string(keyv, &keylen);
    tide_msg_id_format(computed, tide_msg_id(inner));
    if (key == NULL) {
      add_reject(c, line, "", "\"key\" is not a string");
      goto out_ok;
    }
    if (keylen != TIDE_MSG_ID_LEN || memcmp(key, computed, TIDE_MSG_ID_LEN) != 0) {
      char msg[TIDE_MSG_ID_LEN * 2 + 96];
      (void)snprintf(msg, sizeof msg, "key %.*s does not match the message's id %s",
                     (int)(keylen > 60 ? 60 : keylen), key, computed);
      add_reject(c, line, "", msg);
      goto out_ok;
    }
  }
  tide_json_doc_free(doc);
  return tide_ingest_push_msg(ing, line, inner, TIDE_MSG_SIG_UNCHECKED, err);
out_ok:
  tide_msg_free(inner);
  tide_json_doc_free(doc);
  return 0;
}

static int blank(const char *s, size_t len)
{
  size_t i;

  for (i = 0; i < len; i++)
    if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r' && s[i] != '\n')
      return 0;
  return 1;
}

int tide_cmd_import(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_THREADS = 1 };
  static const tide_cli_opt opts[] = {{"threads", 'j', 1, OPT_THREADS}, {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  const char *path = NULL;
  import_ctx c;
  tide_ingest_options io;
  tide_ingest *ing = NULL;
  tide_cli_progress prog;
  tide_buf scratch = TIDE_BUF_INIT;
  tide_error err;
  FILE *f = NULL;
  struct stat fst;
  char *line = NULL, *end;
  size_t cap = 0, i;
  ssize_t got;
  uint64_t lineno = 0, bytes = 0;
  unsigned long threads = 0;
  int o, rc = TIDE_EXIT_FAIL, irc = 0;

  memset(&c, 0, sizeof c);
  c.cli = cli;
  tide_error_clear(&err);
  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case OPT_THREADS:
      errno = 0;
      threads = strtoul(st.value, &end, 10);
      if (errno != 0 || *end != '\0' || st.value[0] == '\0' || st.value[0] == '-' ||
          threads > 1024)
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
  memset(&io, 0, sizeof io);
  io.threads = threads;
  io.received_ms = tide_cli_now_ms();
  irc = tide_ingest_new(&ing, cli->store, &io, on_verdict, &c);
  if (irc != 0) {
    (void)tide_cli_error(cli, "cannot start the ingest pipeline: %s", tide_strerror(irc));
    goto out;
  }
  tide_cli_progress_start(cli, &prog, "import",
                          fstat(fileno(f), &fst) == 0 && S_ISREG(fst.st_mode) ? (uint64_t)fst.st_size
                                                                              : 0);
  while ((got = getline(&line, &cap, f)) >= 0) {
    size_t len = (size_t)got;
    lineno++;
    bytes += len;
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
      len--;
    if (blank(line, len))
      continue;
    if (len > LINE_MAX_BYTES) {
      /* No message comes near this (8192 UTF-16 units); do not make the
       * pipeline copy and parse it. */
      char why[96];
      (void)snprintf(why, sizeof why, "line too long (%zu bytes) to be a message", len);
      add_reject(&c, lineno, "", why);
      continue;
    }
    if ((lineno & 1023) == 0) {
      tide_ingest_set_time(ing, tide_cli_now_ms());
      tide_cli_progress_update(&prog, bytes);
    }
    if (starts_like_message(line, len))
      irc = tide_ingest_push(ing, lineno, line, len, &err);
    else
      irc = push_slow(&c, ing, lineno, line, len, &scratch, &err);
    if (irc != 0)
      break;
  }
  tide_cli_progress_end(&prog);
  if (irc == 0 && ferror(f)) {
    (void)tide_cli_error(cli, "%s: read error: %s", strcmp(path, "-") == 0 ? "standard input" : path,
                         strerror(errno));
    goto out;
  }
  if (irc == 0)
    irc = tide_ingest_finish(ing, &err);
  if (irc != 0) {
    (void)tide_cli_error(cli, "storage failure: %s (messages reported accepted are stored)",
                         tide_error_text(&err, irc));
    goto report;
  }
  rc = TIDE_EXIT_OK;
report:
  if (c.oom) {
    (void)tide_cli_error(cli, "out of memory while recording rejections");
    rc = TIDE_EXIT_FAIL;
  }
  if (c.nrej > 1)
    qsort(c.rej, c.nrej, sizeof *c.rej, cmp_reject);
  for (i = 0; i < c.nrej; i++)
    printf("line %llu: %s\n", (unsigned long long)c.rej[i].line, c.rej[i].reason);
  printf("accepted: %llu\nalready had: %llu\nrejected: %llu\n", (unsigned long long)c.accepted,
         (unsigned long long)c.already, (unsigned long long)c.rejected);
  if (c.forks > 0)
    tide_cli_verbose(cli, "%llu fork(s) recorded as evidence", (unsigned long long)c.forks);
  if (rc == TIDE_EXIT_OK && c.rejected > 0)
    rc = TIDE_EXIT_FAIL;
out:
  tide_ingest_free(ing);
  if (f != NULL && f != stdin)
    (void)fclose(f);
  free(line);
  tide_buf_free(&scratch);
  for (i = 0; i < c.nrej; i++)
    free(c.rej[i].reason);
  free(c.rej);
  return rc;
}
