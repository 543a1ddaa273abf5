import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { chunk, encode, encodeInto, plan } from '../../src/codecs/oip-answer.js';
import { decodeOip, type OipWire } from '../../src/codecs/oip-request.js';
import { useNumberTextWasm } from '../../src/codecs/number-text-wasm.js';
import { readBinary, writeBinary } from '../../src/codecs/oip-tensor.js';
import { ApiError } from '../../src/errors.js';
import { layoutOf, run, type Job, type OpName } from '../../src/ops/index.js';
import { binaryInput, binaryRequest, tensorBytes } from '../helpers/oip.js';

/**
 * The oip codec on its own: binary tensor conversions against independent ones, requests decoded
 * by both readers (JSON.parse for small bodies, the byte scanner for big ones) to the same job or
 * the same error, and answers written whole or as a plan of chunks to the same bytes.
 */

const LIMITS = { maxElements: 1 << 20 };
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** binary16 bits -> float32 bits (sign, re-biased exponent, subnormals normalised), read as a float32. */
function halfByBits(h: number): number {
  const sign = (h & 0x8000) << 16;
  let e = (h >> 10) & 0x1f;
  let m = h & 0x3ff;
  let bits: number;
  if (e === 0 && m === 0) bits = sign;
  else if (e === 0) {
    e = 1;
    while ((m & 0x400) === 0) {
      m <<= 1;
      e--;
    }
    bits = sign | ((e + 112) << 23) | ((m & 0x3ff) << 13);
  } else if (e === 31) bits = sign | 0x7f800000 | (m << 13);
  else bits = sign | ((e + 112) << 23) | (m << 13);
  u32[0] = bits >>> 0;
  return f32[0];
}

/** bfloat16 by its definition: 8 exponent bits (bias 127), 7 fraction bits. */
function bf16ByArithmetic(b: number): number {
  const sign = b & 0x8000 ? -1 : 1;
  const e = (b >> 7) & 0xff;
  const m = b & 0x7f;
  if (e === 0) return sign * (m / 128) * 2 ** -126;
  if (e === 255) return m === 0 ? sign * Infinity : Number.NaN;
  return sign * (1 + m / 128) * 2 ** (e - 127);
}

const ALL = Array.from({ length: 65536 }, (_, h) => h);

/** bytes of `values` at offset `pad` of a bigger buffer (pad 1: an unaligned view). */
function placed(values: Buffer, pad: number): Uint8Array {
  const whole = new Uint8Array(values.length + pad + 3);
  whole.set(values, pad);
  return whole;
}

describe('binary input conversions', () => {
  for (const pad of [0, 1]) {
    it(`FP16: all 65536 bit patterns, exactly (${pad ? 'unaligned' : 'aligned'})`, () => {
      const out = new Float64Array(65536);
      readBinary(placed(tensorBytes(ALL, 'FP16'), pad), pad, 'FP16', 65536, out);
      for (const h of ALL) expect(Object.is(out[h], halfByBits(h)) || (Number.isNaN(out[h]) && Number.isNaN(halfByBits(h))), `0x${h.toString(16)}`).toBe(true);
      expect(out[0x3c00]).toBe(1);
      expect(out[0x0001]).toBe(2 ** -24);
      expect(out[0x7bff]).toBe(65504);
      expect(out[0xfc00]).toBe(-Infinity);
      expect(Object.is(out[0x8000], -0)).toBe(true);
    });

    it(`BF16: all 65536 bit patterns, exactly (${pad ? 'unaligned' : 'aligned'})`, () => {
      const out = new Float64Array(65536);
      readBinary(placed(tensorBytes(ALL, 'BF16'), pad), pad, 'BF16', 65536, out);
      for (const b of ALL) {
        const want = bf16ByArithmetic(b);
        expect(Object.is(out[b], want) || (Number.isNaN(out[b]) && Number.isNaN(want)), `0x${b.toString(16)}`).toBe(true);
      }
      expect(out[0x3f80]).toBe(1);
      expect(out[0xff80]).toBe(-Infinity);
    });

    it(`FP32 and FP64 read exactly (${pad ? 'unaligned' : 'aligned'}), across steps of the scratch buffer`, () => {
      const n = 40_000;
      const values = Array.from({ length: n }, (_, k) => Math.fround(Math.sin(k) * 10 ** ((k % 40) - 20)));
      values[3] = -Infinity;
      const out = new Float64Array(n);
      readBinary(placed(tensorBytes(values, 'FP32'), pad), pad, 'FP32', n, out);
      expect(Array.from(out)).toEqual(values);
      const doubles = values.map((v, k) => v + k * 1e-17);
      readBinary(placed(tensorBytes(doubles, 'FP64'), pad), pad, 'FP64', n, out);
      expect(Array.from(out)).toEqual(doubles);
    });
  }
});

describe('binary outputs', () => {
  it('FP32 is float64 rounded once (Math.fround), FP64 as is, INT64 sign-extended, little-endian', () => {
    const values = Float64Array.from({ length: 1000 }, (_, k) => (k % 7 === 0 ? -Infinity : Math.tan(k) * 10 ** ((k % 30) - 15)));
    const b32 = Buffer.from(writeBinary(values, 'FP32', 10, 990));
    for (let k = 10; k < 990; k++) expect(b32.readFloatLE((k - 10) * 4)).toBe(Math.fround(values[k]));
    const b64 = Buffer.from(writeBinary(values, 'FP64', 0, 1000));
    for (let k = 0; k < 1000; k++) expect(b64.readDoubleLE(k * 8)).toBe(values[k]);
    const ints = Int32Array.from([0, 1, -1, 2 ** 31 - 1, -(2 ** 31), 31999]);
    const b = Buffer.from(writeBinary(ints, 'INT64', 0, ints.length));
    expect(Array.from({ length: ints.length }, (_, k) => Number(b.readBigInt64LE(k * 8)))).toEqual(Array.from(ints));
  });
});

