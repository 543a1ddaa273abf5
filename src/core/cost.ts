import { MAX_SOLVER_PASSES } from './entmax.js';
import { ROW_SCRATCH_BYTES } from './sparsemax.js';

/**
 * Worst-case cost of a kernel call, for placement (inline on the event loop or in the pool) and
 * admission. Unit: one softmax element, the time softmax takes per element of a standard-normal
 * row (~3.7-4.4 ns on the development machine: node 20, one thread). Every figure is an upper
 * bound over inputs, built from the proven pass bounds of the kernels and per-element pass
 * costs measured by bench/worst-case.ts (which prints each case in these units beside the unit
 * measured in the same run, so the ratios travel across machines; on the loaded 2-core
 * development machine they varied up to ~2x between runs, and the larger figure, rounded up,
 * is used). Pure functions of (kernel, params, rows, cols).
 *
 * Per element:
 *  - softmax / log-softmax: one exp pass and the normalisation; masked rows measured up to 3.
 *  - argmax: a compare.
 *  - sparsemax: the candidate scan, at most 64 Michelot passes (compare-and-add, ~0.5 each)
 *    and then a sort of what is left (~4.5 per element and doubling of cols, measured).
 *  - entmax(alpha): alpha = 1 is softmax, alpha = 2 sparsemax; otherwise the scan, at most 16
 *    power-mean passes (sums, alpha < 2) and at most MAX_SOLVER_PASSES solver passes plus the
 *    one forming p, each a log and an exp per candidate (~4; alpha = 1.5: a multiply-add, ~0.5).
 *    Per row, ~1.6 us of fixed work per pass (the step, Math.pow, bisection) is added.
 *  - gumbel-softmax: a Philox word and two logs per class, then softmax; hard: the word and a
 *    table bound. Probabilities input adds a log per class.
 *  - sample: T = 0 is argmax (its index copied n times); softmax without filters is ~4 per draw (a Philox word and a
 *    compare per class when nothing can be skipped); otherwise the mapping, then topK / topP
 *    (a select / sort of the row's support: ~4.5 per doubling of cols), minP and up to three
 *    renormalisations, then ~6 per draw. typicalP sorts like topP and takes a log per class, as
 *    eta does; epsilon, eta, minP and topNSigma are a few passes; without replacement every
 *    support class pays for its exact noise (two logs) and a select.
 *  - score: the mapping (softmax, sparsemax or entmax(alpha)), the row maximum, and its own
 *    passes: softmax one of sums; sparsemax / entmax one finding the support, then one over the
 *    support (the whole row near alpha = 1) with a log, an exp and an expm1 per class. Counted
 *    as three power passes and two sums, a bound; not yet measured by bench/worst-case.ts.
 * Per row, every kernel also has fixed work (the call into the row, its bookkeeping, a Philox
 * call per draw), which dominates on rows of a few classes: measured on rows of 1-8 classes
 * (bench/worst-case.ts "short rows", "few classes"), it is ~2 units for argmax, ~8 for softmax,
 * ~30-80 for gumbel-softmax, ~25 for greedy sampling, ~15-100 for a sampled row and ~30-65 a
 * draw. Without it a 5865 x 1 sample or a 1 x 2 sample of n = 6000 was estimated at a fraction
 * of its time.
 * Typical rows cost far less: entmax below alpha = 2 takes 3-5 solver passes, not 86.
 */

export type KernelName = 'argmax' | 'softmax' | 'sparsemax' | 'entmax' | 'gumbel-softmax' | 'sample' | 'score';

/**
 * The fields the kernels read, as the /v1 endpoints name them (a Job's params, plus its input):
 * alpha (default 1.5), temperature, log (softmax), hard (gumbel-softmax), input ('logits' |
 * 'probs'), mapping, n, replacement, logprobs, logprobsMode, topLogprobs, logitBias, allowed,
 * banned and the filters (sample; a per-row parameter is an array), format (sparsemax, entmax).
 * Anything else is ignored.
 */
export type KernelParams = Readonly<Record<string, unknown>>;

/** ns per unit on the development machine (unloaded figure, rounded up), for a time estimate. */
export const SOFTMAX_UNIT_NS = 4.5;

