#!/usr/bin/env bash
# scripts/demo.sh - a narrated tour of tide: two boats exchange their logs.
#
#   bash scripts/demo.sh PATH/TO/tide      (bash scripts/run demo does this)
#
# Two nodes, "boat A" and "boat B", each with its own home directory in a
# temporary folder, create identities, publish posts, follow each other and
# exchange their feeds as JSONL files, then show what each one holds.
#
# Structure: the demo is a list of sections (shell functions named
# section_*), run in the order of DEMO_SECTIONS.  Later parts of tide add
# their own sections as files scripts/demo.d/NN-name.sh: each file defines
# one or more section_* functions and appends their names to
# DEMO_SECTIONS; files are sourced in name order after the built-in
# sections are declared.  Helpers available to every section:
#   chapter TITLE        a numbered heading
#   say TEXT...          narration
#   on a|b ARGS...       show and run `tide ARGS` on boat A or B
#   quietly a|b ARGS...  run `tide ARGS` without showing it; prints stdout
#   $TIDE $DEMO $HOME_A $HOME_B $ID_A $ID_B $STICK (a folder, the "USB stick")
# A section fails the demo by returning non-zero (set -e is on).
set -euo pipefail

if [ $# -lt 1 ] || [ ! -x "$1" ]; then
  echo "usage: bash scripts/demo.sh PATH/TO/tide" >&2
  exit 2
fi
TIDE="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEMO="$(mktemp -d "${TMPDIR:-/tmp}/tide-demo.XXXXXX")"
# Background helpers started by sections register their PIDs here; they
# are stopped (by PID) and the temporary folder removed on exit.
DEMO_PIDS=()
cleanup() {
  local pid
  for pid in "${DEMO_PIDS[@]+"${DEMO_PIDS[@]}"}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$DEMO"
}
trap cleanup EXIT

HOME_A="$DEMO/boat-a"
HOME_B="$DEMO/boat-b"
STICK="$DEMO/usb-stick"
mkdir -p "$STICK"
ID_A=""
ID_B=""
# Keep the user's own ~/.tide out of it.
export TIDE_HOME="$DEMO/unused-default-home"

if [ -t 1 ]; then
  BOLD=$'\033[1m'; DIM=$'\033[2m'; BLUE=$'\033[34m'; GREEN=$'\033[32m'; RESET=$'\033[0m'
else
  BOLD=""; DIM=""; BLUE=""; GREEN=""; RESET=""
fi
CHAPTER=0

chapter() {
  CHAPTER=$((CHAPTER + 1))
  printf '\n%s== %d. %s ==%s\n' "$BOLD" "$CHAPTER" "$*" "$RESET"
}

say() {
  printf '%s\n' "$*" | fold -s -w 78
}

boat_home() {
  case "$1" in
    a) echo "$HOME_A" ;;
    b) echo "$HOME_B" ;;
    *) echo "demo: no boat '$1'" >&2; return 1 ;;
  esac
}

boat_name() {
  case "$1" in a) echo "boat A" ;; b) echo "boat B" ;; esac
}

# Quotes one word for display, the way a user would type it.
shell_word() {
  case "$1" in
    *[!A-Za-z0-9@%+=/._:,-]* | "") printf "'%s'" "${1//\'/\'\\\'\'}" ;;
    *) printf '%s' "$1" ;;
  esac
}

# on BOAT ARGS...: prints the command as a user would type it, runs it and
# indents its output.  The command's exit status is returned.
on() {
  local boat="$1" home status=0
  shift
  home="$(boat_home "$boat")"
  local shown="" w
  for w in "$@"; do shown+=" $(shell_word "$w")"; done
  printf '%s[%s]%s %s$ tide%s%s\n' "$BLUE" "$(boat_name "$boat")" "$RESET" "$DIM" "$shown" "$RESET"
  "$TIDE" --home "$home" "$@" 2>&1 | sed 's/^/    /' || status=$?
  return $status
}

quietly() {
  local boat="$1"
  shift
  "$TIDE" --home "$(boat_home "$boat")" "$@"
}

ok() {
  printf '%s%s%s\n' "$GREEN" "$*" "$RESET"
}

# --- The sections --------------------------------------------------------

section_identities() {
  chapter "Two boats, two identities"
  say "Every tide node has an ed25519 key pair: its feed id is the public key. 'tide init' creates the node's home folder (mode 0700) with the secret (mode 0600, the same file layout as SSB's ~/.ssb/secret) and an empty store."
  on a init
  on b init
  ID_A="$(quietly a whoami)"
  ID_B="$(quietly b whoami)"
  say "A second init would never overwrite a secret:"
  on a init || ok "    (refused, exit status $?)"
}

