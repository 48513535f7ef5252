/* keys.c - ed25519 key pairs, SSB feed and message ids, the secret file.
 *
 * Base64 is libsodium's (sodium_base642bin / sodium_bin2base64, original
 * alphabet with padding).  libsodium's decoder tolerates non-zero unused
 * bits in the last character, which SSB ids must not have (ssb-ref checks
 * ids against is-canonical-base64's regular expression), so every decode
 * re-encodes the result and compares it with the input. */
#include "tide/keys.h"

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

int tide_b64_decode_exact(uint8_t *out, size_t want, const char *s, size_t len)
{
  char check[132]; /* re-encoding buffer for small inputs (ids, keys, sigs) */
  char *re = check;
  size_t got = 0, enc_len;
  const char *end = NULL;
  int rc = TIDE_E_KEY_FORMAT;

  enc_len = sodium_base64_ENCODED_LEN(want, sodium_base64_VARIANT_ORIGINAL);
  /* The canonical text of `want` bytes has exactly enc_len - 1 chars. */
  if (len != enc_len - 1)
    return TIDE_E_KEY_FORMAT;
  if (sodium_base642bin(out, want, s, len, NULL, &got, &end, sodium_base64_VARIANT_ORIGINAL) != 0 ||
      got != want || end != s + len)
    goto out;
  if (enc_len > sizeof check) {
    re = sodium_malloc(enc_len);
    if (re == NULL) {
      rc = TIDE_E_NOMEM;
      goto out;
    }
  }
  sodium_bin2base64(re, enc_len, out, want, sodium_base64_VARIANT_ORIGINAL);
  if (memcmp(re, s, len) != 0)
    goto out;
  rc = 0;
out:
  if (re != check)
    sodium_free(re);
  if (rc != 0)
    sodium_memzero(out, want);
  return rc;
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

int tide_keys_secret_parse(tide_keypair *kp, const char *text, size_t len, tide_error *err)
{
  tide_buf json = TIDE_BUF_INIT;
  tide_json_doc *doc = NULL;
  const tide_json *root;
  const char *curve, *pub, *priv, *id;
  size_t curve_len, pub_len, priv_len, id_len;
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
  curve = get_string(root, "curve", &curve_len);
  if (curve == NULL || curve_len != 7 || memcmp(curve, "ed25519", 7) != 0) {
    rc = tide_error_set(err, curve == NULL ? TIDE_E_KEY_FORMAT : TIDE_E_KEY_CURVE, 0,
                        "secret file: curve must be \"ed25519\"");
    goto out;
  }
  pub = get_string(root, "public", &pub_len);
  if (pub == NULL || pub_len != B64_32_LEN + FEED_SUFFIX_LEN ||
      memcmp(pub + B64_32_LEN, FEED_SUFFIX, FEED_SUFFIX_LEN) != 0 ||
      tide_b64_decode_exact(pk, sizeof pk, pub, B64_32_LEN) != 0) {
    rc = tide_error_set(err, TIDE_E_KEY_FORMAT, 0,
                        "secret file: \"public\" must be <base64 of 32 bytes>.ed25519");
    goto out;
  }
  priv = get_string(root, "private", &priv_len);
  if (priv == NULL || priv_len != 88 + FEED_SUFFIX_LEN ||
      memcmp(priv + 88, FEED_SUFFIX, FEED_SUFFIX_LEN) != 0 ||
      tide_b64_decode_exact(sk, sizeof sk, priv, 88) != 0) {
    rc = tide_error_set(err, TIDE_E_KEY_FORMAT, 0,
                        "secret file: \"private\" must be <base64 of 64 bytes>.ed25519");
    goto out;
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
  tide_buf_free(&json);
  tide_json_doc_free(doc);
  return rc;
}
