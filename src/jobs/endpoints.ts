import { getRandomValues } from 'node:crypto';
import type { z } from 'zod';
import { argmax } from '../core/argmax.js';
import { entmax } from '../core/entmax.js';
import { gumbelSoftmax } from '../core/gumbel-softmax.js';
import { sample } from '../core/sample.js';
import { logSoftmax, softmax } from '../core/softmax.js';
import { sparsemax } from '../core/sparsemax.js';
import { MAX_ECHOED, badRequest, echoList, invalidRequest, type Issue } from '../errors.js';
import { ArgmaxRequest } from '../schemas/argmax.js';
import { scalarsOf } from '../schemas/common.js';
import { EntmaxRequest } from '../schemas/entmax.js';
import { GumbelSoftmaxRequest } from '../schemas/gumbel-softmax.js';
import { checkWork, parseLogits, parseProbs, type Matrix } from '../schemas/matrix.js';
import { SampleRequest } from '../schemas/sample.js';
import { SoftmaxRequest } from '../schemas/softmax.js';
import { SparsemaxRequest } from '../schemas/sparsemax.js';
import { readMatrixFast, type FastMatrix } from './fast-body.js';
import { list, matrixRows } from './json.js';
import { seedTextIsExact } from './seed-text.js';

/**
 * What each /v1 endpoint does with a parsed body, independent of where it runs (main thread or
 * worker) and of how its rows are split: prepare() validates a body into a Job; compute() runs
 * the kernel on rows [rowOffset, rowOffset + rows) of it and returns the JSON text of each output
 * array for those rows; assemble() joins the pieces of every chunk into the response body.
 * Seeded endpoints take the global row index from rowOffset, so any split gives the same bytes.
 */

export const ENDPOINTS = ['argmax', 'softmax', 'sparsemax', 'entmax', 'gumbel-softmax', 'sample'] as const;
export type EndpointName = (typeof ENDPOINTS)[number];

export interface Limits {
  maxElements: number;
}

export interface Job {
  endpoint: EndpointName;
  /** The validated scalar fields (with defaults, and the seed drawn if absent). */
  params: Record<string, unknown>;
  input: 'logits' | 'probs';
  data: Float64Array;
  rows: number;
  cols: number;
  /** Global index of data's first row in the request. */
  rowOffset: number;
  /** rows x cols (x n): the element count, for limits and for choosing where to run. */
  work: number;
}

interface Endpoint {
  schema: z.ZodObject;
  /** Whether probs may replace logits. */
  acceptsProbs: boolean;
  seeded: boolean;
  workPerElement(params: Record<string, unknown>): number;
  /** Names of the array fields of the response, in order. */
  fields(params: Record<string, unknown>): string[];
  compute(job: Job): string[];
}

type P = Record<string, unknown>;

const table: Record<EndpointName, Endpoint> = {
  argmax: {
    schema: scalarsOf(ArgmaxRequest),
    acceptsProbs: false,
    seeded: false,
    workPerElement: () => 1,
    fields: () => ['indices'],
    compute: ({ data, rows, cols }) => [list(argmax(data, rows, cols), 0, rows)],
  },
  softmax: {
    schema: scalarsOf(SoftmaxRequest),
    acceptsProbs: false,
    seeded: false,
    workPerElement: () => 1,
    fields: (p) => [p.log ? 'logProbs' : 'probs'],
    compute: ({ data, rows, cols, params }) => {
      const T = params.temperature as number;
      return params.log
        ? [matrixRows(logSoftmax(data, rows, cols, T), 0, rows, cols)]
        : [matrixRows(softmax(data, rows, cols, T), 0, rows, cols)];
    },
  },
  sparsemax: {
    schema: scalarsOf(SparsemaxRequest),
    acceptsProbs: false,
    seeded: false,
    workPerElement: () => 1,
    fields: () => ['probs', 'support'],
    compute: ({ data, rows, cols, params }) => {
      const { probs, support } = sparsemax(data, rows, cols, params.temperature as number);
      return [matrixRows(probs, 0, rows, cols), list(support, 0, rows)];
    },
  },
  entmax: {
    schema: scalarsOf(EntmaxRequest),
    acceptsProbs: false,
    seeded: false,
    workPerElement: () => 1,
    fields: () => ['probs', 'support'],
    compute: ({ data, rows, cols, params }) => {
      const { probs, support } = entmax(data, rows, cols, params.alpha as number, params.temperature as number);
      return [matrixRows(probs, 0, rows, cols), list(support, 0, rows)];
    },
  },
  'gumbel-softmax': {
    schema: scalarsOf(GumbelSoftmaxRequest),
    acceptsProbs: true,
    seeded: true,
    workPerElement: () => 1,
    fields: () => ['probs', 'indices'],
    compute: ({ data, rows, cols, params, input, rowOffset }) => {
      const { probs, indices } = gumbelSoftmax(data, rows, cols, {
        tau: params.temperature as number,
        hard: params.hard as boolean,
        seed: params.seed as number,
        input,
        rowOffset,
      });
      return [matrixRows(probs, 0, rows, cols), list(indices, 0, rows)];
    },
  },
  sample: {
    schema: scalarsOf(SampleRequest),
    acceptsProbs: true,
    seeded: true,
    workPerElement: (p) => p.n as number,
    fields: () => ['samples'],
    compute: ({ data, rows, cols, params, input, rowOffset }) => {
      const n = params.n as number;
      const out = sample(data, rows, cols, {
        input,
        mapping: params.mapping as 'softmax' | 'sparsemax' | 'entmax',
        alpha: params.alpha as number,
        temperature: params.temperature as number,
        topK: params.topK as number | undefined,
        topP: params.topP as number | undefined,
        minP: params.minP as number | undefined,
        n,
        seed: params.seed as number,
        rowOffset,
      });
      return [matrixRows(out, 0, rows, n)];
    },
  },
};

