import { readFileSync } from 'node:fs';
import { deflateSync, gzipSync } from 'node:zlib';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { OPERATIONS, OP_NAMES, type OpName } from '../../src/ops/index.js';
import { poolTasks } from '../helpers/corpus.js';
import { listenLocal, parseResponses, post, promValue, rawExchange, scrape, type Listening } from '../helpers/http.js';
import { binaryInput, binaryRequest, expectOipError, infer, readAnswer, tensorBytes, type Answer } from '../helpers/oip.js';
import { loadReferenceCases, type ReferenceCase } from '../helpers/reference.js';
import { randomLogits, rng } from '../helpers/stats.js';

/**
 * The Open Inference Protocol routes under /v2: every route's answer, inference in JSON and in
 * binary against /v1 on the reference vectors, the bad binary inputs of issue 8, compressed
 * bodies, the pool and streamed paths, errors in the protocol's shape.
 */

let app: FastifyInstance;
/** Small thresholds: the pool, split and streamed paths with small matrices. */
let paths: FastifyInstance;
/** Small limits, and every pool job timing out. */
let tight: FastifyInstance;
const TIGHT = { maxBodyBytes: 1 << 20, maxElements: 50_000 };

beforeAll(async () => {
  [app, paths, tight] = await Promise.all([
    buildApp({ workers: 2, logLevel: 'silent' }),
    buildApp({ workers: 2, logLevel: 'silent', inlineMaxNs: 1_000, splitMinWork: 2048, streamMinElements: 1024 }),
    buildApp({ workers: 1, logLevel: 'silent', ...TIGHT, requestTimeoutMs: 1 }),
  ]);
  await Promise.all([app.ready(), paths.ready(), tight.ready()]);
});

afterAll(async () => {
  await Promise.all([app?.close(), paths?.close(), tight?.close()]);
});

const get = (a: FastifyInstance, url: string) => a.inject({ method: 'GET', url });
const jsonOf = (res: LightMyRequestResponse) => {
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(res.body);
};

/** A JSON request of one FP64 input. */
function jsonRequest(logits: (number | null)[][], parameters: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) {
  return { parameters, inputs: [{ name: 'logits', datatype: 'FP64', shape: [logits.length, logits[0].length], data: logits }], ...extra };
}

/** A binary request of one input (null: -inf), every output in binary unless `outputs` says. */
function binary(logits: (number | null)[][], datatype: 'FP64' | 'FP32', parameters: Record<string, unknown> = {}, outputs?: unknown[], name = 'logits') {
  const bytes = tensorBytes(logits.flat().map((v) => (v === null ? -Infinity : v)), datatype);
  return binaryRequest(
    { parameters: { ...parameters, ...(outputs ? {} : { binary_data_output: true }) }, inputs: [binaryInput(name, datatype, [logits.length, logits[0].length], bytes)], ...(outputs ? { outputs } : {}) },
    [bytes],
  );
}

const valuesOf = (a: Answer, name: string) => a.outputs.get(name)!.values;
const flat = (v: unknown): number[] => (Array.isArray(v) ? v.flat().map((x) => (x === null ? -Infinity : (x as number))) : []);