const SOFTMAX = 4;
const ARGMAX = 0.5;
const LOG_INPUT = 4;
const SCAN = 1;
const CHEAP_PASS = 0.5;
const MICHELOT_PASSES = 64;
const POWER_MEAN_PASSES = 16;
const SORT_PER_DOUBLING = 4.5;
const POWER_PASS = 4;
/** Fixed work per solver pass and row, in units (~1.6 us over a row's 87 passes at 4.5 ns). */
const ENTMAX_ROW = 400;
const GUMBEL_SOFT = 45;
const GUMBEL_HARD = 4;
const DRAW_FAST = 4;
const DRAW_SUPPORT = 6;
/** Fixed work per row, and per draw of a row (see "Per row" above). */
const ARGMAX_ROW = 2;
const SOFTMAX_ROW = 8;
const GUMBEL_ROW = 64;
const GREEDY_ROW = 32;
const SAMPLE_ROW = 32;
const SUPPORT_ROW = 128;
const DRAW_ROW = 64;

function num(v: unknown, dflt: number): number {
  return typeof v === 'number' && Number.isFinite(v) ? v : dflt;
}

/** Whether any row passes `test` (v a number, or an array of one per row; absent: dflt). */
function anyOf(v: unknown, test: (x: number) => boolean, dflt: number): boolean {
  if (Array.isArray(v)) return v.some((x) => typeof x === 'number' && test(x));
  return test(num(v, dflt));
}

/** entmax's cost at the dearest alpha of v (a number, or one per row): alphas other than 1, 1.5 and 2 cost alike. */
function worstEntmaxUnits(v: unknown, cols: number): { element: number; row: number } {
  const kinds = new Set<number>();
  for (const a of Array.isArray(v) ? v : [v]) {
    const x = num(a, 1.5);
    kinds.add(x === 1 || x === 1.5 || x === 2 ? x : 1.25);
    if (kinds.size === 4) break;
  }
  let worst = { element: 0, row: 0 };
  for (const a of kinds) {
    const u = entmaxUnits(a, cols);
    if (cols * u.element + u.row > cols * worst.element + worst.row) worst = u;
  }
  return worst;
}

/** Whether a sample takes the general path of ./sample.ts (an option of issue 9, a per-row array) rather than the older ones. */
function sampleGeneral(params: KernelParams): boolean {
  return (
    ['typicalP', 'epsilon', 'eta', 'topNSigma', 'logitBias', 'allowed', 'banned', 'topLogprobs'].some((k) => params[k] != null) ||
    ['alpha', 'temperature', 'topK', 'topP', 'minP', 'seed'].some((k) => Array.isArray(params[k])) ||
    params.replacement === false ||
    params.logprobs === true
  );
}

/** Whether a sample forms p (a filter, a mask, log-probabilities) rather than taking its fast softmax path. */
function sampleFiltered(params: KernelParams): boolean {
  return SAMPLE_FEATURES.some((k) => params[k] != null) || params.replacement === false || params.logprobs === true;
}

const SAMPLE_FEATURES = ['topK', 'topP', 'minP', 'typicalP', 'epsilon', 'eta', 'topNSigma', 'logitBias', 'allowed', 'banned', 'topLogprobs'];

function log2Cols(cols: number): number {
  return Math.log2(Math.max(cols, 2));
}

function sparsemaxUnits(cols: number): number {
  return SCAN + MICHELOT_PASSES * CHEAP_PASS + SORT_PER_DOUBLING * log2Cols(cols);
}

/** The most solver passes entmax(alpha) can make per row (closed forms take none). */
export function entmaxWorstPasses(alpha: number): number {
  if (alpha === 1 || alpha === 2) return 0;
  return MAX_SOLVER_PASSES;
}

