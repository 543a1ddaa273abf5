import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { ReceiveGate } from './receive-gate.js';
import type { GrpcOptions, GrpcService } from './server.js';

/**
 * app.grpc: the gRPC Open Inference Protocol service (./server.ts), made and bound by listen()
 * (src/server.ts, on GRPC_PORT). Its module, and grpc-js with it (~20 MiB resident, measured),
 * is loaded only then: a service run with GRPC_PORT=0 never loads it. Closed before the HTTP
 * server and the pool (preClose), so calls in flight still have their jobs.
 */

export interface GrpcFront {
  /** Binds host:port (0: an ephemeral port) and starts serving; resolves to the bound port. */
  listen(host: string, port: number): Promise<number>;
  /** The gate on messages being read (./receive-gate.ts), once listening. */
  readonly gate: ReceiveGate | undefined;
}

declare module 'fastify' {
  interface FastifyInstance {
    grpc: GrpcFront;
  }
}

export default fp(
  async function grpcPlugin(app: FastifyInstance, opts: GrpcOptions) {
    let service: GrpcService | undefined;
    app.decorate('grpc', {
      async listen(host: string, port: number) {
        service ??= (await import('./server.js')).createGrpcService(app, opts);
        return service.listen(host, port);
      },
      get gate() {
        return service?.gate;
      },
    });
    app.addHook('preClose', async () => {
      await service?.close();
    });
  },
  { name: 'anymax-grpc', dependencies: ['anymax-metrics', 'anymax-pool'] },
);
