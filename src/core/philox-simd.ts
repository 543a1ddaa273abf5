/**
 * Philox4x32-10 on WebAssembly SIMD: four counters per 128-bit lane group, the same words as
 * ./philox.ts (checked against BigInt in test/core/philox.test.ts).
 *
 * Why: in plain JavaScript the 32x32 -> 64-bit multiplies of Philox cost ~7.5 ns per output word
 * even with four counters interleaved (./philox.ts), which is most of a Gumbel-max draw. WASM SIMD
 * has the exact products in one instruction each:
 *   lo  = i32x4.mul(c, M)                                        (low words, 4 lanes)
 *   hi  = i8x16.shuffle(i64x2.extmul_low_i32x4_u(c, M),          (odd 32-bit halves of the
 *                       i64x2.extmul_high_i32x4_u(c, M))          four 64-bit products)
 * so a round of four blocks is ~14 vector instructions: ~1.4 ns per word here, ~6x faster.
 * (128-bit SIMD is part of WebAssembly 2.0; V8 has it enabled since 9.1, i.e. Node >= 16.4.)
 *
 * The module (~3 KB) is assembled below from the instruction list rather than shipped as an
 * opaque blob, and instantiated synchronously at import (it is far below the size limit for
 * synchronous compilation). If WebAssembly SIMD is unavailable, philoxSimd is null and callers
 * use the JavaScript path.
 *
 * Exported function blocks(k0, k1, c1, c2, c3, first, nBlocks, nRows): for each i < nRows and
 * b = first .. first + nBlocks - 1 (mod 2^32), nBlocks rounded up to a multiple of 4 (= P), writes
 * the 4 words of Philox(b, c1, c2 + i, c3; k0, k1) to memory words 4 (i P + b - first) + 0..3,
 * from address 0. Several rows per call serve batches of short rows. Each group of four blocks is
 * transposed from lanes (one word of four blocks) to blocks (four words of one block) with eight
 * shuffles before it is stored.
 */

import { I32, V128, get, i32Const, instantiate, name, section, set, simd, uleb, v128Const, v128Store, V128_XOR, type WasmMemory } from './wasm.js';

/** Blocks one call can produce: the module has one 64 KiB page, 16 bytes per block. */
export const SIMD_MAX_BLOCKS = 4096;

export interface PhiloxSimd {
  /** See the file comment. nRows * (nBlocks rounded up to a multiple of 4) <= SIMD_MAX_BLOCKS. */
  blocks(
    k0: number,
    k1: number,
    c1: number,
    c2: number,
    c3: number,
    first: number,
    nBlocks: number,
    nRows: number,
  ): void;
  /** The module memory as words: block i of the last call is words[4 i .. 4 i + 3]. */
  words: Uint32Array;
}

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

// --- The instructions this kernel needs beyond the shared ones in ./wasm.ts. -------------------

const splat4 = (x: number) => v128Const([x, x, x, x]);
const I32X4_SPLAT = simd(0x11);
const I32X4_ADD = simd(0xae);
const I32X4_MUL = simd(0xb5);
const EXTMUL_LOW_U = simd(0xde); // i64x2.extmul_low_i32x4_u
const EXTMUL_HIGH_U = simd(0xdf); // i64x2.extmul_high_i32x4_u
/** i8x16.shuffle picking 32-bit lanes (0-3 from the first operand, 4-7 from the second). */
const shuffle32 = (lanes: readonly number[]) => [
  ...simd(0x0d),
  ...lanes.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]),
];
/** The high halves of two i64x2 products: 32-bit lanes 1, 3 of the first and 1, 3 of the second. */
const HIGH_HALVES = shuffle32([1, 3, 5, 7]);

