// Size: what a page downloads for hubspot-wasm beside Segment's hubspot-web bundle, and what each
// crate costs inside the wasm. Expects a release build in dist/ (scripts/build.sh).
// Usage: node bench/size.mjs   (writes bench/results/size.json)
//        BEFORE=dir node bench/size.mjs   also an earlier build's dist/ (its script tag and npm files)
//
// Figures: raw, gzip -9 and brotli -q 11 bytes, each file compressed on its own as a server would
// send it; "x smaller" is Segment's brotli bytes over ours. The per-crate table is twiggy's shallow
// size of each function and data segment, summed by crate, measured on a copy of the wasm with
// its names kept and before wasm-opt (so it adds up to more than the shipped file).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifacts, measure, row, sizes } from '../scripts/sizes.mjs';

const SEGMENT_DIR = 'node_modules/@segment/browser-destinations/dist/web/hubspot-web';
const segmentVersion = JSON.parse(readFileSync('node_modules/@segment/browser-destinations/package.json', 'utf8')).version;
// Reference figures from the spec (section 8): the classic integration is not on npm.
const CLASSIC_REFERENCE = { label: 'Segment classic 2.2.5 (spec reference)', raw: 49978, brotli: 13526 };

const results = { date: new Date().toISOString(), artifacts: [], segment: null, crates: [] };

// Segment's standalone hubspot-web file and the runtime chunk it loads from a numbered directory
// beside it (the browser benchmark sees both requested): what its CDN serves for the destination.
const jsIn = (dir) => readdirSync(dir).filter((f) => f.endsWith('.js')).map((f) => join(dir, f));
const segmentFiles = [
  ...jsIn(SEGMENT_DIR),
  ...readdirSync(join(SEGMENT_DIR, '..')).filter((d) => /^\d+$/.test(d)).flatMap((d) => jsIn(join(SEGMENT_DIR, '..', d))),
];
const segment = measure(segmentFiles);
results.segment = { label: `Segment hubspot-web ${segmentVersion}`, files: segmentFiles, raw: segment[0], gzip: segment[1], brotli: segment[2] };

const rows = artifacts().map(([label, paths]) => [label, measure(paths)]);

console.log(`\n== Size: what a page downloads (bytes; ratios are the reference's brotli bytes over ours, > 1 means we are smaller) ==`);
console.log(row('', ['raw', 'gzip', 'brotli', 'vs web', 'vs classic'], 46));
for (const [label, [raw, gzip, brotli]] of rows) {
  const vsWeb = Number((segment[2] / brotli).toFixed(2));
  const vsClassic = Number((CLASSIC_REFERENCE.brotli / brotli).toFixed(2));
  console.log(row(label, [raw, gzip, brotli, vsWeb, vsClassic], 46));
  results.artifacts.push({ label, raw, gzip, brotli, hubspotWebOverOurs: vsWeb, classicOverOurs: vsClassic });
}
if (process.env.BEFORE) {
  // An earlier build's files, counted the same way (artifacts() reads either package layout).
  const [[, scriptTag], [, npm]] = artifacts(process.env.BEFORE);
  for (const [label, paths] of [['before: script tag', scriptTag], ['before: npm', npm]]) {
    const [raw, gzip, brotli] = measure(paths);
    console.log(row(label, [raw, gzip, brotli, Number((segment[2] / brotli).toFixed(2)), Number((CLASSIC_REFERENCE.brotli / brotli).toFixed(2))], 46));
    results.artifacts.push({ label, raw, gzip, brotli });
  }
}
console.log(row(`${results.segment.label} (${segmentFiles.length} files)`, segment, 46));
console.log(row(CLASSIC_REFERENCE.label, [CLASSIC_REFERENCE.raw, '-', CLASSIC_REFERENCE.brotli], 46));

// Per-crate cost, with twiggy (bench/run.sh installs it).
const targetDir = process.env.CARGO_TARGET_DIR || 'target';
const tmp = mkdtempSync(join(tmpdir(), 'hubspot-size-'));
try {
  execFileSync('wasm-bindgen', ['--target', 'web', '--keep-debug', '--out-dir', tmp, `${targetDir}/wasm32-unknown-unknown/wasm/hubspot_wasm.wasm`]);
  const csv = execFileSync('twiggy', ['top', '-n', '1000000', '-f', 'csv', join(tmp, 'hubspot_wasm_bg.wasm')], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const byCrate = new Map();
  for (const line of csv.split('\n').slice(1)) {
    const m = /^(.*),(\d+),[\d.]+,\d*,[\d.]*$/.exec(line);
    if (!m) continue;
    const name = m[1].replace(/^"|"$/g, '').replace(/""/g, '"').replace(/\[[0-9a-f]+\]/g, '');
    if (/names" subsection$/.test(name)) continue;
    const crate = name.startsWith('data segment') ? 'data (strings, tables)'
      : /^import /.test(name) ? 'imports (JS glue functions)'
        : (/(?:^|[<&( ])([a-z_][a-z0-9_]*)::/.exec(name)?.[1] ?? 'other (exports, tables, types)');
    byCrate.set(crate, (byCrate.get(crate) || 0) + Number(m[2]));
  }
  const total = [...byCrate.values()].reduce((a, b) => a + b, 0);
  console.log(`\n== What each crate costs in the wasm (twiggy, names kept, before wasm-opt; ${total} B in all) ==`);
  for (const [crate, bytes] of [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, 16)) {
    console.log(row(crate, [bytes, `${((100 * bytes) / total).toFixed(1)}%`], 34));
    results.crates.push({ crate, bytes });
  }
} catch (e) {
  console.log(`\n(per-crate table skipped: ${e.message.split('\n')[0]})`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/size.json', JSON.stringify(results, null, 2));
