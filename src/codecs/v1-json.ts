import { getRandomValues } from 'node:crypto';
import { z } from 'zod';
import { MAX_ECHOED, badRequest, echoList, invalidRequest, type Issue } from '../errors.js';
import { OP_NAMES, layoutOf, operation, outputElements, type Job, type Layout, type OpName, type Operation, type OutArray } from '../ops/index.js';
import { checkWork, parseLogits, parseProbs, type Matrix } from '../schemas/matrix.js';
import { scanBody, unknownFields, type ScannedMatrix } from './body-scan.js';
import {
  JSON_NS_PER_NUMBER,
  closeOutput,
  formatRaggedRange,
  formatRaggedRangeBytes,
  formatRange,
  formatRangeBytes,
  formatRangeInto,
  formatZipRange,
  formatZipRangeBytes,
  openOutput,
  rangeBound,
  zipBound,
} from './json-text.js';
import { seedArrayExactness, seedTextIsExact } from './seed-text.js';
import type { AnswerPlan, Codec, InRoom, Limits } from './types.js';

/**
 * The /v1 JSON format: a body {"logits" | "probs": rows x classes, ...the operation's
 * parameters} into a Job, and the answer {"<output>": [...], ..., "seed"?} from its arrays.
 * decode() validates a body; the kernels take the global row index from rowOffset, so the
 * answer of any split of the rows, encoded chunk by chunk, is the bytes of the whole.
 */

type P = Record<string, unknown>;

/** The schema a parsed body is validated with: the operation's parameters and the matrix fields, unchecked (../schemas/matrix.ts reads those). */
const validators = new Map<OpName, z.ZodObject>();
function validator(op: Operation): z.ZodObject {
  let v = validators.get(op.name);
  if (!v) {
    v = z.strictObject({
      logits: z.unknown().optional(),
      ...(op.acceptsProbs ? { probs: z.unknown().optional() } : {}),
      ...op.params.shape,
    });
    validators.set(op.name, v);
  }
  return v;
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
 * limit, elements, then the operation's check of its parameters against the matrix). `text` is the JSON text body was parsed from (the whole body, or the scanned
 * rest): with it, a seed is checked on its digits, which JSON.parse may have rounded to an
 * integer (./seed-text.ts).
 */
export function prepare(name: OpName, body: unknown, limits: Limits, pre?: ScannedMatrix, text?: string): Job {
  const ep = operation(name);
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw badRequest('the request body must be a JSON object');
  }
  // More unknown fields than a 400 lists: only they are reported (Zod's walk of an object of
  // thousands of members took ~1.5 ms of the main thread for a 64 KiB body); the byte scanner
  // refuses such a body the same way before it is parsed.
  const unknown = unknownKeys(body as P, name);
  if (unknown.length > MAX_ECHOED) throw unknownFields(unknown);
  const parsed = validator(ep).safeParse(ep.seeded && text !== undefined ? exactSeed(body as P, text) : body);
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
  // The operation's checks against the matrix (a parameter of one element per row, ...).
  const issues = ep.check?.(params, m.rows, m.cols, m.data);
  if (issues && issues.length > 0) throw invalidRequest(issues);
  if (ep.seeded && params.seed === undefined) params.seed = randomSeed();
  return {
    op: name,
    params,
    input: hasProbs ? 'probs' : 'logits',
    data: m.data,
    rows: m.rows,
    cols: m.cols,
    rowOffset: 0,
    work: m.rows * m.cols * factor,
  };
}

/** The member names each operation's /v1 body may have. */
export const KNOWN_KEYS: Record<OpName, ReadonlySet<string>> = Object.fromEntries(
  OP_NAMES.map((n) => [n, new Set(Object.keys(validator(operation(n)).shape))]),
) as Record<OpName, Set<string>>;

/** The members of each operation's /v1 body that may be arrays or objects (kept by the byte scanner when flat). */
export const ROW_ARRAYS: Record<OpName, ReadonlySet<string>> = Object.fromEntries(
  OP_NAMES.map((n) => {
    const op = operation(n);
    return [n, new Set([...(op.rowInputs ?? []).map((i) => i.name), ...(op.listParams ?? [])])];
  }),
) as Record<OpName, Set<string>>;

