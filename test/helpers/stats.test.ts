import { describe, expect, it } from 'vitest';
import { chiSquareSf, chiSquareTest, gammaQ, logGamma } from './stats.js';

// Reference values from scipy 1.17 (stats.chi2.sf, special.gammaincc, special.gammaln).
const SF: [number, number, number][] = [
  [3.841458820694124, 1, 0.04999999999999989],
  [0.5, 1, 0.47950012218695337],
  [2, 2, 0.36787944117144245],
  [10, 3, 0.01856613546304325],
  [18.307038053275146, 10, 0.05000000000000005],
  [100, 100, 0.48119168452795674],
  [124.342, 100, 0.05000071576997178],
  [1e-8, 5, 1.0],
  [300, 50, 2.3141364165140704e-37],
  [1100, 1000, 0.014614408126295192],
  [50, 10, 2.669083424904495e-7],
  [1.5, 0.5, 0.10006348671550179],
  [0.01, 30, 1.0],
  [40, 3, 1.065509033425585e-8],
];

describe('chi-square survival function', () => {
  it.each(SF)('sf(%d; df %d) = %d', (x, df, want) => {
    const got = chiSquareSf(x, df);
    expect(Math.abs(got - want)).toBeLessThanOrEqual(1e-10 * want + 1e-14);
  });

  it('regularised upper incomplete gamma and log-gamma match scipy', () => {
    expect(gammaQ(0.5, 2)).toBeCloseTo(0.04550026389635857, 13);
    expect(gammaQ(7.3, 3.1)).toBeCloseTo(0.9709535040436617, 13);
    expect(logGamma(0.5)).toBeCloseTo(0.5723649429247, 12);
    expect(logGamma(100.5)).toBeCloseTo(361.43554046777757, 10);
    expect(logGamma(1e-3)).toBeCloseTo(6.907178885383853, 12);
    expect(logGamma(1)).toBeCloseTo(0, 13);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 13);
  });

  it('the test accepts exact expectations and rejects wrong ones', () => {
    const p = [0.1, 0.2, 0.3, 0.4];
    expect(chiSquareTest([1000, 2000, 3000, 4000], p).pValue).toBeGreaterThan(0.99);
    expect(chiSquareTest([1200, 2000, 3000, 3800], p).pValue).toBeLessThan(1e-6);
    // A count where p = 0 is an outright failure.
    expect(chiSquareTest([1, 0], [0, 1]).pValue).toBe(0);
  });
});
