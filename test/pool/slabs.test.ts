import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import { Slabs } from '../../src/pool/slabs.js';
import { listenLocal, untilCalm, type Listening } from '../helpers/http.js';
import { binaryInput, binaryRequest, tensorBytes } from '../helpers/oip.js';
import { rng } from '../helpers/stats.js';

/**
 * Reused shared memory (src/pool/slabs.ts): the free list itself, and requests over real
 * sockets whose bodies and binary answers go through slabs that earlier requests used, each
 * answer the same bytes as the same request got on a fresh service.
 */

describe('the free list', () => {
  it('size classes: at least the bytes asked for, at most ~19% more (4 KiB granules)', () => {
    for (const bytes of [1, 4095, 4096, 65537, 1 << 20, (1 << 20) + 1, 3_000_001, 16 << 20]) {
      const size = Slabs.classOf(bytes);
      expect(size).toBeGreaterThanOrEqual(bytes);
      expect(size % 4096).toBe(0);
      expect(size).toBeLessThanOrEqual(Math.max(4096, bytes * 2 ** 0.25 + 4096));
    }
  });

  it('a slab given back serves the next take of its class, once; foreign or oversized buffers are not kept', () => {
    const slabs = new Slabs(8 << 20, 4 << 20);
    const a = slabs.take(100_000);
    expect(a.length).toBe(100_000);
    expect(slabs.owns(a)).toBe(true);
    slabs.give(a);
    slabs.give(a); // twice: kept once
    expect(slabs.pooled).toBe(Slabs.classOf(100_000));
    const b = slabs.take(99_000); // the same class
    expect(b.buffer).toBe(a.buffer);
    expect(slabs.reused).toBe(1);
    expect(slabs.take(99_000).buffer).not.toBe(a.buffer); // the list is empty again
    expect(slabs.pooled).toBe(0);

    slabs.give(Buffer.from(new SharedArrayBuffer(100_000))); // not one of ours
    slabs.give(Buffer.alloc(100_000));
    slabs.give(slabs.take(5 << 20)); // bigger than maxSlab
    expect(slabs.pooled).toBe(0);
    const kept = [slabs.take(3 << 20), slabs.take(3 << 20), slabs.take(3 << 20)];
    for (const k of kept) slabs.give(k);
    expect(slabs.pooled).toBeLessThanOrEqual(8 << 20); // maxFree
    expect(slabs.owns(Buffer.alloc(10))).toBe(false);
  });
});

/** POSTs a body on a keep-alive connection; the status and every byte of the answer. */
function send(
  port: number,
  agent: http.Agent,
  body: Buffer,
  headers: Record<string, string>,
  path = '/v2/models/softmax/infer',
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers, timeout: 10_000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 10 s')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A request whose answer is not read until resume(): `headers` settles once its headers have
 * come (the answer is being written), `body` with the whole answer once read.
 */
function pausedAnswer(port: number, agent: http.Agent, path: string, headers: Record<string, string>, body: Buffer) {
  let begun!: () => void;
  const started = new Promise<void>((resolve) => (begun = resolve));
  let resume!: () => void;
  const resumed = new Promise<void>((resolve) => (resume = resolve));
  const answer = new Promise<Buffer>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: 'POST', path, agent, headers }, (res) => {
      res.pause();
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks)));
      res.on('error', reject);
      resumed.then(() => res.resume());
      begun();
    });
    req.on('error', reject);
    req.end(body);
  });
  return { headers: started, resume, body: answer };
}

/**
 * Two services started for a describe block with the same options: `reused` as it runs, and
 * `fresh`, whose slabs are never given back (every buffer new), the reference for the bytes.
 */
function servicePair(options: Partial<Config>): { reused: Listening; fresh: Listening } {
  const pair = {} as { reused: Listening; fresh: Listening };
  beforeAll(async () => {
    pair.reused = await listenLocal(options);
    pair.fresh = await listenLocal(options);
    pair.fresh.app.jobs.slabs.give = () => {};
  });
  afterAll(async () => {
    await pair.reused?.app.close();
    await pair.fresh?.app.close();
  });
  return pair;
}

