import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  entmax,
  entmaxStats,
  entmaxTuning,
  keyMidpoint,
  MAX_SOLVER_PASSES,
  NEAR_ONE,
  NEWTON_PASSES,
} from '../../src/core/entmax.js';
import { softmax } from '../../src/core/softmax.js';
import { entmaxExact, softmaxExact } from '../helpers/entmax-oracle.js';
import { entmaxBisect } from '../helpers/oracles.js';

/** The accuracy the near-1 regime promises against the exact answer (issue 7, item 6). */
const bound = (eps: number) => 1e-12 * eps + 1e-15;

function maxErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < want.length; i++) e = Math.max(e, Math.abs(got[i] - want[i]));
  return e;
}

/** eps = alpha - 1 as the kernel sees it (exact: alpha is within a factor 2 of 1). */
const alphaOf = (eps: number) => 1 + eps;

// The 50-digit oracle costs ~10-30 ms a row, so fewer runs than the cheap properties.
const ORACLE_RUNS = { numRuns: Math.min(Number(process.env.FC_RUNS ?? 80), 80) };

describe('entmax near alpha = 1, against the 50-digit oracle (test/helpers/entmax-oracle.ts)', () => {
  it('is within 1e-12 (alpha - 1) + 1e-15 for alpha - 1 in [2^-52, 2^-6.6]', () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.double({ min: 6.6, max: 52, noNaN: true }),
        fc.oneof(fc.constant(1), fc.double({ min: 0.25, max: 4, noNaN: true })),
        (z, e, T) => {
          const alpha = alphaOf(2 ** -e);
          const eps = alpha - 1;
          const { probs, support } = entmax(Float64Array.from(z), 1, z.length, alpha, T);
          const want = entmaxExact(z, alpha, T);
          expect(maxErr(probs, want)).toBeLessThanOrEqual(bound(eps));
          expect(support[0]).toBe(want.filter((w) => w > 0).length);
        },
      ),
      ORACLE_RUNS,
    );
  });

  it('fixes the cases of the issue (6e-2 off at 1 + 2^-52, 7.6e-6 at 1 + 1e-12)', () => {
    const rows = [[0, 0.1], [3, 2, 1, -1, 0.5], Array.from({ length: 120 }, (_, i) => 5 * Math.sin(i))];
    for (const z of rows) {
      for (const eps of [2 ** -52, 1e-15, 1e-12, 1e-9, 1e-6, 1e-3, 1e-2]) {
        const alpha = alphaOf(eps);
        const got = entmax(Float64Array.from(z), 1, z.length, alpha).probs;
        expect(maxErr(got, entmaxExact(z, alpha)), `${z.length} classes, eps ${eps}`).toBeLessThanOrEqual(bound(alpha - 1));
      }
    }
  });

  it('tends to softmax continuously as alpha -> 1', () => {
    const z = Array.from({ length: 50 }, (_, i) => 4 * Math.cos(1.7 * i) - 0.01 * i);
    const sm = softmax(Float64Array.from(z), 1, z.length);
    const smExact = softmaxExact(z);
    let prev = Infinity;
    for (let e = 4; e <= 52; e += 4) {
      const alpha = alphaOf(2 ** -e);
      const got = entmax(Float64Array.from(z), 1, z.length, alpha).probs;
      // The distance to softmax is the true one (from the oracle) to within both errors...
      const trueGap = maxErr(entmaxExact(z, alpha), smExact);
      expect(Math.abs(maxErr(got, sm) - trueGap)).toBeLessThanOrEqual(bound(alpha - 1) + 1e-15);
      // ...so it shrinks with alpha - 1, down to round-off.
      expect(trueGap).toBeLessThan(prev);
      prev = trueGap;
    }
    expect(maxErr(entmax(Float64Array.from(z), 1, z.length, alphaOf(2 ** -52)).probs, sm)).toBeLessThanOrEqual(1e-15);
  });

  it('is continuous across the switch to the general solver at alpha - 1 = NEAR_ONE', () => {
    const below = alphaOf(NEAR_ONE) - 2 ** -52; // the last double handled by the near-1 regime
    const at = alphaOf(NEAR_ONE);
    fc.assert(
      fc.property(fc.array(fc.double({ min: -30, max: 30, noNaN: true }), { minLength: 2, maxLength: 8 }), (z) => {
        const x = Float64Array.from(z);
        const a = entmax(x, 1, z.length, below).probs;
        const b = entmax(x, 1, z.length, at).probs;
        expect(maxErr(a, entmaxExact(z, below))).toBeLessThanOrEqual(bound(below - 1));
        expect(maxErr(b, entmaxExact(z, at))).toBeLessThanOrEqual(bound(at - 1));
        // The exact answers differ by O(2^-52) here, so the two regimes agree to round-off.
        expect(maxErr(a, b)).toBeLessThanOrEqual(1e-14);
      }),
      { numRuns: 30 },
    );
  });
});

