import fc from 'fast-check';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { formatRangeBytes } from '../../src/codecs/json-text.js';
import { numberTextWasmAvailable, useNumberTextWasm, writeRangeWasm } from '../../src/codecs/number-text-wasm.js';
import { fromBits, fromWords, nextDown, nextUp, SPECIAL_TEXTS, specials, words } from '../helpers/doubles.js';

/**
 * The oracle is the engine's own JSON.stringify (ECMAScript Number::toString). Inputs: the special
 * cases of Schubfach (powers of two, where the lower neighbour is closer, and ten; subnormals; the
 * layout switches at 1e-7 and 1e21; integers around 2^53; exact ties), every binary exponent, and
 * 10^6 random bit patterns; then the separators of formatRange (rows, cuts, tiles, repeats) on
 * both paths of formatRangeBytes. bench/number-text.ts --check N runs more random patterns.
 */

const latin1 = new TextDecoder('latin1');

/** The WASM writer's text of xs as a vector (comma-separated). */
function wasmText(xs: ArrayLike<number>, width = 1, matrix = false, i0 = 0, i1 = xs.length, at = 0): string {
  const buf = Float64Array.from(xs);
  const out = new Uint8Array(at + (i1 - i0) * 28 + 64);
  const end = writeRangeWasm(buf, width, matrix, i0, i1, out, at);
  expect(end).toBeGreaterThanOrEqual(at);
  return latin1.decode(out.subarray(at, end));
}

/** Every x of xs written by the WASM writer as JSON.stringify writes it; the first difference named. */
function expectAllSame(xs: ArrayLike<number>): void {
  const got = wasmText(xs).split(',');
  const want = Array.from(xs, (x) => JSON.stringify(x));
  expect(got.length).toBe(want.length);
  const bad = want.findIndex((t, i) => got[i] !== t);
  if (bad >= 0) expect(`${got[bad]} for ${xs[bad]}`).toBe(`${want[bad]} for ${xs[bad]}`);
}

describe('number-text-wasm', () => {
  beforeEach(() => {
    useNumberTextWasm(true);
  });

  it('is available on Node (the rest of this file would test nothing otherwise)', () => {
    expect(numberTextWasmAvailable).toBe(true);
  });

  it('the special cases', () => {
    const cases = SPECIAL_TEXTS;
    for (const [x, text] of cases) expect(JSON.stringify(x)).toBe(text); // the table is the oracle's
    expect(wasmText(cases.map(([x]) => x)).split(',')).toEqual(cases.map(([, t]) => t));
    expectAllSame(specials());
  });

  it('the layout switches at 1e-7, 1e-6, 1e20 and 1e21, with 100 neighbours each', () => {
    const xs: number[] = [];
    for (const edge of [1e-7, 1e-6, 1e20, 1e21]) {
      let x = edge;
      for (let i = 0; i < 50; i++) x = nextDown(x);
      for (let i = 0; i < 100; i++, x = nextUp(x)) xs.push(x, -x);
    }
    expectAllSame(xs);
  });

  it('every binary exponent: the smallest, largest and random significands', () => {
    const next = words(21);
    const xs: number[] = [];
    for (let be = 0; be < 2047; be++) {
      const top = BigInt(be) << 52n;
      for (const frac of [0n, 1n, 2n, 3n, (1n << 52n) - 1n, (1n << 52n) - 2n]) xs.push(fromBits(top | frac));
      for (let i = 0; i < 100; i++) xs.push(fromBits(top | (BigInt(next() & 0xfffff) << 32n) | BigInt(next())));
    }
    expectAllSame(xs);
  });

  it('subnormals: the first 20000 multiples of 5e-324 and 20000 random ones', () => {
    const next = words(7);
    const xs: number[] = [];
    for (let i = 1; i <= 20000; i++) xs.push(i * Number.MIN_VALUE);
    for (let i = 0; i < 20000; i++) {
      xs.push(fromWords(next(), next() & 0x800fffff)); // exponent field 0
    }
    expectAllSame(xs);
  });

  it('integers below 2^53 (written directly) and past it (ties at the interval ends)', () => {
    const next = words(11);
    const xs: number[] = [];
    for (let i = 0; i < 20000; i++) {
      const small = next() % 100000;
      const big = Math.floor((next() / 2 ** 32) * 2 ** 53);
      const past = Math.floor((next() / 2 ** 32) * 2 ** (53 + (i % 20))); // up to 2^72
      xs.push(small, big, 2 ** 53 - small, 2 ** 53 + 2 * small, past, -big);
    }
    expectAllSame(xs);
  });

  it('1 to 17 significant digits, and exact ties between two shortest candidates', () => {
    const next = words(13);
    const xs: number[] = [];
    const lengths = new Set<number>();
    for (let i = 0; i < 50000; i++) {
      const digits = 1 + (i % 17);
      let m = 1 + (next() % 9);
      for (let d = 1; d < digits; d++) m = m * 10 + (next() % 10);
      const x = Number(`${m}e${(next() % 60) - 30}`); // a decimal of that many digits, then rounded
      lengths.add(JSON.stringify(x).replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '').replace(/0+$/, '').length);
      xs.push(x, (next() / 2 ** 32) * 10 ** ((next() % 40) - 20));
    }
    expect(lengths.size).toBe(17);
    // x = c / 4 with c = 1 mod 4 in [2^52, 2^53): v 10 ends in .5 exactly, both neighbours inside.
    for (let i = 0; i < 5000; i++) xs.push((2 ** 52 + 4 * (next() % 2 ** 20) + 1) / 4);
    expectAllSame(xs);
  });

  it('10^6 random bit patterns against JSON.stringify', () => {
    const next = words(1);
    const xs = new Float64Array(1_000_000);
    const u = new Uint32Array(xs.buffer);
    for (let i = 0; i < u.length; i++) u[i] = next();
    const out = new Uint8Array(xs.length * 28 + 64);
    const end = writeRangeWasm(xs, 1, false, 0, xs.length, out, 0);
    const text = `[${latin1.decode(out.subarray(0, end))}]`;
    if (text !== JSON.stringify(Array.from(xs))) expectAllSame(xs); // names the first difference
    expect(text.length).toBeGreaterThan(10_000_000);
  });

  it('fast-check doubles, at any offset, touching nothing before it', () => {
    fc.assert(
      fc.property(fc.array(fc.double(), { minLength: 1, maxLength: 40 }), fc.integer({ min: 0, max: 30 }), (xs, at) => {
        const buf = Float64Array.from(xs);
        const out = new Uint8Array(at + xs.length * 28 + 64).fill(7);
        const end = writeRangeWasm(buf, 1, false, 0, xs.length, out, at);
        expect(out.subarray(0, at).every((b) => b === 7)).toBe(true);
        expect(`[${latin1.decode(out.subarray(at, end))}]`).toBe(JSON.stringify(xs));
      }),
      { numRuns: 3000 },
    );
  });

  it('returns -1, writing nothing, when turned off or for a matrix without a width', () => {
    const out = new Uint8Array(64).fill(7);
    expect(writeRangeWasm(Float64Array.of(1), 0, true, 0, 1, out, 0)).toBe(-1);
    const was = useNumberTextWasm(false);
    try {
      expect(writeRangeWasm(Float64Array.of(1), 1, false, 0, 1, out, 0)).toBe(-1);
    } finally {
      useNumberTextWasm(was);
    }
    expect(out.every((b) => b === 7)).toBe(true);
  });
});

