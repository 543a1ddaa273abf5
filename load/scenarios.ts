/**
 * The load scenarios of load/run.ts: request bodies (deterministic: the same bytes every run),
 * autocannon connections, the target each is compared against, and a correctness check of one
 * response, run before the scenario is loaded.
 *
 * Connections (per scenario, overridable with --connections):
 *  - small bodies (hello, sample 1x50): 64. The main thread does all the work of a request
 *    (inline path), so this only has to keep the event loop's accept/read queue non-empty; 64
 *    is well past the knee of req/s vs connections on 2 cores and keeps p99 readable.
 *  - big bodies (sample 8x32000, ~2.4 MB; softmax 64x1000, ~0.6 MB in, ~1.3 MB out): 8 and 16.
 *    Each request is a few ms of worker time; a handful of requests in flight per worker keeps
 *    the pool busy while the main thread reads the next bodies, and more connections would only
 *    add queueing latency (and memory: every connection's body is in flight at once).
 *  - softmax 64x32000 (v1: ~19 MB in, ~40 MB out; v2 binary FP32: 8 MB each way): 4, as the
 *    issue's FastAPI figure; a request is tens to hundreds of ms of pool work.
 *  - sample 1x128256 BF16 (a decode step): 1, the latency of one request on an idle service.
 *
 * The OIP v2 scenarios (issue 8, part 3) sit next to the /v1 scenario they are compared with and
 * send the same matrix: /v2 JSON with the same number text, or binary FP32 / BF16 of the same
 * values (the float32 nearest each, as a client holding float32 logits sends them). Binary bodies
 * are sent as tritonclient sends them: no Content-Type, the JSON header's length in
 * Inference-Header-Content-Length.
 */

import { rng } from '../test/helpers/stats.js';
import { encodeRequest, MODEL_INFER } from './grpc-load.js';

export type Target =
  /** req/s at least `min` times the hello ceiling's. */
  | { kind: 'ratio'; min: number }
  | { kind: 'rps'; min: number }
  /** req/s at least `min` times that of scenario `key` in the same run (skipped when it did not run). */
  | { kind: 'vs'; key: string; min: number }
  /** Median latency (from every response's time, not autocannon's 1 ms histogram) at most `maxMs`. */
  | { kind: 'p50'; maxMs: number }
  | { kind: 'none' };

/** A response, as the harness got it. */
export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface Scenario {
  /** Key for --only. */
  key: string;
  /** Name printed in the table. */
  name: string;
  /** Which child process it loads (grpc-hello: load/grpc-hello.mjs, gRPC's ceiling). */
  server: 'hello' | 'grpc-hello' | 'service';
  path: string;
  body: string | Buffer;
  /** Request headers (the /v1 scenarios: Content-Type application/json). */
  headers: Record<string, string>;
  connections: number;
  target: Target;
  /** Checks one 200 response; throws an Error that says what is wrong. */
  check(reply: Reply): void;
  /**
   * A gRPC scenario (ModelInfer on GRPC_PORT, loaded by ./grpc-load.ts): `body` is the
   * serialised ModelInferRequest, `connections` the calls in flight over `channels` HTTP/2
   * connections. Its check is against `twin`, a REST v2 binary scenario of the same matrix: the
   * twin's answer is checked as usual, and the gRPC answer's raw_output_contents must be its
   * binary outputs byte for byte. Without a twin (the grpc-hello ceiling), the answer must be
   * the request's bytes.
   */
  grpc?: { twin?: string; channels: number };
  /** The key of the scenario whose req/s the table's `vs hello` column divides by (default hello). */
  ceiling?: string;
}

const JSON_HEADERS = { 'content-type': 'application/json' };

/**
 * HTTP/2 connections of the gRPC scenarios' generator (--channels overrides). A connection lands
 * on one serving process of the cluster (as a gRPC client's does), so one would leave the other
 * process idle; chosen by measurement (load/README.md).
 */
const GRPC_CHANNELS = 2;

/** mulberry32, the tests' seeded generator: the bodies are identical across runs. */
const prng = rng;

/**
 * rows x cols logits ~ N(0, 2^2), written with 6 decimals (e.g. -1.234567): about 9.5 bytes per
 * entry with its comma, so 8 x 32000 is ~2.4 MB of JSON, as a client sending float32 logits
 * rounded for the wire would send.
 */
