import {
  GUMBEL_BUCKET_MAX,
  GUMBEL_BUCKET_MIN,
  GUMBEL_BUCKET_SHIFT,
  gumbelFromWord,
  gumbelNoise,
  streamWords,
} from './gumbel.js';
import { softmax } from './softmax.js';

/**
 * Gumbel-softmax / Concrete (Jang, Gu & Poole 2017; Maddison, Mnih & Teh 2017):
 *   y = softmax((z + g) / tau),   g = the stream's noise of draw d = 0 (src/core/gumbel.ts)
 * a differentiable relaxation of the Gumbel-max draw argmax_j z_j + g_j, which it approaches as
 * tau -> 0. hard = true returns the one-hot of that argmax instead: the forward value of the
 * straight-through estimator.
 *
 * Input: logits z (masked classes -Infinity: probability 0, never chosen) or probabilities pi,
 * z_j = log(pi_j / sum_i pi_i) (zero entries masked).
 *
 * The index of each row is the lowest j maximising z_j + g_j (float64), -1 if every class is
 * masked. That is argmax y in exact arithmetic, but computed on z + g rather than on y: for huge
 * tau every y_j rounds to nearly 1 / cols and an argmax of y would be decided by rounding ties.
 *
 * hard = true does not need the noise of every class, only the argmax: with bucket bounds of the
 * noise (GUMBEL_BUCKET_MIN/MAX of ./gumbel.ts) and rounding being monotone,
 * fl(z_j + lo_j) <= z_j + g_j (as computed) <= fl(z_j + hi_j), so only classes whose upper bound
 * reaches the largest lower bound can win, and only those pay for the two logarithms of g.
 *
 * Never NaN or Infinity for tau > 0 (subnormal to 1e300) and finite logits of any size: the
 * softmax shifts by the row maximum and divides by tau (./softmax.ts), so every exponent is <= 0
 * and the row maximum contributes exp(0) = 1 to the normaliser. z + g cannot overflow (|g| < 23
 * is below half an ulp of any z near the overflow threshold). A row with every class masked gets
 * all zeros.
 */

export interface GumbelSoftmaxOptions {
  /** Temperature, > 0. */
  tau: number;
  /** One-hot of the argmax instead of the relaxed sample. Default false. */
  hard?: boolean;
  /** Integer in [0, 2^53). */
  seed: number;
  /** 'logits' (default) or 'probs'. */
  input?: 'logits' | 'probs';
  /** Global index of row 0 in the request (chunked batches give identical output). Default 0. */
  rowOffset?: number;
}

export interface GumbelSoftmaxResult {
  probs: Float64Array;
  indices: Int32Array;
}

export function gumbelSoftmax(
  data: Float64Array,
  rows: number,
  cols: number,
  options: GumbelSoftmaxOptions,
  probs: Float64Array = new Float64Array(rows * cols),
  indices: Int32Array = new Int32Array(rows),
): GumbelSoftmaxResult {
  const { tau, seed } = options;
  const hard = options.hard ?? false;
  const probsInput = options.input === 'probs';
  const rowOffset = options.rowOffset ?? 0;
  if (hard) {
    hardRows(data, rows, cols, seed, probsInput, rowOffset, probs, indices);
    return { probs, indices };
  }
  // z + g of one row; the noise is written here first, then the logits added in place.
  const v = new Float64Array(cols);
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    gumbelNoise(seed, r + rowOffset, 0, cols, v);
    let sum = 0;
    if (probsInput) for (let j = 0; j < cols; j++) if (data[base + j] > 0) sum += data[base + j];
    let best = -1;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) {
      const d = data[base + j];
      const zj = probsInput ? (d > 0 ? Math.log(d / sum) : -Infinity) : d;
      const vj = zj + v[j];
      v[j] = vj;
      if (vj > max) {
        max = vj;
        best = j;
      }
    }
    indices[r] = best;
    softmax(v, 1, cols, tau, probs.subarray(base, base + cols));
  }
  return { probs, indices };
}

/** hard = true: the index (see the file comment) and its one-hot, per row. */
function hardRows(
  data: Float64Array,
  rows: number,
  cols: number,
  seed: number,
  probsInput: boolean,
  rowOffset: number,
  probs: Float64Array,
  indices: Int32Array,
): void {
  const words = new Uint32Array((cols + 3) & ~3);
  const z = new Float64Array(cols);
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    streamWords(seed, r + rowOffset, 0, cols, words);
    let sum = 0;
    if (probsInput) for (let j = 0; j < cols; j++) if (data[base + j] > 0) sum += data[base + j];
    // The largest lower bound of z + g; a finite start keeps masked classes (-Infinity) out.
    let maxLo = -Number.MAX_VALUE;
    for (let j = 0; j < cols; j++) {
      const d = data[base + j];
      const zj = probsInput ? (d > 0 ? Math.log(d / sum) : -Infinity) : d;
      z[j] = zj;
      const lo = zj + GUMBEL_BUCKET_MIN[words[j] >>> GUMBEL_BUCKET_SHIFT];
      if (lo > maxLo) maxLo = lo;
    }
    let best = -1;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) {
      const w = words[j];
      if (z[j] + GUMBEL_BUCKET_MAX[w >>> GUMBEL_BUCKET_SHIFT] < maxLo) continue;
      const vj = z[j] + gumbelFromWord(w);
      if (vj > max) {
        max = vj;
        best = j;
      }
    }
    indices[r] = best;
    probs.fill(0, base, base + cols);
    if (best >= 0) probs[base + best] = 1;
  }
}
