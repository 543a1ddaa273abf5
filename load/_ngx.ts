import net from 'node:net';
import { GrpcLoad, encodeRequest } from './grpc-load.js';
const [target, delay] = process.argv.slice(2).map(Number);
const sockets = new Set<net.Socket>();
const server = net.createServer((client) => {
  const up = net.connect(target, '127.0.0.1');
  for (const s of [client, up]) { sockets.add(s); s.on('error', () => { client.destroy(); up.destroy(); }); }
  const pipe = (a: net.Socket, b: net.Socket) => { a.on('data', (c) => setTimeout(() => b.write(c), delay)); a.on('end', () => setTimeout(() => b.end(), delay)); };
  pipe(client, up); pipe(up, client);
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const port = (server.address() as net.AddressInfo).port;
const tensor = Buffer.alloc(64 * 32000 * 4); for (let k = 0; k < 64 * 32000; k++) tensor.writeFloatLE(Math.sin(k * 0.37) * 6, k * 4);
const body = encodeRequest({ model_name: 'softmax', inputs: [{ name: 'logits', datatype: 'FP32', shape: ['64', '32000'] }], raw_input_contents: [tensor] });
const gen = new GrpcLoad('127.0.0.1', port, 1);
await gen.call(body, 0, 120000);
const ts: number[] = [];
for (let i = 0; i < 3; i++) { const t = performance.now(); await gen.call(body, 0, 120000); ts.push(performance.now() - t); }
console.log(`target ${target} delay ${delay}: ${ts.map((x) => x.toFixed(0)).join(' ')} ms`);
gen.close(); server.close(); for (const s of sockets) s.destroy();
