/* test_graph.c - follow graph: hops, explicit follows, blocks, incremental
 * changes, and reading contact messages from a real store. */
#include <stdlib.h>
#include <string.h>

#include "tide/graph.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/msg.h"
#include "tide/store.h"
#include "tide_test.h"

static void key(uint8_t k[32], int i)
{
  memset(k, 0, 32);
  k[0] = (uint8_t)i;
  k[31] = 0x5a;
}

static void test_hops(void)
{
  uint8_t k[8][32];
  tide_graph *g;
  for (int i = 0; i < 8; i++)
    key(k[i], i);
  CU_ASSERT_FATAL(tide_graph_new(&g, k[0], TIDE_GRAPH_DEFAULT_HOPS) == 0);
  /* 0 -> 1 -> 2 -> 3 ; 0 -> 4 */
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[1], 1, -1), 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[1], k[2], 1, -1), 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[2], k[3], 1, -1), 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[4], 1, -1), 0);
  CU_ASSERT_EQUAL(tide_graph_hops(g, k[0]), 0);
  CU_ASSERT_EQUAL(tide_graph_hops(g, k[1]), 1);
  CU_ASSERT_EQUAL(tide_graph_hops(g, k[2]), 2);
  CU_ASSERT_EQUAL(tide_graph_hops(g, k[3]), -1);
  CU_ASSERT(!tide_graph_replicates(g, k[3]));
  CU_ASSERT_EQUAL(tide_graph_count(g), 4);
  CU_ASSERT_EQUAL(tide_graph_set_hops(g, 3), 0);
  CU_ASSERT(tide_graph_replicates(g, k[3]));
  CU_ASSERT_EQUAL(tide_graph_set_hops(g, 1), 0);
  CU_ASSERT(!tide_graph_replicates(g, k[2]));
  /* Explicit follow counts as hop 1. */
  CU_ASSERT_EQUAL(tide_graph_follow(g, k[5], 1), 0);
  CU_ASSERT_EQUAL(tide_graph_hops(g, k[5]), 1);
  /* Unfollow by a later message. */
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[4], 0, -1), 0);
  CU_ASSERT(!tide_graph_replicates(g, k[4]));
  tide_graph_free(g);
}

static void test_blocks(void)
{
  uint8_t k[6][32];
  tide_graph *g;
  for (int i = 0; i < 6; i++)
    key(k[i], i);
  CU_ASSERT_FATAL(tide_graph_new(&g, k[0], 2) == 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[1], 1, -1), 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[1], k[2], 1, -1), 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[3], 1, -1), 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[3], k[4], 1, -1), 0);
  CU_ASSERT(tide_graph_replicates(g, k[2]));
  /* self blocks 2: even though 1 follows it */
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[2], -1, 1), 0);
  CU_ASSERT(!tide_graph_replicates(g, k[2]));
  /* a block ends our follow of 3, and 4 is reached only through 3 */
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[3], -1, 1), 0);
  CU_ASSERT(!tide_graph_replicates(g, k[3]));
  CU_ASSERT(!tide_graph_replicates(g, k[4]));
  /* explicit block wins over explicit follow */
  CU_ASSERT_EQUAL(tide_graph_follow(g, k[5], 1), 0);
  CU_ASSERT(tide_graph_replicates(g, k[5]));
  CU_ASSERT_EQUAL(tide_graph_block(g, k[5], 1), 0);
  CU_ASSERT(!tide_graph_replicates(g, k[5]));
  /* unblock: 2 is back (1 still follows it) */
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[2], -1, 0), 0);
  CU_ASSERT(tide_graph_replicates(g, k[2]));
  tide_graph_free(g);
}

struct seen {
  int n;
  uint8_t feed[16][32];
  int rep[16];
};

static int collect(void *ctx, const uint8_t feed[32], int replicate)
{
  struct seen *s = ctx;
  if (s->n < 16) {
    memcpy(s->feed[s->n], feed, 32);
    s->rep[s->n] = replicate;
  }
  s->n++;
  return 0;
}

