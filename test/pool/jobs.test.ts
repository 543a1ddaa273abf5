import { once } from 'node:events';
import http, { type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { expectError, listenLocal, post, promValue, randomLogits, scrape, waitFor, within, type Listening } from '../helpers/http.js';
import { constantMatrixBody } from '../helpers/memory.js';

/**
 * The memory budget as the service applies it (src/routes/v1.ts reserves before the body is
 * read, src/pool/jobs.ts resizes once the job is parsed, the response's close releases): 413 for
 * a request that can never fit, waiting (first come first served) then 200 or 503 with
 * Retry-After, chunked bodies reserving as they grow, and the reserved bytes back to 0 after
 * every kind of ending (answers whole or streamed, 4xx, 503, clients that hang up at any stage).
 * Also: a streamed answer has the bytes of the same answer written whole.
 *
 * Most tests run a listening server (clients that stop reading or hang up need real sockets).
 */

let running: Listening | undefined;
const apps: FastifyInstance[] = [];
const clients: http.ClientRequest[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.destroy();
  await running?.app.close();
  running = undefined;
  for (const a of apps.splice(0)) await a.close();
});

async function listen(overrides: Partial<Config>): Promise<Listening> {
  running = await listenLocal({ workers: 2, ...overrides });
  return running;
}

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

function collect(res: IncomingMessage): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => {
      const body = Buffer.concat(chunks);
      resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: body.toString('latin1') });
    });
    res.on('error', reject);
  });
}

/**
 * Opens a POST to the server. A Buffer is sent whole with its Content-Length; an array of
 * Buffers is sent chunked (no Content-Length), piece by piece, until the server answers.
 */
