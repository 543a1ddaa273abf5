/**
 * alpha-entmax of short rows (cols <= SHORT_ROW of ./sparsemax.ts) at a general alpha (the path
 * of ./entmax.ts that runs Householder / Halley / Newton on powers: alpha - 1 >= NEAR_ONE, alpha
 * not 1.5 or 2) on WebAssembly SIMD, four rows at a time: two f64x2 groups (lane 0 row r, lane 1
 * row r + 1), as ./entmax15-simd.ts. Per row it performs the JavaScript path's operations, in the
 * same order on the same doubles, so the results are the same bits, supports and pass counts
 * (test/core/entmax-simd.test.ts); only the control flow differs: loops run over every class
 * (or every compacted place) with masks, and a lane that has finished keeps its state while the
 * others of its quad go on (a group whose two lanes are done skips its passes).
 *  - m, x = ((z - m) * invT or / T) * (alpha - 1), the candidates x > -1, tiedSupport's closed
 *    form, powerMeanBound (up to 16 passes of sums), as the JavaScript path does them;
 *  - the classes above the bound are compacted lane by lane in index order (scalar code): the
 *    JavaScript path's working set, so every sum adds the same terms in the same order, and the
 *    passes run over the most places a lane of the quad uses, not over every class;
 *  - entmaxThreshold's safeguarded passes, each in three loops: y = c - tau; the powers and
 *    1 / y (a function of its own, with no loop-carried state); the sums f, d1, d2, d3. Its
 *    step (Householder's third order, else Halley's, else Newton's), bracket, next-double and
 *    midpoint rules per lane with masks;
 *  - p is the last pass's (evaluated at the tau returned), normalised by 1 / sum.
 *
 * The powers y^q are ./pow.ts's powUnit (a table log2 and a table 2^t, no division), two at a
 * time by vpow below in its operations and order: the bits of y split with 64-bit integer lane
 * operations, the table entries (c_i, 1 / c_i, log2 c_i, interleaved here) and 2^((k & 127) / 128)
 * read lane by lane, and where the 2^(k >> 7) table of ./exp.ts holds 0 (k >> 7 <= -1075) the
 * result is 0, not the 5e-324 the exact scaling would give. (This kernel used to reproduce
 * fdlibm's log, which is what V8's Math.log is, with its division; powUnit replaced it in both
 * paths.) The same function, exported as powers, takes the JavaScript path's long rows' powers
 * a chunk at a time (simdPowers). Math.log1p, once per row and pass (the step works on log F,
 * F = sum p), is fdlibm's s_log1p.c, ported below as a scalar function with its branches,
 * called per lane. Math.pow(k, -(alpha - 1)) for the counts k = 0..32 is taken from a table the
 * driver fills with Math.pow itself.
 *
 * Cost (4096 x 10 at alpha = 1.3, 3 passes on most quads): ~1.6 ms against 2.5 with fdlibm's log
 * and Halley (4 passes a quad); the powers function takes ~54% of it (~12 ns a pair of lanes,
 * with 1 / y), the rest of run ~33% and log1p ~5% (CPU profile). The 0.995 ms target needs
 * ~1.6x more. Not the way there (measured on the JavaScript path): replacing the last pass's
 * powers by a Taylor update from the pass before in tau_new - tau_old = d: over 10 classes the
 * class nearest the threshold has d / y = 1.7e-4 at the median row, and 0 <= d / y <= 2^-20
 * (where a cubic in d / y keeps the powers' accuracy) on 3% of rows, <= 2^-8 on 35%.
 *
 * Rows that leave the common path (Newton's NEWTON_PASSES passes used up, so the JavaScript path
 * would bisect on the integer order of doubles; or a next-double step from tau = 0) are marked
 * with support -1 and their input is written back unchanged, for the caller to map with the
 * JavaScript path: the same doubles by construction. Standard-normal rows below alpha = 2 never
 * get there (see ./entmax.ts on pass counts).
 *
 * Memory (1 MiB, fixed): rows from byte 0 (TILE doubles, tiles of a multiple of 4 rows; spare
 * lanes of the last tile read stale rows and are not copied out; simdPowers' y, p and 1 / y
 * there too), then per group the candidates x (XO; -Infinity for the others), the working set
 * (XS; classes shed by the power-mean bound become -Infinity), the last pass's p (PP), y and
 * 1 / y (YS, RS), the compacted set (CS, MAP), p by column (PCOL); the 2^(i / 128) table, the
 * power table, the supports and pass counts (32-bit integers), the log2 table, the vector
 * constants. Exports run(quads, cols, invT, T, mode, am1, q, q(q - 1), bound) (mode 1 = divide
 * by T; bound 1 = alpha < 2, run powerMeanBound), powers(ys, pp, rs, bytes, q), and for tests
 * log1p(x) and vpow(y, q) (lane 0 of the vector power of (y, y)).
 */
import {
  BLOCK, br, brIf, call, ELSE, END, F64, f64Const, f64x2Const, f64x2ExtractLane, f64x2ReplaceLane,
  F64X2_ABS, F64X2_ADD, F64X2_DIV, F64X2_EQ, F64X2_LE, F64X2_LT, F64X2_MUL, F64X2_NE, F64X2_NEG,
  F64X2_PMAX, F64X2_SPLAT, F64X2_SUB, F64_ADD, F64_CONVERT_I32_S, F64_DIV, F64_EQ, F64_MUL,
  F64_NEG, F64_REINTERPRET_I64, F64_SUB, get, I32, i32Const, i32x4ExtractLane, I32_ADD, I32_AND, I32_EQZ,
  I32_EQ, I32_GE_S, I32_GT_S, I32_GT_U, i32Load, i32Store, f64Load, f64Store, F64_LT, I32_LE_S, I32_LT_S, I32_LT_U, I32_MUL, I32_OR, I32_SHL, I32_SHR_S, I32_SUB,
  I32_WRAP_I64, i64Const, i64x2Const, I64X2_ADD, I64X2_GT_S, I64X2_LT_S, I64X2_SHL, I64X2_SHR_U,
  I64X2_SUB, I64_AND, I64_EXTEND_I32_U, I64_OR, I64_REINTERPRET_F64, I64_SHL, I64_SHR_U, IF,
  instantiate, LOOP, name, RETURN, section, SELECT, set, simd, tee, uleb, V128, V128_AND,
  V128_ANDNOT, V128_ANY_TRUE, V128_BITSELECT, V128_OR, V128_XOR, v128Load, v128Store,
  type WasmMemory,
} from './wasm.js';
import {
  GROUPS, I32X4_TRUNC_SAT_F64X2_S_ZERO, load64Lane, load64Zero, ROWS_PER, rowLoops, store64Lane, TILE, type Emit,
} from './short-rows-simd.js';
import { FRAC } from './exp.js';
import { C, EXP2_B, INV_C, LOG2_A, LOG2_C, Z0_HIGH } from './pow.js';

