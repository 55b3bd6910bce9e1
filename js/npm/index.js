// npm entry (ESM, for bundlers and <script type="module">). scripts/build.sh bundles it with what
// it imports into the package's one JavaScript file, dist/npm/index.js: a page without a bundler
// makes one request for it, not seven, and one file compresses better than seven. The wasm is
// fetched beside that file (new URL(..., import.meta.url), which webpack 5 turns into an asset)
// and instantiated before any import of this module resolves, so `destination(settings)` is
// synchronous for callers.
import init, { Instance } from '../../pkg/web/hubspot_wasm.js';
import { classes } from '../plugin.js';
import { version } from '../../pkg/version.js';
import { inert } from '../inert.js';

// Under a CSP without 'wasm-unsafe-eval' init() rejects. A rejected top-level await would fail
// every module that imports this one (the site's whole bundle): the exports turn inert instead.
const m = await init().then(
  () => {
    const { Destination, Client } = classes(Instance, version);
    return {
      unavailable: null,
      destination: (settings) => new Destination(settings),
      createClient: (settings) => new Client(settings),
      Destination,
      Client,
    };
  },
  (error) => inert(error, version),
);

/** An analytics-next destination plugin: `analytics.register(destination({portalId}))`. */
export function destination(settings) {
  return m.destination(settings);
}

/** The standalone client for sites without Segment (rejects on invalid settings). */
export function load(settings) {
  return new Promise((resolve) => resolve(m.createClient(settings)));
}

/** Why the module is off (WebAssembly did not start, e.g. under a CSP), else null. */
export const unavailable = m.unavailable;

/** The plugin and client classes (inert constructors when the module is off). */
export const Destination = m.Destination;
export const Client = m.Client;

/** This package's version. */
export { version };
