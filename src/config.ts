import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';
import { z } from 'zod';

/**
 * Service configuration. This is the only module that reads process.env; everything else gets a
 * Config. Values are validated at start, and a bad value stops the process with a message that
 * names the variable.
 */

// A blank value is refused rather than coerced: Number('') is 0, which made PORT= listen on a
// random port and QUEUE_LIMIT= disable the queue without a word.
const blankToNaN = (v: unknown) => (typeof v === 'string' && v.trim() === '' ? Number.NaN : v);

const int = (name: string, min: number, max = Number.MAX_SAFE_INTEGER) =>
  z.preprocess(
    blankToNaN,
    z.coerce
      .number({ error: `${name} must be a number` })
      .int({ error: `${name} must be an integer` })
      .min(min, { error: `${name} must be >= ${min}` })
      .max(max, { error: `${name} must be <= ${max}` }),
  );

const flag = (name: string) =>
  z.enum(['0', '1', 'true', 'false'], { error: `${name} must be 0, 1, true or false` }).default('0');
const on = (v: string) => v === '1' || v === 'true';
// Node turns a timer over 2^31 - 1 ms into 1 ms (with a warning): a huge timeout would close at once.
const MAX_TIMER_MS = 2 ** 31 - 1;

const EnvSchema = z.object({
  PORT: int('PORT', 0, 65535).optional(),
  /** The gRPC Open Inference Protocol service (src/grpc/server.ts); 0 turns it off. */
  GRPC_PORT: int('GRPC_PORT', 0, 65535).optional(),
  HOST: z.string().trim().min(1, { error: 'HOST must not be empty' }).optional(),
  PROCESSES: int('PROCESSES', 1, 256).optional(),
  WORKERS: int('WORKERS', 1, 256).optional(),
  MAX_BODY_BYTES: int('MAX_BODY_BYTES', 1024).optional(),
  MAX_ELEMENTS: int('MAX_ELEMENTS', 1).optional(),
  QUEUE_LIMIT: int('QUEUE_LIMIT', 0).optional(),
  REQUEST_TIMEOUT_MS: int('REQUEST_TIMEOUT_MS', 1).optional(),
  MEMORY_BUDGET_BYTES: int('MEMORY_BUDGET_BYTES', 16 * 1024 * 1024).optional(),
  MEMORY_WAIT_MS: int('MEMORY_WAIT_MS', 0).optional(),
  HEADERS_TIMEOUT_MS: int('HEADERS_TIMEOUT_MS', 1, MAX_TIMER_MS).optional(),
  RECEIVE_TIMEOUT_MS: int('RECEIVE_TIMEOUT_MS', 1, MAX_TIMER_MS).optional(),
  KEEP_ALIVE_TIMEOUT_MS: int('KEEP_ALIVE_TIMEOUT_MS', 1, MAX_TIMER_MS).optional(),
  SOCKET_INACTIVITY_TIMEOUT_MS: int('SOCKET_INACTIVITY_TIMEOUT_MS', 1, MAX_TIMER_MS).optional(),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .optional(),
  /** Opt-in: /metrics is public, and the exact Node version tells an attacker which CVEs apply. */
  METRICS_NODE_VERSION: flag('METRICS_NODE_VERSION'),
  /** Test-only: registers POST /v1/_test/crash, whose task kills its worker thread. */
  ANYMAX_TEST_CRASH_ROUTE: z
    .enum(['0', '1', 'true', 'false'], { error: 'ANYMAX_TEST_CRASH_ROUTE must be 0 or 1' })
    .default('0'),
});

