import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { NUMBER_MAX_BYTES, numberScan, readNumberFast, readNumberText, scanNumber, writeNumber } from '../../src/codecs/number-text.js';
import { bitsOf, fromWords, nextDown, nextUp, randomDouble, SPECIAL_TEXTS, specials, words } from '../helpers/doubles.js';

/**
 * The oracles are the engine's own: JSON.stringify (ECMAScript Number::toString) for the writer,
 * JSON.parse for the reader. Inputs: the special cases of both algorithms (powers of two and ten
 * and their neighbours, subnormals, the exponent layout switches, integers past 2^53, exact ties)
 * and 10^6 random bit patterns. 10^7 (the figure) took 22 s here, too long for the suite:
 * `npm run bench:number-text -- --check 10000000` runs them.
 */

const buf = new Uint8Array(64);
const latin1 = new TextDecoder('latin1');
const write = (x: number) => latin1.decode(buf.subarray(0, writeNumber(buf, 0, x)));
const read = (s: string) => {
  const b = Buffer.from(s, 'latin1');
  return readNumberText(b, 0, b.length);
};

/** The exact decimal text of c 2^q (q < 0), e.g. for halfway points between doubles. */
function exactDecimal(c: bigint, q: number): string {
  if (q >= 0) return (c << BigInt(q)).toString();
  const digits = (c * 5n ** BigInt(-q)).toString().padStart(-q + 1, '0');
  return `${digits.slice(0, q)}.${digits.slice(q)}`;
}
/** The mantissa and exponent of a positive finite double: x = c 2^q. */
function parts(x: number): [bigint, number] {
  const bits = bitsOf(x);
  const be = Number(bits >> 52n);
  const frac = bits & ((1n << 52n) - 1n);
  return be === 0 ? [frac, -1074] : [frac | (1n << 52n), be - 1075];
}

describe('writeNumber', () => {
  it('writes JSON.stringify text for the special cases', () => {
    const cases = SPECIAL_TEXTS;
    for (const [x, text] of cases) {
      expect(write(x)).toBe(text);
      expect(JSON.stringify(x)).toBe(text); // the table itself is the oracle's
    }
    for (const x of specials()) expect(write(x)).toBe(JSON.stringify(x));
  });

  it('the layout switches at 1e-7 and 1e21, with their neighbours', () => {
    for (const edge of [1e-7, 1e-6, 1e21, 1e20]) {
      let x = edge;
      for (let i = 0; i < 50; i++) x = nextDown(x);
      for (let i = 0; i < 100; i++, x = nextUp(x)) expect(write(x)).toBe(JSON.stringify(x));
    }
  });

  it('subnormals: the first 20000 and random ones', () => {
    for (let i = 1; i <= 20000; i++) expect(write(i * Number.MIN_VALUE)).toBe(JSON.stringify(i * Number.MIN_VALUE));
    const next = words(7);
    for (let i = 0; i < 20000; i++) {
      const x = fromWords(next(), next() & 0x800fffff); // exponent field 0
      expect(write(x)).toBe(JSON.stringify(x));
    }
  });

  it('integers up to 2^53 and past it (where the exact path decides ties at the interval ends)', () => {
    const next = words(11);
    for (let i = 0; i < 20000; i++) {
      const small = next() % 100000;
      const big = Math.floor((next() / 2 ** 32) * 2 ** 53);
      const past = Math.floor((next() / 2 ** 32) * 2 ** (53 + (i % 20))); // up to 2^72
      for (const x of [small, big, 2 ** 53 - small, 2 ** 53 + 2 * small, past]) expect(write(x)).toBe(JSON.stringify(x));
    }
  });

  it('17 significant digits, and exact ties between two shortest candidates', () => {
    const next = words(13);
    let seventeen = 0;
    for (let i = 0; i < 50000; i++) {
      const x = (next() / 2 ** 32) * 10 ** ((next() % 40) - 20);
      const t = JSON.stringify(x);
      if (t.replace(/e.*$/, '').replace(/[-.]/g, '').replace(/^0+/, '').length === 17) seventeen++;
      expect(write(x)).toBe(t);
    }
    expect(seventeen).toBeGreaterThan(1000);
    // x = c / 4 with c = 1 mod 4 in [2^52, 2^53): v 10 ends in .5 exactly, both neighbours inside.
    for (let i = 0; i < 5000; i++) {
      const x = (2 ** 52 + 4 * (next() % 2 ** 20) + 1) / 4;
      expect(write(x)).toBe(JSON.stringify(x));
    }
  });

  it('random bit patterns: 10^6 written against JSON.stringify, and read back against JSON.parse', () => {
    const next = words(1);
    const out = new Uint8Array(32);
    let mismatches = 0;
    let first = '';
    for (let i = 0; i < 1_000_000; i++) {
      const x = randomDouble(next);
      const end = writeNumber(out, 0, x);
      const text = JSON.stringify(x);
      let ok = latin1.decode(out.subarray(0, end)) === text;
      if (ok && text !== 'null') ok = Object.is(readNumberText(out, 0, end), JSON.parse(text));
      if (!ok && !mismatches++) first = `${write(x)} for ${text}`;
    }
    expect(first).toBe('');
    expect(mismatches).toBe(0);
  });

  it('fast-check doubles, at any offset, touching nothing before it', () => {
    fc.assert(
      fc.property(fc.double(), fc.integer({ min: 0, max: 30 }), (x, at) => {
        const out = new Uint8Array(at + NUMBER_MAX_BYTES).fill(7);
        const end = writeNumber(out, at, x);
        expect(out.subarray(0, at).every((b) => b === 7)).toBe(true);
        expect(latin1.decode(out.subarray(at, end))).toBe(JSON.stringify(x));
        expect(end - at).toBeLessThanOrEqual(NUMBER_MAX_BYTES);
      }),
      { numRuns: 20000 },
    );
  });
});