/** A seed in [0, 2^53) from the OS CSPRNG, for requests that did not give one. */
export function randomSeed(): number {
  const w = getRandomValues(new Uint32Array(2));
  return (w[0] & 0x1fffff) * 2 ** 32 + w[1];
}

/**
 * Validates a parsed JSON body for an endpoint; throws ApiError (400 / 413). With `pre`, the
 * matrix was already read and checked from the bytes (./fast-body.ts) and body holds a
 * placeholder in its place. `text` is the JSON text body was parsed from (the whole body, or
 * pre.rest): with it, a seed is checked on its digits, which JSON.parse may have rounded to an
 * integer (./seed-text.ts).
 */
export function prepare(endpoint: EndpointName, body: unknown, limits: Limits, pre?: FastMatrix, text?: string): Job {
  const ep = table[endpoint];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the request body must be a JSON object');
  }
  const parsed = ep.schema.safeParse(ep.seeded && text !== undefined ? exactSeed(body as P, text) : body);
  if (!parsed.success) throw invalidRequest(issuesOf(parsed.error.issues));
  const params: P = parsed.data;
  if (Object.is(params.seed, -0)) params.seed = 0; // "-0" is 0, echoed as 0
  const hasLogits = params.logits !== undefined;
  const hasProbs = ep.acceptsProbs && params.probs !== undefined;
  if (hasLogits && hasProbs) throw badRequest('give exactly one of logits or probs, not both');
  if (ep.acceptsProbs && !hasLogits && !hasProbs) throw badRequest('one of logits or probs is required');
  const factor = ep.workPerElement(params);
  let m: Matrix;
  if (pre) {
    checkWork(pre.field, pre.rows, pre.cols, factor, limits.maxElements);
    m = pre;
  } else {
    m = hasProbs
      ? parseProbs(params.probs, 'probs', limits.maxElements, factor)
      : parseLogits(params.logits, 'logits', limits.maxElements, factor);
  }
  delete params.logits;
  delete params.probs;
  if (ep.seeded && params.seed === undefined) params.seed = randomSeed();
  return {
    endpoint,
    params,
    input: hasProbs ? 'probs' : 'logits',
    data: m.data,
    rows: m.rows,
    cols: m.cols,
    rowOffset: 0,
    work: m.rows * m.cols * factor,
  };
}

/**
 * The body for the schema: as it is, or, when its seed was a number whose text is not exactly an
 * integer in [0, 2^53) (9007199254740991.4 and 1e-400 parse to integers), with NaN in its place,
 * which the seed schema refuses with its own message, path and place among the other issues.
 */
function exactSeed(body: P, text: string): P {
  if (typeof body.seed !== 'number' || seedTextIsExact(text)) return body;
  return { ...body, seed: Number.NaN };
}

/** Zod's issues in the contract's shape, once each, with lists of unknown keys capped. */
function issuesOf(zodIssues: readonly z.core.$ZodIssue[]): Issue[] {
  const issues: Issue[] = [];
  const seen = new Set<string>();
  for (const i of zodIssues) {
    const path = i.path.map((k) => (typeof k === 'symbol' ? String(k) : k));
    const issue =
      i.code === 'unrecognized_keys'
        ? { path: [...path, ...i.keys.slice(0, MAX_ECHOED)], message: `unknown field(s): ${echoList(i.keys)}` }
        : { path, message: i.message };
    // One check can fail twice with the same message (seed 2^53 is neither a safe integer nor <= max).
    const key = JSON.stringify(issue);
    if (!seen.has(key)) issues.push(issue);
    seen.add(key);
  }
  return issues;
}

/** Runs the kernel on the job's rows; the JSON text of each response array for those rows. */
export function compute(job: Job): string[] {
  return table[job.endpoint].compute(job);
}

/** The response body from the pieces of every chunk, in row order. */
export function assemble(job: Pick<Job, 'endpoint' | 'params'>, pieces: string[][]): string {
  const ep = table[job.endpoint];
  const fields = ep.fields(job.params);
  let out = '{';
  fields.forEach((name, i) => {
    out += `${i ? ',' : ''}"${name}":[${pieces.map((p) => p[i]).join(',')}]`;
  });
  if (ep.seeded) out += `,"seed":${job.params.seed as number}`;
  return `${out}}`;
}

/** A sub-job of rows [r0, r1): its data is a view (copy it before transferring). */
export function slice(job: Job, r0: number, r1: number): Job {
  return {
    ...job,
    data: job.data.subarray(r0 * job.cols, r1 * job.cols),
    rows: r1 - r0,
    rowOffset: job.rowOffset + r0,
    work: (job.work / job.rows) * (r1 - r0),
  };
}

/**
 * Bodies below this go straight to JSON.parse: on a 1x50 body the byte scanner saves nothing and
 * its long-number fallback costs more than JSON.parse (8.6 vs 4.5 us measured).
 */
export const FAST_MIN_BYTES = 16 * 1024;

/**
 * A Job from a raw body: the matrix read straight from the bytes when it is plain and valid
 * (./fast-body.ts), else JSON.parse and the general validation (which words every error).
 */
export function prepareBytes(endpoint: EndpointName, bytes: Uint8Array, limits: Limits): Job {
  const fast = bytes.length >= FAST_MIN_BYTES ? readMatrixFast(bytes) : null;
  if (fast) return prepare(endpoint, parseJson(fast.rest), limits, fast, fast.rest);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  return prepare(endpoint, parseJson(text), limits, undefined, text);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}
