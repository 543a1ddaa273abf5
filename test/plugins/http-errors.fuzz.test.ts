import { Writable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectError, listenLocal, parseResponses, rawExchange, rejectedCount, type Listening } from '../helpers/http.js';

/**
 * Whatever bytes arrive on a connection, the server never answers 5xx: each answer is a 2xx or
 * the contract's JSON error (documented code, x-request-id), every such error is counted, no
 * error is logged, and the connection is closed once the client has sent everything (the
 * client shuts its side after writing, so a request cut short is seen as such, not waited
 * for). Inputs: valid requests mutated at the byte level (flips, inserts of HTTP-significant
 * tokens, deletions, truncations, duplications) and at the syntax level (method, path,
 * version, headers, line ends, body, pipelining), and random bytes. After every run a valid
 * request still succeeds. Real server on 127.0.0.1, raw TCP; bounded runs (FC_RUNS, default
 * 200) with a 5 s limit each. (fast-check's seed is fixed in test/setup.ts.)
 */

const RUNS = Number(process.env.FC_RUNS ?? 200);

const BODY = '{"logits":[[1,2,3]]}';
const h = (method: string, path: string, headers: string[], body = '') =>
  `${method} ${path} HTTP/1.1\r\n${headers.map((x) => `${x}\r\n`).join('')}\r\n${body}`;
const jsonHeaders = (body: string) => ['Host: x', 'Content-Type: application/json', `Content-Length: ${body.length}`];
const chunked = (body: string) => `${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`;

const VALID = [
  h('POST', '/v1/argmax', jsonHeaders(BODY), BODY),
  h('POST', '/v1/softmax', jsonHeaders('{"logits":[[1,2],[3,4]],"temperature":0.5}'), '{"logits":[[1,2],[3,4]],"temperature":0.5}'),
  h('POST', '/v1/sample', jsonHeaders('{"logits":[[0,1,2]],"n":3,"seed":7}'), '{"logits":[[0,1,2]],"n":3,"seed":7}'),
  h('POST', '/v1/entmax', ['Host: x', 'Content-Type: application/json', 'Transfer-Encoding: chunked'], chunked(BODY)),
  h('GET', '/health/live', ['Host: x', 'X-Request-Id: fuzz-1']),
  h('GET', '/health/ready', ['Host: x']),
];

/** Bytes that mean something to an HTTP/1.1 parser. */
const TOKENS = [
  '\r\n', '\n', '\r', ' ', '\t', ':', '\x00', '\x7f', '\xff', '%', '%zz', '%ff', '?', '#', ';', ',', '"',
  '\r\n\r\n', '0\r\n\r\n', 'ffffffffffffffffff\r\n', '-1', 'chunked', 'HTTP/1.1', 'HTTP/1.0',
  'Transfer-Encoding: chunked\r\n', 'Transfer-Encoding: gzip\r\n', 'Content-Length: 0\r\n', 'Content-Length: 5\r\n',
  'Content-Length: -1\r\n', 'Content-Length: 1e3\r\n', 'Content-Length: 99999999999999999999\r\n', 'Host: y\r\n', 'Host:\r\n',
  'Expect: 100-continue\r\n', 'Expect: nope\r\n', 'Content-Type: text/plain\r\n', 'Content-Type: application/json; charset=utf-8\r\n',
  'Connection: close\r\n', 'Connection: keep-alive\r\n', 'Connection: Upgrade\r\nUpgrade: websocket\r\n', 'X-Request-Id: ../\r\n',
  'GET / HTTP/1.1\r\n\r\n', 'POST /v1/argmax HTTP/1.1\r\nHost: x\r\n\r\n',
];
const METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'TRACE', 'CONNECT', 'PRI', 'PROPFIND', 'SEARCH', 'QUERY', 'FOO', 'get', 'P OST', ''];
const PATHS = [
  '/v1/argmax', '/v1/softmax', '/v1/%zz', '/v1/argmax%ff', '*', 'http://x/v1/argmax', '//v1/argmax', '/v1/argmax/',
  '/v1/argmax?a=%zz', `/${'a'.repeat(9000)}`, '/health/live#x', '/../etc/passwd', '/v1/ARGMAX', '/v1/argm%61x', '',
  '/v1/argmax;x', '/metrics', '/openapi.json', '/docs/static/x', '/v1/%00', 'v1/argmax',
];
const VERSIONS = ['HTTP/1.0', 'HTTP/1.1', 'HTTP/2.0', 'HTTP/1.2', 'http/1.1', 'HTTP/1', 'HTTP/1.1 x', ''];
const BODIES = ['', '{', '{}', 'null', '[]', '{"logits":[]}', '{"logits":[[1e400]]}', '\xff\xfe{', BODY.repeat(3)];

const latin1 = (bytes: Uint8Array) => Buffer.from(bytes).toString('latin1');
const at = (s: string, frac: number) => Math.floor(frac * (s.length + 1));
const frac = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const token = fc.oneof(fc.constantFrom(...TOKENS), fc.uint8Array({ minLength: 1, maxLength: 8 }).map(latin1));

