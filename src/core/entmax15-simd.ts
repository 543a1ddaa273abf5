/**
 * 1.5-entmax of short rows (cols <= SHORT_ROW of ./sparsemax.ts) on WebAssembly SIMD, four rows
 * at a time: two f64x2 groups (lane 0 row r, lane 1 row r + 1), interleaved in every loop so
 * that one group's chains of divisions and square roots overlap the other's; branch-free within
 * a row. Per row it does what ./entmax.ts does for such rows, operation for operation, so the
 * results are the same doubles
 * (test/core/entmax15-simd.test.ts); only the control flow differs:
 *  - x = ((z - m) * invT or / T) * 0.5; candidates x > -1 (the rest, NaN too, become -Infinity,
 *    which adds +0 to every masked sum, as the JavaScript path leaves them out);
 *  - the tied closed form (tiedSupport): with kt classes at x = 0, c2 the largest other
 *    candidate and k candidates, if (kt > 1 or k = 1) and c2 <= -1 / sqrt(kt), each tied class
 *    gets 1 / kt (blended in at the end);
 *  - powerMeanBound: up to 16 passes t = sum / k - 1 / sqrt(k) - 2 (k + 4) eps, shedding classes
 *    at or below t while t rises; a lane whose JavaScript loop has stopped recomputes the same t,
 *    which does not rise, so it is left unchanged;
 *  - sortedThreshold15: the largest survivors are put in descending order (insertion by
 *    compare-exchange into as many places as the largest k of the four rows: the only places
 *    read), the support size n is the largest j with
 *    tau_j = mean_j - sqrt((1 - j (sumsq_j / j - mean_j^2)) / j) <= c_(j), and tau is
 *    closedForm15 over the top n, summed in that order;
 *  - p = [x - tau]_+^2 over the candidates in index order, normalised by 1 / sum.
 * Memory (1 MiB, fixed), as ./sparsemax-simd.ts: rows from byte 0 (up to TILE doubles, tiles of
 * a multiple of 4 rows: the last tile's spare lanes read stale rows inside the tile area and
 * their results are not copied out), then per group the sanitised x (XO), the working copy
 * (XS), the sorted places (SORTED), and the supports (as 32-bit integers) at CNT.
 * Export run(quads, cols, invT, T, mode): mode 1 = divide by T.
 */
import {
  BLOCK, br, brIf, ELSE, END, f64Const, f64x2Const, f64x2ExtractLane, F64X2_ADD, F64X2_DIV, F64X2_EQ,
  F64X2_LT, F64X2_MUL, F64X2_PMAX, F64X2_SPLAT, F64X2_SUB, get, i32Const, I32_ADD, I32_LT_U, I32_MUL,
  LOOP, set, simd, tee, V128, V128_AND, V128_ANDNOT, V128_BITSELECT, v128Load, v128Store,
} from './wasm.js';
import {
  GROUPS, I32X4_TRUNC_SAT_F64X2_S_ZERO, ROWS_PER, shortRowKernel,
  rowLoops, shortRowModule, store64Lane, TILE, V128_ANY_TRUE, type ShortRowKernel,
} from './short-rows-simd.js';

const F64X2_LE = simd(0x4b);
const F64X2_SQRT = simd(0xef);
const V128_OR = simd(0x50);
const I32_EQZ = [0x45];
const I32_TRUNC_F64_U = [0xab];
const F64_MAX = [0xa5];
const F64X2_PMIN = simd(0xf6);
const V128_OR_I32 = [0x72]; // i32.or

const EPS = 2 ** -52;
const WORK = 8 * TILE;
/** Per group g: the sanitised x at XO(g), the working copy at XS(g), the sorted places at SORTED(g). */
const XO = (g: number) => WORK + g * 3 * 512;
const XS = (g: number) => XO(g) + 512;
const SORTED = (g: number) => XS(g) + 512;
const CNT = WORK + GROUPS * 3 * 512;

