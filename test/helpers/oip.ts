import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';

/**
 * A small Open Inference Protocol client for the tests, written from the protocol's text
 * (KServe v2 REST, Triton's binary tensor data extension), independent of src/codecs: it builds
 * requests whose tensors are raw little-endian bytes after a JSON header, as tritonclient sends
 * them (no Content-Type, Inference-Header-Content-Length), and reads answers, binary outputs
 * included, into typed arrays.
 */

export type Datatype = 'FP64' | 'FP32' | 'FP16' | 'BF16';

/** Little-endian bytes of values as `datatype`; FP16 and BF16 take bit patterns (numbers 0..65535). */
export function tensorBytes(values: ArrayLike<number>, datatype: Datatype): Buffer {
  const n = values.length;
  const size = { FP64: 8, FP32: 4, FP16: 2, BF16: 2 }[datatype];
  const out = Buffer.alloc(n * size);
  for (let k = 0; k < n; k++) {
    if (datatype === 'FP64') out.writeDoubleLE(values[k], k * 8);
    else if (datatype === 'FP32') out.writeFloatLE(values[k], k * 4);
    else out.writeUInt16LE(values[k], k * 2);
  }
  return out;
}

/** A binary request: the JSON header, then each tensor's bytes; the header's length in its header. */
export function binaryRequest(header: unknown, tensors: Uint8Array[]): { body: Buffer; headers: Record<string, string> } {
  const json = Buffer.from(JSON.stringify(header));
  return { body: Buffer.concat([json, ...tensors]), headers: { 'inference-header-content-length': String(json.length) } };
}

/** One binary input of a header. */
export function binaryInput(name: string, datatype: Datatype, shape: number[], bytes: Uint8Array) {
  return { name, datatype, shape, parameters: { binary_data_size: bytes.length } };
}

/** POSTs an OIP body as tritonclient does: no Content-Type. */
export function infer(
  app: FastifyInstance,
  model: string,
  body: Buffer | string | object,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  const payload = Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
  return app.inject({ method: 'POST', url: `/v2/models/${model}/infer`, payload, headers });
}

export interface OutputTensor {
  name: string;
  datatype: string;
  shape: number[];
  /** The values: numbers (null for -inf in JSON data become -Infinity), or strings (BYTES). */
  values: (number | string)[];
  binary: boolean;
}

export interface Answer {
  header: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  outputs: Map<string, OutputTensor>;
}

/** Reads an answer: its JSON header and each output's values (binary ones from the bytes after it). */
export function readAnswer(res: LightMyRequestResponse): Answer {
  expect(res.statusCode, res.body.slice(0, 500)).toBe(200);
  const raw = res.rawPayload;
  const given = res.headers['inference-header-content-length'];
  const length = given === undefined ? raw.length : Number(given);
  if (given !== undefined) expect(res.headers['content-type']).toBe('application/octet-stream');
  else expect(res.headers['content-type']).toMatch(/^application\/json/);
  const header = JSON.parse(raw.subarray(0, length).toString('utf8'));
  let at = length;
  const outputs = new Map<string, OutputTensor>();
  for (const o of header.outputs) {
    const size = o.parameters?.binary_data_size;
    let values: (number | string)[];
    if (size === undefined) {
      values = (o.data as (number | string | null)[]).map((v) => (v === null ? -Infinity : v));
    } else {
      const bytes = raw.subarray(at, at + size);
      at += size;
      const step = o.datatype === 'FP32' ? 4 : 8;
      expect(bytes.length % step).toBe(0);
      values = [];
      for (let k = 0; k < bytes.length; k += step) {
        if (o.datatype === 'FP64') values.push(bytes.readDoubleLE(k));
        else if (o.datatype === 'FP32') values.push(bytes.readFloatLE(k));
        else if (o.datatype === 'INT64') values.push(Number(bytes.readBigInt64LE(k)));
        else throw new Error(`unexpected binary datatype ${o.datatype}`);
      }
    }
    const count = (o.shape as number[]).reduce((a, b) => a * b, 1);
    expect(values.length, `${o.name}: shape ${JSON.stringify(o.shape)}`).toBe(count);
    outputs.set(o.name, { name: o.name, datatype: o.datatype, shape: o.shape, values, binary: size !== undefined });
  }
  expect(at, 'every byte after the header belongs to an output').toBe(raw.length);
  return { header, outputs };
}

/** Asserts the protocol's error shape {"error": "<message>"} and status; returns the message. */
export function expectOipError(res: LightMyRequestResponse | { statusCode: number; headers: Record<string, unknown>; body: string }, status: number): string {
  expect(res.statusCode, res.body.slice(0, 500)).toBe(status);
  expect(String(res.headers['content-type'])).toMatch(/^application\/json/);
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(Object.keys(body)).toEqual(['error']);
  expect(typeof body.error).toBe('string');
  expect((body.error as string).length).toBeGreaterThan(0);
  if (status === 503) expect(String(res.headers['retry-after'])).toMatch(/^\d+$/);
  return body.error as string;
}
