// Profiles out: `hubspot-cloud profiles export` (release) reading a SQLite destination that
// `hubspot-cloud sync` filled from a generated fake-HubSpot portal, posting to a Segment-API
// collector on 127.0.0.1 (this script: records each /v1/batch and answers 200 at once, so the
// figures are the exporter's own).
//
//   cargo build --release -p hubspot-cloud -p fake-hubspot
//   node bench/profiles.mjs [contacts]        (from the repository root; default 10,000)
//
// Prints, for the first export (every record) and a rerun (nothing changed): profiles per
// second (wall time of the command, process start and reading the tables included), requests
// per 1,000 profiles, and the largest request body. Results also go to bench/results/profiles.json.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { binary, startService } from '../scripts/services.mjs';

const CONTACTS = Number(process.argv[2] ?? 10_000);
const COMPANIES = Math.max(1, Math.floor(CONTACTS / 10));
const RESULTS = fileURLToPath(new URL('results/profiles.json', import.meta.url));
const fmt = (x, digits = 0) => x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });

const dir = mkdtempSync(join(tmpdir(), 'hubspot-bench-profiles-'));
const children = new Set();
process.on('exit', () => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => process.exit(130));

// The collector.
const seen = { requests: 0, calls: 0, maxBytes: 0 };
const collector = createServer((req, res) => {
  let bytes = 0;
  const chunks = [];
  req.on('data', (c) => { bytes += c.length; chunks.push(c); });
  req.on('end', () => {
    seen.requests += 1;
    seen.calls += JSON.parse(Buffer.concat(chunks)).batch.length;
    seen.maxBytes = Math.max(seen.maxBytes, bytes);
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
  });
});
await new Promise((resolve) => collector.listen(0, '127.0.0.1', resolve));
const collectorUrl = `http://127.0.0.1:${collector.address().port}`;

const fake = await startService(binary('fake-hubspot', 'release'), ['--port', '0', '--rate-max', '100000'], 'error');
children.add(fake.child);
const generated = await fetch(`${fake.url}/_fake/generate`, {
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ seed: 1, sizes: { contacts: CONTACTS, companies: COMPANIES } }),
});
if (!generated.ok) throw new Error(`generating the portal: ${generated.status} ${await generated.text()}`);

const config = join(dir, 'hubspot-cloud.toml');
writeFileSync(config, [
  '[queue]', `path = "${join(dir, 'outbox.db')}"`,
  '[hubspot]', `base_url = "${fake.url}"`,
  '[sync]', `path = "${join(dir, 'crm.db')}"`,
  '[[portals]]', 'name = "bench"', 'portal_id = "123456"', 'access_token = "fake-token"', 'rate_max = 100000', 'rate_interval_ms = 1000',
  '[portals.profiles]', `endpoint = "${collectorUrl}"`, 'write_key = "bench-key"', 'user_id = "email"', 'group_id = "domain"',
].join('\n') + '\n');

// Asynchronous, so the collector in this process answers while the command runs.
async function run(args) {
  const started = process.hrtime.bigint();
  const child = spawn(binary('hubspot-cloud', 'release'), ['--config', config, ...args], { env: { ...process.env, RUST_LOG: 'error' } });
  children.add(child);
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  child.stderr.on('data', (d) => { out += d; });
  const status = await new Promise((resolve) => child.on('close', resolve));
  children.delete(child);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (status !== 0) throw new Error(`hubspot-cloud ${args.join(' ')}: ${out}`);
  return { seconds, text: out.trim() };
}

const sync = await run(['sync', '--collections', 'contacts,companies']);
console.log(`synced ${fmt(CONTACTS)} contacts and ${fmt(COMPANIES)} companies in ${fmt(sync.seconds, 1)} s`);

const results = {};
for (const name of ['first', 'rerun']) {
  const before = { ...seen };
  const r = await run(['profiles', 'export']);
  // A rerun's "sent 0" is the point; its rate is records checked per second.
  const calls = seen.calls - before.calls;
  const requests = seen.requests - before.requests;
  const records = CONTACTS + COMPANIES;
  results[name] = {
    seconds: r.seconds,
    calls,
    requests,
    profilesPerSecond: records / r.seconds,
    requestsPer1000: calls ? (1000 * requests) / calls : 0,
    maxRequestBytes: seen.maxBytes,
    summary: r.text,
  };
  console.log(`${name.padEnd(5)}  ${fmt(records / r.seconds)} profiles/s (${fmt(r.seconds, 2)} s), ${fmt(calls)} calls in ${fmt(requests)} requests = ${fmt(results[name].requestsPer1000, 2)} per 1,000 profiles; largest body ${fmt(seen.maxBytes)} bytes`);
  console.log(`       ${r.text}`);
}
mkdirSync(fileURLToPath(new URL('results/', import.meta.url)), { recursive: true });
writeFileSync(RESULTS, JSON.stringify({ contacts: CONTACTS, companies: COMPANIES, ...results }, null, 2) + '\n');
collector.close();
process.exit(0);
