import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { expectError } from '../helpers/http.js';

/**
 * Load shedding (@fastify/under-pressure). In its own file (own process): the stall it makes is
 * seen by every app in the process until under-pressure's next sample.
 */
describe('under pressure', () => {
  it('under load shedding (event loop stalled past 1 s) liveness and metrics stay 200, /v1 and readiness are 503', async () => {
    const app = await buildApp({ workers: 1, logLevel: 'silent' });
    await app.ready();
    try {
    // under-pressure compares the mean event-loop delay of each 1 s sample with 1000 ms, so stall
    // the loop for 1.2 s three times, yielding only a turn in between: every delay it records is
    // ~1.2 s, and its sampler runs in one of those turns.
    for (let i = 0; i < 3; i++) {
      const until = Date.now() + 1200;
      while (Date.now() < until);
      await new Promise((r) => setImmediate(r));
    }
    const v1 = await app.inject({ method: 'POST', url: '/v1/argmax', payload: { logits: [[1, 2]] } });
    if (v1.statusCode === 200) return expect.fail('the stall was not registered by under-pressure');
    expectError(v1, 503, 'OVERLOADED');
    expectError(await app.inject({ method: 'GET', url: '/health/ready' }), 503, 'OVERLOADED');
    expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/metrics' })).statusCode).toBe(200);
    } finally {
      await app.close();
    }
  });

});
