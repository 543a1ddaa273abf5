import { entmax15ShortSimd } from './entmax15-simd.js';
import { entmaxShortSimd, HOUSEHOLDER_Q, POWERS_CHUNK, powerBuffers, simdPowers } from './entmax-simd.js';
import { expNonPositive } from './exp.js';
import { powUnit } from './pow.js';
import { softmax } from './softmax.js';
import { newScratch, rowCandidates, scratchFor, SHORT_ROW, SIMD_MIN_ROWS, sparsemax, zeroRow, type SparseMapResult } from './sparsemax.js';
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
 * leaves it is replaced by bisection, one that rounds back onto tau by the next double towards
 * the root, and the loop stops when sum p = 1 to round-off or the bracket is a few ulps wide
 * (adjacent doubles at the latest). The log makes the function nearly linear when alpha is near
 * 1 (where sum p behaves like an exponential), so from a far start it takes ~5 passes on
 * standard-normal rows of 1000-32000 classes where Newton on sum p itself takes 8-11 (measured),
 * and the entmax package runs 50 bisection passes (which leave tau ~1e-15 off). Every class at or
 * below lo leaves later passes for good. Outside alpha = 1.5 the step is Householder's of third
 * order (Halley's or Newton's where it points the wrong way; see entmaxThreshold), which needs
 * one more sum, d3 = sum p / y^3: from the power-mean bound below, 3 passes on 94% of
 * standard-normal rows of 10 classes at alpha = 1.3 (Halley: 21%) and 22% of rows of 1000
 * (Halley: 2%), the rest 4 (measured).
 *
 * alpha = 1.5 is then made exact like the sort-based entmax15: once Newton has isolated the
 * support S, tau is recomputed in closed form from sum_{i in S} (x_i - tau)^2 = 1:
 *   tau = mean_S - sqrt(1 / |S| - var_S)
 * so a class exactly on the threshold (entmax15 of [2, 0]) comes out exactly 0.
 *
 * Powers: y^q = 2^(q log2 y) with y = x_i - tau in (0, 1] by ./pow.ts's powUnit (a table log2
 * and a table 2^t, no division): ~11-12 ns where expNonPositive(q Math.log(y)) took ~16 and
 * Math.pow ~54 in V8, with relative error within (2 |q ln y| + 3) ulp (as before), which is
 * < 1e-13 wherever y^q is not negligible. q = 2 uses a multiply.
 * The result is normalised to sum to 1, as entmax_bisect does.
 *
 * A proven bound on the work. Every solver (this one, the alpha = 1.5 one, the near-1 one)
 * makes at most NEWTON_PASSES = 24 Newton/Halley/Householder passes and then bisects the bracket on the
 * integer order of doubles (keyMidpoint): each such pass halves the doubles left strictly
 * inside, and a bracket within [-1, 0] (tau) or [0, 16] (s below) holds fewer than 2^62, so at
 * most BISECT_PASSES = 62 more passes reach adjacent doubles. Hence <= MAX_SOLVER_PASSES = 86
 * passes over at most k <= cols candidates per row, plus the candidate scan, at most 16
 * power-mean passes (sums only) and the final pass forming p. Standard-normal rows of 10-1000
 * classes take 3-4 passes on average below alpha = 2 and never bisect; above 2 the root often
 * sits within an ulp of a kink, where |f'| is unbounded: 3.6-5.6 passes on average at alpha = 3,
 * 5.2-8.7 at 5 and 6.1-11.9 at 10, where 12-22% of rows reach the bisection phase (measured
 * one row at a time, 500-2000 rows a shape; a reparametrisation by the smallest p in the
 * support would be well-conditioned there, and is not done yet).
 *
 * Closed forms (no solver pass): with kt candidates tied at the maximum and every other one at
 * or below tau_t = -kt^(1 - alpha), tau_t is the root and the tied classes get exactly 1 / kt.
 * That covers a single live class, all-equal rows and huge alpha (tau_t -> 0 as alpha grows,
 * and underflows there, so no power is taken); a tied maximum used to run all 400 passes of the
 * old iteration cap (~85 ms for 16000 classes).
 *
 * Short rows (cols <= SHORT_ROW, at least SIMD_MIN_ROWS rows): alpha = 1.5 in ./entmax15-simd.ts,
 * any other alpha of the x form in ./entmax-simd.ts, four rows at a time with this path's
 * arithmetic (./pow.ts's powers, Math.log1p reproduced from fdlibm), so the same doubles; the
 * rare rows that would bisect are handed back to this path.
 *
 * Long rows, alpha not 1.5 (measured on standard-normal rows at alpha = 1.3; the doubles are
 * those of the plain loops, only the work differs): after a row with at least 1/8 of its classes
 * as candidates, the candidates are found by the maximum and one branch-free pass
 * (rowCandidates' running threshold mispredicts on about half the classes there; with few
 * candidates it is the cheaper); the power-mean bound sums in four partial sums past SHORT_ROW
 * candidates and stops once a pass sheds under 1/8 of them (8.5 passes a row on 1000 classes
 * before); a solver pass of at least entmaxTuning.simdPowersMin classes takes its powers (of
 * y > 0 only) from the SIMD kernel a chunk at a time, its loops without data-dependent
 * branches; and the output is the last pass's p, not a pass of its own.
 *
 * Near alpha = 1 (1 < alpha < 1 + NEAR_ONE, NEAR_ONE = 1/64). With eps = alpha - 1 the x form
 * is ill-conditioned: tau is within eps log k of -1, so its rounding (an ulp of 1) is raised to
 * the power q = 1/eps, and p was off by up to 6e-2 at eps = 2^-52. Writing
 * tau = -1 + eps s and u = (z - max z) / T instead gives
 *   p_i = (1 + eps (u_i - s))_+^(1/eps) = exp(E_i),  E_i = q log1p(eps (u_i - s)),
 * which is softmax exp(u_i - s) at eps = 0, and s (the root of sum_i p_i = 1, in [0, log k])
 * is found by Halley on log sum p from s0 = log sum exp(u_i) (the eps = 0 root; 2-3 passes).
 * Error: u_i - s, the product with eps, log1p and the product with q each round once, so E_i
 * is within ~4 |E_i| u of exact (u = 2^-53; log1p keeps the relative precision of its
 * argument), and p_i = exp(E_i) within (4 |E_i| + 2) u relative; since p |E| = p |log p| <= 1/e
 * that is <= ~2.2 u absolute. The compensated (Neumaier) sum adds ~2u relative, the rounding of
 * u_i itself (the same as softmax's) p_i |u_i| u. The root's error ds leaves, after
 * normalisation, p_i eps (v_i - mean v) ds (v = u - s; the common factor cancels): it vanishes
 * with eps. Altogether |p_i - exact| <= ~6u + O(eps k u), checked against a 50-digit oracle
 * (test/core/entmax.test.ts: <= 1e-12 eps + 1e-15 for eps in [2^-52, 1e-2]). Above the switch
 * the x form keeps its outputs: its error there is about q u p^(2 - alpha) <= 64 u per class
 * (1.1e-16 measured at eps = 1/128..1/16 against the oracle), and both sides of the switch
 * agree to 1e-14. Classes with u < -745.2 get exactly 0 (exp underflows) and are dropped.
 */

const EPS = 2 ** -52;

/** Below this alpha - 1 the near-1 parametrisation is used (see "Near alpha = 1" above). */
export const NEAR_ONE = 1 / 64;
/** Newton (Halley) passes of a threshold solver before it falls back to bisection. */
export const NEWTON_PASSES = 24;
/**
 * Bisection passes that close any bracket the solvers start from to two adjacent doubles: a
 * bracket inside [-1, 0] or [0, 16] holds fewer than 2^62 doubles, and each pass halves them.
 */
export const BISECT_PASSES = 62;
/** The most evaluations of f (passes over the candidates) any threshold solver makes for a row. */
export const MAX_SOLVER_PASSES = NEWTON_PASSES + BISECT_PASSES;

/**
 * The most solver passes any row took in the last call to entmax (0 when every row was closed
 * form): a diagnostic for tests and benchmarks, never above MAX_SOLVER_PASSES.
 */
export const entmaxStats = { passes: 0 };
let rowPasses = 0;

export function entmax(
  data: Float64Array,
  rows: number,
  cols: number,
  alpha = 1.5,
  temperature = 1,
  out: Float64Array = new Float64Array(rows * cols),
  support: Int32Array = new Int32Array(rows),
): SparseMapResult {
  entmaxStats.passes = 0;
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
  if (am1 < NEAR_ONE) return entmaxNearOne(data, rows, cols, am1, temperature, invT, out, support);
  const q = 1 / am1;
  const quadratic = alpha === 1.5;
  // Short rows at alpha = 1.5: the same arithmetic four rows at a time (./entmax15-simd.ts).
  if (quadratic && cols <= SHORT_ROW && rows >= SIMD_MIN_ROWS && entmax15ShortSimd(data, rows, cols, temperature, invT, out, support)) {
    return { probs: out, support };
  }
  // Short rows at another alpha: the same arithmetic four rows at a time (./entmax-simd.ts);
  // the few rows it hands back (support -1, input left in out) take the path below.
  if (!quadratic && cols <= SHORT_ROW && rows >= SIMD_MIN_ROWS) {
    const most = entmaxShortSimd(data, rows, cols, temperature, invT, am1, q, out, support);
    if (most >= 0) {
      for (let r = 0, base = 0; r < rows; r++, base += cols) {
        if (support[r] !== -1) continue;
        const row = ROW.subarray(0, cols);
        row.set(out.subarray(base, base + cols));
        entmaxRows(row, 1, cols, am1, q, quadratic, temperature, invT, out.subarray(base, base + cols), support.subarray(r, r + 1));
      }
      if (most > entmaxStats.passes) entmaxStats.passes = most;
      return { probs: out, support };
    }
  }
  entmaxRows(data, rows, cols, am1, q, quadratic, temperature, invT, out, support);
  return { probs: out, support };
}

/** A handed-back row, copied out of `out` (which holds its input) before the path rewrites it. */
const ROW = new Float64Array(SHORT_ROW);

/** The general path over rows of data (x form: alpha - 1 >= NEAR_ONE, alpha not 2). */
function entmaxRows(
  data: Float64Array,
  rows: number,
  cols: number,
  am1: number,
  q: number,
  quadratic: boolean,
  temperature: number,
  invT: number,
  out: Float64Array,
  support: Int32Array,
): void {
  // Entries with z < m - span map to x <= -1 (see rowCandidates); the factor covers the rounding
  // of T / am1 and of the products that form x.
  const span = (temperature / am1) * (1 + 2 ** -40);
  const { use: sc, keep } = scratchFor(scratch, cols);
  scratch = keep;
  const { vals, idx, xs, ids, work } = sc;
  // Whether the last row had at least 1/8 of its classes as candidates: then the branch-free
  // scan (both scans give the same candidates and x; only their speed differs). The first row
  // takes rowCandidates, which costs less where few are (1 x 50257 at alpha >= 1.7: 0.07 ms
  // against 0.22 for the branch-free scan, measured).
  let dense = false;
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    const end = base + cols;
    let k = 0;
    let kt = 0;
    if (quadratic || !dense) {
      // alpha = 1.5, or few candidates (as in the last row): rowCandidates' branch is rarely
      // taken, so cheap.
      const m = rowCandidates(data, base, end, span, vals, idx, COUNT);
      const k0 = COUNT[0];
      zeroRow(out, base, end);
      if (m === -Infinity) {
        support[r] = 0;
        continue;
      }
      // x = (alpha - 1) (z - m) / T, the same double as the old (z - m) * (1 / T) * (alpha - 1).
      if (quadratic) {
        for (let j = 0; j < k0; j++) {
          const d = vals[j] - m;
          const x = (invT ? d * invT : d / temperature) * am1;
          const keep = +(x > -1);
          xs[k] = x;
          ids[k] = idx[j];
          work[k] = x;
          k += keep;
          kt += +(x === 0);
        }
      } else {
        for (let j = 0; j < k0; j++) {
          const d = vals[j] - m;
          const x = (invT ? d * invT : d / temperature) * am1;
          idx[k] = idx[j];
          work[k] = x;
          k += +(x > -1);
          kt += +(x === 0);
        }
        dense = 8 * k >= cols;
      }
    } else {
      // The same candidates (x > -1, in index order) and x without rowCandidates' data-dependent
      // branch, which mispredicts on about half the classes where many are candidates (alpha =
      // 1.3 on standard-normal rows: 54%): the maximum, then every class.
      let m = -Infinity;
      for (let i = base; i < end; i++) {
        const z = data[i];
        if (z > m) m = z;
      }
      if (m === -Infinity) {
        zeroRow(out, base, end);
        support[r] = 0;
        continue;
      }
      if (invT) {
        for (let i = base; i < end; i++) {
          const x = (data[i] - m) * invT * am1;
          idx[k] = i;
          work[k] = x;
          k += +(x > -1);
          kt += +(x === 0);
        }
      } else {
        for (let i = base; i < end; i++) {
          const x = ((data[i] - m) / temperature) * am1;
          idx[k] = i;
          work[k] = x;
          k += +(x > -1);
          kt += +(x === 0);
        }
      }
      zeroRow(out, base, end); // after reading the row: out may be data
      dense = 8 * k >= cols;
    }
    rowPasses = 0;
    // A single maximum takes all the mass only if it is the only candidate (the rest are > -1).
    if (kt > 1 || k === 1) kt = tiedSupport(work, k, am1, quadratic);
    else kt = 0;
    if (kt > 0) {
      // The classes at the maximum share the mass: 1 / kt each, whatever alpha (for huge alpha
      // their y = -tau underflows, so no power is taken).
      const p = 1 / kt;
      if (quadratic) {
        for (let j = 0; j < k; j++) if (xs[j] === 0) out[ids[j]] = p;
      } else {
        for (let j = 0; j < k; j++) if (work[j] === 0) out[idx[j]] = p;
      }
      support[r] = kt;
      continue;
    }
    if (!quadratic) {
      // The solver moves the columns (idx) along with the classes it keeps and leaves their
      // powers at its tau (the last pass's) in vals; the sum adds them in the same order as over
      // every candidate (the others add exact zeros).
      entmaxThreshold(work, k, q, am1, idx, vals);
      if (rowPasses > entmaxStats.passes) entmaxStats.passes = rowPasses;
      let sum = 0;
      let s = 0;
      for (let j = 0; j < lastK; j++) {
        const p = vals[j];
        sum += p;
        s += +(p > 0);
      }
      const inv = 1 / sum;
      for (let j = 0; j < lastK; j++) out[idx[j]] = vals[j] * inv;
      support[r] = s;
      continue;
    }
    const tau = entmax15Threshold(work, k);
    if (rowPasses > entmaxStats.passes) entmaxStats.passes = rowPasses;

    // Unnormalised p of the candidates into work, then normalise (the sum is the same double as
    // over the whole row in index order: the other classes add exact zeros).
    let sum = 0;
    let s = 0;
    for (let j = 0; j < k; j++) {
      const y = xs[j] - tau;
      const yk = y * +(y > 0);
      const p = yk * yk;
      work[j] = p;
      sum += p;
      s += +(p > 0);
    }
    const inv = 1 / sum;
    for (let j = 0; j < k; j++) out[ids[j]] = work[j] * inv;
    support[r] = s;
  }
}

let scratch = newScratch(1024);
const COUNT = new Int32Array(1);

/**
 * 1 < alpha < 1 + NEAR_ONE: p_i = exp(E_i), E_i = q log1p(eps (u_i - s)), normalised by a
 * compensated sum (see "Near alpha = 1" above).
 */
function entmaxNearOne(
  data: Float64Array,
  rows: number,
  cols: number,
  eps: number,
  temperature: number,
  invT: number,
  out: Float64Array,
  support: Int32Array,
): SparseMapResult {
  const q = 1 / eps;
  // As in entmax: entries with eps (z - m) / T <= -1 are out (1 + eps (u - s) <= 0 for s >= 0).
  // For tiny eps and huge T the span overflows to Infinity, which keeps every entry.
  const span = (temperature / eps) * (1 + 2 ** -40);
  const { use: sc, keep } = scratchFor(scratch, cols);
  scratch = keep;
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
    // u = (z - m) / T, the same double as softmax forms. A class with u < -745.2 gets exactly 0
    // (E <= u - s <= u, and exp underflows there), so it is left out with the rest.
    let k = 0;
    for (let j = 0; j < k0; j++) {
      const d = vals[j] - m;
      const u = invT ? d * invT : d / temperature;
      const keep = +(u * eps > -1 && u >= -745.2);
      xs[k] = u;
      ids[k] = idx[j];
      work[k] = u;
      k += keep;
    }
    rowPasses = 0;
    const s = nearOneShift(work, k, eps, q);
    if (rowPasses > entmaxStats.passes) entmaxStats.passes = rowPasses;
    let sum = 0;
    let comp = 0;
    let n = 0;
    for (let j = 0; j < k; j++) {
      const t = eps * (xs[j] - s);
      const p = t > -1 ? expNonPositive(q * Math.log1p(t)) : 0;
      work[j] = p;
      const next = sum + p;
      comp += sum >= p ? sum - next + p : p - next + sum;
      sum = next;
      n += +(p > 0);
    }
    const inv = 1 / (sum + comp);
    for (let j = 0; j < k; j++) out[ids[j]] = work[j] * inv;
    support[r] = n;
  }
  return { probs: out, support };
}

