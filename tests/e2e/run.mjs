// End-to-end tests: the built module beside the real @segment/analytics-next (offline) in
// headless Chromium, with HubSpot's script routed to the stand-in tracker. Assertions are on what
// the stand-in records as received by HubSpot, not only on pushes. Every scenario also asserts
// that no request left 127.0.0.1 other than routed HubSpot URLs, and that the console has no
// errors. Prints "N passed, N failed" and exits non-zero on any failure.
import assert from 'node:assert/strict';
import { startServer } from '../../scripts/serve.mjs';
import { launchChromium, openOffline } from '../../scripts/offline-browser.mjs';

const PORTAL = '123';
const ANALYTICS_OPTIONS = {
  settings: { writeKey: 'e2e', cdnSettings: { integrations: {}, metrics: { sampleRate: 0 } } },
  options: { integrations: { 'Segment.io': false }, disableClientPersistence: true, initialPageview: false },
};
const BUILDS = {
  'script-tag': ['/e2e/analytics.js', '/hubspot-wasm.js'],
  npm: ['/e2e/npm-app.js'],
};

const server = await startServer('dist', 0);
const origin = `http://127.0.0.1:${server.port}`;
const browser = await launchChromium();

// A strict Content-Security-Policy: only scripts carrying the nonce run (the page's own, and the
// HubSpot tag the module injects with it). Without 'wasm-unsafe-eval', no WebAssembly either.
const NONCE = 'e2e-nonce';
const STRICT_CSP = `script-src 'nonce-${NONCE}'`;

/**
 * A fresh offline page showing one of the builds (or `html`), with routing and bookkeeping;
 * `csp`: a policy sent with the page as its Content-Security-Policy header (scripts get the nonce).
 */
function open({ hubspot = {}, html, build = 'script-tag', csp, path } = {}) {
  const scripts = (BUILDS[build] || []).map((src) => `<script src="${src}"${csp ? ` nonce="${NONCE}"` : ''}></script>`).join('\n');
  const body = html ?? `<!doctype html><html><head><title>e2e</title></head><body>${scripts}</body></html>`;
  const headers = csp ? { 'Content-Security-Policy': csp } : undefined;
  return openOffline(browser, origin, { body, headers, hubspot, path });
}

/** Loads analytics-next offline and registers the destination; resolves when analytics is ready. */
async function register(page, settings) {
  // The npm build instantiates its wasm asynchronously before defining the global.
  await page.waitForFunction(() => window.HubSpotWasm);
  await page.evaluate(async ({ settings, A }) => {
    await window.HubSpotWasm.ready;
    const analytics = window.AnalyticsBrowser.load(A.settings, A.options);
    window.plugin = window.HubSpotWasm.destination(settings);
    window.analytics = analytics;
    await analytics.register(window.plugin);
    await analytics.ready();
  }, { settings: { portalId: PORTAL, ...settings }, A: ANALYTICS_OPTIONS });
}

/** What the stand-in recorded as received by HubSpot, once it is ready and the queue is quiet. */
async function received(page) {
  await page.waitForFunction(() => window.HubSpotStandIn && window.HubSpotStandIn.ready);
  await page.waitForTimeout(50);
  return page.evaluate(() => window.HubSpotStandIn.received.map((r) =>
    r.type === 'pageView'
      ? { pageView: r.path, email: r.identity ? r.identity.email : null }
      : { event: r.name, properties: r.properties, email: r.identity ? r.identity.email : null }));
}

/** analytics.ready() does not wait for destinations: wait for HubSpot's tracker itself. */
const hubspotLoaded = (page) => page.waitForFunction(() => window.plugin.isLoaded());

const pv = (path, email = null) => ({ pageView: path, email });
const ev = (name, properties, email = null) => ({ event: name, properties, email });

const scenarios = [];
const scenario = (name, fn, opts) => scenarios.push({ name, fn, opts });

