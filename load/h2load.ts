/**
 * h2load (nghttp2's HTTP/2 load generator, C) as load/run.ts's gRPC generator
 * (`--grpc-generator h2load`), the counterpart of wrk for the REST twins (./wrk.ts): the project's
 * grpc-js generator (./grpc-load.ts) takes ~0.13 ms of CPU a call on the cores the service runs
 * on, four times autocannon's per request, so a gRPC-against-REST comparison made with them
 * measures the generators as much as the service.
 *
 * Each call is one HTTP/2 POST of the gRPC message (its 5-byte prefix and the serialised
 * ModelInferRequest) with content-type application/grpc and te: trailers, as a gRPC client sends
 * it. h2load judges only the HTTP status, and a gRPC error is an HTTP 200 with grpc-status in its
 * trailers: the caller counts gRPC statuses from the service's own metrics instead
 * (load/run.ts). h2load reports no latency percentiles: `meanMs` is its mean time per request.
 * Needs h2load on the PATH (Debian: apt-get install nghttp2-client).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { latencyMs, runGenerator } from './wrk.js';

export interface H2loadResult {
  /** Calls answered with an HTTP 2xx (gRPC statuses are the caller's to count). */
  succeeded: number;
  failed: number;
  errored: number;
  timeouts: number;
  rps: number;
  meanMs: number;
  maxMs: number;
  durationS: number;
  /** h2load's CPU over the run, ms (user + system). */
  cpuMs: number;
}

/** `message` is the serialised request; `connections` HTTP/2 connections, `streams` calls in flight on each. */
export async function runH2load(opts: { url: string; message: Buffer; connections: number; streams: number; seconds: number }): Promise<H2loadResult> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'anymax-h2load-'));
  try {
    const framed = Buffer.alloc(opts.message.length + 5);
    framed.writeUInt32BE(opts.message.length, 1);
    opts.message.copy(framed, 5);
    const file = path.join(dir, 'message');
    writeFileSync(file, framed);
    const args = [`-c${opts.connections}`, `-m${opts.streams}`, '-D', String(opts.seconds), '-d', file, '-H', 'content-type: application/grpc', '-H', 'te: trailers', opts.url];
    const { out, cpuMs } = await runGenerator('h2load', args);
    const finished = /finished in ([\d.]+\w+), ([\d.]+) req\/s/.exec(out);
    const counts = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/.exec(out);
    const request = /time for request:\s+(\S+)\s+(\S+)\s+(\S+)/.exec(out);
    if (!finished || !counts || !request) throw new Error(`h2load: unexpected output: ${out.trim()}`);
    return {
      succeeded: Number(counts[1]),
      failed: Number(counts[2]),
      errored: Number(counts[3]),
      timeouts: Number(counts[4]),
      rps: Number(finished[2]),
      meanMs: latencyMs(request[3]),
      maxMs: latencyMs(request[2]),
      durationS: latencyMs(finished[1]) / 1000,
      cpuMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
