import type { Destination, Client, Settings, Consent } from './hubspot_wasm.js';

export type { Settings, Consent };
export { Destination, Client };

/** An analytics-next destination plugin named 'HubSpot'. Throws an Error naming a bad setting. */
export declare function destination(settings: Settings): Destination;
/** The standalone client; rejects with an Error naming a bad setting. */
export declare function load(settings: Settings): Promise<Client>;
/** This package's version. */
export declare const version: string;
/**
 * Why the module is off, or null when it runs: WebAssembly did not start (most often a
 * Content-Security-Policy without 'wasm-unsafe-eval' in script-src). Then `destination()` gives a
 * plugin whose `load()` rejects (analytics-next warns once and skips it), `load()` a client that
 * does nothing, and no call reaches HubSpot.
 */
export declare const unavailable: string | null;
