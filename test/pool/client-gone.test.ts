import { connect, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import type { Task } from '../../src/worker.js';
import { listenLocal, promValue, randomLogits, scrape, waitFor, within, type Listening } from '../helpers/http.js';

/**
 * Clients that hang up (src/routes/v1.ts, src/pool/jobs.ts), over real sockets on 127.0.0.1:
 * their queued work is dropped and their slot freed at once, a running job is stopped with its
 * worker once Config.stopGraceMs has passed (let finish, and its answer dropped, if it ends
 * sooner), a streamed answer stops asking for chunks, and every byte of the memory budget comes
 * back. Each is counted once (rejected{reason="client_gone"}), logged as status 499 at info
 * level (never as a server error), and the service goes on answering.
 */

/** The pino lines written by the app under test. */
class Lines extends Writable {
  lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.lines.push(JSON.parse(line));
    done();
  }
  /** Access-log lines of /v1 routes with this status. */
  access(status: number): Record<string, unknown>[] {
    return this.lines.filter((l) => l.msg === 'request' && l.status === status && String(l.route).startsWith('/v1/'));
  }
  /** Lines at pino's error level (50) or above. */
  errors(): Record<string, unknown>[] {
    return this.lines.filter((l) => (l.level as number) >= 50);
  }
  /** The lines of one request: its access line (status 499 for a client that left) and no other. */
  expectGone(id: string, route: string, extra: Record<string, unknown> = {}): void {
    const mine = this.lines.filter((l) => l.requestId === id);
    expect(mine, `the log lines of ${id}`).toEqual([expect.objectContaining({ level: 30, msg: 'request', route, method: 'POST', status: 499, ...extra })]);
  }
}

let s: Listening | undefined;
let log: Lines;
const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);

async function start(overrides: Partial<Config>): Promise<Listening> {
  log = new Lines();
  unhandled.length = 0;
  process.on('unhandledRejection', onUnhandled);
  s = await listenLocal({ logLevel: 'info', logStream: log, ...overrides });
  return s;
}

afterEach(async () => {
  process.off('unhandledRejection', onUnhandled);
  await s?.app.close();
  s = undefined;
});

/** A request written on its own socket; the test reads, pauses or drops the socket as it likes. */
interface Client {
  socket: Socket;
  /** Bytes received so far. */
  received(): number;
  /** Resolves when the socket has closed (either side). */
  closed: Promise<void>;
}

/** With `id`, the request carries it as x-request-id (so its log lines can be found). */
function open(port: number, path: string, body: string, opts: { sendBytes?: number; id?: string } = {}): Client {
  const socket = connect({ host: '127.0.0.1', port });
  let received = 0;
  socket.on('data', (d: Buffer) => (received += d.length));
  socket.on('error', () => {}); // a reset after our own destroy is expected
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const head =
    `POST ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n` +
    (opts.id ? `x-request-id: ${opts.id}\r\n` : '') +
    `content-length: ${Buffer.byteLength(body)}\r\n\r\n`;
  socket.write(head + body.slice(0, opts.sendBytes ?? body.length));
  return { socket, received: () => received, closed };
}

const json = (v: unknown) => JSON.stringify(v);

