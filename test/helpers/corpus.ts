import { createHash } from 'node:crypto';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { DEFAULTS, type Config } from '../../src/config.js';
import { randomLogits } from './stats.js';

/**
 * The /v1 answer corpus (test/fixtures/v1-corpus.json): requests with the exact answers the
 * service gave when it was recorded (test/fixtures/record-v1-corpus.ts), replayed by
 * test/routes/v1.corpus.test.ts. Shared here: the apps the corpus runs on, how a stored request
 * becomes bytes, how an answer is stored, and how a replayed answer is compared with it.
 */

/**
 * The apps the corpus runs on. Overrides choose the path a request takes, never its answer
 * (test/routes/v1.determinism.test.ts checks that); each is here to reach something cheaply.
 */
export const CORPUS_APPS = {
  /** The shipped thresholds, two workers. */
  default: { workers: 2 },
  /** Pool from 1k elements and split from 2k: every endpoint's split path without a 1M-element body. */
  smallSplit: { workers: 2, inlineMaxNs: 1_000, splitMinWork: 2048 },
  /** Small limits, for both 413s without megabyte bodies. */
  limits: { workers: 1, maxBodyBytes: 4096, maxElements: 1000 },
  /** Every pool job times out (503 TIMEOUT, with Retry-After). */
  timeout: { workers: 1, requestTimeoutMs: 1 },
} satisfies Record<string, Partial<Config>>;

export type CorpusApp = keyof typeof CORPUS_APPS;

export const configOf = (app: CorpusApp): Config => ({ ...DEFAULTS, ...CORPUS_APPS[app] });

/** Bodies and answers up to this many bytes are stored as they are; bigger ones by recipe / digest. */
export const VERBATIM_MAX = 16 * 1024;

/** Bytes per block of a digested answer's block fingerprints (to locate a first difference). */
export const BLOCK = 4096;

/**
 * A body built from a matrix and scalar fields, {"<field>":[[t, t, ...], ...], ...fields}: the
 * matrix first (last with fieldsFirst), its entries t as JSON tokens, the fields written with
 * JSON.stringify (a field may repeat the matrix's key). Entry at flat index i = r * cols + j:
 *  - random: randomLogits(rows, cols, seed, scale) of ./stats.ts (mulberry32) as JSON.stringify
 *    writes it (Math.exp of it with exp: a probs matrix); with maskEvery k, null when i % k == 0;
 *  - cycle: tokens[i % tokens.length], written as given (any number spelling: "2E+3", "-0.0").
 * Then, to build bad bodies: fillRows sets every entry of a row to a token, patch one entry,
 * raggedLastRow drops that many entries from the last row, truncateBytes cuts the text's end.
 */
export interface Recipe {
  field: 'logits' | 'probs';
  rows: number;
  cols: number;
  random?: { seed: number; scale: number; maskEvery?: number; exp?: boolean };
  cycle?: string[];
  fillRows?: { row: number; token: string }[];
  patch?: { row: number; col: number; token: string }[];
  raggedLastRow?: number;
  truncateBytes?: number;
  fields?: Record<string, unknown>;
  fieldsFirst?: boolean;
}

/** A request body: text (UTF-8), raw bytes (base64, for bytes that are not UTF-8), or a recipe. */
export type StoredBody = string | { base64: string } | { recipe: Recipe };

export interface CorpusRequest {
  method: 'GET' | 'POST' | 'DELETE';
  url: string;
  /** Request headers; content-type is absent when the request sends none. */
  headers: Record<string, string>;
  body?: StoredBody;
}

/** A stored answer body: the text itself, or SHA-256 + length + per-block fingerprints. */
export type StoredAnswer = string | { sha256: string; length: number; blocks: string[] };

export interface CorpusResponse {
  status: number;
  /** The answer headers that matter; null = absent. */
  headers: { 'content-type': string | null; 'retry-after': string | null };
  body: StoredAnswer;
  /** For unseeded cases: the answer's keys and array dimensions ([] for a number). */
  shape?: Record<string, number[]>;
}

export interface CorpusCase {
  name: string;
  app: CorpusApp;
  /**
   * exact: status, headers and body bytes must be equal. unseeded: the service draws the seed,
   * so only the shape is checked, and the answer must equal that of the same body with its seed.
   */
  check: 'exact' | 'unseeded';
  /** Why an answer is what it is, where that is not obvious (e.g. a known defect, recorded as it is). */
  note?: string;
  /** Where it ran when recorded (absent for answers that never reach placement's end, e.g. 503 TIMEOUT). */
  path?: Placement;
  request: CorpusRequest;
  response: CorpusResponse;
}

export interface Corpus {
  /** How to re-record, and the rule for doing so. */
  readme: string;
  /** The Node version that recorded it (JSON.parse's error messages are V8's words). */
  node: string;
  /** CORPUS_APPS when it was recorded. */
  apps: Record<string, Partial<Config>>;
  cases: CorpusCase[];
}

export type Placement = 'inline' | 'pool' | 'pool-from-inline' | 'split' | 'split-from-body';

export function bodyBytes(body: StoredBody | undefined): Buffer | undefined {
  if (body === undefined) return undefined;
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if ('base64' in body) return Buffer.from(body.base64, 'base64');
  return Buffer.from(fromRecipe(body.recipe), 'utf8');
}