export interface Config {
  port: number;
  /** The gRPC service's port on the same host; 0: no gRPC server. */
  grpcPort: number;
  host: string;
  /**
   * HTTP processes (src/cluster.ts): 1 serves from this process alone; more runs a primary that
   * forks that many, each with its own listener on the shared port, pool and memory share.
   */
  processes: number;
  /** Worker threads in each process's pool. */
  workers: number;
  /** Largest accepted request body. */
  maxBodyBytes: number;
  /** Largest rows x classes (x n draws for /v1/sample) a request may ask for. */
  maxElements: number;
  /** Jobs that may wait for a worker; past that, 503. */
  queueLimit: number;
  /**
   * The job (compute) timeout: a job not finished this long after it was queued is abandoned with
   * a 503. It starts once the request has arrived; the four connection timeouts below are separate.
   */
  requestTimeoutMs: number;
  /**
   * A request's complete headers must arrive within this from its first byte (Node's
   * headersTimeout); a connection that sends nothing is timed from its accept.
   */
  headersTimeoutMs: number;
  /**
   * The whole request, headers and body, must arrive within this (Node's / Fastify's
   * requestTimeout); then the job timeout starts. >= headersTimeoutMs.
   */
  receiveTimeoutMs: number;
  /** An idle keep-alive connection is closed after this (keepAliveTimeout). */
  keepAliveTimeoutMs: number;
  /**
   * A socket with no bytes either way for this long is closed (Fastify's connectionTimeout,
   * socket.setTimeout). A socket is silent while its job runs, so this is > requestTimeoutMs.
   */
  socketInactivityTimeoutMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * Bytes that this process's requests in flight may hold at once (bodies, matrices, answers
   * being written); see src/pool/budget.ts. MEMORY_BUDGET_BYTES is the whole service's budget,
   * split evenly between its processes. Default: half the memory the service may use (the
   * container's limit, else the machine's), leaving the rest to the runtime, the workers' heaps
   * and collection lag.
   */
  memoryBudgetBytes: number;
  /** How long a request waits for room in the memory budget before its 503. */
  memoryWaitMs: number;
  /** Answers of at least this many values are streamed in chunks instead of written whole. */
  streamMinElements: number;
  /**
   * Bodies up to this size are parsed and, if their work is small, computed on the main thread:
   * a worker round trip costs more than the maths of a small request.
   */
  inlineMaxBytes: number;
  /**
   * ... and have at most this many strings (member names and string values: a valid body has a
   * dozen at most). Thousands of members in a small body (unknown or repeated ones) cost the
   * parser ~2 ms; such a body is read by a worker instead (src/pool/cost.ts fewStrings).
   */
  inlineMaxStrings: number;
  /**
   * A parsed job whose worst-case cost (src/pool/cost.ts) is at most this many nanoseconds runs
   * inline; anything costlier goes to the pool, so the event loop is never held for long.
   */
  inlineMaxNs: number;
  /** Work at or above which one request's rows are split across the pool's workers. */
  splitMinWork: number;
  /**
   * How long a pool task goes on after its client has gone (a hang-up, a gRPC deadline or
   * cancel) before it is stopped with its worker. A queued task is dropped at once; a running one
   * can only be stopped by ending its thread, and a new worker costs ~200-300 ms of CPU (measured:
   * its modules and WebAssembly compiled afresh), more than most tasks have left. So a task that
   * ends within this is let finish (its answer is dropped), and only a longer one is stopped.
   */
  stopGraceMs: number;
  /** Whether /metrics carries prom-client's nodejs_version_info (with the exact version). */
  metricsNodeVersion: boolean;
  testCrashRoute: boolean;
}

/**
 * Half of what the service may use: the cgroup (container) limit when there is one
 * (process.constrainedMemory(), which reports 2^64 or 0 when unconstrained), else the machine's
 * memory. 2 GiB container -> 1 GiB budget; the measured peaks behind this are in README.
 */
function defaultMemoryBudget(): number {
  const machine = totalmem();
  const limit = process.constrainedMemory?.() ?? 0;
  return Math.floor((limit > 0 && limit < machine ? limit : machine) / 2);
}
/**
 * The cores this service may use: availableParallelism() (the CPU affinity), lowered to the
 * container's CPU quota rounded up (cgroup v2 cpu.max, else v1 cpu.cfs_quota_us), which Node 20's
 * libuv does not read: a container given 1 CPU on a 16-core host then runs 1 process, not 16.
 */
export function usableCores(root = '/sys/fs/cgroup'): number {
  const cores = availableParallelism();
  const read = (f: string) => {
    try {
      return readFileSync(`${root}/${f}`, 'utf8').trim();
    } catch {
      return undefined;
    }
  };
  let quota = Number.NaN;
  const v2 = read('cpu.max')?.split(/\s+/);
  if (v2 && v2[0] !== 'max') quota = Number(v2[0]) / Number(v2[1]);
  else if (!v2) {
    const q = Number(read('cpu/cpu.cfs_quota_us'));
    const period = Number(read('cpu/cpu.cfs_period_us'));
    if (q > 0 && period > 0) quota = q / period;
  }
  return quota > 0 && Number.isFinite(quota) ? Math.max(1, Math.min(cores, Math.ceil(quota))) : cores;
}
const CORES = usableCores();
/**
 * One HTTP process per usable core: the main thread is what saturates on small requests (~0.1 ms
 * of its CPU each), so a laptop serves from every core, and a container given one CPU runs one
 * process, exactly as without a cluster (no primary). Each process's pool gets an even share of
 * the cores, at least one thread: 1 per process on 2 cores, so threads do not outnumber cores.
 */
const PROCESSES = CORES;
const workersPerProcess = (processes: number) => Math.max(1, Math.ceil(CORES / processes));
/** A process's share of the budget can never be below MEMORY_BUDGET_BYTES's own minimum. */
const MIN_BUDGET = 16 * 1024 * 1024;

// Timeouts, reasoned in README "Timeouts". The socket inactivity default follows the job timeout.
const requestTimeoutMs = 30_000;
/** How much longer than the job timeout a socket may be silent before it counts as dead. */
const INACTIVITY_MARGIN_MS = 30_000;

