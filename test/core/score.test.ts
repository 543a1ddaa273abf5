import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entmax } from '../../src/core/entmax.js';
import { bregmanTarget, score, type ScoreMapping, type ScoreOutputs } from '../../src/core/score.js';
import { softmax } from '../../src/core/softmax.js';
import { sparsemax } from '../../src/core/sparsemax.js';
import { entmaxBisect, entmax15Sorted, softmaxPlain, sparsemaxSorted } from '../helpers/oracles.js';
import { toMatrix } from '../helpers/reference.js';
import { compareScore, loadScoreCases, SCORE_FIELDS } from '../helpers/vectors-2.js';

/**
 * src/core/score.ts against the reference vectors (vectors-2.json, computed outside the
 * project), an independent naive oracle (sort-based / bisection p and the textbook formulas), and
 * the properties of Fenchel-Young losses (Blondel, Martins & Niculae 2020).
 */

const outputs = (rows: number): ScoreOutputs => ({
  loss: new Float64Array(rows),
  prob: new Float64Array(rows),
  logprob: new Float64Array(rows),
  entropy: new Float64Array(rows),
  value: new Float64Array(rows),
});

function run(z: (number | null)[][], targets: number[], mapping: ScoreMapping, alpha = 1.5, temperature = 1, rowOffset = 0) {
  const { data, rows, cols } = toMatrix(z);
  const outs = outputs(rows);
  const failed = score(data, rows, cols, { mapping, alpha, temperature, targets, rowOffset }, outs);
  return { outs, failed };
}

/** p of the service's own mapping kernel (what /v1/<mapping> answers). */
function mapped(z: number[], mapping: ScoreMapping, alpha: number, T: number): Float64Array {
  const data = Float64Array.from(z);
  if (mapping === 'softmax') return softmax(data, 1, z.length, T);
  if (mapping === 'sparsemax') return sparsemax(data, 1, z.length, T).probs;
  return entmax(data, 1, z.length, alpha, T).probs;
}

describe('score: the reference vectors', () => {
  const cases = loadScoreCases();

  it('has the 103 score cases', () => expect(cases).toHaveLength(103));

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const r = c.request;
    const { outs, failed } = run(r.logits, r.targets, r.mapping, r.alpha, r.temperature);
    expect(failed).toBeNull();
    expect(compareScore(outs, c)).toEqual([]);
    // null exactly where expected (compareScore accepts -Infinity only where null is expected).
    c.expected.logprob.forEach((e, k) => expect(outs.logprob[k] === -Infinity, `logprob[${k}]`).toBe(e === null));
  });

  it('rowOffset: a slice of rows reads its targets at the global row', () => {
    const c = cases.find((k) => k.name.startsWith('masked w=5 T=1/sparsemax'))!;
    const { data, cols } = toMatrix(c.request.logits);
    const outs = outputs(2);
    const sub = data.subarray(2 * cols, 4 * cols);
    expect(score(sub, 2, cols, { mapping: 'sparsemax', targets: c.request.targets, rowOffset: 2 }, outs)).toBeNull();
    for (const f of SCORE_FIELDS) {
      expect([...outs[f]].map((v) => (v === -Infinity ? null : v))).toEqual(
        c.expected[f].slice(2).map((e) => (e === null ? null : expect.closeTo(e, 12))),
      );
    }
  });
});

describe('score: refusals', () => {
  it('a masked target stops at its row', () => {
    expect(run([[1, 2], [null, 3], [null, 1]], [0, 0, 0], 'softmax').failed).toEqual({ row: 1, kind: 'masked-target' });
    expect(run([[1, 2], [3, null]], [1, 1], 'entmax').failed).toEqual({ row: 1, kind: 'masked-target' });
  });

  it('a target that is not a class index', () => {
    expect(run([[1, 2]], [2], 'sparsemax').failed).toEqual({ row: 0, kind: 'bad-target' });
    expect(run([[1, 2]], [-1], 'sparsemax').failed).toEqual({ row: 0, kind: 'bad-target' });
    expect(run([[1, 2]], [0.5], 'sparsemax').failed).toEqual({ row: 0, kind: 'bad-target' });
  });
});

