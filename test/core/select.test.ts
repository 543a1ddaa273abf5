import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { kthLargest, kthLargestPositive, massPrefix, SelectScratch } from '../../src/core/select.js';
import { rng } from '../helpers/stats.js';

/** Positive values with many ties and a wide range of magnitudes (several histogram bins each). */
const valuesArb = fc.array(
  fc.oneof(
    fc.integer({ min: 1, max: 9 }).map((v) => v / 8),
    fc.double({ min: 1e-300, max: 1, noNaN: true }),
    fc.constantFrom(5e-324, 1, 0.25, 1e-12),
  ),
  { minLength: 1, maxLength: 900 },
);

function scratchOf(vals: readonly number[]): SelectScratch {
  const s = new SelectScratch(new Float64Array(vals.length));
  s.values.set(vals);
  return s;
}

describe('kthLargest', () => {
  it('agrees with sorting, including many duplicates', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 300 }), fc.nat(), (vals, kk) => {
        const a = Float64Array.from(vals, (v) => v / 7);
        const k = 1 + (kk % a.length);
        const want = Float64Array.from(a).sort()[a.length - k];
        expect(kthLargest(a, a.length, k)).toBe(want);
        // and leaves the k largest at the end
        const tail = Array.from(a.subarray(a.length - k)).sort((x, y) => x - y);
        expect(tail).toEqual(Array.from(Float64Array.from(vals, (v) => v / 7).sort().subarray(a.length - k)));
      }),
      { seed: 17, numRuns: 500 },
    );
  });
});

describe('kthLargestPositive (histogram, then quickselect)', () => {
  it('agrees with sorting', () => {
    fc.assert(
      fc.property(valuesArb, fc.nat(), (vals, kk) => {
        const k = 1 + (kk % vals.length);
        const want = Float64Array.from(vals).sort()[vals.length - k];
        expect(kthLargestPositive(scratchOf(vals), vals.length, k)).toBe(want);
      }),
      { seed: 18, numRuns: 400 },
    );
  });
});

describe('massPrefix (histogram, then sort of the candidates)', () => {
  function naive(vals: readonly number[], target: number): { k: number; last: number } {
    const d = Float64Array.from(vals).sort().reverse();
    let cum = 0;
    for (let i = 0; i < d.length; i++) {
      cum += d[i];
      if (cum >= target) return { k: i + 1, last: d[i] };
    }
    return { k: d.length, last: d[d.length - 1] };
  }

  it('agrees with sorting everything and summing in order', () => {
    fc.assert(
      fc.property(valuesArb, fc.double({ min: 0, max: 1.2, noNaN: true }), (vals, frac) => {
        let total = 0;
        for (const v of vals) total += v;
        for (const target of [frac * total, total, total * (1 + 1e-15), frac]) {
          expect(massPrefix(scratchOf(vals), vals.length, target)).toEqual(naive(vals, target));
        }
      }),
      { seed: 19, numRuns: 400 },
    );
  });

  it('on long rows of probabilities, including targets at and beyond the total', () => {
    const r = rng(5);
    const n = 30_000;
    const vals = Array.from({ length: n }, () => Math.exp(6 * r()));
    let sum = 0;
    for (const v of vals) sum += v;
    const p = vals.map((v) => v / sum);
    for (const target of [1e-6, 0.3, 0.9, 0.99999, 1, 1.1, NaN]) {
      expect(massPrefix(scratchOf(p), n, target)).toEqual(naive(p, target));
    }
  });
});
