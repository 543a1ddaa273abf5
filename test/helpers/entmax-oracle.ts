import { Decimal } from 'decimal.js';

/**
 * alpha-entmax of one row in 50-digit decimal arithmetic (decimal.js), for 1 <= alpha <= 2: the
 * oracle of the near-alpha = 1 tests, independent of src/core (no float64 root, no shared code).
 *
 * Every input double is converted exactly (its binary value, not its shortest decimal), so the
 * answer is that of the real numbers the kernel was given, alpha - 1 included. With
 * eps = alpha - 1 and u_i = (z_i - max z) / T,
 *   p_i = [1 + eps (u_i - s)]_+^(1 / eps),   s the root of F(s) = sum_i p_i(s) = 1,
 * which is the paper's p_i = [(alpha - 1) (z_i - max z) / T - tau]_+^(1 / (alpha - 1)) with
 * tau = -1 + eps s, written so that eps -> 0 is plain softmax (p_i = exp(u_i - s)).
 * For eps <= 1 each term is a convex, non-increasing function of s, so F is, and Newton's method
 * on F - 1 converges from any start in [0, log k + 1] (from the right it lands left of the root,
 * from the left it rises monotonically to it). The residual |F - 1| < 1e-40 is checked, which
 * certifies every p_i to far beyond float64.
 */
const D = Decimal.clone({ precision: 50, rounding: Decimal.ROUND_HALF_EVEN, toExpNeg: -1000, toExpPos: 1000 });

/** The exact value of a finite double. */
export function exactDecimal(x: number): Decimal {
  if (!Number.isFinite(x)) throw new Error(`not finite: ${x}`);
  if (x === 0) return new D(0);
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, x);
  const bits = view.getBigUint64(0);
  const neg = bits >> 63n === 1n;
  const expBits = Number((bits >> 52n) & 0x7ffn);
  let mant = bits & ((1n << 52n) - 1n);
  let e: number;
  if (expBits === 0) e = -1074;
  else {
    mant |= 1n << 52n;
    e = expBits - 1075;
  }
  // x = mant 2^e: for e < 0, mant 5^-e / 10^-e, written out as an exact decimal string.
  let s: string;
  if (e >= 0) s = (mant << BigInt(e)).toString();
  else {
    const digits = (mant * 5n ** BigInt(-e)).toString().padStart(-e + 1, '0');
    s = `${digits.slice(0, digits.length + e)}.${digits.slice(digits.length + e)}`;
  }
  return new D(neg ? `-${s}` : s);
}

/**
 * entmax(z / T) at alpha (1 <= alpha <= 2) of a row of finite logits, as float64 numbers rounded
 * from the 50-digit answer.
 */
export function entmaxExact(z: number[], alpha: number, temperature = 1): number[] {
  if (!(alpha >= 1 && alpha <= 2)) throw new Error('entmaxExact: 1 <= alpha <= 2 only');
  const zd = z.map(exactDecimal);
  const m = D.max(...zd);
  const T = exactDecimal(temperature);
  const u = zd.map((v) => v.minus(m).div(T));
  const eps = exactDecimal(alpha).minus(1);
  const one = new D(1);
  const terms = (s: Decimal): { p: Decimal[]; dp: Decimal } => {
    let dp = new D(0);
    const p = u.map((ui) => {
      if (eps.isZero()) {
        const e = ui.minus(s).exp();
        dp = dp.minus(e);
        return e;
      }
      const t = eps.times(ui.minus(s));
      const y = one.plus(t);
      if (y.lte(0)) return new D(0);
      const e = log1p(t).div(eps).exp();
      dp = dp.minus(e.div(y));
      return e;
    });
    return { p, dp };
  };
  // Start from log sum exp(u), the root at eps = 0.
  let s = D.sum(...u.map((ui) => ui.exp())).ln();
  for (let it = 0; it < 200; it++) {
    const { p, dp } = terms(s);
    const F = D.sum(...p);
    const r = F.minus(1);
    if (r.abs().lt('1e-40')) return p.map((pi) => pi.div(F).toNumber());
    s = s.minus(r.div(dp));
  }
  throw new Error('entmaxExact: Newton did not converge');
}

/**
 * log(1 + t) to the full 50 digits relative: ln(1 + t) directly would lose the digits of t that
 * 1 + t cannot hold (t is as small as 1e-16 here). For |t| < 1/64, 2 atanh(w) with
 * w = t / (2 + t), |w| < 1/127: the series w + w^3/3 + ... gains 4 digits a term.
 */
function log1p(t: Decimal): Decimal {
  if (t.abs().gte(1 / 64)) return t.plus(1).ln();
  const w = t.div(t.plus(2));
  const w2 = w.times(w);
  let term = w;
  let sum = w;
  for (let k = 3; ; k += 2) {
    term = term.times(w2);
    const add = term.div(k);
    if (add.isZero() || add.abs().lt(sum.abs().times('1e-55'))) break;
    sum = sum.plus(add);
  }
  return sum.times(2);
}

/** softmax(z / T) of a row of finite logits, from the same 50-digit arithmetic. */
export function softmaxExact(z: number[], temperature = 1): number[] {
  return entmaxExact(z, 1, temperature);
}
