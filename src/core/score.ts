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
 * Softmax: v(x) = logsumexp(x) = log1p(s), s = sum of exp(x_i) over every class but one maximum
 * (compensated sum), which keeps its relative precision when s is tiny; loss = v - x_y (a sum
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
 * (null in JSON) exactly where p_y = 0.
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

/** Grow-only row scratch for p (kept up to KEEP_COLS classes, as the mapping kernels do). */
const KEEP_COLS = 1 << 16;
let pScratch = new Float64Array(1024);
const SUPPORT = new Int32Array(1);

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
  const invT = exactReciprocal(T);
  let p = pScratch;
  if (p.length < cols) {
    p = new Float64Array(Math.max(cols, 2 * p.length));
    if (cols <= KEEP_COLS) pScratch = p;
  }
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    const y = opts.targets[rowOffset + r];
    if (!(Number.isInteger(y) && y >= 0 && y < cols)) return { row: r, kind: 'bad-target' };
    if (data[base + y] === -Infinity || Number.isNaN(data[base + y])) return { row: r, kind: 'masked-target' };
    const row = data.subarray(base, base + cols);
    // The row maximum (first index), as the kernels shift by it.
    let m = -Infinity;
    let im = 0;
    for (let i = 0; i < cols; i++) {
      if (row[i] > m) {
        m = row[i];
        im = i;
      }
    }
    const xAt = (i: number) => (invT ? (row[i] - m) * invT : (row[i] - m) / T);
    const xy = xAt(y);
    const M = m / T;
    if (alpha === 1) {
      softmax(row, 1, cols, T, p);
      let s = 0;
      let c = 0;
      for (let i = 0; i < cols; i++) {
        if (i === im) continue;
        const e = Math.exp(xAt(i));
        const t = s + e;
        c += s >= e ? s - t + e : e - t + s;
        s = t;
      }
      const lse = Math.log1p(s + c);
      let px = 0;
      let pc = 0;
      for (let i = 0; i < cols; i++) {
        const pi = p[i];
        if (pi === 0) continue;
        const v = pi * xAt(i);
        const t = px + v;
        pc += Math.abs(px) >= Math.abs(v) ? px - t + v : v - t + px;
        px = t;
      }
      outs.value[r] = M + lse;
      outs.loss[r] = lse - xy;
      outs.entropy[r] = lse - (px + pc);
      outs.prob[r] = p[y];
      outs.logprob[r] = xy - lse;
      continue;
    }
    if (alpha === 2) sparsemax(row, 1, cols, T, p, SUPPORT);
    else entmax(row, 1, cols, alpha, T, p, SUPPORT);
    const a = alpha - 1;
    // p_max (the first maximum of p is at the first maximum of z) and 1 - p_max as a sum.
    const pm = p[im];
    let rest = 0;
    let rc = 0;
    for (let i = 0; i < cols; i++) {
      if (i === im) continue;
      const v = p[i];
      const t = rest + v;
      rc += rest >= v ? rest - t + v : v - t + rest;
      rest = t;
    }
    rest += rc;
    const oneMinus = (i: number) => (i === im && pm > 0.5 ? rest : 1 - p[i]);
    // Entropy.
    let h = 0;
    let hc = 0;
    for (let i = 0; i < cols; i++) {
      const pi = p[i];
      if (pi === 0) continue;
      let v: number;
      if (alpha === 2) v = 0.5 * pi * oneMinus(i);
      else {
        const lp = i === im && pm > 0.5 ? Math.log1p(-rest) : Math.log(pi);
        v = (pi * -Math.expm1(a * lp)) / (alpha * a);
      }
      const t = h + v;
      hc += h >= v ? h - t + v : v - t + h;
      h = t;
    }
    outs.entropy[r] = h + hc;
    const threshold = -(pm === 1 ? 1 : Math.exp(a * (pm > 0.5 ? Math.log1p(-rest) : Math.log(pm)))) / a;
    const lossAt = (t: number, xt: number): number => {
      let s = 0;
      let c = 0;
      const add = (v: number) => {
        const u = s + v;
        c += s >= v ? s - u + v : v - u + s;
        s = u;
      };
      for (let i = 0; i < cols; i++) {
        if (i === t) continue;
        const pi = p[i];
        if (pi !== 0) add((alpha === 2 ? pi * pi : Math.exp(alpha * Math.log(pi))) / alpha);
      }
      const pt = p[t];
      add(bregmanTarget(pt === 0 ? 1 : t === im && pm > 0.5 ? rest : 1 - pt, a));
      if (pt === 0) add(Math.max(0, threshold - xt));
      return s + c;
    };
    const v = lossAt(im, 0);
    outs.value[r] = M + v;
    outs.loss[r] = y === im ? v : lossAt(y, xy);
    outs.prob[r] = p[y];
    outs.logprob[r] = p[y] === 0 ? -Infinity : y === im && pm > 0.5 ? Math.log1p(-rest) : Math.log(p[y]);
  }
  return null;
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
