/**
 * A WebAssembly fast lane for runs of JSON numbers: from a byte inside an array, it reads numbers
 * separated by commas (JSON whitespace allowed around them) and writes their doubles to an output
 * area, with no JS call per number. It stops at the array's `]`, or at the first element it does
 * not handle (null, a number outside its exact case below, anything malformed), and reports where
 * and how many it wrote; its caller (./body-scan.ts) reads on from there with its own JS code, so
 * every message, position and rule stays that code's, and enters the lane again after.
 *
 * Values, exactly JSON.parse's (ECMAScript StringToNumber: the nearest double, ties to even). The
 * number is W 10^q, W the integer of its significant digits (an i64: at most 19 of them, so W is
 * exact; zeros before the first nonzero digit do not count), q its decimal exponent.
 * 1. Clinger's exact case ("How to read floating point numbers accurately", PLDI 1990): if
 *    W <= 2^53 (an exact double) and |q| <= 22 (10^|q| is exact: 5^22 < 2^53), W * 10^q or
 *    W / 10^-q is one correctly rounded IEEE operation on exact operands. W = 0 gives +-0.
 * 2. Otherwise, for q in [-342, 308], the idea of Eisel-Lemire (D. Lemire, "Number parsing at a
 *    gigabyte per second", Software: Practice and Experience 51(8), 2021), exact and conservative:
 *    W 10^q = W 5^q 2^q, and 5^q = (T + d) 2^e5 with T in [2^63, 2^64) an integer and 0 <= d < 1
 *    (T truncated; d = 0 when 5^q fits in 64 bits; a table built with BigInt at load). With A = W
 *    shifted left to its top bit, the exact 128-bit product HI:LO = A T (four 32 x 32-bit products)
 *    is below the true A (T + d) by less than A < 2^64, so the true product's high word is HI or
 *    HI + 1. Its top 54 bits (53 and the rounding bit) are HI's bits above bit 9 (or 10, if the
 *    top bit is bit 127), and they are decided unless the bits of HI below them may carry (HI's low
 *    9 bits all ones) or the rest may be an exact tie (HI's low 9 bits and LO all zero): in those
 *    cases (~1 in 500) and for results that are subnormal or overflow, JS decides. Else rounding
 *    half up is right (a rounding bit of 1 has nonzero bits below it), and the biased exponent is
 *    e5 + q + 1149 + (top bit 127) - (W's shift), 1149 = 1075 + 74 (the 53-bit result sits 74 bits
 *    above the product's bit 0 when its top bit is bit 126).
 * 3. Everything else (more than 19 digits, q outside [-342, 308], the undecided cases) is left to
 *    the JS reader (./number-text.ts: a double-double product, then Number()).
 * A number's grammar is JSON's; a byte that cannot follow a number (`01`, `1.`, `1x`) makes the
 * lane stop at that number, unread, so the JS reader reports it at the same byte as before.
 *
 * Data movement: the text is copied into WebAssembly memory in tiles of TILE bytes (a body is
 * usually one or a few tiles), followed by a 0 byte that no number or separator accepts; the lane
 * does not start a number within AHEAD bytes of a tile's end, so a number cut by the tile end is
 * re-read from the next tile. The doubles are copied out by the caller with TypedArray.set.
 *
 * Memory: byte 0 the stop position (i32), 10^0..10^22 (f64) at POW10_AT, 10^0..10^8 (i64) at
 * POW10I_AT, the Eisel-Lemire tables at T5_AT and EQ_AT, the output area at OUT (LANE_MAX doubles),
 * the text tile at TEXT. Export run(p, limit, max) -> count * 4 + reason, reason 0: an
 * element the lane does not handle starts at the stop position; 1: the array's `]` is at the stop
 * position (after the last number written); 2: the output is full, or the next element starts at
 * or past `limit` (the caller may call again), or whitespace after a comma runs past the tile's
 * end (then the stop is inside it: the caller skips whitespace from the stop).
 *
 * Hand-assembled (../core/wasm.ts) like the project's other kernels: no toolchain in the install.
 */