/** A POST over its own connection (undici keeps it alive; the app closes idle ones on close). */
async function fetchJson(base: string, path: string, body: string): Promise<{ status: number; text: string }> {
  const r = await fetch(base + path, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
  return { status: r.status, text: await r.text() };
}

const metric = async (app: FastifyInstance, name: string, labels: Record<string, string> = {}) =>
  promValue(await scrape(app), name, labels);

const ready = async (app: FastifyInstance) => (await app.inject({ method: 'GET', url: '/health/ready' })).statusCode === 200;

/**
 * Every request is one 'body' task that the worker answers whole: nothing is inline
 * (inlineMaxBytes 0), split or shared (splitMinWork out of reach), and the answers stay below
 * streamMinElements. So one task, one queue wait observed, per request that reaches a worker.
 */
const ONE_TASK: Partial<Config> = { workers: 1, inlineMaxBytes: 0, inlineMaxNs: 0, splitMinWork: 2 ** 50, maxElements: 2e8 };
/** Hundreds of ms to seconds of one worker: 4 x 2000 x 16000 = 128M draws, 64000 samples. */
const SLOW = json({ logits: randomLogits(4, 2000, 7), n: 16000, seed: 3 });
/** 8M draws. */
const HEAVY = json({ logits: randomLogits(4, 1000, 5), n: 2000, seed: 1 });

/**
 * The process is healthy: no unhandled rejection, no error-level line but those of the codes
 * the test caused on purpose, the memory budget all back, and /health/ready 200.
 */
async function expectClean(app: FastifyInstance, expectedErrorCodes: string[] = []) {
  expect(unhandled, 'unhandled rejections').toEqual([]);
  expect(log.errors().filter((l) => !expectedErrorCodes.includes(l.code as string)), 'error-level log lines').toEqual([]);
  await waitFor(async () => (await metric(app, 'anymax_memory_reserved_bytes')) === 0, 5000, 'the memory budget to come back');
  await waitFor(() => ready(app), 10_000, '/health/ready');
}

describe('a client that hangs up while its job is queued', () => {
  it('frees its slot at once; its job never runs and no worker is replaced', async () => {
    const { app, port, base } = await start({ ...ONE_TASK, queueLimit: 2 });
    const pool = app.jobs.pool;
    await waitFor(() => pool.threads.length === 1, 10_000, 'the worker to start');
    const thread = pool.threads[0].threadId;

    let slowDone = false;
    const slow = fetchJson(base, '/v1/sample', SLOW).finally(() => (slowDone = true));
    await waitFor(async () => (await metric(app, 'anymax_busy_workers')) === 1, 10_000, 'the slow job to run');
    const gone = [open(port, '/v1/sample', HEAVY, { id: 'gone-1' }), open(port, '/v1/sample', HEAVY, { id: 'gone-2' })];
    await waitFor(async () => (await metric(app, 'anymax_queue_depth')) === 2, 10_000, 'both jobs to queue');
    // Every slot (1 worker + queueLimit 2) is taken: one more is refused.
    const full = await fetchJson(base, '/v1/sample', HEAVY);
    expect(full.status, full.text).toBe(503);
    expect(JSON.parse(full.text).code).toBe('OVERLOADED');

    for (const c of gone) c.socket.destroy();
    await waitFor(async () => (await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })) === 2, 5000, 'the hang-ups to be seen');
    expect(await metric(app, 'anymax_queue_depth')).toBe(0);
    // Still behind the slow job, so only the dropped jobs' slots can make room for this one.
    expect(slowDone, 'the slow job is still running (make SLOW bigger if this machine is that fast)').toBe(false);
    const next = fetchJson(base, '/v1/sample', HEAVY);
    await waitFor(async () => (await metric(app, 'anymax_queue_depth')) === 1, 5000, 'the next job to queue');
    expect(slowDone, 'the next job was admitted while the slow one still ran').toBe(false);

    const [a, b] = await within(Promise.all([slow, next]), 60_000, 'the slow and the next job');
    expect(a.status, a.text).toBe(200);
    expect(b.status, b.text).toBe(200);
    expect(JSON.parse(b.text).samples).toHaveLength(4);

    // Only the slow job and the next one reached a worker: the dropped ones never ran.
    const m = await scrape(app);
    expect(promValue(m, 'anymax_queue_wait_seconds_count', { kernel: 'sample' })).toBe(2);
    expect(pool.completed).toBe(2);
    expect(promValue(m, 'anymax_rejected_requests_total', { reason: 'client_gone' })).toBe(2);
    expect(promValue(m, 'anymax_rejected_requests_total', { reason: 'overloaded' })).toBe(1);
    // A task that was only queued costs no worker.
    expect(pool.threads.map((t) => t.threadId)).toEqual([thread]);
    expect(promValue(m, 'anymax_worker_restarts_total')).toBe(0);

    await waitFor(() => log.access(499).length === 2, 5000, 'the two access-log lines');
    log.expectGone('gone-1', '/v1/sample');
    log.expectGone('gone-2', '/v1/sample');
    expect(log.access(200)).toHaveLength(2);
    // The one error-level line is the 503 asked for above (every 5xx is logged as an error).
    await expectClean(app, ['OVERLOADED']);
  });
});

