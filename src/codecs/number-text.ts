/**
 * Number text at memory speed: doubles written as JSON bytes and read back from them, exactly as
 * JSON.stringify and JSON.parse do, without an intermediate JS string per number.
 *
 * Writing (writeNumber): the shortest round-trip decimal of ECMAScript Number::toString (spec
 * 6.1.6.1.20): the fewest significant digits that read back as x, the closest to x of those, ties
 * to even, laid out positionally for decimal exponents in (-7, 21] and as d.ddde±n otherwise;
 * -0 -> 0, and JSON's null for NaN and +-Infinity. The search follows Schubfach (R. Giulietti, "The
 * Schubfach way to render doubles", 2020): for x = c 2^q, pick k = floor(log10(2^q)) (of
 * 3/4 2^q when x is a power of two whose lower neighbour is closer), so that the rounding interval
 * of x scaled by 10^-k, v = c 2^q 10^-k, has width in [1, 10). Then at most one multiple of 10
 * lies inside it, and if one does its digits (trailing zeros dropped) are the shortest; otherwise
 * the integers floor(v) and floor(v) + 1 are the only candidates of the shortest length that can
 * be closest, and at least one of them is inside. Where Schubfach computes v with 126-bit integer
 * products, we have no 64-bit integers in JS: v is computed in double-double arithmetic (c times
 * a 106-bit 10^-k, Dekker's exact product), accurate to ~2^-46 absolute, and every decision (a
 * candidate against an interval end, floor(v) against floor(v) + 1) that falls within 2^-30 of
 * its threshold is redone exactly with BigInt (exactShortest, a few us). Only exact ties and
 * interval ends land there, which happen where x has few fractional bits: 0.16% of random bit
 * patterns, nearly all between 2^40 and 2^69 (most of [2^53, 2^54), ~0.7 us a number there;
 * one of 10^6 elsewhere). Integers below 2^53 are written directly, without this search.
 *
 * Reading (readNumberText): the JSON number grammar; up to 15 significant digits with a decimal
 * exponent within +-22 by one correctly rounded operation on exact doubles (Clinger 1990);
 * otherwise up to 19 significant digits W times 10^e as the product of two double-doubles (the
 * same idea as Eisel & Lemire's "Number parsing at a gigabyte per second", 2021, with 106 instead
 * of 128 bits): the product is within 2^-100 of the exact value, and when both ends of that error
 * interval round to the same double that double is the answer (Infinity past the double range, as
 * JSON.parse). Otherwise (a value within 2^-90 of a halfway point, more than 19 significant digits,
 * a subnormal result, a decimal exponent past +-350) the text is converted by Number(), which is
 * correctly rounded and agrees with JSON.parse.
 *
 * Hand-written because no library writes doubles into a byte buffer: the ones on npm return JS
 * strings (the cost being avoided) or are not exact. Powers of ten are generated at load with
 * BigInt (701 double-doubles, ~ms).
 */

/** Bytes of one number's text at most: -0.0000012345678901234567 (25) and null. */
export const NUMBER_MAX_BYTES = 25;

// IEEE 754 bits of a double (little-endian hosts: U32[1] is the high word; Node's platforms all are).
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);

const TWO52 = 4503599627370496;
const TWO53 = 9007199254740992;
/** Veltkamp's splitter 2^27 + 1: a * SPLIT - (a * SPLIT - a) keeps a's top 26 bits. */
const SPLIT = 134217729;

/** 10^j = (PM_HI[t] + PM_LO[t]) 2^PE[t], t = j + P10_OFF, for j in [-350, 350]; PM_HI in [1, 2). */
const P10_OFF = 350;
const PM_HI = new Float64Array(2 * P10_OFF + 1);
const PM_LO = new Float64Array(2 * P10_OFF + 1);
/** PM_HI split in halves of 26 bits for Dekker's product. */
const PM_HH = new Float64Array(2 * P10_OFF + 1);
const PM_HL = new Float64Array(2 * P10_OFF + 1);
const PE = new Int32Array(2 * P10_OFF + 1);

const bitLength = (n: bigint) => n.toString(2).length;

