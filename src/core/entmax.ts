import { expNonPositive } from './exp.js';
import { softmax } from './softmax.js';
import { growScratch, newScratch, rowCandidates, sparsemax, zeroRow, type SparseMapResult } from './sparsemax.js';
import { exactReciprocal } from './temperature.js';

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
  // Entries with z < m - span map to x <= -1 (see rowCandidates); the factor covers the rounding
  // of T / am1 and of the products that form x.
  const span = (temperature / am1) * (1 + 2 ** -40);
  const sc = (scratch = growScratch(scratch, cols));
  const { vals, idx, xs, ids, work } = sc;
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    const end = base + cols;
    const m = rowCandidates(data, base, end, span, vals, idx, COUNT);
    const k0 = COUNT[0];
    zeroRow(out, base, end);
    if (m === -Infinity) {
      support[r] = 0;
      continue;
    }
    // x = (alpha - 1) (z - m) / T, the same double as the old (z - m) * (1 / T) * (alpha - 1).
    let k = 0;
    for (let j = 0; j < k0; j++) {
      const d = vals[j] - m;
      const x = (invT ? d * invT : d / temperature) * am1;
      const keep = +(x > -1);
      xs[k] = x;
      ids[k] = idx[j];
      work[k] = x;
      k += keep;
    }
    const tau = quadratic ? entmax15Threshold(work, k) : entmaxThreshold(work, k, q, am1);

    // Unnormalised p of the candidates into work, then normalise (the sum is the same double as
    // over the whole row in index order: the other classes add exact zeros).
    let sum = 0;
    let s = 0;
    for (let j = 0; j < k; j++) {
      const y = xs[j] - tau;
      let p = 0;
      if (quadratic) {
        const yk = y * +(y > 0);
        p = yk * yk;
      } else if (y > 0) p = expNonPositive(q * Math.log(y));
      work[j] = p;
      sum += p;
      s += +(p > 0);
    }
    const inv = 1 / sum;
    for (let j = 0; j < k; j++) out[ids[j]] = work[j] * inv;
    support[r] = s;
  }
  return { probs: out, support };
}

