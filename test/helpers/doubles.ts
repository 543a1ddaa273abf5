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
