# scripts/demo.d/20-bundles.sh - demo sections: signed bundle files between
# two boats (and a sealed one a third boat cannot read), then a USB stick
# that travels A -> B -> C -> ... with `tide usb sync` until the three
# boats hold the same logs.  Sourced by scripts/demo.sh (see its header).
#
# Defines, for the later demo.d files too:
#   HOME_C ID_C              boat C (the boat of the tampering chapter,
#                            created here if that chapter did not run)
#   on_c ARGS...             like `on`, for boat C
#   boat_msgs a|b|c          the number of messages a boat holds
#   same_logs a|b|c...       true when those boats export identical logs

HOME_C="$DEMO/boat-c"
ID_C=""

on_c() {
  local shown="" w status=0
  for w in "$@"; do shown+=" $(shell_word "$w")"; done
  printf '%s[boat C]%s %s$ tide%s%s\n' "$BLUE" "$RESET" "$DIM" "$shown" "$RESET"
  "$TIDE" --home "$HOME_C" "$@" 2>&1 | sed 's/^/    /' || status=$?
  return $status
}

# boat_tide a|b|c ARGS...: runs tide quietly on that boat (stdout only).
boat_tide() {
  local boat="$1"
  shift
  case "$boat" in
    c) "$TIDE" --home "$HOME_C" "$@" ;;
    *) quietly "$boat" "$@" ;;
  esac
}

boat_msgs() {
  boat_tide "$1" export | wc -l
}

same_logs() {
  local first="$1" b
  shift
  for b in "$@"; do
    cmp -s <(boat_tide "$first" export) <(boat_tide "$b" export) || return 1
  done
}

# Makes sure boat C exists (the tampering chapter normally created it).
boat_c_ready() {
  if [ ! -e "$HOME_C/secret" ]; then
    "$TIDE" --home "$HOME_C" init >/dev/null
  fi
  ID_C="$(boat_tide c whoami)"
}

section_bundles() {
  chapter "Bundles: signed, compressed files for one recipient"
  boat_c_ready
  cd "$DEMO" || return 1
  say "A bundle is a file that carries messages to boats that never meet: it is signed by its sender chunk by chunk, compressed with zstd and a dictionary for SSB messages, and may be sealed so only its recipient can read it. Both boats write some news first."
  quietly a publish --json '{"type":"post","text":"Boat A: rounded the cape at dawn, reefed for the night."}' >/dev/null
  quietly a publish --json '{"type":"post","text":"Boat A: spare impeller fitted, engine fine."}' >/dev/null
  quietly b publish --json '{"type":"post","text":"Boat B: waiting for the tide at the bar, ETA 14:00."}' >/dev/null
  printf '    (boat A published 2 posts, boat B 1)\n'
  say "Boat A writes a bundle for boat B. It has never had a bundle from B, so it does not know what B holds and includes everything:"
  on a bundle export --for "$ID_B" -o a-to-b.tideb
  say "Anyone can look inside without importing (and check every signature):"
  on b bundle inspect a-to-b.tideb
  say "Boat B imports it: every message goes through the same checks as 'tide import'; what B had already is recognised."
  on b bundle import a-to-b.tideb
  say "A's bundle also carried A's clock (which message of each feed A holds). B's reply is cut against it, so it carries only what A lacks: B's one new post."
  on b bundle export --for "$ID_A" -o b-to-a.tideb
  on a bundle inspect b-to-a.tideb | sed -E '/^    (file|created|dictionary|seal|signature|size|clock):/d'
  on a bundle import b-to-a.tideb
  if same_logs a b; then
    ok "    one bundle each way: boat A and boat B hold the same logs again"
  else
    echo "    boat A and boat B still differ after the bundle exchange!" >&2
    return 1
  fi

  say "A sealed bundle is encrypted to its recipient's key. Boat A writes a post and seals a bundle for B:"
  quietly a publish --json '{"type":"post","text":"Boat A: meet at the fuel dock, 16:00."}' >/dev/null
  on a bundle export --for "$ID_B" --seal -o sealed-for-b.tideb
  say "Boat C finds the file. It can still check who sent it and that it is intact, but not read it:"
  on_c bundle inspect sealed-for-b.tideb | sed -E '/^    (file|created|dictionary|size|clock):/d'
  local status=0
  on_c bundle import sealed-for-b.tideb || status=$?
  if [ "$status" != 1 ]; then
    echo "    expected boat C's import to fail with exit status 1, got $status" >&2
    return 1
  fi
  ok "    (exit status 1: boat C cannot open a bundle sealed to boat B)"
  say "Boat B, the recipient, opens it:"
  on b bundle import sealed-for-b.tideb
  cd - >/dev/null || return 1
}

