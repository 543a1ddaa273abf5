import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { readNumberArray, scanBody, type ScannedBody } from '../../src/codecs/body-scan.js';
import { LANE_MAX, laneRead, laneReset, laneStop, laneValues, numberLaneOn, setNumberLane } from '../../src/codecs/number-scan-wasm.js';

/**
 * The WebAssembly number lane against JSON.parse (the oracle) on a million number texts of every
 * shape, and body-scan with the lane against body-scan without it (its JavaScript path, itself
 * checked against JSON.parse in body-scan.test.ts): the same values bit for bit, the same errors
 * at the same bytes, at the boundaries where the lane hands over to JavaScript and back.
 */

const enc = (s: string) => new TextEncoder().encode(s);

afterEach(() => setNumberLane(true));

// A fixed-seed generator (xorshift32), so a failure names a reproducible text.
let seed = 0x2545f491;
const u32 = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return seed >>> 0;
};
const below = (n: number) => u32() % n;
const digitsOf = (n: number, first1to9: boolean) => {
  let s = first1to9 ? String(1 + below(9)) : String(below(10));
  for (let i = 1; i < n; i++) s += String(below(10));
  return s;
};

/** A JSON number text of a random shape: 1-25 digits, fraction, exponent, signs, zeros. */
function numberText(): string {
  const shape = below(10);
  if (shape === 0) return ['0', '-0', '0.0', '-0.0', '0e5', '-0E-3', '0.000', '1', '-1', '9007199254740992', '9007199254740993'][below(11)];
  if (shape === 1) return ((u32() & 1 ? -1 : 1) * (u32() / 2 ** 29)).toFixed(below(8)); // logits-like
  if (shape === 2) {
    const f = new Float64Array(1);
    const w = new Uint32Array(f.buffer);
    do {
      w[0] = u32();
      w[1] = u32();
    } while (!Number.isFinite(f[0]));
    return String(f[0]); // shortest round trip, 1-17 digits, exponents to +-308
  }
  if (shape === 3) return String(Math.exp(-20 * (u32() / 2 ** 32)) / (1 + below(1000))); // probability-like
  let s = u32() & 1 ? '-' : '';
  const intDigits = below(4) === 0 ? 0 : 1 + below(below(3) === 0 ? 25 : 8);
  s += intDigits === 0 ? '0' : digitsOf(intDigits, true);
  if (below(3) !== 0) {
    const zeros = below(4) === 0 ? below(6) : 0;
    s += '.' + '0'.repeat(zeros) + digitsOf(1 + below(below(3) === 0 ? 25 : 8), false);
  }
  if (below(3) === 0) {
    s += u32() & 1 ? 'e' : 'E';
    s += ['', '+', '-'][below(3)];
    s += below(5) === 0 ? '0' + String(below(400)) : String(below(below(2) ? 30 : 400));
  }
  return s;
}

const WS = [' ', '\n', '\t', '\r', '  ', ' \n '];
const sep = () => (below(4) === 0 ? WS[below(WS.length)] : '');