export function logits(rows: number, cols: number, seed: number): number[][] {
  const rnd = prng(seed);
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const row = new Array<number>(cols);
    for (let j = 0; j < cols; j++) {
      const u1 = 1 - rnd();
      const u2 = rnd();
      const g = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      row[j] = Number((2 * g).toFixed(6));
    }
    out.push(row);
  }
  return out;
}

function fail(what: string, detail: string): never {
  throw new Error(`${what}: ${detail}`);
}

function parseJsonResponse(what: string, { status, headers, body: bytes }: Reply): Record<string, unknown> {
  const body = bytes.toString('utf8');
  const contentType = String(headers['content-type'] ?? '');
  if (status !== 200) fail(what, `status ${status}, body ${body.slice(0, 300)}`);
  if (!contentType.startsWith('application/json')) fail(what, `content-type ${JSON.stringify(contentType)}`);
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    fail(what, `response is not JSON (${(e as Error).message}): ${body.slice(0, 300)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(what, 'response is not a JSON object');
  return v as Record<string, unknown>;
}

function keysAre(what: string, o: Record<string, unknown>, keys: string[]): void {
  const got = Object.keys(o).sort().join(',');
  if (got !== [...keys].sort().join(',')) fail(what, `response keys are {${got}}, expected {${keys.join(',')}}`);
}

/** {samples: rows x n integers in [0, cols), seed}. */
function checkSample(what: string, rows: number, cols: number, n: number, seed: number) {
  return (reply: Reply): void => {
    const o = parseJsonResponse(what, reply);
    keysAre(what, o, ['samples', 'seed']);
    if (o.seed !== seed) fail(what, `seed is ${JSON.stringify(o.seed)}, expected ${seed}`);
    const s = o.samples;
    if (!Array.isArray(s) || s.length !== rows) fail(what, `samples is not an array of ${rows} rows`);
    s.forEach((row: unknown, r) => {
      if (!Array.isArray(row) || row.length !== n) fail(what, `samples[${r}] is not an array of ${n} draws`);
      row.forEach((k: unknown, d) => {
        if (!Number.isInteger(k) || (k as number) < 0 || (k as number) >= cols) {
          fail(what, `samples[${r}][${d}] = ${JSON.stringify(k)} is not a class index in [0, ${cols})`);
        }
      });
    });
  };
}

/** {probs: rows x cols}, each entry within 1e-12 (relative) of a plain float64 softmax. */
function checkSoftmax(what: string, z: number[][]) {
  return (reply: Reply): void => {
    const o = parseJsonResponse(what, reply);
    keysAre(what, o, ['probs']);
    const p = o.probs;
    if (!Array.isArray(p) || p.length !== z.length) fail(what, `probs is not an array of ${z.length} rows`);
    z.forEach((zr, r) => {
      const pr = p[r] as unknown;
      if (!Array.isArray(pr) || pr.length !== zr.length) fail(what, `probs[${r}] is not an array of ${zr.length}`);
      checkSoftmaxRow(what, r, zr, (j) => pr[j] as unknown, 1e-12);
    });
  };
}

/** One row of probabilities against a plain float64 softmax of zr, within `rel` (relative). */
function checkSoftmaxRow(what: string, r: number, zr: ArrayLike<number>, got: (j: number) => unknown, rel: number): void {
  let m = -Infinity;
  for (let j = 0; j < zr.length; j++) m = Math.max(m, zr[j]);
  const e = Array.from(zr, (v) => Math.exp(v - m));
  const sum = e.reduce((a, b) => a + b, 0);
  let total = 0;
  for (let j = 0; j < zr.length; j++) {
    const g = got(j);
    const want = e[j] / sum;
    if (typeof g !== 'number' || !(g >= 0 && g <= 1)) fail(what, `probs[${r}][${j}] = ${JSON.stringify(g)} is not in [0, 1]`);
    if (Math.abs(g - want) > rel * want + 1e-300) fail(what, `probs[${r}][${j}] = ${g}, reference softmax ${want}`);
    total += g;
  }
  if (Math.abs(total - 1) > 1e-6) fail(what, `probs[${r}] sums to ${total}`);
}

// ---------------------------------------------------------------------------------------------
// OIP v2 (issue 8): bodies written from the protocol's text (Triton's binary tensor data
// extension), answers read back, independent of src/codecs.

/** Little-endian float32 bytes of the values (each rounded to the nearest float32). */
function fp32Bytes(z: number[][]): Buffer {
  const cols = z[0].length;
  const out = Buffer.alloc(z.length * cols * 4);
  z.forEach((row, r) => row.forEach((v, j) => out.writeFloatLE(v, (r * cols + j) * 4)));
  return out;
}

/** Little-endian bfloat16 bytes: the float32's high half, rounded to nearest even. */
function bf16Bytes(z: number[][]): Buffer {
  const cols = z[0].length;
  const f = new Float32Array(1);
  const u = new Uint32Array(f.buffer);
  const out = Buffer.alloc(z.length * cols * 2);
  z.forEach((row, r) =>
    row.forEach((v, j) => {
      f[0] = v;
      out.writeUInt16LE(((u[0] + 0x7fff + ((u[0] >>> 16) & 1)) >>> 16) & 0xffff, (r * cols + j) * 2);
    }),
  );
  return out;
}

/** A binary request as tritonclient sends it: the JSON header, the tensor; no Content-Type. */
function binaryBody(model: string, parameters: Record<string, unknown>, datatype: string, shape: number[], tensor: Buffer) {
  const header = Buffer.from(
    JSON.stringify({
      parameters: { ...parameters, binary_data_output: true },
      inputs: [{ name: 'logits', datatype, shape, parameters: { binary_data_size: tensor.length } }],
    }),
  );
  return { path: `/v2/models/${model}/infer`, body: Buffer.concat([header, tensor]), headers: { 'inference-header-content-length': String(header.length) } };
}

/** The same request as gRPC: a ModelInferRequest with the tensor in raw_input_contents. */
function grpcBody(model: string, parameters: Record<string, number>, datatype: string, shape: number[], tensor: Buffer) {
  const body = encodeRequest({
    model_name: model,
    parameters: Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, { int64_param: String(v) }])),
    inputs: [{ name: 'logits', datatype, shape: shape.map(String) }],
    raw_input_contents: [tensor],
  });
  return { path: MODEL_INFER, body, headers: {} };
}

/** A gRPC scenario's check runs in load/run.ts (against its twin); this one is never called. */
const grpcCheck = () => fail('gRPC', 'checked against its twin by load/run.ts');

interface OipOutput {
  datatype: string;
  shape: number[];
  data?: unknown[];
  /** Binary data. */
  bytes?: Buffer;
}

/** An OIP answer: its header and its outputs by name (binary ones sliced from after the header). */
function readOip(what: string, model: string, reply: Reply): { header: Record<string, unknown>; outputs: Map<string, OipOutput> } {
  const { status, headers, body } = reply;
  if (status !== 200) fail(what, `status ${status}, body ${body.subarray(0, 300).toString('utf8')}`);
  const given = headers['inference-header-content-length'];
  const length = given === undefined ? body.length : Number(given);
  if (!(length >= 0 && length <= body.length)) fail(what, `Inference-Header-Content-Length ${JSON.stringify(given)} for a ${body.length}-byte body`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(body.subarray(0, length).toString('utf8'));
  } catch (e) {
    fail(what, `the answer's header is not JSON (${(e as Error).message})`);
  }
  if (header.model_name !== model || header.model_version !== '1') fail(what, `model ${JSON.stringify(header.model_name)} version ${JSON.stringify(header.model_version)}`);
  const outputs = new Map<string, OipOutput>();
  let at = length;
  for (const o of header.outputs as { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size?: number } }[]) {
    const size = o.parameters?.binary_data_size;
    const out: OipOutput = { datatype: o.datatype, shape: o.shape, data: o.data };
    if (size !== undefined) {
      out.bytes = body.subarray(at, at + size);
      at += size;
    }
    outputs.set(o.name, out);
  }
  if (at !== body.length) fail(what, `${body.length - at} bytes after the outputs' binary data`);
  return { header, outputs };
}

