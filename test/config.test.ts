import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir, totalmem } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig, usableCores } from '../src/config.js';

/** loadConfig(env): the only reader of the environment; a bad value is a ConfigError naming it. */

describe('loadConfig', () => {
  it('gives the defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toEqual(DEFAULTS);
    expect(c).toMatchObject({
      port: 8080,
      grpcPort: 8081,
      host: '127.0.0.1',
      // One process per usable core, and the cores shared between their pools.
      processes: usableCores(),
      workers: 1,
      maxBodyBytes: 64 * 1024 * 1024,
      maxElements: 16 * 1024 * 1024,
      queueLimit: 256,
      requestTimeoutMs: 30_000,
      headersTimeoutMs: 15_000,
      receiveTimeoutMs: 60_000,
      keepAliveTimeoutMs: 5_000,
      socketInactivityTimeoutMs: 60_000,
      logLevel: 'info',
      metricsNodeVersion: false,
      testCrashRoute: false,
    });
  });

  it('reads every variable', () => {
    const c = loadConfig({
      PORT: '0',
      GRPC_PORT: '9001',
      HOST: '0.0.0.0',
      PROCESSES: '2',
      WORKERS: '3',
      MAX_BODY_BYTES: '2048',
      MAX_ELEMENTS: '1000',
      QUEUE_LIMIT: '0',
      REQUEST_TIMEOUT_MS: '250',
      HEADERS_TIMEOUT_MS: '2000',
      RECEIVE_TIMEOUT_MS: '9000',
      KEEP_ALIVE_TIMEOUT_MS: '65000',
      SOCKET_INACTIVITY_TIMEOUT_MS: '700',
      LOG_LEVEL: 'warn',
      METRICS_NODE_VERSION: '1',
      MEMORY_BUDGET_BYTES: '1073741824',
      MEMORY_WAIT_MS: '0',
      ANYMAX_TEST_CRASH_ROUTE: '1',
    });
    expect(c).toMatchObject({
      port: 0,
      grpcPort: 9001,
      host: '0.0.0.0',
      processes: 2,
      workers: 3,
      maxBodyBytes: 2048,
      maxElements: 1000,
      queueLimit: 0,
      requestTimeoutMs: 250,
      headersTimeoutMs: 2000,
      receiveTimeoutMs: 9000,
      keepAliveTimeoutMs: 65_000,
      socketInactivityTimeoutMs: 700,
      logLevel: 'warn',
      metricsNodeVersion: true,
      // MEMORY_BUDGET_BYTES is the service's: each of the 2 processes holds half.
      memoryBudgetBytes: 1024 ** 3 / 2,
      memoryWaitMs: 0,
      testCrashRoute: true,
    });
  });

  it('GRPC_PORT=0 turns the gRPC service off', () => {
    expect(loadConfig({ GRPC_PORT: '0' }).grpcPort).toBe(0);
  });

  it('defaults the memory budget to half of what the service may use (the container limit, else the machine), split between its processes', () => {
    const limit = process.constrainedMemory?.() ?? 0;
    const machine = totalmem();
    const half = Math.floor((limit > 0 && limit < machine ? limit : machine) / 2);
    expect(DEFAULTS.memoryBudgetBytes).toBe(Math.floor(half / DEFAULTS.processes));
    expect(loadConfig({ PROCESSES: '1' }).memoryBudgetBytes).toBe(half);
    expect(loadConfig({ PROCESSES: '3' }).memoryBudgetBytes).toBe(Math.floor(half / 3));
  });

  it('WORKERS defaults to the usable cores shared between the processes, at least one each', () => {
    const cores = usableCores();
    expect(loadConfig({ PROCESSES: '1' }).workers).toBe(cores);
    expect(loadConfig({ PROCESSES: String(2 * cores) }).workers).toBe(1);
    expect(loadConfig({ PROCESSES: '1', WORKERS: '5' }).workers).toBe(5);
  });

  it('a budget that cannot give each process 16 MiB is refused, naming both variables', () => {
    expect(() => loadConfig({ PROCESSES: '3', MEMORY_BUDGET_BYTES: String(32 << 20) })).toThrow(
      /MEMORY_BUDGET_BYTES \(33554432\) over PROCESSES \(3\) must leave each process >= 16777216 bytes/,
    );
    expect(loadConfig({ PROCESSES: '2', MEMORY_BUDGET_BYTES: String(32 << 20) }).memoryBudgetBytes).toBe(16 << 20);
  });

  it('usableCores: the CPU affinity, lowered to the cgroup v2 or v1 CPU quota rounded up', () => {
    const cores = availableParallelism();
    const dir = mkdtempSync(path.join(tmpdir(), 'anymax-cgroup-'));
    try {
      const at = (files: Record<string, string>) => {
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(path.join(dir, 'cpu'), { recursive: true });
        for (const [f, text] of Object.entries(files)) writeFileSync(path.join(dir, f), text);
        return usableCores(dir);
      };
      expect(at({})).toBe(cores);
      expect(at({ 'cpu.max': 'max 100000\n' })).toBe(cores);
      expect(at({ 'cpu.max': '50000 100000\n' })).toBe(1);
      expect(at({ 'cpu.max': '150000 100000\n' })).toBe(Math.min(cores, 2));
      expect(at({ 'cpu.max': '6400000 100000\n' })).toBe(cores);
      expect(at({ 'cpu/cpu.cfs_quota_us': '-1\n', 'cpu/cpu.cfs_period_us': '100000\n' })).toBe(cores);
      expect(at({ 'cpu/cpu.cfs_quota_us': '100000\n', 'cpu/cpu.cfs_period_us': '100000\n' })).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ignores variables it does not know', () => {
    expect(loadConfig({ HOME: '/root', NODE_ENV: 'test', PATH: '/bin' })).toEqual(DEFAULTS);
  });

  it.each([
    ['ANYMAX_TEST_CRASH_ROUTE', '0', false],
    ['ANYMAX_TEST_CRASH_ROUTE', 'false', false],
    ['ANYMAX_TEST_CRASH_ROUTE', 'true', true],
  ])('%s=%s -> %s', (name, value, expected) => {
    expect(loadConfig({ [name]: value }).testCrashRoute).toBe(expected);
  });

  it.each([
    ['0', false],
    ['false', false],
    ['1', true],
    ['true', true],
  ])('METRICS_NODE_VERSION=%s -> %s', (value, expected) => {
    expect(loadConfig({ METRICS_NODE_VERSION: value }).metricsNodeVersion).toBe(expected);
  });

  it.each([
    ['PORT', 'abc'],
    ['PORT', '-1'],
    ['PORT', '65536'],
    ['PORT', '80.5'],
    ['PORT', ''],
    ['PORT', '  '],
    ['GRPC_PORT', '-1'],
    ['GRPC_PORT', '65536'],
    ['GRPC_PORT', 'grpc'],
    ['GRPC_PORT', ''],
    ['HOST', ''],
    ['HOST', '   '],
    ['PROCESSES', 'abc'],
    ['PROCESSES', '0'],
    ['PROCESSES', '257'],
    ['PROCESSES', '1.5'],
    ['PROCESSES', ''],
    ['WORKERS', 'abc'],
    ['WORKERS', '0'],
    ['WORKERS', '257'],
    ['WORKERS', '1.5'],
    ['WORKERS', ''],
    ['MEMORY_BUDGET_BYTES', '1000'],
    ['MEMORY_BUDGET_BYTES', '1.5e9x'],
    ['MEMORY_WAIT_MS', '-1'],
    ['MAX_BODY_BYTES', '100'],
    ['MAX_BODY_BYTES', 'lots'],
    ['MAX_ELEMENTS', '0'],
    ['QUEUE_LIMIT', '-1'],
    ['QUEUE_LIMIT', ''],
    ['REQUEST_TIMEOUT_MS', '0'],
    ['REQUEST_TIMEOUT_MS', 'Infinity'],
    ['HEADERS_TIMEOUT_MS', '0'],
    ['HEADERS_TIMEOUT_MS', '1.5'],
    ['HEADERS_TIMEOUT_MS', ''],
    ['RECEIVE_TIMEOUT_MS', '-1'],
    ['RECEIVE_TIMEOUT_MS', 'soon'],
    ['KEEP_ALIVE_TIMEOUT_MS', '0'],
    ['KEEP_ALIVE_TIMEOUT_MS', '2147483648'],
    ['SOCKET_INACTIVITY_TIMEOUT_MS', '0'],
    ['SOCKET_INACTIVITY_TIMEOUT_MS', '1e12'],
    ['LOG_LEVEL', 'loud'],
    ['LOG_LEVEL', 'INFO'],
    ['ANYMAX_TEST_CRASH_ROUTE', 'yes'],
    ['METRICS_NODE_VERSION', 'yes'],
    ['METRICS_NODE_VERSION', ''],
  ])('%s=%j is refused with a message naming it', (name, value) => {
    let err: unknown;
    try {
      loadConfig({ [name]: value });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toContain(name);
    expect(message).toContain(JSON.stringify(value));
  });

  it('socket inactivity defaults to REQUEST_TIMEOUT_MS + 30 s, so raising the job timeout alone stays valid', () => {
    expect(loadConfig({ REQUEST_TIMEOUT_MS: '120000' }).socketInactivityTimeoutMs).toBe(150_000);
    expect(loadConfig({ REQUEST_TIMEOUT_MS: '1000' }).socketInactivityTimeoutMs).toBe(31_000);
    // ...but never past what a Node timer can hold (2^31 - 1 ms); a job timeout that leaves no room is refused.
    expect(loadConfig({ REQUEST_TIMEOUT_MS: String(2 ** 31 - 10_000) }).socketInactivityTimeoutMs).toBe(2 ** 31 - 1);
    expect(() => loadConfig({ REQUEST_TIMEOUT_MS: String(2 ** 31 - 1) })).toThrow(/SOCKET_INACTIVITY_TIMEOUT_MS \(2147483647\) must be > REQUEST_TIMEOUT_MS/);
  });

  it.each([
    // [env, the variables the message must name]
    [{ HEADERS_TIMEOUT_MS: '61000' }, ['HEADERS_TIMEOUT_MS (61000)', 'RECEIVE_TIMEOUT_MS (60000)']],
    [{ RECEIVE_TIMEOUT_MS: '5000' }, ['HEADERS_TIMEOUT_MS (15000)', 'RECEIVE_TIMEOUT_MS (5000)']],
    [{ SOCKET_INACTIVITY_TIMEOUT_MS: '30000' }, ['SOCKET_INACTIVITY_TIMEOUT_MS (30000)', 'REQUEST_TIMEOUT_MS (30000)']],
    [{ REQUEST_TIMEOUT_MS: '90000', SOCKET_INACTIVITY_TIMEOUT_MS: '60000' }, ['SOCKET_INACTIVITY_TIMEOUT_MS (60000)', 'REQUEST_TIMEOUT_MS (90000)']],
  ])('refuses timeouts that contradict each other: %j', (env, named) => {
    let err: unknown;
    try {
      loadConfig(env);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    for (const n of named) expect((err as Error).message).toContain(n);
  });

  it('accepts the edges of those rules: headers = receive, inactivity = job timeout + 1 ms', () => {
    expect(() => loadConfig({ HEADERS_TIMEOUT_MS: '60000', RECEIVE_TIMEOUT_MS: '60000' })).not.toThrow();
    expect(() => loadConfig({ REQUEST_TIMEOUT_MS: '30000', SOCKET_INACTIVITY_TIMEOUT_MS: '30001' })).not.toThrow();
  });

  it('reports every bad variable at once', () => {
    expect(() => loadConfig({ PORT: 'x', WORKERS: '0', LOG_LEVEL: 'nope' })).toThrow(/PORT[\s\S]*WORKERS[\s\S]*LOG_LEVEL/);
  });
});
