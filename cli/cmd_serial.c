/* cmd_serial.c - `tide sync serial PORT`: replicate with the node at the
 * other end of a serial line or radio modem (docs/radio.md). */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "cli.h"
#include "tide/bundle.h"
#include "tide/ebt.h"
#include "tide/graph.h"
#include "tide/link.h"
#include "tide/rsession.h"
#include "tide/serial.h"

static const char serial_usage[] =
    "usage: tide sync serial PORT [--profile P] [--baud N] [--set KEY=VALUE]...\n"
    "                             [--peer @ID] [--listen] [--encrypt] [--full-keys]\n"
    "                             [--legacy-hello]\n"
    "\n"
    "Replicates with the node at the other end of the serial port PORT (a\n"
    "cable, an RFD900 modem, an Ebyte LoRa module in transparent mode) until\n"
    "both sides hold the same messages, then exits 0.  Both sides exchange a\n"
    "signed HELLO first; with --peer only that node is accepted.  Progress\n"
    "(messages and bytes each way, rate, estimated time left) goes to stderr.\n"
    "\n"
    "  --profile P      cable, rfd900, lora-e22 (default), lora-e32\n"
    "  --baud N         line rate (overrides the profile)\n"
    "  --set KEY=VALUE  override a profile setting: packet, duplex, duty,\n"
    "                   duty-window, latency, rto-min, rto-max, dead, window,\n"
    "                   rtscts (docs/radio.md)\n"
    "  --peer @ID       accept only this node, and replicate its feed\n"
    "  --listen         wait for the other side to call, keep the link open\n"
    "                   and keep syncing as new messages appear\n"
    "  --encrypt        encrypt the session (XChaCha20-Poly1305, keys from an\n"
    "                   ephemeral exchange signed by both identities); both\n"
    "                   ends must use it, a mismatch ends the session\n"
    "  --full-keys      do not offer short keys in the HELLO (for a peer running\n"
    "                   a tide from before short-key clocks, which rejects the\n"
    "                   offer); the peer's opening clock then names each feed\n"
    "                   with 32 bytes instead of 8\n"
    "  --legacy-hello   for a peer running a tide from before HELLO proofs (which\n"
    "                   rejects the offer): do not offer a proof of freshness and\n"
    "                   accept a peer's HELLO without one, with a warning: such a\n"
    "                   HELLO, recorded, could be replayed to us for 15 minutes.\n"
    "                   Without it, a peer that does not prove its HELLO fresh is\n"
    "                   refused\n"
    "\n"
    "Radio sessions are signed, and not encrypted unless --encrypt is given:\n"
    "amateur radio rules forbid encryption, so use --encrypt only on bands\n"
    "that allow it.\n";

enum {
  OPT_PROFILE = 1,
  OPT_BAUD,
  OPT_SET,
  OPT_PEER,
  OPT_LISTEN,
  OPT_ENCRYPT,
  OPT_FULL_KEYS,
  OPT_LEGACY_HELLO
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
  (void)sig;
  stop_flag = 1;
}

static uint64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static uint64_t wall_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

typedef struct feeds_ctx {
  tide_cli *cli;
  tide_ebt *e;
  int64_t now;
  int rc;
} feeds_ctx;

static int declare_feed(void *ctx, const uint8_t feed[TIDE_PK_BYTES], int replicate)
{
  feeds_ctx *c = ctx;
  tide_feed_state st;
  int64_t seq = 0;
  int rc = tide_store_latest(c->cli->store, &st, NULL, feed, NULL);
  if (rc == 0)
    seq = st.sequence;
  else if (rc != TIDE_E_NOTFOUND)
    return rc;
  rc = tide_ebt_set_feed(c->e, feed, replicate, seq, c->now);
  if (rc == 0 && replicate && seq > tide_ebt_our_seq(c->e, feed))
    rc = tide_ebt_on_append(c->e, feed, seq, c->now);
  return rc;
}

