#!/usr/bin/env bash
# The README's main command: builds everything, then serves the demo page (the module beside
# analytics.js, with the stand-in HubSpot tracker, fully offline) on 127.0.0.1 and prints its URL.
# PORT=… picks the port (default 8080).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
./scripts/build.sh
exec node scripts/serve.mjs dist "${PORT:-8080}"
