import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** One case of test/fixtures/reference/vectors.json (see the README beside it). */
export interface ReferenceCase {
  name: string;
  mapping: 'softmax' | 'log_softmax' | 'sparsemax' | 'entmax' | 'argmax';
  alpha?: number;
  temperature: number;
  atol?: number;
  rtol?: number;
  logits: (number | null)[][];
  expected?: (number | null)[][];
  support?: number[];
  indices?: number[];
}

/**
 * The reference vectors, computed outside the project (PyTorch float64 and the entmax package,
 * cross-checked at 40 digits: test/fixtures/reference/README.md), copied into the repository so
 * the suite needs nothing beside it.
 */
export const VECTORS_PATH = fileURLToPath(new URL('../fixtures/reference/vectors.json', import.meta.url));

export function loadReferenceCases(): ReferenceCase[] {
  const doc = JSON.parse(readFileSync(VECTORS_PATH, 'utf8')) as { format: number; cases: ReferenceCase[] };
  if (doc.format !== 1) throw new Error(`unexpected vectors.json format ${doc.format}`);
  return doc.cases;
}

/** Row-major Float64Array from a JSON matrix, null = masked = -Infinity. */
export function toMatrix(rowsIn: (number | null)[][]): { data: Float64Array; rows: number; cols: number } {
  const rows = rowsIn.length;
  const cols = rowsIn[0].length;
  const data = new Float64Array(rows * cols);
  rowsIn.forEach((row, r) => row.forEach((v, j) => (data[r * cols + j] = v === null ? -Infinity : v)));
  return { data, rows, cols };
}

/**
 * Compares got (row-major) with expected under |got - exp| <= atol + rtol |exp|; a null expected
 * value (log-probability of a masked class) must be -Infinity. Returns the failures, empty if none.
 */
export function compareMatrix(
  got: ArrayLike<number>,
  expected: (number | null)[][],
  atol: number,
  rtol: number,
): string[] {
  const failures: string[] = [];
  const cols = expected[0].length;
  expected.forEach((row, r) =>
    row.forEach((e, j) => {
      const g = got[r * cols + j];
      const ok = e === null ? g === -Infinity : Math.abs(g - e) <= atol + rtol * Math.abs(e);
      if (!ok) failures.push(`[${r}][${j}] got ${g}, expected ${e}`);
    }),
  );
  return failures;
}
