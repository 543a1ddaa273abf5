import { entmax } from './entmax.js';
import { softmax } from './softmax.js';
import { sparsemax } from './sparsemax.js';
import { exactReciprocal } from './temperature.js';

/**
 * Scores of a target under a (.+)-max mapping: the Fenchel-Young loss, the regularised max and
 * the entropy behind the mapping (Blondel, Martins & Niculae 2020, "Learning with Fenchel-Young
 * losses"). With theta = z / T, p = mapping(theta) (the kernels of ./softmax.ts, ./sparsemax.ts,
 * ./entmax.ts, so p is the p of /v1/<mapping>) and H the mapping's entropy:
 *   Shannon  H(p) = -sum p log p                          (softmax, entmax alpha = 1)
 *   Gini     H(p) = 1/2 sum p (1 - p)                      (sparsemax, entmax alpha = 2)
 *   Tsallis  H(p) = 1 / (alpha (alpha - 1)) sum (p - p^alpha)   (entmax, Peters et al. 2019)
 *   value    = max_{q in simplex} q . theta + H(q) = p . theta + H(p)   (logsumexp for softmax)
 *   loss     = value - theta_y  (cross-entropy; the sparsemax loss of Martins & Astudillo 2016;
 *              the entmax losses of Peters et al. 2019)
 *   prob     = p_y, logprob = log p_y.
 *
 * Everything is computed on x = (z - max z) / T (the kernels' own shift), never on theta, so a
 * row at 1e300 loses nothing: value = max z / T + v(x), loss = v(x) - x_y. softmax of
 * [1e300, 1e300, 0], target 0, has loss log 2 exactly.
 *
 * Softmax: v(x) = logsumexp(x) = log1p(s), s = sum of exp(x_i) over every class but one maximum,
 * = (sum of their p) / p_max (compensated sum, in the same pass as p . x), which keeps its
 * relative precision when s is tiny; loss = v - x_y (a sum
 * of non-negative terms); H = v - p . x (both >= 0); logprob = x_y - v, the log-softmax, a
 * number even where p_y underflows to 0.
 *
 * alpha > 1 (sparsemax is alpha = 2): the loss is written as the sum of non-negative terms
 *   loss = sum_{i != y} p_i^alpha / alpha + d(1 - p_y) + [p_y = 0] (x_y* - x_y)
 * the Tsallis Bregman divergence between e_y and p plus the distance of a target outside the
 * support below the threshold x_y* = -p_max^(alpha - 1) / (alpha - 1) (on the support,
 * x_i = (p_i^(alpha - 1) - p_max^(alpha - 1)) / (alpha - 1)). This equals p . x + H(p) - x_y, but
 * has no cancellation between terms of opposite sign (loss >= 0 always, and 0 exactly when p is
 * the one-hot of y), and d(delta) = (1 - (1 - delta)^(alpha - 1) (1 + (alpha - 1) delta)) /
 * (alpha (alpha - 1)), the e_y term, is summed as its power series in delta for small delta
 * (delta^2 / 2 - (alpha - 2) delta^3 / 3 + ...), where the closed form cancels. v(x) is the loss
 * of the row's first maximum, so value >= max theta too. 1 - p_max (in H, d and log p_max) is
 * the sum of the other p's, not 1 - p_max, when p_max > 1/2. logprob is log p_y, -Infinity
 * (null in JSON) exactly where p_y = 0. One pass over the row finds the support; the entropy and
 * A = sum over the support but the maximum of p^alpha / alpha are then one pass over it, and the
 * loss of y is A - p_y^alpha / alpha + p_max^alpha / alpha + ... (p_max's term dominates the one
 * taken away, so that difference loses nothing that matters).
 *
 * The mapping runs on chunks of rows at a time (its batch path) into a scratch p.
 *
 * A target that is masked (z_y = -Infinity) or not a class index has no finite loss: the kernel
 * stops at the first such row and returns it (the service answers 400 naming it).
 */

export type ScoreMapping = 'softmax' | 'sparsemax' | 'entmax';

export interface ScoreOptions {
  mapping: ScoreMapping;
  /** entmax only (>= 1). */
  alpha?: number;
  temperature?: number;
  /** Class index per row, indexed by the global row rowOffset + r. */
  targets: ArrayLike<number>;
  /** Global index of data's first row. */
  rowOffset?: number;
}

export interface ScoreOutputs {
  loss: Float64Array;
  prob: Float64Array;
  logprob: Float64Array;
  entropy: Float64Array;
  value: Float64Array;
}

export interface ScoreFailure {
  /** Local row index in data. */
  row: number;
  kind: 'masked-target' | 'bad-target';
}

/**
 * The mapping runs on chunks of rows (its batch path, one call per chunk) into a scratch of at
 * most CHUNK elements (or one row), kept between calls up to that size, as the mapping kernels
 * keep theirs; then each row is scored from its p. Support indices of a row go to `sup`.
 */
