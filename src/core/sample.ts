import { argmax } from './argmax.js';
import { epsilonFilter, etaFilter, FilterScratch, topNSigmaFilter, typicalFilter } from './filters.js';
import { entmax } from './entmax.js';
import {
  GUMBEL_BUCKET_MAX,
  GUMBEL_BUCKET_MIN,
  GUMBEL_BUCKET_SHIFT,
  gumbelFromWord,
  gumbelWordFloor,
  seedKey0,
  seedKey1,
} from './gumbel.js';
import { PHILOX_RUN_MAX, philoxRows, philoxRun } from './philox.js';
import { logSoftmax, softmax } from './softmax.js';
import { kthLargestPositive, massPrefix, SelectScratch } from './select.js';
import { sparsemax } from './sparsemax.js';

/**
 * Seeded sampling: n draws per row from
 *   p = eta(epsilon(minP(typicalP(topP(topK(mapping(topNSigma(z / T))))))))
 * each filter followed by renormalisation, each draw a Gumbel-max draw (src/core/gumbel.ts):
 * draw d of row r is the lowest j maximising log p_j + g(r, d, j) over the classes with p_j > 0.
 * This is the inverse-free form of categorical sampling (Gumbel 1954; Maddison et al. 2014) and,
 * the noise being a pure function of (seed, r, d, j), the draws do not depend on batching,
 * chunking or thread count.
 *
 * The exact contract (other implementations reproduce it; conventions as in
 * test/fixtures/reference/README.md, vectors-2):
 *  - z: the logits, or for probabilities pi, z_j = log(pi_j / sum_i pi_i) (pi_j = 0 -> -Infinity);
 *    then z_j + logitBias_j (one float64 addition), and -Infinity for classes outside `allowed`
 *    or in `banned`. A row left with no class is a failure ('no-class').
 *  - Parameters may be per row (PerRow: element rowOffset + r for row r). A seed array keys row r
 *    by seed[rowOffset + r] with row word 0 in the counter; a single seed uses row word r (global).
 *  - T = 0: greedy; every draw is argmax_j z_j (ties to the lowest index); filters are ignored and
 *    the processed distribution is the one-hot of that class. (Any T that is not > 0, e.g. NaN, is
 *    treated as 0.)
 *  - topNSigma > 0 (Tang et al. 2024, top-n-sigma), on z before the mapping: keep
 *    z_j >= max - n sigma over the unmasked entries (./filters.ts); the rest are masked.
 *  - mapping: softmax(z, T), sparsemax(z, T) or entmax(z, alpha, T) of ./softmax, ./sparsemax,
 *    ./entmax.
 *  - topK (integer >= 1), if given: keep the k largest p (ties: lower index first), zero the rest.
 *  - topP in (0, 1], if given: sort p descending (ties: lower index first) and keep the shortest
 *    prefix whose running sum (added in that order) reaches topP; if rounding means it never does,
 *    or topP = 1, keep every class with p > 0. At least one class is always kept.
 *  - typicalP in (0, 1] (Meister et al. 2023, locally typical sampling), epsilon and eta in [0, 1)
 *    (Hewitt et al. 2022, truncation sampling): see ./filters.ts.
 *  - minP in [0, 1], if given: keep p_j >= minP * max_i p_i.
 *  - after each filter that is given: p_j <- p_j / S, S = sum of the kept p in index order; the
 *    newer filters (typicalP, epsilon, eta) renormalise only when they removed a class, so their
 *    no-op values change nothing to the bit.
 *  - the score of class j is Math.log(p_j) + g(r, d, j), in float64.
 *  - replacement false (Gumbel-top-k: Vieira 2014; Kool, van Hoof & Welling 2019): the n draws are
 *    the n classes with p_j > 0 of largest log p_j + g(r, 0, j), in decreasing order (ties: lower
 *    index), a draw from the Plackett-Luce distribution of p without replacement. n above the
 *    number of such classes is a failure ('too-few').
 *  - logprobs, 'processed': Math.log(p_j) of the final p (0 for greedy rows); 'raw': the
 *    log-softmax of z after bias and masks, at T = 1, without mapping or filters (finite for every
 *    unmasked class). topLogprobs: the topN largest of the same distribution, decreasing (ties:
 *    lower index), classes with p = 0 left out, padded with (-1, -Infinity).
 *
 * Preconditions (checked by the HTTP layer, not here): logits finite or -Infinity, probabilities
 * finite and >= 0 with a positive finite sum, T >= 0 finite, alpha > 1, 0 <= rowOffset and
 * rowOffset + rows <= 2^32, n >= 0 (n <= cols without replacement), per-row arrays of at least
 * rowOffset + rows entries, bias and mask indices in [0, cols). Odd input never throws or loops:
 * out-of-range bias or mask indices are ignored, a NaN score never wins, a NaN filter parameter
 * keeps every class; in calls without the newer options a row with every class masked draws -1,
 * with them it is a 'no-class' failure.
 *
 * Speed. The work is one Philox word per class and draw (~1.5 ns on WebAssembly SIMD, ~7.5 ns in
 * plain JavaScript; ./philox.ts); everything else is arranged so that only a handful of classes
 * per draw pay for the two logarithms of the noise or for log p_j, without changing any result:
 *  - softmax without filters (the common case) never forms p. With x_j = (z_j - max z) / T,
 *    log p_j = x_j - log sum_i exp(x_i) up to a few ulps (for any p_j > e^-30; smaller ones
 *    cannot come near the best), and the normaliser is the same for every class, so the proxy
 *    score x_j + g_j orders classes like the exact score except within rounding (< 1e-12). We
 *    keep the classes whose proxy may come within EPS = 1e-9 of the best, judged first by
 *    bucket bounds of g (GUMBEL_BUCKET_MIN/MAX: two table loads, no logarithm): lower bounds
 *    raise the bar, upper bounds decide who stays. If one class is left it is the draw; else
 *    exact proxies decide, and only a near-tie within EPS (probability ~1e-9) calls softmax and
 *    compares exact scores. Rows are cut in chunks of 256 classes: a chunk whose largest x
 *    cannot reach the bar even with the largest noise (22.87) skips Philox, and inside a chunk
 *    the bar becomes a floor on the Philox word alone (gumbelWordFloor), so most classes cost
 *    one compare. The chunk holding the row maximum goes first to raise the bar early. Rows of
 *    at most 64 classes (logits input) are batched: one Philox call serves up to 1024 rows.
 *  - otherwise (sparse mappings, filters) we form p, keep its support, and stream the exact score
 *    with a bound: g <= -log(1 - u) since -log u >= 1 - u, so class j can beat the running best
 *    B only if 1 - u_j < p_j exp(-B) (with a 1e-6 margin for rounding); the test is a multiply
 *    and a compare on the Philox word, and p_j exp(-B) <= 2^-33 skips Philox for the class.
 *    Philox blocks are computed only for the runs of support classes that need them.
 *  - draws without replacement stream the support the same way with the n-th best score of a heap
 *    as the bar; softmax rows without filters use proxy scores as above (the n + 1 best, kept in a
 *    heap) and take the exact path only when two of them come within EPS or a drawn p is tiny.
 *  - calls with none of the newer options take exactly the paths above; the others go row by row
 *    through generalSample (per-row seeds cannot share the batched short-row Philox call, whose
 *    rows differ only in the row word).
 * Every shortcut is checked against a literal transcription of the contract in
 * test/core/sample.test.ts, including constructed near-ties.
 */

