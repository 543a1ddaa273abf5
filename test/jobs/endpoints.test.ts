import { describe, expect, it } from 'vitest';
import { ApiError } from '../../src/errors.js';
import { ENDPOINTS, assemble, compute, layoutOf, prepare, randomSeed, run, slice, type EndpointName } from '../../src/jobs/endpoints.js';
import { formatRange } from '../../src/jobs/format.js';
import { randomLogits } from '../helpers/http.js';

/**
 * The job pipeline without HTTP: any split of a job's rows into chunks, computed separately and
 * assembled, gives the bytes of the unsplit job (the seeded kernels take the global row index
 * from rowOffset). This is what the pool's row split relies on.
 */

const LIMITS = { maxElements: 1e7 };
const logits = randomLogits(11, 23, 77);
const probs = logits.map((row) => row.map((v) => Math.exp(v)));

const BODIES: Record<EndpointName, Record<string, unknown>[]> = {
  argmax: [{ logits }],
  softmax: [{ logits }, { logits, log: true, temperature: 0.3 }],
  sparsemax: [{ logits, temperature: 2 }],
  entmax: [{ logits, alpha: 1.2 }],
  'gumbel-softmax': [{ logits, seed: 5 }, { probs, hard: true, seed: 2 ** 40 + 3 }],
  sample: [
    { logits, n: 6, seed: 1 },
    { probs, n: 3, mapping: 'entmax', alpha: 1.5, topP: 0.8, seed: 2 ** 52 },
  ],
};

const SPLITS = [[0, 11], [0, 1, 11], [0, 5, 6, 11], [0, 3, 6, 9, 11], [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]];

describe('split, compute, assemble = unsplit', () => {
  const cases = ENDPOINTS.flatMap((ep) => BODIES[ep].map((b, i) => [`${ep} #${i}`, ep, b] as const));

  it.each(cases)('%s', (_label, ep, body) => {
    const job = prepare(ep, structuredClone(body), LIMITS);
    expect(job.rows).toBe(11);
    expect(job.cols).toBe(23);
    expect(job.rowOffset).toBe(0);
    const whole = assemble(job, [compute(job)]);
    const fresh = prepare(ep, JSON.parse(JSON.stringify(body)), LIMITS);
    expect(whole).toBe(assemble(fresh, [compute(fresh)]));
    for (const cuts of SPLITS) {
      const pieces: string[][] = [];
      for (let c = 0; c + 1 < cuts.length; c++) {
        const sub = slice(job, cuts[c], cuts[c + 1]);
        expect(sub.rowOffset).toBe(cuts[c]);
        expect(sub.rows).toBe(cuts[c + 1] - cuts[c]);
        sub.data = sub.data.slice(); // as the pool does before transferring
        pieces.push(compute(sub));
      }
      expect(assemble(job, pieces), `cuts ${cuts.join(',')}`).toBe(whole);
    }
  });

  // The pool's streamed path computes big jobs over their own matrix (no second copy of it).
  it.each(cases)('%s: computed in place, the same bytes', (_label, ep, body) => {
    const whole = assemble(prepare(ep, structuredClone(body), LIMITS), [compute(prepare(ep, structuredClone(body), LIMITS))]);
    const job = prepare(ep, structuredClone(body), LIMITS);
    const outs = run(job, true);
    const layout = layoutOf(job);
    if (layout[0].spec.width === 'cols') expect(outs[0]).toBe(job.data);
    const pieces = layout.map(({ width, matrix }, i) =>
      matrix ? `[${formatRange(outs[i], width, true, 0, job.rows * width)}]` : formatRange(outs[i], 1, false, 0, job.rows),
    );
    expect(assemble(job, [pieces])).toBe(whole);
  });

  it('a slice of a slice keeps the global offset', () => {
    const job = prepare('sample', { logits, n: 2, seed: 9 }, LIMITS);
    const whole = JSON.parse(assemble(job, [compute(job)])) as { samples: number[][] };
    const inner = slice(slice(job, 3, 10), 2, 5); // rows 5..7
    expect(inner.rowOffset).toBe(5);
    expect(inner.work).toBe(3 * 23 * 2);
    const part = JSON.parse(assemble(job, [compute(inner)])) as { samples: number[][] };
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
    expect(e.params).toEqual({ alpha: 1.5, temperature: 1 });
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