/** OIP sample: parameters.seed, and samples INT64 [rows, n] of class indices, binary or JSON. */
function checkOipSample(what: string, rows: number, cols: number, n: number, seed: number, binary: boolean) {
  return (reply: Reply): void => {
    const { header, outputs } = readOip(what, 'sample', reply);
    if ((header.parameters as { seed?: unknown } | undefined)?.seed !== seed) fail(what, `parameters.seed is not ${seed}`);
    const s = outputs.get('samples');
    if (!s || s.datatype !== 'INT64' || s.shape.join() !== `${rows},${n}`) fail(what, `samples is not INT64 [${rows}, ${n}]`);
    if (binary !== (s.bytes !== undefined)) fail(what, `samples ${binary ? 'not ' : ''}in binary`);
    const values = s.bytes ? Array.from({ length: rows * n }, (_, k) => Number(s.bytes!.readBigInt64LE(8 * k))) : (s.data as unknown[]);
    if (values.length !== rows * n) fail(what, `${values.length} samples`);
    values.forEach((k, i) => {
      if (!Number.isInteger(k) || (k as number) < 0 || (k as number) >= cols) fail(what, `sample ${i} = ${JSON.stringify(k)} is not a class index in [0, ${cols})`);
    });
  };
}

/** OIP softmax, FP32 binary: probs [rows, cols], each the float32 of the float64 softmax of the float32 logits. */
function checkOipSoftmaxFp32(what: string, z: number[][]) {
  return (reply: Reply): void => {
    const { outputs } = readOip(what, 'softmax', reply);
    const p = outputs.get('probs');
    const rows = z.length;
    const cols = z[0].length;
    if (!p || p.datatype !== 'FP32' || p.shape.join() !== `${rows},${cols}` || p.bytes?.length !== rows * cols * 4) {
      fail(what, `probs is not FP32 [${rows}, ${cols}] in binary`);
    }
    z.forEach((zr, r) => {
      // Computed in float64, rounded once to float32: within 2^-24 relative (and the kernel's 1e-12).
      checkSoftmaxRow(what, r, zr.map(Math.fround), (j) => p.bytes!.readFloatLE((r * cols + j) * 4), 2 ** -24 + 1e-12);
    });
  };
}