static void test_changes(void)
{
  uint8_t k[4][32];
  tide_graph *g;
  struct seen s;
  for (int i = 0; i < 4; i++)
    key(k[i], i);
  CU_ASSERT_FATAL(tide_graph_new(&g, k[0], 2) == 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[1], 1, -1), 0);
  memset(&s, 0, sizeof s);
  CU_ASSERT_EQUAL(tide_graph_changes(g, collect, &s), 0);
  CU_ASSERT_EQUAL(s.n, 2); /* self and 1 */
  memset(&s, 0, sizeof s);
  CU_ASSERT_EQUAL(tide_graph_changes(g, collect, &s), 0);
  CU_ASSERT_EQUAL(s.n, 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[1], k[2], 1, -1), 0);
  CU_ASSERT_EQUAL(tide_graph_contact(g, k[0], k[1], 0, -1), 0); /* and unfollow 1 */
  memset(&s, 0, sizeof s);
  CU_ASSERT_EQUAL(tide_graph_changes(g, collect, &s), 0);
  CU_ASSERT_EQUAL(s.n, 1); /* 1 left; 2 never joined */
  CU_ASSERT(memcmp(s.feed[0], k[1], 32) == 0 && s.rep[0] == 0);
  tide_graph_free(g);
}

/* Contact messages appended to a real store drive the graph. */
static void publish_contact(tide_store *st, const tide_keypair *kp, tide_feed_state *prev,
                            int has_prev, const uint8_t contact[32], int following)
{
  tide_json_doc *doc = tide_json_doc_new();
  tide_json *c = tide_json_new_object(doc);
  char id[TIDE_FEED_ID_LEN + 1];
  tide_feed_id_format(id, contact);
  CU_ASSERT_FATAL(
      tide_json_object_set(doc, c, "type", 4, tide_json_new_string(doc, "contact", 7)) == 0);
  CU_ASSERT_FATAL(
      tide_json_object_set(doc, c, "contact", 7, tide_json_new_string(doc, id, strlen(id))) == 0);
  CU_ASSERT_FATAL(
      tide_json_object_set(doc, c, "following", 9, tide_json_new_bool(doc, following)) == 0);
  tide_msg *m = NULL;
  tide_error err;
  CU_ASSERT_FATAL(tide_msg_create(&m, kp, has_prev ? prev : NULL, 1.7e12, c, NULL, &err) == 0);
  CU_ASSERT_FATAL(tide_store_append(st, m, 0, &err) == 0);
  memcpy(prev->id, tide_msg_id(m), TIDE_HASH_BYTES);
  prev->sequence = tide_msg_sequence(m);
  tide_msg_free(m);
  tide_json_doc_free(doc);
}

static void test_store_sync(void)
{
  tide_keypair a, b;
  uint8_t seed[32], c[32];
  tide_store *st = NULL;
  tide_graph *g = NULL;
  tide_feed_state pa, pb;
  memset(seed, 1, 32);
  CU_ASSERT_FATAL(tide_keys_from_seed(&a, seed) == 0);
  memset(seed, 2, 32);
  CU_ASSERT_FATAL(tide_keys_from_seed(&b, seed) == 0);
  key(c, 9);
  CU_ASSERT_FATAL(tide_store_open(&st, TIDE_STORE_MEMORY, 0, NULL) == 0);
  CU_ASSERT_FATAL(tide_graph_new(&g, a.pk, 2) == 0);
  publish_contact(st, &a, &pa, 0, b.pk, 1);
  CU_ASSERT_EQUAL(tide_graph_sync(g, st, NULL), 0);
  CU_ASSERT(tide_graph_replicates(g, b.pk));
  CU_ASSERT(!tide_graph_replicates(g, c));
  publish_contact(st, &b, &pb, 0, c, 1);
  CU_ASSERT_EQUAL(tide_graph_sync(g, st, NULL), 0);
  CU_ASSERT_EQUAL(tide_graph_hops(g, c), 2);
  publish_contact(st, &a, &pa, 1, b.pk, 0); /* later message overrides */
  CU_ASSERT_EQUAL(tide_graph_sync(g, st, NULL), 0);
  CU_ASSERT(!tide_graph_replicates(g, b.pk));
  CU_ASSERT(!tide_graph_replicates(g, c));
  tide_graph_free(g);
  tide_store_close(st);
}

static CU_TestInfo graph_tests[] = {{"hops and explicit follows", test_hops},
                                    {"blocks", test_blocks},
                                    {"incremental changes", test_changes},
                                    {"contacts from the store", test_store_sync},
                                    CU_TEST_INFO_NULL};

CU_SuiteInfo tide_test_suites[] = {TIDE_SUITE("graph", graph_tests), CU_SUITE_INFO_NULL};
