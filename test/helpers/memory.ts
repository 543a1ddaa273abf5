import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

/**
 * Runs src/server.ts (or a built server.js) as a child process and reads its memory from
 * /proc/<pid>/status: VmRSS now, and VmHWM, the peak resident set size since the process started
 * (all threads: the pool's workers are threads of the same process). Shared by
 * test/pool/memory.test.ts and load/memory.ts.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface MemServer {
  proc: ChildProcess;
  port: number;
  /** Resident set now and peak since start, in bytes. */
  rss(): { now: number; peak: number };
  stop(): Promise<number | null>;
}

export function readRss(pid: number): { now: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { now: kb('VmRSS'), peak: kb('VmHWM') };
}

/** Starts the server with env (PORT=0 is forced) and waits until it listens. */
export async function startMemServer(env: Record<string, string>, built?: string): Promise<MemServer> {
  const args = built ? [built] : ['--import', 'tsx', 'src/server.ts'];
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', LOG_LEVEL: 'info', ...env, PORT: '0' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not listen in 30 s: ${out}`)), 30_000);
    const onData = (c: Buffer) => {
      out += c.toString();
      const m = /listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.on('exit', (code) => reject(new Error(`server exited (${code}) before listening: ${out}`)));
  });
  // Keep draining the pipes so the child never blocks on a full one.
  proc.stdout!.resume();
  proc.stderr!.resume();
  return {
    proc,
    port,
    rss: () => readRss(proc.pid!),
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve(proc.exitCode);
        const t = setTimeout(() => proc.kill('SIGKILL'), 10_000);
        proc.on('exit', (code) => {
          clearTimeout(t);
          resolve(code);
        });
        proc.kill('SIGTERM');
      }),
  };
}

export interface Answer {
  status: number;
  bytes: number;
  /** The first 4 KiB of the body (errors are small; big answers are only counted). */
  head: string;
  /** The last 64 bytes. */
  tail: string;
}

/** POSTs body to the server and reads the answer, keeping only its size, head and tail. */
export function postCounting(port: number, path: string, body: Buffer, timeoutMs = 120_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false, headers: { 'content-type': 'application/json', 'content-length': body.length } },
      (res) => {
        let bytes = 0;
        let head = '';
        let tail = Buffer.alloc(0);
        res.on('data', (c: Buffer) => {
          if (head.length < 4096) head += c.subarray(0, 4096 - head.length).toString('latin1');
          tail = Buffer.concat([tail, c.subarray(Math.max(0, c.length - 64))]).subarray(-64);
          bytes += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, head, tail: tail.toString('latin1') }));
        res.on('error', reject);
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** A JSON body {"logits": rows x cols of `value`} (or another field), built without a string per element. */
export function constantMatrixBody(rows: number, cols: number, value = '0', field = 'logits', extra = ''): Buffer {
  const row = `[${`${value},`.repeat(cols - 1)}${value}]`;
  return Buffer.from(`{"${field}":[${Array.from({ length: rows }, () => row).join(',')}]${extra}}`);
}
