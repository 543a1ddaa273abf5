/**
 * What a network round trip costs a big call over each protocol: `npx tsx load/rtt.ts [flags]`.
 *
 * On 127.0.0.1 a round trip takes microseconds, so flow control never shows. This script puts a
 * relay in front of the built service (`node dist/server.js`, one process) that holds every chunk
 * for --delay ms each way (a round trip of 2 x delay), and times calls of softmax 64x32000 FP32
 * (8 MB each way) one at a time through it: REST v2 with binary tensors, and gRPC ModelInfer with
 * the tensor in raw_input_contents (a grpc-js client whose own receive window is 16 MiB, as
 * ./grpc-load.ts asks, so the answer's way is not the one measured). Prints the median and the
 * slowest time per protocol and delay, and what that makes of a request's upload rate.
 *
 * Why it matters: a grpc-js server advertises HTTP/2's default 64 KiB receive windows (grpc-js
 * 1.14 has no server option for them; grpc/grpc-node pull request 3058 proposes one), so a
 * client sends a request's bytes 64 KiB per round trip; TCP under REST grows its window instead.
 *
 * Flags: --delays 0,1,5 (ms each way)  --calls N (per protocol and delay, default 5)
 * All traffic goes to 127.0.0.1; every call has a 120 s deadline; the child is stopped at the end.
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ensureBuilt } from './build.js';
import { GrpcLoad, encodeRequest } from './grpc-load.js';

const { values: flags } = parseArgs({ options: { delays: { type: 'string', default: '0,1,5' }, calls: { type: 'string', default: '5' } } });
const delays = flags.delays.split(',').map(Number);
if (delays.some((d) => !(d >= 0 && d <= 100))) throw new Error('--delays: milliseconds in [0, 100], comma-separated');
const calls = Number(flags.calls);
if (!Number.isInteger(calls) || calls < 1 || calls > 100) throw new Error('--calls must be an integer in [1, 100]');

const HOST = '127.0.0.1';
const [ROWS, COLS] = [64, 32000];

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, HOST, () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on('error', reject);
  });
}

/** A relay to `target` that holds each chunk `delayMs` in each direction (order kept: timers of one delay fire in order). */
function relay(target: number, delayMs: number): Promise<{ port: number; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, HOST);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    const pipe = (from: net.Socket, to: net.Socket) => {
      from.on('data', (chunk) => (delayMs > 0 ? setTimeout(() => to.write(chunk), delayMs) : to.write(chunk)));
      from.on('end', () => setTimeout(() => to.end(), delayMs));
    };
    pipe(client, upstream);
    pipe(upstream, client);
  });
  return new Promise((resolve) =>
    server.listen(0, HOST, () =>
      resolve({
        port: (server.address() as net.AddressInfo).port,
        close: () => {
          server.close();
          for (const s of sockets) s.destroy();
        },
      }),
    ),
  );
}

function restCall(port: number, body: Buffer, headerLength: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const req = http.request(
      { host: HOST, port, method: 'POST', path: '/v2/models/softmax/infer', headers: { 'inference-header-content-length': String(headerLength), 'content-length': String(body.length) }, timeout: 120_000 },
      (res) => {
        let bytes = 0;
        res.on('data', (b: Buffer) => (bytes += b.length));
        res.on('end', () => (res.statusCode === 200 && bytes > ROWS * COLS * 4 ? resolve(performance.now() - t0) : reject(new Error(`REST: status ${res.statusCode}, ${bytes} bytes`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error('REST: no answer in 120 s')));
    req.on('error', reject);
    req.end(body);
  });
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  ensureBuilt('auto', (s) => console.error(s));
  const tensor = Buffer.alloc(ROWS * COLS * 4);
  for (let k = 0; k < ROWS * COLS; k++) tensor.writeFloatLE(Math.sin(k * 0.37) * 6, k * 4);
  const header = Buffer.from(JSON.stringify({ parameters: { binary_data_output: true }, inputs: [{ name: 'logits', datatype: 'FP32', shape: [ROWS, COLS], parameters: { binary_data_size: tensor.length } }] }));
  const restBody = Buffer.concat([header, tensor]);
  const grpcBody = encodeRequest({ model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP32', shape: [String(ROWS), String(COLS)] }], raw_input_contents: [tensor] });

  const [port, grpcPort] = await Promise.all([freePort(), freePort()]);
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), GRPC_PORT: String(grpcPort), HOST, PROCESSES: '1', LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  delete env.NODE_OPTIONS;
  const child = spawn(process.execPath, ['dist/server.js'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    for (let i = 0; ; i++) {
      const ok = await new Promise<boolean>((r) => http.get({ host: HOST, port, path: '/health/ready' }, (res) => (res.resume(), r(res.statusCode === 200))).on('error', () => r(false)));
      if (ok) break;
      if (i > 100) throw new Error('the service did not get ready');
      await new Promise((r) => setTimeout(r, 100));
    }
    console.log(`softmax 64x32000 FP32 (8 MB each way), ${calls} calls one at a time per protocol and delay, through a relay that holds each chunk`);
    console.log('delay each way  round trip  REST v2 binary: median / max ms  gRPC: median / max ms  gRPC / REST (medians)');
    for (const delay of delays) {
      const [restRelay, grpcRelay] = await Promise.all([relay(port, delay), relay(grpcPort, delay)]);
      const gen = new GrpcLoad(HOST, grpcRelay.port, 1);
      try {
        const rest: number[] = [];
        const grpcTimes: number[] = [];
        await restCall(restRelay.port, restBody, header.length); // connections, compilation
        await gen.call(grpcBody, 0, 120_000);
        for (let k = 0; k < calls; k++) {
          rest.push(await restCall(restRelay.port, restBody, header.length));
          const t0 = performance.now();
          await gen.call(grpcBody, 0, 120_000).catch((e: grpc.ServiceError) => {
            throw new Error(`gRPC: ${e.message}`);
          });
          grpcTimes.push(performance.now() - t0);
        }
        const f = (xs: number[]) => `${median(xs).toFixed(1)} / ${Math.max(...xs).toFixed(1)}`;
        console.log(`${`${delay} ms`.padEnd(14)}  ${`${2 * delay} ms`.padEnd(10)}  ${f(rest).padEnd(31)}  ${f(grpcTimes).padEnd(21)}  ${(median(grpcTimes) / median(rest)).toFixed(2)}x`);
      } finally {
        gen.close();
        restRelay.close();
        grpcRelay.close();
      }
    }
  } finally {
    child.kill('SIGTERM');
  }
}

await main();
