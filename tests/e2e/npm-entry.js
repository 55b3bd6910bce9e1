// A bundler consumer of the npm package (resolved to dist/npm by webpack), as a site would be.
import { AnalyticsBrowser } from '@segment/analytics-next';
import { destination, load, version } from 'hubspot-wasm';

window.AnalyticsBrowser = AnalyticsBrowser;
window.HubSpotWasm = { destination, load, version, ready: Promise.resolve() };
