import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { argmax } from '../../src/core/argmax.js';
import { entmax } from '../../src/core/entmax.js';
import { logSoftmax, softmax } from '../../src/core/softmax.js';
import { sparsemax } from '../../src/core/sparsemax.js';
import { entmax15Sorted, entmaxBisect, softmaxPlain, sparsemaxSorted } from '../helpers/oracles.js';

type Mapping = (z: Float64Array, T: number) => Float64Array;

const mappings: Record<string, Mapping> = {
  softmax: (z, T) => softmax(z, 1, z.length, T),
  sparsemax: (z, T) => sparsemax(z, 1, z.length, T).probs,
  'entmax 1.5': (z, T) => entmax(z, 1, z.length, 1.5, T).probs,
  'entmax 1.3': (z, T) => entmax(z, 1, z.length, 1.3, T).probs,
  'entmax 1.001': (z, T) => entmax(z, 1, z.length, 1.001, T).probs,
  'entmax 3': (z, T) => entmax(z, 1, z.length, 3, T).probs,
  'entmax 10': (z, T) => entmax(z, 1, z.length, 10, T).probs,
};

const logit = fc.double({ min: -50, max: 50, noNaN: true, noDefaultInfinity: true });
const row = (max = 40) => fc.array(logit, { minLength: 1, maxLength: max });
const temperature = fc.oneof(fc.constant(1), fc.double({ min: 0.05, max: 20, noNaN: true }));
const RUNS = { numRuns: Number(process.env.FC_RUNS ?? 300) };
/**
 * Logits on a 1/64 grid: distinct values are at least 1/64 apart. Near-ties closer than that are
 * ill-conditioned at large alpha (p_i ~ (x_i - tau)^(1/(alpha-1)) turns a 1-ulp change of a logit
 * into an O(1) change of p at alpha = 1000), so there no float64 solver can be compared with
 * another beyond backward stability; on this grid the problem is well-conditioned.
 */
const gridRow = (max = 40) =>
  fc.array(fc.integer({ min: -640, max: 640 }).map((k) => k / 64), { minLength: 1, maxLength: max });

function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i] - b[i]) <= tol)) return false;
  return true;
}

describe.each(Object.entries(mappings))('%s', (_name, map) => {
  it('gives non-negative rows summing to 1', () => {
    fc.assert(
      fc.property(row(), temperature, (z, T) => {
        const p = map(Float64Array.from(z), T);
        let s = 0;
        for (const v of p) {
          if (!(v >= 0)) return false;
          s += v;
        }
        return Math.abs(s - 1) <= 1e-12;
      }),
      RUNS,
    );
  });

  it('is invariant to adding a constant to a row', () => {
    fc.assert(
      fc.property(row(), fc.double({ min: -100, max: 100, noNaN: true }), (z, c) => {
        // Keep shifted values exactly representable so the check is about the maths.
        const zi = z.map((v) => Math.round(v * 64) / 64);
        const ci = Math.round(c * 64) / 64;
        const a = map(Float64Array.from(zi), 1);
        const b = map(Float64Array.from(zi.map((v) => v + ci)), 1);
        return close(a, b, 1e-12);
      }),
      RUNS,
    );
  });

  it('is permutation equivariant', () => {
    fc.assert(
      fc.property(
        row().chain((z) => fc.tuple(fc.constant(z), fc.shuffledSubarray(z.map((_, i) => i), { minLength: z.length }))),
        temperature,
        ([z, perm], T) => {
          const p = map(Float64Array.from(z), T);
          const pp = map(Float64Array.from(perm.map((i) => z[i])), T);
          return close(
            pp,
            perm.map((i) => p[i]),
            1e-12,
          );
        },
      ),
      RUNS,
    );
  });

  it('gives masked classes exactly 0 and ignores their position', () => {
    fc.assert(
      fc.property(row(), fc.array(fc.boolean(), { minLength: 40, maxLength: 40 }), (z, maskBits) => {
        const masked = z.map((v, i) => (maskBits[i] && i > 0 ? -Infinity : v));
        const p = map(Float64Array.from(masked), 1);
        const kept = masked.filter((v) => v !== -Infinity);
        const pk = map(Float64Array.from(kept), 1);
        let k = 0;
        for (let i = 0; i < masked.length; i++) {
          if (masked[i] === -Infinity) {
            if (p[i] !== 0) return false;
          } else if (Math.abs(p[i] - pk[k++]) > 1e-12) return false;
        }
        return true;
      }),
      RUNS,
    );
  });
});

