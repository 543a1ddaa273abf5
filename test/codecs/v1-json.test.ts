import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { FAST_MIN_BYTES, chunkBytes, chunkText, encode, encodeInto, plan, planOf, prepare, prepareBytes, randomSeed } from '../../src/codecs/v1-json.js';
import { OP_NAMES, layoutOf, run, slice, type Layout, type OpName } from '../../src/ops/index.js';
import { randomLogits } from '../helpers/http.js';

/**
 * The job pipeline without HTTP: any split of a job's rows into chunks, computed separately and
 * assembled, gives the bytes of the unsplit job (the seeded kernels take the global row index
 * from rowOffset). This is what the pool's row split relies on.
 */

const LIMITS = { maxElements: 1e7 };
const logits = randomLogits(11, 23, 77);
const probs = logits.map((row) => row.map((v) => Math.exp(v)));

const BODIES: Record<OpName, Record<string, unknown>[]> = {
  argmax: [{ logits }],
  softmax: [{ logits }, { logits, log: true, temperature: 0.3 }],
  sparsemax: [{ logits, temperature: 2 }, { logits, temperature: 0.5, format: 'sparse' }],
  entmax: [{ logits, alpha: 1.2 }, { logits, alpha: 1.5, format: 'sparse' }],
  'gumbel-softmax': [{ logits, seed: 5 }, { probs, hard: true, seed: 2 ** 40 + 3 }],
  sample: [
    { logits, n: 6, seed: 1 },
    { probs, n: 3, mapping: 'entmax', alpha: 1.5, topP: 0.8, seed: 2 ** 52 },
  ],
  score: [
    { logits, targets: [0, 22, 3, 4, 5, 6, 7, 8, 9, 10, 11] },
    { logits, targets: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0], mapping: 'sparsemax', temperature: 0.7 },
    { logits, targets: [22, 21, 20, 19, 18, 17, 16, 15, 14, 13, 12], mapping: 'entmax', alpha: 1.3 },
  ],
};

const SPLITS = [[0, 11], [0, 1, 11], [0, 5, 6, 11], [0, 3, 6, 9, 11], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]];

