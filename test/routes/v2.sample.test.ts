import { describe, expect, it } from 'vitest';
import { build, post } from '../helpers/http.js';
import { binaryInput, binaryRequest, expectOipError, infer, readAnswer, tensorBytes } from '../helpers/oip.js';

/**
 * /v2 sample with issue 9's fields: scalar fields as parameters, per-row ones as input tensors
 * after the matrix (JSON or binary), the new outputs; each answer equals /v1's for the same
 * request.
 */

const server = build({ workers: 2 });

const logits = [
  [3, 2, 1, 0.5],
  [0.1, 0.2, null, 2],
  [1, 1, 1, 1],
];
const flat = logits.flat().map((v) => (v === null ? -Infinity : v));

async function v1(body: Record<string, unknown>) {
  const res = await post(server.app, '/v1/sample', { logits, ...body });
  expect(res.statusCode, res.body).toBe(200);
  return JSON.parse(res.body) as { samples: number[][]; logprobs?: number[][]; topLogprobs?: { indices: number[]; logprobs: number[] }[] };
}

const int64 = (values: number[]) => {
  const b = Buffer.alloc(8 * values.length);
  values.forEach((v, i) => b.writeBigInt64LE(BigInt(v), 8 * i));
  return b;
};

describe('/v2 sample: per-row inputs and the new outputs', () => {
  it('per-row temperature and seed as JSON input tensors answer as /v1 with arrays', async () => {
    const params = { n: 5, logprobs: true, topLogprobs: 3, typicalP: 0.95 };
    const want = await v1({ ...params, temperature: [0.5, 1, 2], seed: [7, 2 ** 53 - 1, 0] });
    const res = await infer(server.app, 'sample', {
      parameters: params,
      inputs: [
        { name: 'logits', datatype: 'FP64', shape: [3, 4], data: logits },
        { name: 'temperature', datatype: 'FP64', shape: [3], data: [0.5, 1, 2] },
        { name: 'seed', datatype: 'INT64', shape: [3, 1], data: [[7], [2 ** 53 - 1], [0]] },
      ],
    });
    const a = readAnswer(res);
    expect(a.header.parameters).toBeUndefined(); // per-row seeds are not echoed
    expect([...a.outputs.keys()]).toEqual(['samples', 'logprobs', 'topLogprobIndices', 'topLogprobs']);
    expect(a.outputs.get('samples')!.values).toEqual(want.samples.flat());
    expect(a.outputs.get('logprobs')!.values).toEqual(want.logprobs!.flat());
    const idx = a.outputs.get('topLogprobIndices')!;
    expect(idx.shape).toEqual([3, 3]);
    const lps = a.outputs.get('topLogprobs')!.values;
    want.topLogprobs!.forEach((t, r) => {
      const row = idx.values.slice(3 * r, 3 * r + 3);
      expect(row.slice(0, t.indices.length)).toEqual(t.indices);
      expect(row.slice(t.indices.length).every((v) => v === -1)).toBe(true);
      expect(lps.slice(3 * r, 3 * r + t.logprobs.length)).toEqual(t.logprobs);
      expect(lps.slice(3 * r + t.logprobs.length, 3 * r + 3).every((v) => v === -Infinity)).toBe(true);
    });
  });

  it('binary per-row inputs follow the matrix in the order of inputs', async () => {
    const want = await v1({ n: 3, topK: [1, 2, 4], seed: [5, 6, 7] });
    const m = tensorBytes(flat, 'FP64');
    const topK = Buffer.alloc(12);
    [1, 2, 4].forEach((v, i) => topK.writeInt32LE(v, 4 * i));
    const seeds = int64([5, 6, 7]);
    const { body, headers } = binaryRequest(
      {
        parameters: { n: 3 },
        inputs: [
          binaryInput('logits', 'FP64', [3, 4], m),
          { name: 'topK', datatype: 'INT32', shape: [3], parameters: { binary_data_size: 12 } },
          { name: 'seed', datatype: 'INT64', shape: [3], parameters: { binary_data_size: 24 } },
        ],
      },
      [m, topK, seeds],
    );
    const a = readAnswer(await infer(server.app, 'sample', body, headers));
    expect(a.outputs.get('samples')!.values).toEqual(want.samples.flat());
  });

  it('scalar issue-9 fields as parameters answer as /v1', async () => {
    const params = { n: 2, seed: 3, replacement: false, logitBias: { '3': -1 }, banned: [0], epsilon: 0.01, logprobsMode: 'raw', logprobs: true };
    const want = await v1(params);
    const a = readAnswer(await infer(server.app, 'sample', { parameters: params, inputs: [{ name: 'logits', datatype: 'FP64', shape: [3, 4], data: logits }] }));
    expect(a.header.parameters).toEqual({ seed: 3 });
    expect(a.outputs.get('samples')!.values).toEqual(want.samples.flat());
    expect(a.outputs.get('logprobs')!.values).toEqual(want.logprobs!.flat());
  });

  const matrix = { name: 'logits', datatype: 'FP64', shape: [3, 4], data: logits };
  it.each([
    ['a per-row input of the wrong length', [matrix, { name: 'temperature', datatype: 'FP64', shape: [2], data: [1, 1] }], /inputs\[1\] \(temperature\)\.shape must be \[3\] or \[3, 1\]/],
    ['a bad element of a per-row input', [matrix, { name: 'topP', datatype: 'FP64', shape: [3], data: [0.5, 2, 0.5] }], /inputs\[1\] \(topP\)\.data\[1\]: topP must be a number in \(0, 1\]/],
    ['an input that is not per-row', [matrix, { name: 'n', datatype: 'INT64', shape: [3], data: [1, 1, 1] }], /inputs\[1\]\.name: "n" is not an input of sample/],
    ['a per-row input given twice', [matrix, { name: 'eta', datatype: 'FP64', shape: [3], data: [0, 0, 0] }, { name: 'eta', datatype: 'FP64', shape: [3], data: [0, 0, 0] }], /eta is given twice/],
    ['an unknown datatype', [matrix, { name: 'seed', datatype: 'BOOL', shape: [3], data: [1, 1, 1] }], /datatype must be one of FP64, FP32, INT64, INT32/],
    ['a fractional INT64 seed', [matrix, { name: 'seed', datatype: 'INT64', shape: [3], data: [1, 1.5, 1] }], /inputs\[2\]|inputs\[1\] \(seed\)\.data\[1\]: seed must be an integer/],
  ])('%s is a 400 naming it', async (_name, inputs, message) => {
    const msg = expectOipError(await infer(server.app, 'sample', { inputs }), 400);
    expect(msg).toMatch(message);
  });

  it('a parameter given both ways is a 400', async () => {
    const msg = expectOipError(await infer(server.app, 'sample', { parameters: { temperature: 1 }, inputs: [matrix, { name: 'temperature', datatype: 'FP64', shape: [3], data: [1, 1, 1] }] }), 400);
    expect(msg).toMatch(/temperature is given both in parameters and as inputs\[1\]/);
  });

  it('the model metadata lists the per-row inputs', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/v2/models/sample' });
    const meta = JSON.parse(res.body) as { inputs: { name: string; datatype: string; shape: number[] }[] };
    expect(meta.inputs.map((i) => i.name)).toEqual(['logits', 'probs', 'alpha', 'temperature', 'topNSigma', 'topK', 'topP', 'typicalP', 'minP', 'epsilon', 'eta', 'seed']);
    expect(meta.inputs.find((i) => i.name === 'seed')).toEqual({ name: 'seed', datatype: 'INT64', shape: [-1] });
  });
});
