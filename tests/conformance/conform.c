/* conform.c - checks tide's message validation against the verdicts of the
 * JavaScript reference (ssb-validate 4.1.4 / ssb-keys 8.5.0).
 *
 *   conform dataset DATA.json        ssb-validation-dataset's data.json
 *   conform cases FILE.jsonl         cases {"kind","state","hmacKey",
 *                                    "message","valid","id"|"error","fatal"}
 *   conform feed FILE.jsonl          {"key","value"} lines, each feed in
 *                                    order: every message must be valid as
 *                                    the next of its feed, with id == key
 *   conform wire TEXT EXPECT.jsonl   raw message texts, one per line, and
 *                                    per line {"state","hmacKey","valid",
 *                                    "id"|"error"}
 *
 * For every case the verdict of tide_msg_validate() must equal the
 * reference's, and for valid messages tide's id must equal the reference's
 * id.  For `cases` and `wire` (made by ssb-validate itself, see
 * tests/js/gen-conformance.js) the rejection reason must equal
 * ssb-validate's error message, and the `fatal` flag its flag, too; for
 * `dataset` the error strings are the dataset's own prose, so only
 * verdicts and ids are compared there.
 *
 * Reasons longer than tide's error buffer (TIDE_ERROR_MSG_BYTES) are
 * compared on the prefix tide can hold.
 *
 * The exit status is 0 when every case agrees, 1 on any mismatch, 2 on a
 * usage or input error.  A summary line goes to stdout, details of the
 * first mismatches to stderr. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conform_util.h"
#include "tide/common.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"

#define MAX_REPORTS 25

/* The vector files nest a message one or two levels deeper than the
 * message itself, and some messages are nested far beyond what any valid
 * message can be: read the files with a generous limit, so that the limit
 * under test is the one tide_msg_parse applies. */
static const tide_json_limits file_limits = {100000, 0};

typedef struct stats {
  size_t cases, valid, invalid;
  size_t verdict_mismatch, id_mismatch, reason_mismatch, fatal_mismatch;
  size_t sigcheck_mismatch;
  size_t reports;
} stats;

/* What the reference said about one case. */
typedef struct expect {
  int valid;
  const char *id;    /* when valid */
  const char *error; /* when invalid and the reason is compared */
  size_t error_len;
  int fatal; /* -1 when not given */
} expect;

static void report(stats *st, const char *where, const char *what, const char *want,
                   const char *got)
{
  if (st->reports++ >= MAX_REPORTS)
    return;
  fprintf(stderr, "MISMATCH %s: %s\n  reference: %.600s\n  tide:      %.600s\n", where, what,
          want ? want : "(none)", got ? got : "(none)");
}

/* tide's reason equals the reference's: exactly, or, when the reference's
 * text does not fit tide's error buffer, as the longest prefix tide holds
 * (cut at most 3 bytes early to end on a UTF-8 character boundary). */
static int reason_equal(const char *want, size_t want_len, const char *got)
{
  size_t got_len = strlen(got);
  if (want_len == got_len && memcmp(want, got, got_len) == 0)
    return 1;
  if (want_len >= TIDE_ERROR_MSG_BYTES - 1 && got_len + 4 >= TIDE_ERROR_MSG_BYTES - 1 &&
      got_len <= want_len && memcmp(want, got, got_len) == 0)
    return 1;
  return 0;
}

/* Parses a case's "state" (null or {"id","sequence",...}).  Returns 1 with
 * *fs filled, 0 for null, -1 for something tide cannot represent. */
static int parse_state(const tide_json *sv, tide_feed_state *fs)
{
  if (sv == NULL || tide_json_typeof(sv) == TIDE_JSON_NULL)
    return 0;
  size_t idlen;
  const char *id = conform_get_string(sv, "id", &idlen);
  const tide_json *seq = tide_json_object_getz(sv, "sequence");
  if (id == NULL || seq == NULL || tide_json_typeof(seq) != TIDE_JSON_NUMBER)
    return -1;
  double d = tide_json_number(seq);
  if (!(d >= 0 && d <= 9007199254740992.0) || floor(d) != d)
    return -1;
  if (tide_msg_id_parse(fs->id, id, idlen) != 0)
    return -1;
  fs->sequence = (int64_t)d;
  return 1;
}

/* Decodes a case's "hmacKey" as ssb-validate does: null -> none (returns
 * 0), a canonical base64 string of 32 bytes -> key (returns 1), anything
 * else -> an invalid key (returns -1). */