export type SampleMapping = 'softmax' | 'sparsemax' | 'entmax';

/** A parameter for every row (a number), or one per row of the whole request, indexed by the GLOBAL row rowOffset + r. */
export type PerRow = number | Float64Array;

export interface SampleOptions {
  /** 'logits' (default) or 'probs'. */
  input?: 'logits' | 'probs';
  /** Default 'softmax'. */
  mapping?: SampleMapping;
  /** Draws per row, default 1. */
  n?: number;
  /** Global index of row 0 in the request, default 0. */
  rowOffset?: number;
  /** entmax alpha, default 1.5. */
  alpha?: PerRow;
  /** Default 1; 0 means greedy. */
  temperature?: PerRow;
  /** The filters; undefined = filter off. */
  topK?: PerRow;
  topP?: PerRow;
  minP?: PerRow;
  typicalP?: PerRow;
  epsilon?: PerRow;
  eta?: PerRow;
  topNSigma?: PerRow;
  /**
   * Integer(s) in [0, 2^53). A number: today's stream (row word = global row). A Float64Array:
   * seed[rowOffset + r] keys row r, row word 0.
   */
  seed: number | Float64Array;
  /** Added to the logit (to log p with probs input) before temperature; indices in [0, cols), distinct. */
  logitBias?: { index: Int32Array; value: Float64Array };
  /** Every class not listed is masked. */
  allowed?: Int32Array;
  /** Listed classes are masked. */
  banned?: Int32Array;
  /** Default true. */
  replacement?: boolean;
  /** Default 'processed'; applies to both logprobs and topLogprobs. */
  logprobsMode?: 'processed' | 'raw';
}

export interface SampleOutputs {
  /** rows x n. */
  samples: Int32Array;
  /** rows x n, log p of each drawn class (filled when given). */
  logprobs?: Float64Array;
  /**
   * rows x width each, width = max(1, min(topN, cols)): the topN most probable classes,
   * decreasing (ties lower index), p = 0 classes left out; padding index -1 and logprob
   * -Infinity. Allocated here when topN is set and they are missing or short.
   */
  topIndices?: Int32Array;
  topLogprobs?: Float64Array;
  /** The requested N (0..64); with N = 0 every row is all padding. Unset: no top lists. */
  topN?: number;
}

/** The first row (global index) that cannot be answered. */
export interface SampleFailure {
  row: number;
  /** 'no-class': bias/masks/allowed/banned left no class; 'too-few': replacement false and n > classes with p > 0. */
  kind: 'no-class' | 'too-few';
  /** The number of classes with p > 0 in that row. */
  classes: number;
}

/** The options of the speed paths: every parameter a number, one seed, nothing new asked for. */
interface LegacyOptions {
  input?: 'logits' | 'probs';
  mapping?: SampleMapping;
  alpha?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  n?: number;
  seed: number;
  rowOffset?: number;
}

/** Rows up to this many classes take the batched path (shortRowsDraws). */
const SHORT_ROW = 64;
/** Classes per chunk in the softmax path: 64 Philox blocks. */
const CHUNK = 256;
/** Near-tie margin of the softmax path, in score units (rounding of the scores is < 1e-12). */
const EPS = 1e-9;
/** Rounding margin of the word floor (thr - cx is rounded), in score units. */
const FLOOR_MARGIN = 1e-6;
/** Rounding margin of the support path's bound, in score units. */
const DELTA = 1e-6;
const TWO_32 = 4294967296;
/** 2^32 (1 - u) = 2^32 - x - 0.5 for the word x. */
const ONE_MINUS_U_SCALE = 4294967295.5;
const G_CAP = GUMBEL_BUCKET_MAX[GUMBEL_BUCKET_MAX.length - 1];

/**
 * n draws (d = 0..n-1) for each row of the row-major (rows x cols) data; draw d of row r goes to
 * out[r n + d]. See the file comment for the exact definition. A thin wrapper of sampleInto: rows
 * from a failing one on (see SampleFailure) draw -1.
 */
export function sample(
  data: Float64Array,
  rows: number,
  cols: number,
  options: SampleOptions,
  out: Int32Array = new Int32Array(rows * (options.n ?? 1)),
): Int32Array {
  const failure = sampleInto(data, rows, cols, options, { samples: out });
  if (failure) out.fill(-1, (failure.row - (options.rowOffset ?? 0)) * (options.n ?? 1));
  return out;
}

/** A per-row parameter's value for global row g (undefined stays undefined). */
function at(v: PerRow | undefined, g: number): number | undefined {
  return v === undefined || typeof v === 'number' ? v : v[g];
}

/**
 * n draws per row into outs.samples, and the log-probabilities asked for in outs (see the file
 * comment). Returns the first row that cannot be answered (then rows from it on are unset), or
 * null. Never throws on odd values.
 */
export function sampleInto(
  data: Float64Array,
  rows: number,
  cols: number,
  options: SampleOptions,
  outs: SampleOutputs,
): SampleFailure | null {
  const o = options;
  const legacy =
    typeof o.seed === 'number' &&
    !(o.alpha instanceof Float64Array) &&
    !(o.temperature instanceof Float64Array) &&
    !(o.topK instanceof Float64Array) &&
    !(o.topP instanceof Float64Array) &&
    !(o.minP instanceof Float64Array) &&
    o.typicalP === undefined &&
    o.epsilon === undefined &&
    o.eta === undefined &&
    o.topNSigma === undefined &&
    o.logitBias === undefined &&
    o.allowed === undefined &&
    o.banned === undefined &&
    o.replacement !== false &&
    outs.logprobs === undefined &&
    outs.topN === undefined;
  if (legacy) {
    legacySample(data, rows, cols, o as LegacyOptions, outs.samples);
    return null;
  }
  return generalSample(data, rows, cols, o, outs);
}