/** formatRange's text by JSON.stringify, a number at a time. */
function reference(buf: Float64Array | Int32Array, width: number, matrix: boolean, i0: number, i1: number): string {
  let out = '';
  for (let i = i0; i < i1; i++) out += (i > 0 ? (matrix && i % width === 0 ? '],[' : ',') : '') + JSON.stringify(buf[i]);
  return out;
}

describe.each([
  ['WebAssembly', true],
  ['JavaScript', false],
])('formatRangeBytes on the %s path', (_, wasm) => {
  afterAll(() => {
    useNumberTextWasm(true);
  });
  const text = (buf: Float64Array | Int32Array, width: number, matrix: boolean, i0: number, i1: number) => {
    useNumberTextWasm(wasm);
    return formatRangeBytes(buf, width, matrix, i0, i1).toString('latin1');
  };

  it('rows, cuts and tiles (ranges over 8192 elements), with repeated values, -0, NaN and -Infinity', () => {
    const next = words(17);
    const n = 20_000;
    const buf = new Float64Array(n);
    const u = new Uint32Array(buf.buffer);
    for (let i = 0; i < n; i++) {
      const r = next() % 10;
      if (r < 3 && i > 0) buf[i] = buf[i - 1]; // a repeat: a copy of the previous text
      else if (r === 3) buf[i] = [-0, 0, Number.NaN, -Infinity, 1, 0.5][next() % 6];
      else {
        u[2 * i] = next();
        u[2 * i + 1] = next();
      }
    }
    for (const [width, matrix] of [[1, false], [7, true], [1000, true], [8192, true], [1, true]] as const) {
      expect(text(buf, width, matrix, 0, n)).toBe(reference(buf, width, matrix, 0, n));
      for (let k = 0; k < 5; k++) {
        const i0 = next() % n;
        const i1 = i0 + (next() % (n - i0 + 1));
        expect(text(buf, width, matrix, i0, i1)).toBe(reference(buf, width, matrix, i0, i1));
      }
    }
  });

  it('Int32Array outputs (indices)', () => {
    const buf = Int32Array.from({ length: 9000 }, (_, i) => (i % 3 === 0 ? -i : i * 7919) | 0);
    expect(text(buf, 3, true, 0, buf.length)).toBe(reference(buf, 3, true, 0, buf.length));
    expect(text(buf, 1, false, 5, 8999)).toBe(reference(buf, 1, false, 5, 8999));
  });

  it('fast-check matrices of doubles, any range', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 9 }),
        fc.array(fc.double(), { minLength: 1, maxLength: 90 }),
        fc.nat(),
        fc.nat(),
        (width, xs, a, b) => {
          const buf = Float64Array.from(xs);
          const i0 = a % (xs.length + 1);
          const i1 = i0 + (b % (xs.length - i0 + 1));
          expect(text(buf, width, true, i0, i1)).toBe(reference(buf, width, true, i0, i1));
          expect(text(buf, width, false, i0, i1)).toBe(reference(buf, width, false, i0, i1));
        },
      ),
      { numRuns: 2000 },
    );
  });
});
