// Writes a wasm file as an ES module whose default export is a string with one character per
// byte (code points 0-255), for the script-tag file, and whose `key` export is the byte every
// character was XORed with. Brotli compresses the string ~12 KB smaller than base64 (which adds a
// third to the wasm's compressed size). build.sh puts a UTF-8 byte-order mark on the bundle, so it
// decodes as UTF-8 whatever charset the server or the page names.
//   node scripts/latin1.mjs in.wasm out.js
import { readFileSync, writeFileSync } from 'node:fs';

// Only these may not stand for themselves inside a double-quoted literal; each costs a backslash.
const ESCAPES = { 0x5c: '\\\\', 0x22: '\\"', 0x0a: '\\n', 0x0d: '\\r' };

// Every escape costs a backslash, and the bundle's minifier (terser, in webpack) escapes more than
// this file does: NUL as \0 and BS, TAB, LF, VT, FF and CR as two-character escapes. NUL is
// wasm's most frequent byte: written as they stand, this wasm's bytes needed ~8,400 escapes in the
// bundle. XORed with 0x76 (bit 7 kept, so no byte changes its UTF-8 length) they need ~580, and
// brotli saves ~440 B on the script tag (0x76 compressed best of the 128 such keys, on this build
// and on three older ones; bench/README.md §1).
const KEY = 0x76;

const [input, output] = process.argv.slice(2);
let text = '';
for (const b of readFileSync(input)) {
  const c = b ^ KEY;
  text += ESCAPES[c] ?? String.fromCharCode(c);
}
writeFileSync(output, `export default "${text}";\nexport const key = ${KEY};\n`, 'utf8');
