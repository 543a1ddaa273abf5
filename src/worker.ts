import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { worstCaseScratchBytes } from './core/cost.js';
import { ApiError, toPlain, type PlainApiError } from './errors.js';
import { codec, type CodecName, type DecodeMeta, type Limits } from './codecs/index.js';
import { outputElements, run, type Job, type OpName, type OutArray } from './ops/index.js';

/**
 * The pool's worker (piscina). Everything per element happens here, off the main thread:
 * decoding the raw body (a codec of src/codecs), validation, the kernels (src/ops) and encoding
 * the answers. The main thread only moves bytes and schedules. Errors come back as values (not
 * throws) so an ApiError keeps its status and code across the thread boundary.
 *
 * Big jobs live on shared memory: the body task reads the matrix into a SharedArrayBuffer and,
 * when the answer is big, hands the job back instead of answering; the main thread then runs
 * 'compute' tasks on row ranges of it (in place, in parallel) and 'format' tasks on element
 * ranges of the outputs, writing each chunk to the client as it comes. No matrix is ever copied
 * between threads.
 */

export type Task =
  /** A raw body: parse and validate, then answer it whole, or hand a big job back. */
  | { kind: 'body'; codec: CodecName; op: OpName; body: Uint8Array; meta?: DecodeMeta; limits: Limits; streamMinElements: number; splitMinWork: number; enqueuedAt: number }
  /** Rows of a job on shared memory: compute them in place into the given (shared) outputs. */
  | { kind: 'compute'; job: Job; outs: OutArray[]; enqueuedAt: number }
  /** Elements [i0, i1) of an output on shared memory: their JSON text. */
  | { kind: 'format'; codec: CodecName; buf: OutArray; width: number; matrix: boolean; form: string; i0: number; i1: number; enqueuedAt: number }
  /** Test-only (ANYMAX_TEST_CRASH_ROUTE): the worker dies mid-task. */
  | { kind: 'crash'; enqueuedAt: number };

export type Result = { waitMs: number } & (
  /** body: the answer's bytes (ASCII JSON), so the main thread sends them without encoding a string. */
  | { kind: 'done'; body: Uint8Array; headers?: Record<string, string>; kernelMs: number; rows: number; cols: number; work: number }
  /** A job too big to answer whole: its matrix is on shared memory. */
  | { kind: 'job'; job: Job }
  | { kind: 'computed'; kernelMs: number }
  | { kind: 'text'; bytes: Uint8Array }
  | { kind: 'error'; error: PlainApiError }
);

/** Wall-clock milliseconds comparable across threads (performance.now() is per thread). */
export const now = (): number => performance.timeOrigin + performance.now();

/**
 * The bytes of an ASCII string (our JSON answers are: keys, numbers, null), in a buffer of its
 * own: a view on Buffer's shared pool would make the postMessage clone the whole pool slab.
 */
export function asciiBytes(text: string): Uint8Array {
  const out = Buffer.allocUnsafeSlow(text.length);
  out.write(text, 0, 'latin1');
  return out;
}

/** A codec's text or bytes in a buffer of their own, which can be moved to the main thread. */
function ownBytes(v: string | Uint8Array): Uint8Array {
  if (typeof v === 'string') return asciiBytes(v);
  // A view at the start of a buffer of its own (e.g. formatRangeBytes's, longer than its text)
  // moves as it is; never a view on Buffer's shared pool, which moving would take from others.
  const own = v.buffer instanceof ArrayBuffer && v.byteOffset === 0 && (v.byteLength === v.buffer.byteLength || v.buffer.byteLength > Buffer.poolSize);
  return own ? v : new Uint8Array(v);
}

const shared = (length: number) => new Float64Array(new SharedArrayBuffer(length * 8));