function entmaxUnits(alpha: number, cols: number): { element: number; row: number } {
  if (alpha === 1) return { element: SOFTMAX + CHEAP_PASS, row: 0 };
  if (alpha === 2) return { element: sparsemaxUnits(cols), row: 0 };
  const passes = entmaxWorstPasses(alpha) + 1; // + the pass forming p
  const quadratic = alpha === 1.5;
  const bound = alpha < 2 ? POWER_MEAN_PASSES * CHEAP_PASS : 0;
  const perPass = quadratic ? CHEAP_PASS : POWER_PASS;
  return { element: SCAN + bound + passes * perPass + (quadratic ? 2 * CHEAP_PASS : 0), row: ENTMAX_ROW };
}

/**
 * Worst-case cost in softmax units of one row of `cols` classes: per element (times cols) plus
 * a fixed part per row.
 */
export function worstCaseRowUnits(kernel: KernelName, params: KernelParams, cols: number): number {
  const probs = params.input === 'probs' ? LOG_INPUT : 0;
  let element = 0;
  let row = 0;
  switch (kernel) {
    case 'argmax':
      element = ARGMAX;
      row = ARGMAX_ROW;
      break;
    case 'softmax':
      element = SOFTMAX;
      row = SOFTMAX_ROW;
      break;
    case 'sparsemax':
      element = sparsemaxUnits(cols);
      break;
    case 'entmax':
      ({ element, row } = entmaxUnits(num(params.alpha, 1.5), cols));
      break;
    case 'gumbel-softmax':
      element = probs + (params.hard === true ? GUMBEL_HARD : GUMBEL_SOFT);
      row = GUMBEL_ROW;
      break;
    case 'sample': {
      const n = Math.max(1, num(params.n, 1));
      const mapping = params.mapping ?? 'softmax';
      const filtered = sampleFiltered(params);
      // Per-row parameters: the dearest row decides (any T > 0 row samples; the worst alpha).
      const greedy = !anyOf(params.temperature, (t) => t > 0, 1);
      const masks = params.logitBias != null || params.allowed != null || params.banned != null ? 2 * CHEAP_PASS : 0;
      // log p of every class for the top list, a select of it (like topK), a log per draw.
      const top = params.topLogprobs != null ? LOG_INPUT + SORT_PER_DOUBLING * log2Cols(cols) : 0;
      const logs = params.logprobs === true || params.logprobsMode === 'raw' ? SOFTMAX + CHEAP_PASS : 0;
      if (greedy) {
        // argmax, and its index copied to the n draws.
        element = probs + masks + ARGMAX + top + logs;
        row = GREEDY_ROW + n * CHEAP_PASS;
        break;
      }
      if (mapping === 'softmax' && !filtered) {
        // The draws, plus one softmax per row when a near-tie needs exact scores.
        element = probs + SCAN + SOFTMAX + n * DRAW_FAST;
        row = SAMPLE_ROW + n * DRAW_ROW;
        break;
      }
      const m =
        mapping === 'sparsemax'
          ? { element: sparsemaxUnits(cols), row: 0 }
          : mapping === 'entmax'
            ? worstEntmaxUnits(params.alpha, cols)
            : { element: SOFTMAX, row: 0 };
      const has = (k: string) => (params[k] != null ? 1 : 0);
      // topK, topP and typicalP select or sort the support; typicalP and eta take a log per class.
      const sorts = has('topK') + has('topP') + has('typicalP');
      const passes = has('minP') + has('epsilon') + has('eta') + has('topNSigma');
      const filters =
        sorts * (SORT_PER_DOUBLING * log2Cols(cols) + 2 * CHEAP_PASS) +
        passes * 3 * CHEAP_PASS +
        (has('typicalP') + has('eta')) * LOG_INPUT;
      // Without replacement: the exact noise of every support class (two logs, as gumbel-softmax's) once.
      const draws = params.replacement === false ? GUMBEL_SOFT + SORT_PER_DOUBLING * log2Cols(cols) : n * DRAW_SUPPORT;
      element = probs + masks + m.element + filters + 3 * CHEAP_PASS + SCAN + draws + top + logs;
      row = m.row + SUPPORT_ROW + n * DRAW_ROW;
      break;
    }
    case 'score': {
      const mapping = params.mapping ?? 'softmax';
      const m =
        mapping === 'sparsemax'
          ? { element: sparsemaxUnits(cols), row: 0 }
          : mapping === 'entmax'
            ? entmaxUnits(num(params.alpha, 1.5), cols)
            : { element: SOFTMAX, row: 0 };
      element = m.element + SCAN + 3 * POWER_PASS + 2 * CHEAP_PASS;
      row = m.row + SAMPLE_ROW;
      break;
    }
  }
  // The sparse answer of sparsemax / entmax packs each row's non-zeros (../core/pack.ts): a scan.
  if ((kernel === 'sparsemax' || kernel === 'entmax') && params.format === 'sparse') element += SCAN;
  return cols * element + row;
}

