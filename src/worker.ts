import { performance } from 'node:perf_hooks';
import { Piscina } from 'piscina';
import { jobScratchBytes } from './pool/cost.js';
import { ApiError, toPlain, type PlainApiError } from './errors.js';
import { codec, type CodecName, type DecodeMeta, type Limits } from './codecs/index.js';
import { onSharedMemory, outputElements, run, type Job, type OpName, type OutArray } from './ops/index.js';

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

export type Task = (
  /**
   * A raw body: parse and validate, then answer it whole, or hand a big job back. `data`, when
   * given, is shared memory (a slab of src/pool/slabs.ts) for the matrix, used if it fits;
   * `answer`, a slab for the answer's bytes (Codec.encodeInto), used if they fit.
   */
  | { kind: 'body'; codec: CodecName; op: OpName; body: Uint8Array; data?: Float64Array; answer?: Uint8Array; meta?: DecodeMeta; limits: Limits; streamMinElements: number; splitMinWork: number; enqueuedAt: number }
  /**
   * Rows of a job on shared memory: compute them in place into the given (shared) outputs, then
   * write those rows of the binary parts of the answer (the codec's writeInto) into their bytes.
   */
  | { kind: 'compute'; job: Job; outs: OutArray[]; codec: CodecName; binary: { out: number; form: string; dest: Uint8Array }[]; enqueuedAt: number }
  /** Elements [i0, i1) of an output on shared memory: their text (`other`: the output its part writes with it, Codec.chunk). */
  | { kind: 'format'; codec: CodecName; buf: OutArray; other?: OutArray; width: number; matrix: boolean; form: string; i0: number; i1: number; enqueuedAt: number }
  /** Test-only (ANYMAX_TEST_CRASH_ROUTE): the worker dies mid-task. */
  | { kind: 'crash'; enqueuedAt: number }
) & {
  /** Set to 1 here as the task starts (src/pool/jobs.ts submit: a running task gets a grace). */
  started?: Int32Array;
};

export type Result = { waitMs: number } & (
  /**
   * body: the answer's bytes (ASCII JSON), so the main thread sends them without encoding a
   * string; or inRoom: their length, written at the start of the task's `answer` room.
   */
  | { kind: 'done'; body?: Uint8Array; inRoom?: number; headers?: Record<string, string>; kernelMs: number; rows: number; cols: number; work: number }
  /** A job too big to answer whole: its matrix is on shared memory (the task's `data` if inGiven). */
  | { kind: 'job'; job: Job; inGiven: boolean }
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
function asciiBytes(text: string): Uint8Array {
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
 * Where a body task's matrix goes: the shared memory the main thread gave with the task (reused
 * from request to request), if it fits; else this thread's scratch array, reused task after task,
 * unless the job may be handed back (work >= splitMinWork: work is at least the element count).
 * A fresh array costs its pages, zeroed and faulted in (~9 ms for 16 MB on one thread, against
 * 1 ms to convert FP32 into a warm one; two workers faulting at once contend for the process's
 * memory map and took ~40 ms a softmax 64x32000), and the collections its external memory
 * brings. The scratch grows to SCRATCH_MAX elements at most and is this thread's alone: a body
 * task is synchronous and its answer is a copy, so no view of it outlives the task; a job handed
 * back after all (a big answer) is copied to shared memory first.
 */
const SCRATCH_MAX = 2 * 1024 * 1024;
let scratch = new Float64Array(0);
function place(splitMinWork: number, given?: Float64Array): (length: number) => Float64Array {
  return (length) => {
    if (given && length <= given.length) {
      const data = given.subarray(0, length);
      given = undefined; // one matrix per task
      return data;
    }
    if (length >= splitMinWork || length > SCRATCH_MAX) return shared(length);
    if (scratch.length < length) scratch = new Float64Array(Math.min(SCRATCH_MAX, Math.max(length, 2 * scratch.length)));
    return scratch.subarray(0, length);
  };
}

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
function move(r: Result & ({ kind: 'done'; body: Uint8Array } | { kind: 'text' })): Result {
  const bytes = r.kind === 'done' ? r.body : r.bytes;
  // piscina's Transferable protocol (the value to send, and what to transfer with it), marked
  // movable by Piscina.move.
  const transferable = { [Piscina.transferableSymbol]: [bytes.buffer], [Piscina.valueSymbol]: r };
  return Piscina.move(transferable as never) as unknown as Result;
}

export default function runTask(task: Task): Result {
  if (task.started) Atomics.store(task.started, 0, 1);
  const waitMs = now() - task.enqueuedAt;
  try {
    switch (task.kind) {
      case 'body': {
        collectAfter(task.body.length);
        const c = codec(task.codec);
        const job = c.decode(task.op, task.body, task.limits, place(task.splitMinWork, task.data), task.meta);
        // Big jobs go back to the main thread, which reserves their memory before any is used:
        // a big answer, big work, or a kernel scratch over BIG_TASK_BYTES (rows of 250k classes
        // for sample with a mapping, filters and probabilities, at 68 bytes a class).
        if (job.work >= task.splitMinWork || outputElements(job) >= task.streamMinElements || jobScratchBytes(job) > BIG_TASK_BYTES) {
          // (The main thread's copy of a shared buffer is another object: it is told, not compared.)
          return { waitMs, kind: 'job', job: onSharedMemory(job) /* copied if it is in the scratch */, inGiven: task.data !== undefined && job.data.buffer === task.data.buffer };
        }
        const t0 = performance.now();
        const outs = run(job);
        const kernelMs = performance.now() - t0;
        const done = { waitMs, kind: 'done' as const, kernelMs, rows: job.rows, cols: job.cols, work: job.work };
        const inRoom = task.answer && c.encodeInto?.(job, outs, task.answer);
        if (inRoom) return { ...done, inRoom: inRoom.length, headers: inRoom.headers };
        const answer = c.encode(job, outs);
        return move({ ...done, body: ownBytes(answer.body), headers: answer.headers });
      }
      case 'compute': {
        collectWhenIdle(task.job.data.buffer.byteLength);
        const t0 = performance.now();
        run(task.job, true, undefined, task.outs);
        const kernelMs = performance.now() - t0;
        const c = codec(task.codec);
        for (const { out, form, dest } of task.binary) c.writeInto!(task.outs[out], form, dest);
        return { waitMs, kind: 'computed', kernelMs };
      }
      case 'format':
        collectWhenIdle(task.buf.buffer.byteLength);
        return move({ waitMs, kind: 'text', bytes: ownBytes(codec(task.codec).chunk(task.buf, task.width, task.matrix, task.form, task.i0, task.i1, task.other)) });
      case 'crash':
        process.exit(70); // in a worker thread this ends the thread, as a crash would
    }
  } catch (e) {
    if (e instanceof ApiError) return { waitMs, kind: 'error', error: toPlain(e) };
    throw e;
  }
}
