/**
 * Scale-out throughput: `npx tsx load/scale-out.ts [flags]`.
 *
 * Requests per second through nginx (deploy/nginx/nginx.conf rendered for loopback, as
 * test/deploy/scale-out.test.ts renders it) with 1 and with 2 replicas of the built service
 * (`node dist/server.js`, PROCESSES=1 WORKERS=1, LOG_LEVEL=warn, NODE_ENV=production), plus one replica
 * directly (no nginx) as the reference, for two of load/scenarios.ts's bodies:
 *   sample-1x50      POST /v1/sample, 0.5 KB in (inline, main-thread work), 64 connections
 *   softmax-64x1000  POST /v1/softmax, 0.6 MB in, 1.4 MB out (pool worker), 16 connections
 * Each run: one answer checked (load/scenarios.ts's check), a warm-up, then a measured autocannon
 * window. Reported: req/s (autocannon's mean of per-second counts), p50 / p99, errors and non-2xx,
 * the share of the measured requests each replica answered (its /metrics), the CPU cores used in
 * the window by the replicas, nginx and this harness (autocannon runs in-process) and by everything
 * else on the machine, and the 1-minute load average before and after the window.
 *
 * This is not a test: nothing fails on a low number. Exit code 1 on a failed check, any client
 * error or non-2xx, or a child that died. All traffic goes to 127.0.0.1; every window is bounded
 * by --warmup + --duration; every child is stopped at the end, on failure and on Ctrl-C.
 *
 * Flags:
 *   --duration S   measured seconds per run (default 8)
 *   --warmup S     warm-up seconds per run (default 2; 0 skips)
 *   --only K,K     scenario keys (sample-1x50, softmax-64x1000)
 *   --json         one JSON object per run on stdout (progress on stderr)
 *   --no-build     never run `npm run build` (by default it runs when dist/ is older than src/)
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import autocannon, { type Result } from 'autocannon';
import { findNginx, freePort, launch, renderNginxConf, request, stop, waitHttp200, type Proc } from '../test/deploy/procs.js';
import { ensureBuilt } from './build.js';
import { scenarios, type Scenario } from './scenarios.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

function usage(msg?: string): never {
  if (msg) process.stderr.write(`scale-out: ${msg}\n`);
  const header = readFileSync(fileURLToPath(import.meta.url), 'utf8').split('*/')[0];
  process.stderr.write(`${header.replace(/^\/\*\*\n/, '').replace(/^ \* ?/gm, '')}\n`);
  process.exit(msg ? 2 : 0);
}

const flags = { duration: 8, warmup: 2, only: ['sample-1x50', 'softmax-64x1000'], json: false, build: true };
{
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const num = (min: number, max: number) => {
      const n = Number(argv[++i]);
      if (!Number.isFinite(n) || n < min || n > max) usage(`${argv[i - 1]} needs a number in [${min}, ${max}]`);
      return n;
    };
    switch (argv[i]) {
      case '--duration': flags.duration = num(1, 60); break;
      case '--warmup': flags.warmup = num(0, 30); break;
      case '--only': flags.only = (argv[++i] ?? '').split(',').filter(Boolean); break;
      case '--json': flags.json = true; break;
      case '--no-build': flags.build = false; break;
      case '-h': case '--help': usage(); break;
      default: usage(`unknown flag ${argv[i]}`);
    }
  }
}
const say = (s: string) => (flags.json ? process.stderr : process.stdout).write(`${s}\n`);

// --- CPU accounting (Linux /proc) ---------------------------------------------------------------

