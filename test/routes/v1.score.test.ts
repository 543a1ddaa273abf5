import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { ApiError } from '../../src/errors.js';
import { run } from '../../src/ops/index.js';
import { poolTasks } from '../helpers/corpus.js';
import { expectError, post, randomLogits } from '../helpers/http.js';
import { compareScore, loadScoreCases, SCORE_FIELDS } from '../helpers/vectors-2.js';

/**
 * POST /v1/score through app.inject: every score case of vectors-2.json, on an app that computes
 * small bodies inline and on one that sends every body to a worker and splits rows across two
 * (the refusals must cross the thread boundary intact, and a split must not change a byte),
 * and its 400s, each naming the field and position.
 */

let inline: FastifyInstance;
let pooled: FastifyInstance;

beforeAll(async () => {
  [inline, pooled] = await Promise.all([
    buildApp({ workers: 2, logLevel: 'silent' }),
    buildApp({ workers: 2, logLevel: 'silent', inlineMaxBytes: 0, inlineMaxNs: 0, splitMinWork: 1, streamMinElements: 8 }),
  ]);
  await Promise.all([inline.ready(), pooled.ready()]);
});

afterAll(async () => {
  await Promise.all([inline?.close(), pooled?.close()]);
});

const cases = loadScoreCases();

describe('POST /v1/score: the reference vectors', () => {
  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_n, c) => {
    const res = await post(inline, '/v1/score', c.request);
    expect(res.statusCode, res.body).toBe(200);
    const body = JSON.parse(res.body) as Record<string, (number | null)[]>;
    expect(Object.keys(body)).toEqual(['loss', 'prob', 'logprob', 'entropy', 'value']);
    for (const f of SCORE_FIELDS) expect(body[f], f).toHaveLength(c.request.targets.length);
    expect(compareScore(body as never, c)).toEqual([]);
    // null exactly where the reference has null; no other field is ever null.
    expect(body.logprob.map((v) => v === null)).toEqual(c.expected.logprob.map((v) => v === null));
    for (const f of ['loss', 'prob', 'entropy', 'value']) expect(body[f].every((v) => typeof v === 'number'), f).toBe(true);
  });

  it('every case gives the same bytes through the pool, its rows split across the workers', async () => {
    const multi = cases.filter((c) => c.request.targets.length > 1);
    const before = await poolTasks(pooled);
    for (const c of multi) {
      const [a, b] = await Promise.all([post(inline, '/v1/score', c.request), post(pooled, '/v1/score', c.request)]);
      expect(b.statusCode, b.body).toBe(200);
      expect(b.body, c.name).toBe(a.body);
    }
    expect(await poolTasks(pooled)).toBeGreaterThan(before + multi.length); // split: more than one task a request
  });

  it('a body past the byte scanner\'s threshold (scanned, not JSON.parse\'d) gives the same answer', async () => {
    const logits = randomLogits(40, 200, 5);
    const targets = logits.map((_, r) => (r * 37) % 200);
    for (const mapping of ['softmax', 'sparsemax', 'entmax']) {
      const body = { logits, targets, mapping, alpha: 1.3 };
      const [a, b] = await Promise.all([post(inline, '/v1/score', body), post(pooled, '/v1/score', body)]);
      expect(a.statusCode, a.body).toBe(200);
      expect(b.body).toBe(a.body);
      const s = JSON.parse(a.body) as { loss: number[]; value: number[] };
      expect(s.loss.every((v) => v >= 0)).toBe(true);
    }
  });
});