describe('score: an independent oracle', () => {
  /** p . theta + H(p) and the rest by the textbook formulas, on theta = z / T, with the oracles' p. */
  function naive(z: number[], y: number, mapping: ScoreMapping, alpha: number, T: number) {
    const theta = z.map((v) => v / T);
    const a = mapping === 'softmax' ? 1 : mapping === 'sparsemax' ? 2 : alpha;
    const p = a === 1 ? softmaxPlain(theta) : a === 2 ? sparsemaxSorted(theta) : a === 1.5 ? entmax15Sorted(theta) : entmaxBisect(theta, a);
    let h = 0;
    for (const q of p) {
      if (q === 0) continue;
      h += a === 1 ? -q * Math.log(q) : a === 2 ? 0.5 * q * (1 - q) : (q - q ** a) / (a * (a - 1));
    }
    const value = p.reduce((s, q, i) => s + q * theta[i], 0) + h;
    return { loss: value - theta[y], value, entropy: h, prob: p[y] };
  }

  const row = fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: 1, maxLength: 12 });
  const setup = fc
    .tuple(row, fc.nat(), fc.constantFrom<ScoreMapping>('softmax', 'sparsemax', 'entmax'), fc.constantFrom(1, 1.25, 1.5, 2, 3), fc.constantFrom(0.5, 1, 2, 0.3))
    .map(([z, k, mapping, alpha, T]) => ({ z, y: k % z.length, mapping, alpha, T }));

  it('agrees with p . theta + H(p) - theta_y on small rows (1e-9)', () => {
    fc.assert(
      fc.property(setup, ({ z, y, mapping, alpha, T }) => {
        const { outs } = run([z], [y], mapping, alpha, T);
        const n = naive(z, y, mapping, alpha, T);
        for (const f of ['loss', 'value', 'entropy', 'prob'] as const) {
          expect(Math.abs(outs[f][0] - n[f]), `${f}: ${outs[f][0]} vs ${n[f]}`).toBeLessThanOrEqual(1e-9 * (1 + Math.abs(n[f])));
        }
      }),
      { numRuns: 300 },
    );
  });

  it('softmax loss is the cross-entropy -log-softmax(theta)_y, and logprob its negative', () => {
    fc.assert(
      fc.property(setup, ({ z, y, T }) => {
        const { outs } = run([z], [y], 'softmax', 1, T);
        const theta = z.map((v) => v / T);
        const m = Math.max(...theta);
        const lse = m + Math.log(theta.reduce((s, t) => s + Math.exp(t - m), 0));
        expect(outs.loss[0]).toBeCloseTo(lse - theta[y], 10);
        expect(outs.logprob[0] === -outs.loss[0]).toBe(true); // (0 and -0 alike)
        expect(outs.value[0]).toBeCloseTo(lse, 10);
      }),
      { numRuns: 200 },
    );
  });

  it('the e_y term of the Bregman divergence: series and closed form agree where they meet', () => {
    for (const a of [0.001, 0.25, 0.5, 1, 2, 9]) {
      const closed = (d: number) => (1 - (1 - d) ** a * (1 + a * d)) / (a * (a + 1));
      // (The plain closed form loses ~1e-13 relative itself at small a or d: a relative bound.)
      for (const d of [0.249, 0.2, 0.1]) expect(bregmanTarget(d, a) / closed(d)).toBeCloseTo(1, a < 0.1 ? 9 : 11);
      expect(bregmanTarget(0.25, a)).toBeCloseTo(bregmanTarget(0.25 - 1e-12, a), 12);
      // The leading terms, by hand: d^2 / 2 - (a - 1) d^3 / 3 + (a - 1) (a - 2) d^4 / 8.
      const d = 1e-6;
      expect(bregmanTarget(d, a) / (d ** 2 / 2 - ((a - 1) * d ** 3) / 3 + ((a - 1) * (a - 2) * d ** 4) / 8)).toBeCloseTo(1, 14);
    }
    expect(bregmanTarget(1e-3, 1)).toBe(1e-6 / 2); // sparsemax: (1 - p_y)^2 / 2, exactly here
    expect(bregmanTarget(0, 0.5)).toBe(0);
  });
});