for (const build of Object.keys(BUILDS)) {
  scenario(`[${build}] identify and page in one task before load: the landing page view carries the identity`, async (t) => {
    await register(t.page, {});
    await t.page.evaluate(() => { analytics.page({ path: '/pricing' }); analytics.identify('u1', { email: 'a@b.co' }); });
    assert.deepEqual(await received(t.page), [pv('/pricing', 'a@b.co')]);
  }, { build, hubspot: { delayMs: 400 } });

  scenario(`[${build}] several pages before load are replayed in order after it`, async (t) => {
    await register(t.page, {});
    for (const path of ['/one', '/two', '/three']) await t.page.evaluate((path) => analytics.page({ path }), path);
    await t.page.waitForTimeout(500);
    assert.deepEqual(await received(t.page), [pv('/one'), pv('/two'), pv('/three')]);
  }, { build, hubspot: { delayMs: 300 } });

  scenario(`[${build}] identify after load is carried by the next event`, async (t) => {
    await register(t.page, {});
    await hubspotLoaded(t.page);
    await t.page.evaluate(() => analytics.page({ path: '/landing' }));
    await t.page.evaluate(() => analytics.identify('u1', { email: 'a@b.co', 'First Name': ' Ann ' }));
    assert.equal(await t.page.evaluate(() => window.plugin.pendingIdentity()), true);
    await t.page.evaluate(() => analytics.track('Signed Up', { plan: 'pro', seats: 3 }));
    assert.equal(await t.page.evaluate(() => window.plugin.pendingIdentity()), false);
    // HubSpot had loaded (and counted the landing page itself) before this page() call.
    assert.deepEqual(await received(t.page), [pv('/fixture/index.html'), pv('/landing'), ev('pe123_signed_up', { plan: 'pro', seats: 3 }, 'a@b.co')]);
  }, { build });

  scenario(`[${build}] a blocked HubSpot script: no exception, analytics.ready resolves, later calls are harmless`, async (t) => {
    await register(t.page, { loadTimeoutMs: 2000 });
    await t.page.evaluate(async () => {
      analytics.identify('u1', { email: 'a@b.co' });
      await analytics.track('After Block');
      await analytics.page();
    });
    assert.equal(await t.page.evaluate(() => window.plugin.isLoaded()), false);
    assert.equal(await t.page.evaluate(() => !!window.HubSpotStandIn), false);
  }, { build, hubspot: { block: true } });

  scenario(`[${build}] consent pending then granted: nothing requested from HubSpot until granted`, async (t) => {
    await register(t.page, { consent: 'pending' });
    await t.page.evaluate(() => { analytics.page({ path: '/held' }); analytics.identify({ email: 'a@b.co' }); });
    await t.page.waitForTimeout(300);
    assert.equal(t.hubspotRequests.length, 0);
    await t.page.evaluate(() => window.plugin.setConsent('granted'));
    assert.deepEqual(await received(t.page), [pv('/held', 'a@b.co')]);
  }, { build });

  scenario(`[${build}] consent denied: zero requests to HubSpot hosts`, async (t) => {
    await register(t.page, { consent: 'denied' });
    await t.page.evaluate(async () => { await analytics.page(); await analytics.identify({ email: 'a@b.co' }); await analytics.track('x'); });
    await t.page.waitForTimeout(300);
    assert.deepEqual(t.hubspotRequests, []);
    assert.equal(await t.page.evaluate(() => window._hsq.length), 0);
  }, { build });

  scenario(`[${build}] reset deletes HubSpot's visitor cookies and the next user is anonymous`, async (t) => {
    await register(t.page, {});
    await hubspotLoaded(t.page);
    await t.page.evaluate(async () => { await analytics.identify('u1', { email: 'a@b.co' }); await analytics.page({ path: '/known' }); });
    await t.page.waitForTimeout(50);
    assert.match(await t.page.evaluate(() => document.cookie), /hubspotutk=/);
    await t.page.evaluate(() => analytics.reset());
    await t.page.waitForTimeout(50);
    const cookies = await t.page.evaluate(() => document.cookie);
    for (const name of ['hubspotutk', '__hstc', '__hssc', '__hssrc']) assert.ok(!cookies.includes(`${name}=`), cookies);
    assert.equal(await t.page.evaluate(() => window.plugin.pendingIdentity()), false);
    await t.page.evaluate(() => analytics.page({ path: '/next-user' }));
    const got = await received(t.page);
    assert.deepEqual(got.slice(-2), [pv('/known', 'a@b.co'), pv('/next-user', null)]);
  }, { build });

  scenario(`[${build}] the standalone client: Segment-spec arguments, the page's location, reset`, async (t) => {
    await t.page.waitForFunction(() => window.HubSpotWasm);
    const got = await t.page.evaluate(async (portalId) => {
      const hs = await window.HubSpotWasm.load({ portalId });
      await hs.loaded;
      hs.identify('u1', { email: 'a@b.co' });
      // Calls of one task are held until it ends (identify first): look in the next one.
      await new Promise((resolve) => setTimeout(resolve, 10));
      const pending = hs.pendingIdentity();
      hs.track('Signed Up', { plan: 'pro' });
      hs.page('Docs', 'Pricing', { plan: 'x' });
      hs.reset();
      hs.identify({ email: 'b@c.co' });
      hs.page();
      return { pending, isClient: hs instanceof window.HubSpotWasm.Client };
    }, PORTAL);
    assert.deepEqual(got, { pending: true, isClient: true });
    await t.page.waitForTimeout(100);
    assert.deepEqual(await received(t.page), [
      pv('/fixture/index.html'),
      ev('pe123_signed_up', { plan: 'pro' }, 'a@b.co'),
      pv('/fixture/index.html', 'a@b.co'),
      pv('/fixture/index.html', 'b@c.co'),
    ]);
  }, { build });

  scenario(`[${build}] consent denied after load: doNotTrack reaches HubSpot, later calls are dropped`, async (t) => {
    await register(t.page, {});
    await hubspotLoaded(t.page);
    // A word that is no consent state throws (the wasm returns the Error, js/plugin.js throws it)
    // and changes nothing.
    const thrown = await t.page.evaluate(() => { try { window.plugin.setConsent('perhaps'); return null; } catch (e) { return [e instanceof Error, e.message]; } });
    assert.deepEqual(thrown, [true, `HubSpot: consent must be 'granted', 'pending' or 'denied', got "perhaps"`]);
    await t.page.evaluate(() => window.plugin.setConsent('denied'));
    await t.page.evaluate(async () => { await analytics.track('After Denial'); await analytics.page({ path: '/after' }); });
    await t.page.waitForTimeout(100);
    assert.equal(await t.page.evaluate(() => window.HubSpotStandIn.doNotTrack), true);
    assert.deepEqual(await received(t.page), [pv('/fixture/index.html')]);
  }, { build });

  scenario(`[${build}] queue overflow while consent is pending drops the oldest calls`, async (t) => {
    await register(t.page, { consent: 'pending', maxQueue: 2 });
    for (const path of ['/p0', '/p1', '/p2', '/p3']) await t.page.evaluate((path) => analytics.page({ path }), path);
    await t.page.waitForTimeout(50);
    await t.page.evaluate(() => window.plugin.setConsent('granted'));
    await hubspotLoaded(t.page);
    assert.deepEqual(await received(t.page), [pv('/p2'), pv('/p3')]);
  }, { build });

  scenario(`[${build}] flushIdentifyImmediately: an identify alone reaches HubSpot`, async (t) => {
    await register(t.page, { flushIdentifyImmediately: true });
    await hubspotLoaded(t.page);
    await t.page.evaluate(() => analytics.identify('u1', { email: 'a@b.co' }));
    await t.page.waitForTimeout(50);
    assert.deepEqual(await received(t.page), [pv('/fixture/index.html'), pv('/fixture/index.html', 'a@b.co')]);
  }, { build });

  scenario(`[${build}] a strict CSP without 'wasm-unsafe-eval': analytics-next goes on, HubSpot fails soft with one warning`, async (t) => {
    await t.page.waitForFunction(() => window.HubSpotWasm);
    const got = await t.page.evaluate(async ({ A, portalId }) => {
      await window.HubSpotWasm.ready;
      // Another destination, to see analytics-next deliver while ours is off.
      const seen = [];
      const see = (ctx) => (seen.push(ctx.event.type), ctx);
      const recorder = { name: 'Recorder', type: 'destination', version: '1', isLoaded: () => true, load: async () => {}, page: see, identify: see, track: see };
      const analytics = window.AnalyticsBrowser.load(A.settings, A.options);
      const plugin = window.HubSpotWasm.destination({ portalId });
      await analytics.register(recorder, plugin);
      await analytics.ready();
      await analytics.identify('u1', { email: 'a@b.co' });
      await analytics.track('Signed Up');
      await analytics.page();
      const [instance] = await analytics;
      return {
        unavailable: window.HubSpotWasm.unavailable,
        version: window.HubSpotWasm.version,
        failed: instance.queue.failedInitializations,
        seen,
        loaded: plugin.isLoaded(),
        direct: plugin.track({ event: { type: 'track', event: 'Direct' } }).event.event,
        remote: typeof window.HubSpotWasmDestination,
        hsq: typeof window._hsq,
      };
    }, { A: ANALYTICS_OPTIONS, portalId: PORTAL });
    assert.match(got.unavailable, /'wasm-unsafe-eval'/);
    assert.match(got.version, /^\d+\.\d+\.\d+/);
    assert.deepEqual(got.failed, ['HubSpot'], 'analytics-next saw the plugin fail to load');
    assert.deepEqual(got.seen, ['identify', 'track', 'page']);
    assert.equal(got.loaded, false);
    assert.equal(got.direct, 'Direct');
    assert.equal(got.remote, build === 'script-tag' ? 'function' : 'undefined');
    assert.equal(got.hsq, 'undefined', 'nothing was pushed');
    assert.deepEqual(t.hubspotRequests, []);
    assert.equal(t.consoleWarnings.length, 1, t.consoleWarnings.join('\n'));
    assert.match(t.consoleWarnings[0], /'wasm-unsafe-eval'/);
  }, { build, csp: STRICT_CSP });

  scenario(`[${build}] a strict CSP without 'wasm-unsafe-eval': load() resolves a client that does nothing, with one warning`, async (t) => {
    await t.page.waitForFunction(() => window.HubSpotWasm);
    const got = await t.page.evaluate(async (portalId) => {
      const hs = await window.HubSpotWasm.load({ portalId });
      hs.page();
      hs.identify('u1', { email: 'a@b.co' });
      hs.track('Signed Up', { plan: 'pro' });
      hs.setConsent('denied');
      hs.reset();
      await hs.loaded;
      const constructed = new window.HubSpotWasm.Destination({ portalId });
      return { pending: hs.pendingIdentity(), hsq: typeof window._hsq, constructed: constructed.name };
    }, PORTAL);
    assert.deepEqual(got, { pending: false, hsq: 'undefined', constructed: 'HubSpot' });
    assert.deepEqual(t.hubspotRequests, []);
    assert.equal(t.consoleWarnings.length, 1, t.consoleWarnings.join('\n'));
    assert.match(t.consoleWarnings[0], /'wasm-unsafe-eval'/);
  }, { build, csp: STRICT_CSP });

  scenario(`[${build}] the same CSP with 'wasm-unsafe-eval': the module runs, the HubSpot tag carries the nonce`, async (t) => {
    await register(t.page, {});
    assert.equal(await t.page.evaluate(() => window.HubSpotWasm.unavailable), null);
    assert.equal(await t.page.evaluate(() => document.getElementById('hs-script-loader').nonce), NONCE);
    await hubspotLoaded(t.page);
    await t.page.evaluate(async () => { await analytics.identify('u1', { email: 'a@b.co' }); await analytics.track('Signed Up'); });
    assert.deepEqual(await received(t.page), [pv('/fixture/index.html'), ev('pe123_signed_up', {}, 'a@b.co')]);
    assert.deepEqual(t.consoleWarnings, []);
  }, { build, csp: `${STRICT_CSP} 'wasm-unsafe-eval'` });

  scenario(`[${build}] identifyFlushMs: a pending identify is flushed by a page view in time`, async (t) => {
    await register(t.page, { identifyFlushMs: 300 });
    await hubspotLoaded(t.page);
    await t.page.evaluate(() => analytics.identify('u1', { email: 'a@b.co' }));
    assert.equal(await t.page.evaluate(() => window.plugin.pendingIdentity()), true);
    await t.page.waitForFunction(() => !window.plugin.pendingIdentity(), null, { timeout: 3000 });
    assert.deepEqual(await received(t.page), [pv('/fixture/index.html'), pv('/fixture/index.html', 'a@b.co')]);
  }, { build });
}