describe('readNumberText', () => {
  const same = (text: string) => {
    const ours = read(text);
    const theirs = JSON.parse(text) as number;
    if (!Object.is(ours, theirs)) expect(`${text} -> ${ours}`).toBe(`${text} -> ${theirs}`);
  };

  it('random doubles: their shortest text, 17 significant digits and their exact decimals', () => {
    const next = words(3);
    for (let i = 0; i < 300_000; i++) {
      const x = randomDouble(next);
      if (!Number.isFinite(x)) continue;
      same(JSON.stringify(x));
      same(x.toPrecision(17));
      if (i % 100 === 0 && x !== 0) {
        const [c, q] = parts(Math.abs(x));
        same((x < 0 ? '-' : '') + exactDecimal(c, q)); // hundreds of digits for small |x|
      }
    }
  });

  it('special doubles and their neighbours, in shortest and 17-digit text', () => {
    for (const x of specials()) {
      same(JSON.stringify(x));
      same(x.toPrecision(17));
    }
  });

  it('halfway points between neighbouring doubles, exactly and a hair either side (long texts)', () => {
    const next = words(5);
    const xs = [...specials().filter((x) => x > 0 && x < Number.MAX_VALUE)];
    for (let i = 0; i < 3000; i++) xs.push(Math.abs(randomDouble(next)) || 1);
    for (const x of xs) {
      if (!Number.isFinite(x) || x === Number.MAX_VALUE) continue;
      const [c, q] = parts(x);
      const half = exactDecimal(2n * c + 1n, q - 1); // (x + next up) / 2
      same(half);
      same(`${half}${half.includes('.') ? '' : '.'}000000000000000000001`);
      // Just below: the last digit lowered, then nines.
      if (/[1-9]$/.test(half)) same(`${half.slice(0, -1)}${Number(half.slice(-1)) - 1}999999999999999999`);
    }
  });

  it('random decimal texts of 1 to 40 digits with exponents over the whole range', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.stringMatching(/^[1-9][0-9]{0,39}$/),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: -360, max: 330 }),
        (neg, digits, point, exp) => {
          const p = Math.min(point, digits.length - 1);
          const mant = p > 0 ? `${digits.slice(0, digits.length - p)}.${digits.slice(digits.length - p)}` : digits;
          same(`${neg ? '-' : ''}${mant}e${exp}`);
          same(`${neg ? '-' : ''}0.${'0'.repeat(point)}${digits}`);
        },
      ),
      { numRuns: 50000 },
    );
  });

  it('the overflow and underflow edges', () => {
    for (const t of [
      '1.7976931348623157e308',
      '1.7976931348623158e308',
      '1.7976931348623159e308', // rounds to Infinity
      '179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559699508093042880177904174497791',
      '1e308',
      '1e309',
      '1e400',
      '-1e400',
      '2.2250738585072014e-308',
      '2.2250738585072011e-308', // the largest subnormal's neighbourhood
      '4.9406564584124654e-324',
      '2.4703282292062327e-324', // just below half the smallest subnormal: 0
      '2.4703282292062328e-324', // just above: the smallest subnormal
      '2.47032822920623272088284396434110686182529901307162382212792841250337753635104375932649918180817996189898282347722858865463328355177969898199387398005390939063150356595155702263922908583924491051844359318028499365361525003193704576782492193656236698636584807570015857692699037063119282795585513329278343384093519780155312465972635795746227664652728272200563740064854999770965994704540208281662262378573934507363390079677619305775067401763246736009689513405355374585166611342237666786041621596804619144672918403005300575308490487653917113865916462395249126236538818796362393732804238910186723484976682350898633885879256283027559956575244555072551893136908362547791869486679949683240497058210285131854513962138377228261454376934125320985913276672363281255e-324',
      '1e-400',
      '-1e-400',
      '0e999999',
      '-0',
      '-0.0e-5',
      '1e-99999',
      '123456789012345678901234567890e-30',
      '9007199254740993',
      '9007199254740992.5',
      '9007199254740993.0000000000000000000000000001',
    ])
      same(t);
  });

  it('NaN for text that is not a JSON number', () => {
    for (const t of ['', '-', '01', '1.', '.5', '1e', '1e+', '+1', '0x10', 'Infinity', 'NaN', '1.5.5', '--1', '1e5e5', '1,2']) {
      expect(read(t)).toBeNaN();
      expect(() => JSON.parse(t)).toThrow();
    }
    // The span is the number's own: white space around it is the caller's to skip.
    for (const t of ['1 ', ' 1', '\n1']) expect(read(t)).toBeNaN();
    // A span that stops inside a longer number is read as the text of the span alone.
    const b = Buffer.from('12.5e3,7');
    expect(readNumberFast(b, 0, 2)).toBeNaN();
    expect([readNumberText(b, 0, 2), readNumberText(b, 0, 4), readNumberText(b, 0, 6), readNumberText(b, 7, 8)]).toEqual([12, 12.5, 12500, 7]);
  });

  it('scanNumber: where a number stops, and why', () => {
    const scan = (text: string, at = 0) => {
      const v = scanNumber(Buffer.from(text, 'latin1'), at);
      return [v, numberScan.end, numberScan.status];
    };
    expect(scan('[-12.5e1,3]', 1)).toEqual([-125, 8, 0]);
    expect(scan('01')).toEqual([0, 1, 0]); // a leading zero ends the number
    expect(scan('-0')).toEqual([-0, 2, 0]);
    expect(scan('0.1234567890123456789')).toEqual([0.1234567890123456789, 21, 0]);
    expect(scan('1.8e308}')).toEqual([Infinity, 7, 0]); // out of range: the caller checks
    expect(scan('1e400')).toEqual([Number.NaN, 5, 1]); // past the table: the exact conversion's
    expect(scan('1.00000000000000000000001]')).toEqual([Number.NaN, 25, 1]); // over 19 digits
    for (const [text, at] of [['-', 1], ['-x', 1], ['1.', 2], ['1.e5', 2], ['1e', 2], ['1e+', 3], ['x', 0], ['.5', 0]] as const) {
      expect(scan(text)).toEqual([Number.NaN, at, 2]);
    }
  });

  it('the fast path answers the common texts itself (NaN only for the exact conversion)', () => {
    const next = words(9);
    let missed = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = randomDouble(next);
      if (!Number.isFinite(x) || Math.abs(x) < 1e-305) continue; // subnormal results and their edge: exact path
      const b = Buffer.from(JSON.stringify(x));
      const v = readNumberFast(b, 0, b.length);
      if (Number.isNaN(v)) missed++;
      else expect(v).toBe(x);
    }
    expect(missed).toBeLessThan(10);
  });
});
