import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { closeOutput, formatRange, formatRangeBytes, openOutput } from '../../src/codecs/json-text.js';

/** Chunked answers: any cut of an output's elements formats to pieces that join to the whole. */

const whole = (rows: number[][]) => JSON.stringify(rows);

describe('formatRange', () => {
  it('any cuts of a matrix join to its JSON text', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        // Both sides of NARROW (32): narrow rows are written a number at a time, wide ones a row at a time.
        fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 30, max: 34 })),
        fc.array(fc.double({ noNaN: true }), { minLength: 204, maxLength: 204 }),
        fc.uniqueArray(fc.integer({ min: 1, max: 203 }), { maxLength: 8 }),
        (rows, width, pool, cutsIn) => {
          const n = rows * width;
          const buf = Float64Array.from(pool.slice(0, n));
          const nested = Array.from({ length: rows }, (_, r) => Array.from(buf.subarray(r * width, (r + 1) * width)));
          const cuts = [0, ...cutsIn.filter((c) => c < n).sort((a, b) => a - b), n];
          let text = openOutput('probs', true);
          for (let c = 0; c + 1 < cuts.length; c++) text += formatRange(buf, width, true, cuts[c], cuts[c + 1]);
          text += closeOutput(true);
          expect(text).toBe(`"probs":${whole(nested)}`);
        },
      ),
    );
  });

  it('vectors, -Infinity as null, and an empty range', () => {
    const v = Int32Array.from([3, -1, 7]);
    expect(openOutput('support', false) + formatRange(v, 1, false, 0, 2) + formatRange(v, 1, false, 2, 3) + closeOutput(false)).toBe('"support":[3,-1,7]');
    expect(formatRange(Float64Array.from([-Infinity, 0.5]), 2, true, 0, 2)).toBe('null,0.5');
    expect(formatRange(v, 1, false, 2, 2)).toBe('');
  });
});

/** formatRange's text by JSON.stringify, a number at a time (the writer's oracle). */
function reference(buf: Float64Array | Int32Array, width: number, matrix: boolean, i0: number, i1: number): string {
  let out = '';
  for (let i = i0; i < i1; i++) out += (i > 0 ? (matrix && i % width === 0 ? '],[' : ',') : '') + JSON.stringify(buf[i]);
  return out;
}

describe('formatRangeBytes', () => {
  // Ranges of up to 12000 elements, across row ends, of vectors and matrices.
  it('writes the bytes of formatRange for any range', () => {
    const n = 12_000;
    const values = Float64Array.from({ length: n }, (_, i) => (i % 7 === 3 ? -Infinity : Math.sin(i) * 10 ** ((i % 40) - 20)));
    const ints = Int32Array.from({ length: n }, (_, i) => (i * 2654435761) | 0);
    fc.assert(
      fc.property(
        fc.constantFrom<Float64Array | Int32Array>(values, ints),
        fc.boolean(),
        fc.integer({ min: 1, max: 9000 }),
        fc.integer({ min: 0, max: n }),
        fc.integer({ min: 0, max: n }),
        (buf, matrix, width, a, b) => {
          const [i0, i1] = a <= b ? [a, b] : [b, a];
          const bytes = formatRangeBytes(buf, width, matrix, i0, i1);
          expect(bytes.toString('latin1')).toBe(reference(buf, width, matrix, i0, i1));
          expect(formatRange(buf, width, matrix, i0, i1)).toBe(reference(buf, width, matrix, i0, i1));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('the longest numbers fit the buffer it sizes', () => {
    // The longest text of a double: 17 digits after 0.00000 (JavaScript's fixed notation goes
    // down to 1e-7).
    const worst = new Float64Array(5000).fill(-1.2345678901234567e-6);
    let size = 0;
    const bytes = formatRangeBytes(worst, 1, true, 0, worst.length, (len) => Buffer.alloc((size = len)));
    expect(bytes.toString('latin1')).toBe(reference(worst, 1, true, 0, worst.length));
    expect(bytes.length).toBeLessThanOrEqual(size);
    expect(bytes.length).toBe(5000 * '-0.0000012345678901234567'.length + 4999 * 3);
  });
});
