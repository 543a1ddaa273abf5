import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { expectError, post } from '../helpers/http.js';

/**
 * The bad-input battery: every invalid body gets its documented 4xx, the error shape, and a
 * message that names the field (and the position where there is one). It runs twice: on an app
 * that validates small bodies inline on the main thread, and on one that sends every body to a
 * worker (inlineMaxBytes 0), since the errors must cross the thread boundary intact. Afterwards
 * both still answer a good request.
 */

const ENDPOINTS = ['argmax', 'softmax', 'sparsemax', 'entmax', 'gumbel-softmax', 'sample'] as const;
const SEEDED = ['gumbel-softmax', 'sample'] as const;

interface Case {
  name: string;
  url: string;
  /** An object is sent as JSON; a string is sent as is. */
  body: unknown;
  status: number;
  code: string;
  message: RegExp;
  /** The issues[0].path, where the error has a position. */
  path?: (string | number)[];
  headers?: Record<string, string>;
}

const row50 = Array.from({ length: 50 }, (_, j) => j / 10);

/** Bad logits matrices: every endpoint takes logits, and must refuse all of these. */
function matrixCases(ep: string): Case[] {
  const url = `/v1/${ep}`;
  const c = (name: string, body: unknown, message: RegExp, path?: (string | number)[]): Case => ({
    name: `${ep}: ${name}`,
    url,
    body,
    status: 400,
    code: 'INVALID_REQUEST',
    message,
    path,
  });
  return [
    c('logits a string', { logits: 'abc' }, /^logits must be an array/, ['logits']),
    c('logits a number', { logits: 3 }, /^logits must be an array/, ['logits']),
    c('logits an object', { logits: { 0: [1] } }, /^logits must be an array/, ['logits']),
    c('logits a vector', { logits: [1, 2, 3] }, /^logits\[0\] must be an array/, ['logits', 0]),
    c('a row not an array', { logits: [[1, 2], 3] }, /^logits\[1\] must be an array/, ['logits', 1]),
    c('empty matrix []', { logits: [] }, /^logits must have at least one row/, ['logits']),
    c('empty row [[]]', { logits: [[]] }, /^logits\[0\] must have at least one class/, ['logits', 0]),
    c(
      'ragged rows',
      { logits: [row50, row50, row50.slice(1)] },
      /^rows have different lengths: row 0 has 50, row 2 has 49$/,
      ['logits', 2],
    ),
    c('a string entry', { logits: [[1, 2], [3, 'x']] }, /^logits\[1\]\[1\] must be a number or null$/, ['logits', 1, 1]),
    c('"NaN"', { logits: [[0, 'NaN']] }, /^logits\[0\]\[1\] must be a number or null$/, ['logits', 0, 1]),
    c('"Infinity"', { logits: [['Infinity', 0]] }, /^logits\[0\]\[0\] must be a number or null$/, ['logits', 0, 0]),
    c('a boolean entry', { logits: [[true]] }, /^logits\[0\]\[0\] must be a number or null$/, ['logits', 0, 0]),
    c('a nested array entry', { logits: [[[1]]] }, /^logits\[0\]\[0\] must be a number or null$/, ['logits', 0, 0]),
    c('1e400 (JSON.parse: Infinity)', '{"logits":[[1,2],[3,1e400]]}', /^logits\[1\]\[1\] must be a finite number/, ['logits', 1, 1]),
    c('-1e400', '{"logits":[[-1e400]]}', /^logits\[0\]\[0\] must be a finite number/, ['logits', 0, 0]),
    c(
      'a row entirely null',
      { logits: [[1, 2], [null, null]] },
      /^logits\[1\] has every class masked/,
      ['logits', 1],
    ),
    c('unknown field', { logits: [[1]], foo: 1 }, /^unknown field\(s\): foo$/, ['foo']),
    c('__proto__ field', '{"logits":[[1]],"__proto__":{"x":1}}', /__proto__/),
    c('body an array', '[[1, 2]]', /request body must be a JSON object/),
    c('body a number', '42', /request body must be a JSON object/),
    c('body a string', '"logits"', /request body must be a JSON object/),
    c('body null', 'null', /request body must be a JSON object/),
    c('invalid JSON', '{"logits": [[1, 2]', /request body is not valid JSON/),
    c('invalid JSON (NaN literal)', '{"logits": [[NaN]]}', /request body is not valid JSON/),
    c('empty body', '', /request body is not valid JSON/),
  ];
}

