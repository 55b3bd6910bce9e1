#!/usr/bin/env bash
# The whole benchmark suite, one command: bash bench/run.sh   (about 23 minutes)
# Builds what it measures (release), then prints every figure side by side:
#   1. size       bench/size.mjs          what a page downloads, beside Segment's hubspot-web
#   2. core       benches/mapping.rs      core mapping throughput per call type, natively (divan)
#   3. browser    bench/browser/run.mjs   per-call cost, instantiation, register->loaded, heap,
#                                         ours beside Segment's hubspot-web in headless Chromium;
#                 bench/browser/unbundled.mjs  the npm package through <script type="module">,
#                                         time to usable exports under network latency
#   4. cloud      bench/cloud.mjs         requests per 1,000, audience writes per 10,000,
#                                         delivery rate, ingest, memory
#   5. source     bench/source.mjs        hubspot-cloud sync of 100,000 contacts and 20,000
#                                         companies at the free tier's limit: requests per
#                                         10,000 records, records/s, peak RSS at two sizes;
#                                         incremental (1 % changed) beside a full re-scan
#                                         (SOURCE_BENCH_SIZE=small: a tenth, ~2 minutes)
#   6. profiles   bench/profiles.mjs      profiles out: profiles/s, requests per 1,000 profiles
# Machine-readable results land in bench/results/. Nothing here is a pass/fail test: these
# machines are shared and noisy, so every comparison is measured in the same run.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

started=$(date +%s)
section() { printf '\n########## %s (%s s in)\n' "$1" "$(( $(date +%s) - started ))"; }

section "build (release)"
if ! command -v twiggy >/dev/null; then
  echo "installing twiggy (per-crate size table; once per machine)"
  cargo install twiggy --version 0.8.0 --locked
fi
bash scripts/build.sh
cargo build --release -q -p hubspot-cloud -p fake-hubspot

section "1. size"
node bench/size.mjs

section "2. core mapping throughput, native (divan; items/s = calls per second)"
cargo bench -q -p hubspot-core --bench mapping

section "3. per-call cost in headless Chromium"
node bench/browser/run.mjs
node bench/browser/unbundled.mjs

section "4. cloud: relay + fake HubSpot"
node bench/cloud.mjs

section "5. source: hubspot-cloud sync from the fake HubSpot"
node bench/source.mjs

section "6. profiles out: sync from fake HubSpot, export to a local collector"
node bench/profiles.mjs

section "done"
echo "machine: $(nproc) cores, $(uname -m), $(chromium --version 2>/dev/null || true), node $(node --version)"
