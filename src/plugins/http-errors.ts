import { randomUUID } from 'node:crypto';
import { maxHeaderSize as defaultMaxHeaderSize, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError, quote, reasonPhrase } from '../errors.js';
import { answeredOnSocket, countRejected, errorBody, send } from './errors.js';

/**
 * The contract for what is refused before any route runs. Three layers answer such requests,
 * and each is made to answer with the contract's JSON, an x-request-id and a count in
 * anymax_rejected_requests_total:
 *  - Node's HTTP parser (llhttp) and request timeouts: the server's 'clientError' event, which
 *    Fastify hands to the `clientErrorHandler` option (clientErrorHandler below). There is no
 *    request there, only the socket, so the answer is written on it as a whole HTTP/1.1
 *    response and the socket is closed: the parser cannot go on after an error.
 *  - Fastify's router, for URLs it cannot decode: the `frameworkErrors` option (below).
 *  - Node's own answers to a request it parsed: a bare 400 for an HTTP/1.1 request without
 *    Host (off with requireHostHeader = false) and a bare 417 for an Expect other than
 *    100-continue (off while 'checkExpectation' has a listener). Both are handed to Fastify
 *    and refused by this plugin's onRequest hook.
 */

/** Longer URLs get 414 (ours are short paths; Node's header limit bounds what can arrive). */
export const MAX_URL_LENGTH = 8192;


/**
 * A complete HTTP/1.1 response carrying e, for writing on a socket that has no ServerResponse;
 * `url`, when the request's target could be read, decides the shape (/v2's is OIP's).
 */
export function rawResponse(e: ApiError, requestId: string, url?: string): string {
  const body = errorBody(e, url);
  return (
    `HTTP/1.1 ${e.statusCode} ${reasonPhrase(e.statusCode)}\r\n` +
    'content-type: application/json; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    `date: ${new Date().toUTCString()}\r\n` +
    'connection: close\r\n' +
    '\r\n' +
    body
  );
}

/** The contract's answer to a 'clientError', or undefined for a connection that is only broken. */
function clientErrorOf(err: Error & { code?: string; reason?: string }, server: Server): ApiError | undefined {
  const code = err.code ?? '';
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return new ApiError(
      408,
      'REQUEST_TIMEOUT',
      `the request did not arrive in time (headers within ${server.headersTimeout} ms, ` +
        `the whole request within ${server.requestTimeout} ms)`,
    );
  }
  if (code === 'HPE_HEADER_OVERFLOW') {
    // The server's own maxHeaderSize option if set, else Node's (--max-http-header-size).
    const limit = (server as Server & { maxHeaderSize?: number }).maxHeaderSize || defaultMaxHeaderSize;
    return new ApiError(431, 'HEADERS_TOO_LARGE', `the request line and headers are over the limit of ${limit} bytes`);
  }
  if (code === 'HPE_CHUNK_EXTENSIONS_OVERFLOW') {
    return new ApiError(413, 'PAYLOAD_TOO_LARGE', 'the chunk extensions of the request body are over the limit');
  }
  if (code === 'HPE_INVALID_EOF_STATE') {
    return new ApiError(400, 'MALFORMED_REQUEST', 'the connection was shut before the request was complete (HPE_INVALID_EOF_STATE)');
  }
  if (code.startsWith('HPE_')) {
    // llhttp's reasons are fixed strings ("Duplicate Content-Length", "Invalid character in
    // chunk size"), safe and useful to pass on.
    const why = err.reason ?? err.message;
    return new ApiError(400, 'MALFORMED_REQUEST', `the request is not valid HTTP/1.1: ${why} (${code})`);
  }
  // ECONNRESET, EPIPE, ...: nobody is listening for an answer.
  return undefined;
}

/**
 * Fastify's `clientErrorHandler` (bound to the Fastify instance): Node's 'clientError'. Replaces
 * Fastify's default, which writes a body without `code` or request id and counts nothing.
 */
export function clientErrorHandler(this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  // Once per socket: a broken parser reports every later chunk again.
  if (answeredOnSocket.has(socket)) return;
  const e = clientErrorOf(err, this.server);
  if (!e || socket.destroyed || !socket.writable) {
    socket.destroy();
    return;
  }
  answeredOnSocket.add(socket);
  const requestId = randomUUID();
  countRejected(this, e);
  this.log.info({ requestId, status: e.statusCode, code: e.code, cause: err.code }, 'client error');
  // A response in flight on this socket, for a request already read in full, belongs to an
  // earlier pipelined request: bytes written now would be taken for its answer (Node's default
  // writes its 400 there all the same if that answer has not started). Let it go out, then
  // close, leaving the malformed request unanswered.
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight && (inFlight.headersSent || inFlight.req.complete)) {
    inFlight.once('close', () => socket.destroy());
    return;
  }
  socket.write(rawResponse(e, requestId, targetOf(err, socket)));
  socket.destroy();
}

