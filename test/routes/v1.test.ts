import { describe, expect, it } from 'vitest';
import { build, expectError, post } from '../helpers/http.js';
import { compareMatrix, loadReferenceCases, type ReferenceCase } from '../helpers/reference.js';

/**
 * The /v1 endpoints through server.app.inject against the contract: response shapes and values, every
 * case of test/fixtures/reference/vectors.json over HTTP. (Bad input: ./v1.errors.test.ts;
 * determinism across workers, splits and paths: ./v1.determinism.test.ts.)
 */

const server = build({ workers: 2 });

async function ok(url: string, body: unknown): Promise<Record<string, unknown>> {
  const res = await post(server.app, url, body);
  expect(res.statusCode, res.body).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  return JSON.parse(res.body) as Record<string, unknown>;
}

function rowSums(m: number[][]): number[] {
  return m.map((r) => r.reduce((a, b) => a + b, 0));
}

function expectOnSimplex(probs: number[][], cols: number): void {
  for (const row of probs) {
    expect(row).toHaveLength(cols);
    for (const p of row) {
      expect(typeof p).toBe('number');
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(1);
    }
  }
  for (const s of rowSums(probs)) expect(Math.abs(s - 1)).toBeLessThan(1e-12);
}

describe('POST /v1/argmax', () => {
  it('returns the index of each row maximum; ties go low; masked classes never win', async () => {
    const body = await ok('/v1/argmax', {
      logits: [
        [3, 2, 1],
        [1, 5, null],
        [2, 2, 0],
        [null, -1e300, -1e301],
        [7, 7, 7],
      ],
    });
    expect(body).toEqual({ indices: [0, 1, 0, 1, 0] });
    expect(Object.keys(body)).toEqual(['indices']);
  });

  it('takes a single class', async () => {
    expect(await ok('/v1/argmax', { logits: [[-4]] })).toEqual({ indices: [0] });
  });
});

describe('POST /v1/softmax', () => {
  it("gives the seed article's example for z = [3, 2, 1]", async () => {
    const body = await ok('/v1/softmax', { logits: [[3, 2, 1]] });
    expect(Object.keys(body)).toEqual(['probs']);
    const [row] = body.probs as number[][];
    expect(compareMatrix(row, [[0.6652409557748219, 0.24472847105479767, 0.09003057317038046]], 1e-12, 0)).toEqual([]);
  });

  it('applies the temperature and masks null classes to exactly 0', async () => {
    const body = await ok('/v1/softmax', {
      logits: [
        [3, 2, 1],
        [1, null, 1],
      ],
      temperature: 2,
    });
    const probs = body.probs as number[][];
    expectOnSimplex(probs, 3);
    const e = [Math.exp(1.5), Math.exp(1), Math.exp(0.5)];
    const s = e[0] + e[1] + e[2];
    expect(compareMatrix(probs[0], [e.map((v) => v / s)], 1e-12, 0)).toEqual([]);
    expect(probs[1]).toEqual([0.5, 0, 0.5]);
  });

  it('log: true returns logProbs with null for masked classes; log defaults to false', async () => {
    const body = await ok('/v1/softmax', { logits: [[3, 2, null]], log: true });
    expect(Object.keys(body)).toEqual(['logProbs']);
    const [row] = body.logProbs as (number | null)[][];
    expect(row[2]).toBeNull();
    const lse = Math.log(Math.exp(0) + Math.exp(-1));
    expect(row[0]).toBeCloseTo(-lse, 12);
    expect(row[1]).toBeCloseTo(-1 - lse, 12);
    const plain = await ok('/v1/softmax', { logits: [[3, 2, null]], log: false });
    expect(Object.keys(plain)).toEqual(['probs']);
  });
});

