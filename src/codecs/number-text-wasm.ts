/**
 * Shortest round-trip doubles as JSON text, a whole range at a time, in WebAssembly: the same
 * bytes as ./number-text.ts writeNumber (JSON.stringify's: ECMAScript Number::toString, -0 -> 0,
 * NaN and +-Infinity -> null), with the separators of ./json-text.ts formatRangeBytes.
 *
 * Digits: Schubfach (R. Giulietti, "The Schubfach way to render doubles", 2020), with the exact
 * integer arithmetic JavaScript lacks. For x = c 2^q (c < 2^53) take k = floor(log10(2^q)), or
 * floor(log10(3/4 2^q)) when x is a power of two whose lower neighbour is closer (c = 2^52, q >
 * -1074); then the rounding interval of x, [c - 1/2 (1/4), c + 1/2] 2^q, scaled by 10^-k has
 * width in [1, 10): it holds at most one multiple of 10, whose digits (trailing zeros dropped)
 * are then the shortest, and otherwise the closest of s = floor(v) and s + 1 (ties to even s)
 * that lies inside, v = c 2^q 10^-k. Inclusive ends when c is even (round-half-even reading).
 * The scaled values are computed as in the paper: with g = floor(10^-k 2^-r) + 1 in [2^125,
 * 2^126) (r = floor(log2 10^-k) - 125, a 617-entry table made with BigInt at load) and
 * h = q + floor(log2 10^-k) + 3 in [1, 6], 4v, 4 v_left and 4 v_right are
 * rop(g (4c) 2^h), rop(g (4c - 2 or 1) 2^h), rop(g (4c + 2) 2^h), where rop(y) is y 2^-128
 * rounded to odd: the floor, with its lowest bit set when the 64 bits below the unit are not all
 * zero (g's excess adds less than 2^-67 of a unit, so an exact integer stays even); the paper
 * shows the comparisons of these with the candidates times 4 decide as exact arithmetic would.
 * One 126 x 61-bit product per number, P = g (4c 2^h) in three 64-bit words (two 64 x 64 -> 128
 * products, each from four 32 x 32 -> 64: WASM has no 64-bit high multiply); the interval ends
 * are P -+ g 2^(h+1) (g 2^h for the closer lower neighbour), added exactly with carries. The
 * choice among s, s + 1 and the multiples of 10 is branch-free (selects). Integers below 2^53
 * are their own digits, without the search.
 *
 * Layout (as ./number-text.ts layout): with d1..dm the digits and x = 0.d1..dm 10^n, positional
 * for -6 < n <= 21 (zeros appended, a point inserted, or "0.000" prepended), d1.d2..dme±(n-1)
 * otherwise. Digits are made in registers, 4 at a time from a table of "0000".."9999", and
 * stored 8 bytes at a time into place (bytes past the text are garbage that the next value
 * overwrites, or past its end).
 *
 * Batch: JS copies a tile of values into WASM memory (TypedArray.set, which also converts an
 * Int32Array), one call of the module's one function (fmt: the per-value writer inlined, as a
 * call per value spilled the loop's locals) formats the tile with its separators (',' and, for a
 * matrix, '],[' before each row's first element but the very first), and the text is copied out.
 * A value equal to the previous one (bit for bit) copies its bytes. Memory: the digit table at
 * QUADS, 10^t at P10, floor(log2 10^-k) at FTAB, g at GTAB, k per q at KS/KA, the values at IN,
 * the text at OUT. Measured (bench/number-text.ts) ~3x faster than the JS writer on
 * probabilities.
 *
 * Hand-written because the alternative, a JS writer, pays for double-double arithmetic and a
 * BigInt fallback (no 64-bit integers), ~100 ns a number; no npm package writes into bytes.
 */
