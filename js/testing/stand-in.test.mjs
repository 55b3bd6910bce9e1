// Tests of stand-in.js in a vm context with a minimal fake browser (no jsdom, no dependencies).
// Run from the repository root: node --test js/testing/
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import vm from 'node:vm';

const SOURCE = readFileSync(new URL('./stand-in.js', import.meta.url), 'utf8');
const SRC = 'https://js.hs-scripts.com/1234.js';

// Objects made inside the context have that realm's prototypes; compare them as plain JSON.
const plain = (v) => JSON.parse(JSON.stringify(v));

/** A fake page: window, document (cookie jar, currentScript), location, controllable timers. */
function makePage({ src = SRC, pathname = '/landing', search = '', cookies = {} } = {}) {
  const jar = new Map(Object.entries(cookies));
  const cookieWrites = [];
  const timers = [];
  const events = [];
  const document = {
    currentScript: src === null ? null : { src },
    get cookie() {
      return [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    },
    set cookie(text) {
      cookieWrites.push(text);
      const [pair, ...attrs] = text.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq);
      const expired = attrs.some((a) => /^max-age=(-?\d+)$/i.test(a) && Number(a.split('=')[1]) <= 0);
      if (expired) jar.delete(name);
      else jar.set(name, pair.slice(eq + 1));
    },
  };
  const window = {
    document,
    location: { pathname, search, href: `https://example.test${pathname}${search}` },
    setTimeout(fn, ms) {
      timers.push({ fn, ms });
      return timers.length;
    },
    dispatchEvent(event) {
      events.push(event);
      return true;
    },
    CustomEvent: class CustomEvent {
      constructor(type, init) {
        this.type = type;
        this.detail = init && init.detail;
      }
    },
  };
  window.window = window;
  const context = vm.createContext(window);
  return {
    window,
    jar,
    cookieWrites,
    timers,
    events,
    /** Runs code in the page (so arrays get the page's Array.prototype). */
    run: (code) => vm.runInContext(code, context),
    /** Loads the stand-in as a script tag would. */
    load: () => vm.runInContext(SOURCE, context, { filename: 'stand-in.js' }),
    /** Fires due timers, as the event loop would. */
    flushTimers() {
      for (const t of timers.splice(0)) t.fn();
    },
    get api() {
      return window.HubSpotStandIn;
    },
    received: () => plain(window.HubSpotStandIn.received),
  };
}

test('processes queued commands in order, then records one automatic page view, then patches push', () => {
  const page = makePage();
  page.run(`window._hsq = [
    ['identify', {email: 'a@example.com'}],
    ['trackCustomBehavioralEvent', {name: 'pe1234_signed_up', properties: {plan: 'pro'}}],
  ]`);
  assert.equal(page.run('_hsq.push === Array.prototype.push'), true);
  page.load();
  assert.deepEqual(page.received(), [
    { type: 'event', name: 'pe1234_signed_up', properties: { plan: 'pro' }, identity: { email: 'a@example.com' }, at: 1 },
    { type: 'pageView', path: '/landing', identity: { email: 'a@example.com' }, at: 2 },
  ]);
  assert.equal(page.api.ready, true);
  assert.equal(page.run('_hsq.push !== Array.prototype.push'), true);
  assert.equal(page.run("Object.prototype.hasOwnProperty.call(_hsq, 'push')"), true);
  assert.deepEqual(plain(page.api.commands).map((c) => c[0]), ['identify', 'trackCustomBehavioralEvent']);
  assert.equal(page.api.portalId, '1234');
  assert.equal(page.api.src, SRC);
});

test('push is patched only after the queue and the automatic page view', () => {
  const page = makePage();
  // A listener that looks at push while records are made sees it unpatched until ready.
  const seen = [];
  page.window.dispatchEvent = (e) => {
    if (e.type === 'hubspot-stand-in:received') seen.push(page.run('_hsq.push === Array.prototype.push'));
    return true;
  };
  page.run("window._hsq = [['trackPageView']]");
  page.load();
  assert.deepEqual(seen, [true, true]);
  assert.equal(page.run('_hsq.push === Array.prototype.push'), false);
});

