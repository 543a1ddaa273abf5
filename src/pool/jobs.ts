import { Readable } from 'node:stream';
import v8 from 'node:v8';
import type { FastifyBaseLogger } from 'fastify';
import { Piscina } from 'piscina';
import type { Config } from '../config.js';
import { ApiError, fromPlain } from '../errors.js';
import { codec, type Codec, type CodecName, type DecodeMeta } from '../codecs/index.js';
import { copyBytes } from '../codecs/copy.js';
import { NUMBER_MAX_BYTES } from '../codecs/number-text.js';
import { layoutOf, onSharedMemory, outputElements, run, slice, type Job, type OpName, type OutArray } from '../ops/index.js';
import type { Metrics } from '../plugins/metrics.js';
import { now, type Result, type Task } from '../worker.js';
import { MemoryBudget, type Reservation } from './budget.js';
import { passedThrough } from './collect.js';
import type { Cancel } from './cancel.js';
import { fewStrings, jobCostNs, jobScratchBytes } from './cost.js';
import { Slabs } from './slabs.js';

/**
 * The worker-thread pool (piscina), the memory budget, and the policy of what runs where:
 *  - a body up to inlineMaxBytes with at most inlineMaxStrings strings is parsed on the main
 *    thread, and if its cost (./cost.ts: the kernel's proven worst case and the answer's
 *    formatting) is at most inlineMaxNs it is computed there too: a worker round trip costs more
 *    than the maths of a small request (~2x the throughput at 1x50), and the bounds keep any one
 *    request from holding the event loop for more than ~1-2 ms (bench/inline-cost.ts);
 *  - any other body goes to a worker as raw bytes (moved, not copied), which parses, validates,
 *    computes and serialises it, so the main thread does no per-element work;
 *  - a job whose answer is big (streamMinElements) or whose work is big (splitMinWork) lives on
 *    shared memory: it is computed in place by row ranges, split across the workers when big,
 *    and its answer is written in chunks formatted by the workers, a window of them at a time,
 *    as the client takes them. Neither the matrix nor the whole answer is ever copied or held
 *    as one string; the kernels take the global row index, so any split gives the same bytes.
 * Memory: every request holds a reservation of the budget (./budget.ts) sized by estimate()
 * before its body is read and by estimateJob() once parsed; it waits or is refused (503 / 413)
 * when the budget is spent.
 * Queue full -> 503 OVERLOADED, not done within requestTimeoutMs -> 503 TIMEOUT (a running job
 * is stopped with its worker), worker died -> 500 WORKER_CRASHED (piscina replaces the worker),
 * client gone -> its queued tasks are dropped, and its running ones stopped unless they end within
 * Config.stopGraceMs (their answer then dropped: unlessGone).
 *
 * The queue limit is enforced here, per request, not by piscina's maxQueue: piscina keeps tasks
 * that carry an AbortSignal (all of ours, for the timeout) in a side queue that maxQueue does not
 * count, so a limit >= 1 was never applied; and with maxQueue 0 a refused task stayed in that
 * side queue and was run later anyway, keeping the worker busy for requests already answered 503.
 * A request that goes to the pool takes one of workers + queueLimit slots until it is answered;
 * the tasks of an admitted request (the body, its row ranges, its chunks) are not refused.
 */

export interface JobOutcome {
  /** The answer: text, bytes (from a worker), or a stream of chunks (big answers). */
  body: string | Buffer | Readable;
  /** Response headers the codec asks for (e.g. a binary answer's header length). */
  headers?: Record<string, string>;
  rows: number;
  cols: number;
  /**
   * Call once the response has finished (written to the socket): the answer's shared buffers
   * are then reused (./slabs.ts). Not called (an error, a client gone): they are collected.
   */
  release?: () => void;
}

export interface RunContext {
  /** Aborted when the client has gone: its work is dropped. Its signal is asked for only by a wait (./cancel.ts). */
  cancel: Cancel;
  /** The request's share of the memory budget; resized here once the job is known. */
  reservation: Reservation;
}

export interface Jobs {
  /** Decodes a request body with a codec, runs its job and encodes the answer with the same codec. */
  run(codec: CodecName, op: OpName, raw: Buffer, ctx: RunContext, meta?: DecodeMeta): Promise<JobOutcome>;
  /** Test-only crash task. */
  crash(): Promise<never>;
  /** Workers started and queue below its limit. */
  ready(): boolean;
  pool: Piscina;
  budget: MemoryBudget;
  /** Reused shared memory for big bodies and binary answers. */
  slabs: Slabs;
  /** Bytes to reserve for a body of this length before it is read. */
  estimate(bodyBytes: number): number;
}

