/* cli.h - shared plumbing of the `tide` command-line program.
 *
 * The CLI is where tide does its I/O: it reads and writes files, reads the
 * clock, talks to the terminal, and drives the sans-I/O core.  Each command
 * lives in cli/cmd_<name>.c and has the signature
 *
 *     int tide_cmd_<name>(tide_cli *cli, int argc, char **argv);
 *
 * argv[0] is the command name, argv[1..argc) its arguments (the global
 * options before the command are already consumed).  The return value is
 * the process exit status: TIDE_EXIT_OK (0), TIDE_EXIT_FAIL (1, runtime
 * error, message already printed) or TIDE_EXIT_USAGE (2, bad command line).
 *
 * Adding a command: write cli/cmd_<name>.c, put its prototype in the list
 * below and one line in the table `commands[]` of cli/main.c.
 *
 * Home directory layout (see docs/cli.md):
 *     <home>/                 mode 0700, made by `tide init`
 *     <home>/secret           identity, SSB secret-file JSON, mode 0600
 *     <home>/store.sqlite     the store (SQLite, WAL: also -wal and -shm)
 * The home is --home DIR, else $TIDE_HOME, else $HOME/.tide.
 *
 * Error output: every message to the user goes to stderr as
 * "tide <cmd>: <message>\n" through tide_cli_error() / tide_cli_usage().
 * Nothing here ever prints the secret key.
 *
 * Not thread-safe: one tide_cli per process, used by the main thread. */
#ifndef TIDE_CLI_H
#define TIDE_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "tide/buf.h"
#include "tide/common.h"
#include "tide/ingest.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/store.h"

/* Process exit statuses. */
#define TIDE_EXIT_OK    0
#define TIDE_EXIT_FAIL  1
#define TIDE_EXIT_USAGE 2

/* File names inside the home directory. */
#define TIDE_CLI_SECRET_FILE "secret"
#define TIDE_CLI_STORE_FILE  "store.sqlite"

/* The command context: made by main(), passed to every command. */
typedef struct tide_cli {
  const char *prog;                   /* program name for messages, "tide" */
  const char *cmd;                    /* name of the running command, for messages */
  char *home;                         /* resolved home directory (heap, owned) */
  int verbosity;                      /* 0 normal, >0 with -v, <0 with -q */
  int stderr_tty;                     /* stderr is a terminal (progress shown) */
  int have_identity;                  /* keys and feed_id are loaded */
  tide_keypair keys;                  /* this node's key pair (wiped by _close) */
  char feed_id[TIDE_FEED_ID_LEN + 1]; /* "@...ed25519" of keys */
  tide_store *store;                  /* open store, or NULL */
} tide_cli;

/* A command of the dispatch table. */
typedef int (*tide_cli_fn)(tide_cli *cli, int argc, char **argv);
typedef struct tide_cli_command {
  const char *name;
  tide_cli_fn fn;
  const char *summary; /* one line for `tide --help` */
} tide_cli_command;

/* --- Commands ------------------------------------------------------------ */

int tide_cmd_init(tide_cli *cli, int argc, char **argv);
int tide_cmd_whoami(tide_cli *cli, int argc, char **argv);
int tide_cmd_publish(tide_cli *cli, int argc, char **argv);
int tide_cmd_follow(tide_cli *cli, int argc, char **argv); /* also unfollow */
int tide_cmd_block(tide_cli *cli, int argc, char **argv);  /* also unblock */
int tide_cmd_import(tide_cli *cli, int argc, char **argv);
int tide_cmd_export(tide_cli *cli, int argc, char **argv);
int tide_cmd_feed(tide_cli *cli, int argc, char **argv);
int tide_cmd_feeds(tide_cli *cli, int argc, char **argv);
int tide_cmd_status(tide_cli *cli, int argc, char **argv);
/* Written by other helpers (cli/cmd_bundle.c, cmd_usb.c, cmd_serial.c). */
int tide_cmd_bundle(tide_cli *cli, int argc, char **argv);
int tide_cmd_usb(tide_cli *cli, int argc, char **argv);
int tide_cmd_serial(tide_cli *cli, int argc, char **argv);

