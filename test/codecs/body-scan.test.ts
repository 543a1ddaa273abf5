import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { scanBody } from '../../src/codecs/body-scan.js';
import { FAST_MIN_BYTES, KNOWN_KEYS, ROW_ARRAYS, parseJson, prepare, prepareBytes } from '../../src/codecs/v1-json.js';
import { OP_NAMES as ENDPOINTS, type Job, type OpName as EndpointName } from '../../src/ops/index.js';

/**
 * The byte scanner against the general path (JSON.parse + src/schemas/matrix.ts) as the oracle:
 * on every body JSON.parse accepts, the same Job bit for bit or the same error (status, code,
 * message, issues); on every body it refuses, a 400 saying the body is not valid JSON. Bodies are
 * generated valid and invalid in every way the matrix can be (strings, nested values, non-finite
 * and long numbers, masked rows, ragged rows, both matrices, repeated keys, corrupted bytes).
 */

const enc = (s: string) => new TextEncoder().encode(s);
const LIMITS = { maxElements: 1e6 };

type Outcome = { job: Job } | { error: { statusCode: number; code: string; message: string; issues?: unknown } };

function outcome(f: () => Job): Outcome {
  try {
    return { job: f() };
  } catch (e) {
    if (!(e instanceof ApiError)) throw e;
    return { error: { statusCode: e.statusCode, code: e.code, message: e.message, issues: e.issues } };
  }
}

/** The scanner's path, whatever the body's size (with the endpoint's names, as prepareBytes gives it). */
function scanned(ep: EndpointName, text: string, limits = LIMITS): Outcome {
  return outcome(() => {
    const s = scanBody(enc(text), { maxElements: limits.maxElements, restMax: 1 << 20, knownKeys: KNOWN_KEYS[ep], keepArrays: ROW_ARRAYS[ep] });
    return prepare(ep, parseJson(s.rest), limits, s.matrix ?? undefined);
  });
}

function general(ep: EndpointName, text: string, limits = LIMITS): Outcome | 'invalid-json' {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return 'invalid-json';
  }
  return outcome(() => prepare(ep, body, limits));
}

function sameBits(a: Float64Array, b: Float64Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false;
  return true;
}

function expectSame(ep: EndpointName, text: string, limits = LIMITS): void {
  const want = general(ep, text, limits);
  const got = scanned(ep, text, limits);
  if (want === 'invalid-json') {
    expect(got, text).toHaveProperty('error');
    const e = (got as { error: { statusCode: number; message: string } }).error;
    expect(e.statusCode).toBe(400);
    expect(e.message).toMatch(/^the request body is not valid JSON: unexpected/);
    return;
  }
  if ('error' in want) {
    expect(got, text).toEqual(want);
    return;
  }
  expect(got, text).toHaveProperty('job');
  const g = (got as { job: Job }).job;
  const w = want.job;
  if (w.params.seed !== undefined && (JSON.parse(text) as { seed?: unknown }).seed === undefined) g.params.seed = w.params.seed; // drawn
  expect({ ...g, data: undefined }).toEqual({ ...w, data: undefined });
  expect(sameBits(g.data, w.data), text).toBe(true);
}

// Numbers written every way JSON allows, including the ones that leave the fast conversion.
const NUMBER_TEXTS = [
  '0', '-0', '0.0', '1', '-1', '0.1', '0.30000000000000004', '1e-7', '1E+2', '2.5e3', '-3.25E-2',
  '123456789012345678901234567890', '9007199254740993', '1e22', '1e23', '8.98846567431158e307',
  '1.7976931348623157e308', '2.2250738585072014e-308', '4.9e-324', '5e-324', '1e-400', '0e999',
  '0.000000000000000000000000123', '12345678901234567', '123456789012345.6', '-0.000001',
  '3.141592653589793', '100000000000000000000000', '1.00000000000000011102230246251565404236316680908203125',
  '1.2345678901234567000', '0.10000000000000000555',
];

