/* test_clock.c - EBT v3 value encoding (checked against the table that
 * epidemic-broadcast-trees v3.js produces), the clock map, its JSON wire
 * form, and per-peer clocks in the store. */
#include <stdlib.h>
#include <string.h>

#include "tide/clock.h"
#include "tide/store.h"
#include "tide_test.h"

static void key(uint8_t k[32], unsigned i)
{
  memset(k, 0x11, 32);
  k[0] = (uint8_t)i;
  k[1] = (uint8_t)(i >> 8);
}

static void test_encoding(void)
{
  /* note(seq, rx) = seq << 1 | !rx ; values from running v3.js (7.0.0 and 9.0.4) */
  CU_ASSERT_EQUAL(tide_clock_value(0, 1), 0);
  CU_ASSERT_EQUAL(tide_clock_value(0, 0), 1);
  CU_ASSERT_EQUAL(tide_clock_value(3, 1), 6);
  CU_ASSERT_EQUAL(tide_clock_value(3, 0), 7);
  CU_ASSERT_EQUAL(tide_clock_value(-1, 1), -1);
  CU_ASSERT_EQUAL(tide_clock_value(-1, 0), -1);
  CU_ASSERT_EQUAL(tide_clock_value(TIDE_CLOCK_SEQ_MAX, 0), TIDE_CLOCK_VALUE_MAX);
  CU_ASSERT_EQUAL(tide_clock_value_seq(7), 3);
  CU_ASSERT_EQUAL(tide_clock_value_seq(6), 3);
  CU_ASSERT_EQUAL(tide_clock_value_seq(-1), -1);
  CU_ASSERT(tide_clock_value_rx(6));
  CU_ASSERT(!tide_clock_value_rx(7));
  CU_ASSERT(!tide_clock_value_rx(-1));
  CU_ASSERT(tide_clock_value_replicate(0));
  CU_ASSERT(!tide_clock_value_replicate(-1));
  CU_ASSERT_EQUAL(tide_clock_value_check(-1), 0);
  CU_ASSERT_EQUAL(tide_clock_value_check(0), 0);
  CU_ASSERT_EQUAL(tide_clock_value_check(TIDE_CLOCK_VALUE_MAX), 0);
  CU_ASSERT_EQUAL(tide_clock_value_check(-3), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_clock_value_check(TIDE_CLOCK_VALUE_MAX + 1), TIDE_E_INVAL);
}

static void test_map(void)
{
  tide_clock *c;
  uint8_t k[32];
  int64_t v;
  CU_ASSERT_FATAL(tide_clock_new(&c) == 0);
  for (unsigned i = 0; i < 5000; i++) {
    key(k, i);
    CU_ASSERT_FATAL(tide_clock_set(c, k, (int64_t)i * 2) == 0);
  }
  CU_ASSERT_EQUAL(tide_clock_count(c), 5000);
  key(k, 77);
  CU_ASSERT_EQUAL(tide_clock_set(c, k, 9), 0);
  CU_ASSERT_EQUAL(tide_clock_count(c), 5000);
  for (unsigned i = 0; i < 5000; i += 2) {
    key(k, i);
    CU_ASSERT_EQUAL(tide_clock_remove(c, k), 1);
    CU_ASSERT_EQUAL(tide_clock_remove(c, k), 0);
  }
  CU_ASSERT_EQUAL(tide_clock_count(c), 2500);
  int bad = 0;
  for (unsigned i = 0; i < 5000; i++) {
    key(k, i);
    int rc = tide_clock_get(c, &v, k);
    if (i % 2 == 0 && rc != TIDE_E_NOTFOUND)
      bad++;
    if (i % 2 == 1 && (rc != 0 || v != (i == 77 ? 9 : (int64_t)i * 2)))
      bad++;
  }
  CU_ASSERT_EQUAL(bad, 0);
  size_t it = 0, n = 0;
  while (tide_clock_next(c, &it, k, &v))
    n++;
  CU_ASSERT_EQUAL(n, 2500);
  tide_clock *d;
  CU_ASSERT_FATAL(tide_clock_new(&d) == 0);
  CU_ASSERT_EQUAL(tide_clock_copy(d, c), 0);
  CU_ASSERT_EQUAL(tide_clock_count(d), 2500);
  tide_clock_clear(c);
  CU_ASSERT_EQUAL(tide_clock_count(c), 0);
  CU_ASSERT_EQUAL(tide_clock_get(c, &v, k), TIDE_E_NOTFOUND);
  tide_clock_free(c);
  tide_clock_free(d);
  tide_clock_free(NULL);
}

