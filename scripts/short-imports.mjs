// Usage: node scripts/short-imports.mjs module.wasm glue.js...
//
// Renames the wasm's imports (wasm-bindgen names them `__wbg_<name>_<16 hex digits>`) to short
// names (`w0`, `w1`, …), in the .wasm and in each glue file: the hashes do not compress, and each
// name is written twice (the import section and the glue's imports object); 16 names cost ~500 B
// brotli (measured: script tag 26,331 -> 25,845, npm 26,157 -> 25,595). Only names: the glue's
// code is not touched. A name must appear exactly once in every glue file, as an imports-object
// key, or the build stops: a wasm-bindgen whose glue names imports differently fails here instead
// of shipping a module that cannot link.
import { readFileSync, writeFileSync } from 'node:fs';

const [wasmPath, ...gluePaths] = process.argv.slice(2);
const wasm = readFileSync(wasmPath);

const leb = (buf, at) => {
  let n = 0;
  for (let shift = 0; ; shift += 7) {
    const b = buf[at++];
    n += (b & 0x7f) * 2 ** shift;
    if (b < 0x80) return [n, at];
  }
};
const encodeLeb = (n) => {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return Buffer.from(out);
};
const name = (s) => Buffer.concat([encodeLeb(Buffer.byteLength(s)), Buffer.from(s)]);

// Finds the import section (id 2).
let at = 8;
let section;
while (at < wasm.length) {
  const id = wasm[at];
  const [size, body] = leb(wasm, at + 1);
  if (id === 2) section = { start: at, body, end: body + size };
  at = body + size;
}
if (!section) throw new Error('short-imports: no import section');

// Reads each import, renaming its field; the kind and type bytes are copied as they are.
let [count, p] = leb(wasm, section.body);
const parts = [encodeLeb(count)];
const renamed = [];
for (let i = 0; i < count; i++) {
  const [moduleLen, m] = leb(wasm, p);
  const module = wasm.toString('utf8', m, m + moduleLen);
  const [fieldLen, f] = leb(wasm, m + moduleLen);
  const field = wasm.toString('utf8', f, f + fieldLen);
  const descStart = f + fieldLen;
  // The import's description: a function (0, type index), table (1), memory (2), global (3).
  const kind = wasm[descStart];
  let end;
  if (kind === 0) [, end] = leb(wasm, descStart + 1);
  else if (kind === 1) {
    const [flags, q] = leb(wasm, descStart + 2);
    [, end] = leb(wasm, q);
    if (flags & 1) [, end] = leb(wasm, end);
  } else if (kind === 2) {
    const [flags, q] = leb(wasm, descStart + 1);
    [, end] = leb(wasm, q);
    if (flags & 1) [, end] = leb(wasm, end);
  } else if (kind === 3) end = descStart + 3;
  else throw new Error(`short-imports: unknown import kind ${kind}`);
  const short = field.startsWith('__wbg') ? `w${renamed.length.toString(36)}` : field;
  if (short !== field) renamed.push([field, short]);
  parts.push(name(module), name(short), wasm.subarray(descStart, end));
  p = end;
}
if (p !== section.end) throw new Error('short-imports: import section not read to its end');

// Every glue file is checked before anything is written.
const glues = gluePaths.map((path) => {
  let glue = readFileSync(path, 'utf8');
  for (const [from, to] of renamed) {
    const hits = glue.split(from).length - 1;
    if (hits !== 1 || !glue.includes(`${from}: function`)) {
      throw new Error(`short-imports: ${from} appears ${hits} times in ${path}, expected once as a key`);
    }
    glue = glue.replace(`${from}: function`, `${to}: function`);
  }
  return [path, glue];
});

const body = Buffer.concat(parts);
writeFileSync(
  wasmPath,
  Buffer.concat([wasm.subarray(0, section.start), Buffer.from([2]), encodeLeb(body.length), body, wasm.subarray(section.end)]),
);
for (const [path, glue] of glues) writeFileSync(path, glue);