const scalarCases: Case[] = [
  ...ENDPOINTS.filter((e) => !SEEDED.includes(e as never)).map(
    (ep): Case => ({
      name: `${ep}: no logits`,
      url: `/v1/${ep}`,
      body: {},
      status: 400,
      code: 'INVALID_REQUEST',
      message: /^logits is required/,
      path: ['logits'],
    }),
  ),
  ...(['softmax', 'sparsemax', 'entmax', 'gumbel-softmax'] as const).flatMap((ep): Case[] => [
    { name: `${ep}: temperature 0`, url: `/v1/${ep}`, body: { logits: [[1]], temperature: 0 }, status: 400, code: 'INVALID_REQUEST', message: /^temperature must be > 0$/, path: ['temperature'] },
    { name: `${ep}: temperature -1`, url: `/v1/${ep}`, body: { logits: [[1]], temperature: -1 }, status: 400, code: 'INVALID_REQUEST', message: /^temperature must be > 0$/, path: ['temperature'] },
    { name: `${ep}: temperature "1"`, url: `/v1/${ep}`, body: { logits: [[1]], temperature: '1' }, status: 400, code: 'INVALID_REQUEST', message: /^temperature must be a number$/, path: ['temperature'] },
    { name: `${ep}: temperature 1e400`, url: `/v1/${ep}`, body: '{"logits":[[1]],"temperature":1e400}', status: 400, code: 'INVALID_REQUEST', message: /^temperature must be/, path: ['temperature'] },
  ]),
  { name: 'argmax: temperature is not a field', url: '/v1/argmax', body: { logits: [[1]], temperature: 1 }, status: 400, code: 'INVALID_REQUEST', message: /temperature/ },
  { name: 'softmax: probs is not accepted', url: '/v1/softmax', body: { probs: [[1]] }, status: 400, code: 'INVALID_REQUEST', message: /probs/ },
  { name: 'softmax: log not a boolean', url: '/v1/softmax', body: { logits: [[1]], log: 1 }, status: 400, code: 'INVALID_REQUEST', message: /^log must be a boolean$/, path: ['log'] },
  { name: 'entmax: alpha 0.5', url: '/v1/entmax', body: { logits: [[1]], alpha: 0.5 }, status: 400, code: 'INVALID_REQUEST', message: /^alpha must be >= 1$/, path: ['alpha'] },
  { name: 'entmax: alpha 0.999', url: '/v1/entmax', body: { logits: [[1]], alpha: 0.999 }, status: 400, code: 'INVALID_REQUEST', message: /^alpha must be >= 1$/, path: ['alpha'] },
  { name: 'entmax: alpha null', url: '/v1/entmax', body: { logits: [[1]], alpha: null }, status: 400, code: 'INVALID_REQUEST', message: /^alpha must be a number$/, path: ['alpha'] },
  { name: 'sample: alpha 0.5', url: '/v1/sample', body: { logits: [[1]], mapping: 'entmax', alpha: 0.5 }, status: 400, code: 'INVALID_REQUEST', message: /^alpha must be >= 1$/, path: ['alpha'] },
  { name: 'gumbel-softmax: hard not a boolean', url: '/v1/gumbel-softmax', body: { logits: [[1]], hard: 'yes' }, status: 400, code: 'INVALID_REQUEST', message: /^hard must be a boolean$/, path: ['hard'] },
  { name: 'sample: temperature -0.5', url: '/v1/sample', body: { logits: [[1]], temperature: -0.5 }, status: 400, code: 'INVALID_REQUEST', message: /^temperature must be >= 0$/, path: ['temperature'] },
  { name: 'sample: topP 0', url: '/v1/sample', body: { logits: [[1]], topP: 0 }, status: 400, code: 'INVALID_REQUEST', message: /^topP must be a number in \(0, 1\]$/, path: ['topP'] },
  { name: 'sample: topP 1.5', url: '/v1/sample', body: { logits: [[1]], topP: 1.5 }, status: 400, code: 'INVALID_REQUEST', message: /^topP must be a number in \(0, 1\]$/, path: ['topP'] },
  { name: 'sample: topK 0', url: '/v1/sample', body: { logits: [[1]], topK: 0 }, status: 400, code: 'INVALID_REQUEST', message: /^topK must be an integer >= 1$/, path: ['topK'] },
  { name: 'sample: topK 1.5', url: '/v1/sample', body: { logits: [[1]], topK: 1.5 }, status: 400, code: 'INVALID_REQUEST', message: /^topK must be an integer >= 1$/, path: ['topK'] },
  { name: 'sample: minP -0.1', url: '/v1/sample', body: { logits: [[1]], minP: -0.1 }, status: 400, code: 'INVALID_REQUEST', message: /^minP must be a number in \[0, 1\]$/, path: ['minP'] },
  { name: 'sample: minP 1.1', url: '/v1/sample', body: { logits: [[1]], minP: 1.1 }, status: 400, code: 'INVALID_REQUEST', message: /^minP must be a number in \[0, 1\]$/, path: ['minP'] },
  { name: 'sample: n 0', url: '/v1/sample', body: { logits: [[1]], n: 0 }, status: 400, code: 'INVALID_REQUEST', message: /^n must be an integer >= 1$/, path: ['n'] },
  { name: 'sample: n 2.5', url: '/v1/sample', body: { logits: [[1]], n: 2.5 }, status: 400, code: 'INVALID_REQUEST', message: /^n must be an integer >= 1$/, path: ['n'] },
  { name: 'sample: mapping argmax', url: '/v1/sample', body: { logits: [[1]], mapping: 'argmax' }, status: 400, code: 'INVALID_REQUEST', message: /^mapping must be one of softmax, sparsemax, entmax$/, path: ['mapping'] },
  {
    name: 'sample: n over the element limit',
    url: '/v1/sample',
    body: { logits: [[1, 2]], n: 10_000_000 },
    status: 413,
    code: 'TOO_MANY_ELEMENTS',
    message: /^logits: 1 x 2 x 10000000 = 20000000 elements is over the limit of 16777216$/,
  },
  ...SEEDED.flatMap((ep): Case[] => [
    ...[-1, 2 ** 53, 1.5, '7', null].map(
      (seed): Case => ({
        name: `${ep}: seed ${JSON.stringify(seed)}`,
        url: `/v1/${ep}`,
        body: { logits: [[1, 2]], seed },
        status: 400,
        code: 'INVALID_REQUEST',
        message: /^seed must be an integer in \[0, 2\^53\)$/,
        path: ['seed'],
      }),
    ),
    // JSON.parse rounds these to integers (9007199254740991, 0, -0): the seed's text decides.
    ...['9007199254740991.4', '1e-400', '-1e-400', '0.5e0'].map(
      (seed): Case => ({
        name: `${ep}: seed ${seed} (as text)`,
        url: `/v1/${ep}`,
        body: `{"logits":[[1,2]],"seed":${seed}}`,
        status: 400,
        code: 'INVALID_REQUEST',
        message: /^seed must be an integer in \[0, 2\^53\)$/,
        path: ['seed'],
      }),
    ),
    {
      name: `${ep}: seed 1e-400 in a body the byte scanner reads`,
      url: `/v1/${ep}`,
      body: `{"logits":[[${Array.from({ length: 9000 }, (_, j) => j % 7).join(',')}]],"seed":1e-400}`,
      status: 400,
      code: 'INVALID_REQUEST',
      message: /^seed must be an integer in \[0, 2\^53\)$/,
      path: ['seed'],
    },
    { name: `${ep}: both logits and probs`, url: `/v1/${ep}`, body: { logits: [[1]], probs: [[1]] }, status: 400, code: 'INVALID_REQUEST', message: /logits.*probs/ },
    { name: `${ep}: neither logits nor probs`, url: `/v1/${ep}`, body: { seed: 1 }, status: 400, code: 'INVALID_REQUEST', message: /logits or probs/ },
    { name: `${ep}: probs negative`, url: `/v1/${ep}`, body: { probs: [[0.5, 0.6], [0.5, -0.1]] }, status: 400, code: 'INVALID_REQUEST', message: /^probs\[1\]\[1\] must be a finite non-negative number$/, path: ['probs', 1, 1] },
    { name: `${ep}: probs null entry`, url: `/v1/${ep}`, body: { probs: [[null, 1]] }, status: 400, code: 'INVALID_REQUEST', message: /^probs\[0\]\[0\] must be a finite non-negative number$/, path: ['probs', 0, 0] },
    { name: `${ep}: probs "0.5"`, url: `/v1/${ep}`, body: { probs: [[1, '0.5']] }, status: 400, code: 'INVALID_REQUEST', message: /^probs\[0\]\[1\] must be a finite non-negative number$/, path: ['probs', 0, 1] },
    { name: `${ep}: probs 1e400`, url: `/v1/${ep}`, body: '{"probs":[[1e400, 1]]}', status: 400, code: 'INVALID_REQUEST', message: /^probs\[0\]\[0\] must be a finite non-negative number$/, path: ['probs', 0, 0] },
    { name: `${ep}: probs row summing to 0`, url: `/v1/${ep}`, body: { probs: [[1, 1], [0, 0]] }, status: 400, code: 'INVALID_REQUEST', message: /^probs\[1\] sums to 0/, path: ['probs', 1] },
    { name: `${ep}: probs ragged`, url: `/v1/${ep}`, body: { probs: [[1, 1], [1]] }, status: 400, code: 'INVALID_REQUEST', message: /^rows have different lengths: row 0 has 2, row 1 has 1$/, path: ['probs', 1] },
    { name: `${ep}: probs []`, url: `/v1/${ep}`, body: { probs: [] }, status: 400, code: 'INVALID_REQUEST', message: /^probs must have at least one row$/, path: ['probs'] },
  ]),
];

