// The server half of the demo: starts the fake HubSpot API and the hubspot-cloud relay on
// 127.0.0.1, sends a sample of Segment events through the relay's HTTP API (as any Segment
// server library would), prints what HubSpot received, and keeps both running until stopped.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { basicAuth, binary, startService, writeRelayConfig } from './services.mjs';

const PORTAL = '123456';
const KEY = 'demo-write-key';
const RELAY_PORT = process.env.RELAY_PORT || '8088';

const sample = [
  { type: 'identify', userId: 'ada', traits: { email: 'ada@example.com', firstName: 'Ada', lastName: 'Lovelace', company: { name: 'Analytical Engines' }, lifecycleStage: 'lead' } },
  { type: 'identify', userId: 'grace', traits: { email: 'grace@example.com', name: 'Grace Hopper', phone: '+1 555 0100' } },
  { type: 'track', userId: 'ada', event: 'Signed Up', properties: { plan: 'pro', seats: 5, email: 'ada@example.com' } },
  { type: 'track', userId: 'grace', event: 'Signed Up', properties: { plan: 'free', seats: 1, email: 'grace@example.com' } },
  { type: 'group', userId: 'ada', groupId: 'engines-1', traits: { name: 'Analytical Engines', employees: 12, website: 'engines.example' } },
  { type: 'identify', userId: 'nobody', traits: { name: 'No Email' } },
];

const dir = mkdtempSync(join(tmpdir(), 'hubspot-relay-demo-'));
const children = [];
const stop = () => {
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);

const fake = await startService(binary('fake-hubspot'), ['--port', '0', '--event', `pe${PORTAL}_signed_up:plan,seats`]);
children.push(fake.child);
const config = writeRelayConfig(dir, { baseUrl: fake.url, writeKey: KEY, portalId: PORTAL, name: 'demo', listen: `127.0.0.1:${RELAY_PORT}` });
const relay = await startService(binary('hubspot-cloud'), ['--config', config, 'serve']);
children.push(relay.child);

const auth = basicAuth(KEY);
const resp = await fetch(`${relay.url}/v1/batch`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: auth }, body: JSON.stringify({ batch: sample }) });
const answer = await resp.json();
// Every message ends delivered or dead-lettered; the metrics count both (once a second).
const metric = (text, name) => Number(text.match(new RegExp(`^${name} (\\d+)`, 'm'))?.[1] ?? 0);
for (let i = 0; i < 100; i++) {
  const metrics = await (await fetch(`${relay.url}/metrics`)).text();
  if (metric(metrics, 'hubspot_delivered_total') + metric(metrics, 'hubspot_dead_total') >= sample.length) break;
  await new Promise((r) => setTimeout(r, 100));
}
const state = await (await fetch(`${fake.url}/_fake/state`)).json();
const lines = [
  `relay: ${relay.url} (Segment HTTP API; write key "${KEY}")   fake HubSpot: ${fake.url}`,
  `sent ${sample.length} sample events: HTTP ${resp.status} ${JSON.stringify(answer)}`,
  'HubSpot received:',
  ...Object.values(state.objects.contacts || {}).map((c) => `  contact ${c.id}: ${c.properties.email} ${c.properties.firstname || ''} ${c.properties.lastname || ''} ${c.properties.company ? `(${c.properties.company})` : ''} ${c.properties.lifecyclestage || ''}`),
  ...Object.values(state.objects.companies || {}).map((c) => `  company ${c.id}: ${c.properties.name} (segment_group_id ${c.properties.segment_group_id})`),
  ...state.associations.map((a) => `  association: ${JSON.stringify(a)}`),
  ...state.events.map((e) => `  event ${e.eventName} for ${e.email}: ${JSON.stringify(e.properties)}`),
  `dead letters (see: hubspot-cloud --config ${config} dead-letters list): ${(await (await fetch(`${relay.url}/metrics`)).text()).match(/hubspot_dead_total (\d+)/)?.[1] ?? '?'}`,
  `send your own: curl -u ${KEY}: -H 'content-type: application/json' -d '{"userId":"u1","traits":{"email":"you@example.com"}}' ${relay.url}/v1/identify`,
];
console.log(lines.join('\n'));
