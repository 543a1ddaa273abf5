/**
 * softmax / log-softmax rows on WebAssembly SIMD (f64x2): the same arithmetic as ./softmax.ts
 * except for the exponential and the row sum (which is more accurate here; see below).
 *
 * exp without tables (128-bit SIMD has no gathers):
 *   x  = max(x, -746)                             (-Infinity too; NaN stays NaN)
 *   kb = x / ln2 + S,  S = 1.5 * 2^52 + 64        (rounds: the low mantissa bits of kb are k + 64)
 *   k  = kb - S = round(x / ln2)
 *   r  = (x - k ln2_hi) - k ln2_lo,  |r| <= ln2 / 2   (ln2_hi has 32 bits: k ln2_hi is exact)
 *   y  = 1 + (r + r^2 u(r)),  u of degree 9 fitted (Chebyshev, mpmath) to (e^r - 1 - r) / r^2,
 *        evaluated by Estrin's scheme; e^r is approximated to 1.6e-17 relative (0.07 ulp) over
 *        |r| <= ln2 / 2 * 1.0005
 *   exp(x) = [bits(y) + (kb << 52)] * 2^-64,  kb << 52 = (k + 64) << 52 (mod 2^64)
 * The integer add puts k + 64 into the exponent field; y 2^(k + 64) is normal for every
 * x >= -746 (k >= -1076), so it is exact, and the multiply by 2^-64 is exact for normal results
 * and rounds once for subnormal ones; exp(-746) < 2^-1075 rounds to 0, so no mask is needed.
 * Within 1 ulp of Math.exp in 2e6 random trials; tested to 2 ulps in test/core/softmax-simd.test.ts.
 *
 * The exp loop is split in two per chunk of CHUNK bytes: loop A reduces (x, kb, r, storing kb
 * and r to a scratch area), loop B evaluates the polynomial, scales, stores e and sums. One long
 * dependency chain per vector (~60 cycles) kept too few vectors in flight; two short ones
 * overlap better (measured ~1.6x on the exp pass).
 *
 * Row sum: Fast2Sum per lane (the rounding error of every add is carried exactly in a second
 * accumulator; exact because the lanes start at 1 and every term is in [0, 1]), so the sum is
 * within about an ulp at any row length, for 3 more adds per vector (~15% of the exp loop). The JavaScript path's plain
 * running sum drifts by up to ~100 ulps at 32000 classes; the two paths therefore agree to
 * 1e-15 only on short rows, and this one is the closer to the exact softmax (tests).
 *
 * Data movement: WebAssembly memory is not the caller's array, so rows are copied in by tiles of
 * whole rows (TILE doubles, or one row if longer; the memory grows to fit), each row is processed
 * in place in three passes (max; exp and sum; normalise), and the tile is copied out with
 * TypedArray.set (memcpy).
 *
 * Exports run(rows, cols, invT, T, mode, scratch): mode bit 0 = log-softmax, bit 1 = divide by T
 * (else multiply by invT; see ./temperature.ts); rows packed from address 0, scratch a byte
 * address with 2 CHUNK free bytes. exp1(x) exposes the exponential for tests.
 */
import {
  BLOCK, br, brIf, call, ELSE, END, F64, f64Const, f64Load, f64Store, f64x2Const, f64x2ExtractLane,
  F64X2_ADD, F64X2_DIV, F64X2_MUL, F64X2_PMAX, F64X2_SPLAT, F64X2_SUB, F64_ADD, F64_DIV,
  F64_EQ, F64_LT, F64_MUL, F64_SUB, get, I32, i32Const, I32_ADD, I32_AND, I32_GE_U, I32_LT_U, I32_MUL, I32_NE,
  I32_SHL, I64X2_ADD, I64X2_SHL, IF, instantiate, LOOP, section, SELECT, set, tee, uleb, V128,
  v128Load, v128Store, name, type WasmMemory,
} from './wasm.js';

const INV_LN2 = 1 / Math.LN2;
const SHIFT = 6755399441055808; // 1.5 * 2^52 + 64
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const CLAMP = -746;
const TWO_M64 = 2 ** -64;
/** Bytes of a row per pass of the split exp loops; the scratch holds twice as many. */
const CHUNK = 4096;
/** u(r) = (e^r - 1 - r) / r^2, highest degree first. */
const U = [
  2.5100424157005067e-8, 2.7620138719733994e-7, 2.7557268378684192e-6, 2.480152119021773e-5,
  0.00019841269863105968, 0.0013888888917281794, 0.008333333333330051, 0.04166666666662399,
  0.16666666666666669, 0.5000000000000001,
];

