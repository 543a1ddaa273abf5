import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  GUMBEL_BUCKET_MAX,
  GUMBEL_BUCKET_MIN,
  GUMBEL_BUCKET_SHIFT,
  GUMBEL_MAX,
  GUMBEL_MIN,
  gumbelAt,
  gumbelFromWord,
  gumbelNoise,
  gumbelWordFloor,
  seedKey0,
  seedKey1,
  streamWord,
  streamWords,
  uniformFromWord,
} from '../../src/core/gumbel.js';
import { gumbelBig, streamWordBig } from '../helpers/philox-bigint.js';
import { chiSquareTest, gumbelCdf, gumbelQuantile } from '../helpers/stats.js';

const MAX_SEED = 2 ** 53 - 1;

describe('seed -> key', () => {
  it('is (s mod 2^32, floor(s / 2^32))', () => {
    const cases: [number, number, number][] = [
      [0, 0, 0],
      [1, 1, 0],
      [2 ** 32 - 1, 0xffffffff, 0],
      [2 ** 32, 0, 1],
      [2 ** 32 + 5, 5, 1],
      [1099511627899, 123, 256], // 2^40 + 123
      [MAX_SEED, 0xffffffff, 0x1fffff],
    ];
    for (const [s, k0, k1] of cases) {
      expect(seedKey0(s)).toBe(k0);
      expect(seedKey1(s)).toBe(k1);
    }
  });
});

describe('the sampling stream', () => {
  it('matches the contract computed with the BigInt Philox', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.integer({ min: 0, max: 2 ** 32 }), fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32, MAX_SEED)),
        fc.integer({ min: 0, max: 2 ** 31 }),
        fc.integer({ min: 0, max: 5000 }),
        fc.integer({ min: 0, max: 300_000 }),
        (seed, row, draw, j) => {
          expect(streamWord(seed, row, draw, j)).toBe(streamWordBig(seed, row, draw, j));
          expect(gumbelAt(seed, row, draw, j)).toBe(gumbelBig(seed, row, draw, j));
        },
      ),
      { seed: 1234, numRuns: 300 },
    );
  });

  // Pinned values, computed independently (Python integers, libm log) from the contract. Words are
  // exact; noise values to 1e-15 absolute (Math.log and libm log may differ in the last bit).
  it.each([
    [0, 0, 0, 0, 1713891541, 0.08482025111138775],
    [0, 0, 0, 1, 3781805453, 2.061661254644034],
    [0, 0, 0, 5, 1555169499, -0.01573495216563069],
    [0, 3, 2, 7, 4124758766, 3.2080248169802865],
    [MAX_SEED, 0, 0, 0, 1386848353, -0.1225805224391014],
    [MAX_SEED, 5, 1, 2, 3226567596, 1.251675946164207],
    [1099511627899, 7, 0, 9, 3503251631, 1.5908499137097247],
    [4294967296, 0, 0, 0, 4259200523, 4.784001579360125],
    [4294967295, 1, 0, 3, 4274516195, 5.344776966153244],
  ])('seed %d row %d draw %d class %d -> word %d, g %d', (seed, row, draw, j, word, g) => {
    expect(streamWord(seed, row, draw, j)).toBe(word);
    expect(Math.abs(gumbelAt(seed, row, draw, j) - g)).toBeLessThanOrEqual(1e-15);
  });

  it('u is in (0, 1) and g is finite at both ends of the word range', () => {
    expect(uniformFromWord(0)).toBe(2 ** -33);
    expect(uniformFromWord(0xffffffff)).toBe(1 - 2 ** -33);
    expect(GUMBEL_MIN).toBeCloseTo(-3.13, 4);
    expect(GUMBEL_MAX).toBeCloseTo(22.8739, 4);
    expect(Number.isFinite(GUMBEL_MIN) && Number.isFinite(GUMBEL_MAX)).toBe(true);
  });

  it('gumbelNoise and streamWords equal the per-class values, any width and offset', () => {
    for (const cols of [1, 2, 3, 4, 5, 7, 8, 9, 63, 64, 65, 257]) {
      const seed = 2 ** 40 + cols;
      const g = gumbelNoise(seed, 11, 3, cols, new Float64Array(cols + 5), 2);
      const w = streamWords(seed, 11, 3, cols); // exactly cols long: exercises the tail block
      for (let j = 0; j < cols; j++) {
        expect(g[2 + j]).toBe(gumbelAt(seed, 11, 3, j));
        expect(w[j]).toBe(streamWord(seed, 11, 3, j));
      }
      expect(g[0]).toBe(0);
      expect(g[2 + cols]).toBe(0);
    }
  });

  it('10^7 draws are all finite, with the Gumbel mean (batching invariance: sample and gumbel-softmax tests)', () => {
    const cols = 1000;
    const rows = 10_000;
    const buf = new Float64Array(cols);
    let bad = 0;
    let sum = 0;
    for (let r = 0; r < rows; r++) {
      gumbelNoise(42, r, 0, cols, buf);
      for (let j = 0; j < cols; j++) {
        const g = buf[j];
        if (!Number.isFinite(g)) bad++;
        sum += g;
      }
    }
    expect(bad).toBe(0);
    // The mean of a standard Gumbel is the Euler-Mascheroni constant; sd pi / sqrt(6) / sqrt(1e7).
    expect(Math.abs(sum / (rows * cols) - 0.5772156649)).toBeLessThan(5 * (Math.PI / Math.sqrt(6)) / Math.sqrt(1e7));
  });

  it('the noise follows the Gumbel CDF (binned chi-square), and the test can tell a shifted Gumbel', () => {
    const bins = 100;
    const edges = Array.from({ length: bins - 1 }, (_, i) => gumbelQuantile((i + 1) / bins));
    const counts = new Float64Array(bins);
    const shifted = new Float64Array(bins);
    const buf = new Float64Array(1000);
    for (let r = 0; r < 1000; r++) {
      gumbelNoise(7, r, 5, 1000, buf);
      for (const g of buf) {
        counts[bin(edges, g)]++;
        shifted[bin(edges, g + 0.02)]++;
      }
    }
    const p = new Array(bins).fill(1 / bins);
    const fit = chiSquareTest(counts, p);
    expect(fit.pValue).toBeGreaterThan(1e-4);
    // The same counts checked against a distribution shifted by 0.02 must be rejected.
    expect(chiSquareTest(shifted, p).pValue).toBeLessThan(1e-4);
    // and the empirical CDF at a few points is close to exp(-exp(-g)).
    for (const [i, g] of [[9, edges[9]], [49, edges[49]], [89, edges[89]]] as const) {
      let below = 0;
      for (let b = 0; b <= i; b++) below += counts[b];
      expect(Math.abs(below / 1e6 - gumbelCdf(g))).toBeLessThan(3e-3);
    }
  });

  it('draws, rows and seeds are distinct streams', () => {
    const a = gumbelNoise(1, 0, 0, 64);
    const b = gumbelNoise(1, 0, 1, 64);
    const c = gumbelNoise(1, 1, 0, 64);
    const d = gumbelNoise(2, 0, 0, 64);
    const e = gumbelNoise(1 + 2 ** 32, 0, 0, 64);
    for (const other of [b, c, d, e]) expect(Array.from(other)).not.toEqual(Array.from(a));
  });
});

