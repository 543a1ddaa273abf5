import * as grpc from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { healthClient, inferenceClient } from './client.js';

/**
 * REST's load shedding over gRPC: with the event loop stalled past under-pressure's limit,
 * ModelInfer is RESOURCE_EXHAUSTED (REST: 503 OVERLOADED), readiness and health say not ready,
 * liveness still answers. In its own file (own process), as test/routes/pressure.test.ts: the
 * stall is seen by every app in the process until under-pressure's next sample.
 */
describe('gRPC under pressure', () => {
  it('a stalled event loop: ModelInfer RESOURCE_EXHAUSTED, not ready, NOT_SERVING, still live', async () => {
    const app = await buildApp({ workers: 1, logLevel: 'silent' });
    await app.ready();
    const port = await app.grpc.listen('127.0.0.1', 0);
    const client = inferenceClient(port, {}, true);
    const health = healthClient(port);
    try {
      expect(await client.call('ServerLive', {})).toEqual({ live: true });
      // As test/routes/pressure.test.ts: three 1.2 s stalls, a turn between them.
      for (let i = 0; i < 3; i++) {
        const until = Date.now() + 1200;
        while (Date.now() < until);
        await new Promise((r) => setImmediate(r));
      }
      if (!app.isUnderPressure()) return expect.fail('the stall was not registered by under-pressure');
      const infer = await client
        .call('ModelInfer', { model_name: 'argmax', inputs: [{ name: 'logits', datatype: 'FP64', shape: [1, 2], contents: { fp64_contents: [1, 2] } }] })
        .then(() => undefined, (e: grpc.ServiceError) => e);
      expect(infer?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
      expect(infer?.details).toBe('the service is overloaded (its event loop is stalled); retry later');
      expect(await client.call('ServerReady', {})).toEqual({ ready: false });
      expect(await client.call('ModelReady', { name: 'argmax' })).toEqual({ ready: false });
      expect(await client.call('ServerLive', {})).toEqual({ live: true });
      // The health status follows on its next poll (every 500 ms).
      await new Promise((r) => setTimeout(r, 600));
      if (app.isUnderPressure()) expect(await health.check('')).toBe('NOT_SERVING');
    } finally {
      client.close();
      health.client.close();
      await app.close();
    }
  });
});
