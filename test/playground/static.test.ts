import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { PAGE_DIR, PAGE_FILES, playgroundFiles } from '../../src/plugins/playground.js';
import { expectError } from '../helpers/http.js';

/**
 * The playground's static serving (src/plugins/playground.ts), over inject: the redirect, every
 * listed file with its content type and cache headers, nothing else (a file outside the list is
 * 404, also through ../ and encoded dots), the page referring only to listed files, and no trace
 * in the OpenAPI document. The page itself runs in test/playground/browser.test.ts.
 */

const TYPES: Record<string, RegExp> = {
  '.html': /^text\/html; charset=utf-8$/,
  '.js': /^(application|text)\/javascript; charset=utf-8$/,
  '.css': /^text\/css; charset=utf-8$/,
};

describe('playground: static files', () => {
  let app: FastifyInstance;
  const files = playgroundFiles();

  beforeAll(async () => {
    app = await buildApp({ workers: 1, logLevel: 'silent' });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('GET /playground is a 301 to /playground/', async () => {
    const res = await app.inject({ method: 'GET', url: '/playground' });
    expect(res.statusCode).toBe(301);
    expect(res.headers.location).toBe('/playground/');
  });

  it('serves every listed file as it is on disk, with its content type and cache headers', async () => {
    expect(files.map((f) => f.url)).toContain('/playground/');
    expect(files.filter((f) => f.vendor).map((f) => f.url).sort()).toEqual(['/playground/vendor/d3.min.js', '/playground/vendor/plot.umd.min.js']);
    for (const f of files) {
      const res = await app.inject({ method: 'GET', url: f.url });
      expect(res.statusCode, f.url).toBe(200);
      expect(res.headers['content-type'], f.url).toMatch(TYPES[path.extname(f.file)]);
      expect(res.rawPayload.equals(readFileSync(path.join(f.root, f.file))), f.url).toBe(true);
      expect(res.headers['cache-control'], f.url).toBe(f.vendor ? 'public, max-age=3600' : 'no-cache');
      expect(res.headers.etag, f.url).toMatch(/^W\/"/);
      expect(res.headers['last-modified'], f.url).toBeDefined();
      // Revalidation is a 304 without a body.
      const again = await app.inject({ method: 'GET', url: f.url, headers: { 'if-none-match': String(res.headers.etag) } });
      expect(again.statusCode, f.url).toBe(304);
      expect(again.body).toBe('');
    }
  });

  it('HEAD answers like GET without the body', async () => {
    const res = await app.inject({ method: 'HEAD', url: '/playground/vendor/d3.min.js' });
    expect(res.statusCode).toBe(200);
    expect(res.body).toBe('');
  });

  it('the page says where it may load from: this origin only', async () => {
    const res = await app.inject({ method: 'GET', url: '/playground/' });
    const csp = String(res.headers['content-security-policy']);
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("connect-src 'self'");
    expect(csp).toContain("script-src 'self'");
  });

  it('the page folder holds exactly the listed files, and the page refers to listed files only', () => {
    expect(readdirSync(PAGE_DIR).sort()).toEqual([...PAGE_FILES].sort());
    const served = new Set(files.map((f) => f.url));
    const html = readFileSync(path.join(PAGE_DIR, 'index.html'), 'utf8');
    const refs = [...html.matchAll(/(?:src|href)="([^"#:]+)"/g)].map((m) => m[1]).filter((r) => !r.startsWith('..'));
    expect(refs.length).toBeGreaterThanOrEqual(4);
    for (const r of refs) expect(served.has(new URL(r, 'http://h/playground/').pathname), r).toBe(true);
    for (const f of PAGE_FILES.filter((n) => n.endsWith('.js'))) {
      const text = readFileSync(path.join(PAGE_DIR, f), 'utf8');
      for (const m of text.matchAll(/^import .* from '([^']+)';$/gm)) {
        expect(m[1], `${f} imports ${m[1]}`).toMatch(/^\.\//);
        expect(served.has(new URL(m[1], 'http://h/playground/').pathname), `${f} imports ${m[1]}`).toBe(true);
      }
    }
  });

  it('nothing outside the list: 404 in the contract shape', async () => {
    for (const url of [
      '/playground/nope.js',
      '/playground/index.html',
      '/playground/vendor/d3.js',
      '/playground/vendor/',
      '/playground/vendor/../../package.json',
      '/playground/%2e%2e/package.json',
      '/playground/..%2f..%2fpackage.json',
      '/playground/vendor/..%2fpackage.json',
      '/node_modules/d3/dist/d3.min.js',
      '/public/playground/main.js',
    ]) {
      const res = await app.inject({ method: 'GET', url });
      expectError(res, 404, 'NOT_FOUND');
    }
  });

  it('other methods: 405 with Allow', async () => {
    const res = await app.inject({ method: 'POST', url: '/playground/', payload: '{}', headers: { 'content-type': 'application/json' } });
    expectError(res, 405, 'METHOD_NOT_ALLOWED');
    expect(res.headers.allow).toBe('GET, HEAD');
  });

  it('is not in the OpenAPI document', async () => {
    const doc = JSON.parse((await app.inject({ method: 'GET', url: '/openapi.json' })).body) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths).length).toBeGreaterThan(5);
    expect(Object.keys(doc.paths).filter((p) => p.includes('playground'))).toEqual([]);
  });
});
