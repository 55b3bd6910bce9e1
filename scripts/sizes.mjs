// Raw, gzip -9 and brotli -q 11 sizes of what a page downloads from dist/. Run directly (as
// scripts/build.sh does) it prints them; bench/size.mjs imports the same definitions.
import { readFileSync, readdirSync } from 'node:fs';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';
import { fileURLToPath } from 'node:url';

/** Sizes of one buffer: `[raw, gzip -9, brotli -q 11]`. */
export function sizes(buf) {
  return [
    buf.length,
    gzipSync(buf, { level: 9 }).length,
    brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  ];
}

/** Summed sizes of files (each compressed on its own, as a server sends them). */
export function measure(paths) {
  return paths.map((p) => sizes(readFileSync(p))).reduce((a, b) => a.map((x, i) => x + b[i]));
}

/**
 * What a page downloads for each way of loading hubspot-wasm: `[label, paths]`. The npm row is
 * every JavaScript file of the package outside testing/ and the .wasm: today index.js alone
 * (scripts/build.sh bundles it); builds from before that shipped the glue, snippets/ and the
 * entry's imports as files of their own, which a `BEFORE=dir` comparison counts the same way.
 */
export function artifacts(dist = 'dist') {
  const npm = readdirSync(`${dist}/npm`, { recursive: true })
    .filter((f) => f.endsWith('.js') && !f.startsWith('testing'))
    .map((f) => `${dist}/npm/${f}`);
  return [
    ['script tag: dist/hubspot-wasm.js', [`${dist}/hubspot-wasm.js`]],
    ['npm: *.js + .wasm', [...npm, `${dist}/npm/hubspot_wasm_bg.wasm`]],
    ['npm: the .wasm alone', [`${dist}/npm/hubspot_wasm_bg.wasm`]],
  ];
}

/** One table row: label and right-aligned numbers. */
export const row = (label, numbers, width = 44) => label.padEnd(width) + numbers.map((n) => String(n).padStart(12)).join('');

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(row('size (bytes)', ['raw', 'gzip', 'brotli']));
  for (const [label, paths] of artifacts()) console.log(row(label, measure(paths)));
}
