import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Piscina } from 'piscina';
import type { Config } from '../config.js';
import { ApiError, fromPlain } from '../errors.js';
import { assemble, compute, prepareBytes, slice, type EndpointName, type Job } from '../jobs/endpoints.js';
import { now, type Result, type Task } from '../worker.js';

/**
 * The worker-thread pool (piscina) and the policy of what runs where:
 *  - a body up to inlineMaxBytes is parsed on the main thread, and if its work (rows x classes
 *    x n) is at most inlineMaxWork it is computed there too: a worker round trip costs more than
 *    the maths of a small request (~2x the throughput at 1x50);
 *  - any bigger body goes to a worker as raw bytes (transferred, not copied), which parses,
 *    validates, computes and serialises it, so the main thread does no per-element work;
 *  - a job of splitMinWork or more is split by rows across the workers; the kernels take the
 *    global row index, so the answer is byte-identical to an unsplit run.
 * Queue full -> 503 OVERLOADED, not done within requestTimeoutMs -> 503 TIMEOUT (a running job
 * is stopped with its worker), worker died -> 500 WORKER_CRASHED; piscina replaces the worker.
 *
 * The queue limit is enforced here, per request, not by piscina's maxQueue: piscina keeps tasks
 * that carry an AbortSignal (all of ours, for the timeout) in a side queue that maxQueue does not
 * count, so a limit >= 1 was never applied; and with maxQueue 0 a refused task stayed in that
 * side queue and was run later anyway, keeping the worker busy for requests already answered 503.
 * A request that goes to the pool takes one of workers + queueLimit slots until it is answered;
 * the tasks of an admitted request (the body, then its row chunks) are not refused.
 */

export interface JobOutcome {
  /** The JSON answer, as text or (from a worker) as bytes. */
  body: string | Buffer;
  rows: number;
  cols: number;
}

export interface Jobs {
  run(endpoint: EndpointName, raw: Buffer): Promise<JobOutcome>;
  /** Test-only crash task. */
  crash(): Promise<never>;
  /** Workers started and queue below its limit. */
  ready(): boolean;
  pool: Piscina;
}

declare module 'fastify' {
  interface FastifyInstance {
    jobs: Jobs;
  }
}

const RETRY_AFTER_S = 1;

function workerFile(): { filename: string; execArgv: string[] | undefined } {
  // Under the TypeScript sources (tests, tsx) the worker is a .ts file that needs tsx's loader;
  // built (dist/), it is plain JS and inherits node's flags (--cpu-prof, --max-old-space-size).
  const ts = import.meta.url.endsWith('.ts');
  const filename = new URL(`../worker.${ts ? 'ts' : 'js'}`, import.meta.url).href;
  return { filename, execArgv: ts ? ['--import', 'tsx'] : undefined };
}