/* --- Messages to the user ------------------------------------------------ */

/* Prints "tide <cmd>: <message>\n" to stderr and returns TIDE_EXIT_FAIL. */
int tide_cli_error(const tide_cli *cli, const char *fmt, ...) TIDE_PRINTF(2, 3);

/* Prints "tide <cmd>: <message>\n" and a hint to run --help to stderr and
 * returns TIDE_EXIT_USAGE. */
int tide_cli_usage(const tide_cli *cli, const char *fmt, ...) TIDE_PRINTF(2, 3);

/* Prints "tide <cmd>: <message>\n" to stderr when cli->verbosity > 0. */
void tide_cli_verbose(const tide_cli *cli, const char *fmt, ...) TIDE_PRINTF(2, 3);

/* Prints "tide <cmd>: <message>\n" to stderr unless cli->verbosity < 0
 * (-q): things the user should know although nothing failed. */
void tide_cli_note(const tide_cli *cli, const char *fmt, ...) TIDE_PRINTF(2, 3);

/* Prints the help text of a command to stdout (the text is the command's
 * usage block; a trailing newline is added when missing) and returns
 * TIDE_EXIT_OK. */
int tide_cli_help(const tide_cli *cli, const char *text);

/* --- Option parsing ------------------------------------------------------ *
 *
 * Options and operands may be mixed; "--" ends the options.  Long options
 * are "--name", "--name=VALUE" or "--name VALUE"; short ones "-x" or
 * "-x VALUE".  Every command accepts -h/--help (returned as
 * TIDE_CLI_OPT_HELP) and --home DIR (handled here: it sets cli->home).
 *
 *     static const tide_cli_opt opts[] = {
 *       {"json", 'j', 0, OPT_JSON}, {"file", 'f', 1, OPT_FILE}, {NULL, 0, 0, 0}};
 *     tide_cli_getopt st;
 *     tide_cli_getopt_init(&st, argc, argv);
 *     while ((id = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
 *       switch (id) { case TIDE_CLI_OPT_ARG: ...st.value is an operand...
 *                     case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, usage);
 *                     case TIDE_CLI_OPT_ERROR: return TIDE_EXIT_USAGE; ... }
 *     } */

typedef struct tide_cli_opt {
  const char *name; /* long name without "--"; NULL ends the table */
  char short_name;  /* 0 when none */
  int has_arg;      /* 1 when the option takes a value */
  int id;           /* positive value returned for it */
} tide_cli_opt;

#define TIDE_CLI_OPT_END   0    /* no more arguments */
#define TIDE_CLI_OPT_ARG   (-1) /* an operand; st->value points at it */
#define TIDE_CLI_OPT_HELP  (-2) /* -h or --help */
#define TIDE_CLI_OPT_ERROR (-3) /* unknown option or missing value: printed */

typedef struct tide_cli_getopt {
  int argc;
  char **argv;
  int index;         /* next argv element to look at */
  int only_operands; /* after "--" */
  const char *value; /* the option's value or the operand */
} tide_cli_getopt;

/* Starts parsing argv[1..argc) (argv[0] is the command name). */
void tide_cli_getopt_init(tide_cli_getopt *st, int argc, char **argv);

/* Returns the next option's id, TIDE_CLI_OPT_ARG for an operand,
 * TIDE_CLI_OPT_HELP, TIDE_CLI_OPT_END, or TIDE_CLI_OPT_ERROR after
 * printing a usage error (the caller returns TIDE_EXIT_USAGE). */
int tide_cli_getopt_next(tide_cli *cli, tide_cli_getopt *st, const tide_cli_opt *opts);

