import { copyBytes } from '../codecs/copy.js';
import { badRequest, quote } from '../errors.js';
import { HEADER_LENGTH } from '../codecs/oip-answer.js';
import { isReservedParameter } from '../codecs/oip-request.js';
import type { Limits } from '../codecs/types.js';

/**
 * ModelInferRequest (gRPC, as @grpc/proto-loader decodes it: keepCase, int64 as decimal text,
 * bytes as Buffer, oneofs named) into the REST v2 request with Triton's binary tensor data: a
 * JSON header and the tensors' bytes after it. The job then runs through the oip codec
 * (src/codecs/oip-request.ts) exactly as a REST v2 request does: the same checks in the same
 * order, the same messages, the same placement (inline or a worker), and so the same numbers and
 * seeded draws. The header is a few hundred bytes; the cost is one copy of the tensors into the
 * body, which a codec of its own would also make (protobuf hands each tensor over as its own
 * Buffer, and a job's matrix is one Float64Array).
 *
 * The answer comes back as the REST v2 binary answer (every output in binary, the seed in the
 * header's parameters) and is cut into a ModelInferResponse: each output's bytes go to
 * raw_output_contents; a classification output (BYTES, answered as JSON strings) is written in
 * Triton's raw BYTES form, each element a 4-byte little-endian length and its UTF-8 bytes.
 */

/** An InferParameter as proto-loader gives it (oneofs: true). */
export interface InferParameter {
  parameter_choice?: 'bool_param' | 'int64_param' | 'string_param' | 'double_param' | 'uint64_param';
  bool_param?: boolean;
  int64_param?: string;
  string_param?: string;
  double_param?: number;
  uint64_param?: string;
}

export interface InferTensorContents {
  bool_contents?: boolean[];
  int_contents?: number[];
  int64_contents?: string[];
  uint_contents?: number[];
  uint64_contents?: string[];
  fp32_contents?: number[];
  fp64_contents?: number[];
  bytes_contents?: Buffer[];
}

export interface ModelInferRequest {
  model_name?: string;
  model_version?: string;
  id?: string;
  parameters?: Record<string, InferParameter>;
  inputs?: { name?: string; datatype?: string; shape?: string[]; parameters?: Record<string, InferParameter>; contents?: InferTensorContents }[];
  outputs?: { name?: string; parameters?: Record<string, InferParameter> }[];
  raw_input_contents?: Buffer[];
}

export interface ModelInferResponse {
  model_name: string;
  model_version: string;
  id?: string;
  parameters?: Record<string, InferParameter>;
  outputs: { name: string; datatype: string; shape: number[] }[];
  raw_output_contents: Buffer[];
}


/** Bytes an element, for the datatypes a typed contents field can carry (the rest are refused by the codec). */
const TYPED: Record<string, { field: keyof InferTensorContents; bytes: number }> = {
  FP64: { field: 'fp64_contents', bytes: 8 },
  FP32: { field: 'fp32_contents', bytes: 4 },
  INT64: { field: 'int64_contents', bytes: 8 },
  INT32: { field: 'int_contents', bytes: 4 },
};
const RAW_BYTES: Record<string, number> = { FP64: 8, FP32: 4, FP16: 2, BF16: 2, INT64: 8, INT32: 4 };

/** An InferParameter's value as JSON text (numbers keep their digits: the codec checks a seed's exactness on them). */
function parameterJson(p: InferParameter, where: string): string {
  switch (p.parameter_choice) {
    case 'bool_param':
      return p.bool_param ? 'true' : 'false';
    case 'int64_param':
      return String(p.int64_param);
    case 'uint64_param':
      return String(p.uint64_param);
    case 'double_param': {
      const v = p.double_param!;
      if (!Number.isFinite(v)) throw badRequest(`${where}: double_param is ${String(v)}, not a finite number`);
      return JSON.stringify(v);
    }
    case 'string_param':
      return JSON.stringify(p.string_param);
    default:
      throw badRequest(`${where} has no value (set one of bool_param, int64_param, double_param, uint64_param, string_param)`);
  }
}

/** The number of elements a shape holds, if it is a valid one (else the codec names the problem). */
function elementsOf(shape: string[] | undefined): number | undefined {
  if (!shape || shape.length === 0) return undefined;
  let n = 1;
  for (const d of shape) {
    const v = Number(d);
    if (!Number.isSafeInteger(v) || v < 1) return undefined;
    n *= v;
  }
  return Number.isSafeInteger(n) ? n : undefined;
}