/** The speed paths of the file comment, for calls that use none of the newer options. */
function legacySample(data: Float64Array, rows: number, cols: number, options: LegacyOptions, out: Int32Array): void {
  const n = options.n ?? 1;
  const temperature = options.temperature ?? 1;
  const mapping = options.mapping ?? 'softmax';
  const alpha = options.alpha ?? 1.5;
  const probsInput = options.input === 'probs';
  const { topK, topP, minP } = options;
  const rowOffset = options.rowOffset ?? 0;
  const k0 = seedKey0(options.seed);
  const k1 = seedKey1(options.seed);
  const greedy = !(temperature > 0);
  const filtered = topK != null || topP != null || minP != null;
  const fast = mapping === 'softmax' && !filtered;

  // Scratch, allocated once per call.
  const z = probsInput ? new Float64Array(cols) : undefined;
  // The softmax path forms p only for a near-tie (probability ~1e-9 a draw): allocated then
  // (a row of 128K classes made 1 MB of garbage a call, and its collections, for nothing).
  const p = fast ? EMPTY_F64 : new Float64Array(cols);
  const s: Scratch = {
    p,
    chunkMax: fast ? new Float64Array(Math.ceil(cols / CHUNK)) : EMPTY_F64,
    x: fast && temperature !== 1 ? new Float64Array(cols) : EMPTY_F64,
    // Grow-only and kept between calls: sized to cols by the short-row path, allocating them per
    // call was a third of a 1x50 draw (measured 4.4 us a call).
    near: NEAR.near,
    nearW: NEAR.nearW,
    nearX: NEAR.nearX,
    nearCount: 0,
    idx: fast ? EMPTY_I32 : new Int32Array(cols),
    pv: fast ? EMPTY_F64 : new Float64Array(cols),
    select: filtered ? new SelectScratch(new Float64Array(cols)) : EMPTY_SELECT,
  };
  const support = new Int32Array(1);
  const one = new Int32Array(1);

  if (fast && !greedy && !probsInput && cols <= SHORT_ROW) {
    shortRowsDraws(data, rows, cols, temperature, n, k0, k1, rowOffset, out, s);
    keepNear(s);
    return;
  }
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    if (z) logNormalised(data, base, cols, z);
    const o = r * n;
    const row = r + rowOffset;
    if (fast && !greedy) {
      if (z) softmaxDraws(z, 0, cols, temperature, n, k0, k1, row, out, o, s);
      else softmaxDraws(data, base, cols, temperature, n, k0, k1, row, out, o, s);
      continue;
    }
    const zr = z ?? data.subarray(base, base + cols);
    if (greedy) {
      argmax(zr, 1, cols, one);
      out.fill(one[0], o, o + n);
      continue;
    }
    if (mapping === 'softmax') softmax(zr, 1, cols, temperature, p);
    else if (mapping === 'sparsemax') sparsemax(zr, 1, cols, temperature, p, support);
    else entmax(zr, 1, cols, alpha, temperature, p, support);
    if (topK != null) {
      topKFilter(p, cols, topK, s.select);
      renormalise(p, cols);
    }
    if (topP != null) {
      topPFilter(p, cols, topP, s.select);
      renormalise(p, cols);
    }
    if (minP != null) {
      minPFilter(p, cols, minP);
      renormalise(p, cols);
    }
    supportDraws(cols, n, k0, k1, row, out, o, s);
  }
  keepNear(s);
}

/** The near-tie buffers, reused by every call (sample is synchronous, one call at a time). */
const NEAR: Pick<Scratch, 'near' | 'nearW' | 'nearX'> = { near: new Int32Array(64), nearW: new Uint32Array(64), nearX: new Float64Array(64) };

function keepNear(s: Scratch): void {
  // Not buffers grown for a row of millions of classes: those are collected after the call.
  if (s.near.length > 1 << 16) return;
  NEAR.near = s.near;
  NEAR.nearW = s.nearW;
  NEAR.nearX = s.nearX;
}

interface Scratch {
  p: Float64Array;
  chunkMax: Float64Array;
  x: Float64Array;
  near: Int32Array;
  nearW: Uint32Array;
  nearX: Float64Array;
  nearCount: number;
  idx: Int32Array;
  pv: Float64Array;
  select: SelectScratch;
}

const EMPTY_F64 = new Float64Array(0);
const EMPTY_I32 = new Int32Array(0);
const EMPTY_U32 = new Uint32Array(0);
const EMPTY_SELECT = new SelectScratch(EMPTY_F64);

/** z_j = log(pi_j / sum pi) for the row at data[base..base + cols); pi_j <= 0 (or NaN) -> -Infinity. */
function logNormalised(data: Float64Array, base: number, cols: number, z: Float64Array): void {
  let sum = 0;
  for (let j = 0; j < cols; j++) {
    const v = data[base + j];
    if (v > 0) sum += v;
  }
  for (let j = 0; j < cols; j++) {
    const v = data[base + j];
    z[j] = v > 0 ? Math.log(v / sum) : -Infinity;
  }
}

/**
 * n draws of one row from softmax(z / T), no filters (see "Speed" in the file comment); the row
 * is z[zBase..zBase + cols).
 */