for (let j = -P10_OFF; j <= P10_OFF; j++) {
  // T: 10^j's leading >= 110 bits (truncated), 10^j = T 2^(e - tb + 1) with tb = T's bit length.
  let T: bigint;
  let e: number;
  if (j >= 0) {
    const N = 10n ** BigInt(j);
    const bl = bitLength(N);
    T = bl >= 110 ? N : N << BigInt(110 - bl);
    e = bl - 1;
  } else {
    const D = 10n ** BigInt(-j);
    const bl = bitLength(D);
    T = (1n << BigInt(110 + bl)) / D; // in (2^110, 2^111): 10^j = T 2^-(110 + bl)
    e = -bl;
  }
  const tb0 = bitLength(T);
  if (tb0 > 120) T >>= BigInt(tb0 - 120); // keep 120 bits, so the scalings below stay in range
  const tb = bitLength(T);
  const hiInt = T >> BigInt(tb - 53);
  const hi = Number(hiInt) / TWO52;
  const lo = Number(T - (hiInt << BigInt(tb - 53))) / 2 ** (tb - 1);
  const t = j + P10_OFF;
  PM_HI[t] = hi;
  PM_LO[t] = lo;
  const g = SPLIT * hi;
  PM_HH[t] = g - (g - hi);
  PM_HL[t] = hi - PM_HH[t];
  PE[t] = e;
}

/** 2^e for e in [-1100, 1100] (0 and Infinity outside the double range; only in-range ones are used). */
const P2_OFF = 1100;
const POW2 = Float64Array.from({ length: 2 * P2_OFF + 1 }, (_, i) => 2 ** (i - P2_OFF));

/**
 * K[q + 1074] = floor(log10(2^q)) and K34[q + 1074] = floor(log10(3/4 2^q)), q in [-1074, 971]:
 * the float estimate, checked by an exact BigInt comparison where it is near an integer.
 */
const K = new Int16Array(2046);
const K34 = new Int16Array(2046);
/** Whether 10^k <= (m4 / 4) 2^q, exactly. */
function pow10AtMost(k: number, m4: bigint, q: number): boolean {
  const left = 4n * 10n ** BigInt(Math.max(k, 0)) * 2n ** BigInt(Math.max(-q, 0));
  const right = m4 * 2n ** BigInt(Math.max(q, 0)) * 10n ** BigInt(Math.max(-k, 0));
  return left <= right;
}
for (let q = -1074; q <= 971; q++) {
  for (const [table, m4, f] of [
    [K, 4n, 1],
    [K34, 3n, 0.75],
  ] as const) {
    const y = Math.log10(f) + q * Math.log10(2); // within 1e-12 of the exact logarithm
    let k = Math.floor(y);
    if (y - k < 1e-9 || y - k > 1 - 1e-9) {
      // Near an integer: decided exactly.
      while (!pow10AtMost(k, m4, q)) k--;
      while (pow10AtMost(k + 1, m4, q)) k++;
    }
    table[q + 1074] = k;
  }
}

/** The two tables for ./number-text-wasm.ts (the same exponent choice). */
export { K as FLOOR_LOG10_POW2, K34 as FLOOR_LOG10_POW2_34 };

/** Decision margin of the double-double path (its error is below 2^-45). */
const EPS = 2 ** -30;

/** "00" to "99" as bytes. */
const PAIRS = Uint8Array.from({ length: 200 }, (_, i) => 48 + (i & 1 ? (i >> 1) % 10 : Math.floor(i / 20)));

/**
 * Writes x as JSON.stringify(x) would (null for NaN and +-Infinity) into out at `at`, and returns
 * the offset after it. out needs NUMBER_MAX_BYTES of room from `at`.
 */
export function writeNumber(out: Uint8Array, at: number, x: number): number {
  if (x - x !== 0) {
    out[at] = 110; // null
    out[at + 1] = 117;
    out[at + 2] = 108;
    out[at + 3] = 108;
    return at + 4;
  }
  if (x === 0) {
    out[at] = 48;
    return at + 1;
  }
  if (x < 0) {
    out[at++] = 45;
    x = -x;
  }
  // An integer below 2^53 is its own shortest decimal.
  if (x < TWO53 && Math.floor(x) === x) {
    if (x < 1e8) return layout(out, at, 0, x, 0);
    const hi = Math.floor(x / 1e8);
    const lo = x - hi * 1e8; // exact; x / 1e8 may round up to the next integer, hence the check
    return lo < 0 ? layout(out, at, hi - 1, lo + 1e8, 0) : layout(out, at, hi, lo, 0);
  }
  return writeShortest(out, at, x);
}