test('creates _hsq when missing and never replaces an existing one', () => {
  const fresh = makePage();
  fresh.load();
  assert.ok(Array.isArray(fresh.window._hsq));

  const page = makePage();
  page.run("window._hsq = [['setPath', '/x']]; window.original = window._hsq");
  page.load();
  assert.equal(page.window._hsq, page.window.original);
  page.run("_hsq.push(['trackPageView'])");
  assert.equal(page.window._hsq, page.window.original);
  // The array keeps what was pushed, like a real queue array.
  assert.equal(page.window._hsq.length, 2);
});

test('setPath applies to the automatic page view and is consumed by it', () => {
  const page = makePage({ pathname: '/ignored', search: '?q=1' });
  page.run("window._hsq = [['setPath', '/pricing?plan=pro']]");
  page.load();
  page.run("_hsq.push(['trackPageView'])");
  assert.deepEqual(page.received().map((r) => r.path), ['/pricing?plan=pro', '/ignored?q=1']);
});

test('trackPageView without setPath uses pathname + search', () => {
  const page = makePage({ pathname: '/docs', search: '?a=b' });
  page.load();
  page.run("_hsq.push(['setPath', '/next'], ['trackPageView'])");
  assert.deepEqual(page.received().map((r) => r.path), ['/docs?a=b', '/next']);
});

test('identify is held until the next page view, which carries it; the visitor stays identified', () => {
  const page = makePage();
  page.load();
  page.run("_hsq.push(['identify', {email: 'a@example.com', id: 'u1'}])");
  assert.equal(page.api.received.length, 1, 'identify alone records nothing');
  assert.equal(page.api.identityPending, true);
  assert.equal(page.received()[0].identity, null);
  page.run("_hsq.push(['identify', {plan: 'pro'}])");
  page.run("_hsq.push(['trackPageView'])");
  page.run("_hsq.push(['trackPageView'])");
  const [, first, second] = page.received();
  assert.deepEqual(first.identity, { email: 'a@example.com', id: 'u1', plan: 'pro' });
  assert.deepEqual(second.identity, { email: 'a@example.com', id: 'u1', plan: 'pro' });
  assert.equal(page.api.identityPending, false);
});

test('an event after identify carries the identity; records keep their own snapshot', () => {
  const page = makePage();
  page.load();
  page.run("_hsq.push(['identify', {email: 'a@example.com'}])");
  page.run("_hsq.push(['trackCustomBehavioralEvent', {name: 'pe1234_clicked', properties: {n: 1}}])");
  page.run("_hsq.push(['identify', {email: 'b@example.com'}])");
  page.run("_hsq.push(['trackEvent', 'Clicked', {id: 'Clicked', value: 3}])");
  const [, event, legacy] = page.received();
  assert.deepEqual(event, {
    type: 'event', name: 'pe1234_clicked', properties: { n: 1 }, identity: { email: 'a@example.com' }, at: 2,
  });
  assert.deepEqual(legacy, {
    type: 'event', name: 'Clicked', properties: { id: 'Clicked', value: 3 }, identity: { email: 'b@example.com' }, at: 3,
  });
});

test("legacy trackEvent also accepts HubSpot's documented {id, value} form", () => {
  const page = makePage();
  page.load();
  page.run("_hsq.push(['trackEvent', {id: '000000001625', value: 20}])");
  assert.deepEqual(page.received()[1], {
    type: 'event', name: '000000001625', properties: { value: 20 }, identity: null, at: 2,
  });
});

test('doNotTrack stops recording and {track: true} re-enables it', () => {
  const page = makePage();
  page.load();
  page.run("_hsq.push(['doNotTrack'])");
  assert.equal(page.api.doNotTrack, true);
  assert.equal(page.jar.get('__hs_do_not_track'), 'yes');
  page.run("_hsq.push(['trackPageView'], ['trackCustomBehavioralEvent', {name: 'x'}])");
  assert.equal(page.api.received.length, 1);
  page.run("_hsq.push(['doNotTrack', {track: true}])");
  assert.equal(page.api.doNotTrack, false);
  assert.equal(page.jar.has('__hs_do_not_track'), false);
  page.run("_hsq.push(['trackCustomBehavioralEvent', {name: 'y'}])");
  assert.deepEqual(page.received().map((r) => r.name || r.type), ['pageView', 'y']);
  assert.deepEqual(page.received().map((r) => r.at), [1, 2]);
});

