import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { binaryInput, binaryRequest, expectOipError, infer, tensorBytes } from '../helpers/oip.js';
import { randomLogits, rng } from '../helpers/stats.js';

/**
 * clients/python against a live service over a real socket, with the machine's python3 in
 * isolated mode without site-packages (-I -S): the standard library only. The numpy case runs
 * with site-packages (-I) when numpy is importable there, and is skipped (its title says so)
 * when not.
 */

const run = promisify(execFile);
const dir = fileURLToPath(new URL('../../clients/python/', import.meta.url));

/** Runs `code` with sys.argv = [-c, base, ...args]; its stdout. */
async function python(code: string, base: string, args: string[] = [], flags = ['-I', '-S']): Promise<string> {
  // -I leaves the working directory off sys.path: put the client's folder there by hand.
  const prelude = `import sys\nsys.path.insert(0, ${JSON.stringify(dir)})\n`;
  const { stdout } = await run('python3', [...flags, '-c', prelude + code, base, ...args], { timeout: 60_000, maxBuffer: 16 << 20 });
  return stdout;
}

/** Python that prints JSON (masked -inf as null) of a value of lists, tuples and numbers. */
const PLAIN = [
  'import json',
  'def plain(x):',
  '    if isinstance(x, float) and x == float("-inf"): return None',
  '    if isinstance(x, (list, tuple)): return [plain(v) for v in x]',
  '    return x',
].join('\n');

const numpyVersion = await run('python3', ['-I', '-c', 'import numpy; print(numpy.__version__)'], { timeout: 30_000 }).then(
  (r) => r.stdout.trim(),
  () => undefined,
);

/** null (a masked class in JSON) as -inf, everywhere in a nested array. */
const inf = (v: unknown): unknown => (v === null ? -Infinity : Array.isArray(v) ? v.map(inf) : v);
const fround = (v: unknown): unknown => (typeof v === 'number' ? Math.fround(v) : Array.isArray(v) ? v.map(fround) : v);

// --- 16-bit floats: an oracle independent of the client (nearest value by search) -------------
type Half = 'FP16' | 'BF16';
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** The value of a non-negative bit pattern (sign clear). */
function halfValue(fmt: Half, p: number): number {
  if (fmt === 'BF16') {
    u32[0] = p << 16;
    return f32[0];
  }
  const e = p >> 10;
  const f = p & 0x3ff;
  if (e === 31) return f ? Number.NaN : Infinity;
  return e === 0 ? f * 2 ** -24 : (1024 + f) * 2 ** (e - 25);
}
/** The bit pattern nearest to x (ties to the even pattern), or 'overflow' for a finite x that rounds past the largest. */
function nearestHalf(fmt: Half, x: number): number | 'overflow' {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  const maxP = fmt === 'FP16' ? 0x7bff : 0x7f7f;
  if (a === Infinity) return sign | (maxP + 1);
  const max = halfValue(fmt, maxP);
  // Exact in float64 for both formats: 65504 + 16, and (2 - 2^-7) 2^127 + 2^119.
  if (a >= max + (max - halfValue(fmt, maxP - 1)) / 2) return 'overflow';
  let lo = 0;
  let hi = maxP;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (halfValue(fmt, mid) <= a) lo = mid;
    else hi = mid - 1;
  }
  if (halfValue(fmt, lo) === a || lo === maxP) return sign | lo;
  // Both differences are exact (Sterbenz): a lies between two neighbours.
  const below = a - halfValue(fmt, lo);
  const above = halfValue(fmt, lo + 1) - a;
  return sign | (below < above ? lo : above < below ? lo + 1 : lo % 2 === 0 ? lo : lo + 1);
}
/** A double's bits as 16 hex digits (exact, -0 included) for Python's struct. */
const bitsOf = (x: number) => Buffer.from(new Float64Array([x]).buffer).reverse().toString('hex');
const fromBits = (b: bigint) => new Float64Array(new BigUint64Array([b]).buffer)[0];
const nextUp = (x: number) => fromBits(new BigUint64Array(new Float64Array([x]).buffer)[0] + 1n); // x > 0
const nextDown = (x: number) => fromBits(new BigUint64Array(new Float64Array([x]).buffer)[0] - 1n); // x > 0

