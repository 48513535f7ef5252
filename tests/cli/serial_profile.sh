#!/usr/bin/env bash
# serial_profile.sh - `tide sync serial` refuses a profile whose duty budget
# (duty x duty-window) cannot hold one full frame plus the reserve kept for
# duty-pause announcements (docs/radio.md section 1): a usage error (exit 2)
# that names the smallest duty that works, like any other bad --set value.
# The checks happen before the port or the home is opened.
source "$TIDE_SOURCE_DIR/tests/cli/lib.sh"

H="$T/home" # never created: a profile that passes goes on to fail on it
PORT="$T/no-such-port"

# lora-e22 (the default): 240-byte frames at 9600 baud need 325 ms per hour.
run 2 tide "$H" sync serial "$PORT" --set duty=0.009
expect_error_shape sync
expect_in "$T/err" "duty 0.009 % of a 3600 s window gives 324.0 ms of airtime per window, less than one 240-byte frame plus the pause reserve (325.0 ms) at 9600 baud: use duty >= 0.0091"
expect_eq "$(wc -c <"$T/out")" 0 "stdout of a usage error"

# The duty it names passes the check (and the command fails later, on the
# missing home: exit 1, not a usage error).
run 1 tide "$H" sync serial "$PORT" --set duty=0.0091
expect_not_in "$T/err" "duty"

# duty-window counts, whichever --set comes first.
run 2 tide "$H" sync serial "$PORT" --set duty=0.5 --set duty-window=60000
expect_in "$T/err" "duty 0.5 % of a 60 s window gives 300.0 ms"
expect_in "$T/err" "use duty >= 0.5417"
run 2 tide "$H" sync serial "$PORT" --profile lora-e32 --set duty-window=1000 --set duty=1
expect_in "$T/err" "one 58-byte frame plus the pause reserve (541.7 ms) at 2400 baud: use duty >= 54.1667"

# Not even a whole window holds one frame: only no limit helps.
run 2 tide "$H" sync serial "$PORT" --profile cable --baud 300 --set duty=99 --set duty-window=1000
expect_in "$T/err" "use duty=100 (no limit)"
run 1 tide "$H" sync serial "$PORT" --profile cable --baud 300 --set duty=100 --set duty-window=1000

# Other bad values keep their message and status.
run 2 tide "$H" sync serial "$PORT" --set duty=0
expect_in "$T/err" "bad value '0' for profile setting 'duty'"

finish