describe('split, run, encode = unsplit', () => {
  const cases = OP_NAMES.flatMap((ep) => BODIES[ep].map((b, i) => [`${ep} #${i}`, ep, b] as const));

  it.each(cases)('%s', (_label, ep, body) => {
    const job = prepare(ep, structuredClone(body), LIMITS);
    expect(job.rows).toBe(11);
    expect(job.cols).toBe(23);
    expect(job.rowOffset).toBe(0);
    const whole = encode(job, run(job));
    const fresh = prepare(ep, JSON.parse(JSON.stringify(body)), LIMITS);
    expect(whole).toBe(encode(fresh, run(fresh)));
    const layout = layoutOf(job);
    for (const cuts of SPLITS) {
      // As the pool does: each range of rows computed on its own into its rows of the outputs.
      const outs = layout.map((l) => (l.type === 'f64' ? new Float64Array(job.rows * l.width) : new Int32Array(job.rows * l.width)));
      for (let c = 0; c + 1 < cuts.length; c++) {
        const sub = slice(job, cuts[c], cuts[c + 1]);
        expect(sub.rowOffset).toBe(cuts[c]);
        expect(sub.rows).toBe(cuts[c + 1] - cuts[c]);
        sub.data = sub.data.slice();
        run(sub, false, undefined, outs.map((o, i) => o.subarray(cuts[c] * layout[i].width, cuts[c + 1] * layout[i].width)));
      }
      expect(encode(job, outs), `cuts ${cuts.join(',')}`).toBe(whole);
    }
  });

  // The pool's streamed path computes big jobs over their own matrix (no second copy of it).
  it.each(cases)('%s: computed in place, and encoded in chunks, the same bytes', (_label, ep, body) => {
    const fresh = prepare(ep, structuredClone(body), LIMITS);
    const whole = encode(fresh, run(fresh));
    const job = prepare(ep, structuredClone(body), LIMITS);
    const outs = run(job, true);
    const layout = layoutOf(job);
    if (layout[0].inPlace) expect(outs[0]).toBe(job.data);
    const p = plan(job);
    let text = p.head as string;
    for (const { out, with: w, open, close, form } of p.parts) {
      const { width, matrix } = layout[out];
      text += open;
      for (let at = 0; at < job.rows * width; at += 37) {
        text += chunkBytes(outs[out], width, matrix, form, at, Math.min(at + 37, job.rows * width), w === undefined ? undefined : outs[w]).toString('latin1');
      }
      text += close;
    }
    expect(text + p.end).toBe(whole);
  });

  // A worker's whole answer, written into a room of reused shared memory (src/pool/jobs.ts).
  const intoCases = [
    ...cases,
    ['sample with zipped top log-probabilities', 'sample', { logits, n: 2, seed: 3, logprobs: true, topLogprobs: 4 }] as const,
  ];
  it.each(intoCases)('%s: encodeInto writes the bytes of encode, within its room, or refuses a room too small', (_label, ep, body) => {
    const job = prepare(ep, structuredClone(body), LIMITS);
    const outs = run(job);
    const whole = encode(job, outs);
    const shared = new Uint8Array(new SharedArrayBuffer(whole.length * 30 + 8192)).fill(0xee); // room for its bound
    const room = shared.subarray(16, shared.length - 16); // a view, not at the buffer's start
    const written = encodeInto(job, outs, room);
    expect(written).toEqual({ length: whole.length });
    const n = written!.length;
    expect(Buffer.from(room.subarray(0, n)).toString('latin1')).toBe(whole);
    expect(shared.subarray(0, 16).every((b) => b === 0xee)).toBe(true);
    expect(room.subarray(n).every((b) => b === 0xee)).toBe(true);
    const small = shared.subarray(0, whole.length - 1).fill(0xee);
    expect(encodeInto(job, outs, small)).toBeUndefined();
    expect(small.every((b) => b === 0xee)).toBe(true);
  });

  it('a slice of a slice keeps the global offset', () => {
    const job = prepare('sample', { logits, n: 2, seed: 9 }, LIMITS);
    const whole = JSON.parse(encode(job, run(job))) as { samples: number[][] };
    const inner = slice(slice(job, 3, 10), 2, 5); // rows 5..7
    expect(inner.rowOffset).toBe(5);
    expect(inner.work).toBe(3 * 23 * 2);
    const part = JSON.parse(encode(inner, run(inner))) as { samples: number[][] };
    expect(part.samples).toEqual(whole.samples.slice(5, 8));
  });
});

describe('prepare', () => {
  it('fills defaults and draws a seed for seeded endpoints only', () => {
    const s = prepare('sample', { logits: [[1, 2]] }, LIMITS);
    expect(s.params).toMatchObject({ mapping: 'softmax', alpha: 1.5, temperature: 1, n: 1 });
    expect(Number.isSafeInteger(s.params.seed)).toBe(true);
    expect(s.work).toBe(2);
    const e = prepare('entmax', { logits: [[1, 2]] }, LIMITS);
    expect(e.params).toEqual({ alpha: 1.5, temperature: 1, format: 'dense' });
  });

  it('counts n in the work of a sample', () => {
    expect(prepare('sample', { logits: [[1, 2, 3]], n: 4, seed: 1 }, LIMITS).work).toBe(12);
  });

  it('throws ApiErrors (not plain errors) for bad bodies', () => {
    for (const body of [null, [], 'x', { logits: [[1]], extra: 1 }, { logits: [[]] }]) {
      let thrown: unknown;
      try {
        prepare('softmax', body, LIMITS);
      } catch (e) {
        thrown = e;
      }
      expect(thrown).toBeInstanceOf(ApiError);
      expect((thrown as ApiError).statusCode).toBe(400);
    }
  });
});

