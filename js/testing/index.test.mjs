// Tests of index.js (hubspot-wasm/testing) against a fake Playwright page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';
import {
  HUBSPOT_FORMS_PATTERN, HUBSPOT_SCRIPT_PATTERN, received, routeHubSpot, standInPath, standInSource,
} from './index.js';

/** Records routes like Playwright and lets a test send a request through them. */
function fakePage(evaluateResult) {
  const routes = [];
  return {
    routes,
    async route(url, handler) {
      routes.push({ url, handler });
    },
    async evaluate(fn) {
      return evaluateResult(fn);
    },
    /** What the first matching route does with a request for `url`. */
    async request(url) {
      const r = routes.find((x) => (x.url instanceof RegExp ? x.url.test(url) : x.url === url));
      if (!r) return { unrouted: true };
      const outcome = {};
      await r.handler({
        fulfill: async (response) => Object.assign(outcome, { fulfilled: response }),
        abort: async (code) => Object.assign(outcome, { aborted: code }),
      });
      return outcome;
    },
  };
}

test('standInSource is the text at standInPath', () => {
  assert.equal(standInSource(), readFileSync(standInPath, 'utf8'));
  assert.ok(standInPath.endsWith('stand-in.js'));
});

test('HUBSPOT_SCRIPT_PATTERN matches tracking URLs only', () => {
  for (const url of [
    'https://js.hs-scripts.com/1234.js',
    'https://js-eu1.hs-scripts.com/1234.js',
    'https://js-na2.hs-scripts.com/1234.js',
    'https://js.hs-scripts.com/1234.js?readyDelayMs=200',
    'https://js.hs-analytics.net/analytics/1700000100000/1234.js',
    'https://js-eu1.hs-analytics.net/analytics/1700000100000/1234.js',
  ]) assert.ok(HUBSPOT_SCRIPT_PATTERN.test(url), url);
  for (const url of [
    'https://js.hsforms.net/forms/v2.js',
    'https://js.hs-scripts.com/abc.js',
    'https://js.hs-scripts.com.evil.test/1234.js',
    'https://example.test/?u=https://js.hs-scripts.com/1234.js',
    'https://js.hs-analytics.net/analytics/1234.js',
  ]) assert.ok(!HUBSPOT_SCRIPT_PATTERN.test(url), url);
  assert.equal(HUBSPOT_SCRIPT_PATTERN.global, false);
});

test('HUBSPOT_FORMS_PATTERN matches the Forms SDK', () => {
  for (const url of ['https://js.hsforms.net/forms/v2.js', 'https://js-eu1.hsforms.net/forms/v2.js',
    'https://js.hsforms.net/forms/shell.js']) assert.ok(HUBSPOT_FORMS_PATTERN.test(url), url);
  assert.ok(!HUBSPOT_FORMS_PATTERN.test('https://js.hsforms.net/forms/v3.js'));
});

test('routeHubSpot serves the stand-in for tracking and a stub for forms', async () => {
  const page = fakePage();
  assert.equal(await routeHubSpot(page), undefined);
  const tracking = await page.request('https://js-eu1.hs-scripts.com/99.js');
  assert.deepEqual(tracking.fulfilled, { status: 200, contentType: 'text/javascript', body: standInSource() });
  const forms = await page.request('https://js.hsforms.net/forms/shell.js');
  assert.equal(forms.fulfilled.contentType, 'text/javascript');
  const window = {};
  window.window = window;
  vm.runInContext(forms.fulfilled.body, vm.createContext(window));
  assert.equal(typeof window.hbspt.forms.create, 'function');
  window.hbspt.forms.create({ formId: 'f' });
  assert.equal(window.hbspt.forms.created.length, 1);
});

test('routeHubSpot delays the tracking script by delayMs', async () => {
  const page = fakePage();
  await routeHubSpot(page, { delayMs: 60 });
  const started = Date.now();
  const outcome = await page.request('https://js.hs-scripts.com/1.js');
  assert.ok(Date.now() - started >= 55);
  assert.ok(outcome.fulfilled);
});

test('routeHubSpot blocks tracking but still serves forms, and can leave forms unrouted', async () => {
  const page = fakePage();
  await routeHubSpot(page, { block: true });
  assert.deepEqual(await page.request('https://js.hs-analytics.net/analytics/1/1.js'), { aborted: 'blockedbyclient' });
  assert.ok((await page.request('https://js.hsforms.net/forms/v2.js')).fulfilled);

  const noForms = fakePage();
  await routeHubSpot(noForms, { forms: false });
  assert.equal(noForms.routes.length, 1);
  assert.deepEqual(await noForms.request('https://js.hsforms.net/forms/v2.js'), { unrouted: true });
});

test('received evaluates window.HubSpotStandIn.received in the page', async () => {
  const records = [{ type: 'pageView', path: '/', identity: null, at: 1 }];
  const run = (window) => (fn) => {
    globalThis.window = window;
    try {
      return fn();
    } finally {
      delete globalThis.window;
    }
  };
  assert.deepEqual(await received(fakePage(run({ HubSpotStandIn: { received: records } }))), records);
  assert.equal(await received(fakePage(run({}))), null);
});
