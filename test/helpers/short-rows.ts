import fc from 'fast-check';
import { expect } from 'vitest';
import { SHORT_ROW } from '../../src/core/sparsemax.js';

/**
 * What the short-row kernel tests (test/core/sparsemax-simd.test.ts, entmax15-simd.test.ts)
 * share: the general path of a mapping reached by padding each row with -Infinity classes past
 * SHORT_ROW (masked classes are never candidates, so the padding changes no sum, count or order,
 * and every real class keeps its value), a bit-for-bit comparison, and the values and shapes
 * that make ties, classes on the threshold, masks and NaN.
 */

type Mapping = (data: Float64Array, rows: number, cols: number) => { probs: Float64Array; support: Int32Array };

/** The mapping's answer for rows of `cols` classes, computed over rows padded past SHORT_ROW. */
export function viaGeneralPath(map: Mapping, data: Float64Array, rows: number, cols: number) {
  const wide = SHORT_ROW + 1;
  const padded = new Float64Array(rows * wide).fill(-Infinity);
  for (let r = 0; r < rows; r++) padded.set(data.subarray(r * cols, (r + 1) * cols), r * wide);
  const { probs, support } = map(padded, rows, wide);
  const out = new Float64Array(rows * cols);
  for (let r = 0; r < rows; r++) out.set(probs.subarray(r * wide, r * wide + cols), r * cols);
  return { probs: out, support };
}

export function expectSameBits(a: Float64Array, b: Float64Array) {
  expect(a.length).toBe(b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) expect([i, a[i]]).toEqual([i, b[i]]);
}

const value = fc.oneof(
  { weight: 4, arbitrary: fc.double({ min: -4, max: 4, noNaN: true }) },
  { weight: 2, arbitrary: fc.integer({ min: -6, max: 6 }).map((v) => v / 2) },
  { weight: 1, arbitrary: fc.constantFrom(-Infinity, Number.NaN, 0, 1e300, -1e300, 5e-324) },
);

/** [cols, [rows, values]]: up to 9 rows of 1..SHORT_ROW classes. */
export const shortRows = fc
  .integer({ min: 1, max: SHORT_ROW })
  .chain((cols) =>
    fc.tuple(fc.constant(cols), fc.integer({ min: 1, max: 9 }).chain((rows) => fc.tuple(fc.constant(rows), fc.array(value, { minLength: rows * cols, maxLength: rows * cols })))),
  );

export const temperatures = fc.constantFrom(1, 0.5, 2, 0.7, 3);
