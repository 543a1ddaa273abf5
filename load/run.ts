/**
 * Load harness: `npm run load [-- flags]`.
 *
 * Builds the service if dist/ is older than src/ (tsc), starts the BUILT server
 * (`node dist/server.js`, PORT=<free port> HOST=127.0.0.1 LOG_LEVEL=warn NODE_ENV=production) and
 * a bare Fastify "hello" server (`node load/hello.mjs`, the ceiling of the HTTP stack) as child processes
 * on 127.0.0.1, checks one response of every scenario for correctness (twice: the answers must
 * also be identical), then runs each scenario with autocannon: a warm-up, then a measured window.
 * Both children get SIGTERM at the end, also when something fails or the harness is interrupted.
 *
 * Prints a table (req/s mean, p50 / p99 latency, errors, non-2xx, ratio to the hello ceiling,
 * target met / MISSED, and where the service's CPU went: ms of CPU per request on its main
 * thread and on its other threads, read from /proc) or, with --json, one JSON object per line
 * and scenario. A target is a req/s floor, a share of the hello ceiling, a multiple of another
 * scenario's req/s in the same run (the OIP v2 scenarios against their /v1 twins), or a median
 * latency (p50 med: the median of every measured response's time, to 0.01 ms; autocannon's own
 * histogram counts whole milliseconds). Exit code 1 if any connection error, timeout, non-2xx answer or failed check
 * happened (warm-up included), or a child died; a MISSED target fails the run only with --strict.
 *
 * Flags:
 *   --duration S     measured seconds per scenario (default 10)
 *   --warmup S       warm-up seconds per scenario, not measured (default 3; 0 skips)
 *   --only K,K       scenario keys: hello, sample-1x50, sample-1x50-v2, sample-1x50-v2-fp32,
 *                    grpc-hello-1x50, sample-1x50-grpc, sample-8x32000, sample-8x32000-v2,
 *                    softmax-64x1000, softmax-64x32000, softmax-64x32000-v2,
 *                    grpc-hello-64x32000, softmax-64x32000-grpc,
 *                    sample-1x128256-bf16 (a 'vs' target is judged only when its twin ran too);
 *                    cores: the cores table alone (below)
 *   --connections N  override every scenario's connection count (gRPC: calls in flight)
 *   --channels N     HTTP/2 connections of the gRPC scenarios' generator (default 2)
 *   --processes N    PROCESSES for the service (default: the service's own, one per usable core)
 *   --workers N      WORKERS for the service (default: the service's own, cores / processes)
 *   --cores R        the "cores" table: sample 1x50 on one process against the service's default
 *                    layout (PROCESSES unset), R rounds each, alternating (default 3; 0 skips it)
 *   --cores-layouts L,L   the layouts it compares, each P or PxW (processes x workers) or
 *                    "default" (default: 1,default); the ratio is the last one's over the first's
 *   --cores-scenario K    the scenario it runs (default sample-1x50, the one with the 1.8x target)
 *   --peer R         the "peer" table (issue 11): sample 1x50, softmax 64x1000 and sample 8x32000 (v1
 *                    JSON, the same bodies and checks) on the service (its default layout, or
 *                    --processes / --workers) and on a FastAPI + uvicorn + PyTorch service of the
 *                    same contract (load/peer/app.py, PEER_PROCESSES=2 processes), R rounds each,
 *                    alternating; ours the median, the peer's best round (its processes share one
 *                    accept queue, so its rounds vary most). Needs a python3 with torch, fastapi
 *                    and uvicorn (Debian: apt-get install python3-torch python3-fastapi
 *                    python3-uvicorn): --peer-python CMD, else the first of python3,
 *                    /usr/bin/python3 that has them. Off unless asked for.
 *   --generator G    autocannon (default) or wrk, for the HTTP scenarios (./wrk.ts: its CPU a
 *                    request is a fraction of autocannon's, which shares the service's cores)
 *   --grpc-generator G   grpc-js (default: ./grpc-load.ts) or h2load, for the gRPC scenarios
 *                    (./h2load.ts; with --generator wrk, both sides of a gRPC / REST pair are
 *                    loaded by a C generator; gRPC statuses are counted from the service's metrics)
 *   --json           one JSON object per scenario on stdout (progress goes to stderr)
 *   --build          always run `npm run build` first;  --no-build  never (dist must exist)
 *   --cpu-prof DIR   run every server (the service, hello, grpc-hello) with `node --cpu-prof
 *                    --cpu-prof-dir DIR`: a .cpuprofile of each thread, named by pid, written at
 *                    exit (summarise with load/cpuprofile-top.ts); the built service's pool
 *                    workers inherit node's flags (src/pool/jobs.ts), so they write one too.
 *   --strict         also exit 1 when a target is MISSED
 *   --server FILE    run this built server.js instead of dist/server.js (no build check), e.g. a
 *                    patched copy of the service for an A/B comparison
 *
 * gRPC scenarios (*-grpc): the service also listens on GRPC_PORT, and ModelInfer is loaded by
 * load/grpc-load.ts (a bounded grpc-js generator) instead of autocannon, into the same table and
 * columns (cannon ms/req is then the generator's CPU); their check compares the answer with their
 * REST v2 binary twin's byte for byte. `npm run load:grpc` runs those, their twins and their
 * ceilings: grpc-hello-* load a bare grpc-js server that echoes each request (load/grpc-hello.mjs,
 * started as a child like hello) with the same generator, and the gRPC rows' `vs hello` column is
 * their share of it; when that ceiling is below the REST v2 twin, the table says that no grpc-js
 * service can meet the `>= 1x` target under this generator on these cores.
 *
 * Traffic goes only to 127.0.0.1, each scenario is bounded by --warmup + --duration seconds
 * (a gRPC call still open 10 s after its window is cancelled and counted as a timeout).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import * as grpc from '@grpc/grpc-js';
import { ensureBuilt } from './build.js';
import { decodeAnswer, GrpcLoad, type GrpcRunResult } from './grpc-load.js';
import { onPath, runWrk } from './wrk.js';
import { runH2load } from './h2load.js';
import type { Window } from './window.js';
import { scenarios, type Reply, type Scenario } from './scenarios.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const HOST = '127.0.0.1';

interface Flags {
  duration: number;
  warmup: number;
  only: string[] | undefined;
  connections: number | undefined;
  channels: number | undefined;
  workers: number | undefined;
  processes: number | undefined;
  cores: number;
  coresLayouts: string[];
  coresScenario: string;
  json: boolean;
  build: 'auto' | 'always' | 'never';
  cpuProf: string | undefined;
  strict: boolean;
  server: string | undefined;
  peer: number;
  peerPython: string | undefined;
  generator: 'autocannon' | 'wrk';
  grpcGenerator: 'grpc-js' | 'h2load';
}

function usage(msg?: string): never {
  if (msg) process.stderr.write(`load: ${msg}\n`);
  const header = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0];
  process.stderr.write(`${header.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '')}\n`);
  process.exit(msg ? 2 : 0);
}

/** A generator flag's value: the harness's own generator, or a program that must be on the PATH. */
function generatorFlag<B extends string, E extends string>(name: string, v: string | undefined, own: B, external: E, debianPackage: string): B | E {
  if (v !== own && v !== external) usage(`${name} needs ${own} or ${external}`);
  if (v === external && !onPath(external)) usage(`${name} ${external}: ${external} is not on the PATH (Debian: apt-get install ${debianPackage})`);
  return v as B | E;
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { duration: 10, warmup: 3, only: undefined, connections: undefined, channels: undefined, workers: undefined, processes: undefined, cores: 3, coresLayouts: ['1', 'default'], coresScenario: 'sample-1x50', json: false, build: 'auto', cpuProf: undefined, strict: false, server: undefined, peer: 0, peerPython: undefined, generator: 'autocannon', grpcGenerator: 'grpc-js' };
  const num = (name: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) usage(`${name} needs a number >= ${min}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [name, inline] = a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => inline ?? argv[++i];
    switch (name) {
      case '--duration': f.duration = num(name, value(), 1); break;
      case '--warmup': f.warmup = num(name, value(), 0); break;
      case '--only': f.only = (value() ?? '').split(',').filter(Boolean); break;
      case '--connections': f.connections = Math.floor(num(name, value(), 1)); break;
      case '--channels': f.channels = Math.floor(num(name, value(), 1)); break;
      case '--workers': f.workers = Math.floor(num(name, value(), 1)); break;
      case '--processes': f.processes = Math.floor(num(name, value(), 1)); break;
      case '--cores': f.cores = Math.floor(num(name, value(), 0)); break;
      case '--cores-scenario': f.coresScenario = value() ?? usage('--cores-scenario needs a key'); break;
      case '--cores-layouts': {
        f.coresLayouts = (value() ?? '').split(',').filter(Boolean);
        if (!f.coresLayouts.length || f.coresLayouts.some((l) => !/^(default|\d+(x\d+)?)$/.test(l))) usage('--cores-layouts needs P, PxW or default, comma-separated');
        break;
      }
      case '--peer': f.peer = Math.floor(num(name, value(), 0)); break;
      case '--peer-python': f.peerPython = value() ?? usage('--peer-python needs a command'); break;
      case '--generator': f.generator = generatorFlag(name, value(), 'autocannon', 'wrk', 'wrk'); break;
      case '--grpc-generator': f.grpcGenerator = generatorFlag(name, value(), 'grpc-js', 'h2load', 'nghttp2-client'); break;
      case '--json': f.json = true; break;
      case '--build': f.build = 'always'; break;
      case '--no-build': f.build = 'never'; break;
      case '--cpu-prof': f.cpuProf = path.resolve(value() ?? usage('--cpu-prof needs a directory')); break;
      case '--strict': f.strict = true; break;
      case '--server': f.server = path.resolve(value() ?? usage('--server needs a file')); break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown flag ${a}`);
    }
  }
  return f;
}