export default fp(
  async function poolPlugin(app: FastifyInstance, config: Config) {
    const { filename, execArgv } = workerFile();
    const pool = new Piscina({
      filename,
      execArgv,
      minThreads: config.workers,
      maxThreads: config.workers,
      idleTimeout: Number.MAX_SAFE_INTEGER,
    });
    // A worker that dies with no task of ours in flight is replaced by piscina; log, don't crash.
    pool.on('error', (err) => app.log.error({ err }, 'worker error'));
    let inFlight = 0;
    /** Requests holding a pool slot (running or waiting); at most workers + queueLimit. */
    let admitted = 0;
    const slots = config.workers + config.queueLimit;
    const limits = { maxElements: config.maxElements };
    const m = app.metrics;
    m.poolProbe.queueDepth = () => pool.queueSize;
    m.poolProbe.busyWorkers = () => Math.min(config.workers, inFlight - pool.queueSize);

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

    async function submit(task: Task, transferList: ArrayBuffer[], signal: AbortSignal): Promise<Result> {
      inFlight++;
      try {
        return (await pool.run(task, { transferList, signal })) as Result;
      } catch (e) {
        throw poolError(e, signal);
      } finally {
        inFlight--;
      }
    }

    function poolError(e: unknown, signal: AbortSignal): ApiError {
      const msg = (e as Error)?.message ?? String(e);
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
    const children = (kernel: EndpointName) => {
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

    function record(endpoint: EndpointName, where: 'inline' | 'pool', kernelMs: number, rows: number, work: number) {
      const c = children(endpoint);
      c[where].observe(kernelMs / 1000);
      c.rows.inc(rows);
      c.elements.inc(work);
    }

    /** Runs a validated job in the pool, split by rows when it is big. */
    async function runJob(job: Job, signal: AbortSignal): Promise<JobOutcome> {
      const parts = job.work >= config.splitMinWork && job.rows >= 2 ? Math.min(config.workers, job.rows) : 1;
      const tasks: Promise<Result>[] = [];
      for (let c = 0; c < parts; c++) {
        const r0 = Math.floor((c * job.rows) / parts);
        const r1 = Math.floor(((c + 1) * job.rows) / parts);
        const sub = slice(job, r0, r1);
        sub.data = sub.data.slice(); // own buffer, so it can be transferred
        tasks.push(submit({ kind: 'job', job: sub, enqueuedAt: now() }, [sub.data.buffer as ArrayBuffer], signal));
      }
      const results = await Promise.all(tasks);
      let kernelMs = 0;
      const pieces = results.map((r) => {
        if (r.kind !== 'pieces') throw new ApiError(500, 'INTERNAL', 'unexpected worker reply');
        children(job.endpoint).wait.observe(r.waitMs / 1000);
        kernelMs += r.kernelMs;
        return r.pieces;
      });
      record(job.endpoint, 'pool', kernelMs, job.rows, job.work);
      return { body: assemble(job, pieces), rows: job.rows, cols: job.cols };
    }

    /** A body too big to parse inline: a worker parses, validates and (unless it splits) computes it. */
    async function runBody(endpoint: EndpointName, raw: Buffer, signal: AbortSignal): Promise<JobOutcome> {
      // Transfer the body's memory to the worker when the Buffer owns all of it; else copy.
      const owned = raw.byteOffset === 0 && raw.buffer.byteLength === raw.length;
      const body = owned ? new Uint8Array(raw.buffer, 0, raw.length) : new Uint8Array(raw);
      const task: Task = { kind: 'body', endpoint, body, limits, splitMinWork: config.splitMinWork, enqueuedAt: now() };
      const r = await submit(task, [body.buffer as ArrayBuffer], signal);
      children(endpoint).wait.observe(r.waitMs / 1000);
      switch (r.kind) {
        case 'error':
          throw fromPlain(r.error);
        case 'done':
          record(endpoint, 'pool', r.kernelMs, r.rows, r.work);
          return { body: Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength), rows: r.rows, cols: r.cols };
        case 'split':
          return runJob(r.job, signal);
        default:
          throw new ApiError(500, 'INTERNAL', 'unexpected worker reply');
      }
    }

    const jobs: Jobs = {
      pool,
      ready: () => pool.threads.length >= config.workers && admitted - config.workers < Math.max(config.queueLimit, 1),
      async run(endpoint, raw) {
        // The timeout only on the pool path: its timer costs ~5 us a request, a fifth of a small
        // inline request's main-thread time (measured with load/).
        const timeout = () => AbortSignal.timeout(config.requestTimeoutMs);
        if (raw.length <= config.inlineMaxBytes) {
          const job = prepareBytes(endpoint, raw, limits);
          if (job.work > config.inlineMaxWork) return withSlot(() => runJob(job, timeout()));
          const t0 = performance.now();
          const pieces = compute(job);
          record(endpoint, 'inline', performance.now() - t0, job.rows, job.work);
          return { body: assemble(job, [pieces]), rows: job.rows, cols: job.cols };
        }
        return withSlot(() => runBody(endpoint, raw, timeout()));
      },
      async crash() {
        const signal = AbortSignal.timeout(config.requestTimeoutMs);
        await withSlot(() => submit({ kind: 'crash', enqueuedAt: now() }, [], signal));
        throw new ApiError(500, 'INTERNAL', 'the crash task returned');
      },
    };

    app.decorate('jobs', jobs);
    app.addHook('onClose', async () => {
      await pool.close();
    });
  },
  { name: 'anymax-pool', dependencies: ['anymax-metrics'] },
);
