import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { layoutOf, operation, outputElements, run, widthOf, type Job, type OpName } from '../../src/ops/index.js';

/** format sparse of sparsemax and entmax: the dense answer's non-zeros, packed left in fixed-size outputs. */

function job(op: OpName, data: number[][], params: Record<string, unknown>): Job {
  const rows = data.length;
  const cols = data[0].length;
  return {
    op,
    params: operation(op).params.parse(params) as Record<string, unknown>,
    input: 'logits',
    data: Float64Array.from(data.flat()),
    rows,
    cols,
    rowOffset: 0,
    work: rows * cols,
  };
}

const CASES: [OpName, Record<string, unknown>][] = [
  ['sparsemax', {}],
  ['sparsemax', { temperature: 0.25 }],
  ['entmax', {}],
  ['entmax', { alpha: 1.2, temperature: 2 }],
  ['entmax', { alpha: 3 }],
];

describe('format sparse', () => {
  it('lays out indices (i32, padded -1), values (f64, in place, padded 0) and support', () => {
    for (const op of ['sparsemax', 'entmax'] as const) {
      const j = job(op, [[1, 2, 3]], { format: 'sparse' });
      expect(layoutOf(j)).toEqual([
        { name: 'indices', type: 'i32', width: 3, matrix: true, inPlace: false, ragged: { pad: -1 } },
        { name: 'values', type: 'f64', width: 3, matrix: true, inPlace: true, ragged: { pad: 0 } },
        { name: 'support', type: 'i32', width: 1, matrix: false, inPlace: false },
      ]);
      // Every padded value counts: what admission and the stream decision size.
      expect(outputElements({ ...j, rows: 4 })).toBe(4 * (3 + 3 + 1));
      expect(layoutOf(job(op, [[1, 2, 3]], {})).map((l) => l.name)).toEqual(['probs', 'support']);
    }
  });

  it.each(CASES)('%s %o: the dense answer\'s non-zeros in order, in place or not', (op, params) => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.oneof(fc.double({ min: -8, max: 8, noNaN: true }), fc.constant(-Infinity), fc.constant(1)), { minLength: 48, maxLength: 48 }),
        (rows, cols, pool) => {
          const data = Array.from({ length: rows }, (_, r) => pool.slice(r * cols, (r + 1) * cols));
          data.forEach((row) => (row[0] = Number.isFinite(row[0]) ? row[0] : 0)); // a class per row
          const [probs, support] = run(job(op, data, params));
          const sparse = job(op, data, { ...params, format: 'sparse' });
          const [indices, values, sup] = run(sparse);
          const inPlace = job(op, data, { ...params, format: 'sparse' });
          const outs = run(inPlace, true);
          expect(outs[1]).toBe(inPlace.data);
          for (const o of [0, 1, 2]) expect(Array.from(outs[o])).toEqual(Array.from([indices, values, sup][o]));
          for (let r = 0; r < rows; r++) {
            const nz = [...probs.subarray(r * cols, (r + 1) * cols)].map((p, j) => [j, p]).filter(([, p]) => p > 0);
            const k = nz.length;
            expect(sup[r]).toBe(k);
            expect(k).toBe(support[r]);
            expect(Array.from(indices.subarray(r * cols, r * cols + k))).toEqual(nz.map(([j]) => j));
            expect(Array.from(values.subarray(r * cols, r * cols + k))).toEqual(nz.map(([, p]) => p));
            expect(indices.subarray(r * cols + k, (r + 1) * cols).every((v) => v === -1)).toBe(true);
            expect(values.subarray(r * cols + k, (r + 1) * cols).every((v) => v === 0)).toBe(true);
          }
        },
      ),
      { numRuns: 50 },
    );
  });

  it('refuses other formats, naming the field', () => {
    const r = operation('entmax').params.safeParse({ format: 'csr' });
    expect(r.success).toBe(false);
    expect(r.error!.issues[0]).toMatchObject({ path: ['format'], message: 'format must be one of dense, sparse' });
  });
});

describe("width 'top'", () => {
  const spec = { name: 'topLogprobs', type: 'f64' as const, width: 'top' as const };
  it('is max(1, min(params.topLogprobs, cols))', () => {
    expect(widthOf(spec, { topLogprobs: 5 }, 100)).toBe(5);
    expect(widthOf(spec, { topLogprobs: 64 }, 10)).toBe(10);
    expect(widthOf(spec, { topLogprobs: 0 }, 10)).toBe(1);
    expect(widthOf(spec, {}, 10)).toBe(1);
  });
});