/* --- The home directory -------------------------------------------------- */

/* Sets cli->home to dir (copied).  Returns 0 or TIDE_E_NOMEM. */
TIDE_WUR int tide_cli_set_home(tide_cli *cli, const char *dir);

/* Appends "<home>/<name>" to a fresh heap string in *out (caller frees).
 * TIDE_E_NOMEM. */
TIDE_WUR int tide_cli_home_path(const tide_cli *cli, char **out, const char *name);

/* What tide_cli_open() should open. */
#define TIDE_CLI_NEED_IDENTITY 1u /* load <home>/secret */
#define TIDE_CLI_NEED_STORE    2u /* open <home>/store.sqlite */
#define TIDE_CLI_STORE_READ                                                                        \
  4u /* the command only reads: a store we cannot                                                  \
        write (read-only file or folder) is                                                        \
        opened read-only instead of failing */
#define TIDE_CLI_STORE_CREATE                                                                      \
  8u /* create the store when it is missing or                                                     \
        empty (`tide init` only: other commands                                                    \
        refuse, so that a lost store is never                                                      \
        silently replaced by an empty one) */

/* Loads the identity and/or opens the store of cli->home.  On failure
 * prints the reason ("no identity in HOME (run 'tide init')", store errors)
 * and returns TIDE_EXIT_FAIL; returns 0 on success.  Everything opened is
 * released by tide_cli_close(). */
int tide_cli_open(tide_cli *cli, unsigned need);

/* Closes the store, wipes the keys, frees the home string.  Idempotent. */
void tide_cli_close(tide_cli *cli);

/* --- Files and time ------------------------------------------------------ */

/* Reads a whole file ("-" is stdin) into out (appended).  At most max
 * bytes (0: no limit).  On failure prints "tide <cmd>: PATH: reason" and
 * returns TIDE_EXIT_FAIL; 0 on success. */
int tide_cli_read_file(const tide_cli *cli, tide_buf *out, const char *path, size_t max);

/* Writes data to path atomically: a temporary file in the same directory
 * with the given mode, fsync, then rename (or link when exclusive, so an
 * existing file is never replaced; on a file system without hard links,
 * check-then-rename), then fsync of the directory.  When exclusive and
 * path exists: TIDE_E_EXISTS.  TIDE_E_IO with errno kept. */
TIDE_WUR int tide_cli_write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                        int exclusive);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME). */
int64_t tide_cli_now_ms(void);

/* Size of tide_cli_format_time()'s output buffer. */
#define TIDE_CLI_TIME_BYTES 40

/* Formats ms since the epoch as ISO-8601 UTC "YYYY-MM-DDTHH:MM:SS.mmmZ"
 * into out (NUL-terminated); a timestamp out of Date's range (or NaN) is
 * printed as a plain number. */
void tide_cli_format_time(char out[TIDE_CLI_TIME_BYTES], double ms);

/* Parses "@...ed25519"; on failure prints "tide <cmd>: not a feed id:
 * TEXT (reason)" and returns TIDE_EXIT_USAGE; 0 on success. */
int tide_cli_parse_feed(const tide_cli *cli, uint8_t pk[TIDE_PK_BYTES], const char *text);

/* --- Shared pieces of commands ------------------------------------------ */

/* Signs `content` as the next message of this node's feed (timestamp: now,
 * or the previous message's + 1 when the clock is behind) and appends it
 * in one store transaction.  Opens the identity and store as needed.
 * On success writes the new message id into id and returns 0; otherwise
 * prints the reason and returns TIDE_EXIT_FAIL. */
int tide_cli_publish(tide_cli *cli, const tide_json *content, char id[TIDE_MSG_ID_LEN + 1]);

/* Appends one export line for a stored message to out:
 * {"key":"%...sha256","value":<JSON.stringify(value)>} and a newline.
 * text is the stored canonical JSON.  Re-parsing the value and
 * serialising it with indent 2 gives text back byte for byte, so import
 * reproduces the same id.  TIDE_E_NOMEM, TIDE_E_JSON_* (text not JSON). */
