// Browser per-call benchmark: our HubSpot destination beside Segment's "HubSpot Web (Actions)"
// destination (@segment/browser-destinations, hubspot-web), each registered with the real
// @segment/analytics-next in headless Chromium, offline, HubSpot's script replaced by the
// stand-in tracker (js/testing). Budgets: shared spec/device-mode.md section 8.
//
//   node bench/browser/run.mjs                 from the repository root; DIST=dir (default dist)
//   BEFORE=dir node bench/browser/run.mjs      also an earlier build's script tag (dir/hubspot-wasm.js),
//                                              measured in the same run: before and after side by side
//   node bench/browser/run.mjs --profile-only  only the CPU profile of our identify (~10 s)
//   BENCH_TOP=40 node bench/browser/run.mjs --profile-only   more rows of the profile (default 15)
//
// Prints a side-by-side table and writes bench/results/browser.json. About 3 minutes on 2 cores.
//
// Subjects, each in its own fresh browser context, their order rotated between repetitions:
//   ours (script tag)  $DIST/hubspot-wasm.js (wasm inlined, instantiated synchronously)
//   ours (npm)         $DIST/npm bundled by webpack as a site would bundle it (wasm fetched and
//                      instantiated at module top level)
//   Segment            hubspot-web as Segment's CDN serves it (the package's prebuilt web bundle and
//                      the runtime chunk it loads lazily), with settings as Segment's CDN sends
//                      them: the destination's presets as subscriptions, documented defaults filled in
//   baseline           analytics-next with no destination, subtracted from the end-to-end and heap
//                      figures
//
// Workload: identify with 30 traits (an email, nested address and company, an ISO date string, a
// Date, a key with a space) and track with 15 properties, values varied per call. Figures, per
// repetition (medians and min–max over 5 repetitions are printed):
//   module       main-thread time evaluating the plugin's code until a plugin can be made, network
//                excluded: each script from its response's end to its load event; for the npm build
//                to the end of its top-level await (which includes fetching the .wasm locally); for
//                Segment plus its runtime chunk. "wasm compile+instantiate" is the time inside
//                WebAssembly's compile and instantiate calls.
//   register     from `analytics.register(plugin)` until the plugin's load() has resolved (it put
//                HubSpot's script on the page and saw the tracker ready).
//   own cost     5,000 calls of the plugins' identify (then track) methods on analytics-next Contexts
//                made beforehand, each method awaited in sequence as analytics-next awaits a
//                destination (Segment's destination is three plugins, one per action, and
//                analytics-next calls all three for every event), until the next task (ours
//                forwards a task's calls to `_hsq` when the task ends). µs per call, without the
//                stand-in's share: the time the tracker takes for the same commands pushed again
//                directly (printed on its own row). "warm": the loops run again after both kinds
//                ran once, as on a page that has made calls before; "cold": those first loops on a
//                fresh page, which include compiling and tiering up the code (wasm starts in V8's
//                baseline compiler and is recompiled optimised once hot; Segment's JavaScript goes
//                through V8's tiers the same way; the stand-in's share there is its warm share).
//   floor        for ours, the part of the own cost no wasm work can remove in this design: the
//                JavaScript walk of the same events into tapes (js/tape.js) plus JSON.parse of the
//                commands' text, timed alone (after the heap figure, on fresh contexts).
//   end to end   2,000 `await analytics.identify/track(...)` with the plugin registered, minus the
//                same loop on the baseline page of the same repetition; wall clock, and main-thread
//                busy time (CDP TaskDuration) to show that waiting is not in it. µs per call.
//   retained     JS heap after a forced GC, after all loops, minus before them (the stand-in's
//                history of commands dropped first), minus the baseline page's growth over the same
//                loops; for ours plus the growth of the wasm linear memory, which is not in the JS
//                heap and never shrinks. KB. V8's number-to-string caches are grown first on every
//                page (`growNumberCaches`): their one-time growth is V8's, not a subject's.
// Every loop of every page checks that HubSpot (the stand-in) received one identify or event per
// call with the right email and event name; any request leaving 127.0.0.1 or console error fails
// the run. Last, a CPU profile of our identify own-cost loop lists the top self-time functions
// (the npm build before terser when DIST has one beside it, so wasm-bindgen's JS glue keeps its
// names).
import webpack from 'webpack';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startServer } from '../../scripts/serve.mjs';
import { launchChromium, openOffline } from '../../scripts/offline-browser.mjs';
import { HUBSPOT_SCRIPT_PATTERN } from '../../js/testing/index.js';
import { benchBundles, installedVersion, nodeModules } from './webpack.config.mjs';