section_publish() {
  chapter "Writing the logs"
  say "Each boat appends signed messages to its own feed. A message is SSB's classic JSON: previous, author, sequence, timestamp, hash, content, signature. 'tide publish' prints the new message id."
  on a publish --json '{"type":"post","text":"Boat A: anchored off the north cape, wind NW 15 kn."}'
  on a publish --json '{"type":"post","text":"Boat A: fresh water low, heading to harbour tomorrow."}'
  on b publish --json '{"type":"post","text":"Boat B: swell 2 m from the west, all well aboard."}'
  printf '{"type":"post","text":"Boat B: LoRa radio check at 18:00 UTC on channel 3."}' >"$DEMO/post.json"
  on b publish --file "$DEMO/post.json"
  say "Content that is not acceptable is refused before anything is signed:"
  on a publish --json '{"type":"x"}' || ok "    (refused, exit status $?)"
}

section_follow() {
  chapter "Following each other"
  say "Following is itself a message: a signed contact message in your own feed. Replication over radio, TCP or bundles uses these to decide which feeds to carry."
  on a follow "$ID_B"
  on b follow "$ID_A"
  on a feed "$ID_A"
}

section_exchange() {
  chapter "Exchanging feeds on a USB stick"
  say "The simplest link is a file. Boat A exports everything it holds as JSON lines ({\"key\",\"value\"} per message) onto the stick; boat B does the same."
  quietly a export >"$STICK/boat-a.jsonl"
  quietly b export >"$STICK/boat-b.jsonl"
  printf '    %s\n' "$(wc -l <"$STICK/boat-a.jsonl") messages in boat-a.jsonl, $(wc -l <"$STICK/boat-b.jsonl") in boat-b.jsonl"
  say "Importing checks every signature (in parallel), every sequence number and hash-chain link, exactly as the JavaScript reference (ssb-validate) does, and stores each valid message."
  on b import "$STICK/boat-a.jsonl"
  on a import "$STICK/boat-b.jsonl"
  say "Importing the same file again is harmless: nothing is stored twice."
  on b import "$STICK/boat-a.jsonl"
}

section_show() {
  chapter "What each boat now holds"
  on a feeds
  on b feeds
  on b feed "$ID_A"
  say "The ids are the same on both boats: they are hashes of the signed bytes, which tide reproduces byte for byte."
  if cmp -s <(quietly a export) <(quietly b export); then
    ok "    boat A and boat B export identical logs"
  else
    echo "    boat A and boat B disagree!" >&2
    return 1
  fi
  on b status
}

section_tampering() {
  chapter "A tampered message is refused"
  say "Someone edits boat A's first post on the stick (and drops the ids, so only the messages themselves are checked). Its signature no longer matches: it is rejected with ssb-validate's own words. Messages 2 and 3 name it as their 'previous', so they wait for a valid message 1 and are finally rejected as a gap. A third boat, C, imports the edited file and boat B's file:"
  sed -e 's/anchored off the north cape/anchored in the south bay/' \
      -e 's/^{"key":"[^"]*","value":\(.*\)}$/\1/' "$STICK/boat-a.jsonl" >"$STICK/edited.jsonl"
  local home_c="$DEMO/boat-c" status=0
  "$TIDE" --home "$home_c" init >/dev/null
  printf '%s[boat C]%s %s$ tide import edited.jsonl%s\n' "$BLUE" "$RESET" "$DIM" "$RESET"
  "$TIDE" --home "$home_c" import "$STICK/edited.jsonl" 2>&1 | sed 's/^/    /' || status=$?
  if [ "$status" != 1 ]; then
    echo "    expected exit status 1, got $status" >&2
    return 1
  fi
  ok "    (exit status 1: lines were rejected; nothing invalid was stored)"
  printf '%s[boat C]%s %s$ tide import boat-b.jsonl%s\n' "$BLUE" "$RESET" "$DIM" "$RESET"
  "$TIDE" --home "$home_c" import "$STICK/boat-b.jsonl" 2>&1 | sed 's/^/    /'
  printf '%s[boat C]%s %s$ tide feeds%s\n' "$BLUE" "$RESET" "$DIM" "$RESET"
  "$TIDE" --home "$home_c" feeds 2>&1 | sed 's/^/    /'
}

DEMO_SECTIONS=(section_identities section_publish section_follow section_exchange section_show
               section_tampering)

# Sections added by other parts of tide.
if [ -d "$HERE/demo.d" ]; then
  for f in "$HERE"/demo.d/*.sh; do
    [ -e "$f" ] || continue
    # shellcheck source=/dev/null
    . "$f"
  done
fi

printf '%stide demo%s: two boats and a USB stick (homes in %s)\n' "$BOLD" "$RESET" "$DEMO"
printf 'using %s (%s)\n' "$TIDE" "$("$TIDE" --version)"
for s in "${DEMO_SECTIONS[@]}"; do
  "$s"
done
printf '\n%sThe demo ran to the end.%s\n' "$BOLD" "$RESET"
