/**
 * A minimal WebAssembly assembler for the small SIMD kernels in this directory: LEB128 encoders,
 * section framing, the handful of opcodes the kernels use (./philox-simd.ts, ./softmax-simd.ts),
 * and synchronous instantiation. Modules built with these are a few KB, far below the size limit
 * for synchronous compilation on the main thread.
 */

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
export const name = (s: string): number[] => [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];

/** Value types. */
export const I32 = 0x7f;
export const F64 = 0x7c;
export const V128 = 0x7b;

/** Control. */
export const BLOCK = [0x02, 0x40];
export const LOOP = [0x03, 0x40];
export const IF = [0x04, 0x40];
export const ELSE = [0x05];
export const END = [0x0b];
export const br = (depth: number) => [0x0c, ...uleb(depth)];
export const brIf = (depth: number) => [0x0d, ...uleb(depth)];
export const call = (f: number) => [0x10, ...uleb(f)];
export const SELECT = [0x1b];

/** Locals. */
export const get = (i: number) => [0x20, ...uleb(i)];
export const set = (i: number) => [0x21, ...uleb(i)];
export const tee = (i: number) => [0x22, ...uleb(i)];

/** Scalar i32 and f64. */
export const i32Const = (v: number) => [0x41, ...sleb(v | 0)];
export const I32_EQZ = [0x45];
export const I32_NE = [0x47];
export const I32_LT_U = [0x49];
export const I32_GE_U = [0x4f];
export const I32_ADD = [0x6a];
export const I32_SUB = [0x6b];
export const I32_MUL = [0x6c];
export const I32_AND = [0x71];
export const I32_SHL = [0x74];
export function f64Const(v: number): number[] {
  return [0x44, ...new Uint8Array(new Float64Array([v]).buffer)];
}
export const f64Load = (offset = 0) => [0x2b, 3, ...uleb(offset)];
export const f64Store = (offset = 0) => [0x39, 3, ...uleb(offset)];
export const F64_EQ = [0x61];
export const F64_LT = [0x63];
export const F64_ADD = [0xa0];
export const F64_SUB = [0xa1];
export const F64_MUL = [0xa2];
export const F64_DIV = [0xa3];

/** SIMD (prefix 0xfd). */
export const simd = (op: number) => [0xfd, ...uleb(op)];
export const v128Load = (offset = 0) => [...simd(0x00), 4, ...uleb(offset)];
export const v128Store = (offset = 0) => [...simd(0x0b), 4, ...uleb(offset)];
/** v128.const from four 32-bit words, lowest first. */
export const v128Const = (w: readonly number[]) => [
  ...simd(0x0c),
  ...w.flatMap((x) => [x & 255, (x >>> 8) & 255, (x >>> 16) & 255, (x >>> 24) & 255]),
];
/** v128.const holding v in both f64 lanes. */
export function f64x2Const(v: number): number[] {
  const bytes = new Uint8Array(new Float64Array([v, v]).buffer);
  return [...simd(0x0c), ...bytes];
}
/** v128.const holding the 64-bit integer hi * 2^32 + lo in both lanes. */
export const i64x2Const = (hi: number, lo: number) => v128Const([lo, hi, lo, hi]);
export const F64X2_SPLAT = simd(0x14);
export const f64x2ExtractLane = (l: number) => [...simd(0x21), l];
export const V128_AND = simd(0x4e);
export const V128_ANDNOT = simd(0x4f);
export const V128_XOR = simd(0x51);
/** v128.bitselect(a, b, mask) = (a & mask) | (b & ~mask). */
export const V128_BITSELECT = simd(0x52);
export const F64X2_EQ = simd(0x47);
export const F64X2_LT = simd(0x49);
export const I64X2_SHL = simd(0xcb);
export const I64X2_ADD = simd(0xce);
export const F64X2_ADD = simd(0xf0);
export const F64X2_SUB = simd(0xf1);
export const F64X2_MUL = simd(0xf2);
export const F64X2_DIV = simd(0xf3);
/** Pseudo-maximum: b > a ? b : a per lane (so a NaN b is skipped, like `if (x > m) m = x`). */
export const F64X2_PMAX = simd(0xf7);

