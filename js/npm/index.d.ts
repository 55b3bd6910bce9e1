import type { Settings, Consent } from './settings.js';

export type { Settings, Consent };

/**
 * An analytics-next destination plugin named 'HubSpot' (so `integrations: {HubSpot: false}` turns
 * it off). Event methods return the context and never throw (js/plugin.js).
 */
export declare class Destination {
  /** Validates settings (throws an Error naming a bad setting); nothing loads before `load`. */
  constructor(settings: Settings);
  readonly name: 'HubSpot';
  readonly type: 'destination';
  readonly version: string;
  /** True once HubSpot's tracker is ready. */
  isLoaded(): boolean;
  /** Starts loading HubSpot and listens for `analytics.reset()`; always resolves. */
  load(ctx: unknown, analytics: unknown): Promise<void>;
  page<C>(ctx: C): C;
  identify<C>(ctx: C): C;
  track<C>(ctx: C): C;
  /** HubSpot's tracking code has no group call. */
  group<C>(ctx: C): C;
  /** HubSpot's tracking code has no alias call. */
  alias<C>(ctx: C): C;
  /** HubSpot's tracking code has no screen call. */
  screen<C>(ctx: C): C;
  /** Changes consent (throws on anything else). */
  setConsent(state: Consent): void;
  /** True while an identify waits for a page view or event to carry it to HubSpot. */
  pendingIdentity(): boolean;
}

/** The standalone client for sites without Segment: Segment-spec arguments (js/plugin.js). */
export declare class Client {
  /** Validates settings (throws an Error naming a bad setting) and starts loading HubSpot. */
  constructor(settings: Settings);
  /** `page([category], [name], [properties])`. */
  page(category?: string | object | null, name?: string | object | null, properties?: object | null): void;
  /** `identify([userId], [traits])`. */
  identify(userId?: string | number | object | null, traits?: object | null): void;
  /** `track(event, [properties])`. */
  track(event: string, properties?: object | null): void;
  /** Forgets the visitor (and deletes HubSpot's cookies unless `resetClearsVisitor: false`). */
  reset(): void;
  /** Changes consent (throws on anything else). */
  setConsent(state: Consent): void;
  /** True while an identify waits for a page view or event to carry it to HubSpot. */
  pendingIdentity(): boolean;
  /** Resolves once HubSpot is ready, has failed or timed out, or consent keeps it from loading. */
  readonly loaded: Promise<void>;
}

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
