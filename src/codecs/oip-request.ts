import { ApiError, badRequest, echoList, MAX_ECHOED, quoteValue } from '../errors.js';
import { layoutOf, operation, type Job, type OpName, type Operation } from '../ops/index.js';
import { checkWork } from '../schemas/matrix.js';
import { JsonSyntaxError, keyText, readNumberArray, skipString, skipValue, syntax, ws, type ScannedNumbers } from './body-scan.js';
import { isUint53Text } from './exact-integer.js';
import { ELEMENT_BYTES, LITTLE_ENDIAN, readBinary, type InputDatatype } from './oip-tensor.js';
import { rowInputOf, rowValues, type RowInput } from './oip-row-inputs.js';
import { numberToken, soleMemberText, topLevelNumberText, topLevelValueText } from './seed-text.js';
import type { DecodeMeta, Limits } from './types.js';
import { randomSeed, unionBranches } from './v1-json.js';

/**
 * An Open Inference Protocol (KServe v2 / Triton) inference request into a Job:
 *   {"id"?, "parameters"?: {...the operation's fields, Triton's reserved keys},
 *    "inputs": [{"name": "logits" | "probs", "datatype", "shape": [rows, cols],
 *                "data"?: [...] | "parameters"?: {"binary_data_size"}}],
 *    "outputs"?: [{"name", "parameters"?: {"binary_data", "classification"}}]}
 * as JSON, or as a JSON header of DecodeMeta.headerLength bytes followed by the input's raw
 * little-endian bytes (Triton's binary tensor data extension).
 *
 * Memory stays bounded as for /v1: a JSON body up to FAST_MAX_BYTES goes to JSON.parse; a bigger
 * one is read by the byte scanner, the input's data straight into the job's Float64Array
 * (./body-scan.ts readNumberArray) and only the rest (a few small fields, at most REST_MAX_BYTES)
 * to JSON.parse. Binary data is converted by typed-array views (./oip-tensor.ts).
 *
 * Every refusal is a 400 (413 for the element limit) naming the field, and element errors name
 * the row and class, as /v1's do. Checks run in a fixed order: the envelope, the parameters, the
 * outputs, the element limit, the sizes of binary data, the data's shape, its elements, then
 * the operation's check of its parameters against the matrix (Operation.check).
 */

/** What the answer needs (Job.wire): read by ./oip-answer.ts. */
export type OipWire = {
  id?: string;
  /** Real outputs in FP64 (the input was FP64) or FP32. */
  fp64: boolean;
  /** The outputs to answer, in order: their index in layoutOf(job), binary or JSON, classification count. */
  outputs: { out: number; binary: boolean; classes?: number }[];
};

/** JSON bodies (or headers) below this are parsed whole by JSON.parse; bigger ones are scanned. */
export const FAST_MAX_BYTES = 16 * 1024;
/** The largest part of a scanned request outside its input data (valid ones have a few fields). */
export const REST_MAX_BYTES = 1024 * 1024;

const TOP_KEYS = ['id', 'parameters', 'inputs', 'outputs'];
const INPUT_KEYS = ['name', 'shape', 'datatype', 'parameters', 'data'];
const OUTPUT_KEYS = ['name', 'parameters'];
const DATATYPES: InputDatatype[] = ['FP64', 'FP32', 'FP16', 'BF16'];

/** Triton's reserved request parameters: accepted and not operation fields (binary_data_output is read below). */
export function isReservedParameter(key: string): boolean {
  return key === 'binary_data_output' || key === 'priority' || key === 'timeout' || key === 'headers' || key.startsWith('sequence_') || key.startsWith('triton_');
}

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A 400 for keys of an object that are not in `known`. */
function unknownKeys(obj: Obj, known: readonly string[], where: string, skip: (k: string) => boolean = () => false): void {
  const extra = Object.keys(obj).filter((k) => !known.includes(k) && !skip(k));
  if (extra.length > 0) throw badRequest(`unknown field(s) in ${where}: ${echoList(extra)} (it takes ${known.join(', ')})`);
}