import {
  BLOCK, br, brIf, END, F64, F64_CONVERT_I64_U, F64_DIV, F64_MUL, F64_NEG, f64Load, f64Store, get, I32,
  i32Const, i32Load8U, i32Store, I32_ADD, I32_EQ, I32_EQZ, I32_GE_S, I32_GE_U, I32_MUL, I32_GT_U, I32_LT_U, I32_OR, I32_SHL, I32_SUB, I64, i64Const,
  I64_ADD, I64_EQZ, I64_EXTEND_I32_U, I64_GT_U, I64_MUL, IF, ELSE, instantiate, LOOP, name, RETURN, section, SELECT, set,
  tee, uleb, type WasmMemory, i64Load, I64_CTZ, I64_SUB, I64_AND, I64_OR, I64_SHL, I64_SHR_U, I32_WRAP_I64, I32_SHR_U, I32_NE, I64_EQ, I64_CLZ, F64_REINTERPRET_I64, i32Load,
} from '../core/wasm.js';

/** Byte addresses in the module memory. */
const POW10_AT = 64;
/** 10^0..10^8 as i64. */
const POW10I_AT = 256;
/** Eisel-Lemire's tables for decimal exponents Q_MIN..Q_MAX: 5^q's 64-bit significand, and an exponent. */
const Q_MIN = -342;
const Q_MAX = 308;
const T5_AT = 512;
const EQ_AT = T5_AT + 8 * (Q_MAX - Q_MIN + 1);
const OUT = (EQ_AT + 4 * (Q_MAX - Q_MIN + 1) + 7) & ~7;
/** Doubles written per call at most (64 KiB). */
export const LANE_MAX = 8192;
const TEXT = OUT + 8 * LANE_MAX;
/** Bytes of text per tile. */
const TILE = 1 << 20;
/** The lane starts no number this close to a tile's end (unless the text ends there). */
const AHEAD = 64;
const PAGES = Math.ceil((TEXT + TILE + 16) / 65536);

const UNREACHABLE = [0x00];

