/**
 * sparsemax of short rows (cols <= SHORT_ROW of ./sparsemax.ts) on WebAssembly SIMD, four rows
 * at a time: two f64x2 groups (lane 0 row r, lane 1 row r + 1) interleaved in every loop, so
 * every step of the short-row algorithm of ./sparsemax.ts runs on four rows at once,
 * branch-free within a row (the JavaScript loops cost 1-3 ns an element an operation there;
 * 4096 x 10 took ~0.5 ms; one group per iteration ~0.15 ms, two ~0.13). The arithmetic is that
 * path's, operation for operation, so the results are the same doubles
 * (test/core/sparsemax-simd.test.ts):
 *   m = max z (pmax: a NaN is skipped, like z > m ? z : m)
 *   x = (z - m) * invT (or / T);  v = x > -1 ? x : -1;  sum = sum of the v > -1;  k = their count
 *   tau = (sum - 1) / k, then Michelot passes: keep v > tau (the rest become -1 for good),
 *   tau = (sum kept - 1) / kept, until a pass keeps every class in both lanes (a lane already
 *   settled recomputes the same sum over the same set in the same order, so its tau is unchanged);
 *   p = v - tau where > 0, else +0; support = the count of p > 0.
 * Sums add v & mask, i.e. v or +0, where the JavaScript path adds v * keep, i.e. v or -0 (+0 for
 * a non-negative v); from a +0 start both leave every partial sum the same double. A row with
 * every class -Infinity (or NaN) has m = -Infinity; its lane is masked to zeros and support 0.
 *
 * Memory (1 MiB, fixed): rows from byte 0 (up to TILE doubles; tiles hold a multiple of 4
 * rows, so only the last tile can end short, and its spare lanes read stale rows inside the
 * tile area, whose results are not copied out), each group's v vectors at XS(g), the support
 * counts (as 32-bit integers) at CNT. Export run(quads, cols, invT, T, mode): mode 1 =
 * divide by T (else multiply by invT; see ./temperature.ts).
 */
import {
  BLOCK, br, brIf, END, f64x2Const, F64X2_ADD, F64X2_DIV, F64X2_EQ, F64X2_LT, F64X2_MUL, F64X2_PMAX,
  F64X2_SPLAT, F64X2_SUB, get, i32Const, I32_ADD, I32_MUL, ELSE, LOOP, set, simd, tee, V128, V128_AND,
  V128_ANDNOT, V128_BITSELECT, v128Load, v128Store, I32_LT_U,
} from './wasm.js';
import {
  F64X2_NE, GROUPS, I32X4_TRUNC_SAT_F64X2_S_ZERO, ROWS_PER, shortRowKernel,
  rowLoops, shortRowModule, store64Lane, TILE, V128_ANY_TRUE, type ShortRowKernel,
} from './short-rows-simd.js';

/** Group g's v vectors. */
const XS = (g: number) => 8 * TILE + g * 512;
const CNT = 8 * TILE + GROUPS * 512;

