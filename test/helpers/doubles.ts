/**
 * Doubles by their bits, for the number-text tests (writer and reader, JavaScript and
 * WebAssembly): neighbours, patterns and a fixed-seed stream of 32-bit words.
 */

const F = new Float64Array(1);
const W = new BigUint64Array(F.buffer);
const U = new Uint32Array(F.buffer);

export const fromBits = (bits: bigint): number => {
  W[0] = bits;
  return F[0];
};
export const bitsOf = (x: number): bigint => {
  F[0] = x;
  return W[0];
};
/** The double of the 32-bit words lo and hi (little-endian hosts: U[1] is the high word). */
export const fromWords = (lo: number, hi: number): number => {
  U[0] = lo;
  U[1] = hi;
  return F[0];
};
/** The next double up and down (x > 0 finite). */
export const nextUp = (x: number): number => fromBits(bitsOf(x) + 1n);
export const nextDown = (x: number): number => fromBits(bitsOf(x) - 1n);

/** A fixed-seed stream of 32-bit words (xorshift128+ style, enough for inputs). */
export function words(seed: number): () => number {
  let s0 = seed >>> 0 || 1;
  let s1 = 0x243f6a88;
  return () => {
    let x = s0;
    const y = s1;
    s0 = y;
    x ^= x << 11;
    x ^= x >>> 8;
    s1 = (x ^ y ^ (y >>> 19)) >>> 0;
    return s1;
  };
}

/** A double of uniformly random bits (NaN and the infinities included). */
export const randomDouble = (next: () => number): number => fromWords(next(), next());

/**
 * The special doubles of the number-text algorithms: powers of two and ten (and 2, 3, 5, 9 times
 * ten's) with their neighbours, and the edges of the double range, both signs; finite only.
 */
export function specials(): number[] {
  const xs = [0, -0, Number.MIN_VALUE, 2 * Number.MIN_VALUE, 3 * Number.MIN_VALUE, Number.MAX_VALUE, 2 ** -1022, 2 ** -1022 - 2 ** -1074];
  for (let e = -1074; e <= 1023; e++) xs.push(2 ** e);
  for (let j = -323; j <= 308; j++) xs.push(Number(`1e${j}`));
  for (let j = -323; j <= 308; j++) for (const d of [2, 3, 5, 9]) xs.push(Number(`${d}e${j}`));
  const out: number[] = [];
  for (const x of xs) {
    out.push(x, -x);
    if (x > 0 && x < Number.MAX_VALUE) out.push(nextUp(x), nextDown(x) || x);
  }
  return out.filter((x) => Number.isFinite(x));
}

/**
 * Doubles and their JSON.stringify text (ECMAScript Number::toString): zeros, non-finite values,
 * the layout switches at 1e-7 and 1e21, subnormal and normal extremes, the 2^53 boundary, ties.
 */
export const SPECIAL_TEXTS: readonly [number, string][] = [
  [0, '0'],
  [-0, '0'],
  [Number.NaN, 'null'],
  [Infinity, 'null'],
  [-Infinity, 'null'],
  [1e21, '1e+21'],
  [1e-7, '1e-7'],
  [123e-9, '1.23e-7'],
  [0.000001, '0.000001'],
  [1.5e-6, '0.0000015'],
  [999999999999999900000, '999999999999999900000'],
  [Number.MIN_VALUE, '5e-324'],
  [2 ** -1022 - 2 ** -1074, '2.225073858507201e-308'], // the largest subnormal
  [Number.MAX_VALUE, '1.7976931348623157e+308'],
  [-Number.MAX_VALUE, '-1.7976931348623157e+308'],
  [2 ** -1022, '2.2250738585072014e-308'],
  [2 ** 53 - 1, '9007199254740991'],
  [2 ** 53, '9007199254740992'],
  [2 ** 53 + 2, '9007199254740994'],
  [2 ** 60, '1152921504606847000'],
  [0.1 + 0.2, '0.30000000000000004'],
  [-1 / 3, '-0.3333333333333333'],
  [1125899906842624.25, '1125899906842624.2'], // an exact tie at 17 digits: the even one
  [5e-324 * 3, '1.5e-323'],
  [100, '100'],
  [1e20, '100000000000000000000'],
  [123456789012345680000, '123456789012345680000'],
];