export function decodeOip(
  name: OpName,
  body: Uint8Array,
  limits: Limits,
  given?: (length: number) => Float64Array,
  meta: DecodeMeta = {},
  fastMax = FAST_MAX_BYTES,
): Job {
  const alloc = given ?? ((n: number) => new Float64Array(n));
  const op = operation(name);
  const h = meta.headerLength;
  if (h !== undefined) {
    if (h > body.length) {
      throw badRequest(`Inference-Header-Content-Length is ${h} but the body has only ${body.length} bytes (truncated, or the wrong length)`);
    }
    if (h === 0) throw badRequest('Inference-Header-Content-Length is 0: the inference header (JSON) is missing');
  }
  const json = h === undefined ? body : body.subarray(0, h);
  const { header, text, scanned } = parseHeader(json, limits, alloc, fastMax);
  return build(op, header, text, scanned, body, h, limits, alloc, given === undefined);
}

interface Parsed {
  header: Obj;
  /** The JSON text the header was parsed from (the whole, or the scanned rest): for the seed's digits. */
  text: string;
  /** The first input's data, when the scanner read it from the bytes (else it is in `header`). */
  scanned?: ScannedNumbers;
}

function parseHeader(json: Uint8Array, limits: Limits, alloc: (length: number) => Float64Array, fastMax: number): Parsed {
  let value: unknown;
  let text: string;
  let scanned: ScannedNumbers | undefined;
  if (json.length < fastMax) {
    text = Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8');
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw jsonError(json, e);
    }
  } else {
    let rest: string;
    try {
      ({ rest, scanned } = scanRequest(json, Math.min(limits.maxElements, Math.floor(json.length / 2) + 1), alloc));
    } catch (e) {
      throw e instanceof JsonSyntaxError ? literalError(json, e) : e;
    }
    text = rest;
    value = JSON.parse(rest); // the scanner checked the grammar
  }
  if (!isObject(value)) throw badRequest('the inference request (JSON) must be an object');
  return { header: value, text, scanned };
}

/** The first syntax error of a body JSON.parse refused, found by the byte scanner for its position. */
function jsonError(b: Uint8Array, cause: unknown): ApiError {
  try {
    const end = ws(b, skipValue(b, ws(b, 0)));
    if (end !== b.length) throw syntax(b, end);
  } catch (e) {
    if (e instanceof JsonSyntaxError) return literalError(b, e);
    throw e;
  }
  return badRequest(`the inference request is not valid JSON: ${(cause as Error).message}`);
}

const startsWith = (b: Uint8Array, at: number, word: string) => {
  for (let k = 0; k < word.length; k++) if (b[at + k] !== word.charCodeAt(k)) return false;
  return true;
};

/** NaN and Infinity, which some clients write for floats, named; any other syntax error as it is. */
function literalError(b: Uint8Array, e: JsonSyntaxError): ApiError {
  for (const word of ['NaN', 'Infinity']) {
    if (!startsWith(b, e.at, word)) continue;
    const at = word === 'Infinity' && b[e.at - 1] === 45 ? e.at - 1 : e.at;
    const literal = at < e.at ? '-Infinity' : word;
    return badRequest(
      `the inference request is not valid JSON: ${literal} at byte ${at} is not a JSON number (JSON has no NaN or ` +
        'Infinity: mask a class with null, or send the tensor as binary data, where -inf masks)',
    );
  }
  return e;
}

/**
 * Reads a big JSON request without materialising it: the first input's "data" array goes into a
 * Float64Array, and the rest of the text, with every input's data replaced by 0, is returned for
 * JSON.parse (at most REST_MAX_BYTES). Repeated keys: the last wins, as with JSON.parse.
 */
