import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { randomLogits } from '../helpers/http.js';
import { freePort, launch, request, stop, waitHttp200, within, type Exit, type Proc } from './procs.js';

/**
 * The Dockerfile's steps, performed here (no Docker engine on this machine or in CI).
 *
 * The committed HEAD of this repository is cloned into a temp dir; .dockerignore is applied to it
 * to make the build context (all COPY can see). The Dockerfile of that clone is parsed (FROM ... AS,
 * WORKDIR, COPY [--from], RUN, ENV, USER, EXPOSE, HEALTHCHECK ... CMD [...], CMD [...]; anything
 * else fails the test, so a new instruction cannot be silently skipped), and each stage is run:
 * a directory per stage stands for its filesystem root, COPY copies files (from the context, or
 * with --from from an earlier stage's directory), RUN runs with bash in the stage's WORKDIR with
 * the stage's ENV. FROM node:<major>-slim is this machine's Node, which must have that major.
 *
 * Then the runtime stage's CMD (exec form, exactly as written) is started in its WORKDIR with its
 * ENV and as the USER's uid when this runs as root, and it must serve: readiness, seeded
 * /v1/sample answers byte-identical to the in-repo app's, the HEALTHCHECK's command exits 0
 * (non-zero once the server is gone), and SIGTERM exits 0.
 *
 * The runtime stage installs production dependencies only, so a runtime import that is only in
 * devDependencies makes the server fail to start and this test fail; the last test checks exactly
 * that by moving close-with-grace to devDependencies in a copy of the context.
 *
 * npm runs with a copy of the machine's npm cache: fast, and the runtime stage's
 * `npm cache clean --force` then wipes the copy, not the machine's cache. Every process started
 * here is stopped and every temp dir removed in afterAll, also on failure.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// --- Dockerfile ---------------------------------------------------------------------------------

type Step =
  | { op: 'WORKDIR'; path: string }
  | { op: 'COPY'; from?: string; srcs: string[]; dst: string }
  | { op: 'RUN'; cmd: string }
  | { op: 'ENV'; pairs: [string, string][] }
  | { op: 'USER'; user: string }
  | { op: 'EXPOSE'; ports: string[] }
  | { op: 'HEALTHCHECK'; options: Record<string, string>; argv: string[] }
  | { op: 'CMD'; argv: string[] };

interface Stage {
  name: string;
  image: string;
  steps: Step[];
}

/** Instructions of a Dockerfile: continuation lines joined, comments and blank lines dropped. */
function instructions(text: string): { op: string; args: string; line: number }[] {
  const out: { op: string; args: string; line: number }[] = [];
  let acc = '';
  let start = 0;
  text.split(/\r?\n/).forEach((raw, i) => {
    const t = raw.trim();
    if (t.startsWith('#') || (t === '' && acc === '')) return;
    if (acc === '') start = i + 1;
    if (/\\$/.test(raw.trimEnd())) {
      acc += raw.trimEnd().slice(0, -1) + ' ';
      return;
    }
    acc += raw;
    const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(acc)!;
    out.push({ op: m[1].toUpperCase(), args: m[2].trim(), line: start });
    acc = '';
  });
  if (acc !== '') throw new Error('Dockerfile ends inside a continued line');
  return out;
}

/** Splits shell-like words (quotes and backslashes as in Dockerfile ENV). */
function words(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (/\s/.test(c)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else if (c === '"' || c === "'") {
      const end = s.indexOf(c, i + 1);
      if (end < 0) throw new Error(`unbalanced quote in ${JSON.stringify(s)}`);
      cur += s.slice(i + 1, end).replace(c === '"' ? /\\(.)/g : /$^/g, '$1');
      i = end;
      has = true;
    } else if (c === '\\' && i + 1 < s.length) {
      cur += s[++i];
      has = true;
    } else {
      cur += c;
      has = true;
    }
  }
  if (has) out.push(cur);
  return out;
}

function execForm(args: string, what: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(args);
  } catch {
    throw new Error(`${what} must be in exec form (a JSON array), got ${JSON.stringify(args)}`);
  }
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => typeof x === 'string')) throw new Error(`${what}: not an array of strings`);
  return v as string[];
}