import {
  BLOCK, ELSE, END, I32, I32_ADD, I32_AND, I32_DIV_U, I32_EQ, I32_EQZ, I32_GE_U, I32_GT_S, I32_GT_U,
  I32_LE_S, I32_LT_S, I32_LT_U, I32_MUL, I32_NE, I32_OR, I32_REM_U, I32_SHL, I32_SHR_U, I32_SUB,
  I32_WRAP_I64, I64, I64_ADD, I64_AND, I64_CLZ, I64_DIV_U, I64_EQ, I64_EQZ, I64_EXTEND_I32_U, I64_GE_U,
  I64_GT_S, I64_LE_U, I64_LT_S, I64_LT_U, I64_MUL, I64_NE, I64_OR, I64_SHL, I64_SHR_U, I64_SUB, IF, IF_I32,
  LOOP, SELECT, br, brIf, call, get, i32Const, i32Load, i32Load8U, i32Store, i32Store16, i32Store8, i64Const,
  i64Load, i64Store, instantiate, name, section, set, tee, uleb, type WasmMemory,
} from '../core/wasm.js';
import { copyBytes } from './copy.js';
import { FLOOR_LOG10_POW2, FLOOR_LOG10_POW2_34, NUMBER_MAX_BYTES } from './number-text.js';

/** k = -e ranges over [K_MIN, K_MAX] for q in [-1074, 971]. */
const K_MIN = -324;
const K_MAX = 292;
/** "0000" to "9999", 4 bytes each. */
const QUADS = 0;
/** 10^t as i64, t in [0, 17]. */
const P10 = 40960;
const FTAB = 41216;
const GTAB = 45056;
const KS = 55296;
const KA = KS + 2048 * 4;
/** Values formatted per call. */
const TILE = 8192;
const IN = KA + 2048 * 4;
/** Bytes of one element's text at most, with its separator (json-text.ts ELEMENT_BYTES). */
const ELEMENT_BYTES = NUMBER_MAX_BYTES + 3;
const OUT = IN + TILE * 8;
/** The text of a tile, and what the last value may write past its end (up to 41 bytes). */
const OUT_BYTES = TILE * ELEMENT_BYTES + 64;
const PAGES = Math.ceil((OUT + OUT_BYTES) / 65536);

const M32 = 0xffffffffn;
/** block with an i32 result. */
const BLOCK_I32 = [0x02, I32];

type Code = number[];
const cat = (...parts: Code[]): Code => parts.flat();

/**
 * hi:lo = a * b (64 x 64 -> 128 bits, unsigned) from the 32-bit halves a1:a0 and b1:b0 (i64
 * locals); t1, t2 scratch. The middle sum cannot overflow: 3 (2^32 - 1) + (2^32 - 1)^2 < 2^64.
 */
function mul128(a0: number, a1: number, b0: number, b1: number, hi: number, lo: number, t1: number, t2: number): Code {
  return cat(
    get(a0), get(b0), I64_MUL, set(t1), // a0 b0
    get(a1), get(b0), I64_MUL, set(t2), // a1 b0
    get(t1), i64Const(32n), I64_SHR_U, get(t2), i64Const(M32), I64_AND, I64_ADD, get(a0), get(b1), I64_MUL, I64_ADD, set(lo), // middle
    get(t2), i64Const(32n), I64_SHR_U, get(lo), i64Const(32n), I64_SHR_U, I64_ADD, get(a1), get(b1), I64_MUL, I64_ADD, set(hi),
    get(lo), i64Const(32n), I64_SHL, get(t1), i64Const(M32), I64_AND, I64_OR, set(lo),
  );
}

/** Local index allocation: params first, then i32 locals, then i64 locals. */
function locals(params: number, i32s: number, i64s: number) {
  let next = params;
  return { i32: () => next++, i64: () => next++, decl: [2, ...uleb(i32s), I32, ...uleb(i64s), I64] as Code };
}

/** The 8 ASCII digits of the i32 below 10^8 that `v` pushes, as an i64 (first digit in the low byte); q is a scratch i32 local. */
function ascii8(v: Code, q: number): Code {
  return cat(
    v, i32Const(10000), I32_DIV_U, set(q),
    get(q), i32Const(2), I32_SHL, i32Load(QUADS), I64_EXTEND_I32_U,
    v, get(q), i32Const(10000), I32_MUL, I32_SUB, i32Const(2), I32_SHL, i32Load(QUADS), I64_EXTEND_I32_U, i64Const(32n), I64_SHL,
    I64_OR,
  );
}

