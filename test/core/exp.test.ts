import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { expNonPositive } from '../../src/core/exp.js';

/** Distance in units in the last place between two positive doubles. */
function ulps(a: number, b: number): number {
  const buf = new Float64Array([a, b]);
  const big = new BigInt64Array(buf.buffer);
  const d = big[0] - big[1];
  return Number(d < 0n ? -d : d);
}

describe('expNonPositive', () => {
  it('is within 2 ulps of Math.exp (each within an ulp of exp) over the whole non-positive range', () => {
    fc.assert(
      fc.property(fc.double({ min: -745, max: 0, noNaN: true }), (x) => {
        const got = expNonPositive(x);
        const want = Math.exp(x);
        // Subnormal results carry fewer bits; compare those absolutely.
        if (want < 2.2250738585072014e-308) return Math.abs(got - want) <= 2 * 5e-324;
        return ulps(got, want) <= 2;
      }),
      { numRuns: 200_000 },
    );
  });

  it('is exact at the ends and for special values', () => {
    expect(expNonPositive(0)).toBe(1);
    expect(expNonPositive(-0)).toBe(1);
    expect(expNonPositive(-Infinity)).toBe(0);
    expect(expNonPositive(-746)).toBe(0);
    expect(expNonPositive(-1e300)).toBe(0);
    expect(Number.isNaN(expNonPositive(NaN))).toBe(true);
    expect(expNonPositive(-Math.LN2)).toBe(0.5);
    expect(expNonPositive(-1e-300)).toBe(1);
  });
});
