# scripts/demo.d/30-radio.sh - demo section: boats A and B sync over a
# serial radio link with `tide sync serial`, both calling at once.
# Sourced by scripts/demo.sh (see its header).
#
# There is no radio on the machine running the demo: linksim (built with
# the tests into <build>/tools/linksim, next to the tide binary) joins two
# pseudo-terminals and delivers bytes like an Ebyte E22 LoRa module pair
# (9600 baud, 240-byte packets, half duplex, some loss, seeded), and
# <build>/tools/libptyshim.so is preloaded into tide because libserialport
# 0.1.1 needs modem-line ioctls a pty does not answer (docs/radio.md, 9).
# Without linksim this section says so and fails the demo.

RADIO_LINKSIM_PID=""
RADIO_SHOWN_A=0
RADIO_SHOWN_B=0

# demo_forget_pid PID: drops PID from DEMO_PIDS once it has been stopped
# and waited for, so the exit trap does not signal a reused PID.
demo_forget_pid() {
  local keep=() p
  for p in "${DEMO_PIDS[@]+"${DEMO_PIDS[@]}"}"; do
    [ "$p" = "$1" ] || keep+=("$p")
  done
  DEMO_PIDS=("${keep[@]+"${keep[@]}"}")
}

RADIO_LAST_A=""
RADIO_LAST_B=""

# radio_show a|b FILE: prints the complete progress lines of FILE not
# shown yet, except those that only repeat the previous line with a new
# average rate (nothing moved on the air in that second).
radio_show() {
  local boat="$1" file="$2" total shown last line key
  [ -e "$file" ] || return 0
  total="$(wc -l <"$file")"
  if [ "$boat" = a ]; then shown=$RADIO_SHOWN_A last=$RADIO_LAST_A; else shown=$RADIO_SHOWN_B last=$RADIO_LAST_B; fi
  if [ "$total" -gt "$shown" ]; then
    while IFS= read -r line; do
      line="${line#sync serial: }"
      key="$(printf '%s' "$line" | sed -E 's/, [0-9]+ B\/s,/,/; s/, ~[0-9]+ s left$//')"
      [ "$key" = "$last" ] && continue
      last="$key"
      printf '    %s| %s\n' "${boat^^}" "$line"
    done < <(sed -n "$((shown + 1)),${total}p" "$file")
  fi
  if [ "$boat" = a ]; then RADIO_SHOWN_A=$total RADIO_LAST_A=$last; else RADIO_SHOWN_B=$total RADIO_LAST_B=$last; fi
}

radio_stop_linksim() {
  if [ -n "$RADIO_LINKSIM_PID" ]; then
    kill "$RADIO_LINKSIM_PID" 2>/dev/null || true
    wait "$RADIO_LINKSIM_PID" 2>/dev/null || true
    demo_forget_pid "$RADIO_LINKSIM_PID"
    RADIO_LINKSIM_PID=""
  fi
}

