/**
 * gRPC against REST v2 binary in one run (issue 12): sample 1x50 FP32 and softmax 64x32000 FP32,
 * the same matrix both ways, on one service process (PROCESSES=1, so that its CPU is one
 * process tree to read; src/server.ts under tsx, NODE_ENV production) on 127.0.0.1. REST v2 is loaded with autocannon (as load/run.ts does), gRPC with
 * the bounded grpc-js generator below: as many calls in flight as autocannon has connections,
 * over --channels HTTP/2 connections (default 1, as a gRPC client multiplexes), each call started when one ends, for a fixed window; every answer's status is
 * counted. Before loading, one answer of each protocol is checked and the two compared byte for
 * byte. Target: gRPC req/s >= REST v2 binary req/s on both.
 *
 *   npm run load:grpc [-- --duration S --warmup S --channels N]
 *
 * The generator shares the machine's cores with the service, as autocannon does.
 */

import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import autocannon from 'autocannon';
import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { logits } from './scenarios.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HOST = '127.0.0.1';
const say = (s: string) => process.stderr.write(`${s}\n`);

function flag(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}
const DURATION = flag('duration', 8);
const WARMUP = flag('warmup', 2);
/** HTTP/2 connections the gRPC calls share (grpc-js multiplexes them on one by default). */
const CHANNELS = flag('channels', 1);

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

function fp32(values: number[]): Buffer {
  return Buffer.from(Float32Array.from(values).buffer);
}

interface Scenario {
  name: string;
  model: string;
  params: Record<string, number>;
  shape: [number, number];
  bytes: Buffer;
  connections: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'sample 1x50 FP32', model: 'sample', params: { n: 1, seed: 1 }, shape: [1, 50], bytes: fp32(logits(1, 50, 1).flat()), connections: 64 },
  { name: 'softmax 64x32000 FP32', model: 'softmax', params: {}, shape: [64, 32000], bytes: fp32(logits(64, 32000, 4).flat()), connections: 4 },
];

function restBody(s: Scenario): { body: Buffer; headers: Record<string, string> } {
  const header = JSON.stringify({
    parameters: { ...s.params, binary_data_output: true },
    inputs: [{ name: 'logits', datatype: 'FP32', shape: s.shape, parameters: { binary_data_size: s.bytes.length } }],
  });
  return { body: Buffer.concat([Buffer.from(header), s.bytes]), headers: { 'inference-header-content-length': String(Buffer.byteLength(header)) } };
}

function grpcRequest(s: Scenario) {
  return {
    model_name: s.model,
    parameters: Object.fromEntries(Object.entries(s.params).map(([k, v]) => [k, { int64_param: String(v) }])),
    inputs: [{ name: 'logits', datatype: 'FP32', shape: s.shape.map(String) }],
    raw_input_contents: [s.bytes],
  };
}

type Call = (req: object) => Promise<{ raw_output_contents: Buffer[] }>;

