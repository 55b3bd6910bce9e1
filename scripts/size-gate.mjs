// The size gate (issue 14): fails when what a page downloads grows past bench/size-budget.json,
// or when the release wasm links core::fmt's Debug/printable machinery (a `{:?}`, a panicking
// `&str[a..b]`, `str::contains(&str)`: ~4.5 KB brotli each time one creeps back in).
// Expects scripts/build.sh to have run.   node scripts/size-gate.mjs
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { artifacts, measure } from './sizes.mjs';

/** Function names that only core::fmt's Debug escaping links. */
const FORBIDDEN = ['escape_debug', 'is_printable'];

/** The function names in a wasm file's `name` section (empty when it has none). */
export function functionNames(buf) {
  let p = 8;
  const leb = () => {
    let n = 0;
    for (let shift = 0; ; shift += 7) {
      const b = buf[p++];
      n += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return n;
    }
  };
  const names = [];
  while (p < buf.length) {
    const id = buf[p++];
    const end = leb() + p;
    if (id === 0) {
      const len = leb();
      if (buf.toString('utf8', p, p + len) === 'name') {
        p += len;
        while (p < end) {
          const sub = buf[p++];
          const subEnd = leb() + p;
          if (sub === 1) {
            for (let count = leb(); count > 0; count--) {
              leb(); // function index
              const n = leb();
              names.push(buf.toString('utf8', p, p + n));
              p += n;
            }
          }
          p = subEnd;
        }
      }
    }
    p = end;
  }
  return names;
}

const budget = JSON.parse(readFileSync('bench/size-budget.json', 'utf8'));
const [[, scriptTag], [, npm]] = artifacts();
const failures = [];
for (const [label, paths, limit] of [['script tag', scriptTag, budget.scriptTag], ['npm', npm, budget.npm]]) {
  const brotli = measure(paths)[2];
  console.log(`${label}: ${brotli} B brotli (budget ${limit})`);
  if (brotli > limit) failures.push(`${label} is ${brotli} B brotli, over its budget of ${limit} (bench/size-budget.json)`);
}

// A named build of the same wasm (the `wasm` profile): wasm-bindgen only, no wasm-opt, names kept.
const targetDir = process.env.CARGO_TARGET_DIR || 'target';
const tmp = mkdtempSync(join(tmpdir(), 'size-gate-'));
try {
  execFileSync('wasm-bindgen', ['--target', 'web', '--keep-debug', '--out-dir', tmp, `${targetDir}/wasm32-unknown-unknown/wasm/hubspot_wasm.wasm`]);
  const names = functionNames(readFileSync(join(tmp, 'hubspot_wasm_bg.wasm')));
  if (names.length === 0) failures.push('the named build has no function names: the check would see nothing');
  const linked = names.filter((n) => FORBIDDEN.some((f) => n.includes(f)));
  console.log(`named build: ${names.length} functions, ${linked.length} of core::fmt's Debug escaping`);
  if (linked.length) failures.push(`the release wasm links core::fmt's Debug machinery (${linked.join(', ')}): look for a {:?}, a panicking str slice or str::contains/find/split with a &str pattern`);
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

if (failures.length) {
  for (const f of failures) console.error(`size gate: ${f}`);
  process.exit(1);
}
console.log('size gate: ok');
