import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entmaxShortSimd, entmaxSimdAvailable, POWERS_CHUNK, powerBuffers, simdLog1p, simdPow, simdPowers } from '../../src/core/entmax-simd.js';
import { entmax, entmaxStats, NEAR_ONE, NEWTON_PASSES } from '../../src/core/entmax.js';
import { powUnit } from '../../src/core/pow.js';
import { entmaxExact } from '../helpers/entmax-oracle.js';
import { expectSameBits, shortRows, temperatures, viaGeneralPath } from '../helpers/short-rows.js';

/**
 * The short-row kernel for a general alpha (WebAssembly SIMD, four rows at a time) must give the
 * JavaScript path's doubles, supports and pass counts, reached by padding each row past
 * SHORT_ROW (test/helpers/short-rows.ts); its powers and log1p must be ./pow.ts's and
 * Math.log1p's doubles.
 */

function check(data: Float64Array, rows: number, cols: number, alpha: number, T: number) {
  const want = viaGeneralPath((d, r, c) => entmax(d, r, c, alpha, T), data, rows, cols);
  const wantPasses = entmaxStats.passes;
  const got = entmax(data, rows, cols, alpha, T);
  expectSameBits(got.probs, want.probs);
  expect(Array.from(got.support)).toEqual(Array.from(want.support));
  expect(entmaxStats.passes).toBe(wantPasses);
}

/** Doubles from their bits, to reach every exponent and mantissa pattern. */
const anyPositive = fc
  .tuple(fc.integer({ min: 0, max: 0x7fefffff }), fc.integer({ min: 0, max: 0xffffffff }))
  .map(([hi, lo]) => new Float64Array(new Uint32Array([lo, hi]).buffer)[0])
  .filter((x) => x > 0);

/** y in (0, 1]: every exponent (subnormals too) and mantissa, and values just below 1. */
const unit = fc.oneof(
  anyPositive.filter((y) => y <= 1),
  fc.double({ min: 0, max: 1, noNaN: true }).filter((y) => y > 0),
  fc.double({ min: 0, max: 2 ** -20, noNaN: true }).map((d) => 1 - d),
);

describe('the kernel power and log1p', () => {
  it('uses WebAssembly SIMD on Node 20', () => {
    expect(entmaxSimdAvailable).toBe(true);
  });

  it("vector power: ./pow.ts's double for every y in (0, 1] and q > 0", () => {
    const special = [
      1, 0.5, Math.SQRT1_2, 1 - 2 ** -53, 2 ** -1022, 2 ** -1022 - 2 ** -1074, 5e-324, 1e-310, 0.70703125,
      0.70703125 - 2 ** -53, 1 - 2 ** -9, 1 - 2 ** -10, 1e-300, 1e-200,
    ];
    const qs = [1 / 64, 0.1, 0.5, 1, 1 / 0.3, 1 / 0.7, 2, 64, 1 / (NEAR_ONE + 2 ** -40)];
    for (const y of special) for (const q of qs) expect(Object.is(simdPow(y, q), powUnit(y, q)), `${y}^${q}`).toBe(true);
    fc.assert(
      fc.property(unit, fc.oneof(fc.constantFrom(...qs), fc.double({ min: 1 / 1024, max: 70, noNaN: true })), (y, q) => {
        expect(Object.is(simdPow(y, q), powUnit(y, q))).toBe(true);
      }),
      { numRuns: 30_000 },
    );
  });

  it("long rows' powers (simdPowers): powUnit's doubles and 1 / y, any count up to POWERS_CHUNK, and the pad's", () => {
    const { y, p, r } = powerBuffers!;
    fc.assert(
      fc.property(fc.array(unit, { minLength: 1, maxLength: 40 }), fc.double({ min: 1 / 70, max: 70, noNaN: true }), fc.integer({ min: 0, max: POWERS_CHUNK }), (ys, q, len) => {
        const n = Math.max(1, Math.min(len, POWERS_CHUNK));
        for (let j = 0; j < n; j++) y[j] = ys[j % ys.length];
        simdPowers(n, q);
        for (let j = 0; j < n; j++) {
          if (!Object.is(p[j], powUnit(y[j], q)) || !Object.is(r[j], 1 / y[j])) expect([j, y[j], p[j], r[j]]).toEqual([j, y[j], powUnit(y[j], q), 1 / y[j]]);
        }
        expect([p[n], r[n]]).toEqual([powUnit(0.75, q), 1 / 0.75]);
      }),
      { numRuns: 60 },
    );
  });

  it("log1p: Math.log1p's double on [-1, Infinity] and the special values", () => {
    for (const x of [-1, -0, 0, Infinity, NaN, -2, -0.29, -0.3, 2 ** -29, 2 ** -54, -(2 ** -54), 1e300, 0.41421356, -0.2929]) {
      expect(Object.is(simdLog1p(x), Math.log1p(x)), `log1p(${x})`).toBe(true);
    }
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double({ min: -1, max: 40, noNaN: true }),
          fc.double({ min: -1e-6, max: 1e-6, noNaN: true }),
          anyPositive,
          anyPositive.map((x) => -x),
        ),
        (x) => {
          expect(Object.is(simdLog1p(x), Math.log1p(x))).toBe(true);
        },
      ),
      { numRuns: 30_000 },
    );
  });
});

