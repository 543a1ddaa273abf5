import { connect } from 'node:net';
import { Writable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { buildApp } from '../src/app.js';
import { post, randomLogits, waitFor, within } from './helpers/http.js';

/**
 * buildApp as a whole: request ids, the one access-log line per request (captured through the
 * logStream option), and the same app over a real listening socket on 127.0.0.1.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

class Lines extends Writable {
  lines: Record<string, unknown>[] = [];
  raw = '';
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    this.raw += chunk.toString('utf8');
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) this.lines.push(JSON.parse(line));
    done();
  }
  requests(): Record<string, unknown>[] {
    return this.lines.filter((l) => l.msg === 'request');
  }
  clear(): void {
    this.lines = [];
    this.raw = '';
  }
}

let app: FastifyInstance;
const log = new Lines();

beforeAll(async () => {
  app = await buildApp({ workers: 1, logLevel: 'info', logStream: log });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
});

beforeEach(() => log.clear());

/** The log is written asynchronously by pino; wait until n access lines are there (bounded). */
async function accessLines(n: number): Promise<Record<string, unknown>[]> {
  const deadline = Date.now() + 5000;
  while (log.requests().length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return log.requests();
}

describe('request id', () => {
  it('echoes a caller-supplied x-request-id', async () => {
    const res = await post(app, '/v1/argmax', { logits: [[1, 2]] }, { 'x-request-id': 'abc-123.def:9' });
    expect(res.headers['x-request-id']).toBe('abc-123.def:9');
    const [line] = await accessLines(1);
    expect(line.requestId).toBe('abc-123.def:9');
  });

  it('generates a UUID when absent, a new one per request', async () => {
    const a = await post(app, '/v1/argmax', { logits: [[1, 2]] });
    const b = await post(app, '/v1/argmax', { logits: [[1, 2]] });
    expect(a.headers['x-request-id']).toMatch(UUID);
    expect(b.headers['x-request-id']).toMatch(UUID);
    expect(a.headers['x-request-id']).not.toBe(b.headers['x-request-id']);
  });

  it('replaces an unusable id (too long, odd characters) and logs the id it sends back', async () => {
    for (const bad of ['x'.repeat(129), 'has space', 'quote"d', 'new\tline']) {
      log.clear();
      const res = await post(app, '/v1/argmax', { logits: [[1, 2]] }, { 'x-request-id': bad });
      expect(res.statusCode).toBe(200);
      const id = res.headers['x-request-id'];
      expect(id, bad).toMatch(UUID);
      const [line] = await accessLines(1);
      expect(line.requestId, bad).toBe(id);
    }
  });

  it('is on error answers too', async () => {
    const res = await app.inject({ method: 'GET', url: '/nope', headers: { 'x-request-id': 'err-1' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['x-request-id']).toBe('err-1');
  });
});

describe('access log', () => {
  it('writes one JSON line per request with route, status, rows, cols, duration and request id', async () => {
    const res = await post(app, '/v1/softmax', { logits: [[1, 2, 3], [4, 5, 6]] }, { 'x-request-id': 'log-1' });
    expect(res.statusCode).toBe(200);
    const lines = await accessLines(1);
    expect(lines).toHaveLength(1);
    const [line] = lines;
    expect(line).toMatchObject({ route: '/v1/softmax', method: 'POST', status: 200, rows: 2, cols: 3, requestId: 'log-1' });
    expect(typeof line.durationMs).toBe('number');
    expect(line.durationMs as number).toBeGreaterThanOrEqual(0);
  });

  it('logs the shape of pool requests too', async () => {
    const res = await post(app, '/v1/entmax', { logits: randomLogits(30, 400, 2) });
    expect(res.statusCode).toBe(200);
    const [line] = await accessLines(1);
    expect(line).toMatchObject({ route: '/v1/entmax', status: 200, rows: 30, cols: 400 });
  });

  it('logs refused requests, without a shape; unknown routes as unmatched', async () => {
    await post(app, '/v1/softmax', { logits: [['x']] });
    await app.inject({ method: 'GET', url: '/not/here' });
    const lines = await accessLines(2);
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ route: '/v1/softmax', status: 400 });
    expect(lines[0].rows).toBeUndefined();
    expect(lines[1]).toMatchObject({ route: 'unmatched', method: 'GET', status: 404 });
  });

  it('never logs the body, not even on errors', async () => {
    const marker = 123.45678901234;
    await post(app, '/v1/softmax', { logits: [[marker, 1]] });
    await post(app, '/v1/softmax', { logits: [[marker, 'secret-token-xyz']] });
    await post(app, '/v1/softmax', `{"logits":[[${marker}, oops`);
    await accessLines(3);
    expect(log.raw).not.toContain('123.4567');
    expect(log.raw).not.toContain('secret-token-xyz');
    expect(log.raw).not.toContain('oops');
  });
});

describe('over a real socket (127.0.0.1)', () => {
  let server: FastifyInstance;
  let base: string;

  beforeAll(async () => {
    server = await buildApp({ workers: 1, logLevel: 'silent' });
    await server.listen({ port: 0, host: '127.0.0.1' });
    const addr = server.server.address();
    if (!addr || typeof addr === 'string') throw new Error('no address');
    base = `http://127.0.0.1:${addr.port}`;
  });

  afterAll(async () => {
    await server?.close();
  });

  it('answers /v1, health, metrics and errors', async () => {
    const res = await fetch(`${base}/v1/sample`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-request-id': 'sock-1' },
      body: JSON.stringify({ logits: [[3, 2, 1]], n: 4, seed: 42 }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('x-request-id')).toBe('sock-1');
    const body = (await res.json()) as { samples: number[][]; seed: number };
    expect(body.seed).toBe(42);
    expect(body.samples[0]).toHaveLength(4);

    expect((await fetch(`${base}/health/ready`, { signal: AbortSignal.timeout(10_000) })).status).toBe(200);
    const metrics = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(10_000) });
    expect(await metrics.text()).toContain('anymax_rows_total{kernel="sample"} 1');

    const bad = await fetch(`${base}/v1/softmax`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"logits": [[1, "x"]]}',
      signal: AbortSignal.timeout(10_000),
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ statusCode: 400, code: 'INVALID_REQUEST', message: 'logits[0][1] must be a number or null' });
  });

  it('streams a multi-megabyte body to a worker and back', async () => {
    const logits = randomLogits(200, 2000, 9);
    const res = await fetch(`${base}/v1/softmax`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ logits }),
      signal: AbortSignal.timeout(30_000),
    });
    expect(res.status).toBe(200);
    const { probs } = (await res.json()) as { probs: number[][] };
    expect(probs).toHaveLength(200);
    for (const row of probs) expect(Math.abs(row.reduce((a, b) => a + b, 0) - 1)).toBeLessThan(1e-12);
  });

  it('413 for a chunked body (no Content-Length) that grows over maxBodyBytes', async () => {
    const small = await buildApp({ workers: 1, logLevel: 'silent', maxBodyBytes: 100_000 });
    try {
      await small.listen({ port: 0, host: '127.0.0.1' });
      const { port } = small.server.address() as { port: number };
      const row = `[${Array(1000).fill('1.5').join(',')}]`;
      async function* chunks() {
        yield new TextEncoder().encode(`{"logits":[${row}`);
        for (let i = 0; i < 40; i++) yield new TextEncoder().encode(`,${row}`);
        yield new TextEncoder().encode(']}');
      }
      const res = await fetch(`http://127.0.0.1:${port}/v1/softmax`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: ReadableStream.from(chunks()),
        duplex: 'half',
        signal: AbortSignal.timeout(20_000),
      } as RequestInit);
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ code: 'PAYLOAD_TOO_LARGE' });
    } finally {
      await small.close();
    }
  });

  it('keeps serving after clients hang up on jobs in flight', async () => {
    const heavy = JSON.stringify({ logits: randomLogits(4, 1000, 3), n: 4000, seed: 1 });
    const aborts = [1, 2, 3].map(async () => {
      const ac = new AbortController();
      const p = fetch(`${base}/v1/sample`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: heavy, signal: ac.signal });
      setTimeout(() => ac.abort(), 50);
      await p.then((r) => r.text()).catch(() => undefined);
    });
    await within(Promise.all(aborts), 20_000, 'the aborted requests');
    await waitFor(async () => (await fetch(`${base}/health/ready`)).status === 200, 20_000, 'ready');
    const res = await fetch(`${base}/v1/softmax`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"logits":[[1,2]]}',
      signal: AbortSignal.timeout(20_000),
    });
    expect(res.status).toBe(200);
  });

  it('handles concurrent connections', async () => {
    const bodies = Array.from({ length: 12 }, (_, i) => ({ logits: randomLogits(3, 50, i), n: 3, seed: i }));
    const answers = await Promise.all(
      bodies.map((b) =>
        fetch(`${base}/v1/sample`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(b),
          signal: AbortSignal.timeout(20_000),
        }).then(async (r) => ({ status: r.status, text: await r.text() })),
      ),
    );
    for (const [i, a] of answers.entries()) {
      expect(a.status).toBe(200);
      // Same bytes as the same body through inject.
      expect(a.text).toBe((await post(server, '/v1/sample', bodies[i])).body);
    }
  });
});

