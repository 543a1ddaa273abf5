import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import type { ServiceLink } from '../src/cluster.js';
import { parseProm, promValue, randomLogits, send, tryConnect, waitFor, within } from './helpers/http.js';

/**
 * src/cluster.ts through src/server.ts as processes: PROCESSES=2 on 127.0.0.1, port 0 (the
 * first serving process picks it; the primary's "all processes listening" line says which).
 * Every request goes on a fresh connection, so the primary's round-robin spreads them.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const started: ChildProcess[] = [];

afterEach(() => {
  // The primary this file started, by its handle; its serving processes exit when it is gone
  // (Node's cluster workers leave at once when their IPC channel closes).
  for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

interface Log {
  msg: string;
  pid: number;
  proc: number | 'primary';
  [k: string]: unknown;
}

interface Cluster {
  proc: ChildProcess;
  logs: Log[];
  stderr: () => string;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

async function startCluster(env: Record<string, string> = {}): Promise<Cluster> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', HOST: '127.0.0.1', PROCESSES: '2', WORKERS: '1', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(proc);
  const logs: Log[] = [];
  let stderr = '';
  let buf = '';
  proc.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      logs.push(JSON.parse(buf.slice(0, nl)) as Log);
      buf = buf.slice(nl + 1);
    }
  });
  proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  await within(
    Promise.race([
      waitFor(() => logs.some((l) => l.msg === 'all processes listening'), 40_000, 'both processes to listen'),
      exited.then((e) => Promise.reject(new Error(`exited ${JSON.stringify(e)}: ${stderr}`))),
    ]),
    45_000,
    'the cluster to start',
  );
  // The primary sees a listen before the process logs its own ready line.
  await waitFor(() => logs.filter((l) => l.msg === 'anymax ready').length === 2, 10_000, 'both ready lines');
  const port = logs.find((l) => l.msg === 'all processes listening')!.port as number;
  return { proc, logs, stderr: () => stderr, port, exited };
}


const metrics = async (port: number) => parseProm((await send(port, 'GET', '/metrics')).body);
const servingPids = (c: Cluster) => [...new Set(c.logs.filter((l) => l.msg === 'anymax ready').map((l) => l.pid))];
/** pid of each access-log line for a route. */
const answeredBy = (c: Cluster, route: string) => c.logs.filter((l) => l.msg === 'request' && l.route === route).map((l) => l.pid);


