import { availableParallelism, totalmem } from 'node:os';
import { describe, expect, it } from 'vitest';
import { ConfigError, DEFAULTS, loadConfig } from '../src/config.js';

/** loadConfig(env): the only reader of the environment; a bad value is a ConfigError naming it. */

describe('loadConfig', () => {
  it('gives the defaults for an empty environment', () => {
    const c = loadConfig({});
    expect(c).toEqual(DEFAULTS);
    expect(c).toMatchObject({
      port: 8080,
      grpcPort: 8081,
      host: '127.0.0.1',
      workers: availableParallelism(),
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
      memoryBudgetBytes: 1024 ** 3,
      memoryWaitMs: 0,
      testCrashRoute: true,
    });
  });

  it('GRPC_PORT=0 turns the gRPC service off', () => {
    expect(loadConfig({ GRPC_PORT: '0' }).grpcPort).toBe(0);
  });

  it('defaults the memory budget to half of what the process may use (the container limit, else the machine)', () => {
    const limit = process.constrainedMemory?.() ?? 0;
    const machine = totalmem();
    expect(DEFAULTS.memoryBudgetBytes).toBe(Math.floor((limit > 0 && limit < machine ? limit : machine) / 2));
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