const DIST = resolve(process.env.DIST || 'dist');
const BEFORE = process.env.BEFORE ? resolve(process.env.BEFORE) : null;
const N = 5000;
// End-to-end calls each wait for analytics-next's timer chain (~0.3–0.5 ms), so fewer of them
// keep the run within about 3 minutes; the per-call figure does not depend on the count.
const N_E2E = 2000;
const CALLS = { own: N, warm: N, e2e: N_E2E };
const REPS = 5;
const PORTAL = '123';
const started = Date.now();
const require = createRequire(import.meta.url);
const segmentDist = join(nodeModules, '@segment/browser-destinations/dist');
const segmentWeb = join(segmentDist, 'web');
const segmentFile = readdirSync(join(segmentWeb, 'hubspot-web')).find((f) => f.endsWith('.js'));

const SUBJECTS = {
  script: { label: 'ours (script tag)', kind: 'wasm', script: '/hubspot-wasm.js' },
  npm: { label: 'ours (npm)', kind: 'wasm', script: '/bench/npm.js', readyEvent: 'bench:module-ready' },
  segment: { label: 'Segment hubspot-web', kind: 'segment', script: `/segment/hubspot-web/${segmentFile}`, global: 'hubspot-webDestination' },
  baseline: { label: 'baseline', kind: 'none' },
  ...(BEFORE && { before: { label: 'ours before (script tag)', kind: 'wasm', script: '/before/hubspot-wasm.js' } }),
};
const PROFILED = { label: 'ours (npm, unminified)', kind: 'wasm', script: '/bench/npm-profile.js', readyEvent: 'bench:module-ready' };

/** Settings as Segment's CDN would send them for a hubspot-web instance with default mappings. */
function segmentSettings() {
  const { destination } = require(join(segmentDist, 'cjs/destinations/hubspot-web/index.js'));
  const defaults = Object.fromEntries(Object.entries(destination.settings)
    .filter(([, field]) => field.default !== undefined).map(([key, field]) => [key, field.default]));
  const subscriptions = destination.presets.map(({ name, subscribe, partnerAction, mapping }) =>
    ({ name, subscribe, partnerAction, mapping, enabled: true }));
  return { ...defaults, portalId: PORTAL, subscriptions };
}

/** Everything the pages load, in one temporary directory served on 127.0.0.1. */
async function prepareSite() {
  const root = mkdtempSync(join(tmpdir(), 'hubspot-bench-browser-'));
  // The npm package's module before terser (scripts/build.sh leaves it in pkg/, beside a dist/ of
  // this checkout), with the .wasm beside it, for the profile's names; else the shipped one.
  let readable;
  const unminified = join(DIST, '..', 'pkg', 'npm-index.js');
  if (existsSync(unminified)) {
    readable = join(root, 'npm-readable', 'index.js');
    cpSync(unminified, readable);
    cpSync(join(DIST, 'npm', 'hubspot_wasm_bg.wasm'), join(root, 'npm-readable', 'hubspot_wasm_bg.wasm'));
  }
  await new Promise((done, fail) => webpack(benchBundles(DIST, join(root, 'bench'), readable), (err, stats) =>
    (err || stats.hasErrors() ? fail(err || new Error(stats.toString('errors-only'))) : done())));
  cpSync(join(DIST, 'hubspot-wasm.js'), join(root, 'hubspot-wasm.js'));
  if (BEFORE) cpSync(join(BEFORE, 'hubspot-wasm.js'), join(root, 'before', 'hubspot-wasm.js'));
  // Segment's web build: the destination's file and the numbered directories of shared chunks it
  // loads relative to itself (its runtime), without source maps.
  for (const dir of readdirSync(segmentWeb).filter((d) => d === 'hubspot-web' || /^\d+$/.test(d))) {
    for (const file of readdirSync(join(segmentWeb, dir)).filter((f) => f.endsWith('.js'))) {
      cpSync(join(segmentWeb, dir, file), join(root, 'segment', dir, file));
    }
  }
  return root;
}

