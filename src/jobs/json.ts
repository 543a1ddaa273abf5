/**
 * JSON text for the big numeric arrays of responses, built without intermediate JS arrays.
 * TypedArray.prototype.join formats every number with the same shortest round-trip algorithm
 * as JSON.stringify, in native code, so "[" + row.join(",") + "]" is the JSON of a row of finite
 * numbers; -Infinity (a masked log-probability) is written as null as the contract says.
 */

/** Rows [r0, r1) of a row-major matrix, as the comma-separated rows of a JSON array. */
export function matrixRows(buf: Float64Array | Int32Array, r0: number, r1: number, cols: number): string {
  const parts = new Array<string>(r1 - r0);
  for (let r = r0; r < r1; r++) {
    const row = buf.subarray(r * cols, (r + 1) * cols);
    parts[r - r0] = `[${row.join(',')}]`;
  }
  return parts.join(',');
}

/** Like matrixRows for log-probabilities: -Infinity becomes null. */
export function logMatrixRows(buf: Float64Array, r0: number, r1: number, cols: number): string {
  const parts = new Array<string>(r1 - r0);
  for (let r = r0; r < r1; r++) {
    const row = buf.subarray(r * cols, (r + 1) * cols);
    parts[r - r0] = row.includes(-Infinity)
      ? `[${Array.from(row, (v) => (v === -Infinity ? 'null' : String(v))).join(',')}]`
      : `[${row.join(',')}]`;
  }
  return parts.join(',');
}

/** Values [i0, i1) of a vector, comma-separated. */
export function list(buf: Int32Array, i0: number, i1: number): string {
  return buf.subarray(i0, i1).join(',');
}