describe('closing (what server.ts does on SIGTERM)', () => {
  it('answers the in-flight request with Connection: close, computes nothing pipelined after, and closes promptly', async () => {
    const lines = new Lines();
    const a = await buildApp({ workers: 1, logLevel: 'info', logStream: lines, maxElements: 1e8 });
    await a.listen({ port: 0, host: '127.0.0.1' });
    const { port } = a.server.address() as { port: number };
    const heavy = JSON.stringify({ logits: randomLogits(4, 1000, 1), n: 4000, seed: 1 });
    const small = JSON.stringify({ logits: [[1, 2]] });
    const http = (path: string, body: string) =>
      `POST ${path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;

    // One keep-alive connection with a heavy request in flight.
    const sock = connect({ host: '127.0.0.1', port });
    let received = '';
    sock.on('data', (d: Buffer) => (received += d.toString('latin1')));
    const sockClosed = new Promise<void>((r) => sock.on('close', () => r()));
    await new Promise((r) => sock.once('connect', r));
    sock.write(http('/v1/sample', heavy));
    await waitFor(() => a.metrics.poolProbe.busyWorkers() >= 1, 20_000, 'the job to start');

    const closed = a.close();
    // Pipelined on the same connection once closing has begun: not computed.
    sock.write(http('/v1/softmax', small));
    // A keep-alive socket is released as soon as its request is answered (not after the keep-alive timeout).
    await within(closed, 20_000, 'app.close()');
    await within(sockClosed, 5_000, 'the client socket to close');

    const head = received.slice(0, received.indexOf('\r\n\r\n')).toLowerCase();
    expect(head).toMatch(/^http\/1\.1 200/);
    expect(head).toContain('connection: close');
    const access = lines.requests();
    expect(access.find((l) => l.route === '/v1/sample')).toMatchObject({ status: 200 });
    // The request pipelined behind it was never computed, and only one response went out.
    expect(access.some((l) => l.route === '/v1/softmax' && l.status === 200)).toBe(false);
    expect(received.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });
});
