// npm entry (ESM, for bundlers and <script type="module">). The wasm is fetched beside this file
// (new URL(..., import.meta.url), which webpack 5 turns into an asset) and instantiated before
// any import of this module resolves, so `destination(settings)` is synchronous for callers.
import init, { destination as makeDestination, createClient, Destination, Client } from './hubspot_wasm.js';
import { version } from './version.js';

await init();

/** An analytics-next destination plugin: `analytics.register(destination({portalId}))`. */
export function destination(settings) {
  return makeDestination(settings);
}

/** The standalone client for sites without Segment (rejects on invalid settings). */
export function load(settings) {
  return new Promise((resolve) => resolve(createClient(settings)));
}

/** This package's version. */
export { version };

export { Destination, Client };
