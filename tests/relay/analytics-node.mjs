// The relay driven by a real Segment client: @segment/analytics-node pointed at it with its
// `host` option, delivering to the fake HubSpot (both started here as processes on 127.0.0.1).
// Asserts on what the fake HubSpot holds. Prints "N passed, N failed"; exits non-zero on failure.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { Analytics } from '@segment/analytics-node';
import { binary, startService, writeRelayConfig } from '../../scripts/services.mjs';

const RELAY = process.env.HUBSPOT_CLOUD_BIN || binary('hubspot-cloud');
const FAKE = process.env.FAKE_HUBSPOT_BIN || binary('fake-hubspot');
const PORTAL = '123456';
const KEY = 'node-write-key';

async function state(fakeUrl) {
  return (await fetch(`${fakeUrl}/_fake/state`)).json();
}

async function until(fn, what, ms = 30000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

const dir = mkdtempSync(join(tmpdir(), 'hubspot-relay-node-'));
const children = [];
let passed = 0;
let failed = 0;
try {
  const fake = await startService(FAKE, ['--port', '0', '--event', `pe${PORTAL}_signed_up:plan,seats`]);
  children.push(fake.child);
  const config = writeRelayConfig(dir, { baseUrl: fake.url, writeKey: KEY, portalId: PORTAL });
  const relay = await startService(RELAY, ['--config', config, 'serve']);
  children.push(relay.child);

  const analytics = new Analytics({ writeKey: KEY, host: relay.url, flushAt: 15, flushInterval: 200 });
  const errors = [];
  analytics.on('error', (e) => errors.push(e));
  for (let i = 0; i < 30; i++) {
    const userId = `user-${i}`;
    const email = `user${i}@example.com`;
    analytics.identify({ userId, traits: { email, firstName: `First${i}`, company: { name: 'Acme' } } });
    analytics.track({ userId, event: 'Signed Up', properties: { plan: i % 2 ? 'pro' : 'free', seats: i, email } });
  }
  analytics.group({ userId: 'user-0', groupId: 'acme-1', traits: { name: 'Acme Inc', employees: 40 } });
  await analytics.closeAndFlush();

  const checks = [
    ['every identify became a contact with its traits', async () => {
      await until(async () => (await state(fake.url)).objects.contacts && Object.keys((await state(fake.url)).objects.contacts).length === 30, '30 contacts');
      const contacts = Object.values((await state(fake.url)).objects.contacts);
      const c7 = contacts.find((c) => c.properties.email === 'user7@example.com');
      assert.equal(c7.properties.firstname, 'First7');
      assert.equal(c7.properties.company, 'Acme');
    }],
    ['every track became one custom behavioral event', async () => {
      await until(async () => (await state(fake.url)).events.length === 30, '30 events');
      const events = (await state(fake.url)).events;
      assert.equal(new Set(events.map((e) => e.uuid)).size, 30);
      assert.ok(events.every((e) => e.eventName === `pe${PORTAL}_signed_up`), JSON.stringify(events[0]));
    }],
    ['the group became a company associated with its user', async () => {
      await until(async () => (await state(fake.url)).associations.length >= 1, 'the association');
      const s = await state(fake.url);
      const companies = Object.values(s.objects.companies || {});
      assert.equal(companies.find((c) => c.properties.segment_group_id === 'acme-1').properties.name, 'Acme Inc');
    }],
    ['the client saw no errors', async () => assert.deepEqual(errors, [])],
    ['metrics count what was accepted and delivered', async () => {
      const text = await (await fetch(`${relay.url}/metrics`)).text();
      assert.match(text, /hubspot_relay_accepted_total 61/);
      await until(async () => /hubspot_delivered_total 61/.test(await (await fetch(`${relay.url}/metrics`)).text()), 'delivered metric');
    }],
  ];
  for (const [name, fn] of checks) {
    try {
      await fn();
      passed += 1;
      console.log(`ok   ${name}`);
    } catch (e) {
      failed += 1;
      console.log(`FAIL ${name}\n     ${e.message}`);
    }
  }
} catch (e) {
  failed += 1;
  console.log(`FAIL setup: ${e.stack}`);
} finally {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
