#!/usr/bin/env bash
# scripts/setup.sh - install what tide needs on Debian 12, then stop.
#
# Installs, only when missing: the C toolchain, cmake, pkg-config, the -dev
# libraries (libsodium, zstd, libserialport, SQLite, CUnit), clang (fuzz
# targets), Node.js and npm (interop tests), and the npm packages of the
# JavaScript SSB reference into tests/js/node_modules.
# Safe to run again: it does nothing when everything is present.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO="sudo"
  else
    echo "setup: not root and no sudo: cannot install packages" >&2
    exit 1
  fi
fi

debs=(build-essential cmake pkg-config ca-certificates
      libsodium-dev libzstd-dev libserialport-dev libsqlite3-dev libcunit1-dev libssl-dev
      clang clang-format libclang-rt-dev sqlite3 zstd git)
# Node.js and npm: only when the machine has none (a newer one may be there).
if ! command -v node >/dev/null 2>&1; then debs+=(nodejs); fi
if ! command -v npm >/dev/null 2>&1; then debs+=(npm); fi

missing=()
for p in "${debs[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The JavaScript reference (ssb-keys, ssb-validate, ssb-validation-dataset,
# ssb-server) for the conformance and interop tests.
if [ -f "$here/tests/js/package.json" ]; then
  stamp="$here/tests/js/node_modules/.tide-stamp"
  if [ ! -f "$stamp" ] || [ "$here/tests/js/package-lock.json" -nt "$stamp" ]; then
    echo "setup: installing the JS reference packages (npm)" >&2
    (cd "$here/tests/js" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    touch "$stamp"
  fi
fi
