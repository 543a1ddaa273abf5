/**
 * softmax / log-softmax rows on WebAssembly SIMD (f64x2): the same arithmetic as ./softmax.ts,
 * the same exponential bit for bit, and a more accurate row sum.
 *
 * exp: the table-driven scheme of ./exp.ts (Tang 1989), two lanes at a time, the same constants
 * and the same operations in the same order, so the same doubles:
 *   x  <- -746 if x < -745.2                       (-Infinity too; NaN stays NaN)
 *   kb = x 128 / ln2 + S,  S = 1.5 * 2^52 + 8192   (rounds: mantissa bits of kb are k + 8192)
 *   k  = kb - S,  r = (x - k ln2_hi / 128) - k ln2_lo / 128
 *   y  = t + t p(r),  t = 2^((k & 127) / 128) from a 128-entry table, p = degree-5 Taylor of e^r - 1
 *   exp(x) = [bits(y) + ((kb >> 7) << 52)] * 2^-64,  (kb >> 7) << 52 = ((k >> 7) + 64) << 52
 * The two table entries are read lane by lane (i32x4.extract_lane of kb, v128.load64_zero,
 * v128.load64_lane): 128-bit SIMD has no gather, but two scalar loads cost less than the degree-11
 * polynomial a table-free exp needs on |r| <= ln2 / 2 (that variant, in this file's history, was
 * within 1 ulp of Math.exp but ~1.4x slower per element here). The integer add puts
 * (k >> 7) + 64 into the exponent field of y, which stays normal for every x >= -746, and the
 * multiply by 2^-64 is exact for normal results and rounds once for subnormal ones, as
 * ./exp.ts's multiply by 2^(k >> 7) does; exp(-746) rounds to 0. The one difference: ./exp.ts's
 * 2^(k >> 7) table underflows to 0 at 2^-1075, so for x in [-745.2, -744.4] it gives 0 where this
 * gives 5e-324 (= Math.exp there).
 *
 * The exp loop is split in two per chunk of CHUNK bytes: loop A reduces (x to kb and r, stored to
 * a scratch area), loop B reads the table, evaluates, scales, stores e and sums. One long
 * dependency chain per vector kept too few vectors in flight; two short ones overlap better.
 *
 * Row sum: Fast2Sum per lane (the rounding error of every add is carried exactly in a second
 * accumulator; exact because the lanes start at 1 and every term is in [0, 1]), so the sum is
 * within about an ulp at any row length, for 3 more adds per vector. The JavaScript path's plain
 * running sum drifts by up to ~3e-14 relative at 32000 classes; the two paths therefore agree to
 * 1e-15 only on short rows, and this one is the closer to the exact softmax (tests).
 *
 * Data movement: WebAssembly memory is not the caller's array, so rows are copied in by tiles of
 * whole rows (TILE doubles, or one row if longer; the memory grows to fit), each row is processed
 * in place in three passes (max; exp and sum; normalise), and the tile is copied out with
 * TypedArray.set (memcpy).
 *
 * Memory: the table at byte 0, rows packed from byte 1024, then the scratch. Exports
 * run(rows, cols, invT, T, mode, scratch): mode bit 0 = log-softmax, bit 1 = divide by T (else
 * multiply by invT; see ./temperature.ts); scratch a byte address with 2 CHUNK free bytes.
 * exp1(x) exposes the exponential for tests.
 */
import {
  BLOCK, br, brIf, call, ELSE, END, F64, f64Const, f64Load, f64Store, f64x2Const, f64x2ExtractLane,
  F64X2_ADD, F64X2_DIV, F64X2_MUL, F64X2_PMAX, F64X2_SPLAT, F64X2_SUB, F64_ADD, F64_DIV,
  F64_EQ, F64_LT, F64_MUL, F64_SUB, get, I32, i32Const, I32_ADD, I32_AND, I32_GE_U, I32_LT_U, I32_MUL, I32_NE,
  I32_SHL, I64X2_ADD, I64X2_SHL, IF, instantiate, LOOP, section, SELECT, set, tee, uleb, V128,
  v128Load, v128Store, V128_BITSELECT, name, simd, F64X2_LT, type WasmMemory,
} from './wasm.js';

