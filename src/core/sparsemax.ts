import { exactReciprocal, scaledRow } from './temperature.js';
/**
 * sparsemax(z / T) = argmin_{p in simplex} ||p - z / T||^2  (Martins & Astudillo 2016)
 *
 * The argmax mapping regularised by the Gini entropy: the Euclidean projection onto the simplex,
 * p_i = [x_i - tau]_+ with tau the unique root of sum_i [x_i - tau]_+ = 1, x = (z - max z) / T.
 *
 * Instead of sorting every row (O(n log n), as the entmax package does) we find tau with
 * Michelot's (1986) algorithm, which is Newton's method on the convex, piecewise-linear
 * f(tau) = sum_i [x_i - tau]_+ - 1 started left of the root: tau_{t+1} = (sum_{x_i > tau_t} x_i - 1)
 * / |{x_i > tau_t}|. Iterates increase to the root, and every class at or below an iterate leaves
 * the working set for good, so each pass is over a shrinking set; in practice a handful of passes
 * (expected linear time, like Condat 2016). Two facts cut the work further:
 *  - tau >= max x - 1 = -1, so only x_i > -1 can ever be in the support: one pass with no
 *    arithmetic beyond a compare selects the candidates (a few percent of a wide logit row);
 *  - the last tau is the closed form over the final set, the same sum a sort-based
 *    implementation computes, so a class exactly on the threshold comes out exactly 0.
 * Adversarial rows that shed one class per pass are cut off after MAX_PASSES and finished by
 * sorting the remaining candidates, so the worst case stays O(n log n).
 *
 * Masked classes (-Infinity) get 0; a row with every class masked gets all zeros and support 0.
 */

/** Result of a sparse mapping: row-major probabilities and the number of non-zeros per row. */
export interface SparseMapResult {
  probs: Float64Array;
  support: Int32Array;
}

const MAX_PASSES = 64;

export function sparsemax(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature = 1,
  out: Float64Array = new Float64Array(rows * cols),
  support: Int32Array = new Int32Array(rows),
): SparseMapResult {
  const invT = exactReciprocal(temperature);
  const cand = new Float64Array(cols);
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    const end = base + cols;
    let m = -Infinity;
    for (let i = base; i < end; i++) if (data[i] > m) m = data[i];
    if (m === -Infinity) {
      out.fill(0, base, end);
      support[r] = 0;
      continue;
    }
    const { src, shift, scale } = scaledRow(data, base, end, m, temperature, invT, out);
    let k = 0;
    for (let i = base; i < end; i++) {
      const x = (src[i] - shift) * scale;
      if (x > -1) cand[k++] = x;
    }
    const tau = sparsemaxThreshold(cand, k);
    let s = 0;
    for (let i = base; i < end; i++) {
      const p = (src[i] - shift) * scale - tau;
      if (p > 0) {
        out[i] = p;
        s++;
      } else out[i] = 0;
    }
    support[r] = s;
  }
  return { probs: out, support };
}

/**
 * tau such that sum_i [c_i - tau]_+ = 1, for candidates c[0..k) whose maximum is 0.
 * Reorders (and overwrites) c.
 */
export function sparsemaxThreshold(c: Float64Array, k: number): number {
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += c[i];
    const tau = (s - 1) / k;
    let w = 0;
    for (let i = 0; i < k; i++) if (c[i] > tau) c[w++] = c[i];
    if (w === k) return tau;
    k = w;
  }
  return sortedThreshold(c, k);
}

/** The sort-based rule: the largest k with 1 + k c_(k) > sum_{j <= k} c_(j), c sorted descending. */
function sortedThreshold(c: Float64Array, k: number): number {
  const s = c.subarray(0, k).sort(); // ascending
  let cum = 0;
  let tau = 0;
  for (let j = 1; j <= k; j++) {
    const v = s[k - j];
    cum += v;
    if (1 + j * v > cum) tau = (cum - 1) / j;
    else break;
  }
  return tau;
}