/** Decodes with the small path (JSON.parse) and the scanner; both must agree. Returns the job, or the error message. */
function both(op: OpName, body: Buffer, meta: { headerLength?: number } = {}): Job | string {
  const outcome = (fastMax: number): Job | string => {
    try {
      return decodeOip(op, body, LIMITS, undefined, meta, fastMax);
    } catch (e) {
      if (!(e instanceof ApiError)) throw e;
      expect(e.statusCode, e.message).toBeGreaterThanOrEqual(400);
      expect(e.statusCode).toBeLessThan(500);
      return e.message;
    }
  };
  const small = outcome(Infinity);
  const scanned = outcome(0);
  if (typeof small === 'string' || typeof scanned === 'string') {
    // A syntax error is worded by position in both; everything else is the same message.
    expect(scanned).toEqual(small);
    return small;
  }
  const seeded = small.params.seed !== undefined && JSON.parse(body.toString()).parameters?.seed === undefined;
  if (seeded) scanned.params.seed = small.params.seed; // drawn by each
  expect({ ...scanned, data: Array.from(scanned.data) }).toEqual({ ...small, data: Array.from(small.data) });
  return small;
}

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const request = (data: unknown, extra: Record<string, unknown> = {}, input: Record<string, unknown> = {}) =>
  json({ inputs: [{ name: 'logits', datatype: 'FP64', shape: [2, 3], data, ...input }], ...extra });