function softmaxDraws(
  z: Float64Array,
  zBase: number,
  cols: number,
  temperature: number,
  n: number,
  k0: number,
  k1: number,
  row: number,
  out: Int32Array,
  o: number,
  s: Scratch,
): void {
  const chunkMax = s.chunkMax;
  const nChunks = chunkMax.length;
  let m = -Infinity;
  let top = 0; // the chunk holding the row maximum
  for (let c = 0, j = zBase; c < nChunks; c++) {
    const end = Math.min(j + CHUNK, zBase + cols);
    let cm = -Infinity;
    for (; j < end; j++) if (z[j] > cm) cm = z[j];
    chunkMax[c] = cm;
    if (cm > m) {
      m = cm;
      top = c;
    }
  }
  let jTop = top * CHUNK; // the first class at the maximum
  while (jTop < cols - 1 && z[zBase + jTop] !== m) jTop++;
  if (m === -Infinity) {
    out.fill(-1, o, o + n);
    return;
  }
  // x_j = (z_j - m) / T is read as src[sBase + j] - shift: at T = 1 straight from z (dividing by
  // 1 is exact), otherwise from a row of x computed once for all n draws.
  let src = z;
  let sBase = zBase;
  let shift = m;
  if (temperature !== 1) {
    src = s.x;
    sBase = 0;
    shift = 0;
    for (let j = 0; j < cols; j++) src[j] = (z[zBase + j] - m) / temperature;
  }
  // (z - m) / T is non-decreasing in z, so the chunk maxima of x are those of z, mapped.
  for (let c = 0; c < nChunks; c++) chunkMax[c] = (chunkMax[c] - m) / temperature;

  let pReady = false;
  for (let d = 0; d < n; d++) {
    // Pass over the row: keep every class whose proxy score x + g can come within EPS of the
    // best, judged by bucket bounds of g only (no logarithm): lower bounds raise the bar thr,
    // upper bounds decide who stays. wFloor turns thr into a bar on the word alone: in a chunk
    // whose largest x is cx, a class needs g >= thr - cx.
    let maxLo = -Infinity;
    let thr = -Number.MAX_VALUE; // a finite floor keeps masked classes (-Infinity) out
    let len = 0;
    // The chunk with the row maximum goes first: it sets a high bar early, so the word floor
    // filters the other chunks from their first class. The order changes no result: the kept
    // classes are settled with explicit lowest-index tie-breaks.
    for (let t = -1; t < nChunks; t++) {
      const c = t < 0 ? top : t;
      if (t === top) continue;
      const cx = chunkMax[c];
      if (cx + G_CAP < thr) continue; // nothing here can reach thr: skip Philox too
      const j0 = c * CHUNK;
      const j1 = Math.min(j0 + CHUNK, cols);
      // On short chunks (small rows) the floor does not repay its upkeep.
      const useFloor = j1 - j0 > 32;
      let wFloor = useFloor ? gumbelWordFloor(thr - cx - FLOOR_MARGIN) : 0;
      const words = philoxRun(k0, k1, d, row, 0, j0 >>> 2, (j1 - j0 + 3) >>> 2);
      if (t < 0) {
        // Seed the bar with the class at the maximum (x = 0), as the loop would when it gets there.
        maxLo = GUMBEL_BUCKET_MIN[words[jTop - j0] >>> GUMBEL_BUCKET_SHIFT];
        thr = maxLo - EPS;
        if (useFloor) wFloor = gumbelWordFloor(thr - cx - FLOOR_MARGIN);
      }
      for (let j = j0; j < j1; j++) {
        const w = words[j - j0];
        if (w < wFloor) continue;
        const x = src[sBase + j] - shift;
        const b = w >>> GUMBEL_BUCKET_SHIFT;
        if (x + GUMBEL_BUCKET_MAX[b] < thr) continue;
        if (len === s.near.length) len = compactNear(s, len, thr);
        s.near[len] = j;
        s.nearW[len] = w;
        s.nearX[len] = x;
        len++;
        const lo = x + GUMBEL_BUCKET_MIN[b];
        if (lo > maxLo) {
          maxLo = lo;
          thr = maxLo - EPS;
          if (useFloor) wFloor = gumbelWordFloor(thr - cx - FLOOR_MARGIN);
        }
      }
    }
    out[o + d] = len === 0 ? -1 : settle(s, len, thr);
    if (out[o + d] !== SETTLE_EXACT) continue;
    // A near-tie of proxies: settle it with the exact scores, p from softmax.
    if (!pReady) {
      if (s.p.length < cols) s.p = new Float64Array(cols);
      softmax(z.subarray(zBase, zBase + cols), 1, cols, temperature, s.p);
      pReady = true;
    }
    out[o + d] = exactDraw(s);
  }
}

/**
 * Softmax rows of at most SHORT_ROW classes, logits input, no filters: the same draws as
 * softmaxDraws, with the Philox blocks of up to PHILOX_RUN_MAX / 4 rows computed in one call
 * (per-row overhead dominates short rows). Rows have one chunk, so no chunk skip or word floor.
 */
function shortRowsDraws(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature: number,
  n: number,
  k0: number,
  k1: number,
  rowOffset: number,
  out: Int32Array,
  s: Scratch,
): void {
  const nBlocks = (cols + 3) >>> 2;
  const padded = (nBlocks + 3) & ~3; // blocks per row in the Philox buffer
  const batch = Math.floor(PHILOX_RUN_MAX / padded);
  if (s.near.length < cols) growNear(s, cols); // every class may be kept: no checks below
  const { near, nearW, nearX } = s;
  for (let r0 = 0; r0 < rows; r0 += batch) {
    const nr = Math.min(batch, rows - r0);
    for (let d = 0; d < n; d++) {
      const words = philoxRows(k0, k1, d, rowOffset + r0, 0, 0, nBlocks, nr);
      for (let i = 0, base = r0 * cols; i < nr; i++, base += cols) {
        const wb = 4 * padded * i;
        let m = -Infinity;
        let top = 0;
        for (let j = 0; j < cols; j++) {
          if (data[base + j] > m) {
            m = data[base + j];
            top = j;
          }
        }
        let draw = -1;
        if (m !== -Infinity) {
          // Seed the bar with the class at the maximum (x = 0): most classes then fail the test
          // below at once, which the branch predictor likes. It is kept when the loop meets it.
          let maxLo = GUMBEL_BUCKET_MIN[words[wb + top] >>> GUMBEL_BUCKET_SHIFT];
          let thr = maxLo - EPS;
          let len = 0;
          for (let j = 0; j < cols; j++) {
            const w = words[wb + j];
            const x = temperature === 1 ? data[base + j] - m : (data[base + j] - m) / temperature;
            const b = w >>> GUMBEL_BUCKET_SHIFT;
            if (x + GUMBEL_BUCKET_MAX[b] < thr) continue;
            near[len] = j;
            nearW[len] = w;
            nearX[len] = x;
            len++;
            const lo = x + GUMBEL_BUCKET_MIN[b];
            if (lo > maxLo) {
              maxLo = lo;
              thr = maxLo - EPS;
            }
          }
          draw = len === 0 ? -1 : settle(s, len, thr);
          if (draw === SETTLE_EXACT) {
            if (s.p.length < cols) s.p = new Float64Array(cols);
            softmax(data.subarray(base, base + cols), 1, cols, temperature, s.p);
            draw = exactDraw(s);
          }
        }
        out[(r0 + i) * n + d] = draw;
      }
    }
  }
}

function growNear(s: Scratch, size: number): void {
  const near = new Int32Array(size);
  near.set(s.near.subarray(0, Math.min(size, s.near.length)));
  const nearW = new Uint32Array(size);
  nearW.set(s.nearW.subarray(0, Math.min(size, s.nearW.length)));
  const nearX = new Float64Array(size);
  nearX.set(s.nearX.subarray(0, Math.min(size, s.nearX.length)));
  s.near = near;
  s.nearW = nearW;
  s.nearX = nearX;
}