/** One change to a request (a latin1 string, one char per byte). */
const mutation: fc.Arbitrary<(s: string) => string> = fc.oneof(
  // Bytes.
  fc.tuple(frac, fc.integer({ min: 0, max: 255 })).map(([f, b]) => (s: string) => {
    const i = Math.min(at(s, f), s.length - 1);
    return s.slice(0, i) + String.fromCharCode(b) + s.slice(i + 1);
  }),
  { weight: 2, arbitrary: fc.tuple(frac, token).map(([f, t]) => (s: string) => s.slice(0, at(s, f)) + t + s.slice(at(s, f))) },
  fc.tuple(frac, fc.integer({ min: 1, max: 32 })).map(([f, n]) => (s: string) => s.slice(0, at(s, f)) + s.slice(at(s, f) + n)),
  frac.map((f) => (s: string) => s.slice(0, Math.max(1, at(s, f)))),
  fc.tuple(frac, fc.integer({ min: 1, max: 64 })).map(([f, n]) => (s: string) => {
    const i = at(s, f);
    return s.slice(0, i) + s.slice(i, i + n) + s.slice(i);
  }),
  // Syntax.
  { weight: 2, arbitrary: fc.constantFrom(...METHODS).map((m) => (s: string) => s.replace(/^[^ ]*/, m)) },
  { weight: 2, arbitrary: fc.constantFrom(...PATHS).map((p) => (s: string) => s.replace(/^([^ ]*) [^ ]*/, `$1 ${p}`)) },
  fc.constantFrom(...VERSIONS).map((v) => (s: string) => s.replace(/HTTP\/1\.1\r\n/, `${v}\r\n`)),
  { weight: 3, arbitrary: fc.constantFrom(...TOKENS.filter((t) => t.endsWith('\r\n') && t.includes(':'))).map((line) => (s: string) => s.replace('\r\n', `\r\n${line}`)) },
  fc.constantFrom('Host', 'Content-Type', 'Content-Length', 'Transfer-Encoding').map((name) => (s: string) => s.replace(new RegExp(`${name}:[^\r]*\r\n`, 'i'), '')),
  fc.constant((s: string) => s.replace(/\r\n/g, '\n')),
  // A new body, with its Content-Length (if any) made to fit, so that it reaches the route.
  { weight: 2, arbitrary: fc.constantFrom(...BODIES).map((b) => (s: string) => {
    const end = s.indexOf('\r\n\r\n');
    const head = end < 0 ? s : s.slice(0, end + 4);
    return head.replace(/Content-Length: \d+/i, `Content-Length: ${b.length}`) + b;
  }) },
  fc.constantFrom(...VALID).map((v) => (s: string) => s + v),
);

const input = fc.oneof(
  { weight: 6, arbitrary: fc.tuple(fc.constantFrom(...VALID), fc.array(mutation, { minLength: 1, maxLength: 3 })).map(([v, ms]) => ms.reduce((s, m) => m(s), v)) },
  { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 600 }).map(latin1) },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...TOKENS, ...METHODS, ...PATHS, ...VERSIONS), { minLength: 1, maxLength: 20 }).map((a) => a.join('')) },
);

/** Collects the service's log lines at error level or above. */
class Errors extends Writable {
  lines: string[] = [];
  override _write(chunk: Buffer, _enc: string, cb: () => void) {
    for (const l of chunk.toString('utf8').split('\n')) if (l.trim() && (JSON.parse(l) as { level: number }).level >= 50) this.lines.push(l);
    cb();
  }
}

let s: Listening;
const errors = new Errors();

beforeAll(async () => {
  s = await listenLocal({ logLevel: 'info', logStream: errors });
});

afterAll(async () => {
  await s?.app.close();
});

describe('raw bytes on a socket', () => {
  it('never a 5xx: 2xx or the contract JSON (counted), the connection closed, the server alive', async () => {
    const before = await rejectedCount(s.app);
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(input, async (request) => {
        const ex = await rawExchange(s.port, request, { halfClose: true, timeoutMs: 5000 });
        expect(ex.closed, 'the server closes the connection').toBe(true);
        const { responses, rest } = parseResponses(ex.data);
        expect(rest.toString('latin1'), 'an incomplete response').toBe('');
        for (const res of responses) {
          if (res.statusCode < 200) continue;
          expect(res.statusCode, res.body).toBeLessThan(500);
          if (res.statusCode >= 400) {
            expectError(res, res.statusCode);
            refused++;
          }
        }
        const ok = await rawExchange(s.port, `${VALID[0].replace('\r\n\r\n', '\r\nConnection: close\r\n\r\n')}`, { timeoutMs: 5000 });
        expect(parseResponses(ok.data).responses[0]).toMatchObject({ statusCode: 200, body: '{"indices":[2]}' });
      }),
      { numRuns: RUNS },
    );
    // Every refusal answered was counted (more may be: one refused with its connection gone).
    expect(await rejectedCount(s.app)).toBeGreaterThanOrEqual(before + refused);
    expect(refused).toBeGreaterThan(RUNS / 4);
    expect(errors.lines).toEqual([]);
  });
});
