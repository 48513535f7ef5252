/* json_tool.c - re-serialises JSON texts for the differential test
 * against node (tests/js/json-diff.js).
 *
 * Input (stdin): records "<length>\n<length bytes>".  For each record the
 * tool writes either
 *   "OK\n" <compact> <pretty> <latin1> "<utf16 length>\n"
 * where each of <compact>, <pretty>, <latin1> is "<length>\n<bytes>" and
 * compact / pretty are tide_json_write() with indent 0 and 2 and latin1 is
 * tide_json_latin1() of the pretty text, or
 *   "ERR <code> <offset>\n"
 * when tide_json_parse() rejects the text.  Exit status 0 unless the
 * input is malformed or memory runs out. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tide/json.h"

static void put_block(const char *p, size_t n)
{
  printf("%zu\n", n);
  fwrite(p, 1, n, stdout);
}

int main(void)
{
  size_t len;
  char *text = NULL;
  int status = 0;

  while (scanf("%zu", &len) == 1) {
    tide_json_doc *doc = NULL;
    tide_error err;
    tide_buf compact = TIDE_BUF_INIT, pretty = TIDE_BUF_INIT, bin = TIDE_BUF_INIT;
    int rc;

    if (getchar() != '\n' || (text = realloc(text, len + 1)) == NULL ||
        fread(text, 1, len, stdin) != len) {
      fprintf(stderr, "json_tool: malformed input\n");
      status = 2;
      break;
    }
    rc = tide_json_parse(&doc, text, len, NULL, &err);
    if (rc != 0) {
      printf("ERR %d %zu\n", rc, err.offset);
      continue;
    }
    if (tide_json_write(&compact, tide_json_root(doc), TIDE_JSON_COMPACT) != 0 ||
        tide_json_write(&pretty, tide_json_root(doc), TIDE_JSON_PRETTY) != 0 ||
        tide_json_latin1(&bin, pretty.data, pretty.len) != 0) {
      fprintf(stderr, "json_tool: write failed\n");
      status = 2;
    } else {
      printf("OK\n");
      put_block(compact.data, compact.len);
      put_block(pretty.data, pretty.len);
      put_block(bin.data, bin.len);
      printf("%zu\n", tide_json_utf16_length(pretty.data, pretty.len));
    }
    tide_buf_free(&compact);
    tide_buf_free(&pretty);
    tide_buf_free(&bin);
    tide_json_doc_free(doc);
    if (status != 0)
      break;
  }
  free(text);
  return status;
}
