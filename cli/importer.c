/* importer.c - JSONL lines into the ingest pipeline, with per-line
 * verdicts (the engine of `tide import`, see cli.h).
 *
 * Each non-blank line is a message value, or a {"key","value"} wrapper
 * (also ssb-db's {"key","value","timestamp"}), as `tide export` writes.
 * A line whose first member is "previous" (every valid message value) goes
 * to the pipeline's workers unparsed; any other line is parsed here: a
 * wrapper is unwrapped, its key checked against the computed id, and the
 * parsed message queued; anything else is queued as text so the pipeline
 * reports the parser's or validator's reason with its usual wording. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "tide/ingest.h"
#include "tide/json.h"
#include "tide/msg.h"
#include "tide/store.h"

/* Longest line handed to the pipeline. */
#define LINE_MAX_BYTES ((size_t)1 << 20)

static void add_reject(tide_cli_importer *c, uint64_t line, const char *prefix, const char *reason)
{
  size_t n;
  tide_cli_reject *grown;
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
  tide_cli_importer *c = ctx;

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
  const tide_cli_reject *x = a, *y = b;

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
/* A wrapper is one level deeper than its message, and tide_msg_parse()
 * accepts messages deeper than the JSON default (so that it can report the
 * size the way ssb-validate does): a wrapper must never fail on depth where
 * the bare message would parse. */
static const tide_json_limits wrapper_limits = {.max_depth = 4096, .max_bytes = 0};

/* 0 when id is all zeros: tide_msg_parse() did not hash the text. */
static int id_known(const uint8_t id[TIDE_HASH_BYTES])
{
  size_t i;

  for (i = 0; i < TIDE_HASH_BYTES; i++)
    if (id[i] != 0)
      return 1;
  return 0;
}

static int push_slow(tide_cli_importer *c, uint64_t line, const char *s, size_t len,
                     tide_error *err)
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
  if (tide_json_parse(&doc, s, len, &wrapper_limits, &perr) != 0)
    return tide_ingest_push(c->ing, line, s, len, err);
  root = tide_json_root(doc);
  if (!is_wrapper(root)) {
    tide_json_doc_free(doc);
    return tide_ingest_push(c->ing, line, s, len, err);
  }
  value = tide_json_object_getz(root, "value");
  keyv = tide_json_object_getz(root, "key");
  tide_buf_reset(&c->scratch);
  rc = tide_json_write(&c->scratch, value, TIDE_JSON_COMPACT);
  if (rc != 0) {
    tide_json_doc_free(doc);
    return tide_error_set(err, rc, 0, "out of memory");
  }
  tide_error_clear(&perr);
  rc = tide_msg_parse(&inner, c->scratch.data, c->scratch.len, &perr);
  if (rc != 0) {
    /* No id, so no key to check: the value is judged like a bare line,
     * with the same wording. */
    tide_json_doc_free(doc);
    return tide_ingest_push(c->ing, line, c->scratch.data, c->scratch.len, err);
  }
  if (keyv != NULL) {
    key = tide_json_string(keyv, &keylen);
    tide_msg_id_format(computed, tide_msg_id(inner));
    if (key == NULL) {
      add_reject(c, line, "", "\"key\" is not a string");
      goto out_ok;
    }
    /* A message far too large to be valid has no id (all zeros, see
     * tide_msg_parse()): it is rejected for its size below, as the bare
     * message would be, so there is nothing to compare the key with. */
    if (id_known(tide_msg_id(inner)) &&
        (keylen != TIDE_MSG_ID_LEN || memcmp(key, computed, TIDE_MSG_ID_LEN) != 0)) {
      char msg[TIDE_MSG_ID_LEN * 2 + 96];
      (void)snprintf(msg, sizeof msg, "key %.*s does not match the message's id %s",
                     (int)(keylen > 60 ? 60 : keylen), key, computed);
      add_reject(c, line, "", msg);
      goto out_ok;
    }
  }
  tide_json_doc_free(doc);
  return tide_ingest_push_msg(c->ing, line, inner, TIDE_MSG_SIG_UNCHECKED, err);
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

int tide_cli_importer_init(tide_cli_importer *im, tide_store *store, size_t threads, int64_t now_ms)
{
  tide_ingest_options io;

  memset(im, 0, sizeof *im);
  tide_buf_init(&im->scratch);
  memset(&io, 0, sizeof io);
  io.threads = threads;
  io.received_ms = now_ms;
  return tide_ingest_new(&im->ing, store, &io, on_verdict, im);
}

void tide_cli_importer_set_time(tide_cli_importer *im, int64_t now_ms)
{
  tide_ingest_set_time(im->ing, now_ms);
}

int tide_cli_importer_line(tide_cli_importer *im, uint64_t lineno, const char *line, size_t len,
                           tide_error *err)
{
  if (blank(line, len))
    return 0;
  if (len > LINE_MAX_BYTES) {
    /* No message comes near this (8192 UTF-16 units); do not make the
     * pipeline copy and parse it. */
    char why[96];
    (void)snprintf(why, sizeof why, "line too long (%zu bytes) to be a message", len);
    add_reject(im, lineno, "", why);
    return 0;
  }
  if (starts_like_message(line, len))
    return tide_ingest_push(im->ing, lineno, line, len, err);
  return push_slow(im, lineno, line, len, err);
}

int tide_cli_importer_finish(tide_cli_importer *im, tide_error *err)
{
  int rc = tide_ingest_finish(im->ing, err);

  if (im->nrej > 1)
    qsort(im->rej, im->nrej, sizeof *im->rej, cmp_reject);
  return rc;
}

void tide_cli_importer_free(tide_cli_importer *im)
{
  size_t i;

  tide_ingest_free(im->ing);
  im->ing = NULL;
  tide_buf_free(&im->scratch);
  for (i = 0; i < im->nrej; i++)
    free(im->rej[i].reason);
  free(im->rej);
  im->rej = NULL;
  im->nrej = im->caprej = 0;
}