function writeShortest(out: Uint8Array, at: number, x: number): number {
  F64[0] = x;
  const hw = U32[1];
  const lw = U32[0];
  const be = hw >>> 20;
  const frac = hw & 0xfffff;
  let c = frac * 4294967296 + lw;
  let q = -1074;
  if (be !== 0) {
    c += TWO52;
    q = be - 1075;
  }
  const asym = frac === 0 && lw === 0 && be > 1;
  const k = asym ? K34[q + 1074] : K[q + 1074];
  const t = P10_OFF - k;
  // v = c 10^-k 2^q = c (mh + ml) 2^(PE + q), by Dekker's exact product c mh plus c ml.
  const mh = PM_HI[t];
  const p = c * mh;
  const g = SPLIT * c;
  const ch = g - (g - c);
  const cl = c - ch;
  const err = ch * PM_HH[t] - p + ch * PM_HL[t] + cl * PM_HH[t] + cl * PM_HL[t];
  const low = err + c * PM_LO[t];
  const sc = POW2[PE[t] + q + P2_OFF];
  const s0 = p + low;
  const vh = s0 * sc;
  const vl = (low - (s0 - p)) * sc;
  const u = (mh + PM_LO[t]) * sc; // 2^q 10^-k: the ulp of x, scaled
  const base = Math.floor(vh);
  const rem = vh - base + vl; // v - base
  const d0 = Math.floor(rem); // vl is up to half an ulp of vh (8 for v near 2^57)
  const hu = u * 0.5;
  const hl = asym ? u * 0.25 : hu;
  // base as hi 10^8 + lo (base may exceed 2^53, so base + d is never formed as a double). hi 1e8
  // is exact (hi 5^8 < 2^50); base 1e-8 (a product, cheaper than a quotient) may be off by one.
  let hi = Math.floor(base * 1e-8);
  let lo = base - hi * 1e8;
  if (lo < 0) {
    hi--;
    lo += 1e8;
  } else if (lo >= 1e8) {
    hi++;
    lo -= 1e8;
  }
  // The multiples of 10 around v: base + dsp <= v < base + dsp + 10 (int32 arithmetic: % on
  // doubles is a call to fmod).
  const r10 = (lo | 0) + d0 + 20;
  const dsp = d0 - (r10 - ((r10 / 10) | 0) * 10);
  // base + dsp and base + d0 are at or below v, so only the interval's lower end can exclude them;
  // base + dsp + 10 and base + d0 + 1 are above it, so only its upper end.
  // A candidate on an interval end (inside if c is even: round-half-even reading) is a close
  // call, so here every test is strict.
  const lp = dsp - rem + hl; // > 0: base + dsp is inside
  const up = hu - (dsp + 10 - rem); // > 0: base + dsp + 10 is inside
  if (Math.abs(lp) <= EPS || Math.abs(up) <= EPS) return exactShortest(out, at, c, q, asym, k);
  let d: number;
  if (lp > 0) d = dsp;
  else if (up > 0) d = dsp + 10;
  else {
    const ls = d0 - rem + hl;
    const ut = hu - (d0 + 1 - rem);
    const diff = 2 * (rem - d0) - 1; // (v - s) - (s + 1 - v)
    if (Math.abs(ls) <= EPS || Math.abs(ut) <= EPS || Math.abs(diff) <= EPS) return exactShortest(out, at, c, q, asym, k);
    // At least one of them is inside (the interval is at least 1 wide); the closer if both.
    d = ls > 0 && (ut < 0 || diff < 0) ? d0 : d0 + 1;
  }
  lo += d;
  if (lo < 0) {
    hi--;
    lo += 1e8;
  } else if (lo >= 1e8) {
    hi++;
    lo -= 1e8;
  }
  return layout(out, at, hi, lo, k);
}