function assemble(): Uint8Array {
  // Parameters 0-7: k0 k1 c1 c2 c3 first n rows (i32). Locals: v128 8-19; i32 20 (pass), 21
  // (byte address), 22 (row).
  const K0 = 0, K1 = 1, C1 = 2, C2 = 3, C3 = 4, FIRST = 5, N = 6, ROWS = 7;
  const X0 = 8, X1 = 9, X2 = 10, X3 = 11, HI0 = 12, LO0 = 13, HI1 = 14, LO1 = 15, B = 16, KK0 = 17, KK1 = 18;
  const T0 = 19, PASS = 20, ADDR = 21, ROW = 22;
  const body: number[] = [];
  const emit = (...parts: number[][]) => {
    for (const p of parts) body.push(...p);
  };
  emit([0x02, 0x40], [0x03, 0x40]); // block, loop (rows)
  emit(get(ROW), get(ROWS), [0x4f], [0x0d, 1]); // if row >= rows: break
  // B = first + (0, 1, 2, 3): the block counters of the row's first pass.
  emit(get(FIRST), I32X4_SPLAT, v128Const([0, 1, 2, 3]), I32X4_ADD, set(B));
  emit(i32Const(0), set(PASS));
  emit([0x02, 0x40], [0x03, 0x40]); // block, loop (passes of four blocks)
  emit(get(PASS), i32Const(4), [0x6c], get(N), [0x4f], [0x0d, 1]); // if 4 pass >= n: break
  emit(get(B), set(X0));
  emit(get(C1), I32X4_SPLAT, set(X1), get(C2), get(ROW), [0x6a], I32X4_SPLAT, set(X2), get(C3), I32X4_SPLAT, set(X3));
  emit(get(K0), I32X4_SPLAT, set(KK0), get(K1), I32X4_SPLAT, set(KK1));
  for (let round = 0; round < 10; round++) {
    emit(get(X0), splat4(M0), I32X4_MUL, set(LO0));
    emit(get(X0), splat4(M0), EXTMUL_LOW_U, get(X0), splat4(M0), EXTMUL_HIGH_U, HIGH_HALVES, set(HI0));
    emit(get(X2), splat4(M1), I32X4_MUL, set(LO1));
    emit(get(X2), splat4(M1), EXTMUL_LOW_U, get(X2), splat4(M1), EXTMUL_HIGH_U, HIGH_HALVES, set(HI1));
    emit(get(HI1), get(X1), V128_XOR, get(KK0), V128_XOR, set(X0));
    emit(get(LO1), set(X1));
    emit(get(HI0), get(X3), V128_XOR, get(KK1), V128_XOR, set(X2));
    emit(get(LO0), set(X3));
    if (round < 9) {
      emit(get(KK0), splat4(W0), I32X4_ADD, set(KK0));
      emit(get(KK1), splat4(W1), I32X4_ADD, set(KK1));
    }
  }
  // Transpose lanes to blocks: T0 = (x0[0] x1[0] x0[1] x1[1]), HI0 = (x2[0] x3[0] x2[1] x3[1]),
  // LO0 = (x0[2] x1[2] x0[3] x1[3]), HI1 = (x2[2] x3[2] x2[3] x3[3]); then pair their halves.
  emit(get(X0), get(X1), shuffle32([0, 4, 1, 5]), set(T0));
  emit(get(X2), get(X3), shuffle32([0, 4, 1, 5]), set(HI0));
  emit(get(X0), get(X1), shuffle32([2, 6, 3, 7]), set(LO0));
  emit(get(X2), get(X3), shuffle32([2, 6, 3, 7]), set(HI1));
  emit(get(ADDR), get(T0), get(HI0), shuffle32([0, 1, 4, 5]), v128Store(0));
  emit(get(ADDR), get(T0), get(HI0), shuffle32([2, 3, 6, 7]), v128Store(16));
  emit(get(ADDR), get(LO0), get(HI1), shuffle32([0, 1, 4, 5]), v128Store(32));
  emit(get(ADDR), get(LO0), get(HI1), shuffle32([2, 3, 6, 7]), v128Store(48));
  emit(get(ADDR), i32Const(64), [0x6a], set(ADDR)); // 64 bytes per pass
  emit(get(PASS), i32Const(1), [0x6a], set(PASS));
  emit(get(B), splat4(4), I32X4_ADD, set(B));
  emit([0x0c, 0], [0x0b], [0x0b]); // br pass loop; end loop; end block
  emit(get(ROW), i32Const(1), [0x6a], set(ROW));
  emit([0x0c, 0], [0x0b], [0x0b], [0x0b]); // br row loop; end loop; end block; end function
  const locals = [2, ...uleb(12), V128, ...uleb(3), I32];
  const func = [...locals, ...body];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version 1
    ...section(1, [1, 0x60, 8, I32, I32, I32, I32, I32, I32, I32, I32, 0]), // type: (i32 x8) -> ()
    ...section(3, [1, 0]), // function 0 has type 0
    ...section(5, [1, 0x00, 1]), // one memory, 1 page
    ...section(7, [2, ...name('blocks'), 0x00, 0, ...name('memory'), 0x02, 0]),
    ...section(10, [1, ...uleb(func.length), ...func]),
  ]);
}

/** The slice of the WebAssembly JS API used here (the project's TypeScript libs omit it). */
function load(): PhiloxSimd | null {
  const exports = instantiate(assemble()); // null without WebAssembly SIMD: callers use JavaScript
  if (!exports) return null;
  const memory = exports.memory as WasmMemory;
  return { blocks: exports.blocks as PhiloxSimd['blocks'], words: new Uint32Array(memory.buffer) };
}

/** The SIMD generator, or null where WebAssembly SIMD is unavailable. */
export const philoxSimd: PhiloxSimd | null = load();
