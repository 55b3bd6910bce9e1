import type { Destination, Client, Settings, Consent } from './hubspot_wasm.js';

export type { Settings, Consent };
export { Destination, Client };

/** An analytics-next destination plugin named 'HubSpot'. Throws an Error naming a bad setting. */
export declare function destination(settings: Settings): Destination;
/** The standalone client; rejects with an Error naming a bad setting. */
export declare function load(settings: Settings): Promise<Client>;
/** This package's version. */
export declare const version: string;