describe('server, health, models, repository', () => {
  it('GET /v2: the server metadata and extensions', async () => {
    const version = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
    expect(jsonOf(await get(app, '/v2'))).toEqual({ name: 'anymax', version, extensions: ['binary_tensor_data', 'classification', 'model_repository', 'parameters'] });
  });

  it('health: live and ready, HEAD too', async () => {
    expect(jsonOf(await get(app, '/v2/health/live'))).toEqual({ live: true });
    expect(jsonOf(await get(app, '/v2/health/ready'))).toEqual({ ready: true });
    expect((await app.inject({ method: 'HEAD', url: '/v2/health/ready' })).statusCode).toBe(200);
  });

  it('model metadata of every operation, with and without the version; its outputs are the /v1 answer fields', async () => {
    for (const op of OPERATIONS) {
      const meta = jsonOf(await get(app, `/v2/models/${op.name}`));
      expect(jsonOf(await get(app, `/v2/models/${op.name}/versions/1`))).toEqual(meta);
      expect(meta.name).toBe(op.name);
      expect(meta.versions).toEqual(['1']);
      expect(meta.platform).toBe('anymax');
      expect(meta.inputs).toEqual([
        { name: 'logits', datatype: 'FP64', shape: [-1, -1] },
        ...(op.name === 'gumbel-softmax' || op.name === 'sample' ? [{ name: 'probs', datatype: 'FP64', shape: [-1, -1] }] : []),
        // The per-row parameters, as optional inputs (./v2.sample.test.ts).
        ...(op.name === 'score' ? [{ name: 'targets', datatype: 'INT64', shape: [-1] }] : []),
        ...(op.name === 'sample'
          ? ['alpha', 'temperature', 'topNSigma', 'topK', 'topP', 'typicalP', 'minP', 'epsilon', 'eta', 'seed'].map((name) => ({
              name,
              datatype: name === 'topK' || name === 'seed' ? 'INT64' : 'FP64',
              shape: [-1],
            }))
          : []),
      ]);
      // Independently of the registry: the fields /v1 answers with (both values of softmax's log, both formats).
      const fields = new Set<string>();
      const variants =
        op.name === 'softmax'
          ? [{ log: false }, { log: true }]
          : op.name === 'sparsemax' || op.name === 'entmax'
            ? [{}, { format: 'sparse' }]
            : op.name === 'sample'
              ? [{}, { logprobs: true, topLogprobs: 2 }]
              : [{}];
      for (const params of variants) {
        const v1 = jsonOf(await post(app, `/v1/${op.name}`, { logits: [[1, 2]], ...params, ...(op.name === 'score' ? { targets: [0] } : {}) }));
        for (const [k, v] of Object.entries(v1)) {
          if (k === 'seed') continue;
          if (k === 'topLogprobs') {
            // /v1's per-row objects are two padded tensors in OIP.
            expect(meta.outputs).toContainEqual({ name: 'topLogprobIndices', datatype: 'INT64', shape: [-1, -1] });
            expect(meta.outputs).toContainEqual({ name: 'topLogprobs', datatype: 'FP64', shape: [-1, -1] });
            fields.add('topLogprobIndices').add('topLogprobs');
            continue;
          }
          const matrix = Array.isArray((v as unknown[])[0]);
          const int = (v as unknown[]).flat().every((x) => Number.isInteger(x)) && k !== 'probs' && k !== 'values';
          expect(meta.outputs, `${op.name} ${k}`).toContainEqual({ name: k, datatype: int ? 'INT64' : 'FP64', shape: matrix ? [-1, -1] : [-1] });
          fields.add(k);
        }
      }
      expect(meta.outputs.map((o: { name: string }) => o.name).sort()).toEqual([...fields].sort());
      expect(jsonOf(await get(app, `/v2/models/${op.name}/ready`))).toEqual({ name: op.name, ready: true });
      expect(jsonOf(await get(app, `/v2/models/${op.name}/versions/1/ready`))).toEqual({ name: op.name, ready: true });
    }
  });

  it('unknown models and versions: 404 in the protocol\'s shape', async () => {
    expect(expectOipError(await get(app, '/v2/models/softmaxx'), 404)).toBe('unknown model "softmaxx" (models: argmax, softmax, sparsemax, entmax, gumbel-softmax, sample, score)');
    expect(expectOipError(await get(app, '/v2/models/softmax/versions/2'), 404)).toBe('model softmax has no version "2" (its only version is 1)');
    expectOipError(await get(app, '/v2/models/nope/ready'), 404);
    expectOipError(await infer(app, 'nope', jsonRequest([[1]])), 404);
    expectOipError(await app.inject({ method: 'POST', url: '/v2/models/softmax/versions/3/infer', payload: '{}' }), 404);
    expect(expectOipError(await get(app, '/v2/nothing'), 404)).toBe('no route GET /v2/nothing');
  });

  it('other methods: 405 with Allow, in the protocol\'s shape', async () => {
    const res = await get(app, '/v2/models/softmax/infer');
    expect(expectOipError(res, 405)).toBe('GET is not allowed on /v2/models/softmax/infer (allowed: POST)');
    expect(res.headers.allow).toBe('POST');
    expect((await app.inject({ method: 'POST', url: '/v2/health/live' })).headers.allow).toBe('GET, HEAD');
  });

  it('POST /v2/repository/index lists every model READY, with or without a body', async () => {
    const want = OP_NAMES.map((name) => ({ name, version: '1', state: 'READY' }));
    expect(jsonOf(await app.inject({ method: 'POST', url: '/v2/repository/index' }))).toEqual(want);
    expect(jsonOf(await post(app, '/v2/repository/index', { ready: true }))).toEqual(want);
  });
});