/** The shortest decimal of c 2^q decided with exact rational arithmetic (BigInt), for the close calls. */
function exactShortest(out: Uint8Array, at: number, c: number, q: number, asym: boolean, k: number): number {
  // Everything times S = 4 2^max(-q,0) 10^max(k,0), so v and the interval ends are integers.
  const S = 4n * 2n ** BigInt(Math.max(-q, 0)) * 10n ** BigInt(Math.max(k, 0));
  const unit = 2n ** BigInt(Math.max(q, 0)) * 10n ** BigInt(Math.max(-k, 0));
  const cb = BigInt(c) * 4n;
  const vb = cb * unit;
  const vl = (cb - (asym ? 1n : 2n)) * unit;
  const vr = (cb + 2n) * unit;
  const open = c % 2 === 1;
  const ins = (n: bigint) => {
    const y = n * S;
    return open ? vl < y && y < vr : vl <= y && y <= vr;
  };
  const s = vb / S;
  const sp = s - (s % 10n);
  let n: bigint;
  if (sp > 0n && ins(sp)) n = sp;
  else if (ins(sp + 10n)) n = sp + 10n;
  else {
    const is = ins(s);
    const iu = ins(s + 1n);
    if (is && iu) {
      const cmp = 2n * vb - (2n * s + 1n) * S; // (v - s) - (s + 1 - v), times S
      n = cmp < 0n || (cmp === 0n && s % 2n === 0n) ? s : s + 1n;
    } else n = is ? s : s + 1n;
  }
  return layout(out, at, Number(n / 100000000n), Number(n % 100000000n), k);
}

/** Decimal digits of 0 < v < 2^31. */
function digitCount(v: number): number {
  if (v < 1e4) return v < 10 ? 1 : v < 100 ? 2 : v < 1000 ? 3 : 4;
  if (v < 1e8) return v < 1e5 ? 5 : v < 1e6 ? 6 : v < 1e7 ? 7 : 8;
  return v < 1e9 ? 9 : 10;
}

/** Writes the `count` decimal digits of 0 <= v < 2^31 (leading zeros included) ending before out[end]. */
function digitsBefore(out: Uint8Array, end: number, v: number, count: number): void {
  for (; count >= 2; count -= 2) {
    const t = (v / 100) | 0;
    const p = (v - t * 100) << 1;
    out[--end] = PAIRS[p + 1];
    out[--end] = PAIRS[p];
    v = t;
  }
  if (count === 1) out[end - 1] = 48 + v;
}

/**
 * Writes the decimal (hi 10^8 + lo) 10^k (0 <= hi < 2^31, 0 <= lo < 10^8, not both 0) in
 * Number::toString's layout. The digits are written in place, trailing zeros included (they are
 * then overwritten or left past the end, within NUMBER_MAX_BYTES of the start), and moved by one
 * byte where a decimal point goes between them.
 */
function layout(out: Uint8Array, at: number, hi: number, lo: number, k: number): number {
  const h = hi | 0;
  let l = lo | 0;
  const len = h > 0 ? 8 + digitCount(h) : digitCount(l); // digits of the integer
  let tz = 0; // its trailing zeros
  if (l === 0) {
    tz = 8;
    l = h;
  }
  for (let t = (l / 10) | 0; l === t * 10; t = (l / 10) | 0) {
    tz++;
    l = t;
  }
  const kd = len - tz; // significant digits
  const n = k + len; // the value is 0.d1d2...dkd 10^n
  // Where the digits start: after a byte kept for the point, after "0.000", or in place.
  const from = 0 < n && n <= 21 && kd <= n ? at : 0 < n && n <= 21 ? at + 1 : -6 < n && n <= 0 ? at + 2 - n : at + 1;
  if (h > 0) {
    digitsBefore(out, from + len, lo | 0, 8);
    digitsBefore(out, from + len - 8, h, len - 8);
  } else digitsBefore(out, from + len, lo | 0, len);
  if (from === at) {
    // An integer: its digits, then zeros up to 10^n.
    for (let i = at + len; i < at + n; i++) out[i] = 48;
    return at + n;
  }
  if (0 < n && n <= 21) {
    for (let i = at; i < at + n; i++) out[i] = out[i + 1];
    out[at + n] = 46;
    return at + 1 + kd;
  }
  if (n <= 0 && n > -6) {
    out[at] = 48;
    out[at + 1] = 46;
    for (let i = at + 2; i < from; i++) out[i] = 48;
    return from + kd;
  }
  out[at] = out[at + 1];
  if (kd > 1) {
    out[at + 1] = 46;
    at += kd + 1;
  } else at++;
  out[at++] = 101; // e
  let e = n - 1;
  if (e < 0) {
    out[at++] = 45;
    e = -e;
  } else out[at++] = 43;
  if (e >= 100) {
    out[at++] = 48 + Math.floor(e / 100);
    e %= 100;
    out[at++] = 48 + Math.floor(e / 10);
  } else if (e >= 10) out[at++] = 48 + Math.floor(e / 10);
  out[at++] = 48 + (e % 10);
  return at;
}

