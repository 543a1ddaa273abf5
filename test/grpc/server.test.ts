import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { FastifyInstance } from 'fastify';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { OPERATIONS, OP_NAMES } from '../../src/ops/index.js';
import { parseProm } from '../helpers/http.js';
import { healthClient, inferenceClient, param, tensorBytes, type InferenceClient, type Reply } from './client.js';
import { expectSame, grpcParams, inject, logitsOf, PARAMS, rest, sized, type Datatype } from './compare.js';

/**
 * The gRPC service (src/grpc) with the project's grpc-js client: every RPC, every model, the four
 * input datatypes in raw and typed contents against REST v2 (app.inject) byte for byte, seeded
 * draws, per-row inputs, the status codes of bad input (the server alive after each), limits,
 * deadlines, health, reflection, metrics and a graceful close.
 */

interface Served {
  app: FastifyInstance;
  client: InferenceClient;
  port: number;
}

async function serve(overrides: Parameters<typeof buildApp>[0]): Promise<Served> {
  const app = await buildApp({ logLevel: 'silent', ...overrides });
  await app.ready();
  const port = await app.grpc.listen('127.0.0.1', 0);
  return { app, port, client: inferenceClient(port) };
}

let main: Served;
/** Small limits. */
let tight: Served;
/** Every pool job times out; small jobs go to the pool. */
let slow: Served;
const TIGHT = { maxBodyBytes: 64 * 1024, maxElements: 50_000 };

beforeAll(async () => {
  [main, tight, slow] = await Promise.all([
    serve({ workers: 2 }),
    serve({ workers: 1, ...TIGHT }),
    serve({ workers: 1, requestTimeoutMs: 1, inlineMaxNs: 1_000, splitMinWork: 2048 }),
  ]);
});

afterAll(async () => {
  for (const s of [main, tight, slow]) s?.client.close();
  await Promise.all([main?.app.close(), tight?.app.close(), slow?.app.close()]);
});

/** A rejected call's status and details. */
async function refused(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (e) {
    const err = e as grpc.ServiceError;
    return { code: err.code, details: err.details };
  }
  throw new Error('the call succeeded');
}


describe('the metadata RPCs', () => {
  it('ServerLive, ServerReady, ServerMetadata', async () => {
    const c = main.client;
    expect(await c.call('ServerLive', {})).toEqual({ live: true });
    expect(await c.call('ServerReady', {})).toEqual({ ready: true });
    const meta = await c.call('ServerMetadata', {});
    const v2 = JSON.parse((await inject(main.app, { method: 'GET', url: '/v2' })).body);
    expect(meta).toEqual({ name: 'anymax', version: v2.version, extensions: ['classification', 'parameters'] });
  });

  it('ModelMetadata and ModelReady of every model (as REST v2), with version "" or "1"', async () => {
    for (const op of OPERATIONS) {
      const v2 = JSON.parse((await inject(main.app, { method: 'GET', url: `/v2/models/${op.name}` })).body);
      for (const version of ['', '1']) {
        const m = await main.client.call('ModelMetadata', { name: op.name, version });
        const tensors = (ts: Reply[]) => ts.map((t) => ({ ...t, shape: t.shape.map(Number) }));
        expect({ ...m, inputs: tensors(m.inputs), outputs: tensors(m.outputs) }).toEqual(v2);
        expect(await main.client.call('ModelReady', { name: op.name, version })).toEqual({ ready: true });
      }
    }
  });

  it('an unknown model or version is NOT_FOUND with REST\'s message, on every RPC that names one', async () => {
    const restMessage = async (url: string) => JSON.parse((await inject(main.app, { method: 'GET', url })).body).error;
    for (const method of ['ModelMetadata', 'ModelReady']) {
      expect(await refused(main.client.call(method, { name: 'softmaxx' }))).toEqual({ code: grpc.status.NOT_FOUND, details: await restMessage('/v2/models/softmaxx') });
      expect(await refused(main.client.call(method, { name: 'softmax', version: '2' }))).toEqual({
        code: grpc.status.NOT_FOUND,
        details: await restMessage('/v2/models/softmax/versions/2'),
      });
    }
    const infer = await refused(main.client.call('ModelInfer', { model_name: 'nope', inputs: [] }));
    expect(infer.code).toBe(grpc.status.NOT_FOUND);
    expect(infer.details).toBe(`unknown model "nope" (models: ${OP_NAMES.join(', ')})`);
    expect((await refused(main.client.call('ModelInfer', { model_name: 'argmax', model_version: '7' }))).code).toBe(grpc.status.NOT_FOUND);
  });
});

