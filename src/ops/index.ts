import argmax from './argmax.js';
import entmax from './entmax.js';
import gumbelSoftmax from './gumbel-softmax.js';
import sample from './sample.js';
import score from './score.js';
import softmax from './softmax.js';
import sparsemax from './sparsemax.js';
import type { Job, OpName, Operation, OutArray, OutputSpec } from './types.js';

export type { Job, OpName, Operation, OutArray, OutputSpec } from './types.js';

/**
 * The operations, listed once: the /v1 routes, the OIP models, the OpenAPI document's paths and
 * the tests all derive from this list, in this order.
 */
export const OPERATIONS: readonly Operation[] = [argmax, softmax, sparsemax, entmax, gumbelSoftmax, sample, score];

export const OP_NAMES = OPERATIONS.map((o) => o.name) as readonly OpName[];

const byName = new Map<string, Operation>(OPERATIONS.map((o) => [o.name, o]));

export function operation(name: OpName): Operation {
  return byName.get(name)!;
}

export function isOpName(name: string): name is OpName {
  return byName.has(name);
}

/** The answer's arrays of a job, with their widths resolved and whether each is a matrix. */
export interface Layout {
  name: string;
  type: 'f64' | 'i32';
  /** Values per row. */
  width: number;
  matrix: boolean;
  /** Computed over the job's data (a rows x cols real output). */
  inPlace: boolean;
  /** See OutputSpec. */
  ragged?: { pad: number };
  zip?: { with: string; as: string; keys: [string, string] };
  echo?: boolean;
}

/** Values per row of an output. */
export function widthOf(spec: OutputSpec, params: Record<string, unknown>, cols: number): number {
  switch (spec.width) {
    case 'cols':
      return cols;
    case 'n':
      return params.n as number;
    case 'top':
      return Math.max(1, Math.min((params.topLogprobs as number | undefined) ?? 0, cols));
    default:
      return 1;
  }
}

export function layoutOf(job: Pick<Job, 'op' | 'params' | 'cols'>): Layout[] {
  return operation(job.op)
    .outputs(job.params)
    .map((spec) => ({
      name: spec.name,
      type: spec.type,
      width: widthOf(spec, job.params, job.cols),
      matrix: spec.width !== 1,
      inPlace: spec.type === 'f64' && spec.width === 'cols',
      ...(spec.ragged ? { ragged: spec.ragged } : {}),
      ...(spec.zip ? { zip: spec.zip } : {}),
      ...(spec.echo ? { echo: true } : {}),
    }));
}

/** Values in the answer's arrays: what decides whether it is written whole or streamed. */
export function outputElements(job: Pick<Job, 'op' | 'params' | 'cols' | 'rows'>): number {
  return layoutOf(job).reduce((s, l) => s + job.rows * l.width, 0);
}

/**
 * Runs the job's kernel into output arrays. With inPlace, a rows x cols real output is written
 * over job.data (every kernel reads a row before it writes it: test/ops checks the bytes match),
 * so a big job needs no second matrix; `alloc` makes the other outputs, or `given` holds them all
 * (the rows of shared outputs that a worker computes).
 */
export function run(
  job: Job,
  inPlace = false,
  alloc: (type: 'f64' | 'i32', length: number) => OutArray = (type, length) =>
    type === 'f64' ? new Float64Array(length) : new Int32Array(length),
  given?: OutArray[],
): OutArray[] {
  const outs = given ?? layoutOf(job).map((l) => (inPlace && l.inPlace ? job.data : alloc(l.type, job.rows * l.width)));
  operation(job.op).run(job, outs);
  return outs;
}

/**
 * The job with its matrix on shared memory (copied there if it is not), so that threads can
 * compute its rows in place and read its outputs without a copy.
 */
export function onSharedMemory(job: Job): Job {
  if (job.data.buffer instanceof SharedArrayBuffer) return job;
  const data = new Float64Array(new SharedArrayBuffer(job.data.length * 8));
  data.set(job.data);
  return { ...job, data };
}

/** A sub-job of rows [r0, r1): its data is a view. */
export function slice(job: Job, r0: number, r1: number): Job {
  return {
    ...job,
    data: job.data.subarray(r0 * job.cols, r1 * job.cols),
    rows: r1 - r0,
    rowOffset: job.rowOffset + r0,
    work: (job.work / job.rows) * (r1 - r0),
  };
}
