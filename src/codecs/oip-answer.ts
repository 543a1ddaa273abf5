import { layoutOf, operation, type Job, type OutArray } from '../ops/index.js';
import type { OipWire } from './oip-request.js';
import { JSON_NS_PER_NUMBER } from './json-text.js';
import { NUMBER_MAX_BYTES, writeNumber } from './number-text.js';
import { writeRangeWasm } from './number-text-wasm.js';
import { LITTLE_ENDIAN, OUTPUT_BYTES, writeBinary, writeBinaryInto, type OutputDatatype } from './oip-tensor.js';
import type { AnswerPlan, Encoded, InRoom } from './types.js';

/**
 * The OIP inference response from a job's output arrays:
 *   {"model_name", "model_version": "1", "id"?, "parameters"?: {"seed"},
 *    "outputs": [{"name", "datatype", "shape", "data": [...] | "parameters": {"binary_data_size"}}]}
 * followed, for outputs asked for in binary, by their bytes in the order of the header's outputs
 * (Triton's binary tensor data extension), with the header's length in the
 * Inference-Header-Content-Length response header.
 *
 * Values: real outputs in FP64 when the input was FP64, else FP32 (computed in float64, rounded
 * once); indices, support and samples in INT64. JSON data is flat row-major; -inf (a masked
 * log-probability) is null; an FP32 value is written as the shortest text of its exact value as
 * a double (reading it back as float32 or float64 gives that value). A classification output
 * (parameters.classification = N) is BYTES [rows, N] of "<value>:<index>" for the N largest values
 * of each row, ties to the lower index, the value as JSON numbers are written (-Infinity spelled
 * out); its elements are short strings, so it is always sent as JSON data (tritonclient reads
 * either).
 *
 * Each output's values are one part of the answer plan, encoded a range at a time by chunk() in
 * a form: "j:<datatype>" (JSON numbers), "b:<datatype>" (binary), "c:<datatype>:<N>"
 * (classification strings).
 */

interface Sent {
  out: number;
  name: string;
  datatype: OutputDatatype | 'BYTES';
  shape: number[];
  binary: boolean;
  form: string;
  /** Bytes of binary data. */
  size: number;
}

export const HEADER_LENGTH = 'inference-header-content-length';

