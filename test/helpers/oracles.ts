/**
 * Slow, obviously-correct implementations used only as test oracles: the sort-based algorithms
 * of Martins & Astudillo (2016) and Peters et al. (2019), and plain bisection for any alpha,
 * written independently of src/core.
 */

/** Sort-based sparsemax of one row (no masked entries). */
export function sparsemaxSorted(z: number[]): number[] {
  const s = [...z].sort((a, b) => b - a);
  let cum = 0;
  let tau = 0;
  for (let k = 1; k <= s.length; k++) {
    cum += s[k - 1];
    if (1 + k * s[k - 1] > cum) tau = (cum - 1) / k;
  }
  return z.map((v) => Math.max(v - tau, 0));
}

/** Sort-based entmax15 of one row (no masked entries), as the entmax package's entmax15. */
export function entmax15Sorted(z: number[]): number[] {
  const m = Math.max(...z);
  const x = z.map((v) => (v - m) / 2);
  const s = [...x].sort((a, b) => b - a);
  let tau = 0;
  let sum = 0;
  let sumsq = 0;
  for (let k = 1; k <= s.length; k++) {
    sum += s[k - 1];
    sumsq += s[k - 1] * s[k - 1];
    const mean = sum / k;
    const ss = k * (sumsq / k - mean * mean);
    const delta = (1 - ss) / k;
    const t = mean - Math.sqrt(Math.max(delta, 0));
    if (t <= s[k - 1]) tau = t;
  }
  return x.map((v) => Math.max(v - tau, 0) ** 2);
}

/** entmax by bisection on tau (as entmax_bisect, run to exhaustion) for any alpha > 1. */
export function entmaxBisect(z: number[], alpha: number): number[] {
  const m = Math.max(...z);
  const x = z.map((v) => (v - m) * (alpha - 1));
  const q = 1 / (alpha - 1);
  const f = (tau: number) => x.reduce((acc, v) => acc + (v > tau ? (v - tau) ** q : 0), 0) - 1;
  let lo = -1;
  let hi = 0;
  for (let i = 0; i < 2000 && hi - lo > 0; i++) {
    const mid = lo + (hi - lo) / 2;
    if (mid === lo || mid === hi) break;
    if (f(mid) >= 0) lo = mid;
    else hi = mid;
  }
  const p = x.map((v) => (v > lo ? (v - lo) ** q : 0));
  const sum = p.reduce((a, b) => a + b, 0);
  return p.map((v) => v / sum);
}

/** Plain softmax with Math.exp. */
export function softmaxPlain(z: number[]): number[] {
  const m = Math.max(...z);
  const e = z.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}