/**
 * Collections after big tasks. Buffers outside the JS heap (a body of tens of MB, the shared
 * matrix of a big job, a one-off WebAssembly memory for a row of millions of classes) are freed
 * only when V8 collects their small JS objects, and an idle worker may not collect for a long
 * time, holding memory the budget has already handed back (measured: a finished 2 x 8M softmax
 * left its 128 MiB matrix mapped until the next request, so three in a row peaked at 513 MiB
 * where one alone did at ~350).
 *  - after a body task, at once: the body is garbage as soon as its result is posted;
 *  - after tasks on a big shared matrix (compute, format), once the worker has been idle for
 *    IDLE_COLLECT_MS: its handles to the matrix are garbage when the job is done, but the worker
 *    cannot know which chunk is the last, and a collection per chunk would add ~1 ms to every
 *    few ms of formatting.
 * Both run between tasks: the pool runs with atomics 'disabled' (src/pool/jobs.ts), as piscina's
 * default Atomics.wait between tasks blocks the worker's event loop, so neither a setImmediate nor
 * a timer ever ran. `gc` exists when the pool turned on --expose-gc; a full collection of a
 * worker's small heap costs about a millisecond.
 */
const BIG_TASK_BYTES = 16 << 20;
const IDLE_COLLECT_MS = 50;
const collect = (globalThis as { gc?: () => void }).gc;
function collectAfter(bytes: number): void {
  if (collect && bytes >= BIG_TASK_BYTES) setImmediate(collect);
}
let idleCollect: NodeJS.Timeout | undefined;
function collectWhenIdle(bytes: number): void {
  if (!collect || bytes < BIG_TASK_BYTES) return;
  if (idleCollect) idleCollect.refresh();
  else {
    idleCollect = setTimeout(() => {
      idleCollect = undefined;
      collect();
    }, IDLE_COLLECT_MS);
    idleCollect.unref();
  }
}

/**
 * Returns a result whose bytes are moved to the main thread, not copied: piscina clones results
 * unless told (Piscina.move), which left a copy of every answer chunk behind in the worker.
 */
function move(r: Result & { kind: 'done' | 'text' }): Result {
  const bytes = r.kind === 'done' ? r.body : r.bytes;
  // piscina's Transferable protocol (the value to send, and what to transfer with it), marked
  // movable by Piscina.move.
  const transferable = { [Piscina.transferableSymbol]: [bytes.buffer], [Piscina.valueSymbol]: r };
  return Piscina.move(transferable as never) as unknown as Result;
}

export default function runTask(task: Task): Result {
  const waitMs = now() - task.enqueuedAt;
  try {
    switch (task.kind) {
      case 'body': {
        collectAfter(task.body.length);
        const c = codec(task.codec);
        const job = c.decode(task.op, task.body, task.limits, shared, task.meta);
        // Big jobs go back to the main thread, which reserves their memory before any is used:
        // a big answer, big work, or a kernel scratch over BIG_TASK_BYTES (rows of 250k classes
        // for sample with a mapping, filters and probabilities, at 68 bytes a class).
        const scratch = worstCaseScratchBytes(job.op, { ...job.params, input: job.input }, job.cols);
        if (job.work >= task.splitMinWork || outputElements(job) >= task.streamMinElements || scratch > BIG_TASK_BYTES) {
          return { waitMs, kind: 'job', job };
        }
        const t0 = performance.now();
        const outs = run(job);
        const kernelMs = performance.now() - t0;
        const answer = c.encode(job, outs);
        return move({ waitMs, kind: 'done', body: ownBytes(answer.body), headers: answer.headers, kernelMs, rows: job.rows, cols: job.cols, work: job.work });
      }
      case 'compute': {
        collectWhenIdle(task.job.data.buffer.byteLength);
        const t0 = performance.now();
        run(task.job, true, undefined, task.outs);
        return { waitMs, kind: 'computed', kernelMs: performance.now() - t0 };
      }
      case 'format':
        collectWhenIdle(task.buf.buffer.byteLength);
        return move({ waitMs, kind: 'text', bytes: ownBytes(codec(task.codec).chunk(task.buf, task.width, task.matrix, task.form, task.i0, task.i1)) });
      case 'crash':
        process.exit(70); // in a worker thread this ends the thread, as a crash would
    }
  } catch (e) {
    if (e instanceof ApiError) return { waitMs, kind: 'error', error: toPlain(e) };
    throw e;
  }
}