const I64X2_SHR_S = simd(0xcc);
/**
 * The mean solver takes Householder's third-order step from q = 1 / (alpha - 1) >= 0.4 (alpha <=
 * 3.5), here and in ./entmax.ts (which imports this module, so the constant lives here): fewer
 * passes than Halley's up to alpha = 3 (standard-normal rows of 10 and 100 classes: 3.6 and 4.8
 * on average at alpha = 3, Halley 4.1 and 5.5), more from alpha = 4 (the roots near kinks of
 * [x - tau]_+^q, q < 1; at alpha = 5, 7.1 and 9.4 against 5.5 and 7.4), measured.
 */
export const HOUSEHOLDER_Q = 0.4;
const i8x16Shuffle = (lanes: number[]) => [...simd(0x0d), ...lanes];
/** The low doubles of two vectors, and the high ones. */
const LOW64 = [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23];
const HIGH64 = LOW64.map((b) => b + 8);

const EPS = 2 ** -52;
/** As ./entmax.ts: Newton passes before the JavaScript path bisects (here: hands the row back). */
const NEWTON_PASSES = 24;

/** The most powers simdPowers takes a call. */
export const POWERS_CHUNK = 8192;
const P_AT = 8 * (POWERS_CHUNK + 2);
const R_AT = 2 * P_AT;

const WORK = 8 * TILE;
const XO = (g: number) => WORK + g * 3 * 512;
const XS = (g: number) => XO(g) + 512;
const PP = (g: number) => XS(g) + 512;
/** Per group: y (YS) and 1 / y (RS) of the current pass. */
const YS = (g: number) => WORK + GROUPS * 3 * 512 + g * 2 * 512;
const RS = (g: number) => YS(g) + 512;
/**
 * Per group: the classes above the power-mean bound, compacted lane by lane in index order (CS),
 * their columns (MAP, 32-bit, -1 past the end), p by column for the output (PCOL).
 */
const CS = (g: number) => WORK + GROUPS * 5 * 512 + g * 1280;
const MAP = (g: number) => CS(g) + 512;
const PCOL = (g: number) => MAP(g) + 256;
const FRAC_AT = WORK + GROUPS * (5 * 512 + 1280);
const POWK_AT = FRAC_AT + 8 * 128;
const CNT = POWK_AT + 8 * 64;
const PASSES_AT = CNT + 4 * TILE;
/** ./pow.ts's c_i, 1 / c_i, log2 c_i (and a spare double) at 32 i: one entry, two 16-byte loads. */
const LOG_AT = PASSES_AT + 4 * TILE;
const CONST_AT = LOG_AT + 32 * 256;

// fdlibm's constants (e_log.c, s_log1p.c: Lp_i = Lg_i).
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const LG = [
  0, 6.666666666666735130e-1, 3.999999999940941908e-1, 2.857142874366239149e-1, 2.222219843214978396e-1,
  1.818357216161805012e-1, 1.531383769920937332e-1, 1.479819860511658591e-1,
];

// ./pow.ts's 2^t, k = round(128 t) by ./softmax-simd.ts's shifted rounding constant.
const T_N = 128;
const T_SHIFT = 6755399441055744 + 64 * T_N;
/** k below this has k >> 7 <= -1075, where ./exp.ts's power-of-two table holds 0. */
const K_ZERO = -1074 * T_N;

/**
 * Where the vector constants come from. V8 builds each v128.const in place with three
 * instructions, inside the loop (~30 per log, even from a local set once: it propagates the
 * constant); the kernel loads them from a table in its memory instead (log 59 -> 44 cycles a
 * vector, exp 24 -> 17, measured).
 */
interface Consts {
  f(x: number): number[];
  i(hi: number, lo: number): number[];
}
const INLINE: Consts = { f: f64x2Const, i: i64x2Const };

/**
 * ./pow.ts's powUnit(y, q) of the lanes of local y (0 < y <= 1) and local vq onto the stack, in
 * its operations and order; t: 14 scratch v128 locals, a: 2 scratch i32 locals.
 */
