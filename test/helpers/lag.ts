import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import type { WorstBody } from './worst-inline.js';

/**
 * A lag probe: the service as a child process with ./loop-delay.ts preloaded (its event-loop
 * delay, measured inside), a flood of requests over a few keep-alive connections, and
 * GET /health/live on a fresh connection every probe period, as Kubernetes' liveness probe
 * does, each timed from the outside. Loopback only, bounded in time. Shared by
 * test/pool/placement.test.ts and load/lag.ts.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
// Not imported here: importing it starts the probe in the importing process.
const PRELOAD = fileURLToPath(new URL('./loop-delay.ts', import.meta.url));
/** The tag of the lines ./loop-delay.ts writes. */
const LOOP_DELAY_TAG = 'anymax-loop-delay';

export interface LoopDelay {
  count: number;
  min: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export interface LagServer {
  proc: ChildProcess;
  port: number;
  /** The child's event-loop delay since the previous call (or its start); the histogram starts afresh. */
  delay(): Promise<LoopDelay>;
  /** SIGTERM; the exit code, and the delay since the last delay() that the child wrote on its way out. */
  stop(): Promise<{ code: number | null; delay: LoopDelay | undefined }>;
  /** The last lines of its log and its stderr, for a failure's message. */
  output(): string;
}

/** Starts src/server.ts (tsx) on 127.0.0.1, port 0, with the delay probe preloaded. */
export async function startLagServer(env: Record<string, string> = {}): Promise<LagServer> {
  const proc = spawn(process.execPath, ['--import', 'tsx', '--import', PRELOAD, 'src/server.ts'], {
    cwd: ROOT,
    // One process (no cluster): the preloaded probe measures the loop that serves.
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'info', PROCESSES: '1', GRPC_PORT: '0', ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  let tail = '';
  /** The delay lines the child wrote, parsed, and who waits for the next one. */
  const delays: LoopDelay[] = [];
  let waiting: ((d: LoopDelay) => void) | undefined;
  let partial = '';
  proc.stderr!.on('data', (c: Buffer) => {
    const text = c.toString();
    if (err.length < 1 << 16) err += text;
    partial += text;
    let nl;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (!line.startsWith(`${LOOP_DELAY_TAG} `)) continue;
      const d = JSON.parse(line.slice(LOOP_DELAY_TAG.length + 1)) as LoopDelay;
      if (waiting) {
        waiting(d);
        waiting = undefined;
      } else delays.push(d);
    }
  });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not listen in 30 s: ${out}${err}`)), 30_000);
    const onData = (c: Buffer) => {
      // Only the start of the log is kept: the access log of a flood is long.
      if (out.length < 1 << 16) out += c.toString();
      const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        proc.stdout!.off('data', onData);
        // Keep draining (the child must never block on a full pipe), keeping the last lines.
        proc.stdout!.on('data', (d: Buffer) => {
          tail = (tail + d.toString()).slice(-4096);
        });
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited (${code}) before listening: ${out}${err}`));
    });
  });
  return {
    proc,
    port,
    output: () => `${tail}\n${err}`,
    delay: () =>
      new Promise<LoopDelay>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no event-loop delay line within 10 s')), 10_000);
        waiting = (d) => {
          clearTimeout(timer);
          resolve(d);
        };
        proc.kill('SIGWINCH');
      }),
    stop: () =>
      new Promise((resolve) => {
        const done = (code: number | null) => resolve({ code, delay: delays.pop() });
        if (proc.exitCode !== null) return done(proc.exitCode);
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        // 'close', not 'exit': the last stderr line may arrive after the exit.
        proc.on('close', (code) => {
          clearTimeout(t);
          done(code);
        });
        proc.kill('SIGTERM');
      }),
  };
}

/** One request's answer: status and time (ms), its body drained and dropped. */
function request(port: number, opts: { method: string; path: string; body?: Buffer; agent: http.Agent | false; timeoutMs: number }): Promise<{ status: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = opts.body ? { 'content-type': 'application/json', 'content-length': opts.body.length } : {};
    const req = http.request({ host: '127.0.0.1', port, method: opts.method, path: opts.path, agent: opts.agent, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, ms: performance.now() - t0 }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs, () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

export interface FloodOptions {
  connections: number;
  durationMs: number;
  /** GET /health/live this often, each on a new connection. */
  probeEveryMs: number;
  /** A probe not answered within this fails (the liveness probe's timeoutSeconds). */
  probeTimeoutMs: number;
}

export interface FloodResult {
  /** Answers per body: how many, with which statuses, and their latencies (ms). */
  perBody: Map<string, { count: number; statuses: Map<number, number>; ms: number[] }>;
  /** Requests that failed outright (connection errors, timeouts), with their reason. */
  errors: string[];
  /** Probe latencies (ms), and the probes that failed or answered other than 200. */
  probes: number[];
  probeFailures: string[];
  elapsedMs: number;
}

/** Sends the bodies round-robin over `connections` keep-alive connections for durationMs, probing /health/live. */
export async function flood(port: number, bodies: WorstBody[], opts: FloodOptions): Promise<FloodResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.connections });
  const perBody = new Map<string, { count: number; statuses: Map<number, number>; ms: number[] }>();
  for (const b of bodies) perBody.set(b.name, { count: 0, statuses: new Map(), ms: [] });
  const errors: string[] = [];
  const probes: number[] = [];
  const probeFailures: string[] = [];
  const t0 = performance.now();
  const end = t0 + opts.durationMs;
  let next = 0;

  const client = async () => {
    while (performance.now() < end) {
      const b = bodies[next++ % bodies.length];
      try {
        const r = await request(port, { method: 'POST', path: `/v1/${b.endpoint}`, body: b.body, agent, timeoutMs: 30_000 });
        const s = perBody.get(b.name)!;
        s.count++;
        s.statuses.set(r.status, (s.statuses.get(r.status) ?? 0) + 1);
        s.ms.push(r.ms);
      } catch (e) {
        errors.push(`${b.name}: ${(e as Error).message}`);
      }
    }
  };
  const inFlight: Promise<void>[] = [];
  const probe = async () => {
    try {
      const r = await request(port, { method: 'GET', path: '/health/live', agent: false, timeoutMs: opts.probeTimeoutMs });
      probes.push(r.ms);
      if (r.status !== 200) probeFailures.push(`status ${r.status} after ${r.ms.toFixed(0)} ms`);
    } catch (e) {
      probeFailures.push((e as Error).message);
    }
  };
  const timer = setInterval(() => inFlight.push(probe()), opts.probeEveryMs);
  try {
    await Promise.all(Array.from({ length: opts.connections }, client));
  } finally {
    clearInterval(timer);
    await Promise.all(inFlight);
    agent.destroy();
  }
  return { perBody, errors, probes, probeFailures, elapsedMs: performance.now() - t0 };
}

/** The q-quantile of xs (nearest rank), or NaN for none. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
}