/**
 * Runs before any page script: times WebAssembly compile/instantiate calls and keeps every
 * instance's exported memories, whose size is our plugin's heap outside the JS heap.
 */
function captureWasm() {
  const W = WebAssembly;
  const record = { ms: 0, memories: [] };
  window.__benchWasm = record;
  const keep = (instance) => {
    for (const value of Object.values(instance.exports)) if (value instanceof W.Memory) record.memories.push(value);
    return instance;
  };
  const timed = (run) => {
    const t = performance.now();
    try { return run(); } finally { record.ms += performance.now() - t; }
  };
  const { Module, Instance, instantiate, instantiateStreaming } = W;
  // Constructors stay usable with `new`, `instanceof` (wasm-bindgen's glue checks both) and their
  // static methods.
  W.Module = function (...args) { return timed(() => new Module(...args)); };
  W.Instance = function (...args) { return keep(timed(() => new Instance(...args))); };
  W.Module.prototype = Module.prototype;
  W.Instance.prototype = Instance.prototype;
  Object.setPrototypeOf(W.Module, Module);
  for (const [name, original] of [['instantiate', instantiate], ['instantiateStreaming', instantiateStreaming]]) {
    W[name] = async (...args) => {
      const t = performance.now();
      const result = await original.apply(W, args);
      record.ms += performance.now() - t;
      keep(result instanceof Instance ? result : result.instance);
      return result;
    };
  }
}

const site = await prepareSite();
const server = await startServer(site, 0);
const origin = `http://127.0.0.1:${server.port}`;
const browser = await launchChromium();
const SETTINGS = { wasm: { portalId: PORTAL }, segment: segmentSettings(), none: {} };
const PAGE = '<!doctype html><html><head><title>bench</title></head><body><script src="/bench/page.js"></script></body></html>';

/** A fresh offline page (HubSpot's script is the stand-in) running the in-page driver. */
async function open() {
  const { context, page, external, consoleErrors: errors } = await openOffline(browser, origin, { body: PAGE, init: captureWasm });
  await page.waitForFunction(() => window.Bench);
  await page.evaluate(() => window.Bench.start());
  const cdp = await context.newCDPSession(page);
  await cdp.send('Performance.enable');
  return { context, page, external, errors, cdp };
}

/** JS heap in use after a full garbage collection, in bytes. */
async function heapUsed(cdp) {
  await cdp.send('HeapProfiler.collectGarbage');
  return (await cdp.send('Runtime.getHeapUsage')).usedSize;
}

/** Main-thread time spent in tasks since the page started, in ms (idle time excluded). */
async function busyMs(cdp) {
  const { metrics } = await cdp.send('Performance.getMetrics');
  return metrics.find((m) => m.name === 'TaskDuration').value * 1000;
}

const wasmBytes = (page) => page.evaluate(() => window.__benchWasm.memories.reduce((n, m) => n + m.buffer.byteLength, 0));

/** The HubSpot event name both plugins derive from a Segment track name by default. */
const hubspotName = (name) => `pe${PORTAL}_${name.replace(/[\s.]+/g, '_').toLowerCase()}`;

/** Fails the run unless the stand-in received one identify, or one event, per call of the loop. */
async function checkReceived(page, kind, from, label, phase) {
  const n = CALLS[phase];
  const log = await page.evaluate((from) => window.Bench.hubspotLog(from), from);
  const lastEmail = `user${n - 1}@example.com`;
  const lastName = await page.evaluate((i) => window.Bench.eventName(i), n - 1);
  const problems = kind === 'identify'
    ? [log.identify === n || `${log.identify} identify commands, expected ${n}`,
      log.lastIdentify?.email === lastEmail || `last identify has email ${log.lastIdentify?.email}`]
    : [log.events === n || `${log.events} events, expected ${n}`,
      log.lastEvent?.name === hubspotName(lastName) || `last event named ${log.lastEvent?.name}`,
      log.lastEvent?.email === lastEmail || `last event carries identity ${log.lastEvent?.email}`];
  const failed = problems.filter((p) => p !== true);
  if (failed.length) throw new Error(`${label}, ${phase} ${kind}: HubSpot did not receive the calls: ${failed.join('; ')}`);
  return log;
}

