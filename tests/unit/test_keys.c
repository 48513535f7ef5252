/* test_keys.c - key pairs, feed/message ids, canonical base64, secret file. */
#include <sodium.h>
#include <string.h>

#include "tide/keys.h"
#include "tide_test.h"

/* A secret file written by ssb-keys@8.5.0 createSync() (node, at dev time:
 * keys.createSync('/tmp/x/secret'); the file has no trailing newline). */
static const char node_secret[] =
    "# WARNING: Never show this to anyone.\n"
    "# WARNING: Never edit it or use it on multiple devices at once.\n"
    "#\n"
    "# This is your SECRET, it gives you magical powers. With your secret you can\n"
    "# sign your messages so that your friends can verify that the messages came\n"
    "# from you. If anyone learns your secret, they can use it to impersonate you.\n"
    "#\n"
    "# If you use this secret on more than one device you will create a fork and\n"
    "# your friends will stop replicating your content.\n"
    "#\n"
    "{\n"
    "  \"curve\": \"ed25519\",\n"
    "  \"public\": \"k8idwbLixd7WR0WTX31WR5RJl4cLwUzckaU/+XiM+9Q=.ed25519\",\n"
    "  \"private\": "
    "\"xUryWuQ+uFVBuM1yVZYeaskIJH3Fxl1E/hi8TjgRx1GTyJ3BsuLF3tZHRZNffVZHlEmXhwvBTNyRpT/"
    "5eIz71A==.ed25519\",\n"
    "  \"id\": \"@k8idwbLixd7WR0WTX31WR5RJl4cLwUzckaU/+XiM+9Q=.ed25519\"\n"
    "}\n"
    "#\n"
    "# The only part of this file that's safe to share is your public name:\n"
    "#\n"
    "#   @k8idwbLixd7WR0WTX31WR5RJl4cLwUzckaU/+XiM+9Q=.ed25519";

#define NODE_ID "@k8idwbLixd7WR0WTX31WR5RJl4cLwUzckaU/+XiM+9Q=.ed25519"
/* crypto_sign_seed_keypair(32 x 0x01), as ssb-keys.generate('ed25519',
 * Buffer.alloc(32, 1)) prints it. */
#define SEED1_ID "@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=.ed25519"

static void seed1(tide_keypair *kp)
{
  uint8_t seed[TIDE_SEED_BYTES];
  memset(seed, 1, sizeof seed);
  CU_ASSERT_EQUAL_FATAL(tide_keys_from_seed(kp, seed), 0);
}

static void test_seed_id(void)
{
  tide_keypair kp;
  char id[TIDE_FEED_ID_LEN + 1];
  uint8_t pk[TIDE_PK_BYTES];

  seed1(&kp);
  tide_feed_id_format(id, kp.pk);
  CU_ASSERT_STRING_EQUAL(id, SEED1_ID);
  CU_ASSERT_EQUAL(strlen(id), TIDE_FEED_ID_LEN);
  CU_ASSERT_EQUAL(tide_feed_id_parse(pk, id, strlen(id)), 0);
  CU_ASSERT_EQUAL(memcmp(pk, kp.pk, sizeof pk), 0);
  /* sk = seed || pk */
  CU_ASSERT_EQUAL(kp.sk[0], 1);
  CU_ASSERT_EQUAL(memcmp(kp.sk + 32, kp.pk, 32), 0);
  tide_keys_wipe(&kp);
  for (size_t i = 0; i < sizeof kp.sk; i++)
    CU_ASSERT_EQUAL(kp.sk[i], 0);
}

static void test_generate(void)
{
  tide_keypair a, b;
  char id[TIDE_FEED_ID_LEN + 1];
  uint8_t pk[TIDE_PK_BYTES];

  CU_ASSERT_EQUAL(tide_keys_generate(&a), 0);
  CU_ASSERT_EQUAL(tide_keys_generate(&b), 0);
  CU_ASSERT_NOT_EQUAL(memcmp(a.pk, b.pk, sizeof a.pk), 0);
  tide_feed_id_format(id, a.pk);
  CU_ASSERT_EQUAL(tide_feed_id_parse(pk, id, strlen(id)), 0);
  CU_ASSERT_EQUAL(memcmp(pk, a.pk, sizeof pk), 0);
  tide_keys_wipe(&a);
  tide_keys_wipe(&b);
}