function scanRequest(b: Uint8Array, capacity: number, alloc: (length: number) => Float64Array): { rest: string; scanned?: ScannedNumbers } {
  const n = b.length;
  let i = ws(b, 0);
  if (b[i] !== 123) {
    i = ws(b, skipValue(b, i));
    if (i !== n) throw syntax(b, i);
    throw badRequest('the inference request (JSON) must be an object');
  }
  const cuts: [number, number][] = [];
  let scanned: ScannedNumbers | undefined;
  let buffer: Float64Array | undefined;
  const buf = () => (buffer ??= alloc(capacity));

  /** `{...}` members from b[i] (its `{`), calling visit(key, valueStart) for each; visit returns the value's end. */
  const members = (i: number, visit: (key: string, at: number) => number): number => {
    i = ws(b, i + 1);
    if (b[i] === 125) return i + 1;
    for (;;) {
      if (b[i] !== 34) throw syntax(b, i);
      const keyEnd = skipString(b, i);
      const key = keyText(b, i, keyEnd);
      i = ws(b, keyEnd);
      if (b[i] !== 58) throw syntax(b, i);
      i = ws(b, visit(key, ws(b, i + 1)));
      if (b[i] === 44) {
        i = ws(b, i + 1);
        continue;
      }
      if (b[i] === 125) return i + 1;
      throw syntax(b, i);
    }
  };
  const input = (index: number) => (key: string, at: number): number => {
    if (key !== 'data') return skipValue(b, at);
    if (b[at] !== 91) {
      if (index === 0) scanned = undefined; // a later non-array "data" wins
      return skipValue(b, at);
    }
    let end: number;
    if (index === 0) {
      scanned = readNumberArray(b, at, capacity, buf, 'inputs[0].data');
      end = scanned.end;
    } else end = skipValue(b, at); // refused later (one input), never stored
    cuts.push([at, end]);
    return end;
  };
  i = members(i, (key, at) => {
    if (key !== 'inputs' || b[at] !== 91) return skipValue(b, at);
    scanned = undefined;
    let j = ws(b, at + 1);
    if (b[j] === 93) return j + 1;
    for (let index = 0; ; index++) {
      j = b[j] === 123 ? members(j, input(index)) : skipValue(b, j);
      j = ws(b, j);
      if (b[j] === 44) {
        j = ws(b, j + 1);
        continue;
      }
      if (b[j] === 93) return j + 1;
      throw syntax(b, j);
    }
  });
  i = ws(b, i);
  if (i !== n) throw syntax(b, i);

  let restBytes = n;
  for (const [s, e] of cuts) restBytes -= e - s;
  if (restBytes > REST_MAX_BYTES) {
    throw badRequest(
      `the inference request has ${restBytes} bytes outside its input's data; at most ${REST_MAX_BYTES} are accepted (the parameters, and per-row inputs as JSON of up to ~50k values; send longer ones as binary data)`,
    );
  }
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let rest = '';
  let at = 0;
  for (const [s, e] of cuts) {
    rest += `${text.toString('utf8', at, s)}0`;
    at = e;
  }
  rest += text.toString('utf8', at, n);
  return { rest, scanned };
}

