import { describe, expect, it } from 'vitest';
import { entmax } from '../../src/core/entmax.js';
import { sparsemax } from '../../src/core/sparsemax.js';
import { entmax15Sorted, entmaxBisect, sparsemaxSorted } from '../helpers/oracles.js';

/** Edge rows for the single-read candidate pass, the shared scratch and the threshold paths. */
const maps = {
  sparsemax: (z: Float64Array, out?: Float64Array) => sparsemax(z, 1, z.length, 1, out),
  'entmax 1.5': (z: Float64Array, out?: Float64Array) => entmax(z, 1, z.length, 1.5, 1, out),
  'entmax 1.3': (z: Float64Array, out?: Float64Array) => entmax(z, 1, z.length, 1.3, 1, out),
  'entmax 4': (z: Float64Array, out?: Float64Array) => entmax(z, 1, z.length, 4, 1, out),
};

describe.each(Object.entries(maps))('%s', (_name, map) => {
  it('may write its output over its input', () => {
    const z = Float64Array.from([0.3, -1, 2, 2, 1.75, -Infinity, 0]);
    const want = Array.from(map(z).probs);
    const inPlace = Float64Array.from(z);
    map(inPlace, inPlace);
    expect(Array.from(inPlace)).toEqual(want);
  });

  it('stays finite when z - max overflows and on ascending rows (every entry collected)', () => {
    const p = map(Float64Array.from([-1.7e308, 1.7e308, 0, 1.7e308])).probs;
    expect(Array.from(p)).toEqual([0, 0.5, 0, 0.5]);
    const asc = Float64Array.from({ length: 300 }, (_, i) => i / 100);
    const q = map(asc).probs;
    expect(q.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(q[0]).toBe(0);
  });

  it('gives the same row whether called alone or after a wider call grew the scratch', () => {
    const z = Float64Array.from({ length: 40 }, (_, i) => Math.sin(i * 1.7) * 3);
    const a = Array.from(map(z).probs);
    map(Float64Array.from({ length: 5000 }, (_, i) => Math.cos(i)));
    expect(Array.from(map(z).probs)).toEqual(a);
  });
});

describe('threshold paths against the oracles on ties and short rows', () => {
  const rows = [
    [2, 0],
    [1, 1, 1, 1],
    [0, 0, 0, -5],
    [3, 3, 2.5, -1, 0.5],
    Array.from({ length: 60 }, (_, i) => (i % 7) / 4), // many ties, > 32 left after the bound
    Array.from({ length: 10 }, (_, i) => -i / 8),
  ];
  it.each(rows.map((r) => [r.length, r] as const))('row of %i', (_n, r) => {
    const z = Float64Array.from(r);
    const close = (got: ArrayLike<number>, want: number[], tol: number) =>
      want.forEach((w, i) => {
        expect(Math.abs(got[i] - w), `[${i}]`).toBeLessThanOrEqual(tol);
        if (w === 0) expect(got[i], `[${i}]`).toBe(0);
      });
    close(sparsemax(z, 1, z.length).probs, sparsemaxSorted(r), 1e-13);
    close(entmax(z, 1, z.length, 1.5).probs, entmax15Sorted(r), 1e-13);
    for (const alpha of [1.3, 1.7, 3]) close(entmax(z, 1, z.length, alpha).probs, entmaxBisect(r, alpha), 1e-12);
  });
});
