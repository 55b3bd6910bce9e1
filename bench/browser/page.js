// The in-page half of the browser benchmark (bundled with analytics-next by webpack.config.mjs
// into bench/page.js; run.mjs drives it through `window.Bench`). Everything timed runs here, so
// no Playwright round trip is inside a measurement.
import { AnalyticsBrowser, Context } from '@segment/analytics-next';
import { eventName, properties, traits } from './workload.mjs';
// The walk our plugin does before each call (the source, so the floor is this design's).
import { encodeEvent, takeOps } from '../../js/tape.js';

// Offline analytics-next, as in tests/e2e: settings given inline (no CDN fetch), Segment.io and
// remote metrics off (they would POST to api.segment.io), no automatic page call.
const ANALYTICS_SETTINGS = { writeKey: 'bench', cdnSettings: { integrations: {}, metrics: { sampleRate: 0 } } };
const ANALYTICS_OPTIONS = { integrations: { 'Segment.io': false }, disableClientPersistence: true, initialPageview: false };

const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));
const channel = new MessageChannel();
/**
 * Between two end-to-end calls: a timer, so analytics-next ends its flush cycle (and ours its
 * task), then a message, so the next call starts from a fresh task. analytics-next delivers
 * through chains of setTimeout(0); chained across calls they nest deeper than 5 and Chromium
 * clamps each to 4 ms: every call would then wait ~4.7 ms instead of taking ~0.2–0.5 ms.
 */
const settle = async () => {
  await nextTask();
  await new Promise((resolve) => {
    channel.port1.onmessage = resolve;
    channel.port2.postMessage(null);
  });
};

const state = { analytics: null, plugins: [], templates: {}, prepared: null };

/**
 * Main-thread ms to evaluate a script (to its load event, or to `readyEvent` for an async module),
 * network excluded. An uncaught error while it loads fails the load instead of waiting forever.
 */
function loadScript(src, readyEvent) {
  return new Promise((resolve, reject) => {
    const fail = (e) => reject(new Error(`${src} failed: ${e.reason || e.message || e}`));
    window.addEventListener('error', fail, { once: true });
    window.addEventListener('unhandledrejection', fail, { once: true });
    const ready = readyEvent && new Promise((done) => window.addEventListener(readyEvent, () => done(performance.now()), { once: true }));
    const s = document.createElement('script');
    s.src = src;
    s.onerror = () => fail('not loaded');
    s.onload = async () => {
      const loaded = ready ? await ready : performance.now();
      window.removeEventListener('error', fail);
      window.removeEventListener('unhandledrejection', fail);
      const [entry] = performance.getEntriesByName(s.src);
      resolve(loaded - entry.responseEnd);
    };
    document.head.appendChild(s);
  });
}

