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

const EnvSchema = z.object({
  PORT: int('PORT', 0, 65535).optional(),
  HOST: z.string().trim().min(1, { error: 'HOST must not be empty' }).optional(),
  WORKERS: int('WORKERS', 1, 256).optional(),
  MAX_BODY_BYTES: int('MAX_BODY_BYTES', 1024).optional(),
  MAX_ELEMENTS: int('MAX_ELEMENTS', 1).optional(),
  QUEUE_LIMIT: int('QUEUE_LIMIT', 0).optional(),
  REQUEST_TIMEOUT_MS: int('REQUEST_TIMEOUT_MS', 1).optional(),
  MEMORY_BUDGET_BYTES: int('MEMORY_BUDGET_BYTES', 16 * 1024 * 1024).optional(),
  MEMORY_WAIT_MS: int('MEMORY_WAIT_MS', 0).optional(),
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
  host: string;
  /** Worker threads in the pool. */
  workers: number;
  /** Largest accepted request body. */
  maxBodyBytes: number;
  /** Largest rows x classes (x n draws for /v1/sample) a request may ask for. */
  maxElements: number;
  /** Jobs that may wait for a worker; past that, 503. */
  queueLimit: number;
  /** A job not finished this long after it was queued is abandoned with a 503. */
  requestTimeoutMs: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /**
   * Bytes that requests in flight may hold at once (bodies, matrices, answers being written);
   * see src/pool/budget.ts. Default: half the memory the process may use (the container's limit,
   * else the machine's), leaving the rest to the runtime, the workers' heaps and collection lag.
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
  /** rows x classes (x n) at or below which a parsed job runs inline. */
  inlineMaxWork: number;
  /** Work at or above which one request's rows are split across the pool's workers. */
  splitMinWork: number;
  /** Whether /metrics carries prom-client's nodejs_version_info (with the exact version). */
  metricsNodeVersion: boolean;
  testCrashRoute: boolean;
}

/**
 * Half of what the process may use: the cgroup (container) limit when there is one
 * (process.constrainedMemory(), which reports 2^64 or 0 when unconstrained), else the machine's
 * memory. 2 GiB container -> 1 GiB budget; the measured peaks behind this are in README.
 */
function defaultMemoryBudget(): number {
  const machine = totalmem();
  const limit = process.constrainedMemory?.() ?? 0;
  return Math.floor((limit > 0 && limit < machine ? limit : machine) / 2);
}

export const DEFAULTS: Config = {
  port: 8080,
  host: '127.0.0.1',
  workers: availableParallelism(),
  maxBodyBytes: 64 * 1024 * 1024,
  maxElements: 16 * 1024 * 1024,
  queueLimit: 256,
  requestTimeoutMs: 30_000,
  logLevel: 'info',
  memoryBudgetBytes: defaultMemoryBudget(),
  memoryWaitMs: 5000,
  streamMinElements: 1 << 16,
  inlineMaxBytes: 64 * 1024,
  inlineMaxWork: 16 * 1024,
  splitMinWork: 1 << 20,
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
  // Unset variables take DEFAULTS, the one place the defaults are written.
  return {
    ...DEFAULTS,
    port: e.PORT ?? DEFAULTS.port,
    host: e.HOST ?? DEFAULTS.host,
    workers: e.WORKERS ?? DEFAULTS.workers,
    maxBodyBytes: e.MAX_BODY_BYTES ?? DEFAULTS.maxBodyBytes,
    maxElements: e.MAX_ELEMENTS ?? DEFAULTS.maxElements,
    queueLimit: e.QUEUE_LIMIT ?? DEFAULTS.queueLimit,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS ?? DEFAULTS.requestTimeoutMs,
    logLevel: e.LOG_LEVEL ?? DEFAULTS.logLevel,
    memoryBudgetBytes: e.MEMORY_BUDGET_BYTES ?? DEFAULTS.memoryBudgetBytes,
    memoryWaitMs: e.MEMORY_WAIT_MS ?? DEFAULTS.memoryWaitMs,
    metricsNodeVersion: on(e.METRICS_NODE_VERSION),
    testCrashRoute: on(e.ANYMAX_TEST_CRASH_ROUTE),
  };
}
