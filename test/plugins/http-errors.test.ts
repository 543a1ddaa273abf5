import { Writable } from 'node:stream';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import metricsPlugin from '../../src/plugins/metrics.js';
import metricsRoutes from '../../src/routes/metrics.js';
import { frameworkErrors, MAX_URL_LENGTH } from '../../src/plugins/http-errors.js';
import {
  expectError,
  hasFinalResponse,
  listenLocal,
  parseResponses,
  rawExchange,
  rejectedCount,
  type Listening,
} from '../helpers/http.js';

/**
 * Requests refused before any route runs, by Node's parser, Fastify's router or Node's own
 * checks (src/plugins/http-errors.ts), and the 405 / 404 of src/plugins/errors.ts, written as
 * raw bytes on a TCP connection to a real server on 127.0.0.1: each gets one response in the
 * contract's shape with a documented code and an x-request-id, is counted in
 * anymax_rejected_requests_total under its reason, and the connection is then closed.
 */

const ID = 'raw-test-1';
const BODY = '{"logits":[[1,2]]}';

/** An HTTP/1.1 request; `headers` are whole lines. Connection: close unless a line sets it. */
function req(method: string, path: string, headers: string[], body = '', version = 'HTTP/1.1'): string {
  const all = headers.some((h) => /^connection:/i.test(h)) ? headers : [...headers, 'Connection: close'];
  return `${method} ${path} ${version}\r\n${all.map((h) => `${h}\r\n`).join('')}\r\n${body}`;
}

const json = (body: string, extra: string[] = []) => [
  'Host: x',
  `X-Request-Id: ${ID}`,
  'Content-Type: application/json',
  `Content-Length: ${Buffer.byteLength(body)}`,
  ...extra,
];

interface Case {
  name: string;
  request: string;
  status: number;
  code: string;
  reason: string;
  /** The answer echoes the caller's x-request-id (requests that reached Fastify). */
  echoesId?: boolean;
  allow?: string;
  halfClose?: boolean;
}

