// Usage: node scripts/trim-glue.mjs glue.js...
//
// Removes from wasm-bindgen's glue the code this package can never run, each cut an exact piece
// of text that must be found once in every file, or the build stops (a wasm-bindgen upgrade must
// look at them again: the version is pinned in Cargo.toml). Runs on wasm-bindgen's output as it
// is, before scripts/short-names.mjs, so the texts name exports as wasm-bindgen does.
// - `free()`, `__destroy_into_raw()` and `[Symbol.dispose]`: `Instance` is internal (js/plugin.js
//   keeps each in a private field and exports only its own classes), so nothing can call them;
//   the FinalizationRegistry that frees an instance its wrapper outlived stays.
// - The stand-ins for `TextEncoder.encodeInto` and `FinalizationRegistry`: every browser that can
//   compile this wasm (it uses reference types: Chrome 96, Firefox 79, Safari 15) has both
//   (`encodeInto`: Chrome 74, Firefox 66, Safari 14.1; `FinalizationRegistry`: Chrome 84,
//   Firefox 79, Safari 14.1).
// - The warnings for `initSync(bytes)` / `init(path)` called the old way: js/script-tag.js and
//   js/npm/index.js are the only callers, and they pass an object / nothing.
// - `passStringToWasm0`'s path for a missing `realloc`: every call passes the module's
//   `__wbindgen_realloc` (checked below: the build stops if one does not).
// - What only a second initialisation would need: `initSync`'s early return (js/script-tag.js
//   calls it once), and `__wbg_finalize_init`'s resets of the memory views (none exists before
//   the first) and its copies of the module and instance (never read).
import { readFileSync, writeFileSync } from 'node:fs';

const CUTS = [
  [
    `    __destroy_into_raw() {
        const ptr = this.__wbg_ptr;
        this.__wbg_ptr = 0;
        InstanceFinalization.unregister(this);
        return ptr;
    }
    free() {
        const ptr = this.__destroy_into_raw();
        wasm.__wbg_instance_free(ptr, 0);
    }
`,
    '',
  ],
  ['if (Symbol.dispose) Instance.prototype[Symbol.dispose] = Instance.prototype.free;\n', ''],
  [
    `const InstanceFinalization = (typeof FinalizationRegistry === 'undefined')
    ? { register: () => {}, unregister: () => {} }
    : new FinalizationRegistry(ptr => wasm.__wbg_instance_free(ptr, 1));
`,
    'const InstanceFinalization = new FinalizationRegistry(ptr => wasm.__wbg_instance_free(ptr, 1));\n',
  ],
  [
    `if (!('encodeInto' in cachedTextEncoder)) {
    cachedTextEncoder.encodeInto = function (arg, view) {
        const buf = cachedTextEncoder.encode(arg);
        view.set(buf);
        return {
            read: arg.length,
            written: buf.length
        };
    };
}
`,
    '',
  ],
  [
    `        if (Object.getPrototypeOf(module) === Object.prototype) {
            ({module} = module)
        } else {
            console.warn('using deprecated parameters for \`initSync()\`; pass a single object instead')
        }
`,
    '        ({module} = module)\n',
  ],
  [
    `        if (Object.getPrototypeOf(module_or_path) === Object.prototype) {
            ({module_or_path} = module_or_path)
        } else {
            console.warn('using deprecated parameters for the initialization function; pass a single object instead')
        }
`,
    '        ({module_or_path} = module_or_path)\n',
  ],
  [
    `let wasmModule, wasmInstance, wasm;
function __wbg_finalize_init(instance, module) {
    wasmInstance = instance;
    wasm = instance.exports;
    wasmModule = module;
    cachedDataViewMemory0 = null;
    cachedFloat64ArrayMemory0 = null;
    cachedUint8ArrayMemory0 = null;
`,
    `let wasm;
function __wbg_finalize_init(instance) {
    wasm = instance.exports;
`,
  ],
  [
    `function initSync(module) {
    if (wasm !== undefined) return wasm;
`,
    'function initSync(module) {\n',
  ],
  [
    `    if (realloc === undefined) {
        const buf = cachedTextEncoder.encode(arg);
        const ptr = malloc(buf.length, 1) >>> 0;
        getUint8ArrayMemory0().subarray(ptr, ptr + buf.length).set(buf);
        WASM_VECTOR_LEN = buf.length;
        return ptr;
    }

`,
    '',
  ],
];

const cut = (text, path) => {
  // The realloc-less path above goes only if no call can take it.
  const calls = text.match(/passStringToWasm0\([^)]*\)/g) ?? [];
  const bad = calls.filter(
    (c) => c !== 'passStringToWasm0(arg, malloc, realloc)' && !c.endsWith(', wasm.__wbindgen_realloc)'),
  );
  if (bad.length > 0) {
    throw new Error(`trim-glue: ${path} calls passStringToWasm0 without realloc: ${bad.join(', ')}`);
  }
  return CUTS.reduce((t, [from, to]) => {
    const at = t.indexOf(from);
    if (at < 0 || t.indexOf(from, at + 1) >= 0) {
      throw new Error(`trim-glue: ${path} does not hold this exactly once:\n${from}`);
    }
    return t.slice(0, at) + to + t.slice(at + from.length);
  }, text);
};

const paths = process.argv.slice(2);
// Every file is checked before any is written.
const trimmed = paths.map((path) => cut(readFileSync(path, 'utf8'), path));
paths.forEach((path, i) => writeFileSync(path, trimmed[i]));