/** Significant digits and decimal exponent: whether Clinger's exact case covers the text. */
function inExactCase(t: string): boolean {
  const m = /^-?(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(t);
  if (!m) return false;
  const digits = (m[1] + (m[2] ?? '')).replace(/^0+/, '');
  const s = Number(m[3] ?? 0) - (m[2]?.length ?? 0);
  return digits.length <= 15 && Math.abs(s) <= 22;
}

/**
 * Reads `texts` (joined by commas and random whitespace, then `]`) with the lane, as body-scan
 * does: where it stops at an element it does not handle, that element is skipped (JavaScript's
 * part) and the lane entered again after it. Returns the values by element (undefined: left to
 * JavaScript).
 */
function readWithLane(texts: string[]): (number | undefined)[] {
  let text = '';
  const starts: number[] = [];
  for (let t = 0; t < texts.length; t++) {
    if (t > 0) text += sep() + ',' + sep();
    starts.push(text.length);
    text += texts[t];
  }
  text += sep() + ']';
  const b = enc(text);
  const got: (number | undefined)[] = new Array(texts.length).fill(undefined);
  laneReset();
  let e = 0; // the element at b[i]
  let i = starts[0];
  for (;;) {
    const r = laneRead(b, i, b.length);
    const n = r >> 2;
    for (let t = 0; t < n; t++) got[e + t] = laneValues[t];
    e += n;
    if ((r & 3) === 1) {
      expect(e).toBe(texts.length);
      expect(laneStop.at).toBe(text.length - 1);
      return got;
    }
    let at = laneStop.at;
    if ((r & 3) === 2) while (b[at] === 32 || b[at] === 10 || b[at] === 9 || b[at] === 13) at++; // see laneRead
    if (at !== starts[e]) expect(at, `stop of element ${e}: ${texts[e]}`).toBe(starts[e]);
    if ((r & 3) !== 2) e++; // JavaScript's element
    else if (n === 0) expect.fail('the lane refused an element for room (its tile is refilled)');
    if (e === texts.length) return got;
    i = starts[e];
  }
}

describe('the number lane = JSON.parse', () => {
  it('is available here (WebAssembly), and can be switched off', () => {
    expect(numberLaneOn()).toBe(true);
    setNumberLane(false);
    expect(numberLaneOn()).toBe(false);
  });

  it('on 10^6 number texts of every shape: every value it writes is JSON.parse\'s, and it writes every exact-case one', () => {
    let handled = 0;
    let exact = 0;
    for (let batch = 0; batch < 100; batch++) {
      const texts = Array.from({ length: 10_000 }, numberText);
      const want = JSON.parse(`[${texts.join(',')}]`) as number[];
      const got = readWithLane(texts);
      for (let t = 0; t < texts.length; t++) {
        const g = got[t];
        if (g !== undefined) {
          handled++;
          if (!Object.is(g, want[t])) expect(g, texts[t]).toBe(want[t]);
        }
        if (inExactCase(texts[t])) {
          exact++;
          if (g === undefined) expect.fail(`left an exact-case number to JavaScript: ${texts[t]}`);
        }
      }
    }
    // Most of the shapes are in the exact case; the rest checks the hand-over.
    expect(exact).toBeGreaterThan(400_000);
    expect(handled).toBeGreaterThanOrEqual(exact);
  });

  it('stops, unread, at what JSON does not allow or it does not handle', () => {
    for (const bad of ['01', '-', '-a', '1.', '1.e5', '1e', '1e+', '.5', '+1', '1.5x', '1x', 'null', '"1"', '[1]', 'NaN', '1 2', '12345678901234567890', '1e400', '2e-320']) {
      const b = enc(`1, 2.5 ,${bad},3]`);
      laneReset();
      const r = laneRead(b, 0, b.length);
      expect([r >> 2, r & 3, laneStop.at], bad).toEqual([2, 0, 8]);
      expect(Array.from(laneValues.subarray(0, 2))).toEqual([1, 2.5]);
    }
  });

  it('ends at the `]` after whitespace, and a trailing comma is not an end', () => {
    const b = enc('-1.5 ,\n\t2 \r\n]');
    laneReset();
    const r = laneRead(b, 0, b.length);
    expect([r >> 2, r & 3, laneStop.at]).toEqual([2, 1, b.length - 1]);
    const c = enc('1,2, ]');
    laneReset();
    const s = laneRead(c, 0, c.length);
    expect([s >> 2, s & 3, laneStop.at]).toEqual([2, 0, 5]);
  });

  it('starts no element at or past its limit, and writes at most LANE_MAX a call', () => {
    const b = enc('1,2,3,4]');
    laneReset();
    const r = laneRead(b, 0, 4);
    expect([r >> 2, r & 3, laneStop.at]).toEqual([2, 2, 4]);
    const many = enc(Array.from({ length: LANE_MAX + 5 }, (_, t) => String(t)).join(',') + ']');
    laneReset();
    const s = laneRead(many, 0, many.length);
    expect([s >> 2, s & 3]).toEqual([LANE_MAX, 2]);
    expect(laneValues[LANE_MAX - 1]).toBe(LANE_MAX - 1);
  });

  it('reads across its 1 MiB tiles: numbers cut by a tile end are read whole from the next', () => {
    const texts = Array.from({ length: 150_000 }, (_, t) => (t % 3 === 0 ? '-' : '') + (t / 7).toFixed(1 + (t % 6)));
    const got = readWithLane(texts);
    const want = JSON.parse(`[${texts.join(',')}]`) as number[];
    expect(got.every((g, t) => Object.is(g, want[t]))).toBe(true);
  });
});

type Outcome = { body: ScannedBody } | { error: { statusCode: number; message: string; issues?: unknown } };

function scan(text: string, lane: boolean): Outcome {
  setNumberLane(lane);
  try {
    return { body: scanBody(enc(text), { maxElements: 1e7, restMax: 1 << 16 }) };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return { error: { statusCode: e.statusCode, message: e.message, issues: e.issues } };
  } finally {
    setNumberLane(true);
  }
}

/** body-scan with the lane = body-scan without it: the same doubles (bit for bit), shape, errors and rest. */
function expectSameScan(text: string): Outcome {
  const on = scan(text, true);
  const off = scan(text, false);
  if ('error' in off) {
    expect(on, text.slice(0, 200)).toEqual(off);
    return on;
  }
  expect(on, text.slice(0, 200)).toHaveProperty('body');
  const a = (on as { body: ScannedBody }).body;
  const b = off.body;
  expect(a.rest).toBe(b.rest);
  expect(a.matrix === null).toBe(b.matrix === null);
  if (a.matrix && b.matrix) {
    const { data: da, ...ma } = a.matrix;
    const { data: db, ...mb } = b.matrix;
    expect(ma).toEqual(mb);
    expect(da.length).toBe(db.length);
    for (let t = 0; t < da.length; t++) if (!Object.is(da[t], db[t])) expect.fail(`element ${t}: ${da[t]} vs ${db[t]}`);
  }
  return on;
}

const messageOf = (o: Outcome) => ('error' in o ? o.error.message : (o.body.matrix?.shapeError ?? o.body.matrix?.elementError)?.message);

describe('body-scan with the lane = body-scan without it', () => {
  it('at the boundaries of the lane: bad bytes, nulls, whitespace, long numbers between short ones', () => {
    const cases: [string, string | undefined][] = [
      ['{"logits":[[1,2,3x,4]]}', 'the request body is not valid JSON: unexpected `x` at byte 17'],
      ['{"logits":[[1,2,3 x]]}', 'the request body is not valid JSON: unexpected `x` at byte 18'],
      ['{"logits":[[1,2,01]]}', 'the request body is not valid JSON: unexpected `1` at byte 17'],
      ['{"logits":[[1,2,]]}', 'the request body is not valid JSON: unexpected `]` at byte 16'],
      ['{"logits":[[1,2,3.]]}', 'the request body is not valid JSON: unexpected `]` at byte 18'],
      ['{"logits":[[1,-,3]]}', 'the request body is not valid JSON: unexpected `,` at byte 15'],
      ['{"logits":[[1,2,NaN]]}', 'the request body is not valid JSON: unexpected `N` at byte 16'],
      ['{"logits":[[1,null,3],[null,2,null]]}', undefined],
      ['{"logits":[[null,null],[1,2]]}', 'logits[0] has every class masked (null): at least one must be a number'],
      ['{"logits":[[1.5, 2.5 \n\t ],[3 , 4 ]  ]}', undefined],
      ['{"logits":[[1,2,3],[4,5]]}', 'rows have different lengths: row 0 has 3, row 1 has 2'],
      ['{"logits":[[1,2,0.30000000000000004,3,123456789012345678901234567890,5,1e400]]}', 'logits[0][6] must be a finite number or null'],
      ['{"logits":[[1,2,"a",4,9007199254740993,6]]}', 'logits[0][2] must be a number or null'],
      ['{"probs":[[0.5,0.25,-0.25,1]]}', 'probs[0][2] must be a finite non-negative number'],
      ['{"probs":[[0.5,-0,0.000001,1e-7,2.5e-9]]}', undefined],
      ['{"probs":[[0,0,-0]]}', 'probs[0] sums to 0: at least one entry must be > 0'],
      ['{"probs":[[1e308,1e308,5e307]]}', undefined],
      ['{"logits":[[1,2]],"logits":[[3,4,5]]}', undefined],
      ['{"logits":[[1e22,1e23,1e-22,1e-23,-0.0,0e999]]}', undefined],
    ];
    for (const [text, message] of cases) expect(messageOf(expectSameScan(text)), text).toBe(message);
  });

  it('reads across the lane\'s tiles when whitespace after a comma runs past a tile\'s end', () => {
    // The lane's first tile starts at the first number (p0) and ends 1 MiB later: whitespace from
    // just before that end to past it, after a comma, for each offset of the comma before it.
    for (const before of [70, 66, 64, 40, 10, 1]) {
      const head = '{"logits":[[';
      const tileEnd = head.length + (1 << 20);
      let text = head;
      let t = 0;
      while (text.length < tileEnd - before - 14) text += `${(t++ / 7).toFixed(4)},${t % 5 === 0 ? ' ' : ''}`;
      text += '1'.repeat(tileEnd - before - 1 - text.length); // a number the lane reads, its comma at tileEnd - before - 1
      text += ',' + ' '.repeat(before + 50) + '2.5,3]]}';
      const on = expectSameScan(text) as { body: ScannedBody };
      expect(on.body.matrix!.elementError).toBeUndefined();
      expect(Array.from(on.body.matrix!.data.slice(-2))).toEqual([2.5, 3]);
    }
  });

  it('converts long numbers in segments of bounded size between lane runs (rows of 60000, mixed)', () => {
    const row = (r: number) => Array.from({ length: 60_000 }, (_, t) => (t % 97 === r ? '0.1234567890123456789' : t % 89 === 0 ? 'null' : (t / 13).toFixed(4))).join(',');
    const text = `{"logits":[[${row(0)}],[${row(5)}]]}`;
    expectSameScan(text);
    const want = (JSON.parse(text) as { logits: (number | null)[][] }).logits.flat().map((v) => (v === null ? -Infinity : v));
    const got = (scan(text, true) as { body: ScannedBody }).body.matrix!.data;
    expect(Array.from(got)).toEqual(want);
  });

  it('on generated rows of mixed number texts, nulls, whitespace and corruptions (fast-check)', () => {
    const element = fc.oneof(
      fc.constantFrom('null', '-0', '0', '1e23', '123456789012345678901', '0.1e-400', '"x"', '[]'),
      fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => String(x)),
      fc.integer({ min: -1e6, max: 1e6 }).map((x) => (x / 1000).toFixed(3)),
      fc.constant(null).map(() => numberText()),
    );
    const ws = fc.constantFrom('', '', '', ' ', '\n', ' \t ');
    const rowArb = fc.array(fc.tuple(ws, element, ws).map(([a, e, b]) => a + e + b), { minLength: 1, maxLength: 30 });
    fc.assert(
      fc.property(fc.array(rowArb, { minLength: 1, maxLength: 4 }), fc.boolean(), fc.nat(), fc.constantFrom('x', ',', ']', '-', '.', 'e', '0', ' ', '['), (rows, corrupt, at, byte) => {
        let text = `{"logits":[${rows.map((r) => `[${r.join(',')}]`).join(',')}]}`;
        if (corrupt) {
          const k = 11 + (at % (text.length - 12));
          text = text.slice(0, k) + byte + text.slice(k + 1);
        }
        expectSameScan(text);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('readNumberArray (OIP data) with the lane = without it', () => {
  const read = (text: string, lane: boolean) => {
    setNumberLane(lane);
    try {
      const b = enc(text);
      const r = readNumberArray(b, 0, 1e6, () => new Float64Array(1e6));
      return { ...r, data: Array.from(r.data) };
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      return { error: e.message };
    } finally {
      setNumberLane(true);
    }
  };
  it('on flat arrays and rows, with nulls, bad elements, long numbers and syntax errors', () => {
    for (const text of [
      '[1,2.5,-3e2,null,4]',
      '[[1,2],[3,4]]',
      '[[1,2],[3]]',
      '[1,"a",3,9007199254740993,1e400,6]',
      '[1,2,3x]',
      '[1,2,]',
      '[ 1 , 2 ,\n 3 ]',
      '[0.1,0.2,0.30000000000000004,12345678901234567890123]',
    ]) {
      expect(read(text, true), text).toEqual(read(text, false));
    }
    expect(read('[1,2.5,-3e2,null,4]', true)).toMatchObject({ data: [1, 2.5, -300, -Infinity, 4], count: 5 });
  });
});
