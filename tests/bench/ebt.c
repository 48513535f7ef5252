/* bench/ebt.c - EBT against flooding in the network simulator.
 *
 * 100 nodes, a random graph with k = 2..10 links per node, 1,000 real
 * signed messages from random authors published over 100 simulated
 * seconds (one-way latency 50 ms, 2% frame loss repaired by ARQ, 8 Mbit/s
 * links).  For each k, the same seed runs flooding (the reference) and
 * EBT.  Prints `name value unit` lines:
 *   flood_copies_k<k> / ebt_copies_k<k>  full-message copies received per
 *                                        node per message (ideal 1.0)
 *   ebt_note_share_k<k>                  NOTE bytes / message bytes: the
 *                                        binary NOTE frames sent after a
 *                                        session opened
 *   ebt_clock_share_k<k>                 CLOCK bytes / message bytes: the
 *                                        clocks that open each session
 *                                        (first contact: the full clock,
 *                                        each feed named by the 8-byte
 *                                        short key, docs/frames.md)
 *   ebt_clock_share_full_keys_k<k>       the same clocks with 32-byte keys
 *                                        (the reference: what they cost
 *                                        without short keys)
 *   ebt_unresolved_k<k>                  clock/note entries receivers
 *                                        dropped (short keys of feeds they
 *                                        do not know; 0 here: every node
 *                                        follows every feed)
 *   ebt_stream_errors_k<k>               messages of a feed left unresolved
 *                                        (would fail the stream; must be 0)
 *   ebt_control_share_k<k>               both together
 *   ebt_control_share_json_k<k>          both, encoded as EBT JSON notes
 *   flood_rounds_k<k> / ebt_rounds_k<k>  worst dissemination delay of a
 *                                        message, in one-way latencies
 *   *_mean_rounds_k<k>                   mean delay of a message to a node
 *   ebt_delivery_k<k>                    delivered share (1 = all)
 *   ebt_note_share, ebt_clock_share,     the largest value of each over k
 *   ebt_control_share,
 *   ebt_clock_share_full_keys
 *   ebt_delivery_churn                   delivery with 10% of nodes dying
 *                                        mid-run (k = 5)
 *   ebt_copies_churn                     copies per live node per message
 *   ebt_lost_churn                       messages that died with their
 *                                        author before leaving it
 * The 19 runs are shared by two threads; each run is deterministic.
 * Message bytes are canonical JSON texts (docs/replication.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim.h"
#include "tide/common.h"

#define NODES      100
#define MSGS       1000
#define LAT        50
#define PATIENCE   (4 * LAT) /* EBT patience before switching sources */
#define NOTE_DELAY (2 * LAT) /* lazy notes are batched this long */

static tide_sim_config config(int mode, uint64_t seed)
{
  tide_sim_config c;
  memset(&c, 0, sizeof c);
  c.seed = seed;
  c.nodes = NODES;
  c.mode = mode;
  c.latency_ms = LAT;
  c.loss = 0.02;
  c.bytes_per_ms = 1000;
  c.text_bytes = 200;
  c.patience_ms = PATIENCE;
  c.note_delay_ms = NOTE_DELAY;
  return c;
}

static int run(int mode, int k, int churn, tide_sim_stats *st, double *delivery, int *alive,
               uint64_t *lost)
{
  tide_sim *s = NULL;
  tide_sim_config c = config(mode, 1000 + (uint64_t)k);
  int rc = tide_sim_new(&s, &c);
  if (rc)
    return rc;
  rc = tide_sim_topo_random(s, k, 0);
  if (!rc)
    rc = tide_sim_publish_random(s, MSGS, 1000, 101000);
  for (int i = 0; churn && !rc && i < NODES / 10; i++)
    rc = tide_sim_kill(s, 3 + 10 * i, 51000);
  if (!rc)
    rc = tide_sim_run(s, 10 * 60 * 1000);
  if (!rc) {
    tide_sim_get_stats(s, st);
    *delivery = tide_sim_delivery(s);
    *alive = tide_sim_alive(s);
    *lost = tide_sim_lost(s);
    if (mode == TIDE_SIM_EBT && !tide_sim_converged(s))
      fprintf(stderr, "k=%d: not converged\n", k);
  }
  tide_sim_free(s);
  return rc;
}

/* One simulation; the runs are independent, so two threads share them
 * (the simulator has no global state).  Results print in a fixed order. */
typedef struct job {
  int mode, k, churn, rc, alive;
  tide_sim_stats st;
  double delivery;
  uint64_t lost;
} job;

typedef struct pool {
  job *jobs;
  int njobs, next;
  pthread_mutex_t mu;
} pool;

static void *worker(void *arg)
{
  pool *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    int i = p->next < p->njobs ? p->next++ : -1;
    pthread_mutex_unlock(&p->mu);
    if (i < 0)
      return NULL;
    job *j = &p->jobs[i];
    j->rc = run(j->mode, j->k, j->churn, &j->st, &j->delivery, &j->alive, &j->lost);
  }
}

