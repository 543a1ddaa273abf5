import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entmax } from '../../src/core/entmax.js';
import { gumbelAt } from '../../src/core/gumbel.js';
import {
  minPFilter,
  sample,
  topKFilter,
  topPFilter,
  type SampleMapping,
  type SampleOptions,
} from '../../src/core/sample.js';
import { softmax } from '../../src/core/softmax.js';
import { sparsemax } from '../../src/core/sparsemax.js';
import { chiSquareTest, rng } from '../helpers/stats.js';

// ---------------------------------------------------------------------------------------------
// A literal, slow transcription of the contract in src/core/sample.ts, sharing only the mappings
// (which define p) and the noise (checked in gumbel.test.ts).

interface Filters {
  topK?: number;
  topP?: number;
  minP?: number;
}

/** Indices of the classes with p > 0, by p descending, ties by lower index. */
function order(p: Float64Array): number[] {
  const idx: number[] = [];
  for (let j = 0; j < p.length; j++) if (p[j] > 0) idx.push(j);
  return idx.sort((a, b) => p[b] - p[a] || a - b);
}

function renormalise(p: Float64Array): void {
  let s = 0;
  for (let j = 0; j < p.length; j++) if (p[j] > 0) s += p[j];
  for (let j = 0; j < p.length; j++) if (p[j] > 0) p[j] = p[j] / s;
}

function keepOnly(p: Float64Array, keep: number[]): void {
  const set = new Set(keep);
  for (let j = 0; j < p.length; j++) if (!set.has(j)) p[j] = 0;
}

/** The final p of one row of logits z. */
function referenceP(z: Float64Array, mapping: SampleMapping, alpha: number, t: number, f: Filters): Float64Array {
  const cols = z.length;
  let p: Float64Array = new Float64Array(cols);
  if (mapping === 'softmax') p = softmax(z, 1, cols, t);
  else if (mapping === 'sparsemax') p = sparsemax(z, 1, cols, t).probs;
  else p = entmax(z, 1, cols, alpha, t).probs;
  p = Float64Array.from(p);
  if (f.topK != null) {
    keepOnly(p, order(p).slice(0, Math.max(1, Math.floor(f.topK))));
    renormalise(p);
  }
  if (f.topP != null) {
    const o = order(p);
    let cum = 0;
    let k = o.length;
    for (let i = 0; i < o.length; i++) {
      cum += p[o[i]];
      if (cum >= f.topP) {
        k = i + 1;
        break;
      }
    }
    keepOnly(p, o.slice(0, k));
    renormalise(p);
  }
  if (f.minP != null) {
    let mx = 0;
    for (const v of p) if (v > mx) mx = v;
    for (let j = 0; j < cols; j++) if (p[j] < f.minP * mx) p[j] = 0;
    renormalise(p);
  }
  return p;
}

function logitsOf(data: Float64Array, base: number, cols: number, probs: boolean): Float64Array {
  const row = data.slice(base, base + cols);
  if (!probs) return row;
  let s = 0;
  for (const v of row) if (v > 0) s += v;
  return row.map((v) => (v > 0 ? Math.log(v / s) : -Infinity));
}

function argmaxOf(a: ArrayLike<number>): number {
  let best = -1;
  let m = -Infinity;
  for (let j = 0; j < a.length; j++) {
    if (a[j] > m) {
      m = a[j];
      best = j;
    }
  }
  return best;
}