/**
 * The shift s of the near-1 parametrisation: the root of F(s) = sum_j exp(q log1p(eps (c_j - s)))
 * = 1 over candidates c[0..k) with maximum 0, in [0, log k] (F(0) >= 1: the maximum contributes
 * exactly 1; F(log k) <= 1 since (1 - eps t)^(1/eps) <= e^-t). Newton on log F from
 * s0 = log sum_j exp(c_j), the root at eps = 0: log F is linear in s there, and its curvature is
 * O(eps), so two or three passes reach round-off. Safeguarded and bounded like entmaxThreshold.
 */
function nearOneShift(c: Float64Array, k: number, eps: number, q: number): number {
  let e = 0;
  let tied = true;
  for (let j = 0; j < k; j++) {
    e += expNonPositive(c[j]);
    tied &&= c[j] === 0;
  }
  // Every class at the maximum: each gets exactly 1 before normalisation, so 1 / k after.
  if (tied) return 0;
  let lo = 0;
  let hi = Math.log(k);
  let s = Math.min(Math.log(e), hi);
  const tol = fTolerance(k);
  for (let it = 1; ; it++) {
    let F = 0;
    let comp = 0;
    let d1 = 0;
    let d2 = 0;
    for (let j = 0; j < k; j++) {
      const t = eps * (c[j] - s);
      if (t > -1) {
        const p = expNonPositive(q * Math.log1p(t));
        const next = F + p;
        comp += F >= p ? F - next + p : p - next + F;
        F = next;
        const r = 1 / (1 + t);
        const pr = p * r;
        d1 += pr;
        d2 += pr * r;
      }
    }
    F += comp;
    rowPasses = it;
    const g = F - 1;
    if (Math.abs(g) <= tol) return s;
    if (g > 0) lo = s;
    else hi = s;
    if (hi - lo <= 2 * EPS * hi) return s;
    if (it >= NEWTON_PASSES) {
      const mid = keyMidpoint(lo, hi);
      if (mid === lo || mid === hi) return s;
      s = mid;
      continue;
    }
    // Halley on G = log F: F' = -d1 and F'' = (1 - eps) d2 (p_j' = -p_j / y_j, y_j' = -eps), so
    // G' = -d1 / F, G'' = (1 - eps) d2 / F - G'^2; Newton's step where Halley's denominator is
    // not positive.
    const G = Math.log(F);
    const g1 = -d1 / F;
    const g2 = ((1 - eps) * d2) / F - g1 * g1;
    const den = 2 * g1 * g1 - G * g2;
    s = newtonOrBisect(s, den > 0 ? (-2 * G * g1) / den : -G / g1, lo, hi, g > 0);
  }
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

/**
 * The next point of a safeguarded Newton iteration with bracket (lo, hi): the Newton point
 * tau + step if it lies inside; if it rounds back to tau, the next double towards the root
 * (`up`: the root is above tau), which closes the bracket to adjacent doubles on the next pass
 * when tau is within an ulp of the root (near a kink, where |f'| is huge, |f| may never get
 * within its tolerance); otherwise the bracket's midpoint.
 */
function newtonOrBisect(tau: number, step: number, lo: number, hi: number, up: boolean): number {
  const next = tau + step;
  if (next > lo && next < hi && next !== tau) return next;
  if (next === tau) {
    const adj = nextDouble(tau, up);
    if (adj > lo && adj < hi) return adj;
  }
  return lo + 0.5 * (hi - lo);
}

// Doubles ordered as integers: key(x) = the bits of |x|, negated for negative x (both zeros: 0).
const KEY_F = new Float64Array(1);
const KEY_I = new BigInt64Array(KEY_F.buffer);
const SIGN_BIT = -(1n << 63n);

function keyOf(x: number): bigint {
  KEY_F[0] = x;
  const b = KEY_I[0];
  return b < 0n ? -(b & 0x7fffffffffffffffn) : b;
}

function fromKey(key: bigint): number {
  KEY_I[0] = key < 0n ? -key | SIGN_BIT : key;
  return KEY_F[0];
}

/** The neighbouring double of x above (up) or below it. */
function nextDouble(x: number, up: boolean): number {
  return fromKey(keyOf(x) + (up ? 1n : -1n));
}

/**
 * The median double of the bracket [lo, hi] (lo < hi): the doubles strictly inside split into
 * halves that differ by at most one, so each bisection pass at least halves their number (the
 * bound BISECT_PASSES rests on this). Returns lo or hi when none lies strictly inside.
 */
export function keyMidpoint(lo: number, hi: number): number {
  if (lo < 0 && hi > 0) return fromKey((keyOf(lo) + keyOf(hi)) >> 1n); // never in the solvers
  // Same sign (the solvers' brackets): halve the sum of the magnitudes' bit patterns word by
  // word, in exact integer arithmetic on doubles (BigInt costs ~100 ns a call).
  KEY_F[0] = lo;
  const aHi = KEY_W[HI] & 0x7fffffff;
  const aLo = KEY_W[LO];
  KEY_F[0] = hi;
  const bHi = KEY_W[HI] & 0x7fffffff;
  let sLo = aLo + KEY_W[LO];
  let sHi = aHi + bHi;
  if (sLo >= TWO_32) {
    sLo -= TWO_32;
    sHi += 1;
  }
  KEY_W[LO] = Math.floor(sLo / 2) + (sHi % 2) * 2 ** 31;
  KEY_W[HI] = (Math.floor(sHi / 2) | (hi <= 0 ? 0x80000000 : 0)) >>> 0;
  return KEY_F[0];
}

const KEY_W = new Uint32Array(KEY_F.buffer);
const LO = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 0 : 1;
const HI = 1 - LO;
const TWO_32 = 2 ** 32;

/**
 * The closed form for rows whose maximum is tied: with kt candidates at x = 0 and every other one
 * at or below tau_t = -kt^(1 - alpha), f(tau_t) = kt (kt^(1 - alpha))^q - 1 = 0, so tau_t is
 * the root and the tied classes share the mass, 1 / kt each. Covers a single live class, an
 * all-equal row, and huge alpha (where tau_t underflows towards 0 and any gap below the maximum
 * suffices). Returns kt when it applies, else 0. Deciding c2 <= tau_t with tau_t rounded is
 * exact up to that rounding: a class within an ulp of tau_t would get [c2 - tau_t]^q, below
 * 1e-15 for alpha <= 2, and beyond that the row is as ill-conditioned as the test suite's
 * comment on near-ties says (an ulp of input moves p by O(1)).
 */
function tiedSupport(c: Float64Array, k: number, am1: number, quadratic: boolean): number {
  let kt = 0;
  let c2 = -Infinity;
  for (let i = 0; i < k; i++) {
    const v = c[i];
    if (v === 0) kt++;
    else if (v > c2) c2 = v;
  }
  if (kt === k) return kt;
  const tauT = quadratic ? -1 / Math.sqrt(kt) : -Math.pow(kt, -am1);
  return c2 <= tauT ? kt : 0;
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
/**
 * On long rows the power-mean bound stops after a pass that sheds fewer than 1 / 2^STOP_SHIFT
 * of its classes: a pass costs a few ns a class, a class left in costs a power or two in the
 * solver's first passes (1024 x 1000 at alpha = 1.3: 8.5 passes a row before, measured faster
 * with the stop at 1/8 than at 1/16, 1/4 or none).
 */
const STOP_SHIFT = 3;
/** sum of c[0..k) in four partial sums. */
function sum4(c: Float64Array, k: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < k; i += 4) {
    s0 += c[i];
    s1 += c[i + 1];
    s2 += c[i + 2];
    s3 += c[i + 3];
  }
  for (; i < k; i++) s0 += c[i];
  return s0 + s1 + (s2 + s3);
}
/**
 * simdPowersMin: from this many candidates a pass takes its powers from the SIMD kernel; on rows
 * of 40-500 classes (alpha = 1.3) 10-15% faster than the scalar loop with 16, about even with
 * 32-128 (measured, noisily). Tests set it to Infinity to compare with the scalar loop.
 */
export const entmaxTuning = { simdPowersMin: 16 };
/** The classes entmaxThreshold left, with their powers. */
let lastK = 0;
function powerMeanBound(c: Float64Array, k: number, am1: number, quadratic: boolean, at: Int32Array | null = null): number {
  let lo = -1;
  let sum = 0;
  const long = at !== null && k > SHORT_ROW;
  if (long) sum = sum4(c, k);
  else for (let i = 0; i < k; i++) sum += c[i];
  for (let pass = 0; pass < 16 && k > 1; pass++) {
    const t = sum / k - (quadratic ? 1 / Math.sqrt(k) : Math.pow(k, -am1)) - 2 * (k + 4) * EPS;
    if (!(t > lo)) break;
    lo = t;
    let w = 0;
    let s = 0;
    if (at === null) {
      for (let i = 0; i < k; i++) {
        const v = c[i];
        const keep = +(v > lo);
        c[w] = v;
        s += v * keep;
        w += keep;
      }
    } else if (long) {
      // Four partial sums (one chain of adds was the pass's bound on long rows); rows of at most
      // SHORT_ROW candidates keep one, as ./entmax-simd.ts does.
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let i = 0;
      for (; i + 3 < k; i += 4) {
        const v0 = c[i];
        const v1 = c[i + 1];
        const v2 = c[i + 2];
        const v3 = c[i + 3];
        const a0 = at[i];
        const a1 = at[i + 1];
        const a2 = at[i + 2];
        const a3 = at[i + 3];
        const k0 = +(v0 > lo);
        const k1 = +(v1 > lo);
        const k2 = +(v2 > lo);
        const k3 = +(v3 > lo);
        c[w] = v0;
        at[w] = a0;
        w += k0;
        c[w] = v1;
        at[w] = a1;
        w += k1;
        c[w] = v2;
        at[w] = a2;
        w += k2;
        c[w] = v3;
        at[w] = a3;
        w += k3;
        s += v0 * k0;
        s1 += v1 * k1;
        s2 += v2 * k2;
        s3 += v3 * k3;
      }
      for (; i < k; i++) {
        const v = c[i];
        const keep = +(v > lo);
        c[w] = v;
        at[w] = at[i];
        s += v * keep;
        w += keep;
      }
      s = s + s1 + (s2 + s3);
      if (w > k - (k >> STOP_SHIFT)) {
        k = w;
        sum = s;
        break;
      }
    } else {
      for (let i = 0; i < k; i++) {
        const v = c[i];
        const keep = +(v > lo);
        c[w] = v;
        at[w] = at[i];
        s += v * keep;
        w += keep;
      }
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
 * over candidates c[0..k) with maximum 0 (all > -1). Shrinks c to the classes above the last
 * lo (in their order) and moves their columns `at` along; leaves their powers at the tau
 * returned (the last pass's, 0 where c_i <= tau) in p and their count in `lastK`.
 */
export function entmaxThreshold(c: Float64Array, k: number, q: number, am1: number, at: Int32Array, p: Float64Array): number {
  let lo = -1;
  if (am1 < 1) {
    k = powerMeanBound(c, k, am1, false, at);
    lo = bound;
  }
  // At tau = -k^(1 - alpha) each of the k classes left has p_i <= 1 / k, so f <= 0 there.
  let hi = -Math.pow(k, -am1);
  if (!(hi > lo)) {
    // k = 1 (or round-off): the single class takes all the mass; no pass, the powers at lo
    for (let i = 0; i < k; i++) {
      const y = c[i] - lo;
      p[i] = y > 0 ? powUnit(y, q) : 0;
    }
    lastK = k;
    return lo;
  }
  let tau = lo;
  const qq1 = q * (q - 1);
  const qq2 = -q * (q - 1) * (q - 2);
  for (let it = 1; ; it++) {
    let f = -1;
    let d1 = 0;
    let d2 = 0;
    let d3 = 0;
    let w = 0;
    if (k >= entmaxTuning.simdPowersMin && powerBuffers !== null) {
      // The same pass with the powers (and 1 / y) taken by the SIMD kernel a chunk at a time:
      // the same doubles (./pow.ts), summed in the same order.
      const { y: Y, p: P, r: R } = powerBuffers;
      for (let i = 0; i < k; ) {
        const w0 = w;
        // Without data-dependent branches (between two passes' tau, y > 0 is a coin toss):
        // classes at or below lo are written over, and so is y <= 0 in Y (whose power would
        // be 0); below, a class with y <= 0 reads the next power (finite: one taken this call,
        // or the pad's) times 0, so the sums add exact zeros where the scalar loop skips.
        let n = 0;
        for (; i < k && w - w0 < POWERS_CHUNK; i++) {
          const ci = c[i];
          c[w] = ci;
          at[w] = at[i];
          const y = ci - tau;
          Y[n] = y;
          w += +(ci > lo);
          n += +(y > 0);
        }
        simdPowers(n, q);
        for (let j = w0, m = 0; j < w; j++) {
          const pos = +(c[j] - tau > 0);
          const pi = P[m] * pos;
          const r = R[m];
          m += pos;
          const pr = pi * r;
          const prr = pr * r;
          f += pi;
          d1 += pr;
          d2 += prr;
          d3 += prr * r;
          p[j] = pi;
        }
      }
    } else {
      for (let i = 0; i < k; i++) {
        const ci = c[i];
        if (ci <= lo) continue; // at or below a point with f >= 0: never in the support again
        c[w] = ci;
        at[w] = at[i];
        const y = ci - tau;
        let pi = 0;
        if (y > 0) {
          pi = powUnit(y, q);
          const r = 1 / y;
          const pr = pi * r;
          const prr = pr * r;
          f += pi;
          d1 += pr;
          d2 += prr;
          d3 += prr * r;
        }
        p[w++] = pi;
      }
    }
    k = w;
    lastK = k;
    rowPasses = it;
    if (Math.abs(f) <= fTolerance(k)) return tau;
    if (f > 0) lo = tau;
    else hi = tau;
    if (hi - lo <= 2 * EPS * Math.abs(lo)) return tau;
    if (it >= NEWTON_PASSES) {
      const mid = keyMidpoint(lo, hi);
      if (mid === lo || mid === hi) return tau;
      tau = mid;
      continue;
    }
    // Householder's third-order step on h = log F, F = f + 1 (p_i' = -q p_i / y_i, so
    // F' = -q d1, F'' = q (q - 1) d2, F''' = -q (q - 1) (q - 2) d3):
    //   h' = -q d1 / F,  h'' = q (q - 1) d2 / F - h'^2,  h''' = F''' / F - 3 h' h'' - h'^3,
    //   step = -h (6 h'^2 - 3 h h'') / (6 h'^3 - 6 h h' h'' + h^2 h''')
    // (quartic convergence: from the power-mean bound, 3 passes on most rows at alpha = 1.3
    // where Halley took 4, measured) for q >= HOUSEHOLDER_Q; where it does not point the way
    // Newton's -h / h' does, or for smaller q, Halley's -2 h h' / (2 h'^2 - h h''), or Newton's
    // where that denominator is not positive; bisection if the step leaves (lo, hi).
    const F = f + 1;
    const h = Math.log1p(f);
    const h1 = (-q * d1) / F;
    const h2 = (qq1 * d2) / F - h1 * h1;
    const h3 = (qq2 * d3) / F - 3 * h1 * h2 - h1 * h1 * h1;
    const s3 = (-h * (6 * h1 * h1 - 3 * h * h2)) / (6 * h1 * h1 * h1 - 6 * h * h1 * h2 + h * h * h3);
    const den = 2 * h1 * h1 - h * h2;
    const step = q >= HOUSEHOLDER_Q && s3 * h * h1 < 0 ? s3 : den > 0 ? (-2 * h * h1) / den : -h / h1;
    tau = newtonOrBisect(tau, step, lo, hi, f > 0);
  }
}

/**
 * alpha = 1.5 (q = 2): Newton as above with y^2 instead of a power, then the closed form over
 * the support Newton isolated, as the sort-based algorithm of Peters et al. computes it.
 */
export function entmax15Threshold(c: Float64Array, k: number): number {
  // Few candidates: sort them all (the bound would shed some but cost passes; ./entmax15-simd.ts
  // does the same, so the two paths sort, test and sum the same doubles).
  if (k <= SORT_MAX) return sortedThreshold15(c, k);
  k = powerMeanBound(c, k, 0.5, true);
  if (k <= SORT_MAX) return sortedThreshold15(c, k);
  let lo = bound;
  let hi = -1 / Math.sqrt(k);
  if (!(hi > lo)) return lo;
  let tau = lo;
  for (let it = 1; ; it++) {
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
    rowPasses = it;
    if (Math.abs(f) <= fTolerance(k)) break;
    if (f > 0) lo = tau;
    else hi = tau;
    if (hi - lo <= 2 * EPS * Math.abs(lo)) break;
    if (it >= NEWTON_PASSES) {
      const mid = keyMidpoint(lo, hi);
      if (mid === lo || mid === hi) break;
      tau = mid;
      continue;
    }
    tau = newtonOrBisect(tau, (Math.log1p(f) * (f + 1)) / (2 * df), lo, hi, f > 0);
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

/** Up to this many candidates (left after the bound), sorting them beats Newton's passes (measured). */
const SORT_MAX = 32;

/**
 * The sort-based entmax15 threshold of Peters et al. on c[0..k) (k small: insertion sort,
 * descending). The support is the top n, n the largest j whose class c_(j) passes
 *   F_j = sum_{l < j} (c_(l) - c_(j))^2 <= 1,
 * i.e. f(c_(j)) <= 0 for f(t) = sum_i [c_i - t]_+^2 - 1 (the classes below c_(j) add nothing),
 * which holds iff c_(j) >= tau since f decreases. It is the entmax package's test
 * tau_j <= c_(j), tau_j = mean_j - sqrt((1 - ss_j) / j) over the top j, without its divisions and
 * square root: q(t) = sum_{l <= j} (c_(l) - t)^2 has q(c_(j)) = F_j and c_(j) <= mean_j, on the
 * branch where q decreases, so its smaller root tau_j is <= c_(j) iff q(c_(j)) <= 1 (no real root
 * means q > 1 everywhere). With s1, s2 the sums of the top j - 1 (in order), F_j = s2 +
 * c_(j) ((j - 1) c_(j) - 2 s1), tested as g_j = c_(j) ((j - 1) c_(j) - 2 s1) <= 1 - s2 (1 - s2
 * carried down by subtraction), within a few ulps of j of F_j <= 1: the two tests can only
 * disagree on a class within round-off of tau, whose p = (c_(j) - tau)^2 is ~1e-32 either way.
 * tau is then the closed form over the top n with the two-pass variance, the sum being s1 at n.
 * ./entmax15-simd.ts computes the same doubles four rows at a time.
 */
function sortedThreshold15(c: Float64Array, k: number): number {
  if (k === 0) return 0; // no candidate (a row whose maximum is +Infinity): nothing is read
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
  let sum = c[0];
  let rest = 1 - c[0] * c[0];
  let top = sum;
  for (let j = 2; j <= k; j++) {
    const v = c[j - 1];
    const g = v * ((j - 1) * v - (sum + sum));
    sum += v;
    if (g <= rest) {
      n = j;
      top = sum;
    }
    rest -= v * v;
  }
  return closedForm15(c, n, top);
}

/** tau = mean - sqrt((1 - sum (c_i - mean)^2) / n) over c[0..n), whose sum (in order) is `sum`. */
function closedForm15(c: Float64Array, n: number, sum: number): number {
  const mean = sum / n;
  let ss = 0;
  for (let i = 0; i < n; i++) {
    const d = c[i] - mean;
    ss += d * d;
  }
  const delta = (1 - ss) / n;
  return mean - Math.sqrt(delta > 0 ? delta : 0);
}
