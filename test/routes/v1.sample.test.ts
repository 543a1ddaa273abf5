import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { build, expectError, post } from '../helpers/http.js';

/**
 * /v1/sample's issue-9 fields over HTTP: every `filter` and `draw` case of
 * test/fixtures/reference/vectors-2.json (computed outside the project: its README), and the
 * 400s of the new fields. The kernel's own checks are in test/core.
 */

interface Top {
  indices: number[];
  logprobs: (number | null)[];
}
interface Case {
  name: string;
  kind: 'score' | 'filter' | 'draw';
  request: Record<string, unknown>;
  atol: number;
  rtol: number;
  expected: { probs?: number[][]; kept?: number[][]; samples?: number[][]; logprobs?: number[][]; topLogprobs?: Top[] };
}

const doc = JSON.parse(readFileSync(new URL('../fixtures/reference/vectors-2.json', import.meta.url), 'utf8')) as {
  format: number;
  cases: Case[];
};
const filters = doc.cases.filter((c) => c.kind === 'filter');
const draws = doc.cases.filter((c) => c.kind === 'draw');
/** The README's tolerance for log-probabilities of draws. */
const LOG_ATOL = 1e-9;
const LOG_RTOL = 1e-12;

const server = build({ workers: 2 });

async function sample(body: Record<string, unknown>): Promise<{ samples: number[][]; logprobs?: (number | null)[][]; topLogprobs?: Top[]; seed: unknown }> {
  const res = await post(server.app, '/v1/sample', body);
  expect(res.statusCode, res.body).toBe(200);
  return JSON.parse(res.body);
}

const close = (got: number | null, want: number) => got !== null && Math.abs(got - want) <= LOG_ATOL + LOG_RTOL * Math.abs(want);

describe('vectors-2.json over HTTP', () => {
  it('has the cases its README promises', () => {
    expect(doc.format).toBe(2);
    expect(filters.length).toBe(75);
    expect(draws.length).toBe(27);
  });

  it.each(filters.map((c) => [c.name, c] as const))('filter %s', async (_name, c) => {
    // The README's recipe: the final distribution read through topLogprobs (no row keeps more than 64).
    const got = await sample({ ...c.request, n: 1, seed: 7, logprobs: true, topLogprobs: 64 });
    const { probs, kept } = c.expected as { probs: number[][]; kept: number[][] };
    got.topLogprobs!.forEach((top, r) => {
      const order = [...kept[r]].sort((a, b) => probs[r][b] - probs[r][a] || a - b);
      expect(top.indices, `row ${r}`).toEqual(order);
      top.logprobs.forEach((lp, i) => expect(close(lp, Math.log(probs[r][order[i]])), `row ${r} class ${order[i]}: ${lp}`).toBe(true));
      expect(kept[r]).toContain(got.samples[r][0]);
      expect(close(got.logprobs![r][0], Math.log(probs[r][got.samples[r][0]]))).toBe(true);
    });
  });

  it.each(draws.map((c) => [c.name, c] as const))('draw %s', async (_name, c) => {
    const got = await sample(c.request);
    expect(got.samples).toEqual(c.expected.samples);
    expect(got.seed).toEqual(c.request.seed);
    if (c.expected.logprobs) {
      c.expected.logprobs.forEach((row, r) =>
        row.forEach((want, d) => expect(close(got.logprobs![r][d], want), `[${r}][${d}] got ${got.logprobs![r][d]}, want ${want}`).toBe(true)),
      );
    } else expect(got.logprobs).toBeUndefined();
    if (c.expected.topLogprobs) {
      c.expected.topLogprobs.forEach((want, r) => {
        expect(got.topLogprobs![r].indices, `row ${r}`).toEqual(want.indices);
        want.logprobs.forEach((lp, i) => expect(close(got.topLogprobs![r].logprobs[i], lp!), `row ${r} [${i}]`).toBe(true));
      });
    } else expect(got.topLogprobs).toBeUndefined();
  });
});

describe('answers', () => {
  it('old requests answer only samples and the seed', async () => {
    const got = await sample({ logits: [[3, 2, 1]], n: 4, seed: 42 });
    expect(Object.keys(got)).toEqual(['samples', 'seed']);
  });

  it('orders the members samples, logprobs, topLogprobs, seed', async () => {
    const res = await post(server.app, '/v1/sample', { logits: [[3, 2, 1], [0, 0, null]], n: 2, seed: [5, 6], logprobs: true, topLogprobs: 2 });
    expect(res.statusCode, res.body).toBe(200);
    const got = JSON.parse(res.body);
    expect(Object.keys(got)).toEqual(['samples', 'logprobs', 'topLogprobs', 'seed']);
    expect(got.seed).toEqual([5, 6]);
    expect(got.topLogprobs[1].indices).toEqual([0, 1]);
    expect(got.topLogprobs[1].logprobs).toEqual([Math.log(0.5), Math.log(0.5)]);
  });

  it('topLogprobs: 0 answers an empty pair per row', async () => {
    const got = await sample({ logits: [[3, 2, 1], [1, 2, 3]], seed: 1, topLogprobs: 0 });
    expect(got.topLogprobs).toEqual([
      { indices: [], logprobs: [] },
      { indices: [], logprobs: [] },
    ]);
  });

  it('a per-row-seeded row draws the same alone and anywhere in a batch', async () => {
    const a = [0.3, -1, 2, 0.5, 0.1];
    const b = [1, 1, 1, 1, 1];
    const alone = await sample({ logits: [a], n: 8, seed: [99] });
    const batch = await sample({ logits: [b, b, a, b], n: 8, seed: [1, 2, 99, 3] });
    expect(batch.samples[2]).toEqual(alone.samples[0]);
  });

  it('draws without replacement: distinct classes, the first as with replacement', async () => {
    const logits = [[0.5, 0.2, -0.3, 1.2, 0.9, -2, 0.4]];
    const without = await sample({ logits, n: 7, seed: 3, replacement: false });
    const withR = await sample({ logits, n: 1, seed: 3 });
    expect(new Set(without.samples[0]).size).toBe(7);
    expect(without.samples[0][0]).toBe(withR.samples[0][0]);
  });
});

