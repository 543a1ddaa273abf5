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

/** Elements formatted by one JSON.stringify in formatRangeBytes: ~90 KB of text at most. */
const PIECE = 4096;
/** Bytes of one element's text at most, with its separator: -0.0000012345678901234567 and "],[". */
const ELEMENT_BYTES = 28;

/**
 * formatRange's text as bytes, written PIECE elements at a time into one buffer. A worker
 * formats an answer chunk of tens of thousands of numbers: as one string (and the array of numbers
 * behind it) that is over V8's large-object size, so it lands in the old generation and stays
 * resident until a full collection, tens of MB of it per worker while streaming. Pieces this
 * small are young garbage, freed by the next cheap scavenge. `alloc` gives the buffer (its
 * length is a bound; the text is the returned view's bytes).
 */
export function formatRangeBytes(
  buf: OutArray,
  width: number,
  matrix: boolean,
  i0: number,
  i1: number,
  alloc: (bytes: number) => Buffer = Buffer.allocUnsafeSlow,
): Buffer {
  return inPieces((a, b) => formatRange(buf, width, matrix, a, b), Math.max(0, i1 - i0) * ELEMENT_BYTES + 1, i0, i1, alloc);
}

/**
 * A range's text written PIECE elements at a time into one buffer of `bound` bytes: each piece
 * carries its own separators, so the pieces join to the whole range's text.
 */
function inPieces(format: (i0: number, i1: number) => string, bound: number, i0: number, i1: number, alloc: (bytes: number) => Buffer): Buffer {
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
  return inPieces((a, b) => formatRaggedRange(buf, width, pad, a, b), Math.max(0, i1 - i0) * ELEMENT_BYTES + 1, i0, i1, alloc);
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
  const rows = Math.max(0, Math.ceil(i1 / width) - Math.ceil(i0 / width));
  const bound = rows * (2 * width * ELEMENT_BYTES + keys[0].length + keys[1].length + 16) + 1;
  return inPieces((x, y) => formatZipRange(a, b, width, pad, keys, x, y), bound, i0, i1, alloc);
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

/** The same text, a number at a time when there are few (see NARROW). */
function numbers(buf: OutArray, i0: number, i1: number): string {
  if (i1 - i0 >= NARROW) return body(buf, i0, i1);
  let out = '';
  for (let i = i0; i < i1; i++) {
    const v = buf[i];
    out += (i > i0 ? ',' : '') + (v - v === 0 ? String(v) : 'null');
  }
  return out;
}
