// Writes a wasm file as an ES module whose default export is a string with one character per
// byte (code points 0-255), for the script-tag file. Brotli compresses it ~12 KB smaller than
// base64 (which adds a third to the wasm's compressed size). build.sh puts a UTF-8 byte-order
// mark on the bundle, so it decodes as UTF-8 whatever charset the server or the page names.
//   node scripts/latin1.mjs in.wasm out.js
import { readFileSync, writeFileSync } from 'node:fs';

// Only these may not stand for themselves inside a double-quoted literal.
const ESCAPES = { 0x5c: '\\\\', 0x22: '\\"', 0x0a: '\\n', 0x0d: '\\r' };

const [input, output] = process.argv.slice(2);
let text = '';
for (const b of readFileSync(input)) text += ESCAPES[b] ?? String.fromCharCode(b);
writeFileSync(output, `export default "${text}";\n`, 'utf8');