describe('inference', () => {
  it('JSON and binary, on both URLs, with any Content-Type or none; id echoed', async () => {
    const logits = [[3, 2, 1], [1, null, 3]];
    const v1 = jsonOf(await post(app, '/v1/softmax', { logits }));
    for (const url of ['/v2/models/softmax/infer', '/v2/models/softmax/versions/1/infer']) {
      for (const type of [undefined, 'application/json', 'application/octet-stream', 'text/plain']) {
        const headers = type ? { 'content-type': type } : {};
        const a = readAnswer(await app.inject({ method: 'POST', url, payload: JSON.stringify(jsonRequest(logits, {}, { id: 'req-7' })), headers }));
        expect(a.header).toMatchObject({ model_name: 'softmax', model_version: '1', id: 'req-7' });
        expect(a.header.parameters).toBeUndefined();
        expect(valuesOf(a, 'probs')).toEqual(flat(v1.probs));
        const b = binary(logits, 'FP64');
        const ab = readAnswer(await app.inject({ method: 'POST', url, payload: b.body, headers: { ...b.headers, ...headers } }));
        expect(ab.outputs.get('probs')).toMatchObject({ datatype: 'FP64', shape: [2, 3], binary: true });
        expect(valuesOf(ab, 'probs')).toEqual(flat(v1.probs));
      }
    }
  });

  it('score: targets as an input tensor (JSON or binary INT64) or a parameter array; answers as /v1', async () => {
    const logits = [
      [-2, 0, 0.5],
      [3, null, 1],
    ];
    const v1 = jsonOf(await post(app, '/v1/score', { logits, targets: [2, 0], mapping: 'sparsemax' }));
    const want = (a: Answer) => {
      for (const k of ['loss', 'prob', 'logprob', 'entropy', 'value']) expect(valuesOf(a, k), k).toEqual(v1[k].map((v: number | null) => (v === null ? -Infinity : v)));
    };
    const targets = { name: 'targets', datatype: 'INT64', shape: [2], data: [2, 0] };
    const json = jsonRequest(logits, { mapping: 'sparsemax' });
    want(readAnswer(await infer(app, 'score', { ...json, inputs: [...json.inputs, targets] })));
    want(readAnswer(await infer(app, 'score', jsonRequest(logits, { mapping: 'sparsemax', targets: [2, 0] }))));
    const m = tensorBytes(logits.flat().map((v) => (v === null ? -Infinity : v)), 'FP64');
    const t = Buffer.alloc(16);
    t.writeBigInt64LE(2n, 0);
    t.writeBigInt64LE(0n, 8);
    const b = binaryRequest(
      { parameters: { mapping: 'sparsemax' }, inputs: [binaryInput('logits', 'FP64', [2, 3], m), { name: 'targets', datatype: 'INT64', shape: [2], parameters: { binary_data_size: 16 } }] },
      [m, t],
    );
    want(readAnswer(await infer(app, 'score', b.body, b.headers)));
  });

  it('score: missing, out-of-range and masked targets are 400s naming them', async () => {
    expect(expectOipError(await infer(app, 'score', jsonRequest([[1, 2]])), 400)).toMatch(/targets/);
    const json = jsonRequest([[1, null]]);
    const masked = await infer(app, 'score', { ...json, inputs: [...json.inputs, { name: 'targets', datatype: 'INT64', shape: [1], data: [1] }] });
    expect(expectOipError(masked, 400)).toMatch(/targets/);
    const range = await infer(app, 'score', { ...json, inputs: [...json.inputs, { name: 'targets', datatype: 'INT32', shape: [1, 1], data: [[5]] }] });
    expect(expectOipError(range, 400)).toMatch(/targets/);
  });

  it('a Content-Type that is not a media type at all is a 415 in the protocol\'s shape', async () => {
    const res = await infer(app, 'softmax', jsonRequest([[1, 2]]), { 'content-type': ';;' });
    expect(expectOipError(res, 415)).toBe('the Content-Type ";;" is not a valid media type');
  });

  it('seeded models return the seed they used, given or drawn, and replay with it', async () => {
    const logits = randomLogits(3, 7, 5);
    const drawn = readAnswer(await infer(app, 'sample', jsonRequest(logits, { n: 4 })));
    const seed = drawn.header.parameters.seed;
    expect(Number.isSafeInteger(seed)).toBe(true);
    const again = readAnswer(await infer(app, 'sample', jsonRequest(logits, { n: 4, seed })));
    expect(again.header.parameters).toEqual({ seed });
    expect(valuesOf(again, 'samples')).toEqual(valuesOf(drawn, 'samples'));
    const v1 = jsonOf(await post(app, '/v1/sample', { logits, n: 4, seed }));
    expect(valuesOf(again, 'samples')).toEqual(flat(v1.samples));
    expect(again.outputs.get('samples')).toMatchObject({ datatype: 'INT64', shape: [3, 4] });
  });

  it('selects outputs, binary per output, classification', async () => {
    const logits = randomLogits(4, 6, 9);
    const v1 = jsonOf(await post(app, '/v1/sparsemax', { logits }));
    const only = readAnswer(await infer(app, 'sparsemax', jsonRequest(logits, {}, { outputs: [{ name: 'support' }] })));
    expect([...only.outputs.keys()]).toEqual(['support']);
    expect(valuesOf(only, 'support')).toEqual(v1.support);
    const mixed = binary(logits, 'FP64', {}, [{ name: 'support', parameters: { binary_data: true } }, { name: 'probs', parameters: { binary_data: false } }]);
    const m = readAnswer(await infer(app, 'sparsemax', mixed.body, mixed.headers));
    expect(m.header.outputs.map((o: { name: string }) => o.name)).toEqual(['support', 'probs']);
    expect(m.outputs.get('support')!.binary).toBe(true);
    expect(m.outputs.get('probs')!.binary).toBe(false);
    expect(valuesOf(m, 'probs')).toEqual(flat(v1.probs));
    const cls = readAnswer(await infer(app, 'sparsemax', jsonRequest(logits, {}, { outputs: [{ name: 'probs', parameters: { classification: 2 } }] })));
    const out = cls.outputs.get('probs')!;
    expect(out).toMatchObject({ datatype: 'BYTES', shape: [4, 2] });
    (v1.probs as number[][]).forEach((row, r) => {
      const order = row.map((_, j) => j).sort((a, b) => row[b] - row[a] || a - b);
      expect(out.values.slice(2 * r, 2 * r + 2)).toEqual(order.slice(0, 2).map((j) => `${row[j]}:${j}`));
    });
  });

  it('log-probabilities of masked classes are null in JSON and -inf in binary', async () => {
    const logits = [[1, null, 2]];
    const j = readAnswer(await infer(app, 'softmax', jsonRequest(logits, { log: true })));
    const raw = JSON.parse((await infer(app, 'softmax', jsonRequest(logits, { log: true }))).body);
    expect(raw.outputs[0].data[1]).toBeNull();
    const b = binary(logits, 'FP32', { log: true });
    const a = readAnswer(await infer(app, 'softmax', b.body, b.headers));
    expect(valuesOf(a, 'logProbs')[1]).toBe(-Infinity);
    expect(valuesOf(a, 'logProbs')).toEqual(valuesOf(j, 'logProbs').map((v) => Math.fround(v as number)));
  });
});