/** Makes a loop's inputs, then collects the garbage that made, so no loop pays for another's. */
async function prepare(page, cdp, phase, kind) {
  await page.evaluate(([phase, kind, n]) => window.Bench.prepare(phase, kind, n), [phase, kind, CALLS[phase]]);
  await cdp.send('HeapProfiler.collectGarbage');
}

const commandCount = (page) => page.evaluate(() => (window.HubSpotStandIn ? window.HubSpotStandIn.commands.length : 0));

/** One subject, one fresh page: every figure of one repetition. */
async function measure(key) {
  const subject = SUBJECTS[key];
  const t = await open();
  const { page, cdp } = t;
  try {
    const r = { moduleMs: await page.evaluate(([s, settings]) => window.Bench.loadPlugins(s, settings), [subject, SETTINGS[subject.kind]]) };
    r.wasmMs = await page.evaluate(() => window.__benchWasm.ms);
    r.registerMs = await page.evaluate(() => window.Bench.register());
    await page.evaluate(() => window.Bench.growNumberCaches());
    const heap0 = await heapUsed(cdp);
    const wasm0 = await wasmBytes(page);
    const hasPlugin = subject.kind !== 'none';
    const received = {};
    const pushed = {};
    // `own` is the first loop of each kind on a fresh page (cold: the wasm, or Segment's JavaScript,
    // still compiling and tiering up), `warm` the same calls again once both kinds have run.
    for (const [phase, run] of [['own', 'ownCost'], ['warm', 'ownCost'], ['e2e', 'endToEnd']]) {
      for (const kind of ['identify', 'track']) {
        await prepare(page, cdp, phase, kind);
        const from = await commandCount(page);
        const busy0 = await busyMs(cdp);
        r[`${phase}_${kind}_ms`] = await page.evaluate(([run, kind]) => window.Bench[run](kind), [run, kind]);
        r[`${phase}_${kind}_busy_ms`] = (await busyMs(cdp)) - busy0;
        r[`${phase}_${kind}_wasm_growth_kb`] = ((await wasmBytes(page)) - wasm0) / 1024;
        if (hasPlugin) received[`${phase}_${kind}`] = await checkReceived(page, kind, from, subject.label, phase);
        pushed[`${phase}_${kind}`] = [from, await commandCount(page)];
      }
    }
    // After every check, since the replay adds to what the stand-in received.
    for (const phase of ['own', 'warm']) {
      for (const kind of ['identify', 'track']) {
        r[`${phase}_${kind}_hsq_ms`] = await page.evaluate((range) => window.Bench.replayPushes(...range), pushed[`${phase}_${kind}`]);
      }
    }
    const texts = {};
    if (subject.kind === 'wasm') {
      for (const kind of ['identify', 'track']) texts[kind] = await page.evaluate((range) => window.Bench.commandTexts(...range), pushed[`warm_${kind}`]);
    }
    await page.evaluate(() => window.Bench.forgetHubSpotHistory());
    r.heapDeltaKB = ((await heapUsed(cdp)) - heap0) / 1024;
    r.wasmDeltaKB = ((await wasmBytes(page)) - wasm0) / 1024;
    // After the heap: the floor's loops would add their own compiled code to it.
    for (const kind of ['identify', 'track']) {
      if (subject.kind !== 'wasm') continue;
      await prepare(page, cdp, 'own', kind);
      r[`floor_${kind}_ms`] = await page.evaluate((t) => window.Bench.boundaryFloor(t), texts[kind]);
    }
    if (t.external.length) throw new Error(`${subject.label}: requests left 127.0.0.1: ${t.external.join(', ')}`);
    if (t.errors.length) throw new Error(`${subject.label}: console errors: ${t.errors.join(' | ')}`);
    return { r, received };
  } finally {
    await t.context.close();
  }
}

