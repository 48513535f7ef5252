/* main.c - the tide command (being written; see docs/cli.md). */
#include <stdio.h>

#include "tide/common.h"

int main(void)
{
  if (tide_init() != 0)
    return 1;
  fprintf(stderr, "tide: no commands yet\n");
  return 2;
}
