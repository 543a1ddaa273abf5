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
 * With --nginx, also through nginx as deploy/nginx/nginx.conf sets it up (rendered for this one
 * replica as test/deploy/scale-out.test.ts renders it), the relay in front of nginx: the client's
 * round trips are then to nginx, whose windows it sets (http2_body_preread_size), and nginx's to
 * the service are local.
 *
 * Flags: --delays 0,1,5 (ms each way)  --calls N (per protocol and delay, default 5)  --nginx
 * All traffic goes to 127.0.0.1; every call has a 120 s deadline; the children are stopped at the end.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ensureBuilt } from './build.js';
import { GrpcLoad, encodeRequest } from './grpc-load.js';
import { findNginx, freePort, launch, LOOPBACK as HOST, renderNginxConf, stop, waitHttp200, type Proc } from '../test/deploy/procs.js';

const { values: flags } = parseArgs({ options: { delays: { type: 'string', default: '0,1,5' }, calls: { type: 'string', default: '5' }, nginx: { type: 'boolean', default: false } } });
const delays = flags.delays.split(',').map(Number);
if (delays.some((d) => !(d >= 0 && d <= 100))) throw new Error('--delays: milliseconds in [0, 100], comma-separated');
const calls = Number(flags.calls);
if (!Number.isInteger(calls) || calls < 1 || calls > 100) throw new Error('--calls must be an integer in [1, 100]');

const [ROWS, COLS] = [64, 32000];

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

/** nginx as deploy/nginx/nginx.conf sets it up, for this one replica: its HTTP and gRPC ports. */
async function startNginx(port: number, grpcPort: number, dir: string): Promise<{ p: Proc; port: number; grpcPort: number }> {
  const bin = findNginx();
  if (!bin) throw new Error('--nginx: no nginx on PATH or in /usr/sbin (apt-get install nginx)');
  const [lbPort, lbGrpcPort] = await Promise.all([freePort(), freePort()]);
  const conf = renderNginxConf(readFileSync('deploy/nginx/nginx.conf', 'utf8'), {
    upstreamPorts: [port],
    grpcUpstreamPorts: [grpcPort],
    listenPort: lbPort,
    grpcListenPort: lbGrpcPort,
    dir,
    asRoot: process.getuid?.() === 0,
  });
  writeFileSync(path.join(dir, 'nginx.conf'), conf);
  const p = launch('nginx', bin, ['-p', `${dir}/`, '-c', path.join(dir, 'nginx.conf'), '-e', path.join(dir, 'error.log'), '-g', 'daemon off;'], { cwd: dir, env: { PATH: process.env.PATH ?? '' } });
  await waitHttp200(p, lbPort, '/health/ready', 20_000);
  return { p, port: lbPort, grpcPort: lbGrpcPort };
}

/** calls x (a REST call, a gRPC call) through relays with `delay` ms each way to these ports. */
async function timeBoth(delay: number, ports: { port: number; grpcPort: number }, restBody: Buffer, headerLength: number, grpcBody: Buffer): Promise<{ rest: number[]; grpc: number[] }> {
  const [restRelay, grpcRelay] = await Promise.all([relay(ports.port, delay), relay(ports.grpcPort, delay)]);
  const gen = new GrpcLoad(HOST, grpcRelay.port, 1);
  try {
    const rest: number[] = [];
    const grpcTimes: number[] = [];
    await restCall(restRelay.port, restBody, headerLength); // connections, compilation
    await gen.call(grpcBody, 0, 120_000);
    for (let k = 0; k < calls; k++) {
      rest.push(await restCall(restRelay.port, restBody, headerLength));
      const t0 = performance.now();
      await gen.call(grpcBody, 0, 120_000).catch((e: grpc.ServiceError) => {
        throw new Error(`gRPC: ${e.message}`);
      });
      grpcTimes.push(performance.now() - t0);
    }
    return { rest, grpc: grpcTimes };
  } finally {
    gen.close();
    restRelay.close();
    grpcRelay.close();
  }
}

async function main(): Promise<void> {
  ensureBuilt('auto', (s) => console.error(s));
  const tensor = Buffer.alloc(ROWS * COLS * 4);
  for (let k = 0; k < ROWS * COLS; k++) tensor.writeFloatLE(Math.sin(k * 0.37) * 6, k * 4);
  const header = Buffer.from(JSON.stringify({ parameters: { binary_data_output: true }, inputs: [{ name: 'logits', datatype: 'FP32', shape: [ROWS, COLS], parameters: { binary_data_size: tensor.length } }] }));
  const restBody = Buffer.concat([header, tensor]);
  const grpcBody = encodeRequest({ model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP32', shape: [String(ROWS), String(COLS)] }], raw_input_contents: [tensor] });

  const [port, grpcPort] = await Promise.all([freePort(), freePort()]);
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', PORT: String(port), GRPC_PORT: String(grpcPort), HOST, PROCESSES: '1', LOG_LEVEL: 'warn', NODE_ENV: 'production' };
  const service = launch('service', process.execPath, ['dist/server.js'], { cwd: process.cwd(), env });
  const dir = mkdtempSync(path.join(os.tmpdir(), 'anymax-rtt-'));
  let nginx: Awaited<ReturnType<typeof startNginx>> | undefined;
  try {
    await waitHttp200(service, port, '/health/ready', 30_000);
    if (flags.nginx) nginx = await startNginx(port, grpcPort, dir);
    console.log(`softmax 64x32000 FP32 (8 MB each way), ${calls} calls one at a time per protocol and delay, through a relay that holds each chunk`);
    const head = ['delay each way', 'round trip', 'REST v2 binary: median / max ms', 'gRPC: median / max ms', 'gRPC / REST'];
    if (nginx) head.push('REST via nginx', 'gRPC via nginx', 'gRPC via nginx / REST');
    console.log(head.join('  '));
    const f = (xs: number[]) => `${median(xs).toFixed(1)} / ${Math.max(...xs).toFixed(1)}`;
    for (const delay of delays) {
      const direct = await timeBoth(delay, { port, grpcPort }, restBody, header.length, grpcBody);
      const cells = [`${delay} ms`, `${2 * delay} ms`, f(direct.rest), f(direct.grpc), `${(median(direct.grpc) / median(direct.rest)).toFixed(2)}x`];
      if (nginx) {
        const via = await timeBoth(delay, nginx, restBody, header.length, grpcBody);
        cells.push(f(via.rest), f(via.grpc), `${(median(via.grpc) / median(direct.rest)).toFixed(2)}x`);
      }
      console.log(cells.map((c, i) => c.padEnd(head[i].length)).join('  '));
    }
  } finally {
    await Promise.all([nginx && stop(nginx.p), stop(service)]);
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