const number = fc.oneof(
  fc.constantFrom(...NUMBER_TEXTS),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => JSON.stringify(v)),
  fc.double({ min: -1e6, max: 1e6, noNaN: true }).map((v) => v.toFixed(6)),
  fc.integer().map(String),
);
const cell = fc.oneof(
  { weight: 12, arbitrary: number },
  { weight: 2, arbitrary: fc.constant('null') },
  { weight: 1, arbitrary: fc.constantFrom('"2"', '[1]', '{}', '{"a": [1, "]"]}', 'true', 'false', '1e400', '-1e400', '1.8e308', '-1.8e308', '-5', '[]') },
);
const row = fc.oneof(
  { weight: 10, arbitrary: fc.array(cell, { minLength: 0, maxLength: 6 }).map((c) => `[${c.join(', ')}]`) },
  { weight: 1, arbitrary: fc.constantFrom('null', '{}', '"row"', '3', '[[1]]') },
);
const matrix = fc.oneof(
  { weight: 12, arbitrary: fc.array(row, { minLength: 0, maxLength: 5 }).map((r) => `[${r.join(',\n ')}]`) },
  { weight: 1, arbitrary: fc.constantFrom('null', '{}', '"m"', '7', '[]') },
);
const member = fc.oneof(
  fc.tuple(fc.constantFrom('"logits"', '"probs"', '"logit\\u0073"'), matrix).map(([k, m]) => `${k}: ${m}`),
  fc.constantFrom('"temperature": 0.5', '"seed": 7', '"n": 3', '"x": {"a": [1, "]}", {}]}', '"mapping": "entmax"', '"alpha": 1.5', '"log": true', '"hard": true', '"topK": 2'),
);
const body = fc.array(member, { minLength: 0, maxLength: 4 }).map((m) => `{${m.join(', ')}}`);

// Members the scanner leaves out of `rest` or counts: unknown names (array-index-like ones, which
// objects list first, escaped and repeated ones) and nested values of known and unknown fields.
const otherName = fc.oneof(
  fc.constantFrom('x', 'y', '0', '7', '10', '01', '-1', '4294967294', '4294967295', '__proto__', 'se\\u0065d', 'x\\u0079', 'logits', 'probs', 'seed', 'temperature', 'n'),
  fc.nat({ max: 40 }).map((k) => `k${k}`),
  fc.nat({ max: 40 }).map(String),
);
const otherValue = fc.constantFrom('1', '"s"', 'null', '[]', '[ ]', '{}', '[1, [2, {"a": []}]]', '{"seed": 0.5, "b": [[]]}', '[[[[[]]]]]', '[[1, 2]]');
const otherMember = fc.tuple(otherName, otherValue).map(([k, v]) => `"${k}": ${v}`);
const crowded = fc
  .tuple(fc.array(member, { maxLength: 3 }), fc.array(otherMember, { maxLength: 40, size: 'max' }), fc.array(member, { maxLength: 2 }))
  .map(([a, others, c]) => `{${[...a, ...others, ...c].join(', ')}}`);

/** Body text with one byte replaced, inserted or deleted. */
const corrupted = fc
  .tuple(body, fc.nat(), fc.constantFrom('x', '"', '[', ']', ',', '}', '{', ' ', '\\', '0', '-', '.', 'e', ''), fc.constantFrom('replace', 'insert', 'delete'))
  .map(([text, at, ch, how]) => {
    const p = at % Math.max(text.length, 1);
    if (how === 'replace') return text.slice(0, p) + ch + text.slice(p + 1);
    if (how === 'insert') return text.slice(0, p) + ch + text.slice(p);
    return text.slice(0, p) + text.slice(p + 1);
  });

