import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import FindMyWay from 'find-my-way';
import { ApiError, unsupportedMediaType, type ErrorCode } from '../errors.js';
import { protocolOf } from '../http/protocol.js';

/**
 * The one error handler: every error, ours or Fastify's, leaves as the contract's
 * {"statusCode", "code", "error", "message"} JSON, or, under /v2 (the Open Inference Protocol),
 * as that protocol's {"error": "<message>"}, with the same status and Retry-After (errorBody).
 * Stack traces are logged, never sent.
 * Also the 404 / 405 answers for requests no route takes. What Fastify and Node reject before
 * a route runs (malformed HTTP, bad URLs, Expect, Host) is rendered by ./http-errors.ts.
 */

/** Fastify's own error codes that are the client's fault, mapped to ours. */
const FASTIFY_CODES: Record<string, { status: number; code: ErrorCode }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_REQUEST' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_REQUEST' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_REQUEST' },
};

/** Counts a refused request in anymax_rejected_requests_total under its code's reason. */
export function countRejected(app: FastifyInstance, e: ApiError): void {
  app.metrics.rejected.inc({ reason: reasonOf(e) });
}

/**
 * Sockets whose refusal Node-level handling (./http-errors.ts: a parse error, a 408) has
 * already answered and counted: a route still reading such a request's body fails when the
 * socket goes, and that is not a second refusal.
 */
export const answeredOnSocket = new WeakSet<object>();

/** The body of an error answer to a request for `url`: the contract's shape, or OIP's under /v2. */
export function errorBody(e: ApiError, url: string | undefined): string {
  return protocolOf(url) === 'v2' ? JSON.stringify({ error: e.message }) : JSON.stringify(e.toJSON());
}

export function send(reply: FastifyReply, e: ApiError): FastifyReply {
  if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
  return reply.code(e.statusCode).type('application/json').send(errorBody(e, reply.request.url));
}

/** Any error as the contract's ApiError: ours as is, Fastify's client errors mapped, the rest 500. */
function toApiError(err: FastifyError | ApiError, contentType: string | undefined, maxBodyBytes: number, url: string): ApiError {
  if (err instanceof ApiError) return err;
  const known = FASTIFY_CODES[err.code];
  if (known?.code === 'PAYLOAD_TOO_LARGE') {
    return new ApiError(413, known.code, `the request body is over the limit of ${maxBodyBytes} bytes`);
  }
  // /v2 takes any Content-Type, but Fastify refuses one that is not a media type at all.
  if (known?.code === 'UNSUPPORTED_MEDIA_TYPE' && protocolOf(url) === 'v2') {
    return new ApiError(415, 'UNSUPPORTED_MEDIA_TYPE', `the Content-Type ${JSON.stringify(contentType ?? '')} is not a valid media type`);
  }
  if (known?.code === 'UNSUPPORTED_MEDIA_TYPE') return unsupportedMediaType(contentType);
  if (known) return new ApiError(known.status, known.code, err.message);
  // Any other client error Fastify raises (a body cut short, ...): 400, as the table of codes says.
  if (err.statusCode !== undefined && err.statusCode >= 400 && err.statusCode < 500) {
    return new ApiError(400, 'INVALID_REQUEST', err.message);
  }
  return new ApiError(500, 'INTERNAL', 'internal server error');
}

export default fp(
  async function errorsPlugin(app: FastifyInstance, opts: { maxBodyBytes: number }) {
    app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
      const e = toApiError(err, request.headers['content-type'], opts.maxBodyBytes, request.url);
      if (e.code === 'INTERNAL') request.log.error({ err }, 'unhandled error');
      // A 503 (overloaded, timed out, shutting down) is the service protecting itself: a warning.
      else if (e.statusCode === 503) request.log.warn({ code: e.code }, e.message);
      else if (e.statusCode >= 500) request.log.error({ code: e.code }, e.message);
      // Not counted again: refused on the socket (./http-errors.ts), or its connection closed
      // before an answer (the client left: CLIENT_GONE, or a body cut off), which src/app.ts
      // counts and logs when the connection closes. Sending to a closed response is a no-op.
      else if (!answeredOnSocket.has(request.raw.socket) && !reply.raw.destroyed) countRejected(app, e);
      return send(reply, e);
    });

    // 405 rather than 404 when the path exists under other methods. The methods of each path
    // come from the routes as they are registered (this plugin is registered before any route),
    // and a shadow router of the same library and defaults as Fastify's (find-my-way) matches the
    // request's path against them, so parametric and wildcard routes (/docs/static/*) count too.
    const methodsOf = new Map<string, Set<string>>();
    const shadow = FindMyWay();
    app.addHook('onRoute', (route) => {
      let methods = methodsOf.get(route.url);
      if (!methods) {
        methods = new Set();
        methodsOf.set(route.url, methods);
        // One tree (GET) for every path: the store says which path matched.
        shadow.on('GET', route.url, () => undefined, { url: route.url });
      }
      for (const m of [route.method].flat()) methods.add(m);
    });

    app.setNotFoundHandler((request, reply) => {
      const found = shadow.find('GET', request.url);
      const allowed = found ? methodsOf.get((found.store as { url: string }).url) : undefined;
      const path = request.url.split('?')[0];
      if (allowed && !allowed.has(request.method)) {
        const allow = [...allowed].sort().join(', ');
        const e = new ApiError(405, 'METHOD_NOT_ALLOWED', `${request.method} is not allowed on ${path} (allowed: ${allow})`);
        countRejected(app, e);
        reply.header('allow', allow);
        return send(reply, e);
      }
      const e = new ApiError(404, 'NOT_FOUND', `no route ${request.method} ${path}`);
      countRejected(app, e);
      return send(reply, e);
    });
  },
  { name: 'anymax-errors', dependencies: ['anymax-metrics'] },
);

/** The rejected-requests label of a 4xx (503s are counted where they arise, in the pool). */
function reasonOf(e: ApiError): string {
  switch (e.code) {
    case 'MALFORMED_REQUEST':
      return 'malformed';
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 'media_type';
    case 'NOT_FOUND':
      return 'not_found';
    case 'METHOD_NOT_ALLOWED':
      return 'method_not_allowed';
    case 'REQUEST_TIMEOUT':
      return 'request_timeout';
    case 'URI_TOO_LONG':
      return 'uri_too_long';
    case 'EXPECTATION_FAILED':
      return 'expectation_failed';
    case 'HEADERS_TOO_LARGE':
      return 'headers_too_large';
    case 'PAYLOAD_TOO_LARGE':
    case 'TOO_MANY_ELEMENTS':
      return 'too_large';
    case 'CLIENT_GONE':
      return 'client_gone';
    default:
      return 'invalid';
  }
}
