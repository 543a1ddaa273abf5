/**
 * 1.5-entmax of short rows (cols <= SHORT_ROW of ./sparsemax.ts) on WebAssembly SIMD: one module
 * per row length, built on its first use (~1 ms for 3 classes, ~10-13 ms for 10-32, mostly this
 * assembler running cold), its code unrolled over the classes, so every load and store has a
 * constant offset and no loop keeps per-class state. Two f64x2 pairs (lane 0 row r,
 * lane 1 row r + 1) an iteration, four rows. Per row it does what ./entmax.ts does for rows of at
 * most SORT_MAX candidates (sortedThreshold15, closedForm15), operation for operation, so the
 * results are the same doubles (test/core/entmax15-simd.test.ts):
 *  - m = max z (pmax from -Infinity: a NaN is skipped; two chains, then their maximum: the same
 *    value, up to the sign of a zero maximum, which changes no result); x = ((z - m) * invT, or
 *    / T, or as is when invT = 1) * 0.5; the candidates x > -1 (the rest, NaN too, become
 *    -Infinity);
 *  - the candidates in descending order by a sorting network (Batcher's odd-even merge sort, its
 *    comparators pmax / pmin, exact; the -Infinity places sink to the end; equal values give the
 *    same sorted doubles in any order): 32 comparators for 10 classes, 191 for 32;
 *  - the support size n: the largest j with g_j = c_(j) ((j - 1) c_(j) - 2 s1) <= 1 - s2 (s1 and
 *    s2 the sums of the top j - 1 in order; no division or square root; a -Infinity place gives
 *    +Infinity or NaN, never <= 1), found with pmax / pmin of masked values (s1 never grows, as
 *    every place is <= 0, so the smallest passing s1 is the one at n); tau = the closed form over
 *    the top n (the sum is s1 at n, then the two-pass variance);
 *  - p = [x - tau]_+^2 in index order, normalised by 1 / sum; support = the count of p > 0, i.e.
 *    of y = x - tau > 0 in a live row (tau <= -1 / sqrt(n) there, so a positive y is >= ~1e-17
 *    and its square does not underflow);
 *  - rare rows: a tied maximum (the second place is 0), a single candidate or none (it is
 *    -Infinity; m = +-Infinity leaves none) send their iteration to a branch that also forms
 *    tiedSupport's closed form (with kt classes at x = 0 and c2 the largest other candidate, if
 *    kt > 1 or there is one candidate, and c2 <= -1 / sqrt(kt), each tied class gets 1 / kt) and
 *    zeros with support 0 where there is no candidate, as the JavaScript path leaves such rows.
 *    Random logits never take it.
 * Masked sums add +0 where the JavaScript path adds nothing (from a +0 start, the same doubles);
 * counts are 64-bit integers (all-ones masks subtracted). The chained sums (s1, the variance,
 * sum p) of the two pairs are interleaved, so that one pair's chain runs while the other's
 * waits (one pair at a time: ~20% slower; three or four: 5-7% slower, from spills; measured),
 * and pinned step by step (PIN_AT). On 4096 x 10 that took the old kernel's ~0.43 ms (loops
 * through memory over every class, an insertion sort, up to 16 power-mean passes, divisions and
 * square roots in the support scan) to ~0.125 ms, of which ~0.014 ms is the copy in and out
 * (measured in `npm run bench`; ~1150 x64 instructions an iteration of four rows).
 * Memory: one 1 MiB memory that every row length's module imports (calls are synchronous, so
 * they can share it), laid out as ./sparsemax-simd.ts's: rows from byte 0 (up to TILE doubles,
 * tiles of a multiple of 4 rows; the last tile's spare lanes read stale rows inside the tile
 * area and are not copied out), the supports (as 32-bit integers) at CNT, each pair's x, sorted
 * places and p at WORK. Export run(quads, cols, invT, T, mode): mode 1 = divide by T; cols is
 * the module's own.
 */
