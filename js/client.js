// The standalone client for sites without Segment: Segment-spec arguments in, Segment events to
// the wasm's one exported class, `Destination`. JavaScript rather than a second exported Rust
// class: every export costs the wasm and its glue bytes, and this is argument shuffling only.

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

/** The `Client` class over a build's `Destination` class. */
export function clientClass(Destination) {
  return class Client {
    #destination;
    #reset = () => {};

    /** Validates settings (throws an Error naming a bad setting) and starts loading HubSpot. */
    constructor(settings) {
      this.#destination = new Destination(settings);
      // The destination listens for analytics.reset() through `on`: the client's reset() is that.
      const host = { on: (_name, reset) => (this.#reset = reset) };
      /** Resolves once HubSpot is ready, has failed or timed out, or consent keeps it away. */
      this.loaded = this.#destination.load(undefined, host);
    }

    /** `page([category], [name], [properties])`. */
    page(a, b, c) {
      const [category, name, properties] =
        typeof a === 'string' && typeof b === 'string' ? [a, b, c] : typeof a === 'string' ? [undefined, a, b] : [undefined, undefined, a];
      const event = segmentEvent('page', 'properties', properties);
      if (name !== undefined) event.name = name;
      if (category !== undefined) event.category = category;
      this.#destination.page({ event });
    }

    /** `identify([userId], [traits])`. */
    identify(a, b) {
      const withId = typeof a === 'string' || typeof a === 'number';
      const event = segmentEvent('identify', 'traits', withId ? b : a);
      if (withId) event.userId = a;
      this.#destination.identify({ event });
    }

    /** `track(event, [properties])`. */
    track(name, properties) {
      const event = segmentEvent('track', 'properties', properties);
      event.event = name;
      this.#destination.track({ event });
    }

    /** Forgets the visitor (and deletes HubSpot's cookies unless `resetClearsVisitor: false`). */
    reset() {
      this.#reset();
    }

    /** Changes consent: 'granted' | 'pending' | 'denied' (throws on anything else). */
    setConsent(state) {
      this.#destination.setConsent(state);
    }

    /** True while an identify waits for a page view or event to carry it to HubSpot. */
    pendingIdentity() {
      return this.#destination.pendingIdentity();
    }
  };
}