function noVariables(args: string, op: string): void {
  // Docker substitutes $VAR in these instructions; this emulation does not.
  if (args.includes('$')) throw new Error(`${op} ${args}: variable substitution is not emulated`);
}

function parseDockerfile(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const { op, args, line } of instructions(text)) {
    const at = `Dockerfile line ${line}`;
    if (op === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      if (!m || m[1].startsWith('--')) throw new Error(`${at}: unsupported FROM ${args}`);
      stages.push({ name: m[2] ?? String(stages.length), image: m[1], steps: [] });
      continue;
    }
    const stage = stages.at(-1);
    if (!stage) throw new Error(`${at}: ${op} before FROM`);
    switch (op) {
      case 'WORKDIR':
        noVariables(args, op);
        stage.steps.push({ op, path: args });
        break;
      case 'COPY': {
        noVariables(args, op);
        const w = args.startsWith('[') ? execForm(args, 'COPY') : words(args);
        let from: string | undefined;
        while (w[0]?.startsWith('--')) {
          const flag = w.shift()!;
          const fm = /^--from=(.+)$/.exec(flag);
          if (fm) from = fm[1];
          else throw new Error(`${at}: COPY flag ${flag} is not emulated`);
        }
        if (w.length < 2) throw new Error(`${at}: COPY needs a source and a destination`);
        stage.steps.push({ op, from, srcs: w.slice(0, -1), dst: w.at(-1)! });
        break;
      }
      case 'RUN':
        if (args.startsWith('[')) throw new Error(`${at}: RUN in exec form is not emulated`);
        stage.steps.push({ op, cmd: args });
        break;
      case 'ENV': {
        noVariables(args, op);
        const w = words(args);
        const pairs: [string, string][] = w[0]?.includes('=')
          ? w.map((kv) => {
              const eq = kv.indexOf('=');
              if (eq <= 0) throw new Error(`${at}: ENV ${kv} is not key=value`);
              return [kv.slice(0, eq), kv.slice(eq + 1)];
            })
          : [[w[0], w.slice(1).join(' ')]];
        stage.steps.push({ op, pairs });
        break;
      }
      case 'USER':
        noVariables(args, op);
        stage.steps.push({ op, user: args });
        break;
      case 'EXPOSE':
        noVariables(args, op);
        stage.steps.push({ op, ports: words(args) });
        break;
      case 'HEALTHCHECK': {
        const m = /^((?:--[\w-]+=\S+\s+)*)CMD\s+([\s\S]+)$/.exec(args);
        if (!m) throw new Error(`${at}: HEALTHCHECK ${args} (only [options] CMD [exec form] is emulated)`);
        const options = Object.fromEntries(words(m[1]).map((o) => o.slice(2).split('=') as [string, string]));
        stage.steps.push({ op, options, argv: execForm(m[2], 'HEALTHCHECK CMD') });
        break;
      }
      case 'CMD':
        stage.steps.push({ op, argv: execForm(args, 'CMD') });
        break;
      default:
        throw new Error(`${at}: instruction ${op} is not emulated by test/deploy/image.test.ts`);
    }
  }
  return stages;
}

/** Go duration ("3s", "1m30s", "500ms") in ms. */
function durationMs(d: string): number {
  let ms = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let m: RegExpExecArray | null;
  let pos = 0;
  while ((m = re.exec(d))) {
    ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    pos = re.lastIndex;
  }
  if (pos !== d.length || d === '') throw new Error(`bad duration ${d}`);
  return ms;
}

// --- .dockerignore ------------------------------------------------------------------------------

