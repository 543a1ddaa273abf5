/**
 * The load scenarios of load/run.ts: request bodies (deterministic: the same bytes every run),
 * autocannon connections, the target each is compared against, and a correctness check of one
 * response, run before the scenario is loaded.
 *
 * Connections (per scenario, overridable with --connections):
 *  - small bodies (hello, sample 1x50): 64. The main thread does all the work of a request
 *    (inline path), so this only has to keep the event loop's accept/read queue non-empty; 64
 *    is well past the knee of req/s vs connections on 2 cores and keeps p99 readable.
 *  - big bodies (sample 8x32000, ~2.4 MB; softmax 64x1000, ~0.6 MB in, ~1.3 MB out): 8 and 16.
 *    Each request is a few ms of worker time; a handful of requests in flight per worker keeps
 *    the pool busy while the main thread reads the next bodies, and more connections would only
 *    add queueing latency (and memory: every connection's body is in flight at once).
 */

import { rng } from '../test/helpers/stats.js';

export type Target = { kind: 'ratio'; min: number } | { kind: 'rps'; min: number } | { kind: 'none' };

export interface Scenario {
  /** Key for --only. */
  key: string;
  /** Name printed in the table. */
  name: string;
  /** Which child process it loads. */
  server: 'hello' | 'service';
  path: string;
  body: string;
  connections: number;
  target: Target;
  /** Checks one 200 response body; throws an Error that says what is wrong. */
  check(status: number, contentType: string, body: string): void;
}

/** mulberry32, the tests' seeded generator: the bodies are identical across runs. */
const prng = rng;

/**
 * rows x cols logits ~ N(0, 2^2), written with 6 decimals (e.g. -1.234567): about 9.5 bytes per
 * entry with its comma, so 8 x 32000 is ~2.4 MB of JSON, as a client sending float32 logits
 * rounded for the wire would send.
 */
export function logits(rows: number, cols: number, seed: number): number[][] {
  const rnd = prng(seed);
  const out: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const row = new Array<number>(cols);
    for (let j = 0; j < cols; j++) {
      const u1 = 1 - rnd();
      const u2 = rnd();
      const g = Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
      row[j] = Number((2 * g).toFixed(6));
    }
    out.push(row);
  }
  return out;
}

function fail(what: string, detail: string): never {
  throw new Error(`${what}: ${detail}`);
}

function parseJsonResponse(what: string, status: number, contentType: string, body: string): Record<string, unknown> {
  if (status !== 200) fail(what, `status ${status}, body ${body.slice(0, 300)}`);
  if (!contentType.startsWith('application/json')) fail(what, `content-type ${JSON.stringify(contentType)}`);
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    fail(what, `response is not JSON (${(e as Error).message}): ${body.slice(0, 300)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(what, 'response is not a JSON object');
  return v as Record<string, unknown>;
}

function keysAre(what: string, o: Record<string, unknown>, keys: string[]): void {
  const got = Object.keys(o).sort().join(',');
  if (got !== [...keys].sort().join(',')) fail(what, `response keys are {${got}}, expected {${keys.join(',')}}`);
}

/** {samples: rows x n integers in [0, cols), seed}. */
function checkSample(what: string, rows: number, cols: number, n: number, seed: number) {
  return (status: number, contentType: string, body: string): void => {
    const o = parseJsonResponse(what, status, contentType, body);
    keysAre(what, o, ['samples', 'seed']);
    if (o.seed !== seed) fail(what, `seed is ${JSON.stringify(o.seed)}, expected ${seed}`);
    const s = o.samples;
    if (!Array.isArray(s) || s.length !== rows) fail(what, `samples is not an array of ${rows} rows`);
    s.forEach((row: unknown, r) => {
      if (!Array.isArray(row) || row.length !== n) fail(what, `samples[${r}] is not an array of ${n} draws`);
      row.forEach((k: unknown, d) => {
        if (!Number.isInteger(k) || (k as number) < 0 || (k as number) >= cols) {
          fail(what, `samples[${r}][${d}] = ${JSON.stringify(k)} is not a class index in [0, ${cols})`);
        }
      });
    });
  };
}

/** {probs: rows x cols}, each entry within 1e-12 (relative) of a plain float64 softmax. */
function checkSoftmax(what: string, z: number[][]) {
  return (status: number, contentType: string, body: string): void => {
    const o = parseJsonResponse(what, status, contentType, body);
    keysAre(what, o, ['probs']);
    const p = o.probs;
    if (!Array.isArray(p) || p.length !== z.length) fail(what, `probs is not an array of ${z.length} rows`);
    z.forEach((zr, r) => {
      const pr = p[r] as unknown;
      if (!Array.isArray(pr) || pr.length !== zr.length) fail(what, `probs[${r}] is not an array of ${zr.length}`);
      const m = Math.max(...zr);
      const e = zr.map((v) => Math.exp(v - m));
      const sum = e.reduce((a, b) => a + b, 0);
      let total = 0;
      for (let j = 0; j < zr.length; j++) {
        const got = pr[j] as unknown;
        const want = e[j] / sum;
        if (typeof got !== 'number' || !(got >= 0 && got <= 1)) fail(what, `probs[${r}][${j}] = ${JSON.stringify(got)} is not in [0, 1]`);
        if (Math.abs(got - want) > 1e-12 * want + 1e-300) fail(what, `probs[${r}][${j}] = ${got}, reference softmax ${want}`);
        total += got;
      }
      if (Math.abs(total - 1) > 1e-9) fail(what, `probs[${r}] sums to ${total}`);
    });
  };
}

export function scenarios(): Scenario[] {
  const small = logits(1, 50, 1);
  const smallBody = JSON.stringify({ logits: small, n: 1, seed: 1 });
  const big = logits(8, 32000, 2);
  const sm = logits(64, 1000, 3);
  return [
    {
      key: 'hello',
      name: 'hello (bare Fastify)',
      server: 'hello',
      path: '/hello',
      body: smallBody,
      connections: 64,
      target: { kind: 'none' },
      check: (status, contentType, body) => {
        const o = parseJsonResponse('hello', status, contentType, body);
        if (o.ok !== true || o.rows !== 1) fail('hello', `unexpected answer ${body}`);
      },
    },
    {
      key: 'sample-1x50',
      name: 'sample 1x50',
      server: 'service',
      path: '/v1/sample',
      body: smallBody,
      connections: 64,
      target: { kind: 'ratio', min: 0.6 },
      check: checkSample('sample 1x50', 1, 50, 1, 1),
    },
    {
      key: 'sample-8x32000',
      name: 'sample 8x32000',
      server: 'service',
      path: '/v1/sample',
      body: JSON.stringify({ logits: big, n: 1, seed: 1 }),
      connections: 8,
      target: { kind: 'rps', min: 105 },
      check: checkSample('sample 8x32000', 8, 32000, 1, 1),
    },
    {
      key: 'softmax-64x1000',
      name: 'softmax 64x1000',
      server: 'service',
      path: '/v1/softmax',
      body: JSON.stringify({ logits: sm }),
      connections: 16,
      target: { kind: 'rps', min: 190 },
      check: checkSoftmax('softmax 64x1000', sm),
    },
  ];
}