/** As ./exp.ts: below this exp is 0 (exp(-745.2) < 2^-1075 already rounds to 0). */
const UNDERFLOW = -745.2;
/** Arguments below UNDERFLOW are replaced by this, whose exp rounds to 0 in the final multiply. */
const CLAMP = -746;
const TWO_M64 = 2 ** -64;
/** Bytes of a row per pass of the split exp loops; the scratch holds twice as many. */
const CHUNK = 4096;

const T_N = 128;
const T_INV_LN2 = T_N / Math.LN2;
const T_SHIFT = 6755399441055744 + 64 * T_N; // 1.5 * 2^52 + 8192: bits 7.. of kb are (k >> 7) + 64
const T_LN2_HI = 6.93147180369123816490e-1 / T_N;
const T_LN2_LO = 1.90821492927058770002e-10 / T_N;
/** Byte address of the table in the module memory; rows start after it. */
const TABLE = 0;
const BASE0 = 8 * T_N;

/** The range reduction: sets v128 locals kb and r from x (kf is scratch). */
function emitReduce(x: number, kb: number, kf: number, r: number): number[] {
  const c: number[] = [];
  const e = (...parts: number[][]) => {
    for (const p of parts) c.push(...p);
  };
  e(f64x2Const(CLAMP), get(x), get(x), f64x2Const(UNDERFLOW), F64X2_LT, V128_BITSELECT, set(r)); // NaN stays
  e(get(r), f64x2Const(T_INV_LN2), F64X2_MUL, f64x2Const(T_SHIFT), F64X2_ADD, tee(kb));
  e(f64x2Const(T_SHIFT), F64X2_SUB, set(kf));
  e(get(r), get(kf), f64x2Const(T_LN2_HI), F64X2_MUL, F64X2_SUB, get(kf), f64x2Const(T_LN2_LO), F64X2_MUL, F64X2_SUB, set(r));
  return c;
}

/** exp onto the stack from the reduction's kb and r (t is scratch). */
function emitFinish(kb: number, r: number, t: number): number[] {
  const c: number[] = [];
  const e = (...parts: number[][]) => {
    for (const p of parts) c.push(...p);
  };
  const addr = (lane: number) => [get(kb), [...simd(0x1b), lane], i32Const(T_N - 1), I32_AND, i32Const(3), I32_SHL].flat();
  e(addr(0), [...simd(0x5d), 3, ...uleb(TABLE)], set(t)); // v128.load64_zero
  e(addr(2), get(t), [...simd(0x57), 3, ...uleb(TABLE), 1], set(t)); // v128.load64_lane 1
  // e^r - 1 = r (1 + r (1/2 + r (1/6 + r (1/24 + r / 120)))), |r| <= ln2 / 256
  e(get(r), f64x2Const(1 / 120), F64X2_MUL, f64x2Const(1 / 24), F64X2_ADD);
  e(get(r), F64X2_MUL, f64x2Const(1 / 6), F64X2_ADD, get(r), F64X2_MUL, f64x2Const(0.5), F64X2_ADD);
  e(get(r), F64X2_MUL, f64x2Const(1), F64X2_ADD, get(r), F64X2_MUL);
  e(get(t), F64X2_MUL, get(t), F64X2_ADD);
  e(get(kb), i32Const(7), [...simd(0xcd)], i32Const(52), I64X2_SHL, I64X2_ADD, f64x2Const(TWO_M64), F64X2_MUL);
  return c;
}

