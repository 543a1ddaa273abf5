/**
 * Event-loop lag under the worst inline-sized requests: `npx tsx load/lag.ts [flags]`.
 *
 * Starts the service from its sources (`node --import tsx --import test/helpers/loop-delay.ts
 * src/server.ts`, 127.0.0.1, port 0) with its main thread's event-loop delay measured from
 * inside (a perf_hooks histogram, 1 ms resolution, read at the end of each phase), and sends it
 * the costliest requests that still run on its main thread (test/helpers/worst-inline.ts: per
 * kernel and attack, the largest body the cost model places inline, plus bodies of many members,
 * which go to a worker), round-robin, while GET /health/live is probed every 100 ms on a fresh
 * connection (as Kubernetes does; its timeout is 2 s). Phases:
 *   warm-up  4 connections, --warmup seconds (not reported)
 *   serial   1 connection, --serial seconds: a delay sample after a request is that request's
 *            time on the loop, so the percentiles are per request (plus the 1 ms interval)
 *   flood    --connections connections, --duration seconds: a turn of the loop serves up to
 *            that many requests
 * Prints, per phase, req/s, the loop delay (p50 / p99 / max / mean, ms) and the probes' latency
 * (p50 / p99 / max), then the slowest kinds by their serial round trip (median, p90). This is a
 * measurement (test/pool/placement.test.ts asserts generous bounds): exit code 1 only on a failed
 * probe, a client error, an answer with an unexpected status, or a child that did not exit 0.
 * All traffic goes to 127.0.0.1; each phase is bounded by its duration; the child is stopped at
 * the end, also on failure.
 *
 * Flags:
 *   --duration S      flood seconds (default 10)
 *   --serial S        serial seconds (default 5; 0 skips)
 *   --warmup S        warm-up seconds (default 2)
 *   --connections N   flood connections (default 32)
 *   --workers N       WORKERS (default 1: the rest of the machine is the load generator's)
 *   --log-level L     LOG_LEVEL (default info: one access-log line per request, as deployed)
 *   --only TEXT       only the requests whose name contains TEXT
 *   --json            one JSON object per phase on stdout
 */
import os from 'node:os';
import { parseArgs } from 'node:util';
import { flood, quantile, startLagServer, type FloodResult, type LagServer, type LoopDelay } from '../test/helpers/lag.js';
import { worstInlineBodies } from '../test/helpers/worst-inline.js';

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '10' },
    serial: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '32' },
    workers: { type: 'string', default: '1' },
    'log-level': { type: 'string', default: 'info' },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
});
const seconds = (name: 'duration' | 'serial' | 'warmup') => {
  const v = Number(flags[name]);
  if (!(v >= 0 && v <= 600)) throw new Error(`--${name} must be a number of seconds in [0, 600]`);
  return v * 1000;
};
const connections = Number(flags.connections);
if (!Number.isInteger(connections) || connections < 1 || connections > 256) throw new Error('--connections must be an integer in [1, 256]');

const PROBE = { probeEveryMs: 100, probeTimeoutMs: 2000 };
const bodies = worstInlineBodies().filter((b) => flags.only === undefined || b.name.includes(flags.only));
if (bodies.length === 0) throw new Error(`no request matches --only ${flags.only}`);

const ms = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : '-');
let failed = false;

function report(phase: string, r: FloodResult, delay: LoopDelay | undefined, conns: number): void {
  const answered = [...r.perBody.values()].reduce((s, b) => s + b.count, 0);
  const unexpected: string[] = [];
  for (const b of bodies) {
    for (const [status, n] of r.perBody.get(b.name)!.statuses) if (status !== b.status) unexpected.push(`${b.name}: ${n} x ${status}`);
  }
  if (r.errors.length || r.probeFailures.length || unexpected.length) failed = true;
  const line = {
    phase,
    connections: conns,
    requests: answered,
    reqPerS: Math.round((answered / r.elapsedMs) * 1000),
    loopDelayMs: delay,
    probes: { count: r.probes.length, p50: quantile(r.probes, 0.5), p99: quantile(r.probes, 0.99), max: Math.max(...r.probes), failures: r.probeFailures },
    errors: r.errors.slice(0, 5),
    unexpected: unexpected.slice(0, 5),
    load1: os.loadavg()[0],
  };
  if (flags.json) {
    console.log(JSON.stringify(line));
    return;
  }
  const d = delay ? `p50 ${delay.p50}  p99 ${delay.p99}  max ${delay.max}  mean ${delay.mean}  (${delay.count} samples)` : 'none';
  console.log(`${phase} (${conns} connection${conns > 1 ? 's' : ''}): ${answered} requests, ${line.reqPerS} req/s, load1 ${line.load1.toFixed(2)}`);
  console.log(`  event-loop delay ms   ${d}`);
  console.log(`  /health/live ms       p50 ${ms(line.probes.p50)}  p99 ${ms(line.probes.p99)}  max ${ms(line.probes.max)}  (${r.probes.length} probes, ${r.probeFailures.length} failed)`);
  for (const e of [...r.probeFailures.slice(0, 3), ...line.errors, ...line.unexpected]) console.log(`  FAILED: ${e}`);
}

let server: LagServer | undefined;
try {
  console.error(`${bodies.length} kinds of request; load1 ${os.loadavg()[0].toFixed(2)} on ${os.availableParallelism()} cores`);
  server = await startLagServer({ WORKERS: flags.workers, LOG_LEVEL: flags['log-level'] });
  const { port } = server;
  await flood(port, bodies, { connections: 4, durationMs: seconds('warmup'), ...PROBE });
  await server.delay();
  let serial: FloodResult | undefined;
  if (seconds('serial') > 0) {
    serial = await flood(port, bodies, { connections: 1, durationMs: seconds('serial'), ...PROBE });
    report('serial', serial, await server.delay(), 1);
  }
  const r = await flood(port, bodies, { connections, durationMs: seconds('duration'), ...PROBE });
  const stopped = await server.stop();
  server = undefined;
  report('flood', r, stopped.delay, connections);
  if (stopped.code !== 0) {
    failed = true;
    console.log(`FAILED: the service exited with ${stopped.code}`);
  }
  if (serial && !flags.json) {
    console.log('slowest kinds, serial round trip ms (client and loopback included):');
    const rows = bodies.map((b) => {
      const t = serial.perBody.get(b.name)!.ms;
      return { name: b.name, where: b.inline ? 'inline' : 'worker', p50: quantile(t, 0.5), p90: quantile(t, 0.9), n: t.length };
    });
    rows.sort((a, b) => b.p50 - a.p50);
    for (const x of rows.slice(0, 10)) console.log(`  ${x.name.padEnd(52)} ${x.where.padEnd(6)}  p50 ${ms(x.p50)}  p90 ${ms(x.p90)}  (${x.n})`);
  }
} finally {
  if (server) await server.stop();
}
process.exitCode = failed ? 1 : 0;