static int parse_hmac(const tide_json *hv, uint8_t key[TIDE_HMAC_KEY_BYTES])
{
  if (hv == NULL || tide_json_typeof(hv) == TIDE_JSON_NULL)
    return 0;
  if (tide_json_typeof(hv) != TIDE_JSON_STRING)
    return -1;
  size_t len;
  const char *s = tide_json_string(hv, &len);
  if (tide_b64_decode_exact(key, TIDE_HMAC_KEY_BYTES, s, len) != 0)
    return -1;
  return 1;
}

/* Runs tide on one message and compares with the reference.  `text` is the
 * message JSON; fs is NULL for a new feed; hmac_state as parse_hmac();
 * compare_reasons says whether error texts must match.  Returns 1 when
 * tide accepted the message (and fills id_out when non-NULL). */
static int check_one(stats *st, const char *where, const char *text, size_t len,
                     const tide_feed_state *fs, int hmac_state,
                     const uint8_t key[TIDE_HMAC_KEY_BYTES], const expect *ex, int compare_reasons,
                     uint8_t id_out[TIDE_HASH_BYTES])
{
  tide_msg *m = NULL;
  tide_error err;
  int rc, ok;
  char idtxt[TIDE_MSG_ID_LEN + 1];
  const char *reason;

  tide_error_clear(&err);
  st->cases++;
  if (ex->valid)
    st->valid++;
  else
    st->invalid++;

  rc = tide_msg_parse(&m, text, len, &err);
  if (rc != 0) {
    ok = 0;
    reason = tide_error_text(&err, rc);
  } else if (hmac_state < 0) {
    /* ssb-validate checks the key only after every other check but the
     * signature: so first the checks that do not need it. */
    rc = tide_msg_validate(m, fs, NULL, TIDE_MSG_SIG_VALID, &err);
    ok = 0;
    if (rc == 0) {
      reason = "invalid HMAC key";
      err.fatal = 1;
    } else {
      reason = tide_error_text(&err, rc);
    }
  } else {
    const uint8_t *k = hmac_state > 0 ? key : NULL;
    rc = tide_msg_validate(m, fs, k, TIDE_MSG_SIG_UNCHECKED, &err);
    ok = rc == 0;
    reason = ok ? NULL : tide_error_text(&err, rc);
    /* The separate signature check must agree with validate's verdict on
     * signatures: accepted messages verify, "invalid signature" ones not. */
    if (ok && tide_msg_verify_signature(m, k) != 0) {
      st->sigcheck_mismatch++;
      report(st, where, "tide_msg_verify_signature rejects an accepted message", "verifies",
             "does not verify");
    }
    if (!ok && !ex->valid && ex->error && strcmp(ex->error, "invalid signature") == 0 &&
        tide_msg_verify_signature(m, k) == 0) {
      st->sigcheck_mismatch++;
      report(st, where, "tide_msg_verify_signature accepts a bad signature", "invalid", "verifies");
    }
  }

  if (ok != ex->valid) {
    st->verdict_mismatch++;
    report(st, where,
           ex->valid ? "reference accepts, tide rejects" : "reference rejects, tide accepts",
           ex->valid ? ex->id : ex->error, ok ? "accepted" : reason);
  } else if (ok) {
    tide_msg_id_format(idtxt, tide_msg_id(m));
    if (ex->id && strcmp(idtxt, ex->id) != 0) {
      st->id_mismatch++;
      report(st, where, "message id differs", ex->id, idtxt);
    }
    if (id_out)
      memcpy(id_out, tide_msg_id(m), TIDE_HASH_BYTES);
  } else if (compare_reasons) {
    if (ex->error && !reason_equal(ex->error, ex->error_len, reason)) {
      st->reason_mismatch++;
      report(st, where, "rejection reason differs", ex->error, reason);
    }
    if (ex->fatal >= 0 && (err.fatal != 0) != (ex->fatal != 0)) {
      st->fatal_mismatch++;
      report(st, where, "fatal flag differs", ex->fatal ? "fatal" : "not fatal",
             err.fatal ? "fatal" : "not fatal");
    }
  }
  tide_msg_free(m);
  return ok;
}

