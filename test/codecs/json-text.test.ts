import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  closeOutput,
  formatRaggedRange,
  formatRaggedRangeBytes,
  formatRange,
  formatRangeBytes,
  formatZipRange,
  formatZipRangeBytes,
  openOutput,
} from '../../src/codecs/json-text.js';

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

/**
 * Ragged rows (packed left, then padding) as fixed-size buffers: `lengths[r]` values of row r
 * from `pool`, the rest `pad`. Returns the buffers and each row's values as plain arrays.
 */
function raggedRows(rows: number, width: number, lengths: number[], pool: number[], pad: number, ints: boolean) {
  const buf = ints ? new Int32Array(rows * width) : new Float64Array(rows * width);
  const nested: number[][] = [];
  let at = 0;
  for (let r = 0; r < rows; r++) {
    const k = Math.min(width, lengths[r % lengths.length]);
    const row: number[] = [];
    for (let j = 0; j < width; j++) {
      const v = j < k ? pool[at++ % pool.length] : pad;
      buf[r * width + j] = v;
      if (j < k) row.push(buf[r * width + j]);
    }
    nested.push(row);
  }
  return { buf, nested };
}

/** [0, ...sorted distinct cuts below n..., n]. */
const cutsOf = (cutsIn: number[], n: number) => [0, ...[...new Set(cutsIn.filter((c) => c > 0 && c < n))].sort((a, b) => a - b), n];

describe('formatRaggedRange', () => {
  it('any cuts of a ragged matrix join to the JSON of its rows\' values only', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.oneof(fc.integer({ min: 1, max: 7 }), fc.integer({ min: 30, max: 40 })),
        fc.array(fc.integer({ min: 0, max: 40 }), { minLength: 1, maxLength: 6 }),
        // Positive values (a sparse row's probabilities), padding 0.
        fc.array(fc.double({ min: 1e-300, max: 1, noNaN: true }), { minLength: 1, maxLength: 50 }),
        fc.array(fc.integer({ min: 1, max: 239 }), { maxLength: 8 }),
        (rows, width, lengths, pool, cutsIn) => {
          const { buf, nested } = raggedRows(rows, width, lengths, pool, 0, false);
          const n = rows * width;
          const cuts = cutsOf(cutsIn, n);
          let text = openOutput('values', true);
          for (let c = 0; c + 1 < cuts.length; c++) text += formatRaggedRange(buf, width, 0, cuts[c], cuts[c + 1]);
          expect(text + closeOutput(true)).toBe(`"values":${JSON.stringify(nested)}`);
        },
      ),
    );
  });

  it('integer rows padded with -1, empty rows, and the bytes form', () => {
    const { buf } = raggedRows(4, 3, [2, 0, 3, 1], [5, 0, 9, 1, 2, 7], -1, true);
    expect(formatRaggedRange(buf, 3, -1, 0, 12)).toBe('5,0],[],[9,1,2],[7');
    // The row separator goes with the row's first element even when the row is all padding.
    expect(formatRaggedRange(buf, 3, -1, 0, 4) + formatRaggedRange(buf, 3, -1, 4, 7) + formatRaggedRange(buf, 3, -1, 7, 12)).toBe('5,0],[],[9,1,2],[7');
    expect(formatRaggedRange(buf, 3, -1, 5, 6)).toBe('');
    const n = 9000;
    const { buf: big } = raggedRows(30, 300, [300, 0, 17, 299, 1], Array.from({ length: 97 }, (_, i) => Math.sin(i) / 3 + 0.5), 0, false);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: n }), fc.integer({ min: 0, max: n }), (a, b) => {
        const [i0, i1] = a <= b ? [a, b] : [b, a];
        expect(formatRaggedRangeBytes(big, 300, 0, i0, i1).toString('latin1')).toBe(formatRaggedRange(big, 300, 0, i0, i1));
      }),
      { numRuns: 40 },
    );
  });
});

describe('formatZipRange', () => {
  const KEYS = ['indices', 'logprobs'] as const;

  it('any cuts join to one object per row of the two outputs\' values before the first pad', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 6 }),
        fc.oneof(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 30, max: 36 })),
        fc.array(fc.integer({ min: 0, max: 36 }), { minLength: 1, maxLength: 6 }),
        fc.array(fc.double({ max: 0, noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 40 }),
        fc.array(fc.integer({ min: 1, max: 215 }), { maxLength: 8 }),
        (rows, width, lengths, pool, cutsIn) => {
          const idx = raggedRows(rows, width, lengths, Array.from({ length: 1000 }, (_, i) => (i * 7919) % 50021), -1, true);
          const lp = raggedRows(rows, width, lengths, pool, -Infinity, false);
          const n = rows * width;
          const cuts = cutsOf(cutsIn, n);
          let text = '"topLogprobs":[';
          for (let c = 0; c + 1 < cuts.length; c++) text += formatZipRange(idx.buf, lp.buf, width, -1, KEYS, cuts[c], cuts[c + 1]);
          text += ']';
          const want = idx.nested.map((indices, r) => ({ indices, logprobs: lp.nested[r] }));
          expect(text).toBe(`"topLogprobs":${JSON.stringify(want)}`);
        },
      ),
    );
  });

  it('an all-padding row is two empty arrays; the bytes form is the same text', () => {
    const idx = Int32Array.from([4, 2, -1, -1, -1, -1]);
    const lp = Float64Array.from([-0.5, -1.25, -Infinity, -Infinity, -Infinity, -Infinity]);
    expect(formatZipRange(idx, lp, 3, -1, KEYS, 0, 6)).toBe('{"indices":[4,2],"logprobs":[-0.5,-1.25]},{"indices":[],"logprobs":[]}');
    expect(formatZipRange(idx, lp, 3, -1, KEYS, 1, 3)).toBe('');
    expect(formatZipRange(idx, lp, 3, -1, KEYS, 1, 4)).toBe(',{"indices":[],"logprobs":[]}');
    const rows = 400;
    const width = 20;
    const a = raggedRows(rows, width, [20, 0, 3, 19], Array.from({ length: 50 }, (_, i) => i * 1000), -1, true);
    const b = raggedRows(rows, width, [20, 0, 3, 19], Array.from({ length: 50 }, (_, i) => -1.2345678901234567e-6 * (i + 1)), -Infinity, false);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: rows * width }), fc.integer({ min: 0, max: rows * width }), (x, y) => {
        const [i0, i1] = x <= y ? [x, y] : [y, x];
        expect(formatZipRangeBytes(a.buf, b.buf, width, -1, KEYS, i0, i1).toString('latin1')).toBe(formatZipRange(a.buf, b.buf, width, -1, KEYS, i0, i1));
      }),
      { numRuns: 40 },
    );
  });
});
