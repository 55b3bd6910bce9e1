// Script-tag entry: defines window.HubSpotWasm and window.HubSpotWasmDestination.
// The wasm is inlined (base64) so the API is ready synchronously, with no second request and no
// path to work out from the script's URL.
import { initSync, destination, createClient, Destination, Client } from '../pkg/inline/hubspot_wasm.js';
import wasmDataUrl from '../pkg/inline/hubspot_wasm_bg.wasm';
import { version } from '../pkg/version.js';
import { inert } from './inert.js';

// The browser's own decoder where it has one; otherwise a plain loop (a callback per byte, as
// with Uint8Array.from(atob(...), fn), took about 30 ms of the module's start-up).
function decodeBase64(base64) {
  if (typeof Uint8Array.fromBase64 === 'function') return Uint8Array.fromBase64(base64);
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

(function install() {
  // Loaded twice on one page: keep the first copy, whose destinations may already be running.
  if (window.HubSpotWasm && typeof window.HubSpotWasm.destination === 'function') return;
  let m = { unavailable: null, destination, createClient, Destination, Client };
  try {
    initSync({ module: decodeBase64(wasmDataUrl.slice(wasmDataUrl.indexOf(',') + 1)) });
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