/** The /v1 request and the v2 model of a reference case. */
function reference(c: ReferenceCase): { op: OpName; params: Record<string, unknown> } {
  switch (c.mapping) {
    case 'softmax':
      return { op: 'softmax', params: { temperature: c.temperature } };
    case 'log_softmax':
      return { op: 'softmax', params: { temperature: c.temperature, log: true } };
    case 'sparsemax':
      return { op: 'sparsemax', params: { temperature: c.temperature } };
    case 'entmax':
      return { op: 'entmax', params: { temperature: c.temperature, alpha: c.alpha } };
    case 'argmax':
      return { op: 'argmax', params: {} };
  }
}

describe('the same numbers as /v1', () => {
  const cases = loadReferenceCases();

  it(`on every reference vector (${cases.length}), in JSON and in binary FP64: identical values`, async () => {
    expect(cases.length).toBeGreaterThan(100);
    for (const c of cases) {
      const { op, params } = reference(c);
      const v1 = jsonOf(await post(app, `/v1/${op}`, { logits: c.logits, ...params }));
      const j = readAnswer(await infer(app, op, jsonRequest(c.logits, params)));
      const b = binary(c.logits, 'FP64', params);
      const bin = readAnswer(await infer(app, op, b.body, b.headers));
      const fields = Object.keys(v1);
      expect([...j.outputs.keys()], c.name).toEqual(fields);
      expect([...bin.outputs.keys()], c.name).toEqual(fields);
      for (const k of fields) {
        const want = Array.isArray(v1[k][0]) ? flat(v1[k]) : v1[k];
        expect(valuesOf(j, k), `${c.name} ${k} (JSON)`).toEqual(want);
        expect(valuesOf(bin, k), `${c.name} ${k} (binary)`).toEqual(want);
        expect(j.outputs.get(k)!.datatype).toBe(k === 'probs' || k === 'logProbs' ? 'FP64' : 'INT64');
      }
    }
  });

  it('seeded models, on logits and on probs: the /v1 answer with the same seed', async () => {
    const logits = randomLogits(5, 40, 8);
    const probs = logits.map((row) => row.map((v) => (v < -2 ? 0 : Math.exp(v))));
    for (const [op, params] of [['gumbel-softmax', { seed: 77, temperature: 0.5 }], ['gumbel-softmax', { seed: 78, hard: true }], ['sample', { seed: 2 ** 53 - 1, n: 5, topK: 7, mapping: 'entmax' }]] as const) {
      for (const [name, m] of [['logits', logits], ['probs', probs]] as const) {
        const v1 = jsonOf(await post(app, `/v1/${op}`, { [name]: m, ...params }));
        const b = binary(m, 'FP64', params, undefined, name);
        const a = readAnswer(await infer(app, op, b.body, b.headers));
        expect(a.header.parameters).toEqual({ seed: params.seed });
        for (const k of Object.keys(v1).filter((k) => k !== 'seed')) expect(valuesOf(a, k), `${op} ${name} ${k}`).toEqual(flat(v1[k]));
      }
    }
  });

  it('FP32 in: the /v1 answer on the float32 logits, rounded once to FP32', async () => {
    for (const c of cases.filter((_, k) => k % 7 === 0)) {
      const { op, params } = reference(c);
      const logits32 = c.logits.map((row) => row.map((v) => (v === null ? null : Math.fround(v))));
      if (logits32.flat().some((v) => v !== null && !Number.isFinite(v))) continue; // 1e300 is not an FP32
      const v1 = jsonOf(await post(app, `/v1/${op}`, { logits: logits32, ...params }));
      const b = binary(c.logits, 'FP32', params);
      const a = readAnswer(await infer(app, op, b.body, b.headers));
      for (const k of Object.keys(v1)) {
        const want = Array.isArray(v1[k][0]) ? flat(v1[k]) : v1[k];
        const real = k === 'probs' || k === 'logProbs';
        expect(a.outputs.get(k)!.datatype).toBe(real ? 'FP32' : 'INT64');
        expect(valuesOf(a, k), `${c.name} ${k}`).toEqual(real ? want.map((v: number) => Math.fround(v)) : want);
      }
    }
  });
});