describe('score: properties', () => {
  // Dyadic logits and shifts: z + c is exact, so a shift changes nothing but value.
  const dyadic = fc.integer({ min: -400, max: 400 }).map((k) => k / 16);
  const rowOf = (max: number) => fc.array(dyadic, { minLength: 1, maxLength: max });
  const mapping = fc.constantFrom<ScoreMapping>('softmax', 'sparsemax', 'entmax');
  const alpha = fc.constantFrom(1, 1.001, 1.25, 1.5, 2, 3, 10);
  const T = fc.constantFrom(1, 0.5, 2, 0.3, 7);
  const setup = fc.tuple(rowOf(30), fc.nat(), mapping, alpha, T).map(([z, k, m, a, t]) => ({ z, y: k % z.length, m, a, t }));

  it('loss >= 0, value >= max theta, prob in [0, 1], logprob = log prob (or null where p_y = 0 for sparse mappings)', () => {
    fc.assert(
      fc.property(setup, ({ z, y, m, a, t }) => {
        const { outs } = run([z], [y], m, a, t);
        expect(outs.loss[0]).toBeGreaterThanOrEqual(0);
        expect(outs.entropy[0]).toBeGreaterThanOrEqual(0);
        expect(outs.value[0]).toBeGreaterThanOrEqual(Math.max(...z) / t);
        expect(outs.prob[0]).toBeGreaterThanOrEqual(0);
        expect(outs.prob[0]).toBeLessThanOrEqual(1);
        const dense = m === 'softmax' || (m === 'entmax' && a === 1);
        if (outs.prob[0] > 0) expect(outs.logprob[0]).toBeCloseTo(Math.log(outs.prob[0]), 12);
        else if (!dense) expect(outs.logprob[0]).toBe(-Infinity);
      }),
      { numRuns: 500 },
    );
  });

  it('sparsemax / entmax: loss = 0 exactly when p is the one-hot of the target, and a one-hot has entropy 0', () => {
    const sparse = fc.tuple(rowOf(12), fc.nat(), fc.constantFrom<ScoreMapping>('sparsemax', 'entmax'), fc.constantFrom(1.25, 1.5, 2, 3, 10), T, fc.boolean());
    fc.assert(
      fc.property(sparse, ([z0, k, m, a, t, lift]) => {
        const y = k % z0.length;
        // Half the rows lift the target far above the rest, so that p is its one-hot.
        const z = lift ? z0.map((v, i) => (i === y ? v + 100 : v)) : z0;
        const { outs } = run([z], [y], m, a, t);
        const p = mapped(z, m, a, t);
        const oneHot = p[y] === 1 && p.every((q, i) => i === y || q === 0);
        expect(outs.loss[0] === 0, `p = ${[...p]}`).toBe(oneHot);
        if (p.some((q) => q === 1)) expect(outs.entropy[0]).toBe(0);
        if (lift) expect(oneHot).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('softmax: a single class, or classes underflowing to 0, have entropy 0', () => {
    expect(run([[3]], [0], 'softmax').outs.entropy[0]).toBe(0);
    expect(run([[3]], [0], 'sparsemax').outs.entropy[0]).toBe(0);
    const { outs } = run([[0, -1e4, -2e4]], [0], 'softmax');
    expect(outs.entropy[0]).toBe(0);
    expect(outs.loss[0]).toBe(0);
  });

  it('a shift of the logits changes value by shift / T and nothing else', () => {
    fc.assert(
      fc.property(setup, fc.integer({ min: -4000, max: 4000 }).map((k) => k / 8), ({ z, y, m, a, t }, c) => {
        const base = run([z], [y], m, a, t);
        const moved = run([z.map((v) => v + c)], [y], m, a, t);
        for (const f of ['loss', 'entropy', 'prob', 'logprob'] as const) expect(moved.outs[f][0], f).toBe(base.outs[f][0]);
        const top = Math.max(...z);
        expect(moved.outs.value[0] - (top + c) / t).toBeCloseTo(base.outs.value[0] - top / t, 9);
      }),
      { numRuns: 300 },
    );
  });

  it('p is the mapping kernel\'s own p (the p of /v1/<mapping>)', () => {
    fc.assert(
      fc.property(setup, ({ z, y, m, a, t }) => {
        const { outs } = run([z], [y], m, a, t);
        expect(outs.prob[0]).toBe(mapped(z, m, a, t)[y]);
      }),
      { numRuns: 200 },
    );
  });

  it('a row at 1e300 keeps the loss of its shifted form: softmax of [1e300, 1e300, 0] has loss log 2', () => {
    const { outs } = run([[1e300, 1e300, 0], [1e300, 0, -1e300]], [0, 1], 'softmax');
    expect(outs.loss[0]).toBe(Math.LN2);
    expect(outs.value[0]).toBe(1e300);
    expect(outs.loss[1]).toBe(1e300);
    expect(outs.prob[1]).toBe(0);
    expect(outs.logprob[1]).toBe(-1e300);
  });
});
