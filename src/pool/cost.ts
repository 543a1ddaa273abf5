import { codec, type Codec } from '../codecs/index.js';
import { SOFTMAX_UNIT_NS, worstCaseCost, worstCaseScratchBytes, type KernelParams } from '../core/cost.js';
import type { Job } from '../ops/index.js';

/**
 * What a job costs the thread that runs it, in nanoseconds, for placement: a request runs on the
 * main thread only if this is at most Config.inlineMaxNs, so that no request holds the event loop
 * for long. It is the kernel's proven worst case (../core/cost.ts: entmax's pass bound, draws,
 * filters, per-row work) plus writing the answer in the request's wire format, as its codec
 * tells (Codec.answerCostNs): JSON text is most of a small request's time (V8's shortest
 * round-trip formatting, ~130 ns a number), binary values cost a few ns each.
 */
export function jobCostNs(job: Job, c: Codec = codec('v1-json')): number {
  const kernel = worstCaseCost(job.op, kernelParams(job), job.rows, job.cols) * SOFTMAX_UNIT_NS;
  return kernel + c.answerCostNs(job);
}

/**
 * Whether the body has at most `max` strings (member names and string values), counted by its
 * quote bytes (escaped ones too: an upper bound), stopping past the limit. Run on the main thread
 * before it parses a small body: it costs a memchr per quote, where parsing thousands of members
 * cost ~2 ms (64 KiB of unknown or repeated members: the scanner's names, JSON.parse's object,
 * the seed's text check; bench/inline-cost.ts).
 */
export function fewStrings(raw: Buffer, max: number): boolean {
  let quotes = 0;
  for (let i = raw.indexOf(QUOTE); i >= 0; i = raw.indexOf(QUOTE, i + 1)) if (++quotes > 2 * max) return false;
  return true;
}

const QUOTE = 0x22;

/** Bytes of scratch one kernel call over the job's rows allocates at most (../core/cost.ts). */
export function jobScratchBytes(job: Pick<Job, 'op' | 'params' | 'cols' | 'input'>): number {
  return worstCaseScratchBytes(job.op, kernelParams(job), job.cols);
}

/**
 * The fields the cost model reads: the job's params and its input (absent means logits). Not
 * `{ ...params, input }`: V8 reads the many absent options the model asks about slowly from such
 * a spread copy (~3.5 us a call, measured, against ~0.2 us from the params themselves), and this
 * runs for every request, on the main thread.
 */
function kernelParams(job: Pick<Job, 'params' | 'input'>): KernelParams {
  return job.input === 'probs' ? Object.assign({}, job.params, { input: job.input }) : job.params;
}
