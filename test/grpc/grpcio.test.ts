import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { OPERATIONS, OP_NAMES } from '../../src/ops/index.js';
import { SERVICE } from '../../src/grpc/server.js';
import { tensorBytes, type Reply } from './client.js';
import { binaryRequest } from '../helpers/oip.js';
import { expectSame, grpcParams, inject, logitsOf, PARAMS, rest, sized } from './compare.js';

/**
 * The gRPC service through a client that is not ours: Python's grpcio (gRPC's C core, the
 * transport under tritonclient.grpc) with stubs grpc_tools.protoc generates from
 * proto/grpc_service.proto, run by ./grpcio_calls.py. Its HTTP/2, deadlines and protobuf parser
 * (the C++ one of python3-protobuf) read what the service writes, including the big answers it
 * encodes by hand into reused memory (src/grpc/server.ts). Needs a python3 with grpc and
 * grpc_tools (Debian: python3-grpcio python3-grpc-tools, which .ci/run installs); without one,
 * skipped with a message, except under CI.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUNNER = fileURLToPath(new URL('./grpcio_calls.py', import.meta.url));

function imports(cmd: string, modules: string): boolean {
  try {
    execFileSync(cmd, ['-c', `import ${modules}`], { stdio: 'ignore', timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** The first python3 that imports grpc and grpc_tools (pyenv's python3 may lack Debian's packages). */
const python = ['python3', '/usr/bin/python3'].find((cmd) => imports(cmd, 'grpc, grpc_tools'));
/** README's example needs numpy too. */
const numpy = python !== undefined && imports(python, 'numpy');
if ((!python || !numpy) && process.env.CI) throw new Error('no python3 with grpcio, grpc_tools and numpy, and CI must run this check (.ci/run installs python3-grpcio python3-grpc-tools python3-numpy)');
if (!python) console.warn('skipping the grpcio tests: no python3 with grpc and grpc_tools (apt-get install python3-grpcio python3-grpc-tools)');
else if (!numpy) console.warn("skipping README's grpcio example: its python3 has no numpy (apt-get install python3-numpy)");

interface Outcome {
  results: ({ ok: Reply } | { code: string; details: string })[];
  health: number[];
  versions: { grpcio: string; protobuf: string };
}

interface Call {
  method: string;
  request?: Record<string, unknown>;
  timeout?: number;
}

let stubs: string;
let app: FastifyInstance;
let port: number;
/** MAX_BODY_BYTES 64 KiB. */
let tight: FastifyInstance;
let tightPort: number;

beforeAll(async () => {
  if (!python) return;
  stubs = mkdtempSync(path.join(os.tmpdir(), 'anymax-grpcio-'));
  execFileSync(python, ['-m', 'grpc_tools.protoc', '-Iproto', `--python_out=${stubs}`, `--grpc_python_out=${stubs}`, 'proto/grpc_service.proto'], { cwd: ROOT, timeout: 60_000 });
  [app, tight] = await Promise.all([buildApp({ logLevel: 'silent', workers: 2 }), buildApp({ logLevel: 'silent', workers: 1, maxBodyBytes: 64 * 1024 })]);
  await Promise.all([app.ready(), tight.ready()]);
  [port, tightPort] = await Promise.all([app.grpc.listen('127.0.0.1', 0), tight.grpc.listen('127.0.0.1', 0)]);
}, 120_000);

afterAll(async () => {
  await Promise.all([app?.close(), tight?.close()]);
  if (stubs) rmSync(stubs, { recursive: true, force: true });
});

