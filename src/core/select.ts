/**
 * Order statistics of positive values for the topK / topP filters of ./sample.ts: the k-th
 * largest value, and the shortest prefix of the values sorted descending whose running sum
 * reaches a target.
 *
 * Both first narrow the values to a candidate set with one pass over a histogram of their
 * binary exponents (plus 2 mantissa bits: 4 bins per octave, read straight from the high word of
 * the float64, so no logarithm), then do the exact work on the candidates only: quickselect
 * (Hoare 1961) for the k-th largest, and a sort plus an in-order running sum for the prefix, so
 * the result is the same as sorting everything (the float running sum depends on the order of
 * addition; equal values add up the same in any order, so sorting values suffices). The filters
 * keep few classes in practice, and V8's typed-array sort costs ~100 ns per element, so sorting
 * ~k values instead of the whole row is what keeps topP at a few ns per class.
 */

/** Histogram bins: the high word of a positive float64, shifted, is < 2^(31 - 18) = 8192. */
const BIN_SHIFT = 18;
const BINS = 1 << (31 - BIN_SHIFT);
/** Rows shorter than this skip the histogram. */
const MIN_HISTOGRAM = 256;
/** Index of the high 32-bit word of a float64 in a Uint32Array view. */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;

/** Scratch for the functions below, reusable across rows of up to `size` values. */
export class SelectScratch {
  readonly words: Uint32Array;
  readonly count = new Float64Array(BINS);
  readonly candidates: Float64Array;
  constructor(readonly values: Float64Array) {
    this.words = new Uint32Array(values.buffer, values.byteOffset, values.length * 2);
    this.candidates = new Float64Array(values.length);
  }
}

/**
 * The k-th largest of a[0..n) (1 <= k <= n), reordering a so that a[n - k..n) holds the k
 * largest: quickselect with a median-of-three pivot and three-way partition (so runs of equal
 * values cost one pass), falling back to a sort if the ranges stop shrinking fast (adversarial
 * input), so never worse than O(n log n).
 */
export function kthLargest(a: Float64Array, n: number, k: number): number {
  // The k-th largest is the (n - k)-th smallest, 0-based.
  const target = n - k;
  let lo = 0;
  let hi = n - 1;
  let budget = 2 * Math.ceil(Math.log2(n + 1)) + 8;
  while (lo < hi) {
    if (budget-- === 0) {
      a.subarray(lo, hi + 1).sort();
      return a[target];
    }
    const mid = (lo + hi) >>> 1;
    const x = a[lo];
    const y = a[mid];
    const zz = a[hi];
    const pivot = x < y ? (y < zz ? y : x < zz ? zz : x) : x < zz ? x : y < zz ? zz : y;
    // Dutch national flag: [lo, lt) < pivot, [lt, i) === pivot, (gt, hi] > pivot.
    let lt = lo;
    let gt = hi;
    let i = lo;
    while (i <= gt) {
      const v = a[i];
      if (v < pivot) {
        a[i++] = a[lt];
        a[lt++] = v;
      } else if (v > pivot) {
        a[i] = a[gt];
        a[gt--] = v;
      } else i++;
    }
    if (target < lt) hi = lt - 1;
    else if (target > gt) lo = gt + 1;
    else return pivot;
  }
  return a[target];
}

/**
 * Copy to s.candidates the values of s.values[0..n) (all positive and finite) in the highest
 * histogram bins whose total weight reaches `need` (weight: 1 per value, or the value itself),
 * and return how many were copied; every value outside the copy is smaller than every value in
 * it. With need beyond the total weight, everything is copied.
 */
function upperBins(s: SelectScratch, n: number, byMass: boolean, need: number): number {
  const { values, words, count, candidates } = s;
  count.fill(0);
  for (let i = 0; i < n; i++) count[words[2 * i + HI] >>> BIN_SHIFT] += byMass ? values[i] : 1;
  let cum = 0;
  let floor = 0;
  for (let b = BINS - 1; b >= 0; b--) {
    cum += count[b];
    if (cum >= need) {
      floor = b;
      break;
    }
  }
  let m = 0;
  for (let i = 0; i < n; i++) if (words[2 * i + HI] >>> BIN_SHIFT >= floor) candidates[m++] = values[i];
  return m;
}

/** The k-th largest of s.values[0..n) (positive, finite; 1 <= k <= n). May reorder s.values. */
export function kthLargestPositive(s: SelectScratch, n: number, k: number): number {
  if (n < MIN_HISTOGRAM) return kthLargest(s.values, n, k);
  const m = upperBins(s, n, false, k);
  return kthLargest(s.candidates, m, k);
}

/**
 * The length k of the shortest prefix of s.values[0..n) (positive, finite) sorted descending
 * whose running sum, added in that order, reaches target, and its last value; k = n (and the
 * smallest value) if no prefix does. May reorder s.values.
 */
export function massPrefix(s: SelectScratch, n: number, target: number): { k: number; last: number } {
  let m = n;
  let sorted = s.values.subarray(0, n);
  if (n >= MIN_HISTOGRAM) {
    // Bins holding a little more than the target by any order of addition (relative rounding of
    // a sum of n terms in (0, 1] is far below 1e-9) hold the whole prefix.
    m = upperBins(s, n, true, target + 1e-9);
    sorted = s.candidates.subarray(0, m);
  }
  sorted.sort();
  let cum = 0;
  for (let i = m - 1; i >= 0; i--) {
    cum += sorted[i];
    if (cum >= target) return { k: m - i, last: sorted[i] };
  }
  if (m === n) return { k: n, last: sorted[0] };
  // Not reached within the candidates (not expected): fall back to sorting everything.
  const all = s.values.subarray(0, n).sort();
  cum = 0;
  for (let i = n - 1; i >= 0; i--) {
    cum += all[i];
    if (cum >= target) return { k: n - i, last: all[i] };
  }
  return { k: n, last: all[0] };
}