const CHUNK = 1 << 16;
let pScratch = new Float64Array(1024);
let supScratch = new Int32Array(1024);
let countScratch = new Int32Array(64);

export function score(
  data: Float64Array,
  rows: number,
  cols: number,
  opts: ScoreOptions,
  outs: ScoreOutputs,
): ScoreFailure | null {
  const T = opts.temperature ?? 1;
  const alpha = opts.mapping === 'softmax' ? 1 : opts.mapping === 'sparsemax' ? 2 : (opts.alpha ?? 1.5);
  const rowOffset = opts.rowOffset ?? 0;
  const targets = opts.targets;
  const invT = exactReciprocal(T);
  const per = Math.max(1, Math.min(rows, Math.floor(CHUNK / cols)));
  let p = pScratch;
  if (p.length < per * cols) {
    p = new Float64Array(Math.max(per * cols, 2 * p.length));
    if (per * cols <= CHUNK) pScratch = p;
  }
  let sup = supScratch;
  if (alpha !== 1 && sup.length < cols) {
    sup = new Int32Array(Math.max(cols, 2 * sup.length));
    if (cols <= CHUNK) supScratch = sup;
  }
  if (countScratch.length < per) countScratch = new Int32Array(per);
  const support = countScratch;
  for (let r0 = 0; r0 < rows; r0 += per) {
    const n = Math.min(per, rows - r0);
    // Targets first: a refusal names the first bad row before any work on it.
    for (let r = r0; r < r0 + n; r++) {
      const y = targets[rowOffset + r];
      if (!(Number.isInteger(y) && y >= 0 && y < cols)) return { row: r, kind: 'bad-target' };
      const zy = data[r * cols + y];
      if (zy === -Infinity || Number.isNaN(zy)) return { row: r, kind: 'masked-target' };
    }
    const view = data.subarray(r0 * cols, (r0 + n) * cols);
    if (alpha === 1) softmax(view, n, cols, T, p);
    else if (alpha === 2) sparsemax(view, n, cols, T, p, support);
    else entmax(view, n, cols, alpha, T, p, support);
    for (let k = 0; k < n; k++) {
      const r = r0 + k;
      const base = r * cols;
      const pb = k * cols;
      // The row maximum (first index), as the kernels shift by it.
      let m = -Infinity;
      let im = 0;
      for (let i = 0; i < cols; i++) {
        const z = data[base + i];
        if (z > m) {
          m = z;
          im = i;
        }
      }
      const y = targets[rowOffset + r];
      const dy = data[base + y] - m;
      const xy = invT ? dy * invT : dy / T;
      if (alpha === 1) softmaxRow(data, base, p, pb, cols, m, im, T, invT, y, xy, r, outs);
      else sparseRow(p, pb, cols, im, y, xy, alpha, sup, r, outs);
      outs.value[r] += m / T;
    }
  }
  return null;
}

/** One row under softmax: value is written without max z / T (the caller adds it). */
function softmaxRow(
  data: Float64Array,
  base: number,
  p: Float64Array,
  pb: number,
  cols: number,
  m: number,
  im: number,
  T: number,
  invT: number,
  y: number,
  xy: number,
  r: number,
  outs: ScoreOutputs,
): void {
  // s = sum of exp(x_i) over every class but the maximum = (sum of their p) / p_max, since
  // exp(x_max) = 1: each p has a few ulps of relative error, so s does too, with no exp pass
  // (compensated sums, Neumaier). And p . x over p > 0, in the same pass.
  let rest = 0;
  let rc = 0;
  let px = 0;
  let pc = 0;
  for (let i = 0; i < cols; i++) {
    const pi = p[pb + i];
    if (i === im || !(pi > 0)) continue;
    const t = rest + pi;
    rc += rest >= pi ? rest - t + pi : pi - t + rest;
    rest = t;
    const d = data[base + i] - m;
    const v = pi * (invT ? d * invT : d / T);
    const u = px + v;
    pc += px <= v ? px - u + v : v - u + px; // both <= 0: the larger magnitude first
    px = u;
  }
  const s = (rest + rc) / p[pb + im];
  const lse = Math.log1p(s);
  outs.value[r] = lse;
  outs.loss[r] = lse - xy;
  outs.entropy[r] = lse - (px + pc);
  outs.prob[r] = p[pb + y];
  outs.logprob[r] = xy - lse;
}
/**
 * One row under sparsemax (alpha = 2) or entmax (alpha > 1): value is written without
 * max z / T (the caller adds it). Every loop after the first is over the support.
 */