const RETRY_AFTER_S = 1;
/** Young generation of each worker's heap (see the pool's options). */
const YOUNG_GENERATION_MB = 8;
/** Elements of an output formatted by one task: ~0.8 MB of text, a few ms of a worker. */
const CHUNK_ELEMENTS = 32 * 1024;
/** Outputs this small are formatted on the main thread (a task round trip costs more). */
const SMALL_OUTPUT = 4096;
/** Bytes a request holds besides its arrays: the non-matrix fields, parser and answer buffers. */
const OVERHEAD = 1 << 20;
/** A formatted number's text, at most (-0.0000012345678901234567 and its comma). */
const NUMBER_TEXT = NUMBER_MAX_BYTES + 1;
/** Answers in a room up to this size are copied out and sent as a Buffer, not streamed from it. */
const SMALL_ANSWER_BYTES = 64 * 1024;
/** An answer room for `elements` values: each with "],[" at most, and the names, brackets and seed text. */
const answerRoomBytes = (elements: number) => elements * (NUMBER_TEXT + 2) + 4096;

/** The client closed the connection before its answer: its work is dropped (logged, never sent). */
export class ClientGone extends ApiError {
  constructor() {
    super(499, 'CLIENT_GONE', 'the client closed the connection before its answer');
  }
}

/**
 * An outcome whose client has gone meanwhile (its task was let finish: Config.stopGraceMs) is
 * not sent: its room goes back, a stream of it is ended, and the request ends as a client gone
 * (ClientGone), as it would have had its task been stopped.
 */
function unlessGone(out: JobOutcome, ctx: RunContext): JobOutcome {
  if (!ctx.cancel.aborted) return out;
  if (out.body instanceof Readable) out.body.destroy();
  out.release?.();
  throw ctx.cancel.reason;
}

function workerFile(): { filename: string; execArgv: string[] | undefined } {
  // Under the TypeScript sources (tests, tsx) the worker is a .ts file that needs tsx's loader;
  // built (dist/), it is plain JS and inherits node's flags (--cpu-prof, --max-old-space-size).
  // Built, the entry loads ../worker with import(), not piscina's require(): see
  // ../worker-entry.cts (tsx's require() compiles the TypeScript worker as CommonJS).
  const ts = import.meta.url.endsWith('.ts');
  const filename = new URL(ts ? '../worker.ts' : '../worker-entry.cjs', import.meta.url).href;
  return { filename, execArgv: ts ? ['--import', 'tsx'] : undefined };
}

