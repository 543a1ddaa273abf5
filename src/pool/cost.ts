import { SOFTMAX_UNIT_NS, worstCaseCost, worstCaseScratchBytes } from '../core/cost.js';
import type { Job } from '../jobs/endpoints.js';
import { outputElements } from '../worker.js';

/**
 * What a job costs the thread that runs it, in nanoseconds, for placement: a request runs on the
 * main thread only if this is at most Config.inlineMaxNs, so that no request holds the event loop
 * for long. It is the kernel's proven worst case (../core/cost.ts: entmax's pass bound, draws,
 * filters, per-row work) plus writing the answer as JSON text, which is most of a small request's
 * time (V8's shortest round-trip formatting, ~130 ns a number, measured).
 */
export const FORMAT_NS_PER_NUMBER = 130;

export function jobCostNs(job: Pick<Job, 'endpoint' | 'params' | 'rows' | 'cols' | 'input'>): number {
  const kernel = worstCaseCost(job.endpoint, { ...job.params, input: job.input }, job.rows, job.cols) * SOFTMAX_UNIT_NS;
  return kernel + outputElements(job) * FORMAT_NS_PER_NUMBER;
}

/** Bytes of scratch one kernel call over the job's rows allocates at most (../core/cost.ts). */
export function jobScratchBytes(job: Pick<Job, 'endpoint' | 'params' | 'cols' | 'input'>): number {
  return worstCaseScratchBytes(job.endpoint, { ...job.params, input: job.input }, job.cols);
}
