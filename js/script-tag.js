// Script-tag entry: defines window.HubSpotWasm and window.HubSpotWasmDestination.
// The wasm is inlined (base64) so the API is ready synchronously, with no second request and no
// path to work out from the script's URL.
import { initSync, destination, createClient, Destination, Client } from '../pkg/inline/hubspot_wasm.js';
import wasmDataUrl from '../pkg/inline/hubspot_wasm_bg.wasm';
import { version } from '../pkg/version.js';

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
  initSync({ module: decodeBase64(wasmDataUrl.slice(wasmDataUrl.indexOf(',') + 1)) });
  const api = {
    version,
    destination: (settings) => destination(settings),
    load: (settings) => new Promise((resolve) => resolve(createClient(settings))),
    Destination,
    Client,
  };
  api.ready = Promise.resolve(api);
  window.HubSpotWasm = api;
  // analytics-next remote-plugin convention: {url, libraryName: 'HubSpotWasmDestination', settings}.
  window.HubSpotWasmDestination = async (settings) => [destination(settings)];
})();
