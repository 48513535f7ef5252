/* keys.c - ed25519 key pairs, SSB feed and message ids, the secret file.
 *
 * Encoding is libsodium's sodium_bin2base64 (original alphabet, padded).
 * Decoding accepts only canonical text, as ssb-ref checks ids against
 * is-canonical-base64's regular expression: exact length, '=' padding and
 * zero unused bits in the last character. */
#include "tide/keys.h"

#include <math.h>
#include <sodium.h>
#include <string.h>

#include "tide/json.h"

#define FEED_SUFFIX     ".ed25519"
#define FEED_SUFFIX_LEN 8
#define MSG_SUFFIX      ".sha256"
#define MSG_SUFFIX_LEN  7
#define B64_32_LEN      44 /* base64 of 32 bytes, with one '=' */

int tide_keys_generate(tide_keypair *kp)
{
  uint8_t seed[TIDE_SEED_BYTES];
  int rc;

  randombytes_buf(seed, sizeof seed);
  rc = tide_keys_from_seed(kp, seed);
  sodium_memzero(seed, sizeof seed);
  return rc;
}

int tide_keys_from_seed(tide_keypair *kp, const uint8_t seed[TIDE_SEED_BYTES])
{
  if (crypto_sign_seed_keypair(kp->pk, kp->sk, seed) != 0)
    return TIDE_E_INTERNAL;
  return 0;
}

void tide_keys_wipe(tide_keypair *kp)
{
  if (kp != NULL)
    sodium_memzero(kp->sk, sizeof kp->sk);
}

/* Value of a base64 character (standard alphabet), or 64 for any other
 * byte. */
static const uint8_t b64_value[256] = {
#define X64 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64
    X64,
    X64,
    /* ' ' .. '/' */ 64,
    64,
    64,
    64,
    64,
    64,
    64,
    64,
    64,
    64,
    64,
    62,
    64,
    64,
    64,
    63,
    /* '0' .. '?' */ 52,
    53,
    54,
    55,
    56,
    57,
    58,
    59,
    60,
    61,
    64,
    64,
    64,
    64,
    64,
    64,
    /* '@' .. 'O' */ 64,
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
    10,
    11,
    12,
    13,
    14,
    /* 'P' .. '_' */ 15,
    16,
    17,
    18,
    19,
    20,
    21,
    22,
    23,
    24,
    25,
    64,
    64,
    64,
    64,
    64,
    /* '`' .. 'o' */ 64,
    26,
    27,
    28,
    29,
    30,
    31,
    32,
    33,
    34,
    35,
    36,
    37,
    38,
    39,
    40,
    /* 'p' .. DEL */ 41,
    42,
    43,
    44,
    45,
    46,
    47,
    48,
    49,
    50,
    51,
    64,
    64,
    64,
    64,
    64,
    X64,
    X64,
    X64,
    X64,
    X64,
    X64,
    X64,
    X64,
#undef X64
};

/* The decoder is table-driven rather than sodium_base642bin() plus a
 * re-encoding check: ids are decoded for every message received, and
 * this is several times faster while enforcing the same canonical form
 * (exact length, '=' padding, zero unused bits; is-canonical-base64). */
int tide_b64_decode_exact(uint8_t *out, size_t want, const char *s, size_t len)
{
  const unsigned char *u = (const unsigned char *)s;
  size_t full = want / 3, rest = want % 3, i;
  uint32_t a, b, c, d;

  if (len != 4 * (full + (rest != 0)))
    goto bad;
  for (i = 0; i < full; i++, u += 4, out += 3) {
    a = b64_value[u[0]];
    b = b64_value[u[1]];
    c = b64_value[u[2]];
    d = b64_value[u[3]];
    if ((a | b | c | d) & 64)
      goto bad;
    a = a << 18 | b << 12 | c << 6 | d;
    out[0] = (uint8_t)(a >> 16);
    out[1] = (uint8_t)(a >> 8);
    out[2] = (uint8_t)a;
  }
  if (rest == 1) { /* "xy==": y's low 4 bits unused */
    a = b64_value[u[0]];
    b = b64_value[u[1]];
    if (((a | b) & 64) || (b & 15) != 0 || u[2] != '=' || u[3] != '=')
      goto bad;
    out[0] = (uint8_t)(a << 2 | b >> 4);
  } else if (rest == 2) { /* "xyz=": z's low 2 bits unused */
    a = b64_value[u[0]];
    b = b64_value[u[1]];
    c = b64_value[u[2]];
    if (((a | b | c) & 64) || (c & 3) != 0 || u[3] != '=')
      goto bad;
    out[0] = (uint8_t)(a << 2 | b >> 4);
    out[1] = (uint8_t)(b << 4 | c >> 2);
  }
  return 0;
bad:
  return TIDE_E_KEY_FORMAT;
}