/** CPU profile of our identify own-cost loop: top self-time functions and time per kind of code. */
async function profileIdentify() {
  const t = await open();
  const { page, cdp } = t;
  try {
    await page.evaluate(([s, settings]) => window.Bench.loadPlugins(s, settings), [PROFILED, SETTINGS.wasm]);
    await page.evaluate(() => window.Bench.register());
    // Warm, as the table's own-cost rows: one unprofiled loop first.
    await prepare(page, cdp, 'own', 'identify');
    await page.evaluate(() => window.Bench.ownCost('identify'));
    await prepare(page, cdp, 'own', 'identify');
    await cdp.send('Profiler.enable');
    await cdp.send('Profiler.setSamplingInterval', { interval: 50 });
    await cdp.send('Profiler.start');
    await page.evaluate(() => window.Bench.ownCost('identify'));
    const { profile } = await cdp.send('Profiler.stop');
    return summarizeProfile(profile);
  } finally {
    await t.context.close();
  }
}

/**
 * Self time per function (a sample lasts until the next one, as DevTools counts it). Builtins
 * (no URL) are charged to the kind of code that called them; wasm-bindgen's anonymous import
 * shims are named after the import they implement.
 */
function summarizeProfile({ nodes, samples, timeDeltas }) {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of nodes) for (const child of n.children || []) parent.set(child, n.id);
  const glueSource = readFileSync(join(site, PROFILED.script), 'utf8').split('\n');
  const self = new Map();
  let total = 0;
  for (let i = 0; i < samples.length - 1; i++) {
    const node = byId.get(samples[i]);
    const f = node.callFrame;
    if (['(idle)', '(program)', '(root)'].includes(f.functionName)) continue;
    const ms = timeDeltas[i + 1] / 1000;
    const file = f.url.split('/').pop();
    const fn = f.functionName || (file === PROFILED.script.split('/').pop() && importName(glueSource, f.lineNumber)) || '(anonymous)';
    const name = f.url ? `${fn.replace(/_[0-9a-f]{16}$/, '')}  ${file}:${f.lineNumber + 1}` : fn;
    const entry = self.get(name) || { name, ms: 0, category: category(node, byId, parent) };
    entry.ms += ms;
    self.set(name, entry);
    total += ms;
  }
  const top = [...self.values()].sort((a, b) => b.ms - a.ms);
  const categories = {};
  for (const e of top) categories[e.category] = (categories[e.category] || 0) + e.ms;
  return { totalMs: total, calls: N, top: top.slice(0, Number(process.env.BENCH_TOP || 15)), categories };
}

/** The wasm-bindgen import (`__wbg_set_…: function …`) whose shim contains a line of the glue. */
function importName(lines, line) {
  for (let l = line; l >= Math.max(0, line - 3); l--) {
    const m = /(__wbg_\w+?|__wbindgen_\w+?)(?:_[0-9a-f]{16})?\s*:/.exec(lines[l]);
    if (m) return `${m[1]} (import)`;
  }
  return null;
}

function category(node, byId, parent) {
  const { url, functionName } = node.callFrame;
  if (functionName === '(garbage collector)') return 'garbage collector';
  if (functionName === 'wasm-to-js' || functionName === 'js-to-wasm') return 'JS↔wasm boundary (glue and JS snippets, their builtins, call stubs)';
  if (!url) {
    const up = parent.get(node.id);
    return up === undefined ? 'other' : category(byId.get(up), byId, parent);
  }
  if (url.startsWith('wasm://') || url.endsWith('.wasm')) return 'wasm code';
  if (url.endsWith(PROFILED.script)) return 'JS↔wasm boundary (glue and JS snippets, their builtins, call stubs)';
  if (HUBSPOT_SCRIPT_PATTERN.test(url)) return 'stand-in tracker (_hsq.push), not ours';
  if (url.endsWith('/page.js')) return 'benchmark loop, analytics-next Context';
  return 'other';
}

