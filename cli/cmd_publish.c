/* cmd_publish.c - `tide publish`, and the contact messages of `tide
 * follow/unfollow/block/unblock`. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "tide/json.h"
#include "tide/msg.h"
#include "tide/store.h"

static const char publish_usage[] =
    "usage: tide publish [--json TEXT | --file FILE]\n"
    "\n"
    "Signs a new message with CONTENT (a JSON object with a string \"type\" of\n"
    "3..52 characters, or an encrypted \"....box\" string) and appends it to\n"
    "your own feed, then prints the new message id (%...sha256).  The content\n"
    "is read from --json TEXT, from --file FILE ('-' is standard input), or\n"
    "from standard input when neither is given.  The timestamp is the current\n"
    "time in ms (one more than the previous message's when the clock is\n"
    "behind it).\n"
    "\n"
    "  -j, --json TEXT   the content as JSON text\n"
    "  -f, --file FILE   read the content from FILE\n";

/* The help of follow/unfollow/block/unblock: %s are the command name, the
 * field and its value. */
static const char contact_usage[] = "usage: tide %s @FEED\n"
                                    "\n"
                                    "Publishes a contact message on your feed,\n"
                                    "  {\"type\":\"contact\",\"contact\":\"@FEED\",\"%s\":%s}\n"
                                    "and prints its id (%%...sha256).\n";

/* Largest content text accepted: a message is at most 8192 UTF-16 units,
 * so anything much larger is certainly rejected; this just bounds memory. */
#define CONTENT_MAX (1u << 20)

int tide_cli_publish(tide_cli *cli, const tide_json *content, char id[TIDE_MSG_ID_LEN + 1])
{
  tide_feed_state prev;
  tide_store_record rec;
  tide_buf text = TIDE_BUF_INIT;
  tide_msg *m = NULL;
  tide_error err;
  double ts;
  int forked = 0, have_prev, src, rc = TIDE_EXIT_FAIL;

  tide_error_clear(&err);
  if (tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY | TIDE_CLI_NEED_STORE) != 0)
    return TIDE_EXIT_FAIL;
  /* One write transaction: reading the latest message and appending the
   * next happen atomically even with other tide processes on this home. */
  src = tide_store_begin(cli->store, &err);
  if (src != 0)
    return tide_cli_error(cli, "store: %s", tide_error_text(&err, src));
  src = tide_store_latest(cli->store, &prev, &forked, cli->keys.pk, &err);
  if (src != 0 && src != TIDE_E_NOTFOUND) {
    (void)tide_cli_error(cli, "store: %s", tide_error_text(&err, src));
    goto out;
  }
  have_prev = src == 0;
  if (forked) {
    (void)tide_cli_error(cli, "your feed %s is marked forked in this store: not publishing",
                         cli->feed_id);
    goto out;
  }
  ts = (double)tide_cli_now_ms();
  if (have_prev) {
    src = tide_store_get(cli->store, &text, &rec, cli->keys.pk, prev.sequence, &err);
    if (src != 0) {
      (void)tide_cli_error(cli, "store: %s", tide_error_text(&err, src));
      goto out;
    }
    if (rec.timestamp == rec.timestamp && ts <= rec.timestamp)
      ts = rec.timestamp + 1;
  }
  tide_error_clear(&err);
  src = tide_msg_create(&m, &cli->keys, have_prev ? &prev : NULL, ts, content, NULL, &err);
  if (src != 0) {
    (void)tide_cli_error(cli, "invalid message: %s", tide_error_text(&err, src));
    goto out;
  }
  tide_error_clear(&err);
  src = tide_store_append(cli->store, m, tide_cli_now_ms(), &err);
  if (src != 0) {
    (void)tide_cli_error(cli, "cannot append: %s", tide_error_text(&err, src));
    goto out;
  }
  src = tide_store_commit(cli->store, &err);
  if (src != 0) {
    (void)tide_cli_error(cli, "cannot commit: %s", tide_error_text(&err, src));
    goto out;
  }
  tide_msg_id_format(id, tide_msg_id(m));
  rc = TIDE_EXIT_OK;
out:
  if (tide_store_in_transaction(cli->store))
    tide_store_rollback(cli->store);
  tide_msg_free(m);
  tide_buf_free(&text);
  return rc;
}

