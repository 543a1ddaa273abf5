/**
 * The truncation samplers of ./sample.ts beyond topK / topP / minP. Each acts on one row in place,
 * keeps at least one class, never brings back a class with p = 0, and does not renormalise (the
 * caller does, after every filter that runs). H below is the Shannon entropy -sum p log p (natural
 * log) of the current distribution over its classes with p > 0.
 *
 *  - top-n-sigma (Tang et al. 2024, "Top-n-sigma: not all logits are you need"), on the logits
 *    before the mapping: over the unmasked entries z_j (> -Infinity) with maximum M, mean mu and
 *    population standard deviation sigma, keep z_j >= M - n sigma (a class on the cut is kept) and
 *    mask the rest. On z / T the cut scales with T, so it is taken on z itself and does not depend
 *    on T. The statistics are computed two-pass on y = z 2^-e, 2^e >= max |z|: the scaling is by a
 *    power of two, hence exact, |y| <= 1, so rows at 1e300 cannot overflow, and a row whose mean
 *    and deviations are exact in z stays exact (the designed ties of the reference vectors).
 *  - locally typical sampling (Meister, Pimentel, Wiher & Cotterell 2023): order the classes by
 *    |-log p_j - H| ascending (ties: lower index) and keep the shortest prefix whose running sum
 *    reaches typicalP (>=); typicalP >= 1 keeps every class, even where the float partial sums
 *    reach 1 before the last class.
 *  - epsilon sampling (Hewitt, Manning & Liang 2022, "Truncation sampling as language model
 *    desmoothing"): keep p_j >= epsilon.
 *  - eta sampling (same article): keep p_j >= min(eta, sqrt(eta) exp(-H)).
 *    For epsilon and eta, if no class passes, keep exactly one: the lowest index among the largest
 *    p (Hugging Face's warpers keep every tied maximum; the contract here keeps one).
 *
 * A parameter of 0 or NaN (epsilon, eta, topNSigma <= 0) leaves the row unchanged. The filters on
 * p report whether they removed a class: the caller renormalises only then, so a filter that
 * removes nothing (typicalP = 1, epsilon = 0, eta = 0) leaves p unchanged to the bit.
 */

/** Histogram bins for the typical prefix: the high word of a non-negative float64, shifted. */
const BIN_SHIFT = 18;
const BINS = 1 << (31 - BIN_SHIFT);
/** Rows with fewer support classes than this are sorted outright. */
const MIN_HISTOGRAM = 256;
/** Index of the high 32-bit word of a float64 in a Uint32Array view. */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
/** Slack on the typical mass target when narrowing by bins (the bins' sum is added in another order). */
const MASS_SLACK = 1e-9;

/** Scratch for typicalFilter, reusable across rows of up to `size` classes. */
export class FilterScratch {
  readonly key: Float64Array;
  readonly words: Uint32Array;
  readonly idx: Int32Array;
  readonly ord: Int32Array;
  readonly count = new Float64Array(BINS);
  constructor(size: number) {
    this.key = new Float64Array(size);
    this.words = new Uint32Array(this.key.buffer);
    this.idx = new Int32Array(size);
    this.ord = new Int32Array(size);
  }
}

/** Shannon entropy -sum p_j log p_j over p_j > 0. */
export function entropy(p: Float64Array, cols: number): number {
  let h = 0;
  for (let j = 0; j < cols; j++) {
    const v = p[j];
    if (v > 0) h -= v * Math.log(v);
  }
  return h;
}

/**
 * Zero every p_j < t; if that would zero them all, keep only the lowest-index maximum. Returns
 * whether a class was removed.
 */
function keepAtLeast(p: Float64Array, cols: number, t: number): boolean {
  let any = false;
  let best = -1;
  let mx = 0;
  for (let j = 0; j < cols; j++) {
    const v = p[j];
    if (v >= t && v > 0) any = true;
    if (v > mx) {
      mx = v;
      best = j;
    }
  }
  let removed = false;
  if (best < 0) return removed;
  for (let j = 0; j < cols; j++) {
    if (p[j] > 0 && (any ? p[j] < t : j !== best)) {
      p[j] = 0;
      removed = true;
    }
  }
  return removed;
}

/** Epsilon sampling: keep p_j >= epsilon (else the lowest-index maximum). Returns whether a class was removed. */
export function epsilonFilter(p: Float64Array, cols: number, epsilon: number): boolean {
  if (!(epsilon > 0)) return false;
  return keepAtLeast(p, cols, epsilon);
}

/** Eta sampling: keep p_j >= min(eta, sqrt(eta) exp(-H)) (else the lowest-index maximum). Returns whether a class was removed. */
export function etaFilter(p: Float64Array, cols: number, eta: number): boolean {
  if (!(eta > 0)) return false;
  const t = Math.min(eta, Math.sqrt(eta) * Math.exp(-entropy(p, cols)));
  return keepAtLeast(p, cols, t);
}