/** A typed contents field's values as little-endian bytes of the datatype. */
function typedBytes(values: unknown[], datatype: string): Buffer {
  const n = values.length;
  switch (datatype) {
    case 'FP64':
      return Buffer.from(Float64Array.from(values as number[]).buffer);
    case 'FP32':
      return Buffer.from(Float32Array.from(values as number[]).buffer);
    case 'INT32':
      return Buffer.from(Int32Array.from(values as number[]).buffer);
    default: {
      // INT64 as decimal text; outside int64 cannot arrive (protobuf's varint is 64-bit).
      const out = new BigInt64Array(n);
      for (let k = 0; k < n; k++) out[k] = BigInt(values[k] as string);
      return Buffer.from(out.buffer);
    }
  }
}

export interface Transcoded {
  body: Buffer;
  headerLength: number;
}

/**
 * The REST v2 body (header and binary tensors) of a ModelInferRequest; throws a 400 for what only
 * gRPC can get wrong (contents in the wrong field, a raw tensor of the wrong size); everything
 * else is the codec's to check. `alloc` gives the body's memory (a reused slab for a big one).
 */
export function toRestBody(req: ModelInferRequest, limits: Limits, alloc: (bytes: number) => Buffer = Buffer.allocUnsafe): Transcoded {
  const inputs = req.inputs ?? [];
  const raw = req.raw_input_contents ?? [];
  if (raw.length > 0 && raw.length !== inputs.length) {
    throw badRequest(`raw_input_contents has ${raw.length} tensors but there are ${inputs.length} inputs: give one per input, in the order of inputs`);
  }
  const tensors: Buffer[] = [];
  const inputJson: string[] = [];
  inputs.forEach((input, k) => {
    const name = input.name ?? '';
    const datatype = input.datatype ?? '';
    const where = `inputs[${k}] (${name})`;
    const params = input.parameters ?? {};
    for (const key of Object.keys(params)) {
      if (key.startsWith('shared_memory_')) throw badRequest(`inputs[${k}].parameters.${key}: shared memory is not supported (send the tensor in raw_input_contents or contents)`);
      throw badRequest(`unknown parameter(s) in inputs[${k}].parameters: ${quote(key)} (an input takes none)`);
    }
    const contents = input.contents;
    const given = contents ? (Object.keys(contents) as (keyof InferTensorContents)[]).filter((f) => (contents[f]?.length ?? 0) > 0) : [];
    let bytes: Buffer;
    if (raw.length > 0) {
      if (given.length > 0) throw badRequest(`${where} has contents, and the request has raw_input_contents: give each input's data one way`);
      bytes = raw[k];
    } else {
      const typed = TYPED[datatype];
      const expected = typed ? typed.field : undefined;
      if (given.length === 0) {
        if (datatype === 'FP16' || datatype === 'BF16') throw badRequest(`${where}: ${datatype} data must be sent in raw_input_contents (contents has no 16-bit floats)`);
        throw badRequest(`${where} has no data: give raw_input_contents (one per input) or contents.${expected ?? '<the datatype\'s field>'}`);
      }
      if (!typed) {
        // An unknown or 16-bit datatype: the codec names it (no bytes are sent).
        if (datatype === 'FP16' || datatype === 'BF16') throw badRequest(`${where}: ${datatype} data must be sent in raw_input_contents (contents has no 16-bit floats)`);
        bytes = Buffer.alloc(0);
      } else {
        if (given.length > 1 || given[0] !== expected) {
          throw badRequest(`${where}: ${datatype} data goes in contents.${expected} (got ${given.map((f) => `contents.${f}`).join(', ')})`);
        }
        const values = contents![expected!] as unknown[];
        const n = elementsOf(input.shape);
        if (n !== undefined && n <= limits.maxElements && values.length !== n) {
          throw badRequest(`${where}: contents.${expected} has ${values.length} values, but shape [${input.shape!.join(', ')}] is ${n}`);
        }
        bytes = typedBytes(values, datatype);
      }
    }
    const n = elementsOf(input.shape);
    const width = RAW_BYTES[datatype];
    if (raw.length > 0 && n !== undefined && width !== undefined && n <= limits.maxElements && bytes.length !== n * width) {
      throw badRequest(
        `raw_input_contents[${k}] has ${bytes.length} bytes, but ${where} of shape [${input.shape!.join(', ')}] and ${datatype} (${width} bytes an element) is ${n * width}`,
      );
    }
    tensors.push(bytes);
    // Shapes are int64 decimal text from proto-loader: digits (and a sign), safe in JSON as they are.
    const shape = (input.shape ?? []).map(String).join(',');
    inputJson.push(`{"name":${JSON.stringify(name)},"datatype":${JSON.stringify(datatype)},"shape":[${shape}],"parameters":{"binary_data_size":${bytes.length}}}`);
  });

  // Request parameters: the operation's fields and Triton's reserved keys (ignored); the answer
  // is always binary here (raw_output_contents), so the client's binary_data_output is dropped.
  const members: string[] = ['"binary_data_output":true'];
  for (const [key, p] of Object.entries(req.parameters ?? {})) {
    if (isReservedParameter(key)) continue;
    members.push(`${JSON.stringify(key)}:${parameterJson(p, `parameters.${key}`)}`);
  }
  let header = `{"parameters":{${members.join(',')}},"inputs":[${inputJson.join(',')}]`;
  if (req.id) header += `,"id":${JSON.stringify(req.id)}`;
  if (req.outputs && req.outputs.length > 0) {
    const outs = req.outputs.map((o, k) => {
      const ps: string[] = [];
      for (const [key, p] of Object.entries(o.parameters ?? {})) {
        if (key === 'binary_data') continue; // always raw here
        ps.push(`${JSON.stringify(key)}:${parameterJson(p, `outputs[${k}].parameters.${key}`)}`);
      }
      return `{"name":${JSON.stringify(o.name ?? '')}${ps.length ? `,"parameters":{${ps.join(',')}}` : ''}}`;
    });
    header += `,"outputs":[${outs.join(',')}]`;
  }
  header += '}';

  const headerLength = Buffer.byteLength(header);
  const total = headerLength + tensors.reduce((s, t) => s + t.length, 0);
  const body = alloc(total);
  let at = body.write(header, 0, 'utf8');
  for (const t of tensors) {
    copyBytes(body, t, at); // a big body is a slab, shared memory: see ../codecs/copy.ts
    at += t.length;
  }
  return { body, headerLength };
}

