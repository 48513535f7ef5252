/* radio.c - radio transport benchmark.
 *
 * For every profile and loss rate (0, 5, 10, 20 %), one side sends N
 * signed messages of one feed to the other: binary MESSAGES frames
 * (tide/frame.h), one zstd stream with the bundle dictionary
 * (tide/radio.h), the selective-repeat link (tide/link.h), over the link
 * model (tests/tools/linksim/linkmodel.h) in virtual time.  The reference,
 * measured in the same run over the same model with the same seed, is the
 * same messages as plain JSON lines written straight onto the line
 * (messages hit by loss or bit errors are simply lost).  Then one run per
 * profile over real pseudo-terminals (build/tools/linksim, real time,
 * libserialport) shows that the model's figure holds.
 *
 * Output, one `name value unit` per line:
 *   goodput_<profile>_loss<p>          link stream bytes delivered per line byte-time
 *   msgs_per_min_<profile>_loss<p>     messages delivered intact per minute
 *   msgs_per_min_json_<profile>_loss<p>
 *   msgs_per_min_vs_json_<profile>_loss<p>
 *   goodput_pty_<profile>_loss0 / goodput_model_<profile>_loss0_same_n */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "linkmodel.h"
#include "tide/bundle.h"
#include "tide/frame.h"
#include "tide/json.h"
#include "tide/keys.h"
#include "tide/link.h"
#include "tide/msg.h"
#include "tide/radio.h"
#include "tide/serial.h"
#include "vlink.h"

#define BATCH 6

static const char *words[] = {
    "wind",     "backing", "south",    "west",    "force", "four",    "five",       "sea",
    "state",    "slight",  "moderate", "rain",    "later", "good",    "visibility", "anchored",
    "in",       "the",     "bay",      "north",   "of",    "island",  "fuel",       "water",
    "crew",     "all",     "well",     "heading", "to",    "harbour", "tomorrow",   "morning",
    "position", "nm",      "knots",    "swell"};

static tide_msg **make_msgs(size_t n, uint64_t seed)
{
  tide_msg **m = calloc(n, sizeof *m);
  tide_keypair kp;
  uint8_t sd[TIDE_SEED_BYTES];
  tide_feed_state st, *prev = NULL;

  memset(sd, (int)(seed & 0xff), sizeof sd);
  if (m == NULL || tide_keys_from_seed(&kp, sd) != 0)
    exit(1);
  for (size_t i = 0; i < n; i++) {
    tide_json_doc *doc = tide_json_doc_new();
    tide_json *c = tide_json_new_object(doc);
    char text[400];
    size_t len = 0;
    int nw = 8 + (int)((seed >> 7) % 20);
    tide_error err;
    for (int w = 0; w < nw && len + 20 < sizeof text; w++) {
      seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
      len += (size_t)snprintf(text + len, sizeof text - len, "%s%s", w ? " " : "",
                              words[(seed >> 33) % (sizeof words / sizeof *words)]);
    }
    if (tide_json_object_set(doc, c, "type", 4, tide_json_new_string(doc, "post", 4)) != 0 ||
        tide_json_object_set(doc, c, "text", 4, tide_json_new_string(doc, text, len)) != 0 ||
        tide_msg_create(&m[i], &kp, prev, 1700000000000.0 + (double)i * 61000, c, NULL, &err) !=
            0) {
      fprintf(stderr, "radio: cannot create message: %s\n", err.msg);
      exit(1);
    }
    tide_json_doc_free(doc);
    memcpy(st.id, tide_msg_id(m[i]), TIDE_HASH_BYTES);
    st.sequence = (int64_t)i + 1;
    prev = &st;
  }
  tide_keys_wipe(&kp);
  return m;
}

/* ---- the tide path: frames -> zstd stream -> link ---- */

typedef struct xfer {
  tide_msg **msgs;
  size_t n, queued_n, got, bad;
  tide_frame_codec *enc, *dec;
  tide_radio_tx *tx;
  tide_radio_rx *rx;
  int failed;
} xfer;

