import { philoxSimd, SIMD_MAX_BLOCKS } from './philox-simd.js';

/**
 * Philox4x32-10, the counter-based generator of Salmon, Moraes, Dror & Shaw 2011 ("Parallel
 * random numbers: as easy as 1, 2, 3", SC'11; reference code: Random123 philox.h). A keyed
 * bijection of 128-bit counters: output = f_k(counter), so any draw can be computed on its own,
 * in any order, on any thread, which is what makes chunked batches reproducible.
 *
 * One round, on counter words (c0, c1, c2, c3) and key words (k0, k1):
 *   (hi0, lo0) = M0 * c0,  (hi1, lo1) = M1 * c2       (full 64-bit products, split in words)
 *   c' = (hi1 ^ c1 ^ k0,  lo1,  hi0 ^ c3 ^ k1,  lo0)
 * then the key is bumped by the Weyl increments, k0 += W0, k1 += W1 (mod 2^32); ten rounds.
 *
 * The high word of a 32x32-bit product. The low word is Math.imul. For the high word, the
 * float64 product a * M (< 2^64) is within 2^11 of the exact product P = hi 2^32 + lo; subtracting
 * the exact lo and scaling by 2^-32 (exact) leaves a value within 2^-20 of the integer hi, so
 * adding 0.5 and truncating (>>> 0 truncates non-negative values below 2^32) gives hi exactly.
 * That is 5 floating-point operations, ~4x faster in V8 than splitting into 16-bit halves, and is
 * checked against BigInt in test/core/philox.test.ts.
 *
 * A round is a chain of dependent multiplies, so one block at a time leaves the CPU waiting on
 * latency (~50 ns per block in V8 here). philoxBlocksJs therefore runs four independent counters
 * side by side (~30 ns per block, ~7.5 ns per 32-bit word) and, since the sampling stream keeps
 * c1..c3 fixed along a row, hoists the parts of rounds 1 and 2 that do not depend on c0. Runs of
 * blocks (philoxRun, philoxBlocks) go to WebAssembly SIMD where available (./philox-simd.ts,
 * ~1.5 ns per word), with philoxBlocksJs as the fallback; both give the same words.
 */

export const PHILOX_M0 = 0xd2511f53;
export const PHILOX_M1 = 0xcd9e8d57;
export const PHILOX_W0 = 0x9e3779b9;
export const PHILOX_W1 = 0xbb67ae85;

const TWO_M32 = 2.3283064365386963e-10; // 2^-32

/** High 32 bits of the 64-bit product a * m, for uint32 a and m (see the file comment). */
export function mulhi32(a: number, m: number): number {
  const lo = Math.imul(a, m) >>> 0;
  return ((a * m - lo) * TWO_M32 + 0.5) >>> 0;
}

/**
 * Philox4x32-10 of counter (c0, c1, c2, c3) under key (k0, k1), all uint32 words (other numbers
 * are taken mod 2^32); writes the 4 output words to out[offset..offset + 3].
 */
export function philox4x32_10(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
  offset = 0,
): void {
  // Coerce once so the float products below see the unsigned values.
  c0 >>>= 0;
  c1 >>>= 0;
  c2 >>>= 0;
  c3 >>>= 0;
  k0 >>>= 0;
  k1 >>>= 0;
  for (let round = 0; round < 10; round++) {
    const lo0 = Math.imul(c0, PHILOX_M0) >>> 0;
    const hi0 = ((c0 * PHILOX_M0 - lo0) * TWO_M32 + 0.5) >>> 0;
    const lo1 = Math.imul(c2, PHILOX_M1) >>> 0;
    const hi1 = ((c2 * PHILOX_M1 - lo1) * TWO_M32 + 0.5) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + PHILOX_W0) >>> 0;
    k1 = (k1 + PHILOX_W1) >>> 0;
  }
  out[offset] = c0;
  out[offset + 1] = c1;
  out[offset + 2] = c2;
  out[offset + 3] = c3;
}

