import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUint53Text } from '../../src/codecs/exact-integer.js';

/**
 * isUint53Text(t): t is a JSON number whose exact decimal value is an integer in [0, 2^53).
 * Checked against an oracle in exact rational arithmetic (BigInt), on integers written in
 * every JSON form, and on integers plus a fraction however small.
 */

const TWO_53 = 2n ** 53n;

/** The oracle: value = D * 10^(E - f) as a fraction; integer in [0, 2^53)? (No shortcuts.) */
function oracle(t: string): boolean {
  const m = /^(-?)([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/.exec(t)!;
  const [, sign, int, frac = '', exp = '0'] = m;
  const D = BigInt(int + frac);
  const k = BigInt(exp) - BigInt(frac.length);
  let value: bigint;
  if (k >= 0n) value = D * 10n ** k;
  else {
    const den = 10n ** -k;
    if (D % den !== 0n) return false;
    value = D / den;
  }
  if (sign === '-') value = -value;
  return value >= 0n && value < TWO_53;
}

const digits = (min: number, max: number) =>
  fc.array(fc.constantFrom(...'0123456789'), { minLength: min, maxLength: max }).map((a) => a.join(''));

/** Any JSON number text, exponent within +-40 so the oracle stays cheap. */
const jsonNumber = fc
  .record({
    neg: fc.boolean(),
    int: fc.oneof(fc.constant('0'), fc.tuple(fc.constantFrom(...'123456789'), digits(0, 20)).map(([a, b]) => a + b)),
    frac: fc.option(digits(1, 20), { nil: undefined }),
    exp: fc.option(fc.tuple(fc.constantFrom('e', 'E'), fc.constantFrom('', '+', '-'), digits(1, 2)), { nil: undefined }),
  })
  .map(({ neg, int, frac, exp }) => `${neg ? '-' : ''}${int}${frac !== undefined ? `.${frac}` : ''}${exp ? exp.join('') : ''}`);

/** An integer k in [0, 2^53) written one of several ways. */
function writeInteger(k: bigint, form: number, z: number, e: string, plus: string, ez: number): string {
  const s = String(k);
  const exp = (n: number) => `${e}${n < 0 ? '-' : plus}${'0'.repeat(ez)}${Math.abs(n)}`;
  switch (form) {
    case 0:
      return s; // 42
    case 1:
      return `${s}.${'0'.repeat(z + 1)}`; // 42.0
    case 2:
      return s.length === 1 ? `${s}${exp(0)}` : `${s[0]}.${s.slice(1)}${exp(s.length - 1)}`; // 4.2e1
    case 3:
      return `${s}${k === 0n ? '' : '0'.repeat(z)}${exp(-z)}`; // 420e-1
    default:
      return `0.${'0'.repeat(z)}${s}${exp(z + s.length)}`; // 0.42e2
  }
}

const integerForm = fc.record({
  form: fc.nat(4),
  z: fc.nat(30),
  e: fc.constantFrom('e', 'E'),
  plus: fc.constantFrom('', '+'),
  ez: fc.nat(3),
});

describe('isUint53Text', () => {
  it('accepts the integers in [0, 2^53) however they are written', () => {
    const k = fc.oneof(fc.bigInt(0n, TWO_53 - 1n), fc.constantFrom(0n, 1n, 9n, 10n, TWO_53 - 1n, TWO_53 - 10n));
    fc.assert(
      fc.property(k, integerForm, (k, { form, z, e, plus, ez }) => {
        const t = writeInteger(k, form, z, e, plus, ez);
        expect(JSON.parse(t), t).toBe(Number(k)); // the form is right
        expect(isUint53Text(t), t).toBe(true);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses an integer plus any non-zero fraction, however small or written', () => {
    const frac = fc.tuple(digits(0, 400), fc.constantFrom(...'123456789')).map(([a, b]) => a + b);
    fc.assert(
      fc.property(fc.bigInt(0n, TWO_53 - 1n), frac, fc.nat(2), (k, f, form) => {
        const s = String(k);
        const t = [`${s}.${f}`, `${s}${f}e-${f.length}`, `0.${s}${f}E+${s.length}`][form];
        expect(isUint53Text(t), t).toBe(false);
      }),
      { numRuns: 3000 },
    );
  });

  it('refuses integers from 2^53 up, and negative ones', () => {
    fc.assert(
      fc.property(fc.bigInt(TWO_53, 10n ** 30n), integerForm, (k, { form, z, e, plus, ez }) => {
        const t = writeInteger(k, form, z, e, plus, ez);
        expect(isUint53Text(t), t).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.bigInt(1n, 10n ** 20n), integerForm, (k, { form, z, e, plus, ez }) => {
        const t = `-${writeInteger(k, form, z, e, plus, ez)}`;
        expect(isUint53Text(t), t).toBe(false);
      }),
    );
  });

  it('agrees with exact rational arithmetic on any JSON number', () => {
    fc.assert(
      fc.property(jsonNumber, (t) => {
        const exact = oracle(t);
        expect(isUint53Text(t), t).toBe(exact);
        // What it accepts, JSON.parse reads as that integer (so the parsed seed can be used as is).
        if (exact) expect(Number.isSafeInteger(JSON.parse(t)), t).toBe(true);
      }),
      { numRuns: 5000 },
    );
  });

  it.each([
    '42', '42.0', '4.2e1', '420e-1', '4.2E+1', '0.42e2', '0', '0.0', '0e-400', '0e99999999999999999999',
    '-0', '-0.0', '-0e5', '9007199254740991', '9007199254740991.000', '9.007199254740991e15',
    '90071992547409910e-1', `1.${'0'.repeat(100_000)}`, '1e0', '1e00000000000000000000015',
  ])('accepts %s', (t) => {
    expect(isUint53Text(t)).toBe(true);
  });

  it.each([
    '9007199254740991.4', '1e-400', '-1e-400', '0.5', '9007199254740992', '9007199254740993', '1e16',
    '-1', '1e400', '1e99999999999999999999', '1e-99999999999999999999', `1.${'0'.repeat(100_000)}1`,
    '9.0071992547409915e15', '', 'abc', '01', '1.', '.5', '+1', '1e', '0x10', 'NaN', 'Infinity', ' 1', '1 ',
  ])('refuses %s', (t) => {
    expect(isUint53Text(t)).toBe(false);
  });
});
