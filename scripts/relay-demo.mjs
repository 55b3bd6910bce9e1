// The server half of the demo: starts the fake HubSpot API and the hubspot-cloud relay on
// 127.0.0.1, sends a sample of Segment events through the relay's HTTP API (as any Segment
// server library would), prints what HubSpot received, then the other direction: adds a
// little CRM and email data to the fake portal (a second company, deals, a list, a campaign
// with email events), runs `hubspot-cloud sync` into a SQLite file and prints a few rows of
// its tables. Keeps the fake and the relay running until stopped.
import { execFileSync } from 'node:child_process';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
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
// A failure anywhere below (a refused port, a failed sync) must not leave the servers behind.
process.on('exit', () => {
  for (const c of children) c.kill('SIGTERM');
});

const fake = await startService(binary('fake-hubspot'), ['--port', '0', '--event', `pe${PORTAL}_signed_up:plan,seats`]);
children.push(fake.child);
const config = writeRelayConfig(dir, { baseUrl: fake.url, writeKey: KEY, portalId: PORTAL, name: 'demo', listen: `127.0.0.1:${RELAY_PORT}` });
const db = join(dir, 'hubspot.db');
// `serve` would also sync on this schedule; its first run is one `every` after start.
appendFileSync(config, `\n[sync]\npath = "${db}"\n`);
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

/** POSTs to one of the fake's `/_fake` data controls; answers its JSON. */
async function control(path, body) {
  const r = await fetch(`${fake.url}/_fake/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (!r.ok) throw new Error(`/_fake/${path}: HTTP ${r.status} ${await r.text()}`);
  return r.json();
}

// The other direction: what a sales team adds in HubSpot, beside what the relay delivered.
const contactId = (email) => Object.values(state.objects.contacts || {}).find((c) => c.properties.email === email)?.id;
const [ada, grace] = [contactId('ada@example.com'), contactId('grace@example.com')];
const engines = Object.values(state.objects.companies || {})[0]?.id;
const compilers = (await control('objects/companies/create', { properties: { name: 'Compiler Co', domain: 'compiler.example' } })).id;
const link = (fromType, fromId, toType, toId) => control('associations', { from_type: fromType, from_id: fromId, to_type: toType, to_id: toId });
await link('contacts', grace, 'companies', compilers);
for (const [name, amount, stage, contact, company] of [['Engines upgrade', 12000, 'contractsent', ada, engines], ['Compiler pilot', 3000, 'closedwon', grace, compilers], ['Engines support', 800, 'contractsent', ada, engines]]) {
  const deal = (await control('objects/deals/create', { properties: { dealname: name, amount: String(amount), dealstage: stage, pipeline: 'default' } })).id;
  await link('deals', deal, 'contacts', contact);
  await link('deals', deal, 'companies', company);
}
await control('lists', { name: 'Newsletter', members: [ada, grace] });
const campaign = (await control('email/campaigns', { name: 'Launch', subject: 'We are live' })).id;
await control('email/events', { events: [
  ...['SENT', 'DELIVERED', 'OPEN', 'CLICK'].map((type) => ({ type, recipient: 'ada@example.com', campaign_id: campaign })),
  ...['SENT', 'BOUNCE'].map((type) => ({ type, recipient: 'grace@example.com', campaign_id: campaign })),
] });

const cloud = binary('hubspot-cloud');
console.log(`\nsync HubSpot into SQLite: ${cloud} --config ${config} sync`);
console.log(execFileSync(cloud, ['--config', config, 'sync'], { encoding: 'utf8', env: { ...process.env, RUST_LOG: 'warn' } }).trimEnd());
const tables = execFileSync('sqlite3', [db, "SELECT name FROM sqlite_master WHERE type = 'table'"], { encoding: 'utf8' }).split('\n');
const queries = [
  ['contacts with their company', `SELECT c.property_email AS email, co.property_name AS company
     FROM contacts c
     JOIN associations a ON a.from_type = 'contacts' AND a.from_id = c.id AND a.to_type = 'companies'
                        AND a.type_id = 279 AND a.is_deleted = 0
     JOIN companies co ON co.id = a.to_id AND co.is_deleted = 0
     WHERE c.is_deleted = 0 AND c.merged_into IS NULL ORDER BY 1`],
  ['deals per stage', `SELECT s.label AS stage, count(*) AS deals, sum(d.property_amount) AS amount
     FROM deals d JOIN pipeline_stages s ON s.pipeline_id = d.property_pipeline AND s.id = d.property_dealstage
     WHERE d.is_deleted = 0 GROUP BY s.id ORDER BY s.display_order`],
  ['list members', `SELECT l.name AS list, c.property_email AS email
     FROM contact_lists l JOIN contact_list_memberships m ON m.list_id = l.id AND m.is_deleted = 0
     JOIN contacts c ON c.id = m.contact_id WHERE l.is_deleted = 0 ORDER BY 1, 2`],
  // email_events and email_campaigns come with the email collections.
  ...(tables.includes('email_events') ? [['email events per campaign', `SELECT ca.name AS campaign, e.type, count(*) AS events
     FROM email_events e JOIN email_campaigns ca ON ca.id = e.email_campaign_id GROUP BY 1, 2 ORDER BY 1, 3 DESC`]] : []),
];
for (const [title, sql] of queries) {
  console.log(`\n${title}:`);
  console.log(execFileSync('sqlite3', ['-header', '-column', db, sql], { encoding: 'utf8' }).trimEnd());
}
console.log(`\nquery it yourself: sqlite3 ${db}   (tables: ${tables.filter((t) => t && !t.startsWith('_')).join(', ')})`);