/**
 * The request target of a refused request, when it can be told: from the bytes the parser failed
 * on (the request line is in them when the error is in the head), or from the request Node had
 * begun (a body that timed out). Only to choose the error's shape (/v2's or the contract's).
 */
function targetOf(err: Error & { rawPacket?: unknown }, socket: Socket): string | undefined {
  const incoming = (socket as Socket & { parser?: { incoming?: IncomingMessage | null } | null }).parser?.incoming;
  if (incoming?.url) return incoming.url;
  if (Buffer.isBuffer(err.rawPacket)) {
    const m = /^[A-Z]+ (\S+) HTTP\//.exec(err.rawPacket.toString('latin1', 0, Math.min(err.rawPacket.length, 2048)));
    if (m) return m[1];
  }
  return undefined;
}

/** Fastify's `frameworkErrors`: its router could not take the URL (before any hook runs). */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const path = request.raw.url ?? '';
  let e: ApiError;
  if (err.code === 'FST_ERR_BAD_URL') {
    e = new ApiError(400, 'MALFORMED_REQUEST', `the URL is not valid (bad percent-encoding): ${quote(path)}`);
  } else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    e = new ApiError(414, 'URI_TOO_LONG', `a path parameter of the URL is too long: ${quote(path)}`);
  } else {
    // FST_ERR_ASYNC_CONSTRAINT (we have no async constraints) or anything new: our fault.
    request.log.error({ err }, 'unhandled framework error');
    e = new ApiError(500, 'INTERNAL', 'internal server error');
  }
  if (e.statusCode < 500) countRejected(request.server, e);
  // No hook runs on this path: echo the id and write the access-log line here.
  reply.header('x-request-id', request.id);
  if (e.code === 'MALFORMED_REQUEST') reply.header('connection', 'close');
  request.log.info({ route: 'unmatched', method: request.method, status: e.statusCode }, 'request');
  send(reply, e);
}

/** How many Host header lines a request has. */
function hostCount(rawHeaders: string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i].length === 4 && rawHeaders[i].toLowerCase() === 'host') n++;
  return n;
}

export default fp(
  async function httpErrorsPlugin(app: FastifyInstance) {
    // Requests Node would answer with a bare 417 (HTTP/1.1, Expect other than 100-continue, as
    // Node decides it): handed on to Fastify as ordinary requests, marked for the hook below.
    const expectationFailed = new WeakSet<IncomingMessage>();
    // Node's check for a missing Host (a bare 400) is off; the hook below makes it. Node reads
    // this server property on each request, so it can be set here rather than among the
    // http.createServer options that app.ts passes to Fastify.
    (app.server as Server & { requireHostHeader: boolean }).requireHostHeader = false;
    app.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
      expectationFailed.add(req);
      app.server.emit('request', req, res);
    });

    app.addHook('onRequest', async (request, reply) => {
      const raw = request.raw;
      let e: ApiError | undefined;
      // RFC 9112 3.2: a 400 for an HTTP/1.1 request without Host, and for any with several.
      const hosts = hostCount(raw.rawHeaders);
      if (hosts > 1 || (hosts === 0 && raw.httpVersion === '1.1')) {
        e = new ApiError(400, 'MALFORMED_REQUEST', 'the request must carry exactly one Host header (HTTP/1.1 requires it)');
      } else if (expectationFailed.has(raw)) {
        e = new ApiError(417, 'EXPECTATION_FAILED', `Expect ${quote(String(raw.headers.expect))} is not supported (only 100-continue is)`);
      } else if (request.url.length > MAX_URL_LENGTH) {
        e = new ApiError(414, 'URI_TOO_LONG', `the URL is over the limit of ${MAX_URL_LENGTH} characters`);
      }
      if (e) {
        countRejected(app, e);
        // As Node did for a missing Host: a request not well-formed ends its connection.
        if (e.code === 'MALFORMED_REQUEST') reply.header('connection', 'close');
        return send(reply, e);
      }
    });
  },
  { name: 'anymax-http-errors', dependencies: ['anymax-metrics', 'anymax-errors'] },
);
