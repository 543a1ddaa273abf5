import type { SparseMapResult } from './sparsemax.js';

export function entmax(
  data: Float64Array,
  rows: number,
  cols: number,
  alpha = 1.5,
  temperature = 1,
  out: Float64Array = new Float64Array(rows * cols),
  support: Int32Array = new Int32Array(rows),
): SparseMapResult {
  throw new Error('entmax: being written');
}
