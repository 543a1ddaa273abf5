/**
 * Binary tensors of the Open Inference Protocol (Triton's binary tensor data extension): raw
 * little-endian elements, row-major, no padding. Inputs are converted straight into the job's
 * Float64Array through typed-array views (never through arrays of JS numbers): FP64 bytes are
 * copied, FP32 converted by TypedArray.prototype.set, FP16 through a 65536-entry table and BF16
 * by moving its bits into the high half of a float32. Every conversion is exact (each format's
 * values are a subset of float64's). Outputs are written the same way: FP64 as they are, FP32
 * rounded once (round to nearest even, as Math.fround), INT64 from the int32 results.
 *
 * Why by hand: Node 20 has no Float16Array, and no library converts 16-bit floats into an
 * existing Float64Array without an intermediate array of numbers.
 */

import { copyBytes } from './copy.js';

export type InputDatatype = 'FP64' | 'FP32' | 'FP16' | 'BF16';

export const ELEMENT_BYTES: Record<InputDatatype, number> = { FP64: 8, FP32: 4, FP16: 2, BF16: 2 };

/** Whether this machine stores typed arrays little-endian (the wire order); else DataView is used. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Elements converted per step through an aligned scratch buffer (bounded memory for unaligned data). */
const STEP = 16 * 1024;

let halfTable: Float64Array | undefined;

/**
 * The value of an IEEE 754 binary16 bit pattern: sign, 5 exponent bits (bias 15), 10 fraction
 * bits; exponent 0 is subnormal (f * 2^-24), 31 is infinity (f = 0) or NaN.
 */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return sign * f * 2 ** -24;
  if (e === 31) return f === 0 ? sign * Infinity : Number.NaN;
  return sign * (1024 + f) * 2 ** (e - 25);
}

/** Every binary16 value, by bit pattern (512 KiB, built on first use in each thread). */
function halves(): Float64Array {
  if (!halfTable) {
    halfTable = new Float64Array(65536);
    for (let h = 0; h < 65536; h++) halfTable[h] = halfToNumber(h);
  }
  return halfTable;
}

/**
 * Converts `count` elements of `datatype` at bytes[offset..] into out[0..count). The caller has
 * checked that the bytes are there.
 */
export function readBinary(bytes: Uint8Array, offset: number, datatype: InputDatatype, count: number, out: Float64Array): void {
  const size = ELEMENT_BYTES[datatype];
  const at = bytes.byteOffset + offset;
  if (!LITTLE_ENDIAN) return readWithDataView(bytes, offset, datatype, count, out);
  switch (datatype) {
    case 'FP64':
      copyBytes(new Uint8Array(out.buffer, out.byteOffset, count * 8), bytes.subarray(offset, offset + count * 8));
      return;
    case 'FP32':
      if (at % 4 === 0) {
        out.set(new Float32Array(bytes.buffer, at, count));
        return;
      }
      return stepped(bytes, offset, size, count, (scratch, n, o) => out.set(new Float32Array(scratch.buffer, 0, n), o));
    case 'FP16': {
      const table = halves();
      const convert = (u16: Uint16Array, n: number, o: number) => {
        for (let k = 0; k < n; k++) out[o + k] = table[u16[k]];
      };
      if (at % 2 === 0) return convert(new Uint16Array(bytes.buffer, at, count), count, 0);
      return stepped(bytes, offset, size, count, (scratch, n, o) => convert(new Uint16Array(scratch.buffer, 0, n), n, o));
    }
    case 'BF16': {
      // bfloat16 is the high half of a float32: shifted into place, a Float32Array view reads it.
      const bits = new Uint32Array(Math.min(STEP, count));
      const floats = new Float32Array(bits.buffer);
      const aligned = at % 2 === 0;
      const scratch = aligned ? undefined : new Uint8Array(bits.length * 2);
      for (let o = 0; o < count; o += STEP) {
        const n = Math.min(STEP, count - o);
        let u16: Uint16Array;
        if (scratch) {
          copyBytes(scratch, bytes.subarray(offset + o * 2, offset + (o + n) * 2));
          u16 = new Uint16Array(scratch.buffer, 0, n);
        } else u16 = new Uint16Array(bytes.buffer, at + o * 2, n);
        for (let k = 0; k < n; k++) bits[k] = u16[k] << 16;
        out.set(n === floats.length ? floats : floats.subarray(0, n), o);
      }
      return;
    }
  }
}

/**
 * Copies unaligned elements a step at a time into an aligned scratch buffer for `convert`. The
 * scratch is no bigger than the data: a whole step's (64 KiB for FP32) zeroed per small request
 * was ~7 us of a 1x50 call's main-thread time (a CPU profile under load).
 */
