import { ApiError, badRequest } from '../errors.js';

/**
 * The logits / probs matrix, checked and converted in one hand-written pass. This runs on every
 * element of requests up to tens of MB, so it is a plain loop (Zod's element-by-element
 * validation of an 8x32000 body costs ~5x more) and it stops at the first bad entry with a
 * message that names its position, e.g. "logits[3][17] must be a number or null".
 */

export interface Matrix {
  /** Row-major logits (masked classes -Infinity) or non-negative weights (masked classes 0). */
  data: Float64Array;
  rows: number;
  cols: number;
}

/**
 * Reads body[field] as rows x classes logits (null = masked). `extraWork` multiplies the element
 * count checked against maxElements (n draws for /v1/sample).
 */
export function parseLogits(value: unknown, field: string, maxElements: number, extraWork = 1): Matrix {
  const { rows, cols } = shape(value, field, maxElements, extraWork);
  const data = new Float64Array(rows * cols);
  const matrix = value as unknown[][];
  for (let r = 0; r < rows; r++) {
    const row = matrix[r];
    let live = 0;
    for (let j = 0, o = r * cols; j < cols; j++, o++) {
      const v = row[j];
      if (typeof v === 'number') {
        // JSON.parse turns 1e400 into Infinity: not a usable logit.
        if (v - v !== 0) throw badRequest(`${field}[${r}][${j}] must be a finite number or null`, [issue(field, r, j, 'must be a finite number or null')]);
        data[o] = v;
        live++;
      } else if (v === null) {
        data[o] = -Infinity;
      } else {
        throw badRequest(`${field}[${r}][${j}] must be a number or null`, [issue(field, r, j, 'must be a number or null')]);
      }
    }
    if (live === 0) throw badRequest(`${field}[${r}] has every class masked (null): at least one must be a number`, [{ path: [field, r], message: 'every class is masked' }]);
  }
  return { data, rows, cols };
}

/**
 * Reads body[field] as rows x classes non-negative weights (0 = masked), returned as they are
 * for the kernels' probs input, which normalises each row by its sum. A row whose sum overflows
 * (entries near 1e308) is divided by its maximum first, which the normalisation makes invisible.
 */
export function parseProbs(value: unknown, field: string, maxElements: number, extraWork = 1): Matrix {
  const { rows, cols } = shape(value, field, maxElements, extraWork);
  const data = new Float64Array(rows * cols);
  const matrix = value as unknown[][];
  for (let r = 0; r < rows; r++) {
    const row = matrix[r];
    const base = r * cols;
    let sum = 0;
    let max = 0;
    for (let j = 0; j < cols; j++) {
      const v = row[j];
      if (typeof v !== 'number' || !(v >= 0) || v === Infinity) {
        throw badRequest(`${field}[${r}][${j}] must be a finite non-negative number`, [issue(field, r, j, 'must be a finite non-negative number')]);
      }
      data[base + j] = v;
      sum += v;
      if (v > max) max = v;
    }
    if (sum === 0) throw badRequest(`${field}[${r}] sums to 0: at least one entry must be > 0`, [{ path: [field, r], message: 'sums to 0' }]);
    if (sum === Infinity) for (let j = 0; j < cols; j++) data[base + j] /= max;
  }
  return { data, rows, cols };
}

function issue(field: string, r: number, j: number, message: string) {
  return { path: [field, r, j], message };
}

/** Checks that value is a non-empty rectangular array of arrays within the element limit. */
function shape(value: unknown, field: string, maxElements: number, extraWork: number): { rows: number; cols: number } {
  if (value === undefined) throw badRequest(`${field} is required`, [{ path: [field], message: 'is required' }]);
  if (!Array.isArray(value)) throw badRequest(`${field} must be an array of rows`, [{ path: [field], message: 'must be an array of rows' }]);
  const rows = value.length;
  if (rows === 0) throw badRequest(`${field} must have at least one row`, [{ path: [field], message: 'must have at least one row' }]);
  const first = value[0];
  if (!Array.isArray(first)) throw badRequest(`${field}[0] must be an array`, [{ path: [field, 0], message: 'must be an array' }]);
  const cols = first.length;
  if (cols === 0) throw badRequest(`${field}[0] must have at least one class`, [{ path: [field, 0], message: 'must have at least one class' }]);
  for (let r = 1; r < rows; r++) {
    const row = value[r];
    if (!Array.isArray(row)) throw badRequest(`${field}[${r}] must be an array`, [{ path: [field, r], message: 'must be an array' }]);
    if (row.length !== cols) {
      throw badRequest(`rows have different lengths: row 0 has ${cols}, row ${r} has ${row.length}`, [
        { path: [field, r], message: `has ${row.length} classes, row 0 has ${cols}` },
      ]);
    }
  }
  checkWork(field, rows, cols, extraWork, maxElements);
  return { rows, cols };
}

/** 413 when rows x cols (x extraWork) is over maxElements. */
export function checkWork(field: string, rows: number, cols: number, extraWork: number, maxElements: number): void {
  const work = rows * cols * extraWork;
  if (work > maxElements) {
    const what = extraWork === 1 ? `${rows} x ${cols}` : `${rows} x ${cols} x ${extraWork}`;
    throw new ApiError(413, 'TOO_MANY_ELEMENTS', `${field}: ${what} = ${work} elements is over the limit of ${maxElements}`);
  }
}