/**
 * Top-n-sigma on a row of logits z[0..cols) (masked = -Infinity): sets z_j = -Infinity for every
 * unmasked z_j below max - n sigma (see the file comment). n <= 0 or NaN: no change.
 */
export function topNSigmaFilter(z: Float64Array, cols: number, n: number): void {
  if (!(n > 0)) return;
  let k = 0;
  let m = -Infinity;
  let a = 0;
  for (let j = 0; j < cols; j++) {
    const v = z[j];
    if (v > -Infinity) {
      k++;
      if (v > m) m = v;
      const av = Math.abs(v);
      if (av > a) a = av;
    }
  }
  if (k <= 1 || !(a < Infinity)) return; // nothing to cut, or odd input (+Infinity)
  // 2^e >= a, e clamped so that 2^e and 2^-e are both representable (|y| <= 2 then).
  let e = a > 0 ? Math.ceil(Math.log2(a)) : 0;
  e = Math.max(-1022, Math.min(1023, e));
  const s = 2 ** -e;
  let sum = 0;
  for (let j = 0; j < cols; j++) if (z[j] > -Infinity) sum += z[j] * s;
  const mean = sum / k;
  let sq = 0;
  for (let j = 0; j < cols; j++) {
    if (z[j] > -Infinity) {
      const d = z[j] * s - mean;
      sq += d * d;
    }
  }
  const sigma = Math.sqrt(sq / k);
  const cut = m * s - n * sigma;
  for (let j = 0; j < cols; j++) if (z[j] * s < cut) z[j] = -Infinity;
}

/**
 * Locally typical sampling on p[0..cols) (see the file comment). Rows with at least
 * MIN_HISTOGRAM support classes are narrowed first: a histogram of the keys |-log p - H| (binary
 * exponent and 2 mantissa bits, from the high word: no logarithm), weighted by p, settles every
 * bin wholly inside or outside the prefix; only the bins that may hold its end are sorted. The
 * mass of the bins wholly inside is added in index order rather than in typical order, which
 * changes the running sum by rounding only (~1e-16 relative), far below the margin the slack
 * allows for.
 */
export function typicalFilter(p: Float64Array, cols: number, typicalP: number, s: FilterScratch): boolean {
  if (!(typicalP < 1)) return false; // >= 1 keeps every class; NaN keeps every class
  if (!(typicalP > 0)) typicalP = Number.MIN_VALUE; // out of contract: the most typical class alone
  const h = entropy(p, cols);
  const { key, idx, ord, words, count } = s;
  let k = 0;
  for (let j = 0; j < cols; j++) {
    const v = p[j];
    if (v > 0) {
      idx[k] = j;
      key[k] = Math.abs(-Math.log(v) - h);
      k++;
    }
  }
  if (k <= 1) return false;
  const byKey = (a: number, b: number) => key[a] - key[b] || a - b; // positions: index order
  if (k < MIN_HISTOGRAM) {
    for (let i = 0; i < k; i++) ord[i] = i;
    const o = ord.subarray(0, k).sort(byKey);
    let cum = 0;
    let keep = k;
    for (let i = 0; i < k; i++) {
      cum += p[idx[o[i]]];
      if (cum >= typicalP) {
        keep = i + 1;
        break;
      }
    }
    for (let i = keep; i < k; i++) p[idx[o[i]]] = 0;
    return keep < k;
  }
  count.fill(0);
  for (let i = 0; i < k; i++) count[words[2 * i + HI] >>> BIN_SHIFT] += p[idx[i]];
  // Bins below lo are wholly inside the prefix, bins above hi wholly outside.
  let cum = 0;
  let lo = BINS - 1;
  let hi = BINS - 1;
  let loSet = false;
  for (let b = 0; b < BINS; b++) {
    cum += count[b];
    if (!loSet && cum >= typicalP - MASS_SLACK) {
      lo = b;
      loSet = true;
    }
    if (cum >= typicalP + MASS_SLACK) {
      hi = b;
      break;
    }
  }
  let base = 0;
  let m = 0;
  for (let i = 0; i < k; i++) {
    const b = words[2 * i + HI] >>> BIN_SHIFT;
    if (b < lo) base += p[idx[i]];
    else if (b <= hi) ord[m++] = i;
  }
  const o = ord.subarray(0, m).sort(byKey);
  let keep = m;
  cum = base;
  if (!(cum >= typicalP)) {
    for (let i = 0; i < m; i++) {
      cum += p[idx[o[i]]];
      if (cum >= typicalP) {
        keep = i + 1;
        break;
      }
    }
  } else keep = 0; // not reached: the bins below lo hold less than typicalP - MASS_SLACK
  // Zero the candidates past the prefix and every class in the bins above hi.
  let removed = keep < m;
  for (let i = keep; i < m; i++) p[idx[o[i]]] = 0;
  for (let i = 0; i < k; i++) {
    if (words[2 * i + HI] >>> BIN_SHIFT > hi) {
      p[idx[i]] = 0;
      removed = true;
    }
  }
  return removed;
}
