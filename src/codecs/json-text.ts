/**
 * JSON text of the answers' typed arrays. Formatting doubles is most of the cost of a large
 * answer: number-text.ts writes each as the bytes of its shortest round-trip text, byte-identical
 * to JSON.stringify (-Infinity, a masked log-probability, as null, as the contract says), measured
 * ~1.5x faster than JSON.stringify of a plain array (V8's fastest path, which this file used
 * before: 7.7 vs 5.3 ms for 64 x 1000, and 5.5 vs 3.7 us for 1 x 50, text included).
 *
 * An output is a vector (one value per row) or a matrix (width values per row, written as an
 * array of rows). Any range of its flat elements can be formatted on its own, so a big answer is
 * written in bounded chunks that concatenate to the bytes of the whole:
 *   matrix  "name":[[a,b],[c,d]]   = prefix "name":[[  + elements, "],[" between rows + "]]"
 *   vector  "name":[a,b,c]          = prefix "name":[   + elements                     + "]"
 */

import { NUMBER_MAX_BYTES, writeNumber } from './number-text.js';
import { writeRangeWasm } from './number-text-wasm.js';

export type OutArray = Float64Array | Int32Array;

/**
 * What writing one number costs, at most, for placement (src/pool/cost.ts): V8's shortest
 * round-trip formatting, ~130 ns a number, measured; writeNumber is ~1.5x faster, so this is now
 * an upper bound (not re-measured for the model).
 */
export const JSON_NS_PER_NUMBER = 130;

/** Elements [i0, i1) of an output, with the separators of its JSON text (see above). */
export function formatRange(buf: OutArray, width: number, matrix: boolean, i0: number, i1: number): string {
  if (i1 <= i0) return '';
  if (i1 - i0 < FEW) {
    let out = '';
    for (let i = i0; i < i1; i++) {
      if (i > 0) out += matrix && i % width === 0 ? '],[' : ',';
      const v = buf[i];
      out += v - v === 0 ? String(v) : 'null'; // JSON.stringify's null for -Infinity
    }
    return out;
  }
  const fits = rangeBound(i0, i1) <= scratch.length;
  return formatRangeBytes(buf, width, matrix, i0, i1, fits ? () => scratch : Buffer.allocUnsafe).toString('latin1');
}

/**
 * Ranges shorter than this are written by String(v), the same text: a buffer and its decoding
 * cost ~60-150 ns a call, more than a few numbers (a sampled index's text is V8's cached small
 * integer's), and made a 1 x 50 sample's answer 0.2 -> 0.45 us (bench/codec-small.ts).
 */
const FEW = 8;
/** Text of up to 16 KiB is written here and decoded from here: no buffer per call. */
const scratch = Buffer.allocUnsafeSlow(16 * 1024);

/** Bytes of one element's text at most, with its separator: -0.0000012345678901234567 and "],[". */
const ELEMENT_BYTES = NUMBER_MAX_BYTES + 3;

/**
 * formatRange's text as bytes, written straight into one buffer by number-text-wasm.ts (the whole
 * range in WebAssembly, ~2.5x faster than writeNumber per number, bench/number-text.ts) or, where
 * WebAssembly is unavailable, number by number by number-text.ts writeNumber (the same shortest
 * round-trip text, measured ~1.5-2x faster than JSON.stringify of an array). A worker formats an answer chunk of tens of thousands of
 * numbers: as one string (and the array of numbers behind it) that would be over V8's
 * large-object size, land in the old generation and stay resident until a full collection, tens
 * of MB of it per worker while streaming; here no string or array is made at all. `alloc` gives
 * the buffer (its length is a bound; the text is the returned view's bytes).
 */
export function formatRangeBytes(
  buf: OutArray,
  width: number,
  matrix: boolean,
  i0: number,
  i1: number,
  alloc: (bytes: number) => Buffer = Buffer.allocUnsafeSlow,
): Buffer {
  const out = alloc(rangeBound(i0, i1));
  return out.subarray(0, formatRangeInto(out, 0, buf, width, matrix, i0, i1));
}

/** Bytes formatRangeInto may write for elements [i0, i1), at most. */
export const rangeBound = (i0: number, i1: number): number => Math.max(0, i1 - i0) * ELEMENT_BYTES + 1;

/**
 * formatRangeBytes's text written into `out` from `at` (rangeBound(i0, i1) bytes of room); the
 * offset after it. A whole answer is written into one buffer this way, part after part.
 */
export function formatRangeInto(out: Uint8Array, at: number, buf: OutArray, width: number, matrix: boolean, i0: number, i1: number): number {
  // WebAssembly's writer (./number-text-wasm.ts) where it runs; else number-text.ts's, a number at a time.
  const end = writeRange(buf, width, matrix, i0, i1, out, at);
  if (end >= 0) return end;
  // A value equal to the one before is a copy of its bytes: tied and one-hot rows repeat values,
  // and String(v) (V8's number-string cache) made those ~2x cheaper than formatting each again.
  let prev = Number.NaN;
  let from = 0;
  let to = 0;
  for (let i = i0; i < i1; i++) {
    if (i > 0) {
      if (matrix && i % width === 0) {
        out[at++] = 93; // ],[
        out[at++] = 44;
        out[at++] = 91;
      } else out[at++] = 44;
    }
    const v = buf[i];
    if (v === prev) {
      for (let j = from; j < to; j++) out[at++] = out[j];
    } else {
      from = at;
      at = write(out, at, v);
      to = at;
      prev = v;
    }
  }
  return at;
}