function open(port: number, path: string, body: Buffer | Buffer[]): { req: http.ClientRequest; response: Promise<IncomingMessage> } {
  const chunked = Array.isArray(body);
  const req = http.request({
    host: '127.0.0.1',
    port,
    path,
    method: 'POST',
    agent: false,
    headers: { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': body.length }) },
  });
  clients.push(req);
  let answered = false;
  const response = new Promise<IncomingMessage>((resolve, reject) => {
    req.on('response', (res) => {
      answered = true;
      resolve(res);
    });
    req.on('error', reject);
  });
  response.catch(() => {}); // hang-up tests destroy the request; the others await it
  if (!chunked) req.end(body);
  else {
    void (async () => {
      for (const piece of body) {
        if (answered || req.destroyed) return;
        if (!req.write(piece)) await once(req, 'drain');
      }
      req.end();
    })().catch(() => {});
  }
  return { req, response };
}

const send = async (port: number, path: string, body: Buffer | Buffer[]) => collect(await open(port, path, body).response);

/** Splits a body into pieces for a chunked upload. */
const pieces = (b: Buffer, size = 64 * 1024) => Array.from({ length: Math.ceil(b.length / size) }, (_, i) => b.subarray(i * size, (i + 1) * size));

async function expectNothingReserved(app: FastifyInstance): Promise<void> {
  await waitFor(() => app.jobs.budget.inUse === 0, 10_000, 'the memory budget back to 0');
  expect(app.jobs.budget.waiting).toBe(0);
  expect(promValue(await scrape(app), 'anymax_memory_reserved_bytes')).toBe(0);
}

/**
 * A streamed answer too big for the socket buffers (~34 MB: 600000 x 3 zeros, each probability
 * 0.3333333333333333), so a client that does not read it keeps its request, and its reservation,
 * in flight. 4.8 MB of body.
 */
const HOLD = constantMatrixBody(600_000, 3);
const HOLD_ANSWER_BYTES = '{"probs":[]}'.length + 600_000 * '[0.3333333333333333,0.3333333333333333,0.3333333333333333]'.length + 599_999;

/** Starts HOLD and waits until its answer has started (its reservation resized to the job). */
async function holdOne(port: number): Promise<{ req: http.ClientRequest; res: IncomingMessage }> {
  const { req, response } = open(port, '/v1/softmax', HOLD);
  const res = await within(response, 30_000, 'the held answer to start');
  res.pause();
  expect(res.statusCode).toBe(200);
  return { req, res };
}

/** A budget with room for one HOLD request and not for a second beside it (the service's own estimate). */
async function roomForOneHold(): Promise<number> {
  const probe = await buildApp({ logLevel: 'silent', workers: 1 });
  try {
    return Math.round(probe.jobs.estimate(HOLD.length) * 1.2);
  } finally {
    await probe.close();
  }
}

describe('admission by the memory budget', () => {
  it('413 PAYLOAD_TOO_LARGE naming MEMORY_BUDGET_BYTES for a body whose estimate exceeds the whole budget', async () => {
    const { app, port } = await listen({ memoryBudgetBytes: 8 << 20 });
    const body = constantMatrixBody(1000, 1000); // 2 MB: about 13 MiB with its matrix and answer
    const r = await send(port, '/v1/softmax', body);
    const err = expectError({ statusCode: r.status, headers: r.headers, body: r.text }, 413, 'PAYLOAD_TOO_LARGE');
    expect(err.message).toMatch(/MEMORY_BUDGET_BYTES/);
    expect(err.message).toMatch(/8\.0 MiB/);
    expect(promValue(await scrape(app), 'anymax_rejected_requests_total', { reason: 'too_large' })).toBe(1);
    // A small request still runs.
    const small = await send(port, '/v1/softmax', Buffer.from('{"logits":[[1,2,3]]}'));
    expect(small.status).toBe(200);
    await expectNothingReserved(app);
  });

  it('a request that does not fit waits for room, first come first served, and is answered when room frees', async () => {
    const budget = await roomForOneHold();
    const { app: a, port: p } = await listen({ memoryBudgetBytes: budget, memoryWaitMs: 60_000 });
    const first = await holdOne(p);
    expect(a.jobs.budget.inUse + a.jobs.estimate(HOLD.length)).toBeGreaterThan(budget);
    const second = open(p, '/v1/softmax', HOLD);
    await waitFor(() => a.jobs.budget.waiting === 1, 10_000, 'the second request to wait');
    // A small request reserves nothing and is not held behind the queue.
    expect((await send(p, '/v1/argmax', Buffer.from('{"logits":[[1,2,3]]}'))).text).toBe('{"indices":[2]}');
    expect(a.jobs.budget.waiting).toBe(1);
    // The first answer is read to its end; its reservation returns and the second runs.
    first.res.resume();
    const one = await within(collect(first.res), 60_000, 'the first answer');
    const two = await within(second.response.then(collect), 60_000, 'the second answer');
    expect(one.status).toBe(200);
    expect(two.status).toBe(200);
    expect(one.body.length).toBe(HOLD_ANSWER_BYTES);
    expect(two.body.equals(one.body)).toBe(true);
    expect(promValue(await scrape(a), 'anymax_rejected_requests_total', { reason: 'memory' })).toBe(0);
    await expectNothingReserved(a);
  });

  it('503 OVERLOADED with Retry-After when no room frees within MEMORY_WAIT_MS', async () => {
    const budget = await roomForOneHold();
    const { app, port } = await listen({ memoryBudgetBytes: budget, memoryWaitMs: 300 });
    const first = await holdOne(port);
    const r = await within(send(port, '/v1/softmax', HOLD), 20_000, 'the refused request');
    const err = expectError({ statusCode: r.status, headers: r.headers, body: r.text }, 503, 'OVERLOADED');
    expect(r.headers['retry-after']).toBe('1');
    expect(err.message).toMatch(/memory budget.*300 ms/);
    expect(promValue(await scrape(app), 'anymax_rejected_requests_total', { reason: 'memory' })).toBe(1);
    first.res.resume();
    expect((await collect(first.res)).body.length).toBe(HOLD_ANSWER_BYTES);
    await expectNothingReserved(app);
  });
});

describe('a job that needs more once parsed', () => {
  // A small body (no reservation before it is read) whose answer is 80000 draws, streamed from
  // shared memory: its reservation grows to the job's estimate once parsed.
  const DRAWS = JSON.stringify({ logits: randomLogits(2, 50, 16), n: 40_000, seed: 7 });

  it('waits for room, and runs when room frees', async () => {
    const app = await buildApp({ logLevel: 'silent', workers: 1, memoryBudgetBytes: 32 << 20, memoryWaitMs: 60_000 });
    apps.push(app);
    const held = await app.jobs.budget.acquire(32 << 20);
    const answer = post(app, '/v1/sample', DRAWS);
    await waitFor(() => app.jobs.budget.waiting === 1, 10_000, 'the job to wait for room');
    held.release();
    const r = await within(answer, 30_000, 'the answer');
    expect(r.statusCode, r.body.slice(0, 200)).toBe(200);
    expect((JSON.parse(r.body) as { samples: number[][] }).samples.map((row) => row.length)).toEqual([40_000, 40_000]);
    await expectNothingReserved(app);
  });

  it('past its job timeout while waiting: 503 TIMEOUT, not an internal error', async () => {
    const app = await buildApp({ logLevel: 'silent', workers: 1, memoryBudgetBytes: 32 << 20, memoryWaitMs: 60_000, requestTimeoutMs: 500 });
    apps.push(app);
    const held = await app.jobs.budget.acquire(32 << 20);
    const r = await within(post(app, '/v1/sample', DRAWS), 30_000, 'the answer');
    expectError(r, 503, 'TIMEOUT');
    expect(app.jobs.budget.waiting).toBe(0);
    held.release();
    await expectNothingReserved(app);
  });
});

describe('the reserved bytes return to 0 after every ending', () => {
  it('answers inline, whole from a worker, streamed; 400s, 413s, 415', async () => {
    const { app, port } = await listen({ memoryBudgetBytes: 256 << 20, maxBodyBytes: 8 << 20 });
    const ok = [
      ['inline', '{"logits":[[1,2,3]]}'],
      ['whole from a worker', JSON.stringify({ logits: randomLogits(8, 2000, 1) })],
      ['streamed', JSON.stringify({ logits: randomLogits(4, 30_000, 2) })],
    ];
    for (const [what, body] of ok) {
      const r = await send(port, '/v1/softmax', Buffer.from(body));
      expect(r.status, what).toBe(200);
      expect(() => JSON.parse(r.text), what).not.toThrow();
    }
    const bad: [string, Buffer | Buffer[], number][] = [
      ['a string element in a big body', Buffer.from(JSON.stringify({ logits: [...randomLogits(3, 20_000, 3), ['x', ...randomLogits(1, 19_999, 4)[0]]] })), 400],
      ['big invalid JSON', Buffer.from(`${JSON.stringify({ logits: randomLogits(3, 20_000, 5) }).slice(0, -1)}]`), 400],
      ['a shape error in 6 MB of {} rows', Buffer.from(`{"logits":[${'{},'.repeat(2_000_000)}{}]}`), 400],
      ['over MAX_BODY_BYTES, declared', Buffer.alloc((8 << 20) + 1, 0x20), 413],
      ['over MAX_BODY_BYTES, chunked', pieces(Buffer.alloc(9 << 20, 0x20)), 413],
    ];
    for (const [what, body, status] of bad) {
      const r = await send(port, '/v1/softmax', body);
      expect(r.status, `${what}: ${r.text.slice(0, 200)}`).toBe(status);
      await expectNothingReserved(app);
    }
    const wrongType = await app.inject({ method: 'POST', url: '/v1/softmax', headers: { 'content-type': 'text/plain' }, payload: 'x'.repeat(100_000) });
    expect(wrongType.statusCode).toBe(415);
    await expectNothingReserved(app);
  });

  it('clients that hang up mid-upload, while their body is parsed, and mid-answer', async () => {
    const { app, port } = await listen({ memoryBudgetBytes: 512 << 20 });
    // Mid-upload: half of a declared body, then gone.
    const half = http.request({ host: '127.0.0.1', port, path: '/v1/softmax', method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': HOLD.length } });
    half.on('error', () => {});
    half.write(HOLD.subarray(0, HOLD.length >> 1));
    await waitFor(() => app.jobs.budget.inUse > 0, 10_000, 'the upload to reserve');
    half.destroy();
    await expectNothingReserved(app);

    // The whole body sent, then gone at once: the job is in a worker when the connection closes,
    // and its reservation is resized after that (it must not be taken again for good).
    for (let i = 0; i < 3; i++) {
      const { req } = open(port, '/v1/softmax', HOLD);
      await once(req, 'finish');
      req.destroy();
      await expectNothingReserved(app);
    }

    // Mid-answer: the streamed answer is started, read a little, and the client leaves.
    const held = await holdOne(port);
    held.res.resume();
    await once(held.res, 'data');
    held.req.destroy();
    await expectNothingReserved(app);
    expect(promValue(await scrape(app), 'anymax_rejected_requests_total', { reason: 'memory' })).toBe(0);
    // And the service still answers.
    expect((await send(port, '/v1/softmax', HOLD)).body.length).toBe(HOLD_ANSWER_BYTES);
    await expectNothingReserved(app);
  });

  it('a client that hangs up while waiting for room leaves the queue at once', async () => {
    const budget = await roomForOneHold();
    const { app, port } = await listen({ memoryBudgetBytes: budget, memoryWaitMs: 60_000 });
    const first = await holdOne(port);
    // A slow upload: its headers and the start of its body, then nothing. (A client whose upload
    // is held back by the server, a body far bigger than the socket buffers, cannot be seen to
    // leave until the server reads again: it keeps its place until MEMORY_WAIT_MS.)
    const slow = http.request({ host: '127.0.0.1', port, path: '/v1/softmax', method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': HOLD.length } });
    slow.on('error', () => {});
    clients.push(slow);
    slow.write(HOLD.subarray(0, 1024));
    await waitFor(() => app.jobs.budget.waiting === 1, 10_000, 'the second request to wait');
    slow.destroy();
    // Well before MEMORY_WAIT_MS (60 s): the queue is empty again.
    await waitFor(() => app.jobs.budget.waiting === 0, 10_000, 'the gone request to leave the queue');
    first.res.resume();
    expect((await collect(first.res)).body.length).toBe(HOLD_ANSWER_BYTES);
    await expectNothingReserved(app);
    expect(promValue(await scrape(app), 'anymax_rejected_requests_total', { reason: 'memory' })).toBe(0);
  });
  it('a chunked upload that leaves while its growth waits for room: the growth is dropped, not granted later', async () => {
    const { app, port } = await listen({ memoryBudgetBytes: 64 << 20, memoryWaitMs: 60_000 });
    // The room is taken (here by the test itself), all but less than the first growth needs.
    const held = await app.jobs.budget.acquire((64 << 20) - (app.jobs.estimate(128 * 1024) >> 1));
    // Past the 64 KiB a chunked body holds without a reservation, it must grow, and waits.
    const upload = http.request({ host: '127.0.0.1', port, path: '/v1/softmax', method: 'POST', agent: false, headers: { 'content-type': 'application/json' } });
    upload.on('error', () => {});
    clients.push(upload);
    upload.write(HOLD.subarray(0, 70 * 1024));
    await waitFor(() => app.jobs.budget.waiting === 1, 10_000, 'the growth to wait');
    upload.destroy();
    await waitFor(() => app.jobs.budget.waiting === 0, 10_000, 'the growth to leave the queue');
    held.release();
    await expectNothingReserved(app);
  });
});

describe('chunked bodies (no Content-Length)', () => {
  const body = Buffer.from(JSON.stringify({ logits: randomLogits(8, 20_000, 9), temperature: 0.7 })); // ~3 MB

  it('a big chunked body is read and answered as the same body with its Content-Length', async () => {
    const { app, port } = await listen({ memoryBudgetBytes: 256 << 20 });
    const declared = await send(port, '/v1/softmax', body);
    const chunked = await send(port, '/v1/softmax', pieces(body, 10_000));
    expect(declared.status).toBe(200);
    expect(chunked.status).toBe(200);
    expect(declared.body.length).toBeGreaterThan(1 << 20);
    expect(chunked.body.equals(declared.body)).toBe(true);
    await expectNothingReserved(app);
  });

  it('413 past MAX_BODY_BYTES', async () => {
    const { app, port } = await listen({ memoryBudgetBytes: 256 << 20, maxBodyBytes: 1 << 20 });
    const r = await send(port, '/v1/softmax', pieces(body));
    const err = expectError({ statusCode: r.status, headers: r.headers, body: r.text }, 413, 'PAYLOAD_TOO_LARGE');
    expect(err.message).toMatch(/over the limit of 1048576 bytes/);
    await expectNothingReserved(app);
  });

  it('413 naming MEMORY_BUDGET_BYTES once it grows past what the budget could ever hold', async () => {
    const { app, port } = await listen({ memoryBudgetBytes: 8 << 20 });
    const r = await send(port, '/v1/softmax', pieces(body));
    const err = expectError({ statusCode: r.status, headers: r.headers, body: r.text }, 413, 'PAYLOAD_TOO_LARGE');
    expect(err.message).toMatch(/MEMORY_BUDGET_BYTES/);
    await expectNothingReserved(app);
  });
});

describe('streamed answers', () => {
  /** Integers as JSON text, without an array per row: 2 x 600000 is past splitMinWork (split across workers). */
  const intRows = (rows: number, cols: number) =>
    `{"logits":[${Array.from({ length: rows }, (_, r) => `[${Array.from({ length: cols }, (_, j) => ((j * 7919 + r) % 13) - 6).join(',')}]`).join(',')}]}`;
  const masked = randomLogits(4, 30_000, 11).map((row, r) => row.map((v, j) => (j % 97 === r ? null : v)));
  const BODIES: [string, string, string][] = [
    ['log-softmax with masked entries (nulls)', 'softmax', JSON.stringify({ logits: masked, log: true })],
    ['sparsemax (a matrix and a vector)', 'sparsemax', JSON.stringify({ logits: randomLogits(3, 30_000, 12) })],
    ['entmax', 'entmax', JSON.stringify({ logits: randomLogits(3, 30_000, 13), alpha: 1.5 })],
    ['sparsemax, format sparse (ragged rows)', 'sparsemax', JSON.stringify({ logits: randomLogits(3, 30_000, 12), format: 'sparse' })],
    ['entmax, format sparse, split across the workers (rows of ~30000 kept classes)', 'entmax', `${intRows(3, 400_000).slice(0, -1)},"alpha":1.5,"format":"sparse"}`],
    ['gumbel-softmax', 'gumbel-softmax', JSON.stringify({ logits: randomLogits(3, 30_000, 14), seed: 5 })],
    ['argmax of 70000 rows (a long vector)', 'argmax', JSON.stringify({ logits: randomLogits(70_000, 2, 15) })],
    ['sample: a small body, 80000 draws', 'sample', JSON.stringify({ logits: randomLogits(2, 50, 16), n: 40_000, seed: 7 })],
    ['softmax split across the workers', 'softmax', intRows(2, 600_000)],
  ];

  it('have the bytes of the same answers written whole', async () => {
    const streamed = await buildApp({ logLevel: 'silent', workers: 2 });
    // Nothing streamed: no answer is big enough, no job is split, and a costly job with a small
    // body (the draws) runs inline instead of on shared memory.
    const whole = await buildApp({ logLevel: 'silent', workers: 2, streamMinElements: 1e12, splitMinWork: 1e12, inlineMaxNs: 1e15 });
    apps.push(streamed, whole);
    for (const [what, ep, body] of BODIES) {
      const s = await post(streamed, `/v1/${ep}`, body);
      const w = await post(whole, `/v1/${ep}`, body);
      expect(s.statusCode, `${what}: ${s.body.slice(0, 200)}`).toBe(200);
      expect(w.statusCode, `${what}: ${w.body.slice(0, 200)}`).toBe(200);
      // The two really took different roads: a stream has no Content-Length.
      expect(s.headers['content-length'], what).toBeUndefined();
      expect(Number(w.headers['content-length']), what).toBe(w.rawPayload.length);
      expect(s.rawPayload.equals(w.rawPayload), what).toBe(true);
      expect(s.headers['content-type']).toBe(w.headers['content-type']);
    }
    for (const a of [streamed, whole]) await expectNothingReserved(a);
  });
});