function assemble(): Uint8Array {
  // run(p, limit, max): params 0-2; locals in the order of their declaration groups (`run` below):
  // i32 3-10, i64 11, f64 12, i32 13-16, i64 17, i32 18-20, i64 21-28.
  const P = 0, LIMIT = 1, MAX = 2;
  const START = 3, C = 4, NEG = 5, ND = 6, S = 7, E = 8, ES = 9, COUNT = 10;
  const W = 11;
  const V = 12;
  const Q = 13, TOTAL = 14, LEN = 15, LZ = 16;
  const T = 17;
  const RS = 18, RS0 = 19, UB = 20;
  const A = 21, B = 22, P00 = 23, P01 = 24, P10 = 25, MID = 26, LO = 27, HI = 28;
  const body: number[] = [];
  const emit = (...parts: number[][]) => {
    for (const p of parts) body.push(...p);
  };
  const load = () => emit(get(P), i32Load8U(), set(C)); // C = text[P] (P is a byte address)
  const next = () => emit(get(P), i32Const(1), I32_ADD, tee(P), i32Load8U(), set(C)); // C = text[++P]
  const isDigit = () => [get(C), i32Const(48), I32_SUB, i32Const(10), I32_LT_U].flat();
  const isWs = () =>
    [get(C), i32Const(32), I32_EQ, get(C), i32Const(10), I32_EQ, I32_OR, get(C), i32Const(13), I32_EQ, I32_OR, get(C), i32Const(9), I32_EQ, I32_OR].flat();
  /** Stops at `at` with the reason: count * 4 + reason. */
  const stop = (at: number, reason: number) =>
    emit(i32Const(0), get(at), i32Store(), get(COUNT), i32Const(2), I32_SHL, i32Const(reason), I32_OR, RETURN);
  /** if (cond) stop at START, unread. */
  const failIf = (cond: number[]) => {
    emit(cond, IF);
    stop(START, 0);
    emit(END);
  };

  /**
   * W = W 10^len + the value of T's digits (SWAR: pairs, quads, then the octet, each by one
   * multiply-add of the lanes, e.g. 10 a + b in every 16-bit lane; a lane never carries into the next).
   */
  const combine = (len: number[]) => {
    emit(get(T), i64Const(10n), I64_MUL, get(T), i64Const(8n), I64_SHR_U, I64_ADD, i64Const(0x00ff00ff00ff00ffn), I64_AND, set(T));
    emit(get(T), i64Const(100n), I64_MUL, get(T), i64Const(16n), I64_SHR_U, I64_ADD, i64Const(0x0000ffff0000ffffn), I64_AND, set(T));
    emit(get(T), i64Const(10000n), I64_MUL, get(T), i64Const(32n), I64_SHR_U, I64_ADD, i64Const(0xffffffffn), I64_AND, set(T));
    emit(get(W), len, i32Const(3), I32_SHL, i64Load(POW10I_AT), I64_MUL, get(T), I64_ADD, set(W));
  };
  /**
   * A run of digits at P into W (W = W 10^TOTAL + its value), eight bytes at a time (SWAR). A byte
   * is a digit iff T = byte - '0' is below 10, i.e. neither T nor T + 0x76 has its top bit (borrows
   * and carries run only upward, so the bytes below the first non-digit are exact); the digits of
   * the eight are ctz(mask) / 8, shifted to T's top bytes (zeros below) and combined. No branch per
   * byte: a fraction's length varies (trailing zeros dropped), and a byte loop's mispredicted exits
   * cost more (measured 14.6 against 16.1 ns a number on load/scenarios.ts's logits text).
   * Sets TOTAL (digits read), P (after them) and C (the byte there).
   */
  const digits = () => {
    emit(get(P), set(RS), LOOP);
    emit(get(P), i64Load(), i64Const(0x3030303030303030n), I64_SUB, tee(T));
    emit(i64Const(0x7676767676767676n), I64_ADD, get(T), I64_OR, i64Const(0x8080808080808080n), I64_AND, I64_CTZ, I32_WRAP_I64);
    emit(i32Const(3), I32_SHR_U, tee(LEN), IF);
    emit(get(T), i32Const(64), get(LEN), i32Const(3), I32_SHL, I32_SUB, I64_EXTEND_I32_U, I64_SHL, set(T));
    combine(get(LEN));
    emit(get(P), get(LEN), I32_ADD, set(P), END);
    emit(get(LEN), i32Const(8), I32_EQ, brIf(0), END);
    emit(get(P), get(RS), I32_SUB, set(TOTAL));
    load();
  };

  emit(i32Const(OUT), set(Q));
  load();
  emit(LOOP); // each element; C = text[P] here
  {
    emit(get(P), get(LIMIT), I32_GE_U, get(COUNT), get(MAX), I32_GE_U, I32_OR, IF);
    stop(P, 2);
    emit(END);
    emit(get(P), set(START));
    // Sign (branch-free: one of two signs is common in logits).
    emit(get(C), i32Const(45), I32_EQ, tee(NEG), get(P), I32_ADD, set(P));
    emit(i64Const(0n), set(W), i32Const(0), set(ND), i32Const(0), set(S));
    emit(get(P), set(RS0));
    // Integer part: 0, or 1-9 then digits. ND: significant digits (W stays below 10^19 while <= 19).
    // One digit (logits' usual case) without the run machinery.
    failIf([get(P), i32Load8U(), i32Const(48), I32_SUB, tee(LEN), i32Const(10), I32_GE_U].flat()); // LEN: the first digit
    next();
    emit(isDigit(), IF);
    failIf([get(LEN), I32_EQZ].flat()); // a leading 0
    emit(get(RS0), set(P));
    digits();
    emit(get(TOTAL), set(ND), ELSE);
    emit(get(LEN), I64_EXTEND_I32_U, set(W), get(LEN), i32Const(0), I32_NE, set(ND), END);
    // Fraction: digits after the point (S counts them down); while W is 0, its zeros are not significant.
    emit(get(C), i32Const(46), I32_EQ, IF);
    next();
    failIf([...isDigit(), ...I32_EQZ]);
    emit(get(W), I64_EQZ, IF, BLOCK, LOOP, get(C), i32Const(48), I32_NE, brIf(1));
    emit(get(S), i32Const(1), I32_SUB, set(S));
    next();
    emit(br(0), END, END, END);
    digits();
    emit(get(S), get(TOTAL), I32_SUB, set(S), get(ND), get(TOTAL), I32_ADD, set(ND));
    emit(END);
    // Exponent: e or E, an optional sign, digits (clamped at 99999: far past any exact case).
    emit(get(C), i32Const(32), I32_OR, i32Const(101), I32_EQ, IF);
    next();
    emit(i32Const(0), set(ES), i32Const(0), set(E));
    emit(get(C), i32Const(45), I32_EQ, IF, i32Const(1), set(ES));
    next();
    emit(ELSE, get(C), i32Const(43), I32_EQ, IF);
    next();
    emit(END, END);
    failIf([...isDigit(), ...I32_EQZ]);
    emit(LOOP);
    emit(get(E), i32Const(10), I32_MUL, get(C), i32Const(48), I32_SUB, I32_ADD, set(E));
    emit(i32Const(99999), get(E), get(E), i32Const(99999), I32_GT_U, SELECT, set(E));
    next();
    emit(isDigit(), brIf(0), END);
    emit(get(S), get(E), I32_SUB, get(S), get(E), I32_ADD, get(ES), SELECT, set(S));
    emit(END);
    // The value: W 10^S by one correctly rounded operation (Clinger's exact case; W = 0 gives 0),
    // else by the 128-bit product (Eisel-Lemire, see the top of this file), else the JS reader's.
    emit(get(ND), i32Const(19), I32_GT_U, get(W), i64Const(1n << 53n), I64_GT_U, I32_OR, get(S), i32Const(22), I32_ADD, i32Const(44), I32_GT_U, I32_OR, IF);
    {
      failIf([get(ND), i32Const(19), I32_GT_U, get(W), I64_EQZ, I32_OR, get(S), i32Const(-Q_MIN), I32_ADD, i32Const(Q_MAX - Q_MIN), I32_GT_U, I32_OR].flat());
      // A = W normalised (top bit set), B = 5^S's truncated 64-bit significand; HI:LO = A B exactly.
      emit(get(W), I64_CLZ, tee(A), get(W), get(A), I64_SHL, set(A), I32_WRAP_I64, set(LZ));
      emit(get(S), i32Const(-Q_MIN), I32_ADD, tee(UB), i32Const(3), I32_SHL, i64Load(T5_AT), set(B));
      const lo32 = (x: number) => [get(x), i64Const(0xffffffffn), I64_AND].flat();
      const hi32 = (x: number) => [get(x), i64Const(32n), I64_SHR_U].flat();
      emit(lo32(A), lo32(B), I64_MUL, set(P00));
      emit(lo32(A), hi32(B), I64_MUL, set(P01));
      emit(hi32(A), lo32(B), I64_MUL, set(P10));
      emit(hi32(P00), lo32(P01), I64_ADD, lo32(P10), I64_ADD, set(MID));
      emit(get(MID), i64Const(32n), I64_SHL, lo32(P00), I64_OR, set(LO));
      emit(hi32(A), hi32(B), I64_MUL, hi32(P01), I64_ADD, hi32(P10), I64_ADD, hi32(MID), I64_ADD, set(HI));
      // Undecided (the unknown rest of the product may carry into the kept bits, or be an exact tie): JS.
      failIf([get(HI), i64Const(0x1ffn), I64_AND, i64Const(0x1ffn), I64_EQ, get(HI), i64Const(0x1ffn), I64_AND, get(LO), I64_OR, I64_EQZ, I32_OR].flat());
      // 54 bits (53 and the rounding bit) from the top, rounded half up; E the biased exponent.
      emit(get(UB), i32Const(2), I32_SHL, i32Load(EQ_AT), get(HI), i64Const(63n), I64_SHR_U, I32_WRAP_I64, tee(UB), I32_ADD, get(LZ), I32_SUB, set(E));
      emit(get(HI), get(UB), i32Const(9), I32_ADD, I64_EXTEND_I32_U, I64_SHR_U, tee(B), get(B), i64Const(1n), I64_AND, I64_ADD, i64Const(1n), I64_SHR_U, tee(B));
      emit(i64Const(53n), I64_SHR_U, I64_EQZ, I32_EQZ, IF, i64Const(1n << 52n), set(B), get(E), i32Const(1), I32_ADD, set(E), END);
      // A subnormal or infinite result: JS.
      failIf([get(E), i32Const(1), I32_SUB, i32Const(2045), I32_GT_U].flat());
      emit(get(E), I64_EXTEND_I32_U, i64Const(52n), I64_SHL, get(B), i64Const((1n << 52n) - 1n), I64_AND, I64_OR, F64_REINTERPRET_I64, set(V));
    }
    emit(ELSE);
    emit(get(W), F64_CONVERT_I64_U, set(V));
    emit(get(S), i32Const(0), I32_GE_S, IF);
    emit(get(V), get(S), i32Const(3), I32_SHL, f64Load(POW10_AT), F64_MUL, set(V));
    emit(ELSE, get(V), i32Const(0), get(S), I32_SUB, i32Const(3), I32_SHL, f64Load(POW10_AT), F64_DIV, set(V), END);
    emit(END);
    emit(get(V), F64_NEG, get(V), get(NEG), SELECT, set(V));
    // What follows: `,` (store, next element), `]` (store, done), whitespace, or anything else (stop, unread).
    emit(BLOCK, BLOCK, LOOP);
    emit(get(C), i32Const(44), I32_EQ, brIf(1));
    emit(get(C), i32Const(93), I32_EQ, brIf(2));
    emit(isWs(), IF);
    next();
    emit(br(1), END);
    stop(START, 0);
    emit(END, END);
    // `,`
    emit(get(Q), get(V), f64Store(), get(Q), i32Const(8), I32_ADD, set(Q), get(COUNT), i32Const(1), I32_ADD, set(COUNT));
    next();
    emit(get(C), i32Const(33), I32_LT_U, IF, LOOP, isWs(), IF);
    next();
    emit(br(1), END, END, END);
    emit(br(1), END); // the next element
    // `]`
    emit(get(Q), get(V), f64Store(), get(COUNT), i32Const(1), I32_ADD, set(COUNT));
    stop(P, 1);
  }
  emit(END, UNREACHABLE);
  const run = [7, 8, I32, 1, I64, 1, F64, 4, I32, 1, I64, 3, I32, 8, I64, ...body, ...END];
  const fn = (code: number[]) => [...uleb(code.length), ...code];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [1, 0x60, 3, I32, I32, I32, 1, I32]), // type 0: (i32 i32 i32) -> i32
    ...section(3, [1, 0]),
    ...section(5, [1, 0x00, ...uleb(PAGES)]), // memory: fixed size
    ...section(7, [2, ...name('run'), 0x00, 0, ...name('memory'), 0x02, 0]),
    ...section(10, [1, ...fn(run)]),
  ]);
}