/**
 * The m digits (1 <= m <= 17, leading zeros included) of v = hi 10^8 + lo (v < 10^m; i32 locals)
 * at byte dst (an i32 local), by whole 8-byte stores of digits made in registers (digits stored
 * and read back narrower or wider stall the store-to-load forwarding). Writes up to byte
 * dst + max(m, 8), garbage past the digits. a, s and q are scratch i32 locals. Inline: a call
 * per use spilled the caller's locals.
 */
function digits(dst: number, hi: number, lo: number, m: number, a: number, s: number, q: number): Code {
  return cat(
    get(m), i32Const(8), I32_GT_U, IF,
    // v = a 10^16 + b 10^8 + lo: the digit a, then b's 8 digits less the first 17 - m - 1 ...
    get(hi), i32Const(100000000), I32_DIV_U, set(a),
    get(dst), get(a), i32Const(48), I32_ADD, i32Store8(),
    i32Const(17), get(m), I32_SUB, set(s),
    get(dst), get(s), I32_EQZ, I32_ADD,
    ascii8(cat(get(hi), get(a), i32Const(100000000), I32_MUL, I32_SUB), q),
    get(s), i32Const(1), I32_SUB, i32Const(0), get(s), SELECT, i32Const(3), I32_SHL, I64_EXTEND_I32_U, I64_SHR_U,
    i64Store(),
    // ... then lo's 8.
    get(dst), get(m), I32_ADD, i32Const(8), I32_SUB, ascii8(get(lo), q), i64Store(),
    ELSE,
    get(dst), ascii8(get(lo), q), i32Const(8), get(m), I32_SUB, i32Const(3), I32_SHL, I64_EXTEND_I32_U, I64_SHR_U, i64Store(),
    END,
  );
}

/**
 * The layout of the decimal f 10^k (0 < f < 10^17; F an i64 local, K an i32 local) in
 * Number::toString's layout at byte AT (an i32 local), leaving the end on the stack (or
 * returning it), writing up to 41 bytes past AT: garbage that the following text overwrites or
 * that lies past its end. Its 16 locals from `base` (decl: their declaration groups).
 */