/** Emits exp of v128 local x onto the stack; kb, kf, r are scratch v128 locals. */
function emitExp(x: number, kb: number, kf: number, r: number, r2: number, r4: number): number[] {
  return [...emitReduce(x, kb, kf, r), ...emitFinish(kb, r, r2, r4)];
}

/** The range reduction: sets v128 locals kb and r from x (kf is scratch). */
function emitReduce(x: number, kb: number, kf: number, r: number): number[] {
  const c: number[] = [];
  const e = (...parts: number[][]) => {
    for (const p of parts) c.push(...p);
  };
  // x = max(x, -746) (NaN stays NaN): exp(-746) < 2^-1075 rounds to 0 in the final multiply, so
  // no mask is needed for -Infinity or any other underflow.
  e(get(x), f64x2Const(CLAMP), F64X2_PMAX, set(r));
  e(get(r), f64x2Const(INV_LN2), F64X2_MUL, f64x2Const(SHIFT), F64X2_ADD, tee(kb));
  e(f64x2Const(SHIFT), F64X2_SUB, set(kf));
  e(get(r), get(kf), f64x2Const(LN2_HI), F64X2_MUL, F64X2_SUB, get(kf), f64x2Const(LN2_LO), F64X2_MUL, F64X2_SUB, set(r));
  return c;
}

/** exp(x) onto the stack from the reduction's kb and r (r2, r4 are scratch). */
function emitFinish(kb: number, r: number, r2: number, r4: number): number[] {
  const c: number[] = [];
  const e = (...parts: number[][]) => {
    for (const p of parts) c.push(...p);
  };
  // c = U reversed (ascending); q_i = c_2i + c_2i+1 r; u = (q0 + q1 r2) + (q2 + q3 r2) r4 + q4 r8.
  const cc = [...U].reverse();
  const q = (i: number) => [get(r), f64x2Const(cc[2 * i + 1]), F64X2_MUL, f64x2Const(cc[2 * i]), F64X2_ADD].flat();
  e(get(r), get(r), F64X2_MUL, set(r2), get(r2), get(r2), F64X2_MUL, set(r4));
  e(q(0), q(1), get(r2), F64X2_MUL, F64X2_ADD);
  e(q(2), q(3), get(r2), F64X2_MUL, F64X2_ADD, get(r4), F64X2_MUL, F64X2_ADD);
  e(q(4), get(r4), get(r4), F64X2_MUL, F64X2_MUL, F64X2_ADD);
  e(get(r2), F64X2_MUL, get(r), F64X2_ADD, f64x2Const(1), F64X2_ADD);
  e(get(kb), i32Const(52), I64X2_SHL, I64X2_ADD, f64x2Const(TWO_M64), F64X2_MUL);
  return c;
}

function assemble(): Uint8Array {
  // run: params 0-5; locals i32 6-14, f64 15-22, v128 23-35.
  const ROWS = 0, COLS = 1, INVT = 2, T = 3, MODE = 4, SCR = 5;
  const ROW = 6, BASE = 7, VEND = 8, P = 9, ROWEND = 10, LOGF = 11, Q = 12, CEND = 13, S2 = 14;
  const M = 15, S = 16, Z = 17, SA = 18, SB = 19, SH = 20, SBB = 21, SERR = 22;
  const VSHIFT = 23, VSCALE = 24, VSUM = 25, VX = 26, VE = 27, KB = 28, KF = 29, R = 30, R2 = 31, R4 = 32;
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
  emit(get(MODE), i32Const(1), I32_AND, set(LOGF));
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
      const exp = emitExp(VX, KB, KF, R, R2, R4);
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
      emit(emitFinish(KB, R, R2, R4), set(VE));
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
  const exp1 = [1, 6, V128, ...get(0), ...F64X2_SPLAT, ...set(1), ...emitExp(1, 2, 3, 4, 5, 6), ...f64x2ExtractLane(0), ...END];

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
  const need = Math.min(perTile, rows) * cols + 2 * (CHUNK / 8);
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
    heap.set(data.subarray(from, to));
    kernel.run(n, cols, invT || 1, temperature, mode, 8 * (need - 2 * (CHUNK / 8)));
    out.set(heap.subarray(0, n * cols), from);
  }
  return true;
}
