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

/** Rows with fewer support classes than this are sorted outright by typicalFilter. */
const MIN_SELECT = 256;
/** Histogram bins for the typical prefix: the high word of a non-negative float64, shifted. */
const BIN_SHIFT = 18;
const BINS = 1 << (31 - BIN_SHIFT);
/** Index of the high 32-bit word of a float64 in a Uint32Array view. */
const HI = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1 ? 1 : 0;
/** Slack on the typical mass target when narrowing by bins (their sums are added in another order). */
const MASS_SLACK = 1e-9;

/** Scratch for typicalFilter, reusable across rows of up to `size` classes. */
export class FilterScratch {
  readonly key: Float64Array;
  readonly keyOf: Float64Array;
  readonly keyWords: Uint32Array;
  readonly count = new Float64Array(BINS);
  readonly w: Float64Array;
  readonly pos: Int32Array;
  readonly ord: Int32Array;
  constructor(size: number) {
    this.key = new Float64Array(size);
    this.keyOf = new Float64Array(size);
    this.keyWords = new Uint32Array(this.keyOf.buffer);
    this.w = new Float64Array(size);
    this.pos = new Int32Array(size);
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
 * Locally typical sampling on p[0..cols) (see the file comment). Rows with fewer than
 * MIN_SELECT support classes sort them by (key, index), key = |-log p - H|, and add p along that
 * order, literally. Longer rows narrow the candidates for the end of the prefix with one pass over
 * a histogram of the keys weighted by p, then find it among them by a weighted quickselect (Hoare
 * 1961, three-way partitions carrying p): O(k) instead of a sort, whose comparator calls cost
 * ~100 ns a class. Their running sum adds whole bins and partitions, so it differs from the sum in
 * typical order by rounding only (~1e-16 relative), which could matter only for a prefix mass
 * within that of typicalP. Returns whether a class was removed.
 */
export function typicalFilter(p: Float64Array, cols: number, typicalP: number, s: FilterScratch): boolean {
  if (!(typicalP < 1)) return false; // >= 1 keeps every class; NaN keeps every class
  if (!(typicalP > 0)) typicalP = Number.MIN_VALUE; // out of contract: the most typical class alone
  const { key, w, pos, ord } = s;
  // -log p once, for both H and the keys.
  let k = 0;
  let h = 0;
  for (let j = 0; j < cols; j++) {
    const v = p[j];
    if (v > 0) {
      const nl = -Math.log(v);
      pos[k] = j;
      key[k] = nl;
      w[k] = v;
      h += v * nl;
      k++;
    }
  }
  if (k <= 1) return false;
  for (let i = 0; i < k; i++) key[i] = Math.abs(key[i] - h);
  if (k < MIN_SELECT) {
    for (let i = 0; i < k; i++) ord[i] = i;
    const o = ord.subarray(0, k).sort((a, b) => key[a] - key[b] || a - b); // positions: index order
    let cum = 0;
    let keep = k;
    for (let i = 0; i < k; i++) {
      cum += w[o[i]];
      if (cum >= typicalP) {
        keep = i + 1;
        break;
      }
    }
    for (let i = keep; i < k; i++) p[pos[o[i]]] = 0;
    return keep < k;
  }
  // Narrow first: a histogram of the keys weighted by p (binary exponent and 2 mantissa bits, from
  // the high word) puts every bin wholly inside the prefix (below lo), wholly outside (above hi),
  // or among the candidates; the slack covers the different order of addition.
  const { keyOf, keyWords, count } = s;
  keyOf.set(key.subarray(0, k));
  count.fill(0);
  for (let i = 0; i < k; i++) count[keyWords[2 * i + HI] >>> BIN_SHIFT] += w[i];
  let cum = 0;
  let lo = -1;
  let hi = BINS - 1;
  for (let b = 0; b < BINS; b++) {
    cum += count[b];
    if (lo < 0 && cum >= typicalP - MASS_SLACK) lo = b;
    if (cum >= typicalP + MASS_SLACK) {
      hi = b;
      break;
    }
  }
  if (lo < 0) lo = BINS - 1;
  let base = 0;
  let m = 0;
  for (let i = 0; i < k; i++) {
    const b = keyWords[2 * i + HI] >>> BIN_SHIFT;
    if (b < lo) base += w[i];
    else if (b <= hi) {
      key[m] = key[i];
      w[m] = w[i];
      pos[m] = pos[i];
      m++;
    }
  }
  // The prefix: bins below lo, and the candidates up to (cutKey, cutIndex) in (key, index) order.
  const { cutKey, cutIndex } = weightedCut(s, m, base, typicalP);
  let removed = false;
  for (let j = 0, i = 0; j < cols; j++) {
    if (!(p[j] > 0)) continue;
    const kj = keyOf[i];
    const b = keyWords[2 * i + HI] >>> BIN_SHIFT;
    i++;
    const keep = b < lo || (b <= hi && (kj < cutKey || (kj === cutKey && j <= cutIndex)));
    if (!keep) {
      p[j] = 0;
      removed = true;
    }
  }
  return removed;
}

/**
 * The last (key, index) of the shortest prefix, in (key, index) order, of the k entries of
 * s.key / s.w / s.pos whose running sum of w, starting from base, reaches target; (Infinity, -1)
 * if none does (keep every entry). Reorders the arrays. Quickselect with a median-of-three pivot and three-way
 * partitions; a range that stops shrinking fast (adversarial keys) or gets small is sorted.
 */
function weightedCut(s: FilterScratch, k: number, base: number, target: number): { cutKey: number; cutIndex: number } {
  const { key, w, pos, ord } = s;
  let lo = 0;
  let hi = k; // the range [lo, hi) holds the cut; entries before lo are in the prefix
  let budget = 2 * Math.ceil(Math.log2(k + 1)) + 8;
  while (hi > lo) {
    if (hi - lo <= 32 || budget-- === 0) {
      for (let i = lo; i < hi; i++) ord[i - lo] = i;
      const o = ord.subarray(0, hi - lo).sort((a, b) => key[a] - key[b] || pos[a] - pos[b]);
      let cum = base;
      for (let i = 0; i < o.length; i++) {
        cum += w[o[i]];
        if (cum >= target) return { cutKey: key[o[i]], cutIndex: pos[o[i]] };
      }
      return { cutKey: Infinity, cutIndex: -1 };
    }
    const a = key[lo];
    const b = key[(lo + hi) >>> 1];
    const c = key[hi - 1];
    const pivot = a < b ? (b < c ? b : a < c ? c : a) : a < c ? a : b < c ? c : b;
    // Dutch national flag: [lo, lt) < pivot, [lt, i) === pivot, (gt, hi - 1] > pivot.
    let lt = lo;
    let gt = hi - 1;
    let i = lo;
    while (i <= gt) {
      const v = key[i];
      if (v === pivot) {
        i++;
        continue;
      }
      const t = v < pivot ? lt++ : gt--; // the slot v moves to; i advances past a smaller v only
      const vw = w[i];
      const vp = pos[i];
      key[i] = key[t];
      w[i] = w[t];
      pos[i] = pos[t];
      key[t] = v;
      w[t] = vw;
      pos[t] = vp;
      if (v < pivot) i++;
    }
    let wl = 0;
    for (let t = lo; t < lt; t++) wl += w[t];
    if (base + wl >= target) {
      hi = lt;
      continue;
    }
    let we = 0;
    for (let t = lt; t <= gt; t++) we += w[t];
    if (base + wl + we >= target) {
      // The cut is among the entries equal to the pivot: take them in index order.
      for (let t = lt; t <= gt; t++) ord[t - lt] = t;
      const o = ord.subarray(0, gt - lt + 1).sort((x, y) => pos[x] - pos[y]);
      let cum = base + wl;
      for (let t = 0; t < o.length; t++) {
        cum += w[o[t]];
        if (cum >= target) return { cutKey: pivot, cutIndex: pos[o[t]] };
      }
      return { cutKey: Infinity, cutIndex: -1 }; // not reached (rounding): keep everything
    }
    base += wl + we;
    lo = gt + 1;
  }
  return { cutKey: Infinity, cutIndex: -1 };
}