function layoutCode(F: number, K: number, AT: number, base: number, exit: (depth: number) => Code): { decl: Code; body: Code } {
  const [HI, LO, LEN, TZ, L, T, KD, N, E] = Array.from({ length: 9 }, (_, i) => base + i);
  const [H, R] = [base + 9, base + 10];
  const [DST, M, DA, DS, DQ] = Array.from({ length: 5 }, (_, i) => base + 11 + i);
  /** digits(dst, HI, LO, m) with dst and m pushed by the given code. */
  const digitsAt = (dst: Code, m: Code): Code => cat(dst, set(DST), m, set(M), digits(DST, HI, LO, M, DA, DS, DQ));
  /** HI, LO = the i64 local v split at 10^8. */
  const split = (v: number): Code => cat(
    get(v), i64Const(100000000n), I64_DIV_U, I32_WRAP_I64, set(HI),
    get(v), I32_WRAP_I64, get(HI), i32Const(100000000), I32_MUL, I32_SUB, set(LO), // exact modulo 2^32
  );
  const positional = cat(get(N), i32Const(0), I32_GT_S, get(N), i32Const(21), I32_LE_S, I32_AND);
  const body = cat(
    split(F),
    // Digits: t = floor(bits log10 2) is floor(log10 f) or one less.
    i32Const(64), get(F), I64_CLZ, I32_WRAP_I64, I32_SUB, i32Const(1233), I32_MUL, i32Const(12), I32_SHR_U, tee(T),
    get(F), get(T), i32Const(3), I32_SHL, i64Load(P10), I64_GE_U, I32_ADD, set(LEN),
    // Trailing zeros.
    get(LO), set(L), i32Const(0), set(TZ),
    get(LO), I32_EQZ, IF, i32Const(8), set(TZ), get(HI), set(L), END,
    BLOCK, LOOP,
    get(L), i32Const(10), I32_DIV_U, set(T),
    get(L), get(T), i32Const(10), I32_MUL, I32_NE, brIf(1),
    get(TZ), i32Const(1), I32_ADD, set(TZ), get(T), set(L), br(0),
    END, END,
    get(LEN), get(TZ), I32_SUB, set(KD),
    get(K), get(LEN), I32_ADD, set(N),
    positional, IF,
    get(KD), get(N), I32_LE_S, IF,
    // An integer: its digits, then zeros up to 10^n (at most 20).
    digitsAt(get(AT), get(LEN)),
    ...[0, 8, 16].map((o) => cat(get(AT), get(LEN), I32_ADD, i64Const(0x3030303030303030n), i64Store(o))),
    get(AT), get(N), I32_ADD, exit(2),
    END,
    // A point among the digits: f = head 10^(len - n) + tail.
    get(F), get(LEN), get(N), I32_SUB, i32Const(3), I32_SHL, i64Load(P10), tee(R), I64_DIV_U, set(H),
    get(F), get(H), get(R), I64_MUL, I64_SUB, set(R),
    split(H), digitsAt(get(AT), get(N)),
    get(AT), get(N), I32_ADD, i32Const(46), i32Store8(),
    split(R), digitsAt(cat(get(AT), get(N), I32_ADD, i32Const(1), I32_ADD), cat(get(LEN), get(N), I32_SUB)),
    get(AT), i32Const(1), I32_ADD, get(KD), I32_ADD, exit(1),
    END,
    // 0.000ddd (-6 < n <= 0)
    get(N), i32Const(5), I32_ADD, i32Const(6), I32_LT_U, IF,
    get(AT), i64Const(0x3030303030302e30n), i64Store(), // "0.000000"
    get(AT), i32Const(2), I32_ADD, get(N), I32_SUB, set(AT),
    digitsAt(get(AT), get(LEN)),
    get(AT), get(KD), I32_ADD, exit(1),
    END,
    // d.ddde±n: the digits one byte on, then the first moved back over it.
    digitsAt(cat(get(AT), i32Const(1), I32_ADD), get(LEN)),
    get(AT), get(AT), i32Load8U(1), i32Store8(),
    get(KD), i32Const(1), I32_GT_S, IF_I32,
    get(AT), i32Const(46), i32Store8(1), get(AT), get(KD), I32_ADD, i32Const(1), I32_ADD,
    ELSE, get(AT), i32Const(1), I32_ADD, END, set(AT),
    get(N), i32Const(1), I32_SUB, set(E),
    get(E), i32Const(0), I32_LT_S, IF,
    get(AT), i32Const(0x2d65), i32Store16(), i32Const(0), get(E), I32_SUB, set(E), // "e-"
    ELSE, get(AT), i32Const(0x2b65), i32Store16(), END, // "e+"
    get(AT), i32Const(2), I32_ADD, set(AT),
    get(E), i32Const(100), I32_GE_U, IF,
    get(AT), get(E), i32Const(100), I32_DIV_U, i32Const(48), I32_ADD, i32Store8(),
    get(E), i32Const(100), I32_REM_U, set(E),
    get(AT), get(E), i32Const(10), I32_DIV_U, i32Const(48), I32_ADD, i32Store8(1),
    get(AT), i32Const(2), I32_ADD, set(AT),
    ELSE,
    get(E), i32Const(10), I32_GE_U, IF,
    get(AT), get(E), i32Const(10), I32_DIV_U, i32Const(48), I32_ADD, i32Store8(),
    get(AT), i32Const(1), I32_ADD, set(AT),
    END,
    END,
    get(AT), get(E), i32Const(10), I32_REM_U, i32Const(48), I32_ADD, i32Store8(),
    get(AT), i32Const(1), I32_ADD,
  );
  return { decl: [9, I32, 2, I64, 5, I32], body };
}

/**
 * The double with the bits in the i64 local BITS as JSON text at byte AT (an i32 local, moved past
 * a sign), the end left on the stack or given to exit(depth) (depth: the constructs it is nested
 * in). Its locals from `base` (decl: their declaration groups).
 */
