/**
 * 1.5-entmax of short rows (cols <= SHORT_ROW of ./sparsemax.ts) on WebAssembly SIMD, two rows
 * at a time (lane 0 row r, lane 1 row r + 1), branch-free. Per row it does what ./entmax.ts does
 * for such rows, operation for operation, so the results are the same doubles
 * (test/core/entmax15-simd.test.ts); only the control flow differs:
 *  - x = ((z - m) * invT or / T) * 0.5; candidates x > -1 (the rest, NaN too, become -Infinity,
 *    which adds +0 to every masked sum, as the JavaScript path leaves them out);
 *  - the tied closed form (tiedSupport): with kt classes at x = 0, c2 the largest other
 *    candidate and k candidates, if (kt > 1 or k = 1) and c2 <= -1 / sqrt(kt), each tied class
 *    gets 1 / kt (blended in at the end);
 *  - powerMeanBound: up to 16 passes t = sum / k - 1 / sqrt(k) - 2 (k + 4) eps, shedding classes
 *    at or below t while t rises; a lane whose JavaScript loop has stopped recomputes the same t,
 *    which does not rise, so it is left unchanged;
 *  - sortedThreshold15: the largest survivors are taken in descending order (one maximum pass
 *    each, as far as the larger k of the two lanes: the only places read), the support size n
 *    is the largest j with
 *    tau_j = mean_j - sqrt((1 - j (sumsq_j / j - mean_j^2)) / j) <= c_(j), and tau is
 *    closedForm15 over the top n, summed in that order;
 *  - p = [x - tau]_+^2 over the candidates in index order, normalised by 1 / sum.
 * Memory (1 MiB, fixed), as ./sparsemax-simd.ts: rows from byte 0 (up to TILE doubles), then
 * per pair the sanitised x (XO), the working copy (XS), the sorted copy (SORTED), and the
 * supports (as doubles) at CNT. Export run(pairs, cols, invT, T, mode): mode 1 = divide by T.
 */
import {
  BLOCK, br, brIf, ELSE, END, F64, f64Const, f64Store, f64x2Const, f64x2ExtractLane, F64X2_ADD, F64X2_DIV,
  F64X2_EQ, F64X2_LT, F64X2_MUL, F64X2_PMAX, F64X2_SPLAT, F64X2_SUB, get, I32, i32Const, I32_ADD, I32_AND,
  I32_LT_U, I32_MUL, instantiate, LOOP, name, section, set, simd, tee, uleb, V128, V128_AND, V128_ANDNOT,
  V128_BITSELECT, v128Load, v128Store, type WasmMemory,
} from './wasm.js';

const load64Zero = (offset = 0) => [...simd(0x5d), 3, ...uleb(offset)];
const load64Lane = (lane: number, offset = 0) => [...simd(0x57), 3, ...uleb(offset), lane];
const store64Lane = (lane: number, offset = 0) => [...simd(0x5b), 3, ...uleb(offset), lane];
const F64X2_NE = simd(0x48);
const F64X2_LE = simd(0x4b);
const F64X2_SQRT = simd(0xef);
const V128_OR = simd(0x50);
const V128_ANY_TRUE = simd(0x53);
const I32_EQZ = [0x45];
const I32_TRUNC_F64_U = [0xab];
const F64_MAX = [0xa5];

const EPS = 2 ** -52;
/** Doubles of rows per call (256 KiB). */
const TILE = 32768;
const XO = 8 * TILE;
const XS = XO + 32 * 16;
const SORTED = XS + 32 * 16;
const CNT = SORTED + 32 * 16;

