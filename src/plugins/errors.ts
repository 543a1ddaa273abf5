import type { FastifyError, FastifyInstance, FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.js';

/**
 * The one error handler: every error, ours or Fastify's, leaves as the contract's
 * {"statusCode", "code", "error", "message"} JSON. Stack traces are logged, never sent.
 */

/** Fastify's own error codes that are the client's fault, mapped to ours. */
const FASTIFY_CODES: Record<string, { status: number; code: ApiError['code']; reason: string }> = {
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'PAYLOAD_TOO_LARGE', reason: 'too_large' },
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', reason: 'media_type' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'INVALID_REQUEST', reason: 'invalid' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'INVALID_REQUEST', reason: 'invalid' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'INVALID_REQUEST', reason: 'invalid' },
};

export function send(reply: FastifyReply, e: ApiError): FastifyReply {
  if (e.retryAfter !== undefined) reply.header('retry-after', String(e.retryAfter));
  return reply.code(e.statusCode).type('application/json').send(JSON.stringify(e.toJSON()));
}

export default fp(
  async function errorsPlugin(app: FastifyInstance, opts: { maxBodyBytes: number }) {
    app.setErrorHandler((err: FastifyError | ApiError, request, reply) => {
      if (err instanceof ApiError) {
        if (err.statusCode >= 500) request.log.error({ code: err.code }, err.message);
        else app.metrics.rejected.inc({ reason: reasonOf(err) });
        return send(reply, err);
      }
      const known = FASTIFY_CODES[(err as FastifyError).code];
      if (known) {
        app.metrics.rejected.inc({ reason: known.reason });
        const message =
          known.code === 'PAYLOAD_TOO_LARGE'
            ? `the request body is over the limit of ${opts.maxBodyBytes} bytes`
            : known.code === 'UNSUPPORTED_MEDIA_TYPE'
              ? `Content-Type must be application/json (got ${JSON.stringify(request.headers['content-type'] ?? '')})`
              : err.message;
        return send(reply, new ApiError(known.status, known.code, message));
      }
      const status = (err as FastifyError).statusCode;
      if (status !== undefined && status >= 400 && status < 500) {
        app.metrics.rejected.inc({ reason: 'invalid' });
        return send(reply, new ApiError(status, 'INVALID_REQUEST', err.message));
      }
      request.log.error({ err }, 'unhandled error');
      return send(reply, new ApiError(500, 'INTERNAL', 'internal server error'));
    });

    app.setNotFoundHandler((request, reply) => {
      app.metrics.rejected.inc({ reason: 'not_found' });
      return send(reply, new ApiError(404, 'NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`));
    });
  },
  { name: 'anymax-errors', dependencies: ['anymax-metrics'] },
);

/** The rejected-requests label of a 4xx (503s are counted where they arise, in the pool). */
function reasonOf(e: ApiError): string {
  switch (e.code) {
    case 'PAYLOAD_TOO_LARGE':
    case 'TOO_MANY_ELEMENTS':
      return 'too_large';
    case 'CLIENT_GONE':
      return 'client_gone';
    default:
      return 'invalid';
  }
}
