#!/usr/bin/env bash
# Builds everything a page or a bundler loads, into dist/:
#   dist/hubspot-wasm.js           script-tag file (window.HubSpotWasm), wasm inlined
#   dist/hubspot-wasm-testing.js   the stand-in HubSpot tracker, for tests and the demo
#   dist/npm/                      the npm package `hubspot-wasm` (ESM + .d.ts + ./testing)
#   dist/www/                      the demo page
# and prints the sizes a page downloads. Expects scripts/setup.sh to have run.
set -euo pipefail
cd "$(dirname "$0")/.."
target_dir=${CARGO_TARGET_DIR:-target}

cargo build --profile wasm --lib --target wasm32-unknown-unknown -p hubspot-wasm
wasm="$target_dir/wasm32-unknown-unknown/wasm/hubspot_wasm.wasm"

rm -rf pkg dist
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
# Name and producers sections are a third of the file and nothing a page needs.
wasm-bindgen --target web --remove-name-section --remove-producers-section --out-dir pkg/web "$wasm"
wasm-bindgen --target web --omit-default-module-path --remove-name-section --remove-producers-section --out-dir pkg/inline "$wasm"
# npm's binaryen: Debian's wasm-opt 108 silently breaks wasm-bindgen's externref table.
# --zero-filled-memory: the module makes its own memory, which starts zeroed; --low-memory-unused:
# rustc puts the stack and data above 1 MiB, so the first 1 KiB is never addressed.
# --strip-target-features: the features custom section (148 B) is for tools; browsers ignore it.
# --flatten --rereloop first: rebuilding rustc's control flow before -Oz saves ~140 B brotli
# (measured against -Oz alone; per-call speed unchanged, bench/README.md §1).
# --one-caller-inline-max-function-size=100: a function with one caller is inlined only up to
# 100 bytes (unlimited by default); the larger ones left as functions compress better, ~230 B
# brotli (20 saved more and cost ~7 % per call, 300 less; 100 measured as fast as unlimited).
node_modules/.bin/wasm-opt --flatten --rereloop -Oz -Oz --converge --zero-filled-memory --low-memory-unused --enable-reference-types --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals --strip-target-features --one-caller-inline-max-function-size=100 \
  pkg/web/hubspot_wasm_bg.wasm -o pkg/web/hubspot_wasm_bg.wasm
# Glue code this package never runs (Instance.free, stand-ins for encodeInto and
# FinalizationRegistry, old-call warnings, passStringToWasm0 without realloc, a second
# initialisation): ~220 B brotli in each form (scripts/trim-glue.mjs).
node scripts/trim-glue.mjs pkg/web/hubspot_wasm.js pkg/inline/hubspot_wasm.js
# Short import and export names in the .wasm and both glue files: wasm-bindgen's imports end in a
# hash each, which does not compress, and its export names are long (scripts/short-names.mjs).
node scripts/short-names.mjs pkg/web/hubspot_wasm_bg.wasm pkg/web/hubspot_wasm.js pkg/inline/hubspot_wasm.js
node scripts/latin1.mjs pkg/web/hubspot_wasm_bg.wasm pkg/inline/wasm-latin1.js
# The version as JavaScript: both entry points define it even when the wasm cannot start.
echo "export const version = '$version';" > pkg/version.js

mkdir -p dist/npm/testing dist/www
# The package's JavaScript as one module: js/npm/index.js with the glue, js/tape.js, js/shell.js,
# js/plugin.js and js/inert.js, bundled by esbuild (webpack would add ~700 B of runtime for the
# entry's top-level await) and minified by terser: 4,852 -> ~3,960 B brotli against the seven
# files it replaces, and one request instead of seven for a page without a bundler. esbuild
# leaves the glue's new URL('hubspot_wasm_bg.wasm', import.meta.url) as it is, so the wasm is
# found beside index.js (and a site's bundler still sees it as an asset).
node_modules/.bin/esbuild js/npm/index.js --bundle --format=esm --log-level=warning --outfile=pkg/npm-index.js
# A page gets this file as it is, and a bundler would minify it anyway. The readable sources are
# js/ and wasm-bindgen's output in pkg/web; the declarations (.d.ts) document the API.
node_modules/.bin/terser pkg/npm-index.js --module --compress passes=2 --mangle --output dist/npm/index.js
cp pkg/web/hubspot_wasm_bg.wasm js/npm/index.d.ts dist/npm/
# The Settings and Consent types the classes' signatures name: generated from the core's settings
# table (hubspot_core::settings::typescript, kept current by its tests).
cp js/settings.d.ts dist/npm/settings.d.ts
# testing/ stays readable (test code).
cp js/testing/index.js js/testing/index.d.ts js/testing/stand-in.js dist/npm/testing/
cat > dist/npm/package.json <<JSON
{
  "name": "hubspot-wasm",
  "version": "$version",
  "description": "HubSpot destination for Segment's analytics.js and a standalone HubSpot client, in WebAssembly.",
  "license": "MIT OR Apache-2.0",
  "type": "module",
  "main": "./index.js",
  "types": "./index.d.ts",
  "exports": {
    ".": { "types": "./index.d.ts", "default": "./index.js" },
    "./testing": { "types": "./testing/index.d.ts", "default": "./testing/index.js" },
    "./testing/stand-in.js": "./testing/stand-in.js"
  },
  "files": ["index.js", "*.d.ts", "*.wasm", "testing/"],
  "sideEffects": false
}
JSON

# After the npm package exists: the e2e config bundles it like a site's bundler would.
node_modules/.bin/webpack --config webpack.config.js ${WEBPACK_ARGS:-} --no-stats
# The inlined wasm is one character per byte: a byte-order mark makes browsers read the file as
# UTF-8 whatever charset the server or the page names.
printf '\xef\xbb\xbf' | cat - dist/hubspot-wasm.js > dist/hubspot-wasm.js.tmp && mv dist/hubspot-wasm.js.tmp dist/hubspot-wasm.js
cp js/testing/stand-in.js dist/hubspot-wasm-testing.js
cp www/*.html dist/www/
cp www/*.css dist/www/ 2>/dev/null || true

node scripts/sizes.mjs