describe('a client that hangs up while its job runs', () => {
  it('stops the job once the stop grace has passed (its worker is replaced); the service stays ready and answers', async () => {
    const { app, port, base } = await start({ ...ONE_TASK, queueLimit: 2, stopGraceMs: 100 });
    const pool = app.jobs.pool;
    await waitFor(() => pool.threads.length === 1, 10_000, 'the worker to start');
    // Loaded (a task handed to a worker still loading has not begun: it is stopped as a queued one).
    expect((await fetchJson(base, '/v1/sample', HEAVY)).status).toBe(200);
    const thread = pool.threads[0].threadId;

    const c = open(port, '/v1/sample', SLOW, { id: 'gone-running' });
    await waitFor(async () => (await metric(app, 'anymax_busy_workers')) === 1, 10_000, 'the job to run');
    await new Promise((r) => setTimeout(r, 200));
    c.socket.destroy();
    await waitFor(async () => (await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })) === 1, 5000, 'the hang-up to be seen');
    await waitFor(() => pool.threads.length === 1 && pool.threads[0].threadId !== thread, 10_000, 'a new worker');
    // Counted once the new worker is ready.
    await waitFor(async () => (await metric(app, 'anymax_worker_restarts_total')) === 1, 10_000, 'the restart to be counted');
    // It was stopped, not finished: only the first job's queue wait and kernel time were recorded.
    const m = await scrape(app);
    expect(promValue(m, 'anymax_queue_wait_seconds_count', { kernel: 'sample' })).toBe(1);
    expect(promValue(m, 'anymax_kernel_duration_seconds_count', { kernel: 'sample', where: 'pool' })).toBe(1);

    const r = await within(fetchJson(base, '/v1/sample', HEAVY), 30_000, 'a request after the hang-up');
    expect(r.status, r.text).toBe(200);
    expect(JSON.parse(r.text).samples).toHaveLength(4);
    await waitFor(() => log.access(499).length === 1, 5000, 'the access-log line');
    log.expectGone('gone-running', '/v1/sample');
    await expectClean(app);
  });
});

describe('a client that hangs up while its job runs, within the stop grace', () => {
  it('lets the job finish (no worker replaced, its kernel time recorded); the service answers', async () => {
    // A grace longer than the job: the running task is let finish (Config.stopGraceMs).
    const { app, port, base } = await start({ ...ONE_TASK, queueLimit: 2, stopGraceMs: 120_000 });
    const pool = app.jobs.pool;
    await waitFor(() => pool.threads.length === 1, 10_000, 'the worker to start');
    const thread = pool.threads[0].threadId;
    // A first job loads the worker's modules: a task handed to a worker still loading them has
    // not begun, and is stopped as a queued one is.
    expect((await fetchJson(base, '/v1/sample', HEAVY)).status).toBe(200);

    const c = open(port, '/v1/sample', SLOW, { id: 'gone-in-grace' });
    await waitFor(async () => (await metric(app, 'anymax_busy_workers')) === 1, 10_000, 'the job to run');
    // Begun by now: SLOW takes seconds, and a loaded worker starts a task within a millisecond.
    await new Promise((r) => setTimeout(r, 200));
    c.socket.destroy();
    await c.closed;
    await waitFor(async () => (await metric(app, 'anymax_busy_workers')) === 0, 60_000, 'the job to finish');
    // Finished, not stopped: its kernel time was recorded, and its worker is the same thread.
    const m = await scrape(app);
    expect(promValue(m, 'anymax_kernel_duration_seconds_count', { kernel: 'sample', where: 'pool' })).toBe(2);
    expect(pool.threads.map((t) => t.threadId)).toEqual([thread]);

    const r = await within(fetchJson(base, '/v1/sample', HEAVY), 30_000, 'a request after the hang-up');
    expect(r.status, r.text).toBe(200);
    expect(pool.threads.map((t) => t.threadId)).toEqual([thread]);
    expect(await metric(app, 'anymax_worker_restarts_total')).toBe(0);
    // The request ended as a client gone: one access line (499), counted once, and no error.
    log.expectGone('gone-in-grace', '/v1/sample');
    expect(await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })).toBe(1);
    await expectClean(app);
  });
});

