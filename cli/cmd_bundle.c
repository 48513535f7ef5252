/* cmd_bundle.c - `tide bundle export|import|inspect`: bundle files
 * (docs/bundle.md). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "tide/bundle.h"
#include "tide/bundle_file.h"
#include "tide/clock.h"
#include "tide/store.h"

static const char bundle_usage[] =
    "usage: tide bundle export [--for @ID [--seal]] [--since CLOCK.json] [--max-bytes N] -o FILE\n"
    "       tide bundle import [-j N] FILE...\n"
    "       tide bundle inspect [--json] FILE\n"
    "\n"
    "export   writes a bundle: our clock and the messages the recipient lacks.\n"
    "         --for @ID     cut against the clock @ID's last bundle carried\n"
    "         --seal        encrypt so only @ID can read it\n"
    "         --since FILE  (without --for) cut against this EBT clock, a JSON\n"
    "                       object {\"@feed\": value}; default: everything\n"
    "         --max-bytes N the file is at most N bytes; what does not fit\n"
    "                       goes in the next bundle\n"
    "         -o FILE       where to write (temporary name, fsync, rename)\n"
    "import   verifies and stores the messages of each bundle; records the\n"
    "         sender's clock so the reply carries only what it lacks.\n"
    "         Idempotent.  Prints per file: new, already had, rejected (with\n"
    "         reasons).  A damaged bundle yields its valid prefix and an error.\n"
    "         -j N          signature-checking threads (default: all CPUs)\n"
    "inspect  shows sender, recipient, time, feeds and message counts, sizes,\n"
    "         signature and seal status; --json for a JSON object.\n"
    "\n"
    "Exit status: 0 success; 1 when a bundle is damaged, unreadable or a\n"
    "message was rejected; 2 for a usage error.\n";

static int parse_u64(const char *s, uint64_t *out)
{
  char *end;
  unsigned long long v;

  if (s == NULL || s[0] == '\0' || s[0] == '-')
    return -1;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno != 0 || *end != '\0')
    return -1;
  *out = v;
  return 0;
}

typedef struct progress_ctx {
  tide_cli_progress p;
} progress_ctx;

static void on_progress(void *ctx, uint64_t done, uint64_t total)
{
  progress_ctx *pc = ctx;
  if (total > 0)
    pc->p.total = total;
  tide_cli_progress_update(&pc->p, done);
}

static int cmd_export(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_FOR = 1, OPT_SEAL, OPT_SINCE, OPT_MAX, OPT_OUT, OPT_LEVEL };
  static const tide_cli_opt opts[] = {{"for", 0, 1, OPT_FOR},
                                      {"seal", 0, 0, OPT_SEAL},
                                      {"since", 0, 1, OPT_SINCE},
                                      {"max-bytes", 0, 1, OPT_MAX},
                                      {"output", 'o', 1, OPT_OUT},
                                      {"level", 0, 1, OPT_LEVEL},
                                      {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  tide_bundle_export_opts eo;
  tide_bundle_export_stats es;
  uint8_t recipient[TIDE_PK_BYTES];
  const char *out = NULL, *since = NULL;
  tide_clock *base = NULL;
  tide_buf text = TIDE_BUF_INIT;
  progress_ctx pc;
  tide_error err;
  uint64_t v;
  int o, rc, have_for = 0;

  memset(&eo, 0, sizeof eo);
  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case OPT_FOR:
      if ((rc = tide_cli_parse_feed(cli, recipient, st.value)) != 0)
        return rc;
      have_for = 1;
      break;
    case OPT_SEAL: eo.seal = 1; break;
    case OPT_SINCE: since = st.value; break;
    case OPT_MAX:
      if (parse_u64(st.value, &eo.max_bytes) != 0 || eo.max_bytes == 0)
        return tide_cli_usage(cli, "--max-bytes needs a positive number");
      break;
    case OPT_LEVEL:
      if (parse_u64(st.value, &v) != 0 || v < 1 || v > 22)
        return tide_cli_usage(cli, "--level needs a number from 1 to 22");
      eo.level = (int)v;
      break;
    case OPT_OUT: out = st.value; break;
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, bundle_usage);
    case TIDE_CLI_OPT_ARG: return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (out == NULL)
    return tide_cli_usage(cli, "export needs -o FILE");
  if (eo.seal && !have_for)
    return tide_cli_usage(cli, "--seal needs --for @ID");
  if (since != NULL && have_for)
    return tide_cli_usage(cli, "--since and --for cannot be combined");
  if ((rc = tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY | TIDE_CLI_NEED_STORE)) != 0)
    return rc;
  if (have_for)
    eo.recipient = recipient;
  if (since != NULL) {
    if (tide_cli_read_file(cli, &text, since, (size_t)64 << 20) != 0)
      return TIDE_EXIT_FAIL;
    if (tide_clock_new(&base) != 0) {
      tide_buf_free(&text);
      return tide_cli_error(cli, "out of memory");
    }
    tide_error_clear(&err);
    if (tide_clock_json_read(base, text.data, text.len, &err) != 0) {
      rc = tide_cli_error(cli, "%s: not an EBT clock: %s", since, tide_error_text(&err, -2));
      goto out;
    }
    eo.base = base;
  }
  eo.now_ms = (uint64_t)tide_cli_now_ms();
  memset(&pc, 0, sizeof pc);
  tide_cli_progress_start(cli, &pc.p, "export", 0);
  eo.progress = on_progress;
  eo.progress_ctx = &pc;
  tide_error_clear(&err);
  rc = tide_bundle_export_file(cli->store, &cli->keys, &eo, out, &es, &err);
  tide_cli_progress_end(&pc.p);
  if (rc != 0) {
    rc = tide_cli_error(cli, "%s", tide_error_text(&err, rc));
    goto out;
  }
  printf("wrote %s: %" PRIu64 " messages of %" PRIu64 " feeds, %" PRIu64 " bytes\n", out,
         es.messages, es.feeds, es.bytes);
  if (es.left_out > 0)
    printf("left out (budget): %" PRIu64 " messages\n", es.left_out);
  rc = TIDE_EXIT_OK;
out:
  tide_clock_free(base);
  tide_buf_free(&text);
  return rc;
}

typedef struct reject_ctx {
  const char *file;
  uint64_t shown;
} reject_ctx;

static void on_reject(void *ctx, const uint8_t *author, int64_t seq, const char *reason)
{
  reject_ctx *rc = ctx;
  char id[TIDE_FEED_ID_LEN + 1] = "?";
  if (author != NULL)
    tide_feed_id_format(id, author);
  printf("%s: %s sequence %" PRId64 ": rejected: %s\n", rc->file, id, seq, reason);
  rc->shown++;
}

static int cmd_import(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_THREADS = 1 };
  static const tide_cli_opt opts[] = {{"threads", 'j', 1, OPT_THREADS}, {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  tide_bundle_import_opts io;
  char **files;
  int nfiles = 0, o, rc, status = TIDE_EXIT_OK;
  uint64_t v;

  files = calloc((size_t)argc + 1, sizeof *files);
  if (files == NULL)
    return tide_cli_error(cli, "out of memory");
  memset(&io, 0, sizeof io);
  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case OPT_THREADS:
      if (parse_u64(st.value, &v) != 0 || v > 1024) {
        free(files);
        return tide_cli_usage(cli, "--threads needs a number from 0 to 1024");
      }
      io.threads = (size_t)v;
      break;
    case TIDE_CLI_OPT_HELP: free(files); return tide_cli_help(cli, bundle_usage);
    case TIDE_CLI_OPT_ARG: files[nfiles++] = (char *)st.value; break;
    default: free(files); return TIDE_EXIT_USAGE;
    }
  }
  if (nfiles == 0) {
    free(files);
    return tide_cli_usage(cli, "import needs at least one FILE");
  }
  if ((rc = tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY | TIDE_CLI_NEED_STORE)) != 0) {
    free(files);
    return rc;
  }
  for (int i = 0; i < nfiles; i++) {
    tide_bundle_import_stats is;
    reject_ctx rj = {files[i], 0};
    progress_ctx pc;
    tide_error err;
    char who[TIDE_FEED_ID_LEN + 1];

    memset(&pc, 0, sizeof pc);
    tide_cli_progress_start(cli, &pc.p, "import", 0);
    io.now_ms = (uint64_t)tide_cli_now_ms();
    io.on_reject = on_reject;
    io.reject_ctx = &rj;
    io.progress = on_progress;
    io.progress_ctx = &pc;
    tide_error_clear(&err);
    rc = tide_bundle_import_file(cli->store, &cli->keys, files[i], &io, &is, &err);
    tide_cli_progress_end(&pc.p);
    if (is.have_info) {
      tide_feed_id_format(who, is.info.sender);
      printf("%s: from %s\n", files[i], who);
    }
    printf("%s: new: %" PRIu64 ", already had: %" PRIu64 ", rejected: %" PRIu64 "\n", files[i],
           is.added, is.already, is.rejected);
    if (is.behind_feeds > 0)
      printf("%s: note: cut against a clock ahead of ours for %" PRIu64
             " feeds (we miss older messages of them)\n",
             files[i], is.behind_feeds);
    if (is.for_other)
      printf("%s: note: addressed to another node\n", files[i]);
    if (rc == TIDE_E_STORE || rc == TIDE_E_NOMEM) {
      status = tide_cli_error(cli, "%s: %s", files[i], tide_error_text(&err, rc));
      break;
    }
    if (rc != 0) {
      tide_cli_error(cli, "%s: %s", files[i], tide_error_text(&err, rc));
      status = TIDE_EXIT_FAIL;
    } else if (is.rejected > 0) {
      status = TIDE_EXIT_FAIL;
    }
  }
  free(files);
  return status;
}

/* Per-feed content of a bundle for inspect. */
typedef struct feed_row {
  uint8_t pk[TIDE_PK_BYTES];
  uint64_t count;
  int64_t first, last;
} feed_row;

