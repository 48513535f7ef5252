/* test_sim.c - the EBT engine in the network simulator: every topology
 * converges to identical clocks (engine and store), no message is ever
 * offered to a store twice, and the reference's bugs are handled:
 * wiped peers are refilled, holes do not stall.  Seeds are fixed; runs
 * are short. */
#include <stdio.h>
#include <string.h>

#include "sim.h"
#include "tide_test.h"

static tide_sim_config base(uint64_t seed, int nodes)
{
  tide_sim_config c;
  memset(&c, 0, sizeof c);
  c.seed = seed;
  c.nodes = nodes;
  c.mode = TIDE_SIM_EBT;
  c.latency_ms = 50;
  c.loss = 0.02;
  c.bytes_per_ms = 1000; /* 8 Mbit/s */
  c.text_bytes = 120;
  return c;
}

/* Runs, checks convergence and no double delivery; returns the stats. */
static tide_sim_stats finish(tide_sim *s, const char *what)
{
  tide_sim_stats st;
  CU_ASSERT_EQUAL(tide_sim_run(s, 600000), 0);
  tide_sim_get_stats(s, &st);
  int conv = tide_sim_converged(s);
  double d = tide_sim_delivery(s);
  if (!conv || d < 1.0)
    fprintf(stderr, "%s: converged=%d delivery=%.4f\n", what, conv, d);
  CU_ASSERT(conv);
  CU_ASSERT(tide_sim_check_stores(s));
  CU_ASSERT(d == 1.0);
  CU_ASSERT_EQUAL(st.store_dups, 0);
  CU_ASSERT_EQUAL(st.invalid, 0);
  CU_ASSERT_EQUAL(st.stream_errors, 0);
  CU_ASSERT(st.published > 0);
  return st;
}

static void test_random(void)
{
  tide_sim *s = NULL;
  tide_sim_config c = base(1, 24);
  CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
  CU_ASSERT_EQUAL(tide_sim_topo_random(s, 3, 0), 0);
  CU_ASSERT_EQUAL(tide_sim_publish_random(s, 100, 100, 5000), 0);
  tide_sim_stats e = finish(s, "random");
  tide_sim_free(s);
  /* Same seed, flooding: EBT receives fewer full copies. */
  c.mode = TIDE_SIM_FLOOD;
  CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
  CU_ASSERT_EQUAL(tide_sim_topo_random(s, 3, 0), 0);
  CU_ASSERT_EQUAL(tide_sim_publish_random(s, 100, 100, 5000), 0);
  tide_sim_stats f = finish(s, "random flood");
  CU_ASSERT(e.msg_frames < f.msg_frames);
  tide_sim_free(s);
}

static void test_line(void)
{
  tide_sim *s = NULL;
  tide_sim_config c = base(2, 12);
  CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
  CU_ASSERT_EQUAL(tide_sim_topo_line(s, 0), 0);
  CU_ASSERT_EQUAL(tide_sim_publish_random(s, 60, 100, 3000), 0);
  tide_sim_stats st = finish(s, "line");
  /* On a tree every message reaches every node exactly once. */
  CU_ASSERT_EQUAL(st.msg_frames, st.published * 11);
  tide_sim_free(s);
}

static void test_star(void)
{
  tide_sim *s = NULL;
  tide_sim_config c = base(3, 12);
  CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
  CU_ASSERT_EQUAL(tide_sim_topo_star(s, 0), 0);
  CU_ASSERT_EQUAL(tide_sim_publish_random(s, 60, 100, 3000), 0);
  tide_sim_stats st = finish(s, "star");
  CU_ASSERT_EQUAL(st.msg_frames, st.published * 11);
  tide_sim_free(s);
}

static void test_clusters(void)
{
  tide_sim *s = NULL;
  tide_sim_config c = base(4, 24);
  CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
  CU_ASSERT_EQUAL(tide_sim_topo_clusters(s, 3, 3, 2, 0), 0);
  CU_ASSERT_EQUAL(tide_sim_publish_random(s, 80, 100, 4000), 0);
  finish(s, "clusters");
  tide_sim_free(s);
}

static void test_partition_heals(void)
{
  tide_sim *s = NULL;
  tide_sim_config c = base(5, 24);
  CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
  CU_ASSERT_EQUAL(tide_sim_topo_random(s, 3, 0), 0);
  CU_ASSERT_EQUAL(tide_sim_partition(s, 12, 2000, 20000), 0);
  CU_ASSERT_EQUAL(tide_sim_publish_random(s, 100, 100, 15000), 0);
  CU_ASSERT_EQUAL(tide_sim_run(s, 19000), 0);
  CU_ASSERT(!tide_sim_converged(s)); /* the halves diverged */
  finish(s, "partition");
  tide_sim_free(s);
}

static void test_churn(void)
{
  tide_sim *s = NULL;
  tide_sim_config c = base(6, 30);
  CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
  CU_ASSERT_EQUAL(tide_sim_topo_random(s, 4, 0), 0);
  CU_ASSERT_EQUAL(tide_sim_publish_random(s, 100, 100, 8000), 0);
  for (int i = 0; i < 3; i++)
    CU_ASSERT_EQUAL(tide_sim_kill(s, 5 + 7 * i, 4000), 0);
  CU_ASSERT_EQUAL(tide_sim_join(s, 29, 3, 5000), 0);
  finish(s, "churn");
  CU_ASSERT_EQUAL(tide_sim_alive(s), 27);
  tide_sim_free(s);
}