function sparseRow(
  p: Float64Array,
  pb: number,
  cols: number,
  im: number,
  y: number,
  xy: number,
  alpha: number,
  sup: Int32Array,
  r: number,
  outs: ScoreOutputs,
): void {
  const a = alpha - 1;
  // The support, and rest = 1 - p_max as the sum of the other p's (Neumaier).
  let k = 0;
  let rest = 0;
  let rc = 0;
  for (let i = 0; i < cols; i++) {
    const v = p[pb + i];
    if (v > 0) {
      sup[k++] = i;
      if (i !== im) {
        const t = rest + v;
        rc += rest >= v ? rest - t + v : v - t + rest;
        rest = t;
      }
    }
  }
  rest += rc;
  const pm = p[pb + im];
  const big = pm > 0.5;
  // log p_max and p_max^(alpha - 1), from rest when p_max is near 1.
  const lpm = big ? Math.log1p(-rest) : Math.log(pm);
  const pma = alpha === 2 ? pm : Math.exp(a * lpm);
  // Entropy, and A = sum over the support but the maximum of p^alpha / alpha.
  let h = 0;
  let hc = 0;
  let A = 0;
  let Ac = 0;
  for (let j = 0; j < k; j++) {
    const i = sup[j];
    const pi = p[pb + i];
    let pa: number; // p^(alpha - 1)
    let v: number; // p (1 - p^(alpha - 1)) / (alpha (alpha - 1))
    if (i === im) {
      pa = pma;
      v = alpha === 2 ? 0.5 * pi * (big ? rest : 1 - pi) : (pi * -Math.expm1(a * lpm)) / (alpha * a);
    } else {
      // p <= 1/2 here: 1 - p^(alpha - 1) does not cancel at alpha 1.5 and 2; expm1 near alpha = 1.
      if (alpha === 2 || alpha === 1.5) {
        pa = alpha === 2 ? pi : Math.sqrt(pi);
        v = (pi * (1 - pa)) / (alpha * a);
      } else {
        const la = a * Math.log(pi);
        pa = Math.exp(la);
        v = (pi * -Math.expm1(la)) / (alpha * a);
      }
      const w = (pi * pa) / alpha;
      const t = A + w;
      Ac += A >= w ? A - t + w : w - t + A;
      A = t;
    }
    const t = h + v;
    hc += h >= v ? h - t + v : v - t + h;
    h = t;
  }
  A += Ac;
  outs.entropy[r] = h + hc;
  // value - max theta = the loss of the maximum: A + d(1 - p_max).
  const v0 = A + bregmanTarget(big ? rest : 1 - pm, a);
  outs.value[r] = v0;
  const py = p[pb + y];
  if (y === im) outs.loss[r] = v0;
  else {
    // A without y's term, with the maximum's; d(1 - p_y); and below the threshold
    // -p_max^(alpha - 1) / (alpha - 1) for a target outside the support.
    const ya = py === 0 ? 0 : (py * (alpha === 2 ? py : alpha === 1.5 ? Math.sqrt(py) : Math.exp(a * Math.log(py)))) / alpha;
    let loss = A - ya + (pm * pma) / alpha + bregmanTarget(1 - py, a);
    if (py === 0) loss += Math.max(0, -pma / a - xy);
    outs.loss[r] = Math.max(0, loss);
  }
  outs.prob[r] = py;
  outs.logprob[r] = py === 0 ? -Infinity : y === im && big ? lpm : Math.log(py);
}

/**
 * d(delta) = (1 - (1 - delta)^a (1 + a delta)) / (a (a + 1)): the term of the target class in
 * the Tsallis (alpha = a + 1) Bregman divergence D(e_y, p), delta = 1 - p_y. For delta below
 * 1/4 its power series, whose coefficient of delta^k is
 *   (-1)^(k+1) (C(a, k) - a C(a, k - 1)) / (a (a + 1)),
 * each term a small multiple of delta times the last (the closed form cancels there: both of
 * its terms are 1 - O(delta) and d is O(delta^2)).
 */
export function bregmanTarget(delta: number, a: number): number {
  if (delta <= 0) return 0;
  if (a === 1) return (delta * delta) / 2; // sparsemax: exact
  if (delta >= 0.25) {
    const d = -Math.expm1(a * Math.log1p(-delta)) - a * delta * Math.exp(a * Math.log1p(-delta));
    return Math.max(0, d / (a * (a + 1)));
  }
  // C(a, k) by the recurrence C(a, k) = C(a, k - 1) (a - k + 1) / k, signs folded into dk.
  let cPrev = a; // C(a, 1)
  let dk = delta; // (-delta)^(k-1) sign-adjusted below
  let sum = 0;
  for (let k = 2; k < 80; k++) {
    const ck = (cPrev * (a - k + 1)) / k;
    dk *= delta;
    // (-1)^(k+1) (C(a,k) - a C(a,k-1)) delta^k
    const term = (k % 2 === 0 ? -1 : 1) * (ck - a * cPrev) * dk;
    sum += term;
    cPrev = ck;
    if (Math.abs(term) <= 1e-18 * Math.abs(sum)) break;
  }
  return Math.max(0, sum / (a * (a + 1)));
}
