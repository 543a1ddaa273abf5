import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { sparsemaxShortSimd, sparsemaxSimdAvailable } from '../../src/core/sparsemax-simd.js';
import { SHORT_ROW, sparsemax, sparsemaxShort } from '../../src/core/sparsemax.js';
import { exactReciprocal } from '../../src/core/temperature.js';
import { expectSameBits, shortRows, temperatures, viaGeneralPath } from '../helpers/short-rows.js';

/**
 * The short-row paths (WebAssembly SIMD, four rows at a time, and its JavaScript fallback) must
 * give the same doubles as the general path, reached by padding each row past SHORT_ROW
 * (test/helpers/short-rows.ts).
 */

function check(data: Float64Array, rows: number, cols: number, T: number) {
  const want = viaGeneralPath((d, r, c) => sparsemax(d, r, c, T), data, rows, cols);
  const got = sparsemax(data, rows, cols, T);
  expectSameBits(got.probs, want.probs);
  expect(Array.from(got.support)).toEqual(Array.from(want.support));
  const js = sparsemaxShort(data, rows, cols, T, exactReciprocal(T), new Float64Array(rows * cols), new Int32Array(rows));
  expectSameBits(js.probs, want.probs);
  expect(Array.from(js.support)).toEqual(Array.from(want.support));
}

describe('sparsemax short rows (cols <= SHORT_ROW)', () => {
  it('uses WebAssembly SIMD on Node 20', () => {
    expect(sparsemaxSimdAvailable).toBe(true);
  });

  it('gives the general path\'s doubles and supports (SIMD and JavaScript)', () => {
    fc.assert(
      fc.property(
        shortRows,
        temperatures,
        ([cols, [rows, vals]], T) => check(Float64Array.from(vals), rows, cols, T),
      ),
      { numRuns: 400 },
    );
  });

  it('is exact on the threshold and on masked rows', () => {
    const data = Float64Array.from([1, 0, 2, 0, -Infinity, -Infinity, 0.5, 0.5, 3, -Infinity]);
    const { probs, support } = sparsemax(data, 5, 2);
    expect(Array.from(probs)).toEqual([1, 0, 1, 0, 0, 0, 0.5, 0.5, 1, 0]);
    expect(Array.from(support)).toEqual([1, 1, 0, 2, 1]);
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
    const want = sparsemax(data, rows, cols).probs;
    const inPlace = data.slice();
    sparsemax(inPlace, rows, cols, 1, inPlace);
    expectSameBits(inPlace, want);
  });

  it('leaves rows alone when SIMD does not apply', () => {
    const out = new Float64Array(40).fill(7);
    expect(sparsemaxShortSimd(new Float64Array(40), 1, 40, 1, 1, out, new Int32Array(1))).toBe(false);
    expect(out[0]).toBe(7);
  });
});