/** The Job of a parsed header (see the order of checks above). */
function build(
  op: Operation,
  header: Obj,
  text: string,
  scanned: ScannedNumbers | undefined,
  body: Uint8Array,
  h: number | undefined,
  limits: Limits,
  alloc: (length: number) => Float64Array,
  viewInPlace: boolean,
): Job {
  unknownKeys(header, TOP_KEYS, 'the inference request');
  const { id } = header;
  if (id !== undefined && typeof id !== 'string') throw badRequest(`id must be a string (got ${quoteValue(id)})`);

  // Parameters: the operation's fields, and Triton's reserved keys.
  const given = header.parameters ?? {};
  if (!isObject(given)) throw badRequest(`parameters must be an object (got ${quoteValue(given)})`);
  const known = Object.keys(op.params.shape);
  const fields: Obj = {};
  for (const [k, v] of Object.entries(given)) if (!isReservedParameter(k)) fields[k] = v;
  const extra = Object.keys(fields).filter((k) => !known.includes(k));
  if (extra.length > 0) {
    const takes = known.length ? `${op.name} takes ${known.join(', ')}` : `${op.name} takes none`;
    throw badRequest(`unknown parameter(s): ${echoList(extra)} (${takes}, and Triton's reserved keys)`);
  }
  const binaryOutput = given.binary_data_output ?? false;
  if (typeof binaryOutput !== 'boolean') throw badRequest(`parameters.binary_data_output must be a boolean (got ${quoteValue(binaryOutput)})`);
  if (op.seeded && typeof fields.seed === 'number' && !seedIsExact(text)) fields.seed = Number.NaN;

  // The input: the matrix first, then any per-row inputs of the operation (./oip-row-inputs.ts).
  const inputs = header.inputs;
  const names = op.acceptsProbs ? 'logits or probs' : 'logits';
  const perRow = (op.rowInputs ?? []).map((i) => i.name);
  const takes = perRow.length > 0 ? `${names} first, then any of the per-row inputs ${perRow.join(', ')}` : `one tensor (${names})`;
  if (!Array.isArray(inputs) || inputs.length === 0) throw badRequest(`inputs must be an array of ${takes}`);
  if (inputs.length > 1 + perRow.length) throw badRequest(`the request has ${inputs.length} inputs; ${op.name} takes ${takes}`);
  const input = inputs[0];
  if (!isObject(input)) throw badRequest('inputs[0] must be an object');
  unknownKeys(input, INPUT_KEYS, 'inputs[0]');
  const field = input.name;
  if (!(field === 'logits' || (op.acceptsProbs && field === 'probs'))) throw badRequest(`inputs[0].name must be ${names} (got ${quoteValue(field)})`);
  const datatype = input.datatype;
  if (typeof datatype !== 'string' || !DATATYPES.includes(datatype as InputDatatype)) {
    throw badRequest(`inputs[0].datatype must be one of ${DATATYPES.join(', ')} (got ${quoteValue(datatype)})`);
  }
  const dtype = datatype as InputDatatype;
  const shape = input.shape;
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isSafeInteger(d) && (d as number) >= 1)) {
    throw badRequest(`inputs[0].shape must be [rows, classes], two integers >= 1 (got ${quoteValue(shape)})`);
  }
  const [rows, cols] = shape as [number, number];
  const inParams = input.parameters ?? {};
  if (!isObject(inParams)) throw badRequest(`inputs[0].parameters must be an object (got ${quoteValue(inParams)})`);
  for (const k of Object.keys(inParams)) {
    if (k === 'binary_data_size') continue;
    if (k.startsWith('shared_memory_')) throw badRequest(`inputs[0].parameters.${k}: shared memory is not supported (send the data in the body)`);
    throw badRequest(`unknown field(s) in inputs[0].parameters: ${echoList([k])} (it takes binary_data_size)`);
  }
  const size = inParams.binary_data_size;
  const binary = size !== undefined;
  if (binary && !(Number.isSafeInteger(size) && (size as number) >= 0)) {
    throw badRequest(`inputs[0].parameters.binary_data_size must be an integer >= 0 (got ${quoteValue(size)})`);
  }
  const hasData = input.data !== undefined;
  if (binary && hasData) throw badRequest('inputs[0] has both data and parameters.binary_data_size: give one');
  if (binary && h === undefined) {
    throw badRequest(
      'inputs[0] has parameters.binary_data_size but the request has no Inference-Header-Content-Length header, so its binary data cannot be found',
    );
  }
  if (!binary && !hasData) throw badRequest('inputs[0] has no data: give data (JSON), or binary data with parameters.binary_data_size');
  if (!binary && (dtype === 'FP16' || dtype === 'BF16')) {
    throw badRequest(`inputs[0]: ${dtype} data must be sent as binary data (JSON has no 16-bit floats)`);
  }
  const extras: RowInput[] = [];
  for (let k = 1; k < inputs.length; k++) {
    const extra = inputs[k];
    if (!isObject(extra)) throw badRequest(`inputs[${k}] must be an object`);
    unknownKeys(extra, INPUT_KEYS, `inputs[${k}]`);
    const name = extra.name;
    if (typeof name !== 'string' || !perRow.includes(name)) throw badRequest(`inputs[${k}].name: ${quoteValue(name)} is not an input of ${op.name} (it takes ${takes})`);
    if (extras.some((e) => e.name === name)) throw badRequest(`inputs[${k}].name: ${name} is given twice`);
    if (fields[name] !== undefined) throw badRequest(`${name} is given both in parameters and as inputs[${k}]: give one`);
    const row = rowInputOf(extra, k, rows);
    if (row.binarySize !== undefined && h === undefined) {
      throw badRequest(`${row.where} has parameters.binary_data_size but the request has no Inference-Header-Content-Length header, so its binary data cannot be found`);
    }
    extras.push(row);
  }
  if (h !== undefined) {
    const after = body.length - h;
    const declared = (binary ? (size as number) : 0) + extras.reduce((sum, e) => sum + (e.binarySize ?? 0), 0);
    if (after !== declared) {
      throw badRequest(
        `the body has ${after} bytes after its ${h}-byte inference header, but the inputs' binary_data_size add up to ${declared}`,
      );
    }
  }

  // The parameters, with the per-row inputs' values as the arrays a /v1 body would give.
  let offset = h === undefined ? 0 : h + (binary ? (size as number) : 0);
  for (const e of extras) {
    fields[e.name] = rowValues(e, rows, body, offset);
    offset += e.binarySize ?? 0;
  }
  const parsed = op.params.safeParse(fields);
  if (!parsed.success) {
    // A per-row input's element is named by the input and its row; the rest are parameters.
    const where = (i: { path: PropertyKey[] }) => {
      const e = extras.find((x) => x.name === i.path[0]);
      return e ? `${e.where}.data[${String(i.path[1] ?? '')}]` : 'parameters';
    };
    const messages = [...new Set(unionBranches(parsed.error.issues).map((i) => `${where(i)}: ${i.message}`))];
    throw badRequest(messages.slice(0, MAX_ECHOED).join('; '));
  }
  const params: Obj = parsed.data;
  if (Object.is(params.seed, -0)) params.seed = 0;
  if (op.seeded && params.seed === undefined) params.seed = randomSeed();

  // Outputs.
  const job0 = { op: op.name, params, cols };
  const layout = layoutOf(job0);
  const outputs = header.outputs;
  let chosen: OipWire['outputs'];
  if (outputs === undefined) {
    // Every output but the request's own values given back (OutputSpec.echo).
    chosen = layout.flatMap((l, out) => (l.echo ? [] : [{ out, binary: binaryOutput }]));
  }
  else {
    if (!Array.isArray(outputs) || outputs.length === 0) throw badRequest('outputs must be an array of at least one output');
    const seen = new Set<string>();
    chosen = outputs.map((o, k) => {
      const where = `outputs[${k}]`;
      if (!isObject(o)) throw badRequest(`${where} must be an object`);
      unknownKeys(o, OUTPUT_KEYS, where);
      const out = layout.findIndex((l) => l.name === o.name && !l.echo);
      if (out < 0) throw badRequest(`${where}.name: ${quoteValue(o.name)} ${notAnOutput(op, o.name, layout)}`);
      if (seen.has(o.name as string)) throw badRequest(`${where}.name: ${o.name as string} is requested twice`);
      seen.add(o.name as string);
      const p = o.parameters ?? {};
      if (!isObject(p)) throw badRequest(`${where}.parameters must be an object (got ${quoteValue(p)})`);
      for (const key of Object.keys(p)) {
        if (key === 'binary_data' || key === 'classification') continue;
        if (key.startsWith('shared_memory_')) throw badRequest(`${where}.parameters.${key}: shared memory is not supported`);
        throw badRequest(`unknown field(s) in ${where}.parameters: ${echoList([key])} (it takes binary_data, classification)`);
      }
      const bin = p.binary_data ?? binaryOutput;
      if (typeof bin !== 'boolean') throw badRequest(`${where}.parameters.binary_data must be a boolean (got ${quoteValue(bin)})`);
      const classes = p.classification;
      if (classes === undefined) return { out, binary: bin };
      const width = layout[out].width;
      if (layout[out].ragged) {
        throw badRequest(`${where}.parameters.classification: ${layout[out].name} is a padded sparse output (each row's entries first, then padding), not one value per class`);
      }
      if (!(Number.isSafeInteger(classes) && (classes as number) >= 1)) {
        throw badRequest(`${where}.parameters.classification must be an integer >= 1 (got ${quoteValue(classes)})`);
      }
      if ((classes as number) > width) {
        throw badRequest(`${where}.parameters.classification is ${classes as number}, more than the ${width} values per row of ${layout[out].name}`);
      }
      return { out, binary: bin, classes: classes as number };
    });
  }

  // Sizes.
  const factor = op.workPerElement(params);
  checkWork(field, rows, cols, factor, limits.maxElements);
  const count = rows * cols;
  let data: Float64Array;
  let fromReader: { at: number; issue: string } | undefined;
  if (binary) {
    const need = count * ELEMENT_BYTES[dtype];
    if (size !== need) {
      throw badRequest(
        `inputs[0] (${field}): binary_data_size is ${size as number} bytes, but shape [${rows}, ${cols}] of ${dtype} ` +
          `(${ELEMENT_BYTES[dtype]} bytes an element) is ${need}`,
      );
    }
    const at = body.byteOffset + h!;
    if (viewInPlace && dtype === 'FP64' && LITTLE_ENDIAN && at % 8 === 0) {
      // A small job (no placement asked for) views an aligned FP64 tensor where it is.
      data = new Float64Array(body.buffer, at, count);
    } else {
      data = alloc(count);
      readBinary(body, h!, dtype, count, data);
    }
  } else {
    const read = scanned ?? numbersOf(input.data, Math.min(limits.maxElements, count));
    if (read.shapeError) throw badRequest(read.shapeError);
    if (read.depth === 2 ? read.rows !== rows || read.cols !== cols : read.count !== count) {
      const got = read.depth === 2 ? `${read.rows} rows of ${read.cols} values` : `${read.count} values`;
      throw badRequest(`inputs[0].data has ${got}, but shape is [${rows}, ${cols}] (${count} values, flat row-major or as rows)`);
    }
    data = read.data;
    if (read.badAt >= 0) fromReader = { at: read.badAt, issue: read.badIssue! };
    if (dtype === 'FP32') {
      // A JSON number of an FP32 tensor is the float32 nearest to it, as a binary client would send.
      for (let k = 0; k < count; k++) {
        const v = data[k];
        const f = Math.fround(v);
        if (f - f !== 0 && v - v === 0) {
          if (fromReader === undefined || k < fromReader.at) fromReader = { at: k, issue: 'is out of the FP32 range' };
          data[k] = Number.NaN;
        } else data[k] = f;
      }
    }
  }
  checkElements(field, data, rows, cols, binary, fromReader, read2d(input.data, scanned));
  const issues = op.check?.(params, rows, cols, data);
  if (issues && issues.length > 0) throw badRequest(issues.slice(0, MAX_ECHOED).map((i) => i.message).join('; '));

  const wire: OipWire = { fp64: dtype === 'FP64', outputs: chosen };
  if (id !== undefined) wire.id = id as string;
  return { op: op.name, params, input: field as 'logits' | 'probs', data, rows, cols, rowOffset: 0, work: count * factor, wire };
}

