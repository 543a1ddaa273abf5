import { Decimal } from 'decimal.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { C, INV_C, LOG2_C, powUnit, Z0_HIGH } from '../../src/core/pow.js';
import { exactDecimal } from '../helpers/entmax-oracle.js';

const D = Decimal.clone({ precision: 60 });
const U = 2 ** -53;

/** y in (0, 1]: every exponent (subnormals too) and mantissa, and values just below 1. */
const unit = fc.oneof(
  fc
    .tuple(fc.integer({ min: 0, max: 0x3fefffff }), fc.integer({ min: 0, max: 0xffffffff }))
    .map(([hi, lo]) => new Float64Array(new Uint32Array([lo, hi]).buffer)[0])
    .filter((y) => y > 0),
  fc.double({ min: 0, max: 1, noNaN: true }).filter((y) => y > 0),
  fc.double({ min: 0, max: 2 ** -20, noNaN: true }).map((d) => 1 - d),
);

describe('powUnit', () => {
  it('has the tables its comment describes: midpoints c_i (1 at interval 150), 1 / c_i, log2 c_i correctly rounded', () => {
    const ln2 = new D(2).ln();
    const bits = new Float64Array(1);
    const high = new Int32Array(bits.buffer);
    const hi = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
    for (let i = 0; i < 256; i++) {
      bits[0] = C[i];
      expect(high[hi]).toBe(Z0_HIGH + i * 0x1000 + (i === 150 ? 0 : 0x800));
      expect(high[1 - hi]).toBe(0);
      expect(INV_C[i]).toBe(1 / C[i]);
      expect(LOG2_C[i], `log2 c_${i}`).toBe(new D(exactDecimal(C[i])).ln().div(ln2).toNumber());
    }
    expect(C[150]).toBe(1);
    expect(LOG2_C[150]).toBe(0);
  });

  it('is within (2 |q ln y| + 3) u of y^q (50-digit reference), subnormal results within that plus 2^-1074', () => {
    fc.assert(
      fc.property(unit, fc.oneof(fc.constantFrom(1 / 64, 0.1, 1, 1 / 0.3, 1 / 0.7, 64), fc.double({ min: 1 / 1024, max: 70, noNaN: true })), (y, q) => {
        const exact = new D(exactDecimal(y)).pow(new D(exactDecimal(q)));
        const got = powUnit(y, q);
        const bound = exact.times((2 * Math.abs(q * Math.log(y)) + 3) * U).plus(exact.lt(2 ** -1022) ? 2 ** -1074 : 0);
        expect(new D(exactDecimal(got)).minus(exact).abs().lte(bound), `${y}^${q} = ${got}, exact ${exact.toPrecision(20)}`).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('is exact at y = 1 and on exact powers of two, and 0 where y^q underflows', () => {
    for (const q of [1 / 64, 0.3, 1, 3, 64]) expect(powUnit(1, q)).toBe(1);
    expect(powUnit(0.5, 2)).toBe(0.25);
    expect(powUnit(2 ** -600, 1)).toBe(2 ** -600);
    expect(powUnit(1e-300, 10 / 3)).toBe(0);
    expect(powUnit(5e-324, 2)).toBe(0);
    expect(powUnit(5e-324, 0.1)).toBeCloseTo(4.67066227623387e-33, 45);
  });
});