export function fromRecipe(r: Recipe): string {
  let token: (i: number) => string;
  if (r.random) {
    const { seed, scale, maskEvery, exp } = r.random;
    const flat = randomLogits(r.rows, r.cols, seed, scale).flat();
    token = (i) => (maskEvery !== undefined && i % maskEvery === 0 ? 'null' : JSON.stringify(exp ? Math.exp(flat[i]) : flat[i]));
  } else if (r.cycle) {
    const tokens = r.cycle;
    token = (i) => tokens[i % tokens.length];
  } else {
    throw new Error('a recipe needs random or cycle');
  }
  const rows: string[] = [];
  for (let i = 0; i < r.rows; i++) {
    const fill = r.fillRows?.find((f) => f.row === i)?.token;
    const row: string[] = [];
    for (let j = 0; j < r.cols; j++) row.push(fill ?? token(i * r.cols + j));
    for (const p of r.patch ?? []) if (p.row === i) row[p.col] = p.token;
    if (i === r.rows - 1 && r.raggedLastRow) row.length -= r.raggedLastRow;
    rows.push(`[${row.join(',')}]`);
  }
  const members = Object.entries(r.fields ?? {}).map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`);
  const matrix = `"${r.field}":[${rows.join(',')}]`;
  if (r.fieldsFirst) members.push(matrix);
  else members.unshift(matrix);
  const out = `{${members.join(',')}}`;
  return r.truncateBytes ? out.slice(0, -r.truncateBytes) : out;
}

export function send(app: FastifyInstance, c: CorpusRequest, body: Buffer | undefined = bodyBytes(c.body)): Promise<LightMyRequestResponse> {
  return app.inject({ method: c.method, url: c.url, headers: c.headers, ...(body !== undefined ? { payload: body } : {}) });
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

export function storeAnswer(bytes: Buffer): StoredAnswer {
  if (bytes.length <= VERBATIM_MAX) {
    const text = bytes.toString('utf8');
    if (Buffer.from(text, 'utf8').equals(bytes)) return text;
  }
  const blocks: string[] = [];
  for (let o = 0; o < bytes.length; o += BLOCK) blocks.push(sha256(bytes.subarray(o, o + BLOCK)).slice(0, 16));
  return { sha256: sha256(bytes), length: bytes.length, blocks };
}

const snippet = (b: Buffer, at: number) => JSON.stringify(b.subarray(Math.max(0, at - 40), at + 80).toString('latin1'));

/** null when actual is the stored answer; else where they first differ, with both sides. */
export function diffAnswer(stored: StoredAnswer, actual: Buffer): string | null {
  if (typeof stored === 'string') {
    const want = Buffer.from(stored, 'utf8');
    if (want.equals(actual)) return null;
    let i = 0;
    while (i < want.length && i < actual.length && want[i] === actual[i]) i++;
    return (
      `first differing byte at offset ${i} (expected ${want.length} bytes, got ${actual.length})\n` +
      `  expected: ${snippet(want, i)}\n  actual:   ${snippet(actual, i)}`
    );
  }
  if (actual.length === stored.length && sha256(actual) === stored.sha256) return null;
  const got = storeAnswer(actual);
  const gotBlocks = typeof got === 'string' ? [] : got.blocks;
  let b = 0;
  while (b < stored.blocks.length && stored.blocks[b] === gotBlocks[b]) b++;
  const at = b * BLOCK;
  return (
    `first difference within bytes [${at}, ${at + BLOCK}) (expected ${stored.length} bytes with SHA-256 ` +
    `${stored.sha256}, got ${actual.length}; the expected bytes are stored as a digest only)\n` +
    `  actual, from byte ${at}: ${snippet(actual, at + 40)}`
  );
}

/** The keys of a JSON answer and the dimensions of each value ([] for a scalar). */
export function shapeOf(answer: unknown): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [k, v] of Object.entries(answer as Record<string, unknown>)) {
    const dims: number[] = [];
    let x: unknown = v;
    while (Array.isArray(x)) {
      dims.push(x.length);
      x = x[0];
    }
    out[k] = dims;
  }
  return out;
}

/**
 * Pool tasks answered so far (the count of the queue-wait histogram, one observation per task),
 * read from the app's registry: the whole /metrics page also collects the process metrics, ~1 ms.
 */
export async function poolTasks(app: FastifyInstance): Promise<number> {
  const text = await app.metrics.registry.getSingleMetricAsString('anymax_queue_wait_seconds');
  return [...text.matchAll(/^anymax_queue_wait_seconds_count(?:\{[^}]*\})? (\S+)$/gm)].reduce((a, m) => a + Number(m[1]), 0);
}

/**
 * The path a request took, from the pool tasks it caused and its body size: none -> inline; one
 * -> pool (a body too big to parse inline) or pool-from-inline (parsed inline, too much work); a
 * split sends one task per chunk, after one body task when the body was too big to parse inline.
 */
export function placementOf(app: CorpusApp, bodyLength: number, tasks: number): Placement {
  const big = bodyLength > configOf(app).inlineMaxBytes;
  if (tasks === 0) return 'inline';
  if (tasks === 1) return big ? 'pool' : 'pool-from-inline';
  return big ? 'split-from-body' : 'split';
}