static int feed_parse(const char *s)
{
  uint8_t pk[TIDE_PK_BYTES];
  return tide_feed_id_parse(pk, s, strlen(s));
}

static void test_feed_id_reject(void)
{
  CU_ASSERT_EQUAL(feed_parse(SEED1_ID), 0);
  /* 'x' before '=' leaves non-zero unused bits: not canonical. */
  CU_ASSERT_EQUAL(feed_parse("@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1x=.ed25519"),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(feed_parse("iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=.ed25519"),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(feed_parse("@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w.ed25519"),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(feed_parse("@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=xed25519"),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(feed_parse("@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=.ed25519 "),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(feed_parse("@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=.sha256"),
                  TIDE_E_KEY_CURVE);
  CU_ASSERT_EQUAL(feed_parse("@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w=.ggfeed-v1"),
                  TIDE_E_KEY_CURVE);
  CU_ASSERT_EQUAL(feed_parse("@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1w-.ed25519"),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(feed_parse("@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb83SIAbQPb1==.ed25519"),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(feed_parse(""), TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(tide_feed_id_parse(NULL, NULL, 0), TIDE_E_KEY_FORMAT);
}

static void test_msg_id(void)
{
  /* notes 1.9 m1 id (ssb-validate@4.1.4) */
  const char *id = "%P8VRNTswEZIiS8IJPxldV2DuDa0GdzuVWoh9NlNS+0g=.sha256";
  uint8_t h[TIDE_HASH_BYTES];
  char out[TIDE_MSG_ID_LEN + 1];

  CU_ASSERT_EQUAL(strlen(id), TIDE_MSG_ID_LEN);
  CU_ASSERT_EQUAL_FATAL(tide_msg_id_parse(h, id, strlen(id)), 0);
  tide_msg_id_format(out, h);
  CU_ASSERT_STRING_EQUAL(out, id);
  CU_ASSERT_EQUAL(tide_msg_id_parse(h, id, strlen(id) - 1), TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(tide_msg_id_parse(h, "%P8VRNTswEZIiS8IJPxldV2DuDa0GdzuVWoh9NlNS+0h=.sha256", 52),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(tide_msg_id_parse(h, "&P8VRNTswEZIiS8IJPxldV2DuDa0GdzuVWoh9NlNS+0g=.sha256", 52),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(tide_msg_id_parse(h, "%P8VRNTswEZIiS8IJPxldV2DuDa0GdzuVWoh9NlNS+0g=.sha257", 52),
                  TIDE_E_KEY_FORMAT);
}

static void test_b64(void)
{
  uint8_t b[64];
  tide_buf out = TIDE_BUF_INIT;

  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 1, "AQ==", 4), 0);
  CU_ASSERT_EQUAL(b[0], 1);
  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 1, "AR==", 4), TIDE_E_KEY_FORMAT); /* bits */
  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 1, "AQ", 2), TIDE_E_KEY_FORMAT);   /* padding */
  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 2, "AQ==", 4), TIDE_E_KEY_FORMAT); /* length */
  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 2, "AQI=", 4), 0);
  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 2, "AQJ=", 4), TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 3, "+/+/", 4), 0);
  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 3, "-_-_", 4), TIDE_E_KEY_FORMAT); /* URL alphabet */
  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 3, "AQ I", 4), TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(tide_b64_decode_exact(b, 0, "", 0), 0);

  memset(b, 0xff, 3);
  CU_ASSERT_EQUAL(tide_b64_encode(&out, b, 3), 0);
  CU_ASSERT_EQUAL(tide_b64_encode(&out, b, 1), 0);
  CU_ASSERT_STRING_EQUAL(out.data, "/////w==");
  CU_ASSERT_EQUAL(out.len, 8);
  tide_buf_free(&out);
}

