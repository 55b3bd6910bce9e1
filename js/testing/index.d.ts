// Types for hubspot-wasm/testing (index.js) and for the stand-in's window.HubSpotStandIn.

/** The merged `identify` properties the visitor carries (`email`, `id`, and any others). */
export type StandInIdentity = { email?: string; id?: string } & Record<string, unknown>;

/** A page view HubSpot would have recorded. */
export interface PageViewRecord {
  type: 'pageView';
  /** The `setPath` value pending at the time, else `location.pathname + location.search`. */
  path: string;
  /** The identity sent with it, or null for an anonymous visitor. */
  identity: StandInIdentity | null;
  /** Sequence number across all received records on the page, from 1. */
  at: number;
}

/** A custom behavioral event (`trackCustomBehavioralEvent`) or legacy `trackEvent`. */
export interface EventRecord {
  type: 'event';
  /** `name`, or the legacy event id. */
  name: string;
  properties: Record<string, unknown>;
  identity: StandInIdentity | null;
  at: number;
}

export type ReceivedRecord = PageViewRecord | EventRecord;

/** A command the stand-in did not act on, with why. */
export interface IgnoredCommand {
  command: unknown;
  reason: string;
}

/** The stand-in's recorder, `window.HubSpotStandIn` in the page. */
export interface HubSpotStandInApi {
  /** The script's own URL ('' when injected inline). */
  src: string;
  /** The portal id from the script URL, or null. */
  portalId: string | null;
  received: ReceivedRecord[];
  /** Every `_hsq` entry processed, in order (arrays are copied). */
  commands: unknown[];
  ignored: IgnoredCommand[];
  /** How many copies of the script ran on the page; only the first is active. */
  loadCount: number;
  /** True once the queue is processed, the landing page recorded and `_hsq.push` patched. */
  ready: boolean;
  readyDelayMs: number;
  doNotTrack: boolean;
  /** The merged identity, sent or pending; null when none (or after the visitor cookie went). */
  identity: StandInIdentity | null;
  /** True while an identify has not yet been carried by a page view or event. */
  identityPending: boolean;
  /** The `hubspotutk` visitor token, or null under do-not-track. */
  utk: string | null;
}

/** The page options read by the stand-in, as `window.HubSpotStandInOptions`. */
export interface StandInOptions {
  /** Wait this long before processing `_hsq` and patching `push` (the URL query `readyDelayMs` wins). */
  readyDelayMs?: number;
}

/**
 * What these helpers need of a Playwright `Page` (`routeHubSpot` also takes a `BrowserContext`).
 * `route` returns `Promise<unknown>`: Playwright 1.65 resolves it to a `Disposable`.
 */
export interface StandInPage {
  route(url: RegExp | string, handler: (route: any) => unknown): Promise<unknown>;
  evaluate<T>(fn: () => T): Promise<T>;
}

export interface RouteHubSpotOptions {
  /** Answer tracking-script requests after this many ms. Default 0. */
  delayMs?: number;
  /** Abort tracking-script requests, as an ad blocker does. Default false. */
  block?: boolean;
  /** Answer Forms SDK requests with a stub defining `window.hbspt.forms.create`. Default true. */
  forms?: boolean;
}

/** Absolute path of stand-in.js. */
export declare const standInPath: string;

/** The text of stand-in.js. */
export declare function standInSource(): string;

/** Matches HubSpot tracking script URLs (hs-scripts.com loader and hs-analytics.net). */
export declare const HUBSPOT_SCRIPT_PATTERN: RegExp;

/** Matches HubSpot Forms SDK URLs (hsforms.net `forms/v2.js` and `forms/shell.js`). */
export declare const HUBSPOT_FORMS_PATTERN: RegExp;

/** Routes HubSpot's script requests to the stand-in (or aborts them with `block`). */
export declare function routeHubSpot(
  page: Pick<StandInPage, 'route'>,
  options?: RouteHubSpotOptions,
): Promise<void>;

/** `window.HubSpotStandIn.received` on the page, or null when the stand-in has not run. */
export declare function received(page: Pick<StandInPage, 'evaluate'>): Promise<ReceivedRecord[] | null>;