test('a do-not-track cookie from an earlier page suppresses the automatic page view and cookies', () => {
  const page = makePage({ cookies: { __hs_do_not_track: 'yes' } });
  page.load();
  assert.equal(page.api.doNotTrack, true);
  assert.deepEqual(page.received(), []);
  assert.equal(page.jar.has('hubspotutk'), false);
  page.run("_hsq.push(['doNotTrack', {track: true}], ['trackPageView'])");
  assert.equal(page.api.received.length, 1);
  assert.match(page.jar.get('hubspotutk'), /^[0-9a-f]{32}$/);
});

test('queued doNotTrack also suppresses the automatic page view', () => {
  const page = makePage();
  page.run("window._hsq = [['doNotTrack']]");
  page.load();
  assert.deepEqual(page.received(), []);
});

test('a second copy does nothing but count the load', () => {
  const page = makePage();
  page.load();
  const push = page.window._hsq.push;
  page.load();
  assert.equal(page.api.loadCount, 2);
  assert.equal(page.api.received.length, 1, 'no second automatic page view');
  assert.equal(page.window._hsq.push, push);
  page.run("_hsq.push(['trackPageView'])");
  assert.equal(page.api.received.length, 2, 'each push is processed once');
});

test('a second copy arriving during the ready delay does nothing either', () => {
  const page = makePage({ src: `${SRC}?readyDelayMs=50` });
  page.load();
  page.load();
  page.flushTimers();
  assert.equal(page.api.loadCount, 2);
  assert.equal(page.api.received.length, 1);
});

test('does nothing when _hsq.push was already patched by another tracker', () => {
  const page = makePage();
  page.run("window._hsq = []; _hsq.push = function () { return Array.prototype.push.apply(this, arguments) }");
  page.load();
  assert.equal(page.api.ready, false);
  assert.equal(page.api.loadCount, 1);
  assert.deepEqual(page.received(), []);
  assert.match(page.api.ignored[0].reason, /already patched/);
  page.load();
  assert.equal(page.api.loadCount, 2);
});

test('patched push returns the new length and processes several commands in order', () => {
  const page = makePage();
  page.run("window._hsq = [['setPath', '/a']]");
  page.load();
  const length = page.run("_hsq.push(['setPath', '/b'], ['trackPageView'], ['trackCustomBehavioralEvent', {name: 'e'}])");
  assert.equal(length, 4);
  assert.equal(page.run("_hsq.push()"), 4);
  assert.deepEqual(page.received().map((r) => r.path || r.name), ['/a', '/b', 'e']);
});

test('malformed and unknown commands are ignored with a reason, never thrown', () => {
  const page = makePage();
  page.run(`window._hsq = [
    'trackPageView', null, 42, [], [7], ['setPath'], ['setPath', 5], ['identify'], ['identify', 'a@b.c'],
    ['trackCustomBehavioralEvent'], ['trackCustomBehavioralEvent', {properties: {}}],
    ['trackCustomBehavioralEvent', {name: 'x', properties: 'nope'}], ['trackEvent'], ['trackEvent', 'x', 3],
    ['setContentType', 'blog-post'],
  ]`);
  assert.doesNotThrow(() => page.load());
  assert.doesNotThrow(() => page.run("_hsq.push(undefined, {}, ['nope'])"));
  const reasons = plain(page.api.ignored).map((i) => i.reason);
  assert.equal(reasons.length, 18);
  assert.ok(reasons.every((r) => typeof r === 'string' && r.length > 0));
  assert.ok(reasons.includes('unknown command: setContentType'));
  assert.ok(reasons.includes('not an array'));
  assert.equal(page.api.commands.length, 18, 'every entry is listed as processed');
  assert.deepEqual(page.received().map((r) => r.type), ['pageView'], 'only the automatic page view');
  assert.equal(page.api.identity, null);
});

