import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { expectError, post, promValue, randomLogits, scrape, waitFor, within } from '../helpers/http.js';

/**
 * The worker pool's failure modes: a worker that dies mid-task, a full queue, a job that takes
 * too long. Each fails only its own requests with the documented status, nothing hangs, and the
 * service is ready again afterwards.
 */

let app: FastifyInstance | undefined;

afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function start(overrides: Partial<Config>): Promise<FastifyInstance> {
  app = await buildApp({ logLevel: 'silent', ...overrides });
  await app.ready();
  return app;
}

const ready = async (a: FastifyInstance) => (await a.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200;

/** A pool-bound job of 4 x 1000 x 2000 = 8M draws: tens to hundreds of ms of one worker. */
const HEAVY = { logits: randomLogits(4, 1000, 5), n: 2000, seed: 1 };
/** A small job, sent to the pool by inlineMaxBytes 0. */
const LIGHT = { logits: [[3, 2, 1], [0, 1, 2]], temperature: 0.5 };

describe('worker crash', () => {
  it('fails only the crashing request (500 WORKER_CRASHED); others succeed; the pool recovers', async () => {
    const a = await start({ workers: 2, testCrashRoute: true, inlineMaxBytes: 0, inlineMaxNs: 0 });
    const expected = (await post(a, '/v1/softmax', LIGHT)).body;
    const [crash, ...others] = await within(
      Promise.all([
        post(a, '/v1/_test/crash', {}),
        ...Array.from({ length: 6 }, () => post(a, '/v1/softmax', LIGHT)),
      ]),
      20_000,
      'the crash burst',
    );
    const err = expectError(crash, 500, 'WORKER_CRASHED');
    expect(err.message).toMatch(/worker/);
    for (const r of others) {
      expect(r.statusCode, r.body).toBe(200);
      expect(r.body).toBe(expected);
    }
    await waitFor(() => ready(a), 15_000, '/health/ready after the crash');
    expect(a.jobs.pool.threads.length).toBe(2);
    const after = await post(a, '/v1/softmax', LIGHT);
    expect(after.statusCode).toBe(200);
    expect(after.body).toBe(expected);
    // Counted when the new worker is ready (piscina's workerCreate), which may come after its thread is listed.
    await waitFor(async () => promValue(await scrape(a), 'anymax_worker_restarts_total') === 1, 15_000, 'the restart to be counted');
    const m = await scrape(a);
    expect(promValue(m, 'anymax_rejected_requests_total', { reason: 'crashed' })).toBe(1);
    expect(promValue(m, 'anymax_worker_restarts_total')).toBe(1);
    expect(promValue(m, 'anymax_http_request_duration_seconds_count', { route: '/v1/_test/crash', status: '500' })).toBe(1);
  });

  it('survives crashes one after another with a single worker', async () => {
    const a = await start({ workers: 1, testCrashRoute: true, inlineMaxBytes: 0, inlineMaxNs: 0 });
    for (let i = 0; i < 3; i++) {
      expectError(await within(post(a, '/v1/_test/crash', {}), 20_000, `crash ${i}`), 500, 'WORKER_CRASHED');
      const r = await within(post(a, '/v1/softmax', LIGHT), 20_000, `request after crash ${i}`);
      expect(r.statusCode, r.body).toBe(200);
    }
    await waitFor(() => ready(a), 15_000, '/health/ready');
  });

  it('the crash route exists only when asked for', async () => {
    const a = await start({ workers: 1 });
    expectError(await post(a, '/v1/_test/crash', {}), 404, 'NOT_FOUND');
  });
});

describe('overload', () => {
  async function burst(a: FastifyInstance, count: number): Promise<LightMyRequestResponse[]> {
    return within(
      Promise.all(Array.from({ length: count }, () => post(a, '/v1/sample', HEAVY))),
      60_000,
      'the burst',
    );
  }

  it.each([0, 1, 2])('queueLimit %i, 1 worker: a burst gets some 503 OVERLOADED and the rest 200', async (queueLimit) => {
    const a = await start({ workers: 1, queueLimit, inlineMaxBytes: 0, inlineMaxNs: 0, maxElements: 1e8 });
    const results = await burst(a, 8);
    const ok = results.filter((r) => r.statusCode === 200);
    const refused = results.filter((r) => r.statusCode !== 200);
    expect(ok.length).toBeGreaterThanOrEqual(1);
    // 1 running + queueLimit waiting are admitted at once; the burst is much bigger.
    expect(refused.length).toBeGreaterThanOrEqual(1);
    for (const r of refused) {
      expectError(r, 503, 'OVERLOADED');
      expect(r.headers['retry-after']).toBe('1');
    }
    expect(new Set(ok.map((r) => r.body)).size).toBe(1);
    const m = await scrape(a);
    expect(promValue(m, 'anymax_rejected_requests_total', { reason: 'overloaded' })).toBe(refused.length);
    // Nothing is left behind: the queue drains and the service is ready.
    await waitFor(() => ready(a), 10_000, '/health/ready after the burst');
    expect(promValue(await scrape(a), 'anymax_queue_depth')).toBe(0);
  });

  it('the queue admits at most workers + queueLimit jobs at once', async () => {
    const a = await start({ workers: 1, queueLimit: 2, inlineMaxBytes: 0, inlineMaxNs: 0, maxElements: 1e8 });
    const results = await burst(a, 10);
    expect(results.filter((r) => r.statusCode === 200).length).toBeLessThanOrEqual(3);
  });

  it('/health/ready is 503 while the queue is full, 200 once it drains', async () => {
    const a = await start({ workers: 1, queueLimit: 1, inlineMaxBytes: 0, inlineMaxNs: 0, maxElements: 1e8 });
    let settled = false;
    const jobs = Promise.all([post(a, '/v1/sample', HEAVY), post(a, '/v1/sample', HEAVY)]).finally(() => {
      settled = true;
    });
    let sawNotReady = false;
    await waitFor(
      async () => {
        const r = await a.inject({ method: 'GET', url: '/health/ready' });
        if (r.statusCode === 503) {
          sawNotReady = true;
          expectError(r, 503);
        }
        return sawNotReady || settled;
      },
      30_000,
      'readiness to drop',
    );
    const results = await within(jobs, 60_000, 'the two jobs');
    expect(sawNotReady).toBe(true);
    for (const r of results) expect(r.statusCode).toBe(200);
    await waitFor(() => ready(a), 10_000, '/health/ready after the jobs');
  });
});

describe('request timeout', () => {
  it('a job over requestTimeoutMs gets 503 TIMEOUT with Retry-After; the pool recovers', async () => {
    const a = await start({ workers: 1, requestTimeoutMs: 1, maxElements: 1e8 });
    const r = await within(post(a, '/v1/sample', HEAVY), 30_000, 'the timed-out request');
    const err = expectError(r, 503, 'TIMEOUT');
    expect(err.message).toMatch(/1 ms/);
    expect(r.headers['retry-after']).toBe('1');
    // Inline requests never wait for the pool, so they still succeed.
    expect((await post(a, '/v1/softmax', { logits: [[1, 2]] })).statusCode).toBe(200);
    const m = await scrape(a);
    expect(promValue(m, 'anymax_rejected_requests_total', { reason: 'timeout' })).toBe(1);
    await waitFor(() => ready(a), 15_000, '/health/ready after the timeout');
  });

  it('queued jobs time out too, and every request of a burst is answered', async () => {
    const a = await start({ workers: 1, requestTimeoutMs: 1, inlineMaxBytes: 0, inlineMaxNs: 0, maxElements: 1e8 });
    const results = await within(
      Promise.all(Array.from({ length: 4 }, () => post(a, '/v1/sample', HEAVY))),
      60_000,
      'the burst',
    );
    for (const r of results) expectError(r, 503, 'TIMEOUT');
  });
});