// Module-local names for the per-number calls: where modules are transformed (tsx, vitest) each
// use of an imported binding is a property read through a getter, ~15 ns a number (measured).
const write = writeNumber;
const writeRange = writeRangeWasm;

/**
 * A range's text written PIECE elements at a time into one buffer of `bound` bytes: each piece
 * carries its own separators, so the pieces join to the whole range's text.
 */
function inPieces(format: (i0: number, i1: number) => string, bound: number, i0: number, i1: number, alloc: (bytes: number) => Buffer): Buffer {
  const PIECE = 4096; // elements: ~100 KB of text a piece, young garbage
  const out = alloc(bound);
  let at = 0;
  for (let i = i0; i < i1; i += PIECE) at += out.write(format(i, Math.min(i1, i + PIECE)), at, 'latin1');
  return out.subarray(0, at);
}

/**
 * Elements [i0, i1) of a ragged matrix (OutputSpec.ragged: each row's values packed left, then
 * `pad`), written as a matrix of each row's values only: "name":[[a,b],[],[c]]. Cuts join as
 * formatRange's do: a row's "],[" goes with its first element, a value's comma with the value,
 * and padding writes nothing.
 */
export function formatRaggedRange(buf: OutArray, width: number, pad: number, i0: number, i1: number): string {
  let out = '';
  for (let i = i0; i < i1; ) {
    const start = Math.floor(i / width) * width;
    const end = Math.min(start + width, i1);
    if (i === start && i > 0) out += '],[';
    let k = i;
    while (k < end && buf[k] !== pad) k++;
    if (k > i) out += (i > start ? ',' : '') + numbers(buf, i, k);
    i = start + width; // past the first pad the row is all padding
  }
  return out;
}

/** formatRaggedRange's text as bytes, a piece at a time (as formatRangeBytes). */
export function formatRaggedRangeBytes(
  buf: OutArray,
  width: number,
  pad: number,
  i0: number,
  i1: number,
  alloc: (bytes: number) => Buffer = Buffer.allocUnsafeSlow,
): Buffer {
  return inPieces((a, b) => formatRaggedRange(buf, width, pad, a, b), rangeBound(i0, i1), i0, i1, alloc);
}

/**
 * Two ragged outputs of the same width zipped into one object per row (OutputSpec.zip):
 * "as":[{"k0":[a's row],"k1":[b's row]},...], a row's length being a's values before its first
 * `pad`. A range [i0, i1) of the elements writes the rows that start in it, whole, each after a
 * comma but the first row: any cuts join to the whole.
 */
export function formatZipRange(a: OutArray, b: OutArray, width: number, pad: number, keys: readonly [string, string], i0: number, i1: number): string {
  let out = '';
  for (let r = Math.ceil(i0 / width); r * width < i1; r++) {
    const start = r * width;
    let end = start;
    while (end < start + width && a[end] !== pad) end++;
    out += `${r > 0 ? ',' : ''}{"${keys[0]}":[${numbers(a, start, end)}],"${keys[1]}":[${numbers(b, start, end)}]}`;
  }
  return out;
}

/** formatZipRange's text as bytes, a piece at a time (as formatRangeBytes). */
export function formatZipRangeBytes(
  a: OutArray,
  b: OutArray,
  width: number,
  pad: number,
  keys: readonly [string, string],
  i0: number,
  i1: number,
  alloc: (bytes: number) => Buffer = Buffer.allocUnsafeSlow,
): Buffer {
  return inPieces((x, y) => formatZipRange(a, b, width, pad, keys, x, y), zipBound(width, keys, i0, i1), i0, i1, alloc);
}

/** Bytes formatZipRange's text of elements [i0, i1) may take, at most. */
export function zipBound(width: number, keys: readonly [string, string], i0: number, i1: number): number {
  const rows = Math.max(0, Math.ceil(i1 / width) - Math.ceil(i0 / width));
  return rows * (2 * width * ELEMENT_BYTES + keys[0].length + keys[1].length + 16) + 1;
}

/** The opening of an output's JSON member. */
export const openOutput = (name: string, matrix: boolean): string => `"${name}":[${matrix ? '[' : ''}`;
/** Its closing. */
export const closeOutput = (matrix: boolean): string => (matrix ? ']]' : ']');

/** Elements [i0, i1) of buf, comma-separated, with no brackets (formatRange of that slice). */
function numbers(buf: OutArray, i0: number, i1: number): string {
  return formatRange(buf.subarray(i0, i1), 1, false, 0, i1 - i0);
}