describe('requests through reused slabs', () => {
  // Bodies over inlineMaxBytes are read into slabs; with these thresholds every request is split
  // across the workers and its FP32 answer written into a slab by them.
  const options = { workers: 2, inlineMaxBytes: 1024, splitMinWork: 4096, streamMinElements: 1024 };
  const services = servicePair(options);

  it('every answer is the bytes a fresh service gives the same request', async () => {
    const rows = 16;
    const cols = 3000;
    const requests = [1, 2, 3].map((seed) => {
      const next = rng(seed);
      const bytes = tensorBytes(Array.from({ length: rows * cols }, () => (next() * 2 - 1) * 6), 'FP32');
      return binaryRequest({ parameters: { binary_data_output: true }, inputs: [binaryInput('logits', 'FP32', [rows, cols], bytes)] }, [bytes]);
    });
    await untilCalm(services.reused.app, services.fresh.app);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const freshAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const want: Awaited<ReturnType<typeof send>>[] = [];
      for (const r of requests) want.push(await send(services.fresh.port, freshAgent, r.body, r.headers));
      for (const w of want) {
        expect(w.status, w.body.subarray(0, 300).toString()).toBe(200);
        expect(w.headers['content-length']).toBe(String(w.body.length)); // written whole, not chunked
      }
      for (let round = 0; round < 3; round++) {
        for (let k = 0; k < requests.length; k++) {
          const got = await send(services.reused.port, agent, requests[k].body, requests[k].headers);
          expect(got.status).toBe(200);
          expect(got.body.equals(want[k].body), `round ${round}, request ${k}`).toBe(true);
          expect(got.headers['inference-header-content-length']).toBe(want[k].headers['inference-header-content-length']);
        }
      }
      // At once, on three connections: a slab is reused only once its answer has been written.
      const many = new http.Agent({ keepAlive: true, maxSockets: 3 });
      try {
        for (let round = 0; round < 4; round++) {
          const got = await Promise.all(requests.map((r) => send(services.reused.port, many, r.body, r.headers)));
          got.forEach((g, k) => expect(g.body.equals(want[k].body), `at once, round ${round}, request ${k}`).toBe(true));
        }
      } finally {
        many.destroy();
      }
      // Bodies and answers alike came from slabs that earlier requests had used.
      expect(services.reused.app.jobs.slabs.reused).toBeGreaterThanOrEqual(2 * (3 * requests.length - 2));
      expect(services.fresh.app.jobs.slabs.reused).toBe(0);
    } finally {
      agent.destroy();
      freshAgent.destroy();
    }
  });

  it.each([
    ['FP32', 64_000],
    ['FP64', 32_000],
  ] as const)('an answer still being written keeps its slabs (%s: its bytes, or its matrix sent as it is): a request meanwhile gets others', async (datatype, cols) => {
    // 16 MB answers: more than the loopback's socket buffers hold, so while the first client
    // does not read, the rest of its answer waits in the server, on its slabs.
    const rows = 64;
    const [a, b] = [7, 8].map((seed) => {
      const next = rng(seed);
      const bytes = tensorBytes(Array.from({ length: rows * cols }, () => (next() * 2 - 1) * 6), datatype);
      return binaryRequest({ parameters: { binary_data_output: true }, inputs: [binaryInput('logits', datatype, [rows, cols], bytes)] }, [bytes]);
    });
    await untilCalm(services.reused.app, services.fresh.app);
    const freshAgent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    try {
      const want = await send(services.fresh.port, freshAgent, a.body, a.headers);
      expect(want.status, want.body.subarray(0, 300).toString()).toBe(200);
      // The first request's answer: its headers come (its slab is written), then it is not read
      // until the second request has been answered.
      const first = pausedAnswer(services.reused.port, agent, '/v2/models/softmax/infer', a.headers, a.body);
      await first.headers;
      const gotB = await send(services.reused.port, agent, b.body, b.headers);
      expect(gotB.status, gotB.body.subarray(0, 300).toString()).toBe(200);
      first.resume();
      expect((await first.body).equals(want.body)).toBe(true);
    } finally {
      agent.destroy();
      freshAgent.destroy();
    }
  });
});

