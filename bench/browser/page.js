// The in-page half of the browser benchmark (bundled with analytics-next by webpack.config.mjs
// into bench/page.js; run.mjs drives it through `window.Bench`). Everything timed runs here, so
// no Playwright round trip is inside a measurement.
import { AnalyticsBrowser, Context } from '@segment/analytics-next';

// Offline analytics-next, as in tests/e2e: settings given inline (no CDN fetch), Segment.io and
// remote metrics off (they would POST to api.segment.io), no automatic page call.
const ANALYTICS_SETTINGS = { writeKey: 'bench', cdnSettings: { integrations: {}, metrics: { sampleRate: 0 } } };
const ANALYTICS_OPTIONS = { integrations: { 'Segment.io': false }, disableClientPersistence: true, initialPageview: false };

const EVENT_NAMES = ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed', 'Coupon Applied'];

/** 30 traits of the kinds sites send, varied by `i` so no call repeats another. */
export function traits(i) {
  return {
    email: `user${i}@example.com`,
    firstName: `Ada${i % 97}`,
    lastName: 'Lovelace',
    name: `Ada${i % 97} Lovelace`,
    phone: `+1 555 01${String(i % 100).padStart(2, '0')}`,
    title: 'Head of Engineering',
    username: `ada_${i}`,
    website: `https://example.com/u/${i}`,
    age: 20 + (i % 50),
    plan: i % 3 === 0 ? 'enterprise' : 'pro',
    seats: 1 + (i % 40),
    mrr: 49.5 + (i % 10),
    isPaying: i % 2 === 0,
    newsletter: i % 5 !== 0,
    createdAt: '2024-05-01T12:00:00.000Z',
    lastLogin: new Date(Date.UTC(2025, 0, 1 + (i % 28), 9, 30)),
    'favorite color': ['teal', 'orange', 'violet'][i % 3],
    address: { street: `${i} Main St`, city: 'Springfield', state: 'IL', postalCode: '62701', country: 'US' },
    company: { name: `Acme ${i % 50}`, id: `c-${i % 50}`, industry: 'Software', employee_count: 120 + (i % 7), plan: 'growth' },
    gender: 'female',
    birthday: '1990-04-12',
    description: 'Signed up through the pricing page after a webinar.',
    avatar: `https://cdn.example.com/avatars/${i}.png`,
    source: i % 2 ? 'webinar' : 'organic search',
    logins: i % 300,
    score: (i % 1000) / 10,
    verified: true,
    language: 'en-US',
    timezone: 'America/Chicago',
    role: 'admin',
  };
}

/** 15 event properties, varied by `i`. */
export function properties(i) {
  return {
    product_id: `p-${i}`,
    sku: `SKU-${i % 500}`,
    category: 'Games',
    name: `Monopoly edition ${i % 12}`,
    brand: 'Hasbro',
    variant: i % 2 ? 'red' : 'blue',
    price: 18.99 + (i % 5),
    quantity: 1 + (i % 3),
    currency: 'USD',
    coupon: i % 4 ? null : 'SPRING',
    position: i % 10,
    url: `https://shop.example.com/p/${i}`,
    image_url: `https://shop.example.com/p/${i}.jpg`,
    in_stock: i % 7 !== 0,
    'Shipping Method': 'express',
  };
}

const eventName = (i) => EVENT_NAMES[i % EVENT_NAMES.length];
const nextTask = () => new Promise((resolve) => setTimeout(resolve, 0));

const state = { analytics: null, plugins: [], templates: {} };

/** Seconds-free helper: main-thread time to evaluate a script, network excluded. */
function loadScript(src, readyEvent) {
  return new Promise((resolve, reject) => {
    const ready = readyEvent && new Promise((done) => window.addEventListener(readyEvent, () => done(performance.now()), { once: true }));
    const s = document.createElement('script');
    s.src = src;
    s.onerror = () => reject(new Error(`could not load ${src}`));
    s.onload = async () => {
      const loaded = ready ? await ready : performance.now();
      const [entry] = performance.getEntriesByName(s.src);
      resolve(loaded - entry.responseEnd);
    };
    document.head.appendChild(s);
  });
}

window.Bench = {
  traits,
  properties,

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

  /** Milliseconds from `analytics.register(...)` to its promise resolving (every plugin loaded). */
  async register() {
    const t0 = performance.now();
    await state.analytics.register(...state.plugins);
    const ms = performance.now() - t0;
    if (!state.plugins.every((p) => p.isLoaded())) throw new Error('a plugin is not loaded after register()');
    return ms;
  },

  /**
   * The plugins' own cost: `n` contexts made first, then each plugin's method awaited in sequence
   * per context, as analytics-next awaits a destination. Ends after the next task, because our
   * plugin forwards a task's calls when the task ends. Returns total milliseconds.
   */
  async ownCost(kind, n) {
    const template = state.templates[kind];
    const contexts = Array.from({ length: n }, (_, i) => new Context({
      ...template,
      messageId: `bench-${kind}-${i}`,
      context: structuredClone(template.context),
      ...(kind === 'identify' ? { userId: `user-${i}`, traits: traits(i) } : { event: eventName(i), properties: properties(i) }),
    }));
    const plugins = state.plugins;
    await nextTask();
    const t0 = performance.now();
    for (const ctx of contexts) {
      for (const plugin of plugins) await plugin[kind](ctx);
    }
    await nextTask();
    return performance.now() - t0;
  },

  /** `n` calls through analytics-next, each awaited (delivered) before the next. Total ms. */
  async endToEnd(kind, n) {
    const args = Array.from({ length: n }, (_, i) => (kind === 'identify' ? [`user-${i}`, traits(i)] : [eventName(i), properties(i)]));
    const analytics = state.analytics;
    await nextTask();
    const t0 = performance.now();
    for (const a of args) await analytics[kind](...a);
    return performance.now() - t0;
  },

  /** What the stand-in tracker recorded since `from` commands: counts and the last of each. */
  hubspotLog(from = 0) {
    const hs = window.HubSpotStandIn;
    if (!hs) return { commands: 0, identify: 0, events: 0 };
    const commands = hs.commands.slice(from);
    const identifies = commands.filter((c) => c[0] === 'identify');
    const events = hs.received.filter((r) => r.type === 'event');
    const last = events[events.length - 1];
    return {
      at: hs.commands.length,
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