section_radio() {
  chapter "Over a serial radio link"
  local tools linksim shim dir
  tools="$(dirname "$TIDE")/tools"
  linksim="$tools/linksim"
  shim="$tools/libptyshim.so"
  if [ ! -x "$linksim" ] || [ ! -e "$shim" ]; then
    say "This part needs the link simulator $linksim and $shim, which are built with the test suite (cmake -DTIDE_TESTS=ON, the default). They are missing, so the radio sync cannot be shown." >&2
    echo "demo: radio section FAILED: linksim or libptyshim.so not built next to $TIDE" >&2
    return 1
  fi
  dir="$DEMO/radio"
  mkdir -p "$dir"
  say "'tide sync serial PORT' replicates over a serial line: a cable, an RFD900 modem or a LoRa module. There is no radio here, so linksim joins two pseudo-terminals and delivers the bytes like a pair of Ebyte E22 LoRa modules: 9600 baud, 240-byte packets, half duplex (two boats talking at once collide), 3 % of packets lost, seeded. (libptyshim.so lets libserialport open a pseudo-terminal; a real port needs no shim.)"
  printf '%s$ %s --profile lora-e22 --loss 0.03 --seed 7 &%s\n' "$DIM" "tools/linksim" "$RESET"
  : >"$dir/linksim.out"
  : >"$dir/linksim.err"
  "$linksim" --profile lora-e22 --loss 0.03 --seed 7 >>"$dir/linksim.out" 2>>"$dir/linksim.err" &
  RADIO_LINKSIM_PID=$!
  DEMO_PIDS+=("$RADIO_LINKSIM_PID")
  local i=0
  while [ "$(wc -l <"$dir/linksim.out")" -lt 2 ]; do
    i=$((i + 1))
    if [ $i -gt 100 ] || ! kill -0 "$RADIO_LINKSIM_PID" 2>/dev/null; then
      echo "demo: linksim did not start:" >&2
      cat "$dir/linksim.err" >&2
      radio_stop_linksim
      return 1
    fi
    sleep 0.05
  done
  local port_a port_b
  port_a="$(sed -n 1p "$dir/linksim.out")"
  port_b="$(sed -n 2p "$dir/linksim.out")"
  if [ -z "$port_a" ] || [ -z "$port_b" ]; then
    echo "demo: linksim printed no port paths" >&2
    radio_stop_linksim
    return 1
  fi
  printf '    port of boat A: %s\n    port of boat B: %s\n' "$port_a" "$port_b"
  say "(linksim names each pseudo-terminal by a path through /dev, as libserialport expects of a serial port.)"

  say "Both boats have news since the stick left:"
  quietly a publish --json '{"type":"post","text":"Boat A: 58.12N 11.20E, course 210, 6 kn. Wind NW 15 kn, sea moderate."}' >/dev/null
  quietly a publish --json '{"type":"post","text":"Boat A: 58.05N 11.13E, course 205, 6 kn. Rain showers ahead."}' >/dev/null
  quietly a publish --json '{"type":"post","text":"Boat A: anchored in the lee of the island. Radio watch at 18:00."}' >/dev/null
  quietly b publish --json '{"type":"post","text":"Boat B: storm warning for the outer banks tonight, stay inshore."}' >/dev/null
  quietly b publish --json '{"type":"post","text":"Boat B: harbour fuel dock open until 20:00."}' >/dev/null
  printf '    messages held: A %d, B %d\n' "$(quietly a export | wc -l)" "$(quietly b export | wc -l)"

  say "Boat A calls, and a second later boat B too, each accepting only the other's key (--peer). They exchange signed HELLOs, then clocks, then the messages the other lacks; each exits once both hold the same messages. Progress (A| and B|, a line whenever something moved):"
  local w shown_a="" shown_b=""
  for w in sync serial "$port_a" --profile lora-e22 --peer "$ID_B"; do shown_a+=" $(shell_word "$w")"; done
  for w in sync serial "$port_b" --profile lora-e22 --peer "$ID_A"; do shown_b+=" $(shell_word "$w")"; done
  printf '%s[boat A]%s %s$ LD_PRELOAD=tools/libptyshim.so tide%s &%s\n' "$BLUE" "$RESET" "$DIM" "$shown_a" "$RESET"
  printf '%s[boat B]%s %s$ LD_PRELOAD=tools/libptyshim.so tide%s &%s\n' "$BLUE" "$RESET" "$DIM" "$shown_b" "$RESET"
  # The shim is built without sanitizers; let an ASan build of tide accept it.
  local asan="${ASAN_OPTIONS:-}:verify_asan_link_order=0"
  ASAN_OPTIONS="$asan" LD_PRELOAD="$shim" "$TIDE" --home "$HOME_A" sync serial "$port_a" \
    --profile lora-e22 --peer "$ID_B" >"$dir/a.out" 2>"$dir/a.err" &
  local pid_a=$!
  DEMO_PIDS+=("$pid_a")
  # Boat B calls a second later: two sides started in the same instant on
  # this half-duplex line were seen to collide on every retransmission
  # until the time limit (their HELLOs collided again and again), while a
  # second apart they sync in seconds.
  sleep 1
  ASAN_OPTIONS="$asan" LD_PRELOAD="$shim" "$TIDE" --home "$HOME_B" sync serial "$port_b" \
    --profile lora-e22 --peer "$ID_A" >"$dir/b.out" 2>"$dir/b.err" &
  local pid_b=$!
  DEMO_PIDS+=("$pid_b")

  # Show progress while they run; give up after 50 s (a few seconds are
  # enough for these messages at 9600 baud).
  local start=$SECONDS running=1 timed_out=0
  RADIO_SHOWN_A=0 RADIO_SHOWN_B=0 RADIO_LAST_A="" RADIO_LAST_B=""
  while [ "$running" = 1 ]; do
    sleep 0.5
    radio_show a "$dir/a.err"
    radio_show b "$dir/b.err"
    running=0
    kill -0 "$pid_a" 2>/dev/null && running=1
    kill -0 "$pid_b" 2>/dev/null && running=1
    if [ "$running" = 1 ] && [ $((SECONDS - start)) -gt 50 ]; then
      echo "demo: the radio sync did not finish within 50 s" >&2
      timed_out=1
      break
    fi
  done
  local status_a=0 status_b=0
  if [ "$running" = 1 ]; then
    kill "$pid_a" "$pid_b" 2>/dev/null || true
  fi
  wait "$pid_a" || status_a=$?
  wait "$pid_b" || status_b=$?
  demo_forget_pid "$pid_a"
  demo_forget_pid "$pid_b"
  radio_show a "$dir/a.err"
  radio_show b "$dir/b.err"
  # Partial last lines (a killed run) too.
  if [ -s "$dir/a.out" ]; then sed "s/^/    A| /" "$dir/a.out"; fi
  if [ -s "$dir/b.out" ]; then sed "s/^/    B| /" "$dir/b.out"; fi
  radio_stop_linksim
  say "What linksim saw on the air (a collision is both boats transmitting at once; tide's link layer resends lost and collided packets):"
  sed -e 's/^linksim: //' -e 's/^/    /' "$dir/linksim.err"
  if [ "$timed_out" = 1 ] || [ "$status_a" != 0 ] || [ "$status_b" != 0 ]; then
    echo "demo: tide sync serial failed (boat A exit status $status_a, boat B $status_b)" >&2
    return 1
  fi
  ok "    both 'tide sync serial' runs ended in sync (exit status 0)"
  on a feeds
  on b feeds
  if same_logs a b; then
    ok "    boat A and boat B export identical logs after the radio sync"
  else
    echo "    boat A and boat B differ after the radio sync!" >&2
    return 1
  fi
  say "Not in this demo: syncing over TCP with a JavaScript ssb-server (secret handshake + MUX-RPC) is not implemented in tide yet."
}

DEMO_SECTIONS+=(section_radio)
