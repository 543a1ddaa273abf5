/**
 * Reads the logits / probs matrix of a request body straight from its bytes into a Float64Array.
 *
 * Why by hand: for a big body JSON.parse is most of the work (12 of 18 ms for the 2.4 MB 8x32000
 * sample body: it builds 256k heap numbers and arrays that are then copied into a typed array
 * and collected). This scanner writes the numbers where they go, and gives JSON.parse only the
 * rest of the object, with the matrix replaced by 0.
 *
 * It is a fast path, not a second validator: on anything but a plain, valid matrix (an escape in
 * a key, a string or nested value in the matrix, a ragged row, null in probs, a non-finite
 * number, a masked row, a repeated matrix key, trailing bytes...) it returns null and the caller
 * takes the general path (JSON.parse + src/schemas/matrix.ts), which also words every error.
 * So valid bodies give the same Job either way, and invalid ones the same error.
 *
 * Numbers: JSON's grammar exactly. Up to 15 significant digits with a decimal exponent within
 * +-22 are converted with one correctly rounded multiplication or division of two exact doubles
 * (Clinger 1990's fast path); any other number is handed to Number() on its text. Both are the
 * correctly rounded value, as JSON.parse gives. Bodies made mostly of long numbers (more than a
 * quarter need Number()) go back to JSON.parse, which is faster for them.
 */

const POW10 = Array.from({ length: 23 }, (_, i) => 10 ** i); // exact up to 1e22

export interface FastMatrix {
  field: 'logits' | 'probs';
  data: Float64Array;
  rows: number;
  cols: number;
  /** The body's text with the matrix value replaced by 0, for JSON.parse. */
  rest: string;
}

const enum C {
  Tab = 9,
  Lf = 10,
  Cr = 13,
  Space = 32,
  Quote = 34,
  Plus = 43,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Zero = 48,
  Nine = 57,
  Colon = 58,
  BracketOpen = 91,
  Backslash = 92,
  BracketClose = 93,
  LowerE = 101,
  UpperE = 69,
  LowerN = 110,
  BraceOpen = 123,
  BraceClose = 125,
}

class Bail extends Error {}
const BAIL = new Bail();

export function readMatrixFast(bytes: Uint8Array): FastMatrix | null {
  try {
    return read(bytes);
  } catch (e) {
    if (e === BAIL) return null;
    throw e;
  }
}

function read(b: Uint8Array): FastMatrix | null {
  const n = b.length;
  let i = ws(b, 0);
  if (b[i] !== C.BraceOpen) return null;
  i = ws(b, i + 1);
  let found: { field: 'logits' | 'probs'; start: number; end: number; m: Parsed } | null = null;
  if (b[i] === C.BraceClose) return null; // {}: nothing to gain
  for (;;) {
    if (b[i] !== C.Quote) return null;
    const keyStart = i + 1;
    let j = keyStart;
    while (j < n && b[j] !== C.Quote) {
      if (b[j] === C.Backslash || b[j] < 0x20) return null;
      j++;
    }
    if (j >= n) return null;
    const key = keyOf(b, keyStart, j);
    i = ws(b, j + 1);
    if (b[i] !== C.Colon) return null;
    i = ws(b, i + 1);
    if (key === 'logits' || key === 'probs') {
      if (found) return null; // both, or a repeated key: the general path decides
      const m = matrix(b, i, key === 'probs');
      found = { field: key, start: i, end: m.end, m };
      i = m.end;
    } else {
      i = skipValue(b, i);
    }
    i = ws(b, i);
    if (b[i] === C.Comma) {
      i = ws(b, i + 1);
      continue;
    }
    if (b[i] === C.BraceClose) break;
    return null;
  }
  if (ws(b, i + 1) !== n || !found) return null;
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const rest = `${buf.toString('utf8', 0, found.start)}0${buf.toString('utf8', found.end, n)}`;
  const { data, rows, cols } = found.m;
  return { field: found.field, data: data.length === rows * cols ? data : data.slice(0, rows * cols), rows, cols, rest };
}

function keyOf(b: Uint8Array, s: number, e: number): string {
  // Only the two matrix keys matter here; anything else is skipped.
  if (e - s === 6 && b[s] === 108 && b[s + 1] === 111 && b[s + 2] === 103 && b[s + 3] === 105 && b[s + 4] === 116 && b[s + 5] === 115) return 'logits';
  if (e - s === 5 && b[s] === 112 && b[s + 1] === 114 && b[s + 2] === 111 && b[s + 3] === 98 && b[s + 4] === 115) return 'probs';
  return '';
}

function ws(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab) i++;
    else return i;
  }
}

interface Parsed {
  data: Float64Array;
  rows: number;
  cols: number;
  end: number;
}

