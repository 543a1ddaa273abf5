/**
 * Whether a JSON number's text denotes, exactly, an integer in [0, 2^53).
 *
 * Why on the text: JSON.parse rounds, so 9007199254740991.4 arrives as 9007199254740991 and
 * 1e-400 as 0, and Number.isInteger on the result cannot tell them from integers. The value of
 * the text is sign * D * 10^(E - f), with D the digits before and after the point, f the count
 * of digits after it and E the exponent. Without D's leading zeros and with its t trailing zeros
 * moved into the exponent, D = d * 10^t with d's last digit non-zero, so the value is an
 * integer iff d = 0 or E - f + t >= 0 (d * 10^-k with k > 0 and 10 not dividing d is not).
 *
 * Negative zero (-0, -0.0e5) is 0, an integer, and accepted; any other negative is not. An
 * exponent of more than 15 digits makes any non-zero value either >= 2^53 or a non-integer
 * (f and t are at most the text's length, far below 10^15), so it is not converted.
 */

const NUMBER = /^(-?)(0|[1-9][0-9]*)(?:\.([0-9]+))?(?:[eE]([+-]?)([0-9]+))?$/;
const TWO_53 = 2n ** 53n;

export function isUint53Text(text: string): boolean {
  // The common case, a plain integer of at most 15 digits (< 10^15 < 2^53), without the regex
  // and BigInt below (~1.5 us of a small request).
  if (text.length <= 15 && text.length > 0 && (text.charCodeAt(0) !== 48 || text.length === 1)) {
    let digits = true;
    for (let i = 0; i < text.length && digits; i++) digits = text.charCodeAt(i) >= 48 && text.charCodeAt(i) <= 57;
    if (digits) return true;
  }
  const m = NUMBER.exec(text);
  if (!m) return false;
  const [, sign, int, frac = '', expSign, expDigits = '0'] = m;
  const digits = int + frac;
  let lead = 0;
  while (lead < digits.length && digits.charCodeAt(lead) === 48) lead++;
  if (lead === digits.length) return true; // zero, of either sign
  if (sign === '-') return false;
  let last = digits.length - 1;
  while (digits.charCodeAt(last) === 48) last--;
  const trailing = digits.length - 1 - last;
  let ed = 0;
  while (ed < expDigits.length - 1 && expDigits.charCodeAt(ed) === 48) ed++;
  if (expDigits.length - ed > 15) return false;
  const e = Number(expDigits.slice(ed)) * (expSign === '-' ? -1 : 1);
  const shift = e - frac.length + trailing;
  if (shift < 0) return false;
  const significand = digits.slice(lead, last + 1);
  // 2^53 has 16 digits: anything longer is too big, and BigInt stays small.
  if (significand.length + shift > 16) return false;
  return BigInt(significand) * 10n ** BigInt(shift) < TWO_53;
}
