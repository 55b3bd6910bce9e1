// The cloud benchmark: the hubspot-cloud relay (release build, SQLite outbox) delivering to the
// fake HubSpot (crates/fake-hubspot), both on 127.0.0.1, against the budgets of
// shared/spec/cloud-mode.md §6. Every figure is measured in this run.
//
//   cargo build --release -p hubspot-cloud -p fake-hubspot
//   node bench/cloud.mjs [requests] [audiences] [delivery] [ingest] [memory]
//                                            (from the repository root; default: all five, 7 min)
//   BENCH_SUSTAIN_SECONDS=20 node bench/cloud.mjs memory              (memory's load; default 300)
//
// - requests: HubSpot requests the fake received per 1,000 messages sent through /v1/batch as a
//   backfill (8 clients, batches of 100; limit 190 per 10 s) and delivered, by kind: 10,000 identifies for 2,000
//   contacts, cycling, so a lease of 2,000 jobs holds each contact once (the unique-email case
//   the spec's floor of 10 describes; repeats of a contact within a lease are merged, which
//   goes below it); 10,000 tracks of one defined custom event (email in `properties`, so events
//   only); 10,000 groups joining those contacts to 2,000 companies, every pair new. Beside them,
//   §6's reference numbers; then what HubSpot holds, checked against what was sent.
// - audiences: HubSpot requests per 10,000 audience membership changes sent through /v1/batch
//   as Segment Engage sends them (half `Audience Entered`/`Audience Exited` tracks, half audience
//   identifies; 10,000 contacts over two audiences, a third of them leaving again), property
//   mode: the `batch/upsert` writes (floor 100: 100 contacts per write) and, apart, what each
//   audience needs once per run (definitions read, custom-property limit read, property group,
//   property create); then what HubSpot holds, checked against what was sent.
// - delivery: one portal kept saturated (50,000 new contacts queued) under HubSpot's free limit,
//   100 requests per 10 s, configured alike in the fake and the relay: requests/s the fake
//   admitted over whole windows as a fraction of that limit, and 429s as a share of requests
//   (budget < 1%).
// - ingest: messages per second durably queued (answered 200) through /v1/batch by 8 concurrent
//   clients sending batches of 100 for 5 s.
// - memory: the relay's resident memory (VmRSS) under a steady 500 messages/s (identify and track
//   for a pool of 4,000 contacts) that delivery at 100 requests per 10 s keeps up with: sampled
//   every 5 s after a warm-up of one pass over the pool; start, end and max, with the backlog
//   and the requests per 1,000 messages of this live traffic.
//
// Results also go to bench/results/cloud.json; a part run alone replaces only its own entry.
// Every process and temporary directory the run starts is removed on exit, an error included.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { basicAuth, binary, startService, writeRelayConfig } from '../scripts/services.mjs';

const PARTS = { requests: measureRequests, audiences: measureAudiences, delivery: measureDelivery, ingest: measureIngest, memory: measureMemory };
const SUSTAIN_SECONDS = Number(process.env.BENCH_SUSTAIN_SECONDS ?? 300);
const RESULTS = fileURLToPath(new URL('results/cloud.json', import.meta.url));
const PORTAL = '123456';
const KEY = 'bench-key';
const AUTH = basicAuth(KEY);
const BATCH = 100;
const CLIENTS = 8;
const EVENT = 'Bench Event';
const EVENT_NAME = `pe${PORTAL}_bench_event`;
const SAMPLE_MS = 5000;

// Kept until exit so that a failure anywhere still stops the servers and removes their files.
const children = new Set();
const dirs = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

const fmt = (x, digits = 0) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const pct = (part, whole) => (whole ? (100 * part) / whole : 0);

