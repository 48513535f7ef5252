#!/bin/sh
# e2e_serial.sh PROFILE COUNT LOSS [listen] - two homes with COUNT messages each sync
# over two pseudo-terminals joined by linksim (paced at the profile's
# rate, with LOSS packet loss), with the real tide binary and libserialport
# (libptyshim.so preloaded: built from cli/pty_ioctl.c).  Home A runs `tide sync serial`,
# home B `tide sync serial --listen`.  Passes when A exits 0 and both
# stores then hold exactly the same messages.  With "listen" both sides
# listen; after they converge, A publishes a new message, which must reach
# B over the open link.
# Optional environment: E2E_A_FLAGS and E2E_B_FLAGS, extra options for
# A's and B's `sync serial`; E2E_A_KEYS=short|full, run A with -v and
# require its opening clock to have used that key form (the peer offered
# short keys in its HELLO, or not); E2E_A_EXPECT, a text A's stderr must
# contain.
set -eu
PROFILE=$1 COUNT=$2 LOSS=$3 MODE=${4:-once}
A_FLAGS=${E2E_A_FLAGS:-} B_FLAGS=${E2E_B_FLAGS:-} A_KEYS=${E2E_A_KEYS:-} A_V=
A_EXPECT=${E2E_A_EXPECT:-}
[ -n "$A_KEYS" ] && A_V=-v
TOOLS="$TIDE_BINARY_DIR/tools"
BIN="$TIDE_BIN"
W=$(mktemp -d "${TMPDIR:-/tmp}/tide-e2e-serial.XXXXXX")
SIM= LIS= LIA=
cleanup() {
  [ -n "$LIA" ] && kill "$LIA" 2>/dev/null && wait "$LIA" 2>/dev/null || true
  [ -n "$LIS" ] && kill "$LIS" 2>/dev/null && wait "$LIS" 2>/dev/null || true
  [ -n "$SIM" ] && kill "$SIM" 2>/dev/null && wait "$SIM" 2>/dev/null || true
  rm -rf "$W"
}
trap cleanup EXIT
# On failure: both sides' logs with headers, whether B still runs (and its
# exit status if not), and linksim's counters (printed when it stops).
dump_logs() {
  echo "=== A (sync serial) stderr ===" >&2
  cat "$W/a.err" >&2
  if [ -n "$LIS" ]; then
    if kill -0 "$LIS" 2>/dev/null; then
      echo "=== B (--listen) still running, stopping it ===" >&2
      kill "$LIS" 2>/dev/null; wait "$LIS" 2>/dev/null || true
    else
      st=0; wait "$LIS" || st=$?
      echo "=== B (--listen) had exited with status $st ===" >&2
    fi
    LIS=
  fi
  echo "=== B (--listen) stderr ===" >&2
  cat "$W/b.err" >&2
  if [ -n "$SIM" ]; then
    kill "$SIM" 2>/dev/null; wait "$SIM" 2>/dev/null || true
    SIM=
  fi
  echo "=== linksim stderr ===" >&2
  cat "$W/sim.err" >&2
}
# The shim is built without sanitizers; let an ASan tide accept it first.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
PRELOAD="$TOOLS/libptyshim.so"