/** The lowest j maximising log p_j + g_j over s.near[0..s.nearCount), p in s.p (index space). */
function exactDraw(s: Scratch): number {
  let bi = -1;
  let bs = -Infinity;
  for (let i = 0; i < s.nearCount; i++) {
    const pj = s.p[s.near[i]];
    if (pj > 0) {
      const sc = Math.log(pj) + gumbelFromWord(s.nearW[i]);
      if (sc > bs || (sc === bs && s.near[i] < bi)) {
        bs = sc;
        bi = s.near[i];
      }
    }
  }
  return bi;
}

/** Returned by settle when the exact scores must decide among s.near[0..s.nearCount). */
const SETTLE_EXACT = -2;

/**
 * The draw among the kept classes s.near[0..len) (any order), or SETTLE_EXACT. Classes whose
 * upper bound is below thr are out; if one is left it wins; otherwise exact proxies x + g decide,
 * unless two come within EPS of each other.
 */
function settle(s: Scratch, len: number, thr: number): number {
  const { near, nearW, nearX } = s;
  let k = 0;
  for (let i = 0; i < len; i++) {
    if (nearX[i] + GUMBEL_BUCKET_MAX[nearW[i] >>> GUMBEL_BUCKET_SHIFT] >= thr) {
      near[k] = near[i];
      nearW[k] = nearW[i];
      nearX[k] = nearX[i];
      k++;
    }
  }
  if (k === 1) return near[0];
  let best = -Infinity;
  for (let i = 0; i < k; i++) {
    const sc = nearX[i] + gumbelFromWord(nearW[i]);
    nearX[i] = sc; // from here on nearX holds the proxy score
    if (sc > best) best = sc;
  }
  let m = 0;
  for (let i = 0; i < k; i++) {
    if (nearX[i] >= best - EPS) {
      near[m] = near[i];
      nearW[m] = nearW[i];
      m++;
    }
  }
  if (m === 1) return near[0];
  s.nearCount = m;
  return SETTLE_EXACT;
}

/** Drop kept classes whose upper bound fell below thr; grow the buffers if that frees nothing. */
function compactNear(s: Scratch, len: number, thr: number): number {
  let k = 0;
  for (let i = 0; i < len; i++) {
    if (s.nearX[i] + GUMBEL_BUCKET_MAX[s.nearW[i] >>> GUMBEL_BUCKET_SHIFT] >= thr) {
      s.near[k] = s.near[i];
      s.nearW[k] = s.nearW[i];
      s.nearX[k] = s.nearX[i];
      k++;
    }
  }
  if (k * 2 > len) growNear(s, len * 2);
  return k;
}

/** n draws of one row from the final p in s.p (see "Speed" in the file comment). */
function supportDraws(
  cols: number,
  n: number,
  k0: number,
  k1: number,
  row: number,
  out: Int32Array,
  o: number,
  s: Scratch,
): void {
  const { p, idx, pv } = s;
  let k = 0;
  for (let j = 0; j < cols; j++) {
    if (p[j] > 0) {
      idx[k] = j;
      pv[k] = p[j];
      k++;
    }
  }
  if (k === 0) {
    out.fill(-1, o, o + n);
    return;
  }
  const maxBlocks = CHUNK >>> 2;
  for (let d = 0; d < n; d++) {
    let best = -Infinity;
    let bi = -1;
    let scale = Infinity; // 2^32 exp(DELTA - best)
    let words: Uint32Array = EMPTY_U32; // holds blocks [first, last)
    let first = 0;
    let last = 0;
    for (let i = 0; i < k; i++) {
      const lim = pv[i] * scale;
      if (!(lim > 0.5)) continue; // 2^32 (1 - u) >= 0.5 for every word: this class cannot win
      const j = idx[i];
      const b = j >>> 2;
      if (b < first || b >= last) {
        // The run of blocks from b to the last support class within maxBlocks of it.
        let i2 = i;
        while (i2 + 1 < k && idx[i2 + 1] >>> 2 < b + maxBlocks) i2++;
        first = b;
        last = (idx[i2] >>> 2) + 1;
        words = philoxRun(k0, k1, d, row, 0, first, last - first);
      }
      const w = words[((b - first) << 2) + (j & 3)];
      if (ONE_MINUS_U_SCALE - w < lim) {
        const sc = Math.log(pv[i]) + gumbelFromWord(w);
        if (sc > best) {
          best = sc;
          bi = j;
          scale = Math.exp(DELTA - best) * TWO_32;
        }
      }
    }
    out[o + d] = bi;
  }
}

/** p_j <- p_j / S, S = sum of p in index order (zeros stay zero). */
function renormalise(p: Float64Array, cols: number): void {
  let sum = 0;
  for (let j = 0; j < cols; j++) if (p[j] > 0) sum += p[j];
  if (!(sum > 0)) return;
  for (let j = 0; j < cols; j++) if (p[j] > 0) p[j] = p[j] / sum;
}

/**
 * Keep the k largest entries of p[0..cols) (ties: lower index first), zero the others; k is
 * floored and at least 1. Does not renormalise.
 */
export function topKFilter(p: Float64Array, cols: number, k: number, scratch = new SelectScratch(new Float64Array(cols))): void {
  k = Math.max(1, Math.floor(k));
  const values = scratch.values;
  let npos = 0;
  for (let j = 0; j < cols; j++) if (p[j] > 0) values[npos++] = p[j];
  if (!(k < npos)) return;
  keepLargest(p, cols, k, kthLargestPositive(scratch, npos, k));
}

/**
 * Keep the shortest prefix of p[0..cols) sorted descending (ties: lower index first) whose sum
 * reaches topP, at least one class; every class with p > 0 if the sum never reaches it or if
 * topP >= 1. Does not renormalise.
 */
export function topPFilter(p: Float64Array, cols: number, topP: number, scratch = new SelectScratch(new Float64Array(cols))): void {
  if (topP >= 1) return; // every class, even where the float partial sums reach 1 early
  const values = scratch.values;
  let npos = 0;
  for (let j = 0; j < cols; j++) if (p[j] > 0) values[npos++] = p[j];
  if (npos === 0) return;
  const { k, last } = massPrefix(scratch, npos, topP);
  if (k < npos) keepLargest(p, cols, k, last);
}

/** Keep p_j >= minP * max p, zero the others. Does not renormalise. */
export function minPFilter(p: Float64Array, cols: number, minP: number): void {
  let mx = 0;
  for (let j = 0; j < cols; j++) if (p[j] > mx) mx = p[j];
  const t = minP * mx;
  for (let j = 0; j < cols; j++) if (p[j] < t) p[j] = 0;
}

