import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { exactReciprocal } from '../../src/core/temperature.js';

describe('exactReciprocal', () => {
  it('lets powers of two multiply where others must divide', () => {
    expect(exactReciprocal(1)).toBe(1);
    expect(exactReciprocal(0.5)).toBe(2);
    expect(exactReciprocal(2 ** -1000)).toBe(2 ** 1000);
    for (const T of [3, 0.1, 10, 1e300, 1.0000000000000002]) expect(exactReciprocal(T)).toBe(0);
    expect(exactReciprocal(5e-324)).toBe(0); // 1 / T overflows
  });

  it('multiplying by it is bit-identical to dividing by T', () => {
    fc.assert(
      fc.property(fc.double({ noNaN: true }), fc.integer({ min: -1022, max: 1023 }), (x, e) => {
        const T = 2 ** e;
        const inv = exactReciprocal(T);
        return inv !== 0 && Object.is(x * inv, x / T);
      }),
      { numRuns: 20_000 },
    );
  });
});
