import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { expectError } from '../helpers/http.js';

/** GET /health/live and /health/ready (the full-queue 503 is in test/plugins/pool.test.ts). */

describe('health', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildApp({ workers: 2, logLevel: 'silent' });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('GET /health/live is 200 while the process runs', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/live' });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ok' });
  });

  it('GET /health/ready is 200 once the workers are up', async () => {
    const res = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(res.statusCode).toBe(200);
    expect(JSON.parse(res.body)).toEqual({ status: 'ready' });
    expect(app.jobs.pool.threads.length).toBe(2);
  });

  it('readiness follows the pool: 503 with the error shape and Retry-After when it is not ready', async () => {
    const real = app.jobs.ready;
    app.jobs.ready = () => false;
    try {
      const res = await app.inject({ method: 'GET', url: '/health/ready' });
      expectError(res, 503);
    } finally {
      app.jobs.ready = real;
    }
    // Liveness does not depend on the pool.
    const live = await app.inject({ method: 'GET', url: '/health/live' });
    expect(live.statusCode).toBe(200);
  });

  it('HEAD and other methods: HEAD is allowed, POST is a JSON 405 with Allow: GET, HEAD', async () => {
    const head = await app.inject({ method: 'HEAD', url: '/health/live' });
    expect(head.statusCode).toBe(200);
    const post = await app.inject({ method: 'POST', url: '/health/live' });
    expectError(post, 405, 'METHOD_NOT_ALLOWED');
    expect(post.headers.allow).toBe('GET, HEAD');
  });
});
