// hubspot-wasm/testing: serve the stand-in HubSpot tracker to a headless browser, so a site's own
// Playwright tests can assert on what HubSpot would receive, with no network.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * Absolute path of the stand-in tracker (a classic browser script).
 * @type {string}
 */
export const standInPath = fileURLToPath(new URL('./stand-in.js', import.meta.url));

/**
 * The stand-in tracker's source text, to serve in place of HubSpot's script or to inject with
 * `page.addScriptTag({content})`.
 * @returns {string}
 */
export function standInSource() {
  return readFileSync(standInPath, 'utf8');
}

/**
 * HubSpot tracking script URLs: the loader `https://js[-<region>].hs-scripts.com/<portalId>.js`
 * and the analytics script `https://js[-eu1].hs-analytics.net/analytics/<n>/<portalId>.js`,
 * with an optional query or fragment. No `g` flag, so `test()` keeps no state.
 * @type {RegExp}
 */
export const HUBSPOT_SCRIPT_PATTERN =
  /^https?:\/\/(?:js(?:-[a-z0-9]+)?\.hs-scripts\.com\/\d+\.js|js(?:-eu1)?\.hs-analytics\.net\/analytics\/\d+\/\d+\.js)(?:[?#].*)?$/;

/**
 * HubSpot Forms SDK URLs: `https://js[-eu1].hsforms.net/forms/(v2|shell).js`.
 * @type {RegExp}
 */
export const HUBSPOT_FORMS_PATTERN =
  /^https?:\/\/js(?:-eu1)?\.hsforms\.net\/forms\/(?:v2|shell)\.js(?:[?#].*)?$/;

// Enough of the Forms SDK for pages that only check it loaded; created forms are recorded.
const FORMS_STUB = `(function () {
  var h = window.hbspt = window.hbspt || {};
  if (!h.forms) h.forms = { created: [], create: function (options) { h.forms.created.push(options); } };
})();
`;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Routes HubSpot's script requests for a Playwright `Page` or `BrowserContext` to the stand-in.
 * Call it before the page loads HubSpot. Tracking requests are answered with the stand-in (after
 * `delayMs`, to model a slow network) or aborted when `block` is true (an ad blocker). Forms SDK
 * requests get a small stub when `forms` is true (also when tracking is blocked, as ad blockers
 * usually let forms through); with `forms: false` they are left unrouted.
 * @param {{route(url: RegExp|string, handler: (route: any) => unknown): Promise<unknown>}} page
 * @param {{delayMs?: number, block?: boolean, forms?: boolean}} [options]
 * @returns {Promise<void>}
 */
export async function routeHubSpot(page, { delayMs = 0, block = false, forms = true } = {}) {
  const body = standInSource();
  await page.route(HUBSPOT_SCRIPT_PATTERN, async (route) => {
    if (block) return route.abort('blockedbyclient');
    if (delayMs > 0) await sleep(delayMs);
    return route.fulfill({ status: 200, contentType: 'text/javascript', body });
  });
  if (forms) {
    await page.route(HUBSPOT_FORMS_PATTERN, (route) =>
      route.fulfill({ status: 200, contentType: 'text/javascript', body: FORMS_STUB }));
  }
}

/**
 * What HubSpot would have received on the page so far (page views and events, in order), or
 * `null` when the stand-in has not run there.
 * @param {{evaluate<T>(fn: () => T): Promise<T>}} page
 * @returns {Promise<Array<object>|null>}
 */
export async function received(page) {
  return page.evaluate(() => (window.HubSpotStandIn ? window.HubSpotStandIn.received : null));
}
