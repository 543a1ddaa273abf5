import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { entmaxWorstPasses, worstCaseCost, worstCaseNs, worstCaseRowUnits, worstCaseScratchBytes, type KernelName } from '../../src/core/cost.js';
import { MAX_SOLVER_PASSES } from '../../src/core/entmax.js';
import { newScratch, ROW_SCRATCH_BYTES } from '../../src/core/sparsemax.js';

const KERNELS: KernelName[] = ['argmax', 'softmax', 'sparsemax', 'entmax', 'gumbel-softmax', 'sample'];

const params = fc.record(
  {
    alpha: fc.oneof(fc.constantFrom(1, 1.5, 2), fc.double({ min: 1, max: 1e6, noNaN: true })),
    temperature: fc.oneof(fc.constant(0), fc.double({ min: 1e-3, max: 100, noNaN: true })),
    log: fc.boolean(),
    hard: fc.boolean(),
    input: fc.constantFrom('logits', 'probs'),
    mapping: fc.constantFrom('softmax', 'sparsemax', 'entmax'),
    n: fc.integer({ min: 1, max: 1000 }),
    topK: fc.integer({ min: 1, max: 100 }),
    topP: fc.double({ min: 0.01, max: 1, noNaN: true }),
    minP: fc.double({ min: 0, max: 1, noNaN: true }),
  },
  { requiredKeys: [] },
);

describe('worst-case cost model', () => {
  it('is finite, positive, linear in rows and non-decreasing in cols, for every kernel and parameter', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KERNELS), params, fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 100000 }), (k, p, rows, cols) => {
        const frozen = Object.freeze({ ...p });
        const c = worstCaseCost(k, frozen, rows, cols);
        expect(Number.isFinite(c) && c > 0).toBe(true);
        expect(worstCaseCost(k, frozen, 2 * rows, cols)).toBeCloseTo(2 * c, 6);
        expect(worstCaseCost(k, frozen, rows, cols + 1)).toBeGreaterThanOrEqual(c);
        expect(worstCaseCost(k, frozen, rows, cols)).toBe(c); // pure
        expect(worstCaseNs(k, frozen, rows, cols)).toBeGreaterThan(c);
      }),
    );
  });

  it('grows with the number of draws and with each filter of sample', () => {
    fc.assert(
      fc.property(params, fc.integer({ min: 1, max: 50000 }), (p, cols) => {
        const base = { ...p, temperature: 1, topK: undefined, topP: undefined, minP: undefined };
        const one = worstCaseRowUnits('sample', { ...base, n: 1 }, cols);
        expect(worstCaseRowUnits('sample', { ...base, n: 2 }, cols)).toBeGreaterThan(one);
        for (const f of [{ topK: 5 }, { topP: 0.9 }, { minP: 0.1 }]) {
          expect(worstCaseRowUnits('sample', { ...base, n: 1, ...f }, cols)).toBeGreaterThan(one);
        }
      }),
    );
  });

  it('charges entmax for the proven solver bound, softmax at alpha = 1 and sparsemax at 2', () => {
    expect(entmaxWorstPasses(1)).toBe(0);
    expect(entmaxWorstPasses(2)).toBe(0);
    for (const alpha of [1 + 2 ** -52, 1.001, 1.3, 1.5, 3, 1e6]) expect(entmaxWorstPasses(alpha)).toBe(MAX_SOLVER_PASSES);
    const cols = 1000;
    expect(worstCaseRowUnits('entmax', { alpha: 2 }, cols)).toBe(worstCaseRowUnits('sparsemax', {}, cols));
    expect(worstCaseRowUnits('entmax', { alpha: 1 }, cols)).toBeLessThan(2 * worstCaseRowUnits('softmax', {}, cols));
    // A pass of the power solver costs a log and an exp per element: well above one softmax unit.
    expect(worstCaseRowUnits('entmax', { alpha: 1.3 }, cols) / cols).toBeGreaterThan(MAX_SOLVER_PASSES);
    expect(worstCaseRowUnits('entmax', { alpha: 1.5 }, cols)).toBeLessThan(worstCaseRowUnits('entmax', { alpha: 1.3 }, cols));
    // The default alpha is 1.5, as in the endpoint.
    expect(worstCaseRowUnits('entmax', {}, cols)).toBe(worstCaseRowUnits('entmax', { alpha: 1.5 }, cols));
  });

  it('treats greedy sampling (T = 0) as argmax and a copy of its index, whatever the filters', () => {
    const greedy = worstCaseRowUnits('sample', { temperature: 0, n: 100, topP: 0.5 }, 1000);
    expect(greedy).toBe(worstCaseRowUnits('sample', { temperature: 0, n: 100 }, 1000));
    expect(greedy).toBeGreaterThan(worstCaseRowUnits('argmax', {}, 1000));
    expect(greedy).toBeLessThan(worstCaseRowUnits('argmax', {}, 1000) + 100);
  });

  it('charges every row its fixed work: a column of rows costs more than a row of as many classes', () => {
    for (const [k, p] of [['argmax', {}], ['softmax', {}], ['gumbel-softmax', {}], ['gumbel-softmax', { hard: true }], ['sample', {}], ['sample', { topP: 0.9 }], ['sample', { temperature: 0 }]] as const) {
      expect(worstCaseCost(k, p, 1000, 1), k).toBeGreaterThan(worstCaseCost(k, p, 1, 1000));
    }
    // A draw has fixed work of its own: n draws of 2 classes cost more than 2n classes drawn once.
    expect(worstCaseRowUnits('sample', { n: 1000 }, 2)).toBeGreaterThan(worstCaseRowUnits('sample', { n: 1 }, 2000));
  });
});

describe('worst-case scratch', () => {
  it('the row scratch of sparsemax and entmax is ROW_SCRATCH_BYTES a class', () => {
    const s = newScratch(1000);
    const bytes = Object.values(s).reduce((a: number, v: ArrayBufferView) => a + v.byteLength, 0);
    expect(bytes).toBe(1000 * ROW_SCRATCH_BYTES);
    expect(worstCaseScratchBytes('sparsemax', {}, 1000)).toBe(bytes);
    expect(worstCaseScratchBytes('entmax', { alpha: 1.5 }, 1000)).toBe(bytes);
  });

  it('is linear in cols, none for softmax and argmax, and grows with what sample does per row', () => {
    fc.assert(
      fc.property(fc.constantFrom(...KERNELS), params, fc.integer({ min: 1, max: 1 << 24 }), (k, p, cols) => {
        const one = worstCaseScratchBytes(k, p, 1);
        expect(worstCaseScratchBytes(k, p, cols)).toBe(one * cols);
        expect(one === 0).toBe(k === 'softmax' || k === 'argmax');
      }),
    );
    const sample = (p: Record<string, unknown>) => worstCaseScratchBytes('sample', p, 1);
    expect(sample({ mapping: 'sparsemax' })).toBe(sample({ mapping: 'softmax', topK: 5 }) - 8 + ROW_SCRATCH_BYTES);
    expect(sample({ mapping: 'sparsemax', topP: 0.9 })).toBe(sample({ mapping: 'sparsemax' }) + 8);
    expect(sample({ mapping: 'entmax', input: 'probs' })).toBe(sample({ mapping: 'entmax' }) + 8);
    expect(sample({})).toBeLessThan(sample({ topP: 0.5 }));
    // The largest: a mapping, filters and probabilities.
    expect(sample({ mapping: 'entmax', topK: 3, input: 'probs' })).toBe(68);
  });
});