function assemble(): Uint8Array {
  // run: params 0-5; locals i32 6-14, f64 15-22, v128 23-35.
  const ROWS = 0, COLS = 1, INVT = 2, T = 3, MODE = 4, SCR = 5;
  const ROW = 6, BASE = 7, VEND = 8, P = 9, ROWEND = 10, LOGF = 11, Q = 12, CEND = 13, S2 = 14;
  const M = 15, S = 16, Z = 17, SA = 18, SB = 19, SH = 20, SBB = 21, SERR = 22;
  const VSHIFT = 23, VSCALE = 24, VSUM = 25, VX = 26, VE = 27, KB = 28, KF = 29, R = 30, T2 = 31; // 32 unused
  const VC = 33, VT = 34, VBB = 35;
  const body: number[] = [];
  const emit = (...parts: number[][]) => {
    for (const p of parts) body.push(...p);
  };
  /** while (P < end) { ...loopBody; P += step } */
  const loopP = (end: number, step: number, loopBody: number[][]) => {
    emit(BLOCK, LOOP, get(P), get(end), I32_GE_U, brIf(1));
    emit(...loopBody);
    emit(get(P), i32Const(step), I32_ADD, set(P), br(0), END, END);
  };
  emit(get(MODE), i32Const(1), I32_AND, set(LOGF), i32Const(BASE0), set(BASE));
  emit(BLOCK, LOOP, get(ROW), get(ROWS), I32_GE_U, brIf(1)); // rows
  emit(get(BASE), get(COLS), i32Const(-2), I32_AND, i32Const(3), I32_SHL, I32_ADD, set(VEND));
  emit(get(BASE), get(COLS), i32Const(3), I32_SHL, I32_ADD, set(ROWEND));
  // Pass 1: the maximum, skipping NaN like `if (z > m) m = z`.
  emit(f64x2Const(-Infinity), set(VSUM), get(BASE), set(P));
  loopP(VEND, 16, [get(VSUM), get(P), v128Load(), F64X2_PMAX, set(VSUM)]);
  emit(get(VSUM), f64x2ExtractLane(0), set(M), get(VSUM), f64x2ExtractLane(1), set(Z));
  emit(get(Z), get(M), get(M), get(Z), F64_LT, SELECT, set(M));
  emit(get(VEND), get(ROWEND), I32_NE, IF);
  emit(get(VEND), f64Load(), set(Z), get(Z), get(M), get(M), get(Z), F64_LT, SELECT, set(M));
  emit(END);
  emit(get(M), f64Const(-Infinity), F64_EQ, IF);
  {
    // Every class masked: zeros (log: -Infinity).
    emit(f64Const(-Infinity), f64Const(0), get(LOGF), SELECT, set(Z), get(BASE), set(P));
    loopP(ROWEND, 8, [get(P), get(Z), f64Store()]);
  }
  emit(ELSE);
  {
    emit(get(M), F64X2_SPLAT, set(VSHIFT));
    emit(get(T), get(INVT), get(MODE), i32Const(2), I32_AND, SELECT, F64X2_SPLAT, set(VSCALE));
    emit(f64x2Const(1), set(VSUM), f64x2Const(0), set(VC), f64Const(0), set(S));
    // Pass 2, one variant per mode: x = (z - m) * invT or / T; e = exp(x); store e (log: x).
    for (let mode = 0; mode < 4; mode++) {
      const log = (mode & 1) !== 0;
      const op = mode & 2 ? F64X2_DIV : F64X2_MUL;
      const exp = [...emitReduce(VX, KB, KF, R), ...emitFinish(KB, R, T2)];
      emit(BLOCK, get(MODE), i32Const(mode), I32_NE, brIf(0), get(BASE), set(P));
      // In chunks of CHUNK bytes: loop A stores x in place and r, kb at SCR; loop B finishes exp.
      // Two short dependency chains per vector instead of one long one let more vectors overlap.
      emit(BLOCK, LOOP, get(P), get(VEND), I32_GE_U, brIf(1));
      emit(get(P), i32Const(CHUNK), I32_ADD, get(VEND), get(P), i32Const(CHUNK), I32_ADD, get(VEND), I32_LT_U, SELECT, set(CEND));
      emit(get(P), set(Q), get(SCR), set(S2));
      emit(BLOCK, LOOP, get(Q), get(CEND), I32_GE_U, brIf(1));
      emit(get(Q), v128Load(), get(VSHIFT), F64X2_SUB, get(VSCALE), op, set(VX));
      emit(emitReduce(VX, KB, KF, R));
      if (log) emit(get(Q), get(VX), v128Store());
      emit(get(S2), get(R), v128Store(), get(S2), get(KB), v128Store(16));
      emit(get(Q), i32Const(16), I32_ADD, set(Q), get(S2), i32Const(32), I32_ADD, set(S2), br(0), END, END);
      emit(get(SCR), set(S2));
      emit(BLOCK, LOOP, get(P), get(CEND), I32_GE_U, brIf(1));
      emit(get(S2), v128Load(), set(R), get(S2), v128Load(16), set(KB));
      emit(emitFinish(KB, R, T2), set(VE));
      if (!log) emit(get(P), get(VE), v128Store());
      // Row sum per lane by Fast2Sum (Dekker): the lanes start at 1 and every e is in [0, 1], so
      // |sum| >= |e| and e - (t - sum) is exactly the rounding error of t = sum + e; VC gathers
      // those errors. Only the add sum + e is on the loop-carried path.
      emit(get(VSUM), get(VE), F64X2_ADD, set(VT));
      emit(get(VC), get(VE), get(VT), get(VSUM), F64X2_SUB, F64X2_SUB, F64X2_ADD, set(VC));
      emit(get(VT), set(VSUM));
      emit(get(P), i32Const(16), I32_ADD, set(P), get(S2), i32Const(32), I32_ADD, set(S2), br(0), END, END);
      emit(br(0), END, END);
      emit(get(VEND), get(ROWEND), I32_NE, IF);
      emit(get(VEND), f64Load(), F64X2_SPLAT, get(VSHIFT), F64X2_SUB, get(VSCALE), op, set(VX));
      emit(exp, set(VE));
      emit(get(VEND), get(log ? VX : VE), f64x2ExtractLane(0), f64Store());
      emit(get(VE), f64x2ExtractLane(0), set(S));
      emit(END, END);
    }
    // sum = TwoSum(TwoSum(lane 0, lane 1), tail) plus every error term.
    const twoSum = (a: number[], b: number[]) =>
      emit(a, set(SA), b, set(SB), get(SA), get(SB), F64_ADD, set(SH), get(SH), get(SA), F64_SUB, set(SBB),
        get(SERR), get(SA), get(SH), get(SBB), F64_SUB, F64_SUB, get(SB), get(SBB), F64_SUB, F64_ADD, F64_ADD, set(SERR));
    emit(get(VC), f64x2ExtractLane(0), get(VC), f64x2ExtractLane(1), F64_ADD, set(SERR));
    // lane - 1 is exact (Sterbenz for lanes below 2; above, 1 is a multiple of the lane's ulp).
    twoSum([...get(VSUM), ...f64x2ExtractLane(0), ...f64Const(1), ...F64_SUB], [...get(VSUM), ...f64x2ExtractLane(1), ...f64Const(1), ...F64_SUB]);
    twoSum(get(SH), get(S));
    emit(get(SH), get(SERR), F64_ADD, set(Z));
    // Pass 3: p = e * (1 / sum), or log p = x - log(sum).
    emit(get(BASE), set(P), get(LOGF), IF);
    {
      emit(get(Z), call(0), set(Z), get(Z), F64X2_SPLAT, set(VSCALE));
      loopP(VEND, 16, [get(P), get(P), v128Load(), get(VSCALE), F64X2_SUB, v128Store()]);
      emit(get(VEND), get(ROWEND), I32_NE, IF, get(VEND), get(VEND), f64Load(), get(Z), F64_SUB, f64Store(), END);
    }
    emit(ELSE);
    {
      emit(f64Const(1), get(Z), F64_DIV, set(Z), get(Z), F64X2_SPLAT, set(VSCALE));
      loopP(VEND, 16, [get(P), get(P), v128Load(), get(VSCALE), F64X2_MUL, v128Store()]);
      emit(get(VEND), get(ROWEND), I32_NE, IF, get(VEND), get(VEND), f64Load(), get(Z), F64_MUL, f64Store(), END);
    }
    emit(END);
  }
  emit(END);
  emit(get(ROWEND), set(BASE), get(ROW), i32Const(1), I32_ADD, set(ROW));
  emit(br(0), END, END, END); // next row; end loop; end block; end function
  const run = [3, 9, I32, 8, F64, 13, V128, ...body];

  // exp1(x): lane 0 of the vector exponential of (x, x).
  const exp1 = [1, 6, V128, ...get(0), ...F64X2_SPLAT, ...set(1), ...emitReduce(1, 2, 3, 4), ...emitFinish(2, 4, 5), ...f64x2ExtractLane(0), ...END];

  const fn = (code: number[]) => [...uleb(code.length), ...code];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: 0 = (i32 i32 f64 f64 i32 i32) -> (), 1 = (f64) -> f64
    ...section(1, [2, 0x60, 6, I32, I32, F64, F64, I32, I32, 0, 0x60, 1, F64, 1, F64]),
    ...section(2, [1, ...name('m'), ...name('log'), 0x00, 1]), // import function 0: Math.log
    ...section(3, [2, 0, 1]), // functions 1 (run), 2 (exp1)
    ...section(5, [1, 0x00, 16]), // memory: 16 pages (1 MiB) initially, growable
    ...section(7, [3, ...name('run'), 0x00, 1, ...name('exp1'), 0x00, 2, ...name('memory'), 0x02, 0]),
    ...section(10, [2, ...fn(run), ...fn(exp1)]),
  ]);
}

