import { request as httpRequest, type Agent, type Server } from 'node:http';
import { connect } from 'node:net';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, expect } from 'vitest';
import { buildApp, type BuildOptions } from '../../src/app.js';
import { ERROR_CODES, STATUS_OF } from '../../src/errors.js';

/** Helpers shared by the service tests (test/routes, test/plugins, test/app, test/server). */

/** POSTs a JSON body (an object is stringified; a string is sent as is). */
export function post(
  app: FastifyInstance,
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<LightMyRequestResponse> {
  return app.inject({
    method: 'POST',
    url,
    payload: typeof body === 'string' || Buffer.isBuffer(body) ? body : JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
}

export interface ErrorBody {
  statusCode: number;
  code: string;
  error: string;
  message: string;
  issues?: { path: (string | number)[]; message: string }[];
}

/** An answer as inject gives it, or as parseResponses reads it off a socket. */
export interface HttpAnswer {
  statusCode: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
}

/** Asserts the contract's error shape, status and x-request-id; returns the parsed body. */
export function expectError(res: HttpAnswer, status: number, code?: string): ErrorBody {
  expect(res.statusCode, res.body).toBe(status);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  expect(res.headers['x-request-id'], 'x-request-id').toMatch(/^[\w.:-]{1,128}$/);
  const body = JSON.parse(res.body) as ErrorBody;
  expect(body.statusCode).toBe(status);
  expect(ERROR_CODES).toContain(body.code);
  expect(STATUS_OF[body.code as keyof typeof STATUS_OF], `the status of ${body.code}`).toBe(status);
  expect(typeof body.error).toBe('string');
  expect(body.error.length).toBeGreaterThan(0);
  expect(typeof body.message).toBe('string');
  expect(body.message.length).toBeGreaterThan(0);
  if (code !== undefined) expect(body.code).toBe(code);
  const allowed = new Set(['statusCode', 'code', 'error', 'message', 'issues']);
  for (const k of Object.keys(body)) expect(allowed.has(k), `unexpected key ${k}`).toBe(true);
  if (body.issues !== undefined) {
    expect(Array.isArray(body.issues)).toBe(true);
    for (const i of body.issues) {
      expect(Array.isArray(i.path)).toBe(true);
      expect(typeof i.message).toBe('string');
    }
  }
  if (status === 503) expect(res.headers['retry-after']).toMatch(/^\d+$/);
  return body;
}

/** Polls fn until it returns true, or fails after timeoutMs. */
export async function waitFor(fn: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Waits until none of the apps sheds load: a test that builds a big body synchronously stalls
 * the event loop the in-process apps share, and their next request would get 503 OVERLOADED.
 * under-pressure samples the loop once a second and reads a sample window with no turn as an
 * infinite delay, so the stall shows only at the next sample: one sample period first.
 */
export async function untilCalm(...apps: FastifyInstance[]): Promise<void> {
  await new Promise((r) => setTimeout(r, 1100));
  await waitFor(() => apps.every((a) => !a.isUnderPressure()), 10_000, 'the apps to leave under-pressure');
}

/** Rejects if p has not settled within ms (so a hung request fails the test instead of hanging it). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// Here for the tests that import it from this file; it lives in ./stats.ts, which does not
// import vitest, so scripts run with tsx (test/fixtures/record-v1-corpus.ts) can use it too.
export { randomLogits } from './stats.js';

/** One sample of a Prometheus text exposition. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromText {
  types: Map<string, string>;
  help: Map<string, string>;
  samples: PromSample[];
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+-?\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*(,|$)/y;

/**
 * A small parser of the Prometheus text format (version 0.0.4): "# HELP" / "# TYPE" comments,
 * and every other non-empty line `name{label="value",...} value [timestamp]`. Throws on a line
 * that does not fit, so a malformed exposition fails the test.
 */
export function parseProm(text: string): PromText {
  const types = new Map<string, string>();
  const help = new Map<string, string>();
  const samples: PromSample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) ?(.*)$/.exec(line);
      if (m?.[1] === 'TYPE') types.set(m[2], m[3]);
      else if (m?.[1] === 'HELP') help.set(m[2], m[3]);
      continue;
    }
    const m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    if (m[2] !== undefined && m[2] !== '') {
      LABEL.lastIndex = 0;
      let pos = 0;
      while (pos < m[2].length) {
        LABEL.lastIndex = pos;
        const l = LABEL.exec(m[2]);
        if (!l) throw new Error(`bad labels in ${JSON.stringify(line)}`);
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
        pos = LABEL.lastIndex;
      }
    }
    const raw = m[3];
    // Prometheus parses values with Go's ParseFloat: NaN and Inf in any case (prom-client writes "Nan").
    const special = /^([+-]?)(inf|nan)$/i.exec(raw);
    const value = special ? (special[2].toLowerCase() === 'nan' ? NaN : special[1] === '-' ? -Infinity : Infinity) : Number(raw);
    if (Number.isNaN(value) && !special) throw new Error(`bad value in ${JSON.stringify(line)}`);
    samples.push({ name: m[1], labels, value });
  }
  return { types, help, samples };
}

/** The value of the one sample with this name whose labels include `labels`; 0 if none. */
export function promValue(p: PromText, name: string, labels: Record<string, string> = {}): number {
  const found = p.samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (found.length > 1) throw new Error(`${found.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

export async function scrape(app: FastifyInstance): Promise<PromText> {
  const res = await app.inject({ method: 'GET', url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^text\/plain/);
  return parseProm(res.body);
}

/** A built app listening on 127.0.0.1 at a port of the system's choosing, for socket tests. */
export interface Listening {
  app: FastifyInstance;
  port: number;
  base: string;
}

/**
 * Builds the app and listens on 127.0.0.1:0. `server` may set properties of the Node server
 * before it listens (headersTimeout, requestTimeout, connectionsCheckingInterval, which Node
 * reads when listening starts).
 */
export async function listenLocal(
  options: BuildOptions = {},
  server: Partial<Pick<Server, 'headersTimeout' | 'requestTimeout'>> & { connectionsCheckingInterval?: number } = {},
): Promise<Listening> {
  const app = await buildApp({ workers: 1, logLevel: 'silent', ...options });
  Object.assign(app.server, server);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const addr = app.server.address();
  if (!addr || typeof addr === 'string') throw new Error('no address');
  return { app, port: addr.port, base: `http://127.0.0.1:${addr.port}` };
}

/**
 * The app of a test file or describe block: built before its tests and closed after them
 * (vitest's hooks), so a test file does not repeat the setup. Read `.app` inside tests.
 */
export function build(options: BuildOptions = {}): { readonly app: FastifyInstance } {
  let app: FastifyInstance | undefined;
  beforeAll(async () => {
    app = await buildApp({ workers: 1, logLevel: 'silent', ...options });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });
  return {
    get app() {
      if (!app) throw new Error('build(): the app is read outside a test');
      return app;
    },
  };
}

/** What came back on a raw connection. */
export interface Exchange {
  /** Every byte the server sent. */
  data: Buffer;
  /** The server closed (or reset) the connection before the timeout. */
  closed: boolean;
  /** A socket error seen (ECONNRESET after the server's close is one). */
  error?: string;
}

/**
 * Writes `request` (as is, in one write) on a fresh TCP connection and collects what comes back
 * until the server closes the connection or timeoutMs passes. With `halfClose` the client shuts
 * its sending side after writing, so a server waiting for more of the request sees the end.
 * `until` may end the wait early (e.g. once one complete response is in).
 */
export function rawExchange(
  port: number,
  request: string | Uint8Array,
  opts: { timeoutMs?: number; halfClose?: boolean; until?: (data: Buffer) => boolean } = {},
): Promise<Exchange> {
  const { timeoutMs = 5000, halfClose = false, until } = opts;
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    let settled = false;
    const sock = connect({ host: '127.0.0.1', port });
    const finish = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      sock.destroy();
      resolve({ data: Buffer.concat(chunks), closed, error });
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    sock.on('data', (d: Buffer) => {
      chunks.push(d);
      if (until?.(Buffer.concat(chunks))) finish(false);
    });
    sock.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    sock.on('close', () => finish(true));
    sock.on('connect', () => {
      sock.write(typeof request === 'string' ? Buffer.from(request, 'latin1') : request);
      if (halfClose) sock.end();
    });
  });
}

