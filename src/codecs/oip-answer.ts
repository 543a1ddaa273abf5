import { layoutOf, operation, type Job, type OutArray } from '../ops/index.js';
import type { OipWire } from './oip-request.js';
import { OUTPUT_BYTES, writeBinary, type OutputDatatype } from './oip-tensor.js';
import type { AnswerPlan, Encoded } from './types.js';

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
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

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
  if (operation(job.op).seeded) head += `,"parameters":{"seed":${job.params.seed as number}}`;
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

/** The whole answer (text when it is all JSON, else the header and binary data as bytes). */
export function encode(job: Job, outs: OutArray[]): Encoded {
  const p = plan(job);
  const layout = layoutOf(job);
  const pieces: (string | Uint8Array)[] = [p.head];
  let headerBytes = p.head.length;
  p.parts.forEach(({ out, open, close, form }, k) => {
    const { width } = layout[out];
    const values = chunk(outs[out], width, form, 0, job.rows * width);
    pieces.push(open, values, close);
    if (p.headerLength && k < p.headerLength.parts) headerBytes += open.length + values.length + close.length;
  });
  if (!p.parts.some((part) => part.form.startsWith('b:'))) return { body: (pieces as string[]).join('') };
  const body = Buffer.concat(pieces.map((x) => (typeof x === 'string' ? Buffer.from(x, 'latin1') : x)));
  return { body, headers: p.headers ?? { [HEADER_LENGTH]: String(headerBytes) } };
}

/** Elements [i0, i1) of an output in a part's form (see above). */
export function chunk(buf: OutArray, width: number, form: string, i0: number, i1: number): string | Uint8Array {
  const [kind, datatype, n] = form.split(':') as ['j' | 'b' | 'c', OutputDatatype, string?];
  if (kind === 'b') return writeBinary(buf, datatype, i0, i1);
  if (kind === 'j') {
    if (i1 <= i0) return '';
    const sub = buf.subarray(i0, i1);
    // JSON.stringify writes -Infinity as null; a float32 array's elements read back as doubles.
    const text = JSON.stringify(Array.from(datatype === 'FP32' ? Float32Array.from(sub) : sub));
    return (i0 > 0 ? ',' : '') + text.slice(1, -1);
  }
  return classify(buf, width, datatype, Number(n), i0, i1);
}

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
