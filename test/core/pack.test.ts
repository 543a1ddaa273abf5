import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { packRows } from '../../src/core/pack.js';

/** An independent statement of the sparse form: per row, the (class, p) pairs with p > 0, in class order. */
function nonZeros(p: ArrayLike<number>, rows: number, cols: number): { indices: number[][]; values: number[][] } {
  const indices: number[][] = [];
  const values: number[][] = [];
  for (let r = 0; r < rows; r++) {
    const row = Array.from({ length: cols }, (_, j) => [j, p[r * cols + j]] as const).filter(([, v]) => v > 0);
    indices.push(row.map(([j]) => j));
    values.push(row.map(([, v]) => v));
  }
  return { indices, values };
}

describe('packRows', () => {
  it('packs each row left in place, padding indices with -1 and values with 0', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 9 }),
        // Probabilities with many exact zeros (and some tiny values), as sparse mappings give.
        fc.array(fc.oneof(fc.constant(0), fc.double({ min: 0, max: 1, noNaN: true }), fc.constant(5e-324)), { minLength: 45, maxLength: 45 }),
        (rows, cols, pool) => {
          const p = Float64Array.from(pool.slice(0, rows * cols));
          const want = nonZeros(p, rows, cols);
          const values = Float64Array.from(p);
          const indices = new Int32Array(rows * cols).fill(7); // stale contents are overwritten
          const support = new Int32Array(rows).fill(7);
          packRows(values, rows, cols, indices, support);
          for (let r = 0; r < rows; r++) {
            const k = want.indices[r].length;
            expect(support[r]).toBe(k);
            expect(Array.from(indices.subarray(r * cols, r * cols + k))).toEqual(want.indices[r]);
            expect(Array.from(values.subarray(r * cols, r * cols + k))).toEqual(want.values[r]);
            expect(Array.from(indices.subarray(r * cols + k, (r + 1) * cols))).toEqual(new Array(cols - k).fill(-1));
            expect(Array.from(values.subarray(r * cols + k, (r + 1) * cols))).toEqual(new Array(cols - k).fill(0));
          }
        },
      ),
    );
  });

  it('a dense row stays as it is; an all-zero row is all padding', () => {
    const values = Float64Array.from([0.5, 0.25, 0.25, 0, 0, 0]);
    const indices = new Int32Array(6);
    const support = new Int32Array(2);
    packRows(values, 2, 3, indices, support);
    expect(Array.from(values)).toEqual([0.5, 0.25, 0.25, 0, 0, 0]);
    expect(Array.from(indices)).toEqual([0, 1, 2, -1, -1, -1]);
    expect(Array.from(support)).toEqual([3, 0]);
  });
});