int tide_cmd_publish(tide_cli *cli, int argc, char **argv)
{
  enum { OPT_JSON = 1, OPT_FILE };
  static const tide_cli_opt opts[] = {
      {"json", 'j', 1, OPT_JSON}, {"file", 'f', 1, OPT_FILE}, {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  const char *json = NULL, *file = NULL;
  tide_buf text = TIDE_BUF_INIT;
  tide_json_doc *doc = NULL;
  tide_error err;
  char id[TIDE_MSG_ID_LEN + 1];
  int o, rc = TIDE_EXIT_FAIL, jrc;

  tide_error_clear(&err);
  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case OPT_JSON: json = st.value; break;
    case OPT_FILE: file = st.value; break;
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, publish_usage);
    case TIDE_CLI_OPT_ARG: return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (json != NULL && file != NULL)
    return tide_cli_usage(cli, "give either --json or --file, not both");
  /* Check the identity before reading stdin, so a missing one fails fast. */
  if (tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY | TIDE_CLI_NEED_STORE) != 0)
    return TIDE_EXIT_FAIL;
  if (json != NULL) {
    if (tide_buf_puts(&text, json) != 0) {
      (void)tide_cli_error(cli, "out of memory");
      goto out;
    }
  } else if (tide_cli_read_file(cli, &text, file != NULL ? file : "-", CONTENT_MAX) != 0) {
    goto out;
  }
  jrc = tide_json_parse(&doc, text.data != NULL ? text.data : "", text.len, NULL, &err);
  if (jrc != 0) {
    (void)tide_cli_error(cli, "content is not JSON: %s (at byte %zu)", tide_error_text(&err, jrc),
                         err.offset);
    goto out;
  }
  if (tide_cli_publish(cli, tide_json_root(doc), id) != 0)
    goto out;
  printf("%s\n", id);
  rc = TIDE_EXIT_OK;
out:
  tide_json_doc_free(doc);
  tide_buf_free(&text);
  return rc;
}

/* Shared by follow/unfollow (field "following") and block/unblock
 * ("blocking"): argv[0] says which and the value (un... = false). */
static int contact_command(tide_cli *cli, int argc, char **argv, const char *field)
{
  tide_cli_getopt st;
  const char *target = NULL;
  uint8_t pk[TIDE_PK_BYTES];
  tide_json_doc *doc = NULL;
  tide_json *obj, *v;
  char id[TIDE_MSG_ID_LEN + 1];
  int o, rc = TIDE_EXIT_FAIL, value = strncmp(argv[0], "un", 2) != 0;

  tide_cli_getopt_init(&st, argc, argv);
  while ((o = tide_cli_getopt_next(cli, &st, NULL)) != TIDE_CLI_OPT_END) {
    switch (o) {
    case TIDE_CLI_OPT_HELP:
      printf(contact_usage, argv[0], field, value ? "true" : "false");
      return TIDE_EXIT_OK;
    case TIDE_CLI_OPT_ARG:
      if (target != NULL)
        return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
      target = st.value;
      break;
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (target == NULL)
    return tide_cli_usage(cli, "missing the feed id (@...ed25519)");
  if (tide_cli_parse_feed(cli, pk, target) != 0)
    return TIDE_EXIT_USAGE;

  doc = tide_json_doc_new();
  if (doc == NULL || (obj = tide_json_new_object(doc)) == NULL) {
    (void)tide_cli_error(cli, "out of memory");
    goto out;
  }
  if ((v = tide_json_new_string(doc, "contact", 7)) == NULL ||
      tide_json_object_set(doc, obj, "type", 4, v) != 0 ||
      (v = tide_json_new_string(doc, target, strlen(target))) == NULL ||
      tide_json_object_set(doc, obj, "contact", 7, v) != 0 ||
      (v = tide_json_new_bool(doc, value)) == NULL ||
      tide_json_object_set(doc, obj, field, strlen(field), v) != 0) {
    (void)tide_cli_error(cli, "out of memory");
    goto out;
  }
  if (tide_cli_publish(cli, obj, id) != 0)
    goto out;
  printf("%s\n", id);
  rc = TIDE_EXIT_OK;
out:
  tide_json_doc_free(doc);
  return rc;
}

int tide_cmd_follow(tide_cli *cli, int argc, char **argv)
{
  return contact_command(cli, argc, argv, "following");
}

int tide_cmd_block(tide_cli *cli, int argc, char **argv)
{
  return contact_command(cli, argc, argv, "blocking");
}