interface AnswerHeader {
  model_name: string;
  model_version: string;
  id?: string;
  parameters?: { seed?: number };
  outputs: { name: string; datatype: string; shape: number[]; data?: unknown[]; parameters?: { binary_data_size: number } }[];
}

/** Triton's raw BYTES tensor: each element a 4-byte little-endian length, then its bytes. */
function rawBytesTensor(values: unknown[]): Buffer {
  const parts = values.map((v) => Buffer.from(String(v), 'utf8'));
  const out = Buffer.allocUnsafe(parts.reduce((s, p) => s + 4 + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, at);
    at += 4 + p.copy(out, at + 4);
  }
  return out;
}

/**
 * The bytes [from, to) of an answer given as consecutive parts: a view when they lie in one part
 * (a binary output is normally one part, written whole by the workers), else a copy.
 */
function span(parts: readonly Buffer[], from: number, to: number): Buffer {
  let at = 0;
  for (let k = 0; k < parts.length; k++) {
    const p = parts[k];
    if (from >= at && to <= at + p.length) return p.subarray(from - at, to - at);
    if (from < at + p.length) {
      const out = Buffer.allocUnsafe(to - from);
      let w = 0;
      for (let j = k; j < parts.length && w < out.length; j++) {
        const start = j === k ? from - at : 0;
        w += parts[j].copy(out, w, start, Math.min(parts[j].length, start + out.length - w));
      }
      return out;
    }
    at += p.length;
  }
  return Buffer.alloc(0);
}

/**
 * The ModelInferResponse of a REST v2 answer (a JSON header and, after it, the binary outputs in
 * order), given whole or as the parts it was written in; raw outputs are views of those parts
 * where they lie in one.
 */
export function fromRestAnswer(answer: Buffer | readonly Buffer[], headers: Record<string, string> | undefined): ModelInferResponse {
  const parts = Buffer.isBuffer(answer) ? [answer] : answer;
  const total = parts.reduce((n, p) => n + p.length, 0);
  const given = headers?.[HEADER_LENGTH];
  const headerLength = given === undefined ? total : Number(given);
  const h = JSON.parse(span(parts, 0, headerLength).toString('utf8')) as AnswerHeader;
  const res: ModelInferResponse = { model_name: h.model_name, model_version: h.model_version, outputs: [], raw_output_contents: [] };
  if (h.id !== undefined) res.id = h.id;
  if (h.parameters?.seed !== undefined) res.parameters = { seed: { parameter_choice: 'int64_param', int64_param: String(h.parameters.seed) } };
  let at = headerLength;
  for (const o of h.outputs) {
    res.outputs.push({ name: o.name, datatype: o.datatype, shape: o.shape });
    if (o.data !== undefined) res.raw_output_contents.push(rawBytesTensor(o.data));
    else {
      const size = o.parameters!.binary_data_size;
      res.raw_output_contents.push(span(parts, at, at + size));
      at += size;
    }
  }
  return res;
}