/** The ApiError prepare / prepareBytes throws, as the client sees it. */
function errorOf(run: () => unknown): Record<string, unknown> {
  try {
    run();
  } catch (e) {
    expect(e).toBeInstanceOf(ApiError);
    return (e as ApiError).toJSON();
  }
  throw new Error('no error thrown');
}

describe('prepare: what a 400 echoes is capped', () => {
  it('400,000 unknown keys: the first 20 and a count, once in the message and the issue', () => {
    const body: Record<string, unknown> = { logits: [[1, 2]] };
    for (let i = 0; i < 400_000; i++) body[`k${i}`] = 1;
    const err = errorOf(() => prepare('sample', body, LIMITS));
    const first = Array.from({ length: 20 }, (_, i) => `k${i}`);
    const message = `unknown field(s): ${first.join(', ')}, ... and 399,980 more`;
    expect(err).toEqual({
      statusCode: 400,
      code: 'INVALID_REQUEST',
      error: 'Bad Request',
      message,
      issues: [{ path: first, message }],
    });
    expect(JSON.stringify(err).length).toBeLessThan(1000);
  });

  it('up to 20 unknown keys, and the other issues, are answered as before', () => {
    const keys = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i]));
    const names = Object.keys(keys);
    expect(errorOf(() => prepare('softmax', { logits: [[1]], ...keys }, LIMITS))).toEqual({
      statusCode: 400,
      code: 'INVALID_REQUEST',
      error: 'Bad Request',
      message: `unknown field(s): ${names.join(', ')}`,
      issues: [{ path: names, message: `unknown field(s): ${names.join(', ')}` }],
    });
    const err = errorOf(() => prepare('sample', { logits: [[1]], temperature: -1, seed: 2 ** 53, n: 0, foo: 1, 'x"y': 2 }, LIMITS));
    expect(err.message).toBe(
      'temperature must be >= 0; n must be an integer >= 1; seed must be an integer in [0, 2^53); unknown field(s): foo, x"y',
    );
    expect(err.issues).toEqual([
      { path: ['temperature'], message: 'temperature must be >= 0' },
      { path: ['n'], message: 'n must be an integer >= 1' },
      { path: ['seed'], message: 'seed must be an integer in [0, 2^53)' },
      { path: ['foo', 'x"y'], message: 'unknown field(s): foo, x"y' },
    ]);
  });
});

describe('prepare: more unknown fields than a 400 lists', () => {
  const bytes = (s: string) => new TextEncoder().encode(s);
  it('are the only issue reported (no Zod walk of thousands of members), by both readers alike', () => {
    const names = ['b', ...Array.from({ length: 20 }, (_, i) => `k${i}`), '7', '__proto__'];
    const members = names.map((k) => `"${k}": {"deep": [[1]]}`).join(', ');
    // 21+ unknown fields beside other bad ones: only the unknown ones, array indices first (as Object.keys).
    const small = `{"logits": [[1, "x"]], "temperature": -1, "seed": 0.5, ${members}}`;
    const big = `{"logits": [[${'0,'.repeat(FAST_MIN_BYTES / 2)}"x"]], "temperature": -1, ${members}}`;
    const order = ['7', 'b', ...Array.from({ length: 18 }, (_, i) => `k${i}`)];
    const message = `unknown field(s): ${order.join(', ')}, ... and 3 more`;
    for (const text of [small, big]) {
      expect(errorOf(() => prepareBytes('sample', bytes(text), LIMITS))).toEqual({
        statusCode: 400,
        code: 'INVALID_REQUEST',
        error: 'Bad Request',
        message,
        issues: [{ path: order, message }],
      });
    }
    // Twenty are listed with the other issues, as Zod reports them.
    const twenty = names.slice(0, 20).map((k) => `"${k}": 1`).join(', ');
    expect(errorOf(() => prepareBytes('sample', bytes(`{"logits": [[1]], "n": 0, ${twenty}}`), LIMITS)).message).toBe(
      `n must be an integer >= 1; unknown field(s): ${names.slice(0, 20).join(', ')}`,
    );
  });
});