/* Fills ex from a case object's "valid", "id", "error", "fatal". */
static int read_expect(const tide_json *c, expect *ex)
{
  const tide_json *v = tide_json_object_getz(c, "valid");
  const tide_json *f = tide_json_object_getz(c, "fatal");
  if (v == NULL ||
      (tide_json_typeof(v) != TIDE_JSON_TRUE && tide_json_typeof(v) != TIDE_JSON_FALSE))
    return -1;
  memset(ex, 0, sizeof *ex);
  ex->valid = tide_json_typeof(v) == TIDE_JSON_TRUE;
  ex->id = conform_get_string(c, "id", NULL);
  ex->error = conform_get_string(c, "error", &ex->error_len);
  ex->fatal = -1;
  if (f != NULL && tide_json_typeof(f) == TIDE_JSON_TRUE)
    ex->fatal = 1;
  else if (f != NULL && tide_json_typeof(f) == TIDE_JSON_FALSE)
    ex->fatal = 0;
  if (ex->valid && ex->id == NULL)
    return -1;
  return 0;
}

/* One case object {"state","hmacKey","message",...} (dataset or cases). */
static int run_case(stats *st, const tide_json *c, const char *where, int compare_reasons)
{
  expect ex;
  tide_feed_state fs;
  uint8_t key[TIDE_HMAC_KEY_BYTES];
  tide_buf text = TIDE_BUF_INIT;
  int s, h;

  if (read_expect(c, &ex) != 0) {
    fprintf(stderr, "%s: case without a usable \"valid\"/\"id\"\n", where);
    return -1;
  }
  s = parse_state(tide_json_object_getz(c, "state"), &fs);
  if (s < 0) {
    fprintf(stderr, "%s: state tide cannot represent\n", where);
    return -1;
  }
  h = parse_hmac(tide_json_object_getz(c, "hmacKey"), key);
  const tide_json *msg = tide_json_object_getz(c, "message");
  if (msg == NULL || conform_json_text(&text, msg) != 0) {
    fprintf(stderr, "%s: case without a message\n", where);
    tide_buf_free(&text);
    return -1;
  }
  check_one(st, where, text.data, text.len, s ? &fs : NULL, h, key, &ex, compare_reasons, NULL);
  tide_buf_free(&text);
  return 0;
}

static int mode_dataset(stats *st, const char *path)
{
  size_t len;
  char *data = conform_read_file(path, &len);
  tide_json_doc *doc = NULL;
  tide_error err;
  int rc = -1;

  if (data == NULL) {
    perror(path);
    return -1;
  }
  if (tide_json_parse(&doc, data, len, &file_limits, &err) != 0) {
    fprintf(stderr, "%s: not JSON: %s\n", path, err.msg);
    goto out;
  }
  const tide_json *root = tide_json_root(doc);
  if (tide_json_typeof(root) != TIDE_JSON_ARRAY || tide_json_length(root) == 0) {
    fprintf(stderr, "%s: expected a non-empty array\n", path);
    goto out;
  }
  for (size_t i = 0; i < tide_json_length(root); i++) {
    char where[64];
    snprintf(where, sizeof where, "dataset case %zu", i);
    if (run_case(st, tide_json_array_get(root, i), where, 0) != 0)
      goto out;
  }
  rc = 0;
out:
  tide_json_doc_free(doc);
  free(data);
  return rc;
}

static int mode_cases(stats *st, const char *path)
{
  size_t len, n;
  char *data = conform_read_file(path, &len);
  conform_line *lines = NULL;
  int rc = -1;

  if (data == NULL) {
    perror(path);
    return -1;
  }
  lines = conform_split_lines(data, len, &n);
  if (lines == NULL)
    goto out;
  for (size_t i = 0; i < n; i++) {
    tide_json_doc *doc = NULL;
    tide_error err;
    char where[200];
    if (lines[i].len == 0)
      continue;
    if (tide_json_parse(&doc, lines[i].start, lines[i].len, &file_limits, &err) != 0) {
      fprintf(stderr, "%s:%zu: not JSON: %s\n", path, i + 1, err.msg);
      goto out;
    }
    const char *kind = conform_get_string(tide_json_root(doc), "kind", NULL);
    snprintf(where, sizeof where, "%s:%zu (%s)", path, i + 1, kind ? kind : "?");
    int r = run_case(st, tide_json_root(doc), where, 1);
    tide_json_doc_free(doc);
    if (r != 0)
      goto out;
  }
  rc = 0;
out:
  free(lines);
  free(data);
  return rc;
}

/* Per-author state of the feed mode: a small open-addressing table. */
typedef struct feed_entry {
  uint8_t pk[TIDE_PK_BYTES];
  int used;
  tide_feed_state state;
} feed_entry;

typedef struct feed_table {
  feed_entry *slots;
  size_t cap, count;
} feed_table;