describe('requests', () => {
  it('reads flat and nested JSON data, null as a mask, into the same job', () => {
    const flat = both('softmax', request([1, null, 3, 4, 5, 6])) as Job;
    const nested = both('softmax', request([[1, null, 3], [4, 5, 6]])) as Job;
    expect(Array.from(flat.data)).toEqual([1, -Infinity, 3, 4, 5, 6]);
    expect(Array.from(nested.data)).toEqual(Array.from(flat.data));
    expect(flat).toMatchObject({ op: 'softmax', rows: 2, cols: 3, input: 'logits', params: { temperature: 1, log: false } });
    expect(flat.wire).toEqual({ fp64: true, outputs: [{ out: 0, binary: false }] });
  });

  it('rounds FP32 JSON data to float32, as binary FP32 would be', () => {
    const job = both('softmax', request([0.1, 0.2, 0.3, 1, 2, 3], {}, { datatype: 'FP32' })) as Job;
    expect(Array.from(job.data)).toEqual([0.1, 0.2, 0.3, 1, 2, 3].map(Math.fround));
    expect((job.wire as OipWire).fp64).toBe(false);
    expect(both('softmax', request([1e39, 0, 0, 0, 0, 0], {}, { datatype: 'FP32' }))).toMatch(/logits\[0\]\[0\] \(inputs\[0\]\.data\[0\]\) is out of the FP32 range/);
  });

  it('takes the parameters by their /v1 names, any number where a number is meant, and ignores Triton\'s reserved keys', () => {
    const job = both(
      'sample',
      request([1, 2, 3, 4, 5, 6], {
        id: 'r1',
        parameters: { temperature: 3, topK: 2.0, n: 4, seed: 4.2e1, mapping: 'sparsemax', priority: 1, timeout: 5, headers: { a: 'b' }, sequence_id: 7, sequence_start: true, triton_enable_empty_final_response: true, binary_data_output: true },
      }),
    ) as Job;
    expect(job.params).toMatchObject({ temperature: 3, topK: 2, n: 4, seed: 42, mapping: 'sparsemax' });
    expect(job.wire).toEqual({ id: 'r1', fp64: true, outputs: [{ out: 0, binary: true }] });
    expect(job.work).toBe(24);
  });

  it('draws a seed when a seeded model is given none, and checks a given one on its digits', () => {
    const job = both('gumbel-softmax', request([1, 2, 3, 4, 5, 6])) as Job;
    expect(Number.isSafeInteger(job.params.seed)).toBe(true);
    expect(both('sample', request([1, 2, 3, 4, 5, 6], { parameters: { seed: 0 } }))).toMatchObject({ params: { seed: 0 } });
    for (const seed of ['9007199254740991.4', '1e-400', '0.5', '-1', '9007199254740992']) {
      const body = Buffer.from(`{"parameters":{"seed":${seed}},"inputs":[{"name":"logits","datatype":"FP64","shape":[1,2],"data":[1,2]}]}`);
      expect(both('sample', body), seed).toBe('parameters: seed must be an integer in [0, 2^53)');
    }
  });

  it('refuses unknown and ill-typed parameters, naming them', () => {
    expect(both('softmax', request([1, 2, 3, 4, 5, 6], { parameters: { temprature: 1, foo: 2 } }))).toBe(
      "unknown parameter(s): temprature, foo (softmax takes temperature, log, and Triton's reserved keys)",
    );
    expect(both('argmax', request([1, 2, 3, 4, 5, 6], { parameters: { temperature: 1 } }))).toBe(
      "unknown parameter(s): temperature (argmax takes none, and Triton's reserved keys)",
    );
    expect(both('softmax', request([1, 2, 3, 4, 5, 6], { parameters: { temperature: '1' } }))).toBe('parameters: temperature must be a number');
    expect(both('softmax', request([1, 2, 3, 4, 5, 6], { parameters: { log: 1 } }))).toBe('parameters: log must be a boolean');
    expect(both('sample', request([1, 2, 3, 4, 5, 6], { parameters: { topK: 1.5 } }))).toBe('parameters: topK must be an integer >= 1');
    expect(both('softmax', request([1, 2, 3, 4, 5, 6], { parameters: { binary_data_output: 'yes' } }))).toMatch(/binary_data_output must be a boolean/);
    expect(both('softmax', request([1, 2, 3, 4, 5, 6], { parameters: [1] }))).toMatch(/^parameters must be an object/);
  });

  it('refuses a malformed envelope with a message naming the field', () => {
    const cases: [Buffer, RegExp][] = [
      [json([1, 2]), /must be an object/],
      [json({ inputs: [] }), /inputs must be an array of one tensor \(logits\)/],
      [json({ inputs: [{ name: 'logits', datatype: 'FP64', shape: [1, 1], data: [1] }, { name: 'x' }] }), /the request has 2 inputs; softmax takes one tensor/],
      [request([1, 2, 3, 4, 5, 6], {}, { name: 'probs' }), /inputs\[0\]\.name must be logits \(got "probs"\)/],
      [request([1, 2, 3, 4, 5, 6], {}, { datatype: 'BYTES' }), /inputs\[0\]\.datatype must be one of FP64, FP32, FP16, BF16 \(got "BYTES"\)/],
      [request([1, 2, 3, 4, 5, 6], {}, { datatype: 'FP16' }), /FP16 data must be sent as binary data/],
      [request([1, 2, 3, 4, 5, 6], {}, { shape: [6] }), /inputs\[0\]\.shape must be \[rows, classes\]/],
      [request([1, 2, 3, 4, 5, 6], {}, { shape: [2, 0] }), /inputs\[0\]\.shape must be/],
      [request([1, 2, 3, 4, 5], {}), /inputs\[0\]\.data has 5 values, but shape is \[2, 3\]/],
      [request([[1, 2], [3, 4], [5, 6]], {}), /inputs\[0\]\.data has 3 rows of 2 values, but shape is \[2, 3\]/],
      [request([[1, 2, 3], [4, 5]], {}), /inputs\[0\]\.data\[1\] has 2 values, inputs\[0\]\.data\[0\] has 3/],
      [request([1, [2], 3, 4, 5, 6], {}), /inputs\[0\]\.data mixes numbers and arrays/],
      [request([[[1, 2, 3]], [4, 5, 6]], {}), /inputs\[0\]\.data\[0\] holds an array/],
      [request('abc', {}), /inputs\[0\]\.data must be an array/],
      [request([1, 2, 3, 4, 5, 6], {}, { extra: 1 }), /unknown field\(s\) in inputs\[0\]: extra/],
      [request([1, 2, 3, 4, 5, 6], { model: 'x' }), /unknown field\(s\) in the inference request: model/],
      [request([1, 2, 3, 4, 5, 6], { id: 5 }), /id must be a string/],
      [request(undefined, {}), /inputs\[0\] has no data/],
      [request([1, 2, 3, 4, 5, 6], {}, { parameters: { binary_data_size: 48 } }), /both data and parameters\.binary_data_size/],
      [request([1, 2, 3, 4, 5, 6], {}, { parameters: { shared_memory_region: 'r' } }), /shared memory is not supported/],
      [request([1, 'a', 3, 4, 5, 6]), /^logits\[0\]\[1\] \(inputs\[0\]\.data\[1\]\) must be a number or null$/],
      [request([[1, 2, 3], [4, true, 6]]), /^logits\[1\]\[1\] \(inputs\[0\]\.data\[1\]\[1\]\) must be a number or null$/],
      [request([1, 2, 3, null, null, null]), /^logits\[1\] has every class masked \(null\)/],
      [Buffer.from('{"inputs":[{"name":"logits","datatype":"FP64","shape":[2,3],"data":[1,2,3,4,5,1e400]}]}'), /logits\[1\]\[2\] \(inputs\[0\]\.data\[5\]\) must be a finite number/],
      // Out of range with a short exponent (read on number-text.ts's fast path, as Infinity), flat and nested.
      [Buffer.from('{"inputs":[{"name":"logits","datatype":"FP64","shape":[2,3],"data":[1,2,3,4,5,-1.8e308]}]}'), /logits\[1\]\[2\] \(inputs\[0\]\.data\[5\]\) must be a finite number/],
      [Buffer.from('{"inputs":[{"name":"logits","datatype":"FP64","shape":[2,3],"data":[[1,2,3],[4,5,1.8e308]]}]}'), /logits\[1\]\[2\] \(inputs\[0\]\.data\[1\]\[2\]\) must be a finite number/],
      [request([1, 2, 3, 4, 5, 6], { outputs: [{ name: 'nope' }] }), /outputs\[0\]\.name: "nope" is not an output of softmax \(with these parameters it answers probs\)/],
      [request([1, 2, 3, 4, 5, 6], { outputs: [{ name: 'logProbs' }] }), /"logProbs" is answered by softmax only with other parameters/],
      [request([1, 2, 3, 4, 5, 6], { outputs: [{ name: 'probs' }, { name: 'probs' }] }), /requested twice/],
      [request([1, 2, 3, 4, 5, 6], { outputs: [{ name: 'probs', parameters: { classification: 4 } }] }), /classification is 4, more than the 3 values per row of probs/],
      [request([1, 2, 3, 4, 5, 6], { outputs: [{ name: 'probs', parameters: { classification: 0 } }] }), /classification must be an integer >= 1/],
      [request([1, 2, 3, 4, 5, 6], { outputs: [{ name: 'probs', parameters: { binary_data: 1 } }] }), /binary_data must be a boolean/],
      [request([1, 2, 3, 4, 5, 6], { outputs: [{ name: 'probs', parameters: { shared_memory_region: 'x' } }] }), /shared memory is not supported/],
    ];
    for (const [body, message] of cases) expect(both('softmax', body), body.toString()).toMatch(message);
  });

  it('names NaN and Infinity, which some clients write, wherever they are', () => {
    for (const [text, literal] of [
      ['{"inputs":[{"name":"logits","datatype":"FP64","shape":[1,3],"data":[NaN,1,2]}]}', 'NaN'],
      ['{"inputs":[{"name":"logits","datatype":"FP64","shape":[1,3],"data":[[1,Infinity,2]]}]}', 'Infinity'],
      ['{"inputs":[{"name":"logits","datatype":"FP64","shape":[1,3],"data":[1,2,-Infinity]}]}', '-Infinity'],
      ['{"parameters":{"temperature":NaN},"inputs":[{"name":"logits","datatype":"FP64","shape":[1,1],"data":[1]}]}', 'NaN'],
    ]) {
      const at = text.indexOf(literal);
      expect(both('softmax', Buffer.from(text))).toBe(
        `the inference request is not valid JSON: ${literal} at byte ${at} is not a JSON number (JSON has no NaN or Infinity: mask a class with null, or send the tensor as binary data, where -inf masks)`,
      );
    }
    expect(both('softmax', Buffer.from('{"inputs":[}'))).toMatch(/^the request body is not valid JSON: unexpected `}` at byte 11$/);
  });

  it('reads probs for the models that take them, with their checks', () => {
    const probs = (data: unknown) => json({ inputs: [{ name: 'probs', datatype: 'FP64', shape: [1, 3], data }] });
    expect(Array.from((both('sample', probs([0.5, 0, 0.5])) as Job).data)).toEqual([0.5, 0, 0.5]);
    expect(both('sample', probs([0.5, null, 0.5]))).toMatch(/^probs\[0\]\[1\] \(inputs\[0\]\.data\[1\]\) must be a finite non-negative number$/);
    expect(both('sample', probs([0.5, -1, 0.5]))).toMatch(/must be a finite non-negative number/);
    expect(both('sample', probs([0, 0, 0]))).toMatch(/^probs\[0\] sums to 0/);
    expect(both('softmax', probs([1, 2, 3]))).toMatch(/inputs\[0\]\.name must be logits/);
    const huge = both('gumbel-softmax', probs([1e308, 1e308, 0])) as Job;
    expect(Array.from(huge.data)).toEqual([1, 1, 0]); // the sum overflows: divided by the maximum
  });

  it('refuses the element limit with 413, counting draws', () => {
    const limits = { maxElements: 10 };
    const big = json({ parameters: { n: 2 }, inputs: [{ name: 'logits', datatype: 'FP64', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }] });
    expect(() => decodeOip('sample', big, limits)).toThrowError(/^logits: 2 x 3 x 2 = 12 elements is over the limit of 10$/);
    try {
      decodeOip('sample', big, limits);
    } catch (e) {
      expect((e as ApiError).statusCode).toBe(413);
    }
  });

  it('agrees between both readers on random requests, valid or not (property)', () => {
    const token = fc.oneof(
      { weight: 8, arbitrary: fc.double({ noNaN: true, noDefaultInfinity: true }).map((v) => JSON.stringify(v)) },
      { weight: 4, arbitrary: fc.integer({ min: -1000, max: 1000 }).map(String) },
      { weight: 2, arbitrary: fc.constant('null') },
      { weight: 1, arbitrary: fc.constantFrom('"x"', 'true', '{}', '[]', '1e400', '1.8e308', '-0', '0.1e-5', '123456789012345678901234567890') },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 6 }),
        fc.boolean(),
        fc.array(token, { minLength: 24, maxLength: 24 }),
        fc.constantFrom('FP64', 'FP32'),
        fc.constantFrom<OpName>('softmax', 'sample', 'sparsemax'),
        (rows, cols, nested, tokens, datatype, op) => {
          const cells = tokens.slice(0, rows * cols);
          const data = nested ? `[${Array.from({ length: rows }, (_, r) => `[${cells.slice(r * cols, (r + 1) * cols).join(',')}]`).join(',')}]` : `[${cells.join(',')}]`;
          const body = Buffer.from(`{"parameters":{"seed":1},"inputs":[{"name":"logits","datatype":"${datatype}","shape":[${rows},${cols}],"data":${data}}]}`);
          const out = both(op, body);
          if (typeof out !== 'string') {
            const values = cells.map((t) => (t === 'null' ? -Infinity : Number(t)));
            expect(Array.from(out.data)).toEqual(datatype === 'FP32' ? values.map(Math.fround) : values);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('agrees between both readers on the shape errors of random nestings (property)', () => {
    const leaf = fc.constantFrom('1', '-2.5', 'null', '"a"', '[]', '[1,2]', '[[3]]', '{}');
    const row = fc.array(leaf, { maxLength: 4 }).map((xs) => `[${xs.join(',')}]`);
    const data = fc.oneof(
      fc.array(fc.oneof(leaf, row), { maxLength: 6 }).map((xs) => `[${xs.join(',')}]`),
      fc.array(row, { minLength: 1, maxLength: 4 }).map((xs) => `[${xs.join(',')}]`),
    );
    fc.assert(
      fc.property(data, fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 3 }), (text, rows, cols) => {
        both('softmax', Buffer.from(`{"inputs":[{"name":"logits","datatype":"FP64","shape":[${rows},${cols}],"data":${text}}]}`));
      }),
      { numRuns: 500 },
    );
  });

  it('reads the scanner\'s long numbers exactly, across segments of the data', () => {
    const values = Array.from({ length: 20_000 }, (_, k) => Math.sin(k + 0.5) * 1e3);
    values[7] = Number.MIN_VALUE;
    const body = json({ inputs: [{ name: 'logits', datatype: 'FP64', shape: [40, 500], data: values }] });
    const job = decodeOip('softmax', body, LIMITS, undefined, {}, 0);
    expect(Array.from(job.data)).toEqual(values);
  });
});

describe('binary requests', () => {
  const header = (bytes: Uint8Array, datatype: 'FP64' | 'FP32' | 'FP16' | 'BF16' = 'FP32', shape = [2, 3], extra: Record<string, unknown> = {}) => ({
    inputs: [binaryInput('logits', datatype, shape, bytes)],
    ...extra,
  });
  const decode = (op: OpName, body: Buffer, headers: Record<string, string>) => {
    try {
      return decodeOip(op, body, LIMITS, undefined, { headerLength: Number(headers['inference-header-content-length']) });
    } catch (e) {
      if (e instanceof ApiError && e.statusCode < 500) return e.message;
      throw e;
    }
  };

  it('reads FP32, FP16 and BF16 tensors, -inf masking', () => {
    const bytes = tensorBytes([3, 2, 1, -Infinity, 0.5, 1], 'FP32');
    const { body, headers } = binaryRequest(header(bytes), [bytes]);
    const job = decode('softmax', body, headers) as Job;
    expect(Array.from(job.data)).toEqual([3, 2, 1, -Infinity, 0.5, 1]);
    const half = tensorBytes([0x4200, 0x4000, 0x3c00, 0xfc00, 0x3800, 0x3c00], 'FP16');
    const h = binaryRequest(header(half, 'FP16'), [half]);
    expect(Array.from((decode('softmax', h.body, h.headers) as Job).data)).toEqual([3, 2, 1, -Infinity, 0.5, 1]);
    const bf = tensorBytes([0x4040, 0x4000, 0x3f80, 0xff80, 0x3f00, 0x3f80], 'BF16');
    const b = binaryRequest(header(bf, 'BF16'), [bf]);
    expect(Array.from((decode('softmax', b.body, b.headers) as Job).data)).toEqual([3, 2, 1, -Infinity, 0.5, 1]);
  });

  it('views an aligned FP64 tensor in place when no placement is asked for; copies it otherwise', () => {
    const values = [3, 2, 1, -Infinity, 0.5, 1];
    const bytes = tensorBytes(values, 'FP64');
    for (let pad = 0; pad < 8; pad++) {
      // The header's length moves the tensor's offset: pad the id until it is aligned or not.
      const { body, headers } = binaryRequest(header(bytes, 'FP64', [2, 3], { id: 'x'.repeat(pad) }), [bytes]);
      const at = Number(headers['inference-header-content-length']);
      const job = decode('softmax', body, headers) as Job;
      expect(Array.from(job.data)).toEqual(values);
      expect(job.data.buffer === body.buffer, `offset ${at}`).toBe((body.byteOffset + at) % 8 === 0);
      const placed = decodeOip('softmax', body, LIMITS, (n) => new Float64Array(n), { headerLength: at });
      expect(placed.data.buffer).not.toBe(body.buffer);
      expect(Array.from(placed.data)).toEqual(values);
    }
  });

  it('refuses every size that does not add up, and bad elements, with a clear 400', () => {
    const good = tensorBytes([3, 2, 1, 1, 2, 3], 'FP32');
    const cases: [Buffer, Record<string, string>, RegExp][] = [];
    const add = (r: { body: Buffer; headers: Record<string, string> }, m: RegExp) => cases.push([r.body, r.headers, m]);
    const ok = binaryRequest(header(good), [good]);
    // The header length past the body, zero, and cut bodies.
    cases.push([ok.body, { 'inference-header-content-length': String(ok.body.length + 1) }, /Inference-Header-Content-Length is \d+ but the body has only \d+ bytes/]);
    cases.push([ok.body, { 'inference-header-content-length': '0' }, /is 0: the inference header \(JSON\) is missing/]);
    cases.push([ok.body.subarray(0, ok.body.length - 3), ok.headers, /the body has 21 bytes after its \d+-byte inference header, but the inputs' binary_data_size add up to 24/]);
    cases.push([Buffer.concat([ok.body, Buffer.from([0])]), ok.headers, /has 25 bytes after .* add up to 24/]);
    cases.push([ok.body, { 'inference-header-content-length': String(Number(ok.headers['inference-header-content-length']) - 5) }, /not valid JSON/]);
    // binary_data_size against the shape.
    add(binaryRequest({ inputs: [{ ...binaryInput('logits', 'FP32', [2, 3], good), parameters: { binary_data_size: 20 } }] }, [good.subarray(0, 20)]), /binary_data_size is 20 bytes, but shape \[2, 3\] of FP32 \(4 bytes an element\) is 24/);
    add(binaryRequest(header(good, 'FP64'), [good]), /binary_data_size is 24 bytes, but shape \[2, 3\] of FP64 \(8 bytes an element\) is 48/);
    add(binaryRequest({ inputs: [{ ...binaryInput('logits', 'FP32', [2, 3], good), parameters: { binary_data_size: -1 } }] }, [good]), /binary_data_size must be an integer >= 0/);
    // JSON data with bytes after the header, and a header that is not an object.
    add(binaryRequest({ inputs: [{ name: 'logits', datatype: 'FP32', shape: [2, 3], data: [1, 2, 3, 4, 5, 6] }] }, [good]), /add up to 0/);
    add(binaryRequest([1, 2, 3], [good]), /must be an object/);
    add(binaryRequest('inputs', [good]), /must be an object/);
    // Elements.
    const nan = tensorBytes([3, Number.NaN, 1, 1, 2, 3], 'FP32');
    add(binaryRequest(header(nan), [nan]), /^logits\[0\]\[1\] \(element 1 of the binary data\) is NaN: binary data masks a class with -inf; NaN and \+inf are refused$/);
    const inf = tensorBytes([3, 2, 1, 1, Infinity, 3], 'FP32');
    add(binaryRequest(header(inf), [inf]), /^logits\[1\]\[1\] \(element 4 of the binary data\) is \+inf/);
    const masked = tensorBytes([3, 2, 1, -Infinity, -Infinity, -Infinity], 'FP32');
    add(binaryRequest(header(masked), [masked]), /^logits\[1\] has every class masked \(-inf\)/);
    const halfNaN = tensorBytes([0x3c00, 0x7e00, 0x3c00, 0x3c00, 0x3c00, 0x3c00], 'FP16');
    add(binaryRequest(header(halfNaN, 'FP16'), [halfNaN]), /is NaN/);
    const halfInf = tensorBytes([0x3c00, 0x7c00, 0x3c00, 0x3c00, 0x3c00, 0x3c00], 'FP16');
    add(binaryRequest(header(halfInf, 'FP16'), [halfInf]), /is \+inf/);
    // Name, datatype, parameters.
    add(binaryRequest({ inputs: [binaryInput('x', 'FP32', [2, 3], good)] }, [good]), /inputs\[0\]\.name must be logits/);
    add(binaryRequest({ inputs: [{ ...binaryInput('logits', 'FP32', [2, 3], good), datatype: 'BYTES' }] }, [good]), /datatype must be one of/);
    add(binaryRequest({ inputs: [{ ...binaryInput('logits', 'FP32', [2, 3], good), datatype: 'INT32' }] }, [good]), /datatype must be one of/);
    add(binaryRequest(header(good, 'FP32', [2, 3], { parameters: { tmp: 1 } }), [good]), /unknown parameter\(s\): tmp/);
    add(binaryRequest(header(good, 'FP32', [2, 3], { parameters: { temperature: 'hot' } }), [good]), /parameters: temperature must be a number/);
    add(binaryRequest(header(good, 'FP32', [3, 3]), [good]), /is 24 bytes, but shape \[3, 3\] of FP32 \(4 bytes an element\) is 36/);
    for (const [body, headers, message] of cases) expect(decode('softmax', body, headers), `${message}`).toMatch(message);
  });

  it('refuses binary_data_size without the header length', () => {
    const good = tensorBytes([3, 2, 1, 1, 2, 3], 'FP32');
    const { body } = binaryRequest(header(good), [good]);
    expect(() => decodeOip('softmax', body.subarray(0, body.length - 24), LIMITS)).toThrowError(/no Inference-Header-Content-Length header/);
  });

  it('reads probs in binary, 0 masking and -inf refused', () => {
    const p = tensorBytes([0.5, 0, 0.5], 'FP64');
    const r = binaryRequest({ inputs: [binaryInput('probs', 'FP64', [1, 3], p)] }, [p]);
    expect(Array.from((decode('sample', r.body, r.headers) as Job).data)).toEqual([0.5, 0, 0.5]);
    const bad = tensorBytes([0.5, -Infinity, 0.5], 'FP64');
    const b = binaryRequest({ inputs: [binaryInput('probs', 'FP64', [1, 3], bad)] }, [bad]);
    expect(decode('sample', b.body, b.headers)).toMatch(/^probs\[0\]\[1\] \(element 1 of the binary data\) is -inf: probs must be finite and non-negative/);
  });
});

/** A computed job of `op` on a small matrix, with the wire's outputs. */
function computed(op: OpName, rows: number, cols: number, wire: OipWire, params: Record<string, unknown> = {}) {
  const body = json({ id: wire.id, parameters: { ...params }, inputs: [{ name: 'logits', datatype: wire.fp64 ? 'FP64' : 'FP32', shape: [rows, cols], data: Array.from({ length: rows * cols }, (_, k) => (k % 5 === 3 ? null : Math.cos(k * 1.7) * 4)) }] });
  const job = decodeOip(op, body, LIMITS);
  job.wire = wire;
  return { job, outs: run(job) };
}

describe('answers', () => {
  it('writes the header, JSON data (-inf as null) and binary outputs in the header\'s order', () => {
    const { job, outs } = computed('softmax', 2, 3, { id: 'é\u2028', fp64: true, outputs: [{ out: 0, binary: false }] }, { log: true });
    const answer = encode(job, outs);
    expect(typeof answer.body).toBe('string');
    expect(answer.headers).toBeUndefined();
    const text = answer.body as string;
    expect(/^[\x20-\x7e]*$/.test(text)).toBe(true); // ASCII: the id escaped
    const parsed = JSON.parse(text);
    expect(parsed.id).toBe('é\u2028');
    expect(parsed.model_name).toBe('softmax');
    expect(parsed.model_version).toBe('1');
    expect(parsed.outputs[0]).toMatchObject({ name: 'logProbs', datatype: 'FP64', shape: [2, 3] });
    expect(parsed.outputs[0].data.map((v: number | null) => (v === null ? -Infinity : v))).toEqual(Array.from(outs[0]));
    expect(parsed.outputs[0].data).toContain(null);
  });

  it('puts JSON outputs in the header and binary ones after it, with the header length', () => {
    const { job, outs } = computed('sparsemax', 3, 4, { fp64: false, outputs: [{ out: 1, binary: true }, { out: 0, binary: false }] });
    const answer = encode(job, outs);
    const body = Buffer.from(answer.body as Uint8Array);
    const length = Number(answer.headers!['inference-header-content-length']);
    const header = JSON.parse(body.subarray(0, length).toString());
    expect(header.outputs.map((o: { name: string }) => o.name)).toEqual(['support', 'probs']);
    expect(header.outputs[0]).toEqual({ name: 'support', datatype: 'INT64', shape: [3], parameters: { binary_data_size: 24 } });
    expect(header.outputs[1].data).toEqual(Array.from(outs[0], (v) => Math.fround(v)));
    expect(body.length - length).toBe(24);
    expect(Array.from({ length: 3 }, (_, k) => Number(body.readBigInt64LE(length + 8 * k)))).toEqual(Array.from(outs[1]));
  });

  it.each([
    ['JSON FP64', 'softmax', { fp64: true, outputs: [{ out: 0, binary: false }] }],
    ['JSON FP32, a few values', 'argmax', { fp64: false, outputs: [{ out: 0, binary: false }] }],
    ['binary FP64', 'softmax', { id: 'x', fp64: true, outputs: [{ out: 0, binary: true }] }],
    ['binary FP32', 'softmax', { fp64: false, outputs: [{ out: 0, binary: true }] }],
    ['binary INT64 and JSON FP32', 'sparsemax', { fp64: false, outputs: [{ out: 1, binary: true }, { out: 0, binary: false }] }],
    ['JSON INT64 and binary FP64', 'sparsemax', { fp64: true, outputs: [{ out: 1, binary: false }, { out: 0, binary: true }] }],
  ] as const)('encodeInto a room of shared memory: encode\'s bytes and headers (%s)', (_label, op, wire) => {
    const { job, outs } = computed(op, 5, 7, structuredClone(wire) as unknown as OipWire);
    const want = encode(job, outs);
    const wantBytes = typeof want.body === 'string' ? Buffer.from(want.body, 'latin1') : Buffer.from(want.body);
    for (const offset of [0, 3]) {
      // A slab's view, at an offset that misaligns the binary data.
      const shared = new Uint8Array(new SharedArrayBuffer(wantBytes.length * 30 + 4096)).fill(0xee);
      const room = shared.subarray(offset);
      const got = encodeInto(job, outs, room);
      expect(got).toEqual({ length: wantBytes.length, headers: want.headers });
      expect(Buffer.from(room.subarray(0, got!.length)).equals(wantBytes)).toBe(true);
      expect(room.subarray(got!.length).every((b) => b === 0xee)).toBe(true);
    }
    const small = new Uint8Array(new SharedArrayBuffer(wantBytes.length - 1)).fill(0xee);
    expect(encodeInto(job, outs, small)).toBeUndefined();
    expect(small.every((b) => b === 0xee)).toBe(true);
  });

  it.each([
    ['FP64', true],
    ['FP32', false],
  ] as const)('JSON data in %s: the WebAssembly and JavaScript writers give the same text, JSON.stringify\'s', (_label, fp64) => {
    const values = Float64Array.from({ length: 3000 }, (_, k) => (k % 97 === 5 ? -Infinity : k % 89 === 3 ? -0 : Math.sin(k * 0.37) * 10 ** ((k % 41) - 20)));
    const want = (i0: number, i1: number) =>
      Array.from(values.subarray(i0, i1), (v) => JSON.stringify(fp64 ? v : Math.fround(v))).join(',');
    const form = `j:${fp64 ? 'FP64' : 'FP32'}`;
    for (const on of [true, false]) {
      const was = useNumberTextWasm(on);
      try {
        for (const [i0, i1] of [[0, 3000], [0, 20], [1, 2999], [1000, 1007], [2990, 3000]]) {
          expect(chunk(values, 1, form, i0, i1), `${on} ${i0}-${i1}`).toBe((i0 > 0 ? ',' : '') + want(i0, i1));
        }
      } finally {
        useNumberTextWasm(was);
      }
    }
  });

  it('encodeInto leaves a classification answer (strings of unknown length) to encode', () => {
    const job = {
      ...decodeOip('softmax', json({ inputs: [{ name: 'logits', datatype: 'FP64', shape: [2, 4], data: [0, 0, 0, 0, 1, 2, 2, 0] }] }), LIMITS),
      wire: { fp64: true, outputs: [{ out: 0, binary: true, classes: 3 }] },
    };
    expect(encodeInto(job, run(job), new Uint8Array(1 << 16))).toBeUndefined();
  });

  it('classification: the N largest of each row as "<value>:<index>", ties to the lower index, compared as the output\'s datatype', () => {
    const job = {
      ...decodeOip('softmax', json({ inputs: [{ name: 'logits', datatype: 'FP64', shape: [2, 4], data: [0, 0, 0, 0, 1, 2, 2, 0] }] }), LIMITS),
      wire: { fp64: true, outputs: [{ out: 0, binary: true, classes: 3 }] },
    };
    const outs = run(job);
    const parsed = JSON.parse(encode(job, outs).body as string);
    expect(parsed.outputs[0]).toMatchObject({ name: 'probs', datatype: 'BYTES', shape: [2, 3] });
    const p = Array.from(outs[0]);
    expect(parsed.outputs[0].data).toEqual([`${p[0]}:0`, `${p[1]}:1`, `${p[2]}:2`, `${p[5]}:1`, `${p[6]}:2`, `${p[4]}:0`]);
    // Values that differ in float64 but not in float32 tie in FP32, and go to the lower index.
    const close = Float64Array.from([1, 1 + 2 ** -40, 0.5]);
    expect(chunk(close, 3, 'c:FP32:2', 0, 3)).toBe('"1:0","1:1"');
    expect(chunk(close, 3, 'c:FP64:2', 0, 3)).toBe(`"${1 + 2 ** -40}:1","1:0"`);
    expect(chunk(Float64Array.from([-Infinity, -1]), 2, 'c:FP64:2', 0, 2)).toBe('"-1:1","-Infinity:0"');
  });

  it('JSON data: the JSON.stringify text of each value (FP32 as the double it reads back as, -Infinity as null), any range', () => {
    fc.assert(
      fc.property(fc.array(fc.double(), { minLength: 1, maxLength: 80 }), fc.nat(), fc.nat(), (values, a, b) => {
        const buf = Float64Array.from(values);
        const [i0, i1] = [a % (values.length + 1), b % (values.length + 1)].sort((x, y) => x - y);
        const want = (round: (v: number) => number) => (i0 > 0 && i1 > i0 ? ',' : '') + values.slice(i0, i1).map((v) => JSON.stringify(round(v))).join(',');
        expect(chunk(buf, 1, 'j:FP64', i0, i1)).toBe(want((v) => v));
        expect(chunk(buf, 1, 'j:FP32', i0, i1)).toBe(want(Math.fround));
        expect(chunk(Int32Array.from(values, (v) => v | 0), 1, 'j:INT64', i0, i1)).toBe(want((v) => v | 0));
      }),
      { numRuns: 500 },
    );
  });

  it('classification agrees with a sort, for small and large N (property)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 80 }), fc.array(fc.integer({ min: -3, max: 3 }), { minLength: 80, maxLength: 240 }), (n, ints) => {
        const width = 80;
        const rows = Math.floor(ints.length / width);
        const buf = Float64Array.from(ints.slice(0, rows * width), (v) => v / 2);
        const want: string[] = [];
        for (let r = 0; r < rows; r++) {
          const order = Array.from({ length: width }, (_, j) => j).sort((a, b) => buf[r * width + b] - buf[r * width + a] || a - b);
          for (const j of order.slice(0, n)) want.push(`"${buf[r * width + j]}:${j}"`);
        }
        expect(chunk(buf, width, `c:FP64:${n}`, 0, rows * width)).toBe(want.join(','));
      }),
      { numRuns: 200 },
    );
  });

  it('a plan written chunk by chunk is the whole answer, byte for byte, and measures the header (property)', () => {
    const ops: [OpName, Record<string, unknown>][] = [['softmax', {}], ['softmax', { log: true }], ['sparsemax', {}], ['entmax', {}], ['gumbel-softmax', { seed: 3 }], ['sample', { n: 3, seed: 9 }], ['argmax', {}]];
    fc.assert(
      fc.property(
        fc.constantFrom(...ops),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 3, max: 9 }),
        fc.boolean(),
        fc.array(fc.record({ binary: fc.boolean(), classify: fc.boolean() }), { minLength: 1, maxLength: 2 }),
        fc.integer({ min: 1, max: 7 }),
        fc.option(fc.string({ maxLength: 5 }), { nil: undefined }),
        ([op, params], rows, cols, fp64, choices, step, id) => {
          const outsOf = layoutOf({ op, params: { n: 3, ...params }, cols });
          const outputs = outsOf.slice(0, choices.length).map((_, out) => ({
            out,
            binary: choices[out].binary,
            ...(choices[out].classify ? { classes: Math.min(2, outsOf[out].width) } : {}),
          }));
          const { job, outs } = computed(op, rows, cols, { id, fp64, outputs }, params);
          const whole = encode(job, outs);
          const p = plan(job);
          const layout = layoutOf(job);
          const pieces: Buffer[] = [Buffer.from(p.head as string, 'latin1')];
          let headerBytes = pieces[0].length;
          p.parts.forEach(({ out, open, close, form }, k) => {
            const total = job.rows * layout[out].width;
            const parts = [Buffer.from(open, 'latin1')];
            for (let i = 0; i < total; i += step) {
              const c = chunk(outs[out], layout[out].width, form, i, Math.min(total, i + step));
              parts.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : Buffer.from(c));
            }
            parts.push(Buffer.from(close, 'latin1'));
            pieces.push(...parts);
            if (p.headerLength && k < p.headerLength.parts) headerBytes += Buffer.concat(parts).length;
          });
          pieces.push(Buffer.from(p.end, 'latin1'));
          const streamed = Buffer.concat(pieces);
          expect(streamed.equals(typeof whole.body === 'string' ? Buffer.from(whole.body, 'latin1') : Buffer.from(whole.body))).toBe(true);
          const headers = p.headerLength ? { ...p.headers, [p.headerLength.name]: String(headerBytes) } : p.headers;
          expect(headers).toEqual(whole.headers);
          if (headers) JSON.parse(streamed.subarray(0, Number(headers['inference-header-content-length'])).toString());
          else JSON.parse(streamed.toString());
        },
      ),
      { numRuns: 200 },
    );
  });
});