scenario('HubSpot already embedded by the site: no second tag, calls still reach it', async (t) => {
  await register(t.page, {});
  await hubspotLoaded(t.page);
  await t.page.evaluate(() => analytics.track('Clicked'));
  assert.equal(await t.page.evaluate(() => document.querySelectorAll('script#hs-script-loader').length), 1);
  assert.deepEqual(await received(t.page), [pv('/fixture/index.html'), ev('pe123_clicked', {})]);
}, {
  html: `<!doctype html><html><head><script type="text/javascript" id="hs-script-loader" async defer src="https://js.hs-scripts.com/${PORTAL}.js"></script></head>
    <body><script src="/e2e/analytics.js"></script><script src="/hubspot-wasm.js"></script></body></html>`,
});

scenario('EU and forms URLs', async (t) => {
  await register(t.page, { enableEuropeanDataCenter: true, loadFormsSDK: true });
  await received(t.page);
  assert.ok(t.hubspotRequests.includes(`https://js-eu1.hs-scripts.com/${PORTAL}.js`), t.hubspotRequests.join());
  assert.ok(t.hubspotRequests.includes('https://js-eu1.hsforms.net/forms/v2.js'), t.hubspotRequests.join());
});

scenario('the module loaded twice on one page', async (t) => {
  const first = await t.page.evaluate(() => window.HubSpotWasm);
  assert.ok(first);
  await register(t.page, {});
  await hubspotLoaded(t.page);
  await t.page.evaluate(() => analytics.track('Once'));
  assert.deepEqual(await received(t.page), [pv('/fixture/index.html'), ev('pe123_once', {})]);
}, {
  html: `<!doctype html><html><body><script src="/e2e/analytics.js"></script><script src="/hubspot-wasm.js"></script>
    <script src="/hubspot-wasm.js"></script></body></html>`,
});

