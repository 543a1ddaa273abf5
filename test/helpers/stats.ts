/**
 * Small statistics helpers for the sampling tests: the chi-square survival function through the
 * regularised upper incomplete gamma function Q(a, x) (Numerical Recipes 3rd ed., section 6.2:
 * series for x < a + 1, Lentz's continued fraction otherwise; log-gamma by Lanczos, g = 7, n = 9),
 * and Pearson's goodness-of-fit test. Checked against scipy values in stats.test.ts.
 */

const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
  -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
  1.5056327351493116e-7,
];

/** log Gamma(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) {
    // Reflection: Gamma(x) Gamma(1 - x) = pi / sin(pi x).
    return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  }
  x -= 1;
  let a = LANCZOS[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += LANCZOS[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Regularised upper incomplete gamma Q(a, x) = Gamma(a, x) / Gamma(a), a > 0, x >= 0. */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const lead = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    // P(a, x) = e^-x x^a / Gamma(a + 1) * sum_n x^n / ((a + 1) ... (a + n))
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-17) break;
    }
    return 1 - sum * Math.exp(lead);
  }
  // Continued fraction for Q (modified Lentz).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(lead) * h;
}

/** P(X >= x) for X chi-square with df degrees of freedom. */
export function chiSquareSf(x: number, df: number): number {
  return gammaQ(df / 2, x / 2);
}

export interface ChiSquareResult {
  statistic: number;
  df: number;
  pValue: number;
}

/**
 * Pearson's chi-square test of observed counts against probabilities p (which must sum to 1 over
 * the classes that can occur). Classes with expected count below minExpected are pooled into one
 * cell (and that cell is dropped if it is still too small); a count where p = 0 is an immediate
 * failure (p-value 0).
 */
export function chiSquareTest(counts: ArrayLike<number>, p: ArrayLike<number>, minExpected = 5): ChiSquareResult {
  let total = 0;
  for (let j = 0; j < counts.length; j++) total += counts[j];
  let statistic = 0;
  let cells = 0;
  let poolObs = 0;
  let poolExp = 0;
  for (let j = 0; j < counts.length; j++) {
    const e = p[j] * total;
    if (p[j] === 0) {
      if (counts[j] > 0) return { statistic: Infinity, df: 0, pValue: 0 };
      continue;
    }
    if (e < minExpected) {
      poolObs += counts[j];
      poolExp += e;
      continue;
    }
    statistic += (counts[j] - e) ** 2 / e;
    cells++;
  }
  if (poolExp >= minExpected) {
    statistic += (poolObs - poolExp) ** 2 / poolExp;
    cells++;
  }
  const df = cells - 1;
  return { statistic, df, pValue: df > 0 ? chiSquareSf(statistic, df) : 1 };
}

/** Gumbel (location 0, scale 1) CDF and its inverse. */
export const gumbelCdf = (g: number): number => Math.exp(-Math.exp(-g));
export const gumbelQuantile = (q: number): number => -Math.log(-Math.log(q));

/** A deterministic pseudo-random logits matrix (mulberry32), values roughly in [-scale, scale]. */
export function randomLogits(rows: number, cols: number, seed = 1, scale = 3): number[][] {
  const next = rng(seed);
  return Array.from({ length: rows }, () => Array.from({ length: cols }, () => (next() * 2 - 1) * scale));
}

/** A small seeded generator for test inputs (not for the noise under test): mulberry32. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