# One visit of the stick: the boat syncs with it, then a summary line.
stick_visit() {
  local boat="$1" status=0 out
  case "$boat" in
    c) out="$(on_c usb sync usb-stick)" || status=$? ;;
    *) out="$(on "$boat" usb sync usb-stick)" || status=$? ;;
  esac
  printf '%s\n' "$out"
  if [ "$status" != 0 ]; then
    # A boat new to the stick may find a bundle cut for the boats known
    # before it: messages that do not follow on from what it holds are
    # refused as gaps (exit status 1) and come again in a later bundle.
    # Anything else is a failure.
    if [ "$status" = 1 ] && printf '%s\n' "$out" | grep -q 'rejected: gap:' &&
       ! printf '%s\n' "$out" | grep -q 'rejected: [^g]'; then
      printf '%s\n' "(exit status 1: a bundle on the stick was cut for the boats known before and does not start where this boat's copy of that feed ends, so the message is refused as a gap, never stored out of order. This boat's clock is on the stick now, so the next bundles carry what it lacks.)" |
        fold -s -w 74 | while IFS= read -r line; do ok "    $line"; done
    else
      echo "    tide usb sync failed (exit status $status)" >&2
      return 1
    fi
  fi
  local nb nc
  nb="$(find usb-stick -maxdepth 1 -name 'b-*.tideb' | wc -l)"
  nc="$(find usb-stick -maxdepth 1 -name 'c-*.tideb' | wc -l)"
  printf '    %s-> stick: %d bundle(s), %d clock file(s);  messages held: A %d, B %d, C %d%s\n' \
    "$DIM" "$nb" "$nc" "$(boat_msgs a)" "$(boat_msgs b)" "$(boat_msgs c)" "$RESET"
}

section_usb_mule() {
  chapter "A USB stick as a mule between three boats"
  boat_c_ready
  cd "$DEMO" || return 1
  say "Boat C has never met A or B. Each boat writes a line; then one USB stick is carried from boat to boat, A -> B -> C -> A -> ... At each visit 'tide usb sync' imports the bundles it has not seen, leaves one bundle with what the boats known on the stick lack, leaves its own clock, and deletes the bundles every recipient has acknowledged. (The JSON lines files of chapter 4 are still on the stick; files tide did not write are left alone.)"
  quietly a publish --json '{"type":"post","text":"Boat A: anyone seen the harbour master?"}' >/dev/null
  quietly b publish --json '{"type":"post","text":"Boat B: diesel available at the north quay."}' >/dev/null
  boat_tide c publish --json '{"type":"post","text":"Boat C: hello from the south bay!"}' >/dev/null
  printf '    messages held: A %d, B %d, C %d\n' "$(boat_msgs a)" "$(boat_msgs b)" "$(boat_msgs c)"
  local route=(a b c a b c a b c) hop=0 boat converged=0
  for boat in "${route[@]}"; do
    hop=$((hop + 1))
    printf '%s-- visit %d: boat %s%s\n' "$BOLD" "$hop" "${boat^^}" "$RESET"
    stick_visit "$boat"
    if [ "$hop" = 3 ]; then
      say "All three boats' clocks are on the stick now: from here on every bundle is cut for all of them."
    fi
    if same_logs a b c && [ -z "$(find usb-stick -maxdepth 1 -name 'b-*.tideb')" ]; then
      converged=1
      break
    fi
  done
  if [ "$converged" != 1 ]; then
    echo "    the three boats did not converge in ${#route[@]} visits!" >&2
    return 1
  fi
  ok "    after $hop visits the three boats hold identical logs, and the stick holds no bundle any more (only the boats' clock files and the JSON lines files):"
  ls usb-stick | sed 's/^/      /'
  on a feeds
  cd - >/dev/null || return 1
}

DEMO_SECTIONS+=(section_bundles section_usb_mule)