export const DEFAULTS: Config = {
  port: 8080,
  grpcPort: 8081,
  host: '127.0.0.1',
  processes: PROCESSES,
  workers: workersPerProcess(PROCESSES),
  maxBodyBytes: 64 * 1024 * 1024,
  maxElements: 16 * 1024 * 1024,
  queueLimit: 256,
  requestTimeoutMs,
  // Headers come in one or two packets from any real client or proxy; 15 s covers a very slow link.
  headersTimeoutMs: 15_000,
  // 64 MiB (MAX_BODY_BYTES) at ~1.1 MB/s, 1 MiB at ~17 kB/s; a proxy in front (deploy/nginx)
  // buffers the body and sends it at LAN speed.
  receiveTimeoutMs: 60_000,
  // Node's own default. A proxy that pools connections to us must drop idle ones sooner than this
  // (deploy/nginx sets its upstream keepalive_timeout below it).
  keepAliveTimeoutMs: 5_000,
  socketInactivityTimeoutMs: requestTimeoutMs + INACTIVITY_MARGIN_MS,
  logLevel: 'info',
  memoryBudgetBytes: Math.floor(defaultMemoryBudget() / PROCESSES),
  memoryWaitMs: 5000,
  streamMinElements: 1 << 16,
  inlineMaxBytes: 64 * 1024,
  inlineMaxStrings: 64,
  // With the body's parse (at most inlineMaxBytes and inlineMaxStrings: <= ~1 ms measured), a
  // request keeps the event loop ~1-2 ms at most (bench/inline-cost.ts, load/lag.ts).
  inlineMaxNs: 1_000_000,
  splitMinWork: 1 << 20,
  stopGraceMs: 250,
  metricsNodeVersion: false,
  testCrashRoute: false,
};

export class ConfigError extends Error {}

/** Builds the Config from an environment (process.env by default); throws ConfigError. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.message} (got ${JSON.stringify(env[String(i.path[0])])})`);
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  const e = parsed.data;
  const jobTimeoutMs = e.REQUEST_TIMEOUT_MS ?? DEFAULTS.requestTimeoutMs;
  const timeouts = {
    requestTimeoutMs: jobTimeoutMs,
    headersTimeoutMs: e.HEADERS_TIMEOUT_MS ?? DEFAULTS.headersTimeoutMs,
    receiveTimeoutMs: e.RECEIVE_TIMEOUT_MS ?? DEFAULTS.receiveTimeoutMs,
    keepAliveTimeoutMs: e.KEEP_ALIVE_TIMEOUT_MS ?? DEFAULTS.keepAliveTimeoutMs,
    // Unset, it follows REQUEST_TIMEOUT_MS, so raising the job timeout alone stays valid.
    socketInactivityTimeoutMs: e.SOCKET_INACTIVITY_TIMEOUT_MS ?? Math.min(jobTimeoutMs + INACTIVITY_MARGIN_MS, MAX_TIMER_MS),
  };
  const conflicts: string[] = [];
  if (timeouts.headersTimeoutMs > timeouts.receiveTimeoutMs) {
    conflicts.push(
      `  HEADERS_TIMEOUT_MS (${timeouts.headersTimeoutMs}) must be <= RECEIVE_TIMEOUT_MS (${timeouts.receiveTimeoutMs}): ` +
        'the headers are part of the request',
    );
  }
  if (timeouts.socketInactivityTimeoutMs <= timeouts.requestTimeoutMs) {
    conflicts.push(
      `  SOCKET_INACTIVITY_TIMEOUT_MS (${timeouts.socketInactivityTimeoutMs}) must be > REQUEST_TIMEOUT_MS ` +
        `(${timeouts.requestTimeoutMs}): a socket is silent while its job runs`,
    );
  }
  const processes = e.PROCESSES ?? DEFAULTS.processes;
  const budget = e.MEMORY_BUDGET_BYTES ?? defaultMemoryBudget();
  if (budget / processes < MIN_BUDGET) {
    conflicts.push(
      `  MEMORY_BUDGET_BYTES (${budget}) over PROCESSES (${processes}) must leave each process >= ${MIN_BUDGET} bytes: ` +
        'the budget is split evenly between the processes',
    );
  }
  if (conflicts.length) throw new ConfigError(`invalid configuration:\n${conflicts.join('\n')}`);
  // Unset variables take DEFAULTS, the one place the defaults are written.
  return {
    ...DEFAULTS,
    ...timeouts,
    port: e.PORT ?? DEFAULTS.port,
    grpcPort: e.GRPC_PORT ?? DEFAULTS.grpcPort,
    host: e.HOST ?? DEFAULTS.host,
    processes,
    workers: e.WORKERS ?? workersPerProcess(processes),
    maxBodyBytes: e.MAX_BODY_BYTES ?? DEFAULTS.maxBodyBytes,
    maxElements: e.MAX_ELEMENTS ?? DEFAULTS.maxElements,
    queueLimit: e.QUEUE_LIMIT ?? DEFAULTS.queueLimit,
    logLevel: e.LOG_LEVEL ?? DEFAULTS.logLevel,
    memoryBudgetBytes: Math.floor(budget / processes),
    memoryWaitMs: e.MEMORY_WAIT_MS ?? DEFAULTS.memoryWaitMs,
    metricsNodeVersion: on(e.METRICS_NODE_VERSION),
    testCrashRoute: on(e.ANYMAX_TEST_CRASH_ROUTE),
  };
}
