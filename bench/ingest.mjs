// Ingest rate of the relay: durably queued (answered 200) Segment messages per second through
// /v1/batch with concurrent clients, SQLite outbox, release build. The fake HubSpot receives the
// deliveries meanwhile. Usage: node bench/ingest.mjs [seconds=5] [clients=8] [batch=100]
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const [seconds = 5, clients = 8, batchSize = 100] = process.argv.slice(2).map(Number);
const target = process.env.CARGO_TARGET_DIR || 'target';
const KEY = 'bench-key';

function start(cmd, args) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: 'error' } });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (m) resolve({ child, url: m[0] });
    });
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}`)));
  });
}

const dir = mkdtempSync(join(tmpdir(), 'hubspot-bench-ingest-'));
const fake = await start(join(target, 'release', 'fake-hubspot'), ['--port', '0']);
const config = join(dir, 'relay.toml');
writeFileSync(config, ['[server]', 'listen = "127.0.0.1:0"', 'max_queue = 100000000', '[queue]', `path = "${join(dir, 'outbox.db')}"`,
  '[hubspot]', `base_url = "${fake.url}"`, '[[portals]]', 'name = "bench"', 'portal_id = "123456"', `write_keys = ["${KEY}"]`,
  'access_token = "fake-token"'].join('\n'));
const relay = await start(join(target, 'release', 'hubspot-cloud'), ['--config', config, 'serve']);
const auth = `Basic ${Buffer.from(`${KEY}:`).toString('base64')}`;
let seq = 0;
const body = () => JSON.stringify({ batch: Array.from({ length: batchSize }, () => {
  const n = seq++;
  return { type: 'identify', userId: `u${n % 5000}`, messageId: `m${n}`, traits: { email: `user${n % 5000}@example.com`, plan: 'pro', seats: n % 10, company: { name: 'Acme' } } };
}) });
const end = Date.now() + seconds * 1000;
let accepted = 0;
let failed = 0;
await Promise.all(Array.from({ length: clients }, async () => {
  while (Date.now() < end) {
    const r = await fetch(`${relay.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: body() });
    if (r.ok) accepted += batchSize; else failed += 1;
    await r.arrayBuffer();
  }
}));
console.log(`ingest: ${Math.round(accepted / seconds)} messages/s durably queued through /v1/batch (${clients} clients, batches of ${batchSize}, ${seconds} s, ${failed} failed requests)`);
relay.child.kill('SIGKILL');
fake.child.kill('SIGKILL');
rmSync(dir, { recursive: true, force: true });
