import type { Job, OpName, OutArray } from '../ops/index.js';

/**
 * A codec: one wire format's bytes to a Job, and a job's output arrays back to bytes. No codec
 * computes; no operation formats. The pool runs codecs where the work is (a worker for big
 * bodies), so a codec is named by a string and found in ./index.ts on either side of a thread.
 */

export type CodecName = 'v1-json';

export interface Limits {
  maxElements: number;
}

/** The text around a job's output arrays when they are written chunk by chunk. */
export interface Frame {
  /** Before output i's values. */
  open: string[];
  /** After output i's values. */
  close: string[];
  /** After the last output. */
  end: string;
}

export interface Codec {
  name: CodecName;
  /** A Job from a request body; throws ApiError (400 / 413). `alloc` places a big matrix (shared memory). */
  decode(op: OpName, body: Uint8Array, limits: Limits, alloc?: (length: number) => Float64Array): Job;
  /** The whole answer for a job's outputs. */
  encode(job: Job, outs: OutArray[]): string;
  /** The answer written in chunks: the frame, and any range of an output's values. */
  frame(job: Pick<Job, 'op' | 'params' | 'cols'>): Frame;
  chunk(buf: OutArray, width: number, matrix: boolean, i0: number, i1: number): string;
}