/** Runs the calls (and health checks) in one grpcio process against a port. */
function grpcio(target: number, calls: Call[], health: string[] = []): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = execFile(python!, ['-I', RUNNER], { timeout: 120_000, maxBuffer: 256 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`));
      else resolve(JSON.parse(stdout) as Outcome);
    });
    child.stdin!.end(JSON.stringify({ target: `127.0.0.1:${target}`, stubs, calls, health }));
  });
}

const b64 = (b: Buffer) => b.toString('base64');

/** A grpcio answer (protobuf's JSON mapping), raw outputs as Buffers (expectSame reads them so). */
function decoded(r: Outcome['results'][number]): Reply {
  if (!('ok' in r)) throw new Error(`the call failed: ${r.code}: ${r.details}`);
  if (!('raw_output_contents' in r.ok)) return r.ok;
  return { ...r.ok, raw_output_contents: (r.ok.raw_output_contents as string[]).map((s) => Buffer.from(s, 'base64')) };
}

/** README's Python example (the block after "Python with grpcio"), and what README says it prints. */
function readmeExample(): { code: string; printed: string } {
  const readme = readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf('Python with grpcio');
  const printed = /it printed `([^`]+)`/.exec(readme.slice(at))![1];
  const block = /```python\n([\s\S]*?)```/.exec(readme.slice(at))![1];
  return { code: block, printed };
}

describe.skipIf(!python)('grpcio (gRPC C core) with stubs generated from proto/grpc_service.proto', () => {
  it.skipIf(!numpy)('README\'s Python example prints what README says it prints', async () => {
    const { code, printed } = readmeExample();
    expect(code).toContain('localhost:8081');
    const run = `import sys\nsys.path.insert(0, ${JSON.stringify(stubs)})\n${code.replace('localhost:8081', `127.0.0.1:${port}`)}`;
    const out = await new Promise<string>((resolve, reject) =>
      execFile(python!, ['-c', run], { timeout: 60_000 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout))),
    );
    expect(out.trim()).toBe(printed);
  });

  it('the metadata RPCs and health (Check of "" and the service name) answer as over REST v2', async () => {
    const calls: Call[] = [
      { method: 'ServerLive' },
      { method: 'ServerReady' },
      { method: 'ServerMetadata' },
      ...OPERATIONS.flatMap((op) => [
        { method: 'ModelReady', request: { name: op.name } },
        { method: 'ModelMetadata', request: { name: op.name, version: '1' } },
      ]),
    ];
    const out = await grpcio(port, calls, ['', SERVICE]);
    const [live, ready, meta, ...models] = out.results.map(decoded);
    expect(live).toEqual({ live: true });
    expect(ready).toEqual({ ready: true });
    const v2 = JSON.parse((await inject(app, { method: 'GET', url: '/v2' })).body);
    expect(meta).toEqual({ name: 'anymax', version: v2.version, extensions: ['classification', 'parameters'] });
    for (const [k, op] of OPERATIONS.entries()) {
      expect(models[2 * k]).toEqual({ ready: true });
      const m = models[2 * k + 1];
      const rest = JSON.parse((await inject(app, { method: 'GET', url: `/v2/models/${op.name}` })).body);
      // The JSON mapping writes int64 as text and leaves empty fields out.
      const tensors = (ts: Reply[]) => ts.map((t) => ({ ...t, shape: t.shape.map(Number) }));
      expect({ ...m, inputs: tensors(m.inputs), outputs: tensors(m.outputs) }).toEqual(rest);
    }
    expect(out.health).toEqual([1, 1]); // SERVING
  });

  it('ModelInfer, every model: FP32 and BF16 raw_input_contents, FP64 in contents; the same outputs, bytes and seeds as REST v2', async () => {
    const [rows, cols] = [3, 7];
    const cases = OPERATIONS.flatMap((op) =>
      ([['FP32', false], ['BF16', false], ['FP64', true]] as const).map(([datatype, typed]) => ({ op: op.name, datatype, typed, ...logitsOf(rows, cols, datatype, 11) })),
    );
    const targets = Buffer.from(new BigInt64Array([2n, 0n, 6n]).buffer);
    const calls: Call[] = cases.map(({ op, datatype, typed, bytes, values }) => {
      const score = op === 'score';
      const logits = { name: 'logits', datatype, shape: [String(rows), String(cols)], ...(typed ? { contents: { fp64_contents: values } } : {}) };
      const target = { name: 'targets', datatype: 'INT64', shape: [String(rows)], ...(typed ? { contents: { int64_contents: ['2', '0', '6'] } } : {}) };
      return {
        method: 'ModelInfer',
        request: {
          model_name: op,
          id: `py-${op}-${datatype}`,
          parameters: grpcParams(PARAMS[op]),
          inputs: score ? [logits, target] : [logits],
          ...(typed ? {} : { raw_input_contents: [b64(bytes), ...(score ? [b64(targets)] : [])] }),
        },
      };
    });
    const out = await grpcio(port, calls);
    for (const [k, { op, datatype, bytes }] of cases.entries()) {
      const g = decoded(out.results[k]);
      expect(g.model_name).toBe(op);
      expect(g.model_version).toBe('1');
      expect(g.id).toBe(`py-${op}-${datatype}`);
      const tensors = op === 'score' ? [bytes, targets] : [bytes];
      const inputs = [{ name: 'logits', datatype, shape: [rows, cols] }, ...(op === 'score' ? [{ name: 'targets', datatype: 'INT64', shape: [rows] }] : [])];
      const r = await rest(app, op, { parameters: { ...PARAMS[op], binary_data_output: true }, inputs: sized(inputs, tensors) }, tensors);
      expectSame(g, r);
      const seeded = OPERATIONS.find((o) => o.name === op)!.seeded;
      expect(g.parameters, `${op} ${datatype}`).toEqual(seeded ? { seed: { int64_param: String(PARAMS[op].seed) } } : undefined);
    }
  });

  it('an 8 MB answer (softmax 64x32000 FP32, encoded into reused memory) parses, and is REST v2 binary\'s bytes', async () => {
    const [rows, cols] = [64, 32000];
    const bytes = tensorBytes(Float32Array.from({ length: rows * cols }, (_, j) => Math.sin(j * 0.37) * 6), 'FP32');
    const request = { model_name: 'softmax', parameters: grpcParams({ temperature: 0.5 }), inputs: [{ name: 'logits', datatype: 'FP32', shape: [String(rows), String(cols)] }], raw_input_contents: [b64(bytes)] };
    const out = await grpcio(port, [{ method: 'ModelInfer', request, timeout: 60 }, { method: 'ModelInfer', request, timeout: 60 }]);
    const r = await rest(app, 'softmax', { parameters: { temperature: 0.5, binary_data_output: true }, inputs: sized([{ name: 'logits', datatype: 'FP32', shape: [rows, cols] }], [bytes]) }, [bytes]);
    for (const result of out.results) expectSame(decoded(result), r);
  }, 120_000);

  it('bad input, deadlines and limits: the status codes and messages of the contract, the server alive after each', async () => {
    const two = logitsOf(2, 5, 'FP32').bytes;
    const logits = { name: 'logits', datatype: 'FP32', shape: ['2', '5'] };
    const nan = Buffer.from(two);
    nan.writeFloatLE(Number.NaN, 12);
    const big = tensorBytes(Float32Array.from({ length: 64 * 32000 }, (_, j) => Math.cos(j)), 'FP32');
    const out = await grpcio(port, [
      { method: 'ModelInfer', request: { model_name: 'nope', inputs: [logits], raw_input_contents: [b64(two)] } },
      { method: 'ModelInfer', request: { model_name: 'softmax', inputs: [logits], raw_input_contents: [b64(two.subarray(4))] } },
      { method: 'ModelInfer', request: { model_name: 'softmax', parameters: grpcParams({ temprature: 1.5 }), inputs: [logits], raw_input_contents: [b64(two)] } },
      { method: 'ModelInfer', request: { model_name: 'softmax', inputs: [logits], raw_input_contents: [b64(nan)] } },
      // 1 ms for an 8 MB call: the deadline passes before the answer (C core's grpc-timeout).
      { method: 'ModelInfer', request: { model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP32', shape: ['64', '32000'] }], raw_input_contents: [b64(big)] }, timeout: 0.001 },
      { method: 'ServerLive' },
    ]);
    const [unknown, short, misspelt, notFinite, late, alive] = out.results as { code: string; details: string }[];
    expect(unknown).toEqual({ code: 'NOT_FOUND', details: `unknown model "nope" (models: ${OP_NAMES.join(', ')})` });
    expect(short).toEqual({ code: 'INVALID_ARGUMENT', details: 'raw_input_contents[0] has 36 bytes, but inputs[0] (logits) of shape [2, 5] and FP32 (4 bytes an element) is 40' });
    expect(misspelt.code).toBe('INVALID_ARGUMENT');
    expect(misspelt.details).toMatch(/^unknown parameter\(s\): temprature /);
    // REST v2's message for the same body, word for word.
    const { body, headers } = binaryRequest({ inputs: sized([{ ...logits, shape: [2, 5] }], [nan]) }, [nan]);
    const restNan = await inject(app, { method: 'POST', url: '/v2/models/softmax/infer', headers, payload: body });
    expect(restNan.statusCode).toBe(400);
    expect(notFinite).toEqual({ code: 'INVALID_ARGUMENT', details: JSON.parse(restNan.body).error });
    expect(late.code).toBe('DEADLINE_EXCEEDED');
    expect(alive).toEqual({ ok: { live: true } });

    // A message over MAX_BODY_BYTES (64 KiB here): RESOURCE_EXHAUSTED, and the server still answers.
    const over = await grpcio(tightPort, [
      { method: 'ModelInfer', request: { model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP32', shape: ['1', '20000'] }], raw_input_contents: [b64(Buffer.alloc(80_000))] } },
      { method: 'ModelInfer', request: { model_name: 'softmax', inputs: [logits], raw_input_contents: [b64(two)] } },
    ]);
    expect((over.results[0] as { code: string }).code).toBe('RESOURCE_EXHAUSTED');
    expect(decoded(over.results[1]).outputs[0]).toMatchObject({ name: 'probs', datatype: 'FP32' });
  }, 120_000);
});