function assemble(): Uint8Array {
  const QUADS = 0, COLS = 1, INVT = 2, TT = 3, MODE = 4; // params
  const P = 5, BASE = 6, I = 7, A = 8, STRIDE = 9, PASS = 10, XA = 11, J = 12, KMAX = 13; // i32
  let nv = 14;
  const v = () => nv++;
  const VINVT = v(), VT = v(), TMP = v();
  const group = () => ({
    M: v(), Z: v(), X: v(), KEEP: v(), VV: v(), DEAD: v(), KT: v(), K: v(), C2: v(), TIED: v(), SUM: v(), LO: v(),
    T: v(), W: v(), S: v(), N: v(), SUMSQ: v(), MEAN: v(), DELTA: v(), TAU: v(), INV: v(), SUP: v(), PTIED: v(), OK: v(),
  });
  const Gs = Array.from({ length: GROUPS }, (_, g) => ({ g, ...group() }));
  const JV = v();
  const nV128 = nv - 14;
  const c: number[] = [];
  const e = (...parts: number[][]) => {
    for (const p of parts) c.push(...p);
  };
  const each = (f: (G: (typeof Gs)[number]) => void) => Gs.forEach(f);
  const ONE = f64x2Const(1);
  const ZERO = f64x2Const(0);
  const NEG_INF = f64x2Const(-Infinity);
  const and1 = (mask: number) => [...ONE, ...get(mask), ...V128_AND];
  const { forClasses, forPlaces, loadPair, storePair } = rowLoops(e, { I, A, XA, BASE, COLS, STRIDE });
  /** The first kmax sorted places (xa = 16 place). */
  const forSorted = (body: () => void) => forPlaces(XA, KMAX, body);
  const sqrtClamped = (delta: number) => [...get(delta), ...ZERO, ...ZERO, ...get(delta), ...F64X2_LT, ...V128_BITSELECT, ...F64X2_SQRT];
  /** The larger of a v128 local's two lanes over every group, as an i32, into KMAX. */
  const maxLanes = (pick: (G: (typeof Gs)[number]) => number) => {
    e(f64Const(0));
    each((G) => e(get(pick(G)), f64x2ExtractLane(0), F64_MAX, get(pick(G)), f64x2ExtractLane(1), F64_MAX));
    e(I32_TRUNC_F64_U, set(KMAX));
  };

  e(get(COLS), i32Const(8), I32_MUL, set(STRIDE));
  e(get(INVT), F64X2_SPLAT, set(VINVT), get(TT), F64X2_SPLAT, set(VT));
  e(i32Const(0), set(P), i32Const(0), set(BASE));
  e(BLOCK, LOOP, get(P), get(QUADS), I32_LT_U, I32_EQZ, brIf(1));
  {
    // m = max z
    each((G) => e(NEG_INF, set(G.M)));
    forClasses(() =>
      each((G) => {
        e(get(G.M));
        loadPair(G.g);
        e(F64X2_PMAX, set(G.M));
      }),
    );
    each((G) => e(get(G.M), NEG_INF, F64X2_EQ, set(G.DEAD)));
    // x, the candidates (k, their sum), the tied classes (kt) and the largest other one (c2)
    each((G) => e(ZERO, set(G.SUM), ZERO, set(G.K), ZERO, set(G.KT), NEG_INF, set(G.C2)));
    forClasses(() =>
      each(({ g, M, Z, X, KEEP, VV, SUM, K, KT, C2 }) => {
        loadPair(g);
        e(get(M), F64X2_SUB, set(Z));
        e(get(MODE), [0x04, V128], get(Z), get(VT), F64X2_DIV, ELSE, get(Z), get(VINVT), F64X2_MUL, END);
        e(f64x2Const(0.5), F64X2_MUL, set(X));
        e(f64x2Const(-1), get(X), F64X2_LT, set(KEEP)); // -1 < x: false for NaN
        e(get(X), NEG_INF, get(KEEP), V128_BITSELECT, set(VV));
        e(get(XA), get(VV), v128Store(XO(g)), get(XA), get(VV), v128Store(XS(g)));
        e(get(VV), get(KEEP), V128_AND, get(SUM), F64X2_ADD, set(SUM));
        e(and1(KEEP), get(K), F64X2_ADD, set(K));
        e(get(VV), ZERO, F64X2_EQ, set(Z));
        e(and1(Z), get(KT), F64X2_ADD, set(KT));
        e(get(C2), NEG_INF, get(VV), get(Z), V128_BITSELECT, F64X2_PMAX, set(C2));
      }),
    );
    // tied: (kt > 1 or k = 1) and c2 <= -1 / sqrt(kt)
    each(({ KT, K, C2, TIED }) => {
      e(ONE, get(KT), F64X2_LT, get(K), ONE, F64X2_EQ, V128_OR);
      e(get(C2), f64x2Const(-1), get(KT), F64X2_SQRT, F64X2_DIV, F64X2_LE, V128_AND, set(TIED));
    });
    // powerMeanBound, while t rises in some lane of some group
    each((G) => e(f64x2Const(-1), set(G.LO)));
    e(i32Const(0), set(PASS), BLOCK, LOOP);
    {
      e(i32Const(0));
      each(({ SUM, K, T, LO, OK }) => {
        e(get(SUM), get(K), F64X2_DIV, ONE, get(K), F64X2_SQRT, F64X2_DIV, F64X2_SUB);
        e(f64x2Const(2), get(K), f64x2Const(4), F64X2_ADD, F64X2_MUL, f64x2Const(EPS), F64X2_MUL, F64X2_SUB, set(T));
        e(get(LO), get(T), F64X2_LT, tee(OK), V128_ANY_TRUE, V128_OR_I32);
        e(get(T), get(LO), get(OK), V128_BITSELECT, set(LO));
      });
      e(I32_EQZ, brIf(1));
      each((G) => e(ZERO, set(G.S), ZERO, set(G.W)));
      forClasses(() =>
        each(({ g, VV, LO, KEEP, S, W }) => {
          e(get(XA), v128Load(XS(g)), set(VV));
          e(get(LO), get(VV), F64X2_LT, set(KEEP));
          e(get(XA), get(VV), NEG_INF, get(KEEP), V128_BITSELECT, v128Store(XS(g)));
          e(get(VV), get(KEEP), V128_AND, get(S), F64X2_ADD, set(S));
          e(and1(KEEP), get(W), F64X2_ADD, set(W));
        }),
      );
      each((G) => e(get(G.W), set(G.K), get(G.S), set(G.SUM)));
      e(get(PASS), i32Const(1), I32_ADD, tee(PASS), i32Const(16), I32_LT_U, brIf(0));
    }
    e(END, END);
    // The survivors in descending order into SORTED, the first max k (over every lane) places
    // only, which is all the later loops read (a lane's places past its own k are masked
    // there): each class is inserted by a pass of compare-exchanges (pmax / pmin, exact; ties
    // are equal values, so their order does not matter), cols x k steps, not a cols^2 sort.
    maxLanes((G) => G.K);
    forPlaces(J, KMAX, () => each(({ g }) => e(get(J), NEG_INF, v128Store(SORTED(g)))));
    forClasses(() => {
      each(({ g, T }) => e(get(XA), v128Load(XS(g)), set(T)));
      forPlaces(J, KMAX, () =>
        each(({ g, T, VV }) => {
          e(get(J), v128Load(SORTED(g)), set(VV));
          e(get(J), get(VV), get(T), F64X2_PMAX, v128Store(SORTED(g)));
          e(get(VV), get(T), F64X2_PMIN, set(T));
        }),
      );
    });
    // the support size n: the largest j <= k with tau_j <= c_(j)
    each((G) => e(ONE, set(G.N), ZERO, set(G.SUM), ZERO, set(G.SUMSQ)));
    e(ZERO, set(JV));
    forSorted(() => {
      e(get(JV), ONE, F64X2_ADD, set(JV));
      each(({ g, VV, SUM, SUMSQ, MEAN, DELTA, K, OK, N }) => {
        e(get(XA), v128Load(SORTED(g)), set(VV));
        e(get(SUM), get(VV), F64X2_ADD, set(SUM), get(SUMSQ), get(VV), get(VV), F64X2_MUL, F64X2_ADD, set(SUMSQ));
        e(get(SUM), get(JV), F64X2_DIV, set(MEAN));
        e(ONE, get(JV), get(SUMSQ), get(JV), F64X2_DIV, get(MEAN), get(MEAN), F64X2_MUL, F64X2_SUB, F64X2_MUL, F64X2_SUB, get(JV), F64X2_DIV, set(DELTA));
        e(get(MEAN), sqrtClamped(DELTA), F64X2_SUB, get(VV), F64X2_LE, get(JV), get(K), F64X2_LE, V128_AND, set(OK));
        e(get(JV), get(N), get(OK), V128_BITSELECT, set(N));
      });
    });
    // closedForm15 over the top n
    maxLanes((G) => G.N);
    each((G) => e(ZERO, set(G.SUM)));
    e(ZERO, set(JV));
    forSorted(() => {
      e(get(JV), ONE, F64X2_ADD, set(JV));
      each(({ g, N, SUM }) => e(get(XA), v128Load(SORTED(g)), get(JV), get(N), F64X2_LE, V128_AND, get(SUM), F64X2_ADD, set(SUM)));
    });
    each((G) => e(get(G.SUM), get(G.N), F64X2_DIV, set(G.MEAN), ZERO, set(G.SUMSQ)));
    e(ZERO, set(JV));
    forSorted(() => {
      e(get(JV), ONE, F64X2_ADD, set(JV));
      each(({ g, MEAN, VV, N, SUMSQ }) => {
        e(get(XA), v128Load(SORTED(g)), get(MEAN), F64X2_SUB, tee(VV), get(VV), F64X2_MUL);
        e(get(JV), get(N), F64X2_LE, V128_AND, get(SUMSQ), F64X2_ADD, set(SUMSQ));
      });
    });
    each(({ SUMSQ, N, DELTA, MEAN, TAU }) => {
      e(ONE, get(SUMSQ), F64X2_SUB, get(N), F64X2_DIV, set(DELTA));
      e(get(MEAN), sqrtClamped(DELTA), F64X2_SUB, set(TAU));
    });
    // p = [x - tau]_+^2 into XS, its sum and support
    each((G) => e(ZERO, set(G.SUM), ZERO, set(G.SUP)));
    forClasses(() =>
      each(({ g, TAU, VV, SUM, OK, SUP }) => {
        e(get(XA), v128Load(XO(g)), get(TAU), F64X2_SUB, tee(VV), ZERO, get(VV), F64X2_LT, V128_AND, tee(VV), get(VV), F64X2_MUL, set(VV));
        e(get(XA), get(VV), v128Store(XS(g)));
        e(get(SUM), get(VV), F64X2_ADD, set(SUM));
        e(ZERO, get(VV), F64X2_LT, set(OK), and1(OK), get(SUP), F64X2_ADD, set(SUP));
      }),
    );
    each(({ SUM, INV, KT, PTIED }) => e(ONE, get(SUM), F64X2_DIV, set(INV), ONE, get(KT), F64X2_DIV, set(PTIED)));
    // out: the tied closed form, or p / sum; zeros for a dead lane
    forClasses(() =>
      each(({ g, PTIED, INV, TIED, DEAD }) => {
        e(get(PTIED), get(XA), v128Load(XO(g)), ZERO, F64X2_EQ, V128_AND); // tied: 1 / kt at x = 0
        e(get(XA), v128Load(XS(g)), get(INV), F64X2_MUL, get(TIED), V128_BITSELECT);
        e(get(DEAD), V128_ANDNOT, set(TMP));
        storePair(g, TMP);
      }),
    );
    each(({ g, KT, SUP, TIED, DEAD }) =>
      e(get(P), i32Const(8 * GROUPS), I32_MUL, get(KT), get(SUP), get(TIED), V128_BITSELECT, get(DEAD), V128_ANDNOT, I32X4_TRUNC_SAT_F64X2_S_ZERO, store64Lane(0, CNT + 8 * g)),
    );
  }
  e(get(P), i32Const(1), I32_ADD, set(P), get(BASE), get(STRIDE), i32Const(ROWS_PER), I32_MUL, I32_ADD, set(BASE));
  e(br(0), END, END, END);
  return shortRowModule(9, nV128, c);
}

const kernel = shortRowKernel(assemble(), CNT);

/** Whether the WebAssembly SIMD path is available here. */
export const entmax15SimdAvailable = kernel !== null;

/**
 * entmax15 of rows of at most 32 classes into out and support, with invT =
 * exactReciprocal(T) (0: divide by T). Returns false, doing nothing, where WebAssembly SIMD is
 * unavailable.
 */
export const entmax15ShortSimd: ShortRowKernel = (data, rows, cols, temperature, invT, out, support) =>
  kernel !== null && kernel(data, rows, cols, temperature, invT, out, support);