/** Docker's pattern syntax (Go filepath.Match plus `**`) as a RegExp over a slash path. */
function globRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        i++;
        if (pattern[i + 1] === '/') {
          i++;
          re += '(?:.*/)?';
        } else re += '.*';
      } else re += '[^/]*';
    } else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw new Error(`bad pattern ${pattern}`);
      re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += `\\${pattern[++i]}`;
    else re += c.replace(/[.+^${}()|\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

/**
 * .dockerignore as Docker reads it: one pattern a line, `#` comments, `!` exceptions, cleaned
 * paths relative to the context root, the last matching line decides, and a pattern that
 * matches a parent directory matches everything under it.
 */
function dockerignore(text: string): (rel: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const neg = l.startsWith('!');
      const p = path.posix.normalize(neg ? l.slice(1).trim() : l).replace(/^\/+/, '');
      return { neg, re: globRegExp(p) };
    });
  return (rel) => {
    const parts = rel.split('/');
    const prefixes = parts.map((_, i) => parts.slice(0, i + 1).join('/'));
    let excluded = false;
    for (const r of rules) if (prefixes.some((p) => r.re.test(p))) excluded = !r.neg;
    return excluded;
  };
}

/** Relative slash paths of every file (and symlink) under dir. */
function listFiles(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...listFiles(dir, r));
    else out.push(r);
  }
  return out;
}

// --- running the stages -------------------------------------------------------------------------

interface StageResult {
  name: string;
  /** Stands for the stage's filesystem root. */
  rootfs: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  expose: string[];
  healthcheck?: { options: Record<string, string>; argv: string[] };
  cmd?: string[];
}

/** Inside the stage's root: an absolute container path, or one relative to the WORKDIR. */
function inRoot(rootfs: string, workdir: string, p: string): string {
  const abs = path.posix.resolve(workdir, p);
  return path.join(rootfs, abs);
}

function copyInto(srcAbs: string, dst: string, dstIsDir: boolean, what: string): void {
  if (!existsSync(srcAbs)) throw new Error(`COPY ${what}: not found (not in the build context, or excluded by .dockerignore)`);
  if (statSync(srcAbs).isDirectory()) {
    // Docker copies a directory's contents, not the directory itself.
    mkdirSync(dst, { recursive: true });
    cpSync(srcAbs, dst, { recursive: true });
  } else {
    const target = dstIsDir ? path.join(dst, path.basename(srcAbs)) : dst;
    mkdirSync(path.dirname(target), { recursive: true });
    cpSync(srcAbs, target);
  }
}

/** bash -c cmd in cwd, bounded; its output goes to logFile. Rejects with the output's tail. */
function runBash(cmd: string, cwd: string, env: Record<string, string>, logFile: string, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = launch('RUN', 'bash', ['-c', cmd], { cwd, env });
    const timer = setTimeout(() => void stop(p, 'SIGKILL', 0), timeoutMs);
    void p.exited.then((e) => {
      clearTimeout(timer);
      writeFileSync(logFile, `$ ${cmd}\n${p.stdout()}\n${p.stderr()}`, { flag: 'a' });
      if (e.code === 0) resolve();
      else reject(new Error(`RUN ${cmd} (in ${cwd}) failed: ${JSON.stringify(e)}\n${(p.stdout() + p.stderr()).slice(-3000)}`));
    });
  });
}

interface BuildEnv {
  context: string;
  stagesDir: string;
  npmCache: string;
  logFile: string;
}

