import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { ReceiveGate, receiveSlots } from '../../src/grpc/receive-gate.js';
import { inferenceClient, tensorBytes } from './client.js';

/**
 * The receive gate (src/grpc/receive-gate.ts): at most `slots` calls read their message at once,
 * the others wait paused (HTTP/2 flow control holds their data in the client), every call gets
 * its answer, and a message that does not arrive in time is cut off with DEADLINE_EXCEEDED.
 */

describe('ReceiveGate', () => {
  it('admits up to its slots, first come first served; leave() is idempotent and drops a wait', () => {
    const gate = new ReceiveGate(2);
    const order: number[] = [];
    const leaves = [0, 1, 2, 3, 4].map((k) => gate.enter(() => order.push(k)));
    expect(order).toEqual([0, 1]);
    expect([gate.reading, gate.queued, gate.waited]).toEqual([2, 3, 3]);
    leaves[3](); // gives up while waiting
    leaves[0]();
    leaves[0]();
    expect(order).toEqual([0, 1, 2]);
    leaves[1]();
    expect(order).toEqual([0, 1, 2, 4]);
    expect([gate.reading, gate.queued, gate.peak]).toEqual([2, 0, 2]);
    leaves[2]();
    leaves[4]();
    expect(gate.reading).toBe(0);
  });

  it('keeps the messages not yet accounted for within half the memory budget', () => {
    for (const [budget, max] of [[512 * 2 ** 20, 64 * 2 ** 20], [2 ** 30, 2 ** 20], [10 * 2 ** 20, 64 * 2 ** 20]]) {
      const slots = receiveSlots(budget, max);
      expect(slots).toBeGreaterThanOrEqual(1);
      if (slots > 1) expect(slots * 2 * max).toBeLessThanOrEqual(budget / 2);
    }
    expect(receiveSlots(512 * 2 ** 20, 64 * 2 ** 20)).toBe(2);
  });
});

describe('gRPC messages read through the gate', () => {
  const MAX = 8 * 2 ** 20;

  it('more concurrent big calls than slots: at most `slots` read at once, the rest wait, all answered, the server alive', async () => {
    // 2 slots: 64 MiB / (4 x 8 MiB).
    const app = await buildApp({ workers: 1, logLevel: 'silent', maxBodyBytes: MAX, memoryBudgetBytes: 64 * 2 ** 20 });
    await app.ready();
    const port = await app.grpc.listen('127.0.0.1', 0);
    const client = inferenceClient(port);
    try {
      const gate = app.grpc.gate!;
      expect(gate.slots).toBe(2);
      const cols = 2 ** 20; // 4 MiB of FP32 a call
      const values = Float32Array.from({ length: cols }, (_, j) => (j === 12345 ? 5 : Math.sin(j)));
      const raw = tensorBytes(values, 'FP32');
      const request = { model_name: 'argmax', inputs: [{ name: 'logits', datatype: 'FP32', shape: [1, cols] }], raw_input_contents: [raw] };
      const answers = await Promise.all(Array.from({ length: 8 }, () => client.call('ModelInfer', request, 60_000)));
      for (const a of answers) expect(Number(a.raw_output_contents[0].readBigInt64LE(0))).toBe(12345);
      expect(gate.peak).toBeLessThanOrEqual(2);
      expect(gate.waited).toBeGreaterThan(0);
      expect([gate.reading, gate.queued]).toEqual([0, 0]);
      expect(await client.call('ServerLive', {})).toEqual({ live: true });
    } finally {
      client.close();
      await app.close();
    }
  }, 60_000);

  it('a message that does not arrive within RECEIVE_TIMEOUT_MS: DEADLINE_EXCEEDED, its slot freed for the next call', async () => {
    // One slot: 32 MiB / (4 x 8 MiB).
    const app = await buildApp({ workers: 1, logLevel: 'silent', maxBodyBytes: MAX, memoryBudgetBytes: 32 * 2 ** 20, receiveTimeoutMs: 500, headersTimeoutMs: 500 });
    await app.ready();
    const port = await app.grpc.listen('127.0.0.1', 0);
    const client = inferenceClient(port);
    const session = http2.connect(`http://127.0.0.1:${port}`);
    try {
      // A client that announces a 1000-byte message and sends 10 bytes of it.
      const stream = session.request({ ':method': 'POST', ':path': '/inference.GRPCInferenceService/ModelInfer', 'content-type': 'application/grpc', te: 'trailers' });
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(1000, 1);
      stream.write(Buffer.concat([prefix, Buffer.alloc(10)]));
      const status = new Promise<{ code: string; message: string }>((resolve) => {
        const seen = (h: http2.IncomingHttpHeaders) => h['grpc-status'] !== undefined && resolve({ code: String(h['grpc-status']), message: decodeURIComponent(String(h['grpc-message'])) });
        stream.on('response', seen);
        stream.on('trailers', seen);
      });
      // Behind it, a well-formed call waits for the slot, then is answered.
      await new Promise((r) => setTimeout(r, 100));
      const next = client.call('ModelInfer', { model_name: 'argmax', inputs: [{ name: 'logits', datatype: 'FP64', shape: [1, 2] }], raw_input_contents: [tensorBytes([1, 2], 'FP64')] });
      expect(await status).toEqual({ code: String(grpc.status.DEADLINE_EXCEEDED), message: 'the request message did not arrive within 500 ms (RECEIVE_TIMEOUT_MS)' });
      const answer = await next;
      expect(Number(answer.raw_output_contents[0].readBigInt64LE(0))).toBe(1);
      expect(app.grpc.gate!.waited).toBeGreaterThan(0);
      stream.close();
    } finally {
      session.close();
      client.close();
      await app.close();
    }
  }, 30_000);
});