describe('agreement with independent oracles (test/helpers/oracles.ts)', () => {
  it('softmax matches a plain Math.exp softmax, log-softmax its log', () => {
    fc.assert(
      fc.property(row(200), (z) => {
        const p = softmax(Float64Array.from(z), 1, z.length);
        const lp = logSoftmax(Float64Array.from(z), 1, z.length);
        const want = softmaxPlain(z);
        return close(p, want, 1e-15) && want.every((w, i) => Math.abs(lp[i] - Math.log(w)) <= 1e-12 * (1 + Math.abs(lp[i])));
      }),
      RUNS,
    );
  });

  it('sparsemax matches the sort-based algorithm', () => {
    fc.assert(
      fc.property(row(200), (z) => close(sparsemax(Float64Array.from(z), 1, z.length).probs, sparsemaxSorted(z), 1e-13)),
      RUNS,
    );
  });

  it('entmax 1.5 matches the sort-based entmax15', () => {
    fc.assert(
      fc.property(row(200), (z) => close(entmax(Float64Array.from(z), 1, z.length, 1.5).probs, entmax15Sorted(z), 1e-13)),
      RUNS,
    );
  });

  it('entmax at any alpha matches exhaustive bisection', () => {
    fc.assert(
      fc.property(
        gridRow(100),
        fc.oneof(fc.double({ min: 1.0005, max: 12, noNaN: true }), fc.constantFrom(1.001, 1.1, 1.25, 2.5, 10, 100)),
        (z, alpha) => {
          const got = entmax(Float64Array.from(z), 1, z.length, alpha).probs;
          const want = entmaxBisect(z, alpha);
          // Forward error of any float64 solver: p_i = y_i^q with y_i = x_i - tau ~ p_i^(alpha-1),
          // and tau is known to an ulp at best, so p_i is uncertain by ~q ulp / y_i * p_i
          // = q 2^-52 p_i^(2 - alpha) (3.4e-9 seen for p = 0.09 at alpha = 10), and normalisation
          // spreads the worst of these over the row. Allow 16 times that.
          const q = 1 / (alpha - 1);
          const worst = Math.max(...want.filter((w) => w > 0).map((w) => w ** (2 - alpha)));
          const tol = 1e-13 + 16 * q * 2 ** -52 * worst;
          return want.every((w, i) => Math.abs(got[i] - w) <= tol);
        },
      ),
      RUNS,
    );
  });
});

describe('the family as a whole', () => {
  it('sparsemax is entmax(2) and softmax is entmax(1), and the general solver is continuous there', () => {
    fc.assert(
      fc.property(row(), temperature, (z, T) => {
        const x = Float64Array.from(z);
        const sp = sparsemax(x, 1, z.length, T).probs;
        const sm = softmax(x, 1, z.length, T);
        return (
          close(entmax(x, 1, z.length, 2, T).probs, sp, 0) &&
          close(entmax(x, 1, z.length, 1, T).probs, sm, 0) &&
          close(entmax(x, 1, z.length, 2 + 1e-9, T).probs, sp, 1e-7) &&
          close(entmax(x, 1, z.length, 1 + 1e-7, T).probs, sm, 1e-5)
        );
      }),
      RUNS,
    );
  });

  it('moves monotonically towards argmax as alpha grows on a fixed row', () => {
    const alphas = [1, 1.001, 1.1, 1.25, 1.5, 1.75, 2, 2.5, 3, 5, 10, 100, 1000];
    fc.assert(
      fc.property(gridRow(), (z) => {
        const x = Float64Array.from(z);
        const top = argmax(x, 1, z.length)[0];
        let prevTop = -1;
        let prevSupport = Infinity;
        for (const alpha of alphas) {
          const { probs, support } = entmax(x, 1, z.length, alpha);
          // The argmax's mass never decreases and the support never grows.
          if (probs[top] < prevTop - 1e-12 || support[0] > prevSupport) return false;
          prevTop = probs[top];
          prevSupport = support[0];
        }
        return true;
      }),
      RUNS,
    );
  });

  it('stays finite and exact on huge magnitudes', () => {
    const z = Float64Array.from([1e300, 0, -1e300, 1e300]);
    for (const [name, map] of Object.entries(mappings)) {
      const p = map(z, 1);
      expect(Array.from(p).every(Number.isFinite), name).toBe(true);
      expect(p[1] + p[2], name).toBe(0);
    }
    expect(Array.from(logSoftmax(z, 1, 4))).toEqual([-Math.LN2, -1e300, -2e300, -Math.LN2]);
  });

  it('gives an all-masked row zeros (and argmax -1) instead of NaN', () => {
    const z = Float64Array.from([-Infinity, -Infinity]);
    for (const map of Object.values(mappings)) expect(Array.from(map(z, 1))).toEqual([0, 0]);
    expect(argmax(z, 1, 2)[0]).toBe(-1);
  });
});
