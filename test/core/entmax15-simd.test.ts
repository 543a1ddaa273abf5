import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entmax15ShortSimd, entmax15SimdAvailable, sortingNetwork } from '../../src/core/entmax15-simd.js';
import { entmax } from '../../src/core/entmax.js';
import { SHORT_ROW } from '../../src/core/sparsemax.js';
import { Decimal } from 'decimal.js';
import { entmaxExact, exactDecimal } from '../helpers/entmax-oracle.js';
import { expectSameBits, shortRows, temperatures, viaGeneralPath } from '../helpers/short-rows.js';

/**
 * The short-row kernel for alpha = 1.5 (WebAssembly SIMD, four rows at a time) must give the
 * same doubles as the JavaScript path, reached by padding each row past SHORT_ROW
 * (test/helpers/short-rows.ts).
 */

function check(data: Float64Array, rows: number, cols: number, T: number) {
  const want = viaGeneralPath((d, r, c) => entmax(d, r, c, 1.5, T), data, rows, cols);
  const got = entmax(data, rows, cols, 1.5, T);
  expectSameBits(got.probs, want.probs);
  expect(Array.from(got.support)).toEqual(Array.from(want.support));
}

describe('entmax alpha = 1.5, short rows (cols <= SHORT_ROW)', () => {
  it('uses WebAssembly SIMD on Node 20', () => {
    expect(entmax15SimdAvailable).toBe(true);
  });

  it("gives the JavaScript path's doubles and supports", () => {
    fc.assert(
      fc.property(
        shortRows,
        temperatures,
        ([cols, [rows, vals]], T) => check(Float64Array.from(vals), rows, cols, T),
      ),
      { numRuns: 400 },
    );
  });

  it('is exact on the threshold, on tied maxima and on masked rows', () => {
    const data = Float64Array.from([2, 0, 1, 1, -Infinity, -Infinity, 3, -Infinity, 0, 0.5]);
    const { probs, support } = entmax(data, 5, 2, 1.5);
    expect(Array.from(probs.subarray(0, 8))).toEqual([1, 0, 0.5, 0.5, 0, 0, 1, 0]);
    expect(Array.from(support)).toEqual([1, 2, 0, 1, 2]);
    check(data, 5, 2, 1);
  });

  it('tiles many rows, with an odd last tile, and may write over its input', () => {
    const cols = 10;
    const rows = 2 * Math.floor(32768 / cols / 2) * 2 + 3; // two full tiles and 3 rows
    let s = 99;
    const data = new Float64Array(rows * cols).map(() => {
      s = (s * 1103515245 + 12345) >>> 0;
      return (s / 2 ** 32) * 6 - 3;
    });
    check(data, rows, cols, 1);
    const want = entmax(data, rows, cols, 1.5).probs;
    const inPlace = data.slice();
    entmax(inPlace, rows, cols, 1.5, 1, inPlace);
    expectSameBits(inPlace, want);
  });

  it('sorts with its network, for every row length (0-1 principle: all 0/1 inputs up to 16 places)', () => {
    const apply = (v: number[], net: [number, number][]) => {
      for (const [a, b] of net) if (v[a] < v[b]) [v[a], v[b]] = [v[b], v[a]];
      return v;
    };
    for (let n = 1; n <= SHORT_ROW; n++) {
      const net = sortingNetwork(n);
      for (const [a, b] of net) expect(a < b && b < n).toBe(true);
      if (n <= 16) {
        for (let m = 0; m < 1 << n; m++) {
          const v = apply(Array.from({ length: n }, (_, i) => (m >> i) & 1), net);
          for (let i = 1; i < n; i++) if (v[i - 1] < v[i]) expect([n, m]).toBe('sorted');
        }
      } else {
        let s = n;
        for (let t = 0; t < 2000; t++) {
          const v = apply(Array.from({ length: n }, () => ((s = (s * 1103515245 + 12345) >>> 0) % 7)), net);
          for (let i = 1; i < n; i++) if (v[i - 1] < v[i]) expect([n, t]).toBe('sorted');
        }
      }
    }
  });

  it('puts a class exactly on the threshold at 0 (to within (1 ulp)^2) and agrees with the 50-digit oracle', () => {
    // x = (z - max z) / 2 = [0, -1/4, -1/2, -1/2, -1/2, -3/4]: the four classes above -3/4 have
    // sum (x - (-3/4))^2 = 9/16 + 4/16 + 3/16 = 1, so tau = -3/4 exactly, on the last class.
    const z = [0, -0.5, -1, -1, -1, -1.5];
    const rows = 8;
    const data = new Float64Array(rows * z.length);
    for (let r = 0; r < rows; r++) data.set(z.map((v) => v + r), r * z.length);
    check(data, rows, z.length, 1);
    const { probs } = entmax(data, rows, z.length, 1.5);
    const want = entmaxExact(z, 1.5);
    expect(want[5]).toBe(0);
    for (let r = 0; r < rows; r++) {
      const p = Array.from(probs.subarray(r * z.length, (r + 1) * z.length));
      expect(p[5]).toBeLessThanOrEqual(1e-30);
      for (let i = 0; i < z.length; i++) expect(Math.abs(p[i] - want[i])).toBeLessThanOrEqual(1e-16);
    }
  });

  it('is within 2e-16 of an exact sort-based oracle (50 digits) on standard-normal rows', () => {
    let s = 7;
    const uniform = () => ((s = (s * 1103515245 + 12345) >>> 0) + 0.5) / 2 ** 32;
    const normal = () => Math.sqrt(-2 * Math.log(uniform())) * Math.cos(2 * Math.PI * uniform());
    for (const [rows, cols, T] of [[16, 10, 1], [8, 5, 0.7], [8, 32, 2], [4, 3, 1], [8, 17, 0.5]] as const) {
      const data = Float64Array.from({ length: rows * cols }, normal);
      const { probs, support } = entmax(data, rows, cols, 1.5, T);
      let worst = 0;
      for (let r = 0; r < rows; r++) {
        const want = entmax15Decimal(Array.from(data.subarray(r * cols, (r + 1) * cols)), T);
        for (let i = 0; i < cols; i++) worst = Math.max(worst, Math.abs(probs[r * cols + i] - want[i]));
        expect(support[r]).toBe(want.filter((w) => w > 0).length);
      }
      expect(worst, `${rows}x${cols}, T ${T}`).toBeLessThanOrEqual(2e-16);
    }
  });

  it('leaves rows alone when SIMD does not apply', () => {
    const out = new Float64Array(40).fill(7);
    expect(entmax15ShortSimd(new Float64Array(40), 1, 40, 1, 1, out, new Int32Array(1))).toBe(false);
    expect(out[0]).toBe(7);
  });
});

