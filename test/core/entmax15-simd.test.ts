import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entmax15ShortSimd, entmax15SimdAvailable } from '../../src/core/entmax15-simd.js';
import { entmax } from '../../src/core/entmax.js';
import { SHORT_ROW } from '../../src/core/sparsemax.js';
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

  it('leaves rows alone when SIMD does not apply', () => {
    const out = new Float64Array(40).fill(7);
    expect(entmax15ShortSimd(new Float64Array(40), 1, 40, 1, 1, out, new Int32Array(1))).toBe(false);
    expect(out[0]).toBe(7);
  });
});