/** Whether JSON data came as rows (for naming an element by its place in the request). */
function read2d(data: unknown, scanned: ScannedNumbers | undefined): boolean {
  return scanned ? scanned.depth === 2 : Array.isArray(data) && Array.isArray(data[0]);
}

function notAnOutput(op: Operation, name: unknown, layout: { name: string }[]): string {
  const answers = layout.map((l) => l.name).join(', ');
  if (op.otherOutputs?.some((o) => o.name === name)) return `is answered by ${op.name} only with other parameters (with these it answers ${answers})`;
  return `is not an output of ${op.name} (with these parameters it answers ${answers})`;
}

/** The seed's number text in parameters, checked on its digits (JSON.parse rounds 9007199254740991.4). */
function seedIsExact(text: string): boolean {
  // parameters has a seed (the caller parsed it): the only "seed" member of an escape-free text is it.
  const sole = soleMemberText(text, 'seed');
  const params = sole === undefined ? topLevelValueText(text, 'parameters') : undefined;
  const token = sole !== undefined ? numberToken(sole) : params === undefined ? undefined : topLevelNumberText(params, 'seed');
  return token === undefined || isUint53Text(token);
}

/**
 * The small path's data (a JSON value), read as the scanner reads bytes: flat or rows of numbers
 * and nulls, with the same messages. At most `capacity` values are stored.
 */
