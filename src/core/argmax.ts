/**
 * argmax: the vertex of the simplex at the largest logit, the limit of every mapping here as the
 * temperature goes to 0.
 *
 * For each row of the row-major (rows x cols) matrix, the index of the maximum. Ties go to the
 * lowest index (as numpy/PyTorch argmax). Masked classes are -Infinity and never win; a row with
 * every class masked gets -1. Temperature does not change an argmax, so there is none.
 */
export function argmax(
  data: Float64Array,
  rows: number,
  cols: number,
  out: Int32Array = new Int32Array(rows),
): Int32Array {
  for (let r = 0, base = 0; r < rows; r++, base += cols) {
    let best = -1;
    let max = -Infinity;
    for (let j = 0; j < cols; j++) {
      const v = data[base + j];
      if (v > max) {
        max = v;
        best = j;
      }
    }
    out[r] = best;
  }
  return out;
}