/** 10^i, exact for i <= 22. */
const POW10 = Float64Array.from({ length: 23 }, (_, i) => 10 ** i);

/**
 * The value of the JSON number text b[start, end), as JSON.parse would give it (+-Infinity past
 * the double range), or NaN if the text is not a JSON number.
 */
export function readNumberText(b: Uint8Array, start: number, end: number): number {
  const v = readNumberFast(b, start, end);
  if (v === v) return v;
  if (!isJsonNumber(b, start, end)) return Number.NaN;
  let s = '';
  for (let i = start; i < end; i++) s += String.fromCharCode(b[i]);
  return Number(s);
}

/** Whether b[start, end) is a JSON number. */
function isJsonNumber(b: Uint8Array, i: number, end: number): boolean {
  if (b[i] === 45) i++;
  if (i >= end) return false;
  if (b[i] === 48) i++;
  else if (b[i] > 48 && b[i] <= 57) while (i < end && b[i] >= 48 && b[i] <= 57) i++;
  else return false;
  if (i < end && b[i] === 46) {
    i++;
    if (!(i < end && b[i] >= 48 && b[i] <= 57)) return false;
    while (i < end && b[i] >= 48 && b[i] <= 57) i++;
  }
  if (i < end && (b[i] === 101 || b[i] === 69)) {
    i++;
    if (i < end && (b[i] === 43 || b[i] === 45)) i++;
    if (!(i < end && b[i] >= 48 && b[i] <= 57)) return false;
    while (i < end && b[i] >= 48 && b[i] <= 57) i++;
  }
  return i === end;
}

/**
 * readNumberText's fast path: the value of the JSON number text b[start, end), or NaN when the
 * text is not a JSON number or needs the exact conversion (see the top of this file), for a
 * caller that has its own way to it. It reads on to the first byte that cannot continue a number,
 * which may be past `end` (then the answer is NaN).
 */
export function readNumberFast(b: Uint8Array, start: number, end: number): number {
  const v = scanNumber(b, start);
  return numberScan.end === end ? v : Number.NaN;
}

/** How the last scanNumber ended (module state: no object per number). */
export const numberScan = {
  /** The index after the number, or of the byte that broke its grammar. */
  end: 0,
  /** 0: the value is the answer; 1: the number needs the exact conversion (NaN); 2: a grammar error at `end` (NaN). */
  status: 0,
};

/**
 * The JSON number at b[i] (a `-` or a digit), read up to the first byte that cannot continue it
 * (a scanner's reader: body-scan's). Its value by the fast paths, or NaN with numberScan.status
 * saying why; numberScan.end is where it stopped. A leading zero ends a number ("01" is 0, then 1).
 */
