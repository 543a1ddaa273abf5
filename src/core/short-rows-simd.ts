import {
  BLOCK, br, brIf, END, get, I32, i32Const, I32_ADD, I32_EQZ, I32_LT_U, I32_MUL, instantiate, LOOP, name, section, set, simd, uleb, V128,
  type WasmMemory,
} from './wasm.js';

/**
 * What the short-row WebAssembly kernels (./sparsemax-simd.ts, ./entmax15-simd.ts; ./entmax-simd.ts
 * the layout and the loops, with a module and driver of its own; ./entmax15-simd.ts not the loops,
 * which it unrolls for each row length) share: four
 * rows of at most 32 classes an iteration (two f64x2 groups, lane 0 row r, lane 1 row r + 1),
 * a fixed 1 MiB memory with the rows from byte 0 (TILE doubles, tiles of a multiple of four
 * rows) and each row's support count as a 32-bit integer at the kernel's own offset, one export
 * run(quads, cols, invT, T, mode) (mode 1 = divide by T, else multiply by invT; see
 * ./temperature.ts), and the driver that copies the rows in and the results out a tile at a time.
 */

/** Doubles of rows per call (256 KiB). */
export const TILE = 32768;
/** Pairs of rows per iteration, interleaved so that one pair's dependency chains overlap another's. */
export const GROUPS = 2;
/** Rows per iteration. */
export const ROWS_PER = 2 * GROUPS;

// SIMD instructions the short-row kernels use beyond ./wasm.ts's list.
export const load64Zero = (offset = 0) => [...simd(0x5d), 3, ...uleb(offset)];
export const load64Lane = (lane: number, offset = 0) => [...simd(0x57), 3, ...uleb(offset), lane];
export const store64Lane = (lane: number, offset = 0) => [...simd(0x5b), 3, ...uleb(offset), lane];
export const F64X2_NE = simd(0x48);
/** The two lanes to 32-bit integers in lanes 0 and 1 (exact: they are counts). */
export const I32X4_TRUNC_SAT_F64X2_S_ZERO = simd(0xfc);
export const V128_ANY_TRUE = simd(0x53);

/** Appends instructions to a kernel's code. */
export type Emit = (...parts: number[][]) => void;

/** The i32 locals (indices in run) the loops below use. */
export interface RowLoopLocals {
  /** The class, 0..cols. */
  I: number;
  /** Its byte address in row 0 of the iteration (BASE + 8 I). */
  A: number;
  /** 16 I: its place in a group's per-class v128 scratch. */
  XA: number;
  /** The iteration's first row's address; COLS, classes a row; STRIDE, 8 COLS. */
  BASE: number;
  COLS: number;
  STRIDE: number;
}

/** The loops and row accesses every short-row kernel emits, over its own locals. */
export function rowLoops(e: Emit, L: RowLoopLocals) {
  return {
    /** for (i = 0, a = base, xa = 0; i < cols; i++, a += 8, xa += 16) body */
    forClasses(body: () => void): void {
      e(i32Const(0), set(L.I), get(L.BASE), set(L.A), i32Const(0), set(L.XA), BLOCK, LOOP);
      e(get(L.I), get(L.COLS), I32_LT_U, I32_EQZ, brIf(1));
      body();
      e(get(L.I), i32Const(1), I32_ADD, set(L.I), get(L.A), i32Const(8), I32_ADD, set(L.A));
      e(get(L.XA), i32Const(16), I32_ADD, set(L.XA), br(0), END, END);
    },
    /** for (at = 0; at < 16 count; at += 16) body: the first `count` (a local) places of a scratch. */
    forPlaces(at: number, count: number, body: () => void): void {
      e(i32Const(0), set(at), BLOCK, LOOP, get(at), get(count), i32Const(16), I32_MUL, I32_LT_U, I32_EQZ, brIf(1));
      body();
      e(get(at), i32Const(16), I32_ADD, set(at), br(0), END, END);
    },
    /** Class i of group g's two rows (rows 2g and 2g + 1 of the iteration) onto the stack. */
    loadPair(g: number): void {
      e(get(L.A), get(L.STRIDE), i32Const(2 * g + 1), I32_MUL, I32_ADD);
      e(get(L.A), get(L.STRIDE), i32Const(2 * g), I32_MUL, I32_ADD, load64Zero(), load64Lane(1));
    },
    /** Local vec's two lanes into class i of group g's two rows. */
    storePair(g: number, vec: number): void {
      e(get(L.A), get(L.STRIDE), i32Const(2 * g), I32_MUL, I32_ADD, get(vec), store64Lane(0));
      e(get(L.A), get(L.STRIDE), i32Const(2 * g + 1), I32_MUL, I32_ADD, get(vec), store64Lane(1));
    },
  };
}