describe('prepare: the seed is checked on its text', () => {
  const SEED_ERROR = {
    statusCode: 400,
    code: 'INVALID_REQUEST',
    error: 'Bad Request',
    message: 'seed must be an integer in [0, 2^53)',
    issues: [{ path: ['seed'], message: 'seed must be an integer in [0, 2^53)' }],
  };
  const bytes = (s: string) => new TextEncoder().encode(s);
  /** A body over FAST_MIN_BYTES, whose matrix the byte scanner reads (the seed is in `rest`). */
  const big = (seed: string) => `{"logits":[[${Array.from({ length: 9000 }, (_, j) => j % 7).join(',')}]],"n":2,"seed":${seed}}`;

  it.each(['9007199254740991.4', '1e-400', '-1e-400', '0.5', '9007199254740992', '4.00000000000000000001'])(
    'refuses %s, small body and big (byte scanner) alike',
    (seed) => {
      for (const ep of ['sample', 'gumbel-softmax'] as const) {
        expect(errorOf(() => prepareBytes(ep, bytes(`{"logits":[[1,2]],"seed":${seed}}`), LIMITS))).toEqual(SEED_ERROR);
        expect(errorOf(() => prepareBytes(ep, bytes(`{"logits":[[1,2]], "se\u0065d" : ${seed}}`), LIMITS))).toEqual(SEED_ERROR);
      }
      const b = bytes(big(seed));
      expect(b.length).toBeGreaterThanOrEqual(FAST_MIN_BYTES);
      expect(errorOf(() => prepareBytes('sample', b, LIMITS))).toEqual(SEED_ERROR);
    },
  );

  it('a refused seed takes its place among the other issues', () => {
    const err = errorOf(() => prepareBytes('sample', bytes('{"logits":[[1]],"n":0,"seed":1e-400,"foo":1}'), LIMITS));
    expect(err.message).toBe('n must be an integer >= 1; seed must be an integer in [0, 2^53); unknown field(s): foo');
  });

  it.each([
    ['42', 42],
    ['42.0', 42],
    ['4.2e1', 42],
    ['420e-1', 42],
    ['9007199254740991', 2 ** 53 - 1],
    ['-0', 0],
    ['0e-400', 0],
  ])('accepts %s as %d', (seed, value) => {
    for (const text of [`{"logits":[[1,2]],"seed":${seed}}`, big(seed)]) {
      const job = prepareBytes('sample', bytes(text), LIMITS);
      expect(Object.is(job.params.seed, value), `${seed}: ${String(job.params.seed)}`).toBe(true);
      expect(encode(job, run(job))).toMatch(new RegExp(`,"seed":${value}}$`));
    }
  });

  it('a nested or repeated "seed" is judged as JSON.parse reads the body', () => {
    const ok = (text: string) => prepareBytes('sample', bytes(text), LIMITS).params.seed;
    expect(ok('{"logits":[[1,2]],"seed":0.5,"seed":3}')).toBe(3);
    expect(errorOf(() => prepareBytes('sample', bytes('{"logits":[[1,2]],"seed":3,"seed":0.5}'), LIMITS))).toEqual(SEED_ERROR);
    // An unknown nested field is refused for being unknown, not for its seed.
    expect(errorOf(() => prepareBytes('sample', bytes('{"logits":[[1,2]],"x":{"seed":0.5},"seed":3}'), LIMITS)).message).toBe('unknown field(s): x');
  });

  it('an endpoint without a seed refuses one as an unknown field, whatever its text', () => {
    expect(errorOf(() => prepareBytes('softmax', bytes('{"logits":[[1,2]],"seed":1e-400}'), LIMITS)).message).toBe('unknown field(s): seed');
  });
});