const flags = parseFlags(process.argv.slice(2));
/** node's flags for every child server (the service and the bare ones): --cpu-prof DIR. */
const PROF = flags.cpuProf ? ['--cpu-prof', '--cpu-prof-dir', flags.cpuProf] : [];
/** Progress and diagnostics: stderr with --json (stdout is the JSON lines), else stdout. */
const say = (s: string) => (flags.json ? process.stderr : process.stdout).write(`${s}\n`);

// ---------------------------------------------------------------------------------------------
// Build

// ---------------------------------------------------------------------------------------------
// Child processes

interface Child {
  name: string;
  proc: ChildProcess;
  port: number;
  /** Its gRPC port, when started with one (GRPC_PORT). */
  grpcPort?: number;
  /** Last lines of its stdout / stderr, printed if something fails. */
  tail: string[];
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stopping: boolean;
}

const children: Child[] = [];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** Starts `command args` (node by default) on a free PORT, HOST 127.0.0.1. */
async function startChild(name: string, args: string[], env: Record<string, string>, command = process.execPath): Promise<Child> {
  const port = await freePort();
  const grpcPort = env.GRPC_PORT && env.GRPC_PORT !== '0' ? Number(env.GRPC_PORT) : undefined;
  const childEnv: NodeJS.ProcessEnv = { ...process.env, GRPC_PORT: '0', ...env, PORT: String(port), HOST };
  delete childEnv.NODE_OPTIONS; // not tsx's loader or anything else the harness runs under
  const proc = spawn(command, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  const c: Child = { name, proc, port, grpcPort, tail: [], exited: undefined as never, exit: undefined, stopping: false };
  c.exited = new Promise((resolve) => {
    proc.on('exit', (code, signal) => {
      c.exit = { code, signal };
      if (!c.stopping) say(`${name} (pid ${proc.pid}) exited unexpectedly: code ${code} signal ${signal}`);
      resolve(c.exit);
    });
  });
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString('utf8').split('\n')) if (line) c.tail.push(line);
    if (c.tail.length > 40) c.tail.splice(0, c.tail.length - 40);
  };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  children.push(c);
  return c;
}

function request(port: number, method: string, urlPath: string, body?: string | Buffer, headers: Record<string, string> = {}, timeoutMs = 30_000): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: HOST, port, method, path: urlPath, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (b: Buffer) => chunks.push(b));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer in ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

