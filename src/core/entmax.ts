import { expNonPositive } from './exp.js';
import { softmax } from './softmax.js';
import { sparsemax, type SparseMapResult } from './sparsemax.js';
import { exactReciprocal, scaledRow } from './temperature.js';

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
 * f >= 0 and f <= 0). We run Newton's method on h(tau) = log sum_i [x_i - tau]_+^q (root 0)
 * from the left end, safeguarded by that bracket: each evaluation shrinks [lo, hi], a step that
 * leaves it (or stalls) is replaced by bisection, and the loop stops when sum p = 1 to round-off
 * or the bracket is a few ulps wide. The log makes the function nearly linear when alpha is near
 * 1 (where sum p behaves like an exponential), so from a far start it takes ~5 passes on
 * standard-normal rows of 1000-32000 classes where Newton on sum p itself takes 8-11 (measured),
 * and the entmax package runs 50 bisection passes (which leave tau ~1e-15 off). Every class at or
 * below lo leaves later passes for good.
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
  const invT = exactReciprocal(temperature);
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
    const { src, shift, scale } = scaledRow(data, base, end, m, temperature, invT, out);
    let k = 0;
    for (let i = base; i < end; i++) {
      const x = (src[i] - shift) * scale * am1;
      if (x > -1) cand[k++] = x;
    }
    let tau = quadratic ? entmax15Threshold(cand, k) : entmaxThreshold(cand, k, q, am1);

    // Write unnormalised p, then normalise.
    let sum = 0;
    let s = 0;
    for (let i = base; i < end; i++) {
      const y = (src[i] - shift) * scale * am1 - tau;
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
 * Stop when sum p = 1 to within the round-off of summing k terms: every p_i moves with tau in the
 * same direction, so no p_i is then off by more than |f|. (A test on the step size alone is not
 * enough: for alpha > 2 the terms have infinite slope at their kinks, and Newton can crawl far
 * from the root.)
 */
function fTolerance(k: number): number {
  return (k + 4) * EPS;
}

/** The Newton point tau - f / f', or the bracket's midpoint if that leaves (lo, hi) or stalls. */
function newtonOrBisect(tau: number, step: number, lo: number, hi: number): number {
  const next = tau + step;
  return next > lo && next < hi && next !== tau ? next : lo + 0.5 * (hi - lo);
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
    if (Math.abs(f) <= fTolerance(k)) return tau;
    if (f > 0) lo = tau;
    else hi = tau;
    if (hi - lo <= 2 * EPS * Math.abs(lo)) return tau;
    tau = newtonOrBisect(tau, (Math.log1p(f) * (f + 1)) / (q * df), lo, hi);
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
    if (Math.abs(f) <= fTolerance(k)) break;
    if (f > 0) lo = tau;
    else hi = tau;
    if (hi - lo <= 2 * EPS * Math.abs(lo)) break;
    tau = newtonOrBisect(tau, (Math.log1p(f) * (f + 1)) / (2 * df), lo, hi);
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
