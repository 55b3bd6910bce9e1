// analytics-next for test pages that load hubspot-wasm through its script tag.
import { AnalyticsBrowser } from '@segment/analytics-next';

window.AnalyticsBrowser = AnalyticsBrowser;
