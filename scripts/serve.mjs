#!/usr/bin/env node
// A tiny static file server for the built demo (node built-ins only).
//   node scripts/serve.mjs [dir=dist] [port=8080]     (PORT env wins over argv; 0 = any free port)
// Binds 127.0.0.1 only. Also imported by the end-to-end tests: startServer(dir, port).
import { createServer } from 'node:http';
import { createReadStream, existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { extname, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.txt': 'text/plain; charset=utf-8',
  '.ts': 'text/plain; charset=utf-8',
};

function send(res, status, text) {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(text);
}

/**
 * Serves `dir` on 127.0.0.1:`port` (0 = any free port).
 * @param {string} [dir='dist']
 * @param {number|string} [port=0]
 * @returns {Promise<{url: string, port: number, close: () => Promise<void>}>}
 *   `url` is the demo page, `http://127.0.0.1:<port>/www/index.html`.
 */
export function startServer(dir = 'dist', port = 0) {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed');
    let pathname, search, rel;
    try {
      ({ pathname, search } = new URL(req.url, 'http://x'));
      rel = decodeURIComponent(pathname);
    } catch {
      return send(res, 400, 'bad request');
    }
    if (rel.includes('\0')) return send(res, 400, 'bad request');
    let file = resolve(root, '.' + rel);
    // No traversal: the resolved path must stay inside root.
    if (file !== root && !file.startsWith(root + sep)) return send(res, 403, 'forbidden');
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        // /www → /www/, so the page's relative URLs resolve inside the directory.
        if (!pathname.endsWith('/')) {
          res.writeHead(301, { Location: pathname + '/' + search, 'Cache-Control': 'no-store' });
          return res.end();
        }
        file = resolve(file, 'index.html');
        info = await stat(file);
      }
      if (!info.isFile()) return send(res, 404, 'not found');
      res.writeHead(200, {
        'Content-Type': TYPES[extname(file).toLowerCase()] || 'application/octet-stream',
        'Content-Length': info.size,
        'Cache-Control': 'no-store',
        'X-Content-Type-Options': 'nosniff',
      });
      if (req.method === 'HEAD') return res.end();
      createReadStream(file)
        .on('error', () => res.destroy())
        .pipe(res);
    } catch {
      send(res, 404, 'not found');
    }
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(Number(port) || 0, '127.0.0.1', () => {
      server.off('error', reject);
      const actual = server.address().port;
      resolvePromise({
        url: `http://127.0.0.1:${actual}/www/index.html`,
        port: actual,
        close: () =>
          new Promise((done) => {
            server.close(() => done());
            server.closeAllConnections?.();
          }),
      });
    });
  });
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const dir = process.argv[2] || 'dist';
  const port = process.env.PORT || process.argv[3] || 8080;
  if (!existsSync(dir)) console.warn(`serve: ${dir} does not exist yet (run ./scripts/build.sh)`);
  startServer(dir, port).then(
    ({ url }) => console.log(`Serving ${dir} at ${url}`),
    (err) => {
      console.error(`serve: ${err.message}`);
      process.exit(1);
    },
  );
}
