// Our npm package as a bundler user gets it ('hubspot-wasm' is aliased to $DIST/npm). The package
// instantiates its wasm at module top level, so this body runs once that is done; the event
// tells the page when the module is usable.
import { destination, version } from 'hubspot-wasm';

window.HubSpotWasm = { destination, version };
window.dispatchEvent(new Event('bench:module-ready'));