export function numbersOf(value: unknown, capacity: number): ScannedNumbers {
  const path = 'inputs[0].data';
  if (!Array.isArray(value)) throw badRequest(`${path} must be an array (got ${quoteValue(value)})`);
  const empty = new Float64Array(0);
  if (value.length === 0) return { end: 0, data: empty, count: 0, depth: 1, rows: 0, cols: 0, badAt: -1 };
  const nested = Array.isArray(value[0]);
  let count = 0;
  if (nested) {
    for (let r = 0; r < value.length; r++) {
      const row = value[r];
      // In the scanner's order: a row's inner array is met before its length is known.
      if (!Array.isArray(row)) return shapeOnly(`${path}[${r}] is not an array (give a flat array, or an array of rows)`);
      for (const v of row) if (Array.isArray(v)) return shapeOnly(`${path}[${r}] holds an array (give a flat array, or an array of rows, not deeper)`);
      if (row.length !== value[0].length) return shapeOnly(`${path}[${r}] has ${row.length} values, ${path}[0] has ${value[0].length}`);
      count += row.length;
    }
  } else {
    for (const v of value) if (Array.isArray(v)) return shapeOnly(`${path} mixes numbers and arrays (give a flat array, or an array of rows)`);
    count = value.length;
  }
  const data = count <= capacity ? new Float64Array(count) : empty;
  let badAt = -1;
  if (count <= capacity) {
    if (nested) {
      let k = 0;
      for (const row of value as unknown[][]) {
        const bad = putNumbers(row, data, k);
        if (bad >= 0 && badAt < 0) badAt = k + bad;
        k += row.length;
      }
    } else badAt = putNumbers(value, data, 0);
  }
  const badIssue = badAt < 0 ? undefined : typeof valuesAt(value, nested, badAt) === 'number' ? 'must be a finite number' : 'must be a number or null';
  const cols = nested ? (value[0] as unknown[]).length : 0;
  return { end: 0, data, count, depth: nested ? 2 : 1, rows: nested ? value.length : 0, cols, badAt, badIssue };

  function shapeOnly(shapeError: string): ScannedNumbers {
    return { end: 0, data: empty, count: 0, depth: 1, rows: 0, cols: 0, shapeError, badAt: -1 };
  }
}