function referenceSample(data: Float64Array, rows: number, cols: number, o: SampleOptions): Int32Array {
  const n = o.n ?? 1;
  const t = o.temperature ?? 1;
  const out = new Int32Array(rows * n);
  for (let r = 0; r < rows; r++) {
    const z = logitsOf(data, r * cols, cols, o.input === 'probs');
    const row = r + (o.rowOffset ?? 0);
    if (t === 0) {
      out.fill(argmaxOf(z), r * n, r * n + n);
      continue;
    }
    const p = referenceP(z, o.mapping ?? 'softmax', o.alpha ?? 1.5, t, o);
    for (let d = 0; d < n; d++) {
      let best = -Infinity;
      let bi = -1;
      for (let j = 0; j < cols; j++) {
        if (!(p[j] > 0)) continue;
        const s = Math.log(p[j]) + gumbelAt(o.seed, row, d, j);
        if (s > best) {
          best = s;
          bi = j;
        }
      }
      out[r * n + d] = bi;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const logit = fc.oneof(
  { weight: 6, arbitrary: fc.double({ min: -8, max: 8, noNaN: true }) },
  { weight: 1, arbitrary: fc.constantFrom(-Infinity, 0, 1, 2.5, -30, 40) },
  { weight: 1, arbitrary: fc.double({ min: -1e3, max: 1e3, noNaN: true }) },
);

const optionsArb = fc.record({
  mapping: fc.constantFrom<SampleMapping>('softmax', 'softmax', 'sparsemax', 'entmax'),
  alpha: fc.constantFrom(1.5, 1.5, 1.2, 2, 3),
  temperature: fc.constantFrom(1, 1, 0.5, 2.5, 0),
  topK: fc.option(fc.integer({ min: 1, max: 12 }), { nil: undefined }),
  topP: fc.option(fc.double({ min: 0.05, max: 1, noNaN: true }), { nil: undefined }),
  minP: fc.option(fc.double({ min: 0, max: 1, noNaN: true }), { nil: undefined }),
  n: fc.integer({ min: 1, max: 3 }),
  seed: fc.oneof(fc.integer({ min: 0, max: 2 ** 32 + 10 }), fc.constant(2 ** 53 - 1)),
  rowOffset: fc.integer({ min: 0, max: 1000 }),
  input: fc.constantFrom<'logits' | 'probs'>('logits', 'logits', 'probs'),
});

describe('sample: exact contract', () => {
  it('equals a literal transcription of the contract on random rows and options', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.integer({ min: 1, max: 70 }),
        optionsArb,
        fc.array(logit, { minLength: 210, maxLength: 210 }),
        (rows, cols, o, pool) => {
          const data = new Float64Array(rows * cols);
          for (let i = 0; i < data.length; i++) data[i] = pool[i % pool.length];
          if (o.input === 'probs') for (let i = 0; i < data.length; i++) data[i] = Math.exp(Math.max(-40, Math.min(5, data[i])) / 4) * (data[i] === -Infinity ? 0 : 1);
          // Keep at least one live class per row (precondition).
          for (let r = 0; r < rows; r++) if (data[r * cols] === -Infinity || data[r * cols] === 0) data[r * cols] = 1;
          const got = sample(data, rows, cols, o);
          expect(Array.from(got)).toEqual(Array.from(referenceSample(data, rows, cols, o)));
        },
      ),
      { seed: 424242, numRuns: 600 },
    );
  });

  it('wide softmax rows (many chunks) match the contract', () => {
    const r = rng(3);
    for (const [cols, scale] of [[50257, 1], [5000, 8], [1000, 0.01], [3000, 40]] as const) {
      const data = new Float64Array(2 * cols).map(() => scale * (r() + r() + r() - 1.5));
      for (let i = 0; i < data.length; i += 17) data[i] = -Infinity;
      for (const o of [{ seed: 11, n: 3 }, { seed: 12, temperature: 0.7 }, { seed: 2 ** 40, temperature: 3, rowOffset: 9 }]) {
        expect(Array.from(sample(data, 2, cols, o))).toEqual(Array.from(referenceSample(data, 2, cols, o)));
      }
    }
  });

  it('settles near-ties between proxy scores exactly as the contract does', () => {
    // Class 1 gets the logit that puts z_1 + g_1 within an ulp of z_0 + g_0; the rest cannot win.
    let exactTiesToLower = 0;
    for (let seed = 0; seed < 600; seed++) {
      const cols = seed < 300 ? 6 : 300; // the batched short-row path, then the chunked one
      const z = new Float64Array(cols).fill(-60);
      const g0 = gumbelAt(seed, 0, 0, 0);
      const g1 = gumbelAt(seed, 0, 0, 1);
      z[0] = 0;
      z[1] = g0 - g1 + (seed % 3) * 2 ** -50;
      const o: SampleOptions = { seed, temperature: seed % 2 ? 1 : 0.5 };
      const got = sample(z, 1, cols, o)[0];
      expect(got).toBe(referenceSample(z, 1, cols, o)[0]);
      if (got === 0 && seed % 3 === 0) exactTiesToLower++;
    }
    expect(exactTiesToLower).toBeGreaterThan(0);
  });

  it('never skips a class that wins by a hair, even with noise near its bound (both paths)', () => {
    // The support path skips class j when 1 - u_j >= p_j exp(-best): g <= -log(1 - u) is tight
    // for u near 1, so put the winner on the class with the largest noise of the row and let it
    // win by margins down to rounding. topK = cols forces that path for softmax.
    let checked = 0;
    for (let seed = 0; seed < 150; seed++) {
      const cols = seed < 120 ? 64 : 700; // short rows, then chunked rows
      const g = Array.from({ length: cols }, (_, j) => gumbelAt(seed, 0, 0, j));
      const b = argmaxOf(g);
      if (b === 0) continue;
      const a = b - 1;
      for (const margin of [0.01, 1e-3, 1e-6, 1e-12, 0, -1e-12, -1e-3]) {
        const z = new Float64Array(cols).fill(-60);
        z[a] = 0;
        z[b] = g[a] - g[b] + margin;
        for (const o of [{ seed }, { seed, temperature: 0.5 }, { seed, topK: cols }, { seed, minP: 0 }, { seed, mapping: 'entmax' as const, alpha: 1.0001 }]) {
          expect(sample(z, 1, cols, o)[0]).toBe(referenceSample(z, 1, cols, o)[0]);
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(500);
  });
});

describe('sample: distribution (chi-square, fixed seeds)', () => {
  const z = Float64Array.from([1, 0.5, 0, -0.5, -1, 2, -3, 0.2, 1.3, -0.1]);
  const cols = z.length;
  const rows = 40;
  const n = 2500; // 100k draws per case

  function counts(o: Omit<SampleOptions, 'n'>): Float64Array {
    const data = new Float64Array(rows * cols);
    for (let r = 0; r < rows; r++) data.set(z, r * cols);
    const draws = sample(data, rows, cols, { ...o, n });
    const c = new Float64Array(cols);
    for (const j of draws) c[j]++;
    return c;
  }

  const cases: [string, Omit<SampleOptions, 'n'>, SampleMapping, number, number, Filters][] = [
    ['softmax', { seed: 1 }, 'softmax', 1.5, 1, {}],
    ['softmax, T = 0.6', { seed: 2, temperature: 0.6 }, 'softmax', 1.5, 0.6, {}],
    ['sparsemax', { seed: 3, mapping: 'sparsemax' }, 'sparsemax', 1.5, 1, {}],
    ['sparsemax, T = 4', { seed: 4, mapping: 'sparsemax', temperature: 4 }, 'sparsemax', 1.5, 4, {}],
    ['entmax 1.5', { seed: 5, mapping: 'entmax' }, 'entmax', 1.5, 1, {}],
    ['entmax 1.5, T = 3', { seed: 6, mapping: 'entmax', temperature: 3 }, 'entmax', 1.5, 3, {}],
    ['softmax + topK 4', { seed: 7, topK: 4 }, 'softmax', 1.5, 1, { topK: 4 }],
    ['softmax + topP 0.7', { seed: 8, topP: 0.7 }, 'softmax', 1.5, 1, { topP: 0.7 }],
    ['softmax + minP 0.2', { seed: 9, minP: 0.2 }, 'softmax', 1.5, 1, { minP: 0.2 }],
    ['entmax + topK 3 + topP 0.9 + minP 0.1', { seed: 10, mapping: 'entmax', temperature: 2, topK: 3, topP: 0.9, minP: 0.1 }, 'entmax', 1.5, 2, { topK: 3, topP: 0.9, minP: 0.1 }],
  ];

  it.each(cases)('%s: counts fit p', (_name, o, mapping, alpha, t, f) => {
    const p = referenceP(z, mapping, alpha, t, f);
    const fit = chiSquareTest(counts(o), p);
    expect(fit.df).toBeGreaterThan(0);
    expect(fit.pValue).toBeGreaterThan(1e-4);
  });

  it('the same test rejects a slightly wrong p (power check)', () => {
    // softmax at T = 1 against the p of T = 1.1, and against p with two classes swapped.
    const c = counts({ seed: 1 });
    expect(chiSquareTest(c, referenceP(z, 'softmax', 1.5, 1.1, {})).pValue).toBeLessThan(1e-4);
    const swapped = referenceP(z, 'softmax', 1.5, 1, {});
    [swapped[0], swapped[8]] = [swapped[8], swapped[0]];
    expect(chiSquareTest(c, swapped).pValue).toBeLessThan(1e-4);
    // sparsemax counts against entmax 1.5 probabilities.
    expect(chiSquareTest(counts({ seed: 3, mapping: 'sparsemax' }), referenceP(z, 'entmax', 1.5, 1, {})).pValue).toBeLessThan(1e-4);
  });
});

describe('sample: behaviour', () => {
  it('temperature 0 is greedy: every draw is argmax z (lowest index on ties), filters ignored', () => {
    const data = Float64Array.from([0, 3, 1, 3, -Infinity, 2, /* row 2 */ -Infinity, -Infinity, 5, 5, 4, 0]);
    for (const mapping of ['softmax', 'sparsemax', 'entmax'] as const) {
      const got = sample(data, 2, 6, { seed: 5, temperature: 0, n: 4, mapping, topK: 3, topP: 0.1, minP: 0.9 });
      expect(Array.from(got)).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    }
  });

  it('topK = 1 always draws argmax p', () => {
    const r = rng(8);
    for (const mapping of ['softmax', 'sparsemax', 'entmax'] as const) {
      const rows = 50;
      const cols = 33;
      const data = new Float64Array(rows * cols).map(() => 4 * r() - 2);
      const got = sample(data, rows, cols, { seed: 9, topK: 1, n: 5, mapping, temperature: 1.7 });
      for (let row = 0; row < rows; row++) {
        const p = referenceP(data.subarray(row * cols, row * cols + cols), mapping, 1.5, 1.7, {});
        for (let d = 0; d < 5; d++) expect(got[row * 5 + d]).toBe(argmaxOf(p));
      }
    }
  });

  it('applies topK, then topP, then minP, renormalising after each', () => {
    // p = [0.4, 0.3, 0.2, 0.1]. topK 2 -> [0.4, 0.3] -> renormalised [0.571, 0.429]; topP 0.5 then
    // keeps class 0 alone. Without the renormalisation (or with topP first) class 1 would stay.
    const z = Float64Array.from([0.4, 0.3, 0.2, 0.1].map(Math.log));
    const both = sample(z, 1, 4, { seed: 1, n: 400, topK: 2, topP: 0.5 });
    expect(new Set(both)).toEqual(new Set([0]));
    const topPOnly = sample(z, 1, 4, { seed: 1, n: 400, topP: 0.5 });
    expect(new Set(topPOnly)).toEqual(new Set([0, 1]));
    // minP after topP acts on the renormalised p: p = [0.5, 0.3, 0.2], topP 0.8 -> [0.625, 0.375];
    // minP 0.7 keeps p >= 0.4375: class 0 only. minP alone keeps p >= 0.35: classes 0 only too, so
    // also check minP 0.5 (keeps 0.3 >= 0.25 without topP, and 0.375 >= 0.3125 with it).
    const z3 = Float64Array.from([0.5, 0.3, 0.2].map(Math.log));
    expect(new Set(sample(z3, 1, 3, { seed: 2, n: 300, topP: 0.8, minP: 0.7 }))).toEqual(new Set([0]));
    expect(new Set(sample(z3, 1, 3, { seed: 2, n: 300, minP: 0.5 }))).toEqual(new Set([0, 1]));
    expect(new Set(sample(z3, 1, 3, { seed: 2, n: 300, topK: 3, topP: 0.8, minP: 0.5 }))).toEqual(new Set([0, 1]));
  });

  it('never draws masked classes, nor outside the support of a sparse mapping', () => {
    const r = rng(10);
    const rows = 200;
    const cols = 40;
    const data = new Float64Array(rows * cols).map(() => (r() < 0.3 ? -Infinity : 3 * r()));
    for (let row = 0; row < rows; row++) data[row * cols + (row % cols)] = 1;
    for (const mapping of ['softmax', 'sparsemax', 'entmax'] as const) {
      const n = 20;
      const got = sample(data, rows, cols, { seed: 77, n, mapping });
      const { probs } =
        mapping === 'softmax'
          ? { probs: softmax(data, rows, cols) }
          : mapping === 'sparsemax'
            ? sparsemax(data, rows, cols)
            : entmax(data, rows, cols, 1.5);
      for (let row = 0; row < rows; row++) {
        for (let d = 0; d < n; d++) {
          const j = got[row * n + d];
          expect(data[row * cols + j]).not.toBe(-Infinity);
          expect(probs[row * cols + j]).toBeGreaterThan(0);
        }
      }
    }
  });

  it('is deterministic and independent of batching (rowOffset, chunks)', () => {
    const r = rng(12);
    const rows = 37;
    const cols = 300;
    const data = new Float64Array(rows * cols).map(() => 6 * r() - 3);
    for (const o of [{ seed: 3, n: 3 }, { seed: 4, mapping: 'sparsemax' as const, n: 2 }, { seed: 5, topP: 0.9, n: 2 }]) {
      const whole = sample(data, rows, cols, o);
      expect(Array.from(sample(data, rows, cols, o))).toEqual(Array.from(whole));
      const n = o.n;
      for (const chunk of [1, 5, 16]) {
        const parts = new Int32Array(rows * n);
        for (let start = 0; start < rows; start += chunk) {
          const len = Math.min(chunk, rows - start);
          const part = sample(data.subarray(start * cols, (start + len) * cols), len, cols, { ...o, rowOffset: start });
          parts.set(part, start * n);
        }
        expect(Array.from(parts)).toEqual(Array.from(whole));
      }
    }
  });

  it('probabilities input equals logits log(pi)', () => {
    const pi = Float64Array.from([0.5, 0.25, 0, 0.125, 0.0625, 0.0625]); // sums to 1 exactly
    const rows = 30;
    const probs = new Float64Array(rows * 6);
    const logits = new Float64Array(rows * 6);
    for (let r = 0; r < rows; r++) {
      probs.set(pi, r * 6);
      logits.set(pi.map(Math.log), r * 6);
    }
    for (const mapping of ['softmax', 'sparsemax', 'entmax'] as const) {
      const o = { seed: 8, n: 7, mapping, temperature: 1.3 };
      expect(Array.from(sample(probs, rows, 6, { ...o, input: 'probs' }))).toEqual(Array.from(sample(logits, rows, 6, o)));
    }
  });

  it('never throws or escapes [-1, cols) on odd input', () => {
    const rows = 6;
    const cols = 9;
    const data = Float64Array.from({ length: rows * cols }, (_, i) => [1e300, -1e300, 0, -Infinity, 1e-300, 5][i % 6]);
    data.fill(-Infinity, 0, cols); // row 0: every class masked
    const odd: Partial<SampleOptions>[] = [
      {},
      { temperature: 1e-300 },
      { temperature: 1e300 },
      { topK: 0 },
      { topK: 2.7 },
      { topK: 1e9 },
      { topP: 0 },
      { topP: NaN },
      { topP: 1 },
      { minP: 0 },
      { minP: 1 },
      { minP: NaN },
      { mapping: 'sparsemax', temperature: 1e-300 },
      { mapping: 'entmax', alpha: 1.01, temperature: 1e300 },
      { mapping: 'entmax', alpha: 7, topP: 0.5 },
      { input: 'probs' },
      { input: 'probs', mapping: 'sparsemax', minP: 0.5 },
    ];
    for (const extra of odd) {
      const got = sample(data, rows, cols, { seed: 1, n: 3, ...extra });
      expect(got.length).toBe(rows * 3);
      for (const j of got) expect(j >= -1 && j < cols).toBe(true);
      if (extra.input !== 'probs') expect(Array.from(got.subarray(0, 3))).toEqual([-1, -1, -1]);
    }
    expect(sample(data, rows, cols, { seed: 1, n: 0 }).length).toBe(0);
    expect(sample(new Float64Array(0), 0, 5, { seed: 1 }).length).toBe(0);
  });
});

describe('filters', () => {
  it('topKFilter keeps the k largest, ties to the lower index', () => {
    const p = Float64Array.from([0.1, 0.3, 0.1, 0.3, 0, 0.2]);
    topKFilter(p, 6, 3);
    expect(Array.from(p)).toEqual([0, 0.3, 0, 0.3, 0, 0.2]);
    const q = Float64Array.from([0.25, 0.25, 0.25, 0.25]);
    topKFilter(q, 4, 2);
    expect(Array.from(q)).toEqual([0.25, 0.25, 0, 0]);
  });

  it('topPFilter keeps the shortest prefix reaching topP, ties to the lower index', () => {
    const p = Float64Array.from([0.2, 0.2, 0.2, 0.4]);
    topPFilter(p, 4, 0.6);
    expect(Array.from(p)).toEqual([0.2, 0, 0, 0.4]);
    const q = Float64Array.from([0.5, 0.5]);
    topPFilter(q, 2, 1e-9);
    expect(Array.from(q)).toEqual([0.5, 0]);
    const never = Float64Array.from([0.3, 0.3, 0.3]); // sums to 0.9 < topP
    topPFilter(never, 3, 1);
    expect(Array.from(never)).toEqual([0.3, 0.3, 0.3]);
  });

  it('topPFilter equals sorting everything, on long rows where the prefix is long', () => {
    const r = rng(21);
    for (const cols of [100, 5000, 40_000]) {
      const raw = new Float64Array(cols).map(() => Math.exp(4 * r()) * (r() < 0.1 ? 0 : 1));
      for (let j = 0; j < cols; j += 7) raw[j] = raw[3]; // plenty of ties
      let sum = 0;
      for (const v of raw) sum += v;
      const p0 = raw.map((v) => v / sum);
      for (const topP of [0.01, 0.5, 0.9, 0.999, 1, 1.5]) {
        const got = Float64Array.from(p0);
        topPFilter(got, cols, topP);
        const want = Float64Array.from(p0);
        const o = order(want);
        let cum = 0;
        let k = o.length;
        for (let i = 0; i < o.length; i++) {
          cum += want[o[i]];
          if (cum >= topP) {
            k = i + 1;
            break;
          }
        }
        keepOnly(want, o.slice(0, k));
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    }
  });

  it('minPFilter keeps p >= minP max p', () => {
    const p = Float64Array.from([0.5, 0.25, 0.24, 0.01]);
    minPFilter(p, 4, 0.5);
    expect(Array.from(p)).toEqual([0.5, 0.25, 0, 0]);
  });
});