/**
 * 1.5-entmax of one row in 50-digit arithmetic by the sort-based algorithm of Peters et al.
 * (x = (z - max z) / (2 T) exactly; the support is the largest j with
 * tau_j = mean_j - sqrt((1 - ss_j) / j) <= x_(j); p = [x - tau]_+^2). Independent of src/core's
 * float64 arithmetic; for rows of finite values.
 */
function entmax15Decimal(z: number[], T: number): number[] {
  const D = Decimal.clone({ precision: 50 });
  const zd = z.map((v) => new D(exactDecimal(v)));
  const m = D.max(...zd);
  const x = zd.map((v) => v.minus(m).div(new D(exactDecimal(T)).times(2)));
  const sorted = [...x].sort((a, b) => b.comparedTo(a));
  let tau = new D(0);
  for (let j = 1; j <= sorted.length; j++) {
    const top = sorted.slice(0, j);
    const mean = D.sum(...top).div(j);
    const ss = D.sum(...top.map((v) => v.minus(mean).pow(2)));
    const delta = new D(1).minus(ss).div(j);
    if (delta.isNeg()) continue;
    const t = mean.minus(delta.sqrt());
    if (t.lte(sorted[j - 1])) tau = t;
  }
  return x.map((v) => (v.gt(tau) ? v.minus(tau).pow(2).toNumber() : 0));
}