static void test_secret_node_file(void)
{
  tide_keypair kp;
  tide_error err;
  tide_buf out = TIDE_BUF_INIT;
  char id[TIDE_FEED_ID_LEN + 1];
  int rc;

  rc = tide_keys_secret_parse(&kp, node_secret, strlen(node_secret), &err);
  CU_ASSERT_EQUAL_FATAL(rc, 0);
  tide_feed_id_format(id, kp.pk);
  CU_ASSERT_STRING_EQUAL(id, NODE_ID);
  /* Writing it back gives ssb-keys' file byte for byte. */
  CU_ASSERT_EQUAL_FATAL(tide_keys_secret_format(&out, &kp), 0);
  CU_ASSERT_EQUAL(out.len, strlen(node_secret));
  CU_ASSERT_STRING_EQUAL(out.data, node_secret);
  tide_buf_free(&out);
  tide_keys_wipe(&kp);
}

static void test_secret_round_trip(void)
{
  tide_keypair kp, back;
  tide_error err;
  tide_buf out = TIDE_BUF_INIT;

  CU_ASSERT_EQUAL(tide_keys_generate(&kp), 0);
  CU_ASSERT_EQUAL_FATAL(tide_keys_secret_format(&out, &kp), 0);
  CU_ASSERT_PTR_NOT_NULL(strstr(out.data, "# WARNING: Never show this to anyone.\n"));
  CU_ASSERT_EQUAL_FATAL(tide_keys_secret_parse(&back, out.data, out.len, &err), 0);
  CU_ASSERT_EQUAL(memcmp(back.pk, kp.pk, sizeof kp.pk), 0);
  CU_ASSERT_EQUAL(memcmp(back.sk, kp.sk, sizeof kp.sk), 0);
  tide_buf_free(&out);
  tide_keys_wipe(&kp);
  tide_keys_wipe(&back);
}

/* Replaces the first occurrence of from with to in a copy of node_secret
 * and parses it. */
static int parse_edited(const char *from, const char *to, tide_error *err)
{
  char text[2048];
  const char *p = strstr(node_secret, from);
  size_t pre;
  tide_keypair kp;
  int rc;

  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  pre = (size_t)(p - node_secret);
  CU_ASSERT_FATAL(strlen(node_secret) - strlen(from) + strlen(to) < sizeof text);
  memcpy(text, node_secret, pre);
  strcpy(text + pre, to);
  strcat(text, p + strlen(from));
  rc = tide_keys_secret_parse(&kp, text, strlen(text), err);
  tide_keys_wipe(&kp);
  return rc;
}

