// The browser effects of src/engine.rs: the page's DOM, window._hsq, timers, cookies and the
// console. Nothing here decides anything about HubSpot (the core does, through the engine): these
// functions report what the page has and do what they are told. JavaScript rather than web-sys
// and gloo-timers calls from Rust: each import and closure type costs the wasm bytes.
//
// Callbacks: the engine hands over one `signal(code, arg)` function and the code to call it with.

const isObject = (v) => v !== null && typeof v === 'object';

// Dates in JSON that Rust writes: {"\u0000date": ms}, a key no payload uses.
const DATE_KEY = '\u0000date';
const revive = (_, v) => (isObject(v) && DATE_KEY in v ? new Date(v[DATE_KEY]) : v);

/**
 * Parses JSON that Rust wrote (commands for `_hsq`); with `dates`, makes tagged dates `Date`s.
 * Here, not in js/tape.js: js/plugin.js imports that, and a wasm import from it would make the
 * glue carry a second copy of it into the bundles.
 */
export function parse(text, dates) {
  return dates ? JSON.parse(text, revive) : JSON.parse(text);
}

/** window._hsq, created (as an array) if missing and never replaced. */
function hsqQueue() {
  if (!isObject(window._hsq)) window._hsq = [];
  return window._hsq;
}

/** True once HubSpot's tracking code has patched `_hsq.push` (its readiness signal). */
function isPatched() {
  const hsq = window._hsq;
  return isObject(hsq) && typeof hsq.push === 'function' && hsq.push !== Array.prototype.push;
}

/**
 * Pushes a command (JSON that Rust wrote; `dates`: it holds tagged dates) through whatever `push`
 * `_hsq` has now. An error inside HubSpot's code is reported, never thrown into the page.
 */
export function hsqPush(json, dates) {
  try {
    const hsq = hsqQueue();
    hsq.push(parse(json, dates));
  } catch (error) {
    console.warn('[HubSpot] _hsq.push failed:', error);
  }
}

/** Whether an element with this id is on the page. */
export function hasElement(id) {
  return document.getElementById(id) !== null;
}

/** The `src` of every script on the page, one per line (URLs hold no line breaks). */
export function scriptSources() {
  return Array.from(document.scripts, (s) => s.src).join('\n');
}

/**
 * The operations without text, by code (src/page.rs): 0 creates `_hsq`, 1 is `isPatched()`, 2
 * whether the page has `window.hbspt.forms` (the Forms SDK ran), 3 cancels the timer or poll
 * `id` (browsers share one id space for both), 4 calls `f(id, 0)` (the signal function, with a
 * code). One export with a code: the glue wraps it (the u32), so a bundler needs no namespace
 * object for shell.js.
 */
export function pageOp(op, id, f) {
  if (op === 0) hsqQueue();
  else if (op === 1) return isPatched();
  else if (op === 2) return isObject(window.hbspt) && isObject(window.hbspt.forms);
  else if (op === 3) clearTimeout(id);
  else f(id, 0);
  return false;
}

/**
 * A nonce for injected tags: that of the script running now (this module's, under a strict CSP),
 * else of any script on the page; '' when none, undefined outside a page.
 */
export function pageNonce() {
  if (typeof document === 'undefined') return undefined;
  const current = document.currentScript;
  if (current && current.nonce) return current.nonce;
  for (const s of document.scripts) if (s.nonce) return s.nonce;
  return '';
}

/**
 * Inserts a script tag (async, text/javascript, the nonce) before the first `<script>`, else
 * into `<head>`, else the root element; `signal(code, 1)` on its `load`, `signal(code, 0)` on
 * `error`, once. False (and a warning) when it could not be added.
 */
export function inject(url, id, nonce, signal, code) {
  try {
    const tag = document.createElement('script');
    tag.type = 'text/javascript';
    tag.async = true;
    if (id) tag.id = id;
    if (nonce) tag.nonce = nonce;
    // Dropped once used: the signal function keeps its instance alive (js/plugin.js), and the
    // tag's listeners stay as long as the tag.
    let report = signal;
    const settle = (ok) => () => {
      if (report) {
        const once = report;
        report = null;
        once(code, ok);
      }
    };
    tag.addEventListener('load', settle(1));
    tag.addEventListener('error', settle(0));
    tag.src = url;
    const first = document.scripts[0];
    if (first && first.parentNode) first.parentNode.insertBefore(tag, first);
    else (document.head || document.documentElement).appendChild(tag);
    return true;
  } catch (error) {
    console.warn('[HubSpot] could not add script:', error);
    return false;
  }
}

/**
 * `signal(code, 0)` after `ms`; with `poll`, once `_hsq.push` is patched, polled every `ms` with
 * a timer (a busy loop delays HubSpot's script). Returns the timer's or poll's id for
 * `pageOp(3, id)`.
 */
export function armTimer(signal, code, ms, poll) {
  if (!poll) return setTimeout(() => signal(code, 0), ms);
  const id = setInterval(() => {
    if (isPatched()) {
      clearInterval(id);
      signal(code, 0);
    }
  }, ms);
  return id;
}

/** Deletes a cookie on this host and on every parent domain HubSpot may have set it on. */
export function deleteCookie(name) {
  const labels = location.hostname.split('.');
  const domains = [''];
  for (let i = 0; i < labels.length - 1; i++) domains.push(`; domain=.${labels.slice(i).join('.')}`);
  for (const domain of domains) document.cookie = `${name}=; max-age=0; path=/${domain}`;
}

/** A debug line. */
export function log(text) {
  console.log('[HubSpot]', text);
}

/** Unicode lowercase, for the core's text rules (src/host.rs). */
export function lowercase(text) {
  return text.toLowerCase();
}

/** JavaScript's `String(n)`, for the core's number rules (src/host.rs). */
export function numberText(n) {
  return String(n);
}