const identify = (n, contact) => ({ type: 'identify', userId: `u${contact}`, traits: { email: `user${contact}@example.com`, firstName: 'Ada', lastName: `Lovelace ${n}`, phone: '+1 555 0100' } });
const track = (contact) => ({ type: 'track', userId: `u${contact}`, event: EVENT, properties: { email: `user${contact}@example.com`, plan: 'pro', seats: contact % 10 } });
const group = (contact, company) => ({ type: 'group', userId: `u${contact}`, groupId: `g${company}`, traits: { name: `Company ${company}`, employees: 12 } });

/**
 * Starts a fake HubSpot (defining the bench's custom event) and a relay delivering to it, both
 * with the rate limit `max` requests per `intervalMs`, as a real portal and its relay config.
 */
async function startStack(max, intervalMs) {
  const dir = mkdtempSync(join(tmpdir(), 'hubspot-bench-cloud-'));
  dirs.add(dir);
  const fake = await startService(binary('fake-hubspot', 'release'), ['--port', '0', '--rate-max', String(max), '--rate-interval-ms', String(intervalMs), '--event', `${EVENT_NAME}:plan,seats`], 'error');
  children.add(fake.child);
  const config = writeRelayConfig(dir, { baseUrl: fake.url, writeKey: KEY, portalId: PORTAL, name: 'bench', portalExtra: [`rate_max = ${max}`, `rate_interval_ms = ${intervalMs}`] });
  const relay = await startService(binary('hubspot-cloud', 'release'), ['--config', config, 'serve'], 'error');
  children.add(relay.child);
  return {
    fake: fake.url,
    relay: relay.url,
    pid: relay.child.pid,
    stop() {
      for (const c of [relay.child, fake.child]) {
        c.kill('SIGKILL');
        children.delete(c);
      }
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}

/** Posts one `/v1/batch`; true when the relay answered 200 (the messages are durably queued). */
async function postBatch(relay, batch) {
  const r = await fetch(`${relay}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: AUTH }, body: JSON.stringify({ batch }) });
  await r.arrayBuffer();
  return r.ok;
}

/** Sends messages `make(0..count)` in batches of 100 from 8 concurrent clients; throws on a refusal. */
async function sendAll(relay, count, make) {
  let next = 0;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (next < count) {
      const from = next;
      next = Math.min(count, next + BATCH);
      const batch = Array.from({ length: next - from }, (_, i) => make(from + i));
      if (!(await postBatch(relay, batch))) throw new Error(`the relay refused a batch (messages ${from}..${next})`);
    }
  }));
}

/** The relay's Prometheus metrics as name → value (labelled series summed). */
async function metrics(relay) {
  const out = {};
  for (const line of (await (await fetch(`${relay}/metrics`)).text()).split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(line);
    if (m) out[m[1]] = (out[m[1]] ?? 0) + Number(m[2]);
  }
  return out;
}

/** Polls `probe` every 250 ms until it returns a value; throws after `timeoutMs`. */
async function until(what, timeoutMs, probe) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await sleep(250);
  }
}

/** Waits until every accepted message is final (delivered or dead-lettered); returns the metrics. */
function allDelivered(relay, timeoutMs) {
  return until('delivery', timeoutMs, async () => {
    const m = await metrics(relay);
    return m.hubspot_relay_accepted_total === m.hubspot_delivered_total + m.hubspot_dead_total && m;
  });
}

const fakeState = async (fake) => (await fetch(`${fake}/_fake/state`)).json();

/** Requests by endpoint between two fake states, each `{count, inputs}` (mean batch inputs). */
function requestsBetween(before, after) {
  const out = {};
  for (const [endpoint, byStatus] of Object.entries(after.requests)) {
    const count = Object.entries(byStatus).reduce((sum, [status, n]) => sum + n - (before.requests[endpoint]?.[status] ?? 0), 0);
    if (count) out[endpoint] = { count };
  }
  // The log holds each request's batch size; its endpoint key is method and path for the batch
  // endpoints, which carry no ids.
  for (const e of after.requestLog.slice(before.requestLog.length)) {
    const entry = out[`${e.method} ${e.path}`];
    if (entry && e.batchSize != null) entry.inputs = (entry.inputs ?? 0) + e.batchSize / entry.count;
  }
  return out;
}

async function measureRequests() {
  const contacts = 2000;
  const count = 10_000;
  // HubSpot's professional limit, so that the run waits little: batching, not the limit, decides
  // the counts.
  const [max, intervalMs] = [190, 10_000];
  const stack = await startStack(max, intervalMs);
  const kinds = {
    identify: (n) => identify(n, n % contacts),
    track: (n) => track(n % contacts),
    // Company n % 2000 with user (n + pass) % 2000: each pass over the companies pairs them
    // with other users, so all 10,000 associations are new.
    group: (n) => group((n + Math.floor(n / contacts)) % contacts, n % contacts),
  };
  const result = { messagesPerKind: count, contacts, companies: contacts, rateMax: max, rateIntervalMs: intervalMs };
  console.log(`HubSpot requests per 1,000 messages (${fmt(count)} of each kind sent as a backfill; limit ${max} per ${intervalMs / 1000} s)`);
  let before = await fakeState(stack.fake);
  for (const [kind, make] of Object.entries(kinds)) {
    await sendAll(stack.relay, count, make);
    await allDelivered(stack.relay, 120_000);
    const after = await fakeState(stack.fake);
    const byEndpoint = requestsBetween(before, after);
    const requests = Object.values(byEndpoint).reduce((sum, e) => sum + e.count, 0);
    result[kind] = { requests, per1000: (1000 * requests) / count, byEndpoint };
    const detail = Object.entries(byEndpoint).map(([endpoint, e]) => `${e.count} ${endpoint}${e.inputs ? ` (mean ${fmt(e.inputs, 1)} inputs)` : ''}`).join(', ');
    console.log(`  ${kind.padEnd(9)}${fmt(result[kind].per1000, 1).padStart(6)}   ${requests} requests: ${detail}`);
    before = after;
  }
  console.log('  references, identify: floor 10 (batch upsert of 100); Segment single-event path 1,000–3,000; Segment batch mode 3 per batch (30 at 100 per batch); RudderStack 10 when emails are unique');
  console.log('  floors of the others (no reference in §6): track 2 (500 events per request); group 20 (company upsert and association, 100 per request) or 30 with the contact-id read this engine needs');
  const held = { contacts: Object.keys(before.objects.contacts ?? {}).length, events: before.events.length, companies: Object.keys(before.objects.companies ?? {}).length, associations: before.associations.length };
  const expected = { contacts, events: count, companies: contacts, associations: count };
  const differing = Object.keys(expected).filter((k) => held[k] !== expected[k]).map((k) => `${k} ${fmt(held[k])} of ${fmt(expected[k])}`);
  const dead = (await metrics(stack.relay)).hubspot_dead_total;
  result.held = { ...held, dead, expected };
  console.log(`  HubSpot holds ${Object.entries(held).map(([k, n]) => `${fmt(n)} ${k}`).join(', ')}; ${dead} dead-lettered${differing.length ? `; NOT AS SENT: ${differing.join(', ')}` : ' (as sent)'}`);
  stack.stop();
  return result;
}

async function measureAudiences() {
  const count = 10_000;
  const audiences = ['bench_loyal', 'bench_churn_risk'];
  const [max, intervalMs] = [190, 10_000];
  const stack = await startStack(max, intervalMs);
  const audience = (n) => audiences[n % 2];
  // Contact n joins its audience, except every third, whose message says it left.
  const member = (n) => n % 3 !== 0;
  const make = (n) => {
    const email = `member${n}@example.com`;
    if (n % 4 < 2) {
      return { type: 'track', userId: `m${n}`, event: member(n) ? 'Audience Entered' : 'Audience Exited', properties: { audience_key: audience(n) }, context: { traits: { email } } };
    }
    return { type: 'identify', userId: `m${n}`, traits: { email, [audience(n)]: member(n) }, context: { personas: { computation_class: 'audience', computation_key: audience(n) } } };
  };
  console.log(`Audiences: HubSpot requests per ${fmt(count)} membership changes (Engage tracks and identifies, ${fmt(count)} contacts, ${audiences.length} audiences, property mode; limit ${max} per ${intervalMs / 1000} s)`);
  const before = await fakeState(stack.fake);
  await sendAll(stack.relay, count, make);
  const m = await allDelivered(stack.relay, 120_000);
  const after = await fakeState(stack.fake);
  const byEndpoint = requestsBetween(before, after);
  const writes = byEndpoint['POST /crm/v3/objects/contacts/batch/upsert'] ?? { count: 0 };
  const requests = Object.values(byEndpoint).reduce((sum, e) => sum + e.count, 0);
  const setup = Object.entries(byEndpoint).filter(([endpoint]) => !endpoint.endsWith('/batch/upsert'));
  const contacts = Object.values(after.objects.contacts ?? {});
  const wrong = contacts.filter((c) => {
    const n = Number(/member(\d+)@/.exec(c.properties.email)?.[1]);
    return c.properties[audience(n)] !== String(member(n));
  }).length;
  const result = { changes: count, contacts: count, audiences: audiences.length, writes: writes.count, meanInputs: writes.inputs, requests, byEndpoint, held: contacts.length, wrong, dead: m.hubspot_dead_total };
  console.log(`  ${fmt(writes.count)} writes per ${fmt(count)} changes (batch/upsert, mean ${fmt(writes.inputs ?? 0, 1)} contacts each; floor ${Math.ceil(count / 100)}); ${requests} requests in all`);
  console.log(`  setup, once per run (per audience; the group once per portal): ${setup.map(([endpoint, e]) => `${e.count} ${endpoint}`).join(', ')}`);
  console.log('  references: Adobe and Segment need the property created by hand; the spec floor is ceil(N / 100) writes plus one property check per audience');
  console.log(`  HubSpot holds ${fmt(contacts.length)} contacts, ${wrong ? `${wrong} NOT AS SENT` : 'each with its latest membership'}; ${m.hubspot_dead_total} dead-lettered`);
  stack.stop();
  return result;
}

async function measureDelivery() {
  const [max, intervalMs] = [100, 10_000];
  const windows = 4;
  // One more window's worth than measured, so the queue never runs dry during the measurement.
  const count = (windows + 1) * max * BATCH;
  const stack = await startStack(max, intervalMs);
  console.log(`Delivery, saturated (${fmt(count)} new contacts queued; limit ${max} per ${intervalMs / 1000} s in the fake and the relay)`);
  await sendAll(stack.relay, count, (n) => identify(n, n));
  // Full batches for `windows` windows have gone once this much is delivered; the rest of the
  // queue is not waited for.
  await until('delivery', (windows + 3) * intervalMs, async () => (await metrics(stack.relay)).hubspot_delivered_total >= windows * max * BATCH);
  const state = await fakeState(stack.fake);
  stack.stop();
  // Requests that count against the limit: admitted (not 429) and not to the exempt events API.
  const admitted = state.requestLog.filter((e) => e.status !== 429 && !e.path.startsWith('/events/')).map((e) => e.atMs).sort((a, b) => a - b);
  // Request i + max may go only once request i has left the window, so `max` requests per span
  // from request 0 to request k·max is the achieved rate over k whole windows.
  const k = Math.floor((admitted.length - 1) / max);
  const spanMs = admitted[k * max] - admitted[0];
  const perSecond = (k * max * 1000) / spanMs;
  const limitPerSecond = (max * 1000) / intervalMs;
  const upserts = state.requestLog.filter((e) => e.path.endsWith('/batch/upsert') && e.status !== 429);
  const result = {
    rateMax: max, rateIntervalMs: intervalMs, windows: k, spanMs, requestsPerSecond: perSecond, fractionOfLimit: perSecond / limitPerSecond,
    busiestWindow: state.maxRequestsInWindow, requests: state.totalRequests, rateLimited: state.rateLimited, rateLimitedPercent: pct(state.rateLimited, state.totalRequests),
    meanUpsertInputs: upserts.reduce((sum, e) => sum + e.batchSize, 0) / upserts.length,
  };
  console.log(`  ${fmt(perSecond, 2)} requests/s admitted over ${k} whole windows (${fmt(spanMs / 1000, 1)} s) = ${fmt(100 * result.fractionOfLimit, 1)}% of the limit (${fmt(limitPerSecond, 2)}/s); busiest rolling window ${result.busiestWindow} of ${max}; ${fmt(result.meanUpsertInputs, 1)} contacts per upsert`);
  console.log(`  429s: ${result.rateLimited} of ${fmt(result.requests)} requests (${fmt(result.rateLimitedPercent, 2)}%; budget < 1%)`);
  return result;
}

async function measureIngest() {
  const seconds = 5;
  const stack = await startStack(100, 10_000);
  console.log(`Ingest (${CLIENTS} clients, batches of ${BATCH}, ${seconds} s, SQLite outbox; the fake receives deliveries meanwhile)`);
  let seq = 0;
  let accepted = 0;
  let refused = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    while (Date.now() < end) {
      const batch = Array.from({ length: BATCH }, () => { const n = seq++; return identify(n, n % 5000); });
      if (await postBatch(stack.relay, batch)) accepted += BATCH; else refused += 1;
    }
  }));
  stack.stop();
  const result = { seconds, clients: CLIENTS, batch: BATCH, messagesPerSecond: accepted / seconds, refusedRequests: refused };
  console.log(`  ${fmt(result.messagesPerSecond)} messages/s durably queued through /v1/batch (${refused} refused requests)`);
  return result;
}

/** The resident memory of a process, in MB. */
const rssMb = (pid) => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function measureMemory() {
  const [max, intervalMs] = [100, 10_000];
  const perSecond = 500;
  const pool = 4000;
  // One identify and one track per contact is one pass over the pool: every contact is known
  // to the relay and to HubSpot before the first sample.
  const warmupMs = ((2 * pool) / perSecond) * 1000;
  const stack = await startStack(max, intervalMs);
  console.log(`Memory under sustained load (${perSecond} messages/s, identify and track for ${fmt(pool)} contacts; limit ${max} per ${intervalMs / 1000} s; ${SUSTAIN_SECONDS} s after a ${warmupMs / 1000} s warm-up)`);
  let stopped = false;
  let sent = 0;
  let refused = 0;
  const started = performance.now();
  // One client on a fixed schedule (a batch every 200 ms), catching up if an answer is slow.
  const load = (async () => {
    for (let i = 0; !stopped; i++) {
      await sleep(started + (i * BATCH * 1000) / perSecond - performance.now());
      const batch = Array.from({ length: BATCH }, () => {
        const n = sent++;
        const contact = Math.floor(n / 2) % pool;
        return n % 2 ? track(contact) : identify(n, contact);
      });
      if (!(await postBatch(stack.relay, batch))) refused += 1;
    }
  })();
  await sleep(warmupMs);
  const before = await fakeState(stack.fake);
  const beforeMetrics = await metrics(stack.relay);
  const samples = [];
  for (let t = 0; t <= SUSTAIN_SECONDS * 1000; t += SAMPLE_MS) {
    await sleep(started + warmupMs + t - performance.now());
    const depth = (await (await fetch(`${stack.relay}/health`)).json()).queue_depth;
    samples.push({ t: t / 1000, rssMb: rssMb(stack.pid), queueDepth: depth });
  }
  stopped = true;
  await load;
  const after = await fakeState(stack.fake);
  const afterMetrics = await metrics(stack.relay);
  stack.stop();
  const rss = samples.map((s) => s.rssMb);
  const depths = samples.map((s) => s.queueDepth);
  const delivered = afterMetrics.hubspot_delivered_total - beforeMetrics.hubspot_delivered_total;
  const requests = after.totalRequests - before.totalRequests;
  // Delivery through a rolling window is bursty: up to one window's arrivals wait between bursts.
  const windowArrivals = perSecond * (intervalMs / 1000 + 0.25);
  const result = {
    seconds: SUSTAIN_SECONDS, warmupSeconds: warmupMs / 1000, messagesPerSecond: (sent * 1000) / (performance.now() - started), refusedRequests: refused, pool, rateMax: max, rateIntervalMs: intervalMs,
    rssStartMb: rss[0], rssEndMb: rss.at(-1), rssMaxMb: Math.max(...rss), backlogEnd: depths.at(-1), backlogMax: Math.max(...depths),
    keptUp: depths.at(-1) <= windowArrivals, requestsPer1000: (1000 * requests) / delivered, rateLimitedPercent: pct(after.rateLimited - before.rateLimited, requests), samples,
  };
  console.log(`  relay VmRSS: start ${fmt(result.rssStartMb, 1)} MB, end ${fmt(result.rssEndMb, 1)} MB, max ${fmt(result.rssMaxMb, 1)} MB (${samples.length} samples, every ${SAMPLE_MS / 1000} s)`);
  console.log(`  sent ${fmt(result.messagesPerSecond)} messages/s (${refused} refused requests); delivery ${result.keptUp ? 'kept up' : 'did not keep up'}: backlog at end ${fmt(result.backlogEnd)}, max ${fmt(result.backlogMax)} (one window's arrivals: ${fmt(windowArrivals)})`);
  console.log(`  this live traffic: ${fmt(result.requestsPer1000, 1)} HubSpot requests per 1,000 messages delivered; 429s ${fmt(result.rateLimitedPercent, 2)}% of ${fmt(requests)} requests`);
  return result;
}

const chosen = process.argv.slice(2);
const unknown = chosen.filter((p) => !(p in PARTS));
if (unknown.length) {
  console.error(`unknown part ${unknown.join(', ')}; usage: node bench/cloud.mjs [${Object.keys(PARTS).join('] [')}]`);
  process.exit(2);
}
if (!(SUSTAIN_SECONDS >= 0)) {
  console.error(`BENCH_SUSTAIN_SECONDS must be a number of seconds, got ${process.env.BENCH_SUSTAIN_SECONDS}`);
  process.exit(2);
}
for (const name of ['hubspot-cloud', 'fake-hubspot']) {
  if (!existsSync(binary(name, 'release'))) {
    console.error(`${binary(name, 'release')} is missing: run cargo build --release -p hubspot-cloud -p fake-hubspot (from the repository root)`);
    process.exit(2);
  }
}
const begun = Date.now();
console.log(`hubspot-cloud benchmark: release build, SQLite outbox, fake HubSpot; ${cpus().length} CPUs, node ${process.version}\n`);
const results = existsSync(RESULTS) ? JSON.parse(readFileSync(RESULTS, 'utf8')) : {};
for (const name of chosen.length ? Object.keys(PARTS).filter((p) => chosen.includes(p)) : Object.keys(PARTS)) {
  results[name] = { measuredAt: new Date().toISOString(), cpus: cpus().length, ...(await PARTS[name]()) };
  console.log();
}
mkdirSync(join(RESULTS, '..'), { recursive: true });
writeFileSync(RESULTS, `${JSON.stringify(results, null, 2)}\n`);
const runtime = (Date.now() - begun) / 1000;
console.log(`runtime ${Math.floor(runtime / 60)} min ${Math.round(runtime % 60)} s; results in ${RESULTS}`);
