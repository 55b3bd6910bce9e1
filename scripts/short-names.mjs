// Usage: node scripts/short-names.mjs module.wasm glue.js...
//
// Short names for the wasm's imports and exports, in the .wasm and in each glue file; only names
// change, never what the glue's code does.
// - Imports: wasm-bindgen names them `__wbg_<name>_<16 hex digits>`; they become `w0`, `w1`, ….
//   The hashes do not compress, and each name is written twice (the import section and the glue's
//   imports object); 16 names cost ~500 B brotli (script tag 26,331 -> 25,845, npm 26,157 ->
//   25,595). A name must appear exactly once in every glue file, as an imports-object key.
// - Exports (`instance_new`, `__wbindgen_malloc`, `memory`, …) become `a`, `b`, …: the glue reads
//   them as `wasm.<name>`, and a minifier keeps property names. Every mention of an export's name
//   in a glue file must be such a `wasm.<name>` read. An export no glue file names at all is
//   dropped (wasm-bindgen exports `__abort_handler` and `__instance_terminated` for an abort
//   hook this build's glue does not have).
// Anything else stops the build before a file is written: a wasm-bindgen whose glue names imports
// or exports differently fails here instead of shipping a module that cannot link.
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
const readName = (at) => {
  const [len, s] = leb(wasm, at);
  return [wasm.toString('utf8', s, s + len), s + len];
};

// Finds the import (id 2) and export (id 7) sections.
const sections = {};
for (let at = 8; at < wasm.length; ) {
  const id = wasm[at];
  const [size, body] = leb(wasm, at + 1);
  if (id === 2 || id === 7) sections[id] = { start: at, body, end: body + size };
  at = body + size;
}
if (!sections[2] || !sections[7]) throw new Error('short-names: no import or no export section');

// Reads each import, renaming its field; the kind and type bytes are copied as they are.
let [count, p] = leb(wasm, sections[2].body);
const imports = [encodeLeb(count)];
const renamedImports = [];
for (let i = 0; i < count; i++) {
  const [module, f] = readName(p);
  const [field, descStart] = readName(f);
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
  else throw new Error(`short-names: unknown import kind ${kind}`);
  const short = field.startsWith('__wbg') ? `w${renamedImports.length.toString(36)}` : field;
  if (short !== field) renamedImports.push([field, short]);
  imports.push(name(module), name(short), wasm.subarray(descStart, end));
  p = end;
}
if (p !== sections[2].end) throw new Error('short-names: import section not read to its end');

// Reads each export: its name, then its kind byte and index, copied as they are.
[count, p] = leb(wasm, sections[7].body);
const exports = [];
for (let i = 0; i < count; i++) {
  const [field, descStart] = readName(p);
  [, p] = leb(wasm, descStart + 1);
  exports.push([field, wasm.subarray(descStart, p)]);
}
if (p !== sections[7].end) throw new Error('short-names: export section not read to its end');

const escape = (s) => s.replace(/[$]/g, '\\$');
// Mentions of `s` as a whole identifier, and reads of it as `wasm.<s>`.
const mentions = (glue, s) => glue.match(new RegExp(`(?<![\\w$])${escape(s)}(?![\\w$])`, 'g'))?.length ?? 0;
const reads = (s) => new RegExp(`(?<![\\w$.])wasm\\.${escape(s)}(?![\\w$])`, 'g');
const glues = gluePaths.map((path) => [path, readFileSync(path, 'utf8')]);

// a, b, …, z, aa, ab, …: distinct names for the exports the glue reads.
const letters = (i) => (i < 26 ? '' : letters(Math.floor(i / 26) - 1)) + String.fromCharCode(97 + (i % 26));
const kept = [];
const renamedExports = [];
for (const [field, desc] of exports) {
  const uses = glues.map(([path, glue]) => {
    const n = glue.match(reads(field))?.length ?? 0;
    if (n !== mentions(glue, field)) {
      throw new Error(`short-names: export ${field} is named in ${path} other than as wasm.${field}`);
    }
    return n;
  });
  if (uses.every((n) => n === 0)) continue;
  if (uses.includes(0)) throw new Error(`short-names: export ${field} is read by some glue files only`);
  const short = letters(renamedExports.length);
  renamedExports.push([field, short]);
  kept.push(name(short), desc);
}

// Every glue file is checked before anything is written.
const rewritten = glues.map(([path, glue]) => {
  for (const [from, to] of renamedImports) {
    const hits = glue.split(from).length - 1;
    if (hits !== 1 || !glue.includes(`${from}: function`)) {
      throw new Error(`short-names: ${from} appears ${hits} times in ${path}, expected once as a key`);
    }
    glue = glue.replace(`${from}: function`, `${to}: function`);
  }
  for (const [from, to] of renamedExports) {
    // A short name already read as `wasm.<short>` would then mean two exports.
    if (reads(to).test(glue)) throw new Error(`short-names: ${path} already reads wasm.${to}`);
  }
  for (const [from, to] of renamedExports) glue = glue.replace(reads(from), `wasm.${to}`);
  return [path, glue];
});

const section = (id, parts) => {
  const body = Buffer.concat(parts);
  return Buffer.concat([Buffer.from([id]), encodeLeb(body.length), body]);
};
const [first, second] = [sections[2], sections[7]];
if (first.end > second.start) throw new Error('short-names: export section before the import section');
writeFileSync(
  wasmPath,
  Buffer.concat([
    wasm.subarray(0, first.start),
    section(2, imports),
    wasm.subarray(first.end, second.start),
    section(7, [encodeLeb(renamedExports.length), ...kept]),
    wasm.subarray(second.end),
  ]),
);
for (const [path, glue] of rewritten) writeFileSync(path, glue);
