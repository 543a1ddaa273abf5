import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import underPressure from '@fastify/under-pressure';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { DestinationStream } from 'pino';
import {
  createJsonSchemaTransform,
  createJsonSchemaTransformObject,
  serializerCompiler,
  validatorCompiler,
} from 'fastify-type-provider-zod';
import type { ServiceLink } from './cluster.js';
import { DEFAULTS, type Config } from './config.js';
import { ApiError } from './errors.js';
import { withContentMaps } from './http/openapi.js';
import connectionsPlugin, { serverTimeouts } from './plugins/connections.js';
import grpcPlugin from './grpc/plugin.js';
import errorsPlugin, { answeredOnSocket, send } from './plugins/errors.js';
import httpErrorsPlugin, { clientErrorHandler, frameworkErrors } from './plugins/http-errors.js';
import metricsPlugin from './plugins/metrics.js';
import playgroundPlugin from './plugins/playground.js';
import poolPlugin from './plugins/pool.js';
import healthRoutes from './routes/health.js';
import metricsRoutes from './routes/metrics.js';
import v1Routes from './routes/v1.js';
import v2Routes from './routes/v2.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** Shape of the batch, for the access log. */
    anymax?: { rows: number; cols: number };
  }
  interface FastifyInstance {
    /** What readiness and /metrics need of the whole service (one process alone: itself). */
    service: { ready(): boolean; metrics(): Promise<string> };
  }
}

const REQUEST_ID = /^[\w.:-]{1,128}$/;

/**
 * What buildApp takes: config overrides, where to write the log (stdout by default; for tests),
 * and, in a serving process of a cluster, its link to the service (src/cluster.ts).
 */
export type BuildOptions = Partial<Config> & { logStream?: DestinationStream; service?: ServiceLink };