/* Brings the engine up to date with the store: the replication set and
 * our sequences (new local messages while --listen runs). */
static int refresh(tide_cli *cli, tide_graph *g, tide_ebt *e, int64_t now)
{
  feeds_ctx c = {cli, e, now, 0};
  tide_error err;
  int rc = tide_graph_sync(g, cli->store, &err);
  if (rc == 0)
    rc = tide_graph_changes(g, declare_feed, &c);
  if (rc == 0)
    rc = tide_graph_each(g, declare_feed, &c);
  return rc;
}

static void progress(const tide_cli *cli, tide_rsession *s, tide_link *l, uint64_t t, int final)
{
  tide_rsession_stats st;
  tide_link_stats ls;
  double secs = t / 1000.0, rate;
  if (cli->verbosity < 0)
    return;
  tide_rsession_get_stats(s, &st);
  tide_link_get_stats(l, t, &ls);
  rate = secs > 0 ? (double)(ls.tx_bytes + ls.rx_bytes) / secs : 0;
  fprintf(stderr,
          "%ssync serial: sent %" PRIu64 " msgs (%" PRIu64 " B), received %" PRIu64
          " msgs (%" PRIu64 " B, %" PRIu64 " new), %.0f B/s, retransmits %" PRIu64
          ", airtime %" PRIu64 "/%" PRIu64 " ms per duty window",
          cli->stderr_tty && !final ? "\r" : "", st.msgs_sent, ls.tx_bytes, st.msgs_received,
          ls.rx_bytes, st.msgs_new, rate, ls.retransmits, ls.duty_used_ms, ls.duty_budget_ms);
  if (ls.peer_pause_ms > 0) /* the peer announced it is out of duty budget */
    fprintf(stderr, ", peer paused (duty) for %" PRIu64 " s", (ls.peer_pause_ms + 999) / 1000);
  {
    uint64_t to_send = 0, to_recv = 0;
    tide_rsession_remaining(s, &to_send, &to_recv);
    if (to_send + to_recv > 0 && st.msgs_sent + st.msgs_received > 0 && rate > 0) {
      double per_msg =
          (double)(ls.tx_bytes + ls.rx_bytes) / (double)(st.msgs_sent + st.msgs_received);
      fprintf(stderr, ", %" PRIu64 " to send, %" PRIu64 " to receive, ~%.0f s left", to_send,
              to_recv, per_msg * (double)(to_send + to_recv) / rate);
    }
  }
  fputs(cli->stderr_tty && !final ? "   " : "\n", stderr);
  fflush(stderr);
  if (final)
    tide_cli_verbose(cli,
                     "sync serial: opening clock %" PRIu64 " B (%s keys), %" PRIu64
                     " entries about feeds we do not know ignored",
                     st.open_clock_tx, st.short_keys_tx ? "short" : "full", st.unresolved_rx);
}

/* Once per session, when the peer is authenticated: says how its HELLO
 * was shown fresh (-v), and warns when it was not. */
static void announce_peer(const tide_cli *cli, tide_rsession *s, int *announced)
{
  tide_rsession_stats st;
  char id[TIDE_FEED_ID_LEN + 1];
  if (*announced || !tide_rsession_ready(s))
    return;
  *announced = 1;
  tide_rsession_get_stats(s, &st);
  tide_feed_id_format(id, tide_rsession_peer(s));
  if (st.peer_fresh == TIDE_RSESSION_FRESH_NONE)
    tide_cli_note(cli,
                  "warning: %s's HELLO carries no proof of freshness (--legacy-hello): a "
                  "recorded HELLO of that node could be replayed to us within 15 minutes",
                  id);
  tide_cli_verbose(cli, "sync serial: peer %s authenticated (%s)", id,
                   st.peer_fresh == TIDE_RSESSION_FRESH_PROOF ? "its PROOF of freshness verified"
                   : st.peer_fresh == TIDE_RSESSION_FRESH_KEX
                       ? "encrypted: the key exchange proves freshness"
                       : "legacy HELLO without proof of freshness: replayable");
}