typedef struct inspect_acc {
  feed_row *rows;
  size_t n, cap;
  uint64_t messages;
  uint64_t clock_entries;
} inspect_acc;

static int acc_add(inspect_acc *a, const uint8_t pk[TIDE_PK_BYTES], int64_t seq)
{
  /* bundles carry feeds one after the other: check the last row first */
  for (size_t i = a->n; i-- > 0;) {
    if (memcmp(a->rows[i].pk, pk, TIDE_PK_BYTES) == 0) {
      a->rows[i].count++;
      if (seq < a->rows[i].first)
        a->rows[i].first = seq;
      if (seq > a->rows[i].last)
        a->rows[i].last = seq;
      return 0;
    }
    if (a->n - i > 64)
      break;
  }
  if (a->n == a->cap) {
    size_t nc = a->cap ? a->cap * 2 : 16;
    feed_row *nr = realloc(a->rows, nc * sizeof *nr);
    if (nr == NULL)
      return TIDE_E_NOMEM;
    a->rows = nr;
    a->cap = nc;
  }
  memcpy(a->rows[a->n].pk, pk, TIDE_PK_BYTES);
  a->rows[a->n].count = 1;
  a->rows[a->n].first = a->rows[a->n].last = seq;
  a->n++;
  return 0;
}

