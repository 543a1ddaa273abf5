/**
 * JSON text of the answers' typed arrays. Formatting doubles is most of the cost of a large
 * answer (V8's shortest round-trip conversion, ~130 ns a number); JSON.stringify of a plain array
 * of doubles is V8's fastest path for it, measured ~1.4x faster than TypedArray.prototype.join
 * (11.8 vs 16.2 ms for 64 x 1000) and byte-identical, and it writes -Infinity (a masked
 * log-probability) as null, as the contract says. Narrow rows are the exception (NARROW below).
 *
 * An output is a vector (one value per row) or a matrix (width values per row, written as an
 * array of rows). Any range of its flat elements can be formatted on its own, so a big answer is
 * written in bounded chunks that concatenate to the bytes of the whole:
 *   matrix  "name":[[a,b],[c,d]]   = prefix "name":[[  + elements, "],[" between rows + "]]"
 *   vector  "name":[a,b,c]          = prefix "name":[   + elements                     + "]"
 */

import { NUMBER_MAX_BYTES, writeNumber } from './number-text.js';

export type OutArray = Float64Array | Int32Array;

/**
 * What writing one number costs, at most, for placement (src/pool/cost.ts): V8's shortest
 * round-trip formatting, ~130 ns a number, measured.
 */
export const JSON_NS_PER_NUMBER = 130;

/** Elements [i0, i1) of an output, with the separators of its JSON text (see above). */
export function formatRange(buf: OutArray, width: number, matrix: boolean, i0: number, i1: number): string {
  if (i1 <= i0) return '';
  if (!matrix) return (i0 > 0 ? ',' : '') + body(buf, i0, i1);
  if (width < NARROW) return narrow(buf, width, i0, i1);
  let out = '';
  let i = i0;
  while (i < i1) {
    const rowEnd = (Math.floor(i / width) + 1) * width;
    const end = Math.min(rowEnd, i1);
    if (i > 0) out += i % width === 0 ? '],[' : ',';
    out += body(buf, i, end);
    i = end;
  }
  return out;
}

/**
 * Rows narrower than this are written a number at a time: a JSON.stringify per row costs ~0.4-0.8 us
 * of fixed work (the array, the call, the slice), which made a 6756 x 1 answer take 5.4 ms
 * where its numbers take 0.8 (bench/inline-cost.ts); String(v) is the same shortest round-trip
 * text, and measured as fast or faster per number on rows this short.
 */
const NARROW = 32;

function narrow(buf: OutArray, width: number, i0: number, i1: number): string {
  let out = '';
  for (let i = i0; i < i1; i++) {
    if (i > 0) out += i % width === 0 ? '],[' : ',';
    const v = buf[i];
    out += v - v === 0 ? String(v) : 'null'; // JSON.stringify's null for -Infinity
  }
  return out;
}

/** Bytes of one element's text at most, with its separator: -0.0000012345678901234567 and "],[". */
const ELEMENT_BYTES = NUMBER_MAX_BYTES + 3;

/**
 * formatRange's text as bytes, each number written straight into one buffer by writeNumber
 * (number-text.ts: the same shortest round-trip text, measured ~1.5-2x faster than JSON.stringify
 * of an array, bench/number-text.ts). A worker formats an answer chunk of tens of thousands of
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
  const out = alloc(Math.max(0, i1 - i0) * ELEMENT_BYTES + 1);
  let at = 0;
  for (let i = i0; i < i1; i++) {
    if (i > 0) {
      if (matrix && i % width === 0) {
        out[at++] = 93; // ],[
        out[at++] = 44;
        out[at++] = 91;
      } else out[at++] = 44;
    }
    at = writeNumber(out, at, buf[i]);
  }
  return out.subarray(0, at);
}

/** The opening of an output's JSON member. */
export const openOutput = (name: string, matrix: boolean): string => `"${name}":[${matrix ? '[' : ''}`;
/** Its closing. */
export const closeOutput = (matrix: boolean): string => (matrix ? ']]' : ']');

/** Elements [i0, i1), comma-separated, with no brackets. */
function body(buf: OutArray, i0: number, i1: number): string {
  const s = JSON.stringify(Array.from(buf.subarray(i0, i1)));
  return s.slice(1, -1);
}
