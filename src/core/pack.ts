/**
 * The sparse form of rows of probabilities: each row's classes with p > 0, in ascending order,
 * packed to the left of its row. values[r*cols + k] becomes the k-th non-zero of row r and
 * indices[r*cols + k] its class; the rest of the row is padding (values 0, indices -1), and
 * support[r] is the count. In place over `values`: the k-th non-zero moves from column j >= k to
 * column k, and column j has been read by then, so nothing is overwritten before it is read.
 */
export function packRows(values: Float64Array, rows: number, cols: number, indices: Int32Array, support: Int32Array): void {
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    let k = 0;
    for (let j = 0; j < cols; j++) {
      const p = values[base + j];
      if (p > 0) {
        values[base + k] = p;
        indices[base + k] = j;
        k++;
      }
    }
    values.fill(0, base + k, base + cols);
    indices.fill(-1, base + k, base + cols);
    support[r] = k;
  }
}
