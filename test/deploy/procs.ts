import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import http from 'node:http';
import { createServer } from 'node:net';
import path from 'node:path';

/**
 * Helpers shared by test/deploy/image.test.ts, test/deploy/scale-out.test.ts and
 * load/scale-out.ts: child processes that are always stopped (by their own pid / process group),
 * free loopback ports, bounded HTTP requests to 127.0.0.1, and the nginx config rendered from
 * deploy/nginx/nginx.conf for loopback replicas.
 */

export const LOOPBACK = '127.0.0.1';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface Proc {
  name: string;
  proc: ChildProcess;
  exited: Promise<Exit>;
  /** The exit once it happened, else undefined. */
  exit(): Exit | undefined;
  stdout(): string;
  stderr(): string;
}

/**
 * Starts a child in its own process group (detached), so that stop() can also reach what it
 * forked (nginx's workers) through the group id of the process we started. Output is kept
 * (the last 1 MiB of each stream) for error messages.
 */
export function launch(
  name: string,
  cmd: string,
  args: string[],
  opts: { cwd: string; env: Record<string, string>; uid?: number; gid?: number },
): Proc {
  const proc = spawn(cmd, args, {
    cwd: opts.cwd,
    env: opts.env,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
  });
  let out = '';
  let err = '';
  const cap = (s: string) => (s.length > 1 << 20 ? s.slice(-(1 << 20)) : s);
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => (out = cap(out + c)));
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (err = cap(err + c)));
  let ended: Exit | undefined;
  const exited = new Promise<Exit>((resolve) => {
    proc.on('exit', (code, signal) => {
      ended = { code, signal };
      resolve(ended);
    });
    // spawn failure (ENOENT...): no 'exit' event follows.
    proc.on('error', (e) => {
      err += `\n[spawn error] ${e.message}`;
      ended = { code: -1, signal: null };
      resolve(ended);
    });
  });
  return { name, proc, exited, exit: () => ended, stdout: () => out, stderr: () => err };
}

/** Rejects if p has not settled within ms. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/**
 * Sends `signal` to the process, waits up to graceMs for it to exit, then SIGKILLs its process
 * group (the group of the process we started; nginx workers would otherwise outlive a killed
 * master). Resolves the exit of the process itself.
 */
export async function stop(p: Proc, signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<Exit> {
  const pid = p.proc.pid;
  if (pid === undefined) return p.exited;
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* group already gone */
    }
  };
  if (p.exit() === undefined) {
    try {
      p.proc.kill(signal);
    } catch {
      /* already gone */
    }
    const timer = setTimeout(() => killGroup('SIGKILL'), graceMs);
    await p.exited;
    clearTimeout(timer);
  }
  // Whatever is left in its group (nothing, normally).
  killGroup('SIGKILL');
  return p.exited;
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, LOOPBACK, () => {
      const addr = s.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One HTTP request to 127.0.0.1:port, failing after timeoutMs. */
export function request(
  port: number,
  method: string,
  urlPath: string,
  body?: string,
  opts: { agent?: http.Agent | false; timeoutMs?: number } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: LOOPBACK,
        port,
        method,
        path: urlPath,
        agent: opts.agent ?? false,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`${method} ${urlPath} on :${port} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Polls GET urlPath until it answers 200; fails when the process exits or after timeoutMs. */
export async function waitHttp200(p: Proc, port: number, urlPath: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer';
  for (;;) {
    const e = p.exit();
    if (e) throw new Error(`${p.name} exited (${JSON.stringify(e)}) before answering ${urlPath}; stderr:\n${p.stderr().slice(-4000)}`);
    try {
      const r = await request(port, 'GET', urlPath, undefined, { timeoutMs: 2000 });
      if (r.status === 200) return;
      last = `status ${r.status}`;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`${p.name}: ${urlPath} not 200 within ${timeoutMs} ms (last: ${last}); stderr:\n${p.stderr().slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The nginx binary on PATH (or /usr/sbin, which a non-root PATH may lack); undefined if none. */
export function findNginx(): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter), '/usr/sbin', '/usr/local/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const f = path.join(d, 'nginx');
    try {
      accessSync(f, constants.X_OK);
      return f;
    } catch {
      /* next */
    }
  }
  return undefined;
}