window.Bench = {
  eventName,

  /**
   * Loads analytics-next and records one identify and one track event as a destination receives
   * them (after analytics-next's enrichment), as templates for the contexts of the own-cost loops.
   */
  async start() {
    const [analytics] = await AnalyticsBrowser.load(ANALYTICS_SETTINGS, ANALYTICS_OPTIONS);
    const recorder = {
      name: 'Bench Recorder', type: 'destination', version: '1', isLoaded: () => true, load: async () => {},
      identify: (ctx) => { state.templates.identify = ctx.event; return ctx; },
      track: (ctx) => { state.templates.track = ctx.event; return ctx; },
    };
    await analytics.register(recorder);
    await analytics.identify('template', traits(0));
    await analytics.track(eventName(0), properties(0));
    await analytics.deregister(recorder.name);
    state.analytics = analytics;
  },

  /**
   * Loads a subject's code and creates its plugins. Returns the main-thread milliseconds spent
   * evaluating it (each script from its response's end to its load event, or for an async module
   * to the moment it is usable), network transfer excluded.
   */
  async loadPlugins(subject, settings) {
    let moduleMs = 0;
    if (subject.kind === 'wasm') {
      moduleMs += await loadScript(subject.script, subject.readyEvent);
      state.plugins = [window.HubSpotWasm.destination(settings)];
    } else if (subject.kind === 'segment') {
      moduleMs += await loadScript(subject.script);
      // Its runtime is a lazy chunk loaded by the factory: timed the same way as a script.
      const t = performance.now();
      state.plugins = await window[subject.global](settings);
      const chunk = performance.getEntriesByType('resource').find((e) => e.startTime >= t - 1 && e.initiatorType === 'script');
      moduleMs += performance.now() - (chunk ? chunk.responseEnd : t);
    }
    return moduleMs;
  },

  /**
   * Milliseconds from `analytics.register(...)` until every plugin's `load()` has resolved.
   * analytics-next's register() does not wait for a destination's load(), so the load promises
   * are caught on their way to it.
   */
  async register() {
    const loads = [];
    for (const plugin of state.plugins) {
      const load = plugin.load;
      plugin.load = (...args) => {
        const loading = load.apply(plugin, args);
        loads.push(loading);
        return loading;
      };
    }
    const t0 = performance.now();
    await state.analytics.register(...state.plugins);
    await Promise.all(loads);
    const ms = performance.now() - t0;
    if (!state.plugins.every((p) => p.isLoaded())) throw new Error('a plugin is not loaded after its load() resolved');
    return ms;
  },

  /**
   * Grows V8's number-to-string caches to their full size (64 KB for small integers, more for
   * doubles) before the heap is first measured. V8 grows them once per page, when conversions
   * start to collide; the loops' own inputs (`user-${i}`) get them there, earlier or later
   * depending on anything at all, and a growth inside the measured window read as ~60 KB more
   * "retained" by whichever subject it fell on (issue 14: two size steps were reverted for it).
   */
  growNumberCaches() {
    let n = 0;
    for (let i = 0; i < 40000; i++) n += String(i).length + String(i + 0.5).length;
    return n;
  },

  /**
   * Makes the inputs of one loop before it is timed: for `own`, `n` analytics-next Contexts (the
   * recorded event with this call's id, user or name, and traits or properties); for `e2e`, the
   * arguments of `n` analytics calls.
   */
  prepare(phase, kind, n) {
    const template = state.templates[kind];
    state.prepared = Array.from({ length: n }, (_, i) => {
      const payload = kind === 'identify' ? [`user-${i}`, traits(i)] : [eventName(i), properties(i)];
      if (phase === 'e2e') return payload;
      const fields = kind === 'identify' ? { userId: payload[0], traits: payload[1] } : { event: payload[0], properties: payload[1] };
      return new Context({ ...template, ...fields, messageId: `bench-${kind}-${i}`, context: structuredClone(template.context) });
    });
  },

  /**
   * The plugins' own cost over the prepared contexts: each plugin's method awaited in sequence per
   * context, as analytics-next awaits a destination. Ends after the next task, because our plugin
   * forwards a task's calls when the task ends. Total ms.
   */
  async ownCost(kind) {
    const contexts = state.prepared;
    const plugins = state.plugins;
    state.prepared = null;
    await nextTask();
    const t0 = performance.now();
    for (const ctx of contexts) {
      for (const plugin of plugins) await plugin[kind](ctx);
    }
    await nextTask();
    return performance.now() - t0;
  },

  /** The prepared calls through analytics-next, each awaited and followed by `settle()`. Total ms. */
  async endToEnd(kind) {
    const calls = state.prepared;
    const analytics = state.analytics;
    state.prepared = null;
    await settle();
    const t0 = performance.now();
    for (const args of calls) {
      await analytics[kind](...args);
      await settle();
    }
    return performance.now() - t0;
  },

  /**
   * The JSON text of the stand-in's commands `from`..`to` (what our plugin's wasm wrote for them),
   * for `boundaryFloor`; taken before the history is dropped, measured after the heap is.
   */
  commandTexts(from, to) {
    return window.HubSpotStandIn.commands.slice(from, to).map((c) => JSON.stringify(c));
  },

  /**
   * The floor of our value boundary, without the wasm: the JavaScript walk of each prepared
   * context's event into a tape (js/tape.js's `encodeEvent`) plus `JSON.parse` of the commands'
   * text. Every call of our plugin pays both, whatever the wasm does. Total ms.
   */
  boundaryFloor(texts) {
    const contexts = state.prepared;
    state.prepared = null;
    const t0 = performance.now();
    for (const ctx of contexts) {
      encodeEvent(ctx.event);
      takeOps();
    }
    for (const text of texts) JSON.parse(text);
    return performance.now() - t0;
  },

  /**
   * Pushes the stand-in's commands `from`..`to` again, straight into `_hsq`: how much of a loop's
   * time was HubSpot's tracker (here the stand-in) handling what the plugin pushed. Total ms.
   */
  replayPushes(from, to) {
    const hs = window.HubSpotStandIn;
    if (!hs) return 0;
    const commands = hs.commands.slice(from, to);
    const t0 = performance.now();
    for (const command of commands) window._hsq.push(command);
    return performance.now() - t0;
  },

  /** What the stand-in tracker recorded since `from` commands: counts and the last of each. */
  hubspotLog(from = 0) {
    const hs = window.HubSpotStandIn;
    const commands = hs.commands.slice(from);
    const identifies = commands.filter((c) => c[0] === 'identify');
    const events = hs.received.filter((r) => r.type === 'event');
    const last = events[events.length - 1];
    return {
      identify: identifies.length,
      events: commands.filter((c) => c[0] === 'trackCustomBehavioralEvent').length,
      lastIdentify: identifies.length ? identifies[identifies.length - 1][1] : null,
      lastEvent: last ? { name: last.name, properties: last.properties, email: last.identity && last.identity.email } : null,
    };
  },

  /**
   * Drops what the stand-in and `_hsq` keep of every command: HubSpot's real tracker sends
   * commands on rather than keeping them, so this history is not the plugin's memory.
   */
  forgetHubSpotHistory() {
    const hs = window.HubSpotStandIn;
    if (hs) for (const list of [hs.commands, hs.received, hs.ignored]) list.length = 0;
    if (Array.isArray(window._hsq)) window._hsq.length = 0;
  },
};
