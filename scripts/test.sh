#!/usr/bin/env bash
# Runs every test suite of the project. Installs what it needs first (scripts/setup.sh,
# idempotent), so it works on a brand-new machine: this is the README's test command, and what
# CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }

step "setup"
source scripts/setup.sh

step "architecture: hubspot-core depends on no browser or network crate"
forbidden='^(wasm-bindgen|web-sys|js-sys|gloo|tokio|reqwest|hyper|axum|mio) '
if cargo tree -p hubspot-core -e normal --prefix none | grep -E "$forbidden"; then
  echo "hubspot-core must stay pure (see ARCHITECTURE.md)" >&2
  exit 1
fi
echo "ok"

step "lint: rustfmt, clippy (native and wasm32, every target incl. benches) with warnings as errors, JS syntax"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo clippy -p hubspot-wasm --target wasm32-unknown-unknown --all-targets -- -D warnings
for f in bench/*.mjs bench/browser/*.mjs scripts/*.mjs tests/e2e/*.mjs js/*.js js/npm/*.js js/testing/*.js; do
  node --check "$f"
done
echo "ok"

step "native tests (core, server library, fake HubSpot, relay, SQLite crash test)"
cargo test --workspace

step "PostgreSQL queue, the shared rate limiter, two relays on one PostgreSQL, the Source into PostgreSQL (private server on 127.0.0.1)"
scripts/pg-test.sh bash -c 'cargo test -p hubspot-cloud --lib -- --include-ignored queue::postgres delivery::limiter_pg && cargo test -p hubspot-cloud --test crash -- --include-ignored && cargo test -p hubspot-cloud --test sync --test sync_email --test sync_more --test sync_crash --test profiles -- --ignored'

step "the relay driven by Segment's analytics-node client"
cargo build -p hubspot-cloud -p fake-hubspot
node tests/relay/analytics-node.mjs

step "hubspot-core builds for wasm32-unknown-unknown"
cargo build -p hubspot-core --target wasm32-unknown-unknown --profile wasm

step "browser shell tests in headless Chromium (wasm-bindgen-test)"
cargo test --target wasm32-unknown-unknown --test browser

step "stand-in HubSpot tracker (node --test)"
node --test js/testing/

step "build: script-tag file, npm package, demo (sizes below)"
./scripts/build.sh

step "size gate: bench/size-budget.json, and no core::fmt Debug machinery in the release wasm"
node scripts/size-gate.mjs

step "the npm package's .d.ts carries the settings types generated from the settings table"
node scripts/check-dts.mjs

step "end-to-end: analytics-next + both builds + the demo in headless Chromium"
node tests/e2e/run.mjs