/** Keep every p_j > v, and p_j === v in index order until k are kept; zero the rest. */
function keepLargest(p: Float64Array, cols: number, k: number, v: number): void {
  let above = 0;
  for (let j = 0; j < cols; j++) if (p[j] > v) above++;
  let ties = k - above;
  for (let j = 0; j < cols; j++) {
    const pj = p[j];
    if (pj > v) continue;
    if (pj === v && ties > 0) ties--;
    else p[j] = 0;
  }
}

/** Most entries of a top list (topLogprobs N). */
const TOP_MAX = 64;

/**
 * Every call that uses a newer option: per-row parameters or seeds, bias and masks, the newer
 * filters, draws without replacement, log-probabilities. Row by row: z (bias, masks) -> greedy
 * or topNSigma -> mapping -> filters -> draws -> log-probabilities. Softmax rows without filters
 * still draw through softmaxDraws (same draws, p is formed only when log-probabilities need it).
 */
function generalSample(data: Float64Array, rows: number, cols: number, o: SampleOptions, outs: SampleOutputs): SampleFailure | null {
  const n = o.n ?? 1;
  const rowOffset = o.rowOffset ?? 0;
  const mapping = o.mapping ?? 'softmax';
  const probsInput = o.input === 'probs';
  const replacement = o.replacement !== false;
  const raw = o.logprobsMode === 'raw';
  const samples = outs.samples;
  const lpOut = outs.logprobs;
  const topN = outs.topN;
  let width = 0;
  let topIdx: Int32Array = EMPTY_I32;
  let topLp: Float64Array = EMPTY_F64;
  if (topN !== undefined) {
    width = Math.max(1, Math.min(topN, cols));
    if (!outs.topIndices || outs.topIndices.length < rows * width) outs.topIndices = new Int32Array(rows * width);
    if (!outs.topLogprobs || outs.topLogprobs.length < rows * width) outs.topLogprobs = new Float64Array(rows * width);
    topIdx = outs.topIndices;
    topLp = outs.topLogprobs;
  }
  const wantLp = lpOut !== undefined || topN !== undefined;
  const perRowSeed = typeof o.seed !== 'number';

  // Scratch, O(cols): row buffers reused between calls (see rowBuffers), the rest per call.
  const { z, p, x, pv, idx } = rowBuffers(cols);
  const rawLp = raw && wantLp ? new Float64Array(cols) : EMPTY_F64;
  let mask: Uint8Array | undefined;
  if (o.allowed || o.banned) {
    mask = new Uint8Array(cols);
    if (o.allowed) {
      mask.fill(1);
      for (const j of o.allowed) if (j >= 0 && j < cols) mask[j] = 0;
    }
    if (o.banned) for (const j of o.banned) if (j >= 0 && j < cols) mask[j] = 1;
  }
  const s: Scratch = {
    p,
    chunkMax: new Float64Array(Math.ceil(cols / CHUNK)),
    x,
    near: NEAR.near,
    nearW: NEAR.nearW,
    nearX: NEAR.nearX,
    nearCount: 0,
    idx,
    pv,
    select: o.topK !== undefined || o.topP !== undefined ? new SelectScratch(new Float64Array(cols)) : EMPTY_SELECT,
  };
  const fs = o.typicalP !== undefined ? new FilterScratch(cols) : undefined;
  const heapS = replacement ? EMPTY_F64 : new Float64Array(Math.min(n + 1, cols));
  const heapI = replacement ? EMPTY_I32 : new Int32Array(Math.min(n + 1, cols));
  const support = new Int32Array(1);
  const bias = o.logitBias;

  // One seed: its key words once; per-row seeds: each row's.
  let k0 = typeof o.seed === 'number' ? seedKey0(o.seed) : 0;
  let k1 = typeof o.seed === 'number' ? seedKey1(o.seed) : 0;
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    const g = rowOffset + r;
    if (typeof o.seed !== 'number') {
      k0 = seedKey0(o.seed[g]);
      k1 = seedKey1(o.seed[g]);
    }
    const rowWord = perRowSeed ? 0 : g;
    const out0 = r * n;

    // z: the logits (log of the normalised probs), bias added, masks applied.
    if (probsInput) logNormalised(data, base, cols, z);
    else z.set(data.subarray(base, base + cols));
    if (bias) {
      for (let i = 0; i < bias.index.length; i++) {
        const j = bias.index[i];
        if (j >= 0 && j < cols) z[j] += bias.value[i];
      }
    }
    let live = 0;
    let best = -1; // the lowest-index maximum
    let mz = -Infinity;
    for (let j = 0; j < cols; j++) {
      if (mask !== undefined && mask[j] === 1) z[j] = -Infinity;
      const v = z[j];
      if (v > -Infinity) live++;
      if (v > mz) {
        mz = v;
        best = j;
      }
    }
    if (live === 0 || best < 0) return { row: g, kind: 'no-class', classes: 0 };
    if (raw && wantLp) logSoftmax(z, 1, cols, 1, rawLp);

    const t = at(o.temperature, g) ?? 1;
    if (!(t > 0)) {
      // Greedy: the processed distribution is the one-hot of the argmax.
      if (!replacement && n > 1) return { row: g, kind: 'too-few', classes: 1 };
      samples.fill(best, out0, out0 + n);
      if (lpOut) lpOut.fill(raw ? rawLp[best] : 0, out0, out0 + n);
      if (topN !== undefined) {
        if (raw) topList(rawLp, cols, -Infinity, false, topN, width, topIdx, topLp, r * width);
        else {
          topIdx.fill(-1, r * width, (r + 1) * width);
          topLp.fill(-Infinity, r * width, (r + 1) * width);
          if (topN > 0) {
            topIdx[r * width] = best;
            topLp[r * width] = 0;
          }
        }
      }
      continue;
    }

    const nSigma = at(o.topNSigma, g);
    if (nSigma !== undefined) topNSigmaFilter(z, cols, nSigma);
    const topK = at(o.topK, g);
    const topP = at(o.topP, g);
    const typicalP = at(o.typicalP, g);
    const minP = at(o.minP, g);
    const epsilon = at(o.epsilon, g);
    const eta = at(o.eta, g);
    const filtered =
      topK !== undefined || topP !== undefined || typicalP !== undefined || minP !== undefined || epsilon !== undefined || eta !== undefined;
    // Softmax rows without filters draw from proxy scores (softmaxDraws, softmaxTopDraws); p is
    // formed only for log-probabilities or to settle a near-tie.
    const fastRow = mapping === 'softmax' && !filtered;
    const needP = !fastRow || (wantLp && !raw);
    if (needP) {
      if (mapping === 'softmax') softmax(z, 1, cols, t, p);
      else if (mapping === 'sparsemax') sparsemax(z, 1, cols, t, p, support);
      else entmax(z, 1, cols, at(o.alpha, g) ?? 1.5, t, p, support);
      if (topK !== undefined) {
        topKFilter(p, cols, topK, s.select);
        renormalise(p, cols);
      }
      if (topP !== undefined) {
        topPFilter(p, cols, topP, s.select);
        renormalise(p, cols);
      }
      // The newer filters renormalise only when they removed a class (see ./filters.ts).
      if (typicalP !== undefined && fs && typicalFilter(p, cols, typicalP, fs)) renormalise(p, cols);
      if (minP !== undefined) {
        minPFilter(p, cols, minP);
        renormalise(p, cols);
      }
      if (epsilon !== undefined && epsilonFilter(p, cols, epsilon)) renormalise(p, cols);
      if (eta !== undefined && etaFilter(p, cols, eta)) renormalise(p, cols);
    }

    if (fastRow && replacement) softmaxDraws(z, 0, cols, t, n, k0, k1, rowWord, samples, out0, s);
    else if (replacement) supportDraws(cols, n, k0, k1, rowWord, samples, out0, s);
    else if (!(fastRow && softmaxTopDraws(z, cols, t, n, k0, k1, rowWord, samples, out0, s, heapS, heapI))) {
      if (!needP) softmax(z, 1, cols, t, p);
      let k = 0;
      for (let j = 0; j < cols; j++) if (p[j] > 0) k++;
      if (n > k) return { row: g, kind: 'too-few', classes: k };
      gumbelTopDraws(cols, n, k0, k1, rowWord, samples, out0, s, heapS, heapI);
    }

    if (lpOut) {
      for (let d = 0; d < n; d++) {
        const j = samples[out0 + d];
        lpOut[out0 + d] = j < 0 ? -Infinity : raw ? rawLp[j] : Math.log(p[j]);
      }
    }
    if (topN !== undefined) {
      if (raw) topList(rawLp, cols, -Infinity, false, topN, width, topIdx, topLp, r * width);
      else topList(p, cols, 0, true, topN, width, topIdx, topLp, r * width);
    }
  }
  keepNear(s);
  return null;
}