describe('entmax closed forms and the solver bound', () => {
  it('solves tied maxima, all-equal rows and single live classes in closed form (no solver pass)', () => {
    for (const alpha of [1 + 2 ** -40, 1.01, 1.3, 1.5, 1.7, 2.5, 3, 50, 1e6]) {
      for (const [cols, kt] of [
        [16000, 16000],
        [16000, 7],
        [5, 1],
        [3, 2],
      ]) {
        // kt tied maxima at 2, the rest far below (masked for the single live class).
        const z = new Float64Array(cols).fill(kt === 1 ? -Infinity : -1e6);
        for (let j = 0; j < kt; j++) z[(j * 7919) % cols] = 2;
        const { probs, support } = entmax(z, 1, cols, alpha);
        expect(entmaxStats.passes, `alpha ${alpha}, ${kt} of ${cols}`).toBe(0);
        expect(support[0]).toBe(kt);
        let wrong = 0;
        for (let j = 0; j < cols; j++) wrong += +(probs[j] !== (z[j] === 2 ? 1 / kt : 0));
        expect(wrong).toBe(0);
      }
    }
  });

  it('gives tied maxima the whole mass when the next class is at or below the threshold', () => {
    // alpha = 3: tau_t = -1/4 for two ties; x = 2 (z - 2) puts z = 1.875 at -1/4 (on it: out)
    // and z = 1.9 at -0.2 (in).
    const on = entmax(Float64Array.from([2, 1.875, 2]), 1, 3, 3);
    expect(Array.from(on.probs)).toEqual([0.5, 0, 0.5]);
    const inside = entmax(Float64Array.from([2, 1.9, 2]), 1, 3, 3);
    expect(inside.support[0]).toBe(3);
    expect(maxErr(inside.probs, entmaxBisect([2, 1.9, 2], 3))).toBeLessThanOrEqual(1e-12);
  });

  it('falls back to bisection on rows where Newton stalls, and stays within MAX_SOLVER_PASSES', () => {
    // A row found to need more than NEWTON_PASSES (the root sits within an ulp of a kink).
    const z = [-0.1123046875, -0.1943359375, -0.1611328125];
    const { probs } = entmax(Float64Array.from(z), 1, 3, 10);
    expect(entmaxStats.passes).toBeGreaterThan(NEWTON_PASSES);
    expect(entmaxStats.passes).toBeLessThanOrEqual(MAX_SOLVER_PASSES);
    expect(Math.abs(probs.reduce((a, b) => a + b, 0) - 1)).toBeLessThanOrEqual(1e-15);
  });

  it('never takes more than MAX_SOLVER_PASSES on any row, any alpha', () => {
    const near = fc.array(fc.integer({ min: -3, max: 0 }), { minLength: 2, maxLength: 40 });
    fc.assert(
      fc.property(
        fc.oneof(
          // near-ties: offsets of a few units of 2^-k below a common maximum
          fc.tuple(near, fc.integer({ min: 1, max: 60 })).map(([d, k]) => d.map((v) => 1 + v * 2 ** -k)),
          fc.array(fc.double({ min: -50, max: 50, noNaN: true }), { minLength: 1, maxLength: 60 }),
        ),
        fc.double({ min: 0, max: 20, noNaN: true }).map((e) => 1 + 10 ** (e - 16)),
        (z, alpha) => {
          const { probs } = entmax(Float64Array.from(z), 1, z.length, alpha);
          expect(entmaxStats.passes).toBeLessThanOrEqual(MAX_SOLVER_PASSES);
          let s = 0;
          for (const p of probs) {
            expect(p).toBeGreaterThanOrEqual(0);
            s += p;
          }
          expect(Math.abs(s - 1)).toBeLessThanOrEqual(1e-12);
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('entmax at a general alpha, long rows', () => {
  it('gives each row the same doubles alone with scalar powers as in a matrix (scans and powers differ, the answers must not)', () => {
    // A row alone takes rowCandidates (and here the scalar powers); in a matrix, rows after one
    // with many candidates take the branch-free scan, and passes of 16 candidates or more the
    // SIMD kernel's powers.
    const logit = fc.oneof(
      { weight: 8, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) },
      { weight: 1, arbitrary: fc.constantFrom(-Infinity, NaN, 0) },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 33, max: 90 }).chain((cols) => fc.tuple(fc.constant(cols), fc.array(fc.array(logit, { minLength: cols, maxLength: cols }), { minLength: 2, maxLength: 5 }))),
        fc.constantFrom(1.05, 1.3, 1.7, 2.5, 3, 6),
        fc.constantFrom(1, 0.3, 3),
        ([cols, rows], alpha, T) => {
          const data = Float64Array.from(rows.flat());
          const all = entmax(data, rows.length, cols, alpha, T);
          rows.forEach((row, r) => {
            // The row alone also with the scalar powers (./pow.ts in JavaScript).
            const before = entmaxTuning.simdPowersMin;
            entmaxTuning.simdPowersMin = Infinity;
            let one;
            try {
              one = entmax(Float64Array.from(row), 1, cols, alpha, T);
            } finally {
              entmaxTuning.simdPowersMin = before;
            }
            const got = all.probs.subarray(r * cols, (r + 1) * cols);
            for (let j = 0; j < cols; j++) expect(Object.is(got[j], one.probs[j]), `row ${r} class ${j}`).toBe(true);
            expect(all.support[r]).toBe(one.support[0]);
          });
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe('keyMidpoint', () => {
  it('halves the doubles strictly inside a bracket, across zero and subnormals', () => {
    const keys = new BigInt64Array(1);
    const f = new Float64Array(keys.buffer);
    const key = (x: number) => {
      f[0] = x;
      return keys[0] < 0n ? -(keys[0] & 0x7fffffffffffffffn) : keys[0];
    };
    const sameSign = fc
      .tuple(fc.double({ noNaN: true, noDefaultInfinity: true }), fc.double({ noNaN: true, noDefaultInfinity: true }))
      .filter(([a, b]) => a !== b && (a <= 0) === (b <= 0))
      .map(([a, b]) => [Math.min(a, b), Math.max(a, b)]);
    const brackets = fc.sample(sameSign, { numRuns: 500, seed: 7 });
    for (const [lo, hi] of [
      ...brackets,
      [-1, -0],
      [-1, -0.25],
      [-5e-324, 0],
      [-1e-300, -1e-310],
      [0, 16],
      [1, 1 + 2 ** -52],
      [-1, 1],
    ]) {
      const mid = keyMidpoint(lo, hi);
      const inside = key(hi) - key(lo) - 1n;
      if (inside <= 0n) {
        expect(mid === lo || mid === hi).toBe(true);
        continue;
      }
      expect(mid > lo && mid < hi).toBe(true);
      const left = key(mid) - key(lo) - 1n;
      const right = key(hi) - key(mid) - 1n;
      expect(left <= inside / 2n && right <= inside / 2n).toBe(true);
    }
  });
});