/** Values to round: ties, ties plus or minus a double's ulp, subnormals, the overflow edge, random ones. */
function halfCases(fmt: Half): number[] {
  const maxP = fmt === 'FP16' ? 0x7bff : 0x7f7f;
  const v = (p: number) => halfValue(fmt, p);
  const xs = [0, -0, 1, -1, 0.5, 3, -2.75, Infinity, -Infinity, 1e-30, -1e-30, v(1), v(1) / 2, nextUp(v(1) / 2), (3 * v(1)) / 2, v(maxP), -v(maxP)];
  const edge = v(maxP) + (v(maxP) - v(maxP - 1)) / 2;
  xs.push(edge, -edge, nextDown(edge), -nextDown(edge), 1e39, -1e300);
  // 1 + 2^-8 + 2^-40: just above a bfloat16 tie, but a tie once rounded to float32.
  xs.push(1 + 2 ** -8 + 2 ** -40, -(1 + 2 ** -8 + 2 ** -40), 1 + 2 ** -11 + 2 ** -40);
  const next = rng(fmt === 'FP16' ? 16 : 17);
  for (let k = 0; k < 150; k++) {
    const p = 1 + Math.floor(next() * (maxP - 1));
    const tie = (v(p) + v(p + 1)) / 2;
    const s = next() < 0.5 ? -1 : 1;
    xs.push(s * tie, s * nextUp(tie), s * nextDown(tie));
    const [lo, hi] = fmt === 'FP16' ? [-26, 17] : [-135, 128];
    xs.push(s * 2 ** (lo + next() * (hi - lo)));
  }
  return xs;
}