export function createJobs(config: Config, m: Metrics, log: FastifyBaseLogger): Jobs {
  const { filename, execArgv } = workerFile();
  // The workers collect after tasks that dropped big buffers (src/worker.ts): V8 frees such
  // memory only when a collection runs. Worker threads cannot take --expose-gc in their execArgv,
  // but isolates created after this flag is set expose gc(); the main thread's is not affected.
  v8.setFlagsFromString('--expose-gc');
  const pool = new Piscina({
    filename,
    execArgv,
    minThreads: config.workers,
    maxThreads: config.workers,
    idleTimeout: Number.MAX_SAFE_INTEGER,
    // A small young generation: a worker's garbage is answer text made and dropped a chunk at a
    // time, and V8's default lets each worker's nursery grow to tens of MB of resident memory
    // (measured: ~50 MiB a worker while streaming a big answer); scavenges of a small one are cheap.
    resourceLimits: { maxYoungGenerationSizeMb: YOUNG_GENERATION_MB },
    // Between tasks a worker waits on its message port, not in Atomics.wait (piscina's default):
    // a blocked worker never runs its timers, so the collections above never happened. A task
    // round trip costs ~10 us more (a no-op task, 100 in flight: 34 vs 24 us); ours take ms.
    atomics: 'disabled',
  });
  // A worker that dies with no task of ours in flight is replaced by piscina; log, don't crash.
  pool.on('error', (err) => log.error({ err }, 'worker error'));
  // piscina reports its first workers too (in a microtask, for listeners like this one); the
  // pool is fixed at config.workers threads, so every worker past those replaces one.
  let created = 0;
  pool.on('workerCreate', () => {
    if (++created > config.workers) m.workerRestarts.inc();
  });
  // 503s are counted where they arise; the 413 of a request that can never fit, by the error handler.
  const budget = new MemoryBudget(config.memoryBudgetBytes, config.memoryWaitMs, (reason) => {
    if (reason === 'memory') m.rejected.inc({ reason });
  });
  // A free list of an eighth of the memory budget at most (128 MiB), of slabs up to half that.
  const pooled = Math.min(128 << 20, Math.floor(config.memoryBudgetBytes / 8));
  const slabs = new Slabs(pooled, Math.floor(pooled / 2));
  let inFlight = 0;
  /** Requests holding a pool slot (running or waiting); at most workers + queueLimit. */
  let admitted = 0;
  const slots = config.workers + config.queueLimit;
  const limits = { maxElements: config.maxElements };
  m.poolProbe.queueDepth = () => pool.queueSize;
  m.poolProbe.busyWorkers = () => Math.min(config.workers, inFlight - pool.queueSize);
  m.poolProbe.memoryInUse = () => budget.inUse;
  m.poolProbe.memoryBudget = () => budget.total;
  const window = config.workers + 1;

  /**
   * Before the body is read: the body, its matrix at 2 bytes of text an element, an answer
   * written whole (at most streamMinElements values; bigger ones are streamed) and the overhead.
   */
  const estimate = (bodyBytes: number) =>
    bodyBytes +
    8 * Math.min(config.maxElements, Math.floor(bodyBytes / 2) + 1) +
    Math.min(config.streamMinElements, config.maxElements) * (NUMBER_TEXT * 2 + 8) +
    OVERHEAD;

  /** Row ranges a job on shared memory is computed in, at once (one task each). */
  const partsOf = (job: Job) => (job.work >= config.splitMinWork && job.rows >= 2 ? Math.min(config.workers, job.rows) : 1);

  /**
   * Once a job on shared memory is known: its body (until collected), matrix, the kernels'
   * scratch (per task), the outputs not computed over the matrix (integers, the width of 'n' or
   * 'top', a sparse answer's indices), and a window of answer chunks (text and its bytes).
   */
  function estimateJob(job: Job, bodyBytes: number): number {
    let bytes = bodyBytes + 8 * job.rows * job.cols + partsOf(job) * jobScratchBytes(job) + OVERHEAD;
    for (const l of layoutOf(job)) if (!l.inPlace) bytes += (l.type === 'i32' ? 4 : 8) * job.rows * l.width;
    return bytes + window * CHUNK_ELEMENTS * NUMBER_TEXT * 2;
  }

  /** Runs fn holding a pool slot; 503 OVERLOADED when every slot is taken. */
  async function withSlot<T>(fn: () => Promise<T>): Promise<T> {
    if (admitted >= slots) {
      m.rejected.inc({ reason: 'overloaded' });
      throw new ApiError(503, 'OVERLOADED', 'the job queue is full; retry later', undefined, RETRY_AFTER_S);
    }
    admitted++;
    try {
      return await fn();
    } finally {
      admitted--;
    }
  }

  /**
   * Runs a task on the pool. `signal` aborting (the job's timeout, or its client gone) drops a
   * queued task at once; a running one is stopped with its worker (piscina ends the thread), at
   * once on a timeout, but only after Config.stopGraceMs when its client has gone: most tasks
   * finish sooner than a new worker starts (see there). The worker marks the task's `started`
   * word as it begins; one handed to a worker but not begun yet is stopped as a queued one would
   * be (piscina then ends that worker: a window of a message's latency).
   */
  async function submit(task: Task, transferList: ArrayBuffer[], signal: AbortSignal): Promise<Result> {
    inFlight++;
    const started = new Int32Array(new SharedArrayBuffer(4));
    task.started = started;
    const stop = new AbortController();
    let grace: NodeJS.Timeout | undefined;
    const onAbort = () => {
      if (Atomics.load(started, 0) === 1 && signal.reason instanceof ClientGone) grace = setTimeout(() => stop.abort(signal.reason), config.stopGraceMs);
      else stop.abort(signal.reason);
    };
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    try {
      return (await pool.run(task, { transferList, signal: stop.signal })) as Result;
    } catch (e) {
      throw poolError(e, signal);
    } finally {
      clearTimeout(grace);
      signal.removeEventListener('abort', onAbort);
      inFlight--;
    }
  }

  function poolError(e: unknown, signal: AbortSignal): Error {
    const msg = (e as Error)?.message ?? String(e);
    if (signal.aborted && signal.reason instanceof ClientGone) return signal.reason; // counted by the error handler
    if (/queue is at limit|No task queue available/i.test(msg)) {
      m.rejected.inc({ reason: 'overloaded' });
      return new ApiError(503, 'OVERLOADED', 'the job queue is full; retry later', undefined, RETRY_AFTER_S);
    }
    if (/pool is closed|Terminating worker thread/i.test(msg) && !signal.aborted) {
      m.rejected.inc({ reason: 'shutting_down' });
      return new ApiError(503, 'SHUTTING_DOWN', 'the service is shutting down', undefined, RETRY_AFTER_S);
    }
    if ((e as Error)?.name === 'AbortError' || signal.aborted) {
      m.rejected.inc({ reason: 'timeout' });
      return new ApiError(503, 'TIMEOUT', `the job did not finish within ${config.requestTimeoutMs} ms`, undefined, RETRY_AFTER_S);
    }
    if (/worker exited/i.test(msg)) {
      m.rejected.inc({ reason: 'crashed' });
      return new ApiError(500, 'WORKER_CRASHED', 'the worker running this request died; the pool has replaced it');
    }
    return new ApiError(500, 'INTERNAL', 'internal error in a worker');
  }

  // Label children resolved once: prom-client hashes the label set on every labelled call.
  type Observer = { observe(v: number): void };
  type Incrementer = { inc(v: number): void };
  const perKernel = new Map<string, { inline: Observer; pool: Observer; wait: Observer; rows: Incrementer; elements: Incrementer }>();
  const children = (kernel: OpName) => {
    let c = perKernel.get(kernel);
    if (!c) {
      c = {
        inline: m.kernelSeconds.labels({ kernel, where: 'inline' }),
        pool: m.kernelSeconds.labels({ kernel, where: 'pool' }),
        wait: m.queueWaitSeconds.labels({ kernel }),
        rows: m.rows.labels({ kernel }),
        elements: m.elements.labels({ kernel }),
      };
      perKernel.set(kernel, c);
    }
    return c;
  };

  function record(op: OpName, where: 'inline' | 'pool', kernelMs: number, rows: number, work: number) {
    const c = children(op);
    c[where].observe(kernelMs / 1000);
    c.rows.inc(rows);
    c.elements.inc(work);
  }

  /**
   * A job on shared memory: computed in place by row ranges (split across the workers when big),
   * then its answer. Binary parts (Codec.binaryWidth) are the output array's own bytes, or
   * written into shared bytes by the tasks that compute the rows, so they are never formatted
   * chunk by chunk: when every part is binary or small, the answer is a few buffers of known
   * length (sent with Content-Length). Text parts are formatted by the workers a window of
   * chunks at a time, as the client reads.
   */
  async function runShared(c: Codec, jobIn: Job, bodyBytes: number, ctx: RunContext, timeout: AbortSignal, held: Uint8Array[] = []): Promise<JobOutcome> {
    // Only small, inline-parsed jobs arrive off shared memory; they are copied.
    const job = onSharedMemory(jobIn);
    const both = AbortSignal.any([timeout, ctx.cancel.signal]);
    const layout = layoutOf(job);
    const plan = c.plan(job);
    const widths = plan.parts.map(({ form }) => c.binaryWidth?.(form));
    const binaryBytes = plan.parts.reduce((sum, { out }, k) => sum + job.rows * layout[out].width * (widths[k] ?? 0), 0);
    // The body counts until its worker lets go of it (collected, not freed at once). Waiting for
    // room ends with the job's timeout or its client, as a task would (not as an unknown error).
    await ctx.reservation.resize(estimateJob(job, bodyBytes) + binaryBytes, both).catch((e: unknown) => {
      throw e instanceof ApiError ? e : poolError(e, both);
    });
    const outs: OutArray[] = layout.map(({ inPlace, width, type }) =>
      inPlace ? job.data : type === 'i32' ? new Int32Array(new SharedArrayBuffer(job.rows * width * 4)) : new Float64Array(new SharedArrayBuffer(job.rows * width * 8)),
    );
    /** Per part: its bytes when binary (filled by the compute tasks unless sent as they are). */
    const partBytes: (Uint8Array | undefined)[] = [];
    const written: { out: number; form: string; dest: Uint8Array; rowBytes: number }[] = [];
    plan.parts.forEach(({ out, form }, k) => {
      const size = widths[k];
      if (size === undefined) return;
      const o = outs[out];
      const length = job.rows * layout[out].width * size;
      if (c.sentAsIs?.(o, form)) partBytes[k] = new Uint8Array(o.buffer, o.byteOffset, length);
      else {
        partBytes[k] = slabs.take(length);
        written.push({ out, form, dest: partBytes[k]!, rowBytes: layout[out].width * size });
      }
    });
    const parts = partsOf(job);
    const tasks: Promise<Result>[] = [];
    for (let p = 0; p < parts; p++) {
      const r0 = Math.floor((p * job.rows) / parts);
      const r1 = Math.floor(((p + 1) * job.rows) / parts);
      const sub = slice(job, r0, r1);
      const subOuts = outs.map((o, i) => o.subarray(r0 * layout[i].width, r1 * layout[i].width));
      const binary = written.map(({ out, form, dest, rowBytes }) => ({ out, form, dest: dest.subarray(r0 * rowBytes, r1 * rowBytes) }));
      tasks.push(submit({ kind: 'compute', job: sub, outs: subOuts, codec: c.name, binary, enqueuedAt: now() }, [], both));
    }
    let kernelMs = 0;
    // Every part settles before an error is answered, and the first part's error wins: a request
    // with bad rows in two parts (a class-less row of sample) names the same row however it
    // was split and whichever thread finished first.
    const settled = await Promise.allSettled(tasks);
    const failed = settled.find((s) => s.status === 'rejected');
    if (failed) throw failed.reason;
    const results = settled.map((s) => (s as PromiseFulfilledResult<Result>).value);
    // A refusal found while computing (an operation's 400: sample's class-less row), from the first part that has one.
    const refused = results.find((r) => r.kind === 'error');
    if (refused?.kind === 'error') throw fromPlain(refused.error);
    for (const r of results) {
      if (r.kind !== 'computed') throw new ApiError(500, 'INTERNAL', 'unexpected worker reply');
      children(job.op).wait.observe(r.waitMs / 1000);
      kernelMs += r.kernelMs;
    }
    record(job.op, 'pool', kernelMs, job.rows, job.work);

    /** Gives back the slabs of this answer once nothing can touch them (its response has finished). */
    const release = () => {
      for (const { dest } of written) slabs.give(dest);
      for (const b of held) slabs.give(b);
    };
    const bytes = (v: string | Uint8Array) => (typeof v === 'string' ? Buffer.from(v, 'latin1') : Buffer.from(v.buffer, v.byteOffset, v.byteLength));
    const small = (out: number) => job.rows * layout[out].width <= SMALL_OUTPUT;
    const other = (w: number | undefined) => (w === undefined ? undefined : outs[w]);
    /** A small text part, formatted here (a task round trip costs more). */
    const smallText = (out: number, form: string, w?: number) =>
      bytes(c.chunk(outs[out], layout[out].width, layout[out].matrix, form, 0, job.rows * layout[out].width, other(w)));

    if (partBytes.some(Boolean) && plan.parts.every(({ out }, k) => partBytes[k] || small(out))) {
      // Every part is known now: the answer is these buffers, its length known.
      const pieces: Buffer[] = [bytes(plan.head)];
      let headerBytes = pieces[0].length;
      plan.parts.forEach(({ out, with: w, open, close, form }, k) => {
        const values = partBytes[k] ? bytes(partBytes[k]!) : smallText(out, form, w);
        const part = [bytes(open), values, bytes(close)];
        pieces.push(...part);
        if (plan.headerLength && k < plan.headerLength.parts) for (const b of part) headerBytes += b.length;
      });
      pieces.push(bytes(plan.end));
      const length = pieces.reduce((n, b) => n + b.length, 0);
      const headers = { ...plan.headers, ...(plan.headerLength ? { [plan.headerLength.name]: String(headerBytes) } : {}), 'content-length': String(length) };
      return { body: Readable.from(pieces.filter((b) => b.length > 0), { objectMode: false }), headers, rows: job.rows, cols: job.cols, release };
    }

    // Chunks are encoded under the job's timeout only: a client that leaves stops the stream
    // (no more chunks are asked for); the few in flight are small and left to finish, as
    // aborting a running task would cost its worker.
    const encodeChunk = (buf: OutArray, width: number, matrix: boolean, form: string, i0: number, i1: number, withBuf?: OutArray): Promise<Buffer> => {
      const p = submit({ kind: 'format', codec: c.name, buf, other: withBuf, width, matrix, form, i0, i1, enqueuedAt: now() }, [], timeout).then((r) => {
        if (r.kind !== 'text') throw new ApiError(500, 'INTERNAL', 'unexpected worker reply');
        return Buffer.from(r.bytes.buffer, r.bytes.byteOffset, r.bytes.byteLength);
      });
      p.catch(() => {}); // awaited in order below; this only keeps an abandoned one from being unhandled
      return p;
    };
    /** The chunks of one part's values: binary bytes as they are, small text here, bigger text by workers, a window at a time. */
    async function* values(k: number): AsyncGenerator<Buffer> {
      const { out, with: w, form } = plan.parts[k];
      if (partBytes[k]) {
        yield bytes(partBytes[k]!);
        return;
      }
      if (small(out)) {
        yield smallText(out, form, w);
        return;
      }
      const { width, matrix } = layout[out];
      const total = job.rows * width;
      const pending: Promise<Buffer>[] = [];
      let next = 0;
      const more = () => {
        // Destroyed (the client left, or the response failed): the generator is being
        // returned, but only once the chunk it awaits has come; ask for no more meanwhile.
        while (!body?.destroyed && pending.length < window && next < total) {
          const end = Math.min(total, next + CHUNK_ELEMENTS);
          pending.push(encodeChunk(outs[out], width, matrix, form, next, end, other(w)));
          next = end;
        }
      };
      more();
      while (pending.length > 0) {
        const chunk = await pending.shift()!;
        more();
        yield chunk;
        passedThrough(chunk.length);
      }
    }
    async function* chunks(): AsyncGenerator<Buffer> {
      yield bytes(plan.head);
      for (let k = 0; k < plan.parts.length; k++) {
        const { open, close } = plan.parts[k];
        if (open) yield bytes(open);
        yield* values(k);
        if (close) yield bytes(close);
      }
      if (plan.end) yield bytes(plan.end);
    }
    let body: Readable | undefined; // the answer's stream, once the headers are known
    let headers = plan.headers;
    if (plan.headerLength) {
      // The header's value must go out before the parts it measures: encode them once to count
      // their bytes (dropped as they come), then again as they are sent. Twice the formatting of
      // those parts, for memory that stays a window of chunks whatever the answer's size.
      let length = bytes(plan.head).length;
      for (let k = 0; k < plan.headerLength.parts; k++) {
        length += bytes(plan.parts[k].open).length + bytes(plan.parts[k].close).length;
        for await (const chunk of values(k)) length += chunk.length;
      }
      headers = { ...headers, [plan.headerLength.name]: String(length) };
    }
    body = Readable.from(chunks(), { objectMode: false });
    return { body, headers, rows: job.rows, cols: job.cols, release };
  }

  /** An answer a worker wrote at the start of a room: sent from there, the room reused after. */
  function roomAnswer(room: Buffer, length: number, headers?: Record<string, string>): Pick<JobOutcome, 'body' | 'headers' | 'release'> {
    if (length <= SMALL_ANSWER_BYTES) {
      // A small answer is copied out (cheaper than a stream) and its room reused at once.
      const copy = Buffer.allocUnsafe(length);
      copyBytes(copy, room.subarray(0, length));
      slabs.give(room);
      return { body: copy, headers };
    }
    // Reused once the response has finished; until then the socket may still read it. A stream
    // of one chunk: Fastify sends a Buffer as bytes only over an ArrayBuffer (over shared memory
    // it would serialise it as an object).
    const sent = Buffer.from(room.buffer, room.byteOffset, length);
    return { body: Readable.from([sent], { objectMode: false }), headers: { ...headers, 'content-length': String(length) }, release: () => slabs.give(room) };
  }

  /** A body too big to parse inline: a worker parses, validates and (unless it is big) answers it. */
  async function runBody(c: Codec, op: OpName, raw: Buffer, ctx: RunContext, timeout: AbortSignal, meta?: DecodeMeta): Promise<JobOutcome> {
    // A slab (shared) is read in place, and reused once the task has returned; else the body's
    // memory is moved to the worker when the Buffer owns all of it, or copied.
    const slab = slabs.owns(raw);
    const owned = !slab && raw.byteOffset === 0 && raw.buffer.byteLength === raw.length && !(raw.buffer instanceof SharedArrayBuffer);
    const body = slab || owned ? new Uint8Array(raw.buffer, raw.byteOffset, raw.length) : new Uint8Array(raw);
    // The matrix's room, shared and reused: at most one element per two body bytes (a JSON
    // number and its comma, or a 16-bit float), as estimate() reserves.
    const room = slabs.take(8 * Math.min(config.maxElements, Math.floor(raw.length / 2) + 1));
    // The answer's room, shared and reused (no answer buffer made and moved per request): an
    // answer written whole has fewer than streamMinElements values, and no more than the matrix
    // has elements unless it draws more (then the worker makes its own), as estimate() reserves.
    const answerRoom = c.encodeInto && slabs.take(answerRoomBytes(Math.min(config.streamMinElements, config.maxElements, Math.floor(raw.length / 2) + 1)));
    const task: Task = {
      kind: 'body',
      codec: c.name,
      op,
      meta,
      body,
      data: new Float64Array(room.buffer, 0, room.length / 8),
      answer: answerRoom,
      limits,
      streamMinElements: config.streamMinElements,
      splitMinWork: config.splitMinWork,
      enqueuedAt: now(),
    };
    const r = await submit(task, slab ? [] : [body.buffer as ArrayBuffer], AbortSignal.any([timeout, ctx.cancel.signal]));
    if (slab) slabs.give(raw);
    // The matrix's room lives on with a job handed back (until its answer is written).
    const kept = r.kind === 'job' && r.inGiven;
    if (!kept) slabs.give(room);
    if (r.kind !== 'done' && answerRoom) slabs.give(answerRoom);
    children(op).wait.observe(r.waitMs / 1000);
    switch (r.kind) {
      case 'error':
        throw fromPlain(r.error);
      case 'done':
        record(op, 'pool', r.kernelMs, r.rows, r.work);
        if (r.inRoom !== undefined) return { ...roomAnswer(answerRoom!, r.inRoom, r.headers), rows: r.rows, cols: r.cols };
        if (answerRoom) slabs.give(answerRoom);
        return { body: Buffer.from(r.body!.buffer, r.body!.byteOffset, r.body!.byteLength), headers: r.headers, rows: r.rows, cols: r.cols };
      case 'job':
        return runShared(c, r.job, raw.length, ctx, timeout, kept ? [room] : []);
      default:
        throw new ApiError(500, 'INTERNAL', 'unexpected worker reply');
    }
  }

  return {
    pool,
    budget,
    slabs,
    estimate,
    ready: () => pool.threads.length >= config.workers && admitted - config.workers < Math.max(config.queueLimit, 1),
    async run(codecName, op, raw, ctx, meta) {
      const c = codec(codecName);
      // The timeout only on the pool path: its timer costs ~5 us a request, a fifth of a small
      // inline request's main-thread time (measured with load/).
      const timeout = () => AbortSignal.timeout(config.requestTimeoutMs);
      // Strings are counted in the JSON only: binary tensor bytes are not text, and 0x22 is as
      // likely in them as any byte (a 32 KB FP32 tensor has ~128, which sent it to a worker).
      const text = meta?.headerLength === undefined ? raw : raw.subarray(0, meta.headerLength);
      if (raw.length <= config.inlineMaxBytes && fewStrings(text, config.inlineMaxStrings)) {
        const job = c.decode(op, raw, limits, undefined, meta);
        if (jobCostNs(job, c) > config.inlineMaxNs || outputElements(job) >= config.streamMinElements) {
          return withSlot(() => runShared(c, job, raw.length, ctx, timeout())).then((out) => unlessGone(out, ctx));
        }
        const t0 = performance.now();
        const outs = run(job);
        record(op, 'inline', performance.now() - t0, job.rows, job.work);
        const answer = c.encode(job, outs);
        return { body: typeof answer.body === 'string' ? answer.body : Buffer.from(answer.body.buffer, answer.body.byteOffset, answer.body.byteLength), headers: answer.headers, rows: job.rows, cols: job.cols };
      }
      return withSlot(() => runBody(c, op, raw, ctx, timeout(), meta)).then((out) => unlessGone(out, ctx));
    },
    async crash() {
      const signal = AbortSignal.timeout(config.requestTimeoutMs);
      await withSlot(() => submit({ kind: 'crash', enqueuedAt: now() }, [], signal));
      throw new ApiError(500, 'INTERNAL', 'the crash task returned');
    },
  };
}
