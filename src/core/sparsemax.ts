import { sparsemaxShortSimd } from './sparsemax-simd.js';
import { exactReciprocal } from './temperature.js';
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
 *  - tau >= max x - 1 = -1, so only x_i > -1 can ever be in the support (a few percent of a wide
 *    logit row). The row is read once: that pass tracks the running maximum m and keeps every
 *    z_i >= m - 2T with its index (a superset of the candidates, since the final maximum is at
 *    least m; see rowCandidates), and the exact test x_i > -1 is then applied to those alone.
 *    The output row is zero-filled and only candidates are written, so there is no second read.
 *  - the last tau is the closed form over the final set, the same sum a sort-based
 *    implementation computes, so a class exactly on the threshold comes out exactly 0.
 * Adversarial rows that shed one class per pass are cut off after MAX_PASSES and finished by
 * sorting the remaining candidates, so the worst case stays O(n log n).
 *
 * Masked classes (-Infinity) get 0; a row with every class masked gets all zeros and support 0.
 * out may be data itself (data is not read after a row's output is written).
 */

/** Result of a sparse mapping: row-major probabilities and the number of non-zeros per row. */
export interface SparseMapResult {
  probs: Float64Array;
  support: Int32Array;
}

const MAX_PASSES = 64;

/**
 * Grow-only per-module scratch, so a call (the sampler makes one per row) allocates nothing
 * once warm: candidate values, their column offsets, and a working copy for the threshold.
 */
export interface RowScratch {
  vals: Float64Array;
  idx: Int32Array;
  xs: Float64Array;
  ids: Int32Array;
  work: Float64Array;
}

/** Bytes of newScratch(n) per class: vals, xs, work (Float64) and idx, ids (Int32). */
export const ROW_SCRATCH_BYTES = 3 * 8 + 2 * 4;

export function newScratch(n: number): RowScratch {
  return {
    vals: new Float64Array(n),
    idx: new Int32Array(n),
    xs: new Float64Array(n),
    ids: new Int32Array(n),
    work: new Float64Array(n),
  };
}

export function growScratch(s: RowScratch, cols: number): RowScratch {
  return s.vals.length >= cols ? s : newScratch(Math.max(cols, 2 * s.vals.length));
}

/**
 * Scratch is kept between calls up to this many classes (1.5 MiB); a longer row gets scratch of
 * its own, collected after the call, so one request with millions of classes does not leave
 * hundreds of MB held by every worker for good.
 */
export const KEEP_SCRATCH = 1 << 16;

/** The scratch to use for a row of `cols`, and the one to keep: the grown one if not too big. */
export function scratchFor(kept: RowScratch, cols: number): { use: RowScratch; keep: RowScratch } {
  const use = growScratch(kept, cols);
  return { use, keep: use.vals.length <= KEEP_SCRATCH ? use : kept };
}

let scratch = newScratch(1024);

/**
 * One pass over row [base, end): returns its maximum m (-Infinity if every entry is -Infinity
 * or NaN; NaN is never the maximum, as with a > compare), and stores in vals[0..k), idx[0..k)
 * every entry z >= m_i - span with m_i the running maximum when z was read, k in `count[0]`.
 *
 * Superset argument: with M the final maximum and L = fl(M - span), an entry z < L has
 * z < M - span exactly (L is the double nearest M - span, so no double lies strictly between
 * M - span and L on L's side), hence fl(z - M) <= -span (rounding is monotone and -span is a
 * double). The running bound fl(m_i - span) <= L, so anything not collected has z - M <= -span.
 * Callers choose span so that such an entry maps to x <= -2 < -1 (span = 2T, or 2T / (alpha - 1)).
 */
export function rowCandidates(
  data: Float64Array,
  base: number,
  end: number,
  span: number,
  vals: Float64Array,
  idx: Int32Array,
  count: Int32Array,
): number {
  let m = -Infinity;
  let lim = -Infinity;
  let k = 0;
  for (let i = base; i < end; i++) {
    const z = data[i];
    if (z >= lim) {
      vals[k] = z;
      idx[k++] = i;
      if (z > m) {
        m = z;
        lim = z - span;
      }
    }
  }
  count[0] = k;
  return m;
}

const COUNT = new Int32Array(1);

export function sparsemax(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature = 1,
  out: Float64Array = new Float64Array(rows * cols),
  support: Int32Array = new Int32Array(rows),
): SparseMapResult {
  const invT = exactReciprocal(temperature);
  if (cols <= SHORT_ROW) {
    if (rows >= SIMD_MIN_ROWS && sparsemaxShortSimd(data, rows, cols, temperature, invT, out, support)) {
      return { probs: out, support };
    }
    return sparsemaxShort(data, rows, cols, temperature, invT, out, support);
  }
  sparsemaxRows(data, 0, rows, cols, temperature, invT, out, support, 0);
  return { probs: out, support };
}

/** The general path on rows [r0, r0 + n). */
function sparsemaxRows(
  data: Float64Array,
  base0: number,
  n: number,
  cols: number,
  temperature: number,
  invT: number,
  out: Float64Array,
  support: Int32Array,
  r0: number,
): void {
  const span = temperature;
  const { use: sc, keep } = scratchFor(scratch, cols);
  scratch = keep;
  const { vals, idx, xs, ids, work } = sc;
  for (let r = r0, base = base0; r < r0 + n; r++, base += cols) {
    const end = base + cols;
    const m = rowCandidates(data, base, end, span, vals, idx, COUNT);
    const k0 = COUNT[0];
    zeroRow(out, base, end);
    if (m === -Infinity) {
      support[r] = 0;
      continue;
    }
    // x = (z - m) / T, the same double as (z - m) * (1 / T) for a power-of-two T. The loops
    // below are branch-free (k += +(test), a setcc in V8): on short rows the accept/reject
    // branches were mispredicted often enough to dominate (measured 3x on 4096 x 10).
    let k = 0;
    for (let j = 0; j < k0; j++) {
      const d = vals[j] - m;
      const x = invT ? d * invT : d / temperature;
      const keep = +(x > -1);
      xs[k] = x;
      ids[k] = idx[j];
      work[k] = x;
      k += keep;
    }
    const tau = sparsemaxThreshold(work, k);
    let s = 0;
    for (let j = 0; j < k; j++) {
      const p = xs[j] - tau;
      const keep = +(p > 0);
      out[ids[j]] = p * keep + 0; // + 0 turns the -0 of a negative p into 0
      s += keep;
    }
    support[r] = s;
  }
}

/**
 * Rows of at most this many classes take a short-row path (./sparsemax-simd.ts, or
 * sparsemaxShort below without WebAssembly SIMD): on such rows the per-row fixed costs of the
 * general path (calls, the candidate scan, branches whose outcome varies from row to row)
 * dominated (~130 ns of a row of 10). It works on every class of the row, a non-candidate as -1
 * (never above tau, adding an exact zero to each sum), so every loop runs cols times; the
 * candidates, their order and every sum are those of the general path, so the results are the
 * same doubles (test/core/sparsemax-simd.test.ts).
 */
export const SHORT_ROW = 32;
/**
 * The SIMD kernels for short rows are used from this many rows: a call into WebAssembly and the
 * copies in and out cost more than they save on a single row (the sampler maps one row per
 * call: measured 240 vs 165 ns a row of 1 class). The paths give the same doubles.
 */
export const SIMD_MIN_ROWS = 4;
const SHORT_XS = new Float64Array(SHORT_ROW);

/**
 * The short-row path in JavaScript, where WebAssembly SIMD is unavailable (the SIMD kernel runs
 * the same arithmetic four rows at a time); exported for the tests that compare the paths.
 */
export function sparsemaxShort(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature: number,
  invT: number,
  out: Float64Array,
  support: Int32Array,
): SparseMapResult {
  const xs = SHORT_XS;
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    const end = base + cols;
    let m = -Infinity;
    let nan = false;
    for (let i = base; i < end; i++) {
      const z = data[i];
      m = z > m ? z : m;
      nan ||= z !== z;
    }
    if (nan) {
      // Rare (the API refuses NaN): the general path, which leaves NaN classes out.
      sparsemaxRows(data, base, 1, cols, temperature, invT, out, support, r);
      continue;
    }
    if (m === -Infinity) {
      for (let i = base; i < end; i++) out[i] = 0;
      support[r] = 0;
      continue;
    }
    // Every class takes part, a non-candidate (x <= -1, or masked) as -1: tau >= -1, so it is
    // never above tau and adds v * 0 = -0 to a sum, which leaves the sum exact. The candidates'
    // sums are those of the general path in the same order, so tau is the same double; the
    // loops run cols times whatever the support, so their branches are predicted.
    let sum = 0;
    let k = 0;
    for (let i = 0; i < cols; i++) {
      const d = data[base + i] - m;
      const x = invT ? d * invT : d / temperature;
      const v = Math.max(x, -1);
      const keep = +(v > -1);
      xs[i] = v;
      sum += v * keep;
      k += keep;
    }
    let tau = (sum - 1) / k;
    for (let pass = 0; pass < cols; pass++) {
      let w = 0;
      let s = 0;
      for (let i = 0; i < cols; i++) {
        const v = xs[i];
        const keep = +(v > tau);
        // A class out stays out (as -1), as in the general path's shrinking set, even if
        // round-off were to lower the next tau a hair.
        xs[i] = v * keep + (keep - 1);
        s += v * keep;
        w += keep;
      }
      if (w === k) break;
      k = w;
      tau = (s - 1) / k;
    }
    let s = 0;
    for (let i = 0; i < cols; i++) {
      const p = xs[i] - tau;
      const keep = +(p > 0);
      out[base + i] = p * keep + 0; // after the row is read: out may be data
      s += keep;
    }
    support[r] = s;
  }
  return { probs: out, support };
}

/** out[base..end) = 0; a loop for short rows, where the builtin's call overhead dominates. */
export function zeroRow(out: Float64Array, base: number, end: number): void {
  if (end - base <= 32) for (let i = base; i < end; i++) out[i] = 0;
  else out.fill(0, base, end);
}

/**
 * tau such that sum_i [c_i - tau]_+ = 1, for candidates c[0..k) whose maximum is 0.
 * Reorders (and overwrites) c. Each pass sums the classes it keeps, in order, so every tau is
 * the same double as summing the compacted set afresh, with one loop per pass instead of two.
 */
export function sparsemaxThreshold(c: Float64Array, k: number): number {
  let sum = 0;
  for (let i = 0; i < k; i++) sum += c[i];
  let tau = (sum - 1) / k;
  for (let pass = 0; pass < MAX_PASSES; pass++) {
    let w = 0;
    let s = 0;
    for (let i = 0; i < k; i++) {
      const v = c[i];
      const keep = +(v > tau);
      c[w] = v;
      s += v * keep; // exactly s + v, or s + 0 = s (candidates are never -0)
      w += keep;
    }
    if (w === k) return tau;
    k = w;
    tau = (s - 1) / k;
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