const mediaCases: Case[] = [
  {
    name: 'Content-Type text/plain',
    url: '/v1/softmax',
    body: '{"logits":[[1,2]]}',
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: /Content-Type/,
  },
  {
    name: 'Content-Type application/x-www-form-urlencoded',
    url: '/v1/argmax',
    body: 'logits=1',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: /Content-Type/,
  },
  {
    name: 'Content-Type text/plain with a body over inlineMaxBytes',
    url: '/v1/argmax',
    body: JSON.stringify({ logits: [Array.from({ length: 20_000 }, (_, j) => j)] }),
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'UNSUPPORTED_MEDIA_TYPE',
    message: /Content-Type/,
  },
  {
    name: 'unknown route',
    url: '/v1/softmaxx',
    body: { logits: [[1]] },
    status: 404,
    code: 'NOT_FOUND',
    message: /\/v1\/softmaxx/,
  },
];

const ALL: Case[] = [...ENDPOINTS.flatMap(matrixCases), ...scalarCases, ...mediaCases];

describe.each([
  ['inline (main thread)', { inlineMaxBytes: 64 * 1024, inlineMaxNs: 1_000_000 }],
  ['pool (every body to a worker)', { inlineMaxBytes: 0, inlineMaxNs: 0 }],
])('bad input, %s', (_where, overrides) => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildApp({ workers: 1, logLevel: 'silent', ...overrides });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
  });

  it.each(ALL.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await post(app, c.url, c.body, c.headers);
    const err = expectError(res, c.status, c.code);
    expect(err.message).toMatch(c.message);
    if (c.path) {
      expect(err.issues, 'issues').toBeDefined();
      expect(err.issues![0].path).toEqual(c.path);
    }
  });

  it('echoes at most 20 unknown keys, with a count of the rest (400,000 keys: 4.7 MB in)', async () => {
    for (const n of [2_000, 400_000]) {
      const body: Record<string, unknown> = { logits: [[1, 2]] };
      for (let i = 0; i < n; i++) body[`k${i}`] = 1;
      const res = await post(app, '/v1/sample', body);
      const err = expectError(res, 400, 'INVALID_REQUEST');
      const first = Array.from({ length: 20 }, (_, i) => `k${i}`);
      expect(err.message).toBe(`unknown field(s): ${first.join(', ')}, ... and ${(n - 20).toLocaleString('en-US')} more`);
      expect(err.issues).toEqual([{ path: first, message: err.message }]);
      expect(res.body.length).toBeLessThan(1000);
    }
  });

  it('accepts a seed written 4.2e1 or -0 as the integer it is', async () => {
    const at42 = await post(app, '/v1/sample', '{"logits":[[3,2,1]],"n":8,"seed":42}');
    expect(at42.statusCode).toBe(200);
    for (const seed of ['42.0', '4.2e1', '420e-1']) {
      const res = await post(app, '/v1/sample', `{"logits":[[3,2,1]],"n":8,"seed":${seed}}`);
      expect(res.body, seed).toBe(at42.body);
    }
    const zero = await post(app, '/v1/gumbel-softmax', '{"logits":[[3,2,1]],"seed":-0}');
    expect(zero.body).toBe((await post(app, '/v1/gumbel-softmax', '{"logits":[[3,2,1]],"seed":0}')).body);
    expect(JSON.parse(zero.body).seed).toBe(0);
  });

  it('still answers a good request after the battery, on every endpoint', async () => {
    for (const ep of ENDPOINTS) {
      const res = await post(app, `/v1/${ep}`, { logits: [[3, 2, 1]], ...(SEEDED.includes(ep as never) ? { seed: 1 } : {}) });
      expect(res.statusCode, `${ep}: ${res.body}`).toBe(200);
    }
    const ready = await app.inject({ method: 'GET', url: '/health/ready' });
    expect(ready.statusCode).toBe(200);
  });
});

