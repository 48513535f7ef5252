/* msgcheck.c - reads lines `[state_id|null, state_seq, hmac, text]` on
 * stdin and prints tide's verdict for each, one line per input:
 *   VALID <id>
 *   INVALID <fatal> <reason as a JSON string>
 * Used by mutate.js (the msg.differential test) to compare tide with
 * ssb-validate on randomly mutated messages.  With hmac true, the key is
 * 32 bytes of 0x07. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide/msg.h"

static int check_line(const char *line, size_t n, const uint8_t hk[TIDE_HMAC_KEY_BYTES])
{
  tide_json_doc *doc = NULL;
  tide_json *root;
  tide_feed_state st;
  tide_msg *m = NULL;
  tide_error err;
  tide_buf out = TIDE_BUF_INIT;
  const char *sid, *text;
  size_t sid_len, text_len;
  int hmac, rc;

  if (tide_json_parse(&doc, line, n, NULL, NULL) != 0)
    return -1;
  root = tide_json_root(doc);
  sid = tide_json_string(tide_json_array_get(root, 0), &sid_len);
  hmac = tide_json_typeof(tide_json_array_get(root, 2)) == TIDE_JSON_TRUE;
  text = tide_json_string(tide_json_array_get(root, 3), &text_len);
  if (text == NULL || (sid != NULL && tide_msg_id_parse(st.id, sid, sid_len) != 0)) {
    tide_json_doc_free(doc);
    return -1;
  }
  st.sequence = (int64_t)tide_json_number(tide_json_array_get(root, 1));
  memset(&err, 0, sizeof err);
  rc = tide_msg_parse(&m, text, text_len, &err);
  if (rc == 0)
    rc = tide_msg_validate(m, sid != NULL ? &st : NULL, hmac ? hk : NULL, TIDE_MSG_SIG_UNCHECKED,
                           &err);
  if (rc == 0) {
    char id[TIDE_MSG_ID_LEN + 1];
    tide_msg_id_format(id, tide_msg_id(m));
    printf("VALID %s\n", id);
  } else {
    if (tide_json_write_string(&out, err.msg, strlen(err.msg)) != 0)
      rc = -1;
    else
      printf("INVALID %d %s\n", err.fatal, out.data);
    rc = rc == -1 ? -1 : 0;
  }
  tide_buf_free(&out);
  tide_msg_free(m);
  tide_json_doc_free(doc);
  return rc;
}

int main(void)
{
  static char line[1 << 20];
  uint8_t hk[TIDE_HMAC_KEY_BYTES];

  if (tide_init() != 0)
    return 1;
  memset(hk, 7, sizeof hk);
  while (fgets(line, sizeof line, stdin) != NULL) {
    if (check_line(line, strlen(line), hk) != 0) {
      fprintf(stderr, "msgcheck: bad input line\n");
      return 1;
    }
  }
  return 0;
}