function writeCode(BITS: number, AT: number, base: number, exit: (depth: number) => Code): { decl: Code; body: Code } {
  const l = locals(base, 7, 27);
  const [Q, K, ASYM, BE, IDX, UP, WP] = [l.i32(), l.i32(), l.i32(), l.i32(), l.i32(), l.i32(), l.i32()];
  const [C, GH, GL, GH0, GH1, GL0, GL1, B0, B1, PH, PL, XH, XL] = Array.from({ length: 13 }, l.i64);
  const [T1, T2, W1, W2, D0, D1, D2, VB, VBL, VBR, S, SP, HS, F] = Array.from({ length: 14 }, l.i64);
  const layout = layoutCode(F, K, AT, base + 7 + 27, exit);
  /** D = g 2^s (s in [1, 7], an i64 on the stack) as three words. */
  const shifted = (s: Code): Code => cat(
    s, set(T1),
    get(GL), get(T1), I64_SHL, set(D0),
    get(GH), get(T1), I64_SHL, get(GL), i64Const(64n), get(T1), I64_SUB, tee(T2), I64_SHR_U, I64_OR, set(D1),
    get(GH), get(T2), I64_SHR_U, set(D2),
  );
  /** (w2 | (w1 != 0)) of a three-word value on the stack as w2, w1: rop (see the top). */
  const rop = (w2: Code, w1: Code): Code => cat(w2, w1, i64Const(0n), I64_NE, I64_EXTEND_I32_U, I64_OR);
  const body = cat(
    get(BITS), i64Const(0x7fffffffffffffffn), I64_AND, set(C),
    get(C), I64_EQZ, IF, get(AT), i32Const(48), i32Store8(), get(AT), i32Const(1), I32_ADD, exit(1), END, // 0 and -0
    get(C), i64Const(0x7ff0000000000000n), I64_GE_U, IF, get(AT), i32Const(0x6c6c756e), i32Store(), get(AT), i32Const(4), I32_ADD, exit(1), END, // null
    get(BITS), i64Const(0n), I64_LT_S, IF, get(AT), i32Const(45), i32Store8(), get(AT), i32Const(1), I32_ADD, set(AT), END,
    get(C), i64Const(52n), I64_SHR_U, I32_WRAP_I64, set(BE),
    get(C), i64Const((1n << 52n) - 1n), I64_AND, set(C),
    get(BE), IF,
    get(C), i64Const(1n << 52n), I64_OR, set(C), get(BE), i32Const(1075), I32_SUB, set(Q),
    ELSE, i32Const(-1074), set(Q), END,
    // The decimal f 10^k: then its layout.
    BLOCK,
    // An integer below 2^53 (q in [-52, 0], no fraction bits) is its own digits.
    get(Q), i32Const(52), I32_ADD, i32Const(53), I32_LT_U, IF,
    get(C), i64Const(1n), i32Const(0), get(Q), I32_SUB, I64_EXTEND_I32_U, tee(HS), I64_SHL, i64Const(1n), I64_SUB, I64_AND, I64_EQZ, IF,
    get(C), get(HS), I64_SHR_U, set(F), i32Const(0), set(K), br(2),
    END,
    END,
    // k, g and h.
    get(C), i64Const(1n << 52n), I64_EQ, get(BE), i32Const(1), I32_GT_U, I32_AND, set(ASYM),
    get(Q), i32Const(1074), I32_ADD, i32Const(2), I32_SHL, set(IDX),
    get(IDX), i32Load(KA), get(IDX), i32Load(KS), get(ASYM), SELECT, set(K),
    get(K), i32Const(-K_MIN), I32_ADD, set(IDX),
    get(Q), get(IDX), i32Const(2), I32_SHL, i32Load(FTAB), I32_ADD, i32Const(3), I32_ADD, I64_EXTEND_I32_U, set(HS),
    get(IDX), i32Const(4), I32_SHL, i64Load(GTAB), tee(GH), i64Const(M32), I64_AND, set(GH0), get(GH), i64Const(32n), I64_SHR_U, set(GH1),
    get(IDX), i32Const(4), I32_SHL, i64Load(GTAB + 8), tee(GL), i64Const(M32), I64_AND, set(GL0), get(GL), i64Const(32n), I64_SHR_U, set(GL1),
    // P = g (4c 2^h) as three words: P = W2 2^128 + W1 2^64 + XL; 4v = rop(P).
    get(C), i64Const(2n), I64_SHL, get(HS), I64_SHL, tee(T1), i64Const(M32), I64_AND, set(B0), get(T1), i64Const(32n), I64_SHR_U, set(B1),
    mul128(GH0, GH1, B0, B1, PH, PL, T1, T2),
    mul128(GL0, GL1, B0, B1, XH, XL, T1, T2),
    get(PL), get(XH), I64_ADD, set(W1),
    get(PH), get(W1), get(XH), I64_LT_U, I64_EXTEND_I32_U, I64_ADD, set(W2),
    rop(get(W2), get(W1)), set(VB),
    // 4 v_right = rop(P + g 2^(h+1)), exactly (carries included).
    shifted(cat(get(HS), i64Const(1n), I64_ADD)),
    get(XL), get(D0), I64_ADD, tee(T1), get(XL), I64_LT_U, I64_EXTEND_I32_U, set(T1), // carry out of word 0
    get(W1), get(D1), I64_ADD, tee(T2), get(W1), I64_LT_U, I64_EXTEND_I32_U, // carry of w1 + d1
    get(T2), get(T1), I64_ADD, tee(T2), get(T1), I64_LT_U, I64_EXTEND_I32_U, I64_OR, // or of (+ carry)
    get(W2), I64_ADD, get(D2), I64_ADD, set(T1),
    rop(get(T1), get(T2)), set(VBR),
    // 4 v_left = rop(P - g 2^(h+1)), or P - g 2^h for the closer lower neighbour.
    shifted(cat(get(HS), i64Const(1n), I64_ADD, get(ASYM), I64_EXTEND_I32_U, I64_SUB)),
    get(XL), get(D0), I64_LT_U, I64_EXTEND_I32_U, set(T1), // borrow out of word 0
    get(W1), get(D1), I64_LT_U, I64_EXTEND_I32_U, // borrow of w1 - d1
    get(W1), get(D1), I64_SUB, tee(T2), get(T1), I64_LT_U, I64_EXTEND_I32_U, I64_OR, // or of (- borrow)
    get(T2), get(T1), I64_SUB, set(T2),
    set(T1), get(W2), get(D2), I64_SUB, get(T1), I64_SUB, set(T1),
    rop(get(T1), get(T2)), set(VBL),
    get(VB), i64Const(2n), I64_SHR_U, set(S),
    get(C), i64Const(1n), I64_AND, set(T1), // 1: an odd c excludes the interval's ends
    // Branch-free (which case applies is data-dependent, so branches mispredict often).
    // s or s + 1: at least one is inside; the closer if both (4v - (4s + 2) > 0, or 0 and s odd).
    get(VBL), get(T1), I64_ADD, get(S), i64Const(2n), I64_SHL, I64_LE_U, set(UP),
    get(S), i64Const(1n), I64_ADD, i64Const(2n), I64_SHL, get(T1), I64_ADD, get(VBR), I64_LE_U, set(WP),
    get(VB), get(S), i64Const(2n), I64_SHL, i64Const(2n), I64_ADD, I64_SUB, tee(T2), i64Const(0n), I64_GT_S,
    get(T2), I64_EQZ, get(S), I32_WRAP_I64, I32_AND, I32_OR, // s + 1 closer (the low bit of s in bit 0)
    i32Const(1), I32_AND, get(WP), I32_AND, i32Const(1), get(UP), SELECT, // s + 1 chosen
    I64_EXTEND_I32_U, get(S), I64_ADD, set(T2),
    // But a multiple of 10 inside (sp <= v < sp + 10, at most one of them is) is shorter.
    get(S), i64Const(10n), I64_DIV_U, i64Const(10n), I64_MUL, set(SP),
    get(VBL), get(T1), I64_ADD, get(SP), i64Const(2n), I64_SHL, I64_LE_U, set(UP),
    get(SP), i64Const(10n), I64_ADD, i64Const(2n), I64_SHL, get(T1), I64_ADD, get(VBR), I64_LE_U, set(WP),
    get(SP), get(SP), i64Const(10n), I64_ADD, get(UP), SELECT, get(T2), get(UP), get(WP), I32_NE, SELECT,
    set(F),
    END,
    layout.body,
  );
  return { decl: [...l.decl.slice(1), ...layout.decl], body };
}