int tide_b64_encode(tide_buf *out, const uint8_t *bin, size_t len)
{
  size_t enc_len = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
  int rc = tide_buf_reserve(out, enc_len);

  if (rc != 0)
    return rc;
  sodium_bin2base64(out->data + out->len, enc_len, bin, len, sodium_base64_VARIANT_ORIGINAL);
  out->len += enc_len - 1;
  return 0;
}

/* Writes sigil + base64(32 bytes) + suffix + NUL into out. */
static void format_id32(char *out, char sigil, const uint8_t bin[32], const char *suffix,
                        size_t suffix_len)
{
  out[0] = sigil;
  sodium_bin2base64(out + 1, B64_32_LEN + 1, bin, 32, sodium_base64_VARIANT_ORIGINAL);
  memcpy(out + 1 + B64_32_LEN, suffix, suffix_len + 1);
}

void tide_feed_id_format(char out[TIDE_FEED_ID_LEN + 1], const uint8_t pk[TIDE_PK_BYTES])
{
  format_id32(out, '@', pk, FEED_SUFFIX, FEED_SUFFIX_LEN);
}

void tide_msg_id_format(char out[TIDE_MSG_ID_LEN + 1], const uint8_t hash[TIDE_HASH_BYTES])
{
  format_id32(out, '%', hash, MSG_SUFFIX, MSG_SUFFIX_LEN);
}

int tide_feed_id_parse(uint8_t pk[TIDE_PK_BYTES], const char *s, size_t len)
{
  if (s == NULL || len < 1 + B64_32_LEN + 2 || s[0] != '@' || s[1 + B64_32_LEN] != '.')
    return TIDE_E_KEY_FORMAT;
  if (len != TIDE_FEED_ID_LEN || memcmp(s + 1 + B64_32_LEN, FEED_SUFFIX, FEED_SUFFIX_LEN) != 0) {
    /* "@<key>.<word>": a well-formed id of another curve or format. */
    for (size_t i = 2 + B64_32_LEN; i < len; i++) {
      char c = s[i];
      if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_'))
        return TIDE_E_KEY_FORMAT;
    }
    return TIDE_E_KEY_CURVE;
  }
  return tide_b64_decode_exact(pk, TIDE_PK_BYTES, s + 1, B64_32_LEN);
}

int tide_msg_id_parse(uint8_t hash[TIDE_HASH_BYTES], const char *s, size_t len)
{
  if (s == NULL || len != TIDE_MSG_ID_LEN || s[0] != '%' ||
      memcmp(s + 1 + B64_32_LEN, MSG_SUFFIX, MSG_SUFFIX_LEN) != 0)
    return TIDE_E_KEY_FORMAT;
  return tide_b64_decode_exact(hash, TIDE_HASH_BYTES, s + 1, B64_32_LEN);
}

/* The comment block ssb-keys (storage.js constructKeys) writes around the
 * JSON, kept word for word so users recognise the file. */
static const char secret_head[] =
    "# WARNING: Never show this to anyone.\n"
    "# WARNING: Never edit it or use it on multiple devices at once.\n"
    "#\n"
    "# This is your SECRET, it gives you magical powers. With your secret you can\n"
    "# sign your messages so that your friends can verify that the messages came\n"
    "# from you. If anyone learns your secret, they can use it to impersonate you.\n"
    "#\n"
    "# If you use this secret on more than one device you will create a fork and\n"
    "# your friends will stop replicating your content.\n"
    "#\n";
static const char secret_tail[] = "\n"
                                  "#\n"
                                  "# The only part of this file that's safe to share is your "
                                  "public name:\n"
                                  "#\n"
                                  "#   ";

