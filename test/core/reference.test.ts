import { describe, expect, it } from 'vitest';
import { argmax } from '../../src/core/argmax.js';
import { entmax } from '../../src/core/entmax.js';
import { logSoftmax, softmax } from '../../src/core/softmax.js';
import { sparsemax } from '../../src/core/sparsemax.js';
import { compareMatrix, loadReferenceCases, toMatrix } from '../helpers/reference.js';

const cases = loadReferenceCases();

describe('kernels against test/fixtures/reference/vectors.json', () => {
  it('has the cases its README promises', () => {
    expect(cases.length).toBe(182);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const { data, rows, cols } = toMatrix(c.logits);
    const T = c.temperature;
    switch (c.mapping) {
      case 'argmax':
        expect(Array.from(argmax(data, rows, cols))).toEqual(c.indices);
        return;
      case 'softmax':
        expect(compareMatrix(softmax(data, rows, cols, T), c.expected!, c.atol!, c.rtol!)).toEqual([]);
        return;
      case 'log_softmax':
        expect(compareMatrix(logSoftmax(data, rows, cols, T), c.expected!, c.atol!, c.rtol!)).toEqual([]);
        return;
      case 'sparsemax': {
        const { probs, support } = sparsemax(data, rows, cols, T);
        expect(compareMatrix(probs, c.expected!, c.atol!, c.rtol!)).toEqual([]);
        expect(Array.from(support)).toEqual(c.support);
        assertExactZeros(probs, c.expected!);
        return;
      }
      case 'entmax': {
        const { probs, support } = entmax(data, rows, cols, c.alpha!, T);
        expect(compareMatrix(probs, c.expected!, c.atol!, c.rtol!)).toEqual([]);
        expect(Array.from(support)).toEqual(c.support);
        assertExactZeros(probs, c.expected!);
        return;
      }
    }
  });
});

/** Where the reference has an exact 0 (off the support, or on the threshold), so must we. */
function assertExactZeros(got: Float64Array, expected: (number | null)[][]): void {
  const cols = expected[0].length;
  expected.forEach((row, r) =>
    row.forEach((e, j) => {
      if (e === 0) expect(got[r * cols + j], `[${r}][${j}]`).toBe(0);
    }),
  );
}