static feed_entry *feed_lookup(feed_table *t, const uint8_t pk[TIDE_PK_BYTES])
{
  if (t->count * 2 >= t->cap) {
    size_t ncap = t->cap ? t->cap * 2 : 64;
    feed_entry *ns = calloc(ncap, sizeof *ns);
    if (ns == NULL)
      return NULL;
    for (size_t i = 0; i < t->cap; i++) {
      if (!t->slots[i].used)
        continue;
      size_t j = (t->slots[i].pk[0] | (size_t)t->slots[i].pk[1] << 8) % ncap;
      while (ns[j].used)
        j = (j + 1) % ncap;
      ns[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = ns;
    t->cap = ncap;
  }
  size_t j = (pk[0] | (size_t)pk[1] << 8) % t->cap;
  while (t->slots[j].used && memcmp(t->slots[j].pk, pk, TIDE_PK_BYTES) != 0)
    j = (j + 1) % t->cap;
  if (!t->slots[j].used) {
    t->slots[j].used = 1;
    memcpy(t->slots[j].pk, pk, TIDE_PK_BYTES);
    t->slots[j].state.sequence = 0;
    t->count++;
  }
  return &t->slots[j];
}

/* The raw text of "value" in a line written by JSON.stringify({key, value})
 * ('{"key":"...","value":{...}}'), so tide parses the reference's own bytes
 * rather than a reprint.  Returns 0 (setting *v and *vlen) on success, -1 otherwise. */
static int raw_value(const char *line, size_t len, const char **v, size_t *vlen)
{
  static const char head[] = "{\"key\":\"";
  static const char mid[] = "\",\"value\":";
  if (len < sizeof head + sizeof mid || memcmp(line, head, sizeof head - 1) != 0)
    return -1;
  const char *q = memchr(line + sizeof head - 1, '"', len - (sizeof head - 1));
  if (q == NULL || (size_t)(line + len - q) < sizeof mid || memcmp(q, mid, sizeof mid - 1) != 0 ||
      line[len - 1] != '}')
    return -1;
  *v = q + sizeof mid - 1;
  *vlen = (size_t)(line + len - 1 - *v);
  return 0;
}

static int mode_feed(stats *st, const char *path, size_t *n_feeds)
{
  size_t len, n;
  char *data = conform_read_file(path, &len);
  conform_line *lines = NULL;
  feed_table feeds = {NULL, 0, 0};
  int rc = -1;

  if (data == NULL) {
    perror(path);
    return -1;
  }
  lines = conform_split_lines(data, len, &n);
  if (lines == NULL)
    goto out;
  for (size_t i = 0; i < n; i++) {
    tide_json_doc *doc = NULL;
    tide_error err;
    char where[200];
    const char *v;
    size_t vlen;
    expect ex = {1, NULL, NULL, 0, -1};
    uint8_t pk[TIDE_PK_BYTES], id[TIDE_HASH_BYTES];

    if (lines[i].len == 0)
      continue;
    if (tide_json_parse(&doc, lines[i].start, lines[i].len, &file_limits, &err) != 0) {
      fprintf(stderr, "%s:%zu: not JSON: %s\n", path, i + 1, err.msg);
      goto out;
    }
    const tide_json *root = tide_json_root(doc);
    const tide_json *value = tide_json_object_getz(root, "value");
    size_t alen;
    const char *author = conform_get_string(value, "author", &alen);
    ex.id = conform_get_string(root, "key", NULL);
    if (ex.id == NULL || author == NULL || tide_feed_id_parse(pk, author, alen) != 0) {
      fprintf(stderr, "%s:%zu: not a {key, value} line with a feed author\n", path, i + 1);
      tide_json_doc_free(doc);
      goto out;
    }
    feed_entry *fe = feed_lookup(&feeds, pk);
    if (fe == NULL) {
      tide_json_doc_free(doc);
      goto out;
    }
    snprintf(where, sizeof where, "%s:%zu", path, i + 1);
    tide_buf text = TIDE_BUF_INIT;
    if (raw_value(lines[i].start, lines[i].len, &v, &vlen) != 0) {
      if (conform_json_text(&text, value) != 0) {
        tide_json_doc_free(doc);
        goto out;
      }
      v = text.data;
      vlen = text.len;
    }
    if (check_one(st, where, v, vlen, fe->state.sequence ? &fe->state : NULL, 0, NULL, &ex, 1,
                  id)) {
      memcpy(fe->state.id, id, TIDE_HASH_BYTES);
      fe->state.sequence++;
    }
    tide_buf_free(&text);
    tide_json_doc_free(doc);
  }
  *n_feeds = feeds.count;
  rc = 0;
out:
  free(feeds.slots);
  free(lines);
  free(data);
  return rc;
}

static int mode_wire(stats *st, const char *text_path, const char *expect_path)
{
  size_t tlen, elen, nt, ne;
  char *tdata = conform_read_file(text_path, &tlen);
  char *edata = conform_read_file(expect_path, &elen);
  conform_line *tl = NULL, *el = NULL;
  int rc = -1;

  if (tdata == NULL || edata == NULL) {
    perror(tdata ? expect_path : text_path);
    goto out;
  }
  tl = conform_split_lines(tdata, tlen, &nt);
  el = conform_split_lines(edata, elen, &ne);
  if (tl == NULL || el == NULL || nt != ne || nt == 0) {
    fprintf(stderr, "%s and %s: line counts differ or are zero\n", text_path, expect_path);
    goto out;
  }
  for (size_t i = 0; i < nt; i++) {
    tide_json_doc *doc = NULL;
    tide_error err;
    expect ex;
    tide_feed_state fs;
    uint8_t key[TIDE_HMAC_KEY_BYTES];
    char where[200];
    if (tide_json_parse(&doc, el[i].start, el[i].len, &file_limits, &err) != 0 ||
        read_expect(tide_json_root(doc), &ex) != 0) {
      fprintf(stderr, "%s:%zu: bad expectation line\n", expect_path, i + 1);
      tide_json_doc_free(doc);
      goto out;
    }
    int s = parse_state(tide_json_object_getz(tide_json_root(doc), "state"), &fs);
    int h = parse_hmac(tide_json_object_getz(tide_json_root(doc), "hmacKey"), key);
    snprintf(where, sizeof where, "%s:%zu", text_path, i + 1);
    if (s < 0) {
      fprintf(stderr, "%s: state tide cannot represent\n", where);
      tide_json_doc_free(doc);
      goto out;
    }
    check_one(st, where, tl[i].start, tl[i].len, s ? &fs : NULL, h, key, &ex, 1, NULL);
    tide_json_doc_free(doc);
  }
  rc = 0;
out:
  free(tl);
  free(el);
  free(tdata);
  free(edata);
  return rc;
}

static int usage(void)
{
  fprintf(stderr, "usage: conform dataset DATA.json | cases FILE.jsonl | feed FILE.jsonl"
                  " [MIN_MESSAGES MIN_FEEDS] | wire TEXT EXPECT.jsonl\n");
  return 2;
}

int main(int argc, char **argv)
{
  stats st;
  size_t n_feeds = 0;
  int rc;

  memset(&st, 0, sizeof st);
  if (argc < 3)
    return usage();
  if (tide_init() != 0) {
    fprintf(stderr, "conform: tide_init failed\n");
    return 2;
  }
  if (strcmp(argv[1], "dataset") == 0 && argc == 3)
    rc = mode_dataset(&st, argv[2]);
  else if (strcmp(argv[1], "cases") == 0 && argc == 3)
    rc = mode_cases(&st, argv[2]);
  else if (strcmp(argv[1], "feed") == 0 && (argc == 3 || argc == 5))
    rc = mode_feed(&st, argv[2], &n_feeds);
  else if (strcmp(argv[1], "wire") == 0 && argc == 4)
    rc = mode_wire(&st, argv[2], argv[3]);
  else
    return usage();
  if (rc != 0)
    return 2;

  printf("%s %s: %zu cases (%zu valid, %zu invalid), verdict mismatches %zu, id mismatches "
         "%zu, reason mismatches %zu, fatal-flag mismatches %zu, signature-check mismatches "
         "%zu",
         argv[1], argv[2], st.cases, st.valid, st.invalid, st.verdict_mismatch, st.id_mismatch,
         st.reason_mismatch, st.fatal_mismatch, st.sigcheck_mismatch);
  if (strcmp(argv[1], "feed") == 0)
    printf(", feeds %zu", n_feeds);
  printf("\n");

  if (st.cases == 0) {
    fprintf(stderr, "conform: no cases\n");
    return 1;
  }
  if (strcmp(argv[1], "feed") == 0 && argc == 5) {
    size_t min_msgs = strtoul(argv[3], NULL, 10), min_feeds = strtoul(argv[4], NULL, 10);
    if (st.cases < min_msgs || n_feeds < min_feeds) {
      fprintf(stderr, "conform: expected at least %zu messages over %zu feeds\n", min_msgs,
              min_feeds);
      return 1;
    }
  }
  if (st.verdict_mismatch || st.id_mismatch || st.reason_mismatch || st.fatal_mismatch ||
      st.sigcheck_mismatch)
    return 1;
  return 0;
}