describe('POST /v1/sparsemax', () => {
  it('projects onto the simplex with exact zeros and reports the support', async () => {
    const body = await ok('/v1/sparsemax', {
      logits: [
        [3, 2, 1],
        [-2, 0, 0.5],
        [0, 0, null],
      ],
    });
    expect(Object.keys(body).sort()).toEqual(['probs', 'support']);
    expect(body.probs).toEqual([
      [1, 0, 0],
      [0, 0.25, 0.75],
      [0.5, 0.5, 0],
    ]);
    expect(body.support).toEqual([1, 2, 2]);
  });

  it('divides by the temperature', async () => {
    // [3,2,1] / 10 = [0.3, 0.2, 0.1]: tau = (0.6 - 1) / 3, every class in the support.
    const body = await ok('/v1/sparsemax', { logits: [[3, 2, 1]], temperature: 10 });
    expect((body.support as number[])[0]).toBe(3);
    expectOnSimplex(body.probs as number[][], 3);
  });
});

describe('POST /v1/entmax', () => {
  it('defaults to alpha 1.5 (the entmax README example)', async () => {
    const body = await ok('/v1/entmax', { logits: [[-2, 0, 0.5]] });
    expect(Object.keys(body).sort()).toEqual(['probs', 'support']);
    const probs = body.probs as number[][];
    expect(probs[0][0]).toBe(0);
    expect(compareMatrix(probs[0], [[0, 0.32600736366156174, 0.6739926363384381]], 1e-9, 0)).toEqual([]);
    expect(body.support).toEqual([2]);
  });

  it('alpha 1 is softmax and alpha 2 is sparsemax', async () => {
    const logits = [[-2, 0, 0.5]];
    const soft = await ok('/v1/softmax', { logits });
    const e1 = await ok('/v1/entmax', { logits, alpha: 1 });
    expect(compareMatrix((e1.probs as number[][])[0], soft.probs as number[][], 1e-12, 0)).toEqual([]);
    expect(e1.support).toEqual([3]);
    const e2 = await ok('/v1/entmax', { logits, alpha: 2 });
    expect(compareMatrix((e2.probs as number[][])[0], [[0, 0.25, 0.75]], 1e-12, 0)).toEqual([]);
    expect(e2.support).toEqual([2]);
  });

  it('masks null classes', async () => {
    const body = await ok('/v1/entmax', { logits: [[null, 1, 1, null]], alpha: 1.3 });
    expect(compareMatrix((body.probs as number[][])[0], [[0, 0.5, 0.5, 0]], 1e-12, 0)).toEqual([]);
    expect(body.support).toEqual([2]);
  });
});

