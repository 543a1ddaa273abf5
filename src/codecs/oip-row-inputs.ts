import { badRequest, quoteValue } from '../errors.js';

/**
 * OIP input tensors that carry one value per row of the matrix (the issue-9 contract: "per-row
 * arrays are extra input tensors named as the field", e.g. `temperature` FP64 [rows], `seed`
 * INT64 [rows], `targets` INT64 [rows]). They are a few values a row, so they are read into plain
 * arrays of numbers, which the operation's schema then validates as if the /v1 body had given the
 * array (the same checks and messages). Shape [rows] or [rows, 1]; JSON data flat or as rows;
 * binary data little-endian, after the matrix's, in the order of the inputs.
 */

export type RowDatatype = 'FP64' | 'FP32' | 'INT64' | 'INT32';
export const ROW_DATATYPES: readonly RowDatatype[] = ['FP64', 'FP32', 'INT64', 'INT32'];
export const ROW_ELEMENT_BYTES: Record<RowDatatype, number> = { FP64: 8, FP32: 4, INT64: 8, INT32: 4 };

type Obj = Record<string, unknown>;

/** A per-row input's declared form, checked against the matrix's rows. */
export interface RowInput {
  name: string;
  datatype: RowDatatype;
  /** Bytes of binary data, or undefined for JSON data. */
  binarySize?: number;
  data?: unknown;
  where: string;
}

export function rowInputOf(input: Obj, k: number, rows: number): RowInput {
  const where = `inputs[${k}] (${String(input.name)})`;
  const datatype = input.datatype;
  if (typeof datatype !== 'string' || !ROW_DATATYPES.includes(datatype as RowDatatype)) {
    throw badRequest(`${where}.datatype must be one of ${ROW_DATATYPES.join(', ')} (got ${quoteValue(datatype)})`);
  }
  const shape = input.shape;
  const ok = Array.isArray(shape) && shape[0] === rows && (shape.length === 1 || (shape.length === 2 && shape[1] === 1));
  if (!ok) throw badRequest(`${where}.shape must be [${rows}] or [${rows}, 1], one value per row of the matrix (got ${quoteValue(shape)})`);
  const params = input.parameters ?? {};
  if (typeof params !== 'object' || params === null || Array.isArray(params)) throw badRequest(`${where}.parameters must be an object (got ${quoteValue(params)})`);
  for (const key of Object.keys(params)) {
    if (key !== 'binary_data_size') throw badRequest(`unknown field(s) in ${where}.parameters: ${key} (it takes binary_data_size)`);
  }
  const size = (params as Obj).binary_data_size;
  const hasData = input.data !== undefined;
  if (size !== undefined) {
    if (hasData) throw badRequest(`${where} has both data and parameters.binary_data_size: give one`);
    const need = rows * ROW_ELEMENT_BYTES[datatype as RowDatatype];
    if (size !== need) throw badRequest(`${where}: binary_data_size is ${quoteValue(size)} bytes, but [${rows}] of ${datatype} is ${need}`);
    return { name: input.name as string, datatype: datatype as RowDatatype, binarySize: need, where };
  }
  if (!hasData) throw badRequest(`${where} has no data: give data (JSON), or binary data with parameters.binary_data_size`);
  return { name: input.name as string, datatype: datatype as RowDatatype, data: input.data, where };
}

/**
 * The values of a per-row input: numbers, or NaN where an element is not one (or an INT64 beyond
 * 2^53), which the schema refuses by position. Binary data is at bytes[offset..].
 */
export function rowValues(input: RowInput, rows: number, bytes: Uint8Array, offset: number): number[] {
  const out = new Array<number>(rows);
  if (input.binarySize !== undefined) {
    // DataView: little-endian on any host, at any alignment (a few values a row: no need for views).
    const view = new DataView(bytes.buffer, bytes.byteOffset + offset, input.binarySize);
    for (let r = 0; r < rows; r++) {
      switch (input.datatype) {
        case 'FP64':
          out[r] = view.getFloat64(8 * r, true);
          break;
        case 'FP32':
          out[r] = view.getFloat32(4 * r, true);
          break;
        case 'INT32':
          out[r] = view.getInt32(4 * r, true);
          break;
        case 'INT64': {
          const v = view.getBigInt64(8 * r, true);
          out[r] = v >= -(2n ** 53n) && v < 2n ** 53n ? Number(v) : Number.NaN;
          break;
        }
      }
    }
    return out;
  }
  const data = input.data;
  if (!Array.isArray(data) || data.length !== rows) {
    throw badRequest(`${input.where}.data must hold ${rows} values, one per row (got ${quoteValue(data)})`);
  }
  for (let r = 0; r < rows; r++) {
    let v = data[r];
    if (Array.isArray(v) && v.length === 1) v = v[0];
    if (typeof v !== 'number') out[r] = Number.NaN;
    else if (input.datatype === 'FP32') out[r] = Math.fround(v);
    else if (input.datatype === 'INT32') out[r] = v === (v | 0) ? v : Number.NaN;
    else if (input.datatype === 'INT64') out[r] = Number.isSafeInteger(v) || Object.is(v, -0) ? v : Number.NaN;
    else out[r] = v;
  }
  return out;
}