interface Kernel {
  run(rows: number, cols: number, invT: number, T: number, mode: number, scratch: number): void;
  exp1(x: number): number;
  memory: WasmMemory;
}

function load(): Kernel | null {
  const exports = instantiate(assemble(), { m: { log: Math.log } });
  if (exports === null) return null;
  return {
    run: exports.run as Kernel['run'],
    exp1: exports.exp1 as Kernel['exp1'],
    memory: exports.memory as WasmMemory,
  };
}

const kernel = load();
let heap: Float64Array = kernel ? new Float64Array(kernel.memory.buffer) : new Float64Array(0);
for (let i = 0; i < T_N && kernel; i++) heap[i] = Math.pow(2, i / T_N);
/**
 * The instance's memory grows to at most this many doubles (8 MiB). WebAssembly memory never
 * shrinks, and rows are copied into it whole, so a row of millions of classes would leave every
 * worker holding a copy's worth of memory for good (measured: 2 x 64 MiB for a 2 x 8388608
 * request). Such rows take the JavaScript path (../softmax.ts), which works on the caller's
 * arrays; the choice depends on the row's length only, so a row's bits never depend on its batch.
 */
export const SIMD_MAX_DOUBLES = 1 << 20;

/** Doubles per tile: rows are copied in and out in blocks of about this size (256 KiB). */
const TILE = 32768;