function assemble(): Uint8Array {
  const PAIRS = 0, COLS = 1, INVT = 2, TT = 3, MODE = 4; // params
  const P = 5, BASE = 6, I = 7, A = 8, STRIDE = 9, PASS = 10, XA = 11, J = 12, XB = 13, KMAX = 14; // i32
  let nv = 15;
  const v = () => nv++;
  const M = v(), Z = v(), X = v(), KEEP = v(), VV = v(), DEAD = v(), KT = v(), K = v(), C2 = v(), TIED = v();
  const SUM = v(), LO = v(), T = v(), W = v(), S = v(), N = v(), JV = v(), SUMSQ = v(), MEAN = v(), DELTA = v();
  const TAU = v(), INV = v(), SUP = v(), VINVT = v(), VT = v(), RANK = v(), VJ = v(), PTIED = v(), OK = v();
  const nV128 = nv - 15;
  const c: number[] = [];
  const e = (...parts: number[][]) => {
    for (const p of parts) c.push(...p);
  };
  const ONE = f64x2Const(1);
  const ZERO = f64x2Const(0);
  const NEG_INF = f64x2Const(-Infinity);
  const and1 = (mask: number) => [...ONE, ...get(mask), ...V128_AND];
  /** for (i = 0, a = base, xa = 0; i < cols; i++, a += 8, xa += 16) body */
  const forClasses = (body: () => void) => {
    e(i32Const(0), set(I), get(BASE), set(A), i32Const(0), set(XA), BLOCK, LOOP);
    e(get(I), get(COLS), I32_LT_U, I32_EQZ, brIf(1));
    body();
    e(get(I), i32Const(1), I32_ADD, set(I), get(A), i32Const(8), I32_ADD, set(A));
    e(get(XA), i32Const(16), I32_ADD, set(XA), br(0), END, END);
  };
  /** for (j = from, xb = 16 from; j < to; j++, xb += 16) body; from, to: code pushing an i32 */
  const forJ = (from: number[], to: number[], body: () => void) => {
    e(from, set(J), get(J), i32Const(16), I32_MUL, set(XB), BLOCK, LOOP);
    e(get(J), to, I32_LT_U, I32_EQZ, brIf(1));
    body();
    e(get(J), i32Const(1), I32_ADD, set(J), get(XB), i32Const(16), I32_ADD, set(XB), br(0), END, END);
  };
  const loadPair = () => e(get(A), get(STRIDE), I32_ADD, get(A), load64Zero(), load64Lane(1));
  const sqrtClamped = (delta: number) => [...get(delta), ...ZERO, ...ZERO, ...get(delta), ...F64X2_LT, ...V128_BITSELECT, ...F64X2_SQRT];

  e(get(COLS), i32Const(8), I32_MUL, set(STRIDE));
  e(get(INVT), F64X2_SPLAT, set(VINVT), get(TT), F64X2_SPLAT, set(VT));
  e(i32Const(0), set(P), i32Const(0), set(BASE));
  e(BLOCK, LOOP, get(P), get(PAIRS), I32_LT_U, I32_EQZ, brIf(1));
  {
    // m = max z
    e(NEG_INF, set(M));
    forClasses(() => {
      e(get(M));
      loadPair();
      e(F64X2_PMAX, set(M));
    });
    e(get(M), NEG_INF, F64X2_EQ, set(DEAD));
    // x, the candidates (k, their sum), the tied classes (kt) and the largest other one (c2)
    e(ZERO, set(SUM), ZERO, set(K), ZERO, set(KT), NEG_INF, set(C2));
    forClasses(() => {
      loadPair();
      e(get(M), F64X2_SUB, set(Z));
      e(get(MODE), [0x04, V128], get(Z), get(VT), F64X2_DIV, ELSE, get(Z), get(VINVT), F64X2_MUL, END);
      e(f64x2Const(0.5), F64X2_MUL, set(X));
      e(f64x2Const(-1), get(X), F64X2_LT, set(KEEP)); // -1 < x: false for NaN
      e(get(X), NEG_INF, get(KEEP), V128_BITSELECT, set(VV));
      e(get(XA), get(VV), v128Store(XO), get(XA), get(VV), v128Store(XS));
      e(get(VV), get(KEEP), V128_AND, get(SUM), F64X2_ADD, set(SUM));
      e(and1(KEEP), get(K), F64X2_ADD, set(K));
      e(get(VV), ZERO, F64X2_EQ, set(Z));
      e(and1(Z), get(KT), F64X2_ADD, set(KT));
      e(get(C2), NEG_INF, get(VV), get(Z), V128_BITSELECT, F64X2_PMAX, set(C2));
    });
    // tied: (kt > 1 or k = 1) and c2 <= -1 / sqrt(kt)
    e(ONE, get(KT), F64X2_LT, get(K), ONE, F64X2_EQ, V128_OR);
    e(get(C2), f64x2Const(-1), get(KT), F64X2_SQRT, F64X2_DIV, F64X2_LE, V128_AND, set(TIED));
    // powerMeanBound
    e(f64x2Const(-1), set(LO), i32Const(0), set(PASS), BLOCK, LOOP);
    {
      e(get(SUM), get(K), F64X2_DIV, ONE, get(K), F64X2_SQRT, F64X2_DIV, F64X2_SUB);
      e(f64x2Const(2), get(K), f64x2Const(4), F64X2_ADD, F64X2_MUL, f64x2Const(EPS), F64X2_MUL, F64X2_SUB, set(T));
      e(get(LO), get(T), F64X2_LT, tee(OK), V128_ANY_TRUE, I32_EQZ, brIf(1));
      e(get(T), get(LO), get(OK), V128_BITSELECT, set(LO));
      e(ZERO, set(S), ZERO, set(W));
      forClasses(() => {
        e(get(XA), v128Load(XS), set(VV));
        e(get(LO), get(VV), F64X2_LT, set(KEEP));
        e(get(XA), get(VV), NEG_INF, get(KEEP), V128_BITSELECT, v128Store(XS));
        e(get(VV), get(KEEP), V128_AND, get(S), F64X2_ADD, set(S));
        e(and1(KEEP), get(W), F64X2_ADD, set(W));
      });
      e(get(W), set(K), get(S), set(SUM));
      e(get(PASS), i32Const(1), I32_ADD, tee(PASS), i32Const(16), I32_LT_U, brIf(0));
    }
    e(END, END);
    // The survivors in descending order into SORTED, the first max k (over both lanes) places
    // only, which is all the later loops read (a lane's places past its own k are masked
    // there): each place takes the lane's maximum, one instance of which then leaves XS (ties
    // are equal values, so their order does not matter). ~(k + 1) passes, not a cols^2 sort.
    e(get(K), f64x2ExtractLane(0), get(K), f64x2ExtractLane(1), F64_MAX, I32_TRUNC_F64_U, set(KMAX));
    e(NEG_INF, set(T));
    forClasses(() => e(get(T), get(XA), v128Load(XS), F64X2_PMAX, set(T)));
    e(i32Const(0), set(J), BLOCK, LOOP, get(J), get(KMAX), I32_LT_U, I32_EQZ, brIf(1));
    {
      e(get(J), i32Const(16), I32_MUL, get(T), v128Store(SORTED));
      e(ZERO, set(OK), NEG_INF, set(S));
      forClasses(() => {
        e(get(XA), v128Load(XS), tee(VV), get(T), F64X2_EQ, get(OK), V128_ANDNOT, set(KEEP));
        e(get(OK), get(KEEP), V128_OR, set(OK));
        e(get(XA), NEG_INF, get(VV), get(KEEP), V128_BITSELECT, tee(VV), v128Store(XS));
        e(get(S), get(VV), F64X2_PMAX, set(S));
      });
      e(get(S), set(T), get(J), i32Const(1), I32_ADD, set(J), br(0));
    }
    e(END, END);
    // the support size n: the largest j <= k with tau_j <= c_(j)
    const forSorted = (body: () => void) => {
      e(i32Const(0), set(XA), BLOCK, LOOP, get(XA), get(KMAX), i32Const(16), I32_MUL, I32_LT_U, I32_EQZ, brIf(1));
      body();
      e(get(XA), i32Const(16), I32_ADD, set(XA), br(0), END, END);
    };
    e(ONE, set(N), ZERO, set(SUM), ZERO, set(SUMSQ), ZERO, set(JV));
    forSorted(() => {
      e(get(JV), ONE, F64X2_ADD, set(JV));
      e(get(XA), v128Load(SORTED), set(VV));
      e(get(SUM), get(VV), F64X2_ADD, set(SUM), get(SUMSQ), get(VV), get(VV), F64X2_MUL, F64X2_ADD, set(SUMSQ));
      e(get(SUM), get(JV), F64X2_DIV, set(MEAN));
      e(ONE, get(JV), get(SUMSQ), get(JV), F64X2_DIV, get(MEAN), get(MEAN), F64X2_MUL, F64X2_SUB, F64X2_MUL, F64X2_SUB, get(JV), F64X2_DIV, set(DELTA));
      e(get(MEAN), sqrtClamped(DELTA), F64X2_SUB, get(VV), F64X2_LE, get(JV), get(K), F64X2_LE, V128_AND, set(OK));
      e(get(JV), get(N), get(OK), V128_BITSELECT, set(N));
    });
    // closedForm15 over the top n
    e(ZERO, set(SUM), ZERO, set(JV));
    forSorted(() => {
      e(get(JV), ONE, F64X2_ADD, set(JV));
      e(get(XA), v128Load(SORTED), get(JV), get(N), F64X2_LE, V128_AND, get(SUM), F64X2_ADD, set(SUM));
    });
    e(get(SUM), get(N), F64X2_DIV, set(MEAN), ZERO, set(SUMSQ), ZERO, set(JV));
    forSorted(() => {
      e(get(JV), ONE, F64X2_ADD, set(JV));
      e(get(XA), v128Load(SORTED), get(MEAN), F64X2_SUB, tee(VV), get(VV), F64X2_MUL);
      e(get(JV), get(N), F64X2_LE, V128_AND, get(SUMSQ), F64X2_ADD, set(SUMSQ));
    });
    e(ONE, get(SUMSQ), F64X2_SUB, get(N), F64X2_DIV, set(DELTA));
    e(get(MEAN), sqrtClamped(DELTA), F64X2_SUB, set(TAU));
    // p = [x - tau]_+^2 into XS, its sum and support
    e(ZERO, set(SUM), ZERO, set(SUP));
    forClasses(() => {
      e(get(XA), v128Load(XO), get(TAU), F64X2_SUB, tee(VV), ZERO, get(VV), F64X2_LT, V128_AND, tee(VV), get(VV), F64X2_MUL, set(VV));
      e(get(XA), get(VV), v128Store(XS));
      e(get(SUM), get(VV), F64X2_ADD, set(SUM));
      e(ZERO, get(VV), F64X2_LT, set(OK), and1(OK), get(SUP), F64X2_ADD, set(SUP));
    });
    e(ONE, get(SUM), F64X2_DIV, set(INV), ONE, get(KT), F64X2_DIV, set(PTIED));
    // out: the tied closed form, or p / sum; zeros for a dead lane
    forClasses(() => {
      e(get(PTIED), get(XA), v128Load(XO), ZERO, F64X2_EQ, V128_AND); // tied: 1 / kt at x = 0
      e(get(XA), v128Load(XS), get(INV), F64X2_MUL, get(TIED), V128_BITSELECT);
      e(get(DEAD), V128_ANDNOT, set(VV));
      e(get(A), get(VV), store64Lane(0), get(A), get(STRIDE), I32_ADD, get(VV), store64Lane(1));
    });
    e(get(P), i32Const(16), I32_MUL, get(KT), get(SUP), get(TIED), V128_BITSELECT, get(DEAD), V128_ANDNOT, v128Store(CNT));
  }
  e(get(P), i32Const(1), I32_ADD, set(P), get(BASE), get(STRIDE), get(STRIDE), I32_ADD, I32_ADD, set(BASE));
  e(br(0), END, END, END);
  const run = [2, 10, I32, nV128, V128, ...c];
  const fn = (code: number[]) => [...uleb(code.length), ...code];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 5, I32, I32, F64, F64, I32, 0]), // (i32 i32 f64 f64 i32) -> ()
    ...section(3, [1, 0]),
    ...section(5, [1, 0x00, 16]), // memory: 16 pages (1 MiB)
    ...section(7, [2, ...name('run'), 0x00, 0, ...name('memory'), 0x02, 0]),
    ...section(10, [1, ...fn(run)]),
  ]);
}