int tide_cmd_serial(tide_cli *cli, int argc, char **argv)
{
  static const tide_cli_opt opts[] = {{"profile", 0, 1, OPT_PROFILE},
                                      {"baud", 0, 1, OPT_BAUD},
                                      {"set", 0, 1, OPT_SET},
                                      {"peer", 0, 1, OPT_PEER},
                                      {"listen", 0, 0, OPT_LISTEN},
                                      {"encrypt", 0, 0, OPT_ENCRYPT},
                                      {"full-keys", 0, 0, OPT_FULL_KEYS},
                                      {"legacy-hello", 0, 0, OPT_LEGACY_HELLO},
                                      {NULL, 0, 0, 0}};
  tide_cli_getopt st;
  tide_link_profile prof;
  tide_error err;
  const char *port_name = NULL, *sets[32];
  const char *baud = NULL, *profile = "lora-e22";
  size_t nsets = 0;
  uint8_t peer[TIDE_PK_BYTES];
  int have_peer = 0, listen = 0, encrypt = 0, full_keys = 0, legacy_hello = 0, announced = 0;
  int id, rc, status = TIDE_EXIT_FAIL;
  tide_serial *port = NULL;
  tide_link *link = NULL;
  tide_rsession *sess = NULL;
  tide_ebt *e = NULL;
  tide_graph *g = NULL;
  tide_rsession_config cfg;
  uint64_t t0, last_io = 0, last_progress = 0, last_refresh = 0, linger;
  struct sigaction sa;

  /* `tide sync serial ...`: argv[0] is "sync", argv[1] must be "serial". */
  if (argc < 2 || strcmp(argv[1], "serial") != 0) {
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
      return tide_cli_help(cli, serial_usage);
    return tide_cli_usage(cli, "the only sync transport here is 'serial': tide sync serial PORT");
  }
  tide_cli_getopt_init(&st, argc - 1, argv + 1);
  while ((id = tide_cli_getopt_next(cli, &st, opts)) != TIDE_CLI_OPT_END) {
    switch (id) {
    case TIDE_CLI_OPT_HELP: return tide_cli_help(cli, serial_usage);
    case TIDE_CLI_OPT_ERROR: return TIDE_EXIT_USAGE;
    case TIDE_CLI_OPT_ARG:
      if (port_name)
        return tide_cli_usage(cli, "unexpected argument '%s'", st.value);
      port_name = st.value;
      break;
    case OPT_PROFILE: profile = st.value; break;
    case OPT_BAUD: baud = st.value; break;
    case OPT_SET:
      if (nsets == sizeof sets / sizeof *sets)
        return tide_cli_usage(cli, "too many --set options");
      sets[nsets++] = st.value;
      break;
    case OPT_PEER:
      if (tide_feed_id_parse(peer, st.value, strlen(st.value)) != 0)
        return tide_cli_usage(cli, "--peer needs a feed id (@...ed25519), not '%s'", st.value);
      have_peer = 1;
      break;
    case OPT_LISTEN: listen = 1; break;
    case OPT_ENCRYPT: encrypt = 1; break;
    case OPT_FULL_KEYS: full_keys = 1; break;
    case OPT_LEGACY_HELLO: legacy_hello = 1; break;
    default: return TIDE_EXIT_USAGE;
    }
  }
  if (port_name == NULL)
    return tide_cli_usage(cli, "which serial port? (tide sync serial PORT)");
  if (tide_link_profile_get(&prof, profile) != 0)
    return tide_cli_usage(cli, "unknown profile '%s' (cable, rfd900, lora-e22, lora-e32)", profile);
  if (baud && tide_link_profile_set(&prof, "baud", baud, &err) != 0)
    return tide_cli_usage(cli, "%s", err.msg);
  for (size_t i = 0; i < nsets; i++) {
    char key[32];
    const char *eq = strchr(sets[i], '=');
    if (eq == NULL || (size_t)(eq - sets[i]) >= sizeof key)
      return tide_cli_usage(cli, "--set needs KEY=VALUE, not '%s'", sets[i]);
    memcpy(key, sets[i], (size_t)(eq - sets[i]));
    key[eq - sets[i]] = 0;
    if (tide_link_profile_set(&prof, key, eq + 1, &err) != 0)
      return tide_cli_usage(cli, "%s", err.msg);
  }
  if (tide_link_profile_check(&prof, &err) != 0)
    return tide_cli_usage(cli, "%s", err.msg);

  if (tide_cli_open(cli, TIDE_CLI_NEED_IDENTITY | TIDE_CLI_NEED_STORE) != 0)
    return TIDE_EXIT_FAIL;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  t0 = mono_ms();
  rc = tide_ebt_new(&e);
  if (rc == 0)
    rc = tide_graph_new(&g, cli->keys.pk, TIDE_GRAPH_DEFAULT_HOPS);
  if (rc == 0 && have_peer)
    rc = tide_graph_follow(g, peer, 1);
  if (rc == 0)
    rc = refresh(cli, g, e, 0);
  if (rc != 0) {
    tide_cli_error(cli, "cannot read the replication set: %s", tide_strerror(rc));
    goto out;
  }
  rc = tide_serial_open(&port, port_name, prof.baud, prof.rtscts, &err);
  if (rc != 0) {
    tide_cli_error(cli, "%s", tide_error_text(&err, rc));
    goto out;
  }
  {
    tide_link_config lc;
    /* Both sides call; a listener keeps calling until someone answers. */
    lc.initiator = 1;
    lc.persistent = listen;
    randombytes_buf(&lc.seed, sizeof lc.seed);
    lc.link_id = 0;
    rc = tide_link_new(&link, &prof, &lc, 0, &err);
  }
  memset(&cfg, 0, sizeof cfg);
  cfg.kp = &cli->keys;
  cfg.expect_peer = have_peer ? peer : NULL;
  cfg.store = cli->store;
  cfg.ebt = e;
  cfg.dict = tide_bundle_dict(&cfg.dict_len, &(uint32_t){0});
  cfg.wall_ms = wall_ms();
  cfg.encrypt = encrypt;
  cfg.full_keys = full_keys;
  cfg.legacy_hello = legacy_hello;
  if (rc == 0)
    rc = tide_rsession_new(&sess, link, &cfg, 0, &err);
  if (rc != 0) {
    tide_cli_error(cli, "%s", tide_error_text(&err, rc));
    goto out;
  }
  tide_cli_verbose(cli, "serial: %s at %u baud, profile %s, %s duplex, packet %u, duty %.1f %%",
                   port_name, (unsigned)prof.baud, prof.name, prof.half_duplex ? "half" : "full",
                   (unsigned)prof.packet_bytes, prof.duty_ppm / 10000.0);
  /* After both sides are in sync, stay a little so the peer gets our last
   * acknowledgements. */
  linger = 4u * (2u * prof.latency_ms +
                 (uint32_t)(tide_link_line_us(&prof, prof.packet_bytes) / 1000u)) +
           1000u;

  while (!stop_flag) {
    uint64_t t = mono_ms() - t0, wake;
    uint8_t buf[TIDE_LINK_MAX_WIRE_BYTES];
    size_t n;
    struct pollfd pfd;

    rc = tide_serial_read(port, buf, sizeof buf, &n, &err);
    if (rc != 0) {
      tide_cli_error(cli, "%s", tide_error_text(&err, rc));
      goto out;
    }
    if (n > 0) {
      last_io = t;
      rc = tide_link_input(link, t, buf, n);
      if (rc == TIDE_E_LINK_PEER_RESET) {
        /* The other side restarted: start the session over. */
        tide_cli_verbose(cli, "serial: the peer restarted; new session");
        if (tide_rsession_close(sess, t, NULL) != 0)
          tide_cli_verbose(cli, "serial: could not store the old session's clocks");
        tide_rsession_free(sess);
        sess = NULL;
        cfg.wall_ms = wall_ms();
        announced = 0;
        rc = tide_rsession_new(&sess, link, &cfg, t, &err);
      }
      if (rc != 0) {
        tide_cli_error(cli, "%s", tide_error_text(&err, rc));
        goto out;
      }
    }
    if (listen && t - last_refresh >= 2000) {
      last_refresh = t;
      rc = refresh(cli, g, e, (int64_t)t);
      if (rc != 0) {
        tide_cli_error(cli, "store: %s", tide_strerror(rc));
        goto out;
      }
    }
    rc = tide_rsession_step(sess, t, &err);
    if (rc != 0) {
      tide_cli_error(cli, "%s", tide_error_text(&err, rc));
      goto out;
    }
    announce_peer(cli, sess, &announced);
    for (;;) {
      rc = tide_link_output(link, t, buf, sizeof buf, &n);
      if (rc == 0 && n > 0) {
        last_io = t;
        rc = tide_serial_write(port, buf, n, 10000, &err);
      }
      if (rc == TIDE_E_LINK_DEAD && listen) {
        /* The peer went away: a listener waits for the next caller. */
        tide_link_config lc;
        tide_cli_verbose(cli, "serial: the other side went silent; waiting for a new call");
        if (tide_rsession_ready(sess) && tide_rsession_close(sess, t, &err) != 0)
          tide_cli_verbose(cli, "serial: could not store the peer's clocks");
        tide_rsession_free(sess);
        sess = NULL;
        tide_link_free(link);
        link = NULL;
        lc.initiator = 1;
        lc.persistent = 1;
        randombytes_buf(&lc.seed, sizeof lc.seed);
        lc.link_id = 0;
        rc = tide_link_new(&link, &prof, &lc, t, &err);
        cfg.wall_ms = wall_ms();
        announced = 0;
        if (rc == 0)
          rc = tide_rsession_new(&sess, link, &cfg, t, &err);
        if (rc != 0) {
          tide_cli_error(cli, "%s", tide_error_text(&err, rc));
          goto out;
        }
        break;
      }
      if (rc == TIDE_E_LINK_DEAD) {
        tide_cli_error(cli, "no answer from the other side of %s for %u s", port_name,
                       (unsigned)(prof.dead_ms / 1000));
        goto out;
      }
      if (rc != 0) {
        tide_cli_error(cli, "%s", tide_error_text(&err, rc));
        goto out;
      }
      if (n == 0)
        break;
    }
    if (t - last_progress >= 1000) {
      last_progress = t;
      progress(cli, sess, link, t, 0);
    }
    if (!listen && tide_rsession_in_sync(sess) && t - last_io >= linger) {
      progress(cli, sess, link, t, 1);
      status = TIDE_EXIT_OK;
      break;
    }
    wake = tide_link_next_wakeup(link, t);
    if (tide_rsession_next_wakeup(sess) < wake)
      wake = tide_rsession_next_wakeup(sess);
    t = mono_ms() - t0;
    pfd.fd = tide_serial_fd(port);
    pfd.events = POLLIN;
    pfd.revents = 0;
    (void)poll(&pfd, 1, wake <= t ? 0 : wake - t > 200 ? 200 : (int)(wake - t));
  }
  if (stop_flag)
    status = TIDE_EXIT_OK; /* --listen ends on SIGTERM/SIGINT */
out:
  if (sess && tide_rsession_ready(sess) && tide_rsession_close(sess, mono_ms() - t0, &err) != 0 &&
      status == TIDE_EXIT_OK) {
    tide_cli_error(cli, "cannot store the peer's clocks: %s", tide_error_text(&err, -1));
    status = TIDE_EXIT_FAIL;
  }
  tide_rsession_free(sess);
  tide_link_free(link);
  tide_serial_close(port);
  tide_graph_free(g);
  tide_ebt_free(e);
  return status;
}