/** Figures derived from one repetition's raw measurements and its baseline page's. */
function derive(r, base) {
  const perCall = (ms, n = N) => (ms * 1000) / n;
  const d = {
    moduleMs: r.moduleMs,
    wasmMs: r.wasmMs,
    registerMs: r.registerMs,
    startupMs: r.moduleMs + r.registerMs,
    coldIdentifyUs: perCall(r.own_identify_ms),
    coldIdentifyNetUs: perCall(r.own_identify_ms - r.own_identify_hsq_ms),
    coldTrackUs: perCall(r.own_track_ms),
    coldTrackNetUs: perCall(r.own_track_ms - r.own_track_hsq_ms),
    warmIdentifyUs: perCall(r.warm_identify_ms),
    warmIdentifyHsqUs: perCall(r.warm_identify_hsq_ms),
    ownIdentifyUs: perCall(r.warm_identify_ms - r.warm_identify_hsq_ms),
    warmTrackUs: perCall(r.warm_track_ms),
    warmTrackHsqUs: perCall(r.warm_track_hsq_ms),
    ownTrackUs: perCall(r.warm_track_ms - r.warm_track_hsq_ms),
    e2eIdentifyUs: perCall(r.e2e_identify_ms - base.e2e_identify_ms, N_E2E),
    e2eIdentifyBusyUs: perCall(r.e2e_identify_busy_ms - base.e2e_identify_busy_ms, N_E2E),
    e2eTrackUs: perCall(r.e2e_track_ms - base.e2e_track_ms, N_E2E),
    e2eTrackBusyUs: perCall(r.e2e_track_busy_ms - base.e2e_track_busy_ms, N_E2E),
    analyticsIdentifyUs: perCall(r.e2e_identify_ms, N_E2E),
    analyticsIdentifyBusyUs: perCall(r.e2e_identify_busy_ms, N_E2E),
    analyticsTrackUs: perCall(r.e2e_track_ms, N_E2E),
    analyticsTrackBusyUs: perCall(r.e2e_track_busy_ms, N_E2E),
    floorIdentifyUs: perCall(r.floor_identify_ms ?? NaN),
    floorTrackUs: perCall(r.floor_track_ms ?? NaN),
    heapKB: r.heapDeltaKB - base.heapDeltaKB,
    wasmKB: r.wasmDeltaKB,
  };
  d.retainedKB = d.heapKB + d.wasmKB;
  return d;
}

function stats(values) {
  const s = [...values].sort((a, b) => a - b);
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] };
}

const ROWS = [
  ['module evaluation, ms', 'moduleMs', 1],
  ['  of which wasm compile+instantiate, ms', 'wasmMs', 1, { wasmOnly: true }],
  ['register() → loaded, ms', 'registerMs', 1],
  ['module + register → loaded, ms', 'startupMs', 1, { target: 15, unit: 'ms' }],
  ['identify, warm, µs/call', 'warmIdentifyUs', 1],
  ['  of which the stand-in\'s _hsq.push', 'warmIdentifyHsqUs', 1, { noRatio: true }],
  ['identify own cost (warm − stand-in), µs/call', 'ownIdentifyUs', 1, { target: 15, unit: 'µs' }],
  ['  of which the boundary floor (walk + JSON.parse)', 'floorIdentifyUs', 1, { wasmOnly: true }],
  ['identify own cost, cold, µs/call', 'coldIdentifyNetUs', 1],
  ['track, warm, µs/call', 'warmTrackUs', 1],
  ['  of which the stand-in\'s _hsq.push', 'warmTrackHsqUs', 1, { noRatio: true }],
  ['track own cost (warm − stand-in), µs/call', 'ownTrackUs', 1, { target: 10, unit: 'µs' }],
  ['  of which the boundary floor (walk + JSON.parse)', 'floorTrackUs', 1, { wasmOnly: true }],
  ['track own cost, cold, µs/call', 'coldTrackNetUs', 1],
  ['identify end to end − baseline, µs/call', 'e2eIdentifyUs', 0],
  ['  main-thread busy time only', 'e2eIdentifyBusyUs', 0],
  ['track end to end − baseline, µs/call', 'e2eTrackUs', 0],
  ['  main-thread busy time only', 'e2eTrackBusyUs', 0],
  ['JS heap retained − baseline, KB', 'heapKB', 0],
  ['  + wasm memory growth, KB', 'wasmKB', 0, { wasmOnly: true }],
  ['retained total, KB', 'retainedKB', 0, { target: 30, unit: 'KB', plus: true }],
];

