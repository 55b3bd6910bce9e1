// The part every benchmark page shares: analytics-next and its Context class, so all subjects
// run on the same copy of analytics-next and the plugin bundles hold only plugin code.
import { AnalyticsBrowser, Context } from '@segment/analytics-next';

window.BenchHarness = { AnalyticsBrowser, Context };
