// Bundles for the browser benchmark, written by run.mjs into a temporary directory (nothing goes
// into the repository or into $DIST). One config per bundle: each has its own webpack runtime and
// chunk-loading global, because a page loads two of them side by side.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));
export const nodeModules = join(here, '..', '..', 'node_modules');

/**
 * @param {string} dist the build being benchmarked (its npm package is bundled from here)
 * @param {string} out directory the bundles are written to
 * @param {string} readableEntry the npm package's entry for the profile bundle: its module before
 *   terser, so wasm-bindgen's glue keeps its function names (default: the shipped one)
 */
export function benchBundles(dist, out, readableEntry = join(dist, 'npm', 'index.js')) {
  const bundle = (name, entry, extra = {}) => ({
    name,
    mode: 'production',
    context: here,
    entry: { [name]: entry },
    output: { path: out, filename: '[name].js', publicPath: 'auto', uniqueName: `bench_${name}` },
    performance: { hints: false },
    ...extra,
  });
  const npm = { resolve: { alias: { 'hubspot-wasm$': join(dist, 'npm', 'index.js') } } };
  const readable = { resolve: { alias: { 'hubspot-wasm$': readableEntry } } };
  return [
    // analytics-next, its Context class and the in-page driver: the same on every page.
    bundle('page', './page.js'),
    // Our npm package as a site's bundler ships it (minified).
    bundle('npm', './npm-entry.js', npm),
    // The same, unminified, for the profile: wasm-bindgen's glue keeps its function names.
    bundle('npm-profile', './npm-entry.js', { ...readable, optimization: { minimize: false } }),
  ];
}

/** The installed version of an npm package (read from disk: some packages' `exports` hide it). */
export function installedVersion(name) {
  return JSON.parse(readFileSync(join(nodeModules, name, 'package.json'), 'utf8')).version;
}