/** Row buffers of generalSample, grown as needed and kept between calls up to KEEP_COLS classes. */
interface RowBuffers {
  z: Float64Array;
  p: Float64Array;
  x: Float64Array;
  pv: Float64Array;
  idx: Int32Array;
}
const KEEP_COLS = 1 << 16;
let ROW_BUFFERS: RowBuffers = rowBuffersOf(0);

function rowBuffersOf(cols: number): RowBuffers {
  return { z: new Float64Array(cols), p: new Float64Array(cols), x: new Float64Array(cols), pv: new Float64Array(cols), idx: new Int32Array(cols) };
}

/**
 * Buffers of at least cols entries (every user reads only [0, cols)). Allocating ~36 bytes a
 * class per call was a third of a 1x50257 draw; a row of millions of classes gets buffers of its
 * own, collected after the call.
 */
function rowBuffers(cols: number): RowBuffers {
  if (ROW_BUFFERS.z.length >= cols) return ROW_BUFFERS;
  const b = rowBuffersOf(cols);
  if (cols <= KEEP_COLS) ROW_BUFFERS = b;
  return b;
}

const TOP_V = new Float64Array(TOP_MAX);
const TOP_I = new Int32Array(TOP_MAX);

/**
 * The top list of one row: the min(topN, width) largest v_j > floor, decreasing, ties to the
 * lower index, written as indices and log-probabilities (log v_j if takeLog, else v_j) to
 * idxOut / lpOut at [o, o + width), padded with -1 and -Infinity. One pass with a min-heap of
 * the best so far (a class enters only if it beats the heap's worst: O(log topN) even on a
 * rising row, where every class does).
 */
function topList(
  v: Float64Array,
  cols: number,
  floor: number,
  takeLog: boolean,
  topN: number,
  width: number,
  idxOut: Int32Array,
  lpOut: Float64Array,
  o: number,
): void {
  const cap = Math.max(0, Math.min(topN, width, TOP_MAX));
  let len = 0;
  for (let j = 0; j < cols && cap > 0; j++) {
    const x = v[j];
    if (!(x > floor)) continue;
    if (len < cap) siftUp(TOP_V, TOP_I, len++, x, j);
    else if (x > TOP_V[0]) siftDownRoot(TOP_V, TOP_I, len, x, j); // equal: the lower index stays
  }
  sortDescending(TOP_V, TOP_I, len);
  for (let i = 0; i < width; i++) {
    idxOut[o + i] = i < len ? TOP_I[i] : -1;
    lpOut[o + i] = i < len ? (takeLog ? Math.log(TOP_V[i]) : TOP_V[i]) : -Infinity;
  }
}

/**
 * Draws without replacement (Gumbel-top-k: Vieira 2014; Kool, van Hoof & Welling 2019): the n
 * classes with the largest log p_j + g(row, 0, j) over p_j > 0 (p in s.p; n <= support size),
 * in decreasing order of that score, ties to the lower index. Streams the support in index order
 * with a min-heap of the n best; the bound of supportDraws, with the heap's smallest score as
 * the bar, skips the logarithms (and Philox for classes with p_j exp(-bar) <= 2^-33).
 */