/** One HTTP/1.x response read off a socket (headers lower-cased, repeated ones joined by ", "). */
export interface RawResponse extends HttpAnswer {
  headers: Record<string, string>;
  statusLine: string;
}

/**
 * Parses the responses in `data`, in order: a status line, headers, then a body of
 * Content-Length bytes or chunked (1xx, 204 and 304 have none; with neither length nor
 * chunking the body runs to the end). Stops at an incomplete response (`rest` holds it); throws
 * on bytes that are not an HTTP/1.x response. `head`: the answers are to HEAD requests (no body).
 */
export function parseResponses(data: Buffer, opts: { head?: boolean } = {}): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = [];
  let at = 0;
  while (at < data.length) {
    const headEnd = data.indexOf('\r\n\r\n', at, 'latin1');
    if (headEnd < 0) break;
    const [statusLine, ...lines] = data.subarray(at, headEnd).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(statusLine);
    if (!m) throw new Error(`not an HTTP response: ${JSON.stringify(data.subarray(at, at + 80).toString('latin1'))}`);
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) throw new Error(`bad header line ${JSON.stringify(line)}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    const statusCode = Number(m[1]);
    let bodyStart = headEnd + 4;
    let body: Buffer;
    if (opts.head || statusCode < 200 || statusCode === 204 || statusCode === 304) {
      body = Buffer.alloc(0);
    } else if (/\bchunked\b/i.test(headers['transfer-encoding'] ?? '')) {
      const parts: Buffer[] = [];
      let p = bodyStart;
      let done = false;
      for (;;) {
        const eol = data.indexOf('\r\n', p, 'latin1');
        if (eol < 0) break;
        const size = parseInt(data.subarray(p, eol).toString('latin1'), 16);
        if (!Number.isFinite(size)) throw new Error('bad chunk size in a response');
        if (size === 0) {
          const end = data.indexOf('\r\n\r\n', eol, 'latin1');
          if (end >= 0) [done, p] = [true, end + 4];
          break;
        }
        if (eol + 2 + size + 2 > data.length) break;
        parts.push(data.subarray(eol + 2, eol + 2 + size));
        p = eol + 2 + size + 2;
      }
      if (!done) break;
      body = Buffer.concat(parts);
      bodyStart = p;
    } else if (headers['content-length'] !== undefined) {
      const n = Number(headers['content-length']);
      if (bodyStart + n > data.length) break;
      body = data.subarray(bodyStart, bodyStart + n);
      bodyStart += n;
    } else {
      body = data.subarray(bodyStart);
      bodyStart = data.length;
    }
    responses.push({ statusLine, statusCode, headers, body: body.toString('utf8') });
    at = bodyStart;
  }
  return { responses, rest: data.subarray(at) };
}

/** Whether data holds at least one complete final (non-1xx) response. */
export function hasFinalResponse(data: Buffer): boolean {
  try {
    return parseResponses(data).responses.some((r) => r.statusCode >= 200);
  } catch {
    return true;
  }
}

/** The anymax_rejected_requests_total sample for `reason` (all reasons summed if omitted). */
export async function rejectedCount(app: FastifyInstance, reason?: string): Promise<number> {
  const m = await scrape(app);
  if (reason !== undefined) return promValue(m, 'anymax_rejected_requests_total', { reason });
  return m.samples.filter((s) => s.name === 'anymax_rejected_requests_total').reduce((a, s) => a + s.value, 0);
}

/** A request on a fresh connection (no agent unless given) to 127.0.0.1:port; status and text. */
export function send(
  port: number,
  method: string,
  path: string,
  body?: string,
  agent: Agent | false = false,
): Promise<{ status: number; body: string; connection: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent,
        headers: body === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, connection: res.headers.connection }));
        res.on('error', reject);
      },
    );
    req.setTimeout(60_000, () => req.destroy(new Error(`${method} ${path} timed out`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** Resolves 'refused' or 'accepted' for a fresh TCP connection. */
export function tryConnect(port: number): Promise<'refused' | 'accepted'> {
  return new Promise((resolve, reject) => {
    const sock = connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve('accepted');
    });
    sock.once('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNREFUSED' ? resolve('refused') : reject(e)));
  });
}