describe('a client that hangs up in the middle of a streamed answer', () => {
  it('asks for no more chunks; the budget comes back; the process stays healthy', async () => {
    const { app, port } = await start({ workers: 1 });
    // Every task submitted to the pool, in order, and the point where the server saw the close.
    const events: string[] = [];
    const run = app.jobs.pool.run.bind(app.jobs.pool);
    app.jobs.pool.run = (task: Task, options) => {
      events.push(task.kind);
      return run(task, options);
    };
    app.server.on('request', (_req, res) => res.once('close', () => events.push('close')));

    // 400 x 1000 probabilities: 400000 numbers, ~13 chunks and ~8 MB of answer text.
    const body = json({ logits: randomLogits(400, 1000, 11) });
    const c = open(port, '/v1/softmax', body, { id: 'gone-streaming' });
    // Leave on the answer's first bytes: the workers are still formatting its chunks. (A client
    // that only stops reading is no use here: the kernel's socket buffers on loopback take
    // megabytes, the whole of this answer.)
    await within(new Promise((r) => c.socket.once('data', r)), 30_000, 'the answer to start');
    c.socket.destroy();
    await waitFor(() => events.includes('close'), 5000, 'the server to see the close');
    await waitFor(async () => (await metric(app, 'anymax_memory_reserved_bytes')) === 0, 5000, 'the reservation back');
    // Time for a chunk in flight to come back and a late one to be asked for (the defect this catches).
    await new Promise((r) => setTimeout(r, 300));

    const formats = events.filter((e) => e === 'format').length;
    expect(formats, 'the answer was cut mid-way (not every chunk was formatted)').toBeLessThan(Math.ceil(400_000 / 32_768));
    expect(events.slice(events.indexOf('close')).filter((e) => e === 'format'), 'chunks asked for after the close').toEqual([]);
    expect(await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })).toBe(1);
    await waitFor(() => log.access(499).length === 1, 5000, 'the access-log line');
    // The 200 and its head went out before the client left; the line says it was cut short.
    log.expectGone('gone-streaming', '/v1/softmax', { answerStarted: true, rows: 400, cols: 1000 });

    // Healthy: the same kind of answer, whole, to the next client.
    const r = await app.inject({ method: 'POST', url: '/v1/softmax', headers: { 'content-type': 'application/json' }, payload: json({ logits: randomLogits(100, 1000, 12) }) });
    expect(r.statusCode).toBe(200);
    expect(JSON.parse(r.body).probs).toHaveLength(100);
    await expectClean(app);
  });
});