async function runStage(stage: Stage, b: BuildEnv, done: Map<string, StageResult>): Promise<StageResult> {
  const major = /^node:(\d+)(?:[.-]|$)/.exec(stage.image)?.[1];
  if (major === undefined) throw new Error(`FROM ${stage.image}: only node:<major>... images are emulated (by this machine's Node)`);
  expect(process.versions.node.split('.')[0], `FROM ${stage.image} is emulated by this machine's Node ${process.version}`).toBe(major);

  const rootfs = path.join(b.stagesDir, stage.name);
  rmSync(rootfs, { recursive: true, force: true });
  mkdirSync(rootfs, { recursive: true });
  const s: StageResult = { name: stage.name, rootfs, workdir: '/', env: {}, expose: [] };
  for (const step of stage.steps) {
    switch (step.op) {
      case 'WORKDIR':
        s.workdir = path.posix.resolve(s.workdir, step.path);
        mkdirSync(inRoot(rootfs, s.workdir, '.'), { recursive: true });
        break;
      case 'COPY': {
        const dst = inRoot(rootfs, s.workdir, step.dst);
        const dstIsDir = step.dst.endsWith('/') || step.srcs.length > 1;
        for (const src of step.srcs) {
          if (/[*?[]/.test(src)) throw new Error(`COPY ${src}: wildcards are not emulated`);
          let srcAbs: string;
          if (step.from !== undefined) {
            const from = done.get(step.from);
            if (!from) throw new Error(`COPY --from=${step.from}: no earlier stage of that name`);
            srcAbs = path.join(from.rootfs, path.posix.resolve('/', src));
          } else {
            const rel = path.posix.normalize(src).replace(/^\/+/, '');
            if (rel.startsWith('..')) throw new Error(`COPY ${src}: outside the build context`);
            srcAbs = path.join(b.context, rel);
          }
          copyInto(srcAbs, dst, dstIsDir, `${step.from ? `--from=${step.from} ` : ''}${src}`);
        }
        break;
      }
      case 'RUN':
        await runBash(
          step.cmd,
          inRoot(rootfs, s.workdir, '.'),
          {
            // The machine's PATH and HOME (its ~/.npmrc), proxies if any, the stage's ENV; and npm's
            // cache pointed at the copy of the machine's cache. Nothing else of the test's own
            // environment (vitest's NODE_ENV, npm_* of an `npm test` run) leaks into the build.
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? os.homedir(),
            ...Object.fromEntries(Object.entries(process.env).filter(([k, v]) => /^(https?|no)_proxy$/i.test(k) && v !== undefined) as [string, string][]),
            ...s.env,
            npm_config_cache: b.npmCache,
            npm_config_update_notifier: 'false',
          },
          b.logFile,
          5 * 60_000,
        );
        break;
      case 'ENV':
        for (const [k, v] of step.pairs) s.env[k] = v;
        break;
      case 'USER':
        s.user = step.user;
        break;
      case 'EXPOSE':
        s.expose.push(...step.ports);
        break;
      case 'HEALTHCHECK':
        s.healthcheck = { options: step.options, argv: step.argv };
        break;
      case 'CMD':
        s.cmd = step.argv;
        break;
    }
  }
  done.set(stage.name, s);
  return s;
}

/** The uid/gid the stage's USER runs as: the official node image's "node" user is 1000:1000. */
function userIds(user: string | undefined): { uid: number; gid: number } | undefined {
  if (user === undefined || user === 'root' || user === '0') return undefined;
  if (user === 'node') return { uid: 1000, gid: 1000 };
  const m = /^(\d+)(?::(\d+))?$/.exec(user);
  if (m) return { uid: Number(m[1]), gid: Number(m[2] ?? m[1]) };
  throw new Error(`USER ${user}: unknown to this emulation`);
}

/**
 * The process as the image would start it: exec form argv, in the WORKDIR, with the stage's ENV
 * (and PATH to find node). Tests here may only listen on loopback, so HOST is forced to
 * 127.0.0.1 (the image says 0.0.0.0), PORT to a free port (the image says 8080) and GRPC_PORT to 0
 * (off: the image says 8081; the proto is still loaded at start, so a missing one fails). As root, it
 * runs as the USER's uid like the container would; otherwise as whoever runs the test.
 */
function containerEnv(s: StageResult, port: number): Record<string, string> {
  return { PATH: process.env.PATH ?? '', ...s.env, HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: '0' };
}

function asUser(s: StageResult): { uid?: number; gid?: number } {
  return process.getuid?.() === 0 ? (userIds(s.user) ?? {}) : {};
}

/** Starts the CMD; resolves the bound address from the "anymax ready" log line. */
async function startCmd(s: StageResult, port: number, procs: Proc[]): Promise<{ p: Proc; address: Promise<string> }> {
  const [cmd, ...args] = s.cmd!;
  const p = launch('CMD', cmd, args, { cwd: inRoot(s.rootfs, s.workdir, '.'), env: containerEnv(s, port), ...asUser(s) });
  procs.push(p);
  const address = new Promise<string>((resolve, reject) => {
    let buf = '';
    p.proc.stdout!.on('data', (c: string) => {
      buf += c;
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const o = JSON.parse(line) as { msg?: string; docs?: string };
          if (o.msg === 'anymax ready') resolve(String(o.docs).replace(/\/docs$/, ''));
        } catch {
          /* not JSON */
        }
      }
    });
    void p.exited.then((e) => reject(new Error(`the CMD exited before "anymax ready" (${JSON.stringify(e)}); stderr:\n${p.stderr().slice(-3000)}`)));
  });
  address.catch(() => {});
  return { p, address };
}