interface Lane {
  run(p: number, limit: number, max: number): number;
  memory: WasmMemory;
}

function load(): Lane | null {
  const exports = instantiate(assemble());
  if (exports === null) return null;
  return { run: exports.run as Lane['run'], memory: exports.memory as WasmMemory };
}

const lane = load();
const bytes = lane ? new Uint8Array(lane.memory.buffer) : new Uint8Array(0);
const words = lane ? new Int32Array(lane.memory.buffer, 0, 1) : new Int32Array(1);
if (lane) {
  new Float64Array(lane.memory.buffer, POW10_AT, 23).set(Array.from({ length: 23 }, (_, i) => 10 ** i));
  new BigInt64Array(lane.memory.buffer, POW10I_AT, 9).set(Array.from({ length: 9 }, (_, i) => 10n ** BigInt(i)));
  // 5^q = (T + d) 2^e5 with T in [2^63, 2^64) and 0 <= d < 1 (T truncated); EQ = e5 + q + 1149
  // (the biased exponent of W 10^q for W normalised, before the product's top bit and W's shift).
  const t5 = new BigUint64Array(lane.memory.buffer, T5_AT, Q_MAX - Q_MIN + 1);
  const eq = new Int32Array(lane.memory.buffer, EQ_AT, Q_MAX - Q_MIN + 1);
  for (let q = Q_MIN; q <= Q_MAX; q++) {
    const d = 5n ** BigInt(Math.abs(q));
    const len = d.toString(2).length;
    let t: bigint;
    let e5: number;
    if (q >= 0) {
      t = len >= 64 ? d >> BigInt(len - 64) : d << BigInt(64 - len);
      e5 = len - 64;
    } else {
      t = (1n << BigInt(63 + len)) / d;
      e5 = -(63 + len);
    }
    t5[q - Q_MIN] = t;
    eq[q - Q_MIN] = e5 + q + 1149;
  }
}

