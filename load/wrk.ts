/**
 * wrk (https://github.com/wg/wrk, C, one event loop per thread) as load/run.ts's HTTP generator
 * (`--generator wrk`), where autocannon's own CPU would cap what is measured: on this 2-core
 * machine autocannon takes ~0.03 ms of CPU a request from the same cores as the service, so
 * a layout of two serving processes could not show more than 2s / (s + 0.03) times one process
 * for a service cost of s ms a request (~1.78x at s = 0.14). wrk takes a fraction of that.
 *
 * The request (method POST, the scenario's headers and body) is set by a Lua script that reads
 * the body from a file, as wrk's documented scripting does (wrk.method, wrk.headers, wrk.body).
 * One wrk thread: its event loop drives every connection, and a second thread would only
 * compete for the two cores. Its CPU is read from /proc while it runs (it is a child of this
 * process, not part of process.cpuUsage()). Needs wrk on the PATH (Debian: apt-get install wrk).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Window } from './window.js';

/** Whether a command (a load generator) can be run. */
export function onPath(command: string): boolean {
  return spawnSync(command, ['--version'], { stdio: 'ignore' }).error === undefined;
}

const CLK_TCK = 100;

/** A child's CPU so far (user + system), ms, from /proc; undefined once it has gone. */
export function cpuMsOf(pid: number): number | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
  } catch {
    return undefined;
  }
}

/** A wrk or h2load time ("812.00us", "4.12ms", "1.02s") in ms. */
export function latencyMs(text: string): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text.trim());
  if (!m) return NaN;
  const v = Number(m[1]);
  return m[2] === 'us' ? v / 1000 : m[2] === 'ms' ? v : m[2] === 's' ? v * 1000 : v * 60_000;
}

/** Runs a load generator to its end: its output (stdout and stderr) and CPU; throws unless it exits 0. */
export async function runGenerator(command: string, args: string[]): Promise<{ out: string; cpuMs: number }> {
  const proc = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  proc.stderr.on('data', (d: Buffer) => (out += d.toString('utf8')));
  // Its CPU, read until it exits (the last reading is within 50 ms of its end).
  let cpuMs = 0;
  const poll = setInterval(() => (cpuMs = cpuMsOf(proc.pid!) ?? cpuMs), 50);
  const code = await new Promise<number | null>((resolve) => proc.on('exit', (c) => resolve(c)));
  clearInterval(poll);
  if (code !== 0) throw new Error(`${command} exited with code ${code}: ${out.trim()}`);
  return { out, cpuMs };
}

export async function runWrk(opts: { url: string; headers: Record<string, string>; body: string | Buffer; connections: number; seconds: number; timeoutS?: number }): Promise<Window> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'anymax-wrk-'));
  try {
    const bodyFile = path.join(dir, 'body');
    writeFileSync(bodyFile, opts.body);
    const lua = [
      'wrk.method = "POST"',
      ...Object.entries(opts.headers).map(([k, v]) => `wrk.headers[${JSON.stringify(k)}] = ${JSON.stringify(v)}`),
      `local f = assert(io.open(${JSON.stringify(bodyFile)}, "rb"))`,
      'wrk.body = f:read("*a")',
      'f:close()',
    ].join('\n');
    const script = path.join(dir, 'request.lua');
    writeFileSync(script, lua);
    const args = ['-t1', `-c${opts.connections}`, `-d${opts.seconds}s`, `--timeout`, `${opts.timeoutS ?? 10}s`, '--latency', '-s', script, opts.url];
    const { out, cpuMs } = await runGenerator('wrk', args);
    const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
    const dist = (pct: string) => latencyMs(new RegExp(`^\\s*${pct}%\\s+(\\S+)`, 'm').exec(out)?.[1] ?? '');
    const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
    const requests = num(/(\d+) requests in ([\d.]+)(?:s|ms|m)/);
    const durationText = /\d+ requests in ([\d.]+\w+)/.exec(out)?.[1] ?? `${opts.seconds}s`;
    const durationS = latencyMs(durationText) / 1000;
    // Socket errors (connect, read, write) and timeouts, as wrk counts them.
    const errors = socket ? Number(socket[1]) + Number(socket[2]) + Number(socket[3]) : 0;
    const timeouts = socket ? Number(socket[4]) : 0;
    const non2xx = num(/Non-2xx or 3xx responses: (\d+)/) || 0;
    const round2 = (x: number) => Number(x.toFixed(2));
    return {
      total: requests,
      rps: Number(num(/Requests\/sec:\s+([\d.]+)/).toFixed(1)),
      p50Ms: round2(dist('50')),
      p99Ms: round2(dist('99')),
      maxMs: round2(latencyMs(/Latency\s+\S+\s+\S+\s+(\S+)/.exec(out)?.[1] ?? '')),
      durationS,
      errors,
      timeouts,
      non2xx,
      statusCodes: {},
      failures: errors + timeouts + non2xx,
      generatorCpuMs: cpuMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