/* Reads path through a reader; fills acc (when decoding), the reader's
 * verdict and the file size. */
static int inspect_read(const char *path, const tide_keypair *me, int verify_only, inspect_acc *acc,
                        tide_bundle_info *info, int *have_info, size_t *chunks, int *fin,
                        uint64_t *size, uint64_t *plain, tide_error *err)
{
  tide_bundle_reader *r = NULL;
  tide_frame f;
  uint8_t buf[1 << 16];
  int fd = open(path, O_RDONLY | O_CLOEXEC), rc = 0;

  *size = 0;
  if (fd < 0)
    return tide_error_set(err, TIDE_E_IO, 0, "%s: %s", path, strerror(errno));
  tide_frame_init(&f);
  if ((rc = tide_bundle_reader_new(&r, me, verify_only)) != 0) {
    close(fd);
    return rc;
  }
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    int k;
    if (n < 0) {
      rc = tide_error_set(err, TIDE_E_IO, 0, "%s: %s", path, strerror(errno));
      break;
    }
    *size += (uint64_t)n;
    rc = n == 0 ? tide_bundle_reader_end(r, err) : tide_bundle_reader_push(r, buf, (size_t)n, err);
    while ((k = tide_bundle_reader_next(r, &f, NULL)) == 0) {
      if (f.type == TIDE_FRAME_CLOCK && f.clock_kind == TIDE_FRAME_CLOCK_SENDER)
        acc->clock_entries += f.n_entries;
      for (size_t i = 0; i < f.n_msgs; i++) {
        uint8_t pk[TIDE_PK_BYTES];
        acc->messages++;
        if (tide_msg_author(f.msgs[i], pk) && acc_add(acc, pk, tide_msg_sequence(f.msgs[i])) != 0)
          k = TIDE_E_NOMEM;
      }
    }
    if (rc == 0 && k != TIDE_E_AGAIN && k != TIDE_E_CLOSED)
      rc = tide_bundle_reader_next(r, &f, err);
    if (rc != 0 || n == 0)
      break;
  }
  *have_info = tide_bundle_reader_info(r) != NULL;
  if (*have_info)
    *info = *tide_bundle_reader_info(r);
  *chunks = tide_bundle_reader_chunks(r, fin);
  *plain = tide_bundle_reader_bytes_plain(r);
  tide_frame_clear(&f);
  tide_bundle_reader_free(r);
  close(fd);
  return rc;
}