static int xfer_init(xfer *x, tide_msg **msgs, size_t n)
{
  size_t dlen = 0;
  uint32_t did;
  const uint8_t *dict = tide_bundle_dict(&dlen, &did);
  memset(x, 0, sizeof *x);
  x->msgs = msgs;
  x->n = n;
  x->enc = tide_frame_codec_new();
  x->dec = tide_frame_codec_new();
  if (x->enc == NULL || x->dec == NULL || tide_radio_tx_new(&x->tx, dict, dlen, 0) != 0 ||
      tide_radio_rx_new(&x->rx, dict, dlen) != 0)
    return -1;
  return 0;
}

static void xfer_free(xfer *x)
{
  tide_frame_codec_free(x->enc);
  tide_frame_codec_free(x->dec);
  tide_radio_tx_free(x->tx);
  tide_radio_rx_free(x->rx);
}

static int xfer_side(xfer *x, int side, tide_link *l)
{
  tide_error err;
  int rc;
  if (side == 0) {
    /* keep a few frames queued; the link takes them as it has room */
    while (x->queued_n < x->n && tide_radio_tx_queued(x->tx, TIDE_RADIO_PRIO_BULK) < 4096) {
      tide_buf b = TIDE_BUF_INIT;
      size_t k = x->n - x->queued_n < BATCH ? x->n - x->queued_n : BATCH;
      rc = tide_frame_encode_messages(x->enc, &b, x->msgs + x->queued_n, k, &err);
      if (rc == 0)
        rc = tide_radio_tx_queue(x->tx, TIDE_RADIO_PRIO_BULK, (const uint8_t *)b.data, b.len);
      tide_buf_free(&b);
      if (rc != 0)
        return rc;
      x->queued_n += k;
    }
    return tide_radio_tx_pump(x->tx, l, &err);
  }
  rc = tide_radio_rx_pump(x->rx, l, &err);
  if (rc != 0)
    return rc;
  for (;;) {
    size_t len, used;
    const uint8_t *d = tide_radio_rx_data(x->rx, &len);
    tide_frame f;
    tide_frame_init(&f);
    rc = tide_frame_decode(x->dec, &f, d, len, &used, &err);
    if (rc == TIDE_E_AGAIN || len == 0)
      return 0;
    if (rc != 0) {
      fprintf(stderr, "radio: decode: %s\n", err.msg);
      return rc;
    }
    for (size_t i = 0; i < f.n_msgs; i++) {
      if (x->got < x->n &&
          memcmp(tide_msg_id(f.msgs[i]), tide_msg_id(x->msgs[x->got]), TIDE_HASH_BYTES) == 0)
        x->got++;
      else
        x->bad++;
    }
    tide_frame_clear(&f);
    tide_radio_rx_consume(x->rx, used);
  }
}

static int v_pump(void *ctx, int side, tide_link *l, uint64_t now)
{
  (void)now;
  return xfer_side(ctx, side, l);
}

static int v_done(void *ctx)
{
  xfer *x = ctx;
  return x->got == x->n || x->bad > 0;
}

static linkmodel_params model_of(const tide_link_profile *p, double loss, uint64_t seed)
{
  linkmodel_params mp;
  memset(&mp, 0, sizeof mp);
  mp.baud = p->baud;
  mp.packet_bytes = p->packet_bytes;
  mp.latency_us = (uint64_t)p->latency_ms * 1000u;
  mp.loss = loss;
  mp.half_duplex = p->half_duplex;
  mp.seed = seed;
  return mp;
}

/* Virtual-time run: elapsed ms and link stream bytes delivered. */
static int run_virtual(const tide_link_profile *p, double loss, tide_msg **msgs, size_t n,
                       uint64_t *ms, uint64_t *stream_bytes)
{
  linkmodel_params mp = model_of(p, loss, 42);
  vlink *v = vlink_new(p, p, &mp, 42);
  xfer x;
  int rc, side;
  tide_link_stats st;

  if (v == NULL || xfer_init(&x, msgs, n) != 0)
    return -1;
  rc = vlink_run(v, v_pump, v_done, &x, 48ull * 3600 * 1000, &side);
  if (rc == 0 && x.got != x.n)
    rc = -1;
  tide_link_get_stats(vlink_link(v, 1), vlink_now(v), &st);
  *ms = vlink_now(v);
  *stream_bytes = st.payload_recv;
  xfer_free(&x);
  vlink_free(v);
  return rc;
}

