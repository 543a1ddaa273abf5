import { describe, expect, it, vi } from 'vitest';
import { buildApp } from '../../src/app.js';
import { inferenceClient, tensorBytes } from './client.js';

/**
 * Big answers over gRPC are encoded straight from the reused shared memory the workers wrote them
 * in (src/grpc/server.ts, afterEncode), which goes back to the free list only once encoded: with
 * many calls at once and slabs reused between them, every call still gets its own matrix's
 * answer, byte for byte REST v2's.
 */
describe('gRPC answers from reused memory', () => {
  it('concurrent softmax calls of different matrices: each answer is REST v2 binary\'s for its matrix; answer slabs go back once encoded', async () => {
    const app = await buildApp({ workers: 2, logLevel: 'silent' });
    await app.ready();
    const port = await app.grpc.listen('127.0.0.1', 0);
    const client = inferenceClient(port);
    try {
      const [rows, cols] = [64, 2000]; // 512 KB of FP32 each way: a worker's job, its answer in a slab
      const inputs = Array.from({ length: 12 }, (_, k) => tensorBytes(Float32Array.from({ length: rows * cols }, (_, j) => Math.sin(j * (k + 1) * 0.001) * 4), 'FP32'));
      const call = (raw: Buffer) => client.call('ModelInfer', { model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP32', shape: [rows, cols] }], raw_input_contents: [raw] }, 60_000);
      // One call at a time: every slab a call takes (its body, the answer's outputs, the encoded
      // message) goes back, the outputs' once encoded, the message's once grpc-js has framed it.
      const give = vi.spyOn(app.jobs.slabs, 'give');
      const take = vi.spyOn(app.jobs.slabs, 'take');
      for (let k = 0; k < 3; k++) await call(inputs[k]);
      await new Promise((r) => setTimeout(r, 50));
      expect(give.mock.calls.length).toBe(take.mock.calls.length);
      give.mockRestore();
      take.mockRestore();
      const reusedBefore = app.jobs.slabs.reused;
      const answers = [...(await Promise.all(inputs.map(call))), ...(await Promise.all(inputs.map(call)))];
      expect(app.jobs.slabs.reused).toBeGreaterThan(reusedBefore);
      for (let k = 0; k < answers.length; k++) {
        const raw = inputs[k % inputs.length];
        const header = Buffer.from(JSON.stringify({ inputs: [{ name: 'logits', datatype: 'FP32', shape: [rows, cols], parameters: { binary_data_size: raw.length } }], parameters: { binary_data_output: true } }));
        const rest = await app.inject({ method: 'POST', url: '/v2/models/softmax/infer', headers: { 'inference-header-content-length': String(header.length) }, payload: Buffer.concat([header, raw]) });
        expect(rest.statusCode).toBe(200);
        const length = Number(rest.headers['inference-header-content-length']);
        expect(answers[k].raw_output_contents[0].equals(rest.rawPayload.subarray(length)), `call ${k}`).toBe(true);
        // The rest of the message, encoded before the raw outputs (which are written after it).
        expect(answers[k]).toMatchObject({ model_name: 'softmax', model_version: '1', outputs: [{ name: 'probs', datatype: 'FP32', shape: [String(rows), String(cols)] }] });
      }
    } finally {
      client.close();
      await app.close();
    }
  }, 60_000);
});
