import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FAST_MIN_BYTES, prepare, prepareBytes } from '../../src/jobs/endpoints.js';
import { readMatrixFast } from '../../src/jobs/fast-body.js';
import { parseLogits, parseProbs } from '../../src/schemas/matrix.js';

/**
 * The byte scanner for the matrix must give exactly what JSON.parse + src/schemas/matrix.ts give
 * (bit for bit) on plain valid bodies, and step aside (null) on everything else.
 */

const enc = (s: string) => new TextEncoder().encode(s);

/** The general path's matrix for a body text. */
function slow(text: string, field: 'logits' | 'probs') {
  const body = JSON.parse(text);
  return field === 'probs' ? parseProbs(body.probs, 'probs', 1e9) : parseLogits(body.logits, 'logits', 1e9);
}

function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

// Numbers written every way JSON allows, including the ones that leave the fast conversion.
const numberTexts = [
  '0', '-0', '0.0', '1', '-1', '0.1', '0.30000000000000004', '1e-7', '1E+2', '2.5e3', '-3.25E-2',
  '123456789012345678901234567890', '9007199254740993', '1e22', '1e23', '8.98846567431158e307',
  '1.7976931348623157e308', '2.2250738585072014e-308', '4.9e-324', '5e-324', '1e-400', '0e999',
  '0.000000000000000000000000123', '12345678901234567', '123456789012345.6', '-0.000001',
  '3.141592653589793', '100000000000000000000000', '1.00000000000000011102230246251565404236316680908203125',
];

describe('readMatrixFast', () => {
  it('converts every JSON number form exactly as JSON.parse does', () => {
    const text = `{"logits": [[${numberTexts.join(', ')}]]}`;
    const fast = readMatrixFast(enc(text))!;
    expect(fast).not.toBeNull();
    expect(sameBits(fast.data, Float64Array.from(JSON.parse(text).logits[0]))).toBe(true);
  });

  it('equals the general path on generated bodies (numbers, nulls, whitespace, other fields)', () => {
    const num = fc.oneof(
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => JSON.stringify(v)),
      fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((v) => v.toFixed(6)),
      fc.integer().map(String),
      fc.double({ min: 1e-300, max: 1e300, noNaN: true }).map((v) => v.toExponential(fc.sample(fc.integer({ min: 0, max: 20 }), 1)[0])),
    );
    const body = fc
      .record({
        rows: fc.integer({ min: 1, max: 5 }),
        cols: fc.integer({ min: 1, max: 8 }),
        cells: fc.array(fc.oneof({ weight: 5, arbitrary: num }, { weight: 1, arbitrary: fc.constant('null') }), { minLength: 40, maxLength: 40 }),
        sp: fc.constantFrom('', ' ', '\n  ', '\t'),
        before: fc.constantFrom('', '"temperature": 0.5, ', '"seed": 7, "x": {"a": [1, "]}", {}]}, '),
        after: fc.constantFrom('', ', "n": 3', ', "mapping": "entmax", "alpha": 1.5'),
      })
      .map(({ rows, cols, cells, sp, before, after }) => {
        const m = Array.from({ length: rows }, (_, r) => `[${sp}${cells.slice(r * cols, (r + 1) * cols).join(`${sp},${sp}`)}${sp}]`);
        return `{${sp}${before}"logits"${sp}:${sp}[${m.join(`,${sp}`)}]${after}${sp}}`;
      });
    fc.assert(
      fc.property(body, (text) => {
        let want;
        try {
          want = slow(text, 'logits');
        } catch {
          return readMatrixFast(enc(text)) === null; // invalid (e.g. a masked row): the general path
        }
        const fast = readMatrixFast(enc(text));
        if (!fast) return false;
        const rest = JSON.parse(fast.rest);
        const full = JSON.parse(text);
        return (
          fast.field === 'logits' && fast.rows === want.rows && fast.cols === want.cols && sameBits(fast.data, want.data) &&
          rest.logits === 0 && JSON.stringify({ ...rest, logits: undefined }) === JSON.stringify({ ...full, logits: undefined })
        );
      }),
      { numRuns: 2000 },
    );
  });

  it('reads probs as the general path does, including the overflow guard', () => {
    for (const text of ['{"probs": [[0.5, 0, 0.25], [1, 2, 3]]}', '{"probs": [[1e308, 1e308, 0]], "seed": 1}']) {
      const fast = readMatrixFast(enc(text))!;
      expect(fast.field).toBe('probs');
      expect(sameBits(fast.data, slow(text, 'probs').data)).toBe(true);
    }
  });

  it.each([
    ['an escape in a key', '{"logit\\u0073": [[1]]}'],
    ['a string in the matrix', '{"logits": [[1, "2"]]}'],
    ['a nested array', '{"logits": [[[1]]]}'],
    ['a ragged matrix', '{"logits": [[1, 2], [3]]}'],
    ['an empty row', '{"logits": [[]]}'],
    ['an empty matrix', '{"logits": []}'],
    ['a masked row', '{"logits": [[null, null]]}'],
    ['null in probs', '{"probs": [[null, 1]]}'],
    ['a negative prob', '{"probs": [[-1, 1]]}'],
    ['a zero probs row', '{"probs": [[0, 0]]}'],
    ['1e400', '{"logits": [[1e400]]}'],
    ['a leading zero', '{"logits": [[01]]}'],
    ['a bare dot', '{"logits": [[.5]]}'],
    ['NaN', '{"logits": [[NaN]]}'],
    ['both matrices', '{"logits": [[1]], "probs": [[1]]}'],
    ['a repeated key', '{"logits": [[1]], "logits": [[2]]}'],
    ['trailing bytes', '{"logits": [[1]]} x'],
    ['no matrix', '{"temperature": 1}'],
    ['not an object', '[[1, 2]]'],
    ['truncated', '{"logits": [[1, 2]'],
  ])('steps aside on %s', (_name, text) => {
    expect(readMatrixFast(enc(text))).toBeNull();
  });
});

describe('prepareBytes', () => {
  it('gives the same Job from the byte scanner as from JSON.parse on a big body', () => {
    const rows = Array.from({ length: 6 }, (_, r) => Array.from({ length: 700 }, (_, j) => (j % 97 === 0 ? null : Number((Math.sin(r * 700 + j) * 4).toFixed(6)))));
    const text = JSON.stringify({ logits: rows, n: 3, seed: 5, mapping: 'sparsemax' });
    const bytes = enc(text);
    expect(bytes.length).toBeGreaterThanOrEqual(FAST_MIN_BYTES);
    expect(readMatrixFast(bytes)).not.toBeNull(); // the fast path is the one taken
    const limits = { maxElements: 1e7 };
    const fast = prepareBytes('sample', bytes, limits);
    const slowJob = prepare('sample', JSON.parse(text), limits);
    expect(fast.params).toEqual(slowJob.params);
    expect([fast.rows, fast.cols, fast.work, fast.input]).toEqual([slowJob.rows, slowJob.cols, slowJob.work, slowJob.input]);
    expect(sameBits(fast.data, slowJob.data)).toBe(true);
    expect(() => prepareBytes('sample', bytes, { maxElements: 100 })).toThrow(/over the limit of 100/);
  });
});