int tide_keys_secret_format(tide_buf *out, const tide_keypair *kp)
{
  char id[TIDE_FEED_ID_LEN + 1];
  char pub[B64_32_LEN + 1];
  /* base64 of 64 bytes is 88 chars */
  char priv[sodium_base64_ENCODED_LEN(TIDE_SK_BYTES, sodium_base64_VARIANT_ORIGINAL)];
  int rc;

  tide_feed_id_format(id, kp->pk);
  sodium_bin2base64(pub, sizeof pub, kp->pk, TIDE_PK_BYTES, sodium_base64_VARIANT_ORIGINAL);
  sodium_bin2base64(priv, sizeof priv, kp->sk, TIDE_SK_BYTES, sodium_base64_VARIANT_ORIGINAL);
  /* JSON.stringify({curve, public, private, id}, null, 2): base64 and ids
   * need no escaping. */
  rc = tide_buf_printf(out,
                       "%s{\n"
                       "  \"curve\": \"ed25519\",\n"
                       "  \"public\": \"%s.ed25519\",\n"
                       "  \"private\": \"%s.ed25519\",\n"
                       "  \"id\": \"%s\"\n"
                       "}%s%s",
                       secret_head, pub, priv, id, secret_tail, id);
  sodium_memzero(priv, sizeof priv);
  return rc;
}

/* Returns the string member key of obj, or NULL (and sets *len). */
static const char *get_string(const tide_json *obj, const char *key, size_t *len)
{
  const tide_json *v = tide_json_object_getz(obj, key);

  if (v == NULL || tide_json_typeof(v) != TIDE_JSON_STRING)
    return NULL;
  return tide_json_string(v, len);
}

/* The curve ssb-keys' getCurve() would use: 0 and *curve set, 1 when
 * "curve" is truthy but not a string, 2 when there is none. */
static int secret_curve(const tide_json *root, const char **curve, size_t *len)
{
  const tide_json *v = tide_json_object_getz(root, "curve");
  const char *pub, *dot;
  size_t pub_len;

  if (v != NULL) {
    switch (tide_json_typeof(v)) {
    case TIDE_JSON_NULL:
    case TIDE_JSON_FALSE: v = NULL; break; /* falsy */
    case TIDE_JSON_NUMBER:
      if (tide_json_number(v) == 0.0 || isnan(tide_json_number(v)))
        v = NULL;
      break;
    case TIDE_JSON_STRING:
      if (tide_json_string(v, len), *len == 0)
        v = NULL;
      break;
    default: break;
    }
  }
  if (v != NULL) {
    if (tide_json_typeof(v) != TIDE_JSON_STRING)
      return 1;
    *curve = tide_json_string(v, len);
    return 0;
  }
  pub = get_string(root, "public", &pub_len);
  if (pub == NULL)
    return 2;
  dot = memchr(pub, '.', pub_len);
  *curve = dot != NULL ? dot + 1 : pub;
  *len = pub_len - (size_t)(*curve - pub);
  return 0;
}

/* The base64 part of a key string as ssb-keys' toBuffer() takes it: after
 * an optional '@', '%' or '&' sigil, up to the first '.'. 0 when empty. */
static int key_base64(const char **s, size_t *len)
{
  const char *dot = memchr(*s, '.', *len);
  size_t end = dot != NULL ? (size_t)(dot - *s) : *len;
  size_t start = *len > 0 && ((*s)[0] == '@' || (*s)[0] == '%' || (*s)[0] == '&') ? 1 : 0;

  if (end <= start)
    return 0;
  *s += start;
  *len = end - start;
  return 1;
}

