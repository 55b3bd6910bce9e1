// Starting the project's server processes from Node scripts (the demo, the analytics-node test,
// the benchmarks): one place that knows how to launch them and read the URL they print.
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** A binary of this workspace: `target/<profile>/<name>` (honours CARGO_TARGET_DIR). */
export function binary(name, profile = 'debug') {
  return join(process.env.CARGO_TARGET_DIR || 'target', profile, name);
}

/**
 * Starts a process and resolves `{child, url}` with the first `http://127.0.0.1:PORT` it prints
 * (the fake HubSpot and the relay both print their address when listening). Its stderr passes
 * through; `logLevel` sets RUST_LOG.
 */
export function startService(cmd, args, logLevel = 'warn') {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, RUST_LOG: logLevel } });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /http:\/\/127\.0\.0\.1:\d+/.exec(out);
      if (m) resolve({ child, url: m[0] });
    });
    child.on('exit', (code) => reject(new Error(`${cmd} exited with ${code}: ${out}`)));
  });
}

/**
 * Writes a relay config for one portal into `dir` (SQLite outbox there) and returns its path.
 * `listen` defaults to any free port; `extra` lines go under `[server]`, `portalExtra` lines
 * under the portal (`rate_max = 190`, …).
 */
export function writeRelayConfig(dir, { baseUrl, writeKey, portalId = '123456', name = 'main', listen = '127.0.0.1:0', extra = [], portalExtra = [] }) {
  const path = join(dir, 'hubspot-cloud.toml');
  writeFileSync(path, [
    '[server]', `listen = "${listen}"`, ...extra,
    '[queue]', `path = "${join(dir, 'outbox.db')}"`,
    '[hubspot]', `base_url = "${baseUrl}"`,
    '[[portals]]', `name = "${name}"`, `portal_id = "${portalId}"`, `write_keys = ["${writeKey}"]`, 'access_token = "fake-token"', ...portalExtra,
  ].join('\n'));
  return path;
}

/** `Authorization` header value for a Segment write key (HTTP Basic, empty password). */
export function basicAuth(writeKey) {
  return `Basic ${Buffer.from(`${writeKey}:`).toString('base64')}`;
}
