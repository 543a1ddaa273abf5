import { expNonPositive } from './exp.js';
import { softmax } from './softmax.js';
import { sparsemax, type SparseMapResult } from './sparsemax.js';

/**
 * alpha-entmax(z / T) = argmax_{p in simplex} <p, z / T> + H^T_alpha(p)   (Peters, Niculae &
 * Martins 2019), the argmax mapping regularised by the Tsallis alpha-entropy:
 *   p_i = [x_i - tau]_+^(1 / (alpha - 1)),  x = (alpha - 1) (z - max z) / T,
 * with tau the unique root of f(tau) = sum_i [x_i - tau]_+^q - 1, q = 1 / (alpha - 1).
 * alpha = 1 is softmax and alpha = 2 sparsemax (both delegated, so those are exact); large alpha
 * tends to argmax.
 *
 * Root finding. x has maximum 0, so tau lies in [-1, -k^(1 - alpha)] where k counts the
 * candidates x_i > -1 (nothing at or below -1 can be in the support; the bracket ends give
 * f >= 0 and f <= 0). We run Newton's method from the left end, safeguarded by that bracket:
 * each f evaluation shrinks [lo, hi], a Newton step that leaves it is replaced by bisection,
 * and the loop stops when a step no longer moves tau by more than a few ulps (or f is exactly
 * 0). For alpha <= 2, f is convex, so Newton from the left climbs monotonically and converges
 * quadratically: about 5-15 passes where the entmax package runs 50 bisection passes (which
 * leave tau ~1e-15 off) - and every class at or below lo is dropped from later passes.
 * For alpha > 2 the bracket keeps Newton honest.
 *
 * alpha = 1.5 is then made exact like the sort-based entmax15: once Newton has isolated the
 * support S, tau is recomputed in closed form from sum_{i in S} (x_i - tau)^2 = 1:
 *   tau = mean_S - sqrt(1 / |S| - var_S)
 * so a class exactly on the threshold (entmax15 of [2, 0]) comes out exactly 0.
 *
 * Powers: y^q = exp(q log y) with y = x_i - tau in (0, 1], so q log y <= 0 and the table exp
 * applies: ~11 ns instead of ~54 ns for Math.pow in V8, with relative error about
 * q |log y| ulp, which is < 1e-13 wherever y^q is not negligible. q = 2 uses a multiply.
 * The result is normalised to sum to 1, as entmax_bisect does.
 */

const MAX_ITERS = 400;
const EPS = 2 ** -52;

export function entmax(
  data: Float64Array,
  rows: number,
  cols: number,
  alpha = 1.5,
  temperature = 1,
  out: Float64Array = new Float64Array(rows * cols),
  support: Int32Array = new Int32Array(rows),
): SparseMapResult {
  if (alpha === 1) {
    softmax(data, rows, cols, temperature, out);
    for (let r = 0, base = 0; r < rows; r++, base += cols) {
      let s = 0;
      for (let i = base; i < base + cols; i++) if (out[i] > 0) s++;
      support[r] = s;
    }
    return { probs: out, support };
  }
  if (alpha === 2) return sparsemax(data, rows, cols, temperature, out, support);

  const am1 = alpha - 1;
  const q = 1 / am1;
  const quadratic = alpha === 1.5;
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
    let k = 0;
    for (let i = base; i < end; i++) {
      const x = ((data[i] - m) / temperature) * am1;
      if (x > -1) cand[k++] = x;
    }
    let tau = quadratic ? entmax15Threshold(cand, k) : entmaxThreshold(cand, k, q, am1);

    // Write unnormalised p, then normalise.
    let sum = 0;
    let s = 0;
    for (let i = base; i < end; i++) {
      const y = ((data[i] - m) / temperature) * am1 - tau;
      let p = 0;
      if (y > 0) {
        p = quadratic ? y * y : expNonPositive(q * Math.log(y));
        if (p > 0) s++;
      }
      out[i] = p;
      sum += p;
    }
    const inv = 1 / sum;
    for (let i = base; i < end; i++) out[i] *= inv;
    support[r] = s;
  }
  return { probs: out, support };
}

/**
 * Newton from the left, safeguarded by the bracket [lo, hi], for sum_i [c_i - tau]_+^q = 1
 * over candidates c[0..k) with maximum 0 (all > -1). Reorders and shrinks c.
 */
export function entmaxThreshold(c: Float64Array, k: number, q: number, am1: number): number {
  let lo = -1;
  let hi = -Math.pow(k, -am1);
  if (!(hi > lo)) return lo; // k = 1 (or round-off): the single class takes all the mass
  let tau = lo;
  for (let it = 0; it < MAX_ITERS; it++) {
    let f = -1;
    let df = 0;
    let w = 0;
    for (let i = 0; i < k; i++) {
      const ci = c[i];
      if (ci <= lo) continue; // at or below a point with f >= 0: never in the support again
      c[w++] = ci;
      const y = ci - tau;
      if (y > 0) {
        const p = expNonPositive(q * Math.log(y));
        f += p;
        df += p / y;
      }
    }
    k = w;
    if (f === 0) return tau;
    if (f > 0) lo = tau;
    else hi = tau;
    let next = tau + f / (q * df);
    if (!(next > lo && next < hi)) next = lo + 0.5 * (hi - lo);
    const step = Math.abs(next - tau);
    tau = next;
    if (step <= 4 * EPS * Math.abs(tau) || hi - lo <= 2 * EPS * Math.abs(lo)) return tau;
  }
  return tau;
}

/**
 * alpha = 1.5 (q = 2): Newton as above with y^2 instead of a power, then the closed form over
 * the support Newton isolated, as the sort-based algorithm of Peters et al. computes it.
 */
export function entmax15Threshold(c: Float64Array, k: number): number {
  let lo = -1;
  let hi = -1 / Math.sqrt(k);
  if (!(hi > lo)) return lo;
  let tau = lo;
  for (let it = 0; it < MAX_ITERS; it++) {
    let f = -1;
    let df = 0;
    let w = 0;
    for (let i = 0; i < k; i++) {
      const ci = c[i];
      if (ci <= lo) continue;
      c[w++] = ci;
      const y = ci - tau;
      if (y > 0) {
        f += y * y;
        df += y;
      }
    }
    k = w;
    if (f === 0) break;
    if (f > 0) lo = tau;
    else hi = tau;
    let next = tau + f / (2 * df);
    if (!(next > lo && next < hi)) next = lo + 0.5 * (hi - lo);
    const step = Math.abs(next - tau);
    tau = next;
    if (step <= 4 * EPS * Math.abs(tau) || hi - lo <= 2 * EPS * Math.abs(lo)) break;
  }
  // Closed form over S = {c_i > tau}: the support Newton converged to. A class within round-off
  // of the root may fall on either side; its term (c_i - tau)^2 vanishes there, so it does not
  // move the root, and a class exactly on the threshold gets exactly 0.
  let n = 0;
  let sum = 0;
  for (let i = 0; i < k; i++) {
    if (c[i] > tau) {
      n++;
      sum += c[i];
    }
  }
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < k; i++) {
    if (c[i] > tau) {
      const d = c[i] - mean;
      ss += d * d;
    }
  }
  const delta = (1 - ss) / n;
  const exact = mean - Math.sqrt(delta > 0 ? delta : 0);
  // Trust the closed form only where it agrees with Newton's root (it always should).
  return Math.abs(exact - tau) <= 1e-12 ? exact : tau;
}