/** Classes of the last firstNotFinite range that are not masked (-inf), up to its first bad one. */
let live = 0;

/** The index of the first NaN or +inf of data[from, to), or -1; sets `live`. */
function firstNotFinite(data: Float64Array, from: number, to: number): number {
  let n = 0;
  for (let k = from; k < to; k++) {
    const v = data[k];
    if (v === -Infinity) continue;
    if (v - v !== 0) {
      live = n;
      return k;
    }
    n++;
  }
  live = n;
  return -1;
}

/**
 * JSON values into data[at..]: numbers, null as -Infinity, anything else (and non-finite numbers)
 * as NaN. Returns the index in `values` of the first that is not a finite number or null, or -1.
 * (A loop of its own: a closure per value cost ~2 us of a 1x50 request.)
 */
function putNumbers(values: unknown[], data: Float64Array, at: number): number {
  let bad = -1;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v === 'number' && v - v === 0) data[at + i] = v;
    else if (v === null) data[at + i] = -Infinity;
    else {
      data[at + i] = Number.NaN;
      if (bad < 0) bad = i;
    }
  }
  return bad;
}

/** The k-th value of flat or row-nested JSON data. */
function valuesAt(value: unknown[], nested: boolean, k: number): unknown {
  if (!nested) return value[k];
  const cols = (value[0] as unknown[]).length;
  return (value[Math.floor(k / cols)] as unknown[])[k % cols];
}

