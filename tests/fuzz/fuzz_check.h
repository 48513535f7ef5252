/* fuzz_check.h - CHECK(cond) for fuzz targets: an invariant that does not
 * hold aborts, which libFuzzer reports as a crash with the input. */
#ifndef TIDE_FUZZ_CHECK_H
#define TIDE_FUZZ_CHECK_H

#include <stdlib.h>

#define CHECK(cond)                                                                                \
  do {                                                                                             \
    if (!(cond))                                                                                   \
      abort();                                                                                     \
  } while (0)

#endif