static void test_json(void)
{
  tide_clock *c, *d;
  tide_buf b = TIDE_BUF_INIT;
  uint8_t k[32];
  int64_t v;
  char id[TIDE_FEED_ID_LEN + 1];
  CU_ASSERT_FATAL(tide_clock_new(&c) == 0 && tide_clock_new(&d) == 0);
  CU_ASSERT_EQUAL(tide_clock_json_write(&b, c), 0);
  CU_ASSERT_STRING_EQUAL(b.data, "{}");
  tide_buf_reset(&b);
  key(k, 1);
  CU_ASSERT_EQUAL(tide_clock_set(c, k, 6), 0);
  key(k, 2);
  CU_ASSERT_EQUAL(tide_clock_set(c, k, -1), 0);
  CU_ASSERT_EQUAL(tide_clock_json_write(&b, c), 0);
  tide_feed_id_format(id, k);
  CU_ASSERT(strstr(b.data, id) != NULL);
  CU_ASSERT_EQUAL(b.len, 2 + tide_clock_json_entry_bytes(6) + tide_clock_json_entry_bytes(-1) - 1);
  CU_ASSERT_EQUAL(tide_clock_json_read(d, b.data, b.len, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_count(d), 2);
  CU_ASSERT_EQUAL(tide_clock_get(d, &v, k), 0);
  CU_ASSERT_EQUAL(v, -1);
  /* {"clock": {...}} wrapper */
  tide_buf w = TIDE_BUF_INIT;
  CU_ASSERT_EQUAL(tide_buf_printf(&w, "{\"clock\":%s}", b.data), 0);
  tide_clock_clear(d);
  CU_ASSERT_EQUAL(tide_clock_json_read(d, w.data, w.len, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_count(d), 2);
  /* rejections */
  tide_error err;
  const char *bad[] = {"[]", "{\"@abc.ed25519\":2}", "3", "{", NULL};
  for (int i = 0; bad[i]; i++)
    CU_ASSERT(tide_clock_json_read(d, bad[i], strlen(bad[i]), &err) < 0);
  const char *badv[] = {"-3", "1.5", "\"6\"", "4294967296", "null", NULL};
  for (int i = 0; badv[i]; i++) {
    tide_buf_reset(&w);
    CU_ASSERT_EQUAL(tide_buf_printf(&w, "{\"%s\":%s}", id, badv[i]), 0);
    CU_ASSERT_EQUAL(tide_clock_json_read(d, w.data, w.len, &err), TIDE_E_INVAL);
  }
  tide_buf_free(&w);
  tide_buf_free(&b);
  tide_clock_free(c);
  tide_clock_free(d);
}

static void test_store(void)
{
  tide_store *s = NULL;
  tide_clock *c, *d;
  uint8_t peer[32], k[32];
  int64_t v;
  memset(peer, 0x77, 32);
  CU_ASSERT_FATAL(tide_store_open(&s, TIDE_STORE_MEMORY, 0, NULL) == 0);
  CU_ASSERT_FATAL(tide_clock_new(&c) == 0 && tide_clock_new(&d) == 0);
  CU_ASSERT_EQUAL(tide_clock_load(d, s, peer, TIDE_CLOCK_THEIRS, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_count(d), 0);
  for (unsigned i = 0; i < 100; i++) {
    key(k, i);
    CU_ASSERT_EQUAL(tide_clock_set(c, k, i), 0);
  }
  CU_ASSERT_EQUAL(tide_clock_save(s, peer, TIDE_CLOCK_THEIRS, c, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_load(d, s, peer, TIDE_CLOCK_THEIRS, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_count(d), 100);
  CU_ASSERT_EQUAL(tide_clock_load(d, s, peer, TIDE_CLOCK_OURS, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_count(d), 0);
  /* Saving replaces: a reset clock leaves no stale rows. */
  tide_clock_clear(c);
  key(k, 5);
  CU_ASSERT_EQUAL(tide_clock_set(c, k, 0), 0);
  CU_ASSERT_EQUAL(tide_clock_save(s, peer, TIDE_CLOCK_THEIRS, c, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_load(d, s, peer, TIDE_CLOCK_THEIRS, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_count(d), 1);
  CU_ASSERT_EQUAL(tide_clock_get(d, &v, k), 0);
  CU_ASSERT_EQUAL(v, 0);
  CU_ASSERT_EQUAL(tide_clock_save(s, peer, (tide_clock_dir)7, c, NULL), TIDE_E_INVAL);
  CU_ASSERT_EQUAL(tide_clock_forget(s, peer, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_load(d, s, peer, TIDE_CLOCK_THEIRS, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_count(d), 0);
  CU_ASSERT_EQUAL(tide_clock_from_store(d, s, NULL), 0);
  CU_ASSERT_EQUAL(tide_clock_count(d), 0);
  tide_clock_free(c);
  tide_clock_free(d);
  tide_store_close(s);
}

static CU_TestInfo clock_tests[] = {{"EBT v3 value encoding", test_encoding},
                                    {"map operations", test_map},
                                    {"JSON note form", test_json},
                                    {"per-peer clocks in the store", test_store},
                                    CU_TEST_INFO_NULL};

CU_SuiteInfo tide_test_suites[] = {TIDE_SUITE("clock", clock_tests), CU_SUITE_INFO_NULL};