describe('src/cluster.ts: PROCESSES=2', () => {
  it('both processes answer, with the same bytes; /metrics and readiness are the whole service; logs name the process', async () => {
    const c = await startCluster({ MEMORY_BUDGET_BYTES: String(256 << 20) });
    expect(servingPids(c)).toHaveLength(2);
    await waitFor(async () => (await send(c.port, 'GET', '/health/ready')).status === 200, 10_000, 'ready');
    expect((await send(c.port, 'GET', '/v2/health/ready')).status).toBe(200);

    // Inline (1x50) and pool (20x2000, n 50) seeded draws, 8 of each on fresh connections.
    const small = JSON.stringify({ logits: randomLogits(1, 50, 3), n: 1, seed: 1 });
    const big = JSON.stringify({ logits: randomLogits(20, 2000, 4), n: 50, seed: 9, temperature: 0.7 });
    const answers: { status: number; body: string }[][] = [[], []];
    for (let i = 0; i < 8; i++) {
      answers[0].push(await send(c.port, 'POST', '/v1/sample', small));
      answers[1].push(await send(c.port, 'POST', '/v1/sample', big));
    }
    for (const group of answers) {
      expect(group.map((a) => a.status)).toEqual(Array(8).fill(200));
      expect(new Set(group.map((a) => a.body)).size, 'one answer whatever process gave it').toBe(1);
    }
    // An access line is written once its answer is: wait for the last ones.
    await waitFor(() => answeredBy(c, '/v1/sample').length === 16, 5000, 'the 16 access lines');
    const pids = answeredBy(c, '/v1/sample');
    expect(new Set(pids), 'both processes answered').toEqual(new Set(servingPids(c)));

    // Every scrape, whichever process answers it, counts all 16 and sees both processes.
    for (let i = 0; i < 4; i++) {
      const m = await metrics(c.port);
      expect(promValue(m, 'anymax_http_request_duration_seconds_count', { route: '/v1/sample', status: '200' })).toBe(16);
      expect(promValue(m, 'anymax_rows_total', { kernel: 'sample' })).toBe(8 * 1 + 8 * 20);
      expect(promValue(m, 'anymax_processes')).toBe(2);
      expect(promValue(m, 'anymax_process_restarts_total')).toBe(0);
      // Each process holds half of the budget; the sum is MEMORY_BUDGET_BYTES.
      expect(promValue(m, 'anymax_memory_budget_bytes')).toBe(256 << 20);
    }
    expect(new Set(answeredBy(c, '/metrics')).size, 'both processes answered a scrape').toBe(2);
    // Every line names its process: the serving ones by cluster id, the primary as such.
    for (const l of c.logs) expect(l.proc === 'primary' || (typeof l.proc === 'number' && l.proc >= 1), JSON.stringify(l)).toBe(true);
    expect(c.logs.filter((l) => l.msg === 'anymax ready').map((l) => l.proc).sort()).toEqual([1, 2]);

    c.proc.kill('SIGTERM');
    expect(await within(c.exited, 30_000, 'exit')).toEqual({ code: 0, signal: null });
  });

  it('a killed process is replaced while the other serves; the metrics count the restart', async () => {
    const c = await startCluster();
    const [victim, survivor] = servingPids(c);
    process.kill(victim, 'SIGKILL');
    await waitFor(() => c.logs.some((l) => l.msg === 'process died, replacing it' && l.exited === victim), 10_000, 'the primary to see the death');
    // A scrape meanwhile sums the processes that listen, without waiting for the one starting.
    const early = await send(c.port, 'GET', '/metrics');
    expect(early.status, early.body.slice(0, 300)).toBe(200);
    expect([1, 2]).toContain(promValue(parseProm(early.body), 'anymax_processes'));
    // Until the replacement listens, every connection goes to the survivor.
    const body = JSON.stringify({ logits: randomLogits(2, 30, 5), n: 3, seed: 4 });
    const during = await Promise.all(Array.from({ length: 6 }, () => send(c.port, 'POST', '/v1/sample', body)));
    expect(during.map((a) => a.status)).toEqual(Array(6).fill(200));
    expect(new Set(during.map((a) => a.body)).size).toBe(1);

    await waitFor(() => servingPids(c).length === 3, 30_000, 'the replacement to listen');
    const replacement = servingPids(c).find((p) => p !== victim && p !== survivor)!;
    expect(c.logs.find((l) => l.msg === 'anymax ready' && l.pid === replacement)?.proc).toBe(3);
    await waitFor(async () => promValue(await metrics(c.port), 'anymax_processes') === 2, 10_000, 'two processes listening');
    const m = await metrics(c.port);
    expect(promValue(m, 'anymax_process_restarts_total')).toBe(1);
    // The replacement serves the same port, and the same bytes.
    const after = [];
    for (let i = 0; i < 6; i++) after.push(await send(c.port, 'POST', '/v1/sample', body));
    expect(after.map((a) => a.body)).toEqual(Array(6).fill(during[0].body));
    await waitFor(() => answeredBy(c, '/v1/sample').includes(replacement), 5000, 'an access line of the replacement');
    expect((await send(c.port, 'GET', '/health/ready')).status).toBe(200);

    c.proc.kill('SIGTERM');
    expect(await within(c.exited, 30_000, 'exit')).toEqual({ code: 0, signal: null });
  });

  it('SIGTERM to the primary drains every process: in-flight requests on both finish with 200, exit 0', async () => {
    const c = await startCluster({ REQUEST_TIMEOUT_MS: '60000' });
    // Six heavy pool jobs (4 x 1000 x 4000 draws each) on fresh connections: the primary's
    // round-robin gives each process some (it hands a connection to whichever process is free
    // to take one, so not always three each), on one worker each.
    const bodies = [1, 2, 3, 4, 5, 6].map((i) => JSON.stringify({ logits: randomLogits(4, 1000, i), n: 4000, seed: i }));
    const inFlight = bodies.map((b) => send(c.port, 'POST', '/v1/sample', b));
    inFlight.forEach((p) => p.catch(() => {}));
    await waitFor(
      async () => {
        const m = await metrics(c.port);
        return promValue(m, 'anymax_busy_workers') + promValue(m, 'anymax_queue_depth') >= 6;
      },
      20_000,
      'six jobs in the pools',
    );
    c.proc.kill('SIGTERM');
    await waitFor(async () => (await tryConnect(c.port)) === 'refused', 10_000, 'the listeners to close');

    const results = await within(Promise.all(inFlight), 60_000, 'the in-flight requests');
    results.forEach((r, i) => {
      expect(r.status, r.body.slice(0, 200)).toBe(200);
      expect((JSON.parse(r.body) as { seed: number }).seed).toBe(i + 1);
    });
    expect(await within(c.exited, 30_000, 'the primary to exit')).toEqual({ code: 0, signal: null });
    const pids = servingPids(c);
    await waitFor(() => answeredBy(c, '/v1/sample').length === 6, 5000, 'the 6 access lines');
    expect(new Set(answeredBy(c, '/v1/sample')), `both processes had work in flight: ${JSON.stringify(c.logs)}`).toEqual(new Set(pids));
    for (const pid of pids) {
      expect(c.logs.some((l) => l.pid === pid && l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
      expect(c.logs.some((l) => l.proc === 'primary' && l.msg === 'process exited' && l.exited === pid && l.code === 0)).toBe(true);
    }
    expect(c.logs.filter((l) => (l.level as number) >= 50), 'no error logs').toEqual([]);
  });

  it.each([
    ['the processes first', false],
    ['the primary first', true],
  ])('SIGINT to the whole group (a terminal\'s Ctrl-C), %s: each process drains once, none is replaced, exit 0', async (_name, primaryFirst) => {
    const c = await startCluster();
    const pids = servingPids(c);
    const order = primaryFirst ? [c.proc.pid!, ...pids] : [...pids, c.proc.pid!];
    // As the terminal does: all at once (a process that had already exited would throw ESRCH).
    for (const pid of order) process.kill(pid, 'SIGINT');
    expect(await within(c.exited, 30_000, 'the primary to exit')).toEqual({ code: 0, signal: null });
    for (const pid of pids) {
      expect(c.logs.filter((l) => l.pid === pid && l.msg === 'shutting down')).toHaveLength(1);
      expect(c.logs.some((l) => l.proc === 'primary' && l.msg === 'process exited' && l.exited === pid && l.code === 0)).toBe(true);
    }
    expect(c.logs.filter((l) => l.msg === 'shutting down').map((l) => l.signal)).toEqual(['SIGINT', 'SIGINT', 'SIGINT']);
    expect(c.logs.some((l) => l.msg === 'process died, replacing it')).toBe(false);
    expect(c.stderr()).not.toContain('second');
  });

  it('a MEMORY_BUDGET_BYTES too small to split stops the start with a message naming it', async () => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', PORT: '0', PROCESSES: '4', MEMORY_BUDGET_BYTES: String(32 << 20) },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(proc);
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    const code = await within(new Promise<number | null>((r) => proc.on('exit', (c) => r(c))), 30_000, 'exit');
    expect(code).toBe(2);
    expect(stderr).toMatch(/MEMORY_BUDGET_BYTES \(33554432\) over PROCESSES \(4\)/);
  });
});

describe('buildApp with a ServiceLink (what a serving process of a cluster gets)', () => {
  it('readiness needs the service ready too; /metrics is the service\'s text; the log names the process', async () => {
    let ready = false;
    let attached: Registry | undefined;
    const lines: string[] = [];
    const link: ServiceLink = {
      bindings: { proc: 7 },
      attach: (r) => void (attached = r),
      ready: () => ready,
      metrics: async () => '# the whole service\nanymax_processes 2\n',
      onDrain: () => {},
    };
    const app = await buildApp({ workers: 1, service: link, logStream: { write: (l: string) => void lines.push(l) } });
    try {
      expect(attached).toBe(app.metrics.registry);
      await waitFor(() => app.jobs.ready(), 10_000, 'the pool');
      // The pool is up, but the service is not (a process still starting, or a drain).
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(503);
      expect((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode).toBe(503);
      expect((await app.inject({ method: 'GET', url: '/health/live' })).statusCode).toBe(200);
      ready = true;
      expect((await app.inject({ method: 'GET', url: '/health/ready' })).statusCode).toBe(200);
      expect((await app.inject({ method: 'GET', url: '/v2/health/ready' })).statusCode).toBe(200);
      const m = await app.inject({ method: 'GET', url: '/metrics' });
      expect(m.statusCode).toBe(200);
      expect(m.body).toBe('# the whole service\nanymax_processes 2\n');
      const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request');
      expect(logged.length).toBeGreaterThan(0);
      for (const l of logged) expect(l).toMatchObject({ proc: 7, pid: process.pid });
    } finally {
      await app.close();
    }
  });
});