describe('entmax at a general alpha, short rows (cols <= SHORT_ROW)', () => {
  const alphas = fc.oneof(
    fc.constantFrom(1 + NEAR_ONE, 1 + NEAR_ONE - 2 ** -52, 1.3, 1.5, 2, 3, 1.1, 1.9, 2.5, 10),
    fc.double({ min: 1 + NEAR_ONE, max: 4, noNaN: true }),
  );

  it("gives the JavaScript path's doubles, supports and pass counts", () => {
    fc.assert(
      // Rows repeated (reversed) to at least 4, the fewest the kernel takes (SIMD_MIN_ROWS).
      fc.property(shortRows, temperatures, alphas, ([cols, [rows, vals]], T, alpha) => {
        const copies = Math.ceil(4 / rows);
        const data = Array.from({ length: copies }, (_, c) => (c % 2 ? [...vals].reverse() : vals)).flat();
        check(Float64Array.from(data), copies * rows, cols, alpha, T);
      }),
      { numRuns: 500 },
    );
  });

  it('on ties, masked classes, all-equal rows, single live classes and every width 1..32', () => {
    for (const alpha of [1 + NEAR_ONE, 1.3, 1.5, 2, 3]) {
      for (let cols = 1; cols <= 32; cols++) {
        const rows: number[][] = [
          Array.from({ length: cols }, () => 0.5), // all equal
          Array.from({ length: cols }, (_, i) => (i === cols >> 1 ? 2 : -Infinity)), // single live class
          Array.from({ length: cols }, () => -Infinity), // all masked
          Array.from({ length: cols }, (_, i) => (i % 3 === 0 ? 1 : -i / 4)), // tied maxima
          Array.from({ length: cols }, (_, i) => (i % 2 ? -Infinity : Math.sin(i))), // masks between
          Array.from({ length: cols }, (_, i) => Math.cos(7 * i) * 3),
        ];
        check(Float64Array.from(rows.flat()), rows.length, cols, alpha, 1);
      }
    }
  });

  it('hands rows that would bisect back to the JavaScript path (with their input, even in place)', () => {
    // A row found to need more than NEWTON_PASSES at alpha = 10 (the root within an ulp of a kink).
    const z = [-0.1123046875, -0.1943359375, -0.1611328125];
    const other = [0.3, -0.2, 0.1];
    const data = Float64Array.from([...other, ...z, ...other, ...z, ...other]);
    check(data, 5, 3, 10, 1);
    expect(entmaxStats.passes).toBeGreaterThan(NEWTON_PASSES);
    const want = entmax(data, 5, 3, 10).probs;
    const inPlace = data.slice();
    entmax(inPlace, 5, 3, 10, 1, inPlace);
    expectSameBits(inPlace, want);
    const out = new Float64Array(15);
    const support = new Int32Array(5);
    expect(entmaxShortSimd(data, 5, 3, 1, 1, 9, 1 / 9, out, support)).toBeGreaterThanOrEqual(0);
    expect(Array.from(support.filter((s) => s === -1))).toEqual([-1, -1]);
    expect(Array.from(out.subarray(3, 6))).toEqual(z); // the input, for the caller
  });

  it('tiles many rows, with an odd last tile, and may write over its input', () => {
    const cols = 10;
    const rows = 2 * Math.floor(32768 / cols / 4) * 4 + 3; // two full tiles and 3 rows
    let s = 7;
    const data = new Float64Array(rows * cols).map(() => {
      s = (s * 1103515245 + 12345) >>> 0;
      return (s / 2 ** 32) * 6 - 3;
    });
    check(data, rows, cols, 1.3, 1);
    const want = entmax(data, rows, cols, 1.3).probs;
    const inPlace = data.slice();
    entmax(inPlace, rows, cols, 1.3, 1, inPlace);
    expectSameBits(inPlace, want);
  });

  it('is within 1e-15 of the 50-digit oracle at alpha = 1.3 and 1.7', () => {
    const rows = 8;
    const cols = 10;
    const data = Float64Array.from({ length: rows * cols }, (_, i) => 2 * Math.sin(1.3 * i) + Math.cos(0.7 * i * i));
    for (const alpha of [1.3, 1.7]) {
      const { probs } = entmax(data, rows, cols, alpha);
      for (let r = 0; r < rows; r++) {
        const want = entmaxExact(Array.from(data.subarray(r * cols, (r + 1) * cols)), alpha);
        for (let j = 0; j < cols; j++) expect(Math.abs(probs[r * cols + j] - want[j])).toBeLessThanOrEqual(1e-15);
      }
    }
  });

  it('leaves rows alone when SIMD does not apply', () => {
    const out = new Float64Array(40).fill(7);
    expect(entmaxShortSimd(new Float64Array(40), 1, 40, 1, 1, 0.3, 1 / 0.3, out, new Int32Array(1))).toBe(-1);
    expect(out[0]).toBe(7);
  });
});