describe('POST /v1/score: 400s naming the field and position', () => {
  const bad: [string, unknown, RegExp, (string | number)[]][] = [
    ['no targets', { logits: [[1, 2]] }, /^targets must be an array of class indices \(integers\), one per row$/, ['targets']],
    ['targets a number', { logits: [[1, 2]], targets: 1 }, /^targets must be an array/, ['targets']],
    ['targets too short', { logits: [[1, 2], [3, 4]], targets: [0] }, /^targets has 1 element\(s\); it needs one per row of logits \(2\)$/, ['targets']],
    ['targets too long', { logits: [[1, 2]], targets: [0, 1] }, /^targets has 2 element\(s\); it needs one per row of logits \(1\)$/, ['targets']],
    ['a target past the classes', { logits: [[1, 2], [3, 4]], targets: [0, 2] }, /^targets\[1\] is 2: a class index must be in \[0, 2\)$/, ['targets', 1]],
    ['a negative target', { logits: [[1, 2]], targets: [-1] }, /^targets\[0\] is -1: a class index must be in \[0, 2\)$/, ['targets', 0]],
    ['a non-integer target', { logits: [[1, 2], [3, 4]], targets: [0, 1.5] }, /^targets must be an array of class indices \(integers\)$/, ['targets', 1]],
    ['a string target', { logits: [[1, 2]], targets: ['0'] }, /^targets must be an array of class indices \(integers\)$/, ['targets', 0]],
    ['a null target', { logits: [[1, 2]], targets: [null] }, /^targets must be an array of class indices \(integers\)$/, ['targets', 0]],
    [
      'a masked target',
      { logits: [[1, 2], [3, null, 4]].map((r) => [...r, 0].slice(0, 3)), targets: [0, 1] },
      /^targets\[1\] is 1, a masked class of row 1 \(logits\[1\]\[1\] is null\)$/,
      ['targets', 1],
    ],
    ['an unknown mapping', { logits: [[1, 2]], targets: [0], mapping: 'argmax' }, /^mapping must be one of softmax, sparsemax, entmax$/, ['mapping']],
    ['temperature 0', { logits: [[1, 2]], targets: [0], temperature: 0 }, /^temperature must be > 0$/, ['temperature']],
    ['alpha below 1', { logits: [[1, 2]], targets: [0], mapping: 'entmax', alpha: 0.5 }, /^alpha must be >= 1$/, ['alpha']],
    ['probs instead of logits', { probs: [[0.5, 0.5]], targets: [0] }, /unknown field\(s\): probs/, ['probs']],
  ];

  it.each(bad)('%s', async (_n, body, message, path) => {
    for (const app of [inline, pooled]) {
      const e = expectError(await post(app, '/v1/score', body), 400, 'INVALID_REQUEST');
      expect(e.message).toMatch(message);
      expect(e.issues?.[0].path).toEqual(path);
    }
  });

  it('every bad target is listed, in row order (up to the 20 a 400 echoes)', async () => {
    const logits = [[1, null], [2, 3], [null, 1], [0, 0]];
    const e = expectError(await post(inline, '/v1/score', { logits, targets: [1, 0, 0, 5] }), 400);
    expect(e.issues!.map((i) => i.path)).toEqual([['targets', 0], ['targets', 2], ['targets', 3]]);
    const many = Array.from({ length: 30 }, () => [0, 1]);
    const e2 = expectError(await post(inline, '/v1/score', { logits: many, targets: many.map(() => 7) }), 400);
    expect(e2.issues).toHaveLength(20);
    expect(e2.message).toMatch(/\.\.\. and 10 more issues$/);
  });

  it('a masked target in a scanned body names its row', async () => {
    const logits: (number | null)[][] = randomLogits(40, 200, 9);
    logits[33][17] = null;
    const targets = logits.map(() => 17);
    for (const app of [inline, pooled]) {
      const e = expectError(await post(app, '/v1/score', { logits, targets }), 400);
      expect(e.message).toBe('targets[33] is 17, a masked class of row 33 (logits[33][17] is null)');
    }
  });

  it('bad targets in a scanned body (past 16 KiB) get the small body\'s 400', async () => {
    const logits = randomLogits(40, 200, 9);
    const good = logits.map(() => 1);
    const bodies: [unknown[], (string | number)[]][] = [
      [good.map((t, r) => (r === 29 ? 2.5 : t)), ['targets', 29]],
      [good.map((t, r) => (r === 31 ? 'x' : t)), ['targets', 31]],
      [good.map((t) => [t]), ['targets', 0]], // nested: refused at element 0 either way
      [good.slice(1), ['targets']],
    ];
    for (const [targets, path] of bodies) {
      const big = expectError(await post(inline, '/v1/score', { logits, targets }), 400);
      const small = expectError(await post(inline, '/v1/score', { logits: logits.map((r) => r.slice(0, 2)), targets }), 400);
      expect(big.issues?.[0].path).toEqual(path);
      // The first issue alike (a nested array lists every element small, element 0 scanned).
      expect(big.issues?.[0]).toEqual(small.issues?.[0]);
    }
  });

  it('targets past the 1 MiB outside the matrix: a 400 that says so', async () => {
    const rows = 600_000;
    const body = `{"targets":[${'0,'.repeat(rows - 1)}0],"logits":[${'[0],'.repeat(rows - 1)}[0]]}`;
    const e = expectError(await post(inline, '/v1/score', body), 400);
    expect(e.message).toBe(
      `the request body has ${2 * rows + 24} bytes outside the logits / probs matrix, ${2 * rows + 1} in targets (one value per row); at most 1048576 are accepted: send fewer rows per request`,
    );
  });

  it('the operation refuses a masked target by itself (a job built without the codec\'s check)', () => {
    const job = {
      op: 'score' as const,
      params: { targets: [0, 1], mapping: 'sparsemax', alpha: 1.5, temperature: 1 },
      input: 'logits' as const,
      data: Float64Array.from([1, 2, 3, -Infinity]),
      rows: 2,
      cols: 2,
      rowOffset: 0,
      work: 4,
    };
    let thrown: unknown;
    try {
      run(job);
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(ApiError);
    expect((thrown as ApiError).statusCode).toBe(400);
    expect((thrown as ApiError).message).toBe('targets[1] is 1, a masked class of row 1: its loss is infinite');
  });

  it('both apps still answer a good request', async () => {
    for (const app of [inline, pooled]) expect((await post(app, '/v1/score', { logits: [[1, 2]], targets: [1] })).statusCode).toBe(200);
  });
});