function vpow(e: Emit, y: number, vq: number, t: number[], a: number[], k: Consts = INLINE): void {
  const [SUB, B, D, EX, Z, R, R2, L, KB, KF, U, U2, TT, T2] = t;
  const [A0, A1] = a;
  const c = k.f;
  // Subnormal: scale by 2^54 and take 54 off the exponent (rare, so only when some lane has it).
  e(get(y), set(B), get(y), c(2 ** -1022), F64X2_LT, tee(SUB), V128_ANY_TRUE, IF);
  e(get(y), c(2 ** 54), F64X2_MUL, get(y), get(SUB), V128_BITSELECT, set(B), END);
  // d = bits - (Z0_HIGH << 32): ex = d >> 52 (arithmetic), i = (d >> 44) & 255 (as 32 i bytes),
  // z = bits - (ex << 52), ex as a double (added to the bits of 1.5 * 2^52), minus 54 if subnormal
  e(get(B), k.i(Z0_HIGH, 0), I64X2_SUB, tee(D), i32Const(52), I64X2_SHR_S, set(EX));
  e(get(D), i32Const(39), I64X2_SHR_U, k.i(0, 255 << 5), V128_AND, tee(D));
  e(i32x4ExtractLane(0), set(A0), get(D), i32x4ExtractLane(2), set(A1));
  e(get(B), get(EX), i32Const(52), I64X2_SHL, I64X2_SUB, set(Z));
  e(get(EX), k.i(0x43380000, 0), I64X2_ADD, c(6755399441055744), F64X2_SUB);
  e(c(54), get(SUB), V128_AND, F64X2_SUB, set(EX));
  // (c_i, 1 / c_i) and (log2 c_i, -) of each lane, paired up by lane
  e(get(A0), v128Load(LOG_AT), set(TT), get(A1), v128Load(LOG_AT), set(T2));
  // r = (z - c_i) (1 / c_i)
  e(get(Z), get(TT), get(T2), i8x16Shuffle(LOW64), F64X2_SUB, get(TT), get(T2), i8x16Shuffle(HIGH64), F64X2_MUL, tee(R), get(R), F64X2_MUL, set(R2));
  // l = ex + (log2 c_i + r ((A1 + r A2 + r2 (A3 + r A4)) + r2 r2 ((A5 + r A6) + r2 A7)))
  e(get(EX), get(A0), v128Load(LOG_AT + 16), get(A1), v128Load(LOG_AT + 16), i8x16Shuffle(LOW64));
  e(get(R), c(LOG2_A[0]), get(R), c(LOG2_A[1]), F64X2_MUL, F64X2_ADD);
  e(get(R2), c(LOG2_A[2]), get(R), c(LOG2_A[3]), F64X2_MUL, F64X2_ADD, F64X2_MUL, F64X2_ADD);
  e(get(R2), get(R2), F64X2_MUL, c(LOG2_A[4]), get(R), c(LOG2_A[5]), F64X2_MUL, F64X2_ADD, get(R2), c(LOG2_A[6]), F64X2_MUL, F64X2_ADD, F64X2_MUL, F64X2_ADD);
  e(F64X2_MUL, F64X2_ADD, F64X2_ADD, set(L));
  // t = q l; k = round(128 t) (in the low bits of kb), u = t - k / 128
  e(get(vq), get(L), F64X2_MUL, tee(L), c(128), F64X2_MUL, c(T_SHIFT), F64X2_ADD, tee(KB), c(T_SHIFT), F64X2_SUB, set(KF));
  e(get(L), get(KF), c(1 / 128), F64X2_MUL, F64X2_SUB, tee(U), get(U), F64X2_MUL, set(U2));
  // 2^((k & 127) / 128)
  const fr = (lane: number) => [get(KB), i32x4ExtractLane(lane), i32Const(T_N - 1), I32_AND, i32Const(3), I32_SHL].flat();
  e(fr(0), load64Zero(FRAC_AT), set(TT), fr(2), get(TT), load64Lane(1, FRAC_AT), set(TT));
  // pm1 = u B1 + u2 ((B2 + u B3) + u2 (B4 + u B5)); (f + f pm1) 2^(k >> 7), 0 where that underflows
  e(get(U), c(EXP2_B[0]), F64X2_MUL, get(U2), c(EXP2_B[1]), get(U), c(EXP2_B[2]), F64X2_MUL, F64X2_ADD);
  e(get(U2), c(EXP2_B[3]), get(U), c(EXP2_B[4]), F64X2_MUL, F64X2_ADD, F64X2_MUL, F64X2_ADD, F64X2_MUL, F64X2_ADD);
  e(get(TT), F64X2_MUL, get(TT), F64X2_ADD);
  e(get(KB), i32Const(7), I64X2_SHR_U, i32Const(52), I64X2_SHL, I64X2_ADD, c(2 ** -64), F64X2_MUL);
  e(get(KF), c(K_ZERO), F64X2_LT, V128_ANDNOT);
}

/** fdlibm's log1p (s_log1p.c), a scalar function of param 0 (f64); locals 1-4 i32, 5-12 f64. */
function log1pBody(): number[] {
  const X = 0, HX = 1, AX = 2, K = 3, HU = 4, FF = 5, C = 6, U = 7, HFSQ = 8, S = 9, Z = 10, R = 11, DK = 12;
  const b: number[] = [];
  const e: Emit = (...parts) => {
    for (const p of parts) b.push(...p);
  };
  const high = (l: number) => [get(l), I64_REINTERPRET_F64, i64Const(32n), I64_SHR_U, I32_WRAP_I64].flat();
  /** u with its high word replaced by the i32 on top of the code `hi`. */
  const setHigh = (u: number, hi: number[]) => {
    e(get(u), I64_REINTERPRET_F64, i64Const(0xffffffffn), I64_AND, hi, I64_EXTEND_I32_U, i64Const(32n), I64_SHL, I64_OR);
    e(F64_REINTERPRET_I64, set(u));
  };
  const c = f64Const;
  e(high(X), set(HX), get(HX), i32Const(0x7fffffff), I32_AND, set(AX), i32Const(1), set(K));
  e(get(HX), i32Const(0x3fda827a), I32_LT_S, IF);
  {
    e(get(AX), i32Const(0x3ff00000), I32_GE_S, IF, c(-Infinity), c(NaN), get(X), c(-1), F64_EQ, SELECT, RETURN, END);
    e(get(AX), i32Const(0x3e200000), I32_LT_S, IF);
    e(get(AX), i32Const(0x3c900000), I32_LT_S, IF, get(X), RETURN, END);
    e(get(X), get(X), get(X), F64_MUL, c(0.5), F64_MUL, F64_SUB, RETURN, END);
    e(get(HX), i32Const(0), I32_GT_S, get(HX), i32Const(0xbfd2bec4), I32_LE_S, I32_OR, IF);
    e(i32Const(0), set(K), get(X), set(FF), i32Const(1), set(HU), END);
  }
  e(END);
  e(get(HX), i32Const(0x7ff00000), I32_GE_S, IF, get(X), get(X), F64_ADD, RETURN, END);
  e(get(K), IF);
  {
    e(get(HX), i32Const(0x43400000), I32_LT_S, IF);
    e(c(1), get(X), F64_ADD, set(U), high(U), set(HU), get(HU), i32Const(20), I32_SHR_S, i32Const(1023), I32_SUB, set(K));
    e(c(1), get(U), get(X), F64_SUB, F64_SUB, get(X), get(U), c(1), F64_SUB, F64_SUB, get(K), i32Const(0), I32_GT_S, SELECT);
    e(get(U), F64_DIV, set(C));
    e(ELSE);
    e(get(X), set(U), high(U), set(HU), get(HU), i32Const(20), I32_SHR_S, i32Const(1023), I32_SUB, set(K), c(0), set(C));
    e(END);
    e(get(HU), i32Const(0xfffff), I32_AND, set(HU));
    e(get(HU), i32Const(0x6a09e), I32_LT_S, IF);
    setHigh(U, [...get(HU), ...i32Const(0x3ff00000), ...I32_OR]);
    e(ELSE, get(K), i32Const(1), I32_ADD, set(K));
    setHigh(U, [...get(HU), ...i32Const(0x3fe00000), ...I32_OR]);
    e(i32Const(0x100000), get(HU), I32_SUB, i32Const(2), I32_SHR_S, set(HU), END);
    e(get(U), c(1), F64_SUB, set(FF));
  }
  e(END);
  e(c(0.5), get(FF), F64_MUL, get(FF), F64_MUL, set(HFSQ), get(K), F64_CONVERT_I32_S, set(DK));
  e(get(HU), I32_EQZ, IF);
  {
    e(get(FF), c(0), F64_EQ, IF);
    e(get(K), I32_EQZ, IF, c(0), RETURN, END);
    e(get(C), get(DK), c(LN2_LO), F64_MUL, F64_ADD, set(C), get(DK), c(LN2_HI), F64_MUL, get(C), F64_ADD, RETURN, END);
    e(get(HFSQ), c(1), c(0.66666666666666666), get(FF), F64_MUL, F64_SUB, F64_MUL, set(R));
    e(get(K), I32_EQZ, IF, get(FF), get(R), F64_SUB, RETURN, END);
    e(get(DK), c(LN2_HI), F64_MUL, get(R), get(DK), c(LN2_LO), F64_MUL, get(C), F64_ADD, F64_SUB, get(FF), F64_SUB, F64_SUB, RETURN);
  }
  e(END);
  e(get(FF), c(2), get(FF), F64_ADD, F64_DIV, set(S), get(S), get(S), F64_MUL, set(Z));
  e(get(Z), c(LG[7]), F64_MUL);
  for (let i = 6; i >= 1; i--) e(c(LG[i]), F64_ADD, get(Z), F64_MUL);
  e(set(R));
  e(get(K), I32_EQZ, IF, get(FF), get(HFSQ), get(S), get(HFSQ), get(R), F64_ADD, F64_MUL, F64_SUB, F64_SUB, RETURN, END);
  e(get(DK), c(LN2_HI), F64_MUL, get(HFSQ), get(S), get(HFSQ), get(R), F64_ADD, F64_MUL);
  e(get(DK), c(LN2_LO), F64_MUL, get(C), F64_ADD, F64_ADD, F64_SUB, get(FF), F64_SUB, F64_SUB);
  return [2, 4, I32, 8, F64, ...b, ...END];
}

