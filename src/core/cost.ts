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
 *    renormalisations, then ~6 per draw.
 * Per row, every kernel also has fixed work (the call into the row, its bookkeeping, a Philox
 * call per draw), which dominates on rows of a few classes: measured on rows of 1-8 classes
 * (bench/worst-case.ts "short rows", "few classes"), it is ~2 units for argmax, ~8 for softmax,
 * ~30-80 for gumbel-softmax, ~25 for greedy sampling, ~15-100 for a sampled row and ~30-65 a
 * draw. Without it a 5865 x 1 sample or a 1 x 2 sample of n = 6000 was estimated at a fraction
 * of its time.
 * Typical rows cost far less: entmax below alpha = 2 takes 3-5 solver passes, not 86.
 */

export type KernelName = 'argmax' | 'softmax' | 'sparsemax' | 'entmax' | 'gumbel-softmax' | 'sample';

/**
 * The fields the kernels read, as the /v1 endpoints name them (a Job's params, plus its input):
 * alpha (default 1.5), temperature, log (softmax), hard (gumbel-softmax), input ('logits' |
 * 'probs'), mapping, n, topK, topP, minP (sample). Anything else is ignored.
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
      const filtered = params.topK != null || params.topP != null || params.minP != null;
      if (!(num(params.temperature, 1) > 0)) {
        // argmax, and its index copied to the n draws.
        element = probs + ARGMAX;
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
            ? entmaxUnits(num(params.alpha, 1.5), cols)
            : { element: SOFTMAX, row: 0 };
      const sorts = (params.topK != null ? 1 : 0) + (params.topP != null ? 1 : 0);
      const filters = sorts * (SORT_PER_DOUBLING * log2Cols(cols) + 2 * CHEAP_PASS) + (params.minP != null ? 2 * CHEAP_PASS : 0);
      element = probs + m.element + filters + 3 * CHEAP_PASS + SCAN + n * DRAW_SUPPORT;
      row = m.row + SUPPORT_ROW + n * DRAW_ROW;
      break;
    }
  }
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
      const filtered = params.topK != null || params.topP != null || params.minP != null;
      if (mapping === 'softmax' && !filtered) return (8 + 8 + probs) * cols;
      const mapped = mapping === 'softmax' ? 0 : ROW_SCRATCH_BYTES;
      return (8 + 4 + 8 + (filtered ? 8 : 0) + probs + mapped) * cols;
    }
  }
}