describe('noise bounds used by the samplers', () => {
  it('bucket bounds bracket every word, including the bucket edges', () => {
    const width = 2 ** GUMBEL_BUCKET_SHIFT;
    const words: number[] = [];
    for (let b = 0; b < GUMBEL_BUCKET_MAX.length; b++) words.push(b * width, b * width + 1, (b + 1) * width - 1);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (w) => {
        words.push(w);
        return true;
      }),
      { seed: 5, numRuns: 20_000 },
    );
    for (const w of words) {
      const g = gumbelFromWord(w);
      const b = w >>> GUMBEL_BUCKET_SHIFT;
      expect(GUMBEL_BUCKET_MIN[b] <= g && g <= GUMBEL_BUCKET_MAX[b]).toBe(true);
    }
    expect(GUMBEL_BUCKET_MAX[GUMBEL_BUCKET_MAX.length - 1]).toBeGreaterThan(GUMBEL_MAX);
  });

  it('gumbelWordFloor(t): no word below it reaches t', () => {
    fc.assert(
      fc.property(fc.double({ min: -6, max: 26, noNaN: true }), fc.integer({ min: 0, max: 0xffffffff }), (t, w) => {
        const floor = gumbelWordFloor(t);
        if (w < floor) expect(gumbelFromWord(w)).toBeLessThan(t);
        if (floor > 0) expect(gumbelFromWord(floor - 1)).toBeLessThan(t);
      }),
      { seed: 6, numRuns: 20_000 },
    );
    expect(gumbelWordFloor(-10)).toBe(0);
    expect(gumbelWordFloor(NaN)).toBe(0);
    expect(gumbelWordFloor(30)).toBe(2 ** 32);
  });
});

function bin(edges: readonly number[], g: number): number {
  let lo = 0;
  let hi = edges.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (g < edges[mid]) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}