/* The reference: compact JSON lines straight onto the same model. */
static double json_msgs_per_min(const tide_link_profile *p, double loss, tide_msg **msgs, size_t n)
{
  linkmodel_params mp = model_of(p, loss, 42);
  linkmodel *m = linkmodel_new(&mp);
  tide_buf all = TIDE_BUF_INIT, line = TIDE_BUF_INIT;
  uint8_t buf[4096];
  size_t next = 0, intact = 0;
  uint64_t t = 0, last = 1;

  for (size_t i = 0; i < n; i++) {
    if (tide_json_write(&all, tide_msg_value(msgs[i]), 0) != 0 || tide_buf_putc(&all, '\n') != 0)
      exit(1);
  }
  linkmodel_write(m, 0, 0, (const uint8_t *)all.data, all.len);
  for (;;) {
    uint64_t ev = linkmodel_next_event(m);
    size_t k;
    if (ev == UINT64_MAX)
      break;
    t = ev > t ? ev : t + 1;
    while ((k = linkmodel_read(m, 1, t, buf, sizeof buf)) > 0) {
      for (size_t i = 0; i < k; i++) {
        tide_msg *got = NULL;
        if (buf[i] != '\n') {
          if (tide_buf_putc(&line, (char)buf[i]) != 0)
            exit(1);
          continue;
        }
        if (tide_msg_parse(&got, line.data ? line.data : "", line.len, NULL) == 0) {
          /* intact if it is one of ours (lines keep their order) */
          for (size_t j = next; j < n; j++)
            if (memcmp(tide_msg_id(got), tide_msg_id(msgs[j]), TIDE_HASH_BYTES) == 0) {
              intact++;
              next = j + 1;
              last = t;
              break;
            }
          tide_msg_free(got);
        }
        tide_buf_reset(&line);
      }
    }
  }
  tide_buf_free(&all);
  tide_buf_free(&line);
  linkmodel_free(m);
  return (double)intact * 60000000.0 / (double)last;
}

/* ---- real pseudo-terminals ---- */

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int run_pty(const tide_link_profile *p, tide_msg **msgs, size_t n, uint64_t *ms,
                   uint64_t *stream_bytes)
{
  char exe[1024], sim[1100], a[256], b[256];
  ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
  int pfd[2], rc = 0;
  pid_t pid;
  FILE *f;
  tide_serial *port[2] = {NULL, NULL};
  tide_link *l[2] = {NULL, NULL};
  xfer x;
  tide_error err;
  uint64_t t0;
  tide_link_stats st;

  if (el <= 0)
    return -1;
  exe[el] = 0;
  *strrchr(exe, '/') = 0;
  snprintf(sim, sizeof sim, "%s/../tools/linksim", exe);
  if (pipe(pfd) != 0)
    return -1;
  pid = fork();
  if (pid == 0) {
    dup2(pfd[1], 1);
    close(pfd[0]);
    close(pfd[1]);
    execl(sim, sim, "--profile", p->name, "--seed", "42", (char *)NULL);
    _exit(127);
  }
  close(pfd[1]);
  f = fdopen(pfd[0], "r");
  if (f == NULL || fgets(a, sizeof a, f) == NULL || fgets(b, sizeof b, f) == NULL) {
    fprintf(stderr, "radio: cannot start %s\n", sim);
    rc = -1;
    goto out;
  }
  a[strcspn(a, "\n")] = 0;
  b[strcspn(b, "\n")] = 0;
  if (xfer_init(&x, msgs, n) != 0) {
    rc = -1;
    goto out;
  }
  for (int i = 0; i < 2 && rc == 0; i++) {
    tide_link_config cfg = {i == 0, 42u + (uint64_t)i, 0, 0};
    rc = tide_serial_open(&port[i], i ? b : a, p->baud, 0, &err);
    if (rc == 0)
      rc = tide_link_new(&l[i], p, &cfg, 0, &err);
    if (rc != 0)
      fprintf(stderr, "radio: %s\n", err.msg);
  }
  t0 = mono_ms();
  while (rc == 0 && x.got < x.n && mono_ms() - t0 < 120000) {
    uint64_t t = mono_ms() - t0, wake = UINT64_MAX;
    uint8_t buf[TIDE_LINK_MAX_WIRE_BYTES];
    struct pollfd pf[2];
    size_t k;
    for (int i = 0; i < 2 && rc == 0; i++) {
      rc = tide_serial_read(port[i], buf, sizeof buf, &k, &err);
      if (rc == 0 && k > 0)
        rc = tide_link_input(l[i], t, buf, k);
      if (rc == 0)
        rc = xfer_side(&x, i, l[i]);
      while (rc == 0) {
        rc = tide_link_output(l[i], t, buf, sizeof buf, &k);
        if (rc != 0 || k == 0)
          break;
        rc = tide_serial_write(port[i], buf, k, 5000, &err);
      }
      k = tide_link_next_wakeup(l[i], t);
      if (k < wake)
        wake = k;
    }
    for (int i = 0; i < 2; i++) {
      pf[i].fd = tide_serial_fd(port[i]);
      pf[i].events = POLLIN;
      pf[i].revents = 0;
    }
    t = mono_ms() - t0;
    (void)poll(pf, 2, wake <= t ? 0 : wake - t > 50 ? 50 : (int)(wake - t));
  }
  if (rc == 0 && x.got != x.n)
    rc = -1;
  *ms = mono_ms() - t0;
  if (l[1]) {
    tide_link_get_stats(l[1], *ms, &st);
    *stream_bytes = st.payload_recv;
  }
  xfer_free(&x);
out:
  for (int i = 0; i < 2; i++) {
    tide_link_free(l[i]);
    tide_serial_close(port[i]);
  }
  if (f)
    fclose(f);
  kill(pid, SIGTERM);
  waitpid(pid, NULL, 0);
  return rc;
}