scenario('the npm package without a bundler: <script type="module"> loads index.js and the .wasm beside it, nothing else', async (t) => {
  await register(t.page, {});
  await hubspotLoaded(t.page);
  await t.page.evaluate(() => analytics.identify('u1', { email: 'a@b.co' }).then(() => analytics.track('Unbundled')));
  assert.deepEqual(await received(t.page), [pv('/fixture/index.html'), ev('pe123_unbundled', {}, 'a@b.co')]);
  const loaded = await t.page.evaluate(() => performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname).filter((p) => p.startsWith('/npm/')));
  assert.deepEqual(loaded.sort(), ['/npm/hubspot_wasm_bg.wasm', '/npm/index.js']);
}, {
  html: `<!doctype html><html><body><script src="/e2e/analytics.js"></script><script type="module">
    import { destination, version } from '/npm/index.js';
    window.HubSpotWasm = { destination, version, ready: Promise.resolve() };
  </script></body></html>`,
});

scenario('a page without <head>', async (t) => {
  await t.page.evaluate(() => document.head.remove());
  await register(t.page, {});
  assert.deepEqual(await received(t.page), [pv('/fixture/index.html')]);
});

scenario('hostile inputs: no exception, valid calls still arrive', async (t) => {
  await register(t.page, {});
  await hubspotLoaded(t.page);
  await t.page.evaluate(async () => {
    const cyclic = { email: 'a@b.co' }; cyclic.self = cyclic;
    await analytics.identify('u1', cyclic);
    window.plugin.track({ event: { type: 'track', event: { not: 'a string' }, properties: 'nope' } });
    await analytics.track('Huge', { big: 'x'.repeat(200000), list: [null, undefined, () => 1], n: NaN });
    await analytics.identify(null, null);
    window.plugin.track(null); window.plugin.identify(undefined); window.plugin.page({ event: 42 });
    await analytics.track('Fine');
  });
  const got = await received(t.page);
  assert.deepEqual(got.at(-1), ev('pe123_fine', {}, 'a@b.co'));
  assert.equal(got.filter((r) => r.event === 'pe123_huge').length, 1);
});