static int cmd_inspect(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_JSON = 1 };
  static const tide_cli_opt opts[] = {{"json", 0, 0, OPT_JSON}, {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  const char *path = NULL;
  inspect_acc acc;
  tide_bundle_info info;
  tide_error err, verr;
  uint64_t size = 0, plain = 0;
  size_t chunks = 0;
  int fin = 0, have_info = 0, json = 0, o, rc, sig_rc, opened;
  char *secret = NULL;
  const char *sig_text, *seal_text;
  char sender[TIDE_FEED_ID_LEN + 1], recip[TIDE_FEED_ID_LEN + 1], when[TIDE_CLI_TIME_BYTES];

  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case OPT_JSON: json = 1; break;
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, bundle_usage);
    case TIDE_CLI_OPT_ARG:
      if (path != NULL)
        return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
      path = st.value;
      break;
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (path == NULL)
    return tide_cli_usage(cli, "inspect needs a FILE");
  /* our identity, when there is one, opens bundles sealed to us */
  if (tide_cli_home_path(cli, &secret, TIDE_CLI_SECRET_FILE) == 0 && access(secret, R_OK) == 0) {
    if ((rc = tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY)) != 0) {
      free(secret);
      return rc;
    }
  }
  free(secret);
  memset(&acc, 0, sizeof acc);
  tide_error_clear(&err);
  rc = inspect_read(path, cli->have_identity ? &cli->keys : NULL, 0, &acc, &info, &have_info,
                    &chunks, &fin, &size, &plain, &err);
  if (rc == TIDE_E_IO) {
    free(acc.rows);
    return tide_cli_error(cli, "%s", err.msg);
  }
  opened = rc != TIDE_E_BUNDLE_SEALED;
  /* signatures are checked on the stored bytes, also when we cannot open */
  sig_rc = rc;
  tide_error_clear(&verr);
  if (rc == TIDE_E_BUNDLE_SEALED || rc == TIDE_E_BUNDLE_DICT) {
    inspect_acc none;
    uint64_t p2;
    memset(&none, 0, sizeof none);
    sig_rc =
        inspect_read(path, NULL, 1, &none, &info, &have_info, &chunks, &fin, &size, &p2, &verr);
    free(none.rows);
  } else {
    verr = err;
  }
  sig_text = sig_rc == 0                         ? "valid (all chunks, final chunk present)"
             : sig_rc == TIDE_E_BUNDLE_AUTH      ? "INVALID"
             : sig_rc == TIDE_E_BUNDLE_TRUNCATED ? "TRUNCATED"
                                                 : "DAMAGED";
  if (have_info) {
    tide_feed_id_format(sender, info.sender);
    if (info.has_recipient)
      tide_feed_id_format(recip, info.recipient);
    tide_cli_format_time(when, (double)info.created_ms);
  }
  seal_text = !have_info || !info.sealed ? "not sealed"
              : opened                   ? "sealed to us, opened"
                                         : "sealed to the recipient; "
                                           "cannot open";
  if (json) {
    tide_buf b = TIDE_BUF_INIT;
    int wr = tide_buf_printf(&b, "{\"file\":");
    wr |= tide_json_write_string(&b, path, strlen(path));
    if (have_info) {
      wr |= tide_buf_printf(&b, ",\"version\":%u,\"sender\":\"%s\",\"recipient\":", info.version,
                            sender);
      wr |= info.has_recipient ? tide_buf_printf(&b, "\"%s\"", recip) : tide_buf_puts(&b, "null");
      wr |= tide_buf_printf(&b, ",\"created_ms\":%" PRIu64 ",\"created\":\"%s\",\"dict_id\":%u",
                            info.created_ms, when, (unsigned)info.dict_id);
      wr |= tide_buf_printf(&b, ",\"sealed\":%s,\"opened\":%s", info.sealed ? "true" : "false",
                            info.sealed && !opened ? "false" : "true");
    }
    wr |= tide_buf_printf(&b,
                          ",\"bytes\":%" PRIu64 ",\"frame_bytes\":%" PRIu64 ",\"chunks\":%zu"
                          ",\"complete\":%s,\"signature\":\"%s\",\"error\":",
                          size, plain, chunks, fin && sig_rc == 0 ? "true" : "false",
                          sig_rc == 0                         ? "valid"
                          : sig_rc == TIDE_E_BUNDLE_AUTH      ? "invalid"
                          : sig_rc == TIDE_E_BUNDLE_TRUNCATED ? "truncated"
                                                              : "damaged");
    if (rc != 0) {
      const char *t = tide_error_text(&err, rc);
      wr |= tide_json_write_string(&b, t, strlen(t));
    } else {
      wr |= tide_buf_puts(&b, "null");
    }
    wr |= tide_buf_printf(&b, ",\"clock_feeds\":%" PRIu64 ",\"messages\":%" PRIu64 ",\"feeds\":[",
                          acc.clock_entries, acc.messages);
    for (size_t i = 0; i < acc.n; i++) {
      char id[TIDE_FEED_ID_LEN + 1];
      tide_feed_id_format(id, acc.rows[i].pk);
      wr |= tide_buf_printf(
          &b,
          "%s{\"feed\":\"%s\",\"messages\":%" PRIu64 ",\"first\":%" PRId64 ",\"last\":%" PRId64 "}",
          i ? "," : "", id, acc.rows[i].count, acc.rows[i].first, acc.rows[i].last);
    }
    wr |= tide_buf_puts(&b, "]}\n");
    if (wr == 0)
      fwrite(b.data, 1, b.len, stdout);
    tide_buf_free(&b);
    if (wr != 0) {
      free(acc.rows);
      return tide_cli_error(cli, "out of memory");
    }
  } else {
    printf("file:       %s\n", path);
    if (have_info) {
      printf("sender:     %s\n", sender);
      printf("recipient:  %s\n", info.has_recipient ? recip : "anyone");
      printf("created:    %s (%" PRIu64 ")\n", when, info.created_ms);
      printf("dictionary: %u\n", (unsigned)info.dict_id);
    }
    printf("seal:       %s\n", seal_text);
    printf("signature:  %s, %zu chunks\n", sig_text, chunks);
    if (sig_rc != 0)
      printf("error:      %s\n", tide_error_text(&verr, sig_rc));
    else if (rc != 0 && rc != TIDE_E_BUNDLE_SEALED)
      printf("error:      %s\n", tide_error_text(&err, rc));
    printf("size:       %" PRIu64 " bytes", size);
    if (opened)
      printf(", %" PRIu64 " bytes of frames", plain);
    printf("\n");
    if (opened) {
      printf("clock:      %" PRIu64 " feeds\n", acc.clock_entries);
      printf("messages:   %" PRIu64 " in %zu feeds\n", acc.messages, acc.n);
      for (size_t i = 0; i < acc.n; i++) {
        char id[TIDE_FEED_ID_LEN + 1];
        tide_feed_id_format(id, acc.rows[i].pk);
        printf("  %s  %" PRIu64 " (%" PRId64 "..%" PRId64 ")\n", id, acc.rows[i].count,
               acc.rows[i].first, acc.rows[i].last);
      }
    }
  }
  free(acc.rows);
  return (rc == 0 || rc == TIDE_E_BUNDLE_SEALED) && sig_rc == 0 ? TIDE_EXIT_OK : TIDE_EXIT_FAIL;
}

int tide_cmd_bundle(tide_cli *cli, int argc, char **argv)
{
  if (argc < 2)
    return tide_cli_usage(cli, "bundle needs a subcommand: export, import or inspect");
  if (strcmp(argv[1], "export") == 0)
    return cmd_export(cli, argc - 1, argv + 1);
  if (strcmp(argv[1], "import") == 0)
    return cmd_import(cli, argc - 1, argv + 1);
  if (strcmp(argv[1], "inspect") == 0)
    return cmd_inspect(cli, argc - 1, argv + 1);
  if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "help") == 0)
    return tide_cli_help(cli, bundle_usage);
  return tide_cli_usage(cli, "unknown bundle subcommand '%s'", argv[1]);
}