const CASES: Case[] = [
  // The empty POST (a 500 before), and bodies Fastify's parser refuses.
  { name: 'POST, no body, no Content-Type, no Content-Length', request: req('POST', '/v1/argmax', ['Host: x', `X-Request-Id: ${ID}`]), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', reason: 'media_type', echoesId: true },
  { name: 'POST, no body, no Content-Type, Content-Length: 0', request: req('POST', '/v1/softmax', ['Host: x', `X-Request-Id: ${ID}`, 'Content-Length: 0']), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', reason: 'media_type', echoesId: true },
  { name: 'POST, a body, no Content-Type', request: req('POST', '/v1/argmax', ['Host: x', `X-Request-Id: ${ID}`, `Content-Length: ${BODY.length}`], BODY), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', reason: 'media_type', echoesId: true },
  { name: 'POST, empty body, application/json', request: req('POST', '/v1/argmax', json('')), status: 400, code: 'INVALID_REQUEST', reason: 'invalid', echoesId: true },
  { name: 'POST, Content-Type text/plain', request: req('POST', '/v1/argmax', json(BODY).map((h) => h.replace('application/json', 'text/plain')), BODY), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', reason: 'media_type', echoesId: true },
  { name: 'POST, Content-Type application/jsonx', request: req('POST', '/v1/argmax', json(BODY).map((h) => h.replace('application/json', 'application/jsonx')), BODY), status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', reason: 'media_type', echoesId: true },
  // Framing: Node's parser (llhttp).
  { name: 'bad chunk size', request: req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked'], 'zz\r\nabc\r\n0\r\n\r\n'), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'chunk size overflowing', request: req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked'], 'fffffffffffffffff\r\nabc\r\n0\r\n\r\n'), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'Content-Length with Transfer-Encoding', request: req('POST', '/v1/argmax', json(BODY, ['Transfer-Encoding: chunked']), `${BODY.length.toString(16)}\r\n${BODY}\r\n0\r\n\r\n`), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'Transfer-Encoding not ending in chunked', request: req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Transfer-Encoding: gzip'], BODY), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'two Content-Length, different', request: req('POST', '/v1/argmax', json(BODY, ['Content-Length: 3']), BODY), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'two Content-Length, equal', request: req('POST', '/v1/argmax', json(BODY, [`Content-Length: ${BODY.length}`]), BODY), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'Content-Length not a number', request: req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Content-Length: abc'], BODY), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'Content-Length negative', request: req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Content-Length: -1'], BODY), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'body shorter than Content-Length, then EOF', request: req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Content-Length: 100'], BODY), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed', halfClose: true },
  // Request line and headers.
  { name: 'request line garbage', request: 'GARBAGE\r\n\r\n', status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'unknown method', request: req('FOO', '/v1/argmax', ['Host: x']), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'HTTP/9.9', request: req('GET', '/health/live', ['Host: x'], '', 'HTTP/9.9'), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'bare LF line ends', request: 'GET /health/live HTTP/1.1\nHost: x\nConnection: close\n\n', status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'space before a header colon', request: req('GET', '/health/live', ['Host: x', 'X-A : 1']), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'NUL in a header value', request: req('GET', '/health/live', ['Host: x', 'X-A: a\x00b']), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed' },
  { name: 'headers over the limit', request: req('GET', '/health/live', ['Host: x', `X-Big: ${'a'.repeat(20_000)}`]), status: 431, code: 'HEADERS_TOO_LARGE', reason: 'headers_too_large' },
  { name: 'URL over the header limit', request: req('GET', `/${'a'.repeat(20_000)}`, ['Host: x']), status: 431, code: 'HEADERS_TOO_LARGE', reason: 'headers_too_large' },
  { name: `URL over ${MAX_URL_LENGTH} characters`, request: req('GET', `/v1/${'a'.repeat(MAX_URL_LENGTH)}`, ['Host: x', `X-Request-Id: ${ID}`]), status: 414, code: 'URI_TOO_LONG', reason: 'uri_too_long', echoesId: true },
  { name: 'chunk extensions over the limit', request: req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked'], `1;${'e'.repeat(20_000)}\r\na\r\n0\r\n\r\n`), status: 413, code: 'PAYLOAD_TOO_LARGE', reason: 'too_large' },
  // Fastify's router.
  { name: 'bad percent-encoding (%zz)', request: req('GET', '/v1/%zz', ['Host: x', `X-Request-Id: ${ID}`]), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed', echoesId: true },
  { name: 'bad percent-encoding (%ff, not UTF-8)', request: req('POST', '/v1/argmax%ff', json(BODY), BODY), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed', echoesId: true },
  // What Node answered with bare 400 / 417 before.
  { name: 'Expect other than 100-continue', request: req('POST', '/v1/argmax', json(BODY, ['Expect: teapot']), BODY), status: 417, code: 'EXPECTATION_FAILED', reason: 'expectation_failed', echoesId: true },
  { name: 'HTTP/1.1 without Host', request: req('GET', '/health/live', [`X-Request-Id: ${ID}`]), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed', echoesId: true },
  { name: 'two Host headers', request: req('GET', '/health/live', ['Host: x', 'Host: y', `X-Request-Id: ${ID}`]), status: 400, code: 'MALFORMED_REQUEST', reason: 'malformed', echoesId: true },
  // Methods and paths.
  { name: 'GET on a /v1 route', request: req('GET', '/v1/argmax', ['Host: x', `X-Request-Id: ${ID}`]), status: 405, code: 'METHOD_NOT_ALLOWED', reason: 'method_not_allowed', echoesId: true, allow: 'POST' },
  { name: 'PUT on a /v1 route, with a body', request: req('PUT', '/v1/sample', json(BODY), BODY), status: 405, code: 'METHOD_NOT_ALLOWED', reason: 'method_not_allowed', echoesId: true, allow: 'POST' },
  { name: 'OPTIONS on a /v1 route', request: req('OPTIONS', '/v1/entmax?x=1', ['Host: x', `X-Request-Id: ${ID}`]), status: 405, code: 'METHOD_NOT_ALLOWED', reason: 'method_not_allowed', echoesId: true, allow: 'POST' },
  { name: 'POST on /health/live', request: req('POST', '/health/live', json(BODY), BODY), status: 405, code: 'METHOD_NOT_ALLOWED', reason: 'method_not_allowed', echoesId: true, allow: 'GET, HEAD' },
  { name: 'DELETE on /metrics', request: req('DELETE', '/metrics', ['Host: x', `X-Request-Id: ${ID}`]), status: 405, code: 'METHOD_NOT_ALLOWED', reason: 'method_not_allowed', echoesId: true, allow: 'GET, HEAD' },
  { name: 'POST on /openapi.json', request: req('POST', '/openapi.json', json(BODY), BODY), status: 405, code: 'METHOD_NOT_ALLOWED', reason: 'method_not_allowed', echoesId: true, allow: 'GET, HEAD' },
  { name: 'PATCH under a wildcard route (/docs/static/*)', request: req('PATCH', '/docs/static/anything', ['Host: x', `X-Request-Id: ${ID}`]), status: 405, code: 'METHOD_NOT_ALLOWED', reason: 'method_not_allowed', echoesId: true, allow: 'GET, HEAD' },
  { name: 'unknown path stays 404', request: req('GET', '/v3/argmax', ['Host: x', `X-Request-Id: ${ID}`]), status: 404, code: 'NOT_FOUND', reason: 'not_found', echoesId: true },
  { name: 'unknown path, POST, stays 404', request: req('POST', '/v1/argmax/extra', json(BODY), BODY), status: 404, code: 'NOT_FOUND', reason: 'not_found', echoesId: true },
];

/** Requests at the edge that must succeed. */
const ACCEPTED: { name: string; request: string; status: number; head?: boolean }[] = [
  { name: 'application/json; charset=utf-8', request: req('POST', '/v1/argmax', json(BODY).map((h) => h.replace('application/json', 'application/json; charset=utf-8')), BODY), status: 200 },
  { name: 'Application/JSON ; charset="UTF-8"', request: req('POST', '/v1/argmax', json(BODY).map((h) => h.replace('application/json', 'Application/JSON ; charset="UTF-8"')), BODY), status: 200 },
  { name: 'chunked body', request: req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked'], `${BODY.length.toString(16)}\r\n${BODY}\r\n0\r\n\r\n`), status: 200 },
  { name: 'Expect: 100-continue', request: req('POST', '/v1/argmax', json(BODY, ['Expect: 100-continue']), BODY), status: 200 },
  { name: 'HTTP/1.0 without Host', request: 'GET /health/live HTTP/1.0\r\n\r\n', status: 200 },
  { name: 'absolute-form URL', request: req('GET', 'http://x/health/live', ['Host: x']), status: 200 },
  { name: 'HEAD on a GET route', request: req('HEAD', '/health/live', ['Host: x']), status: 200, head: true },
  // llhttp takes a request line without a version as HTTP/0.9 and Node answers it.
  { name: 'a request line without a version', request: 'GET /health/live\r\n\r\n', status: 200 },
];

/** Collects the service's JSON log lines. */
class Lines extends Writable {
  lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim()) this.lines.push(JSON.parse(l));
    cb();
  }
}

let s: Listening;
const log = new Lines();

beforeAll(async () => {
  s = await listenLocal({ logLevel: 'info', logStream: log });
});

afterAll(async () => {
  await s?.app.close();
});

describe('refused requests, over a raw socket', () => {
  it.each(CASES)('$name: $status $code', async (c) => {
    const before = await rejectedCount(s.app, c.reason);
    const ex = await rawExchange(s.port, c.request, { halfClose: c.halfClose, timeoutMs: 10_000 });
    expect(ex.closed, 'the server closes the connection').toBe(true);
    const { responses, rest } = parseResponses(ex.data);
    expect(rest.length, ex.data.toString('latin1')).toBe(0);
    expect(responses).toHaveLength(1);
    const res = responses[0];
    expectError(res, c.status, c.code);
    if (c.echoesId) expect(res.headers['x-request-id']).toBe(ID);
    if (c.allow !== undefined) expect(res.headers.allow).toBe(c.allow);
    else expect(res.headers.allow).toBeUndefined();
    expect(Number(res.headers['content-length'])).toBe(Buffer.byteLength(res.body));
    expect(await rejectedCount(s.app, c.reason)).toBe(before + 1);
    // The id the client got is the one in the service's log.
    expect(log.lines.some((l) => l.requestId === res.headers['x-request-id'] && l.status === c.status)).toBe(true);
  });

  it.each(ACCEPTED)('accepts $name', async (c) => {
    const ex = await rawExchange(s.port, c.request, { timeoutMs: 10_000 });
    const final = parseResponses(ex.data, { head: c.head }).responses.filter((r) => r.statusCode >= 200);
    expect(final).toHaveLength(1);
    expect(final[0].statusCode, final[0].body).toBe(c.status);
  });

  it('answers a request refused mid-body with a keep-alive connection, then still serves', async () => {
    const bad = req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked', 'Connection: keep-alive'], '5\r\n{"log\r\nzz\r\n');
    const ex = await rawExchange(s.port, bad, { timeoutMs: 10_000 });
    expect(ex.closed).toBe(true);
    expectError(parseResponses(ex.data).responses[0], 400, 'MALFORMED_REQUEST');
    const ok = await rawExchange(s.port, req('POST', '/v1/argmax', json(BODY), BODY), { timeoutMs: 10_000 });
    expect(parseResponses(ok.data).responses[0]).toMatchObject({ statusCode: 200, body: '{"indices":[1]}' });
  });

  it('a good request pipelined before a malformed one is answered first, then the connection closes', async () => {
    const good = req('GET', '/health/live', ['Host: x', 'Connection: keep-alive']);
    const ex = await rawExchange(s.port, `${good}GARBAGE\r\n\r\n`, { timeoutMs: 10_000 });
    expect(ex.closed).toBe(true);
    const { responses } = parseResponses(ex.data);
    expect(responses[0]).toMatchObject({ statusCode: 200, body: '{"status":"ok"}' });
    // The malformed one gets its 400 only if the first answer was already out; never a mix-up.
    expect(responses.length).toBeLessThanOrEqual(2);
    if (responses.length === 2) expectError(responses[1], 400, 'MALFORMED_REQUEST');
  });
});

describe('timeouts (408)', () => {
  let t: Listening;

  beforeAll(async () => {
    // Node checks for expired requests every connectionsCheckingInterval (30 s by default).
    t = await listenLocal({}, { headersTimeout: 300, requestTimeout: 600, connectionsCheckingInterval: 50 });
  });

  afterAll(async () => {
    await t?.app.close();
  });

  it.each([
    { name: 'headers never finished', request: 'POST /v1/argmax HTTP/1.1\r\nHost: x\r\n' },
    { name: 'body never finished', request: req('POST', '/v1/argmax', ['Host: x', 'Content-Type: application/json', 'Content-Length: 100'], BODY) },
  ])('$name: 408 REQUEST_TIMEOUT, counted', async (c) => {
    const [before, beforeAll] = [await rejectedCount(t.app, 'request_timeout'), await rejectedCount(t.app)];
    // Bounded: the server must give up within its 600 ms request timeout plus a check interval.
    const ex = await rawExchange(t.port, c.request, { timeoutMs: 5000 });
    expect(ex.closed).toBe(true);
    const res = parseResponses(ex.data).responses;
    expect(res).toHaveLength(1);
    const body = expectError(res[0], 408, 'REQUEST_TIMEOUT');
    expect(body.message).toMatch(/headers within 300 ms, the whole request within 600 ms/);
    const ok = await rawExchange(t.port, req('POST', '/v1/argmax', json(BODY), BODY), { timeoutMs: 5000 });
    expect(parseResponses(ok.data).responses[0]?.statusCode).toBe(200);
    // Counted once: the route waiting for the rest of the body is not counted again when its
    // connection goes (checked after a later request, by when that has happened).
    expect(await rejectedCount(t.app, 'request_timeout')).toBe(before + 1);
    expect(await rejectedCount(t.app)).toBe(beforeAll + 1);
  });
});

describe('frameworkErrors on a parametric route (the service has none)', () => {
  it('a path parameter over maxParamLength: 414 URI_TOO_LONG, counted', async () => {
    const app = Fastify({ frameworkErrors, routerOptions: { maxParamLength: 8 } });
    try {
      await app.register(metricsPlugin);
      await app.register(metricsRoutes);
      app.get('/p/:id', async () => ({ ok: true }));
      const short = await app.inject({ method: 'GET', url: '/p/short' });
      expect(short.statusCode, short.body).toBe(200);
      const res = await app.inject({ method: 'GET', url: '/p/much-too-long' });
      expectError(res, 414, 'URI_TOO_LONG');
      expect(await rejectedCount(app, 'uri_too_long')).toBe(1);
    } finally {
      await app.close();
    }
  });
});
