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
