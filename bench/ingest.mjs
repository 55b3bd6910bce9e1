// Ingest rate of the relay: durably queued (answered 200) Segment messages per second through
// /v1/batch with concurrent clients, SQLite outbox, release build. The fake HubSpot receives the
// deliveries meanwhile. Usage: node bench/ingest.mjs [seconds=5] [clients=8] [batch=100]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth, binary, startService, writeRelayConfig } from '../scripts/services.mjs';

const [seconds = 5, clients = 8, batchSize = 100] = process.argv.slice(2).map(Number);
const KEY = 'bench-key';

const dir = mkdtempSync(join(tmpdir(), 'hubspot-bench-ingest-'));
const fake = await startService(binary('fake-hubspot', 'release'), ['--port', '0'], 'error');
const config = writeRelayConfig(dir, { baseUrl: fake.url, writeKey: KEY, name: 'bench', extra: ['max_queue = 100000000'] });
const relay = await startService(binary('hubspot-cloud', 'release'), ['--config', config, 'serve'], 'error');
const auth = basicAuth(KEY);
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
