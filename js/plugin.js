// The two faces sites use, over the wasm's one exported class (`Instance`, src/plugin.rs): the
// analytics-next destination plugin and the standalone client. JavaScript rather than more
// exported Rust: every export costs the wasm and its glue bytes, and this is names, getters and
// argument shuffling; every decision is the engine's. Values reach the instance as tapes
// (js/tape.js): text and ops as the export's arguments, with no import for the wasm to call back.
import { encode, encodeEvent, takeOps } from './tape.js';

/** `ctx.event`, or undefined when `ctx` is not an object or its getter throws. */
function eventOf(ctx) {
  try {
    return ctx == null ? undefined : ctx.event;
  } catch {
    return undefined;
  }
}

/** A Segment event with `context.page` from the current location, as analytics.js builds it. */
function segmentEvent(type, payloadKey, payload) {
  const event = { type, [payloadKey]: payload };
  if (typeof location !== 'undefined') {
    const page = { path: location.pathname, search: location.search, url: location.href };
    if (typeof document !== 'undefined') {
      page.title = document.title;
      page.referrer = document.referrer;
    }
    event.context = { page };
  }
  return event;
}

// What `instance.signal(code, 0)` also does besides the page's signals (src/engine.rs's codes):
// one export rather than one each, which would cost the wasm and its glue bytes.
const RESET = 6;
const IS_LOADED = 7;
const PENDING_IDENTITY = 8;
const LOAD = 9;
// What the engine calls the signal function with once a load has settled.
const SETTLED = 10;

/** The `Destination` and `Client` classes over a build's `Instance` class. */
export function classes(Instance, version) {
  // An instance and its `load()`. Timers, the readiness poll and script events reach the
  // instance through the function made here, and the engine calls it with SETTLED once a load
  // has settled; `load()`'s promises are made and kept here until then (they always resolve).
  // JavaScript, because closures and a list of functions in Rust cost the wasm and its glue more.
  const create = (settings) => {
    const resolves = [];
    const instance = new Instance(encode(settings), takeOps(), (code, arg) =>
      code === SETTLED ? resolves.splice(0).forEach((resolve) => resolve()) : instance.signal(code, arg),
    );
    const load = () =>
      new Promise((resolve) => {
        resolves.push(resolve);
        instance.signal(LOAD, 0);
      });
    return [instance, load];
  };
  // Hands a Segment event to an instance, of it only what the core's mappings read.
  const call = (instance, event) => instance.call(encodeEvent(event), takeOps());
  // Changes an instance's consent. The wasm returns the Error for a word that is not a consent
  // state rather than throwing it: a throwing export costs the wasm a shim and the glue code.
  const setConsent = (instance, state) => {
    const error = instance.setConsent(state);
    if (error) throw error;
  };

  /**
   * An analytics-next destination plugin named 'HubSpot' (so `integrations: {HubSpot: false}`
   * turns it off). Event methods return the context and never throw.
   */
  class Destination {
    #instance;
    #load;

    /** Validates settings (throws an Error naming a bad setting); nothing loads before `load`. */
    constructor(settings) {
      [this.#instance, this.#load] = create(settings);
    }

    get name() {
      return 'HubSpot';
    }

    get type() {
      return 'destination';
    }

    get version() {
      return version;
    }

    /** True once HubSpot's tracker is ready. */
    isLoaded() {
      return this.#instance.signal(IS_LOADED, 0);
    }

    /** Starts loading HubSpot and listens for `analytics.reset()`; always resolves. */
    load(_ctx, analytics) {
      try {
        if (analytics != null && typeof analytics.on === 'function') analytics.on('reset', () => this.#instance.signal(RESET, 0));
      } catch {
        // A host whose emitter throws still gets a destination that loads; only reset is lost.
      }
      return this.#load();
    }

    page(ctx) {
      return this.#call(ctx);
    }

    identify(ctx) {
      return this.#call(ctx);
    }

    track(ctx) {
      return this.#call(ctx);
    }

    group(ctx) {
      return this.#call(ctx);
    }

    alias(ctx) {
      return this.#call(ctx);
    }

    screen(ctx) {
      return this.#call(ctx);
    }

    /** Changes consent: 'granted' | 'pending' | 'denied' (throws on anything else). */
    setConsent(state) {
      setConsent(this.#instance, state);
    }

    /** True while an identify waits for a page view or event to carry it to HubSpot. */
    pendingIdentity() {
      return this.#instance.signal(PENDING_IDENTITY, 0);
    }

    #call(ctx) {
      call(this.#instance, eventOf(ctx));
      return ctx;
    }
  }

  /** The standalone client for sites without Segment: Segment-spec `page`, `identify`, `track`. */
  class Client {
    #instance;

    /** Validates settings (throws an Error naming a bad setting) and starts loading HubSpot. */
    constructor(settings) {
      const [instance, load] = create(settings);
      this.#instance = instance;
      /** Resolves once HubSpot is ready, has failed or timed out, or consent keeps it away. */
      this.loaded = load();
    }

    /** `page([category], [name], [properties])`. */
    page(a, b, c) {
      const [category, name, properties] =
        typeof a === 'string' && typeof b === 'string' ? [a, b, c] : typeof a === 'string' ? [undefined, a, b] : [undefined, undefined, a];
      const event = segmentEvent('page', 'properties', properties);
      if (name !== undefined) event.name = name;
      if (category !== undefined) event.category = category;
      call(this.#instance, event);
    }

    /** `identify([userId], [traits])`. */
    identify(a, b) {
      const withId = typeof a === 'string' || typeof a === 'number';
      const event = segmentEvent('identify', 'traits', withId ? b : a);
      if (withId) event.userId = a;
      call(this.#instance, event);
    }

    /** `track(event, [properties])`. */
    track(name, properties) {
      const event = segmentEvent('track', 'properties', properties);
      event.event = name;
      call(this.#instance, event);
    }

    /** Forgets the visitor (and deletes HubSpot's cookies unless `resetClearsVisitor: false`). */
    reset() {
      this.#instance.signal(RESET, 0);
    }

    /** Changes consent: 'granted' | 'pending' | 'denied' (throws on anything else). */
    setConsent(state) {
      setConsent(this.#instance, state);
    }

    /** True while an identify waits for a page view or event to carry it to HubSpot. */
    pendingIdentity() {
      return this.#instance.signal(PENDING_IDENTITY, 0);
    }
  }

  return { Destination, Client };
}