export function scenarios(): Scenario[] {
  const small = logits(1, 50, 1);
  const smallBody = JSON.stringify({ logits: small, n: 1, seed: 1 });
  const big = logits(8, 32000, 2);
  const sm = logits(64, 1000, 3);
  const wide = logits(64, 32000, 4);
  const smallGrpc = grpcBody('sample', { n: 1, seed: 1 }, 'FP32', [1, 50], fp32Bytes(small));
  const wideGrpc = grpcBody('softmax', {}, 'FP32', [64, 32000], fp32Bytes(wide));
  return [
    {
      key: 'hello',
      name: 'hello (bare Fastify)',
      server: 'hello',
      path: '/hello',
      body: smallBody,
      headers: JSON_HEADERS,
      connections: 64,
      target: { kind: 'none' },
      check: (reply) => {
        const o = parseJsonResponse('hello', reply);
        if (o.ok !== true || o.rows !== 1) fail('hello', `unexpected answer ${reply.body.toString('utf8')}`);
      },
    },
    {
      key: 'sample-1x50',
      name: 'sample 1x50',
      server: 'service',
      path: '/v1/sample',
      body: smallBody,
      headers: JSON_HEADERS,
      connections: 64,
      target: { kind: 'ratio', min: 0.6 },
      check: checkSample('sample 1x50', 1, 50, 1, 1),
    },
    {
      key: 'sample-1x50-v2',
      name: 'sample 1x50 v2 JSON',
      server: 'service',
      path: '/v2/models/sample/infer',
      // The same numbers as /v1's body, as an FP64 tensor (flat, as tritonclient writes JSON data).
      body: JSON.stringify({ parameters: { n: 1, seed: 1 }, inputs: [{ name: 'logits', datatype: 'FP64', shape: [1, 50], data: small.flat() }] }),
      headers: JSON_HEADERS,
      connections: 64,
      target: { kind: 'vs', key: 'sample-1x50', min: 0.85 },
      check: checkOipSample('sample 1x50 v2 JSON', 1, 50, 1, 1, false),
    },
    {
      key: 'sample-1x50-v2-fp32',
      name: 'sample 1x50 v2 FP32',
      server: 'service',
      ...binaryBody('sample', { n: 1, seed: 1 }, 'FP32', [1, 50], fp32Bytes(small)),
      connections: 64,
      target: { kind: 'none' },
      check: checkOipSample('sample 1x50 v2 FP32', 1, 50, 1, 1, true),
    },
    {
      key: 'grpc-hello-1x50',
      name: 'grpc hello 1x50 (bare grpc-js)',
      server: 'grpc-hello',
      ...smallGrpc,
      connections: 64,
      grpc: { channels: GRPC_CHANNELS },
      target: { kind: 'none' },
      check: grpcCheck,
    },
    {
      key: 'sample-1x50-grpc',
      name: 'sample 1x50 gRPC FP32',
      server: 'service',
      ...smallGrpc,
      connections: 64,
      grpc: { twin: 'sample-1x50-v2-fp32', channels: GRPC_CHANNELS },
      ceiling: 'grpc-hello-1x50',
      target: { kind: 'vs', key: 'sample-1x50-v2-fp32', min: 1 },
      check: grpcCheck,
    },
    {
      key: 'sample-8x32000',
      name: 'sample 8x32000',
      server: 'service',
      path: '/v1/sample',
      body: JSON.stringify({ logits: big, n: 1, seed: 1 }),
      headers: JSON_HEADERS,
      connections: 8,
      target: { kind: 'rps', min: 105 },
      check: checkSample('sample 8x32000', 8, 32000, 1, 1),
    },
    {
      key: 'sample-8x32000-v2',
      name: 'sample 8x32000 v2 FP32',
      server: 'service',
      ...binaryBody('sample', { n: 1, seed: 1 }, 'FP32', [8, 32000], fp32Bytes(big)),
      connections: 8,
      target: { kind: 'vs', key: 'sample-8x32000', min: 5 },
      check: checkOipSample('sample 8x32000 v2 FP32', 8, 32000, 1, 1, true),
    },
    {
      key: 'softmax-64x1000',
      name: 'softmax 64x1000',
      server: 'service',
      path: '/v1/softmax',
      body: JSON.stringify({ logits: sm }),
      headers: JSON_HEADERS,
      connections: 16,
      target: { kind: 'rps', min: 190 },
      check: checkSoftmax('softmax 64x1000', sm),
    },
    {
      key: 'softmax-64x32000',
      name: 'softmax 64x32000',
      server: 'service',
      path: '/v1/softmax',
      body: JSON.stringify({ logits: wide }),
      headers: JSON_HEADERS,
      connections: 4,
      target: { kind: 'none' },
      check: checkSoftmax('softmax 64x32000', wide),
    },
    {
      key: 'softmax-64x32000-v2',
      name: 'softmax 64x32000 v2 FP32',
      server: 'service',
      ...binaryBody('softmax', {}, 'FP32', [64, 32000], fp32Bytes(wide)),
      connections: 4,
      target: { kind: 'vs', key: 'softmax-64x32000', min: 10 },
      check: checkOipSoftmaxFp32('softmax 64x32000 v2 FP32', wide),
    },
    {
      key: 'grpc-hello-64x32000',
      name: 'grpc hello 64x32000 (bare grpc-js)',
      server: 'grpc-hello',
      ...wideGrpc,
      connections: 4,
      grpc: { channels: GRPC_CHANNELS },
      target: { kind: 'none' },
      check: grpcCheck,
    },
    {
      key: 'softmax-64x32000-grpc',
      name: 'softmax 64x32000 gRPC FP32',
      server: 'service',
      ...wideGrpc,
      connections: 4,
      grpc: { twin: 'softmax-64x32000-v2', channels: GRPC_CHANNELS },
      ceiling: 'grpc-hello-64x32000',
      target: { kind: 'vs', key: 'softmax-64x32000-v2', min: 1 },
      check: grpcCheck,
    },
    {
      key: 'sample-1x128256-bf16',
      name: 'sample 1x128256 v2 BF16',
      server: 'service',
      ...binaryBody('sample', { n: 1, seed: 1 }, 'BF16', [1, 128256], bf16Bytes(logits(1, 128256, 5))),
      connections: 1,
      target: { kind: 'p50', maxMs: 2 },
      check: checkOipSample('sample 1x128256 v2 BF16', 1, 128256, 1, 1, true),
    },
  ];
}