/**
 * The module of a kernel: run's locals (i32 then v128 counts) and its code. With importMemory
 * the module imports its memory (env.memory, 16 pages) instead of defining one, and exports it
 * all the same, so that several kernels can share one (./entmax15-simd.ts: one module per row
 * length). The code is copied in once (spreading an array of ~10^5 bytes into literals took
 * ~65 ms).
 */
export function shortRowModule(i32Locals: number, v128Locals: number, code: number[], importMemory = false): Uint8Array {
  const head = [2, i32Locals, I32, v128Locals, V128];
  const bodyLength = head.length + code.length;
  const codePrefix = [1, ...uleb(bodyLength), ...head]; // one function: its size, its locals
  const codeLength = codePrefix.length + code.length;
  const F64 = 0x7c;
  const before = [
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 5, I32, I32, F64, F64, I32, 0]), // (i32 i32 f64 f64 i32) -> ()
    ...(importMemory ? section(2, [1, ...name('env'), ...name('memory'), 0x02, 0x00, 16]) : []),
    ...section(3, [1, 0]),
    ...(importMemory ? [] : section(5, [1, 0x00, 16])), // memory: 16 pages (1 MiB)
    ...section(7, [2, ...name('run'), 0x00, 0, ...name('memory'), 0x02, 0]),
    10, ...uleb(codeLength), ...codePrefix,
  ];
  const bytes = new Uint8Array(before.length + code.length);
  bytes.set(before, 0);
  bytes.set(code, before.length);
  return bytes;
}

/**
 * The kernel's rows of at most 32 classes into out and support, with invT =
 * exactReciprocal(T) (0: divide by T); false, doing nothing, where WebAssembly SIMD is
 * unavailable.
 */
export type ShortRowKernel = (
  data: Float64Array,
  rows: number,
  cols: number,
  temperature: number,
  invT: number,
  out: Float64Array,
  support: Int32Array,
) => boolean;

/**
 * The driver of a kernel module whose support counts are at byte `countsAt` (instantiated with
 * `imports`); null without SIMD.
 */
export function shortRowKernel(bytes: Uint8Array, countsAt: number, imports: object = {}): ShortRowKernel | null {
  const exports = instantiate(bytes, imports);
  if (exports === null) return null;
  const run = exports.run as (quads: number, cols: number, invT: number, T: number, mode: number) => void;
  const memory = exports.memory as WasmMemory;
  const heap = new Float64Array(memory.buffer);
  const counts = new Int32Array(memory.buffer, countsAt, TILE);
  return (data, rows, cols, temperature, invT, out, support) => {
    if (cols > 32 || cols < 1) return false;
    const perTile = Math.floor(TILE / cols / ROWS_PER) * ROWS_PER;
    const mode = invT ? 0 : 1;
    for (let r = 0; r < rows; r += perTile) {
      const n = Math.min(perTile, rows - r);
      const from = r * cols;
      heap.set(data.subarray(from, from + n * cols), 0);
      run(Math.ceil(n / ROWS_PER), cols, invT || 1, temperature, mode);
      out.set(heap.subarray(0, n * cols), from);
      support.set(counts.subarray(0, n), r);
    }
    return true;
  };
}