import {
  BLOCK, br, brIf, ELSE, END, f64Const, f64x2Const, F64X2_ADD, F64X2_DIV, F64X2_EQ, F64X2_LT, F64X2_MUL,
  F64X2_PMAX, F64X2_SPLAT, F64X2_SUB, get as getLocal, i32Const, I32_ADD, I32_LT_U, I32_MUL, IF, LOOP, set as setLocal, simd,
  V128_AND, V128_ANDNOT, V128_BITSELECT, v128Load, v128Store,
} from './wasm.js';
import { GROUPS, load64Lane, load64Zero, ROWS_PER, V128_ANY_TRUE, shortRowKernel, shortRowModule, store64Lane, TILE, type ShortRowKernel } from './short-rows-simd.js';
import { SHORT_ROW } from './sparsemax.js';

const I32_OR = [0x72];
const F64_EQ = [0x61];
const F64X2_LE = simd(0x4b);
const F64X2_SQRT = simd(0xef);
const F64X2_ABS = simd(0xec);
const F64X2_PMIN = simd(0xf6);
const V128_OR = simd(0x50);
const I64X2_SUB = simd(0xd1);
const I32_EQZ = [0x45];
/** f64x2.convert_low_i32x4_s: i32 lanes 0 and 1 to doubles. */
const F64X2_CONVERT_LOW_I32X4_S = simd(0xfe);
/** i8x16.shuffle of one vector with itself: the low 32 bits of each i64 lane into i32 lanes 0, 1. */
/** i8x16.shuffle: lane 0 of each vector, lane 1 of each. */
const SHUFFLE_LO = [...simd(0x0d), 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const SHUFFLE_HI = [...simd(0x0d), 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31];
const LOW_WORDS = [...simd(0x0d), 0, 1, 2, 3, 8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11];

// local.get / local.set of a local, encoded once (the unrolled code uses them ~10^4 times)
const GETS: number[][] = [];
const SETS: number[][] = [];
const get = (i: number) => (GETS[i] ??= getLocal(i));
const set = (i: number) => (SETS[i] ??= setLocal(i));

const CNT = 8 * TILE;
const WORK = CNT + 4 * TILE;
/**
 * Pair g's pin slot: each step of a chained sum stores its running value there, a store never
 * read. Without it TurboFan issues a section's scratch loads together at its start (only the
 * order of memory operations is fixed; the arithmetic is placed late) and spills what it loaded;
 * the store ties each step's arithmetic ahead of the next step's load (1150 instead of 1415
 * instructions an iteration, ~11% faster on 4096 x 10; measured side by side in one process).
 */
const PIN_AT = (g: number) => WORK + 8192 + 16 * g;

/** How x is formed from z - m: divided by T, multiplied by invT, or as is (invT = 1). */
type Scale = 'divide' | 'multiply' | 'none';

/**
 * The comparators (i < j: the larger value to place i) of Batcher's odd-even merge sort for n
 * places: the network for the next power of two, without the comparators that touch a place
 * >= n. Those are no-ops when the missing places hold the smallest value (-Infinity here): a
 * comparator (i, j) keeps the minimum at j, so the padding never leaves its places.
 */
export function sortingNetwork(n: number): [number, number][] {
  let size = 1;
  while (size < n) size *= 2;
  const out: [number, number][] = [];
  for (let p = 1; p < size; p *= 2) {
    for (let k = p; k >= 1; k = k / 2) {
      for (let j = k % p; j + k < size; j += 2 * k) {
        for (let i = 0; i < k && i + j + k < size; i++) {
          const a = i + j;
          const b = a + k;
          if (Math.floor(a / (2 * p)) === Math.floor(b / (2 * p)) && b < n) out.push([a, b]);
        }
      }
    }
  }
  return out;
}

function assemble(cols: number): Uint8Array {
  const QUADS = 0, INVT = 2, TT = 3, MODE = 4; // params (1: cols, fixed here)
  const P = 5, BASE = 6; // i32
  let nv = 7;
  const v = () => nv++;
  const VINVT = v(), VT = v(), JV = v();
  // Stage 1 runs group by group, so its row values share one set of locals.
  const V = Array.from({ length: cols }, v);
  const S = Array.from({ length: cols }, v);
  const group = (g: number) => ({
    g,
    M: v(), M2: v(), RARE: v(), DEAD: v(), EQ: v(), KT: v(), C2: v(), TIED: v(), S1: v(), S2: v(), F: v(), OK: v(), N: v(),
    TOP: v(), MEAN: v(), SS: v(), DELTA: v(), TAU: v(), Y: v(), SUM: v(), SUP: v(), KTF: v(), PT: v(), INV: v(), SEC: v(),
  });
  const Gs = Array.from({ length: GROUPS }, (_, g) => group(g));
  const nV128 = nv - 7;
  const c: number[] = [];
  const e = (...parts: number[][]) => {
    for (const p of parts) for (let i = 0; i < p.length; i++) c.push(p[i]);
  };
  type Group = (typeof Gs)[number];
  const each = (f: (G: Group) => void) => Gs.forEach(f);
  const ONE = f64x2Const(1);
  const ZERO = f64x2Const(0);
  const NEG_INF = f64x2Const(-Infinity);
  const HALF = f64x2Const(0.5);
  const MINUS_ONE = f64x2Const(-1);
  /** Byte offsets of class i in group g's two rows, from BASE. */
  const at = (g: number, lane: number, i: number) => 8 * ((2 * g + lane) * cols + i);
  /** Group g's scratch vectors (from address 0): x (XV), the sorted places (SV), p (PV). */
  const XV = (g: number, i: number) => WORK + 16 * (3 * g * cols + i);
  const SV = (g: number, j: number) => XV(g, cols + j);
  const PV = (g: number, i: number) => XV(g, 2 * cols + i);
  const load = (offset: number) => e(i32Const(0), v128Load(offset));
  const net = sortingNetwork(cols);

  /**
   * One iteration (ROWS_PER rows), with x formed by dividing by T, multiplying by invT or as
   * is. Stage 1 (max, x, sort) runs group by group, on locals; the stages whose sums are
   * sequential chains (the support, the closed form, p) run the groups interleaved, on the
   * scratch vectors, so that the chains overlap. Rows with a tied maximum, a single candidate
   * or none (their second place is 0 or -Infinity) take a branch of their own at the end.
   */
  const body = (scale: Scale) => {
    for (const { g, M, M2, RARE, SEC } of Gs) {
      // m = max z (two chains from -Infinity, then their maximum)
      e(NEG_INF, set(M), NEG_INF, set(M2));
      for (let i = 0; i < cols; i++) {
        const chain = i % 2 ? M2 : M;
        if (i % 2 === 0 && i + 1 < cols) {
          // classes i and i + 1 of both rows: two loads and two shuffles (~2% faster than four
          // 64-bit loads)
          e(get(BASE), v128Load(at(g, 0, i)), set(V[i]), get(BASE), v128Load(at(g, 1, i)), set(V[i + 1]));
          e(get(V[i]), get(V[i + 1]), SHUFFLE_LO, get(V[i]), get(V[i + 1]), SHUFFLE_HI, set(V[i + 1]), set(V[i]));
        } else if (i % 2 === 0) {
          e(get(BASE), get(BASE), load64Zero(at(g, 0, i)), load64Lane(1, at(g, 1, i)), set(V[i]));
        }
        e(get(chain), get(V[i]), F64X2_PMAX, set(chain));
      }
      e(get(M), get(M2), F64X2_PMAX, set(M));
      // x, or -Infinity for a non-candidate
      for (let i = 0; i < cols; i++) {
        e(get(V[i]), get(M), F64X2_SUB);
        if (scale === 'divide') e(get(VT), F64X2_DIV);
        else if (scale === 'multiply') e(get(VINVT), F64X2_MUL);
        e(HALF, F64X2_MUL, set(V[i]));
        e(get(V[i]), NEG_INF, MINUS_ONE, get(V[i]), F64X2_LT, V128_BITSELECT, set(V[i])); // -1 < x: false for NaN
        e(i32Const(0), get(V[i]), v128Store(XV(g, i)));
      }
      // the candidates in descending order
      const cur = [...V];
      for (const [a, b] of net) {
        e(get(cur[a]), get(cur[b]), F64X2_PMAX, get(cur[a]), get(cur[b]), F64X2_PMIN, set(S[b]), set(S[a]));
        cur[a] = S[a];
        cur[b] = S[b];
      }
      for (let j = 0; j < cols; j++) e(i32Const(0), get(cur[j]), v128Store(SV(g, j)));
      // rare: the second place is 0 (kt > 1) or -Infinity (one candidate, or none)
      if (cols === 1) e(ZERO, ZERO, F64X2_EQ, set(RARE), NEG_INF, set(SEC));
      else e(get(cur[1]), set(SEC), get(SEC), ZERO, F64X2_EQ, get(SEC), NEG_INF, F64X2_EQ, V128_OR, set(RARE));
    }
    // the support size n: the largest j with (F_j <= 1, as) G_j <= R, and the sum of the top n
    each(({ g, S1, S2, N, TOP }) => {
      load(SV(g, 0));
      e(set(S1), ONE, get(S1), get(S1), F64X2_MUL, F64X2_SUB, set(S2), ONE, set(N), get(S1), set(TOP));
    });
    e(ONE, set(JV));
    for (let j = 2; j <= cols; j++) {
      // JV = j - 1 here
      each(({ g, S1, S2, F, OK, Y }) => {
        load(SV(g, j - 1));
        e(set(Y), get(Y), get(JV), get(Y), F64X2_MUL, get(S1), get(S1), F64X2_ADD, F64X2_SUB, F64X2_MUL, set(F));
        e(get(S1), get(Y), F64X2_ADD, set(S1));
        e(get(F), get(S2), F64X2_LE, set(OK));
        if (j < cols) e(get(S2), get(Y), get(Y), F64X2_MUL, F64X2_SUB, set(S2));
      });
      e(get(JV), ONE, F64X2_ADD, set(JV));
      each(({ g, S1, OK, N, TOP }) => {
        e(get(N), get(JV), get(OK), V128_AND, F64X2_PMAX, set(N));
        e(get(TOP), get(S1), get(OK), V128_AND, F64X2_PMIN, set(TOP));
        e(i32Const(0), get(TOP), v128Store(PIN_AT(g)));
      });
    }
    // closedForm15 over the top n
    each(({ TOP, N, MEAN }) => e(get(TOP), get(N), F64X2_DIV, set(MEAN)));
    for (let j = 1; j <= cols; j++) {
      if (j === 2) e(ONE, ONE, F64X2_ADD, set(JV));
      else if (j > 2) e(get(JV), ONE, F64X2_ADD, set(JV));
      each(({ g, MEAN, Y, SS, N }) => {
        load(SV(g, j - 1));
        e(get(MEAN), F64X2_SUB, set(Y), get(Y), get(Y), F64X2_MUL);
        if (j === 1) e(set(SS));
        else e(get(JV), get(N), F64X2_LE, V128_AND, get(SS), F64X2_ADD, set(SS));
        e(i32Const(0), get(SS), v128Store(PIN_AT(g)));
      });
    }
    each(({ SS, N, DELTA, MEAN, TAU }) => {
      e(ONE, get(SS), F64X2_SUB, get(N), F64X2_DIV, set(DELTA));
      e(get(MEAN), get(DELTA), ZERO, ZERO, get(DELTA), F64X2_LT, V128_BITSELECT, F64X2_SQRT, F64X2_SUB, set(TAU)); // delta > 0 ? delta : 0
    });
    // p = [x - tau]_+^2, its sum and support (p > 0 iff y > 0 in a live row: tau <= -1 / sqrt(n),
    // so a positive y = x - tau is at least ~1e-17 and its square does not underflow)
    each((G) => e(ZERO, set(G.SUM), ZERO, set(G.SUP)));
    for (let i = 0; i < cols; i++) {
      each(({ g, TAU, Y, SUM, OK, SUP }) => {
        load(XV(g, i));
        e(get(TAU), F64X2_SUB, set(Y), ZERO, get(Y), F64X2_LT, set(OK), get(Y), get(OK), V128_AND, set(Y));
        e(get(Y), get(Y), F64X2_MUL, set(Y), i32Const(0), get(Y), v128Store(PV(g, i)), get(SUM), get(Y), F64X2_ADD, set(SUM));
        e(get(SUP), get(OK), I64X2_SUB, set(SUP));
        e(i32Const(0), get(SUM), v128Store(PIN_AT(g)));
      });
    }
    each(({ SUM, INV }) => e(ONE, get(SUM), F64X2_DIV, set(INV)));
    const store = (g: number, i: number, vec: number) => e(get(BASE), get(vec), store64Lane(0, at(g, 0, i)), get(BASE), get(vec), store64Lane(1, at(g, 1, i)));
    const storeCounts = (g: number, vec: number) => e(get(P), i32Const(4 * ROWS_PER), I32_MUL, get(vec), get(vec), LOW_WORDS, store64Lane(0, CNT + 8 * g));
    e(i32Const(0));
    each(({ RARE }) => e(get(RARE), V128_ANY_TRUE, I32_OR));
    e(IF);
    {
      // No candidate: m = -Infinity (every class masked or NaN) or +Infinity (x is NaN or -Infinity).
      each(({ M, DEAD }) => e(get(M), F64X2_ABS, f64x2Const(Infinity), F64X2_EQ, set(DEAD)));
      // kt (the classes at x = 0) and c2 (the largest other candidate)
      each((G) => e(ZERO, set(G.KT), NEG_INF, set(G.C2)));
      for (let i = 0; i < cols; i++) {
        each(({ g, Y, EQ, KT, C2 }) => {
          load(XV(g, i));
          e(set(Y), get(Y), ZERO, F64X2_EQ, set(EQ), get(KT), get(EQ), I64X2_SUB, set(KT));
          e(get(C2), NEG_INF, get(Y), get(EQ), V128_BITSELECT, F64X2_PMAX, set(C2));
        });
      }
      // tied: (kt > 1 or a single candidate) and c2 <= -1 / sqrt(kt)
      each(({ KT, KTF, C2, TIED, PT, SEC }) => {
        e(get(KT), get(KT), LOW_WORDS, F64X2_CONVERT_LOW_I32X4_S, set(KTF));
        if (cols === 1) e(ZERO, ZERO, F64X2_EQ); // a live row's one class is its one candidate
        else e(ONE, get(KTF), F64X2_LT, get(SEC), NEG_INF, F64X2_EQ, V128_OR);
        e(get(C2), MINUS_ONE, get(KTF), F64X2_SQRT, F64X2_DIV, F64X2_LE, V128_AND, set(TIED));
        e(ONE, get(KTF), F64X2_DIV, set(PT));
      });
      // out: 1 / kt at x = 0 where tied, else p / sum; zeros for a dead lane
      for (let i = 0; i < cols; i++) {
        each(({ g, PT, INV, TIED, DEAD, Y }) => {
          e(get(PT));
          load(XV(g, i));
          e(ZERO, F64X2_EQ, V128_AND);
          load(PV(g, i));
          e(get(INV), F64X2_MUL, get(TIED), V128_BITSELECT, get(DEAD), V128_ANDNOT, set(Y));
          store(g, i, Y);
        });
      }
      // supports: kt where tied, else the count of p > 0; 0 for a dead lane
      each(({ g, KT, SUP, TIED, DEAD }) => {
        e(get(KT), get(SUP), get(TIED), V128_BITSELECT, get(DEAD), V128_ANDNOT, set(SUP));
        storeCounts(g, SUP);
      });
    }
    e(ELSE);
    for (let i = 0; i < cols; i++) {
      each(({ g, INV, Y, F }) => {
        if (i % 2 === 0 && i + 1 < cols) {
          // classes i and i + 1 of both rows: two shuffles and two stores (~1% faster than four
          // 64-bit stores)
          load(PV(g, i));
          e(get(INV), F64X2_MUL, set(Y));
          load(PV(g, i + 1));
          e(get(INV), F64X2_MUL, set(F));
          e(get(BASE), get(Y), get(F), SHUFFLE_LO, v128Store(at(g, 0, i)), get(BASE), get(Y), get(F), SHUFFLE_HI, v128Store(at(g, 1, i)));
          return;
        }
        if (i % 2 === 1) return;
        load(PV(g, i));
        e(get(INV), F64X2_MUL, set(Y));
        store(g, i, Y);
      });
    }
    each(({ g, SUP }) => storeCounts(g, SUP));
    e(END);
  };

  const loop = (scale: Scale) => {
    e(i32Const(0), set(P), i32Const(0), set(BASE));
    e(BLOCK, LOOP, get(P), get(QUADS), I32_LT_U, I32_EQZ, brIf(1));
    body(scale);
    e(get(P), i32Const(1), I32_ADD, set(P), get(BASE), i32Const(8 * ROWS_PER * cols), I32_ADD, set(BASE));
    e(br(0), END, END);
  };
  e(get(INVT), F64X2_SPLAT, set(VINVT), get(TT), F64X2_SPLAT, set(VT));
  // mode 1: divide by T; else multiply by invT, or nothing when invT = 1 (d * 1 = d, the default T)
  e(get(MODE), IF);
  loop('divide');
  e(ELSE, get(INVT), f64Const(1), F64_EQ, IF);
  loop('none');
  e(ELSE);
  loop('multiply');
  e(END, END, END);
  return shortRowModule(2, nV128, c, true);
}

/** The memory every row length's module imports: 1 MiB a thread, not one per module. */
const memory = newMemory();

function newMemory(): object | null {
  const wasm = (globalThis as unknown as { WebAssembly?: { Memory: new (d: { initial: number }) => object } }).WebAssembly;
  try {
    return wasm ? new wasm.Memory({ initial: 16 }) : null;
  } catch {
    return null;
  }
}

/** The kernel for each row length, built on first use (null: no WebAssembly SIMD here). */
const kernels = new Map<number, ShortRowKernel | null>();

function kernelFor(cols: number): ShortRowKernel | null {
  let k = kernels.get(cols);
  if (k === undefined) {
    k = memory === null ? null : shortRowKernel(assemble(cols), CNT, { env: { memory } });
    kernels.set(cols, k);
  }
  return k;
}

/** Whether the WebAssembly SIMD path is available here. */
export const entmax15SimdAvailable = kernelFor(1) !== null;

/**
 * entmax15 of rows of at most SHORT_ROW classes into out and support, with invT =
 * exactReciprocal(T) (0: divide by T). Returns false, doing nothing, where WebAssembly SIMD is
 * unavailable or the rows are longer.
 */
export const entmax15ShortSimd: ShortRowKernel = (data, rows, cols, temperature, invT, out, support) => {
  if (cols < 1 || cols > SHORT_ROW) return false;
  const kernel = kernelFor(cols);
  return kernel !== null && kernel(data, rows, cols, temperature, invT, out, support);
};