function clients(port: number, channels: number): { calls: Call[]; close(): void } {
  const def = protoLoader.loadSync(fileURLToPath(new URL('../proto/grpc_service.proto', import.meta.url)), { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true });
  const Service = (grpc.loadPackageDefinition(def).inference as grpc.GrpcObject).GRPCInferenceService as grpc.ServiceClientConstructor;
  // A distinct channel option per client: grpc-js would otherwise share one connection.
  const cs = Array.from({ length: channels }, (_, k) => new Service(`${HOST}:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1, 'anymax.channel': k }));
  const calls = cs.map((c) => (req: object) =>
    new Promise<{ raw_output_contents: Buffer[] }>((resolve, reject) =>
      (c as unknown as { ModelInfer: Function }).ModelInfer(req, { deadline: Date.now() + 60_000 }, (err: Error | null, res: { raw_output_contents: Buffer[] }) => (err ? reject(err) : resolve(res))), // eslint-disable-line @typescript-eslint/no-unsafe-function-type
    ),
  );
  return { calls, close: () => cs.forEach((c) => c.close()) };
}

/** The service process's CPU time (user + system), ms, from /proc (Linux). */
function cpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime, stime in clock ticks (USER_HZ 100)
  } catch {
    return Number.NaN;
  }
}

interface Row {
  /** The service's CPU ms per answered request in the window (the generator's own cost excluded). */
  cpuPerReq?: number;
  scenario: string;
  protocol: string;
  conns: number;
  rps: number;
  p50: number;
  p99: number;
  ok: number;
  failed: number;
}

function quantile(sorted: number[], q: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] : Number.NaN;
}

/** `concurrency` calls in flight for `seconds`; answers counted only inside the window. */
async function loadGrpc(calls: Call[], req: object, concurrency: number, seconds: number): Promise<{ ok: number; failed: number; times: number[] }> {
  const end = performance.now() + seconds * 1000;
  let ok = 0;
  let failed = 0;
  const times: number[] = [];
  await Promise.all(
    Array.from({ length: concurrency }, async (_, k) => {
      const call = calls[k % calls.length];
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await call(req);
          if (performance.now() <= end) {
            ok++;
            times.push(performance.now() - t0);
          }
        } catch {
          failed++;
        }
      }
    }),
  );
  return { ok, failed, times };
}

async function loadRest(port: number, s: Scenario, seconds: number): Promise<{ rps: number; p50: number; p99: number; ok: number; failed: number }> {
  const { body, headers } = restBody(s);
  const r = await autocannon({ url: `http://${HOST}:${port}/v2/models/${s.model}/infer`, method: 'POST', body, headers, connections: s.connections, duration: seconds, timeout: 60 });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, ok: r['2xx'], failed: r.errors + r.timeouts + r.non2xx };
}

function post(port: number, urlPath: string, body: Buffer, headers: Record<string, string>): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method: 'POST', path: urlPath, headers }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (b: Buffer) => parts.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<number> {
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(httpPort), GRPC_PORT: String(grpcPort), HOST, LOG_LEVEL: 'warn', NODE_ENV: 'production', PROCESSES: '1' };
  delete env.NODE_OPTIONS;
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], { cwd: ROOT, env, stdio: ['ignore', 'inherit', 'inherit'] });
  const rows: Row[] = [];
  let bad = false;
  const conns = clients(grpcPort, CHANNELS);
  try {
    for (let i = 0; ; i++) {
      try {
        await conns.calls[0]({ model_name: 'nope' });
      } catch (e) {
        if ((e as grpc.ServiceError).code === grpc.status.NOT_FOUND) break;
      }
      if (i > 200) throw new Error('the service did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
    say(`service pid ${child.pid}: http ${httpPort}, grpc ${grpcPort}; ${WARMUP} s warm-up + ${DURATION} s per run`);
    for (const s of SCENARIOS) {
      // The same answer both ways, before any load.
      const { body, headers } = restBody(s);
      const r = await post(httpPort, `/v2/models/${s.model}/infer`, body, headers);
      if (r.status !== 200) throw new Error(`${s.name}: REST v2 answered ${r.status}`);
      const g = await conns.calls[0](grpcRequest(s));
      const restOut = r.body.subarray(Number(r.headers['inference-header-content-length']));
      if (Buffer.compare(Buffer.concat(g.raw_output_contents), restOut) !== 0) throw new Error(`${s.name}: gRPC and REST v2 answers differ`);

      const channels = conns.calls.slice(0, Math.min(s.connections, conns.calls.length));
      if (WARMUP > 0) await loadGrpc(channels, grpcRequest(s), s.connections, WARMUP);
      let cpu0 = cpuMs(child.pid!);
      const gr = await loadGrpc(channels, grpcRequest(s), s.connections, DURATION);
      const grCpu = (cpuMs(child.pid!) - cpu0) / Math.max(1, gr.ok);
      const sorted = gr.times.sort((a, b) => a - b);
      rows.push({ cpuPerReq: grCpu, scenario: s.name, protocol: 'gRPC', conns: s.connections, rps: gr.ok / DURATION, p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99), ok: gr.ok, failed: gr.failed });
      if (WARMUP > 0) await loadRest(httpPort, s, WARMUP);
      cpu0 = cpuMs(child.pid!);
      const rr = await loadRest(httpPort, s, DURATION);
      rows.push({ cpuPerReq: (cpuMs(child.pid!) - cpu0) / Math.max(1, rr.ok), scenario: s.name, protocol: 'REST v2 binary', conns: s.connections, ...rr });
      say(`${s.name}: gRPC ${(gr.ok / DURATION).toFixed(1)} req/s, REST v2 binary ${rr.rps.toFixed(1)} req/s`);
    }
  } catch (e) {
    say(`load:grpc FAILED: ${(e as Error).message}`);
    bad = true;
  } finally {
    conns.close();
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  say('\nscenario                 protocol        conns    req/s   p50 ms   p99 ms      ok  failed  service cpu ms/req');
  for (const r of rows) {
    say(`${r.scenario.padEnd(24)} ${r.protocol.padEnd(15)} ${String(r.conns).padStart(5)} ${r.rps.toFixed(1).padStart(8)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)} ${String(r.ok).padStart(7)} ${String(r.failed).padStart(7)} ${(r.cpuPerReq ?? Number.NaN).toFixed(3).padStart(19)}`);
  }
  for (const s of SCENARIOS) {
    const [g, r] = [rows.find((x) => x.scenario === s.name && x.protocol === 'gRPC'), rows.find((x) => x.scenario === s.name && x.protocol !== 'gRPC')];
    if (!g || !r) continue;
    const met = g.rps >= r.rps;
    say(`${s.name}: gRPC / REST v2 binary = ${(g.rps / r.rps).toFixed(2)} (target >= 1: ${met ? 'met' : 'MISSED'})`);
    if (g.failed || r.failed) bad = true;
  }
  return bad ? 1 : 0;
}

process.exitCode = await main();