scenario('loaded as an analytics-next remote plugin (HubSpotWasmDestination)', async (t) => {
  await t.page.evaluate(async ({ A, url, portalId }) => {
    const settings = { ...A.settings, cdnSettings: { ...A.settings.cdnSettings,
      remotePlugins: [{ name: 'HubSpot', creationName: 'HubSpot', libraryName: 'HubSpotWasmDestination', url, settings: { portalId } }] } };
    window.analytics = window.AnalyticsBrowser.load(settings, A.options);
    await window.analytics.ready();
    window.plugin = { isLoaded: () => !!(window.HubSpotStandIn && window.HubSpotStandIn.ready) };
  }, { A: ANALYTICS_OPTIONS, url: `${origin}/hubspot-wasm.js`, portalId: PORTAL });
  await hubspotLoaded(t.page);
  await t.page.evaluate(async () => { await analytics.identify('u1', { email: 'a@b.co' }); await analytics.track('Remote'); });
  const got = await received(t.page);
  assert.deepEqual(got.at(-1), ev('pe123_remote', {}, 'a@b.co'));
}, { html: '<!doctype html><html><head></head><body><script src="/e2e/analytics.js"></script></body></html>' });

scenario('invalid settings throw a clear Error at construction', async (t) => {
  const message = await t.page.evaluate(() => { try { HubSpotWasm.destination({ portalId: 'abc' }); return null; } catch (e) { return e.message; } });
  assert.match(message, /portalId/);
});