function stepped(bytes: Uint8Array, offset: number, size: number, count: number, convert: (scratch: Uint8Array, n: number, o: number) => void): void {
  const scratch = new Uint8Array(Math.min(STEP, count) * size);
  for (let o = 0; o < count; o += STEP) {
    const n = Math.min(STEP, count - o);
    copyBytes(scratch, bytes.subarray(offset + o * size, offset + (o + n) * size));
    convert(scratch, n, o);
  }
}

/** The portable path, for a big-endian machine. */
function readWithDataView(bytes: Uint8Array, offset: number, datatype: InputDatatype, count: number, out: Float64Array): void {
  const v = new DataView(bytes.buffer, bytes.byteOffset + offset, count * ELEMENT_BYTES[datatype]);
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (let k = 0; k < count; k++) {
    if (datatype === 'FP64') out[k] = v.getFloat64(k * 8, true);
    else if (datatype === 'FP32') out[k] = v.getFloat32(k * 4, true);
    else if (datatype === 'FP16') out[k] = halfToNumber(v.getUint16(k * 2, true));
    else {
      u32[0] = v.getUint16(k * 2, true) << 16;
      out[k] = f32[0];
    }
  }
}

export type OutputDatatype = 'FP64' | 'FP32' | 'INT64';

/** Bytes per element of an output written in binary. */
export const OUTPUT_BYTES: Record<OutputDatatype, number> = { FP64: 8, FP32: 4, INT64: 8 };

/** Elements [i0, i1) of an output as little-endian bytes of `datatype`, in a buffer of their own. */
export function writeBinary(buf: Float64Array | Int32Array, datatype: OutputDatatype, i0: number, i1: number): Uint8Array {
  const n = Math.max(0, i1 - i0);
  const out = new Uint8Array(n * OUTPUT_BYTES[datatype]);
  writeBinaryInto(buf.subarray(i0, i0 + n), datatype, out);
  return out;
}

/**
 * Every element of `src` as little-endian bytes of `datatype` into `dest` (src.length times the
 * element size), straight from the typed array: a typed-array view of dest when it is aligned
 * for the element type (TypedArray.prototype.set converts float64 to float32, rounding once),
 * else through an aligned scratch buffer a step at a time. An answer's binary output starts
 * after its JSON header, at any offset.
 */
export function writeBinaryInto(src: Float64Array | Int32Array, datatype: OutputDatatype, dest: Uint8Array): void {
  const n = src.length;
  if (!LITTLE_ENDIAN) {
    const v = new DataView(dest.buffer, dest.byteOffset, dest.byteLength);
    for (let k = 0; k < n; k++) {
      if (datatype === 'FP64') v.setFloat64(k * 8, src[k], true);
      else if (datatype === 'FP32') v.setFloat32(k * 4, src[k], true);
      else v.setBigInt64(k * 8, BigInt(src[k]), true);
    }
    return;
  }
  if (datatype === 'FP64' && src instanceof Float64Array) {
    copyBytes(dest, new Uint8Array(src.buffer, src.byteOffset, n * 8)); // dest may be shared: ./copy.ts
    return;
  }
  const size = OUTPUT_BYTES[datatype];
  if (dest.byteOffset % 4 === 0) {
    writeAligned(src, datatype, dest.buffer, dest.byteOffset, n);
    return;
  }
  const scratch = new ArrayBuffer(Math.min(n, STEP) * size);
  const bytes = new Uint8Array(scratch);
  for (let o = 0; o < n; o += STEP) {
    const m = Math.min(STEP, n - o);
    writeAligned(src.subarray(o, o + m), datatype, scratch, 0, m);
    copyBytes(dest, m * size === bytes.length ? bytes : bytes.subarray(0, m * size), o * size);
  }
}

/** n elements of src at byte `at` of buffer (4-aligned). */
function writeAligned(src: Float64Array | Int32Array, datatype: OutputDatatype, buffer: ArrayBufferLike, at: number, n: number): void {
  switch (datatype) {
    case 'FP64': // integers as doubles (real outputs, Float64Arrays, are copied as bytes above)
      new Uint8Array(buffer, at, n * 8).set(new Uint8Array(Float64Array.from(src).buffer));
      return;
    case 'FP32':
      new Float32Array(buffer, at, n).set(src);
      return;
    case 'INT64': {
      // Two little-endian int32 words per element: the value, then its sign extension.
      const words = new Int32Array(buffer, at, n * 2);
      for (let k = 0; k < n; k++) {
        const x = src[k];
        words[2 * k] = x;
        words[2 * k + 1] = x < 0 ? -1 : 0;
      }
      return;
    }
  }
}