/**
 * Renders deploy/nginx/nginx.conf (the compose file's) for replicas on loopback:
 *  - the `server host:port params;` lines of `upstream anymax { ... }` become one line per
 *    replica, `server 127.0.0.1:<port> params;` with the same params;
 *  - `listen ...;` becomes `listen 127.0.0.1:<listenPort>;`;
 *  - the gRPC proxy likewise: the servers of `upstream anymax_grpc { ... }` become the replicas'
 *    gRPC ports (grpcUpstreamPorts; without them, the HTTP ports: nginx starts, and gRPC through
 *    it is not used), and `listen ... http2;` becomes `listen 127.0.0.1:<grpcListenPort> http2;`;
 *  - `pid`, the `*_temp_path`s, and `error_log` / `access_log` files move into dir;
 *  - with asRoot, `user root;` is added first: a root master otherwise runs its workers as
 *    "nobody", which cannot enter the private (0700) temp dir, so whatever nginx spools to its
 *    temp paths fails (seen here: a 6 MB body, over client_body_buffer_size 4m, got a 500 with
 *    `open() ".../nginx-client-body/..." failed (13: Permission denied)`).
 * Every other line is kept as it is. Throws on what it cannot place safely: no `upstream anymax`,
 * server lines with different params, more than one listen of each kind, an http2 listen without
 * grpcListenPort, or a path directive it does not handle.
 */
export function renderNginxConf(
  source: string,
  o: { upstreamPorts: number[]; listenPort: number; dir: string; asRoot: boolean; grpcUpstreamPorts?: number[]; grpcListenPort?: number },
): string {
  const lines = source.split('\n');
  const out: string[] = [];
  if (o.asRoot && !lines.some((l) => /^\s*user\s/.test(l))) out.push('user root;');
  let depth = 0;
  let upstreamDepth = -1; // depth inside `upstream anymax {` or `upstream anymax_grpc {`, or -1
  let upstream = 'anymax' as 'anymax' | 'anymax_grpc';
  const serverParams: Record<string, string | undefined> = {};
  let listens = 0;
  let grpcListens = 0;
  let sawUpstream = false;
  const strip = (l: string) => l.replace(/#.*$/, '');
  for (const line of lines) {
    const code = strip(line);
    const indent = /^\s*/.exec(line)![0];
    let m: RegExpExecArray | null;
    if ((m = /^\s*upstream\s+(anymax|anymax_grpc)\s*\{\s*$/.exec(code))) {
      upstream = m[1] as typeof upstream;
      sawUpstream ||= upstream === 'anymax';
      upstreamDepth = depth + 1;
      out.push(line);
    } else if (upstreamDepth === depth && (m = /^\s*server\s+([^\s;{]+)((?:\s+[^;{]+)?)\s*;\s*$/.exec(code))) {
      const params = m[2].trim();
      const seen = serverParams[upstream];
      if (seen === undefined) {
        serverParams[upstream] = params;
        const ports = upstream === 'anymax_grpc' ? (o.grpcUpstreamPorts ?? o.upstreamPorts) : o.upstreamPorts;
        for (const port of ports) out.push(`${indent}server ${LOOPBACK}:${port}${params ? ` ${params}` : ''};`);
      } else if (params !== seen) {
        throw new Error(`upstream ${upstream}: servers with different params (${JSON.stringify(seen)} vs ${JSON.stringify(params)})`);
      }
    } else if (/^\s*listen\s.*\shttp2\s*;/.test(code)) {
      if (++grpcListens > 1) throw new Error('more than one http2 listen directive: which one is the gRPC proxy?');
      if (o.grpcListenPort === undefined) throw new Error('the config has an http2 (gRPC) listen: give grpcListenPort');
      out.push(`${indent}listen ${LOOPBACK}:${o.grpcListenPort} http2;`);
    } else if (/^\s*listen\s/.test(code)) {
      if (++listens > 1) throw new Error('more than one listen directive: which one is the proxy?');
      out.push(`${indent}listen ${LOOPBACK}:${o.listenPort};`);
    } else if (/^\s*pid\s/.test(code)) {
      out.push(`${indent}pid ${o.dir}/nginx.pid;`);
    } else if ((m = /^\s*(\w+_temp_path)\s+(\S+?)((?:\s+\d+)*)\s*;\s*$/.exec(code))) {
      out.push(`${indent}${m[1]} ${o.dir}/${path.posix.basename(m[2])}${m[3]};`);
    } else if ((m = /^\s*(error_log|access_log)\s+(\S+?)((?:\s+[^;]+)?)\s*;\s*$/.exec(code))) {
      out.push(m[2] === 'off' ? line : `${indent}${m[1]} ${o.dir}/${path.posix.basename(m[2])}${m[3]};`);
    } else if (/^\s*(include|load_module|lock_file|root|alias|ssl_certificate\w*)\s/.test(code)) {
      throw new Error(`renderNginxConf does not handle ${JSON.stringify(line.trim())}`);
    } else {
      out.push(line);
    }
    for (const ch of code) {
      if (ch === '{') depth++;
      else if (ch === '}') {
        if (depth === upstreamDepth) upstreamDepth = -1;
        depth--;
      }
    }
  }
  if (!sawUpstream || serverParams.anymax === undefined) throw new Error('no `upstream anymax { server ...; }` in the nginx config');
  if (listens !== 1) throw new Error('no listen directive in the nginx config');
  return out.join('\n');
}
