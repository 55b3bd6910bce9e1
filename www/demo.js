// hubspot-wasm demo: analytics-next (fully offline) + the HubSpot wasm destination.
// Loaded after ../hubspot-wasm.js (window.HubSpotWasm). For end-to-end tests it sets
// window.__demo = {analytics, plugin, settings, ready} and <body data-ready="1"> when usable.
import { AnalyticsBrowser } from '@segment/analytics-next';

const $ = (id) => document.getElementById(id);
const nativePush = Array.prototype.push;

// ---- settings from the query string ----------------------------------------------------------

function settingsFromQuery(search) {
  const q = new URLSearchParams(search);
  const settings = {
    portalId: q.get('portalId') || '123456',
    // The stand-in tracker is served from the dist/ root, beside hubspot-wasm.js.
    trackingScriptUrl: new URL('../hubspot-wasm-testing.js', document.baseURI).pathname,
    debug: q.get('debug') !== '0',
  };
  if (q.get('real') === '1') {
    delete settings.trackingScriptUrl; // HubSpot's own script, for a real portal
  } else if (/^\d+$/.test(q.get('delay') || '')) {
    settings.trackingScriptUrl += '?readyDelayMs=' + q.get('delay');
  }
  for (const key of ['consent', 'compat']) {
    if (q.has(key)) settings[key] = q.get(key);
  }
  if (q.get('eu') === '1') settings.enableEuropeanDataCenter = true;
  return settings;
}

const settings = settingsFromQuery(location.search);
const standIn = 'trackingScriptUrl' in settings;
let consent = settings.consent || 'granted';
$('settings').textContent = JSON.stringify(settings, null, 2);

const demo = { analytics: null, plugin: null, settings, ready: null };
window.__demo = demo;

// ---- "_hsq commands pushed" -------------------------------------------------------------------
// _hsq.push must stay Array.prototype.push until HubSpot patches it: both the destination and
// HubSpot's script read an own/different push as "another tracker is already here". So: read new
// array entries while push is native ("queued"), and once HubSpot has patched push, wrap its push
// ("live"). Re-checked on every refresh, and at once on the stand-in's ready event.

window._hsq = window._hsq || [];
const hsq = { queue: null, seen: 0, wrapper: null, count: 0 };

function describe(value) {
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return json;
  } catch (_) { /* cyclic: fall through */ }
  return String(value);
}

function recordHsq(cmd, phase) {
  hsq.count += 1;
  const li = document.createElement('li');
  li.dataset.phase = phase;
  li.dataset.command = Array.isArray(cmd) ? String(cmd[0]) : typeof cmd;
  const tag = document.createElement('span');
  tag.className = 'tag';
  tag.textContent = phase;
  const code = document.createElement('code');
  code.textContent = describe(cmd);
  li.append(tag, code);
  appendTo('hsq-log', li, 'hsq-count', hsq.count);
}

function syncHsq() {
  const q = window._hsq;
  if (q === null || typeof q !== 'object') return;
  if (q !== hsq.queue) {
    // First look, or something replaced the queue object.
    hsq.queue = q;
    hsq.seen = 0;
    hsq.wrapper = null;
  }
  if (hsq.wrapper && q.push === hsq.wrapper) return;
  if (!hsq.wrapper && Array.isArray(q)) {
    // Not yet taken over (or just now): entries added by Array.prototype.push.
    const phase = q.push === nativePush ? 'queued' : 'live';
    for (; hsq.seen < q.length; hsq.seen++) recordHsq(q[hsq.seen], phase);
  }
  if (typeof q.push === 'function' && q.push !== nativePush) {
    const theirs = q.push;
    hsq.wrapper = function () {
      for (let i = 0; i < arguments.length; i++) recordHsq(arguments[i], 'live');
      return theirs.apply(this, arguments);
    };
    q.push = hsq.wrapper;
  }
}

// ---- "What HubSpot would receive" (the stand-in's records) -----------------------------------

let receivedShown = 0;
let ignoredShown = 0;

