/** Result of a sparse mapping: row-major probabilities and the number of non-zeros per row. */
export interface SparseMapResult {
  probs: Float64Array;
  support: Int32Array;
}

export function sparsemax(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature = 1,
  out: Float64Array = new Float64Array(rows * cols),
  support: Int32Array = new Int32Array(rows),
): SparseMapResult {
  throw new Error('sparsemax: being written');
}