/** The doubles of the last laneRead (valid until the next call). */
export const laneValues = lane ? new Float64Array(lane.memory.buffer, OUT, LANE_MAX) : new Float64Array(0);
/** Where the last laneRead stopped (a byte index of its text). */
export const laneStop = { at: 0 };

let enabled = lane !== null;
/** Whether the lane is used (WebAssembly is available and it is not switched off). */
export const numberLaneOn = (): boolean => enabled;
/** Switches the lane off (true: on where available), e.g. to test the JavaScript path alone. */
export function setNumberLane(on: boolean): void {
  enabled = on && lane !== null;
}

/** The text held in WebAssembly memory: b[winStart, winEnd) at TEXT. */
let winBody: Uint8Array | null = null;
let winStart = 0;
let winEnd = 0;

/** Forgets the copied text (a new body may reuse the same bytes' buffer). */
export function laneReset(): void {
  winBody = null;
}

/**
 * Reads the run of numbers starting at b[i] (a number's first byte, inside an array): returns
 * count * 4 + reason (see the top of this file), with the doubles in laneValues[0, count) and
 * the stop in laneStop.at (with reason 2, possibly inside whitespace: skip it). No element starting at or past b[limit] is read. Only call it while
 * numberLaneOn(); call laneReset() before each new body.
 */
export function laneRead(b: Uint8Array, i: number, limit: number): number {
  const run = (lane as Lane).run;
  const bodyEnd = b.length;
  if (b !== winBody || i < winStart || (i + AHEAD >= winEnd && winEnd < bodyEnd)) {
    winBody = b;
    winStart = i;
    winEnd = Math.min(bodyEnd, i + TILE);
    bytes.set(b.subarray(winStart, winEnd), TEXT);
    bytes[TEXT + winEnd - winStart] = 0; // no number or separator accepts it
  }
  const edge = winEnd < bodyEnd ? winEnd - AHEAD : winEnd;
  const to = Math.min(limit, edge);
  const base = TEXT - winStart;
  const r = run(i + base, to + base, LANE_MAX);
  laneStop.at = words[0] - base;
  return r;
}