const W0_32 = PHILOX_W0 >>> 0;
const W1_32 = PHILOX_W1 >>> 0;
/** Round keys (k0 + r W0, k1 + r W1 mod 2^32) of the key (keyOf0, keyOf1). */
const ROUND_KEYS = new Uint32Array(20);
let keyOf0 = 0;
let keyOf1 = 0;
for (let r = 0; r < 10; r++) {
  ROUND_KEYS[2 * r] = r * W0_32;
  ROUND_KEYS[2 * r + 1] = r * W1_32;
}

/** Most blocks one philoxRun call can produce. */
export const PHILOX_RUN_MAX = SIMD_MAX_BLOCKS;
const RUN_BUFFER = new Uint32Array(4 * PHILOX_RUN_MAX);

/**
 * Philox4x32-10 of the counters (b, c1, c2, c3) for b = firstBlock .. firstBlock + nBlocks - 1
 * (mod 2^32), nBlocks <= PHILOX_RUN_MAX, under key (k0, k1). Returns a buffer holding word w of
 * block b at index 4 (b - firstBlock) + w, valid until the next call: the WebAssembly SIMD
 * memory where available (./philox-simd.ts, no copy), else a module buffer filled in JavaScript.
 */
export function philoxRun(
  k0: number,
  k1: number,
  c1: number,
  c2: number,
  c3: number,
  firstBlock: number,
  nBlocks: number,
): Uint32Array {
  const simd = philoxSimd;
  if (simd !== null) {
    simd.blocks(k0, k1, c1, c2, c3, firstBlock, nBlocks, 1);
    return simd.words;
  }
  philoxBlocksJs(k0, k1, c1, c2, c3, firstBlock, nBlocks, RUN_BUFFER, 0);
  return RUN_BUFFER;
}

/**
 * philoxRun for nRows consecutive values of c2 (c2, c2 + 1, ...; mod 2^32) at once, for batches of
 * short rows: block b of row i is at words 4 (i P + b - firstBlock) + 0..3 of the returned buffer,
 * P = nBlocks rounded up to a multiple of 4. Requires nRows P <= PHILOX_RUN_MAX.
 */
export function philoxRows(
  k0: number,
  k1: number,
  c1: number,
  c2: number,
  c3: number,
  firstBlock: number,
  nBlocks: number,
  nRows: number,
): Uint32Array {
  const simd = philoxSimd;
  if (simd !== null) {
    simd.blocks(k0, k1, c1, c2, c3, firstBlock, nBlocks, nRows);
    return simd.words;
  }
  const stride = 4 * ((nBlocks + 3) & ~3);
  for (let i = 0; i < nRows; i++) philoxBlocksJs(k0, k1, c1, (c2 + i) >>> 0, c3, firstBlock, nBlocks, RUN_BUFFER, i * stride);
  return RUN_BUFFER;
}

/**
 * Philox4x32-10 of the counters (b, c1, c2, c3) for b = firstBlock .. firstBlock + nBlocks - 1
 * (mod 2^32), under key (k0, k1): word w of block b goes to out[offset + 4 (b - firstBlock) + w].
 * The same words as nBlocks calls of philox4x32_10, on WebAssembly SIMD where available.
 */
export function philoxBlocks(
  k0: number,
  k1: number,
  c1: number,
  c2: number,
  c3: number,
  firstBlock: number,
  nBlocks: number,
  out: Uint32Array,
  offset = 0,
): void {
  for (let done = 0; done < nBlocks; ) {
    const n = Math.min(nBlocks - done, PHILOX_RUN_MAX);
    const words = philoxRun(k0, k1, c1, c2, c3, (firstBlock + done) >>> 0, n);
    const o = offset + 4 * done;
    for (let i = 0; i < 4 * n; i++) out[o + i] = words[i];
    done += n;
  }
}

/**
 * philoxBlocks in plain JavaScript, four counters interleaved (see the file comment): the
 * fallback where WebAssembly SIMD is unavailable, and the reference the SIMD path is tested
 * against.
 */