function assemble(consts: number[][]): Uint8Array {
  const LOG1P = 0;
  const POWERS = 3;
  const QUADS = 0, COLS = 1, INVT = 2, TT = 3, MODE = 4, AM1 = 5, Q = 6, QQ1 = 7, BOUNDF = 8; // params
  const P = 9, BASE = 10, I = 11, A = 12, STRIDE = 13, PASS = 14, XA = 15, IT = 16, ANY = 17, J = 18, KM = 19; // i32
  const LV = 20, FV = 21; // f64
  let nv = 22;
  const v = () => nv++;
  const VINVT = v(), VT = v(), VAM1 = v(), VQ = v(), VNEGQ = v(), VQQ1 = v(), VQQ2 = v(), VH3 = v();
  const group = () => ({
    M: v(), Z: v(), X: v(), KEEP: v(), VV: v(), DEAD: v(), KT: v(), K: v(), C2: v(), TIED: v(), SUM: v(),
    LO: v(), HI: v(), TAU: v(), T: v(), W: v(), S: v(), OK: v(), F: v(), D1: v(), D2: v(), D3: v(), H3: v(), ACTIVE: v(),
    REDO: v(), ITS: v(), Y: v(), VAL: v(), P: v(), RR: v(), INV: v(), SUP: v(), PTIED: v(),
  });
  const Gs = Array.from({ length: GROUPS }, (_, g) => ({ g, ...group() }));
  const BY = v(), BX = v();
  const BT = Array.from({ length: 12 }, v);
  const code: number[] = [];
  const pool = new Map<string, number>();
  const slot = (key: string, value: number[]) => {
    let at = pool.get(key);
    if (at === undefined) {
      pool.set(key, (at = CONST_AT + 16 * consts.length));
      consts.push(value.slice(2)); // the 16 bytes after v128.const's opcode
    }
    return [...i32Const(0), ...v128Load(at)];
  };
  const KC: Consts = {
    f: (x) => slot(`f${Object.is(x, -0) ? '-0' : x}`, f64x2Const(x)),
    i: (hi, lo) => slot(`i${hi}:${lo}`, i64x2Const(hi, lo)),
  };
  const e: Emit = (...parts) => {
    for (const p of parts) code.push(...p);
  };
  const each = (f: (G: (typeof Gs)[number]) => void) => Gs.forEach(f);
  const ONE = KC.f(1);
  const ZERO = KC.f(0);
  const NEG_INF = KC.f(-Infinity);
  const and1 = (mask: number) => [...ONE, ...get(mask), ...V128_AND];
  const loops = rowLoops(e, { I, A, XA, BASE, COLS, STRIDE });
  const { forClasses, loadPair, storePair } = loops;
  /** The compacted places in use in some lane (xa = 16 place). */
  const forPlaces = (body: () => void) => loops.forPlaces(XA, KM, body);
  /** The table entries for the counts in local k onto the stack (tmp: scratch v128 local). */
  const pow = (k: number, tmp: number) => {
    e(get(k), I32X4_TRUNC_SAT_F64X2_S_ZERO, set(tmp));
    e(get(tmp), i32x4ExtractLane(1), i32Const(3), I32_SHL);
    e(get(tmp), i32x4ExtractLane(0), i32Const(3), I32_SHL, load64Zero(POWK_AT), load64Lane(1, POWK_AT));
  };

  e(get(COLS), i32Const(8), I32_MUL, set(STRIDE));
  e(get(INVT), F64X2_SPLAT, set(VINVT), get(TT), F64X2_SPLAT, set(VT), get(AM1), F64X2_SPLAT, set(VAM1));
  e(get(Q), F64X2_SPLAT, tee(VQ), F64X2_NEG, set(VNEGQ), get(QQ1), F64X2_SPLAT, set(VQQ1));
  // -q (q - 1) (q - 2), as ./entmax.ts forms it
  e(get(Q), F64_NEG, get(Q), f64Const(1), F64_SUB, F64_MUL, get(Q), f64Const(2), F64_SUB, F64_MUL, F64X2_SPLAT, set(VQQ2));
  e(KC.f(HOUSEHOLDER_Q), get(VQ), F64X2_LE, set(VH3)); // q >= HOUSEHOLDER_Q: Householder's step
  e(i32Const(0), set(P), i32Const(0), set(BASE));
  e(BLOCK, LOOP, get(P), get(QUADS), I32_LT_U, I32_EQZ, brIf(1));
  {
    // m = max z (a NaN is skipped, as rowCandidates skips it)
    each((G) => e(NEG_INF, set(G.M)));
    forClasses(() =>
      each((G) => {
        e(get(G.M));
        loadPair(G.g);
        e(F64X2_PMAX, set(G.M));
      }),
    );
    each((G) => e(get(G.M), NEG_INF, F64X2_EQ, set(G.DEAD)));
    // x = ((z - m) * invT or / T) * (alpha - 1); candidates x > -1, their sum and count k, the
    // tied maxima kt, the largest other candidate c2
    each((G) => e(ZERO, set(G.SUM), ZERO, set(G.K), ZERO, set(G.KT), NEG_INF, set(G.C2)));
    forClasses(() =>
      each(({ g, M, Z, X, KEEP, VV, SUM, K, KT, C2 }) => {
        loadPair(g);
        e(get(M), F64X2_SUB, set(Z));
        e(get(MODE), [0x04, V128], get(Z), get(VT), F64X2_DIV, ELSE, get(Z), get(VINVT), F64X2_MUL, END);
        e(get(VAM1), F64X2_MUL, set(X));
        e(KC.f(-1), get(X), F64X2_LT, set(KEEP));
        e(get(X), NEG_INF, get(KEEP), V128_BITSELECT, set(VV));
        e(get(XA), get(VV), v128Store(XO(g)), get(XA), get(VV), v128Store(XS(g)));
        e(get(VV), get(KEEP), V128_AND, get(SUM), F64X2_ADD, set(SUM));
        e(and1(KEEP), get(K), F64X2_ADD, set(K));
        e(get(VV), ZERO, F64X2_EQ, set(Z));
        e(and1(Z), get(KT), F64X2_ADD, set(KT));
        e(get(C2), NEG_INF, get(VV), get(Z), V128_BITSELECT, F64X2_PMAX, set(C2));
      }),
    );
    // tiedSupport: (kt > 1 or k = 1) and c2 <= -kt^(1 - alpha)
    each(({ KT, K, C2, TIED, T }) => {
      e(ONE, get(KT), F64X2_LT, get(K), ONE, F64X2_EQ, V128_OR, get(C2));
      pow(KT, T);
      e(F64X2_NEG, F64X2_LE, V128_AND, set(TIED));
    });
    // powerMeanBound (alpha < 2), while its bound rises in some lane: t = sum / k - k^(1 - alpha)
    // - 2 (k + 4) eps; a lane whose JavaScript loop has stopped recomputes a t that does not rise
    each((G) => e(KC.f(-1), set(G.LO)));
    e(get(BOUNDF), IF, i32Const(0), set(PASS), BLOCK, LOOP);
    {
      e(i32Const(0), set(ANY));
      each(({ SUM, K, T, LO, OK }) => {
        e(get(SUM), get(K), F64X2_DIV);
        pow(K, T);
        e(F64X2_SUB, KC.f(2), get(K), KC.f(4), F64X2_ADD, F64X2_MUL, KC.f(EPS), F64X2_MUL, F64X2_SUB, set(T));
        e(get(LO), get(T), F64X2_LT, tee(OK), V128_ANY_TRUE, get(ANY), I32_OR, set(ANY));
        e(get(T), get(LO), get(OK), V128_BITSELECT, set(LO));
      });
      e(get(ANY), I32_EQZ, brIf(1));
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
    e(END, END, END);
    // entmaxThreshold: hi = -k^(1 - alpha); no pass where !(hi > lo) (tau = lo)
    each(({ K, T, HI, LO, TAU, ACTIVE, TIED, DEAD, REDO, ITS }) => {
      pow(K, T);
      e(F64X2_NEG, set(HI), get(LO), set(TAU));
      e(get(LO), get(HI), F64X2_LT, get(TIED), V128_ANDNOT, get(DEAD), V128_ANDNOT, set(ACTIVE));
      e(ZERO, set(REDO), ZERO, set(ITS));
    });
    // The classes above lo, lane by lane in index order, into the first places of CS (the
    // JavaScript path's compacted working set: same values, same order, so the same sums);
    // the passes then run over the km places some lane uses, not every class.
    e(i32Const(0), set(KM));
    each(({ g, LO }) => {
      for (const lane of [0, 1]) {
        e(get(LO), f64x2ExtractLane(lane), set(LV), i32Const(0), set(J));
        e(i32Const(0), set(I), BLOCK, LOOP, get(I), get(COLS), I32_LT_U, I32_EQZ, brIf(1));
        e(get(I), i32Const(4), I32_SHL, f64Load(XS(g) + 8 * lane), set(FV), get(LV), get(FV), F64_LT, IF);
        e(get(J), i32Const(4), I32_SHL, get(FV), f64Store(CS(g) + 8 * lane), get(J), i32Const(3), I32_SHL, get(I), i32Store(MAP(g) + 4 * lane));
        e(get(J), i32Const(1), I32_ADD, set(J), END, get(I), i32Const(1), I32_ADD, set(I), br(0), END, END);
        e(get(J), get(KM), get(J), get(KM), I32_GT_U, SELECT, set(KM));
        e(BLOCK, LOOP, get(J), get(COLS), I32_LT_U, I32_EQZ, brIf(1));
        e(get(J), i32Const(4), I32_SHL, f64Const(-Infinity), f64Store(CS(g) + 8 * lane), get(J), i32Const(3), I32_SHL, i32Const(-1), i32Store(MAP(g) + 4 * lane));
        e(get(J), i32Const(1), I32_ADD, set(J), br(0), END, END);
      }
    });
    // Newton / Halley passes while some lane is active (at least one: it gives p at tau = lo too)
    e(i32Const(0), set(IT), BLOCK, LOOP);
    {
      e(get(IT), i32Const(1), I32_ADD, set(IT));
      each(({ ITS, ACTIVE, F, D1, D2, D3, W }) => {
        e(and1(ACTIVE), get(ITS), F64X2_ADD, set(ITS));
        e(KC.f(-1), set(F), ZERO, set(D1), ZERO, set(D2), ZERO, set(D3), ZERO, set(W));
      });
      // Per group, only while one of its lanes is active (or on the first pass, which also
      // gives p at tau = lo for a row without passes): a finished lane's p stays from its last
      // pass. In three loops, so that the long chain of log and exp has no loop-carried state
      // and consecutive classes overlap (one loop doing everything ran ~3x slower).
      each(({ g, LO, TAU, W, VV, T, Y, ACTIVE, F, D1, D2, D3, P, RR }) => {
        e(get(ACTIVE), V128_ANY_TRUE, get(IT), i32Const(1), I32_EQ, I32_OR, IF);
        // A: y = c - tau where c > tau, else 0.75 (not 1: a mantissa of 0 takes the log's rare
        // branch); k counts the classes above lo (the JavaScript path's compacted set)
        forPlaces(() => {
          e(get(XA), v128Load(CS(g)), set(VV), get(LO), get(VV), F64X2_LT, set(T), and1(T), get(W), F64X2_ADD, set(W));
          e(get(XA), get(VV), get(TAU), F64X2_SUB, tee(Y), KC.f(0.75), ZERO, get(Y), F64X2_LT, V128_BITSELECT, v128Store(YS(g)));
        });
        // B: exp(q log y) and 1 / y (a function of its own: inside this one, with its many live
        // vectors, the same loop ran ~1.5x slower)
        e(i32Const(YS(g)), i32Const(PP(g)), i32Const(RS(g)), get(KM), i32Const(16), I32_MUL, get(Q), call(POWERS));
        // C: p where y > 0, else +0 (kept for the output); f += p, d1 += p r, d2 += p r r,
        // d3 += p r r r
        forPlaces(() => {
          e(get(XA), get(XA), v128Load(PP(g)), ZERO, get(XA), v128Load(CS(g)), get(TAU), F64X2_SUB, F64X2_LT, V128_AND, tee(P), v128Store(PP(g)));
          e(get(XA), v128Load(RS(g)), set(RR), get(P), get(RR), F64X2_MUL, set(T));
          e(get(F), get(P), F64X2_ADD, set(F), get(D1), get(T), F64X2_ADD, set(D1));
          e(get(T), get(RR), F64X2_MUL, set(T), get(D2), get(T), F64X2_ADD, set(D2));
          e(get(D3), get(T), get(RR), F64X2_MUL, F64X2_ADD, set(D3));
        });
        e(END);
      });
      e(i32Const(0), set(ANY));
      each(({ W, F, ACTIVE, T, OK, LO, HI, TAU, REDO, D1, D2, D3, H3, Y, X, P, RR, VAL, VV }) => {
        // |f| <= (k + 4) eps: converged. Else the bracket moves to tau, and a bracket of a few
        // ulps ends the row too.
        e(get(ACTIVE), V128_ANY_TRUE, IF); // (nothing to do for a group whose lanes are done)
        e(get(F), F64X2_ABS, get(W), KC.f(4), F64X2_ADD, KC.f(EPS), F64X2_MUL, F64X2_LE, set(T));
        e(get(ACTIVE), get(T), V128_ANDNOT, set(ACTIVE));
        e(ZERO, get(F), F64X2_LT, set(OK)); // f > 0
        e(get(TAU), get(LO), get(ACTIVE), get(OK), V128_AND, V128_BITSELECT, set(LO));
        e(get(TAU), get(HI), get(ACTIVE), get(OK), V128_ANDNOT, V128_BITSELECT, set(HI));
        e(get(ACTIVE), get(HI), get(LO), F64X2_SUB, KC.f(2 * EPS), get(LO), F64X2_ABS, F64X2_MUL, F64X2_LE, V128_ANDNOT, set(ACTIVE));
        // Past NEWTON_PASSES the JavaScript path bisects: the row goes back to it.
        e(get(IT), i32Const(NEWTON_PASSES), I32_GE_S, IF, get(REDO), get(ACTIVE), V128_OR, set(REDO), ZERO, set(ACTIVE), END);
        // Householder on h = log F: h1 = -q d1 / F, h2 = q (q - 1) d2 / F - h1^2,
        // h3 = -q (q - 1) (q - 2) d3 / F - 3 h1 h2 - h1^3,
        // s3 = -h (6 h1^2 - 3 h h2) / (6 h1^3 - 6 h h1 h2 + h^2 h3); den = 2 h1^2 - h h2;
        // step = q >= HOUSEHOLDER_Q and s3 h h1 < 0 ? s3 : den > 0 ? -2 h h1 / den : -h / h1
        e(get(F), ONE, F64X2_ADD, set(X)); // F
        e(get(F), f64x2ExtractLane(0), call(LOG1P), F64X2_SPLAT, get(F), f64x2ExtractLane(1), call(LOG1P), f64x2ReplaceLane(1), set(Y)); // h
        e(get(VNEGQ), get(D1), F64X2_MUL, get(X), F64X2_DIV, set(P)); // h1
        e(get(VQQ1), get(D2), F64X2_MUL, get(X), F64X2_DIV, get(P), get(P), F64X2_MUL, F64X2_SUB, set(RR)); // h2
        e(get(VQQ2), get(D3), F64X2_MUL, get(X), F64X2_DIV, KC.f(3), get(P), F64X2_MUL, get(RR), F64X2_MUL, F64X2_SUB);
        e(get(P), get(P), F64X2_MUL, get(P), F64X2_MUL, F64X2_SUB, set(H3)); // h3
        e(get(Y), F64X2_NEG, KC.f(6), get(P), F64X2_MUL, get(P), F64X2_MUL, KC.f(3), get(Y), F64X2_MUL, get(RR), F64X2_MUL, F64X2_SUB, F64X2_MUL);
        e(KC.f(6), get(P), F64X2_MUL, get(P), F64X2_MUL, get(P), F64X2_MUL, KC.f(6), get(Y), F64X2_MUL, get(P), F64X2_MUL, get(RR), F64X2_MUL, F64X2_SUB);
        e(get(Y), get(Y), F64X2_MUL, get(H3), F64X2_MUL, F64X2_ADD, F64X2_DIV, set(H3)); // s3
        e(get(H3), get(Y), F64X2_MUL, get(P), F64X2_MUL, ZERO, F64X2_LT, get(VH3), V128_AND, set(T)); // s3 h h1 < 0
        e(KC.f(2), get(P), F64X2_MUL, get(P), F64X2_MUL, get(Y), get(RR), F64X2_MUL, F64X2_SUB, set(VAL)); // den
        e(get(H3), KC.f(-2), get(Y), F64X2_MUL, get(P), F64X2_MUL, get(VAL), F64X2_DIV);
        e(get(Y), F64X2_NEG, get(P), F64X2_DIV, ZERO, get(VAL), F64X2_LT, V128_BITSELECT);
        e(get(T), V128_BITSELECT, set(RR)); // step
        // newtonOrBisect: tau + step inside (lo, hi) and not tau; else if it rounds back to tau,
        // the next double towards the root (tau < 0: its bits - 1 upwards, + 1 downwards);
        // else the midpoint lo + (hi - lo) / 2
        e(get(TAU), get(RR), F64X2_ADD, set(X)); // next
        e(get(LO), get(X), F64X2_LT, get(X), get(HI), F64X2_LT, V128_AND, get(X), get(TAU), F64X2_NE, V128_AND, set(VAL)); // inside
        e(get(X), get(TAU), F64X2_EQ, set(VV)); // same
        e(get(TAU), KC.i(0, 1), I64X2_ADD, get(OK), get(OK), I64X2_ADD, I64X2_ADD, set(Y)); // adj
        e(get(LO), get(Y), F64X2_LT, get(Y), get(HI), F64X2_LT, V128_AND, get(VV), V128_AND, set(D1)); // adj ok
        e(get(X), get(Y), get(LO), KC.f(0.5), get(HI), get(LO), F64X2_SUB, F64X2_MUL, F64X2_ADD, get(D1), V128_BITSELECT);
        e(get(VAL), V128_BITSELECT, set(X));
        // a next-double step from tau = 0 (never seen) is left to the JavaScript path
        e(get(VV), get(TAU), ZERO, F64X2_EQ, V128_AND, get(ACTIVE), V128_AND, tee(D1), get(REDO), V128_OR, set(REDO));
        e(get(ACTIVE), get(D1), V128_ANDNOT, set(ACTIVE));
        e(get(X), get(TAU), get(ACTIVE), V128_BITSELECT, set(TAU));
        e(get(ACTIVE), V128_ANY_TRUE, get(ANY), I32_OR, set(ANY), END);
      });
      e(get(ANY), brIf(0));
    }
    e(END, END);
    // p was left in PP by the last pass, at the final tau: sum, support, 1 / sum
    each((G) => e(ZERO, set(G.SUM), ZERO, set(G.SUP)));
    forPlaces(() =>
      each(({ g, P, SUM, OK, SUP }) => {
        e(get(XA), v128Load(PP(g)), tee(P), get(SUM), F64X2_ADD, set(SUM));
        e(ZERO, get(P), F64X2_LT, set(OK), and1(OK), get(SUP), F64X2_ADD, set(SUP));
      }),
    );
    each(({ SUM, INV, KT, PTIED }) => e(ONE, get(SUM), F64X2_DIV, set(INV), ONE, get(KT), F64X2_DIV, set(PTIED)));
    // p back to the columns (0 for the rest)
    forClasses(() => each(({ g }) => e(get(XA), ZERO, v128Store(PCOL(g)))));
    each(({ g }) => {
      for (const lane of [0, 1]) {
        e(i32Const(0), set(J), BLOCK, LOOP, get(J), get(KM), I32_LT_U, I32_EQZ, brIf(1));
        e(get(J), i32Const(3), I32_SHL, i32Load(MAP(g) + 4 * lane), tee(I), i32Const(0), I32_GE_S, IF);
        e(get(I), i32Const(4), I32_SHL, get(J), i32Const(4), I32_SHL, f64Load(PP(g) + 8 * lane), f64Store(PCOL(g) + 8 * lane), END);
        e(get(J), i32Const(1), I32_ADD, set(J), br(0), END, END);
      }
    });
    // out: the tied closed form (1 / kt at x = 0), or p / sum over the candidates; zeros for a
    // dead lane; the input, unchanged, for a lane handed back
    forClasses(() =>
      each(({ g, PTIED, INV, TIED, DEAD, REDO, T, VV }) => {
        e(get(XA), v128Load(XO(g)), set(VV));
        e(get(PTIED), get(VV), ZERO, F64X2_EQ, V128_AND);
        e(get(XA), v128Load(PCOL(g)), get(INV), F64X2_MUL, get(VV), NEG_INF, F64X2_NE, V128_AND, get(TIED), V128_BITSELECT);
        e(get(DEAD), V128_ANDNOT, set(T));
        loadPair(g);
        e(get(T), get(REDO), V128_BITSELECT, set(T));
        storePair(g, T);
      }),
    );
    each(({ g, KT, SUP, TIED, DEAD, REDO, ITS }) => {
      e(get(P), i32Const(8 * GROUPS), I32_MUL, KC.f(-1), get(KT), get(SUP), get(TIED), V128_BITSELECT, get(DEAD), V128_ANDNOT);
      e(get(REDO), V128_BITSELECT, I32X4_TRUNC_SAT_F64X2_S_ZERO, store64Lane(0, CNT + 8 * g));
      e(get(P), i32Const(8 * GROUPS), I32_MUL, get(ITS), I32X4_TRUNC_SAT_F64X2_S_ZERO, store64Lane(0, PASSES_AT + 8 * g));
    });
  }
  e(get(P), i32Const(1), I32_ADD, set(P), get(BASE), get(STRIDE), i32Const(ROWS_PER), I32_MUL, I32_ADD, set(BASE));
  e(br(0), END, END, END);
  const nV128 = nv - 22;
  const run = [3, 11, I32, 2, F64, ...uleb(nV128), V128, ...code];

  // powers(ys, pp, rs, bytes, q): pp[i] = powUnit(ys[i], q), rs[i] = 1 / ys[i] (byte offsets)
  const pw: number[] = [];
  {
    const YA = 0, PA = 1, RA = 2, NB = 3, QQ = 4, O = 5, AI = [6, 7], VQ2 = 8, Y2 = 9;
    const T2 = Array.from({ length: 14 }, (_, i) => 10 + i);
    const ep: Emit = (...parts) => {
      for (const p of parts) pw.push(...p);
    };
    ep(get(QQ), F64X2_SPLAT, set(VQ2), i32Const(0), set(O), BLOCK, LOOP, get(O), get(NB), I32_LT_U, I32_EQZ, brIf(1));
    ep(get(YA), get(O), I32_ADD, v128Load(), set(Y2), get(PA), get(O), I32_ADD);
    vpow(ep, Y2, VQ2, T2, AI, KC);
    ep(v128Store(), get(RA), get(O), I32_ADD, KC.f(1), get(Y2), F64X2_DIV, v128Store());
    ep(get(O), i32Const(16), I32_ADD, set(O), br(0), END, END, END);
  }
  const powers = [2, 3, I32, 16, V128, ...pw];

  // vpow(y, q): lane 0 of the vector power of (y, y), for tests.
  const vpow1: number[] = [];
  {
    const eb: Emit = (...parts) => {
      for (const p of parts) vpow1.push(...p);
    };
    eb(get(0), F64X2_SPLAT, set(4), get(1), F64X2_SPLAT, set(5));
    vpow(eb, 4, 5, Array.from({ length: 14 }, (_, i) => 6 + i), [2, 3]);
    eb(f64x2ExtractLane(0), END);
  }
  const vpowFn = [2, 2, I32, 16, V128, ...vpow1];

  const fn = (body: number[]) => [...uleb(body.length), ...body];
  return new Uint8Array([

    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // types: 0 = (f64) -> f64, 1 = run's (i32 i32 f64 f64 i32 f64 f64 f64 i32) -> (),
    // 2 = powers' (i32 i32 i32 i32 f64) -> (), 3 = (f64 f64) -> f64
    ...section(1, [4, 0x60, 1, F64, 1, F64, 0x60, 9, I32, I32, F64, F64, I32, F64, F64, F64, I32, 0, 0x60, 5, I32, I32, I32, I32, F64, 0, 0x60, 2, F64, F64, 1, F64]),
    ...section(3, [4, 0, 1, 3, 2]), // log1p, run, vpow, powers
    ...section(5, [1, 0x00, 16]), // memory: 16 pages (1 MiB)
    ...section(7, [5, ...name('log1p'), 0x00, 0, ...name('run'), 0x00, 1, ...name('vpow'), 0x00, 2, ...name('powers'), 0x00, 3, ...name('memory'), 0x02, 0]),
    ...section(10, [4, ...fn(log1pBody()), ...fn(run), ...fn(vpowFn), ...fn(powers)]),
  ]);
}

interface Kernel {
  run(quads: number, cols: number, invT: number, T: number, mode: number, am1: number, q: number, qq1: number, bound: number): void;
  log1p(x: number): number;
  vpow(y: number, q: number): number;
  powers(ys: number, pp: number, rs: number, bytes: number, q: number): void;
  y: Float64Array;
  heap: Float64Array;
  counts: Int32Array;
  passes: Int32Array;
}

function load(): Kernel | null {
  const consts: number[][] = [];
  const exports = instantiate(assemble(consts));
  if (exports === null) return null;
  const memory = exports.memory as WasmMemory;
  const heap = new Float64Array(memory.buffer);
  consts.forEach((bytes, i) => new Uint8Array(memory.buffer).set(bytes, CONST_AT + 16 * i));
  heap.set(FRAC, FRAC_AT / 8);
  for (let i = 0; i < 256; i++) heap.set([C[i], INV_C[i], LOG2_C[i], 0], (LOG_AT + 32 * i) / 8);
  return {
    run: exports.run as Kernel['run'],
    log1p: exports.log1p as Kernel['log1p'],
    vpow: exports.vpow as Kernel['vpow'],
    powers: exports.powers as Kernel['powers'],
    y: new Float64Array(memory.buffer, 0, POWERS_CHUNK + 2),
    heap,
    counts: new Int32Array(memory.buffer, CNT, TILE),
    passes: new Int32Array(memory.buffer, PASSES_AT, TILE),
  };
}

const kernel = load();

/**
 * The kernel's powers for the JavaScript path's long rows (./entmax.ts entmaxThreshold):
 * p[j] = powUnit(y[j], q) and r[j] = 1 / y[j] for j < n <= POWERS_CHUNK, two at a time, the
 * doubles ./pow.ts and the division give, and p[n], r[n] those of a pad y[n] = 0.75 (so that
 * p[n] and r[n] are finite). y, p and r are views of the kernel's memory (its row tile, free
 * while no short-row call runs); null where WebAssembly SIMD is unavailable.
 */
export const powerBuffers =
  kernel === null
    ? null
    : {
        y: new Float64Array(kernel.heap.buffer, 0, POWERS_CHUNK + 2),
        p: new Float64Array(kernel.heap.buffer, P_AT, POWERS_CHUNK + 2),
        r: new Float64Array(kernel.heap.buffer, R_AT, POWERS_CHUNK + 2),
      };

export function simdPowers(n: number, q: number): void {
  if (kernel === null) return;
  kernel.y[n] = 0.75; // the pad, and the odd lane past it, if any: plain arguments
  kernel.y[n + 1] = 0.75;
  kernel.powers(0, P_AT, R_AT, 8 * (n + 1), q);
}

/** Whether the WebAssembly SIMD path is available here. */
export const entmaxSimdAvailable = kernel !== null;

/** The kernel's scalar log1p at x and vector power y^q (for tests); NaN without SIMD. */
export const simdLog1p = (x: number): number => (kernel ? kernel.log1p(x) : NaN);
export const simdPow = (y: number, q: number): number => (kernel ? kernel.vpow(y, q) : NaN);

/**
 * alpha-entmax (alpha - 1 = am1 >= NEAR_ONE of ./entmax.ts, alpha not 1.5 or 2) of rows of at
 * most 32 classes into out and support, with invT = exactReciprocal(T) (0: divide by T) and
 * q = 1 / am1. Rows the kernel hands back get support -1 and their input in out, for the caller
 * to map. Returns the most solver passes of a row (entmaxStats), or -1, doing nothing, where
 * WebAssembly SIMD is unavailable.
 */
export function entmaxShortSimd(
  data: Float64Array,
  rows: number,
  cols: number,
  temperature: number,
  invT: number,
  am1: number,
  q: number,
  out: Float64Array,
  support: Int32Array,
): number {
  if (kernel === null || cols > 32 || cols < 1) return -1;
  const { heap, counts, passes } = kernel;
  for (let j = 0; j <= 32; j++) heap[POWK_AT / 8 + j] = Math.pow(j, -am1);
  const perTile = Math.floor(TILE / cols / ROWS_PER) * ROWS_PER;
  const mode = invT ? 0 : 1;
  let most = 0;
  for (let r = 0; r < rows; r += perTile) {
    const n = Math.min(perTile, rows - r);
    const from = r * cols;
    heap.set(data.subarray(from, from + n * cols), 0);
    kernel.run(Math.ceil(n / ROWS_PER), cols, invT || 1, temperature, mode, am1, q, q * (q - 1), am1 < 1 ? 1 : 0);
    out.set(heap.subarray(0, n * cols), from);
    support.set(counts.subarray(0, n), r);
    for (let i = 0; i < n; i++) if (passes[i] > most) most = passes[i];
  }
  return most;
}