describe('a client that hangs up during its upload', () => {
  const BIG = json({ logits: randomLogits(200, 1000, 13) });

  it('reset mid-body: the reservation is returned, counted as client_gone', async () => {
    const { app, port } = await start({ workers: 1 });
    const c = open(port, '/v1/softmax', BIG, { sendBytes: 100_000, id: 'gone-uploading' });
    await waitFor(async () => (await metric(app, 'anymax_memory_reserved_bytes')) > 0, 5000, 'the body to be reserved for');
    c.socket.resetAndDestroy();
    await waitFor(async () => (await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })) === 1, 5000, 'the hang-up to be seen');
    const m = await scrape(app);
    expect(promValue(m, 'anymax_rejected_requests_total', { reason: 'invalid' })).toBe(0);
    await waitFor(() => log.access(499).length === 1, 5000, 'the access-log line');
    log.expectGone('gone-uploading', '/v1/softmax');
    await expectClean(app);
  });

  it('shut mid-body: the reservation is returned; Node reads it as a truncated request (400, counted malformed)', async () => {
    const { app, port } = await start({ workers: 1 });
    const c = open(port, '/v1/softmax', BIG, { sendBytes: 100_000 });
    await waitFor(async () => (await metric(app, 'anymax_memory_reserved_bytes')) > 0, 5000, 'the body to be reserved for');
    // A FIN: from the server's side this cannot be told from a client that only shut its sending
    // half and waits for an answer, so it gets one (src/plugins/http-errors.ts).
    c.socket.end();
    await within(c.closed, 5000, 'the server to close');
    await waitFor(async () => (await metric(app, 'anymax_rejected_requests_total', { reason: 'malformed' })) === 1, 5000, 'the 400 to be counted');
    expect(await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })).toBe(0);
    await expectClean(app);
  });

  it('gone while waiting for memory: leaves the wait at once and takes no reservation', async () => {
    // A budget with room for one such body's estimate (src/pool/jobs.ts estimate()), not two.
    const first = await start({ workers: 1 });
    const one = first.app.jobs.estimate(Buffer.byteLength(BIG));
    await first.app.close();
    const { app, port, base } = await start({ workers: 1, memoryWaitMs: 20_000, memoryBudgetBytes: Math.floor(one * 1.5) });
    const holder = open(port, '/v1/softmax', BIG, { sendBytes: 1000, id: 'gone-holding' });
    await waitFor(async () => (await metric(app, 'anymax_memory_reserved_bytes')) === one, 5000, 'the first body to be reserved for');
    const waiter = open(port, '/v1/softmax', BIG, { sendBytes: 0, id: 'gone-waiting' });
    await new Promise((r) => setTimeout(r, 200));
    expect(await metric(app, 'anymax_memory_reserved_bytes'), 'the second waits').toBe(one);
    waiter.socket.resetAndDestroy();
    await waitFor(async () => (await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })) === 1, 5000, 'the hang-up to be seen');
    holder.socket.resetAndDestroy();
    await waitFor(async () => (await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })) === 2, 5000, 'the second hang-up');
    // Neither holds anything, and the one that waited is not in the way of the next.
    await waitFor(async () => (await metric(app, 'anymax_memory_reserved_bytes')) === 0, 5000, 'the budget to come back');
    const r = await within(fetchJson(base, '/v1/softmax', BIG), 30_000, 'a big request after both');
    expect(r.status, r.text).toBe(200);
    await waitFor(() => log.access(499).length === 2, 5000, 'the access-log lines');
    log.expectGone('gone-waiting', '/v1/softmax');
    log.expectGone('gone-holding', '/v1/softmax');
    // Refused by neither the budget's wait (memory) nor anything else.
    expect(await metric(app, 'anymax_rejected_requests_total', { reason: 'memory' })).toBe(0);
    await expectClean(app);
  });

  it('gone while its chunked body waits for room to grow: leaves the wait, takes nothing', async () => {
    const first = await start({ workers: 1 });
    const one = first.app.jobs.estimate(Buffer.byteLength(BIG));
    await first.app.close();
    // Room for that and 1 MiB: a chunked body's first growth past 64 KiB does not fit.
    const { app, port } = await start({ workers: 1, memoryWaitMs: 20_000, memoryBudgetBytes: one + (1 << 20) });
    const holder = open(port, '/v1/softmax', BIG, { sendBytes: 1000, id: 'gone-holding' });
    await waitFor(async () => (await metric(app, 'anymax_memory_reserved_bytes')) === one, 5000, 'the first body to be reserved for');
    // No Content-Length: past inlineMaxBytes (64 KiB) the body asks for room as it grows. Only a
    // little past it: the body waits with its stream paused, and once more than a stream buffer
    // (16 KiB) is unread, Node stops reading the socket, which then cannot see its client go
    // until the body reads again (when room is found, or the wait times out).
    const part = BIG.slice(0, 70_000);
    const chunked = connect({ host: '127.0.0.1', port });
    chunked.on('error', () => {});
    chunked.write(
      'POST /v1/softmax HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\nx-request-id: gone-growing\r\n' +
        `transfer-encoding: chunked\r\n\r\n${part.length.toString(16)}\r\n${part}\r\n`,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(await metric(app, 'anymax_memory_reserved_bytes'), 'the chunked body waits for room').toBe(one);
    chunked.resetAndDestroy();
    await waitFor(async () => (await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })) === 1, 5000, 'the hang-up to be seen');
    holder.socket.resetAndDestroy();
    await waitFor(async () => (await metric(app, 'anymax_rejected_requests_total', { reason: 'client_gone' })) === 2, 5000, 'the second hang-up');
    await new Promise((r) => setTimeout(r, 200));
    expect(await metric(app, 'anymax_memory_reserved_bytes'), 'nothing held once both left').toBe(0);
    await waitFor(() => log.access(499).length === 2, 5000, 'the access-log lines');
    log.expectGone('gone-growing', '/v1/softmax');
    log.expectGone('gone-holding', '/v1/softmax');
    await expectClean(app);
  });
});
