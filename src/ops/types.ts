import { z } from 'zod';
import type { Issue } from '../errors.js';
import { Logits, Probs } from '../schemas/common.js';

/**
 * An operation: one mapping of the (.+)-max family as the service offers it, apart from any wire
 * format. It knows its typed parameters (a Zod object: the single source of the /v1 fields, the
 * OIP parameters and the OpenAPI document), whether it takes probabilities and draws from the
 * seeded stream, the arrays it answers with, and how to compute them from a job's rows. Codecs
 * (src/codecs) turn a protocol's bytes into a Job and the output arrays into bytes; the pool
 * (src/pool) decides where a job runs. A new mapping is one new file here and one line in
 * ./index.ts.
 */

export type OutArray = Float64Array | Int32Array;

/** One array of an answer: its name, element type, and values per row (1: a vector). */
export interface OutputSpec {
  name: string;
  type: 'f64' | 'i32';
  /**
   * 'cols': rows x cols (an f64 one is written over the job's data when computed in place); 'n':
   * rows x n draws; 'top': rows x max(1, min(params.topLogprobs, cols)); 1: one value per row.
   */
  width: 'cols' | 'n' | 'top' | 1;
  /**
   * Rows of varying length in a fixed-size matrix: each row's values are packed left and the
   * rest of the row is `pad`, a value the output never holds otherwise. JSON answers write only
   * each row's values (before its first pad); OIP answers the padded matrix.
   */
  ragged?: { pad: number };
  /**
   * JSON formats write this (ragged) output and the output named `with` (same width, ragged
   * the same way) as one member `as`: one object per row, {keys[0]: this row's values,
   * keys[1]: the other's}, the row's length set by this output's padding. The other output is
   * not written on its own; OIP answers both as they are.
   */
  zip?: { with: string; as: string; keys: [string, string] };
  /**
   * The request's own values given back (sample's per-row seeds): /v1 answers them, as its
   * answer echoes every seed; OIP does not (the caller sent the tensor, and INT64 seeds above
   * 2^24 would not survive an FP32 output).
   */
  echo?: boolean;
}

/** A batch of rows with an operation's parameters: what every codec produces and every runner takes. */
export interface Job<P = Record<string, unknown>> {
  op: OpName;
  /** The validated parameters (with defaults, and the seed drawn if absent). */
  params: P;
  input: 'logits' | 'probs';
  /** Row-major logits (masked classes -Infinity) or non-negative weights (masked classes 0). */
  data: Float64Array;
  rows: number;
  cols: number;
  /** Global index of data's first row in the request (the seeded stream's row index). */
  rowOffset: number;
  /** rows x cols (x n): the element count, for limits and splitting. */
  work: number;
  /**
   * What the codec that made the job needs to answer it (e.g. OIP's requested outputs, binary or
   * JSON, the output datatype); read by that codec only, opaque to operations and the pool. Plain
   * data: it crosses to the workers with the job (structured clone).
   */
  wire?: Record<string, unknown>;
}

/** A per-row parameter as an OIP input: its name and the datatype the model metadata names (any numeric one is read). */
export interface RowInputSpec {
  name: string;
  datatype: 'FP64' | 'INT64';
}

export type OpName = 'argmax' | 'softmax' | 'sparsemax' | 'entmax' | 'gumbel-softmax' | 'sample' | 'score';

export interface Operation<S extends z.ZodObject = z.ZodObject> {
  name: OpName;
  /** One line for the OpenAPI document and the README table. */
  summary: string;
  /** The parameters besides the matrix. */
  params: S;
  /** Whether probs may replace logits. */
  acceptsProbs: boolean;
  /** Whether it draws from the seeded stream (a seed is drawn and returned when absent). */
  seeded: boolean;
  /** The /v1 request body (the parameters and the matrix) and answer, for the OpenAPI document. */
  request: z.ZodType;
  response: z.ZodType;
  /**
   * Parameters that take one value per row (an array of `rows`; sample's temperature, score's
   * targets), which an OIP request may also send as input tensors [rows] named as the parameter
   * (src/codecs/oip-row-inputs.ts), and the /v1 byte scanner keeps when flat.
   */
  rowInputs?: readonly RowInputSpec[];
  /** Elements of work per matrix element (n draws for sample). */
  workPerElement(params: z.output<S>): number;
  /** The arrays of the answer, in order. */
  outputs(params: z.output<S>): OutputSpec[];
  /**
   * Arrays that other parameter values answer with instead (softmax's logProbs with log): with
   * outputs() of the defaults, every array the operation may answer with (the OIP model metadata).
   */
  otherOutputs?: OutputSpec[];
  /**
   * Checks of the parameters against the matrix, which the schema cannot make (an array of one
   * element per row, a class index below cols, a target class that is not masked): called by
   * every codec once the matrix is read and valid, before the job runs. Each issue's path is the
   * parameter's (e.g. ['targets', 3]); any issue makes the request a 400 (invalidRequest).
   * `data` is the job's matrix as the kernels read it (logits, masked classes -Infinity; or
   * weights when input is probs).
   */
  check?(params: z.output<S>, rows: number, cols: number, data: Float64Array): Issue[];
  /**
   * Parameters that are (or may be) arrays or objects, not per-row ones (sample's allowed,
   * banned, logitBias): the /v1 byte scanner keeps them in the text it parses (it empties any
   * other nested member, which the schema would refuse anyway). Per-row ones are rowInputs.
   */
  listParams?: readonly string[];
  /** Runs the kernel on the job's rows, writing each output (allocated per outputs()). */
  run(job: Job<z.output<S>>, outs: OutArray[]): void;
}

/** Keeps an operation's parameter type for its functions (the registry erases it). */
export function defineOperation<S extends z.ZodObject>(op: Operation<S>): Operation {
  return op as unknown as Operation;
}

/**
 * The /v1 request schema of an operation: the matrix (logits, or exactly one of logits and probs)
 * and its parameters, no other field.
 */
export function v1Request<S extends z.ZodObject>(
  params: S,
  acceptsProbs: boolean,
  meta: { id: string; description?: string; example: unknown },
) {
  return z
    .strictObject({
      logits: acceptsProbs ? Logits.optional() : Logits,
      ...(acceptsProbs ? { probs: Probs.optional() } : {}),
      ...params.shape,
    })
    .meta(meta);
}

export const f64 = (name: string): OutputSpec => ({ name, type: 'f64', width: 'cols' });
export const i32 = (name: string, width: 'n' | 1 = 1): OutputSpec => ({ name, type: 'i32', width });
/** The sparse form of a rows x cols mapping: each row's non-zero classes, packed left (indices padded with -1, values with 0). */
export const sparseOutputs = (): OutputSpec[] => [
  { name: 'indices', type: 'i32', width: 'cols', ragged: { pad: -1 } },
  { name: 'values', type: 'f64', width: 'cols', ragged: { pad: 0 } },
  i32('support'),
];
