/*
 * hubspot-wasm testing stand-in for HubSpot's tracking script (js.hs-scripts.com/<portalId>.js).
 * Written from HubSpot's documented tracking-code behaviour; it contains no HubSpot code and sends
 * nothing anywhere. It records what HubSpot would receive on window.HubSpotStandIn.
 * Classic script on purpose: it must work where HubSpot's own async <script> tag would.
 */
(function () {
  'use strict';

  // document.currentScript is only set while this script first runs.
  const script = typeof document !== 'undefined' ? document.currentScript : null;
  const src = (script && typeof script.src === 'string' && script.src) || '';
  const w = window;
  const hasOwn = (o, k) => Object.prototype.hasOwnProperty.call(o, k);
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

  // A second copy must not count a second landing page.
  const existing = w.HubSpotStandIn;
  if (isObject(existing) && Array.isArray(existing.received)) {
    existing.loadCount += 1;
    return;
  }

  let q = w._hsq;
  // Patched = an own `push` (not instanceof checks: the queue may come from another realm).
  const patchedElsewhere = q != null && typeof q.push === 'function' &&
    (Array.isArray(q) ? hasOwn(q, 'push') : true);
  if (!patchedElsewhere && !Array.isArray(q)) q = w._hsq = [];

  const portalMatch = /\/(\d+)\.js(?:[?#]|$)/.exec(src);
  const options = isObject(w.HubSpotStandInOptions) ? w.HubSpotStandInOptions : {};
  const delayMatch = /[?&]readyDelayMs=(\d+)/.exec(src);
  const delay = delayMatch ? Number(delayMatch[1]) : Number(options.readyDelayMs) || 0;

  const api = {
    src: src,
    portalId: portalMatch ? portalMatch[1] : null,
    received: [],
    commands: [],
    ignored: [],
    loadCount: 1,
    ready: false,
    readyDelayMs: delay > 0 ? delay : 0,
    doNotTrack: false,
    identity: null,
    // True while an identify has not yet been carried by a page view or event.
    identityPending: false,
    utk: null,
  };
  w.HubSpotStandIn = api;

  if (patchedElsewhere) {
    api.ignored.push({ command: null, reason: '_hsq.push was already patched by another tracker; stand-in inactive' });
    return;
  }

  const DNT_COOKIE = '__hs_do_not_track';
  const HALF_YEAR = 15552000;
  let seq = 0;
  let pendingPath = null;
  let cookiesWork = false;

  // One pattern per cookie name: readCookie runs on every command (see checkVisitor).
  const cookiePatterns = {};

  function readCookie(name) {
    try {
      const re = cookiePatterns[name] || (cookiePatterns[name] = new RegExp('(?:^|;\\s*)' + name + '=([^;]*)'));
      const m = re.exec(document.cookie || '');
      return m ? m[1] : null;
    } catch (_) {
      return null; // sandboxed or opaque-origin documents throw on cookie access
    }
  }

  function writeCookie(name, value, maxAge) {
    try {
      document.cookie = name + '=' + value + '; path=/' +
        (maxAge !== undefined ? '; max-age=' + maxAge : '') + '; SameSite=Lax';
    } catch (_) { /* see readCookie */ }
  }

  function randomHex() {
    const bytes = new Uint8Array(16);
    const c = w.crypto;
    if (c && typeof c.getRandomValues === 'function') c.getRandomValues(bytes);
    else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return Array.from(bytes, (b) => (b < 16 ? '0' : '') + b.toString(16)).join('');
  }

  // HubSpot's visitor cookies; values follow HubSpot's shapes closely enough for tests.
  function startVisitor() {
    let utk = readCookie('hubspotutk');
    if (!utk) {
      utk = randomHex();
      writeCookie('hubspotutk', utk, HALF_YEAR);
    }
    const now = Date.now();
    const portal = api.portalId || '0';
    if (!readCookie('__hstc')) writeCookie('__hstc', [portal, utk, now, now, now, 1].join('.'), HALF_YEAR);
    if (!readCookie('__hssc')) writeCookie('__hssc', portal + '.1.' + now, 1800);
    if (!readCookie('__hssrc')) writeCookie('__hssrc', '1');
    api.utk = utk;
    cookiesWork = readCookie('hubspotutk') === utk;
  }

  // A deleted or changed hubspotutk (what a reset does) makes a new visitor, who is not the
  // previously identified contact: HubSpot ties identity to that cookie.
  function checkVisitor() {
    if (!cookiesWork || api.doNotTrack || readCookie('hubspotutk') === api.utk) return;
    api.identity = null;
    api.identityPending = false;
    startVisitor();
  }

  function emit(type, detail) {
    try {
      if (typeof w.dispatchEvent === 'function' && typeof w.CustomEvent === 'function') {
        w.dispatchEvent(new w.CustomEvent(type, { detail: detail }));
      }
    } catch (_) { /* a listener's failure is not the tracker's */ }
  }

  function record(rec) {
    if (api.doNotTrack) return;
    rec.identity = api.identity ? Object.assign({}, api.identity) : null;
    rec.at = ++seq;
    api.identityPending = false;
    api.received.push(rec);
    emit('hubspot-stand-in:received', rec);
  }

  function pageView() {
    let path = pendingPath;
    pendingPath = null;
    if (path === null) {
      const loc = w.location || {};
      path = (loc.pathname || '/') + (loc.search || '');
    }
    record({ type: 'pageView', path: path });
  }

  function ignore(cmd, reason) {
    api.ignored.push({ command: cmd, reason: reason });
  }

  function run(cmd) {
    if (!Array.isArray(cmd)) return ignore(cmd, 'not an array');
    const method = cmd[0];
    const a = cmd[1];
    switch (method) {
      case 'setPath':
        if (typeof a !== 'string') return ignore(cmd, 'setPath needs a string path');
        pendingPath = a;
        return;
      case 'identify':
        if (!isObject(a)) return ignore(cmd, 'identify needs an object');
        api.identity = Object.assign({}, api.identity, a);
        api.identityPending = true;
        return;
      case 'trackPageView':
        return pageView();
      case 'trackCustomBehavioralEvent':
        if (!isObject(a) || typeof a.name !== 'string' || a.name === '') {
          return ignore(cmd, 'trackCustomBehavioralEvent needs {name, properties}');
        }
        if (a.properties != null && !isObject(a.properties)) {
          return ignore(cmd, 'trackCustomBehavioralEvent properties must be an object');
        }
        return record({ type: 'event', name: a.name, properties: Object.assign({}, a.properties) });
      case 'trackEvent': {
        // Legacy API, both documented shapes: ['trackEvent', {id, value}] and ['trackEvent', id, props].
        if (isObject(a) && typeof a.id === 'string' && a.id !== '') {
          const rest = Object.assign({}, a);
          delete rest.id;
          return record({ type: 'event', name: a.id, properties: rest });
        }
        if (typeof a !== 'string' || a === '') return ignore(cmd, 'trackEvent needs an event id');
        if (cmd[2] != null && !isObject(cmd[2])) return ignore(cmd, 'trackEvent properties must be an object');
        return record({ type: 'event', name: a, properties: Object.assign({}, cmd[2]) });
      }
      case 'doNotTrack':
        // HubSpot keeps the opt-out in a cookie, so it outlives this page.
        if (isObject(a) && a.track === true) {
          api.doNotTrack = false;
          writeCookie(DNT_COOKIE, '', 0);
          if (!api.utk) startVisitor();
        } else {
          api.doNotTrack = true;
          writeCookie(DNT_COOKIE, 'yes', HALF_YEAR);
        }
        return;
      default:
        return ignore(cmd, typeof method === 'string' ? 'unknown command: ' + method : 'missing command name');
    }
  }

  function handle(cmd) {
    try {
      api.commands.push(cmd);
      // A copy, so a later mutation by the page does not rewrite history.
      if (Array.isArray(cmd)) api.commands[api.commands.length - 1] = cmd.slice();
      checkVisitor();
      run(cmd);
    } catch (e) {
      ignore(cmd, 'error: ' + (e && e.message ? e.message : String(e)));
    }
  }

  function activate() {
    for (let i = 0; i < q.length; i++) handle(q[i]);
    try {
      checkVisitor();
      pageView(); // HubSpot records the landing page itself
    } catch (_) { /* never break the host page */ }
    // Patched last: the destination treats this as "HubSpot is ready".
    const nativePush = Array.prototype.push;
    q.push = function () {
      const length = nativePush.apply(q, arguments);
      for (let j = 0; j < arguments.length; j++) handle(arguments[j]);
      return length;
    };
    api.ready = true;
    emit('hubspot-stand-in:ready', api);
  }

  api.doNotTrack = readCookie(DNT_COOKIE) !== null;
  if (!api.doNotTrack) startVisitor();
  else api.utk = readCookie('hubspotutk');

  if (api.readyDelayMs > 0) setTimeout(activate, api.readyDelayMs);
  else activate();
})();
