/* replay_main.c - replays a fuzz corpus through a libFuzzer target without
 * libFuzzer, so every CI run (gcc, sanitizers) re-checks the kept corpus.
 *
 * Usage: replay_<name> DIR|FILE...   Exit 0 when every input was processed
 * (a crash or sanitizer report aborts the process) and at least one input
 * was found: an empty corpus is an error, not a pass. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
  FILE *f = fopen(path, "rb");
  uint8_t *buf;
  long n;

  if (f == NULL) {
    perror(path);
    return -1;
  }
  if (fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
    fclose(f);
    return -1;
  }
  buf = malloc((size_t)n + 1);
  if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    fclose(f);
    return -1;
  }
  fclose(f);
  (void)LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 0;
}

static long run_path(const char *path)
{
  struct stat st;
  DIR *d;
  struct dirent *e;
  long count = 0;

  if (stat(path, &st) != 0) {
    perror(path);
    return -1;
  }
  if (!S_ISDIR(st.st_mode))
    return run_file(path) == 0 ? 1 : -1;
  d = opendir(path);
  if (d == NULL) {
    perror(path);
    return -1;
  }
  while ((e = readdir(d)) != NULL) {
    char child[4096];
    long r;
    if (e->d_name[0] == '.')
      continue;
    snprintf(child, sizeof child, "%s/%s", path, e->d_name);
    r = run_path(child);
    if (r < 0) {
      closedir(d);
      return -1;
    }
    count += r;
  }
  closedir(d);
  return count;
}

int main(int argc, char **argv)
{
  long total = 0;
  for (int i = 1; i < argc; i++) {
    long r = run_path(argv[i]);
    if (r < 0)
      return 1;
    total += r;
  }
  if (total == 0) {
    fprintf(stderr, "replay: no corpus inputs found\n");
    return 1;
  }
  printf("replayed %ld inputs\n", total);
  return 0;
}
