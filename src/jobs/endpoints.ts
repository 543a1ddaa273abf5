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
import { scanBody, unknownFields, type ScannedMatrix } from './body-scan.js';
import { closeOutput, formatRange, openOutput, type OutArray } from './format.js';
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

/** One array of an answer: its JSON name, element type, and values per row (1: a vector). */
export interface OutputSpec {
  name: string;
  type: 'f64' | 'i32';
  /** 'cols': rows x cols (written over the job's data when computed in place); 'n': rows x n draws; 1: one value per row. */
  width: 'cols' | 'n' | 1;
}

interface Endpoint {
  schema: z.ZodObject;
  /** Whether probs may replace logits. */
  acceptsProbs: boolean;
  seeded: boolean;
  workPerElement(params: Record<string, unknown>): number;
  /** The arrays of the answer, in order. */
  outputs(params: Record<string, unknown>): OutputSpec[];
  /** Runs the kernel on the job's rows, writing each output (allocated per outputs()). */
  run(job: Job, outs: OutArray[]): void;
}

type P = Record<string, unknown>;

const f64 = (name: string): OutputSpec => ({ name, type: 'f64', width: 'cols' });
const i32 = (name: string, width: 'n' | 1 = 1): OutputSpec => ({ name, type: 'i32', width });

const table: Record<EndpointName, Endpoint> = {
  argmax: {
    schema: scalarsOf(ArgmaxRequest),
    acceptsProbs: false,
    seeded: false,
    workPerElement: () => 1,
    outputs: () => [i32('indices')],
    run: ({ data, rows, cols }, [indices]) => void argmax(data, rows, cols, indices as Int32Array),
  },
  softmax: {
    schema: scalarsOf(SoftmaxRequest),
    acceptsProbs: false,
    seeded: false,
    workPerElement: () => 1,
    outputs: (p) => [f64(p.log ? 'logProbs' : 'probs')],
    run: ({ data, rows, cols, params }, [out]) => {
      const T = params.temperature as number;
      if (params.log) logSoftmax(data, rows, cols, T, out as Float64Array);
      else softmax(data, rows, cols, T, out as Float64Array);
    },
  },
  sparsemax: {
    schema: scalarsOf(SparsemaxRequest),
    acceptsProbs: false,
    seeded: false,
    workPerElement: () => 1,
    outputs: () => [f64('probs'), i32('support')],
    run: ({ data, rows, cols, params }, [probs, support]) =>
      void sparsemax(data, rows, cols, params.temperature as number, probs as Float64Array, support as Int32Array),
  },
  entmax: {
    schema: scalarsOf(EntmaxRequest),
    acceptsProbs: false,
    seeded: false,
    workPerElement: () => 1,
    outputs: () => [f64('probs'), i32('support')],
    run: ({ data, rows, cols, params }, [probs, support]) =>
      void entmax(data, rows, cols, params.alpha as number, params.temperature as number, probs as Float64Array, support as Int32Array),
  },
  'gumbel-softmax': {
    schema: scalarsOf(GumbelSoftmaxRequest),
    acceptsProbs: true,
    seeded: true,
    workPerElement: () => 1,
    outputs: () => [f64('probs'), i32('indices')],
    run: ({ data, rows, cols, params, input, rowOffset }, [probs, indices]) =>
      void gumbelSoftmax(
        data,
        rows,
        cols,
        { tau: params.temperature as number, hard: params.hard as boolean, seed: params.seed as number, input, rowOffset },
        probs as Float64Array,
        indices as Int32Array,
      ),
  },
  sample: {
    schema: scalarsOf(SampleRequest),
    acceptsProbs: true,
    seeded: true,
    workPerElement: (p) => p.n as number,
    outputs: () => [i32('samples', 'n')],
    run: ({ data, rows, cols, params, input, rowOffset }, [samples]) =>
      void sample(
        data,
        rows,
        cols,
        {
          input,
          mapping: params.mapping as 'softmax' | 'sparsemax' | 'entmax',
          alpha: params.alpha as number,
          temperature: params.temperature as number,
          topK: params.topK as number | undefined,
          topP: params.topP as number | undefined,
          minP: params.minP as number | undefined,
          n: params.n as number,
          seed: params.seed as number,
          rowOffset,
        },
        samples as Int32Array,
      ),
  },
};

/** The answer's arrays of a job, with their widths resolved and whether each is a matrix. */
export interface Layout {
  spec: OutputSpec;
  width: number;
  matrix: boolean;
}

export function layoutOf(job: Pick<Job, 'endpoint' | 'params' | 'cols'>): Layout[] {
  return table[job.endpoint].outputs(job.params).map((spec) => ({
    spec,
    width: spec.width === 'cols' ? job.cols : spec.width === 'n' ? (job.params.n as number) : 1,
    matrix: spec.width !== 1,
  }));
}

/**
 * Runs the job's kernel into output arrays. With inPlace, a rows x cols real output is written
 * over job.data (every kernel reads a row before it writes it: test/jobs/endpoints.test.ts checks
 * the bytes match), so a big job needs no second matrix; `alloc` makes the other outputs
 * (a SharedArrayBuffer-backed allocator for the pool's streamed answers), or `given` holds them
 * all (the rows of shared outputs that a worker computes).
 */
