/** Consent state. */
export type Consent = 'granted' | 'pending' | 'denied';

/** Destination settings (every spelling Segment's integrations use is accepted). */
export interface Settings {
  /** Hub ID: digits, as a string or a number. Required. */
  portalId?: string | number;
  /** Alias of portalId. */
  portalID?: string | number;
  /** Alias of portalId. */
  hubId?: string | number;
  /** Alias of portalId. */
  hubID?: string | number;
  /** EU hosts for tracking and forms. Default: false. */
  enableEuropeanDataCenter?: boolean;
  /** Also load the Forms SDK. Default: false. */
  loadFormsSDK?: boolean;
  /** Alias of loadFormsSDK. */
  loadFormsSdk?: boolean;
  /** Track names become pe<portalId>_<name>. Default: true. */
  formatCustomBehavioralEventNames?: boolean;
  /** Segment event name → HubSpot internal event name; wins over formatting. Default: {}. */
  eventNames?: Record<string, string> | Array<{ key: string; value: string }>;
  /** Push trackPageView right after each identify (after load). Default: false. */
  flushIdentifyImmediately?: boolean;
  /** Push trackPageView when an identify is still pending after this many ms. Default: off. */
  identifyFlushMs?: number | null;
  /** Reproduce a Segment integration's _hsq output. Default: 'default'. */
  compat?: 'default' | 'classic' | 'actions';
  /** Initial consent. Default: 'granted'. */
  consent?: Consent;
  /** CSP nonce for injected scripts. Default: the loading script's. */
  nonce?: string;
  /** Give up on HubSpot's script after this many ms. Default: 10000. */
  loadTimeoutMs?: number;
  /** Calls held before HubSpot can take them. Default: 1000. */
  maxQueue?: number;
  /** reset() deletes HubSpot's visitor cookies. Default: true. */
  resetClearsVisitor?: boolean;
  /** Log each decision to the console. Default: false. */
  debug?: boolean;
  /** Load HubSpot's tracking code from this URL instead (a first-party proxy or a stand-in). Default: HubSpot's. */
  trackingScriptUrl?: string;
  /** Load the Forms SDK from this URL instead. Default: HubSpot's. */
  formsScriptUrl?: string;
}
