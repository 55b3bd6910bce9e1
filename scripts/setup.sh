#!/usr/bin/env bash
# Installs what building and testing need, only what is missing, so it is cheap to re-run and
# works on a brand-new machine. Sourced by test.sh and demo.sh. See shared toolchain notes:
# the wasm-bindgen CLI must equal the crate version in Cargo.lock; Debian's binaryen is broken
# for wasm-bindgen output (wasm-opt comes from npm instead); browsers come from Debian.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown

# sqlite3: the demo and the Source benchmark read the synced SQLite file with it; GNU time:
# the Source benchmark's peak RSS.
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
command -v sqlite3 >/dev/null || missing+=(sqlite3)
[ -x /usr/bin/time ] || missing+=(time)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian ${missing[*]}"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q "${missing[@]}" >/dev/null
fi

wb_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null || true)" != "wasm-bindgen $wb_version" ]; then
  echo "setup: installing wasm-bindgen-cli $wb_version (about 2.5 minutes, once per machine)"
  # --locked can fail when the registry lacks a pinned transitive version; unlocked works.
  cargo install wasm-bindgen-cli --version "=$wb_version" --locked \
    || cargo install wasm-bindgen-cli --version "=$wb_version" --force
fi

if [ ! -x node_modules/.bin/webpack ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

export CHROMEDRIVER=/usr/bin/chromedriver