function assemble(): Uint8Array {
  const QUADS = 0, COLS = 1, INVT = 2, TT = 3, MODE = 4; // params
  const P = 5, BASE = 6, I = 7, A = 8, STRIDE = 9, PASS = 10, XA = 11, CHANGED = 12; // i32
  let nv = 13;
  const v = () => nv++;
  const VINVT = v(), VT = v();
  const group = () => ({ M: v(), Z: v(), X: v(), KEEP: v(), S: v(), CNT_V: v(), W: v(), TAU: v(), DEAD: v(), V: v() });
  const Gs = Array.from({ length: GROUPS }, (_, g) => ({ g, ...group() }));
  const nV128 = nv - 13;
  const c: number[] = [];
  const e = (...parts: number[][]) => {
    for (const p of parts) c.push(...p);
  };
  const each = (f: (G: (typeof Gs)[number]) => void) => Gs.forEach(f);
  const ONE = f64x2Const(1);
  const NEG1 = f64x2Const(-1);
  const { forClasses, loadPair } = rowLoops(e, { I, A, XA, BASE, COLS, STRIDE });

  e(get(COLS), i32Const(8), I32_MUL, set(STRIDE));
  e(get(INVT), F64X2_SPLAT, set(VINVT), get(TT), F64X2_SPLAT, set(VT));
  e(i32Const(0), set(P), i32Const(0), set(BASE));
  e(BLOCK, LOOP, get(P), get(QUADS), I32_LT_U, [0x45], brIf(1));
  {
    // m = max z
    each((G) => e(f64x2Const(-Infinity), set(G.M)));
    forClasses(() =>
      each((G) => {
        e(get(G.M));
        loadPair(G.g);
        e(F64X2_PMAX, set(G.M));
      }),
    );
    each((G) => e(get(G.M), f64x2Const(-Infinity), F64X2_EQ, set(G.DEAD), f64x2Const(0), set(G.S), f64x2Const(0), set(G.CNT_V)));
    // x, v, the candidates' sum and count
    forClasses(() =>
      each(({ g, M, Z, X, KEEP, V, S, CNT_V }) => {
        loadPair(g);
        e(get(M), F64X2_SUB, set(Z));
        e(get(MODE), [0x04, V128], get(Z), get(VT), F64X2_DIV, ELSE, get(Z), get(VINVT), F64X2_MUL, END, set(X));
        e(NEG1, get(X), F64X2_LT, set(KEEP)); // -1 < x: false for NaN
        e(get(X), NEG1, get(KEEP), V128_BITSELECT, set(V));
        e(get(XA), get(V), v128Store(XS(g)));
        e(get(V), get(KEEP), V128_AND, get(S), F64X2_ADD, set(S));
        e(ONE, get(KEEP), V128_AND, get(CNT_V), F64X2_ADD, set(CNT_V));
      }),
    );
    each((G) => e(get(G.S), ONE, F64X2_SUB, get(G.CNT_V), F64X2_DIV, set(G.TAU)));
    // Michelot passes (each settles a lane or sheds a class from it: at most cols + 1)
    e(i32Const(0), set(PASS), BLOCK, LOOP);
    {
      each((G) => e(f64x2Const(0), set(G.S), f64x2Const(0), set(G.W)));
      forClasses(() =>
        each(({ g, V, TAU, KEEP, S, W }) => {
          e(get(XA), v128Load(XS(g)), set(V));
          e(get(TAU), get(V), F64X2_LT, set(KEEP));
          e(get(XA), get(V), NEG1, get(KEEP), V128_BITSELECT, v128Store(XS(g)));
          e(get(V), get(KEEP), V128_AND, get(S), F64X2_ADD, set(S));
          e(ONE, get(KEEP), V128_AND, get(W), F64X2_ADD, set(W));
        }),
      );
      e(i32Const(0));
      each(({ W, CNT_V, S, TAU }) => {
        e(get(W), get(CNT_V), F64X2_NE, V128_ANY_TRUE, [0x72]); // i32.or
        e(get(W), set(CNT_V), get(S), ONE, F64X2_SUB, get(CNT_V), F64X2_DIV, set(TAU));
      });
      e(set(CHANGED));
      e(get(PASS), i32Const(1), I32_ADD, tee(PASS), get(COLS), i32Const(1), I32_ADD, I32_LT_U, get(CHANGED), [0x71], brIf(0)); // i32.and
    }
    e(END, END);
    // p = v - tau where > 0 (and the row is live), else +0; the support count
    each((G) => e(f64x2Const(0), set(G.W)));
    forClasses(() =>
      each(({ g, V, TAU, KEEP, DEAD, W }) => {
        e(get(XA), v128Load(XS(g)), get(TAU), F64X2_SUB, set(V));
        e(f64x2Const(0), get(V), F64X2_LT, get(DEAD), V128_ANDNOT, set(KEEP));
        e(get(V), get(KEEP), V128_AND, set(V));
        e(get(A), get(STRIDE), i32Const(2 * g), I32_MUL, I32_ADD, get(V), store64Lane(0));
        e(get(A), get(STRIDE), i32Const(2 * g + 1), I32_MUL, I32_ADD, get(V), store64Lane(1));
        e(ONE, get(KEEP), V128_AND, get(W), F64X2_ADD, set(W));
      }),
    );
    each(({ g, W }) => e(get(P), i32Const(8 * GROUPS), I32_MUL, get(W), I32X4_TRUNC_SAT_F64X2_S_ZERO, store64Lane(0, CNT + 8 * g)));
  }
  e(get(P), i32Const(1), I32_ADD, set(P), get(BASE), get(STRIDE), i32Const(ROWS_PER), I32_MUL, I32_ADD, set(BASE));
  e(br(0), END, END, END);
  return shortRowModule(8, nV128, c);
}

const kernel = shortRowKernel(assemble(), CNT);

/** Whether the WebAssembly SIMD path is available here. */
export const sparsemaxSimdAvailable = kernel !== null;

/**
 * sparsemax of rows of at most 32 classes into out and support, with invT =
 * exactReciprocal(T) (0: divide by T). Returns false, doing nothing, where WebAssembly SIMD is
 * unavailable.
 */
export const sparsemaxShortSimd: ShortRowKernel = (data, rows, cols, temperature, invT, out, support) =>
  kernel !== null && kernel(data, rows, cols, temperature, invT, out, support);
