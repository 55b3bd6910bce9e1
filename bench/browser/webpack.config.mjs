// Bundles for the browser benchmark (run.mjs builds them into a temporary directory; nothing is
// written to the repository or to $DIST). One config per bundle, each with its own webpack
// runtime and chunk-loading global, because a page loads two of them side by side.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
const nodeModules = join(here, '..', '..', 'node_modules');

/**
 * @param {string} dist the build being benchmarked (its npm package is bundled from here)
 * @param {string} out directory the bundles are written to
 */
export function benchBundles(dist, out) {
  const bundle = (name, extra = {}) => ({
    name,
    mode: 'production',
    context: here,
    entry: { [name]: `./${name}-entry.js` },
    output: { path: out, filename: '[name].js', publicPath: 'auto', uniqueName: `bench_${name}` },
    performance: { hints: false },
    ...extra,
  });
  return [
    bundle('harness'),
    bundle('npm', { resolve: { alias: { 'hubspot-wasm$': join(dist, 'npm', 'index.js') } } }),
    bundle('segment', {
      // The destination's shim imports its runtime lazily; eager keeps it in this one file, so
      // evaluating the file is the whole module cost (as for our script-tag file) and loading
      // needs no second request.
      module: { parser: { javascript: { dynamicImportMode: 'eager' } } },
      // The package's `exports` only offer its Node manifest; the destination's ESM file is
      // what Segment's own web build bundles.
      resolve: { alias: { 'segment-hubspot-web$': join(nodeModules, '@segment/browser-destinations/dist/destinations/hubspot-web/index.js') } },
    }),
  ];
}

/** The installed version of an npm package (read directly: some packages' `exports` hide it). */
export function installedVersion(name) {
  return JSON.parse(readFileSync(join(nodeModules, name, 'package.json'), 'utf8')).version;
}
