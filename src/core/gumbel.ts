import { philox4x32_10, philoxBlocks } from './philox.js';

/**
 * The sampling stream: Gumbel noise addressed by (seed, row, draw, class), so that any draw of
 * any row can be recomputed on its own (chunked batches, other languages).
 *
 *   key      = (s mod 2^32, floor(s / 2^32))           for a seed 0 <= s < 2^53
 *   counter  = (floor(j / 4), d, r, 0)                 class j, draw d, GLOBAL batch row r
 *   x        = word (j mod 4) of Philox4x32-10(counter, key)
 *   u        = (x + 0.5) / 2^32                        in [2^-33, 1 - 2^-33]: never 0 or 1
 *   g        = -log(-log u)                            Math.log, float64
 *
 * g is a standard Gumbel variate (CDF exp(-exp(-g))), so argmax_j log p_j + g_j is a draw from p
 * (the Gumbel-max trick: Gumbel 1954; Maddison, Tarlow & Minka 2014). The ends of the grid bound
 * every noise value: g(0) = -3.1300 and g(2^32 - 1) = 22.8739.
 */

const TWO_M32 = 2.3283064365386963e-10; // 2^-32: multiplying by it is exactly dividing by 2^32
const TWO_32 = 4294967296;

/** Low key word of a seed: s mod 2^32. */
export function seedKey0(seed: number): number {
  return seed % TWO_32 >>> 0;
}

/** High key word of a seed: floor(s / 2^32) (exact for s < 2^53). */
export function seedKey1(seed: number): number {
  return Math.floor(seed / TWO_32) >>> 0;
}

/** u = (x + 0.5) / 2^32 for a 32-bit word x. */
export function uniformFromWord(x: number): number {
  return (x + 0.5) * TWO_M32;
}

/** g = -log(-log u), u = (x + 0.5) / 2^32, for a 32-bit word x. */
export function gumbelFromWord(x: number): number {
  return -Math.log(-Math.log((x + 0.5) * TWO_M32));
}

/** The smallest and largest noise values the stream can produce. */
export const GUMBEL_MIN = gumbelFromWord(0);
export const GUMBEL_MAX = gumbelFromWord(0xffffffff);

/** Bucket of a word for GUMBEL_BUCKET_MIN/MAX: its top 10 bits. */
export const GUMBEL_BUCKET_SHIFT = 22;
const BUCKET_WIDTH = 4194304; // 2^22 words per bucket

/**
 * GUMBEL_BUCKET_MIN[x >>> 22] <= gumbelFromWord(x) <= GUMBEL_BUCKET_MAX[x >>> 22] for every word
 * x: the noise at the bottom and top of each of 1024 buckets of words, widened by 1e-9 so that
 * they stay bounds whatever the last-bit behaviour of Math.log. A sampler compares score bounds
 * from these tables (one load each) before paying for two logarithms; only the top bucket
 * reaches GUMBEL_MAX.
 */
export const GUMBEL_BUCKET_MIN = new Float64Array(1 << (32 - GUMBEL_BUCKET_SHIFT));
export const GUMBEL_BUCKET_MAX = new Float64Array(1 << (32 - GUMBEL_BUCKET_SHIFT));
for (let b = 0; b < GUMBEL_BUCKET_MAX.length; b++) {
  GUMBEL_BUCKET_MIN[b] = gumbelFromWord(b * BUCKET_WIDTH) - 1e-9;
  GUMBEL_BUCKET_MAX[b] = gumbelFromWord((b + 1) * BUCKET_WIDTH - 1) + 1e-9;
}

/** Noise levels t = FLOOR_T0 + k / FLOOR_STEPS for the word-floor table, covering [-4, 24). */
const FLOOR_T0 = -4;
const FLOOR_STEPS = 16;
const WORD_FLOOR = new Float64Array(28 * FLOOR_STEPS);
for (let k = 0, b = 0; k < WORD_FLOOR.length; k++) {
  const t = FLOOR_T0 + k / FLOOR_STEPS;
  while (b < GUMBEL_BUCKET_MAX.length && GUMBEL_BUCKET_MAX[b] < t) b++;
  WORD_FLOOR[k] = b * BUCKET_WIDTH; // 2^32 once no bucket reaches t
}

/**
 * A word floor for noise t: every word x below it has gumbelFromWord(x) < t. It is the bucket
 * floor of t rounded down to a multiple of 1/16 (one table load, no search), so it may be a
 * little below the tightest such floor. 0 for t < -4 (or NaN), where every word may reach t.
 */
export function gumbelWordFloor(t: number): number {
  const k = Math.floor((t - FLOOR_T0) * FLOOR_STEPS);
  if (!(k >= 0)) return 0;
  return k < WORD_FLOOR.length ? WORD_FLOOR[k] : TWO_32;
}

const ONE_BLOCK = new Uint32Array(4);

/** The Philox word of class j in draw d of global row r under a seed. */
export function streamWord(seed: number, row: number, draw: number, j: number): number {
  philox4x32_10(Math.floor(j / 4), draw, row, 0, seedKey0(seed), seedKey1(seed), ONE_BLOCK);
  return ONE_BLOCK[j & 3];
}

/** The Gumbel noise g(r, d, j) of the stream. */
export function gumbelAt(seed: number, row: number, draw: number, j: number): number {
  return gumbelFromWord(streamWord(seed, row, draw, j));
}

/**
 * The Philox words of classes 0..cols-1 in draw d of global row r, into out[0..cols). out may be
 * longer; its length is rounded up to whole blocks internally, using a scratch buffer only when
 * out cannot hold 4 ceil(cols / 4) words.
 */
export function streamWords(
  seed: number,
  row: number,
  draw: number,
  cols: number,
  out: Uint32Array = new Uint32Array(cols),
): Uint32Array {
  const blocks = (cols + 3) >>> 2;
  const k0 = seedKey0(seed);
  const k1 = seedKey1(seed);
  const full = blocks << 2;
  if (out.length >= full) {
    philoxBlocks(k0, k1, draw, row, 0, 0, blocks, out);
  } else {
    // Whole blocks into out, the tail block through a scratch copy.
    const whole = cols >>> 2;
    philoxBlocks(k0, k1, draw, row, 0, 0, whole, out);
    const tail = new Uint32Array(4);
    philoxBlocks(k0, k1, draw, row, 0, whole, 1, tail);
    for (let j = whole << 2; j < cols; j++) out[j] = tail[j & 3];
  }
  return out;
}

/** The Gumbel noise g(r, d, j) of classes j = 0..cols-1, into out[offset..offset + cols). */
export function gumbelNoise(
  seed: number,
  row: number,
  draw: number,
  cols: number,
  out: Float64Array = new Float64Array(cols),
  offset = 0,
): Float64Array {
  const words = streamWords(seed, row, draw, cols, new Uint32Array((cols + 3) & ~3));
  for (let j = 0; j < cols; j++) out[offset + j] = gumbelFromWord(words[j]);
  return out;
}
