/* tide_test.c - main() for the CUnit suites; see tide_test.h. */
#include "tide_test.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tide/common.h"

char *tide_test_tmpdir(const char *tag)
{
  const char *base = getenv("TMPDIR");
  char *path;
  size_t n;

  if (base == NULL || *base == '\0')
    base = "/tmp";
  n = strlen(base) + strlen(tag) + 32;
  path = malloc(n);
  if (path == NULL)
    return NULL;
  snprintf(path, n, "%s/tide-%s-XXXXXX", base, tag);
  if (mkdtemp(path) == NULL) {
    free(path);
    return NULL;
  }
  return path;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void tide_test_rmtree(const char *path)
{
  if (path != NULL)
    (void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *tide_test_read_file(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf = NULL;
  long size;

  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0)
    goto out;
  buf = malloc((size_t)size + 1);
  if (buf == NULL)
    goto out;
  if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
    free(buf);
    buf = NULL;
    goto out;
  }
  buf[size] = '\0';
  if (len != NULL)
    *len = (size_t)size;
out:
  fclose(f);
  return buf;
}

const char *tide_test_source_dir(void)
{
  const char *s = getenv("TIDE_SOURCE_DIR");
  return (s != NULL && *s != '\0') ? s : ".";
}

int main(void)
{
  unsigned failures;

  if (tide_init() != 0) {
    fprintf(stderr, "tide_init failed\n");
    return 1;
  }
  if (CU_initialize_registry() != CUE_SUCCESS)
    return 1;
  if (CU_register_suites(tide_test_suites) != CUE_SUCCESS) {
    fprintf(stderr, "suite registration: %s\n", CU_get_error_msg());
    CU_cleanup_registry();
    return 1;
  }
  CU_basic_set_mode(CU_BRM_VERBOSE);
  CU_basic_run_tests();
  failures = CU_get_number_of_failures();
  if (CU_get_error() != CUE_SUCCESS)
    failures++;
  CU_cleanup_registry();
  return failures > 0 ? 1 : 0;
}