TIDE_WUR int tide_cli_export_line(tide_buf *out, const uint8_t id[TIDE_HASH_BYTES],
                                  const char *text, size_t len);

/* --- Importing JSONL (cli/importer.c) --------------------------------------
 *
 * The engine of `tide import`: feed it lines (without their newline) in
 * file order with their line numbers; it skips blank lines, unwraps
 * {"key","value"[,"timestamp"]} lines (rejecting a key that differs from
 * the computed id), rejects lines over 1 MiB, and passes the rest to an
 * ingest session (tide/ingest.h).  It counts the verdicts and keeps one
 * report per rejected line: its number and reason (ssb-validate's words;
 * control characters replaced by '?', so each fits on one line; a fork is
 * reported with a reason starting "fork").
 *
 *     tide_cli_importer im;
 *     tide_cli_importer_init(&im, store, 0, now_ms);
 *     for each line: tide_cli_importer_line(&im, n, text, len, &err);
 *     tide_cli_importer_finish(&im, &err);   rejects sorted by line
 *     ... im.accepted, im.already, im.rejected, im.rej[0..nrej) ...
 *     tide_cli_importer_free(&im);
 *
 * The store is borrowed for the importer's life.  Not thread-safe. */

typedef struct tide_cli_reject {
  uint64_t line;
  char *reason; /* heap, owned by the importer */
} tide_cli_reject;

typedef struct tide_cli_importer {
  tide_ingest *ing;
  tide_buf scratch;
  uint64_t accepted, already, rejected, forks; /* forks are also in rejected */
  tide_cli_reject *rej;
  size_t nrej, caprej;
  int oom; /* a report could not be recorded (the count is still right) */
} tide_cli_importer;

/* Starts an ingest session on store with `threads` verifying threads (0:
 * all CPUs, 1: none, inline) and received time now_ms.  Returns 0 or
 * tide_ingest_new()'s error; call tide_cli_importer_free() either way. */
TIDE_WUR int tide_cli_importer_init(tide_cli_importer *im, tide_store *store, size_t threads,
                                    int64_t now_ms);

/* Sets the received time stored with messages from now on. */
void tide_cli_importer_set_time(tide_cli_importer *im, int64_t now_ms);

/* Handles one line (len bytes, no trailing newline needed).  Bad input is
 * never an error: it is counted and reported.  Returns 0 or the ingest
 * session's sticky storage error (TIDE_E_STORE, TIDE_E_NOMEM) in err. */
TIDE_WUR int tide_cli_importer_line(tide_cli_importer *im, uint64_t lineno, const char *line,
                                    size_t len, tide_error *err);

/* Decides everything pushed, rejects lines still waiting for a gap, and
 * sorts the reports by line.  Returns 0 or a sticky storage error. */
TIDE_WUR int tide_cli_importer_finish(tide_cli_importer *im, tide_error *err);

/* Stops the session (undecided lines are not stored) and frees the
 * reports.  Safe after a failed init. */
void tide_cli_importer_free(tide_cli_importer *im);

/* --- Progress on stderr -------------------------------------------------- *
 * Shown only when stderr is a terminal and verbosity >= 0; redrawn at most
 * every 100 ms on one line, erased by _end(). */

typedef struct tide_cli_progress {
  int enabled;
  const char *label;
  uint64_t total; /* 0 when unknown */
  uint64_t done;
  int64_t last_ms;
  int drawn;
} tide_cli_progress;

void tide_cli_progress_start(const tide_cli *cli, tide_cli_progress *p, const char *label,
                             uint64_t total);
void tide_cli_progress_update(tide_cli_progress *p, uint64_t done);
void tide_cli_progress_end(tide_cli_progress *p);

#endif
