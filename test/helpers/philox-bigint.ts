/**
 * An independent Philox4x32-10 and sampling stream in BigInt, written from the Random123
 * description (Salmon et al. 2011) without the tricks of src/core/philox.ts: exact 64-bit
 * products, explicit mod-2^32 key schedule. Slow; only for checking.
 */

const MASK = 0xffffffffn;
const M0 = 0xd2511f53n;
const M1 = 0xcd9e8d57n;
const W0 = 0x9e3779b9n;
const W1 = 0xbb67ae85n;

export function philoxBig(counter: readonly number[], key: readonly number[]): number[] {
  let [c0, c1, c2, c3] = counter.map((v) => BigInt(v >>> 0));
  let [k0, k1] = key.map((v) => BigInt(v >>> 0));
  for (let round = 0; round < 10; round++) {
    const p0 = M0 * c0;
    const p1 = M1 * c2;
    [c0, c1, c2, c3] = [((p1 >> 32n) ^ c1 ^ k0) & MASK, p1 & MASK, ((p0 >> 32n) ^ c3 ^ k1) & MASK, p0 & MASK];
    k0 = (k0 + W0) & MASK;
    k1 = (k1 + W1) & MASK;
  }
  return [c0, c1, c2, c3].map(Number);
}

/** The stream word of (seed, row, draw, class), from the contract with BigInt key derivation. */
export function streamWordBig(seed: number, row: number, draw: number, j: number): number {
  const s = BigInt(seed);
  const key = [Number(s % 2n ** 32n), Number(s / 2n ** 32n)];
  return philoxBig([Math.floor(j / 4), draw, row, 0], key)[j % 4];
}

/** g = -log(-log u), u = (x + 0.5) / 2^32. */
export function gumbelBig(seed: number, row: number, draw: number, j: number): number {
  const u = (streamWordBig(seed, row, draw, j) + 0.5) / 2 ** 32;
  return -Math.log(-Math.log(u));
}