describe('bad requests', () => {
  const good = tensorBytes([3, 2, 1, 1, 2, 3], 'FP32');
  const input = (extra: Record<string, unknown> = {}) => ({ ...binaryInput('logits', 'FP32', [2, 3], good), ...extra });
  const raw = (header: unknown, tensors: Uint8Array[] = [good]) => binaryRequest(header, tensors);
  const ok = raw({ inputs: [input()] });
  const withLength = (length: number) => ({ 'inference-header-content-length': String(length) });
  const hl = Number(ok.headers['inference-header-content-length']);

  const NAN_TEXT = '{"inputs":[{"name":"logits","datatype":"FP64","shape":[1,2],"data":[1,NaN]}]}';
  const CASES: { name: string; body: Buffer | string; headers?: Record<string, string>; model?: string; status?: number; message: RegExp }[] = [
    { name: 'header length past the body', body: ok.body, headers: withLength(ok.body.length + 10), message: /Inference-Header-Content-Length is \d+ but the body has only \d+ bytes/ },
    { name: 'header length not a number', body: ok.body, headers: { 'inference-header-content-length': '12abc' }, message: /Inference-Header-Content-Length must be a byte count/ },
    { name: 'header length negative', body: ok.body, headers: { 'inference-header-content-length': '-1' }, message: /must be a byte count/ },
    { name: 'binary_data_size not shape x element size', ...raw({ inputs: [input({ parameters: { binary_data_size: 12 } })] }, [good.subarray(0, 12)]), message: /binary_data_size is 12 bytes, but shape \[2, 3\] of FP32 \(4 bytes an element\) is 24/ },
    { name: 'sizes not adding up to the body', body: Buffer.concat([ok.body, Buffer.alloc(8)]), headers: ok.headers, message: /the body has 32 bytes after its \d+-byte inference header, but the inputs' binary_data_size add up to 24/ },
    { name: 'missing header length with binary parameters', body: ok.body.subarray(0, hl), message: /no Inference-Header-Content-Length header/ },
    { name: 'JSON header not an object', ...raw([{ inputs: [input()] }]), message: /must be an object/ },
    { name: 'JSON header not JSON', body: Buffer.concat([Buffer.from('{"inputs": [1'), good]), headers: withLength(13), message: /not valid JSON: unexpected end of input/ },
    { name: 'truncated body', body: ok.body.subarray(0, ok.body.length - 5), headers: ok.headers, message: /19 bytes after .* add up to 24/ },
    { name: 'NaN', ...raw({ inputs: [input()] }, [tensorBytes([3, 2, NaN, 1, 2, 3], 'FP32')]), message: /^logits\[0\]\[2\] \(element 2 of the binary data\) is NaN/ },
    { name: '+inf', ...raw({ inputs: [input()] }, [tensorBytes([3, 2, 1, 1, 2, Infinity], 'FP32')]), message: /^logits\[1\]\[2\] \(element 5 of the binary data\) is \+inf/ },
    { name: 'an all-masked row', ...raw({ inputs: [input()] }, [tensorBytes([-Infinity, -Infinity, -Infinity, 1, 2, 3], 'FP32')]), message: /^logits\[0\] has every class masked/ },
    { name: 'wrong input name', ...raw({ inputs: [input({ name: 'input0' })] }), message: /inputs\[0\]\.name must be logits \(got "input0"\)/ },
    { name: 'probs where only logits are taken', ...raw({ inputs: [input({ name: 'probs' })] }), message: /inputs\[0\]\.name must be logits/ },
    { name: 'BYTES datatype', ...raw({ inputs: [input({ datatype: 'BYTES' })] }), message: /datatype must be one of FP64, FP32, FP16, BF16 \(got "BYTES"\)/ },
    { name: 'shape / data mismatch (JSON)', body: JSON.stringify({ inputs: [{ name: 'logits', datatype: 'FP64', shape: [2, 2], data: [1, 2, 3] }] }), message: /data has 3 values, but shape is \[2, 2\]/ },
    { name: 'shape / data mismatch (binary)', ...raw({ inputs: [input({ shape: [3, 3] })] }), message: /shape \[3, 3\] of FP32/ },
    { name: 'unknown parameter', ...raw({ parameters: { temperatur: 2 }, inputs: [input()] }), message: /unknown parameter\(s\): temperatur/ },
    { name: 'wrong parameter type', ...raw({ parameters: { temperature: [2] }, inputs: [input()] }), message: /^parameters: temperature must be a number$/ },
    { name: 'NaN literal in JSON', body: NAN_TEXT, message: new RegExp(`NaN at byte ${NAN_TEXT.indexOf('NaN')} is not a JSON number`) },
    { name: 'empty body', body: '', message: /the request body is empty/ },
    { name: 'two inputs', ...raw({ inputs: [input(), input()] }, [good, good]), message: /the request has 2 inputs/ },
    { name: 'classification N > cols', ...raw({ inputs: [input()], outputs: [{ name: 'probs', parameters: { classification: 4 } }] }), message: /classification is 4, more than the 3 values per row/ },
    { name: 'unknown output', ...raw({ inputs: [input()], outputs: [{ name: 'prob' }] }), message: /"prob" is not an output of softmax/ },
  ];

  it('each item of the bad-input list: a clear 400 in the protocol\'s shape, never a 5xx, the server alive', async () => {
    for (const c of CASES) {
      const res = await infer(app, c.model ?? 'softmax', c.body, c.headers);
      const message = expectOipError(res, c.status ?? 400);
      expect(message, c.name).toMatch(c.message);
    }
    expect(jsonOf(await get(app, '/v2/health/live'))).toEqual({ live: true });
    expect(readAnswer(await infer(app, 'softmax', ok.body, ok.headers)).outputs.get('probs')!.values).toHaveLength(6);
  });

  it('the same refusals from the workers (bodies too big to read inline)', async () => {
    const pad = { id: 'x'.repeat(70_000) }; // the header over inlineMaxBytes: decoded in a worker
    for (const [header, message] of [
      [{ ...pad, inputs: [input({ datatype: 'BYTES' })] }, /datatype must be one of/],
      [{ ...pad, inputs: [input()], parameters: { nope: 1 } }, /unknown parameter\(s\): nope/],
    ] as const) {
      const r = raw(header);
      expect(expectOipError(await infer(app, 'softmax', r.body, r.headers), 400)).toMatch(message);
    }
    const nan = raw({ ...pad, inputs: [input()] }, [tensorBytes([3, 2, 1, NaN, 2, 3], 'FP32')]);
    expect(expectOipError(await infer(app, 'softmax', nan.body, nan.headers), 400)).toMatch(/^logits\[1\]\[0\] \(element 3/);
  });

  it('limits as /v1: 413 for the body and the elements, 503 with Retry-After for a timeout', async () => {
    const big = raw({ inputs: [input()] }, [good]);
    const over = Buffer.concat([big.body, Buffer.alloc(TIGHT.maxBodyBytes)]);
    expect(expectOipError(await infer(tight, 'softmax', over, big.headers), 413)).toBe(`the request body is over the limit of ${TIGHT.maxBodyBytes} bytes`);
    // The element limit is checked on the shape, before the data (small bodies, read inline).
    const shaped = (shape: number[], parameters = {}) => ({ parameters, inputs: [{ name: 'logits', datatype: 'FP32', shape, data: [1] }] });
    expect(expectOipError(await infer(tight, 'softmax', shaped([2, 30_000])), 413)).toBe('logits: 2 x 30000 = 60000 elements is over the limit of 50000');
    expect(expectOipError(await infer(tight, 'sample', shaped([1, 30_000], { n: 2 })), 413)).toMatch(/^logits: 1 x 30000 x 2 = 60000 elements/);
    // The answer (JSON, 40000 numbers) takes its worker milliseconds: past the 1 ms timeout.
    const pooled = tensorBytes(new Array(40_000).fill(1), 'FP32'); // 160 kB: a pool job, which times out
    const p = binaryRequest({ inputs: [binaryInput('logits', 'FP32', [4, 10_000], pooled)] }, [pooled]);
    const res = await infer(tight, 'softmax', p.body, p.headers);
    expect(expectOipError(res, 503)).toBe('the job did not finish within 1 ms');
    expect(res.headers['retry-after']).toBe('1');
  });

  it('Node-level refusals on a /v2 path answer in the protocol\'s shape', async () => {
    let l: Listening | undefined;
    try {
      l = await listenLocal();
      const ex = await rawExchange(l.port, 'POST /v2/models/softmax/infer HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n');
      const [res] = parseResponses(ex.data).responses;
      expect(expectOipError(res, 400)).toMatch(/not valid HTTP\/1\.1/);
      const v1 = parseResponses((await rawExchange(l.port, 'POST /v1/softmax HTTP/1.1\r\nHost: x\r\nContent-Length: 1x\r\n\r\n')).data).responses[0];
      expect(JSON.parse(v1.body).code).toBe('MALFORMED_REQUEST');
    } finally {
      await l?.app.close();
    }
  });
});

describe('Content-Encoding', () => {
  const logits = randomLogits(3, 50, 4);
  const plain = () => JSON.stringify(jsonRequest(logits));

  it('gzip and deflate bodies, JSON and binary, give the plain answer', async () => {
    const want = (await infer(app, 'softmax', plain())).body;
    for (const [coding, pack] of [['gzip', gzipSync], ['deflate', deflateSync]] as const) {
      const res = await infer(app, 'softmax', pack(Buffer.from(plain())), { 'content-encoding': coding });
      expect(res.statusCode, res.body).toBe(200);
      expect(res.body).toBe(want);
      const b = binary(logits, 'FP64');
      const bin = await infer(app, 'softmax', pack(b.body), { ...b.headers, 'content-encoding': coding });
      expect(valuesOf(readAnswer(bin), 'probs')).toEqual(valuesOf(readAnswer(await infer(app, 'softmax', plain())), 'probs'));
    }
  });

  it('a gzip bomb is refused with 413 once its output passes the limit, and its memory is handed back', async () => {
    const bomb = gzipSync(Buffer.alloc(64 << 20, 0x20)); // 64 MiB of spaces in ~64 kB
    expect(bomb.length).toBeLessThan(TIGHT.maxBodyBytes);
    const res = await infer(tight, 'softmax', bomb, { 'content-encoding': 'gzip' });
    expect(expectOipError(res, 413)).toBe(`the request body, decoded (Content-Encoding gzip), is over the limit of ${TIGHT.maxBodyBytes} bytes`);
    const deflated = await infer(tight, 'softmax', deflateSync(Buffer.alloc(8 << 20)), { 'content-encoding': 'deflate' });
    expectOipError(deflated, 413);
    expect(tight.jobs.budget.inUse).toBe(0);
    expect(jsonOf(await get(tight, '/v2/health/live'))).toEqual({ live: true });
  });

  it('corrupt or cut compressed data is a 400; other codings a 415', async () => {
    const zipped = gzipSync(Buffer.from(plain()));
    expect(expectOipError(await infer(app, 'softmax', Buffer.from('not gzip at all'), { 'content-encoding': 'gzip' }), 400)).toMatch(/^the request body is not valid gzip data/);
    expect(expectOipError(await infer(app, 'softmax', zipped.subarray(0, zipped.length - 10), { 'content-encoding': 'gzip' }), 400)).toMatch(/not valid gzip data.*unexpected end/);
    expect(expectOipError(await infer(app, 'softmax', zipped, { 'content-encoding': 'deflate' }), 400)).toMatch(/not valid deflate data/);
    for (const coding of ['br', 'gzip, gzip', 'compress']) {
      expect(expectOipError(await infer(app, 'softmax', zipped, { 'content-encoding': coding }), 415)).toMatch(/^Content-Encoding ".*" is not supported \(gzip, deflate or identity\)$/);
    }
    expect((await infer(app, 'softmax', plain(), { 'content-encoding': 'identity' })).statusCode).toBe(200);
  });
});

describe('the pool, split and streamed paths', () => {
  it('softmax 64 x 32000, FP32 in and out in binary: the pool\'s streamed answer is the float64 answer rounded once', async () => {
    const next = rng(11);
    const values = Float32Array.from({ length: 64 * 32000 }, () => (next() * 2 - 1) * 8);
    const bytes32 = Buffer.from(values.buffer);
    const r32 = binaryRequest({ parameters: { binary_data_output: true }, inputs: [binaryInput('logits', 'FP32', [64, 32000], bytes32)] }, [bytes32]);
    const before = await poolTasks(app);
    const a32 = readAnswer(await infer(app, 'softmax', r32.body, r32.headers));
    expect(await poolTasks(app)).toBeGreaterThan(before + 1); // computed in the pool, split across its workers
    expect(a32.outputs.get('probs')).toMatchObject({ datatype: 'FP32', shape: [64, 32000], binary: true });
    // The same values as FP64 (exact), answered in FP64, then rounded: the same float32s.
    const bytes64 = Buffer.from(Float64Array.from(values).buffer);
    const r64 = binaryRequest({ parameters: { binary_data_output: true }, inputs: [binaryInput('logits', 'FP64', [64, 32000], bytes64)] }, [bytes64]);
    const p64 = valuesOf(readAnswer(await infer(app, 'softmax', r64.body, r64.headers)), 'probs') as number[];
    const p32 = valuesOf(a32, 'probs') as number[];
    let differ = 0;
    for (let k = 0; k < p64.length; k++) if (p32[k] !== Math.fround(p64[k])) differ++;
    expect(differ).toBe(0);
    // And /v1's JSON answer for two of the rows, which are computed independently.
    const rows = [0, 63].map((r) => Array.from(values.subarray(r * 32000, (r + 1) * 32000)));
    const v1 = jsonOf(await post(app, '/v1/softmax', { logits: rows }));
    expect(p64.slice(0, 32000)).toEqual(v1.probs[0]);
    expect(p64.slice(63 * 32000)).toEqual(v1.probs[1]);
  });

  it('placement counts the answer\'s format: binary values cost a few ns, JSON numbers ~130', async () => {
    // softmax 1 x 8000 FP32 (a 32 KB body): its 8000 probabilities as JSON text are ~1 ms of the
    // main thread, more than inlineMaxNs allows; in binary, microseconds.
    const logits = randomLogits(1, 8000, 31);
    const asBinary = binary(logits, 'FP32');
    const asJson = binary(logits, 'FP32', {}, [{ name: 'probs', parameters: { binary_data: false } }]);
    let before = await poolTasks(app);
    const b = readAnswer(await infer(app, 'softmax', asBinary.body, asBinary.headers));
    expect(await poolTasks(app), 'binary answer: inline').toBe(before);
    before = await poolTasks(app);
    const j = readAnswer(await infer(app, 'softmax', asJson.body, asJson.headers));
    expect(await poolTasks(app), 'JSON answer: the pool').toBeGreaterThan(before);
    expect(valuesOf(b, 'probs')).toEqual(valuesOf(j, 'probs')); // FP32 either way, the same values
  });

  it('JSON outputs before binary ones in a streamed answer: the header length is measured', async () => {
    const logits = randomLogits(64, 2000, 21);
    const b = binary(logits, 'FP64', {}, [{ name: 'probs', parameters: { binary_data: false } }, { name: 'support', parameters: { binary_data: true } }]);
    const before = await poolTasks(app);
    const a = readAnswer(await infer(app, 'sparsemax', b.body, b.headers));
    expect(await poolTasks(app)).toBeGreaterThan(before);
    const v1 = jsonOf(await post(app, '/v1/sparsemax', { logits }));
    expect(valuesOf(a, 'probs')).toEqual(flat(v1.probs));
    expect(valuesOf(a, 'support')).toEqual(v1.support);
    expect(a.outputs.get('support')!.binary).toBe(true);
  });

  it('every model and output form: the same bytes inline and through the pool, split and streamed', async () => {
    const logits = randomLogits(12, 300, 3);
    // score needs its targets (its own test above).
    const cases = OP_NAMES.filter((o) => o !== 'score').flatMap((op): { op: OpName; params: Record<string, unknown> }[] =>
      op === 'sparsemax' || op === 'entmax'
        ? [{ op, params: {} }, { op, params: { format: 'sparse' } }]
        : [{ op, params: op === 'sample' ? { n: 3, seed: 5, logprobs: true, topLogprobs: 2 } : op === 'gumbel-softmax' ? { seed: 5 } : {} }],
    );
    for (const { op, params } of cases) {
      const sparse = 'format' in params;
      // The outputs these parameters answer with (format sparse: indices and values, not probs).
      const answered = (n: string) => n !== 'logProbs' && (op === 'sparsemax' || op === 'entmax' ? (sparse ? n !== 'probs' : n !== 'indices' && n !== 'values') : true);
      // Padded sparse outputs refuse classification (./v1.sparse.test.ts).
      for (const form of sparse ? (['json', 'binary', 'mixed'] as const) : (['json', 'binary', 'mixed', 'classify'] as const)) {
        // Padded (ragged) outputs refuse classification too.
        const ragged = (n: string) => form === 'classify' && n.startsWith('topLogprob');
        const names = jsonOf(await get(app, `/v2/models/${op}`))
          .outputs.map((o: { name: string }) => o.name)
          .filter((n: string) => answered(n) && !ragged(n));
        const outputs = names.map((name: string, k: number) => ({
          name,
          parameters: form === 'classify' ? { classification: name === 'indices' || name === 'support' ? 1 : 3 } : { binary_data: form === 'binary' || (form === 'mixed' && k % 2 === 1) },
        }));
        const b = binary(logits, 'FP32', params, outputs);
        const before = await poolTasks(paths);
        const viaPool = await infer(paths, op, b.body, b.headers);
        expect(await poolTasks(paths), `${op} ${form}: pool tasks`).toBeGreaterThan(before);
        const inline = await infer(app, op, b.body, b.headers);
        expect(viaPool.statusCode, viaPool.body.slice(0, 300)).toBe(200);
        expect(viaPool.rawPayload.equals(inline.rawPayload), `${op} ${form}`).toBe(true);
        expect(viaPool.headers['inference-header-content-length']).toBe(inline.headers['inference-header-content-length']);
        readAnswer(viaPool);
      }
    }
  });
});

describe('metrics', () => {
  it('request durations are labelled by protocol', async () => {
    await infer(app, 'softmax', jsonRequest([[1, 2]]));
    await post(app, '/v1/softmax', { logits: [[1, 2]] });
    await get(app, '/v2/nowhere');
    const m = await scrape(app);
    const count = 'anymax_http_request_duration_seconds_count';
    expect(promValue(m, count, { route: '/v2/models/:model/infer', method: 'POST', status: '200', protocol: 'v2' })).toBeGreaterThanOrEqual(1);
    expect(promValue(m, count, { route: '/v1/softmax', method: 'POST', status: '200', protocol: 'v1' })).toBeGreaterThanOrEqual(1);
    expect(promValue(m, count, { route: 'unmatched', method: 'GET', status: '404', protocol: 'v2' })).toBeGreaterThanOrEqual(1);
    for (const s of m.samples.filter((x) => x.name === count)) expect(['v1', 'v2']).toContain(s.labels.protocol);
  });
});
