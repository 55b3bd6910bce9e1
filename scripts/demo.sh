#!/usr/bin/env bash
# The README's main command: builds everything, then runs
#  - the browser demo (the module beside analytics.js, with the stand-in HubSpot tracker,
#    fully offline) served on 127.0.0.1 (PORT, default 8080), and
#  - the server relay with a fake HubSpot API (RELAY_PORT, default 8088), sending a sample of
#    Segment events through it and printing what HubSpot received.
# Stops both on Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
./scripts/build.sh
cargo build -p hubspot-cloud -p fake-hubspot
node scripts/relay-demo.mjs &
relay_demo=$!
trap 'kill $relay_demo 2>/dev/null || true' EXIT
node scripts/serve.mjs dist "${PORT:-8080}"