export function run(
  job: Job,
  inPlace = false,
  alloc: (type: 'f64' | 'i32', length: number) => OutArray = (type, length) =>
    type === 'f64' ? new Float64Array(length) : new Int32Array(length),
  given?: OutArray[],
): OutArray[] {
  const outs =
    given ??
    layoutOf(job).map(({ spec, width }) =>
      inPlace && spec.type === 'f64' && spec.width === 'cols' ? job.data : alloc(spec.type, job.rows * width),
    );
  table[job.endpoint].run(job, outs);
  return outs;
}

/** A seed in [0, 2^53) from the OS CSPRNG, for requests that did not give one. */
export function randomSeed(): number {
  const w = getRandomValues(new Uint32Array(2));
  return (w[0] & 0x1fffff) * 2 ** 32 + w[1];
}

/**
 * Validates a parsed JSON body for an endpoint; throws ApiError (400 / 413). With `pre`, the
 * matrix was already read from the bytes (./body-scan.ts) and body holds a placeholder in its
 * place; its errors are raised here, in the general path's order (other fields, shape, element
 * limit, elements). `text` is the JSON text body was parsed from (the whole body, or the scanned
 * rest): with it, a seed is checked on its digits, which JSON.parse may have rounded to an
 * integer (./seed-text.ts).
 */
export function prepare(endpoint: EndpointName, body: unknown, limits: Limits, pre?: ScannedMatrix, text?: string): Job {
  const ep = table[endpoint];
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the request body must be a JSON object');
  }
  // More unknown fields than a 400 lists: only they are reported (Zod's walk of an object of
  // thousands of members took ~1.5 ms of the main thread for a 64 KiB body); the byte scanner
  // refuses such a body the same way before it is parsed.
  const unknown = unknownKeys(body as P, endpoint);
  if (unknown.length > MAX_ECHOED) throw unknownFields(unknown);
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
    if (pre.shapeError) throw pre.shapeError;
    checkWork(pre.field, pre.rows, pre.cols, factor, limits.maxElements);
    if (pre.elementError) throw pre.elementError;
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

/** The member names each endpoint's schema knows. */
export const KNOWN_KEYS: Record<EndpointName, ReadonlySet<string>> = Object.fromEntries(
  ENDPOINTS.map((e) => [e, new Set(Object.keys(table[e].schema.shape))]),
) as Record<EndpointName, Set<string>>;

/** The body's members the endpoint does not know, in the order Zod lists them (for-in). */
function unknownKeys(body: P, endpoint: EndpointName): string[] {
  const known = KNOWN_KEYS[endpoint];
  const out: string[] = [];
  for (const key in body) if (!known.has(key)) out.push(key);
  return out;
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

/** Runs the kernel on the job's rows; the JSON text of each answer array for those rows. */
export function compute(job: Job): string[] {
  const outs = run(job);
  return layoutOf(job).map(({ width, matrix }, i) =>
    matrix ? formatRows(outs[i], width, job.rows) : formatRange(outs[i], 1, false, 0, job.rows),
  );
}

/** rows x width values as the comma-separated JSON arrays of each row (a piece of a matrix). */
function formatRows(buf: OutArray, width: number, rows: number): string {
  return `[${formatRange(buf, width, true, 0, rows * width)}]`;
}

/** The opening of the answer, up to its first array's values; then each array's closing and the next's opening. */
export function answerFrame(job: Pick<Job, 'endpoint' | 'params' | 'cols'>): { open: string[]; close: string[]; end: string } {
  const layout = layoutOf(job);
  const open = layout.map(({ spec, matrix }, i) => `${i ? ',' : '{'}${openOutput(spec.name, matrix)}`);
  const close = layout.map(({ matrix }) => closeOutput(matrix));
  const end = table[job.endpoint].seeded ? `,"seed":${job.params.seed as number}}` : '}';
  return { open, close, end };
}

/** The response body from the pieces of every chunk, in row order. */
export function assemble(job: Pick<Job, 'endpoint' | 'params' | 'cols'>, pieces: string[][]): string {
  const ep = table[job.endpoint];
  const layout = layoutOf(job);
  let out = '{';
  layout.forEach(({ spec }, i) => {
    out += `${i ? ',' : ''}"${spec.name}":[${pieces.map((p) => p[i]).join(',')}]`;
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
 * Bodies below this go straight to JSON.parse: on a 1x50 body the byte scanner saves nothing
 * (8.6 vs 4.5 us measured), and JSON.parse of a small body is small.
 */
export const FAST_MIN_BYTES = 16 * 1024;

/** The largest non-matrix part of a scanned body (valid ones have a few scalars). */
export const REST_MAX_BYTES = 1024 * 1024;

/**
 * A Job from a raw body: small bodies by JSON.parse and the general validation; bigger ones by
 * the byte scanner (./body-scan.ts), which never materialises the body and gives the same Job
 * and the same errors. `alloc` places the matrix (the pool puts big ones on shared memory).
 */
export function prepareBytes(endpoint: EndpointName, bytes: Uint8Array, limits: Limits, alloc?: (length: number) => Float64Array): Job {
  if (bytes.length < FAST_MIN_BYTES) {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    return prepare(endpoint, parseJson(text), limits, undefined, text);
  }
  const scanned = scanBody(bytes, { maxElements: limits.maxElements, restMax: REST_MAX_BYTES, alloc, knownKeys: KNOWN_KEYS[endpoint] });
  return prepare(endpoint, parseJson(scanned.rest), limits, scanned.matrix ?? undefined, scanned.rest);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}
