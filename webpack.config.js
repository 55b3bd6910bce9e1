// Bundles for the browser: the script-tag file (wasm inlined) and the demo page. The npm package's
// one module is bundled by esbuild in scripts/build.sh: its entry awaits the wasm at top level,
// for which webpack would add ~700 B of async-module runtime.
const path = require('path');

const dist = path.resolve(__dirname, 'dist');

module.exports = [
  {
    name: 'script-tag',
    mode: 'production',
    entry: './js/script-tag.js',
    output: { path: dist, filename: 'hubspot-wasm.js', iife: true },
    performance: { hints: false },
  },
  {
    name: 'demo',
    mode: 'production',
    entry: './www/demo.js',
    output: { path: path.join(dist, 'www'), filename: 'demo.js', publicPath: 'auto', clean: false },
    performance: { hints: false },
  },
  {
    // Test pages: analytics-next alone (with the script-tag build), and an app that imports the
    // npm package the way a bundler user does.
    name: 'e2e',
    mode: 'production',
    entry: { analytics: './tests/e2e/analytics-entry.js', 'npm-app': './tests/e2e/npm-entry.js' },
    output: { path: path.join(dist, 'e2e'), filename: '[name].js', publicPath: 'auto' },
    resolve: { alias: { 'hubspot-wasm$': path.join(dist, 'npm', 'index.js') } },
    performance: { hints: false },
  },
];
