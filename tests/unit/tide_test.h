/* tide_test.h - shared runner for the CUnit suites.
 *
 * Each tests/unit/test_<module>.c defines the NULL-terminated suite table
 * `tide_test_suites` (designated initializers, see STYLE.md) and links
 * tide_test.c, whose main() runs every suite and exits non-zero when any
 * assertion failed (CU_basic_run_tests alone only reports framework errors).
 */
#ifndef TIDE_TEST_H
#define TIDE_TEST_H

#include <CUnit/Basic.h>
#include <CUnit/CUnit.h>
#include <stddef.h>

extern CU_SuiteInfo tide_test_suites[];

/* A fresh empty directory under $TMPDIR (or /tmp) for one test; the
 * caller frees the string.  Removed with tide_test_rmtree(). */
char *tide_test_tmpdir(const char *tag);

/* Removes a directory tree made by tide_test_tmpdir(). */
void tide_test_rmtree(const char *path);

/* Reads a whole file into a NUL-terminated malloc'd buffer, or NULL. */
char *tide_test_read_file(const char *path, size_t *len);

/* The source tree root ($TIDE_SOURCE_DIR set by ctest, else "."). */
const char *tide_test_source_dir(void);

#define TIDE_SUITE(name_, tests_)                                                                  \
  {                                                                                                \
    .pName = (name_), .pInitFunc = NULL, .pCleanupFunc = NULL, .pSetUpFunc = NULL,                 \
    .pTearDownFunc = NULL, .pTests = (tests_)                                                      \
  }

#endif