/** Whether the WebAssembly SIMD path is available here. */
export const softmaxSimdAvailable = kernel !== null;

/** exp(x) for x <= 0 by the SIMD polynomial (for tests); NaN where SIMD is unavailable. */
export function expSimd(x: number): number {
  return kernel ? kernel.exp1(x) : NaN;
}

/**
 * softmax (log = false) or log-softmax of the rows of data into out, with invT = exactReciprocal(T)
 * (0: divide by T). Returns false, doing nothing, where WebAssembly SIMD is unavailable.
 */
export function softmaxRowsSimd(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature: number,
  invT: number,
  log: boolean,
  out: Float64Array,
): boolean {
  if (kernel === null) return false;
  const perTile = Math.max(1, Math.floor(TILE / cols));
  const need = T_N + Math.min(perTile, rows) * cols + 2 * (CHUNK / 8);
  if (T_N + cols + 2 * (CHUNK / 8) > SIMD_MAX_DOUBLES) return false;
  if (heap.length < need) {
    try {
      kernel.memory.grow(Math.ceil((need * 8 - kernel.memory.buffer.byteLength) / 65536));
    } catch {
      return false; // no memory for a row this long: the JavaScript path needs none
    }
    heap = new Float64Array(kernel.memory.buffer);
  }
  const mode = (log ? 1 : 0) | (invT ? 0 : 2);
  for (let r = 0; r < rows; r += perTile) {
    const n = Math.min(perTile, rows - r);
    const from = r * cols;
    const to = from + n * cols;
    heap.set(data.subarray(from, to), T_N);
    kernel.run(n, cols, invT || 1, temperature, mode, 8 * (need - 2 * (CHUNK / 8)));
    out.set(heap.subarray(T_N, T_N + n * cols), from);
  }
  return true;
}
