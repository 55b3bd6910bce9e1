// The shipped declarations carry the settings types generated from the core's settings table
// (js/settings.d.ts, which hubspot-core's tests compare with the table and the README), and the
// classes' signatures name them.   node scripts/check-dts.mjs   (after scripts/build.sh)
import { readFileSync } from 'node:fs';

const shippedSettings = readFileSync('dist/npm/settings.d.ts', 'utf8');
const index = readFileSync('dist/npm/index.d.ts', 'utf8');
const settings = readFileSync('js/settings.d.ts', 'utf8');
const problems = [];
if (shippedSettings !== settings) problems.push('dist/npm/settings.d.ts differs from js/settings.d.ts');
if (!index.includes("from './settings.js'")) problems.push('dist/npm/index.d.ts no longer takes its types from ./settings.js');
if (!/constructor\(settings: Settings[,)]/.test(index)) problems.push('the classes no longer take `settings: Settings`');
if (!/setConsent\(state: Consent\)/.test(index)) problems.push('setConsent no longer takes `state: Consent`');
if (problems.length) {
  for (const p of problems) console.error(`check-dts: ${p}`);
  process.exit(1);
}
console.log('check-dts: ok');
