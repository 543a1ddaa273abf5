import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entmax } from '../../src/core/entmax.js';
import { FilterScratch, typicalFilter } from '../../src/core/filters.js';
import { gumbelAt } from '../../src/core/gumbel.js';
import {
  minPFilter,
  sample,
  sampleInto,
  topKFilter,
  topPFilter,
  type PerRow,
  type SampleFailure,
  type SampleMapping,
  type SampleOptions,
  type SampleOutputs,
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
  typicalP?: number;
  epsilon?: number;
  eta?: number;
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

/** The shortest prefix of o whose running sum of p reaches target (all of o if none, or target >= 1). */
function massPrefixOf(p: Float64Array, o: number[], target: number): number[] {
  if (target >= 1) return o;
  let cum = 0;
  for (let i = 0; i < o.length; i++) {
    cum += p[o[i]];
    if (cum >= target) return o.slice(0, i + 1);
  }
  return o;
}

function shannon(p: Float64Array): number {
  let h = 0;
  for (const v of p) if (v > 0) h -= v * Math.log(v);
  return h;
}

/** Keep p >= t; if none, the lowest-index maximum alone. Renormalises if a class was removed. */
function keepAbove(p: Float64Array, t: number): void {
  const all = order(p);
  const kept = all.filter((j) => p[j] >= t);
  const keep = kept.length > 0 ? kept : all.slice(0, 1);
  if (keep.length === all.length) return;
  keepOnly(p, keep);
  renormalise(p);
}

/** Top-n-sigma on logits z (a copy): mask z_j < max - n sigma over the unmasked entries. */
function referenceTopNSigma(z: Float64Array, n: number): Float64Array {
  const live = Array.from(z).filter((v) => v > -Infinity);
  const mx = Math.max(...live);
  const mean = live.reduce((a, b) => a + b, 0) / live.length;
  const sigma = Math.sqrt(live.reduce((a, b) => a + (b - mean) ** 2, 0) / live.length);
  return z.map((v) => (v < mx - n * sigma ? -Infinity : v));
}

/** The filters on p, in pipeline order. */
const STEPS = ['topK', 'topP', 'typicalP', 'minP', 'epsilon', 'eta'] as const;
type Step = (typeof STEPS)[number];

/** One filter on p, literally, renormalising as the contract says. */
function applyStep(p: Float64Array, step: Step, v: number): void {
  const cols = p.length;
  switch (step) {
    case 'topK':
      keepOnly(p, order(p).slice(0, Math.max(1, Math.floor(v))));
      renormalise(p);
      return;
    case 'topP':
      keepOnly(p, massPrefixOf(p, order(p), v));
      renormalise(p);
      return;
    case 'typicalP': {
      // The newer filters renormalise only when they removed a class.
      const h = shannon(p);
      const d = (j: number) => Math.abs(-Math.log(p[j]) - h);
      const o = order(p).sort((a, b) => d(a) - d(b) || a - b);
      const keep = massPrefixOf(p, o, v);
      if (keep.length < o.length) {
        keepOnly(p, keep);
        renormalise(p);
      }
      return;
    }
    case 'minP': {
      let mx = 0;
      for (const x of p) if (x > mx) mx = x;
      for (let j = 0; j < cols; j++) if (p[j] < v * mx) p[j] = 0;
      renormalise(p);
      return;
    }
    case 'epsilon':
      if (v > 0) keepAbove(p, v);
      return;
    case 'eta':
      if (v > 0) keepAbove(p, Math.min(v, Math.sqrt(v) * Math.exp(-shannon(p))));
      return;
  }
}

/** The final p of one row of logits z; `steps` reorders the filters (to show that order matters). */
function referenceP(z: Float64Array, mapping: SampleMapping, alpha: number, t: number, f: Filters, steps: readonly Step[] = STEPS): Float64Array {
  const cols = z.length;
  let p: Float64Array = new Float64Array(cols);
  if (mapping === 'softmax') p = softmax(z, 1, cols, t);
  else if (mapping === 'sparsemax') p = sparsemax(z, 1, cols, t).probs;
  else p = entmax(z, 1, cols, alpha, t).probs;
  p = Float64Array.from(p);
  for (const step of steps) {
    const v = f[step];
    if (v != null) applyStep(p, step, v);
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

function val(v: PerRow | undefined, g: number): number | undefined {
  return v === undefined || typeof v === 'number' ? v : v[g];
}

/** log-softmax of z at T = 1, literally. */
function logSoftmaxOf(z: Float64Array): Float64Array {
  const m = Math.max(...z);
  let s = 0;
  for (const v of z) s += Math.exp(v - m);
  return z.map((v) => v - m - Math.log(s));
}

/** The N largest v_j > floor, decreasing, ties to the lower index. */
function topOf(v: Float64Array, floor: number, topN: number): number[] {
  const idx: number[] = [];
  for (let j = 0; j < v.length; j++) if (v[j] > floor) idx.push(j);
  return idx.sort((a, b) => v[b] - v[a] || a - b).slice(0, topN);
}

interface Reference {
  samples: Int32Array;
  logprobs: Float64Array;
  top: { indices: number[]; logprobs: number[] }[];
  failure: SampleFailure | null;
}

/** The whole contract, literally: one row at a time, every score computed. */
function referenceSampleInto(data: Float64Array, rows: number, cols: number, o: SampleOptions, topN = 0): Reference {
  const n = o.n ?? 1;
  const res: Reference = { samples: new Int32Array(rows * n), logprobs: new Float64Array(rows * n), top: [], failure: null };
  for (let r = 0; r < rows; r++) {
    const g = r + (o.rowOffset ?? 0);
    const seed = typeof o.seed === 'number' ? o.seed : o.seed[g];
    const rowWord = typeof o.seed === 'number' ? g : 0;
    let z = logitsOf(data, r * cols, cols, o.input === 'probs');
    if (o.logitBias) o.logitBias.index.forEach((j, i) => (z[j] += o.logitBias!.value[i]));
    for (let j = 0; j < cols; j++) {
      const allowed = o.allowed ? Array.from(o.allowed).includes(j) : true;
      const banned = o.banned ? Array.from(o.banned).includes(j) : false;
      if (!allowed || banned) z[j] = -Infinity;
    }
    const best = argmaxOf(z);
    if (best < 0) {
      res.failure = { row: g, kind: 'no-class', classes: 0 };
      return res;
    }
    const rawLp = logSoftmaxOf(z);
    const raw = o.logprobsMode === 'raw';
    const t = val(o.temperature, g) ?? 1;
    let p: Float64Array;
    if (!(t > 0)) {
      p = new Float64Array(cols);
      p[best] = 1;
    } else {
      const ns = val(o.topNSigma, g);
      if (ns !== undefined && ns > 0) z = referenceTopNSigma(z, ns);
      const f: Filters = {};
      for (const k of ['topK', 'topP', 'minP', 'typicalP', 'epsilon', 'eta'] as const) f[k] = val(o[k], g);
      p = referenceP(z, o.mapping ?? 'softmax', val(o.alpha, g) ?? 1.5, t, f);
    }
    const support = order(p).length;
    const score = (d: number, j: number) => Math.log(p[j]) + gumbelAt(seed, rowWord, d, j);
    if (o.replacement === false) {
      if (n > support) {
        res.failure = { row: g, kind: 'too-few', classes: support };
        return res;
      }
      const ranked = order(p).sort((a, b) => score(0, b) - score(0, a) || a - b);
      for (let d = 0; d < n; d++) res.samples[r * n + d] = t > 0 ? ranked[d] : best;
    } else {
      for (let d = 0; d < n; d++) {
        let bs = -Infinity;
        let bi = -1;
        for (let j = 0; j < cols; j++) {
          if (!(p[j] > 0)) continue;
          const sc = t > 0 ? score(d, j) : 0;
          if (sc > bs) {
            bs = sc;
            bi = j;
          }
        }
        res.samples[r * n + d] = bi;
      }
    }
    for (let d = 0; d < n; d++) {
      const j = res.samples[r * n + d];
      res.logprobs[r * n + d] = raw ? rawLp[j] : Math.log(p[j]);
    }
    const top = raw ? topOf(rawLp, -Infinity, topN) : topOf(p, 0, topN);
    res.top.push({ indices: top, logprobs: top.map((j) => (raw ? rawLp[j] : Math.log(p[j]))) });
  }
  return res;
}

function referenceSample(data: Float64Array, rows: number, cols: number, o: SampleOptions): Int32Array {
  return referenceSampleInto(data, rows, cols, o).samples;
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

// ---------------------------------------------------------------------------------------------
// sampleInto: every newer option against the literal transcription.

/** A scalar or a per-row array (length `len`, the global rows) drawn from `values`. */
function perRowArb(values: fc.Arbitrary<number>, len: number): fc.Arbitrary<PerRow | undefined> {
  return fc.oneof(
    { weight: 2, arbitrary: fc.constant(undefined) },
    { weight: 2, arbitrary: values },
    { weight: 1, arbitrary: fc.array(values, { minLength: len, maxLength: len }).map((a) => Float64Array.from(a)) },
  );
}

/** Distinct indices below cols. */
function subsetArb(cols: number, max: number): fc.Arbitrary<Int32Array> {
  return fc.uniqueArray(fc.integer({ min: 0, max: cols - 1 }), { minLength: 0, maxLength: max }).map((a) => Int32Array.from(a));
}

const callArb = fc
  .record({ rows: fc.integer({ min: 1, max: 4 }), cols: fc.integer({ min: 1, max: 40 }), rowOffset: fc.integer({ min: 0, max: 3 }) })
  .chain(({ rows, cols, rowOffset }) => {
    const len = rowOffset + rows;
    return fc.record({
      rows: fc.constant(rows),
      cols: fc.constant(cols),
      pool: fc.array(logit, { minLength: rows * cols, maxLength: rows * cols }),
      topN: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
      wantLogprobs: fc.boolean(),
      o: fc.record({
        rowOffset: fc.constant(rowOffset),
        input: fc.constantFrom<'logits' | 'probs'>('logits', 'logits', 'probs'),
        mapping: fc.constantFrom<SampleMapping>('softmax', 'sparsemax', 'entmax'),
        alpha: perRowArb(fc.constantFrom(1.5, 1.25, 2, 3), len),
        temperature: perRowArb(fc.constantFrom(1, 0.5, 2.5, 0.7, 0), len),
        topK: perRowArb(fc.integer({ min: 1, max: 8 }), len),
        topP: perRowArb(fc.oneof(fc.double({ min: 0.05, max: 1, noNaN: true }), fc.constant(1)), len),
        minP: perRowArb(fc.double({ min: 0, max: 1, noNaN: true }), len),
        typicalP: perRowArb(fc.oneof(fc.double({ min: 1e-3, max: 1, noNaN: true }), fc.constant(1)), len),
        epsilon: perRowArb(fc.oneof(fc.double({ min: 0, max: 0.5, noNaN: true }), fc.constant(0)), len),
        eta: perRowArb(fc.oneof(fc.double({ min: 0, max: 0.5, noNaN: true }), fc.constant(0)), len),
        topNSigma: perRowArb(fc.oneof(fc.double({ min: 1e-3, max: 4, noNaN: true }), fc.constant(1)), len),
        seed: fc.oneof(
          fc.integer({ min: 0, max: 2 ** 32 + 10 }),
          fc.array(fc.oneof(fc.integer({ min: 0, max: 2 ** 32 + 10 }), fc.constant(2 ** 53 - 1)), { minLength: len, maxLength: len }).map((a) => Float64Array.from(a)),
        ),
        logitBias: fc.option(
          subsetArb(cols, 4).chain((index) =>
            fc.array(fc.double({ min: -3, max: 3, noNaN: true }), { minLength: index.length, maxLength: index.length }).map((v) => ({ index, value: Float64Array.from(v) })),
          ),
          { nil: undefined },
        ),
        allowed: fc.option(subsetArb(cols, cols), { nil: undefined, freq: 4 }),
        banned: fc.option(subsetArb(cols, 3), { nil: undefined, freq: 4 }),
        replacement: fc.boolean(),
        n: fc.integer({ min: 1, max: 4 }),
        logprobsMode: fc.constantFrom<'processed' | 'raw'>('processed', 'raw'),
      }),
    });
  });

/** Calls sampleInto with every output asked for. */
function runInto(data: Float64Array, rows: number, cols: number, o: SampleOptions, topN?: number) {
  const n = o.n ?? 1;
  const outs: SampleOutputs = { samples: new Int32Array(rows * n), logprobs: new Float64Array(rows * n), topN };
  const failure = sampleInto(data, rows, cols, o, outs);
  return { outs, failure };
}

describe('sampleInto: exact contract', () => {
  it('equals the literal transcription with per-row parameters and seeds, bias, masks, the newer filters, no replacement, logprobs', () => {
    let failures = 0;
    let answered = 0;
    fc.assert(
      fc.property(callArb, ({ rows, cols, pool, topN, wantLogprobs, o }) => {
        const data = Float64Array.from(pool);
        if (o.input === 'probs') for (let i = 0; i < data.length; i++) data[i] = data[i] === -Infinity ? 0 : Math.exp(Math.max(-40, Math.min(5, data[i])) / 4);
        const n = o.n;
        const outs: SampleOutputs = { samples: new Int32Array(rows * n), logprobs: wantLogprobs ? new Float64Array(rows * n) : undefined, topN };
        const failure = sampleInto(data, rows, cols, o, outs);
        const want = referenceSampleInto(data, rows, cols, o, topN ?? 0);
        expect(failure).toEqual(want.failure);
        const done = failure ? failure.row - o.rowOffset : rows;
        if (failure) failures++;
        else answered++;
        expect(Array.from(outs.samples.subarray(0, done * n))).toEqual(Array.from(want.samples.subarray(0, done * n)));
        const raw = o.logprobsMode === 'raw';
        const same = (a: number, b: number) => (raw ? a === b || Math.abs(a - b) <= 1e-12 * (1 + Math.abs(b)) : Object.is(a + 0, b + 0));
        if (wantLogprobs) for (let i = 0; i < done * n; i++) expect(same(outs.logprobs![i], want.logprobs[i]), `logprob ${i}: ${outs.logprobs![i]} vs ${want.logprobs[i]}`).toBe(true);
        if (topN !== undefined) {
          const width = Math.max(1, Math.min(topN, cols));
          for (let r = 0; r < done; r++) {
            const t = want.top[r];
            const idx = Array.from(outs.topIndices!.subarray(r * width, (r + 1) * width));
            expect(idx).toEqual([...t.indices, ...new Array<number>(width - t.indices.length).fill(-1)]);
            for (let i = 0; i < width; i++) {
              const g = outs.topLogprobs![r * width + i];
              if (i < t.indices.length) expect(same(g, t.logprobs[i]), `top ${r}/${i}: ${g} vs ${t.logprobs[i]}`).toBe(true);
              else expect(g).toBe(-Infinity);
            }
          }
        }
      }),
      { seed: 90210, numRuns: 700 },
    );
    // Both outcomes were exercised.
    expect(failures).toBeGreaterThan(10);
    expect(answered).toBeGreaterThan(300);
  });

  it('typicalFilter on long rows (weighted quickselect) equals sorting everything', () => {
    const r = rng(31);
    for (const [cols, kind] of [[300, 'random'], [5000, 'random'], [40_000, 'random'], [40_000, 'equal'], [3000, 'two levels']] as const) {
      const raw = new Float64Array(cols).map(() => Math.exp(4 * r()) * (r() < 0.1 ? 0 : 1));
      for (let j = 0; j < cols; j += 7) raw[j] = raw[3]; // plenty of ties
      if (kind === 'equal') raw.fill(1); // every key 0: one tied group, cut by index
      if (kind === 'two levels') for (let j = 0; j < cols; j++) raw[j] = j % 3 ? 1 : 2; // two keys, many ties each
      let sum = 0;
      for (const v of raw) sum += v;
      const p0 = raw.map((v) => v / sum);
      for (const typicalP of [1e-6, 0.01, 0.5, 0.9, 0.999, 1]) {
        const got = Float64Array.from(p0);
        typicalFilter(got, cols, typicalP, new FilterScratch(cols));
        const want = Float64Array.from(p0);
        const h = shannon(want);
        const d = (j: number) => Math.abs(-Math.log(want[j]) - h);
        keepOnly(want, massPrefixOf(want, order(want).sort((a, b) => d(a) - d(b) || a - b), typicalP));
        expect(Array.from(got)).toEqual(Array.from(want));
      }
    }
  });
});

describe('sampleInto: properties', () => {
  /** The kept classes of each row (processed top list of 64), via sampleInto. */
  function kept(data: Float64Array, rows: number, cols: number, o: SampleOptions): number[][] {
    const { outs, failure } = runInto(data, rows, cols, { ...o, n: 1 }, 64);
    expect(failure).toBeNull();
    const width = Math.min(64, cols);
    return Array.from({ length: rows }, (_, r) => Array.from(outs.topIndices!.subarray(r * width, (r + 1) * width)).filter((j) => j >= 0).sort((a, b) => a - b));
  }
  const isSubset = (a: number[], b: number[]) => a.every((j) => b.includes(j));

  const rowArb = fc.integer({ min: 2, max: 40 }).chain((cols) => fc.array(logit, { minLength: cols, maxLength: cols }).map((a) => Float64Array.from(a)));
  const mappingArb = fc.constantFrom<SampleMapping>('softmax', 'sparsemax', 'entmax');

  it('each new filter keeps at least one class and is monotone in its parameter', () => {
    fc.assert(
      fc.property(rowArb, mappingArb, fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (z, mapping, a, b) => {
        if (!(z[0] > -Infinity)) z[0] = 0;
        const cols = z.length;
        const [lo, hi] = a < b ? [a, b] : [b, a];
        const base = { seed: 1, mapping, temperature: 0.9 };
        // Larger parameter keeps fewer classes (epsilon, eta) or more (typicalP, topNSigma).
        const cases: [keyof SampleOptions, number, number][] = [
          ['typicalP', Math.max(lo, 1e-9), Math.max(hi, 1e-9)],
          ['epsilon', lo * 0.999, hi * 0.999],
          ['eta', lo * 0.999, hi * 0.999],
          ['topNSigma', 4 * lo + 1e-9, 4 * hi + 1e-9],
        ];
        for (const [name, small, large] of cases) {
          const [ks] = kept(z, 1, cols, { ...base, [name]: small });
          const [kl] = kept(z, 1, cols, { ...base, [name]: large });
          expect(ks.length).toBeGreaterThan(0);
          expect(kl.length).toBeGreaterThan(0);
          if (name === 'epsilon' || name === 'eta') expect(isSubset(kl, ks), `${name} ${small} ${large}`).toBe(true);
          else expect(isSubset(ks, kl), `${name} ${small} ${large}`).toBe(true);
        }
      }),
      { seed: 5150, numRuns: 300 },
    );
  });

  it('typicalP = 1, epsilon = 0 and eta = 0 change nothing', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), rowArb, mappingArb, fc.integer({ min: 0, max: 2 ** 40 }), (rows, z, mapping, seed) => {
        const cols = z.length;
        const data = new Float64Array(rows * cols);
        for (let r = 0; r < rows; r++) data.set(z.map((v, j) => (j === r % cols && v === -Infinity ? 0 : v)), r * cols);
        const o: SampleOptions = { seed, mapping, n: 3, temperature: 1.3 };
        const plain = runInto(data, rows, cols, o, 64);
        for (const extra of [{ typicalP: 1 }, { epsilon: 0 }, { eta: 0 }, { typicalP: 1, epsilon: 0, eta: 0 }]) {
          const got = runInto(data, rows, cols, { ...o, ...extra }, 64);
          expect(Array.from(got.outs.samples)).toEqual(Array.from(plain.outs.samples));
          expect(Array.from(got.outs.logprobs!)).toEqual(Array.from(plain.outs.logprobs!));
          expect(Array.from(got.outs.topIndices!)).toEqual(Array.from(plain.outs.topIndices!));
          expect(Array.from(got.outs.topLogprobs!)).toEqual(Array.from(plain.outs.topLogprobs!));
        }
      }),
      { seed: 777, numRuns: 150 },
    );
  });

  it('without replacement: distinct draws, the first equal to the with-replacement first draw', () => {
    const r = rng(41);
    for (const cols of [5, 40, 300, 5000]) {
      for (const mapping of ['softmax', 'sparsemax', 'entmax'] as const) {
        const rows = cols > 1000 ? 2 : 20;
        const data = new Float64Array(rows * cols).map(() => 3 * (r() + r() - 1));
        const o: SampleOptions = { seed: 99, mapping, temperature: 1.2 };
        const support = Array.from({ length: rows }, (_, row) => order(referenceP(data.subarray(row * cols, (row + 1) * cols), mapping, 1.5, 1.2, {})).length);
        const withR = sample(data, rows, cols, o);
        for (const n of [1, 2, 5]) {
          const { outs, failure } = runInto(data, rows, cols, { ...o, n, replacement: false });
          const tooFew = support.findIndex((k) => k < n);
          if (tooFew >= 0) {
            expect(failure).toEqual({ row: tooFew, kind: 'too-few', classes: support[tooFew] });
            continue;
          }
          expect(failure).toBeNull();
          for (let row = 0; row < rows; row++) {
            const d = Array.from(outs.samples.subarray(row * n, row * n + n));
            expect(new Set(d).size).toBe(n);
            expect(d[0]).toBe(withR[row]);
          }
        }
      }
    }
  });

  it('without replacement on softmax rows settles near-ties of the proxy scores exactly as the contract does', () => {
    // Class 1's score within an ulp or so of class 0's, and class 2 near class 1's: the proxy path
    // must hand these to the exact one. Classes at -60 cannot be drawn early but fill n = 3.
    let checked = 0;
    for (let seed = 0; seed < 300; seed++) {
      const cols = seed < 150 ? 7 : 600;
      const g = (j: number) => gumbelAt(seed, 0, 0, j);
      const z = new Float64Array(cols).fill(-3);
      z[0] = 0;
      z[1] = g(0) - g(1) + (seed % 3) * 2 ** -50;
      z[2] = seed % 2 ? z[1] + g(1) - g(2) : 0.5;
      for (const o of [{ seed, n: 2 }, { seed, n: 3, temperature: 0.5 }, { seed, n: 4, logprobsMode: 'raw' as const }]) {
        const opts: SampleOptions = { ...o, replacement: false };
        const want = referenceSampleInto(z, 1, cols, opts);
        const { outs, failure } = runInto(z, 1, cols, opts);
        expect(failure).toBeNull();
        expect(Array.from(outs.samples)).toEqual(Array.from(want.samples));
        checked++;
      }
    }
    expect(checked).toBe(900);
  });

  it('a per-row-seeded row gives the same answer alone, first or last in a batch of any size', () => {
    const r = rng(43);
    for (const cols of [12, 64, 65, 700]) {
      const row = new Float64Array(cols).map(() => 4 * r() - 2);
      for (const o of [
        { n: 5 },
        { n: 3, mapping: 'sparsemax' as const, replacement: false, temperature: 6 },
        { n: 4, typicalP: 0.8, eta: 0.01, temperature: 0.8 },
        { n: 2, mapping: 'entmax' as const, topNSigma: 1.5, logprobsMode: 'raw' as const },
      ]) {
        const alone = runInto(row, 1, cols, { ...o, seed: Float64Array.of(2 ** 33 + 5) }, 4);
        for (const size of [2, 7, 40]) {
          const others = new Float64Array(size * cols).map(() => 4 * r() - 2);
          for (const pos of [0, size - 1]) {
            others.set(row, pos * cols);
            const seeds = new Float64Array(size).map((_, i) => 1000 + i);
            seeds[pos] = 2 ** 33 + 5;
            const { outs, failure } = runInto(others, size, cols, { ...o, seed: seeds }, 4);
            expect(failure).toBeNull();
            const n = o.n;
            expect(Array.from(outs.samples.subarray(pos * n, pos * n + n))).toEqual(Array.from(alone.outs.samples));
            expect(Array.from(outs.logprobs!.subarray(pos * n, pos * n + n))).toEqual(Array.from(alone.outs.logprobs!));
            const w = Math.min(4, cols);
            expect(Array.from(outs.topIndices!.subarray(pos * w, pos * w + w))).toEqual(Array.from(alone.outs.topIndices!));
          }
        }
      }
    }
  });

  it('batch, row-by-row and chunked (rowOffset) calls agree, with per-row parameters and seeds', () => {
    const r = rng(47);
    const rows = 23;
    for (const cols of [10, 300]) {
      const data = new Float64Array(rows * cols).map(() => 6 * r() - 3);
      const perRow = (f: () => number) => new Float64Array(rows).map(f);
      const variants: SampleOptions[] = [
        { seed: perRow(() => Math.floor(r() * 2 ** 40)), n: 3, temperature: perRow(() => (r() < 0.2 ? 0 : 0.5 + r())) },
        { seed: 8, n: 2, typicalP: perRow(() => 0.3 + 0.7 * r()), epsilon: 0.01, mapping: 'entmax', alpha: perRow(() => 1.2 + r()) },
        { seed: perRow(() => Math.floor(r() * 100)), n: 2, replacement: false, topNSigma: perRow(() => 2 + 2 * r()), logprobsMode: 'raw' },
        { seed: 9, n: 2, eta: perRow(() => 0.1 * r()), topK: perRow(() => 1 + Math.floor(10 * r())), banned: Int32Array.of(0, 3) },
      ];
      for (const o of variants) {
        const whole = runInto(data, rows, cols, o, 3);
        expect(whole.failure).toBeNull();
        for (const chunk of [1, 4, 10]) {
          const n = o.n ?? 1;
          const samples = new Int32Array(rows * n);
          const logprobs = new Float64Array(rows * n);
          for (let start = 0; start < rows; start += chunk) {
            const len = Math.min(chunk, rows - start);
            const part = runInto(data.subarray(start * cols, (start + len) * cols), len, cols, { ...o, rowOffset: start }, 3);
            expect(part.failure).toBeNull();
            samples.set(part.outs.samples, start * n);
            logprobs.set(part.outs.logprobs!, start * n);
          }
          expect(Array.from(samples)).toEqual(Array.from(whole.outs.samples));
          expect(Array.from(logprobs)).toEqual(Array.from(whole.outs.logprobs!));
        }
      }
    }
  });

  it('runs the filters in the contract order: topK, topP, typicalP, minP, epsilon, eta (and topNSigma before the mapping)', () => {
    const r = rng(53);
    const values: Record<Step, () => number> = {
      topK: () => 1 + Math.floor(6 * r()),
      topP: () => 0.3 + 0.6 * r(),
      typicalP: () => 0.2 + 0.7 * r(),
      minP: () => 0.3 * r(),
      epsilon: () => 0.15 * r(),
      eta: () => 0.3 * r(),
    };
    const keptOf = (p: Float64Array) => order(p).sort((a, b) => a - b);
    for (let i = 0; i + 1 < STEPS.length; i++) {
      const [first, second] = [STEPS[i], STEPS[i + 1]];
      let found = 0;
      for (let trial = 0; trial < 4000 && found < 5; trial++) {
        const z = new Float64Array(10).map(() => 3 * (r() + r() - 1));
        const mapping = (['softmax', 'sparsemax', 'entmax'] as const)[trial % 3];
        const f: Filters = { [first]: values[first](), [second]: values[second]() };
        const right = keptOf(referenceP(z, mapping, 1.5, 1, f));
        const swapped = keptOf(referenceP(z, mapping, 1.5, 1, f, [second, first]));
        if (right.join() === swapped.join()) continue;
        found++;
        const [got] = kept(z, 1, 10, { seed: 1, mapping, ...f });
        expect(got, `${first} then ${second}`).toEqual(right);
      }
      expect(found, `${first}/${second}: rows where the order matters`).toBe(5);
    }
    // topNSigma masks logits before a sparse mapping: sparsemax of the two classes left (0.75,
    // 0.25), not sparsemax of all three (0.7, 0.2, 0.1) cut and renormalised (0.78, 0.22).
    const z = Float64Array.of(1, 0.5, 0.4, -3, -3, -3);
    const { outs } = runInto(z, 1, 6, { seed: 1, mapping: 'sparsemax', topNSigma: 0.3 }, 3);
    expect(Array.from(outs.topIndices!)).toEqual([0, 1, -1]);
    expect(outs.topLogprobs![0]).toBeCloseTo(Math.log(0.75), 14);
    expect(outs.topLogprobs![1]).toBeCloseTo(Math.log(0.25), 14);
    expect(Array.from(referenceP(referenceTopNSigma(z, 0.3), 'sparsemax', 1.5, 1, {}))).toEqual([0.75, 0.25, 0, 0, 0, 0]);
  });

  it('fails on the first row left without a class, or with too few for n distinct draws, and never throws on odd input', () => {
    const data = Float64Array.from([0, 1, 2, /* row 1 */ -Infinity, 5, -Infinity, /* row 2 */ 1, 1, 1]);
    expect(runInto(data, 3, 3, { seed: 1, banned: Int32Array.of(1) }).failure).toEqual({ row: 1, kind: 'no-class', classes: 0 });
    expect(runInto(data, 3, 3, { seed: 1, allowed: Int32Array.of(0, 2) }).failure).toEqual({ row: 1, kind: 'no-class', classes: 0 });
    expect(runInto(data, 3, 3, { seed: 1, n: 2, replacement: false }).failure).toEqual({ row: 1, kind: 'too-few', classes: 1 });
    expect(runInto(data, 3, 3, { seed: 1, n: 2, replacement: false, rowOffset: 10 }).failure).toEqual({ row: 11, kind: 'too-few', classes: 1 });
    expect(runInto(data, 3, 3, { seed: 1, n: 2, replacement: false, mapping: 'sparsemax' }).failure).toEqual({ row: 0, kind: 'too-few', classes: 1 });
    expect(runInto(data, 3, 3, { seed: 1, n: 2, replacement: false, temperature: 0 }).failure).toEqual({ row: 0, kind: 'too-few', classes: 1 });
    const odd = Float64Array.from({ length: 5 * 9 }, (_, i) => [1e300, -1e300, 0, -Infinity, 1e-300, 5, 1.7e308, -1.7e308][i % 8]);
    for (const extra of [
      { topNSigma: 1e-300 },
      { topNSigma: 1e300 },
      { topNSigma: NaN, typicalP: NaN, epsilon: NaN, eta: NaN },
      { typicalP: 0, epsilon: 1, eta: 1 },
      { typicalP: 1e-300, temperature: 1e-300 },
      { mapping: 'entmax' as const, alpha: Float64Array.of(1.01, 7, NaN, 2, 1), replacement: false, n: 1 },
      { temperature: Float64Array.of(NaN, 0, -1, Infinity, 1e300), logprobsMode: 'raw' as const },
      { logitBias: { index: Int32Array.of(0, 99, -1), value: Float64Array.of(1e308, 1, 1) } },
    ] as Partial<SampleOptions>[]) {
      const { outs } = runInto(odd, 5, 9, { seed: Float64Array.of(1, 2, 3, 4, 5), n: 2, ...extra }, 3);
      for (const j of outs.samples) expect(j >= -1 && j < 9).toBe(true);
    }
  });

  it('temperature 0 in some rows is greedy there: argmax after bias and masks, processed logprob 0, the class alone in the top list', () => {
    const data = Float64Array.from([1, 3, 3, -2, -Infinity, 0.5, /* row 1 */ 0, 1, 2, 3, 4, 5]);
    const o: SampleOptions = { seed: 4, n: 3, temperature: Float64Array.of(0, 1), logitBias: { index: Int32Array.of(0), value: Float64Array.of(2.5) }, banned: Int32Array.of(5) };
    const { outs } = runInto(data, 2, 6, o, 3);
    expect(Array.from(outs.samples.subarray(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(outs.logprobs!.subarray(0, 3))).toEqual([0, 0, 0]);
    expect(Array.from(outs.topIndices!.subarray(0, 3))).toEqual([0, -1, -1]);
    expect(Array.from(outs.topLogprobs!.subarray(0, 3))).toEqual([0, -Infinity, -Infinity]);
    expect(Array.from(outs.topIndices!.subarray(3, 6))).toEqual([4, 3, 0]); // row 1: bias lifts class 0 to 2.5, 5 banned
    const none = runInto(data, 2, 6, o, 0).outs;
    expect(Array.from(none.topIndices!)).toEqual([-1, -1]);
    expect(Array.from(none.topLogprobs!)).toEqual([-Infinity, -Infinity]);
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

describe('sampleInto: distribution of the newer filters and of draws without replacement (chi-square, fixed seeds)', () => {
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

  /** The kept distribution of the contract for options o (literal transcription). */
  function expected(o: Omit<SampleOptions, 'n'>, t: number): Float64Array {
    const zz = typeof o.topNSigma === 'number' ? referenceTopNSigma(z, o.topNSigma) : z;
    const f: Filters = {};
    for (const k of STEPS) f[k] = o[k] as number | undefined;
    return referenceP(zz, o.mapping ?? 'softmax', (o.alpha as number | undefined) ?? 1.5, t, f);
  }

  const cases: [string, Omit<SampleOptions, 'n'>][] = [
    ['softmax + typicalP 0.6', { seed: 21, typicalP: 0.6 }],
    ['sparsemax T = 3 + typicalP 0.8', { seed: 22, mapping: 'sparsemax', temperature: 3, typicalP: 0.8 }],
    ['softmax + epsilon 0.05', { seed: 23, epsilon: 0.05 }],
    ['entmax T = 2 + epsilon 0.08', { seed: 24, mapping: 'entmax', temperature: 2, epsilon: 0.08 }],
    ['softmax T = 1.5 + eta 0.05', { seed: 25, temperature: 1.5, eta: 0.05 }],
    ['entmax 1.3 T = 2 + eta 0.1', { seed: 26, mapping: 'entmax', alpha: 1.3, temperature: 2, eta: 0.1 }],
    ['softmax + topNSigma 1', { seed: 27, topNSigma: 1 }],
    ['sparsemax T = 4 + topNSigma 0.8', { seed: 28, mapping: 'sparsemax', temperature: 4, topNSigma: 0.8 }],
  ];

  it.each(cases)('%s: counts fit the kept p, and not the p of T x 1.15 (power)', (_name, o) => {
    const t = (o.temperature as number | undefined) ?? 1;
    const p = expected(o, t);
    const unfiltered = expected({ seed: 0, mapping: o.mapping, alpha: o.alpha }, t);
    // The filter removed classes, and kept more than one.
    expect(order(p).length).toBeLessThan(order(unfiltered).length);
    const c = counts(o);
    const fit = chiSquareTest(c, p);
    expect(fit.df).toBeGreaterThan(0);
    expect(fit.pValue).toBeGreaterThan(1e-4);
    // Power: the same counts against a slightly wrong p, restricted to the same classes.
    const wrong = expected({ ...o }, t * 1.15);
    keepOnly(wrong, order(p));
    renormalise(wrong);
    expect(chiSquareTest(c, wrong).pValue).toBeLessThan(1e-4);
  });

  /** Plackett-Luce probability of the ordered draw (i, j), i != j, without replacement. */
  const pl2 = (p: Float64Array, i: number, j: number) => (p[i] * p[j]) / (1 - p[i]);

  function pairCounts(row: Float64Array, reps: number, o: Omit<SampleOptions, 'n' | 'seed'>, seed: number | Float64Array): Float64Array {
    const k = row.length;
    const data = new Float64Array(reps * k);
    for (let r = 0; r < reps; r++) data.set(row, r * k);
    const { outs, failure } = runInto(data, reps, k, { ...o, seed, n: 2, replacement: false });
    expect(failure).toBeNull();
    const c = new Float64Array(k * k);
    for (let r = 0; r < reps; r++) c[outs.samples[2 * r] * k + outs.samples[2 * r + 1]]++;
    return c;
  }

  const plCases: [string, Float64Array, Omit<SampleOptions, 'n' | 'seed'>, number | Float64Array][] = [
    ['softmax, 5 classes, one seed', Float64Array.from([0.4, 0.25, 0.2, 0.1, 0.05], Math.log), {}, 31],
    ['softmax T = 0.8, 4 classes, per-row seeds', Float64Array.of(0.3, -0.2, 0.5, -1), { temperature: 0.8 }, new Float64Array(40_000).map((_, i) => 7 * i + 1)],
    ['sparsemax T = 3, 5 classes', Float64Array.of(1, 0.2, 0.6, -0.4, 0), { mapping: 'sparsemax', temperature: 3 }, 32],
    ['entmax, typicalP 0.95, 5 classes', Float64Array.of(0.5, -0.3, 0.9, 0.1, -0.8), { mapping: 'entmax', temperature: 2.5, typicalP: 0.95 }, 33],
  ];

  it.each(plCases)('without replacement, n = 2, %s: ordered pairs and inclusion sets fit Plackett-Luce; a wrong model fails', (_name, row, o, seed) => {
    const reps = 40_000;
    const k = row.length;
    const zz = row;
    const f: Filters = {};
    for (const s2 of STEPS) f[s2] = o[s2] as number | undefined;
    const p = referenceP(zz, o.mapping ?? 'softmax', 1.5, (o.temperature as number | undefined) ?? 1, f);
    expect(order(p).length).toBeGreaterThanOrEqual(3);
    const c = pairCounts(row, reps, o, seed);
    // Ordered pairs (i, j): P = p_i p_j / (1 - p_i).
    const ordered = new Float64Array(k * k);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) if (i !== j && p[i] > 0 && p[j] > 0) ordered[i * k + j] = pl2(p, i, j);
    const fit = chiSquareTest(c, ordered);
    expect(fit.df).toBeGreaterThan(2);
    expect(fit.pValue).toBeGreaterThan(1e-4);
    // Inclusion: the unordered set {i, j}, P = PL(i, j) + PL(j, i).
    const setCounts: number[] = [];
    const setP: number[] = [];
    const wrongSetP: number[] = [];
    let indepNorm = 0;
    for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) indepNorm += p[i] * p[j];
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        setCounts.push(c[i * k + j] + c[j * k + i]);
        setP.push(ordered[i * k + j] + ordered[j * k + i]);
        wrongSetP.push((p[i] * p[j]) / indepNorm); // two independent draws conditioned on distinct: not Plackett-Luce
      }
    }
    expect(chiSquareTest(setCounts, setP).pValue).toBeGreaterThan(1e-4);
    // Power: the wrong model, and Plackett-Luce of a slightly wrong p, are rejected.
    expect(chiSquareTest(setCounts, wrongSetP).pValue).toBeLessThan(1e-4);
    const pw = referenceP(zz, o.mapping ?? 'softmax', 1.5, ((o.temperature as number | undefined) ?? 1) * 1.15, f);
    const orderedWrong = new Float64Array(k * k);
    for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) if (i !== j && pw[i] > 0 && pw[j] > 0 && p[i] > 0 && p[j] > 0) orderedWrong[i * k + j] = pl2(pw, i, j);
    let sw = 0;
    for (const v of orderedWrong) sw += v;
    expect(chiSquareTest(c, orderedWrong.map((v) => v / sw)).pValue).toBeLessThan(1e-4);
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