static void test_wiped_peer(void)
{
  tide_sim *s = NULL;
  tide_sim_config c = base(7, 10);
  CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
  CU_ASSERT_EQUAL(tide_sim_topo_random(s, 3, 0), 0);
  for (int i = 0; i < 10; i++)
    if (i != 4)
      CU_ASSERT_EQUAL(tide_sim_publish(s, i, 100 + 10 * i), 0);
  CU_ASSERT_EQUAL(tide_sim_publish_random(s, 0, 0, 1), 0);
  CU_ASSERT_EQUAL(tide_sim_run(s, 5000), 0);
  CU_ASSERT(tide_sim_converged(s));
  /* Node 4 loses its store; its peers stored clocks that say it is up to
   * date, so without the reset they would skip every feed. */
  CU_ASSERT_EQUAL(tide_sim_wipe(s, 4, 6000), 0);
  finish(s, "wipe");
  uint64_t resets = 0;
  for (int i = 0; i < 10; i++) {
    tide_ebt_stats es;
    tide_sim_node_ebt_stats(s, i, &es);
    resets += es.resets;
  }
  CU_ASSERT(resets > 0);
  tide_sim_free(s);
}

static void test_holes(void)
{
  tide_sim *s = NULL;
  tide_sim_config c = base(8, 16);
  c.msg_drop = 0.05;
  CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
  CU_ASSERT_EQUAL(tide_sim_topo_random(s, 3, 0), 0);
  CU_ASSERT_EQUAL(tide_sim_publish_random(s, 80, 100, 4000), 0);
  tide_sim_stats st = finish(s, "holes");
  CU_ASSERT(st.gaps > 0);
  tide_sim_free(s);
}

static void test_deterministic(void)
{
  tide_sim_stats a[2];
  for (int r = 0; r < 2; r++) {
    tide_sim *s = NULL;
    tide_sim_config c = base(9, 12);
    CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
    CU_ASSERT_EQUAL(tide_sim_topo_random(s, 3, 0), 0);
    CU_ASSERT_EQUAL(tide_sim_publish_random(s, 40, 100, 2000), 0);
    CU_ASSERT_EQUAL(tide_sim_run(s, 600000), 0);
    tide_sim_get_stats(s, &a[r]);
    tide_sim_free(s);
  }
  CU_ASSERT(memcmp(&a[0], &a[1], sizeof a[0]) == 0);
}

/* Sessions open with short-key clocks (the real codec, both ends):
 * where every node knows every feed, nothing is dropped and the run is
 * the same as with full keys, only the opening clocks are smaller; the
 * full-key reference the simulator reports is the real full-key size. */
static void test_short_keys(void)
{
  tide_sim_stats st[2];
  for (int full = 0; full < 2; full++) {
    tide_sim *s = NULL;
    tide_sim_config c = base(11, 16);
    c.full_keys = full;
    c.note_delay_ms = 100;
    CU_ASSERT_FATAL(tide_sim_new(&s, &c) == 0);
    CU_ASSERT_EQUAL(tide_sim_topo_random(s, 4, 0), 0);
    CU_ASSERT_EQUAL(tide_sim_partition(s, 8, 3000, 4000), 0); /* reconnects too */
    CU_ASSERT_EQUAL(tide_sim_publish_random(s, 80, 100, 6000), 0);
    st[full] = finish(s, full ? "full keys" : "short keys");
    tide_sim_free(s);
  }
  CU_ASSERT_EQUAL(st[0].unresolved_entries, 0);
  CU_ASSERT_EQUAL(st[1].unresolved_entries, 0);
  CU_ASSERT_EQUAL(st[0].msg_frames, st[1].msg_frames);
  CU_ASSERT_EQUAL(st[0].note_entries, st[1].note_entries);
  CU_ASSERT_EQUAL(st[0].first_note_bytes_bin_full, st[1].first_note_bytes_bin);
  CU_ASSERT_EQUAL(st[1].first_note_bytes_bin_full, st[1].first_note_bytes_bin);
  /* 16 feeds, ~4 links per node, both directions: 24 bytes saved per
   * feed named, less one kind byte per clock */
  CU_ASSERT(st[0].first_note_bytes_bin + 16 * 24 * 4 * 16 / 2 < st[1].first_note_bytes_bin);
  CU_ASSERT_EQUAL(st[1].note_bytes_bin - st[1].first_note_bytes_bin,
                  st[0].note_bytes_bin - st[0].first_note_bytes_bin);
}

static CU_TestInfo sim_tests[] = {{"random graph k=3 (and flooding)", test_random},
                                  {"line", test_line},
                                  {"star", test_star},
                                  {"clusters joined by few links", test_clusters},
                                  {"partition heals", test_partition_heals},
                                  {"10% die, one joins", test_churn},
                                  {"wiped peer is refilled", test_wiped_peer},
                                  {"holes do not stall", test_holes},
                                  {"same seed, same run", test_deterministic},
                                  {"short-key opening clocks", test_short_keys},
                                  CU_TEST_INFO_NULL};

CU_SuiteInfo tide_test_suites[] = {TIDE_SUITE("sim", sim_tests), CU_SUITE_INFO_NULL};