const fmt = (v, digits) => (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(digits));
const cell = (s, digits) => `${fmt(s.median, digits)} [${fmt(s.min, digits)}–${fmt(s.max, digits)}]`;

/** "N× faster/smaller" for Segment's figure over ours (both medians). */
function ratio(segment, ours, isMemory) {
  if (!(ours > 0) || !(segment > 0)) return '–';
  const x = segment / ours;
  const [better, worse] = isMemory ? ['smaller', 'larger'] : ['faster', 'slower'];
  return x >= 1 ? `${x.toFixed(1)}× ${better}` : `${(1 / x).toFixed(1)}× ${worse}`;
}

function printTable(summary) {
  const before = summary.before !== undefined;
  const header = ['figure', SUBJECTS.script.label, SUBJECTS.npm.label, SUBJECTS.segment.label, 'Segment/ours (script tag)', 'target',
    ...(before ? [SUBJECTS.before.label, 'before/ours (script tag)'] : [])];
  const table = [header];
  for (const [title, field, digits, opt = {}] of ROWS) {
    const mark = (s) => (opt.target === undefined ? '' : s.median <= opt.target ? ' ✓' : ' ✗');
    const isMemory = field.endsWith('KB');
    table.push([
      title,
      ...['script', 'npm'].map((k) => cell(summary[k][field], digits) + mark(summary[k][field])),
      opt.wasmOnly ? '–' : cell(summary.segment[field], digits),
      opt.wasmOnly || opt.noRatio ? '' : ratio(summary.segment[field].median, summary.script[field].median, isMemory),
      opt.target === undefined ? '' : `≤ ${opt.plus ? '+' : ''}${opt.target} ${opt.unit}`,
      ...(before ? [cell(summary.before[field], digits), opt.noRatio ? '' : ratio(summary.before[field].median, summary.script[field].median, isMemory)] : []),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...table.map((row) => [...row[i]].length)));
  const line = (row) => row.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(header));
  console.log(widths.map((w) => '─'.repeat(w)).join('  '));
  for (const row of table.slice(1)) console.log(line(row));
  // The issue-14 target of 0.15× Segment's own cost, beside what our boundary alone costs.
  const s = summary.segment;
  const f = summary.script;
  console.log(`\n0.15× Segment's own cost, µs/call: identify ${fmt(0.15 * s.ownIdentifyUs.median, 1)}, track ${fmt(0.15 * s.ownTrackUs.median, 1)};` +
    ` our boundary floor alone (walk + JSON.parse, no wasm): identify ${fmt(f.floorIdentifyUs.median, 1)}, track ${fmt(f.floorTrackUs.median, 1)}`);
  const b = summary.baseline;
  console.log(`\nanalytics-next alone (baseline page), µs/call: identify ${cell(b.analyticsIdentifyUs, 0)}, track ${cell(b.analyticsTrackUs, 0)}` +
    ` (busy: ${cell(b.analyticsIdentifyBusyUs, 0)}, ${cell(b.analyticsTrackBusyUs, 0)})`);
}

function printReceived(received) {
  console.log('\nWhat HubSpot (the stand-in) received in repetition 1, own-cost loops (every loop of every page is checked):');
  for (const [key, s] of Object.entries(received)) {
    const id = s.own_identify.lastIdentify;
    const ev = s.own_track.lastEvent;
    console.log(`  ${SUBJECTS[key].label.padEnd(20)} ${s.own_identify.identify} identify (last: ${Object.keys(id).length} properties, email ${id.email}); ` +
      `${s.own_track.events} events (last: ${ev.name}, ${Object.keys(ev.properties).length} properties, identity ${ev.email})`);
  }
}