describe('limits', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildApp({ workers: 1, logLevel: 'silent', maxBodyBytes: 4096, maxElements: 100 });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('413 PAYLOAD_TOO_LARGE for a body over maxBodyBytes', async () => {
    const body = JSON.stringify({ logits: [Array.from({ length: 1000 }, (_, j) => j + 0.5)] });
    expect(body.length).toBeGreaterThan(4096);
    const err = expectError(await post(app, '/v1/softmax', body), 413, 'PAYLOAD_TOO_LARGE');
    expect(err.message).toMatch(/body.*4096 bytes/);
  });

  it('413 PAYLOAD_TOO_LARGE from the Content-Length alone', async () => {
    const err = expectError(
      await app.inject({
        method: 'POST',
        url: '/v1/argmax',
        headers: { 'content-type': 'application/json', 'content-length': '5000' },
        payload: 'x'.repeat(5000),
      }),
      413,
      'PAYLOAD_TOO_LARGE',
    );
    expect(err.message).toMatch(/4096/);
  });

  it('413 TOO_MANY_ELEMENTS for rows x classes over maxElements; at the limit is fine', async () => {
    const at = { logits: Array.from({ length: 10 }, () => Array(10).fill(0)) };
    expect((await post(app, '/v1/argmax', at)).statusCode).toBe(200);
    const over = { logits: Array.from({ length: 11 }, () => Array(10).fill(0)) };
    const err = expectError(await post(app, '/v1/argmax', over), 413, 'TOO_MANY_ELEMENTS');
    expect(err.message).toBe('logits: 11 x 10 = 110 elements is over the limit of 100');
  });

  it('413 TOO_MANY_ELEMENTS counts the n draws of /v1/sample', async () => {
    expect((await post(app, '/v1/sample', { logits: [[1, 2]], n: 50, seed: 1 })).statusCode).toBe(200);
    const err = expectError(await post(app, '/v1/sample', { probs: [[1, 2]], n: 51, seed: 1 }), 413, 'TOO_MANY_ELEMENTS');
    expect(err.message).toMatch(/^probs: 1 x 2 x 51 = 102 elements/);
  });

  it('404 NOT_FOUND for unknown routes, as JSON', async () => {
    for (const [method, url] of [
      ['GET', '/nope'],
      ['POST', '/v3/softmax'],
      ['POST', '/v1/softmax/extra'],
    ] as const) {
      const err = expectError(await app.inject({ method, url }), 404, 'NOT_FOUND');
      expect(err.message).toContain(url);
    }
  });

  it('405 METHOD_NOT_ALLOWED with Allow: POST for other methods on the /v1 routes', async () => {
    for (const [method, url] of [
      ['GET', '/v1/argmax'],
      ['DELETE', '/v1/softmax'],
      ['PUT', '/v1/sample?seed=1'],
      ['OPTIONS', '/v1/entmax'],
    ] as const) {
      const res = await app.inject({ method, url });
      const err = expectError(res, 405, 'METHOD_NOT_ALLOWED');
      expect(res.headers.allow).toBe('POST');
      expect(err.message).toBe(`${method} is not allowed on ${url.split('?')[0]} (allowed: POST)`);
    }
    const head = await app.inject({ method: 'HEAD', url: '/v1/gumbel-softmax' });
    expect(head.statusCode).toBe(405);
    expect(head.headers.allow).toBe('POST');
  });

  it('415 (not a 500) for a POST with no body and no Content-Type, on every endpoint', async () => {
    for (const ep of ENDPOINTS) {
      for (const headers of [{}, { 'content-length': '0' }]) {
        const err = expectError(await app.inject({ method: 'POST', url: `/v1/${ep}`, headers }), 415, 'UNSUPPORTED_MEDIA_TYPE');
        expect(err.message).toBe('Content-Type must be application/json (none was given)');
      }
    }
  });
});