static void test_secret_reject(void)
{
  tide_error err;
  tide_keypair kp;

  /* another key's public half */
  CU_ASSERT_EQUAL(parse_edited("\"public\": \"k8id",
                               "\"public\": \"iojj3XQJ8ZX9UtstPLpdcspnCb8"
                               "dlBIb83SIAbQPb1w=.ed25519\", \"x\": \"",
                               &err),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "does not match"));
  /* corrupted private key: seed and public half disagree */
  CU_ASSERT_EQUAL(parse_edited("xUryWuQ", "xUryWuR", &err), TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(parse_edited("\"curve\": \"ed25519\"", "\"curve\": \"k256\"", &err),
                  TIDE_E_KEY_CURVE);
  CU_ASSERT_EQUAL(parse_edited("\"curve\": \"ed25519\"", "\"curve\": 5", &err), TIDE_E_KEY_CURVE);
  CU_ASSERT_EQUAL(parse_edited("\"curve\": \"ed25519\"", "\"curve\": [\"ed25519\"]", &err),
                  TIDE_E_KEY_CURVE);
  /* a curve that is not ed25519, or none to be found */
  CU_ASSERT_EQUAL(parse_edited("+9Q=.ed25519\",\n  \"private", "+9Q=.k256\",\n  \"private", &err),
                  0); /* curve given: the suffix is not read */
  CU_ASSERT_EQUAL(parse_edited("\"curve\": \"ed25519\",\n  \"public\": "
                               "\"k8idwbLixd7WR0WTX31WR5RJl4cLwUzckaU/+XiM+9Q=.ed25519\"",
                               "\"public\": \"k8idwbLixd7WR0WTX31WR5RJl4cLwUzckaU/+XiM+9Q=.k256\"",
                               &err),
                  TIDE_E_KEY_CURVE);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "k256"));
  CU_ASSERT_EQUAL(parse_edited("\"curve\": \"ed25519\",\n  \"public\": "
                               "\"k8idwbLixd7WR0WTX31WR5RJl4cLwUzckaU/+XiM+9Q=.ed25519\"",
                               "\"public\": \"k8idwbLixd7WR0WTX31WR5RJl4cLwUzckaU/+XiM+9Q=\"",
                               &err),
                  TIDE_E_KEY_CURVE);
  /* the private key still has to match the public key without suffixes */
  CU_ASSERT_EQUAL(
      parse_edited("xUryWuQ+uFVBuM1yVZYeaskIJH3Fxl1E/hi8TjgRx1GTyJ3BsuLF3tZHRZNffVZHlEmXhwvBTNyRpT/"
                   "5eIz71A==.ed25519",
                   "xUryWuQ+uFVBuM1yVZYeaskIJH3Fxl1E/hi8TjgRx1GTyJ3BsuLF3tZHRZNffVZHlEmXhwvBTNyRpT/"
                   "5eIz71B==",
                   &err),
      TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(parse_edited("\"private\": \"", "\"private\": \"z", &err), TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(parse_edited("\"private\": \"", "\"privat\": \"", &err), TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(parse_edited("\"id\": \"@k8id",
                               "\"id\": \"@iojj3XQJ8ZX9UtstPLpdcspnCb8dlBIb"
                               "83SIAbQPb1w=.ed25519\", \"y\": \"@",
                               &err),
                  TIDE_E_KEY_FORMAT);
  CU_ASSERT_PTR_NOT_NULL(strstr(err.msg, "\"id\""));
  CU_ASSERT_EQUAL(parse_edited("{\n", "{,\n", &err), TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(tide_keys_secret_parse(&kp, "# only comments\n#\n", 18, &err), TIDE_E_KEY_FORMAT);
  CU_ASSERT_EQUAL(tide_keys_secret_parse(&kp, "[1]", 3, &err), TIDE_E_KEY_FORMAT);
  /* like ssb-keys: an id without sigil is derived from "public" */
  CU_ASSERT_EQUAL(parse_edited("\"id\": \"@k8id", "\"id\": \"k8id", &err), 0);
}

/* What ssb-keys loadSync() + sign() accept: no "curve" (taken from the
 * public key's suffix), keys without the ".ed25519" suffix when the curve
 * is given, a falsy curve, a sigil on the key strings. */
static void test_secret_lenient(void)
{
  static const char *const edits[][2] = {
      {"\"curve\": \"ed25519\",", ""},
      {"\"curve\": \"ed25519\"", "\"curve\": null"},
      {"\"curve\": \"ed25519\"", "\"curve\": \"\""},
      {"\"curve\": \"ed25519\"", "\"curve\": false"},
      {"5eIz71A==.ed25519", "5eIz71A=="},
      {"+9Q=.ed25519\",\n  \"private", "+9Q=\",\n  \"private"},
      {"\"public\": \"k8id", "\"public\": \"@k8id"},
      {"\"private\": \"", "\"private\": \"@"},
  };
  tide_error err;

  for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
    int rc = parse_edited(edits[i][0], edits[i][1], &err);
    if (rc != 0)
      fprintf(stderr, "edit %zu: %s\n", i, err.msg);
    CU_ASSERT_EQUAL(rc, 0);
  }
}

static CU_TestInfo keys_tests[] = {
    {"seed 0x01 gives the SSB test id", test_seed_id},
    {"generate", test_generate},
    {"feed id rejects non-canonical forms", test_feed_id_reject},
    {"message id", test_msg_id},
    {"canonical base64", test_b64},
    {"ssb-keys secret file parses and re-formats", test_secret_node_file},
    {"secret round trip", test_secret_round_trip},
    {"secret file rejections", test_secret_reject},
    {"secret file as leniently as ssb-keys", test_secret_lenient},
    CU_TEST_INFO_NULL,
};

CU_SuiteInfo tide_test_suites[] = {
    TIDE_SUITE("keys", keys_tests),
    CU_SUITE_INFO_NULL,
};
