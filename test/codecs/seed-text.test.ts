import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isUint53Text } from '../../src/codecs/exact-integer.js';
import { seedTextIsExact, soleMemberText, topLevelNumberText } from '../../src/codecs/seed-text.js';

/**
 * topLevelNumberText(text, key) must find the member JSON.parse keeps (the last top-level one
 * whose decoded key is `key`) and give its number's exact text; JSON.parse is the oracle.
 */

const ws = fc.constantFrom('', ' ', '\n', '\t', '\r\n  ', '    ');

/** Keys: "seed" plainly and with escapes, near misses, and any string. */
const key = fc.oneof(
  fc.constantFrom('"seed"', '"se\\u0065d"', '"\\u0073\\u0065\\u0065\\u0064"', '"s\\u0065ed"', '"SEED"', '"seeds"', '"see"', '"se\\"ed"', '"seed\\\\"', '"\\\\seed"', '"seed "', '""'),
  fc.string().map((s) => JSON.stringify(s)),
);

const number = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => JSON.stringify(x)),
  fc.constantFrom('42', '42.0', '4.2e1', '420E-1', '-0', '9007199254740991.4', '1e-400', '-1e-400', '0.5', '1e400'),
);

/** Values: numbers, and anything else, including objects and strings that contain "seed". */
const value = fc.oneof(
  number,
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.constantFrom('{"seed": 1.5}', '[{"seed":2}]', '"seed"', '"\\"seed\\": 3"', '{"a":{"seed":0.5},"b":"}"}', 'null', 'true', '"\\\\"'),
);

const member = fc.tuple(ws, key, ws, ws, value, ws).map(([a, k, b, c, v, d]) => ({ key: k, value: v, text: `${a}${k}${b}:${c}${v}${d}` }));

const objectText = fc.tuple(ws, fc.array(member, { maxLength: 6 }), ws).map(([a, members, b]) => ({
  members,
  text: `${a}{${members.map((m) => m.text).join(',')}${members.length ? '' : b}}${b}`,
}));

describe('topLevelNumberText', () => {
  it('finds the member JSON.parse keeps, and its number text exactly', () => {
    fc.assert(
      fc.property(objectText, ({ members, text }) => {
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const got = topLevelNumberText(text, 'seed');
        const kept = members.filter((m) => JSON.parse(m.key) === 'seed').at(-1);
        if (typeof parsed.seed === 'number') {
          expect(got, text).toBe(kept!.value);
          expect(Object.is(Number(got), parsed.seed), text).toBe(true);
        } else {
          expect(got, text).toBeUndefined();
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('reads any JSON object as JSON.stringify writes it', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.oneof(fc.string(), fc.constant('seed')), fc.jsonValue()), (o) => {
        const text = JSON.stringify(o);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const got = topLevelNumberText(text, 'seed');
        if (typeof parsed.seed === 'number') expect(got).toBe(JSON.stringify(parsed.seed));
        else expect(got).toBeUndefined();
      }),
    );
  });

  it.each([
    ['{"seed":1,"seed":0.5}', '0.5'],
    ['{"seed":0.5,"seed":1}', '1'],
    ['{"seed":0.5,"seed":"1"}', undefined],
    ['{"se\\u0065d" : 1e-400}', '1e-400'],
    ['{"a":{"seed":0.5},"seed":7}', '7'],
    ['{"a":{"seed":0.5}}', undefined],
    ['{"a":"\\"seed\\":0.5","b":[{"seed":1}]}', undefined],
    ['{"a":"\\\\","seed":-0}', '-0'],
    ['  {\n\t"seed"\r\n:\n9007199254740991.4\n}\n', '9007199254740991.4'],
    ['{"logits":0,"seed":42}', '42'],
    ['{}', undefined],
    ['[{"seed":1}]', undefined],
    ['"seed"', undefined],
    ['12', undefined],
  ])('%s -> %s', (text, expected) => {
    expect(topLevelNumberText(text, 'seed')).toBe(expected);
  });

  it('ends, without throwing, on text that is not valid JSON', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'{}[]":,\\ seed0.5e-') }), (text) => {
        const got = topLevelNumberText(text, 'seed');
        expect(got === undefined || typeof got === 'string').toBe(true);
      }),
      { numRuns: 3000 },
    );
    for (const t of ['{', '{"', '{"seed', '{"seed":', '{"seed":1', '{"seed":[1', '{"se\\ud":1}', '{"a":"\\"}', '']) {
      expect(() => topLevelNumberText(t, 'seed')).not.toThrow();
    }
  });

  it('is linear: a body of many escaped strings and deep nesting is read in one pass', () => {
    // Not timed: these shapes would take minutes if any scan restarted from the start.
    const n = 200_000;
    const text = `{"a":[${'"\\\\\\"",'.repeat(n)}1],"b":${'['.repeat(n)}${']'.repeat(n)},"seed":3}`;
    expect(topLevelNumberText(text, 'seed')).toBe('3');
  });
});

describe('seedTextIsExact', () => {
  it.each([
    ['{"logits":0,"seed":42}', true],
    ['{"logits":0,"seed":4.2e1}', true],
    ['{"logits":0,"seed":-0}', true],
    ['{"logits":0}', true],
    ['{"logits":0,"seed":"0.5"}', true], // not a number: the schema refuses it
    ['{"logits":0,"seed":9007199254740991.4}', false],
    ['{"logits":0,"seed":1e-400}', false],
    ['{"logits":0,"s\\u0065ed":0.5}', false],
    ['{"logits":0,"seed":0.5,"seed":1}', true],
  ])('%s -> %s', (text, expected) => {
    expect(seedTextIsExact(text)).toBe(expected);
  });
});

describe('soleMemberText (the walk-free path of seedTextIsExact)', () => {
  it('gives what the walk gives, on objects with a top-level seed among seeds elsewhere, escapes and look-alike strings (property)', () => {
    fc.assert(
      fc.property(objectText, number, fc.nat(6), (o, seed, at) => {
        // A top-level seed, as the callers guarantee (they parsed it), somewhere among the members.
        const members = o.members.map((m) => m.text);
        members.splice(Math.min(at, members.length), 0, `"seed":${seed}`);
        const text = `{${members.join(',')}}`;
        try {
          JSON.parse(text);
        } catch {
          return; // a member text that is not valid JSON (keys of any string are)
        }
        const walked = topLevelNumberText(text, 'seed');
        expect(seedTextIsExact(text)).toBe(walked === undefined || isUint53Text(walked));
        const sole = soleMemberText(text, 'seed');
        if (sole !== undefined) expect(sole).toBe(walked);
      }),
      { numRuns: 500 },
    );
  });

  it.each([
    ['{"seed":7}', '7'],
    ['{"a":"seed","seed":7}', '7'], // a string value "seed" is not a name
    ['{"seed":7,"b":{"seed":1}}', undefined], // two names: walk
    ['{"s\\u0065ed":0.5,"x":"seed"}', undefined], // an escape: walk
    ['{"a":1}', undefined],
  ])('%s -> %s', (text, expected) => {
    expect(soleMemberText(text, 'seed')).toBe(expected);
  });
});