/** Added for the general-alpha entmax kernel (./entmax-simd.ts): fdlibm's log and log1p. */
export const RETURN = [0x0f];
export const I32_EQ = [0x46];
export const I32_LT_S = [0x48];
export const I32_GT_S = [0x4a];
export const I32_LE_S = [0x4c];
export const I32_GE_S = [0x4e];
export const I32_GT_U = [0x4b];
export const I32_OR = [0x72];
export const I32_SHR_S = [0x75];
export const I32_WRAP_I64 = [0xa7];
export const I64_SHL = [0x86];
export const I64_SHR_U = [0x88];
export const I64_OR = [0x84];
export const I64_AND = [0x83];
export const I64_EXTEND_I32_U = [0xad];
export const I64_REINTERPRET_F64 = [0xbd];
export const F64_REINTERPRET_I64 = [0xbf];
export const F64_CONVERT_I32_S = [0xb7];
export const F64_NE = [0x62];
export const F64_GT = [0x64];
export const F64X2_NE = simd(0x48);
export const F64X2_LE = simd(0x4b);
export const F64X2_ABS = simd(0xec);
export const F64X2_NEG = simd(0xed);
export const V128_OR = simd(0x50);
export const V128_ANY_TRUE = simd(0x53);
export const i32x4ExtractLane = (l: number) => [...simd(0x1b), l];
export const f64x2ReplaceLane = (l: number) => [...simd(0x22), l];
export const I64X2_SHR_U = simd(0xcd);
export const I64X2_SUB = simd(0xd1);
export const I64X2_LT_S = simd(0xd8);
export const I64X2_GT_S = simd(0xd9);

/** The slice of the WebAssembly JS API used here (the project's TypeScript libs omit it). */
export interface WasmMemory {
  buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/**
 * Compiles and instantiates a module synchronously; null where WebAssembly (or a feature the
 * module uses, such as SIMD) is unavailable, so callers can fall back to JavaScript.
 */
export function instantiate(bytes: Uint8Array, imports: object = {}): Record<string, unknown> | null {
  const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (wasm === undefined) return null;
  try {
    return new wasm.Instance(new wasm.Module(bytes), imports).exports;
  } catch {
    return null;
  }
}

// --- Scalar i64, more i32, byte-wide memory access (for ../codecs/number-text-wasm.ts). ---

export const I64 = 0x7e;
/** if with an i32 result: if (result i32) ... else ... end. */
export const IF_I32 = [0x04, 0x7f];
/** if with an i64 result. */
export const IF_I64 = [0x04, 0x7e];

/** Signed LEB128 of a 64-bit integer (given as a bigint, two's complement for negatives). */
export function sleb64(v: bigint): number[] {
  const out: number[] = [];
  let n = BigInt.asIntN(64, v);
  for (;;) {
    const b = Number(n & 0x7fn);
    n >>= 7n;
    if ((n === 0n && (b & 0x40) === 0) || (n === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}
export const i64Const = (v: bigint) => [0x42, ...sleb64(v)];

export const i32Load = (offset = 0) => [0x28, 2, ...uleb(offset)];
export const i64Load = (offset = 0) => [0x29, 3, ...uleb(offset)];
export const i32Load8U = (offset = 0) => [0x2d, 0, ...uleb(offset)];
export const i32Load16U = (offset = 0) => [0x2f, 1, ...uleb(offset)];
export const i32Store = (offset = 0) => [0x36, 2, ...uleb(offset)];
export const i64Store = (offset = 0) => [0x37, 3, ...uleb(offset)];
export const i32Store8 = (offset = 0) => [0x3a, 0, ...uleb(offset)];
export const i32Store16 = (offset = 0) => [0x3b, 1, ...uleb(offset)];

export const I32_LE_U = [0x4d];
export const I32_DIV_U = [0x6e];
export const I32_REM_U = [0x70];
export const I32_XOR = [0x73];
export const I32_SHR_U = [0x76];

export const I64_CLZ = [0x79];
export const I64_EQZ = [0x50];
export const I64_EQ = [0x51];
export const I64_NE = [0x52];
export const I64_LT_S = [0x53];
export const I64_LT_U = [0x54];
export const I64_GT_S = [0x55];
export const I64_GT_U = [0x56];
export const I64_LE_U = [0x58];
export const I64_GE_U = [0x5a];
export const I64_ADD = [0x7c];
export const I64_SUB = [0x7d];
export const I64_MUL = [0x7e];
export const I64_DIV_U = [0x80];
export const I64_EXTEND_I32_S = [0xac];

/**
 * More scalar ops of the number scanner (../codecs/number-scan-wasm.ts); the i64, byte and i32
 * memory ops it uses are above.
 */
export const F64_NEG = [0x9a];
export const F64_CONVERT_I64_U = [0xba];
export const I64_CTZ = [0x7a];