/** JSON text of a string, ASCII only (\u escapes), so the header's length in bytes is its length. */
export function asciiJson(s: string): string {
  const json = JSON.stringify(s);
  return NON_ASCII.test(json) ? json.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`) : json;
}
const NON_ASCII = /[\u007f-\uffff]/;

function sentOf(job: Job): Sent[] {
  const wire = job.wire as OipWire;
  const layout = layoutOf(job);
  return wire.outputs.map(({ out, binary, classes }) => {
    const l = layout[out];
    const datatype: OutputDatatype = l.type === 'i32' ? 'INT64' : wire.fp64 ? 'FP64' : 'FP32';
    if (classes !== undefined) {
      return { out, name: l.name, datatype: 'BYTES', shape: [job.rows, classes], binary: false, form: `c:${datatype}:${classes}`, size: 0 };
    }
    const shape = l.matrix ? [job.rows, l.width] : [job.rows];
    const size = binary ? job.rows * l.width * OUTPUT_BYTES[datatype] : 0;
    return { out, name: l.name, datatype, shape, binary, form: `${binary ? 'b' : 'j'}:${datatype}`, size };
  });
}

/**
 * The answer as a plan: the head (model, id, seed), one part per JSON output (its entry around
 * its data), the end of the header, then one part per binary output. When JSON outputs come
 * before binary data, the runner measures them for the header length (AnswerPlan.headerLength).
 */
export function plan(job: Job): AnswerPlan {
  const wire = job.wire as OipWire;
  let head = `{"model_name":${asciiJson(job.op)},"model_version":"1"`;
  if (wire.id !== undefined) head += `,"id":${asciiJson(wire.id)}`;
  if (operation(job.op).seeded && typeof job.params.seed === 'number') head += `,"parameters":{"seed":${job.params.seed}}`;
  head += ',"outputs":[';
  const json: AnswerPlan['parts'] = [];
  const bin: AnswerPlan['parts'] = [];
  let pending = '';
  sentOf(job).forEach((s, k) => {
    const entry = `${k ? ',' : ''}{"name":${asciiJson(s.name)},"datatype":"${s.datatype}","shape":[${s.shape.join(',')}]`;
    if (s.binary) {
      pending += `${entry},"parameters":{"binary_data_size":${s.size}}}`;
      bin.push({ out: s.out, open: '', close: '', form: s.form });
    } else {
      json.push({ out: s.out, open: `${pending}${entry},"data":[`, close: ']}', form: s.form });
      pending = '';
    }
  });
  const tail = `${pending}]}`;
  if (json.length) json[json.length - 1].close += tail;
  else head += tail;
  const p: AnswerPlan = { head, parts: [...json, ...bin], end: '' };
  if (bin.length) {
    if (json.length) p.headerLength = { name: HEADER_LENGTH, parts: json.length };
    else p.headers = { [HEADER_LENGTH]: String(head.length) };
  }
  return p;
}

/** The whole answer: text when it is all JSON, else one buffer, the header's text and the binary data written into it. */
export function encode(job: Job, outs: OutArray[]): Encoded {
  const p = plan(job);
  const layout = layoutOf(job);
  const pieces: (string | { src: OutArray; datatype: OutputDatatype; size: number })[] = [p.head as string];
  let headerBytes = (p.head as string).length;
  let total = headerBytes;
  let binary = false;
  p.parts.forEach(({ out, open, close, form }, k) => {
    const values = outs[out].subarray(0, job.rows * layout[out].width);
    const f = formOf(form);
    const piece = f.kind === 'b' ? { src: values, datatype: f.datatype, size: values.length * OUTPUT_BYTES[f.datatype] } : (chunk(values, layout[out].width, form, 0, values.length) as string);
    const bytes = open.length + (typeof piece === 'string' ? piece.length : piece.size) + close.length;
    pieces.push(open, piece, close);
    total += bytes;
    binary ||= typeof piece !== 'string';
    if (p.headerLength && k < p.headerLength.parts) headerBytes += bytes;
  });
  pieces.push(p.end);
  total += p.end.length;
  if (!binary) return { body: (pieces as string[]).join('') };
  // Its own ArrayBuffer (allocUnsafeSlow): a worker moves it to the main thread whole.
  const body = Buffer.allocUnsafeSlow(total);
  let at = 0;
  for (const x of pieces) {
    if (typeof x === 'string') at += body.write(x, at, 'latin1');
    else {
      writeBinaryInto(x.src, x.datatype, body.subarray(at, at + x.size));
      at += x.size;
    }
  }
  return { body, headers: p.headers ?? { [HEADER_LENGTH]: String(headerBytes) } };
}

/**
 * encode's answer written into `room` (shared memory a worker's answer goes into, reused by the
 * main thread: no buffer made and moved per request), or undefined when it may not fit or has a
 * classification part (strings of unknown length). Its length and headers.
 */
export function encodeInto(job: Job, outs: OutArray[], room: Uint8Array): InRoom | undefined {
  const p = plan(job);
  const layout = layoutOf(job);
  const head = p.head as string;
  let bound = head.length + p.end.length;
  for (const { out, open, close, form } of p.parts) {
    const f = formOf(form);
    if (f.kind === 'c') return undefined;
    const n = job.rows * layout[out].width;
    bound += open.length + close.length + (f.kind === 'b' ? n * OUTPUT_BYTES[f.datatype] : n * (NUMBER_MAX_BYTES + 1));
  }
  if (bound > room.length) return undefined;
  const view = Buffer.from(room.buffer, room.byteOffset, room.byteLength);
  let at = view.write(head, 0, 'latin1');
  let binary = false;
  let headerBytes = 0;
  p.parts.forEach(({ out, open, close, form }, k) => {
    const f = formOf(form);
    const values = outs[out].subarray(0, job.rows * layout[out].width);
    at += view.write(open, at, 'latin1');
    if (f.kind === 'b') {
      const size = values.length * OUTPUT_BYTES[f.datatype];
      writeBinaryInto(values, f.datatype, view.subarray(at, at + size));
      at += size;
      binary = true;
    } else {
      // chunk()'s text: the writers' bytes are String(v)'s for its few-value ranges too.
      at = jsonValuesInto(view, at, values, f.datatype === 'FP32', 0, values.length);
    }
    at += view.write(close, at, 'latin1');
    if (p.headerLength && k === p.headerLength.parts - 1) headerBytes = at;
  });
  at += view.write(p.end, at, 'latin1');
  if (!binary) return { length: at };
  return { length: at, headers: p.headers ?? { [HEADER_LENGTH]: String(headerBytes) } };
}

type Form = { kind: 'j' | 'b'; datatype: OutputDatatype } | { kind: 'c'; datatype: OutputDatatype; n: number };
const forms = new Map<string, Form>();

/** A part's form, parsed once (a request's answer names a few; see the file comment). */
function formOf(form: string): Form {
  let f = forms.get(form);
  if (!f) {
    const [kind, datatype, n] = form.split(':') as ['j' | 'b' | 'c', OutputDatatype, string?];
    f = kind === 'c' ? { kind, datatype, n: Number(n) } : { kind, datatype };
    if (forms.size < 256) forms.set(form, f);
  }
  return f;
}

/** A binary form's bytes per value (a value of a binary part is a fixed-size element), or undefined. */
export function binaryWidth(form: string): number | undefined {
  const f = formOf(form);
  return f.kind === 'b' ? OUTPUT_BYTES[f.datatype] : undefined;
}

/** Whether an output's own bytes are its binary form's (FP64 from a Float64Array, little-endian): sent as they are. */
export function sentAsIs(buf: OutArray, form: string): boolean {
  const f = formOf(form);
  return f.kind === 'b' && f.datatype === 'FP64' && buf instanceof Float64Array && LITTLE_ENDIAN;
}

/** Every value of `buf` in a binary form into dest (buf.length x binaryWidth(form) bytes). */
export function writeInto(buf: OutArray, form: string, dest: Uint8Array): void {
  const f = formOf(form);
  if (f.kind !== 'b') throw new Error(`writeInto: ${form} is not a binary form`);
  writeBinaryInto(buf, f.datatype, dest);
}

/**
 * Nanoseconds to write a job's answer, at most, for placement (src/pool/cost.ts): JSON numbers
 * at JSON_NS_PER_NUMBER (./json-text.ts), binary values at BINARY_NS_PER_VALUE, classification
 * by its per-row work (the insertion's worst case, every value moving the whole top-N list, or
 * the sort beyond 32 classes) and its strings.
 */
export function answerCostNs(job: Job): number {
  const layout = layoutOf(job);
  let ns = 0;
  for (const { out, binary, classes } of (job.wire as OipWire).outputs) {
    const values = job.rows * layout[out].width;
    if (classes !== undefined) {
      const width = layout[out].width;
      const perRow = classes <= 32 ? width * (1 + classes) * INSERT_NS : width * Math.max(1, Math.log2(width)) * SORT_COMPARE_NS;
      ns += job.rows * (perRow + classes * LABEL_NS);
    } else ns += values * (binary ? BINARY_NS_PER_VALUE : JSON_NS_PER_NUMBER);
  }
  return ns;
}

/**
 * The writing costs (bench/answer-cost.ts, worst cases, on the shared 2-core machine) with
 * headroom: a binary value is a typed-array conversion (0.3-1 ns) or INT64's two words (2.3-3
 * ns); a top-N insertion step ~2-3 ns; a sort step ~22-35 ns; a "<value>:<index>" label ~240 ns.
 */
export const BINARY_NS_PER_VALUE = 4;
const INSERT_NS = 4;
const SORT_COMPARE_NS = 50;
const LABEL_NS = 300;

/** Elements [i0, i1) of an output in a part's form (see above). */
export function chunk(buf: OutArray, width: number, form: string, i0: number, i1: number): string | Uint8Array {
  const f = formOf(form);
  if (f.kind === 'b') return writeBinary(buf, f.datatype, i0, i1);
  if (f.kind === 'j') {
    if (i1 <= i0) return '';
    const fp32 = f.datatype === 'FP32';
    // JSON.stringify's text (null for -Infinity; a float32 value as the double it reads back as).
    if (i1 - i0 < FEW) {
      // A few values (a draw, a label): String(v), without a buffer and its decoding (~60-150 ns).
      let text = '';
      for (let i = i0; i < i1; i++) {
        const v = fp32 ? Math.fround(buf[i]) : buf[i];
        text += (i > 0 ? ',' : '') + (v - v === 0 ? String(v) : 'null');
      }
      return text;
    }
    // Written as bytes (jsonValuesInto), with no array per range.
    const bytes = (i1 - i0) * (NUMBER_MAX_BYTES + 1);
    const out = bytes <= scratch.length ? scratch : Buffer.allocUnsafe(bytes);
    return out.toString('latin1', 0, jsonValuesInto(out, 0, buf, fp32, i0, i1));
  }
  return classify(buf, width, f.datatype, (f as { n: number }).n, i0, i1);
}

/**
 * Values [i0, i1) of a JSON data part as text into out from `at` (a comma before each but the
 * output's first; NUMBER_MAX_BYTES + 1 bytes of room a value), FP32 values as the doubles they
 * read back as; the end. By the WebAssembly writer (./number-text-wasm.ts) where it runs, else
 * number-text.ts's a value at a time: the same bytes (JSON.stringify's).
 */
function jsonValuesInto(out: Uint8Array, at: number, buf: OutArray, fp32: boolean, i0: number, i1: number): number {
  if (i1 > i0) {
    // Float32Array rounds as Math.fround does; widening back to doubles is exact.
    const src = fp32 ? new Float64Array(new Float32Array(buf.subarray(i0, i1))) : buf;
    const from = fp32 ? 0 : i0;
    let start = at;
    if (fp32 && i0 > 0) out[start++] = 44; // the range's own comma (src starts at 0)
    const end = writeRange(src, 1, false, from, from + (i1 - i0), out, start);
    if (end >= 0) return end;
  }
  for (let i = i0; i < i1; i++) {
    if (i > 0) out[at++] = 44;
    at = write(out, at, fp32 ? Math.fround(buf[i]) : buf[i]);
  }
  return at;
}

// Module-local names for the per-number calls: where modules are transformed (tsx, vitest) each
// use of an imported binding is a property read through a getter, ~15 ns a number (measured).
const write = writeNumber;
const writeRange = writeRangeWasm;
/** Ranges shorter than this are written a value at a time by String(v). */
const FEW = 8;
/** JSON text of up to 16 KiB is written here and decoded from here: no buffer per call. */
const scratch = Buffer.allocUnsafeSlow(16 * 1024);

/**
 * The classification strings of the rows that start in [i0, i1): "<value>:<index>" for the N
 * largest values of each row (compared as the output's datatype: FP32 values after rounding),
 * ties to the lower index. An insertion into a sorted top-N list, O(cols x N) at worst: N is a
 * handful in practice; a large N sorts the row's indices instead.
 */
function classify(buf: OutArray, width: number, datatype: OutputDatatype, n: number, i0: number, i1: number): string {
  const fp32 = datatype === 'FP32';
  const value = (k: number) => (fp32 ? Math.fround(buf[k]) : buf[k]);
  const topValues = new Float64Array(n);
  const topIndex = new Int32Array(n);
  let text = '';
  for (let r = Math.ceil(i0 / width); r * width < i1; r++) {
    const base = r * width;
    let filled = 0;
    if (n <= 32) {
      for (let j = 0; j < width; j++) {
        const v = value(base + j);
        // Later indices come later: an equal value never moves ahead of an earlier one.
        if (filled === n && !(v > topValues[n - 1])) continue;
        let p = filled < n ? filled++ : n - 1;
        while (p > 0 && v > topValues[p - 1]) {
          topValues[p] = topValues[p - 1];
          topIndex[p] = topIndex[p - 1];
          p--;
        }
        topValues[p] = v;
        topIndex[p] = j;
      }
    } else {
      const order = Array.from({ length: width }, (_, j) => j).sort((a, b) => value(base + b) - value(base + a) || a - b);
      for (let t = 0; t < n; t++) {
        topIndex[t] = order[t];
        topValues[t] = value(base + order[t]);
      }
      filled = n;
    }
    for (let t = 0; t < filled; t++) {
      text += `${r > 0 || t > 0 ? ',' : ''}"${String(topValues[t])}:${topIndex[t]}"`;
    }
  }
  return text;
}
