// The npm package loaded without a bundler (`<script type="module">`, `import('/npm/index.js')`):
// time until its exports are usable, under emulated network latency, in headless Chromium. Each
// module a page fetches waits for the one importing it, so a package of several files costs a
// round trip per level of its import graph before the .wasm is even requested.
//
//   node bench/browser/unbundled.mjs                 DIST=dir (default dist)
//   BEFORE=dir node bench/browser/unbundled.mjs      also an earlier build's package, same run
//
// Per subject and latency (0, 40 and 100 ms per request, Chromium's network emulation, cache
// off): median and min–max over 5 fresh pages, subjects alternating, and the number of the
// package's files the page fetched. Nothing is asserted; writes bench/results/unbundled.json.
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServer } from '../../scripts/serve.mjs';
import { launchChromium } from '../../scripts/offline-browser.mjs';

const REPS = 5;
const LATENCIES = [0, 40, 100];
const subjects = [['ours', resolve(process.env.DIST || 'dist', 'npm')]];
if (process.env.BEFORE) subjects.push(['before', resolve(process.env.BEFORE, 'npm')]);

// One served directory: each subject's package under its own name.
const root = mkdtempSync(join(tmpdir(), 'hubspot-unbundled-'));
for (const [name, dir] of subjects) symlinkSync(dir, join(root, name));
const server = await startServer(root, 0);
const origin = `http://127.0.0.1:${server.port}`;
const browser = await launchChromium();

const page = (name) => `<!doctype html><html><body><script type="module">
  const t0 = performance.now();
  const m = await import('/${name}/index.js');
  window.done = {
    ms: performance.now() - t0,
    usable: typeof m.destination === 'function' && m.unavailable === null,
    files: performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.startsWith('/${name}/')).length,
  };
</script></body></html>`;

async function once(name, latency) {
  const context = await browser.newContext();
  try {
    const tab = await context.newPage();
    const cdp = await context.newCDPSession(tab);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    await cdp.send('Network.emulateNetworkConditions', { offline: false, latency, downloadThroughput: -1, uploadThroughput: -1 });
    await context.route(`${origin}/page/**`, (route) => route.fulfill({ contentType: 'text/html', body: page(name) }));
    await tab.goto(`${origin}/page/${name}.html`);
    await tab.waitForFunction(() => window.done, null, { timeout: 30000 });
    const done = await tab.evaluate(() => window.done);
    if (!done.usable) throw new Error(`${name}: the package's exports are not usable`);
    return done;
  } finally {
    await context.close();
  }
}

const results = { date: new Date().toISOString(), reps: REPS, rows: [] };
try {
  console.log('\n== The npm package without a bundler: import() until its exports are usable, ms (median [min–max] of 5) ==');
  for (const latency of LATENCIES) {
    const runs = Object.fromEntries(subjects.map(([name]) => [name, []]));
    for (let rep = 0; rep < REPS; rep++) {
      for (let j = 0; j < subjects.length; j++) {
        const [name] = subjects[(j + rep) % subjects.length];
        runs[name].push(await once(name, latency));
      }
    }
    for (const [name] of subjects) {
      const ms = runs[name].map((r) => r.ms).sort((a, b) => a - b);
      const row = { subject: name, latencyMs: latency, medianMs: ms[REPS >> 1], minMs: ms[0], maxMs: ms[REPS - 1], files: runs[name][0].files };
      results.rows.push(row);
      console.log(`${`${name}, ${latency} ms latency`.padEnd(28)}${row.medianMs.toFixed(0).padStart(6)} [${row.minMs.toFixed(0)}–${row.maxMs.toFixed(0)}]   ${row.files} files fetched`);
    }
  }
} finally {
  await browser.close();
  server.close();
  rmSync(root, { recursive: true, force: true });
}
mkdirSync('bench/results', { recursive: true });
writeFileSync('bench/results/unbundled.json', JSON.stringify(results, null, 2));
