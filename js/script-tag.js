// Script-tag entry: defines window.HubSpotWasm and window.HubSpotWasmDestination.
// The wasm is inlined (base64) so the API is ready synchronously, with no second request and no
// path to work out from the script's URL.
import { initSync, destination, createClient, version, Destination, Client } from '../pkg/inline/hubspot_wasm.js';
import wasmDataUrl from '../pkg/inline/hubspot_wasm_bg.wasm';

(function install() {
  // Loaded twice on one page: keep the first copy, whose destinations may already be running.
  if (window.HubSpotWasm && typeof window.HubSpotWasm.destination === 'function') return;
  const base64 = wasmDataUrl.slice(wasmDataUrl.indexOf(',') + 1);
  const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  initSync({ module: bytes });
  const api = {
    version: version(),
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