/** fmt(n, i, width, matrix) -> bytes: the n values at IN, the first being element i, as text at OUT. */
function fmtFn(): Code {
  const [N, I, WIDTH, MATRIX] = [0, 1, 2, 3];
  const l = locals(4, 6, 2);
  const [J, AT, COL, FROM, TO, P] = [l.i32(), l.i32(), l.i32(), l.i32(), l.i32(), l.i32()];
  const [BITS, PREV] = [l.i64(), l.i64()];
  // Inline (the call spilled the loop's locals): its exits are branches out of a block of type i32.
  const write = writeCode(BITS, AT, 4 + 6 + 2, (depth) => br(depth));
  return cat(
    [2 + 5, ...l.decl.slice(1), ...write.decl],
    i32Const(OUT), set(AT),
    get(MATRIX), IF, get(I), get(WIDTH), I32_REM_U, set(COL), END,
    BLOCK, LOOP,
    get(J), get(N), I32_GE_U, brIf(1),
    get(I), get(J), I32_ADD, IF,
    get(MATRIX), get(COL), I32_EQZ, I32_AND, IF,
    get(AT), i32Const(0x2c5d), i32Store16(), get(AT), i32Const(0x5b), i32Store8(2), get(AT), i32Const(3), I32_ADD, set(AT), // "],["
    ELSE,
    get(AT), i32Const(44), i32Store8(), get(AT), i32Const(1), I32_ADD, set(AT),
    END,
    END,
    get(J), i32Const(3), I32_SHL, i64Load(IN), set(BITS),
    get(BITS), get(PREV), I64_EQ, get(J), i32Const(0), I32_NE, I32_AND, IF,
    // The same bits as the value before: a copy of its text.
    get(FROM), set(P),
    BLOCK, LOOP,
    get(P), get(TO), I32_GE_U, brIf(1),
    get(AT), get(P), i32Load8U(), i32Store8(), get(AT), i32Const(1), I32_ADD, set(AT), get(P), i32Const(1), I32_ADD, set(P), br(0),
    END, END,
    ELSE,
    get(AT), set(FROM), BLOCK_I32, write.body, END, tee(AT), set(TO), get(BITS), set(PREV),
    END,
    get(J), i32Const(1), I32_ADD, set(J),
    get(MATRIX), IF, get(COL), i32Const(1), I32_ADD, tee(COL), get(WIDTH), I32_EQ, IF, i32Const(0), set(COL), END, END,
    br(0),
    END, END,
    get(AT), i32Const(OUT), I32_SUB,
    END,
  );
}