function printProfile(profile) {
  console.log(`\nProfile of our identify own cost (${PROFILED.label}, ${profile.calls} calls, ${profile.totalMs.toFixed(0)} ms sampled, self time):`);
  for (const [name, ms] of Object.entries(profile.categories).sort((a, b) => b[1] - a[1])) {
    console.log(`  ${((100 * ms) / profile.totalMs).toFixed(1).padStart(5)} %  ${name}`);
  }
  console.log('  top functions:');
  for (const e of profile.top) {
    console.log(`  ${((100 * e.ms) / profile.totalMs).toFixed(1).padStart(5)} %  ${e.ms.toFixed(1).padStart(7)} ms  ${e.name}  [${e.category}]`);
  }
  if (profile.top.some((e) => e.name.startsWith('wasm-function['))) {
    console.log('  (wasm functions are unnamed: scripts/build.sh strips the name section; for names, profile a build whose\n' +
      '   .wasm keeps it: wasm-bindgen without --remove-name-section, wasm-opt with -g)');
  }
}

// ---- run ----

const profileOnly = process.argv.includes('--profile-only');
const runs = Object.fromEntries(Object.keys(SUBJECTS).map((k) => [k, []]));
let received = null;
let profile;
let chromiumVersion;
try {
  if (!profileOnly) {
    const order = Object.keys(SUBJECTS);
    for (let rep = 0; rep < REPS; rep++) {
      const rotated = order.map((_, i) => order[(i + rep) % order.length]);
      process.stdout.write(`repetition ${rep + 1}/${REPS}: ${rotated.join(', ')} ... `);
      for (const key of rotated) {
        const m = await measure(key);
        runs[key].push(m.r);
        if (rep === 0 && key !== 'baseline') (received ||= {})[key] = m.received;
      }
      console.log(`${((Date.now() - started) / 1000).toFixed(0)} s`);
    }
  }
  profile = await profileIdentify();
  chromiumVersion = browser.version();
} finally {
  await browser.close();
  await server.close();
  rmSync(site, { recursive: true, force: true });
}

console.log(`\nHubSpot destinations in the browser: per-call benchmark`);
console.log(`Chromium ${chromiumVersion}, @segment/analytics-next ${installedVersion('@segment/analytics-next')}, ` +
  `Segment hubspot-web from @segment/browser-destinations ${installedVersion('@segment/browser-destinations')} (its CDN build)`);
if (profileOnly) {
  console.log(`DIST=${DIST}`);
  printProfile(profile);
  process.exit(0);
}

const derived = Object.fromEntries(Object.entries(runs).map(([key, reps]) => [key, reps.map((r, rep) => derive(r, runs.baseline[rep]))]));
const summary = Object.fromEntries(Object.entries(derived).map(([key, reps]) =>
  [key, Object.fromEntries(Object.keys(reps[0]).map((f) => [f, stats(reps.map((d) => d[f]))]))]));
console.log(`DIST=${DIST}${BEFORE ? `, BEFORE=${BEFORE}` : ''}; own cost: ${N} identify (30 traits) and ${N} track (15 properties) calls per loop, ` +
  `end to end: ${N_E2E} of each; ` +
  `median [min–max] of ${REPS} repetitions\n`);
printTable(summary);
printReceived(received);
printProfile(profile);

const runtimeS = (Date.now() - started) / 1000;
const out = resolve('bench/results/browser.json');
mkdirSync(resolve('bench/results'), { recursive: true });
writeFileSync(out, JSON.stringify({
  date: new Date().toISOString(),
  chromium: chromiumVersion,
  analyticsNext: installedVersion('@segment/analytics-next'),
  browserDestinations: installedVersion('@segment/browser-destinations'),
  dist: DIST,
  calls: CALLS,
  repetitions: REPS,
  runtimeS,
  subjects: Object.fromEntries(Object.entries(SUBJECTS).map(([k, s]) => [k, s.label])),
  targets: { ownIdentifyUs: 15, ownTrackUs: 10, startupMs: 15, retainedKB: 30 },
  summary,
  repetitionsDerived: derived,
  repetitionsRaw: runs,
  received,
  profile,
}, null, 2) + '\n');
console.log(`\nwritten ${out}; ${runtimeS.toFixed(0)} s`);
