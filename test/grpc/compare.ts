import type { FastifyInstance, InjectOptions } from 'fastify';
import { expect } from 'vitest';
import { param, rawValues, tensorBytes, type Reply } from './client.js';

/**
 * gRPC answers against REST v2's: the same request over REST v2 with binary tensors (app.inject),
 * and the comparison of the two answers, for the gRPC tests with either client (grpc-js,
 * ./server.test.ts; grpcio, ./grpcio.test.ts).
 */

export type Datatype = 'FP64' | 'FP32' | 'FP16' | 'BF16';

/**
 * REST over app.inject. A 503 from the event-loop pressure check (@fastify/under-pressure, when
 * this process is starved of CPU in a full parallel run) is the service shedding load, not an
 * answer to compare: it is retried. (gRPC calls do not pass through that check.)
 */
export async function inject(app: FastifyInstance, opts: InjectOptions) {
  for (let i = 0; ; i++) {
    const res = await app.inject(opts);
    if (!(res.statusCode === 503 && /eventLoopDelay/.test(res.body)) || i >= 100) return res;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Seeded random logits as values of a datatype: FP16 / BF16 as finite bit patterns (and their values). */
export function logitsOf(rows: number, cols: number, datatype: Datatype, seed = 1): { bytes: Buffer; values: number[] } {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  const n = rows * cols;
  if (datatype === 'FP64' || datatype === 'FP32') {
    const values = Array.from({ length: n }, () => (next() - 0.5) * 8);
    const bytes = tensorBytes(values, datatype);
    return { bytes, values: rawValues(bytes, datatype) };
  }
  // 16-bit floats: a sign, an exponent of a normal number near 1, a random mantissa.
  const bits = Array.from({ length: n }, () => {
    const sign = next() < 0.5 ? 1 : 0;
    if (datatype === 'FP16') return (sign << 15) | ((13 + Math.floor(next() * 5)) << 10) | Math.floor(next() * 1024);
    return (sign << 15) | ((125 + Math.floor(next() * 5)) << 7) | Math.floor(next() * 128);
  });
  return { bytes: tensorBytes(bits, datatype), values: [] };
}

/** Parameters of each model for the comparison (score's targets go as an input). */
export const PARAMS: Record<string, Record<string, number | boolean | string>> = {
  argmax: {},
  softmax: { temperature: 0.7 },
  sparsemax: {},
  entmax: { alpha: 1.5 },
  'gumbel-softmax': { seed: 42, temperature: 0.5 },
  sample: { seed: 42, n: 3, topK: 4, logprobs: true },
  score: { mapping: 'sparsemax' },
};

/** REST v2 inputs whose tensors are sent in binary: each input's binary_data_size is its tensor's length. */
export function sized<T extends object>(inputs: T[], tensors: Uint8Array[]): (T & { parameters: { binary_data_size: number } })[] {
  return inputs.map((input, k) => ({ ...input, parameters: { binary_data_size: tensors[k].length } }));
}

/** The same request over REST v2 (binary tensors, every output binary): its outputs' headers and bytes. */
export async function rest(app: FastifyInstance, model: string, header: Record<string, unknown>, tensors: Buffer[]) {
  const json = Buffer.from(JSON.stringify(header));
  const res = await inject(app, {
    method: 'POST',
    url: `/v2/models/${model}/infer`,
    payload: Buffer.concat([json, ...tensors]),
    headers: { 'inference-header-content-length': String(json.length) },
  });
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  const length = Number(res.headers['inference-header-content-length']);
  const h = JSON.parse(res.rawPayload.subarray(0, length).toString('utf8'));
  let at = length;
  const bytes = h.outputs.map((o: { parameters: { binary_data_size: number } }) => {
    const b = res.rawPayload.subarray(at, at + o.parameters.binary_data_size);
    at += o.parameters.binary_data_size;
    return Buffer.from(b);
  });
  return { header: h, bytes: bytes as Buffer[] };
}

/** gRPC and REST v2 answers to the same request are the same outputs, shapes and bytes. */
export function expectSame(g: Reply, r: { header: Record<string, any>; bytes: Buffer[] }) {
  // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(g.outputs.map((o: Reply) => ({ name: o.name, datatype: o.datatype, shape: o.shape.map(Number) }))).toEqual(
    r.header.outputs.map((o: Reply) => ({ name: o.name, datatype: o.datatype, shape: o.shape })),
  );
  expect(g.raw_output_contents.length).toBe(r.bytes.length);
  g.raw_output_contents.forEach((b: Buffer, k: number) => expect(Buffer.compare(b, r.bytes[k]), `${g.outputs[k].name}`).toBe(0));
}

export const grpcParams = (p: Record<string, number | boolean | string>) => Object.fromEntries(Object.entries(p).map(([k, v]) => [k, param(v)]));
