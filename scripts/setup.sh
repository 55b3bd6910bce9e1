#!/usr/bin/env bash
# Installs what building and testing need, only what is missing, so it is cheap to re-run and
# works on a brand-new machine. Sourced by test.sh and demo.sh. See shared toolchain notes:
# the wasm-bindgen CLI must equal the crate version in Cargo.lock; Debian's binaryen is broken
# for wasm-bindgen output (wasm-opt comes from npm instead); browsers come from Debian.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || rustup target add wasm32-unknown-unknown

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "setup: installing Debian chromium and chromium-driver"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q chromium chromium-driver >/dev/null
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