function syncReceived() {
  const api = window.HubSpotStandIn;
  if (!api || !Array.isArray(api.received)) return;
  for (; receivedShown < api.received.length; receivedShown++) {
    const rec = api.received[receivedShown];
    const li = document.createElement('li');
    li.dataset.type = rec.type;
    const email = rec.identity && rec.identity.email;
    if (email) li.dataset.email = email;
    const what = document.createElement('span');
    if (rec.type === 'pageView') {
      li.dataset.path = rec.path;
      what.textContent = `#${rec.at} page view ${rec.path}`;
    } else {
      li.dataset.name = rec.name;
      what.textContent = `#${rec.at} event ${rec.name} ${describe(rec.properties)}`;
    }
    const who = document.createElement('span');
    who.className = email ? 'who' : 'who anon';
    who.textContent = email ? `as ${email}` : 'anonymous';
    li.append(what, who);
    appendTo('received-log', li, 'received-count', receivedShown + 1);
  }
  const ignored = Array.isArray(api.ignored) ? api.ignored : [];
  for (; ignoredShown < ignored.length; ignoredShown++) {
    const li = document.createElement('li');
    li.dataset.type = 'ignored';
    li.className = 'ignored';
    li.textContent = `ignored ${describe(ignored[ignoredShown].command)}: ${ignored[ignoredShown].reason}`;
    appendTo('received-log', li, 'received-count', receivedShown);
  }
}

function appendTo(listId, li, countId, count) {
  const list = $(listId);
  const stick = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  list.append(li);
  if (stick) list.scrollTop = list.scrollHeight;
  const counter = $(countId);
  counter.textContent = String(count);
  counter.dataset.count = String(count);
}

if (!standIn) {
  $('received-note').hidden = false;
  $('received-note').textContent =
    "Real HubSpot script: what it sends is in the browser's network panel (hs-analytics.net, " +
    'track.hubspot.com). Blocked by an ad blocker? The _hsq panel still shows every command.';
}

// ---- status line ------------------------------------------------------------------------------

function moduleVersion() {
  const v = window.HubSpotWasm && window.HubSpotWasm.version;
  if (typeof v === 'function') return v();
  if (v) return String(v);
  return demo.plugin ? demo.plugin.version : '?';
}

function refresh() {
  syncHsq();
  syncReceived();
  const status = $('status');
  const plugin = demo.plugin;
  $('status-version').textContent = window.HubSpotWasm ? moduleVersion() : 'not loaded';
  let hubspot = 'loading';
  let hubspotText = 'loading…';
  if (startFailed) {
    hubspot = 'not-started';
    hubspotText = 'not started';
  } else if (plugin && plugin.isLoaded()) {
    hubspot = 'ready';
    hubspotText = 'ready';
  } else if (consent !== 'granted') {
    hubspot = 'not-loaded';
    hubspotText = `not loaded (consent ${consent})`;
  } else if (scriptFailed) {
    hubspot = 'failed';
    hubspotText = 'script failed to load (blocked or offline)';
  }
  status.dataset.hubspot = hubspot;
  $('status-hubspot').textContent = hubspotText;
  status.dataset.consent = consent;
  for (const state of ['granted', 'pending', 'denied']) {
    $(`btn-consent-${state}`).setAttribute('aria-pressed', String(state === consent));
  }
  $('status-consent').textContent = consent;
  const pending = plugin ? plugin.pendingIdentity() : false;
  status.dataset.pendingIdentity = String(pending);
  $('status-pending').textContent = String(pending);
}

function showError(message) {
  const el = $('status-error');
  el.hidden = false;
  el.textContent = message;
}

let startFailed = false;
let scriptFailed = false;
// A script that fails to load fires a non-bubbling `error` on its tag: seen while capturing.
// The demo's own chunks (beside demo.js) are not HubSpot's.
const ownDir = new URL('.', document.baseURI).href;
window.addEventListener('error', (e) => {
  const tag = e.target;
  if (tag instanceof HTMLScriptElement && tag.src && !tag.src.startsWith(ownDir)) {
    scriptFailed = true;
    refresh();
  }
}, true);
window.addEventListener('hubspot-stand-in:ready', refresh);
window.addEventListener('hubspot-stand-in:received', refresh);
refresh();
setInterval(refresh, 100);

// ---- controls ---------------------------------------------------------------------------------

function lastCall(text, isError) {
  const el = $('last-call');
  el.textContent = text;
  el.classList.toggle('error', Boolean(isError));
}

