import type { Job, OpName, OutArray } from '../ops/index.js';

/**
 * A codec: one wire format's bytes to a Job, and a job's output arrays back to bytes. No codec
 * computes; no operation formats. The pool runs codecs where the work is (a worker for big
 * bodies), so a codec is named by a string and found in ./index.ts on either side of a thread.
 */

export type CodecName = 'v1-json' | 'oip';

export interface Limits {
  maxElements: number;
}

/** An answer: its bytes (or text) and the response headers it needs. */
/** An answer written into a room (Codec.encodeInto): its byte length and headers. */
export interface InRoom {
  length: number;
  headers?: Record<string, string>;
}

export interface Encoded {
  body: string | Uint8Array;
  headers?: Record<string, string>;
}

/**
 * How a big answer is written chunk by chunk: `head` first, then each part (an output's values,
 * between its open and close text, encoded a range at a time by chunk() in a worker), then `end`.
 */
export interface AnswerPlan {
  headers?: Record<string, string>;
  /**
   * A response header whose value is the byte length of the head and the first `parts` parts
   * (e.g. OIP's Inference-Header-Content-Length when JSON outputs come before binary ones): the
   * runner measures those parts' chunks before it sends the headers.
   */
  headerLength?: { name: string; parts: number };
  /** Text is ASCII (written as latin1). */
  head: string | Uint8Array;
  /** `with`: a second output the part's form writes together with `out` (see Codec.chunk). */
  parts: { out: number; with?: number; open: string; close: string; form: string }[];
  end: string;
}

export interface Codec {
  name: CodecName;
  /**
   * A Job from a request body; throws ApiError (400 / 413). `alloc` places a big matrix (shared
   * memory); without it a codec may view a tensor in the body's bytes (OIP: aligned FP64), so
   * the job holds on to the body. `meta` carries what the protocol says outside the body (e.g. a
   * header length).
   */
  decode(op: OpName, body: Uint8Array, limits: Limits, alloc?: (length: number) => Float64Array, meta?: DecodeMeta): Job;
  /** The whole answer for a job's outputs. */
  encode(job: Job, outs: OutArray[]): Encoded;
  /**
   * The whole answer's bytes written into `room` (reused shared memory) from its start, when the
   * codec can and they may fit: their length and the answer's headers (as encode's); else
   * undefined, room untouched (then encode).
   */
  encodeInto?(job: Job, outs: OutArray[], room: Uint8Array): InRoom | undefined;
  /** The answer written in chunks; it depends on the job alone (it is made before the outputs are computed). */
  plan(job: Job): AnswerPlan;
  /**
   * Values [i0, i1) of an output in a part's form (see plan); `other` is the part's `with`
   * output, of the same width, when it has one.
   */
  chunk(buf: OutArray, width: number, matrix: boolean, form: string, i0: number, i1: number, other?: OutArray): string | Uint8Array;
  /**
   * Nanoseconds to write the job's answer, at most (placement, src/pool/cost.ts): JSON numbers
   * cost ~130 ns each, binary values a few.
   */
  answerCostNs(job: Job): number;
  /**
   * Binary forms (a part of fixed-size values): bytes per value, or undefined for a form of text.
   * A big answer's binary parts are written by the workers that compute its rows (writeInto),
   * or sent as the output array's own bytes (sentAsIs), never formatted chunk by chunk.
   */
  binaryWidth?(form: string): number | undefined;
  sentAsIs?(buf: OutArray, form: string): boolean;
  /** Every value of buf in a binary form into dest (buf.length x binaryWidth(form) bytes). */
  writeInto?(buf: OutArray, form: string, dest: Uint8Array): void;
}

/** What a protocol says about a body outside it. */
export interface DecodeMeta {
  /** Triton's binary tensor extension: the length of the JSON header before the binary data. */
  headerLength?: number;
}