export function philoxBlocksJs(
  k0: number,
  k1: number,
  c1: number,
  c2: number,
  c3: number,
  firstBlock: number,
  nBlocks: number,
  out: Uint32Array,
  offset = 0,
): void {
  k0 >>>= 0;
  k1 >>>= 0;
  c1 >>>= 0;
  c2 >>>= 0;
  c3 >>>= 0;
  const ks = ROUND_KEYS;
  if (k0 !== keyOf0 || k1 !== keyOf1) {
    // Callers stream many runs under one key; refill only when it changes.
    for (let r = 0; r < 10; r++) {
      ks[2 * r] = k0 + r * W0_32; // the store reduces mod 2^32
      ks[2 * r + 1] = k1 + r * W1_32;
    }
    keyOf0 = k0;
    keyOf1 = k1;
  }
  // Round 1 on the words that do not depend on b: (hi1, lo1) = M1 * c2.
  const lo1r1 = Math.imul(c2, PHILOX_M1) >>> 0;
  const hi1r1 = ((c2 * PHILOX_M1 - lo1r1) * TWO_M32 + 0.5) >>> 0;
  const a0 = (hi1r1 ^ c1 ^ k0) >>> 0; // word 0 after round 1, the same for every block
  const a1 = lo1r1; // word 1 after round 1
  // Round 2 on word 0: (H, L) = M0 * a0, also the same for every block.
  const L = Math.imul(a0, PHILOX_M0) >>> 0;
  const H = ((a0 * PHILOX_M0 - L) * TWO_M32 + 0.5) >>> 0;
  const x0 = (a1 ^ ks[2]) >>> 0; // word 0 after round 2 is hi(M1 * w2) ^ a1 ^ k0'
  const x2 = (H ^ ks[3]) >>> 0; // word 2 after round 2 is H ^ lo(M0 * b) ^ k1'
  const y2 = (c3 ^ k1) >>> 0; // word 2 after round 1 is hi(M0 * b) ^ c3 ^ k1

  let b = firstBlock;
  let o = offset;
  const end = firstBlock + nBlocks;
  for (; b < end; b += 4, o += 16) {
    // Four counters per pass (the last pass may repeat one to fill the lanes; not stored).
    const n = end - b < 4 ? end - b : 4;
    // Rounds 1 and 2 for the parts that depend on the block index, lane by lane.
    let c = b >>> 0;
    let lo = Math.imul(c, PHILOX_M0) >>> 0;
    let w = ((((c * PHILOX_M0 - lo) * TWO_M32 + 0.5) >>> 0) ^ y2) >>> 0;
    let l2 = Math.imul(w, PHILOX_M1) >>> 0;
    let p0 = ((((w * PHILOX_M1 - l2) * TWO_M32 + 0.5) >>> 0) ^ x0) >>> 0;
    let p1 = l2;
    let p2 = (x2 ^ lo) >>> 0;
    let p3 = L;
    c = (b + (n > 1 ? 1 : 0)) >>> 0;
    lo = Math.imul(c, PHILOX_M0) >>> 0;
    w = ((((c * PHILOX_M0 - lo) * TWO_M32 + 0.5) >>> 0) ^ y2) >>> 0;
    l2 = Math.imul(w, PHILOX_M1) >>> 0;
    let q0 = ((((w * PHILOX_M1 - l2) * TWO_M32 + 0.5) >>> 0) ^ x0) >>> 0;
    let q1 = l2;
    let q2 = (x2 ^ lo) >>> 0;
    let q3 = L;
    c = (b + (n > 2 ? 2 : 0)) >>> 0;
    lo = Math.imul(c, PHILOX_M0) >>> 0;
    w = ((((c * PHILOX_M0 - lo) * TWO_M32 + 0.5) >>> 0) ^ y2) >>> 0;
    l2 = Math.imul(w, PHILOX_M1) >>> 0;
    let s0 = ((((w * PHILOX_M1 - l2) * TWO_M32 + 0.5) >>> 0) ^ x0) >>> 0;
    let s1 = l2;
    let s2 = (x2 ^ lo) >>> 0;
    let s3 = L;
    c = (b + (n > 3 ? 3 : 0)) >>> 0;
    lo = Math.imul(c, PHILOX_M0) >>> 0;
    w = ((((c * PHILOX_M0 - lo) * TWO_M32 + 0.5) >>> 0) ^ y2) >>> 0;
    l2 = Math.imul(w, PHILOX_M1) >>> 0;
    let t0 = ((((w * PHILOX_M1 - l2) * TWO_M32 + 0.5) >>> 0) ^ x0) >>> 0;
    let t1 = l2;
    let t2 = (x2 ^ lo) >>> 0;
    let t3 = L;
    // Rounds 3..10: the four lanes interleaved so their multiply chains overlap.
    for (let r = 4; r < 20; r += 2) {
      const kk0 = ks[r];
      const kk1 = ks[r + 1];
      let lo0 = Math.imul(p0, PHILOX_M0) >>> 0;
      let hi0 = ((p0 * PHILOX_M0 - lo0) * TWO_M32 + 0.5) >>> 0;
      let lo1 = Math.imul(p2, PHILOX_M1) >>> 0;
      let hi1 = ((p2 * PHILOX_M1 - lo1) * TWO_M32 + 0.5) >>> 0;
      p0 = (hi1 ^ p1 ^ kk0) >>> 0;
      p1 = lo1;
      p2 = (hi0 ^ p3 ^ kk1) >>> 0;
      p3 = lo0;
      lo0 = Math.imul(q0, PHILOX_M0) >>> 0;
      hi0 = ((q0 * PHILOX_M0 - lo0) * TWO_M32 + 0.5) >>> 0;
      lo1 = Math.imul(q2, PHILOX_M1) >>> 0;
      hi1 = ((q2 * PHILOX_M1 - lo1) * TWO_M32 + 0.5) >>> 0;
      q0 = (hi1 ^ q1 ^ kk0) >>> 0;
      q1 = lo1;
      q2 = (hi0 ^ q3 ^ kk1) >>> 0;
      q3 = lo0;
      lo0 = Math.imul(s0, PHILOX_M0) >>> 0;
      hi0 = ((s0 * PHILOX_M0 - lo0) * TWO_M32 + 0.5) >>> 0;
      lo1 = Math.imul(s2, PHILOX_M1) >>> 0;
      hi1 = ((s2 * PHILOX_M1 - lo1) * TWO_M32 + 0.5) >>> 0;
      s0 = (hi1 ^ s1 ^ kk0) >>> 0;
      s1 = lo1;
      s2 = (hi0 ^ s3 ^ kk1) >>> 0;
      s3 = lo0;
      lo0 = Math.imul(t0, PHILOX_M0) >>> 0;
      hi0 = ((t0 * PHILOX_M0 - lo0) * TWO_M32 + 0.5) >>> 0;
      lo1 = Math.imul(t2, PHILOX_M1) >>> 0;
      hi1 = ((t2 * PHILOX_M1 - lo1) * TWO_M32 + 0.5) >>> 0;
      t0 = (hi1 ^ t1 ^ kk0) >>> 0;
      t1 = lo1;
      t2 = (hi0 ^ t3 ^ kk1) >>> 0;
      t3 = lo0;
    }
    out[o] = p0;
    out[o + 1] = p1;
    out[o + 2] = p2;
    out[o + 3] = p3;
    if (n > 1) {
      out[o + 4] = q0;
      out[o + 5] = q1;
      out[o + 6] = q2;
      out[o + 7] = q3;
    }
    if (n > 2) {
      out[o + 8] = s0;
      out[o + 9] = s1;
      out[o + 10] = s2;
      out[o + 11] = s3;
    }
    if (n > 3) {
      out[o + 12] = t0;
      out[o + 13] = t1;
      out[o + 14] = t2;
      out[o + 15] = t3;
    }
  }
}
