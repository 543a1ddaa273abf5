import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { parseProm, promValue, waitFor, within } from '../helpers/http.js';
import { inferenceClient, param, tensorBytes } from './client.js';

/**
 * src/server.ts as a process with GRPC_PORT: both servers listen, and on SIGTERM a gRPC call in
 * flight is answered before the process exits 0.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const started: ChildProcess[] = [];

afterEach(() => {
  for (const p of started.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

/** A port free at the moment (GRPC_PORT=0 turns the service off, so the test picks one). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('src/server.ts with GRPC_PORT', () => {
  it('SIGTERM mid-call: the gRPC call in flight completes, then the process exits 0', async () => {
    const grpcPort = await freePort();
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: '0', GRPC_PORT: String(grpcPort), HOST: '127.0.0.1', WORKERS: '1', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    started.push(proc);
    const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
    let out = '';
    let stderr = '';
    proc.stderr!.on('data', (c: Buffer) => (stderr += c.toString()));
    const ready = new Promise<{ http: number; grpc: number }>((resolve) => {
      proc.stdout!.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.includes('"anymax ready"'));
        const http = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(out);
        if (line && http) resolve({ http: Number(http[1]), grpc: JSON.parse(line).grpcPort });
      });
    });
    const ports = await within(ready, 30_000, `the server to listen (stderr: ${stderr})`);
    expect(ports.grpc).toBe(grpcPort);

    const client = inferenceClient(grpcPort);
    expect(await client.call('ServerLive', {})).toEqual({ live: true });
    // A job of ~16M draws (a few hundred ms on one worker).
    const [rows, cols] = [256, 8000];
    const logits = tensorBytes(Array.from({ length: rows * cols }, (_, k) => Math.sin(k)), 'FP32');
    let answeredAt = 0;
    const call = client
      .call('ModelInfer', { model_name: 'sample', parameters: { seed: param(3), n: param(8) }, inputs: [{ name: 'logits', datatype: 'FP32', shape: [rows, cols] }], raw_input_contents: [logits] }, 30_000)
      .then((r) => {
        answeredAt = performance.now();
        return r;
      });
    // Its job is on the worker: SIGTERM.
    await waitFor(
      async () => {
        const res = await fetch(`http://127.0.0.1:${ports.http}/metrics`);
        return promValue(parseProm(await res.text()), 'anymax_busy_workers') >= 1;
      },
      20_000,
      'the job to reach the worker',
    );
    const killedAt = performance.now();
    expect(proc.kill('SIGTERM')).toBe(true);
    const answer = await call;
    expect(answeredAt).toBeGreaterThan(killedAt);
    expect(answer.outputs[0]).toMatchObject({ name: 'samples', datatype: 'INT64' });
    expect(answer.raw_output_contents[0].length).toBe(rows * 8 * 8);
    expect(await within(exited, 30_000, 'the process to exit')).toBe(0);
    // Gone: a new call finds no server.
    const after = await client.call('ServerLive', {}, 2000).catch((e: grpc.ServiceError) => e.code);
    expect(after).toBe(grpc.status.UNAVAILABLE);
    client.close();
  }, 60_000);
});