/** CPU ms of every process whose process group is pgid (our children are group leaders). */
function groupCpuMs(pgid: number): number {
  let ms = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const s = readFileSync(`/proc/${d}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      // Fields after "pid (comm)": state ppid pgrp ...; utime and stime are the 12th and 13th.
      if (Number(f[2]) === pgid) ms += ((Number(f[11]) + Number(f[12])) * 1000) / CLK_TCK;
    } catch {
      /* gone */
    }
  }
  return ms;
}

function machineCpuMs(): number {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  return ((f[0] + f[1] + f[2] + f[5] + f[6] + f[7]) * 1000) / CLK_TCK;
}

function selfCpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

// --- runs ---------------------------------------------------------------------------------------

interface Setup {
  label: string;
  replicas: number;
  nginx: boolean;
}

const SETUPS: Setup[] = [
  { label: 'direct, 1 replica', replicas: 1, nginx: false },
  { label: 'nginx, 1 replica', replicas: 1, nginx: true },
  { label: 'nginx, 2 replicas', replicas: 2, nginx: true },
];

const live: Proc[] = [];
const dirs: string[] = [];

async function stopAll(): Promise<void> {
  await Promise.all(live.splice(0).map((p) => stop(p, 'SIGTERM', 10_000)));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

async function v1Requests(port: number): Promise<number> {
  const r = await request(port, 'GET', '/metrics', undefined, { timeoutMs: 10_000 });
  let n = 0;
  for (const line of r.body.split('\n')) {
    const m = /^anymax_http_request_duration_seconds_count\{([^}]*)\}\s+(\S+)/.exec(line);
    if (m && /route="\/v1\//.test(m[1])) n += Number(m[2]);
  }
  return n;
}

function cannon(s: Scenario, port: number, duration: number): Promise<Result> {
  return autocannon({
    url: `http://127.0.0.1:${port}${s.path}`,
    method: 'POST',
    body: s.body,
    headers: s.headers,
    connections: s.connections,
    duration,
    timeout: 30,
  });
}

interface Row {
  setup: string;
  scenario: string;
  connections: number;
  reqPerSec: number;
  p50: number;
  p99: number;
  requests: number;
  errors: number;
  non2xx: number;
  share: number[];
  cores: { replicas: number; nginx: number; harness: number; others: number };
  load1Before: number;
  load1After: number;
}

async function runSetup(setup: Setup, list: Scenario[], nginxBin: string | undefined): Promise<Row[]> {
  const env = (port: number) => ({ PATH: process.env.PATH ?? '', HOST: '127.0.0.1', PORT: String(port), PROCESSES: '1', GRPC_PORT: '0', WORKERS: '1', LOG_LEVEL: 'warn', NODE_ENV: 'production' });
  const replicas: { p: Proc; port: number }[] = [];
  for (let i = 0; i < setup.replicas; i++) {
    const port = await freePort();
    const p = launch(`replica-${i + 1}`, process.execPath, ['dist/server.js'], { cwd: ROOT, env: env(port) });
    live.push(p);
    replicas.push({ p, port });
  }
  await Promise.all(replicas.map((r) => waitHttp200(r.p, r.port, '/health/ready', 30_000)));
  let target = replicas[0].port;
  let lb: Proc | undefined;
  if (setup.nginx) {
    if (!nginxBin) throw new Error('nginx is not installed (apt-get install nginx)');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'anymax-scale-load-'));
    dirs.push(dir);
    target = await freePort();
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(
      conf,
      renderNginxConf(readFileSync(path.join(ROOT, 'deploy/nginx/nginx.conf'), 'utf8'), {
        upstreamPorts: replicas.map((r) => r.port),
        listenPort: target,
        grpcListenPort: await freePort(),
        dir,
        asRoot: process.getuid?.() === 0,
      }),
    );
    lb = launch('nginx', nginxBin, ['-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'error.log'), '-g', 'daemon off;'], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
    live.push(lb);
    await waitHttp200(lb, target, '/health/ready', 10_000);
  }

  const rows: Row[] = [];
  for (const s of list) {
    const first = await request(target, 'POST', s.path, s.body.toString(), { timeoutMs: 30_000 });
    s.check({ status: first.status, headers: first.headers, body: Buffer.from(first.body) });
    if (flags.warmup > 0) {
      const w = await cannon(s, target, flags.warmup);
      if (w.errors + w.timeouts + w.non2xx > 0) throw new Error(`${setup.label} ${s.key} warm-up: ${w.errors} errors, ${w.timeouts} timeouts, ${w.non2xx} non-2xx`);
    }
    const load1Before = os.loadavg()[0];
    const counts0 = await Promise.all(replicas.map((r) => v1Requests(r.port)));
    const cpu0 = { reps: replicas.map((r) => groupCpuMs(r.p.proc.pid!)), lb: lb ? groupCpuMs(lb.proc.pid!) : 0, self: selfCpuMs(), all: machineCpuMs(), t: Date.now() };
    const r = await cannon(s, target, flags.duration);
    const wallMs = Date.now() - cpu0.t;
    const reps = replicas.map((x, i) => groupCpuMs(x.p.proc.pid!) - cpu0.reps[i]).reduce((a, b) => a + b, 0);
    const lbMs = lb ? groupCpuMs(lb.proc.pid!) - cpu0.lb : 0;
    const selfMs = selfCpuMs() - cpu0.self;
    const allMs = machineCpuMs() - cpu0.all;
    const counts1 = await Promise.all(replicas.map((x) => v1Requests(x.port)));
    const served = counts1.map((c, i) => c - counts0[i]);
    const total = served.reduce((a, b) => a + b, 0) || 1;
    for (const x of [...replicas.map((y) => y.p), ...(lb ? [lb] : [])]) if (x.exit()) throw new Error(`${x.name} died: ${JSON.stringify(x.exit())}\n${x.stderr().slice(-2000)}`);
    const row: Row = {
      setup: setup.label,
      scenario: s.key,
      connections: s.connections,
      reqPerSec: r.requests.mean,
      p50: r.latency.p50,
      p99: r.latency.p99,
      requests: r.requests.total,
      errors: r.errors + r.timeouts,
      non2xx: r.non2xx,
      share: served.map((c) => c / total),
      cores: { replicas: reps / wallMs, nginx: lbMs / wallMs, harness: selfMs / wallMs, others: Math.max(0, allMs - reps - lbMs - selfMs) / wallMs },
      load1Before,
      load1After: os.loadavg()[0],
    };
    rows.push(row);
    if (flags.json) process.stdout.write(`${JSON.stringify(row)}\n`);
    say(
      `${row.setup.padEnd(18)} ${row.scenario.padEnd(16)} ${row.reqPerSec.toFixed(0).padStart(6)} req/s  p50 ${String(row.p50).padStart(4)} ms  p99 ${String(row.p99).padStart(4)} ms  ` +
        `err ${row.errors} non2xx ${row.non2xx}  share ${row.share.map((x) => `${(100 * x).toFixed(0)}%`).join('/')}  ` +
        `cores: replicas ${row.cores.replicas.toFixed(2)} nginx ${row.cores.nginx.toFixed(2)} harness ${row.cores.harness.toFixed(2)} others ${row.cores.others.toFixed(2)}  ` +
        `load1 ${row.load1Before.toFixed(2)} -> ${row.load1After.toFixed(2)}`,
    );
  }
  await stopAll();
  return rows;
}

