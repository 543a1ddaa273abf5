// @ts-check
import * as grpc from '@grpc/grpc-js';
import http from 'node:http';

/**
 * The ceiling of the gRPC stack for load/run.ts, as load/hello.mjs is HTTP's: a bare grpc-js
 * server on the same machine whose /inference.GRPCInferenceService/ModelInfer answers every call
 * with the request's own bytes. Identity (de)serialisers: no protobuf, no checks, no work; the
 * answer is as big as the request, as softmax's is (8 MB each way for 64x32000 FP32) and a
 * little bigger than sample's. Loaded by the same generator as the service's gRPC scenarios, it
 * shows what grpc-js itself allows on these cores: the service can only be slower.
 *
 * The server's options as the service sets them where they change the traffic (message limits;
 * src/grpc/server.ts). Plain JavaScript, started as `node load/grpc-hello.mjs` with GRPC_PORT and
 * HOST; PORT (HTTP) answers GET /health once the gRPC port is bound. SIGTERM ends it.
 */

const identity = (/** @type {Buffer} */ b) => b;
const server = new grpc.Server({ 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 });
server.addService(
  {
    ModelInfer: {
      path: '/inference.GRPCInferenceService/ModelInfer',
      requestStream: false,
      responseStream: false,
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  },
  { ModelInfer: (/** @type {grpc.ServerUnaryCall<Buffer, Buffer>} */ call, /** @type {grpc.sendUnaryData<Buffer>} */ callback) => callback(null, call.request) },
);

const host = process.env.HOST ?? '127.0.0.1';
await new Promise((resolve, reject) =>
  server.bindAsync(`${host}:${Number(process.env.GRPC_PORT ?? 0)}`, grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
);

// Readiness over HTTP, as the other children of the harness answer it.
const health = http.createServer((req, res) => res.writeHead(req.url === '/health' ? 200 : 404).end());
health.listen(Number(process.env.PORT ?? 0), host);

const close = () => {
  health.close();
  server.tryShutdown(() => process.exit(0));
};
process.on('SIGTERM', close);
process.on('SIGINT', close);