/** Runs the HEALTHCHECK's command as Docker would, killed at its --timeout; resolves its exit. */
async function healthcheck(s: StageResult, port: number): Promise<Exit> {
  const [cmd, ...args] = s.healthcheck!.argv;
  const p = launch('HEALTHCHECK', cmd, args, { cwd: inRoot(s.rootfs, s.workdir, '.'), env: containerEnv(s, port), ...asUser(s) });
  const timeout = durationMs(s.healthcheck!.options.timeout ?? '30s');
  const timer = setTimeout(() => void stop(p, 'SIGKILL', 0), timeout);
  const e = await p.exited;
  clearTimeout(timer);
  return e;
}

function git(args: string[], cwd: string): string {
  const r = spawnSync('git', args, { cwd, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
  return r.stdout.trim();
}

function npmDefaultCache(): string {
  const r = spawnSync('npm', ['config', 'get', 'cache'], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? os.homedir() } });
  return r.status === 0 ? r.stdout.trim() : path.join(os.homedir(), '.npm');
}

/** A private copy of the machine's npm cache (empty if it has none). */
function cacheCopy(dest: string): string {
  const src = npmDefaultCache();
  if (existsSync(src)) cpSync(src, dest, { recursive: true, filter: (f) => !/[/\\]_logs([/\\]|$)/.test(f) });
  else mkdirSync(dest, { recursive: true });
  return dest;
}

// --- the tests ----------------------------------------------------------------------------------