function assemble(): Uint8Array {
  const fn = (code: Code) => [...uleb(code.length), ...code];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    // type 0: fmt (i32 x4) -> i32
    ...section(1, [1, 0x60, 4, I32, I32, I32, I32, 1, I32]),
    ...section(3, [1, 0]),
    ...section(5, [1, 0x00, PAGES]),
    ...section(7, [2, ...name('fmt'), 0x00, 0, ...name('memory'), 0x02, 0]),
    ...section(10, [1, ...fn(fmtFn())]),
  ]);
}

const bitLength = (n: bigint) => n.toString(2).length;

/** The tables: digit pairs, and per k floor(log2 10^-k) and g = floor(10^-k 2^-r) + 1 (see the top). */
function fillTables(memory: WasmMemory): void {
  const bytes = new Uint8Array(memory.buffer);
  const i32 = new Int32Array(memory.buffer);
  const u64 = new BigUint64Array(memory.buffer);
  for (let i = 0; i < 10000; i++) {
    const d = String(i).padStart(4, '0');
    for (let j = 0; j < 4; j++) bytes[QUADS + 4 * i + j] = d.charCodeAt(j);
  }
  for (let t = 0; t <= 17; t++) u64[(P10 >> 3) + t] = 10n ** BigInt(t);
  for (let k = K_MIN; k <= K_MAX; k++) {
    const e = -k;
    let f: number;
    let g: bigint;
    if (e >= 0) {
      const n = 10n ** BigInt(e);
      f = bitLength(n) - 1;
      const r = f - 125;
      g = (r >= 0 ? n >> BigInt(r) : n << BigInt(-r)) + 1n;
    } else {
      const d = 10n ** BigInt(-e);
      f = -bitLength(d); // d is not a power of two
      g = (1n << BigInt(125 - f)) / d + 1n;
    }
    if (g < 1n << 125n || g >= 1n << 126n) throw new Error(`number-text-wasm: g(${k}) out of range`);
    const idx = k - K_MIN;
    i32[(FTAB >> 2) + idx] = f;
    u64[(GTAB >> 3) + 2 * idx] = g >> 64n;
    u64[(GTAB >> 3) + 2 * idx + 1] = g & 0xffffffffffffffffn;
  }
  for (let q = -1074; q <= 971; q++) {
    const ks = FLOOR_LOG10_POW2[q + 1074];
    const ka = FLOOR_LOG10_POW2_34[q + 1074];
    i32[(KS >> 2) + q + 1074] = ks;
    i32[(KA >> 2) + q + 1074] = ka;
    // h = q + floor(log2 10^-k) + 3 keeps (4c + 2) 2^h below 2^64.
    for (const k of [ks, ka]) {
      const h = q + i32[(FTAB >> 2) + k - K_MIN] + 3;
      if (k < K_MIN || k > K_MAX || h < 1 || h > 6) throw new Error(`number-text-wasm: h(${q}) = ${h}`);
    }
  }
}