interface Kernel {
  run(pairs: number, cols: number, invT: number, T: number, mode: number): void;
  memory: WasmMemory;
}

function load(): Kernel | null {
  const exports = instantiate(assemble());
  if (exports === null) return null;
  return { run: exports.run as Kernel['run'], memory: exports.memory as WasmMemory };
}

const kernel = load();
const heap = kernel ? new Float64Array(kernel.memory.buffer) : new Float64Array(0);

/** Whether the WebAssembly SIMD path is available here. */
export const entmax15SimdAvailable = kernel !== null;

/**
 * 1.5-entmax of rows of at most 32 classes into out and support, with invT =
 * exactReciprocal(T) (0: divide by T). Returns false, doing nothing, where WebAssembly SIMD is
 * unavailable.
 */
export function entmax15ShortSimd(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature: number,
  invT: number,
  out: Float64Array,
  support: Int32Array,
): boolean {
  if (kernel === null || cols > 32 || cols < 1) return false;
  const perTile = Math.floor(TILE / cols) & ~1;
  const mode = invT ? 0 : 1;
  for (let r = 0; r < rows; r += perTile) {
    const n = Math.min(perTile, rows - r);
    const from = r * cols;
    heap.set(data.subarray(from, from + n * cols), 0);
    kernel.run((n + 1) >> 1, cols, invT || 1, temperature, mode);
    out.set(heap.subarray(0, n * cols), from);
    for (let j = 0; j < n; j++) support[r + j] = heap[CNT / 8 + j];
  }
  return true;
}