async function waitReady(c: Child, urlPath: string, timeoutMs = 20_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    if (c.exit) throw new Error(`${c.name} exited before it was ready (code ${c.exit.code}, signal ${c.exit.signal})`);
    try {
      const r = await request(c.port, 'GET', urlPath, undefined, {}, 1000);
      if (r.status === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() - t0 > timeoutMs) throw new Error(`${c.name} not ready after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGTERM, then SIGKILL after 15 s. Resolves with how it exited. */
async function stopChild(c: Child): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  c.stopping = true;
  if (c.exit) return c.exit;
  c.proc.kill('SIGTERM');
  const timer = setTimeout(() => {
    say(`${c.name} (pid ${c.proc.pid}) did not exit 15 s after SIGTERM: SIGKILL`);
    c.proc.kill('SIGKILL');
  }, 15_000);
  const e = await c.exited;
  clearTimeout(timer);
  return e;
}

// Interrupted (Ctrl-C, or killed by a supervisor): stop the children before going.
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    say(`load: ${sig}, stopping the servers`);
    Promise.all(children.map(stopChild)).finally(() => process.exit(130));
  });
}
// Last resort (an exception that escapes everything): never leave a child running.
process.on('exit', () => {
  for (const c of children) if (!c.exit) c.proc.kill('SIGTERM');
});

// ---------------------------------------------------------------------------------------------
// CPU accounting from /proc (Linux): CPU time of every thread of a process.

const CLK_TCK = 100; // USER_HZ, 100 on Linux

/** pid and its descendants (a cluster's serving processes are the service's children). */
function processTree(pid: number): number[] {
  const parent = new Map<number, number>();
  try {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      try {
        const st = readFileSync(`/proc/${d}/stat`, 'utf8');
        parent.set(Number(d), Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]));
      } catch {
        // gone
      }
    }
  } catch {
    return [pid];
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) for (const [p, pp] of parent) if (pp === tree[i]) tree.push(p);
  return tree;
}

/**
 * tid -> CPU ms (user + system) of every live thread of pid and its descendants (a cluster's
 * primary and serving processes); empty off Linux. A process's main thread is the tid equal to
 * its pid; its system (kernel) part is kept under -pid: syscalls, i.e. socket I/O.
 */
function threadCpu(root: number): Map<number, number> {
  const out = new Map<number, number>();
  for (const pid of processTree(root)) {
    let tids: string[];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
      // The process as a whole, exited threads included: a pool worker ended at a window's end
      // (its client gone, piscina stops it) is no longer listed, and its CPU would be lost.
      const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const pf = st.slice(st.lastIndexOf(')') + 2).split(' ');
      out.set(PROCESS_KEY + pid, ((Number(pf[11]) + Number(pf[12])) * 1000) / CLK_TCK);
    } catch {
      continue;
    }
    for (const t of tids) {
      try {
        const stat = readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // fields after "(comm) ": state=0, ..., utime=11, stime=12
        out.set(Number(t), ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK);
        if (Number(t) === pid) {
          out.set(-pid, (Number(f[12]) * 1000) / CLK_TCK);
          mainThreads.add(pid);
        }
      } catch {
        // thread ended
      }
    }
  }
  return out;
}
/** Every pid seen as a process of a service (its tid is that process's main thread). */
const mainThreads = new Set<number>();
/** threadCpu's key of a whole process's CPU: PROCESS_KEY + pid (above any tid). */
const PROCESS_KEY = 1e9;

/** CPU ms used by the whole machine so far (all CPUs: user, nice, system, irq, softirq, steal). */
function machineCpuMs(): number {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    return ((f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}

interface CpuSplit {
  /** CPU ms of the main (event loop) threads (in a cluster: the primary's and each process's). */
  mainMs: number;
  /** Of which in the kernel (system time: socket reads and writes). */
  mainSysMs: number;
  /** CPU ms of every other thread: worker threads, V8 GC / compiler helpers, libuv pool. */
  otherMs: number;
  /** The busiest other threads, CPU ms each (the pool's workers are normally the top ones). */
  topOtherMs: number[];
}

function cpuDelta(before: Map<number, number>, after: Map<number, number>): CpuSplit {
  let mainMs = 0;
  let mainSysMs = 0;
  let processMs = 0;
  const others: number[] = [];
  for (const [tid, ms] of after) {
    const d = ms - (before.get(tid) ?? 0);
    if (tid >= PROCESS_KEY) processMs += d;
    else if (tid < 0) mainSysMs += d;
    else if (mainThreads.has(tid)) mainMs += d;
    else others.push(d);
  }
  others.sort((a, b) => b - a);
  // Other threads: the processes' whole CPU but their main threads' (threads that ended count).
  return { mainMs, mainSysMs, otherMs: Math.max(0, processMs - mainMs), topOtherMs: others.slice(0, 4) };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

interface Row {
  scenario: string;
  key: string;
  path: string;
  bodyBytes: number;
  connections: number;
  /** gRPC scenarios: the HTTP/2 connections the calls in flight share. */
  channels?: number;
  durationS: number;
  requests: number;
  rps: number;
  p50Ms: number;
  /** The median of every measured response's time (ms, 0.01 resolution). */
  medianMs: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  statusCodes: Record<string, number>;
  warmupRequests: number;
  warmupFailures: number;
  ratioToHello: number | null;
  /** A 'vs' target's ratio: this scenario's req/s over its twin's. */
  vs?: { key: string; ratio: number };
  target: string;
  targetMet: boolean | null;
  serverCpuMsPerReq: { main: number; mainSys: number; other: number; topOtherThreads: number[] } | null;
  harnessCpuMsPerReq: number;
  /**
   * CPU (in cores) used during the window by processes other than this harness and the loaded
   * server: the other side of a shared machine. Above ~0.2 the numbers are contended.
   */
  othersCores: number | null;
  loadavg: { before: number[]; after: number[] };
  ok: boolean;
}

function failures(r: Result): number {
  return r.errors + r.timeouts + r.non2xx + r.mismatches;
}

/** Runs autocannon; `times`, when given, collects every response's time (ms, unrounded). */
async function cannon(s: Scenario, port: number, connections: number, duration: number, times?: number[]): Promise<Result> {
  const run = autocannon({
    url: `http://${HOST}:${port}${s.path}`,
    method: 'POST',
    headers: s.headers,
    body: s.body,
    connections,
    pipelining: 1,
    duration,
    timeout: 10,
    title: s.name,
    setupClient: dropBodies,
  });
  if (times) run.on('response', (_client: unknown, status: number, _bytes: number, ms: number) => void (status < 300 && times.push(ms)));
  return run;
}

/**
 * autocannon appends every response's body to a string (`body += chunk`, for its expectBody /
 * verifyBody options, which this harness does not use): decoding binary answers as UTF-8 cost it
 * ~100 ms per 8 MB answer (a profile of this process), load-generator CPU taken from the same
 * two cores as the service. Its byte counts are kept apart (addByteCount), so they stay right.
 */
function dropBodies(client: unknown): void {
  const queue = (client as { pipelinedRequests?: { addBody?: (data: unknown) => void } }).pipelinedRequests;
  if (queue && typeof queue.addBody === 'function') queue.addBody = () => {};
}

function median(xs: number[]): number {
  if (!xs.length) return NaN;
  const sorted = Float64Array.from(xs).sort();
  const m = sorted.length >> 1;
  return sorted.length % 2 ? sorted[m] : (sorted[m - 1] + sorted[m]) / 2;
}

const round = (x: number, d = 2) => Number(x.toFixed(d));

/** The scenarios, made once (their bodies take ~2 s of this process's CPU to write). */
let made: Scenario[] | undefined;
const allScenarios = () => (made ??= scenarios());

function fromCannon(r: Result): Window {
  const statusCodes: Record<string, number> = {};
  for (const [k, v] of Object.entries(r.statusCodeStats ?? {})) statusCodes[k] = Number(v.count);
  return {
    total: r.requests.total,
    rps: round(r.requests.mean, 1),
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    durationS: r.duration,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    statusCodes,
    failures: failures(r),
  };
}