describe('scanBody = JSON.parse + the general validation', () => {
  it('converts every JSON number form exactly as JSON.parse does', () => {
    expectSame('softmax', `{"logits": [[${NUMBER_TEXTS.join(', ')}]]}`);
  });

  it('on generated bodies, valid and invalid, for every endpoint', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ENDPOINTS), body, (ep, text) => expectSame(ep, text)),
      { numRuns: 3000 },
    );
  });

  it('on bodies with many unknown fields (over the 20 a 400 lists) and nested values', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ENDPOINTS), crowded, (ep, text) => expectSame(ep, text)),
      { numRuns: 2000 },
    );
  });

  it('on corrupted bodies', () => {
    fc.assert(
      fc.property(fc.constantFrom(...ENDPOINTS), corrupted, (ep, text) => expectSame(ep, text)),
      { numRuns: 3000 },
    );
  });

  it.each([
    ['an escape in a key', '{"logit\\u0073": [[1]]}'],
    ['a string in the matrix', '{"logits": [[1, "2"]]}'],
    ['a ragged row after a bad element', '{"logits": [[1, "x"], [3]]}'],
    ['a bad element after a masked row', '{"logits": [[null, null], [1, "x"]]}'],
    ['a masked row and a long number', '{"logits": [[1.2345678901234567, 2], [null, null]]}'],
    ['a non-finite long number before a bad element', '{"logits": [[1.2345678901234567e400, "x"]]}'],
    ['a negative long prob', '{"probs": [[1, -1.2345678901234567]], "seed": 1}'],
    ['probs that overflow their sum', '{"probs": [[1e308, 1e308, 0]], "seed": 1}'],
    ['null in probs', '{"probs": [[null, 1]]}'],
    ['both matrices', '{"logits": [[1]], "probs": [[1]]}'],
    ['a repeated key', '{"logits": [[1]], "logits": [[2, 3]]}'],
    ['deep nesting', `{"logits": [[${'['.repeat(100000)}${']'.repeat(100000)}]]}`],
    ['unclosed deep nesting', `{"logits": [[${'['.repeat(100000)}]]}`],
    ['trailing bytes', '{"logits": [[1]]} x'],
    ['no matrix', '{"temperature": 1}'],
    ['not an object', '[[1, 2]]'],
    ['truncated', '{"logits": [[1, 2]'],
    ['a bad escape', '{"logits": [[1]], "x": "\\q"}'],
    ['a control character in a string', '{"logits": [[1]], "x": "a\nb"}'],
  ])('%s', (_name, text) => {
    for (const ep of ['softmax', 'sample'] as const) expectSame(ep, text);
  });

  it('answers 413 before element errors and after shape errors, as the general path', () => {
    const limits = { maxElements: 4 };
    for (const text of ['{"logits": [[1, 2, "x"], [1, 2, 3]]}', '{"logits": [[1, 2, 3], [1, 2]]}', '{"logits": [[1, 2, 3], [null, null, null]]}']) {
      expectSame('softmax', text, limits);
    }
  });

  it('converts long numbers across segment boundaries (one row of 40000 17-digit numbers)', () => {
    const values = Array.from({ length: 40_000 }, (_, j) => Math.sin(j) * 3);
    expectSame('softmax', JSON.stringify({ logits: [values, values.map((v) => -v)] }));
    values[31_000] = NaN; // written as null: masked
    expectSame('softmax', JSON.stringify({ logits: [values] }));
  });

  it('refuses a non-matrix part over restMax, naming the limit', () => {
    const text = `{"logits": [[1]], "x": "${'a'.repeat(2000)}"}`;
    expect(() => scanBody(enc(text), { maxElements: 10, restMax: 1000 })).toThrow(/bytes outside the logits \/ probs matrix; at most 1000/);
  });

  it('holds at most min(maxElements, bytes / 2) doubles', () => {
    let asked = 0;
    const alloc = (n: number) => {
      asked = n;
      return new Float64Array(n);
    };
    const text = JSON.stringify({ logits: [Array.from({ length: 1000 }, () => 0)] });
    scanBody(enc(text), { maxElements: 1e9, restMax: 1 << 20, alloc });
    expect(asked).toBe(Math.floor(text.length / 2) + 1);
    scanBody(enc(text), { maxElements: 300, restMax: 1 << 20, alloc });
    expect(asked).toBe(300);
  });
});

describe('prepareBytes', () => {
  it('takes the scanner for big bodies and gives the general path\'s Job', () => {
    const rows = Array.from({ length: 6 }, (_, r) => Array.from({ length: 700 }, (_, j) => (j % 97 === 0 ? null : Number((Math.sin(r * 700 + j) * 4).toFixed(6)))));
    const text = JSON.stringify({ logits: rows, n: 3, seed: 5, mapping: 'sparsemax' });
    const bytes = enc(text);
    expect(bytes.length).toBeGreaterThanOrEqual(FAST_MIN_BYTES);
    let allocated = 0;
    const job = prepareBytes('sample', bytes, LIMITS, (n) => new Float64Array((allocated = n)));
    expect(allocated).toBeGreaterThan(0); // the scanner's buffer: the path taken
    const want = prepare('sample', JSON.parse(text), LIMITS);
    expect(job.params).toEqual(want.params);
    expect(sameBits(job.data, want.data)).toBe(true);
    expect(() => prepareBytes('sample', bytes, { maxElements: 100 })).toThrow(/over the limit of 100/);
  });
});