test('a throwing getter in a command is caught and recorded', () => {
  const page = makePage();
  page.load();
  page.run("window.bad = ['identify', {}]; Object.defineProperty(bad, 1, {get() { throw new Error('boom') }})");
  assert.doesNotThrow(() => page.run('_hsq.push(bad)'));
  assert.equal(page.api.ignored.at(-1).reason, 'error: boom');
});

test('readyDelayMs in the script URL delays readiness until the timer fires', () => {
  const page = makePage({ src: `${SRC}?readyDelayMs=250` });
  page.run("window._hsq = [['setPath', '/early']]");
  page.load();
  assert.equal(page.api.ready, false);
  assert.equal(page.api.readyDelayMs, 250);
  assert.deepEqual(page.timers.map((t) => t.ms), [250]);
  assert.equal(page.run('_hsq.push === Array.prototype.push'), true);
  page.run("_hsq.push(['identify', {email: 'late@example.com'}])");
  assert.deepEqual(page.received(), []);
  page.flushTimers();
  assert.equal(page.api.ready, true);
  assert.equal(page.run('_hsq.push === Array.prototype.push'), false);
  assert.deepEqual(page.received(), [
    { type: 'pageView', path: '/early', identity: { email: 'late@example.com' }, at: 1 },
  ]);
});

test('window.HubSpotStandInOptions.readyDelayMs also delays readiness', () => {
  const page = makePage();
  page.run('window.HubSpotStandInOptions = {readyDelayMs: 40}');
  page.load();
  assert.equal(page.api.ready, false);
  assert.deepEqual(page.timers.map((t) => t.ms), [40]);
  page.flushTimers();
  assert.equal(page.api.ready, true);
});

test('sets HubSpot visitor cookies on load and keeps an existing hubspotutk', () => {
  const page = makePage();
  page.load();
  assert.match(page.api.utk, /^[0-9a-f]{32}$/);
  assert.equal(page.jar.get('hubspotutk'), page.api.utk);
  assert.ok(page.jar.get('__hstc').startsWith(`1234.${page.api.utk}.`));
  assert.match(page.jar.get('__hssc'), /^1234\.1\.\d+$/);
  assert.equal(page.jar.get('__hssrc'), '1');
  assert.ok(page.cookieWrites.every((c) => c.includes('; path=/')));

  const returning = makePage({ cookies: { hubspotutk: 'f'.repeat(32) } });
  returning.load();
  assert.equal(returning.api.utk, 'f'.repeat(32));
  assert.equal(returning.jar.get('hubspotutk'), 'f'.repeat(32));
});

test('deleting the visitor cookies (a reset) makes the next command a new, anonymous visitor', () => {
  const page = makePage();
  page.load();
  const firstUtk = page.api.utk;
  page.run("_hsq.push(['identify', {email: 'a@example.com'}], ['trackPageView'])");
  for (const name of ['hubspotutk', '__hstc', '__hssc', '__hssrc']) page.jar.delete(name);
  page.run("_hsq.push(['trackPageView'])");
  const last = page.received().at(-1);
  assert.equal(last.identity, null);
  assert.notEqual(page.api.utk, firstUtk);
  assert.equal(page.jar.get('hubspotutk'), page.api.utk);
});

test('dispatches hubspot-stand-in:received for each record', () => {
  const page = makePage();
  page.load();
  page.run("_hsq.push(['trackCustomBehavioralEvent', {name: 'e'}])");
  const received = page.events.filter((e) => e.type === 'hubspot-stand-in:received');
  assert.equal(received.length, 2);
  assert.equal(received[1].detail, page.api.received[1]);
  assert.equal(page.events.filter((e) => e.type === 'hubspot-stand-in:ready').length, 1);
});

test('works without currentScript, CustomEvent or dispatchEvent', () => {
  const page = makePage({ src: null });
  delete page.window.CustomEvent;
  delete page.window.dispatchEvent;
  assert.doesNotThrow(() => page.load());
  assert.equal(page.api.portalId, null);
  assert.equal(page.api.ready, true);
  assert.equal(page.api.received.length, 1);
});

test('the source is a classic script that needs no eval', () => {
  assert.doesNotMatch(SOURCE, /^\s*(import|export)\s/m);
  assert.doesNotMatch(SOURCE, /\beval\s*\(|new Function\b|setTimeout\(\s*['"`]/);
});
