import { expNonPositive } from './exp.js';
import { softmaxRowsSimd } from './softmax-simd.js';
import { exactReciprocal, scaledRow } from './temperature.js';

/**
 * Every shape goes to the WebAssembly SIMD path (./softmax-simd.ts) where it is available, even
 * tiny ones where its fixed ~0.1 us a call costs a little more than JavaScript (0.9x at 1x16):
 * the two paths round differently in the last bits (the SIMD row sum is compensated), and a
 * row's answer must not depend on the batch it came in (a request split into chunks of rows
 * must give the same bytes). JavaScript is the fallback where WebAssembly SIMD is missing, and
 * the path of rows longer than SIMD_MAX_DOUBLES (the choice depends on the row's length alone).
 */
export const SIMD_MIN_SIZE = 1;

/**
 * softmax(z / T)_i = exp((z_i - m) / T) / sum_j exp((z_j - m) / T),  m = max_j z_j
 * log-softmax(z / T)_i = (z_i - m) / T - log sum_j exp((z_j - m) / T)
 *
 * The argmax mapping regularised by Shannon entropy; temperature as in Hinton et al. 2015.
 * Shifting by the row maximum before dividing by T (a division, not a multiplication by 1/T,
 * which overflows for subnormal T) keeps every exponent <= 0, so no input can
 * overflow: rows mixing 1e300 and 0, or -1e4 and 1e4, are exact, and an overflowing difference
 * (z_i - m = -Infinity) correctly gives probability 0. Masked classes (-Infinity) get probability
 * 0 and log-probability -Infinity. A row with every class masked gets all zeros (all -Infinity in
 * log space) rather than NaN; callers reject such rows before they get here.
 */
export function softmax(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature = 1,
  out: Float64Array = new Float64Array(rows * cols),
): Float64Array {
  const invT = exactReciprocal(temperature);
  if (rows * cols >= SIMD_MIN_SIZE && softmaxRowsSimd(data, rows, cols, temperature, invT, false, out)) return out;
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    const end = base + cols;
    let m = -Infinity;
    for (let i = base; i < end; i++) if (data[i] > m) m = data[i];
    if (m === -Infinity) {
      out.fill(0, base, end);
      continue;
    }
    const { src, shift, scale } = scaledRow(data, base, end, m, temperature, invT, out);
    // Compensated (Neumaier) sum: this path also serves rows too long for the SIMD one, where a
    // plain running sum over millions of terms would drift.
    let sum = 0;
    let comp = 0;
    for (let i = base; i < end; i++) {
      const e = expNonPositive((src[i] - shift) * scale);
      out[i] = e;
      const t = sum + e;
      comp += sum >= e ? sum - t + e : e - t + sum;
      sum = t;
    }
    sum += comp;
    const inv = 1 / sum;
    for (let i = base; i < end; i++) out[i] *= inv;
  }
  return out;
}

export function logSoftmax(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature = 1,
  out: Float64Array = new Float64Array(rows * cols),
): Float64Array {
  const invT = exactReciprocal(temperature);
  if (rows * cols >= SIMD_MIN_SIZE && softmaxRowsSimd(data, rows, cols, temperature, invT, true, out)) return out;
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    const end = base + cols;
    let m = -Infinity;
    for (let i = base; i < end; i++) if (data[i] > m) m = data[i];
    if (m === -Infinity) {
      out.fill(-Infinity, base, end);
      continue;
    }
    const { src, shift, scale } = scaledRow(data, base, end, m, temperature, invT, out);
    let sum = 0;
    let comp = 0;
    for (let i = base; i < end; i++) {
      const x = (src[i] - shift) * scale;
      out[i] = x;
      const e = expNonPositive(x);
      const t = sum + e;
      comp += sum >= e ? sum - t + e : e - t + sum;
      sum = t;
    }
    sum += comp;
    const lse = Math.log(sum);
    for (let i = base; i < end; i++) out[i] -= lse;
  }
  return out;
}