describe('the pool: every body to a worker, rows split, answers streamed', () => {
  const pool = build({ workers: 2, inlineMaxBytes: 0, inlineMaxNs: 0, splitMinWork: 1, streamMinElements: 8 });

  it('gives the bytes of the inline answer, zipped top lists, per-row arrays and a class-less row alike', async () => {
    const rows = 300;
    const logits = Array.from({ length: rows }, (_, r) => Array.from({ length: 40 }, (_, j) => (j % 7 === r % 7 ? null : Math.sin(r * 40 + j) * 3)));
    const bodies = [
      { logits, n: 4, seed: Array.from({ length: rows }, (_, r) => r * 977), logprobs: true, topLogprobs: 5, temperature: logits.map((_, r) => 0.5 + (r % 3)) },
      { logits, n: 4, seed: 9, replacement: false, typicalP: 0.99, logitBias: { '3': 2 }, banned: [5], logprobs: true, logprobsMode: 'raw', topLogprobs: 64 },
      { logits, n: 2, seed: 1, topLogprobs: 0, eta: 0.01, topNSigma: 1.5 },
    ];
    for (const body of bodies) {
      const a = await post(server.app, '/v1/sample', body);
      const b = await post(pool.app, '/v1/sample', body);
      expect(a.statusCode, a.body.slice(0, 300)).toBe(200);
      expect(b.body === a.body, JSON.stringify(Object.keys(body))).toBe(true);
    }
    // Rows 160 and 290 have no class left (in the two halves of a split): the first is named either way.
    const masked = logits.map((row, r) => (r === 160 || r === 290 ? row.map((_, j) => (j === 5 ? 1 : null)) : row));
    const body = { logits: masked, seed: 1, banned: [5] };
    for (const target of [server.app, pool.app]) {
      const res = await post(target, '/v1/sample', body);
      expectError(res, 400);
      expect(res.body).toMatch(/logits\[160\] has no class left/);
    }
  });
});

describe('400s of the new fields', () => {
  const logits = [[1, 2, 3], [3, 2, 1]];
  const bad = async (body: Record<string, unknown>, path: (string | number)[], message?: RegExp) => {
    const res = await post(server.app, '/v1/sample', { logits, seed: 1, ...body });
    const err = expectError(res, 400);
    expect(err.issues?.map((i) => i.path) ?? [], res.body).toContainEqual(path);
    if (message) expect(res.body).toMatch(message);
  };

  it('per-row arrays of the wrong length', () => bad({ temperature: [1, 2, 3] }, ['temperature'], /3 values.*2 rows/));
  it('a bad element of a per-row array, by position', () => bad({ topP: [0.5, 2] }, ['topP', 1], /topP must be a number in \(0, 1\]/));
  it('a per-row field of the wrong type, with the scalar\'s message', () => bad({ topK: 'x' }, ['topK'], /"topK must be an integer >= 1"/));
  it('seed arrays of the wrong length', () => bad({ seed: [1] }, ['seed'], /1 values.*2 rows/));
  it('a seed array element that is not an exact integer', async () => {
    const res = await post(server.app, '/v1/sample', `{"logits":[[1,2]],"seed":[9007199254740991.4]}`);
    const err = expectError(res, 400);
    expect(err.issues?.[0].path).toEqual(['seed', 0]);
  });
  it('allowed index out of range', () => bad({ allowed: [0, 3] }, ['allowed', 1], /allowed\[1\] is 3, not a class index in \[0, 3\)/));
  it('banned index not an integer', () => bad({ banned: [0.5] }, ['banned', 0]));
  it('logitBias key out of range', () => bad({ logitBias: { '7': 1 } }, ['logitBias', '7']));
  it('logitBias key not a decimal index', () => bad({ logitBias: { '01': 1, x: 2 } }, ['logitBias', 'x'], /logitBias key \\"x\\" is not a class index/));
  it('logitBias value not a number', () => bad({ logitBias: { '1': 'a' } }, ['logitBias', '1']));
  it('a row left with no class names it', () => bad({ logits: [[1, 2, 3], [null, 2, null]], banned: [1] }, ['logits', 1], /logits\[1\] has no class left/));
  it('n above cols without replacement', () => bad({ n: 4, replacement: false }, ['n']));
  it('n above a row\'s support without replacement names the row', () =>
    bad({ logits: [[1, 2, 3], [3, 2, 1]], n: 2, replacement: false, mapping: 'sparsemax', temperature: 0.1 }, ['n'], /row 0 has only 1 classes/));
  it('topLogprobs above 64', () => bad({ topLogprobs: 65 }, ['topLogprobs']));
  it('logprobsMode unknown', () => bad({ logprobsMode: 'cooked' }, ['logprobsMode']));
  it('typicalP, epsilon, eta, topNSigma out of range', async () => {
    await bad({ typicalP: 0 }, ['typicalP']);
    await bad({ epsilon: 1 }, ['epsilon']);
    await bad({ eta: -0.1 }, ['eta']);
    await bad({ topNSigma: 0 }, ['topNSigma']);
  });
});
