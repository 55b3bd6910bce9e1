// The shipped declarations carry the settings types generated from the core's settings table
// (js/settings.d.ts, which hubspot-core's tests compare with the table and the README), and the
// classes' signatures name them.   node scripts/check-dts.mjs   (after scripts/build.sh)
import { readFileSync } from 'node:fs';

const shipped = readFileSync('dist/npm/hubspot_wasm.d.ts', 'utf8');
const settings = readFileSync('js/settings.d.ts', 'utf8');
const problems = [];
if (!shipped.includes(settings)) problems.push('dist/npm/hubspot_wasm.d.ts lacks js/settings.d.ts');
if (!/constructor\(settings: Settings[,)]/.test(shipped)) problems.push('the classes no longer take `settings: Settings`');
if (!/setConsent\(state: Consent\)/.test(shipped)) problems.push('setConsent no longer takes `state: Consent`');
if (problems.length) {
  for (const p of problems) console.error(`check-dts: ${p}`);
  process.exit(1);
}
console.log('check-dts: ok');