/** Worst-case cost in softmax units of a (rows x cols) call. */
export function worstCaseCost(kernel: KernelName, params: KernelParams, rows: number, cols: number): number {
  return rows * worstCaseRowUnits(kernel, params, cols);
}

/** The same as an estimate in nanoseconds on the development machine (SOFTMAX_UNIT_NS). */
export function worstCaseNs(kernel: KernelName, params: KernelParams, rows: number, cols: number): number {
  return worstCaseCost(kernel, params, rows, cols) * SOFTMAX_UNIT_NS;
}

/**
 * Bytes of scratch a kernel call allocates besides its input and outputs, at most, for rows of
 * `cols` classes (per call: the rows of a call reuse it). For rows of millions of classes this is
 * the biggest memory of a request after its matrix (measured: sample with mapping sparsemax over
 * one row of 16M tied logits took ~830 MiB), so admission counts it. From the allocations:
 *  - sparsemax, entmax (and sample's mapping): the row scratch of ./sparsemax.ts newScratch,
 *    ROW_SCRATCH_BYTES (32) a class: candidate values and indices, and the sort's buffers;
 *  - gumbel-softmax: the noise row (8) and its Philox words (4), which ./gumbel.ts allocates per
 *    row: counted twice, as a finished row's words may not be collected yet (hard: words and z);
 *  - sample: p (8) and, without a mapping or filter, the scaled row x (8); otherwise its support
 *    indices and values (4 + 8), the filters' select buffer (8), the mapping's row scratch; with
 *    probabilities input the log row z (8). (The near-tie buffers grow with the kept classes,
 *    which random noise keeps few of; they are not counted.)
 *  - score: its p row (8) and, for sparsemax and entmax, its support indices (4) and the
 *    mapping's row scratch (p for several short rows at once is kept between calls, up to 512 KiB);
 *  - softmax and argmax: none (rows over 1M classes take the JavaScript path, not WebAssembly).
 */
export function worstCaseScratchBytes(kernel: KernelName, params: KernelParams, cols: number): number {
  const probs = params.input === 'probs' ? 8 : 0;
  switch (kernel) {
    case 'argmax':
    case 'softmax':
      return 0;
    case 'sparsemax':
    case 'entmax':
      return ROW_SCRATCH_BYTES * cols;
    case 'gumbel-softmax':
      return (8 + 2 * 4) * cols;
    case 'sample': {
      const mapping = params.mapping ?? 'softmax';
      const mapped = mapping === 'softmax' ? 0 : ROW_SCRATCH_BYTES;
      if (sampleGeneral(params)) {
        // The general path (./sample.ts sampleInto): rows z, p, x, support values (8 each) and
        // indices (4), a mask byte; the raw log-probabilities, the select buffer of topK / topP
        // and typicalP's keys, weights and orders (./filters.ts) when asked for.
        const select = params.topK != null || params.topP != null ? 8 : 0;
        const typical = params.typicalP != null ? 32 : 0;
        const raw = params.logprobsMode === 'raw' ? 8 : 0;
        return (36 + 1 + select + typical + raw + mapped) * cols;
      }
      const filtered = params.topK != null || params.topP != null || params.minP != null;
      if (mapping === 'softmax' && !filtered) return (8 + 8 + probs) * cols;
      return (8 + 4 + 8 + (filtered ? 8 : 0) + probs + mapped) * cols;
    }
    case 'score':
      return (8 + ((params.mapping ?? 'softmax') === 'softmax' ? 0 : 4 + ROW_SCRATCH_BYTES)) * cols;
  }
}