describe('the Dockerfile, its steps performed here', () => {
  let tmp = '';
  let head = '';
  let stages: Stage[] = [];
  const built = new Map<string, StageResult>();
  let runtime: StageResult;
  let excluded: (rel: string) => boolean;
  const procs: Proc[] = [];
  let b: BuildEnv;
  let app: FastifyInstance | undefined;
  let machineCache = '';
  let machineCacheHad = false;

  beforeAll(async () => {
    machineCache = path.join(npmDefaultCache(), '_cacache');
    machineCacheHad = existsSync(machineCache);
    tmp = mkdtempSync(path.join(os.tmpdir(), 'anymax-image-'));
    // The image's user must be able to reach the stage's files (mkdtemp makes a 0700 dir).
    chmodSync(tmp, 0o755);
    head = git(['rev-parse', 'HEAD'], ROOT);
    const clone = path.join(tmp, 'clone');
    git(['clone', '--quiet', '--no-checkout', ROOT, clone], tmp);
    git(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--detach', head], clone);

    // The build context: the clone less what .dockerignore excludes.
    const context = path.join(tmp, 'context');
    const ignore = path.join(clone, '.dockerignore');
    excluded = dockerignore(existsSync(ignore) ? readFileSync(ignore, 'utf8') : '');
    for (const rel of listFiles(clone)) {
      if (excluded(rel)) continue;
      mkdirSync(path.dirname(path.join(context, rel)), { recursive: true });
      cpSync(path.join(clone, rel), path.join(context, rel), { verbatimSymlinks: true });
    }

    b = { context, stagesDir: path.join(tmp, 'stages'), npmCache: cacheCopy(path.join(tmp, 'npm-cache')), logFile: path.join(tmp, 'build.log') };
    stages = parseDockerfile(readFileSync(path.join(clone, 'Dockerfile'), 'utf8'));
    for (const st of stages) await runStage(st, b, built);
    runtime = built.get(stages.at(-1)!.name)!;

    app = await buildApp({ workers: 1, logLevel: 'silent' });
    await app.ready();
  }, 10 * 60_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => stop(p, 'SIGKILL', 0)));
    await app?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }, 60_000);

  it('the context: .dockerignore keeps what the stages COPY and drops tests, tooling and VCS', () => {
    const files = listFiles(b.context);
    expect(files).toContain('package.json');
    expect(files).toContain('package-lock.json');
    expect(files.some((f) => f.startsWith('src/'))).toBe(true);
    for (const dropped of ['.git/HEAD', 'test/setup.ts', 'load/run.ts', 'README.md', 'node_modules/x', 'dist/server.js']) {
      expect(excluded(dropped), dropped).toBe(true);
    }
    expect(files.filter((f) => /^(\.git|test|load|bench|deploy|node_modules|dist)\//.test(f))).toEqual([]);
  });

  it('the stages: a build stage and a runtime stage with production dependencies only, running as non-root', () => {
    expect(stages.map((s) => s.name)).toEqual(['build', 'runtime']);
    const appDir = path.join(runtime.rootfs, runtime.workdir);
    const pkg = JSON.parse(readFileSync(path.join(b.context, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    for (const d of Object.keys(pkg.dependencies)) expect(existsSync(path.join(appDir, 'node_modules', d)), `runtime has ${d}`).toBe(true);
    // Every package the lock marks dev-only is absent (a devDependency that a production package
    // also needs, like yaml, is not dev-only), every plain production package is present.
    const lock = JSON.parse(readFileSync(path.join(b.context, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const entries = Object.entries(lock.packages).filter(([k]) => k.startsWith('node_modules/'));
    const devOnly = entries.filter(([, v]) => v.dev).map(([k]) => k);
    const prod = entries.filter(([, v]) => !v.dev && !v.optional && !v.devOptional).map(([k]) => k);
    expect(devOnly).toContain('node_modules/typescript');
    expect(devOnly.filter((k) => existsSync(path.join(appDir, k)))).toEqual([]);
    expect(prod.filter((k) => !existsSync(path.join(appDir, k)))).toEqual([]);
    // Only dist/ of the build stage, no sources.
    expect(existsSync(path.join(appDir, 'dist/server.js'))).toBe(true);
    expect(existsSync(path.join(appDir, 'src'))).toBe(false);
    expect(runtime.user).toBe('node');
    expect(runtime.env.NODE_ENV).toBe('production');
    // What the image EXPOSEs is where its own ENV makes the server listen.
    expect(runtime.expose).toEqual([runtime.env.PORT, runtime.env.GRPC_PORT]);
    expect(existsSync(path.join(appDir, 'proto/grpc_service.proto'))).toBe(true);
    // The runtime stage's `npm cache clean --force` emptied the copy of the cache, not the machine's.
    expect(existsSync(path.join(b.npmCache, '_cacache'))).toBe(false);
    expect(existsSync(machineCache)).toBe(machineCacheHad);
  });

  it('the CMD serves: ready, seeded /v1/sample identical to the in-repo app, HEALTHCHECK 0 (then non-zero), SIGTERM exits 0', async () => {
    expect(runtime.cmd).toBeDefined();
    expect(runtime.healthcheck).toBeDefined();
    const port = await freePort();
    const { p, address } = await startCmd(runtime, port, procs);
    expect(await within(address, 60_000, '"anymax ready"')).toBe(`http://127.0.0.1:${port}`);

    if (process.getuid?.() === 0 && process.platform === 'linux') {
      // Started as the image's USER (node = uid 1000), not as root.
      const status = readFileSync(`/proc/${p.proc.pid}/status`, 'utf8');
      expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(userIds(runtime.user)?.uid ?? 0));
    }

    // One HTTP process per CPU (README, Processes): the first "anymax ready" line is one
    // process's; the service is ready once every process listens.
    await waitHttp200(p, port, '/health/ready', 30_000);

    const bodies = [
      // Small: parsed and computed inline on the main thread.
      JSON.stringify({ logits: randomLogits(3, 40, 7), n: 16, seed: 20261127, topK: 10, temperature: 0.8 }),
      // 4 x 6000 x 2: past the inline limit, so dist/worker.js in a pool thread computes it.
      JSON.stringify({ logits: randomLogits(4, 6000, 9), n: 2, seed: 99 }),
    ];
    for (const body of bodies) {
      const res = await request(port, 'POST', '/v1/sample', body);
      expect(res.status, res.body.slice(0, 300)).toBe(200);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      const parsed = JSON.parse(res.body) as { samples: number[][]; seed: number };
      const req = JSON.parse(body) as { logits: number[][]; n: number; seed: number };
      expect(Object.keys(parsed).sort()).toEqual(['samples', 'seed']);
      expect(parsed.seed).toBe(req.seed);
      expect(parsed.samples).toHaveLength(req.logits.length);
      for (const row of parsed.samples) {
        expect(row).toHaveLength(req.n);
        for (const k of row) expect(Number.isInteger(k) && k >= 0 && k < req.logits[0].length).toBe(true);
      }
      const inRepo = await app!.inject({ method: 'POST', url: '/v1/sample', payload: body, headers: { 'content-type': 'application/json' } });
      expect(inRepo.statusCode).toBe(200);
      expect(res.body).toBe(inRepo.body);
    }

    // The playground page and its plotting libraries (src/plugins/playground.ts) are in the image.
    for (const url of ['/playground/', '/playground/main.js', '/playground/vendor/plot.umd.min.js', '/playground/vendor/d3.min.js']) {
      const res = await request(port, 'GET', url);
      expect(res.status, `${url}: ${res.body.slice(0, 200)}`).toBe(200);
    }

    expect(await healthcheck(runtime, port)).toEqual({ code: 0, signal: null });

    expect(p.proc.kill('SIGTERM')).toBe(true);
    expect(await within(p.exited, 30_000, 'exit after SIGTERM')).toEqual({ code: 0, signal: null });
    expect(p.stderr()).toBe('');

    const after = await healthcheck(runtime, port);
    expect(after.code).not.toBe(0);
  });

  it('a runtime dependency left in devDependencies: the runtime stage omits it and the CMD fails to start', async () => {
    // close-with-grace is imported by src/server.ts only, and nothing else depends on it.
    const dep = 'close-with-grace';
    const bad = path.join(tmp, 'context-bad');
    cpSync(b.context, bad, { recursive: true });
    const pkgFile = path.join(bad, 'package.json');
    const lockFile = path.join(bad, 'package-lock.json');
    const pkg = JSON.parse(readFileSync(pkgFile, 'utf8'));
    const lock = JSON.parse(readFileSync(lockFile, 'utf8'));
    expect(pkg.dependencies[dep]).toBeDefined();
    expect(readFileSync(path.join(bad, 'src/server.ts'), 'utf8')).toContain(`from '${dep}'`);
    // Moved in both files, as `npm install -D` would write them (ci refuses a lock out of sync).
    pkg.devDependencies[dep] = pkg.dependencies[dep];
    delete pkg.dependencies[dep];
    const root = lock.packages[''];
    root.devDependencies = { ...root.devDependencies, [dep]: root.dependencies[dep] };
    delete root.dependencies[dep];
    lock.packages[`node_modules/${dep}`].dev = true;
    writeFileSync(pkgFile, `${JSON.stringify(pkg, null, 2)}\n`);
    writeFileSync(lockFile, `${JSON.stringify(lock, null, 2)}\n`);

    // Only the runtime stage again (the build stage is unchanged), with a fresh cache copy.
    const rt = stages.at(-1)!;
    const badBuild: BuildEnv = { ...b, context: bad, npmCache: cacheCopy(path.join(tmp, 'npm-cache-bad')) };
    const done = new Map(built);
    const s = await runStage({ ...rt, name: `${rt.name}-bad` }, badBuild, done);
    expect(existsSync(path.join(s.rootfs, s.workdir, 'node_modules', dep))).toBe(false);

    const { p, address } = await startCmd(s, await freePort(), procs);
    await expect(within(address, 60_000, 'the CMD to fail')).rejects.toThrow(/exited before "anymax ready"/);
    const e = await p.exited;
    expect(e.code).not.toBe(0);
    expect(p.stderr()).toMatch(new RegExp(`Cannot find package '${dep}'`));
  });
});