function called(description, promise) {
  lastCall(description);
  Promise.resolve(promise).catch((e) => lastCall(`${description} failed: ${e && e.message}`, true));
  setTimeout(refresh, 0);
}

function identifyArgs() {
  const userId = $('identify-user-id').value.trim();
  const traits = {};
  for (const [id, key] of [
    ['identify-email', 'email'],
    ['identify-first-name', 'firstName'],
    ['identify-company', 'company'],
  ]) {
    const value = $(id).value.trim();
    if (value) traits[key] = value;
  }
  return userId ? [userId, traits] : [traits];
}

// `/pricing?plan=pro` → {path: '/pricing', search: '?plan=pro'}. search is always given, so the
// demo page's own query string (?consent=…) does not leak into the page view's path.
function pageArgs() {
  const text = $('page-path').value.trim() || '/';
  const at = text.indexOf('?');
  return at < 0 ? [{ path: text, search: '' }] : [{ path: text.slice(0, at), search: text.slice(at) }];
}
const show = (method, args) => `analytics.${method}(${args.map(describe).join(', ')})`;

function wireControls(analytics, plugin) {
  $('form-page').addEventListener('submit', (e) => {
    e.preventDefault();
    const args = pageArgs();
    called(show('page', args), analytics.page(...args));
  });

  $('form-identify').addEventListener('submit', (e) => {
    e.preventDefault();
    const args = identifyArgs();
    called(show('identify', args), analytics.identify(...args));
  });

  $('form-track').addEventListener('submit', (e) => {
    e.preventDefault();
    const name = $('track-event').value.trim();
    const text = $('track-properties').value.trim();
    let properties = {};
    if (text) {
      try {
        properties = JSON.parse(text);
      } catch (err) {
        lastCall(`properties are not valid JSON: ${err.message}`, true);
        return;
      }
      if (properties === null || typeof properties !== 'object' || Array.isArray(properties)) {
        lastCall('properties must be a JSON object', true);
        return;
      }
    }
    if (!name) {
      lastCall('event name is empty', true);
      return;
    }
    called(show('track', [name, properties]), analytics.track(name, properties));
  });

  $('btn-page-identify').addEventListener('click', () => {
    // Both in one task: the destination moves the identify first, so the page view carries it.
    const page = pageArgs();
    const identify = identifyArgs();
    const p1 = analytics.page(...page);
    const p2 = analytics.identify(...identify);
    called(`${show('page', page)}; ${show('identify', identify)}`, Promise.all([p1, p2]));
  });

  $('btn-reset').addEventListener('click', () => {
    called('analytics.reset()', analytics.reset());
  });

  for (const state of ['granted', 'pending', 'denied']) {
    $(`btn-consent-${state}`).addEventListener('click', () => {
      try {
        plugin.setConsent(state);
        consent = state;
        lastCall(`plugin.setConsent(${describe(state)})`);
      } catch (e) {
        lastCall(`setConsent failed: ${e && e.message}`, true);
      }
      refresh();
    });
  }
}

// ---- start ------------------------------------------------------------------------------------

async function start() {
  const api = window.HubSpotWasm;
  if (!api || typeof api.destination !== 'function') {
    throw new Error('window.HubSpotWasm is missing: ../hubspot-wasm.js did not load');
  }
  await api.ready;
  const plugin = api.destination(settings); // throws on invalid settings, naming the setting
  demo.plugin = plugin;

  // Offline analytics-next: no CDN settings fetch, no Segment.io delivery, no metrics.
  const analytics = AnalyticsBrowser.load(
    { writeKey: 'demo', cdnSettings: { integrations: {}, metrics: { sampleRate: 0 } } },
    { integrations: { 'Segment.io': false }, disableClientPersistence: true, initialPageview: false },
  );
  demo.analytics = analytics;
  await analytics.register(plugin);

  wireControls(analytics, plugin);
  $('controls').disabled = false;
  document.body.dataset.ready = '1';
  refresh();
  return demo;
}

demo.ready = start();
demo.ready.catch((e) => {
  startFailed = true;
  document.body.dataset.ready = 'error';
  showError(`Not started: ${e && e.message ? e.message : e}`);
  refresh();
});