describe('ModelInfer against REST v2', () => {
  it.each(['FP64', 'FP32', 'FP16', 'BF16'] as Datatype[])('every model, %s raw_input_contents: the same outputs, bytes for bytes', async (datatype) => {
    const [rows, cols] = [3, 7];
    const { bytes } = logitsOf(rows, cols, datatype);
    for (const op of OPERATIONS) {
      const params = PARAMS[op.name];
      const targets = op.name === 'score' ? [Buffer.from(new BigInt64Array([2n, 0n, 6n]).buffer)] : [];
      const inputs = [
        { name: 'logits', datatype, shape: [rows, cols] },
        ...(targets.length ? [{ name: 'targets', datatype: 'INT64', shape: [rows] }] : []),
      ];
      const g = await main.client.call('ModelInfer', { model_name: op.name, id: `req-${op.name}`, parameters: grpcParams(params), inputs, raw_input_contents: [bytes, ...targets] });
      expect(g.model_name).toBe(op.name);
      expect(g.model_version).toBe('1');
      expect(g.id).toBe(`req-${op.name}`);
      const r = await rest(main.app, op.name, { parameters: { ...params, binary_data_output: true }, inputs: sized(inputs, [bytes, ...targets]) }, [bytes, ...targets]);
      expectSame(g, r);
      if (op.seeded) expect(g.parameters.seed).toEqual({ int64_param: String(params.seed), parameter_choice: 'int64_param' });
      else expect(g.parameters).toEqual({});
    }
  });

  it('typed contents (fp64_contents, fp32_contents, int64_contents) give what raw bytes give', async () => {
    for (const datatype of ['FP64', 'FP32'] as const) {
      const { bytes, values } = logitsOf(2, 5, datatype, 7);
      const field = datatype === 'FP64' ? 'fp64_contents' : 'fp32_contents';
      for (const op of ['softmax', 'sample', 'score']) {
        const params = grpcParams(PARAMS[op]);
        const score = op === 'score';
        const raw = await main.client.call('ModelInfer', {
          model_name: op,
          parameters: params,
          inputs: [{ name: 'logits', datatype, shape: [2, 5] }, ...(score ? [{ name: 'targets', datatype: 'INT64', shape: [2] }] : [])],
          raw_input_contents: [bytes, ...(score ? [Buffer.from(new BigInt64Array([4n, 1n]).buffer)] : [])],
        });
        const typed = await main.client.call('ModelInfer', {
          model_name: op,
          parameters: params,
          inputs: [
            { name: 'logits', datatype, shape: [2, 5], contents: { [field]: values } },
            ...(score ? [{ name: 'targets', datatype: 'INT64', shape: [2], contents: { int64_contents: ['4', '1'] } }] : []),
          ],
        });
        expect(typed.outputs).toEqual(raw.outputs);
        expect(typed.raw_output_contents).toEqual(raw.raw_output_contents);
      }
    }
  });

  it('seeded draws: an unseeded call answers its seed (int64_param), and REST v2 with that seed draws the same', async () => {
    const { bytes } = logitsOf(4, 9, 'FP32', 3);
    for (const [op, extra] of [['sample', { n: 5 }], ['gumbel-softmax', {}]] as const) {
      const g = await main.client.call('ModelInfer', { model_name: op, parameters: grpcParams(extra), inputs: [{ name: 'logits', datatype: 'FP32', shape: [4, 9] }], raw_input_contents: [bytes] });
      const seed = g.parameters.seed.int64_param as string;
      expect(g.parameters.seed.parameter_choice).toBe('int64_param');
      expect(Number.isSafeInteger(Number(seed))).toBe(true);
      const r = await rest(main.app, op, { parameters: { ...extra, seed: Number(seed), binary_data_output: true }, inputs: [{ name: 'logits', datatype: 'FP32', shape: [4, 9], parameters: { binary_data_size: bytes.length } }] }, [bytes]);
      expectSame(g, r);
    }
    // A seed past 2^53 as uint64_param: refused with REST's message, not rounded.
    const big = await refused(
      main.client.call('ModelInfer', { model_name: 'sample', parameters: { seed: { uint64_param: '9007199254740993' } }, inputs: [{ name: 'logits', datatype: 'FP32', shape: [4, 9] }], raw_input_contents: [bytes] }),
    );
    expect(big.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(big.details).toMatch(/seed/);
  });

  it('numbers as int64_param, double_param or uint64_param; booleans; the mapping as string_param; Triton\'s reserved keys ignored', async () => {
    const { bytes } = logitsOf(2, 6, 'FP64', 5);
    const call = (parameters: object) =>
      main.client.call('ModelInfer', { model_name: 'sample', parameters, inputs: [{ name: 'logits', datatype: 'FP64', shape: [2, 6] }], raw_input_contents: [bytes] });
    const a = await call({ seed: { int64_param: '9' }, n: { int64_param: '4' }, temperature: { double_param: 0.5 }, mapping: { string_param: 'sparsemax' }, replacement: { bool_param: true } });
    const b = await call({
      seed: { uint64_param: '9' },
      n: { double_param: 4 },
      temperature: { double_param: 0.5 },
      mapping: { string_param: 'sparsemax' },
      replacement: { bool_param: true },
      priority: { int64_param: '1' },
      timeout: { int64_param: '1000' },
      sequence_id: { int64_param: '3' },
      triton_enable_empty_final_response: { bool_param: false },
      binary_data_output: { bool_param: false },
    });
    expect(b.raw_output_contents).toEqual(a.raw_output_contents);
    const r = await rest(main.app, 'sample', { parameters: { seed: 9, n: 4, temperature: 0.5, mapping: 'sparsemax', replacement: true, binary_data_output: true }, inputs: [{ name: 'logits', datatype: 'FP64', shape: [2, 6], parameters: { binary_data_size: bytes.length } }] }, [bytes]);
    expectSame(a, r);
  });

  it('per-row inputs (sample\'s temperature and seed, one a row) in raw or typed contents, as REST v2', async () => {
    const { bytes, values } = logitsOf(3, 8, 'FP64', 11);
    const temps = [0.5, 1, 2];
    const seeds = [1n, 2n, 3n];
    const rawT = Buffer.from(new Float64Array(temps).buffer);
    const rawS = Buffer.from(new BigInt64Array(seeds).buffer);
    const inputs = [
      { name: 'logits', datatype: 'FP64', shape: [3, 8] },
      { name: 'temperature', datatype: 'FP64', shape: [3] },
      { name: 'seed', datatype: 'INT64', shape: [3, 1] },
    ];
    const parameters = grpcParams({ n: 4 });
    const g = await main.client.call('ModelInfer', { model_name: 'sample', parameters, inputs, raw_input_contents: [bytes, rawT, rawS] });
    const typed = await main.client.call('ModelInfer', {
      model_name: 'sample',
      parameters,
      inputs: [
        { ...inputs[0], contents: { fp64_contents: values } },
        { ...inputs[1], contents: { fp64_contents: temps } },
        { ...inputs[2], contents: { int64_contents: seeds.map(String) } },
      ],
    });
    expect(typed.raw_output_contents).toEqual(g.raw_output_contents);
    expectSame(g, await rest(main.app, 'sample', { parameters: { n: 4, binary_data_output: true }, inputs: sized(inputs, [bytes, rawT, rawS]) }, [bytes, rawT, rawS]));
  });

  it('requested outputs in their order; a classification output in Triton\'s raw BYTES form', async () => {
    const { bytes } = logitsOf(2, 5, 'FP32', 13);
    const g = await main.client.call('ModelInfer', {
      model_name: 'sparsemax',
      inputs: [{ name: 'logits', datatype: 'FP32', shape: [2, 5] }],
      raw_input_contents: [bytes],
      outputs: [{ name: 'support' }, { name: 'probs', parameters: { classification: { int64_param: '2' } } }],
    });
    expect(g.outputs.map((o: Reply) => [o.name, o.datatype, o.shape.map(Number)])).toEqual([
      ['support', 'INT64', [2]],
      ['probs', 'BYTES', [2, 2]],
    ]);
    // REST v2's classification strings, read back from the 4-byte-length-prefixed elements.
    const res = await inject(main.app, {
      method: 'POST',
      url: '/v2/models/sparsemax/infer',
      payload: Buffer.concat([Buffer.from(JSON.stringify({ inputs: [{ name: 'logits', datatype: 'FP32', shape: [2, 5], parameters: { binary_data_size: 40 } }], outputs: [{ name: 'probs', parameters: { classification: 2 } }] })), bytes]),
      headers: { 'inference-header-content-length': String(JSON.stringify({ inputs: [{ name: 'logits', datatype: 'FP32', shape: [2, 5], parameters: { binary_data_size: 40 } }], outputs: [{ name: 'probs', parameters: { classification: 2 } }] }).length) },
    });
    const want: string[] = JSON.parse(res.body).outputs[0].data;
    const raw: Buffer = g.raw_output_contents[1];
    const got: string[] = [];
    for (let at = 0; at < raw.length; ) {
      const n = raw.readUInt32LE(at);
      got.push(raw.toString('utf8', at + 4, at + 4 + n));
      at += 4 + n;
    }
    expect(got).toEqual(want);
    expect(got).toHaveLength(4);
  });

  it('the pool, split and shared-memory paths answer as the inline one', async () => {
    // 200 x 2000 FP32 (1.6 MB): a worker decodes it, and with n draws its work is split.
    const { bytes } = logitsOf(200, 2000, 'FP32', 17);
    const req = { model_name: 'sample', parameters: grpcParams({ seed: 5, n: 3 }), inputs: [{ name: 'logits', datatype: 'FP32', shape: [200, 2000] }], raw_input_contents: [bytes] };
    const g = await main.client.call('ModelInfer', req);
    const r = await rest(main.app, 'sample', { parameters: { seed: 5, n: 3, binary_data_output: true }, inputs: [{ name: 'logits', datatype: 'FP32', shape: [200, 2000], parameters: { binary_data_size: bytes.length } }] }, [bytes]);
    expectSame(g, r);
    const soft = await main.client.call('ModelInfer', { ...req, model_name: 'softmax', parameters: {} });
    expect(soft.raw_output_contents[0].length).toBe(200 * 2000 * 4);
    expectSame(soft, await rest(main.app, 'softmax', { parameters: { binary_data_output: true }, inputs: [{ name: 'logits', datatype: 'FP32', shape: [200, 2000], parameters: { binary_data_size: bytes.length } }] }, [bytes]));
  });
});

describe('refusals', () => {
  const two = tensorBytes([1, 2, 3, 4, 5, 6], 'FP32');
  const logits = (extra: object = {}) => ({ name: 'logits', datatype: 'FP32', shape: ['2', '3'], ...extra });
  const cases: [string, object, RegExp][] = [
    ['raw tensor of the wrong size', { model_name: 'softmax', inputs: [logits()], raw_input_contents: [two.subarray(0, 20)] }, /^raw_input_contents\[0\] has 20 bytes, but inputs\[0\] \(logits\) of shape \[2, 3\] and FP32 \(4 bytes an element\) is 24$/],
    ['typed values of the wrong count', { model_name: 'softmax', inputs: [logits({ contents: { fp32_contents: [1, 2, 3] } })] }, /contents.fp32_contents has 3 values, but shape \[2, 3\] is 6/],
    ['contents in the wrong field', { model_name: 'softmax', inputs: [logits({ contents: { fp64_contents: [1, 2, 3, 4, 5, 6] } })] }, /FP32 data goes in contents.fp32_contents \(got contents.fp64_contents\)/],
    ['FP16 as typed contents', { model_name: 'softmax', inputs: [logits({ datatype: 'FP16', contents: { fp32_contents: [1, 2, 3, 4, 5, 6] } })] }, /FP16 data must be sent in raw_input_contents/],
    ['raw and typed at once', { model_name: 'softmax', inputs: [logits({ contents: { fp32_contents: [1, 2, 3, 4, 5, 6] } })], raw_input_contents: [two] }, /has contents, and the request has raw_input_contents/],
    ['raw tensors not one per input', { model_name: 'softmax', inputs: [logits()], raw_input_contents: [two, two] }, /raw_input_contents has 2 tensors but there are 1 inputs/],
    ['no data', { model_name: 'softmax', inputs: [logits()] }, /inputs\[0\] \(logits\) has no data/],
    ['unknown parameter', { model_name: 'softmax', parameters: { temprature: param(1.5) }, inputs: [logits()], raw_input_contents: [two] }, /^unknown parameter\(s\): temprature \(softmax takes temperature, log, and Triton's reserved keys\)$/],
    ['a parameter of the wrong type', { model_name: 'softmax', parameters: { temperature: param('hot') }, inputs: [logits()], raw_input_contents: [two] }, /temperature/],
    ['a parameter with no value', { model_name: 'softmax', parameters: { temperature: {} }, inputs: [logits()], raw_input_contents: [two] }, /parameters.temperature has no value/],
    ['a NaN double_param', { model_name: 'softmax', parameters: { temperature: { double_param: Number.NaN } }, inputs: [logits()], raw_input_contents: [two] }, /parameters.temperature: double_param is NaN, not a finite number/],
    ['a shape of one dimension', { model_name: 'softmax', inputs: [logits({ shape: ['6'] })], raw_input_contents: [two] }, /inputs\[0\].shape must be \[rows, classes\]/],
    ['a negative dimension', { model_name: 'softmax', inputs: [logits({ shape: ['-2', '-3'] })], raw_input_contents: [two] }, /inputs\[0\].shape must be \[rows, classes\]/],
    ['a NaN element', { model_name: 'softmax', inputs: [logits()], raw_input_contents: [tensorBytes([1, 2, Number.NaN, 4, 5, 6], 'FP32')] }, /^logits\[0\]\[2\] \(element 2 of the binary data\) is NaN/],
    ['an unknown datatype', { model_name: 'softmax', inputs: [logits({ datatype: 'INT8' })], raw_input_contents: [two] }, /inputs\[0\].datatype must be one of FP64, FP32, FP16, BF16 \(got "INT8"\)/],
    ['an unknown input', { model_name: 'softmax', inputs: [logits({ name: 'x' })], raw_input_contents: [two] }, /inputs\[0\].name must be logits \(got "x"\)/],
    ['an unknown output', { model_name: 'softmax', inputs: [logits()], raw_input_contents: [two], outputs: [{ name: 'nope' }] }, /outputs\[0\].name: "nope" is not an output of softmax/],
    ['shared memory', { model_name: 'softmax', inputs: [logits({ parameters: { shared_memory_region: param('r') } })], raw_input_contents: [two] }, /shared memory is not supported/],
  ];
  it.each(cases)('%s: INVALID_ARGUMENT naming it, and the server answers the next call', async (_name, req, message) => {
    const r = await refused(main.client.call('ModelInfer', req));
    expect(r.code, r.details).toBe(grpc.status.INVALID_ARGUMENT);
    expect(r.details).toMatch(message);
    expect(await main.client.call('ServerLive', {})).toEqual({ live: true });
  });

  it('messages REST v2 shares are REST v2\'s, word for word', async () => {
    const nan = tensorBytes([1, 2, Number.NaN, 4, 5, 6], 'FP32');
    const g = await refused(main.client.call('ModelInfer', { model_name: 'softmax', parameters: { temperature: param(-1) }, inputs: [logits()], raw_input_contents: [nan] }));
    const header = JSON.stringify({ parameters: { temperature: -1 }, inputs: [{ name: 'logits', datatype: 'FP32', shape: [2, 3], parameters: { binary_data_size: 24 } }] });
    const res = await inject(main.app, { method: 'POST', url: '/v2/models/softmax/infer', payload: Buffer.concat([Buffer.from(header), nan]), headers: { 'inference-header-content-length': String(header.length) } });
    expect(res.statusCode).toBe(400);
    expect(g).toEqual({ code: grpc.status.INVALID_ARGUMENT, details: JSON.parse(res.body).error });
  });

  it('a message over MAX_BODY_BYTES and a matrix over MAX_ELEMENTS are RESOURCE_EXHAUSTED', async () => {
    const big = Buffer.alloc(TIGHT.maxBodyBytes + 1024);
    const over = await refused(tight.client.call('ModelInfer', { model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP64', shape: [1, big.length / 8] }], raw_input_contents: [big] }));
    expect(over.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(over.details).toMatch(/larger than max/i);
    const many = await refused(tight.client.call('ModelInfer', { model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP16', shape: [1, 60_000] }], raw_input_contents: [Buffer.alloc(2)] }));
    expect(many.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(many.details).toMatch(/50,?000/);
    expect(await tight.client.call('ServerLive', {})).toEqual({ live: true });
  });

  it('DEADLINE_EXCEEDED: the job past REQUEST_TIMEOUT_MS, or the call past its deadline; the server stays up', async () => {
    const { bytes } = logitsOf(64, 512, 'FP32', 19);
    const req = { model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP32', shape: [64, 512] }], raw_input_contents: [bytes] };
    const timedOut = await refused(slow.client.call('ModelInfer', req));
    expect(timedOut).toEqual({ code: grpc.status.DEADLINE_EXCEEDED, details: 'the job did not finish within 1 ms' });
    // The client's deadline (grpc-timeout) passes first: the call ends, its job is dropped.
    const big = logitsOf(256, 8000, 'FP32', 23).bytes;
    const late = await refused(main.client.call('ModelInfer', { ...req, inputs: [{ name: 'logits', datatype: 'FP32', shape: [256, 8000] }], raw_input_contents: [big] }, 1));
    expect(late.code).toBe(grpc.status.DEADLINE_EXCEEDED);
    expect((await main.client.call('ModelInfer', req)).raw_output_contents[0].length).toBe(64 * 512 * 4);
  });
});

describe('health, reflection, metrics, close', () => {
  it('grpc.health.v1 Check: SERVING for "" and the service once ready; NOT_FOUND for another name', async () => {
    const h = healthClient(main.port);
    expect(await h.check('')).toBe('SERVING');
    expect(await h.check('inference.GRPCInferenceService')).toBe('SERVING');
    expect((await refused(h.check('other.Service'))).code).toBe(grpc.status.NOT_FOUND);
    h.client.close();
  });

  it('server reflection lists the inference and health services', async () => {
    const file = fileURLToPath(new URL('../../node_modules/@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto', import.meta.url));
    const pkg = grpc.loadPackageDefinition(protoLoader.loadSync(file, { keepCase: true, defaults: true, oneofs: true })) as any; // eslint-disable-line @typescript-eslint/no-explicit-any
    const client = new pkg.grpc.reflection.v1.ServerReflection(`127.0.0.1:${main.port}`, grpc.credentials.createInsecure());
    const names = await new Promise<string[]>((resolve, reject) => {
      const stream = client.ServerReflectionInfo({ deadline: Date.now() + 2000 });
      stream.on('data', (res: Reply) => {
        resolve(res.list_services_response.service.map((s: { name: string }) => s.name));
        stream.end();
      });
      stream.on('error', reject);
      stream.write({ list_services: '' });
    });
    client.close();
    expect(names).toEqual(expect.arrayContaining(['inference.GRPCInferenceService', 'grpc.health.v1.Health']));
  });

  it('calls are in the request metrics with protocol="grpc" and the status\'s name; refusals are counted', async () => {
    await main.client.call('ServerLive', {});
    await main.client.call('ModelInfer', { model_name: 'argmax', inputs: [{ name: 'logits', datatype: 'FP64', shape: [1, 2], contents: { fp64_contents: [1, 2] } }] });
    await refused(main.client.call('ModelInfer', { model_name: 'softmax', inputs: [] }));
    const prom = parseProm((await inject(main.app, { method: 'GET', url: '/metrics' })).body);
    const count = (route: string, status: string) =>
      prom.samples
        .filter((s) => s.name === 'anymax_http_request_duration_seconds_count' && s.labels.protocol === 'grpc' && s.labels.route === route && s.labels.status === status)
        .reduce((n, s) => n + s.value, 0);
    expect(count('/inference.GRPCInferenceService/ServerLive', 'OK')).toBeGreaterThanOrEqual(1);
    expect(count('/inference.GRPCInferenceService/ModelInfer', 'OK')).toBeGreaterThanOrEqual(1);
    expect(count('/inference.GRPCInferenceService/ModelInfer', 'INVALID_ARGUMENT')).toBeGreaterThanOrEqual(1);
    expect(prom.samples.some((s) => s.name === 'anymax_rejected_requests_total' && s.labels.reason === 'invalid' && s.value >= 1)).toBe(true);
  });

  it('each call is one access-log line: route, protocol, the status\'s name, the batch shape, its duration', async () => {
    const lines: Record<string, unknown>[] = [];
    const logStream = new Writable({
      write(chunk: Buffer, _enc, cb) {
        for (const l of chunk.toString('utf8').split('\n')) if (l) lines.push(JSON.parse(l));
        cb();
      },
    });
    const s = await serve({ workers: 1, logLevel: 'info', logStream });
    try {
      await s.client.call('ModelInfer', { model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP64', shape: [2, 3], contents: { fp64_contents: [1, 2, 3, 4, 5, 6] } }] });
      await refused(s.client.call('ModelInfer', { model_name: 'softmax', inputs: [] }));
      const requests = lines.filter((l) => l.msg === 'request');
      expect(requests).toHaveLength(2);
      expect(requests[0]).toMatchObject({ route: '/inference.GRPCInferenceService/ModelInfer', protocol: 'grpc', status: 'OK', rows: 2, cols: 3 });
      expect(requests[0].durationMs).toBeGreaterThan(0);
      expect(requests[1]).toMatchObject({ route: '/inference.GRPCInferenceService/ModelInfer', protocol: 'grpc', status: 'INVALID_ARGUMENT' });
      expect(requests[1].rows).toBeUndefined();
    } finally {
      s.client.close();
      await s.app.close();
    }
  });

  it('close: a call in flight completes, a new one is UNAVAILABLE, a health Watch sees NOT_SERVING', async () => {
    const s = await serve({ workers: 1, inlineMaxNs: 1_000 });
    const h = healthClient(s.port);
    const seen: string[] = [];
    const watch = h.client.Watch({ service: 'inference.GRPCInferenceService' });
    watch.on('data', (r: { status: string }) => seen.push(r.status));
    watch.on('error', () => {}); // cut off when the server closes
    await waitFor(() => seen.includes('SERVING'));
    const { bytes } = logitsOf(128, 4000, 'FP32', 29);
    const req = { model_name: 'sample', parameters: grpcParams({ seed: 1, n: 8 }), inputs: [{ name: 'logits', datatype: 'FP32', shape: [128, 4000] }], raw_input_contents: [bytes] };
    await s.client.call('ServerLive', {});
    const inFlight = s.client.call('ModelInfer', req);
    // Once its job is on the worker, close the app.
    await waitBusy(s.app);
    const closed = s.app.close();
    const late = await refused(s.client.call('ServerLive', {}));
    expect(late.code).toBe(grpc.status.UNAVAILABLE);
    const answer = await inFlight;
    expect(answer.raw_output_contents[0].length).toBe(128 * 8 * 8);
    await closed;
    // (NOT_SERVING may come first, while the workers start.)
    expect(seen.slice(-2)).toEqual(['SERVING', 'NOT_SERVING']);
    h.client.close();
    s.client.close();
  });
});

async function waitFor(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 400 && !ok(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!ok()) throw new Error('timed out waiting');
}

async function waitBusy(app: FastifyInstance): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (app.metrics.poolProbe.busyWorkers() > 0) return;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error('the job never reached a worker');
}