interface Writer {
  fmt(n: number, i: number, width: number, matrix: number): number;
  in: Float64Array;
  out: Uint8Array;
}

function load(): Writer | null {
  const exports = instantiate(assemble());
  if (exports === null) return null;
  const memory = exports.memory as WasmMemory;
  fillTables(memory);
  return {
    fmt: exports.fmt as Writer['fmt'],
    in: new Float64Array(memory.buffer, IN, TILE),
    out: new Uint8Array(memory.buffer, OUT, OUT_BYTES),
  };
}

const writer = load();

/** Whether the WebAssembly writer is available here (else callers use ./number-text.ts). */
export const numberTextWasmAvailable = writer !== null;

let enabled = true;

/**
 * Turns the WebAssembly writer off (writeRangeWasm then returns -1, so callers take the JS path)
 * or back on, for tests of both paths; returns the previous setting.
 */
export function useNumberTextWasm(on: boolean): boolean {
  const was = enabled;
  enabled = on;
  return was;
}

/**
 * Elements [i0, i1) of buf as JSON text with json-text.ts formatRange's separators (element i > 0
 * is preceded by "],[" if matrix and i % width === 0, else by ","), written into out from `at`;
 * returns the end. out needs 28 bytes an element of room. Returns -1, writing nothing, where
 * WebAssembly is unavailable or a matrix's width is not positive.
 */
export function writeRangeWasm(buf: Float64Array | Int32Array, width: number, matrix: boolean, i0: number, i1: number, out: Uint8Array, at: number): number {
  if (writer === null || !enabled || (matrix && !(width >= 1))) return -1;
  const src = writer.in;
  const text = writer.out;
  for (let i = i0; i < i1; i += TILE) {
    const n = Math.min(TILE, i1 - i);
    src.set(buf.subarray(i, i + n), 0);
    const len = writer.fmt(n, i, matrix ? width : 1, matrix ? 1 : 0);
    copyBytes(out, text.subarray(0, len), at); // out may be a shared answer room: ./copy.ts
    at += len;
  }
  return at;
}
