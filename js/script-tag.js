// Script-tag entry: defines window.HubSpotWasm and window.HubSpotWasmDestination.
// The wasm is inlined (one character per byte, XORed with `key`, see scripts/latin1.mjs) so the
// API is ready synchronously, with no second request and no path to work out from the script's URL.
import { initSync, Instance } from '../pkg/inline/hubspot_wasm.js';
import { classes } from './plugin.js';
import wasmText, { key } from '../pkg/inline/wasm-latin1.js';
import { version } from '../pkg/version.js';
import { inert } from './inert.js';

// A plain loop: about 0.5 ms for the whole module (a callback per byte, as with
// Uint8Array.from(text, fn), costs tens of milliseconds).
function decodeLatin1(text) {
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i) ^ key;
  return bytes;
}

(function install() {
  // Loaded twice on one page: keep the first copy, whose destinations may already be running.
  if (window.HubSpotWasm && typeof window.HubSpotWasm.destination === 'function') return;
  const { Destination, Client } = classes(Instance, version);
  let m = {
    unavailable: null,
    destination: (settings) => new Destination(settings),
    createClient: (settings) => new Client(settings),
    Destination,
    Client,
  };
  try {
    initSync({ module: decodeLatin1(wasmText) });
  } catch (error) {
    // A CSP without 'wasm-unsafe-eval' throws here: the page still gets an API, one that does
    // nothing, rather than an undefined HubSpotWasm.
    m = inert(error, version);
  }
  const api = {
    version,
    unavailable: m.unavailable,
    destination: (settings) => m.destination(settings),
    load: (settings) => new Promise((resolve) => resolve(m.createClient(settings))),
    Destination: m.Destination,
    Client: m.Client,
  };
  api.ready = Promise.resolve(api);
  window.HubSpotWasm = api;
  // analytics-next remote-plugin convention: {url, libraryName: 'HubSpotWasmDestination', settings}.
  window.HubSpotWasmDestination = async (settings) => [m.destination(settings)];
})();
