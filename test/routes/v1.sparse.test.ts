import { describe, expect, it } from 'vitest';
import { build, expectError, post } from '../helpers/http.js';
import { expectOipError, infer, readAnswer } from '../helpers/oip.js';
import { loadReferenceCases } from '../helpers/reference.js';
import { rng } from '../helpers/stats.js';

/**
 * format: "sparse" of /v1/sparsemax and /v1/entmax (issue 9): each row's classes with p > 0 in
 * ascending order, their probabilities and their count, checked against the dense answer of the
 * same request; the big answer streamed; OIP's padded tensors.
 */

const server = build({ workers: 2 });

interface Dense {
  probs: number[][];
  support: number[];
}
interface Sparse {
  indices: number[][];
  values: number[][];
  support: number[];
}

/** The sparse form of a dense answer, computed here from its rows. */
function sparseOf(d: Dense): Sparse {
  const indices = d.probs.map((row) => row.flatMap((p, j) => (p > 0 ? [j] : [])));
  const values = d.probs.map((row) => row.filter((p) => p > 0));
  return { indices, values, support: indices.map((r) => r.length) };
}

/**
 * The start of a body {"logits": rows x cols} (no closing brace) of standard normal logits with
 * 3 decimals, written a row per turn: one stringify of the whole matrix stalls this thread, which
 * is also the service's, past under-pressure's limit on a loaded machine.
 */
async function bigBody(rows: number, cols: number): Promise<string> {
  const next = rng(21);
  const parts: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row = new Array<string>(cols);
    for (let j = 0; j < cols; j++) row[j] = (Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next())).toFixed(3);
    parts.push(`[${row.join(',')}]`);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return `{"logits":[${parts.join(',')}]`;
}

async function answer<T>(url: string, body: unknown): Promise<{ json: T; bytes: number; streamed: boolean }> {
  const res = await post(server.app, url, body);
  expect(res.statusCode, res.body.slice(0, 300)).toBe(200);
  return { json: JSON.parse(res.body) as T, bytes: res.rawPayload.length, streamed: res.headers['content-length'] === undefined };
}

describe('format sparse over HTTP', () => {
  const cases = loadReferenceCases().filter((c) => c.mapping === 'sparsemax' || c.mapping === 'entmax');

  it('covers the reference cases of both mappings', () => {
    expect(cases.some((c) => c.mapping === 'sparsemax')).toBe(true);
    expect(cases.some((c) => c.mapping === 'entmax')).toBe(true);
  });

  it.each(cases.map((c) => [c.name, c] as const))('%s: the dense answer\'s non-zeros, and its support', async (_name, c) => {
    const url = `/v1/${c.mapping}`;
    const body = { logits: c.logits, temperature: c.temperature, ...(c.mapping === 'entmax' ? { alpha: c.alpha } : {}) };
    const dense = await answer<Dense>(url, body);
    const explicit = await post(server.app, url, { ...body, format: 'dense' });
    expect(explicit.body).toBe(JSON.stringify(dense.json)); // the default, byte for byte
    const sparse = await answer<Sparse>(url, { ...body, format: 'sparse' });
    expect(Object.keys(sparse.json)).toEqual(['indices', 'values', 'support']);
    expect(sparse.json).toEqual(sparseOf(dense.json));
    expect(sparse.json.support).toEqual(c.support);
  });

  it('64 x 32000 is streamed, equals the dense answer\'s non-zeros, and is a small fraction of its bytes', async () => {
    const body = await bigBody(64, 32_000);
    for (const [url, extra] of [
      ['/v1/sparsemax', ''],
      ['/v1/entmax', ',"alpha":1.5'],
    ] as const) {
      const dense = await answer<Dense>(url, `${body}${extra}}`);
      const sparse = await answer<Sparse>(url, `${body}${extra},"format":"sparse"}`);
      expect(dense.streamed, url).toBe(true);
      expect(sparse.streamed, url).toBe(true);
      expect(sparse.json).toEqual(sparseOf(dense.json));
      // Megabytes of zeros against the kept classes' kilobytes.
      expect(dense.bytes, url).toBeGreaterThan(4_000_000);
      expect(sparse.bytes * 20, url).toBeLessThan(dense.bytes);
      const support = sparse.json.support;
      console.log(`${url} 64 x 32000: dense ${dense.bytes} bytes, sparse ${sparse.bytes} bytes, support ${Math.min(...support)}-${Math.max(...support)}`);
    }
  });

  it('400 for another format, naming the field', async () => {
    for (const format of ['csr', 1, null, 'SPARSE']) {
      const err = expectError(await post(server.app, '/v1/sparsemax', { logits: [[1, 2]], format }), 400, 'INVALID_REQUEST');
      expect(err.issues).toEqual([{ path: ['format'], message: 'format must be one of dense, sparse' }]);
    }
    expectError(await post(server.app, '/v1/softmax', { logits: [[1, 2]], format: 'sparse' }), 400, 'INVALID_REQUEST');
  });
});

describe('format sparse over OIP (/v2): padded [rows, classes] tensors', () => {
  const logits = [
    [3, 2, 1, -5],
    [0, 0, 0, 0],
    [null, 1, null, 1],
  ];
  const request = (extra: Record<string, unknown> = {}, outputs?: unknown[]) => ({
    parameters: { format: 'sparse', ...extra },
    inputs: [{ name: 'logits', datatype: 'FP64', shape: [3, 4], data: logits }],
    ...(outputs ? { outputs } : {}),
  });

  it('each row\'s entries first, then indices -1 and values 0; support as is', async () => {
    for (const binary of [false, true]) {
      const a = readAnswer(await infer(server.app, 'sparsemax', request(binary ? { binary_data_output: true } : {})));
      expect([...a.outputs.keys()]).toEqual(['indices', 'values', 'support']);
      expect(a.outputs.get('indices')).toMatchObject({ datatype: 'INT64', shape: [3, 4], values: [0, -1, -1, -1, 0, 1, 2, 3, 1, 3, -1, -1] });
      expect(a.outputs.get('values')).toMatchObject({ datatype: 'FP64', shape: [3, 4], values: [1, 0, 0, 0, 0.25, 0.25, 0.25, 0.25, 0.5, 0.5, 0, 0] });
      expect(a.outputs.get('support')).toMatchObject({ datatype: 'INT64', shape: [3], values: [1, 4, 2] });
    }
  });

  it('refuses classification of a padded output, and sparse outputs without format sparse', async () => {
    const msg = expectOipError(await infer(server.app, 'entmax', request({}, [{ name: 'values', parameters: { classification: 2 } }])), 400);
    expect(msg).toMatch(/^outputs\[0\]\.parameters\.classification: values is a padded sparse output/);
    const other = expectOipError(await infer(server.app, 'entmax', { ...request(), parameters: {}, outputs: [{ name: 'indices' }] }), 400);
    expect(other).toMatch(/indices.*only with other parameters/);
  });
});