function gumbelTopDraws(
  cols: number,
  n: number,
  k0: number,
  k1: number,
  row: number,
  out: Int32Array,
  o: number,
  s: Scratch,
  heapS: Float64Array,
  heapI: Int32Array,
): void {
  if (n === 0) return;
  const { p, idx, pv } = s;
  let k = 0;
  for (let j = 0; j < cols; j++) {
    if (p[j] > 0) {
      idx[k] = j;
      pv[k] = p[j];
      k++;
    }
  }
  const maxBlocks = CHUNK >>> 2;
  let size = 0;
  let scale = Infinity; // 2^32 exp(DELTA - bar) once the heap is full
  let words: Uint32Array = EMPTY_U32;
  let first = 0;
  let last = 0;
  for (let i = 0; i < k; i++) {
    const lim = pv[i] * scale;
    if (!(lim > 0.5)) continue;
    const j = idx[i];
    const b = j >>> 2;
    if (b < first || b >= last) {
      let i2 = i;
      while (i2 + 1 < k && idx[i2 + 1] >>> 2 < b + maxBlocks) i2++;
      first = b;
      last = (idx[i2] >>> 2) + 1;
      words = philoxRun(k0, k1, 0, row, 0, first, last - first);
    }
    const w = words[((b - first) << 2) + (j & 3)];
    if (!(ONE_MINUS_U_SCALE - w < lim)) continue;
    const sc = Math.log(pv[i]) + gumbelFromWord(w);
    if (size < n) {
      siftUp(heapS, heapI, size++, sc, j);
      if (size === n) scale = Math.exp(DELTA - heapS[0]) * TWO_32;
    } else if (sc > heapS[0]) {
      // Replace the root (j is the highest index so far: an equal score would not beat it).
      siftDownRoot(heapS, heapI, size, sc, j);
      scale = Math.exp(DELTA - heapS[0]) * TWO_32;
    }
  }
  // Decreasing order, ties lower index.
  sortDescending(heapS, heapI, size);
  for (let d = 0; d < n; d++) out[o + d] = d < size ? heapI[d] : -1; // -1 not reached: n <= support size
}

/**
 * Draws without replacement from softmax(z / T), no filters, by proxy scores as in softmaxDraws:
 * x_j + g(row, 0, j) with x_j = (z_j - max z) / T orders classes like the exact score
 * log p_j + g_j (the same constant apart, up to a few ulps for p_j > e^-30), so the n + 1 best
 * proxies, kept in a heap while bucket bounds and a word floor skip the logarithms of the rest,
 * give the n draws whenever their proxies are at least EPS apart (and from the next one) and
 * each drawn class has p_j > e^-30. Returns false otherwise (a near-tie, tiny p, or fewer than
 * n unmasked classes); the caller then takes the exact path (gumbelTopDraws). Needs heap arrays
 * of min(n + 1, cols) entries.
 */
function softmaxTopDraws(
  z: Float64Array,
  cols: number,
  temperature: number,
  n: number,
  k0: number,
  k1: number,
  row: number,
  out: Int32Array,
  o: number,
  s: Scratch,
  heapS: Float64Array,
  heapI: Int32Array,
): boolean {
  const chunkMax = s.chunkMax;
  const nChunks = chunkMax.length;
  let m = -Infinity;
  let live = 0;
  for (let c = 0, j = 0; c < nChunks; c++) {
    const end = Math.min(j + CHUNK, cols);
    let cm = -Infinity;
    for (; j < end; j++) {
      const v = z[j];
      if (v > -Infinity) live++;
      if (v > cm) cm = v;
    }
    chunkMax[c] = cm;
    if (cm > m) m = cm;
  }
  if (live < n || n === 0) return n === 0;
  const cap = Math.min(n + 1, live);
  const t1 = temperature === 1;
  let size = 0;
  let bar = -Infinity; // the worst proxy in the heap once it holds cap entries
  for (let c = 0; c < nChunks; c++) {
    const cx = (chunkMax[c] - m) / temperature;
    if (cx === -Infinity || cx + G_CAP < bar) continue;
    const j0 = c * CHUNK;
    const j1 = Math.min(j0 + CHUNK, cols);
    const words = philoxRun(k0, k1, 0, row, 0, j0 >>> 2, (j1 - j0 + 3) >>> 2);
    let wFloor = size === cap ? gumbelWordFloor(bar - cx - FLOOR_MARGIN) : 0;
    for (let j = j0; j < j1; j++) {
      const w = words[j - j0];
      if (w < wFloor) continue;
      const x = t1 ? z[j] - m : (z[j] - m) / temperature;
      if (x === -Infinity || x + GUMBEL_BUCKET_MAX[w >>> GUMBEL_BUCKET_SHIFT] < bar) continue;
      const sc = x + gumbelFromWord(w);
      if (size < cap) {
        siftUp(heapS, heapI, size++, sc, j);
      } else if (sc > heapS[0]) {
        siftDownRoot(heapS, heapI, size, sc, j);
      } else continue;
      if (size === cap) {
        bar = heapS[0];
        wFloor = gumbelWordFloor(bar - cx - FLOOR_MARGIN);
      }
    }
  }
  sortDescending(heapS, heapI, size);
  // Proxies at least EPS apart down to the next candidate, and no drawn class tiny.
  const xMin = Math.log(cols) - 30;
  for (let i = 0; i < n; i++) {
    const j = heapI[i];
    const x = t1 ? z[j] - m : (z[j] - m) / temperature;
    if (!(x > xMin)) return false;
    if (i + 1 < size && !(heapS[i] - heapS[i + 1] >= EPS)) return false;
  }
  for (let i = 0; i < n; i++) out[o + i] = heapI[i];
  return true;
}

/** Put (sc, j) at the root of the min-heap heapS/heapI[0..size) and sift it down. */
function siftDownRoot(heapS: Float64Array, heapI: Int32Array, size: number, sc: number, j: number): void {
  let c = 0;
  for (;;) {
    const l = 2 * c + 1;
    if (l >= size) break;
    const r = l + 1;
    const m = r < size && worse(heapS[r], heapI[r], heapS[l], heapI[l]) ? r : l;
    if (!worse(heapS[m], heapI[m], sc, j)) break;
    heapS[c] = heapS[m];
    heapI[c] = heapI[m];
    c = m;
  }
  heapS[c] = sc;
  heapI[c] = j;
}

/** Adds (sc, j) to the heap of `size` entries (worst at the root); the caller counts it. */
function siftUp(heapS: Float64Array, heapI: Int32Array, size: number, sc: number, j: number): void {
  let c = size;
  while (c > 0) {
    const par = (c - 1) >> 1;
    if (!worse(sc, j, heapS[par], heapI[par])) break;
    heapS[c] = heapS[par];
    heapI[c] = heapI[par];
    c = par;
  }
  heapS[c] = sc;
  heapI[c] = j;
}

/** Pops the worst first into the back: heapS / heapI[0..size) end in decreasing order (ties: lower index first). */
function sortDescending(heapS: Float64Array, heapI: Int32Array, size: number): void {
  for (let end = size; end > 0; end--) {
    const ws = heapS[0];
    const wi = heapI[0];
    siftDownRoot(heapS, heapI, end - 1, heapS[end - 1], heapI[end - 1]);
    heapS[end - 1] = ws;
    heapI[end - 1] = wi;
  }
}

/** Whether (score a, index i) ranks below (score b, index j): smaller score, or tie and higher index. */
function worse(a: number, i: number, b: number, j: number): boolean {
  return a < b || (a === b && i > j);
}
