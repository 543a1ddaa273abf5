import { spawn, type ChildProcess } from 'node:child_process';
import { Agent } from 'node:http';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseProm, promValue, randomLogits, send, tryConnect, waitFor, within } from './helpers/http.js';
import { parseResponses, slowClient, trickle } from './helpers/slow-client.js';

/**
 * src/server.ts as a process: config from the environment (a bad value exits non-zero naming the
 * variable), listening on 127.0.0.1, and a graceful SIGTERM / SIGINT that stops accepting,
 * finishes the requests in flight, closes the pool and exits 0.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

interface Server {
  proc: ChildProcess;
  stdout: string[];
  stderr: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  port: number;
}

const started: ChildProcess[] = [];

afterEach(() => {
  // Only the processes this file started, by their own handle.
  for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

function spawnServer(env: Record<string, string>): Omit<Server, 'port'> & { listening: Promise<number> } {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', GRPC_PORT: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  started.push(proc);
  const s = { proc, stdout: [] as string[], stderr: '' };
  let buf = '';
  let onPort: (port: number) => void;
  let onFail: (e: Error) => void;
  const listening = new Promise<number>((resolve, reject) => {
    onPort = resolve;
    onFail = reject;
  });
  proc.stdout!.on('data', (chunk: Buffer) => {
    buf += chunk.toString('utf8');
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      s.stdout.push(line);
      const m = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) onPort(Number(m[1]));
    }
  });
  proc.stderr!.on('data', (chunk: Buffer) => {
    s.stderr += chunk.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.on('exit', (code, signal) => resolve({ code, signal })),
  );
  void exited.then(() => onFail(new Error(`server exited before listening; stderr: ${s.stderr}`)));
  return { ...s, get stderr() { return s.stderr; }, exited, listening };
}

async function startServer(env: Record<string, string> = {}): Promise<Server> {
  // One process (no cluster): test/cluster.test.ts covers PROCESSES > 1.
  const s = spawnServer({ PORT: '0', HOST: '127.0.0.1', PROCESSES: '1', WORKERS: '1', LOG_LEVEL: 'info', ...env });
  const port = await within(s.listening, 30_000, 'the server to listen');
  return Object.assign(s, { port }) as unknown as Server;
}



describe('src/server.ts', () => {
  it('SIGTERM: stops accepting, finishes the requests in flight with 200, exits 0', async () => {
    const s = await startServer();
    expect((await send(s.port, 'GET', '/health/ready')).status).toBe(200);

    // Four heavy pool jobs (4 x 1000 x 4000 draws each) queue on the single worker.
    const bodies = Array.from({ length: 4 }, (_, i) => JSON.stringify({ logits: randomLogits(4, 1000, i + 1), n: 4000, seed: i }));
    const inFlight = bodies.map((b) => send(s.port, 'POST', '/v1/sample', b));
    inFlight.forEach((p) => p.catch(() => {})); // examined below

    // Wait until the server holds all four (running or queued), then signal.
    await waitFor(
      async () => {
        const m = parseProm((await send(s.port, 'GET', '/metrics')).body);
        return promValue(m, 'anymax_busy_workers') + promValue(m, 'anymax_queue_depth') >= 4;
      },
      20_000,
      'four jobs in the pool',
    );
    expect(s.proc.kill('SIGTERM')).toBe(true);

    // New connections are refused while the old requests are still being served.
    await waitFor(async () => (await tryConnect(s.port)) === 'refused', 10_000, 'the listener to close');

    const results = await within(Promise.all(inFlight), 60_000, 'the in-flight requests');
    results.forEach((r, i) => {
      expect(r.status, r.body.slice(0, 200)).toBe(200);
      const body = JSON.parse(r.body) as { samples: number[][]; seed: number };
      expect(body.seed).toBe(i);
      expect(body.samples).toHaveLength(4);
      expect(body.samples[0]).toHaveLength(4000);
    });

    const exit = await within(s.exited, 30_000, 'the process to exit');
    expect(exit).toEqual({ code: 0, signal: null });
    expect(await tryConnect(s.port)).toBe('refused');
    const logs = s.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logs.some((l) => l.msg === 'shutting down' && l.signal === 'SIGTERM')).toBe(true);
    // One access line per request, every one a 200, none of them carrying the body.
    const access = logs.filter((l) => l.msg === 'request' && l.route === '/v1/sample');
    expect(access.map((l) => l.status)).toEqual([200, 200, 200, 200]);
    expect(access.every((l) => l.rows === 4 && l.cols === 1000)).toBe(true);
    expect(s.stdout.join('\n')).not.toContain('"logits"');
  });

  it('SIGTERM with keep-alive clients: in-flight requests finish, their sockets are let go, exit 0', async () => {
    const s = await startServer({ REQUEST_TIMEOUT_MS: '60000' });
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    try {
      // Warm keep-alive sockets, then put three heavy jobs in flight on them.
      await Promise.all([1, 2, 3].map(() => send(s.port, 'GET', '/health/live', undefined, agent)));
      const bodies = [1, 2, 3].map((i) => JSON.stringify({ logits: randomLogits(4, 1000, i), n: 4000, seed: i }));
      const inFlight = bodies.map((b) => send(s.port, 'POST', '/v1/sample', b, agent));
      inFlight.forEach((p) => p.catch(() => {}));
      await waitFor(
        async () => {
          const m = parseProm((await send(s.port, 'GET', '/metrics')).body);
          return promValue(m, 'anymax_busy_workers') + promValue(m, 'anymax_queue_depth') >= 3;
        },
        20_000,
        'three jobs in the pool',
      );
      s.proc.kill('SIGTERM');
      const results = await within(Promise.all(inFlight), 60_000, 'the in-flight requests');
      for (const r of results) {
        expect(r.status).toBe(200);
        expect(r.connection).toBe('close');
      }
      // Well before the 65 s close-with-grace delay.
      const exit = await within(s.exited, 30_000, 'the process to exit');
      expect(exit).toEqual({ code: 0, signal: null });
    } finally {
      agent.destroy();
    }
  });

  it('SIGTERM with idle and stalled sockets: they are closed at once, the in-flight request gets its 200, exit 0', async () => {
    // Every timeout far past the test, so only the shutdown can close these sockets; the drain
    // delay (REQUEST_TIMEOUT_MS + 5 s = 65 s) is what a stalled socket used to cost, then exit 1.
    const long = '60000';
    const s = await startServer({ REQUEST_TIMEOUT_MS: long, HEADERS_TIMEOUT_MS: long, RECEIVE_TIMEOUT_MS: long, KEEP_ALIVE_TIMEOUT_MS: long });
    const N = 10;
    const head = (length: number) =>
      `POST /v1/argmax HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${length}\r\n\r\n`;
    const clients = await Promise.all(Array.from({ length: 4 * N }, () => slowClient(s.port)));
    const [, headers, body, idle] = [0, 1, 2, 3].map((k) => clients.slice(k * N, (k + 1) * N));
    for (const c of headers!) trickle(c.socket, head(20) + '{"logits":[[1,2]]}  ', 100);
    for (const c of body!) {
      c.socket.write(head(200) + '{');
      trickle(c.socket, ' '.repeat(199), 100);
    }
    for (const c of idle!) c.socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    await waitFor(() => idle!.every((c) => c.received().endsWith('{"status":"ok"}')), 10_000, 'the keep-alive answers');

    // One heavy pool job (4 x 1000 x 4000 draws) in flight on the single worker.
    let settled = false;
    const inFlight = send(s.port, 'POST', '/v1/sample', JSON.stringify({ logits: randomLogits(4, 1000, 7), n: 4000, seed: 7 }));
    inFlight.catch(() => {}).finally(() => (settled = true));
    await waitFor(
      async () => promValue(parseProm((await send(s.port, 'GET', '/metrics')).body), 'anymax_busy_workers') >= 1,
      20_000,
      'the job on the worker',
    );
    expect(settled).toBe(false);
    const signalled = Date.now();
    s.proc.kill('SIGTERM');

    const closes = await within(Promise.all(clients.map((c) => c.closed)), 2000, 'the idle and stalled sockets to close');
    const closedWithin = Date.now() - signalled;
    // Closed without another byte: the idle ones hold only their 200, the others nothing.
    for (const c of closes.slice(0, 3 * N)) expect(c.received).toBe('');
    for (const c of closes.slice(3 * N)) expect(parseResponses(c.received).map((r) => r.status)).toEqual([200]);

    const answer = await within(inFlight, 60_000, 'the in-flight request');
    const answeredAt = Date.now();
    expect(answer.status, answer.body.slice(0, 200)).toBe(200);
    expect(answer.connection).toBe('close');
    const sampled = JSON.parse(answer.body) as { samples: number[][]; seed: number };
    expect(sampled.seed).toBe(7);
    expect(sampled.samples.map((r) => r.length)).toEqual([4000, 4000, 4000, 4000]);

    expect(await within(s.exited, 2000, 'the process to exit after the last answer')).toEqual({ code: 0, signal: null });
    const logs = s.stdout.map((l) => JSON.parse(l) as Record<string, unknown>);
    const shutdown = logs.find((l) => l.msg === 'closed idle and stalled connections');
    expect(shutdown).toMatchObject({ closed: 4 * N, inFlight: 1 });
    expect(logs.filter((l) => (l.level as number) >= 50), 'no error logs').toEqual([]);
    console.log(
      `SIGTERM with ${4 * N} idle/stalled sockets: closed within ${closedWithin} ms; in-flight answered ${answeredAt - signalled} ms ` +
        `after the signal; exit ${Date.now() - answeredAt} ms after it`,
    );
  });

  it('SIGINT when idle exits 0', async () => {
    const s = await startServer();
    expect((await send(s.port, 'POST', '/v1/argmax', '{"logits":[[1,2]]}')).body).toBe('{"indices":[1]}');
    s.proc.kill('SIGINT');
    expect(await within(s.exited, 30_000, 'the process to exit')).toEqual({ code: 0, signal: null });
  });

  it('logs where it listens (the real port, also for PORT=0)', async () => {
    const s = await startServer();
    await waitFor(() => s.stdout.some((l) => l.includes('anymax ready')), 10_000, 'the ready line');
    const ready = JSON.parse(s.stdout.find((l) => l.includes('anymax ready'))!) as { docs: string; workers: number };
    expect(ready.workers).toBe(1);
    expect(ready.docs).toBe(`http://127.0.0.1:${s.port}/docs`);
    s.proc.kill('SIGTERM');
    expect((await within(s.exited, 30_000, 'exit')).code).toBe(0);
  });

  it.each([
    ['WORKERS', 'abc'],
    ['PORT', '99999'],
    ['LOG_LEVEL', 'chatty'],
    ['MAX_BODY_BYTES', '-5'],
  ])('a bad %s=%s exits non-zero with a message naming it', async (name, value) => {
    const s = spawnServer({ PORT: '0', PROCESSES: '1', WORKERS: '1', [name]: value });
    s.listening.catch(() => {});
    const exit = await within(s.exited, 30_000, 'the process to exit');
    expect(exit.code).not.toBe(0);
    expect(exit.code).not.toBeNull();
    expect(s.stderr).toContain(name);
    expect(s.stderr).toContain(JSON.stringify(value));
    expect(s.stderr).not.toMatch(/at .*\.ts:\d+/); // a message, not a stack trace
  });

  it('ANYMAX_TEST_CRASH_ROUTE=1 registers the crash route; a crash leaves the process serving', async () => {
    const s = await startServer({ ANYMAX_TEST_CRASH_ROUTE: '1' });
    const crash = await send(s.port, 'POST', '/v1/_test/crash', '{}');
    expect(crash.status).toBe(500);
    expect(JSON.parse(crash.body)).toMatchObject({ code: 'WORKER_CRASHED' });
    await waitFor(async () => (await send(s.port, 'GET', '/health/ready')).status === 200, 15_000, 'ready after crash');
    const big = JSON.stringify({ logits: randomLogits(20, 500, 1) });
    expect((await send(s.port, 'POST', '/v1/softmax', big)).status).toBe(200);
    s.proc.kill('SIGTERM');
    expect((await within(s.exited, 30_000, 'exit')).code).toBe(0);
  });
});