int main(int argc, char **argv)
{
  int kmin = argc > 2 ? atoi(argv[1]) : 2, kmax = argc > 2 ? atoi(argv[2]) : 10;
  if (tide_init() != 0)
    return 1;
  if (kmin < 2 || kmax < kmin)
    return 2;
  job jobs[2 * 16 + 1];
  int nk = kmax - kmin + 1;
  if (nk > 16)
    return 2;
  memset(jobs, 0, sizeof jobs);
  /* The churn run first: it is the longest. */
  jobs[0] = (job){TIDE_SIM_EBT, 5, 1, 0, 0, {0}, 0, 0};
  for (int k = kmin; k <= kmax; k++) {
    jobs[1 + 2 * (k - kmin)] = (job){TIDE_SIM_FLOOD, k, 0, 0, 0, {0}, 0, 0};
    jobs[2 + 2 * (k - kmin)] = (job){TIDE_SIM_EBT, k, 0, 0, 0, {0}, 0, 0};
  }
  pool p = {jobs, 1 + 2 * nk, 0, PTHREAD_MUTEX_INITIALIZER};
  pthread_t th[2];
  for (int t = 0; t < 2; t++)
    if (pthread_create(&th[t], NULL, worker, &p) != 0)
      return 1;
  for (int t = 0; t < 2; t++)
    pthread_join(th[t], NULL);
  for (int i = 0; i < p.njobs; i++)
    if (jobs[i].rc) {
      fprintf(stderr, "run %d: %s\n", i, tide_strerror(jobs[i].rc));
      return 1;
    }
  /* Control traffic is split the way the frame vocabulary splits it:
   * CLOCK frames that open a session (a first contact sends the full clock)
   * and NOTE frames after that (lazy announcements, mode switches).  Both
   * are printed; ebt_note_share is the NOTE part, ebt_control_share all. */
  double worst_note = 0, worst_clock = 0, worst_control = 0, worst_full = 0;
  for (int k = kmin; k <= kmax; k++) {
    const job *fj = &jobs[1 + 2 * (k - kmin)], *ej = &jobs[2 + 2 * (k - kmin)];
    const tide_sim_stats *f = &fj->st, *e = &ej->st;
    double per = (double)f->published * (NODES - 1);
    double control = (double)e->note_bytes_bin / (double)e->msg_bytes;
    double clock = (double)e->first_note_bytes_bin / (double)e->msg_bytes;
    double note = control - clock;
    double full = (double)e->first_note_bytes_bin_full / (double)e->msg_bytes;
    if (full > worst_full)
      worst_full = full;
    if (note > worst_note)
      worst_note = note;
    if (clock > worst_clock)
      worst_clock = clock;
    if (control > worst_control)
      worst_control = control;
    printf("flood_copies_k%d %.3f copies/node/msg\n", k, (double)f->msg_frames / per);
    printf("ebt_copies_k%d %.3f copies/node/msg\n", k, (double)e->msg_frames / per);
    printf("ebt_note_share_k%d %.4f ratio\n", k, note);
    printf("ebt_clock_share_k%d %.4f ratio\n", k, clock);
    printf("ebt_control_share_k%d %.4f ratio\n", k, control);
    printf("ebt_clock_share_full_keys_k%d %.4f ratio\n", k, full);
    printf("ebt_unresolved_k%d %llu entries\n", k, (unsigned long long)e->unresolved_entries);
    printf("ebt_stream_errors_k%d %llu messages\n", k, (unsigned long long)e->stream_errors);
    printf("ebt_control_share_json_k%d %.4f ratio\n", k,
           (double)e->note_bytes_json / (double)e->msg_bytes);
    printf("flood_rounds_k%d %.1f latencies\n", k, (double)f->max_delay_ms / LAT);
    printf("ebt_rounds_k%d %.1f latencies\n", k, (double)e->max_delay_ms / LAT);
    printf("flood_mean_rounds_k%d %.1f latencies\n", k,
           (double)f->delay_sum_ms / (double)f->delay_n / LAT);
    printf("ebt_mean_rounds_k%d %.1f latencies\n", k,
           (double)e->delay_sum_ms / (double)e->delay_n / LAT);
    printf("flood_delivery_k%d %.4f ratio\n", k, fj->delivery);
    printf("ebt_delivery_k%d %.4f ratio\n", k, ej->delivery);
  }
  printf("ebt_note_share %.4f ratio\n", worst_note);
  printf("ebt_clock_share %.4f ratio\n", worst_clock);
  printf("ebt_control_share %.4f ratio\n", worst_control);
  printf("ebt_clock_share_full_keys %.4f ratio\n", worst_full);
  const job *c = &jobs[0];
  printf("ebt_delivery_churn %.4f ratio\n", c->delivery);
  printf("ebt_copies_churn %.3f copies/node/msg\n",
         (double)c->st.msg_frames / ((double)c->st.published * (c->alive - 1)));
  printf("ebt_lost_churn %llu messages\n", (unsigned long long)c->lost);
  return 0;
}
