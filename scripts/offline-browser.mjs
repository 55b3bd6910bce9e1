// Headless Chromium pages that cannot reach the internet: what the end-to-end tests
// (tests/e2e/run.mjs) and the browser benchmark (bench/browser/run.mjs) both open.
import { chromium } from 'playwright-core';
import { routeHubSpot, HUBSPOT_SCRIPT_PATTERN, HUBSPOT_FORMS_PATTERN } from '../js/testing/index.js';

/** Debian's Chromium with nothing in the background talking to the network. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
}

/**
 * A fresh context and page on `origin + path`, whose HTML is `body` (sent with `headers`, e.g. a
 * Content-Security-Policy): requests to `origin` pass, HubSpot's script and Forms SDK URLs get
 * the stand-in tracker (`hubspot`: routeHubSpot's options), everything else is aborted and listed
 * in `external`. Console errors and uncaught exceptions are collected in `consoleErrors`, console
 * warnings in `consoleWarnings`; `init` runs in the page before its scripts.
 */
export async function openOffline(browser, origin, { body, headers, hubspot = {}, path = '/fixture/index.html', init } = {}) {
  const context = await browser.newContext();
  if (init) await context.addInitScript(init);
  const page = await context.newPage();
  const external = [];
  const hubspotRequests = [];
  const consoleErrors = [];
  const consoleWarnings = [];
  page.on('console', (m) => (m.type() === 'error' ? consoleErrors : m.type() === 'warning' ? consoleWarnings : []).push(m.text()));
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (req) => {
    const url = req.url();
    if (HUBSPOT_SCRIPT_PATTERN.test(url) || HUBSPOT_FORMS_PATTERN.test(url)) hubspotRequests.push(url);
    else if (!url.startsWith(origin) && !url.startsWith('data:')) external.push(url);
  });
  await context.route('**/*', (route) => (route.request().url().startsWith(origin) ? route.fallback() : route.abort()));
  // Registered after the catch-all, so tried first: HubSpot's URLs get the stand-in.
  await routeHubSpot(context, hubspot);
  await context.route(`${origin}/fixture/**`, (route) => route.fulfill({ contentType: 'text/html', headers, body }));
  await page.goto(origin + path);
  return { context, page, external, hubspotRequests, consoleErrors, consoleWarnings };
}
