// Pearson's chi-square goodness-of-fit test for figure 5 (sampled counts against the service's pi).
// Hand-written: d3 has no chi-square distribution, and a statistics library for one function is
// more to ship than these lines. Pure functions, tested in Node (test/playground/page-modules.test.ts).

/** ln Gamma(x) for x > 0: Lanczos' approximation (g = 7, 9 terms), ~1e-15 relative. */
function lnGamma(x) {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * Q(a, x) = Gamma(a, x) / Gamma(a), the regularised upper incomplete gamma function: by its power
 * series for P = 1 - Q when x < a + 1, else by its continued fraction (modified Lentz), the usual
 * split (Press et al., Numerical Recipes, 6.2) where each converges fast.
 */
export function gammaQ(a, x) {
  if (!(a > 0) || !(x >= 0)) return NaN;
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  const front = Math.exp(-x + a * Math.log(x) - lnGamma(a));
  if (x < a + 1) {
    let term = 1 / a;
    let sum = term;
    for (let n = 1; n < 1000 && Math.abs(term) > Math.abs(sum) * 1e-16; n++) {
      term *= x / (a + n);
      sum += term;
    }
    return Math.max(0, 1 - sum * front);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 1000; i++) {
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
  return front * h;
}

/**
 * Pearson's X^2 = sum (O_i - n pi_i)^2 / (n pi_i) over the classes with pi_i > 0, its degrees of
 * freedom (those classes less one) and p-value P(chi^2_df >= X^2). A draw of a class with pi = 0
 * makes X^2 infinite (p = 0).
 */
export function chiSquare(counts, pi) {
  const n = counts.reduce((s, c) => s + c, 0);
  let stat = 0;
  let classes = 0;
  for (let i = 0; i < pi.length; i++) {
    if (pi[i] > 0) {
      const e = n * pi[i];
      stat += (counts[i] - e) ** 2 / e;
      classes++;
    } else if (counts[i] > 0) {
      stat = Infinity;
    }
  }
  const df = classes - 1;
  return { stat, df, p: df > 0 ? gammaQ(df / 2, stat / 2) : NaN };
}

/** How often each class 0..k-1 occurs in draws. */
export function countDraws(draws, k) {
  const counts = new Array(k).fill(0);
  for (const d of draws) counts[d]++;
  return counts;
}