describe('/v1 answers written whole by a worker into reused answer rooms', () => {
  // Every body goes to a worker (inlineMaxBytes), which answers it whole (no split, no stream)
  // into a slab the main thread gives it and takes back once the response has finished.
  const options = { workers: 2, inlineMaxBytes: 1024, splitMinWork: 2 ** 50, streamMinElements: 1 << 20, maxElements: 1 << 21 };
  const services = servicePair(options);
  const JSON_HEADERS = { 'content-type': 'application/json' };
  const softmaxBody = (seed: number, rows: number, cols: number) => {
    const next = rng(seed);
    return Buffer.from(JSON.stringify({ logits: Array.from({ length: rows }, () => Array.from({ length: cols }, () => (next() * 2 - 1) * 6)) }));
  };

  it('every answer is the bytes a fresh service gives, with its length, one after another and at once', async () => {
    const bodies = [1, 2, 3].map((seed) => softmaxBody(seed, 16, 300));
    await untilCalm(services.reused.app, services.fresh.app);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 3 });
    try {
      const want: Awaited<ReturnType<typeof send>>[] = [];
      for (const b of bodies) want.push(await send(services.fresh.port, agent, b, JSON_HEADERS, '/v1/softmax'));
      for (const w of want) {
        expect(w.status, w.body.subarray(0, 300).toString()).toBe(200);
        expect(w.headers['content-length']).toBe(String(w.body.length)); // written whole, not chunked
        expect((JSON.parse(w.body.toString()) as { probs: number[][] }).probs).toHaveLength(16);
      }
      const before = services.reused.app.jobs.slabs.reused;
      for (let round = 0; round < 3; round++) {
        for (let k = 0; k < bodies.length; k++) {
          const got = await send(services.reused.port, agent, bodies[k], JSON_HEADERS, '/v1/softmax');
          expect(got.body.equals(want[k].body), `round ${round}, request ${k}`).toBe(true);
          expect(got.headers['content-length']).toBe(String(want[k].body.length));
        }
      }
      for (let round = 0; round < 3; round++) {
        const got = await Promise.all(bodies.map((b) => send(services.reused.port, agent, b, JSON_HEADERS, '/v1/softmax')));
        got.forEach((g, k) => expect(g.body.equals(want[k].body), `at once, round ${round}, request ${k}`).toBe(true));
      }
      // Bodies, matrices and answers came from slabs earlier requests had used (3 a request).
      expect(services.reused.app.jobs.slabs.reused - before).toBeGreaterThanOrEqual(3 * (18 - 3));
    } finally {
      agent.destroy();
    }
  });

  it('an answer still being written keeps its room: a request meanwhile gets another', async () => {
    // A ~12 MB answer: more than the loopback's socket buffers hold, so while its client does not
    // read, the rest of it waits in the server, in its room.
    const [a, b] = [7, 8].map((seed) => softmaxBody(seed, 60, 10_000));
    await untilCalm(services.reused.app, services.fresh.app);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    try {
      const want = await send(services.fresh.port, agent, a, JSON_HEADERS, '/v1/softmax');
      expect(want.status).toBe(200);
      expect(want.body.length).toBeGreaterThan(8 << 20);
      const first = pausedAnswer(services.reused.port, agent, '/v1/softmax', JSON_HEADERS, a);
      await first.headers;
      // The same request again (the same room size): it must not get the first one's room.
      const gotB = await send(services.reused.port, agent, b, JSON_HEADERS, '/v1/softmax');
      expect(gotB.status).toBe(200);
      const wantB = await send(services.fresh.port, agent, b, JSON_HEADERS, '/v1/softmax');
      expect(gotB.body.equals(wantB.body)).toBe(true);
      first.resume();
      expect((await first.body).equals(want.body)).toBe(true);
    } finally {
      agent.destroy();
    }
  });
});
