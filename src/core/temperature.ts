/**
 * Every mapping is applied to z / T. Division costs ~4x a multiplication in the hot loops, and
 * multiplying by 1/T gives the same double as dividing by T exactly when T is a power of two
 * (the common T = 1 among them): the reciprocal is then exact, and both compute the same real
 * number before one rounding. For any other T we keep the division, so results match a caller's
 * own z / T bit for bit (sparsemax and entmax place exact zeros on the threshold).
 *
 * Returns 1/T when it can replace the division, else 0 (also for subnormal T, whose reciprocal
 * overflows).
 */
export function exactReciprocal(temperature: number): number {
  const inv = 1 / temperature;
  return Number.isFinite(inv) && Number.isInteger(Math.log2(temperature)) ? inv : 0;
}

/**
 * Prepares row [base, end) for loops of the form (src[i] - shift) * scale = (z_i - m) / T: for a
 * power-of-two T that is (data, m, 1/T) as it is; otherwise the division is done once here, into
 * out, and the loops read (out, 0, 1). One hot loop then serves both cases; a per-element branch
 * between multiply and divide cost ~30% in softmax (measured).
 */
export function scaledRow(
  data: Float64Array,
  base: number,
  end: number,
  m: number,
  temperature: number,
  invT: number,
  out: Float64Array,
): { src: Float64Array; shift: number; scale: number } {
  if (invT) return { src: data, shift: m, scale: invT };
  for (let i = base; i < end; i++) out[i] = (data[i] - m) / temperature;
  return { src: out, shift: 0, scale: 1 };
}