int tide_keys_secret_parse(tide_keypair *kp, const char *text, size_t len, tide_error *err)
{
  tide_buf json = TIDE_BUF_INIT;
  tide_json_doc *doc = NULL;
  const tide_json *root;
  const char *curve, *pub, *priv = NULL, *id;
  size_t curve_len, pub_len, priv_len = 0, id_len;
  uint8_t pk[TIDE_PK_BYTES], seed_pk[TIDE_PK_BYTES];
  uint8_t sk[TIDE_SK_BYTES];
  size_t i = 0;
  int rc;

  /* Like ssb-keys reconstructKeys(): drop every '#' to the end of its
   * line, then join the lines without separators. */
  while (i < len) {
    const char *nl = memchr(text + i, '\n', len - i);
    size_t end = nl != NULL ? (size_t)(nl - text) : len;
    const char *hash = memchr(text + i, '#', end - i);
    size_t keep = hash != NULL ? (size_t)(hash - text) : end;

    rc = tide_buf_append(&json, text + i, keep - i);
    if (rc != 0)
      goto out;
    i = end + 1;
  }
  if (json.len == 0) {
    rc = tide_error_set(err, TIDE_E_KEY_FORMAT, 0, "secret file holds no key");
    goto out;
  }
  rc = tide_json_parse(&doc, json.data, json.len, NULL, err);
  if (rc != 0) {
    if (rc != TIDE_E_NOMEM)
      rc = tide_error_set(err, TIDE_E_KEY_FORMAT, 0, "secret file is not JSON");
    goto out;
  }
  root = tide_json_root(doc);
  if (tide_json_typeof(root) != TIDE_JSON_OBJECT) {
    rc = tide_error_set(err, TIDE_E_KEY_FORMAT, 0, "secret file is not a JSON object");
    goto out;
  }
  /* ssb-keys getCurve(): a truthy "curve", else the tag of "public" (all
   * after its first '.', or the whole string when it has none). */
  rc = secret_curve(root, &curve, &curve_len);
  if (rc != 0) {
    rc =
        tide_error_set(err, TIDE_E_KEY_CURVE, 0, "secret file: %s; tide supports only ed25519 keys",
                       rc == 1 ? "\"curve\" is not a string"
                               : "no curve (\"curve\" or a "
                                 "\"public\" key with a suffix)");
    goto out;
  }
  if (curve_len != 7 || memcmp(curve, "ed25519", 7) != 0) {
    rc = tide_error_set(err, TIDE_E_KEY_CURVE, 0,
                        "secret file: unknown curve \"%.*s\"; tide supports only ed25519 keys",
                        (int)(curve_len > 32 ? 32 : curve_len), curve);
    goto out;
  }
  /* ssb-keys toBuffer(): an optional sigil, then base64 up to the first
   * '.' (the suffix is not checked); tide requires canonical base64. */
  pub = get_string(root, "public", &pub_len);
  if (pub == NULL || !key_base64(&pub, &pub_len) ||
      tide_b64_decode_exact(pk, sizeof pk, pub, pub_len) != 0) {
    rc = tide_error_set(err, TIDE_E_KEY_FORMAT, 0,
                        "secret file: \"public\" must be <base64 of 32 bytes>[.ed25519]");
    goto out;
  }
  priv = get_string(root, "private", &priv_len);
  {
    const char *pb = priv;
    size_t pbl = priv_len;
    if (priv == NULL || !key_base64(&pb, &pbl) ||
        tide_b64_decode_exact(sk, sizeof sk, pb, pbl) != 0) {
      rc = tide_error_set(err, TIDE_E_KEY_FORMAT, 0,
                          "secret file: \"private\" must be <base64 of 64 bytes>[.ed25519]");
      goto out;
    }
  }
  /* The secret key is seed || pk: re-derive and compare both halves. */
  rc = tide_keys_from_seed(kp, sk);
  if (rc != 0)
    goto out;
  memcpy(seed_pk, kp->pk, sizeof seed_pk);
  if (sodium_memcmp(kp->sk, sk, sizeof sk) != 0 || memcmp(seed_pk, pk, sizeof pk) != 0) {
    tide_keys_wipe(kp);
    rc = tide_error_set(err, TIDE_E_KEY_FORMAT, 0,
                        "secret file: private key does not match the public key");
    goto out;
  }
  /* ssb-keys derives a missing or sigil-less id as "@" + public. */
  id = get_string(root, "id", &id_len);
  if (id != NULL && id_len > 0 && id[0] == '@') {
    uint8_t id_pk[TIDE_PK_BYTES];
    if (tide_feed_id_parse(id_pk, id, id_len) != 0 || memcmp(id_pk, pk, sizeof pk) != 0) {
      tide_keys_wipe(kp);
      rc = tide_error_set(err, TIDE_E_KEY_FORMAT, 0,
                          "secret file: \"id\" does not match the public key");
      goto out;
    }
  }
  rc = 0;
out:
  sodium_memzero(sk, sizeof sk);
  if (json.data != NULL)
    sodium_memzero(json.data, json.len);
  /* The parsed "private" string lives in the document's heap arena (not
   * const memory): wipe it before the arena is released. */
  if (priv != NULL)
    sodium_memzero((void *)(uintptr_t)priv, priv_len);
  tide_buf_free(&json);
  tide_json_doc_free(doc);
  return rc;
}