/** Builds the service (never listens: src/server.ts does). */
export async function buildApp(options: BuildOptions = {}): Promise<FastifyInstance> {
  const { logStream, service, ...overrides } = options;
  const config: Config = { ...DEFAULTS, ...overrides };
  // pino's own base (pid, hostname), plus the process's name in a cluster.
  const base = service ? { pid: process.pid, hostname: hostname(), ...service.bindings } : undefined;
  const app = Fastify({
    // Headers, receive, keep-alive and socket inactivity timeouts (src/plugins/connections.ts).
    ...serverTimeouts(config),
    logger: { level: config.logLevel, ...(logStream ? { stream: logStream } : {}), ...(base ? { base } : {}) },
    bodyLimit: config.maxBodyBytes,
    // Requests arriving while closing get the contract's 503 (hook below), not Fastify's bare one.
    return503OnClosing: false,
    // One access-log line per request, written below with the batch shape.
    logController: new LogController({ disableRequestLogging: true, requestIdLogLabel: 'requestId' }),
    // A caller's x-request-id is used if it is sane; otherwise (or absent) we make one. Decided
    // here, before Fastify binds the id to the request's logger, so the access log carries the
    // id we echo (replacing request.id in a hook left the logger with the rejected one).
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    },
    // What Node and Fastify refuse before a route runs answers on the contract too
    // (src/plugins/http-errors.ts).
    clientErrorHandler,
    frameworkErrors,
  });
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);

  // Graceful shutdown (src/server.ts calls app.close()). From the moment closing starts, every
  // response says Connection: close, so a keep-alive client lets go of its socket once its
  // in-flight request is answered: otherwise server.close() waited out the idle keep-alive
  // timeout for that socket. Sockets with nothing in flight are closed at once
  // (src/plugins/connections.ts). A request that still arrives on such a socket (pipelined) is
  // refused with the contract's 503.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.raw.once('close', () => {
      if (!reply.raw.writableEnded) connectionClosed(request, reply);
    });
    if (closing) {
      app.metrics.rejected.inc({ reason: 'shutting_down' });
      return send(reply, new ApiError(503, 'SHUTTING_DOWN', 'the service is shutting down', undefined, 1));
    }
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    if (closing) reply.header('connection', 'close');
    return payload;
  });
  const accessLog = (request: FastifyRequest, reply: FastifyReply, status: number, extra?: { answerStarted: true }) =>
    request.log.info(
      {
        route: request.routeOptions.url ?? 'unmatched',
        method: request.method,
        status,
        rows: request.anymax?.rows,
        cols: request.anymax?.cols,
        durationMs: Number(reply.elapsedTime.toFixed(3)),
        ...extra,
      },
      'request',
    );
  app.addHook('onResponse', async (request, reply) => {
    // Fastify runs this when the answer is written; one cut short is logged by connectionClosed.
    accessLog(request, reply, reply.statusCode);
  });
  /**
   * The connection closed before the answer was all written: the client left (status 499,
   * as nginx logs it; counted as client_gone), or, while closing, a stalled upload was cut off
   * by src/plugins/connections.ts (503, shutting_down). Fastify runs no onResponse for such a
   * request. Refusals answered on the socket itself (./plugins/http-errors.ts) were logged and
   * counted there.
   */
  function connectionClosed(request: FastifyRequest, reply: FastifyReply): void {
    if (answeredOnSocket.has(request.raw.socket)) return;
    const cutOff = closing && !request.raw.complete;
    const status = cutOff ? 503 : 499;
    app.metrics.rejected.inc({ reason: cutOff ? 'shutting_down' : 'client_gone' });
    app.metrics.observeRequest(request.routeOptions.url ?? 'unmatched', request.method, status, reply.elapsedTime / 1000);
    accessLog(request, reply, status, reply.raw.headersSent ? { answerStarted: true } : undefined);
  }

  await app.register(connectionsPlugin);
  await app.register(metricsPlugin, { nodeVersion: config.metricsNodeVersion });
  service?.attach(app.metrics.registry);
  app.decorate('service', {
    ready: service ? () => service.ready() : () => true,
    metrics: service ? () => service.metrics() : () => app.metrics.registry.metrics(),
  });
  await app.register(errorsPlugin, { maxBodyBytes: config.maxBodyBytes });
  await app.register(httpErrorsPlugin);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'anymax',
        version: '1.0.0',
        description:
          'The (.+)-max family over batched logit matrices: argmax, softmax, sparsemax, alpha-entmax, ' +
          'Gumbel-softmax and seeded sampling. Errors share one shape (components.schemas.Error).',
      },
      tags: [
        { name: 'v1', description: 'Mappings and sampling' },
        { name: 'health', description: 'Liveness and readiness' },
        {
          name: 'v2',
          description:
            'The Open Inference Protocol v2 (KServe, NVIDIA Triton, Seldon MLServer) over REST, with Triton\'s binary ' +
            'tensor data, classification, model repository and parameters extensions. Models are the /v1 operations; ' +
            'errors are {"error": "<message>"} (components.schemas.OipError).',
        },
      ],
    },
    // The document says OpenAPI 3.0.3, so the schemas must be 3.0 ones (nullable: true, not
    // type: [..., "null"]): the provider's object transform defaults to JSON Schema 2020-12
    // for components whatever the document version, which made the document invalid.
    // Routes with several media types (the /v2 infer bodies: JSON, or binary) through a wrapper.
    transform: withContentMaps(createJsonSchemaTransform({ zodToJsonConfig: { target: 'openapi-3.0' } }) as never) as never,
    transformObject: createJsonSchemaTransformObject({ zodToJsonConfig: { target: 'openapi-3.0' } }),
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  await app.register(underPressure, {
    // The main thread only moves bytes; a long stall means it is swamped.
    maxEventLoopDelay: 1000,
    retryAfter: 1,
    exposeStatusRoute: false,
    // Sending here ends the request (Fastify stops the lifecycle once a reply is sent). Liveness
    // and metrics opt out with a no-op handler in their route config.
    pressureHandler: (_req, reply, type, value) => {
      app.metrics.rejected.inc({ reason: 'overloaded' });
      send(reply, new ApiError(503, 'OVERLOADED', `the service is overloaded (${type}: ${value})`, undefined, 1));
    },
  });
  await app.register(poolPlugin, config);
  await app.register(v1Routes, { testCrashRoute: config.testCrashRoute, maxBodyBytes: config.maxBodyBytes, inlineMaxBytes: config.inlineMaxBytes });
  await app.register(v2Routes, { maxBodyBytes: config.maxBodyBytes, inlineMaxBytes: config.inlineMaxBytes });
  await app.register(healthRoutes);
  // The gRPC service (made here, bound by src/server.ts on GRPC_PORT, closed with the app).
  await app.register(grpcPlugin, config);
  await app.register(metricsRoutes);
  // GET /playground/: a static page of figures drawn from the /v1 routes (src/plugins/playground.ts).
  await app.register(playgroundPlugin);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
