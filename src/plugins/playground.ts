import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

/**
 * GET /playground/: the playground page (public/playground/), a static page whose figures call
 * the /v1 routes from the browser. Only the files listed here are served, each by a route of its
 * own (no wildcard, so nothing else in those folders or in node_modules can be reached), hidden
 * from the OpenAPI document. The plotting libraries come from node_modules (Observable Plot and
 * d3 are production dependencies, so the container image has them): their UMD builds, as Plot's
 * ESM entry imports d3's sixty sub-packages by bare name, which a browser cannot resolve without
 * a bundler. Nothing here runs on /v1 requests.
 */

/** The page's own files: public/playground/<name>, served at /playground/<name>. */
export const PAGE_FILES = [
  'index.html',
  'playground.css',
  'main.js',
  'api.js',
  'state.js',
  'stats.js',
  'snippets.js',
  'requests.js',
  'figures.js',
  'vendor.js',
] as const;

/** Third-party files: /playground/vendor/<name> -> <package folder>/<file>. */
export const VENDOR_FILES = {
  'd3.min.js': { pkg: 'd3', file: 'dist/d3.min.js' },
  'plot.umd.min.js': { pkg: '@observablehq/plot', file: 'dist/plot.umd.min.js' },
} as const;

/** The page's folder: <repo or image root>/public/playground, from src/plugins or dist/plugins alike. */
export const PAGE_DIR = fileURLToPath(new URL('../../public/playground/', import.meta.url));

// The page's files may change with every deploy: revalidated each time (a 304 on the ETag).
// The libraries change only with a dependency upgrade: cached for an hour.
const PAGE_CACHE = 'no-cache';
const VENDOR_MAX_AGE_MS = 3600_000;

/**
 * The folder of an installed package, found from its resolved entry point (neither package
 * exports its package.json or its dist folder, so 'd3/dist/d3.min.js' cannot be resolved).
 */
function packageDir(name: string): string {
  const require = createRequire(import.meta.url);
  let dir = path.dirname(require.resolve(name));
  for (;;) {
    try {
      const pkg = require(path.join(dir, 'package.json')) as { name?: string };
      if (pkg.name === name) return dir;
    } catch {
      // No package.json here: go up.
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`playground: the package folder of ${name} was not found`);
    dir = up;
  }
}

/** Every served URL and the file behind it (checked to exist when the plugin registers). */
export function playgroundFiles(): { url: string; root: string; file: string; vendor: boolean }[] {
  const out: { url: string; root: string; file: string; vendor: boolean }[] = PAGE_FILES.map((f) => ({ url: f === 'index.html' ? '/playground/' : `/playground/${f}`, root: PAGE_DIR, file: f, vendor: false }));
  for (const [name, { pkg, file }] of Object.entries(VENDOR_FILES)) {
    out.push({ url: `/playground/vendor/${name}`, root: packageDir(pkg), file, vendor: true });
  }
  return out;
}

export default fp(
  async function playgroundPlugin(app: FastifyInstance) {
    const files = playgroundFiles();
    for (const { root, file } of files) {
      // A missing file is a broken build or image: refuse to start rather than 404 at run time.
      if (!statSync(path.join(root, file)).isFile()) throw new Error(`playground: ${path.join(root, file)} is not a file`);
    }
    // In a scope of its own: @fastify/static's reply.sendFile stays out of the rest of the app.
    await app.register(async (scope) => {
      await scope.register(fastifyStatic, { root: PAGE_DIR, serve: false });
      const hide = { schema: { hide: true } };
      scope.get('/playground', hide, (_req, reply) => reply.redirect('/playground/', 301));
      for (const { url, root, file, vendor } of files) {
        scope.get(url, hide, (_req, reply) => {
          if (vendor) return reply.sendFile(file, root, { maxAge: VENDOR_MAX_AGE_MS });
          reply.header('cache-control', PAGE_CACHE);
          // The page talks to this service only: the browser refuses anything else it might load.
          if (file === 'index.html') reply.header('content-security-policy', CSP);
          return reply.sendFile(file, root, { cacheControl: false });
        });
      }
    });
  },
  { name: 'anymax-playground' },
);

/** Scripts, styles and requests from this origin only; Plot writes inline style attributes. */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