/**
 * The elements' check, in row-major order, the first problem refused: logits are finite or
 * masked (null in JSON, -inf in binary data), a row has a live class; probs are finite and
 * non-negative, a row sums to more than 0 (a row whose sum overflows is divided by its maximum,
 * as /v1 does). `fromReader` is the JSON reader's first bad element (not a number, ...).
 */
function checkElements(
  field: string,
  data: Float64Array,
  rows: number,
  cols: number,
  binary: boolean,
  fromReader: { at: number; issue: string } | undefined,
  nested: boolean,
): void {
  const probs = field === 'probs';
  const stopAt = fromReader ? fromReader.at : Infinity;
  const place = (k: number) => {
    const r = Math.floor(k / cols);
    const j = k - r * cols;
    const where = binary ? `element ${k} of the binary data` : nested ? `inputs[0].data[${r}][${j}]` : `inputs[0].data[${k}]`;
    return `${field}[${r}][${j}] (${where})`;
  };
  const element = (k: number, issue: string): never => {
    throw badRequest(`${place(k)} ${issue}`);
  };
  const describe = (v: number) => (Number.isNaN(v) ? 'NaN' : v > 0 ? '+inf' : v === -Infinity ? '-inf' : String(v));
  // Tight loops over each row up to the reader's first bad element (the messages are built only
  // on a refusal): this pass is most of decoding a binary tensor; it took ~3 ns an element with
  // both inputs' checks and the reader's stop in one loop, ~1.5 ns as it is.
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    if (base > stopAt) break;
    const end = stopAt < base + cols ? stopAt : base + cols;
    if (probs) {
      let sum = 0;
      let max = 0;
      for (let k = base; k < end; k++) {
        const v = data[k];
        if (!(v >= 0 && v !== Infinity)) {
          element(k, binary ? `is ${describe(v)}: probs must be finite and non-negative (0 masks a class)` : 'must be a finite non-negative number');
        }
        sum += v;
        if (v > max) max = v;
      }
      if (end < base + cols) element(end, fromReader!.issue);
      if (sum === 0) throw badRequest(`${field}[${r}] sums to 0: at least one entry must be > 0`);
      if (sum === Infinity) for (let j = 0; j < cols; j++) data[base + j] /= max;
    } else {
      const k = firstNotFinite(data, base, end);
      if (k >= 0) {
        element(k, binary ? `is ${describe(data[k])}: binary data masks a class with -inf; NaN and +inf are refused` : 'must be a finite number or null');
      }
      if (end < base + cols) element(end, fromReader!.issue);
      if (live === 0) throw badRequest(`${field}[${r}] has every class masked (${binary ? '-inf' : 'null'}): at least one must be a number`);
    }
  }
  if (fromReader) element(fromReader.at, fromReader.issue); // past the rows (cannot happen: at < rows * cols)
}