/** ModelInfer calls the service has counted, by gRPC status name (its /metrics: every process of a cluster). */
async function grpcStatuses(c: Child, route: string): Promise<Map<string, number>> {
  const text = (await request(c.port, 'GET', '/metrics')).body.toString('utf8');
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.startsWith('anymax_http_request_duration_seconds_count{') || !line.includes('protocol="grpc"') || !line.includes(`route="${route}"`)) continue;
    const status = /status="([^"]*)"/.exec(line)?.[1] ?? '?';
    out.set(status, (out.get(status) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/**
 * A window of h2load: its 2xx answers judged by the gRPC statuses the service counted meanwhile
 * (the grpc-hello ceiling counts none: it answers every call OK).
 */
async function h2loadWindow(s: Scenario, c: Child, connections: number, channels: number, seconds: number): Promise<Window> {
  const statuses = async () => (s.server === 'service' ? await grpcStatuses(c, s.path) : new Map<string, number>());
  const before = await statuses();
  const r = await runH2load({ url: `http://${HOST}:${c.grpcPort}${s.path}`, message: s.body as Buffer, connections: channels, streams: Math.ceil(connections / channels), seconds });
  const after = await statuses();
  const statusCodes: Record<string, number> = {};
  for (const [k, v] of after) if (v - (before.get(k) ?? 0) > 0) statusCodes[k] = v - (before.get(k) ?? 0);
  // CANCELLED: calls h2load left open when its time was up (it does not wait for them); the
  // service counts them, but they are the window's edge, not failures.
  const notOk = Object.entries(statusCodes).reduce((n, [k, v]) => n + (k === 'OK' || k === 'CANCELLED' ? 0 : v), 0);
  return {
    total: Math.max(0, r.succeeded - notOk),
    rps: round(Math.max(0, r.succeeded - notOk) / r.durationS, 1),
    p50Ms: round(r.meanMs),
    p99Ms: NaN,
    maxMs: round(r.maxMs),
    durationS: r.durationS,
    errors: r.errored,
    timeouts: r.timeouts,
    non2xx: r.failed + notOk,
    statusCodes,
    failures: r.failed + r.errored + r.timeouts + notOk,
    generatorCpuMs: r.cpuMs,
  };
}

/** The gRPC generator's window: non-OK statuses count as non-2xx, by their names. */
function fromGrpc(r: GrpcRunResult): Window {
  const sorted = Float64Array.from(r.times).sort();
  const q = (x: number) => (sorted.length ? round(sorted[Math.min(sorted.length - 1, Math.floor(x * sorted.length))]) : NaN);
  return {
    total: r.ok,
    rps: round(r.ok / r.durationS, 1),
    p50Ms: q(0.5),
    p99Ms: q(0.99),
    maxMs: sorted.length ? round(sorted[sorted.length - 1]) : NaN,
    durationS: r.durationS,
    errors: 0,
    timeouts: r.timeouts,
    non2xx: r.failed,
    statusCodes: { OK: r.ok, ...r.statusCodes },
    failures: r.failed + r.timeouts,
  };
}

/**
 * A gRPC scenario's check: its twin's REST v2 binary answer is checked as the twin checks it;
 * two gRPC answers must be identical bytes, and the decoded one must carry the REST answer's
 * outputs (names, datatypes, shapes) and its binary outputs byte for byte.
 */
async function checkGrpc(s: Scenario, c: Child, gen: GrpcLoad): Promise<number> {
  const body = s.body as Buffer;
  if (!s.grpc!.twin) {
    // The ceiling (load/grpc-hello.mjs) echoes: its answers are the request's bytes.
    const echo = await gen.call(body);
    if (!echo.equals(body)) throw new Error(`${s.name}: the answer is not the request's bytes (${echo.length} B)`);
    return echo.length;
  }
  const twin = allScenarios().find((x) => x.key === s.grpc!.twin);
  if (!twin) throw new Error(`${s.name}: no twin scenario ${s.grpc!.twin}`);
  const rest = await request(c.port, 'POST', twin.path, twin.body, twin.headers);
  twin.check(rest);
  let a: Buffer | undefined;
  // The gRPC listener may bind a moment after /health/ready answers: UNAVAILABLE is retried.
  for (let i = 0; !a; i++) {
    try {
      a = await gen.call(body);
    } catch (e) {
      if ((e as grpc.ServiceError).code !== grpc.status.UNAVAILABLE || i >= 50) throw new Error(`${s.name}: ${(e as Error).message}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const b = await gen.call(body);
  if (!a.equals(b)) throw new Error(`${s.name}: two identical calls got different answers`);
  const g = decodeAnswer(a);
  const headerLength = Number(rest.headers['inference-header-content-length']);
  const header = JSON.parse(rest.body.subarray(0, headerLength).toString('utf8')) as { outputs: { name: string; datatype: string; shape: number[] }[]; parameters?: { seed?: number } };
  const outs = (o: { name: string; datatype: string; shape: (number | string)[] }[]) => JSON.stringify(o.map((x) => [x.name, x.datatype, x.shape.map(Number)]));
  if (outs(g.outputs) !== outs(header.outputs)) throw new Error(`${s.name}: outputs ${outs(g.outputs)}, REST v2 ${outs(header.outputs)}`);
  if (!Buffer.concat(g.raw_output_contents).equals(rest.body.subarray(headerLength))) throw new Error(`${s.name}: the raw outputs differ from REST v2's binary outputs`);
  if (header.parameters?.seed !== undefined && g.parameters?.seed?.int64_param !== String(header.parameters.seed)) throw new Error(`${s.name}: seed ${JSON.stringify(g.parameters?.seed)}`);
  return a.length;
}

async function runScenario(s: Scenario, c: Child): Promise<Row> {
  const connections = flags.connections ?? s.connections;
  const bodyBytes = Buffer.byteLength(s.body);
  const channels = s.grpc ? (flags.channels ?? s.grpc.channels) : 0;
  if (s.grpc && !c.grpcPort) throw new Error(`${s.name}: the service has no gRPC port`);
  const gen = s.grpc ? new GrpcLoad(HOST, c.grpcPort!, channels) : undefined;
  try {
    say(`\n== ${s.name}: ${gen ? `gRPC ${s.path}, request ${(bodyBytes / 1024).toFixed(1)} KiB, ${connections} calls in flight on ${channels} channel(s)` : `POST ${s.path}, body ${(bodyBytes / 1024).toFixed(1)} KiB, ${connections} connections, ${flags.generator}`}`);

    // Correctness: one answer, checked; a second one must be byte-identical (seeded / pure).
    let answerBytes: number;
    if (gen) answerBytes = await checkGrpc(s, c, gen);
    else {
      const a = await request(c.port, 'POST', s.path, s.body, s.headers);
      s.check(a);
      const b = await request(c.port, 'POST', s.path, s.body, s.headers);
      if (!b.body.equals(a.body)) throw new Error(`${s.name}: two identical requests got different answers`);
      answerBytes = a.body.length;
    }
    const same = !gen ? '' : s.grpc?.twin ? ', the same outputs as REST v2 binary' : ', the request echoed';
    say(`   check ok (${answerBytes < 10240 ? `${answerBytes} B` : `${(answerBytes / 1024).toFixed(1)} KiB`} answer${same})`);

    const load = async (seconds: number, times?: number[]): Promise<Window> =>
      gen
        ? flags.grpcGenerator === 'h2load'
          ? await h2loadWindow(s, c, connections, channels, seconds)
          : fromGrpc(await gen.run(s.body as Buffer, connections, seconds, times))
        : flags.generator === 'wrk'
          ? await runWrk({ url: `http://${HOST}:${c.port}${s.path}`, headers: s.headers, body: s.body, connections, seconds })
          : fromCannon(await cannon(s, c.port, connections, seconds, times));
    let warm: Window | undefined;
    if (flags.warmup > 0) {
      say(`   warm-up ${flags.warmup} s`);
      warm = await load(flags.warmup);
    }
    if (c.exit) throw new Error(`${c.name} died during the warm-up of ${s.name}`);

    say(`   measuring ${flags.duration} s`);
    const loadBefore = os.loadavg();
    const cpu0 = threadCpu(c.proc.pid!);
    const m0 = machineCpuMs();
    const w0 = performance.now();
    const h0 = process.cpuUsage();
    const times: number[] = [];
    const r = await load(flags.duration, times);
    const h1 = process.cpuUsage(h0);
    const cpu1 = threadCpu(c.proc.pid!);
    const m1 = machineCpuMs();
    const wallMs = performance.now() - w0;
    const loadAfter = os.loadavg();
    if (c.exit) throw new Error(`${c.name} died while ${s.name} was measured`);

    const total = r.total;
    const split = cpu0.size ? cpuDelta(cpu0, cpu1) : undefined;
    const per = (ms: number) => (total ? round(ms / total, 3) : NaN);
    const warmupFailures = warm ? warm.failures : 0;
    return {
      scenario: s.name,
      key: s.key,
      path: s.path,
      bodyBytes,
      connections,
      ...(gen ? { channels } : {}),
      durationS: r.durationS,
      requests: total,
      rps: r.rps,
      p50Ms: r.p50Ms,
      // wrk gives no per-response times: its 50th percentile instead.
      medianMs: times.length ? round(median(times)) : r.p50Ms,
      p99Ms: r.p99Ms,
      maxMs: r.maxMs,
      errors: r.errors,
      timeouts: r.timeouts,
      non2xx: r.non2xx,
      statusCodes: r.statusCodes,
      warmupRequests: warm?.total ?? 0,
      warmupFailures,
      ratioToHello: null,
      target: targetText(s),
      targetMet: null,
      serverCpuMsPerReq: split ? { main: per(split.mainMs), mainSys: per(split.mainSysMs), other: per(split.otherMs), topOtherThreads: split.topOtherMs.map(per) } : null,
      harnessCpuMsPerReq: per((h1.user + h1.system) / 1000 + (r.generatorCpuMs ?? 0)),
      othersCores: split && Number.isFinite(m1 - m0) ? round(Math.max(0, m1 - m0 - split.mainMs - split.otherMs - (h1.user + h1.system) / 1000 - (r.generatorCpuMs ?? 0)) / wallMs) : null,
      loadavg: { before: loadBefore.map((x) => round(x)), after: loadAfter.map((x) => round(x)) },
      ok: total > 0 && r.failures === 0 && warmupFailures === 0,
    };
  } finally {
    gen?.close();
  }
}

/** The scenarios other rows are measured against: the bare servers (hello, grpc-hello-*). */
function isCeiling(key: string): boolean {
  return allScenarios().some((s) => s.key === key && s.server !== 'service');
}

function targetText(s: Scenario): string {
  const t = s.target;
  switch (t.kind) {
    case 'ratio': return `>= ${t.min * 100}% of hello`;
    case 'rps': return `>= ${t.min} req/s`;
    case 'vs': return t.min >= 1 ? `>= ${t.min}x ${t.key}` : `>= ${Math.round(t.min * 100)}% of ${t.key}`;
    case 'p50': return `p50 <= ${t.maxMs} ms`;
    case 'none': return '';
  }
}

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function printTable(rows: Row[]): void {
  const head = ['scenario', 'conns', 'req/s', 'p50 med', 'p99 ms', 'errors', 'non-2xx', 'vs hello', 'vs twin', 'target', '', 'cpu ms/req main+other', 'cannon ms/req', 'others', 'load1'];
  const cells = rows.map((r) => [
    r.scenario,
    r.channels ? `${r.connections}/${r.channels}ch` : String(r.connections),
    r.rps.toFixed(1),
    r.medianMs.toFixed(2),
    Number.isNaN(r.p99Ms) ? '-' : String(r.p99Ms),
    String(r.errors),
    String(r.non2xx),
    r.ratioToHello === null ? '-' : `${(r.ratioToHello * 100).toFixed(1)}%`,
    r.vs ? `${r.vs.ratio.toFixed(2)}x` : '-',
    r.target || (isCeiling(r.key) ? '(ceiling)' : '-'),
    r.targetMet === null ? (r.target ? '?' : '') : r.targetMet ? 'met' : 'MISSED',
    r.serverCpuMsPerReq ? `${r.serverCpuMsPerReq.main.toFixed(3)}+${r.serverCpuMsPerReq.other.toFixed(3)}` : '-',
    r.harnessCpuMsPerReq.toFixed(3),
    r.othersCores === null ? '-' : r.othersCores.toFixed(2),
    r.loadavg.before[0].toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const right = new Set([1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14]);
  const line = (c: string[]) => c.map((x, i) => pad(x, widths[i], right.has(i))).join('  ');
  say('');
  say(line(head));
  say(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) say(line(c));
}

function sayRow(row: Row): void {
  say(`   ${row.rps.toFixed(1)} req/s, p50 ${row.p50Ms} ms, p99 ${row.p99Ms} ms, ${row.requests} requests, errors ${row.errors}, timeouts ${row.timeouts}, non-2xx ${row.non2xx}${row.warmupFailures ? `, warm-up failures ${row.warmupFailures}` : ''}`);
}

/** Starts the built service with LOG_LEVEL=warn NODE_ENV=production plus env; resolves once ready. */
async function startService(serverJs: string, env: Record<string, string>, name = 'service'): Promise<Child> {
  const args = [...PROF, serverJs];
  const c = await startChild(name, args, { LOG_LEVEL: 'warn', NODE_ENV: 'production', ...env });
  await waitReady(c, '/health/ready');
  const shown = Object.entries(env).map(([k, v]) => `${k}=${v}`).join(' ');
  say(`${name}: pid ${c.proc.pid}, http://${HOST}:${c.port}, node ${args.join(' ')}${shown ? `, ${shown}` : ''}`);
  return c;
}

/** Stops a service child; a dirty exit fails the run. */
async function stopService(c: Child): Promise<void> {
  const e = await stopChild(c);
  if (e.code !== 0) throw new Error(`${c.name} ended with code ${e.code} signal ${e.signal}; its last output:\n  ${c.tail.join('\n  ')}`);
}

// ---------------------------------------------------------------------------------------------
// The cores table (issue 11): req/s and CPU per request of sample 1x50 for one process against
// the service's default layout (one process per core, PROCESSES unset), R rounds each,
// alternating A B B A A B ... so that the machine's drift falls on both alike.

interface CoreRow {
  table: 'cores';
  layout: string;
  env: Record<string, string>;
  round: number;
  row: Row;
}

const coresChildren: Child[] = [];

function layoutEnv(l: string): Record<string, string> {
  if (l === 'default') return {};
  const [p, w] = l.split('x');
  return { PROCESSES: p, ...(w ? { WORKERS: w } : {}) };
}

async function coresTable(serverJs: string): Promise<CoreRow[]> {
  const s = allScenarios().find((x) => x.key === flags.coresScenario && x.server === 'service');
  if (!s) throw new Error(`--cores-scenario: no service scenario ${flags.coresScenario}`);
  const layouts = flags.coresLayouts;
  const out: CoreRow[] = [];
  say(`\n== cores: ${s.name}, layouts ${layouts.join(' / ')}, ${flags.cores} rounds`);
  for (let round = 0; round < flags.cores; round++) {
    const order = round % 2 ? [...layouts].reverse() : layouts;
    for (const layout of order) {
      const env = layoutEnv(layout);
      const c = await startService(serverJs, env, `service (${layout})`);
      coresChildren.push(c);
      const row = await runScenario(s, c);
      sayRow(row);
      await stopService(c);
      coresChildren.splice(coresChildren.indexOf(c), 1);
      out.push({ table: 'cores', layout, env, round: round + 1, row });
    }
  }
  return out;
}

const CORES_TARGET = 1.8;

/** Median req/s of the last layout over the first's, and whether it meets the 1.8x target (sample 1x50's). */
function coreRatio(rows: CoreRow[]): { ratio: number; met: boolean } | undefined {
  if (flags.coresScenario !== 'sample-1x50') return undefined;
  const layouts = [...new Set(rows.map((r) => r.layout))];
  if (layouts.length < 2) return undefined;
  const med = (l: string) => median(rows.filter((r) => r.layout === l).map((r) => r.row.rps));
  const ratio = med(layouts[layouts.length - 1]) / med(layouts[0]);
  return { ratio: round(ratio), met: ratio >= CORES_TARGET };
}

function printCores(rows: CoreRow[]): void {
  const layouts = [...new Set(rows.map((r) => r.layout))];
  const head = [`cores: ${rows[0].row.scenario}`, 'runs', 'req/s median', 'min-max', 'p50 med', 'cpu ms/req main+other', 'total', 'service cores', 'cannon ms/req', 'others', 'load1 min-max'];
  const base = median(rows.filter((r) => r.layout === layouts[0]).map((r) => r.row.rps));
  const cells = layouts.map((l) => {
    const rs = rows.filter((r) => r.layout === l).map((r) => r.row);
    const rps = rs.map((r) => r.rps);
    const cpu = rs.filter((r) => r.serverCpuMsPerReq);
    const main = median(cpu.map((r) => r.serverCpuMsPerReq!.main));
    const other = median(cpu.map((r) => r.serverCpuMsPerReq!.other));
    const load = rs.map((r) => r.loadavg.before[0]);
    const name = l === 'default' ? 'default layout (PROCESSES unset)' : `PROCESSES=${l.replace('x', ' WORKERS=')}`;
    return [
      name,
      String(rs.length),
      `${median(rps).toFixed(0)}${l === layouts[0] ? '' : ` (${(median(rps) / base).toFixed(2)}x)`}`,
      `${Math.min(...rps).toFixed(0)}-${Math.max(...rps).toFixed(0)}`,
      median(rs.map((r) => r.medianMs)).toFixed(2),
      `${main.toFixed(3)}+${other.toFixed(3)}`,
      (main + other).toFixed(3),
      // CPU the service got: req/s x its CPU per request (one process cannot pass ~1 core).
      median(cpu.map((r) => (r.rps * (r.serverCpuMsPerReq!.main + r.serverCpuMsPerReq!.other)) / 1000)).toFixed(2),
      median(rs.map((r) => r.harnessCpuMsPerReq)).toFixed(3),
      median(rs.map((r) => r.othersCores ?? NaN)).toFixed(2),
      `${Math.min(...load).toFixed(2)}-${Math.max(...load).toFixed(2)}`,
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i === 0 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  say('');
  say(line(head));
  say(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) say(line(c));
  const r = coreRatio(rows);
  if (!r) say(`cores: the last layout ${(median(rows.filter((x) => x.layout === layouts[layouts.length - 1]).map((x) => x.row.rps)) / base).toFixed(2)}x the first (medians).`);
  if (r) say(`cores: ${r.ratio.toFixed(2)}x one process (target >= ${CORES_TARGET}x: ${r.met ? 'met' : 'MISSED'}); medians over the rounds, each a fresh service.`);
  say(`cpu ms/req: CPU of the whole service (primary and every process) per request, from /proc; service cores: req/s x that`);
  say(`(the CPU it got); others: cores used by other processes during the window; the load generator (cannon) runs on the same cores.`);
}

// ---------------------------------------------------------------------------------------------
// The peer table (issue 11): the service against a FastAPI + uvicorn + PyTorch service of the
// same /v1 contract (load/peer/app.py), same bodies, checks, generator and connections, R rounds
// alternating which goes first.

/** The issue's targets: our req/s over the peer's, per scenario. */
const PEER_TARGETS: Record<string, number> = { 'sample-1x50': 4, 'softmax-64x1000': 4, 'sample-8x32000': 3 };

interface PeerRow {
  table: 'peer';
  side: 'service' | 'peer';
  round: number;
  row: Row;
}

/** The python to run the peer with: the given one, else the first that has torch, fastapi and uvicorn. */
function peerPython(): string {
  const candidates = flags.peerPython ? [flags.peerPython] : ['python3', '/usr/bin/python3'];
  for (const py of candidates) {
    const r = spawnSync(py, ['-c', 'import torch, fastapi, uvicorn'], { stdio: 'ignore' });
    if (r.status === 0) return py;
  }
  throw new Error(`--peer: no python with torch, fastapi and uvicorn among ${candidates.join(', ')} (Debian: apt-get install python3-torch python3-fastapi python3-uvicorn; or --peer-python CMD)`);
}

const peerChildren: Child[] = [];

async function peerTable(serverJs: string): Promise<PeerRow[]> {
  const keys = Object.keys(PEER_TARGETS).filter((k) => !flags.only || flags.only.includes(k) || flags.only.includes('peer'));
  const chosen = keys.map((k) => allScenarios().find((x) => x.key === k)!);
  const py = peerPython();
  const env: Record<string, string> = {};
  if (flags.processes) env.PROCESSES = String(flags.processes);
  if (flags.workers) env.WORKERS = String(flags.workers);
  const ours = await startService(serverJs, env, 'service (vs peer)');
  peerChildren.push(ours);
  const peer = await startChild('peer', [path.join('load', 'peer', 'app.py')], { PEER_PROCESSES: '2' }, py);
  peerChildren.push(peer);
  await waitReady(peer, '/health', 60_000);
  const runsOn = JSON.parse((await request(peer.port, 'GET', '/health')).body.toString('utf8')) as { loop: string; http: string };
  say(`peer: pid ${peer.proc.pid}, http://${HOST}:${peer.port}, ${py} load/peer/app.py (FastAPI + uvicorn, 2 processes, PyTorch; loop ${runsOn.loop}, http ${runsOn.http})`);
  const out: PeerRow[] = [];
  say(`\n== peer: ${chosen.map((s) => s.name).join(', ')}; ${flags.peer} rounds`);
  for (let round = 0; round < flags.peer; round++) {
    for (const s of chosen) {
      const sides: ['service' | 'peer', Child][] = [['service', ours], ['peer', peer]];
      for (const [side, c] of round % 2 ? sides.reverse() : sides) {
        say(`-- ${side}, round ${round + 1}`);
        const row = await runScenario(s, c);
        sayRow(row);
        out.push({ table: 'peer', side, round: round + 1, row });
      }
    }
  }
  await stopService(ours);
  peerChildren.splice(peerChildren.indexOf(ours), 1);
  await stopChild(peer);
  peerChildren.splice(peerChildren.indexOf(peer), 1);
  return out;
}

/** Per scenario: our median req/s over the peer's best round, and whether it meets the issue's target. */
function peerRatios(rows: PeerRow[]): { key: string; name: string; ratio: number; target: number; met: boolean }[] {
  const keys = [...new Set(rows.map((r) => r.row.key))];
  return keys.map((key) => {
    const ours = median(rows.filter((r) => r.row.key === key && r.side === 'service').map((r) => r.row.rps));
    const best = Math.max(...rows.filter((r) => r.row.key === key && r.side === 'peer').map((r) => r.row.rps));
    const ratio = round(ours / best);
    return { key, name: rows.find((r) => r.row.key === key)!.row.scenario, ratio, target: PEER_TARGETS[key], met: ratio >= PEER_TARGETS[key] };
  });
}

function printPeer(rows: PeerRow[]): void {
  const head = ['peer table', 'side', 'runs', 'req/s median', 'best', 'min-max', 'p50 med', 'cpu ms/req', 'cannon ms/req', 'others', 'load1 min-max'];
  const cells: string[][] = [];
  for (const key of [...new Set(rows.map((r) => r.row.key))]) {
    for (const side of ['service', 'peer'] as const) {
      const rs = rows.filter((r) => r.row.key === key && r.side === side).map((r) => r.row);
      const rps = rs.map((r) => r.rps);
      const cpu = rs.filter((r) => r.serverCpuMsPerReq).map((r) => r.serverCpuMsPerReq!.main + r.serverCpuMsPerReq!.other);
      const load = rs.map((r) => r.loadavg.before[0]);
      cells.push([
        side === 'service' ? rs[0].scenario : '',
        side === 'service' ? 'anymax' : 'FastAPI+PyTorch',
        String(rs.length),
        median(rps).toFixed(1),
        Math.max(...rps).toFixed(1),
        `${Math.min(...rps).toFixed(1)}-${Math.max(...rps).toFixed(1)}`,
        median(rs.map((r) => r.medianMs)).toFixed(2),
        cpu.length ? median(cpu).toFixed(3) : '-',
        median(rs.map((r) => r.harnessCpuMsPerReq)).toFixed(3),
        median(rs.map((r) => r.othersCores ?? NaN)).toFixed(2),
        `${Math.min(...load).toFixed(2)}-${Math.max(...load).toFixed(2)}`,
      ]);
    }
  }
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((x, i) => (i < 2 ? x.padEnd(widths[i]) : x.padStart(widths[i]))).join('  ');
  say('');
  say(line(head));
  say(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) say(line(c));
  for (const r of peerRatios(rows)) say(`peer: ${r.name}: ${r.ratio.toFixed(2)}x the peer (our median over its best round; target >= ${r.target}x: ${r.met ? 'met' : 'MISSED'})`);
  say(`cpu ms/req: CPU of each side's processes (and their threads) per request, from /proc; both sides and the load generator share the cores.`);
}

/**
 * A `vs` target no service on this stack can meet: the row's own ceiling (the bare server of its
 * protocol, loaded by the same generator in the same run) is already below the twin it must match.
 */
function outOfReach(rows: Row[], chosen: Scenario[]): string[] {
  const out: string[] = [];
  for (const s of chosen) {
    const row = rows.find((r) => r.key === s.key);
    const ceiling = rows.find((r) => r.key === s.ceiling);
    if (!row || !ceiling || s.target.kind !== 'vs') continue;
    const { key, min } = s.target;
    const twin = rows.find((r) => r.key === key);
    if (!twin || ceiling.rps >= twin.rps * min) continue;
    out.push(
      `${s.name}: its ceiling, ${ceiling.scenario}, made ${ceiling.rps.toFixed(1)} req/s, below the ${(twin.rps * min).toFixed(1)} that "${targetText(s)}" asks: ` +
        `out of reach of any service on this stack with this generator on these cores (the service made ${(row.ratioToHello! * 100).toFixed(1)}% of the ceiling).`,
    );
  }
  return out;
}

async function main(): Promise<number> {
  const all = allScenarios();
  // --peer alone (or with --only peer) runs only the peer table.
  const peerOnly = flags.peer > 0 && (!flags.only || flags.only.every((k) => k === 'peer' || k in PEER_TARGETS));
  const chosen = peerOnly ? [] : flags.only ? all.filter((s) => flags.only!.includes(s.key)) : all;
  const unknown = (flags.only ?? []).filter((k) => k !== 'cores' && k !== 'peer' && !all.some((s) => s.key === k));
  if (unknown.length) usage(`unknown scenario(s) ${unknown.join(', ')}; known: ${all.map((s) => s.key).join(', ')}`);

  say(`load: ${os.cpus().length} CPUs, node ${process.version}, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  const needService = chosen.some((s) => s.server === 'service');
  const needHello = chosen.some((s) => s.server === 'hello');
  const needGrpcHello = chosen.some((s) => s.server === 'grpc-hello');
  // The cores table runs with the whole list, or when --cores is given with --only.
  const runCores = !peerOnly && flags.cores > 0 && (!flags.only || flags.only.includes('cores') || process.argv.some((a) => a.startsWith('--cores')));
  const runPeer = flags.peer > 0;
  if ((needService || runCores || runPeer) && !flags.server) ensureBuilt(flags.build, say);
  const serverJs = flags.server ?? path.join('dist', 'server.js');

  let service: Child | undefined;
  let hello: Child | undefined;
  let grpcHello: Child | undefined;
  const rows: Row[] = [];
  const coreRows: CoreRow[] = [];
  const peerRows: PeerRow[] = [];
  let failed = false;
  try {
    if (needHello) {
      hello = await startChild('hello', [...PROF, path.join('load', 'hello.mjs')], { NODE_ENV: 'production' });
      await waitReady(hello, '/health');
      say(`hello server: pid ${hello.proc.pid}, http://${HOST}:${hello.port}`);
    }
    if (needGrpcHello) {
      grpcHello = await startChild('grpc-hello', [...PROF, path.join('load', 'grpc-hello.mjs')], { NODE_ENV: 'production', GRPC_PORT: String(await freePort()) });
      await waitReady(grpcHello, '/health');
      say(`grpc-hello server: pid ${grpcHello.proc.pid}, ${HOST}:${grpcHello.grpcPort}`);
    }
    if (needService) {
      const env: Record<string, string> = {};
      if (flags.processes) env.PROCESSES = String(flags.processes);
      if (flags.workers) env.WORKERS = String(flags.workers);
      if (chosen.some((s) => s.grpc)) env.GRPC_PORT = String(await freePort());
      service = await startService(serverJs, env);
    }
    for (const s of chosen) {
      const row = await runScenario(s, s.server === 'hello' ? hello! : s.server === 'grpc-hello' ? grpcHello! : service!);
      rows.push(row);
      sayRow(row);
    }
    if (service) {
      await stopService(service);
      service = undefined;
    }
    if (runCores) coreRows.push(...(await coresTable(serverJs)));
    if (runPeer) peerRows.push(...(await peerTable(serverJs)));
  } catch (e) {
    failed = true;
    say(`\nload: FAILED: ${(e as Error).message}`);
  } finally {
    for (const c of [hello, grpcHello, service, ...coresChildren.splice(0), ...peerChildren.splice(0)]) {
      if (!c || c.stopping) continue;
      const wasDead = c.exit !== undefined && !c.stopping;
      const e = await stopChild(c);
      const clean = e.code === 0 || ((c.name === 'hello' || c.name === 'grpc-hello' || c.name === 'peer') && e.signal === 'SIGTERM');
      if (wasDead || !clean) {
        failed = true;
        say(`${c.name} ended with code ${e.code} signal ${e.signal}; its last output:\n  ${c.tail.join('\n  ') || '(none)'}`);
      }
    }
    if (flags.cpuProf) say(`cpu profiles in ${flags.cpuProf} (summarise: npx tsx load/cpuprofile-top.ts ${flags.cpuProf}/*.cpuprofile)`);
  }

  const targets = new Map(chosen.map((s) => [s.key, s.target]));
  const ceilings = new Map(chosen.map((s) => [s.key, s.ceiling ?? 'hello']));
  for (const r of rows) {
    const t = targets.get(r.key)!;
    const ceiling = isCeiling(r.key) ? undefined : rows.find((x) => x.key === ceilings.get(r.key))?.rps;
    if (ceiling) r.ratioToHello = round(r.rps / ceiling, 4);
    if (t.kind === 'rps') r.targetMet = r.rps >= t.min;
    if (t.kind === 'ratio' && r.ratioToHello !== null) r.targetMet = r.ratioToHello >= t.min;
    if (t.kind === 'p50') r.targetMet = r.medianMs <= t.maxMs;
    if (t.kind === 'vs') {
      const twin = rows.find((x) => x.key === t.key);
      if (twin) {
        r.vs = { key: t.key, ratio: round(r.rps / twin.rps, 2) };
        r.targetMet = r.vs.ratio >= t.min;
      }
    }
    if (!r.ok) failed = true;
  }
  if (flags.json) for (const r of [...rows, ...coreRows, ...peerRows]) process.stdout.write(`${JSON.stringify(r)}\n`);
  else if (rows.length) {
    printTable(rows);
    if (flags.generator === 'wrk') say(`\nreq/s: wrk's requests over its duration; p50 med and p99: its latency distribution (HTTP scenarios; gRPC ones as below).`);
    if (flags.grpcGenerator === 'h2load') say(`gRPC with h2load: req/s its 2xx answers less the non-OK statuses the service counted, over its duration; p50 med its mean; no p99.`);
    else say(`\nreq/s: autocannon's mean of per-second counts; p50 med: the median of every measured response's time; p99 from`);
    say(`${flags.generator === 'wrk' ? '' : "autocannon's histogram (whole ms). "}vs twin: req/s over the req/s of the scenario its target names. cpu ms/req: CPU time of the`);
    say(`service's main thread + its other threads (pool workers, GC/compiler helpers) from /proc, over the measured window;`);
    say(`cannon ms/req: CPU of this process (autocannon, the load generator, on the same cores; with wrk, plus wrk's). others: cores used by`);
    say(`other processes during the window (a shared machine; above ~0.2 the numbers are contended). load1: before the window.`);
  }
  if (!flags.json) for (const line of outOfReach(rows, chosen)) say(line);
  if (!flags.json && coreRows.length) printCores(coreRows);
  if (!flags.json && peerRows.length) printPeer(peerRows);
  if (!flags.json && (rows.length || coreRows.length || peerRows.length)) say(`load average at the end: ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  for (const r of [...coreRows, ...peerRows]) if (!r.row.ok) failed = true;
  const peerMissed = peerRatios(peerRows).filter((r) => !r.met);
  if (peerMissed.length && flags.strict) failed = true;
  const missed = rows.filter((r) => r.targetMet === false);
  const coresRatio = coreRatio(coreRows);
  if (coresRatio && !coresRatio.met && flags.strict) failed = true;
  if (missed.length && flags.strict) failed = true;
  const bad = rows.filter((r) => !r.ok);
  if (bad.length) say(`load: errors, timeouts or non-2xx answers in: ${bad.map((r) => r.scenario).join(', ')}`);
  const missedNames = [...missed.map((r) => r.scenario), ...(coresRatio && !coresRatio.met ? ['cores'] : []), ...peerMissed.map((r) => `${r.name} vs peer`)];
  say(failed ? 'load: FAILED' : `load: ok${missedNames.length ? ` (targets MISSED: ${missedNames.join(', ')})` : ''}`);
  return failed ? 1 : 0;
}

process.exitCode = await main();