scenario('the demo page: click through, see commands and what HubSpot would receive; screenshot', async (t) => {
  await t.page.waitForSelector('body[data-ready="1"]');
  await t.page.click('#btn-page-identify');
  await t.page.click('#btn-track');
  await t.page.waitForFunction(() => document.querySelectorAll('#received-log li[data-type="event"]').length >= 1);
  const receivedEmails = await t.page.$$eval('#received-log li', (lis) => lis.map((li) => li.dataset.email || null));
  assert.ok(receivedEmails.includes('ada@example.com'), JSON.stringify(receivedEmails));
  assert.ok(Number(await t.page.getAttribute('#hsq-count', 'data-count')) >= 3);
  const events = await t.page.$$eval('#received-log li[data-type="event"]', (lis) => lis.map((li) => li.dataset.name));
  assert.deepEqual(events, ['pe123456_signed_up']);
  await t.page.screenshot({ path: 'dist/demo.png', fullPage: true });
}, { path: '/www/index.html' });

let passed = 0;
let failed = 0;
for (const { name, fn, opts } of scenarios) {
  const t = await open(opts);
  try {
    await fn(t);
    assert.deepEqual(t.external, [], 'requests left 127.0.0.1');
    // A blocked HubSpot script is reported by the browser itself; nothing else may be.
    const expected = opts?.hubspot?.block ? /Failed to load resource: net::ERR_(FAILED|BLOCKED_BY_CLIENT)/ : /$^/;
    assert.deepEqual(t.consoleErrors.filter((e) => !expected.test(e)), [], 'console errors');
    passed += 1;
    console.log(`ok   ${name}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}\n     ${String(e.stack || e).split('\n').slice(0, 6).join('\n     ')}`);
  } finally {
    await t.context.close();
  }
}
await browser.close();
await server.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