export function scanNumber(b: Uint8Array, i: number): number {
  let neg = false;
  if (b[i] === 45) {
    neg = true;
    i++;
  }
  // Significant digits: the first 15 in w1, the next 4 in w2 (n2 of them); past 19, exp10 and dropped.
  let w1 = 0;
  let w2 = 0;
  let n1 = 0;
  let n2 = 0;
  let exp10 = 0;
  let dropped = false;
  let c = b[i];
  if (c === 48) c = b[++i];
  else if (c > 48 && c <= 57) {
    do {
      if (n1 < 15) {
        w1 = w1 * 10 + (c - 48);
        n1++;
      } else if (n2 < 4) {
        w2 = w2 * 10 + (c - 48);
        n2++;
      } else {
        exp10++;
        if (c !== 48) dropped = true;
      }
      c = b[++i];
    } while (c >= 48 && c <= 57);
  } else return scanError(i);
  if (c === 46) {
    c = b[++i];
    if (!(c >= 48 && c <= 57)) return scanError(i);
    do {
      if (n1 === 0 && c === 48) exp10--; // a leading zero of 0.000ddd
      else if (n1 < 15) {
        w1 = w1 * 10 + (c - 48);
        n1++;
        exp10--;
      } else if (n2 < 4) {
        w2 = w2 * 10 + (c - 48);
        n2++;
        exp10--;
      } else if (c !== 48) dropped = true;
      c = b[++i];
    } while (c >= 48 && c <= 57);
  }
  if (c === 101 || c === 69) {
    c = b[++i];
    let eneg = false;
    if (c === 43 || c === 45) {
      eneg = c === 45;
      c = b[++i];
    }
    if (!(c >= 48 && c <= 57)) return scanError(i);
    let e = 0;
    do {
      if (e < 100000) e = e * 10 + (c - 48);
      c = b[++i];
    } while (c >= 48 && c <= 57);
    exp10 += eneg ? -e : e;
  }
  numberScan.end = i;
  numberScan.status = 0;
  if (w1 === 0) return neg ? -0 : 0; // every digit 0 (w1 holds the first significant one)
  if (dropped) return scanExact();
  let v: number;
  if (n2 === 0 && exp10 >= -22 && exp10 <= 22) {
    v = exp10 >= 0 ? w1 * POW10[exp10] : w1 / POW10[-exp10];
    return neg ? -v : v;
  }
  if (exp10 < -P10_OFF || exp10 > P10_OFF) return scanExact();
  // W = w1 10^n2 + w2 exactly, as a double-double (wh, wl).
  let wh = w1;
  let wl = 0;
  if (n2 > 0) {
    const m = POW10[n2];
    const p = w1 * m;
    const g = SPLIT * w1;
    const ah = g - (g - w1);
    const al = w1 - ah; // m < 2^14 needs no split
    const e = ah * m - p + al * m;
    const s = p + w2;
    const bb = s - p;
    wh = s;
    wl = p - (s - bb) + (w2 - bb) + e; // two-sum of p and w2, plus the product's error (exact: W < 2^64)
  }
  // An integer text of 16 to 19 digits: W = wh + wl exactly, and one rounded addition is the
  // answer, exact ties included (integers past 2^54 written shortest are often exactly halfway).
  if (exp10 === 0) return neg ? -(wh + wl) : wh + wl;
  // W 10^exp10 = (wh + wl) (mh + ml) 2^PE: Dekker's exact wh mh, plus the cross terms.
  const t = exp10 + P10_OFF;
  const mh = PM_HI[t];
  const p = wh * mh;
  const g = SPLIT * wh;
  const ah = g - (g - wh);
  const al = wh - ah;
  const tail = ah * PM_HH[t] - p + ah * PM_HL[t] + al * PM_HH[t] + al * PM_HL[t] + (wh * PM_LO[t] + wl * mh);
  const h = p + tail;
  const l = tail - (h - p);
  // The product is within 2^-100 h of W 10^exp10: if both ends of a wider interval round alike, so does it.
  const eps = h * 8.077935669463161e-28; // 2^-90
  v = h + (l - eps);
  if (v !== h + (l + eps)) return scanExact();
  // v in [1, 2^65) is rounded to 53 bits; scaling it by 2^e2 is exact while the result is normal,
  // and its overflow to Infinity is the correctly rounded answer. A subnormal result would be
  // rounded twice: left to the exact conversion.
  const e2 = PE[t];
  if (e2 >= -1022) v *= POW2[e2 + P2_OFF];
  else {
    v *= POW2[e2 + 200 + P2_OFF];
    if (v < 2 ** -822) return scanExact();
    v *= 2 ** -200;
  }
  return neg ? -v : v;
}

function scanError(at: number): number {
  numberScan.end = at;
  numberScan.status = 2;
  return Number.NaN;
}

function scanExact(): number {
  numberScan.status = 1;
  return Number.NaN;
}
