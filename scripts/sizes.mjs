// Prints raw, gzip -9 and brotli -q 11 sizes of what a page downloads from dist/.
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

// The glue imports js/tape.js from snippets/<crate-hash>/js/.
const snippets = readdirSync('dist/npm/snippets', { recursive: true })
  .filter((f) => f.endsWith('.js'))
  .map((f) => `dist/npm/snippets/${f}`);
const files = [
  ['script tag: dist/hubspot-wasm.js', ['dist/hubspot-wasm.js']],
  ['npm: index.js + glue + snippets + .wasm', ['dist/npm/index.js', 'dist/npm/hubspot_wasm.js', ...snippets, 'dist/npm/hubspot_wasm_bg.wasm']],
  ['npm: the .wasm alone', ['dist/npm/hubspot_wasm_bg.wasm']],
];
const sizes = (buf) => [
  buf.length,
  gzipSync(buf, { level: 9 }).length,
  brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
];
console.log('size (bytes)                                    raw       gzip     brotli');
for (const [label, paths] of files) {
  const total = paths.map((p) => sizes(readFileSync(p))).reduce((a, b) => a.map((x, i) => x + b[i]));
  console.log(label.padEnd(44), ...total.map((n) => String(n).padStart(10)));
}