int main(void)
{
  static const char *const profiles[] = {"cable", "rfd900", "lora-e22", "lora-e32"};
  static const size_t counts[] = {2000, 1000, 500, 150};
  static const size_t pty_counts[] = {200, 120, 30, 8};
  static const int losses[] = {0, 5, 10, 20};
  int fails = 0;

  if (tide_init() != 0)
    return 1;
  for (size_t pi = 0; pi < 4; pi++) {
    tide_link_profile p;
    tide_msg **msgs;
    size_t n = counts[pi];
    if (tide_link_profile_get(&p, profiles[pi]) != 0)
      return 1;
    msgs = make_msgs(n, 1000 + pi);
    for (size_t li = 0; li < 4; li++) {
      double loss = losses[li] / 100.0, rate = p.baud / 10.0;
      uint64_t ms = 0, bytes = 0;
      double json, mpm;
      if (run_virtual(&p, loss, msgs, n, &ms, &bytes) != 0) {
        fprintf(stderr, "radio: %s at %d%% loss did not complete\n", p.name, losses[li]);
        fails++;
        continue;
      }
      mpm = (double)n * 60000.0 / (double)ms;
      json = json_msgs_per_min(&p, loss, msgs, n);
      printf("goodput_%s_loss%d %.3f share\n", p.name, losses[li],
             (double)bytes / ((double)ms / 1000.0 * rate));
      printf("msgs_per_min_%s_loss%d %.1f msgs/min\n", p.name, losses[li], mpm);
      printf("msgs_per_min_json_%s_loss%d %.1f msgs/min\n", p.name, losses[li], json);
      printf("msgs_per_min_vs_json_%s_loss%d %.2f x\n", p.name, losses[li],
             json > 0 ? mpm / json : 0.0);
      fflush(stdout);
    }
    {
      uint64_t ms = 0, bytes = 0, vms = 0, vbytes = 0;
      size_t k = pty_counts[pi];
      if (run_virtual(&p, 0, msgs, k, &vms, &vbytes) == 0 &&
          run_pty(&p, msgs, k, &ms, &bytes) == 0) {
        printf("goodput_pty_%s_loss0 %.3f share\n", p.name,
               (double)bytes / ((double)ms / 1000.0 * (p.baud / 10.0)));
        printf("goodput_model_%s_loss0_same_n %.3f share\n", p.name,
               (double)vbytes / ((double)vms / 1000.0 * (p.baud / 10.0)));
      } else {
        fprintf(stderr, "radio: pty run for %s failed\n", p.name);
        fails++;
      }
      fflush(stdout);
    }
    for (size_t i = 0; i < n; i++)
      tide_msg_free(msgs[i]);
    free(msgs);
  }
  return fails ? 1 : 0;
}