for h in A:1 B:2; do
  name=${h%%:*} seed=${h##*:}
  "$TOOLS/mkfeed" "$W/$name.secret" "$W/$name.jsonl" "$seed" "$COUNT"
  "$BIN" --home "$W/$name" init --import-secret "$W/$name.secret" >/dev/null
  "$BIN" --home "$W/$name" import "$W/$name.jsonl" >/dev/null
done
A_ID=$("$BIN" --home "$W/A" whoami)
B_ID=$("$BIN" --home "$W/B" whoami)

: >"$W/sim.out"
"$TOOLS/linksim" --profile "$PROFILE" --loss "$LOSS" --seed 5 >"$W/sim.out" 2>"$W/sim.err" &
SIM=$!
i=0
while [ "$(wc -l <"$W/sim.out" || echo 0)" -lt 2 ]; do
  i=$((i + 1)); [ $i -gt 100 ] && { echo "linksim did not start" >&2; exit 1; }
  sleep 0.05
done
PA=$(sed -n 1p "$W/sim.out")
PB=$(sed -n 2p "$W/sim.out")
if [ "${TIDE_E2E_PLAIN_PTY:-0}" = 1 ]; then
  # What a user of socat or a serial-over-network bridge passes: the plain
  # /dev/pts/N names and no preloaded shim (tide handles ptys itself).
  PA=$(readlink -f "$PA")
  PB=$(readlink -f "$PB")
  PRELOAD=
fi

# shellcheck disable=SC2086 # B_FLAGS holds several options
LD_PRELOAD="$PRELOAD" "$BIN" --home "$W/B" sync serial "$PB" --profile "$PROFILE" \
  --peer "$A_ID" --listen $B_FLAGS 2>"$W/b.err" &
LIS=$!
if [ "$MODE" = listen ]; then
  # Both sides listen; A starts second.  Wait until B holds A's feed, then
  # publish on A while the link stays open.
  LD_PRELOAD="$PRELOAD" "$BIN" --home "$W/A" sync serial "$PA" --profile "$PROFILE" \
    --peer "$B_ID" --listen 2>"$W/a.err" &
  LIA=$!
  wait_count() { # HOME N: until HOME's store holds N messages (40 s at most)
    i=0
    while [ "$("$BIN" --home "$1" export | wc -l)" -lt "$2" ]; do
      i=$((i + 1)); [ $i -gt 400 ] && { echo "$1 never reached $2 messages" >&2; dump_logs; exit 1; }
      sleep 0.1
    done
  }
  wait_count "$W/B" $((2 * COUNT))
  "$BIN" --home "$W/A" publish --json '{"type":"post","text":"late news"}' >/dev/null
  wait_count "$W/B" $((2 * COUNT + 1))
  kill "$LIA"; wait "$LIA" || true; LIA=
  kill "$LIS"; wait "$LIS" || true; LIS=
  COUNT=$((COUNT + 1)) # A's feed grew; both stores must hold 2 * COUNT - 1
  "$BIN" --home "$W/B" export | sort >"$W/b.all"
  "$BIN" --home "$W/A" export | sort >"$W/a.all"
  if ! cmp -s "$W/a.all" "$W/b.all"; then
    echo "stores differ after live sync" >&2
    exit 1
  fi
  echo "ok: $PROFILE, live message delivered over --listen"
  exit 0
fi
# shellcheck disable=SC2086 # A_V is empty or -v; A_FLAGS are words
if ! LD_PRELOAD="$PRELOAD" timeout 100 "$BIN" $A_V --home "$W/A" sync serial "$PA" \
     --profile "$PROFILE" --peer "$B_ID" $A_FLAGS 2>"$W/a.err"; then
  echo "tide sync serial failed:" >&2
  dump_logs
  exit 1
fi
kill "$LIS"; wait "$LIS" || true; LIS=
tail -n 1 "$W/a.err" >&2
if [ -n "$A_KEYS" ] && ! grep -q "opening clock [0-9]* B ($A_KEYS keys)" "$W/a.err"; then
  echo "A's opening clock did not use $A_KEYS keys" >&2
  dump_logs
  exit 1
fi
if [ -n "$A_EXPECT" ] && ! grep -qF "$A_EXPECT" "$W/a.err"; then
  echo "A's stderr lacks '$A_EXPECT'" >&2
  dump_logs
  exit 1
fi

"$BIN" --home "$W/A" export | sort >"$W/a.all"
"$BIN" --home "$W/B" export | sort >"$W/b.all"
n=$(wc -l <"$W/a.all")
if [ "$n" -ne $((2 * COUNT)) ] || ! cmp -s "$W/a.all" "$W/b.all"; then
  echo "stores differ: A has $n lines, B has $(wc -l <"$W/b.all"), want $((2 * COUNT)) each" >&2
  dump_logs
  exit 1
fi
echo "ok: $PROFILE, $COUNT messages each way, loss $LOSS"