describe('POST /v1/gumbel-softmax', () => {
  const logits = [
    [3, 2, 1],
    [0, null, 0],
    [1, 1, 1],
  ];

  it('returns probs on the simplex, the argmax index per row, and the seed', async () => {
    const body = await ok('/v1/gumbel-softmax', { logits, temperature: 0.5, seed: 42 });
    expect(Object.keys(body).sort()).toEqual(['indices', 'probs', 'seed']);
    expect(body.seed).toBe(42);
    const probs = body.probs as number[][];
    expectOnSimplex(probs, 3);
    expect(probs[1][1]).toBe(0); // masked
    const indices = body.indices as number[];
    expect(indices).toHaveLength(3);
    indices.forEach((k, r) => {
      expect(Number.isInteger(k)).toBe(true);
      expect(probs[r][k]).toBe(Math.max(...probs[r]));
    });
    expect(indices[1]).not.toBe(1);
  });

  it('hard: true returns the one-hot of the same indices', async () => {
    const soft = await ok('/v1/gumbel-softmax', { logits, temperature: 0.5, seed: 42 });
    const hard = await ok('/v1/gumbel-softmax', { logits, temperature: 0.5, seed: 42, hard: true });
    expect(hard.indices).toEqual(soft.indices);
    (hard.probs as number[][]).forEach((row, r) =>
      row.forEach((p, j) => expect(p).toBe(j === (hard.indices as number[])[r] ? 1 : 0)),
    );
  });

  it('accepts probs instead of logits; a 0 entry is never chosen', async () => {
    for (let seed = 0; seed < 20; seed++) {
      const body = await ok('/v1/gumbel-softmax', { probs: [[0.2, 0, 0.8]], seed });
      expect((body.indices as number[])[0]).not.toBe(1);
      expect((body.probs as number[][])[0][1]).toBe(0);
    }
  });

  it('probs p and logits log p give the same answer', async () => {
    // The kernel takes z = log(p / sum p); with sum p = 1 exactly those are the same logits.
    const p = [0.5, 0.25, 0.25];
    const a = await post(server.app, '/v1/gumbel-softmax', { probs: [p], seed: 7 });
    const b = await post(server.app, '/v1/gumbel-softmax', { logits: [p.map(Math.log)], seed: 7 });
    expect(a.body).toBe(b.body);
  });

  it('different seeds give different noise', async () => {
    const a = await ok('/v1/gumbel-softmax', { logits, seed: 1 });
    const b = await ok('/v1/gumbel-softmax', { logits, seed: 2 });
    expect(a.probs).not.toEqual(b.probs);
  });

  it('draws and returns a seed when none is given', async () => {
    const body = await ok('/v1/gumbel-softmax', { logits });
    expect(Number.isSafeInteger(body.seed)).toBe(true);
    expect(body.seed as number).toBeGreaterThanOrEqual(0);
  });
});

describe('POST /v1/sample', () => {
  it('returns rows x n class indices and the seed; n defaults to 1', async () => {
    const body = await ok('/v1/sample', { logits: [[3, 2, 1], [0, 0, 0]], n: 5, seed: 42 });
    expect(Object.keys(body).sort()).toEqual(['samples', 'seed']);
    expect(body.seed).toBe(42);
    const samples = body.samples as number[][];
    expect(samples).toHaveLength(2);
    for (const row of samples) {
      expect(row).toHaveLength(5);
      for (const k of row) expect([0, 1, 2]).toContain(k);
    }
    const one = await ok('/v1/sample', { logits: [[3, 2, 1]], seed: 42 });
    expect((one.samples as number[][])[0]).toHaveLength(1);
  });

  it('never draws a masked class or a zero probability', async () => {
    const a = await ok('/v1/sample', { logits: [[null, 0, null, 0]], n: 200, seed: 3 });
    for (const k of (a.samples as number[][])[0]) expect([1, 3]).toContain(k);
    const b = await ok('/v1/sample', { probs: [[0, 1, 0]], n: 50, seed: 3 });
    expect((b.samples as number[][])[0]).toEqual(Array(50).fill(1));
  });

  it('temperature 0 is greedy (ties to the lowest index)', async () => {
    const body = await ok('/v1/sample', { logits: [[1, 3, 3, 2]], temperature: 0, n: 20, seed: 9 });
    expect((body.samples as number[][])[0]).toEqual(Array(20).fill(1));
  });

  it('draws with the softmax frequencies', async () => {
    // p = [0.25, 0.75]; 4000 draws: sd of the frequency ~0.0068, so +-0.04 is ~6 sd.
    const body = await ok('/v1/sample', { logits: [[0, Math.log(3)]], n: 4000, seed: 12345 });
    const row = (body.samples as number[][])[0];
    const f = row.filter((k) => k === 1).length / row.length;
    expect(f).toBeGreaterThan(0.71);
    expect(f).toBeLessThan(0.79);
  });

  it('sparsemax and entmax mappings zero out the tail', async () => {
    // sparsemax([3, 2, 1]) = [1, 0, 0]; entmax-1.5([-2, 0, 0.5]) has class 0 at exactly 0.
    const s = await ok('/v1/sample', { logits: [[3, 2, 1]], mapping: 'sparsemax', n: 50, seed: 5 });
    expect((s.samples as number[][])[0]).toEqual(Array(50).fill(0));
    const e = await ok('/v1/sample', { logits: [[-2, 0, 0.5]], mapping: 'entmax', n: 200, seed: 5 });
    const row = (e.samples as number[][])[0];
    expect(row).not.toContain(0);
    expect(new Set(row)).toEqual(new Set([1, 2]));
  });

  it('topK, topP and minP filter the classes', async () => {
    // softmax([3, 2, 1]) = [0.665, 0.245, 0.090].
    const logits = [[3, 2, 1]];
    const draws = async (extra: Record<string, unknown>) =>
      new Set(((await ok('/v1/sample', { logits, n: 300, seed: 11, ...extra })).samples as number[][])[0]);
    expect(await draws({})).toEqual(new Set([0, 1, 2]));
    expect(await draws({ topK: 1 })).toEqual(new Set([0]));
    expect(await draws({ topK: 2 })).toEqual(new Set([0, 1]));
    expect(await draws({ topP: 0.5 })).toEqual(new Set([0]));
    expect(await draws({ topP: 0.9 })).toEqual(new Set([0, 1]));
    expect(await draws({ topP: 1 })).toEqual(new Set([0, 1, 2]));
    expect(await draws({ minP: 0.3 })).toEqual(new Set([0, 1]));
    expect(await draws({ minP: 1 })).toEqual(new Set([0]));
  });

  it('accepts probs with n draws per row', async () => {
    const body = await ok('/v1/sample', { probs: [[1, 1, 2], [5, 0, 0]], n: 100, seed: 8 });
    const [r0, r1] = body.samples as number[][];
    expect(new Set(r0)).toEqual(new Set([0, 1, 2]));
    expect(r1).toEqual(Array(100).fill(0));
  });
});

