import { performance } from 'node:perf_hooks';
import { ApiError, toPlain, type PlainApiError } from './errors.js';
import { assemble, compute, prepareBytes, type EndpointName, type Job, type Limits } from './jobs/endpoints.js';

/**
 * The pool's worker (piscina). Everything per element happens here, off the main thread:
 * reading the raw body (src/jobs/fast-body.ts, or JSON.parse), validation, the kernel, and the
 * JSON of the answer.
 * The main thread only moves bytes. Errors come back as values (not throws) so an ApiError keeps
 * its status and code across the thread boundary.
 */

export type Task =
  /** A raw body: parse and validate, then either answer it or, if it is big enough to split, hand the job back. */
  | { kind: 'body'; endpoint: EndpointName; body: Uint8Array; limits: Limits; splitMinWork: number; enqueuedAt: number }
  /** Rows of a validated job: compute and serialise them. */
  | { kind: 'job'; job: Job; enqueuedAt: number }
  /** Test-only (ANYMAX_TEST_CRASH_ROUTE): the worker dies mid-task. */
  | { kind: 'crash'; enqueuedAt: number };

export type Result = { waitMs: number } & (
  /** body: the answer's bytes (ASCII JSON), so the main thread sends them without encoding a string. */
  | { kind: 'done'; body: Uint8Array; kernelMs: number; rows: number; cols: number; work: number }
  | { kind: 'split'; job: Job }
  | { kind: 'pieces'; pieces: string[]; kernelMs: number }
  | { kind: 'error'; error: PlainApiError }
);

/** Wall-clock milliseconds comparable across threads (performance.now() is per thread). */
export const now = (): number => performance.timeOrigin + performance.now();

/**
 * The bytes of an ASCII string (our JSON answers are: keys, numbers, null), in a buffer of its
 * own: a view on Buffer's shared pool would make the postMessage clone the whole pool slab.
 */
function asciiBytes(text: string): Uint8Array {
  const out = Buffer.allocUnsafeSlow(text.length);
  out.write(text, 0, 'latin1');
  return out;
}

export default function run(task: Task): Result {
  const waitMs = now() - task.enqueuedAt;
  try {
    switch (task.kind) {
      case 'body': {
        const job = prepareBytes(task.endpoint, task.body, task.limits);
        if (job.work >= task.splitMinWork && job.rows >= 2) return { waitMs, kind: 'split', job };
        const t0 = performance.now();
        const pieces = compute(job);
        const kernelMs = performance.now() - t0;
        return { waitMs, kind: 'done', body: asciiBytes(assemble(job, [pieces])), kernelMs, rows: job.rows, cols: job.cols, work: job.work };
      }
      case 'job': {
        const t0 = performance.now();
        const pieces = compute(task.job);
        return { waitMs, kind: 'pieces', pieces, kernelMs: performance.now() - t0 };
      }
      case 'crash':
        process.exit(70); // in a worker thread this ends the thread, as a crash would
    }
  } catch (e) {
    if (e instanceof ApiError) return { waitMs, kind: 'error', error: toPlain(e) };
    throw e;
  }
}
