/**
 * exp(x) for x <= 0, to within 2 ulps of Math.exp (checked in test/core/exp.test.ts).
 *
 * Every mapping here evaluates exp on logits already shifted by the row maximum, so the argument
 * is never positive. V8's Math.exp costs ~10 ns per call on our machines; this table-driven
 * version (Tang 1989, "Table-driven implementation of the exponential function in IEEE
 * floating-point arithmetic"; the same scheme as glibc/musl exp) costs ~3 ns and is inlined by
 * the JIT:
 *   x = k ln2 / 128 + r,  |r| <= ln2 / 256,  k = round(128 x / ln2)
 *   exp(x) = 2^(k >> 7) * t (1 + p(r)),  t = 2^((k & 127) / 128),  p = degree-5 Taylor polynomial
 *   of e^r - 1, whose truncation error is below r^6 / 720 < 6e-19, far under one ulp. Rounding uses the
 * 1.5 * 2^52 trick (exact round-to-nearest for |v| < 2^51), which V8 compiles to two adds,
 * whereas Math.round is a call.
 */

const N = 128;
const INV_LN2_N = N / Math.LN2;
// ln2 / 128 split in a 32-bit head (so k * LN2_HI is exact for |k| < 2^21) and a tail.
const LN2_HI = 6.93147180369123816490e-1 / N;
const LN2_LO = 1.90821492927058770002e-10 / N;
const ROUND = 6755399441055744; // 1.5 * 2^52
export const POW2_OFFSET = 1100;

/** 2^(i / 128) for i = 0..127. */
export const FRAC = new Float64Array(N);
/** 2^(j - 1100) for j = 0..1100, so index (k >> 7) + 1100 covers every non-positive argument. */
export const POW2 = new Float64Array(POW2_OFFSET + 1);
for (let i = 0; i < N; i++) FRAC[i] = Math.pow(2, i / N);
for (let j = 0; j <= POW2_OFFSET; j++) POW2[j] = Math.pow(2, j - POW2_OFFSET);

/** Below this, exp underflows to 0 in float64 (exp(-745.14) < 2^-1075). */
const UNDERFLOW = -745.2;

/** exp(x) for x <= 0 (including -Infinity, which gives 0). NaN gives NaN. */
export function expNonPositive(x: number): number {
  if (x < UNDERFLOW) return 0;
  const kf = x * INV_LN2_N + ROUND - ROUND;
  const r = x - kf * LN2_HI - kf * LN2_LO;
  const k = kf | 0;
  // e^r - 1, so that t + t * (e^r - 1) rounds once where t * e^r would round twice.
  const pm1 = r * (1 + r * (0.5 + r * (1 / 6 + r * (1 / 24 + r * (1 / 120)))));
  const t = FRAC[k & (N - 1)];
  return (t + t * pm1) * POW2[(k >> 7) + POW2_OFFSET];
}