async function main(): Promise<number> {
  ensureBuilt(flags.build ? 'auto' : 'never', say);
  const nginxBin = findNginx();
  const list = scenarios().filter((s) => flags.only.includes(s.key));
  if (list.length !== flags.only.length || list.some((s) => s.server !== 'service')) usage(`--only: unknown scenario in ${flags.only.join(',')}`);
  // Its checking request sends JSON text (test/deploy/procs.ts): the /v1 scenarios only.
  if (list.some((s) => !s.path.startsWith('/v1/'))) usage('--only: the /v1 scenarios only');
  say(`${os.cpus().length} CPUs, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ${flags.warmup} s warm-up + ${flags.duration} s per run`);
  const rows: Row[] = [];
  for (const setup of SETUPS) rows.push(...(await runSetup(setup, list, nginxBin)));
  const bad = rows.filter((r) => r.errors > 0 || r.non2xx > 0);
  for (const s of list) {
    const get = (label: string) => rows.find((r) => r.setup === label && r.scenario === s.key)?.reqPerSec ?? NaN;
    say(`${s.key}: nginx 2 replicas / nginx 1 replica = ${(get('nginx, 2 replicas') / get('nginx, 1 replica')).toFixed(2)}, nginx 1 replica / direct = ${(get('nginx, 1 replica') / get('direct, 1 replica')).toFixed(2)}`);
  }
  if (bad.length) say(`FAILED: errors or non-2xx in ${bad.map((r) => `${r.setup} ${r.scenario}`).join(', ')}`);
  return bad.length ? 1 : 0;
}

// Bounded: a hard stop well past the planned runs.
const planned = SETUPS.length * flags.only.length * (flags.warmup + flags.duration + 5) * 1000 + 120_000;
const guard = setTimeout(() => {
  say(`scale-out: still running after ${planned} ms, stopping`);
  void stopAll().finally(() => process.exit(1));
}, planned);
guard.unref();
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    void stopAll().finally(() => process.exit(130));
  });
}
main()
  .then(async (code) => {
    await stopAll();
    process.exit(code);
  })
  .catch(async (e: unknown) => {
    say(`scale-out: ${(e as Error).stack ?? String(e)}`);
    await stopAll();
    process.exit(1);
  });