/** The body's members the operation does not know, in the order Zod lists them (for-in). */
function unknownKeys(body: P, name: OpName): string[] {
  const known = KNOWN_KEYS[name];
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
  if (Array.isArray(body.seed)) {
    const exact = seedArrayExactness(text, body.seed.length);
    if (!exact || exact.every(Boolean)) return body;
    return { ...body, seed: body.seed.map((v: unknown, i) => (exact[i] ? v : Number.NaN)) };
  }
  if (typeof body.seed !== 'number' || seedTextIsExact(text)) return body;
  return { ...body, seed: Number.NaN };
}

/** Zod's issues in the contract's shape, once each, with lists of unknown keys capped. */
function issuesOf(zodIssues: readonly z.core.$ZodIssue[]): Issue[] {
  const issues: Issue[] = [];
  const seen = new Set<string>();
  for (const i of unionBranches(zodIssues)) {
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

/**
 * A union (a number, or an array of one per row) that fails as a whole: the issues of the branch
 * that got inside the value (an array's bad element, named by its position), else those of its
 * first branch (the scalar's own message, as before the field took arrays).
 */
export function unionBranches(zodIssues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue[] {
  if (!zodIssues.some((i) => i.code === 'invalid_union')) return zodIssues as z.core.$ZodIssue[];
  return zodIssues.flatMap((i) => {
    if (i.code !== 'invalid_union' || i.errors.length === 0) return [i];
    const inner = i.errors.find((branch) => branch.some((b) => b.path.length > 0)) ?? i.errors[0];
    return unionBranches(inner.map((b) => ({ ...b, path: [...i.path, ...b.path] })));
  });
}

/**
 * Bodies below this go straight to JSON.parse: on a 1x50 body the byte scanner saves nothing
 * (8.6 vs 4.5 us measured), and JSON.parse of a small body is small.
 */
export const FAST_MIN_BYTES = 16 * 1024;

/** The largest non-matrix part of a scanned body: the parameters, and per-row arrays (~50k values). */
export const REST_MAX_BYTES = 1024 * 1024;

/**
 * A Job from a raw body: small bodies by JSON.parse and the general validation; bigger ones by
 * the byte scanner (./body-scan.ts), which never materialises the body and gives the same Job
 * and the same errors. `alloc` places the matrix (the pool puts big ones on shared memory).
 */
export function prepareBytes(name: OpName, bytes: Uint8Array, limits: Limits, alloc?: (length: number) => Float64Array): Job {
  if (bytes.length < FAST_MIN_BYTES) {
    const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    return prepare(name, parseJson(text), limits, undefined, text);
  }
  const scanned = scanBody(bytes, { maxElements: limits.maxElements, restMax: REST_MAX_BYTES, alloc, knownKeys: KNOWN_KEYS[name], keepArrays: ROW_ARRAYS[name] });
  return prepare(name, parseJson(scanned.rest), limits, scanned.matrix ?? undefined, scanned.rest);
}

export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}

/**
 * The answer written in chunks: each array between its name and its closing brackets, in a
 * form: "json" (every value), "ragged:<pad>" (each row's values before its first pad) or
 * "zip:<pad>:<key0>:<key1>" (the part's output and its `with` output as one object per row).
 * An output that another zips is not a part of its own.
 */
export function plan(job: Pick<Job, 'op' | 'params' | 'cols'>): AnswerPlan {
  // A seed array (one per row) is an output of its own (src/ops/sample.ts).
  return planOf(layoutOf(job), operation(job.op).seeded && typeof job.params.seed === 'number' ? `,"seed":${job.params.seed}}` : '}');
}

/** The plan of outputs laid out as `layout`, the answer closed by `end`. */
export function planOf(layout: readonly Layout[], end: string): AnswerPlan {
  const zipped = new Set(layout.map((l) => l.zip?.with));
  const parts: AnswerPlan['parts'] = [];
  layout.forEach(({ name, matrix, ragged, zip }, out) => {
    if (zipped.has(name)) return;
    const comma = parts.length ? ',' : '';
    if (zip) {
      const other = layout.findIndex((l) => l.name === zip.with);
      // A declaration error of an operation, not a request's.
      if (!ragged || other < 0 || layout[other].width !== layout[out].width) throw new Error(`${name} zips with ${zip.with}: it must be ragged and ${zip.with} an output of its width`);
      const form = `zip:${ragged!.pad}:${zip.keys[0]}:${zip.keys[1]}`;
      parts.push({ out, with: other, open: `${comma}"${zip.as}":[`, close: ']', form });
    } else parts.push({ out, open: `${comma}${openOutput(name, matrix)}`, close: closeOutput(matrix), form: ragged ? `ragged:${ragged.pad}` : 'json' });
  });
  return { head: '{', parts, end };
}

type Form = { kind: 'json' } | { kind: 'ragged'; pad: number } | { kind: 'zip'; pad: number; keys: [string, string] };
const forms = new Map<string, Form>();

/** A part's form, parsed once (see plan). */
function formOf(form: string): Form {
  let f = forms.get(form);
  if (!f) {
    const [kind, pad, k0, k1] = form.split(':');
    f = kind === 'ragged' ? { kind, pad: Number(pad) } : kind === 'zip' ? { kind, pad: Number(pad), keys: [k0, k1] } : { kind: 'json' };
    if (forms.size < 256) forms.set(form, f);
  }
  return f;
}

/** Values [i0, i1) of a part's output in its form, as text (`other`: the output it zips with). */
export function chunkText(buf: OutArray, width: number, matrix: boolean, form: string, i0: number, i1: number, other?: OutArray): string {
  const f = formOf(form);
  if (f.kind === 'ragged') return formatRaggedRange(buf, width, f.pad, i0, i1);
  if (f.kind === 'zip') return formatZipRange(buf, other!, width, f.pad, f.keys, i0, i1);
  return formatRange(buf, width, matrix, i0, i1);
}

/** The same as bytes, written a piece at a time (see formatRangeBytes: no large strings in a worker's heap). */
export function chunkBytes(buf: OutArray, width: number, matrix: boolean, form: string, i0: number, i1: number, other?: OutArray): Buffer {
  const f = formOf(form);
  if (f.kind === 'ragged') return formatRaggedRangeBytes(buf, width, f.pad, i0, i1);
  if (f.kind === 'zip') return formatZipRangeBytes(buf, other!, width, f.pad, f.keys, i0, i1);
  return formatRangeBytes(buf, width, matrix, i0, i1);
}

/** The whole answer. */
export function encode(job: Job, outs: OutArray[]): string {
  const p = plan(job);
  const layout = layoutOf(job);
  let out = p.head as string;
  for (const { out: o, with: w, open, close, form } of p.parts) {
    const { width, matrix } = layout[o];
    out += open + chunkText(outs[o], width, matrix, form, 0, job.rows * width, w === undefined ? undefined : outs[w]) + close;
  }
  return out + p.end;
}

/**
 * The whole answer written as bytes into `room` (a worker's answer, into shared memory the main
 * thread reuses: no string of the answer, no buffer made and moved per request), or undefined when
 * it may not fit. Its byte length (no headers: /v1 has none).
 */
export function encodeInto(job: Job, outs: OutArray[], room: Uint8Array): InRoom | undefined {
  const p = plan(job);
  const layout = layoutOf(job);
  const n = job.rows;
  let bound = p.head.length + p.end.length;
  for (const { out: o, open, close, form } of p.parts) {
    const { width } = layout[o];
    const f = formOf(form);
    bound += open.length + close.length + (f.kind === 'zip' ? zipBound(width, f.keys, 0, n * width) : rangeBound(0, n * width));
  }
  if (bound > room.length) return undefined;
  const view = Buffer.from(room.buffer, room.byteOffset, room.byteLength);
  let at = typeof p.head === 'string' ? view.write(p.head, 0, 'latin1') : (view.set(p.head), p.head.length);
  for (const { out: o, with: w, open, close, form } of p.parts) {
    const { width, matrix } = layout[o];
    const f = formOf(form);
    at += view.write(open, at, 'latin1');
    if (f.kind === 'json') at = formatRangeInto(view, at, outs[o], width, matrix, 0, n * width);
    else {
      // Ragged and zipped parts are rare and small: their bytes, written at `at` (alloc views the room there).
      const here = (bytes: number) => view.subarray(at, at + bytes);
      at += (f.kind === 'ragged' ? formatRaggedRangeBytes(outs[o], width, f.pad, 0, n * width, here) : formatZipRangeBytes(outs[o], outs[w!], width, f.pad, f.keys, 0, n * width, here)).length;
    }
    at += view.write(close, at, 'latin1');
  }
  return { length: at + view.write(p.end, at, 'latin1') };
}

const v1Json: Codec = {
  name: 'v1-json',
  decode: (op, body, limits, alloc) => prepareBytes(op, body, limits, alloc),
  encode: (job, outs) => ({ body: encode(job, outs) }),
  encodeInto,
  plan,
  chunk: chunkBytes,
  answerCostNs: (job) => outputElements(job) * JSON_NS_PER_NUMBER,
};
export default v1Json;
