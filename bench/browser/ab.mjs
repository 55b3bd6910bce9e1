// Per-call A/B of two or more builds in Node: quick feedback while changing the per-call path,
// to be confirmed in Chromium with run.mjs (BEFORE=dir). Each build's npm package
// (dist/npm, or a copy of it) gets its own plugin through the package's entry, fed 5,000 identify (30 traits) and 5,000
// track (15 properties) contexts with the browser benchmark's workload (workload.mjs); `_hsq.push` does nothing.
// The builds take turns, in rotated order, for REPS rounds (default 9); printed: median and
// minimum µs per call, warm (every round after the first).
//
//   node bench/browser/ab.mjs dist/npm /tmp/other-dist/npm      REPS=15 for more rounds
//
// Node has V8 but no page: a few globals stand in for the DOM js/shell.js touches while loading.
// Builds from before the shell moved the page's effects into js/shell.js (issue 14) reach the
// page through web-sys, which needs a real one: compare those with run.mjs's BEFORE=dir.
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eventName, properties, traits } from './workload.mjs';

const N = 5000;
const REPS = Number(process.env.REPS || 9);
const dirs = process.argv.slice(2).map((d) => resolve(d));
if (dirs.length === 0) {
  console.error('usage: node bench/browser/ab.mjs NPM_DIR [NPM_DIR...]');
  process.exit(2);
}

globalThis.window = globalThis;
globalThis.document = {
  scripts: [], cookie: '', title: 'bench', referrer: '', currentScript: null,
  getElementById: () => null,
  createElement: () => ({ addEventListener() {}, set src(_) {} }),
  head: { appendChild() {} },
  documentElement: { appendChild() {} },
};
globalThis.location = { hostname: 'example.com', pathname: '/p', search: '', href: 'https://example.com/p' };
window._hsq = [];
// HubSpot's tracker patches push when it is ready: a no-op, so only our plugin is timed.
window._hsq.push = () => {};

/** An analytics-next-like context: the event with the fields analytics-next adds. */
const context = (type, i) => ({
  event: {
    type, messageId: `m${i}`, anonymousId: 'anon', userId: `u${i}`, timestamp: new Date(),
    ...(type === 'identify' ? { traits: traits(i) } : { event: eventName(i), properties: properties(i) }),
    context: {
      page: { path: '/p', url: 'https://example.com/p', title: 'bench', referrer: '', search: '' },
      library: { name: 'analytics.js', version: 'npm:next-1.84.3' }, userAgent: 'bench', locale: 'en-US', traits: {},
    },
    integrations: {}, options: {},
  },
});

const nextTask = () => new Promise((r) => setTimeout(r, 0));

// The package's entry fetches its .wasm beside itself; Node's fetch does not read files.
globalThis.fetch = async (url) => new Response(readFileSync(fileURLToPath(url)), { headers: { 'Content-Type': 'application/wasm' } });

const plugins = [];
for (const dir of dirs) {
  // Through the package's entry, as a site imports it: any build's layout works.
  const { destination } = await import(`${dir}/index.js`);
  const plugin = destination({ portalId: '123456' });
  await plugin.load(null, null);
  plugins.push(plugin);
}

/** µs per call of `plugin[type]` over N fresh contexts, each awaited, until the next task. */
async function loop(plugin, type) {
  const contexts = Array.from({ length: N }, (_, i) => context(type, i));
  await nextTask();
  const t0 = performance.now();
  for (const c of contexts) await plugin[type](c);
  await nextTask();
  return ((performance.now() - t0) * 1000) / N;
}

const results = dirs.map(() => ({ identify: [], track: [] }));
for (let rep = 0; rep <= REPS; rep++) {
  for (let j = 0; j < plugins.length; j++) {
    const k = (j + rep) % plugins.length;
    for (const type of ['identify', 'track']) {
      const us = await loop(plugins[k], type);
      // Round 0 warms every build up (V8 tiers the wasm up during the first loops).
      if (rep > 0) results[k][type].push(us);
    }
  }
}

const median = (a) => [...a].sort((x, y) => x - y)[a.length >> 1];
const cell = (a) => `${median(a).toFixed(1)} (min ${Math.min(...a).toFixed(1)})`;
console.log(`µs per call, warm: median (min) of ${REPS} rounds × ${N} calls, builds alternating`);
dirs.forEach((dir, k) => console.log(`${dir}\n  identify ${cell(results[k].identify)}   track ${cell(results[k].track)}`));
