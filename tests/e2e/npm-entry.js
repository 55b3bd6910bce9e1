// A bundler consumer of the npm package (resolved to dist/npm by webpack), as a site would be.
import { AnalyticsBrowser } from '@segment/analytics-next';
import { destination, load, version, unavailable, Destination, Client } from 'hubspot-wasm';

window.AnalyticsBrowser = AnalyticsBrowser;
window.HubSpotWasm = { destination, load, version, unavailable, Destination, Client, ready: Promise.resolve() };