describe('randomSeed', () => {
  it('is an integer in [0, 2^53) and uses the high bits', () => {
    let high = false;
    for (let i = 0; i < 2000; i++) {
      const s = randomSeed();
      expect(Number.isSafeInteger(s)).toBe(true);
      expect(s).toBeGreaterThanOrEqual(0);
      expect(s).toBeLessThan(2 ** 53);
      if (s >= 2 ** 52) high = true;
    }
    expect(high).toBe(true);
  });
});

/**
 * Outputs zipped into one member of per-row objects (OutputSpec.zip), as /v1/sample's
 * topLogprobIndices and topLogprobs will be: a layout as layoutOf resolves it (width 'top').
 */
describe('plan: a zipped pair of outputs is one part, any chunking gives the whole', () => {
  const W = 3;
  const layout: Layout[] = [
    { name: 'samples', type: 'i32', width: 2, matrix: true, inPlace: false },
    {
      name: 'topLogprobIndices',
      type: 'i32',
      width: W,
      matrix: true,
      inPlace: false,
      ragged: { pad: -1 },
      zip: { with: 'topLogprobs', as: 'topLogprobs', keys: ['indices', 'logprobs'] },
    },
    { name: 'topLogprobs', type: 'f64', width: W, matrix: true, inPlace: false, ragged: { pad: -Infinity } },
  ];
  const rows = 5;
  const samples = Int32Array.from({ length: rows * 2 }, (_, i) => i % 3);
  const idx = Int32Array.from([2, 0, 1, 7, -1, -1, -1, -1, -1, 4, 5, 6, 3, -1, -1]);
  const lps = Float64Array.from([-0.1, -2, -3.5, -0.25, -Infinity, -Infinity, -Infinity, -Infinity, -Infinity, -1e-20, -5, -7.125, -0, -Infinity, -Infinity]);
  const outs = [samples, idx, lps];
  const want =
    '{"samples":[[0,1],[2,0],[1,2],[0,1],[2,0]],"topLogprobs":[' +
    '{"indices":[2,0,1],"logprobs":[-0.1,-2,-3.5]},{"indices":[7],"logprobs":[-0.25]},{"indices":[],"logprobs":[]},' +
    '{"indices":[4,5,6],"logprobs":[-1e-20,-5,-7.125]},{"indices":[3],"logprobs":[0]}],"seed":9}';

  it('names both outputs in one part (out and with), the other not written on its own', () => {
    const p = planOf(layout, ',"seed":9}');
    expect(p.parts.map(({ out, with: w, open, close, form }) => ({ out, w, open, close, form }))).toEqual([
      { out: 0, w: undefined, open: '"samples":[[', close: ']]', form: 'json' },
      { out: 1, w: 2, open: ',"topLogprobs":[', close: ']', form: 'zip:-1:indices:logprobs' },
    ]);
  });

  it('refuses a zip with an output that is missing or of another width', () => {
    expect(() => planOf(layout.slice(0, 2), '}')).toThrow(/topLogprobIndices zips with topLogprobs/);
    expect(() => planOf([...layout.slice(0, 2), { ...layout[2], width: 2 }], '}')).toThrow(/topLogprobIndices zips with topLogprobs/);
  });

  it.each([1, 2, 3, 4, 7, 15])('chunks of %i elements, as text and as bytes, join to the answer', (size) => {
    const p = planOf(layout, ',"seed":9}');
    let text = p.head as string;
    let bytes = text;
    for (const { out, with: w, open, close, form } of p.parts) {
      const { width, matrix } = layout[out];
      const other = w === undefined ? undefined : outs[w];
      text += open;
      bytes += open;
      for (let at = 0; at < rows * width; at += size) {
        const end = Math.min(rows * width, at + size);
        text += chunkText(outs[out], width, matrix, form, at, end, other);
        bytes += chunkBytes(outs[out], width, matrix, form, at, end, other).toString('latin1');
      }
      text += close;
      bytes += close;
    }
    expect(text + p.end).toBe(want);
    expect(bytes + p.end).toBe(want);
    expect(JSON.parse(want).topLogprobs).toHaveLength(rows);
  });
});
