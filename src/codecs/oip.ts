import { answerCostNs, binaryWidth, chunk, encode, encodeInto, plan, sentAsIs, writeInto } from './oip-answer.js';
import { decodeOip } from './oip-request.js';
import type { Codec } from './types.js';

/**
 * The Open Inference Protocol (KServe v2, NVIDIA Triton, Seldon MLServer) over REST: JSON bodies,
 * and Triton's binary tensor data extension (a JSON header of DecodeMeta.headerLength bytes, then
 * raw tensors), told apart by that length alone. Requests: ./oip-request.ts; answers:
 * ./oip-answer.ts; binary tensors: ./oip-tensor.ts.
 */
const oip: Codec = {
  name: 'oip',
  decode: (op, body, limits, alloc, meta) => decodeOip(op, body, limits, alloc, meta),
  encode,
  encodeInto,
  plan: (job) => plan(job),
  chunk: (buf, width, _matrix, form, i0, i1) => chunk(buf, width, form, i0, i1),
  answerCostNs,
  binaryWidth,
  sentAsIs,
  writeInto,
};
export default oip;
