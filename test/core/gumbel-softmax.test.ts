import { describe, expect, it } from 'vitest';
import { gumbelAt } from '../../src/core/gumbel.js';
import { gumbelSoftmax } from '../../src/core/gumbel-softmax.js';
import { softmax } from '../../src/core/softmax.js';
import { chiSquareTest, rng } from '../helpers/stats.js';

const TAUS = [1e-300, 1e-5, 1, 1e300];

function randomLogits(rows: number, cols: number, seed: number, maskRate = 0): Float64Array {
  const r = rng(seed);
  const z = new Float64Array(rows * cols).map(() => (r() < maskRate ? -Infinity : 6 * r() - 3));
  for (let row = 0; row < rows; row++) z[row * cols + (row % cols)] = 0.5; // one live class per row
  return z;
}

/** Lowest j maximising z_j + g_j, from the stream directly. */
function expectedIndex(z: Float64Array, base: number, cols: number, seed: number, row: number): number {
  let best = -1;
  let m = -Infinity;
  for (let j = 0; j < cols; j++) {
    const v = z[base + j] + gumbelAt(seed, row, 0, j);
    if (v > m) {
      m = v;
      best = j;
    }
  }
  return best;
}

describe('gumbelSoftmax', () => {
  it('is softmax((z + g) / tau) with the stream noise of draw 0, and the index is argmax z + g', () => {
    const rows = 20;
    const cols = 13;
    const z = randomLogits(rows, cols, 1, 0.2);
    for (const tau of [0.1, 1, 7]) {
      const { probs, indices } = gumbelSoftmax(z, rows, cols, { tau, seed: 99, rowOffset: 4 });
      for (let r = 0; r < rows; r++) {
        const v = new Float64Array(cols);
        for (let j = 0; j < cols; j++) v[j] = z[r * cols + j] + gumbelAt(99, r + 4, 0, j);
        expect(Array.from(probs.subarray(r * cols, r * cols + cols))).toEqual(Array.from(softmax(v, 1, cols, tau)));
        expect(indices[r]).toBe(expectedIndex(z, r * cols, cols, 99, r + 4));
      }
    }
  });

  it('rows are non-negative and sum to 1; hard rows are the one-hot of the index', () => {
    const rows = 200;
    const cols = 37;
    const z = randomLogits(rows, cols, 2, 0.1);
    for (const tau of [...TAUS, 0.3, 3]) {
      const soft = gumbelSoftmax(z, rows, cols, { tau, seed: 5 });
      const hard = gumbelSoftmax(z, rows, cols, { tau, seed: 5, hard: true });
      expect(Array.from(hard.indices)).toEqual(Array.from(soft.indices));
      for (let r = 0; r < rows; r++) {
        let sum = 0;
        for (let j = 0; j < cols; j++) {
          const p = soft.probs[r * cols + j];
          expect(p >= 0 && Number.isFinite(p)).toBe(true);
          sum += p;
          expect(hard.probs[r * cols + j]).toBe(j === hard.indices[r] ? 1 : 0);
        }
        expect(Math.abs(sum - 1)).toBeLessThanOrEqual(1e-12);
      }
    }
  });

  it('hard and soft agree with the definition on rows built to tie (z_j = c - g_j)', () => {
    // z_j + g_j rounds to c or a neighbour for every class: the index is decided by exact ties and
    // last bits, which the bucket-bound shortcut of hard = true must not disturb.
    for (const cols of [7, 64, 1000]) {
      const rows = 6;
      const z = new Float64Array(rows * cols);
      for (let r = 0; r < rows; r++) {
        for (let j = 0; j < cols; j++) z[r * cols + j] = [0, 1, 1e5, -3.3, 1e-3, 7][r] - gumbelAt(77, r, 0, j);
      }
      const soft = gumbelSoftmax(z, rows, cols, { tau: 1, seed: 77 });
      const hard = gumbelSoftmax(z, rows, cols, { tau: 1, seed: 77, hard: true });
      for (let r = 0; r < rows; r++) {
        const want = expectedIndex(z, r * cols, cols, 77, r);
        expect(soft.indices[r]).toBe(want);
        expect(hard.indices[r]).toBe(want);
      }
    }
  });

  it('masked classes get probability 0 and are never chosen', () => {
    const rows = 500;
    const cols = 10;
    const z = randomLogits(rows, cols, 3, 0.5);
    for (const tau of TAUS) {
      for (const hard of [false, true]) {
        const { probs, indices } = gumbelSoftmax(z, rows, cols, { tau, seed: 8, hard });
        for (let r = 0; r < rows; r++) {
          expect(z[r * cols + indices[r]]).not.toBe(-Infinity);
          for (let j = 0; j < cols; j++) if (z[r * cols + j] === -Infinity) expect(probs[r * cols + j]).toBe(0);
        }
      }
    }
    // A row with every class masked: index -1, all zeros.
    const dead = new Float64Array(4).fill(-Infinity);
    const out = gumbelSoftmax(dead, 1, 4, { tau: 1, seed: 1 });
    expect(out.indices[0]).toBe(-1);
    expect(Array.from(out.probs)).toEqual([0, 0, 0, 0]);
  });

  it('never produces NaN or Infinity, for tiny and huge tau and extreme logits', () => {
    const rows = [
      [1e300, -1e300, 0, 1e300],
      [-1e300, -1e300, -1e300, -1e300],
      [1e300, 1e300, 1e300, 1e300],
      [1.7e308, -1.7e308, 5, -Infinity],
      [-1.7e308, -Infinity, -Infinity, -1.7e308],
      [1e-300, -1e-300, 0, 5e-324],
    ];
    const z = Float64Array.from(rows.flat());
    for (const tau of [...TAUS, 5e-324, 1.7e308]) {
      for (const hard of [false, true]) {
        const { probs, indices } = gumbelSoftmax(z, rows.length, 4, { tau, seed: 3, hard });
        for (const p of probs) expect(Number.isFinite(p) && p >= 0).toBe(true);
        for (let r = 0; r < rows.length; r++) {
          let sum = 0;
          for (let j = 0; j < 4; j++) sum += probs[r * 4 + j];
          expect(Math.abs(sum - 1)).toBeLessThanOrEqual(1e-12);
          expect(indices[r]).toBe(expectedIndex(z, r * 4, 4, 3, r));
        }
      }
    }
    // At tiny tau the sample is the one-hot of the index (where z + g has no exact ties: above,
    // 1e300 + g rounds to 1e300, so such rows share the mass); at huge tau it is uniform.
    const moderate = randomLogits(30, 4, 9);
    const sharp = gumbelSoftmax(moderate, 30, 4, { tau: 1e-300, seed: 3 });
    const hard = gumbelSoftmax(moderate, 30, 4, { tau: 1e-300, seed: 3, hard: true });
    expect(Array.from(sharp.probs)).toEqual(Array.from(hard.probs));
    const flat = gumbelSoftmax(Float64Array.from([1, 2, 3, 4]), 1, 4, { tau: 1e300, seed: 3 });
    for (const p of flat.probs) expect(p).toBe(0.25);
  });

  it('probabilities input equals logits input log(pi)', () => {
    const pi = [0.5, 0.25, 0, 0.125, 0.0625, 0.0625]; // sums to 1 exactly, so log(pi / sum) = log(pi)
    const rows = 50;
    const probs = Float64Array.from({ length: rows * 6 }, (_, i) => pi[i % 6]);
    const logits = probs.map(Math.log);
    for (const tau of [...TAUS, 0.5]) {
      for (const hard of [false, true]) {
        const a = gumbelSoftmax(probs, rows, 6, { tau, seed: 21, hard, input: 'probs' });
        const b = gumbelSoftmax(logits, rows, 6, { tau, seed: 21, hard });
        expect(Array.from(a.probs)).toEqual(Array.from(b.probs));
        expect(Array.from(a.indices)).toEqual(Array.from(b.indices));
      }
    }
    // Unnormalised probabilities are normalised by their row sum.
    const scaled = probs.map((v) => v * 3);
    const c = gumbelSoftmax(scaled, rows, 6, { tau: 1, seed: 21, input: 'probs' });
    const d = gumbelSoftmax(logits, rows, 6, { tau: 1, seed: 21 });
    expect(Array.from(c.indices)).toEqual(Array.from(d.indices));
    for (let i = 0; i < c.probs.length; i++) expect(Math.abs(c.probs[i] - d.probs[i])).toBeLessThanOrEqual(1e-15);
  });

  it('gives the same output whole, row by row (rowOffset) or in chunks', () => {
    const rows = 23;
    const cols = 9;
    const z = randomLogits(rows, cols, 4, 0.1);
    const whole = gumbelSoftmax(z, rows, cols, { tau: 0.7, seed: 2 ** 52 + 1 });
    for (const chunk of [1, 4, 10]) {
      for (let start = 0; start < rows; start += chunk) {
        const len = Math.min(chunk, rows - start);
        const part = gumbelSoftmax(z.subarray(start * cols, (start + len) * cols), len, cols, {
          tau: 0.7,
          seed: 2 ** 52 + 1,
          rowOffset: start,
        });
        expect(Array.from(part.probs)).toEqual(Array.from(whole.probs.subarray(start * cols, (start + len) * cols)));
        expect(Array.from(part.indices)).toEqual(Array.from(whole.indices.subarray(start, start + len)));
      }
    }
  });

  it('the Gumbel-max trick: hard indices over many rows and seeds have frequencies pi (chi-square)', () => {
    // The experiment of Jang et al. / Maddison et al.: argmax(log pi + g) ~ Categorical(pi).
    const pi = [0.3, 0.05, 0.2, 0.001, 0.15, 0.099, 0.2];
    const cols = pi.length;
    const rows = 20_000;
    const data = Float64Array.from({ length: rows * cols }, (_, i) => pi[i % cols]);
    const counts = new Float64Array(cols);
    for (const seed of [0, 1, 2 ** 32 + 7, 2 ** 53 - 1, 123456789]) {
      const { indices } = gumbelSoftmax(data, rows, cols, { tau: 0.5, seed, hard: true, input: 'probs' });
      for (const j of indices) counts[j]++;
    }
    expect(chiSquareTest(counts, pi).pValue).toBeGreaterThan(1e-4);
    // Power check: the same counts against a slightly different pi are rejected.
    const wrong = [0.29, 0.05, 0.21, 0.001, 0.15, 0.099, 0.2];
    expect(chiSquareTest(counts, wrong).pValue).toBeLessThan(1e-4);
  });
});