describe('Python client (clients/python)', () => {
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    app = await buildApp({ workers: 2, logLevel: 'silent' });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('example.py calls every endpoint and exits 0', async () => {
    const { stdout } = await run('python3', ['-I', '-S', 'example.py', base], { cwd: dir, timeout: 60_000 });
    const names = ['argmax', 'softmax', 'log-softmax', 'sparsemax', 'entmax 1.5', 'gumbel-softmax', 'gumbel-softmax hard', 'sample replayed with its seed is identical', 'score sparsemax'];
    const v2 = ['v2 server metadata', 'v2 model metadata', 'v2 ready', 'v2 softmax FP32 binary', "v2 softmax FP64 binary is /v1's answer", 'v2 JSON in and out answers as binary',
      'v2 log-softmax masked is -inf', 'v2 sparsemax FP16 in', 'v2 sparsemax BF16 in', "v2 sample seeded is /v1's draw", 'v2 sample with a server-drawn seed replays',
      'v2 classification top-2', 'v2 unknown parameter is a 400'];
    for (const name of [...names, ...v2]) {
      expect(stdout).toContain(`ok   ${name}:`);
    }
    expect(stdout).not.toContain('FAIL');
  });

  it("the example's OIP lines show binary tensors: FP32 softmax of [3, 2, 1] and its top-2", async () => {
    const { stdout } = await run('python3', ['-I', '-S', 'example.py', base], { cwd: dir, timeout: 60_000 });
    const p = [0.6652409557748219, 0.24472847105479767, 0.09003057317038045].map(Math.fround);
    expect(stdout).toContain(`ok   v2 softmax FP32 binary: [[${p.join(', ')}]]`);
    expect(stdout).toContain(`ok   v2 classification top-2: [['${p[0]}:0', '${p[1]}:1']]`);
  });

  it('example.py exits non-zero when the service is not there', async () => {
    await expect(run('python3', ['-I', '-S', 'example.py', 'http://127.0.0.1:9'], { cwd: dir, timeout: 60_000 })).rejects.toMatchObject({ code: 1 });
  });

  it('answers like the service: sparsemax of x = [-2, 0, 0.5] is [0, 0.25, 0.75]; a seeded sample replays', async () => {
    const out = await python(
      [
        'import sys, json',
        'from anymax_client import Anymax',
        'api = Anymax(sys.argv[1])',
        'print(json.dumps({"sparsemax": api.sparsemax([[-2, 0, 0.5]]),',
        '  "sparse": api.entmax([[-2, 0, 0.5], [1, 1, None]], alpha=1.5, format="sparse"),',
        '  "a": api.sample([[3, 2, 1], [1, None, 2]], n=16, seed=12345),',
        '  "b": api.sample([[3, 2, 1], [1, None, 2]], n=16, seed=12345)}))',
      ].join('\n'),
      base,
    );
    const got = JSON.parse(out);
    expect(got.sparsemax).toEqual({ probs: [[0, 0.25, 0.75]], support: [2] });
    expect(got.sparse).toEqual({ indices: [[1, 2], [0, 1]], values: [[0.3260073636615618, 0.6739926363384382], [0.5, 0.5]], support: [2, 2] });
    expect(got.a).toEqual(got.b);
    const direct = await app.inject({ method: 'POST', url: '/v1/sample', payload: { logits: [[3, 2, 1], [1, null, 2]], n: 16, seed: 12345 } });
    expect(got.a).toEqual(JSON.parse(direct.body));
    expect(got.a.samples[1]).not.toContain(1); // the masked class (None) is never drawn
  });

  it("raises AnymaxError with the server's status, code and message", async () => {
    const out = await python(
      [
        'import sys',
        'from anymax_client import Anymax, AnymaxError',
        'try:',
        '    Anymax(sys.argv[1]).entmax([[1, 2]], alpha=0.5)',
        'except AnymaxError as e:',
        '    print(e.status, e.code, e.message)',
      ].join('\n'),
      base,
    );
    expect(out.trim()).toBe('400 INVALID_REQUEST alpha must be >= 1');
  });

  describe('OIP v2 (infer)', () => {
    const logits: (number | null)[][] = randomLogits(4, 7, 3);
    logits[1][2] = null;
    logits[3][0] = null;
    const CASES: [string, Record<string, unknown>][] = [
      ['argmax', {}],
      ['softmax', {}],
      ['softmax', { temperature: 0.7, log: true }],
      ['sparsemax', { temperature: 2 }],
      ['entmax', { alpha: 1.3 }],
      ['gumbel-softmax', { temperature: 0.5, seed: 9 }],
      ['gumbel-softmax', { hard: true, seed: 9 }],
      ['sample', { n: 5, seed: 11, topK: 3 }],
      ['sample', { mapping: 'entmax', n: 3, seed: 5 }],
    ];
    const v1 = async (op: string, rows: (number | null)[][], params: Record<string, unknown>) => {
      const res = await app.inject({ method: 'POST', url: `/v1/${op}`, payload: { logits: rows, ...params } });
      expect(res.statusCode, res.body).toBe(200);
      return JSON.parse(res.body) as Record<string, unknown>;
    };

    it("answers as /v1 for the same request: FP64 identical, FP32 rounded once; binary and JSON alike", async () => {
      const out = await python(
        [
          PLAIN,
          'from anymax_client import Anymax',
          'api = Anymax(sys.argv[1])',
          'args = json.loads(sys.argv[2])',
          'res = []',
          'for op, params in args["cases"]:',
          '    got = {}',
          '    for dt in ("FP64", "FP32"):',
          '        for mode, binary in (("binary", True), ("json", False)):',
          '            r = api.infer(op, args["logits"], datatype=dt, binary=binary, binary_outputs=binary, **params)',
          '            got[dt + " " + mode] = {"outputs": {n: plain(r[n]) for n in r.names()}, "types": {n: r.datatype(n) for n in r.names()},',
          '                "binary": [r.binary(n) for n in r.names()], "seed": r.seed}',
          '    res.append(got)',
          'print(json.dumps(res))',
        ].join('\n'),
        base,
        [JSON.stringify({ cases: CASES, logits })],
      );
      const got = JSON.parse(out) as Record<string, { outputs: Record<string, unknown>; types: Record<string, string>; binary: boolean[]; seed: number | null }>[];
      expect(got).toHaveLength(CASES.length);
      const rounded = logits.map((row) => row.map((v) => (v === null ? null : Math.fround(v))));
      expect(rounded).not.toEqual(logits); // FP32 really rounds these inputs
      for (const [k, [op, params]] of CASES.entries()) {
        const want64 = await v1(op, logits, params);
        const want32 = await v1(op, rounded, params);
        for (const [variant, answer] of Object.entries(got[k])) {
          const fp64 = variant.startsWith('FP64');
          const want = fp64 ? want64 : want32;
          const { seed, ...fields } = want;
          const where = `${op} ${JSON.stringify(params)} ${variant}`;
          expect(Object.keys(answer.outputs).sort(), where).toEqual(Object.keys(fields).sort());
          expect(answer.binary, where).toEqual(Object.keys(fields).map(() => variant.endsWith('binary')));
          for (const [name, value] of Object.entries(fields)) {
            const int = name === 'indices' || name === 'support' || name === 'samples';
            expect(answer.types[name], `${where} ${name}`).toBe(int ? 'INT64' : fp64 ? 'FP64' : 'FP32');
            expect(inf(answer.outputs[name]), `${where} ${name}`).toEqual(fp64 ? inf(value) : fround(inf(value)));
          }
          expect(answer.seed, where).toBe(seed ?? null);
        }
      }
    });

    it('rounds to FP16 and BF16 once, to nearest even, as an independent oracle does; refuses finite values too large', async () => {
      const values = { FP16: halfCases('FP16'), BF16: halfCases('BF16') };
      const out = await python(
        [
          'import json, struct',
          'from anymax_client import _pack',
          'args = json.loads(sys.argv[2])',
          'res = {}',
          'for dt, hexes in args.items():',
          '    bits = []',
          '    for h in hexes:',
          '        x = struct.unpack(">d", bytes.fromhex(h))[0]',
          '        try:',
          '            bits.append(struct.unpack("<H", _pack([x], dt, ("logits", 1)))[0])',
          '        except ValueError as e:',
          '            bits.append("overflow" if "too large for " + dt in str(e) else str(e))',
          '    res[dt] = bits',
          'print(json.dumps(res))',
        ].join('\n'),
        base,
        [JSON.stringify({ FP16: values.FP16.map(bitsOf), BF16: values.BF16.map(bitsOf) })],
      );
      const got = JSON.parse(out) as Record<Half, (number | string)[]>;
      for (const fmt of ['FP16', 'BF16'] as const) {
        const want = values[fmt].map((x) => nearestHalf(fmt, x));
        expect(want.filter((w) => w === 'overflow').length, fmt).toBeGreaterThanOrEqual(4);
        got[fmt].forEach((bits, k) => expect(bits, `${fmt} of ${values[fmt][k]}`).toBe(want[k]));
      }
      // The case where rounding to float32 first would go wrong.
      expect(nearestHalf('BF16', 1 + 2 ** -8 + 2 ** -40)).toBe(0x3f81);
    });

    it("FP16 and BF16 tensors from the client: the server's answer is /v1's on the rounded values", async () => {
      const rows = randomLogits(3, 40, 8, 8);
      const out = await python(
        [
          PLAIN,
          'from anymax_client import Anymax',
          'api = Anymax(sys.argv[1])',
          'rows = json.loads(sys.argv[2])',
          'print(json.dumps({dt: [plain(api.infer("softmax", rows, datatype=dt)["probs"]), plain(api.infer("sample", rows, datatype=dt, n=4, seed=3)["samples"])]',
          '                  for dt in ("FP16", "BF16")}))',
        ].join('\n'),
        base,
        [JSON.stringify(rows)],
      );
      const got = JSON.parse(out) as Record<Half, [number[][], number[][]]>;
      for (const fmt of ['FP16', 'BF16'] as const) {
        const rounded = rows.map((row) =>
          row.map((x) => {
            const p = nearestHalf(fmt, x) as number;
            return (p & 0x8000 ? -1 : 1) * halfValue(fmt, p & 0x7fff);
          }),
        );
        expect(rounded, fmt).not.toEqual(rows);
        expect(got[fmt][0], fmt).toEqual(fround((await v1('softmax', rounded, {})).probs));
        expect(got[fmt][1], fmt).toEqual((await v1('sample', rounded, { n: 4, seed: 3 })).samples);
      }
    });

    it("raises AnymaxError with the server's status and message (code None)", async () => {
      const out = await python(
        [
          'import json',
          'from anymax_client import Anymax, AnymaxError',
          'api = Anymax(sys.argv[1])',
          'calls = [',
          '    lambda: api.infer("softmax", [[1, 2]], temprature=2),',
          '    lambda: api.infer("sample", [[1, 2]], datatype="FP64", n=0),',
          '    lambda: api.infer("softmax", [[float("nan"), 1]], datatype="FP64"),',
          '    lambda: api.infer("softmax", [[1, 2], [None, None]], datatype="FP64"),',
          '    lambda: api.infer("softmax", [[1, 2]], outputs=["logProbs"]),',
          '    lambda: api.infer("softmax", [[1, 2]], datatype="FP16", binary=False),',
          '    lambda: api.infer("softmaxx", [[1, 2]]),',
          '    lambda: api.model_metadata("softmax", version=2),',
          ']',
          'res = []',
          'for call in calls:',
          '    try:',
          '        call()',
          '        res.append(None)',
          '    except AnymaxError as e:',
          '        res.append([e.status, e.code, e.message, str(e)])',
          'print(json.dumps(res))',
        ].join('\n'),
        base,
      );
      const got = JSON.parse(out) as [number, null, string, string][];
      // The same requests, written by the tests' own binary client (test/helpers/oip.ts).
      const bin = (model: string, rows: number[][], datatype: 'FP64' | 'FP32', header: Record<string, unknown>) => {
        const bytes = tensorBytes(rows.flat(), datatype);
        const b = binaryRequest({ ...header, inputs: [binaryInput('logits', datatype, [rows.length, rows[0].length], bytes)] }, [bytes]);
        return infer(app, model, b.body, b.headers);
      };
      const want = [
        [400, await bin('softmax', [[1, 2]], 'FP32', { parameters: { temprature: 2, binary_data_output: true } })],
        [400, await bin('sample', [[1, 2]], 'FP64', { parameters: { n: 0, binary_data_output: true } })],
        [400, await bin('softmax', [[Number.NaN, 1]], 'FP64', { parameters: { binary_data_output: true } })],
        [400, await bin('softmax', [[1, 2], [-Infinity, -Infinity]], 'FP64', { parameters: { binary_data_output: true } })],
        [400, await bin('softmax', [[1, 2]], 'FP32', { outputs: [{ name: 'logProbs', parameters: { binary_data: true } }] })],
        [400, await infer(app, 'softmax', { inputs: [{ name: 'logits', datatype: 'FP16', shape: [1, 2], data: [1, 2] }], parameters: { binary_data_output: true } })],
        [404, await infer(app, 'softmaxx', { inputs: [] })],
        [404, await app.inject({ method: 'GET', url: '/v2/models/softmax/versions/2' })],
      ] as const;
      expect(got).toHaveLength(want.length);
      for (const [k, [status, res]] of want.entries()) {
        const message = expectOipError(res, status);
        expect(got[k]).toEqual([status, null, message, `${status}: ${message}`]);
      }
      expect(got[0][2]).toContain('unknown parameter(s): temprature');
      expect(got[2][2]).toContain('logits[0][0]');
    });

    it('refuses on the client side what it cannot send: a finite value too large for FP16, NaN in JSON data, ragged rows', async () => {
      const out = await python(
        [
          'import json',
          'from anymax_client import Anymax',
          'api = Anymax(sys.argv[1])',
          'res = []',
          'for kw in ({"inputs": [[1, 2], [3, -70000]], "datatype": "FP16"}, {"inputs": [[1, float("nan")]], "binary": False},',
          '           {"inputs": [[1, 2], [3]]}, {"inputs": [1, 2, 3]}):',
          '    try:',
          '        api.infer("softmax", **kw)',
          '        res.append(None)',
          '    except (TypeError, ValueError) as e:',
          '        res.append(type(e).__name__ + ": " + str(e))',
          'print(json.dumps(res))',
        ].join('\n'),
        base,
      );
      expect(JSON.parse(out)).toEqual([
        'ValueError: logits[1][1] = -70000 is too large for FP16',
        'ValueError: logits[0][1] is nan: JSON data has no NaN or +inf (-inf or None masks)',
        'ValueError: row 1 has 1 values, row 0 has 2',
        'TypeError: inputs must be rows (a list of lists), a flat sequence with shape=(rows, classes), or a numpy array',
      ]);
    });

    it.skipIf(!numpyVersion)(
      `numpy arrays in, numpy arrays out (${numpyVersion ? `numpy ${numpyVersion}` : 'skipped: numpy is not importable by python3 -I'})`,
      async () => {
        const rows = randomLogits(3, 9, 21);
        const halves = { FP16: halfCases('FP16'), BF16: halfCases('BF16') };
        const out = await python(
          [
            PLAIN,
            'import struct',
            'import numpy as np',
            'from anymax_client import Anymax, _pack_numpy',
            'api = Anymax(sys.argv[1])',
            'args = json.loads(sys.argv[2])',
            'rows = np.array(args["rows"])',
            'res = {}',
            'for dtype in ("float64", "float32"):',
            '    a = rows.astype(dtype)',
            '    for binary in (True, False):',
            '        r = api.infer("softmax", a, log=True, binary=binary, binary_outputs=binary)',
            '        s = api.infer("sample", a, n=4, seed=1, binary=binary)',
            '        res[dtype + (" binary" if binary else " json")] = {"logProbs": plain(r["logProbs"].tolist()), "type": type(r["logProbs"]).__name__,',
            '            "dtype": str(r["logProbs"].dtype), "shape": list(r["logProbs"].shape), "samples": s["samples"].tolist(), "sdtype": str(s["samples"].dtype)}',
            'c = api.infer("softmax", rows, outputs=["probs"], classification=2)',
            'res["classes"] = c.classes("probs")',
            'bits = {}',
            'for dt, hexes in args["halves"].items():',
            '    xs = np.array([struct.unpack(">d", bytes.fromhex(h))[0] for h in hexes])',
            '    out = []',
            '    for x in xs:',
            '        try:',
            '            out.append(int(np.frombuffer(_pack_numpy(np, x.reshape(1, 1), dt, ("logits", 1)), dtype="<u2")[0]))',
            '        except ValueError:',
            '            out.append("overflow")',
            '    bits[dt] = out',
            'res["bits"] = bits',
            'print(json.dumps(res))',
          ].join('\n'),
          base,
          [JSON.stringify({ rows, halves: { FP16: halves.FP16.map(bitsOf), BF16: halves.BF16.map(bitsOf) } })],
          ['-I'],
        );
        const got = JSON.parse(out);
        const want64 = await v1('softmax', rows, { log: true });
        const rounded = rows.map((row) => row.map(Math.fround));
        const want32 = await v1('softmax', rounded, { log: true });
        for (const mode of ['binary', 'json']) {
          expect(got[`float64 ${mode}`]).toEqual({
            logProbs: want64.logProbs, type: 'ndarray', dtype: 'float64', shape: [3, 9],
            samples: (await v1('sample', rows, { n: 4, seed: 1 })).samples, sdtype: 'int64',
          });
          expect(got[`float32 ${mode}`]).toEqual({
            logProbs: fround(want32.logProbs), type: 'ndarray', dtype: 'float32', shape: [3, 9],
            samples: (await v1('sample', rounded, { n: 4, seed: 1 })).samples, sdtype: 'int64',
          });
        }
        const probs = (await v1('softmax', rows, {})).probs as number[][];
        expect(got.classes).toEqual(probs.map((p) => [...p.keys()].sort((a, b) => p[b] - p[a] || a - b).slice(0, 2).map((j) => [p[j], j])));
        for (const fmt of ['FP16', 'BF16'] as const) {
          got.bits[fmt].forEach((b: number | string, k: number) => expect(b, `${fmt} of ${halves[fmt][k]}`).toBe(nearestHalf(fmt, halves[fmt][k])));
        }
      },
    );
  });
});