describe('reference vectors over HTTP (test/fixtures/reference/vectors.json)', () => {
  const cases = loadReferenceCases();

  it('has the 182 cases its README promises', () => {
    expect(cases.length).toBe(182);
  });

  function request(c: ReferenceCase): { url: string; body: Record<string, unknown> } {
    switch (c.mapping) {
      case 'argmax':
        return { url: '/v1/argmax', body: { logits: c.logits } };
      case 'softmax':
        return { url: '/v1/softmax', body: { logits: c.logits, temperature: c.temperature } };
      case 'log_softmax':
        return { url: '/v1/softmax', body: { logits: c.logits, temperature: c.temperature, log: true } };
      case 'sparsemax':
        return { url: '/v1/sparsemax', body: { logits: c.logits, temperature: c.temperature } };
      case 'entmax':
        return { url: '/v1/entmax', body: { logits: c.logits, alpha: c.alpha, temperature: c.temperature } };
    }
  }

  it.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { url, body } = request(c);
    const res = await post(server.app, url, body);
    expect(res.statusCode, res.body).toBe(200);
    const got = JSON.parse(res.body) as Record<string, unknown>;
    if (c.mapping === 'argmax') {
      expect(got).toEqual({ indices: c.indices });
      return;
    }
    const key = c.mapping === 'log_softmax' ? 'logProbs' : 'probs';
    const matrix = got[key] as (number | null)[][];
    expect(matrix).toHaveLength(c.expected!.length);
    const flat = matrix.flat().map((v) => (v === null ? -Infinity : v));
    expect(flat).toHaveLength(c.expected!.length * c.expected![0].length);
    expect(compareMatrix(flat, c.expected!, c.atol!, c.rtol!)).toEqual([]);
    if (c.mapping === 'sparsemax' || c.mapping === 'entmax') {
      expect(got.support).toEqual(c.support);
      // The README: entries on the threshold (and off the support) are exactly 0.
      const cols = c.expected![0].length;
      c.expected!.forEach((row, r) => row.forEach((e, j) => e === 0 && expect(flat[r * cols + j], `[${r}][${j}]`).toBe(0)));
    }
  });
});