/** [[n, ...], ...] from b[i]; masked null (logits only). Bails on anything else. */
function matrix(b: Uint8Array, i: number, probs: boolean): Parsed {
  if (b[i] !== C.BracketOpen) throw BAIL;
  slowNumbers = 0;
  i = ws(b, i + 1);
  let data = new Float64Array(Math.max(16, b.length >> 3)); // grows if the guess is short
  let k = 0;
  let rows = 0;
  let cols = -1;
  for (;;) {
    if (b[i] !== C.BracketOpen) throw BAIL;
    i = ws(b, i + 1);
    const rowStart = k;
    let live = 0;
    let sum = 0;
    let max = 0;
    if (b[i] !== C.BracketClose) {
      for (;;) {
        if (k === data.length) {
          const bigger = new Float64Array(data.length * 2);
          bigger.set(data);
          data = bigger;
        }
        const c = b[i];
        if (c === C.LowerN) {
          if (probs || b[i + 1] !== 117 || b[i + 2] !== 108 || b[i + 3] !== 108) throw BAIL;
          data[k++] = -Infinity;
          i += 4;
        } else {
          const v = number(b, i);
          i = numberEnd;
          // Mostly long numbers (e.g. the 17-digit repr of random doubles): Number() on each text
          // is ~3x slower than JSON.parse, so hand such a body back as soon as it shows.
          if (slowNumbers > 64 && slowNumbers * 4 > k) throw BAIL;
          if (v - v !== 0) throw BAIL; // 1e400 -> Infinity: the general path words the error
          if (probs) {
            if (!(v >= 0)) throw BAIL;
            if (v > 0) live++;
            sum += v;
            if (v > max) max = v;
          } else live++;
          data[k++] = v;
        }
        i = ws(b, i);
        if (b[i] === C.Comma) {
          i = ws(b, i + 1);
          continue;
        }
        if (b[i] === C.BracketClose) break;
        throw BAIL;
      }
    }
    const width = k - rowStart;
    if (width === 0 || (cols >= 0 && width !== cols) || live === 0) throw BAIL;
    cols = width;
    // Same normalisation guard as parseProbs: a row whose sum overflows is divided by its max.
    if (probs && sum === Infinity) for (let j = rowStart; j < k; j++) data[j] /= max;
    rows++;
    i = ws(b, i + 1);
    if (b[i] === C.Comma) {
      i = ws(b, i + 1);
      continue;
    }
    if (b[i] === C.BracketClose) return { data, rows, cols, end: i + 1 };
    throw BAIL;
  }
}

/** Where the last number() ended (a module variable: no object per number). */
let numberEnd = 0;
/** Numbers of the current matrix that needed Number() on their text. */
let slowNumbers = 0;

/** A JSON number at b[i], correctly rounded; sets numberEnd. */
function number(b: Uint8Array, i: number): number {
  const start = i;
  let neg = false;
  if (b[i] === C.Minus) {
    neg = true;
    i++;
  }
  let c = b[i];
  if (c < C.Zero || c > C.Nine) throw BAIL;
  let mant = 0;
  let digits = 0; // significant digits in mant
  let exp10 = 0;
  if (c === C.Zero) {
    i++;
    c = b[i];
    if (c >= C.Zero && c <= C.Nine) throw BAIL; // leading zero
  } else {
    while (c >= C.Zero && c <= C.Nine) {
      if (digits < 16) {
        mant = mant * 10 + (c - C.Zero);
        if (mant !== 0) digits++;
      } else exp10++;
      c = b[++i];
    }
  }
  if (c === C.Dot) {
    c = b[++i];
    if (c < C.Zero || c > C.Nine) throw BAIL;
    while (c >= C.Zero && c <= C.Nine) {
      if (digits < 16) {
        mant = mant * 10 + (c - C.Zero);
        if (mant !== 0) digits++;
        exp10--;
      }
      c = b[++i];
    }
  }
  if (c === C.LowerE || c === C.UpperE) {
    c = b[++i];
    let eneg = false;
    if (c === C.Plus || c === C.Minus) {
      eneg = c === C.Minus;
      c = b[++i];
    }
    if (c < C.Zero || c > C.Nine) throw BAIL;
    let e = 0;
    while (c >= C.Zero && c <= C.Nine) {
      if (e < 100000) e = e * 10 + (c - C.Zero);
      c = b[++i];
    }
    exp10 += eneg ? -e : e;
  }
  numberEnd = i;
  if (digits <= 15 && exp10 >= -22 && exp10 <= 22) {
    const v = exp10 >= 0 ? mant * POW10[exp10] : mant / POW10[-exp10];
    return neg ? -v : v;
  }
  // 16+ significant digits (or digits dropped above), or a far exponent: the exact conversion.
  slowNumbers++;
  return Number(Buffer.from(b.buffer, b.byteOffset + start, i - start).toString('latin1'));
}

/** Skips one JSON value (any kind) from b[i]; returns the index after it. Bails if malformed. */
function skipValue(b: Uint8Array, i: number): number {
  const n = b.length;
  const c = b[i];
  if (c === C.Quote) {
    for (i++; i < n; i++) {
      if (b[i] === C.Backslash) i++;
      else if (b[i] === C.Quote) return i + 1;
    }
    throw BAIL;
  }
  if (c === C.BracketOpen || c === C.BraceOpen) {
    // Nested: only bracket depth and strings matter; JSON.parse of the rest checks the grammar.
    let depth = 0;
    for (; i < n; i++) {
      const d = b[i];
      if (d === C.Quote) {
        for (i++; i < n && b[i] !== C.Quote; i++) if (b[i] === C.Backslash) i++;
      } else if (d === C.BracketOpen || d === C.BraceOpen) depth++;
      else if (d === C.BracketClose || d === C.BraceClose) {
        if (--depth === 0) return i + 1;
      }
    }
    throw BAIL;
  }
  // A number or a literal: up to the next delimiter; JSON.parse of the rest checks it.
  const s = i;
  while (i < n && b[i] !== C.Comma && b[i] !== C.BraceClose && b[i] !== C.BracketClose && b[i] !== C.Space && b[i] !== C.Lf && b[i] !== C.Cr && b[i] !== C.Tab) i++;
  if (i === s) throw BAIL;
  return i;
}