let scratch = newScratch(1024);
const COUNT = new Int32Array(1);

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
 * A lower bound on tau that sheds most candidates before any power is taken (alpha < 2, q > 1).
 * For any set A with sum_A (c_i - t) >= 0, the power-mean inequality gives
 *   f(t) + 1 = sum_i [c_i - t]_+^q >= sum_A [c_i - t]_+^q >= |A|^(1 - q) (sum_A (c_i - t))^q,
 * which is 1 at t_A = mean_A - |A|^(-(alpha - 1)); so f(t_A) >= 0 and t_A <= tau. Iterating
 * A <- {c_i > t_A} (at alpha = 2 this is Michelot's algorithm) climbs towards the root using
 * only sums. Each bound is lowered by the round-off of the mean before it is used, so a class
 * at or below it is out of the support for certain. Compacts c[0..k) to the classes above the
 * bound; returns the new k and leaves the bound in `bound`.
 */
let bound = -1;
function powerMeanBound(c: Float64Array, k: number, am1: number, quadratic: boolean): number {
  let lo = -1;
  let sum = 0;
  for (let i = 0; i < k; i++) sum += c[i];
  for (let pass = 0; pass < 16 && k > 1; pass++) {
    const t = sum / k - (quadratic ? 1 / Math.sqrt(k) : Math.pow(k, -am1)) - 2 * (k + 4) * EPS;
    if (!(t > lo)) break;
    lo = t;
    let w = 0;
    let s = 0;
    for (let i = 0; i < k; i++) {
      const v = c[i];
      const keep = +(v > lo);
      c[w] = v;
      s += v * keep;
      w += keep;
    }
    if (w === k) break; // nothing shed: the next bound would be this one
    k = w;
    sum = s;
  }
  bound = lo;
  return k;
}

/**
 * Newton from the left, safeguarded by the bracket [lo, hi], for sum_i [c_i - tau]_+^q = 1
 * over candidates c[0..k) with maximum 0 (all > -1). Reorders and shrinks c.
 */
export function entmaxThreshold(c: Float64Array, k: number, q: number, am1: number): number {
  let lo = -1;
  if (am1 < 1) {
    k = powerMeanBound(c, k, am1, false);
    lo = bound;
  }
  // At tau = -k^(1 - alpha) each of the k classes left has p_i <= 1 / k, so f <= 0 there.
  let hi = -Math.pow(k, -am1);
  if (!(hi > lo)) return lo; // k = 1 (or round-off): the single class takes all the mass
  let tau = lo;
  for (let it = 0; it < MAX_ITERS; it++) {
    let f = -1;
    let d1 = 0;
    let d2 = 0;
    let w = 0;
    for (let i = 0; i < k; i++) {
      const ci = c[i];
      if (ci <= lo) continue; // at or below a point with f >= 0: never in the support again
      c[w++] = ci;
      const y = ci - tau;
      if (y > 0) {
        const p = expNonPositive(q * Math.log(y));
        const r = 1 / y;
        const pr = p * r;
        f += p;
        d1 += pr;
        d2 += pr * r;
      }
    }
    k = w;
    if (Math.abs(f) <= fTolerance(k)) return tau;
    if (f > 0) lo = tau;
    else hi = tau;
    if (hi - lo <= 2 * EPS * Math.abs(lo)) return tau;
    // Halley on h = log F, F = f + 1: h' = -q d1 / F, h'' = q (q - 1) d2 / F - h'^2; the step
    // -2 h h' / (2 h'^2 - h h'') (cubic convergence: one pass fewer than Newton on these rows),
    // Newton's -h / h' where that denominator is not positive, bisection if either leaves (lo, hi).
    const F = f + 1;
    const h = Math.log1p(f);
    const h1 = (-q * d1) / F;
    const h2 = (q * (q - 1) * d2) / F - h1 * h1;
    const den = 2 * h1 * h1 - h * h2;
    const step = den > 0 ? (-2 * h * h1) / den : -h / h1;
    tau = newtonOrBisect(tau, step, lo, hi);
  }
  return tau;
}

/**
 * alpha = 1.5 (q = 2): Newton as above with y^2 instead of a power, then the closed form over
 * the support Newton isolated, as the sort-based algorithm of Peters et al. computes it.
 */
export function entmax15Threshold(c: Float64Array, k: number): number {
  k = powerMeanBound(c, k, 0.5, true);
  if (k <= SORT_MAX) return sortedThreshold15(c, k);
  let lo = bound;
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

/** Up to this many classes left after the bound, sorting them beats Newton's passes (measured). */
const SORT_MAX = 32;

/**
 * The sort-based entmax15 threshold of Peters et al. on c[0..k) (k small: insertion sort,
 * descending): the support size is the largest n whose closed form tau_n = mean_n -
 * sqrt((1 - ss_n) / n) satisfies tau_n <= c_(n), as the entmax package selects it; tau is then
 * recomputed over that support with the two-pass variance, as the Newton path does.
 */
function sortedThreshold15(c: Float64Array, k: number): number {
  for (let i = 1; i < k; i++) {
    const v = c[i];
    let j = i - 1;
    while (j >= 0 && c[j] < v) {
      c[j + 1] = c[j];
      j--;
    }
    c[j + 1] = v;
  }
  let n = 1;
  let sum = 0;
  let sumsq = 0;
  for (let j = 1; j <= k; j++) {
    const v = c[j - 1];
    sum += v;
    sumsq += v * v;
    const mean = sum / j;
    const delta = (1 - j * (sumsq / j - mean * mean)) / j;
    const t = mean - Math.sqrt(delta > 0 ? delta : 0);
    if (t <= v) n = j;
  }
  return closedForm15(c, n);
}

/** tau = mean - sqrt((1 - sum (c_i - mean)^2) / n) over c[0..n). */
function closedForm15(c: Float64Array, n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += c[i];
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = c[i] - mean;
    ss += d * d;
  }
  const delta = (1 - ss) / n;
  return mean - Math.sqrt(delta > 0 ? delta : 0);
}
