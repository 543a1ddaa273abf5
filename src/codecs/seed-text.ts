import { isUint53Text } from './exact-integer.js';

/**
 * Finds the text of a top-level member's number in a JSON object's text, so that a seed can be
 * checked on its digits rather than on the double JSON.parse rounded it to (./exact-integer.ts).
 * Node 20's JSON.parse reviver does not see source text, hence this small scanner.
 *
 * It expects text that JSON.parse accepted (the whole body, or the byte scanner's `rest`) and does not
 * validate it: it walks the top-level members, skips nested values and strings (escapes
 * included), and compares each key after decoding escapes ("se\u0065d" is "seed"). Like
 * JSON.parse, it keeps the last of repeated keys. On text that is not an object it returns
 * undefined; it never throws, and every step moves forward, so it ends on any input, in one pass.
 */

const enum C {
  Tab = 9,
  Lf = 10,
  Cr = 13,
  Space = 32,
  Quote = 34,
  Comma = 44,
  Minus = 45,
  Zero = 48,
  Nine = 57,
  Colon = 58,
  BracketOpen = 91,
  Backslash = 92,
  BracketClose = 93,
  BraceOpen = 123,
  BraceClose = 125,
}

/**
 * The number text of the last top-level member named `key` of the JSON object in `text`, or
 * undefined if it has none or that member's value is not a number.
 */
export function topLevelNumberText(text: string, key: string): string | undefined {
  const value = topLevelValueText(text, key);
  return value === undefined ? undefined : numberToken(value);
}

/**
 * The text of the value of the last top-level member named `key` of the JSON object in `text`
 * (e.g. a nested object's, to look inside it in turn), or undefined if it has none.
 */
export function topLevelValueText(text: string, key: string): string | undefined {
  let i = ws(text, 0);
  if (text.charCodeAt(i) !== C.BraceOpen) return undefined;
  i = ws(text, i + 1);
  if (text.charCodeAt(i) === C.BraceClose) return undefined;
  let found: string | undefined;
  for (;;) {
    if (text.charCodeAt(i) !== C.Quote) return undefined;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return undefined;
    const isKey = keyIs(text, i, keyEnd, key);
    i = ws(text, keyEnd);
    if (text.charCodeAt(i) !== C.Colon) return undefined;
    i = ws(text, i + 1);
    const valueEnd = skipValue(text, i);
    if (valueEnd < 0) return undefined;
    if (isKey) found = text.slice(i, valueEnd);
    i = ws(text, valueEnd);
    const c = text.charCodeAt(i);
    if (c === C.BraceClose) return found;
    if (c !== C.Comma) return undefined;
    i = ws(text, i + 1);
  }
}

/**
 * False when the JSON object in `text` has a top-level "seed" whose value is a number that is
 * not exactly an integer in [0, 2^53) (9007199254740991.4, 1e-400, 0.5); true otherwise (no
 * seed, a seed of another type, which the schema refuses, or an exact one: 42, 42.0, 4.2e1).
 * For a text whose parsed object has a top-level seed (the caller's check): soleMemberText may
 * then find it without a walk.
 */
export function seedTextIsExact(text: string): boolean {
  const sole = soleMemberText(text, 'seed');
  const token = sole !== undefined ? numberToken(sole) : topLevelNumberText(text, 'seed');
  return token === undefined || isUint53Text(token);
}

/**
 * For a top-level "seed" that is an array of `length` elements: per element, false when it is a
 * number whose text is not exactly an integer in [0, 2^53), true otherwise (the schema judges
 * other types). undefined when the text does not settle it (no such array).
 */
export function seedArrayExactness(text: string, length: number): boolean[] | undefined {
  const value = soleMemberText(text, 'seed') ?? topLevelValueText(text, 'seed');
  if (value === undefined || value.charCodeAt(0) !== C.BracketOpen) return undefined;
  const inner = value.slice(1, -1).trim();
  // Elements that are numbers hold no comma, bracket or quote: a split finds them; if some
  // element is not a number the count may differ, and the schema refuses that element anyway.
  const tokens = inner === '' ? [] : inner.split(',').map((t) => t.trim());
  if (tokens.length !== length) return undefined;
  return tokens.map((t) => {
    const token = numberToken(t);
    return token === undefined || isUint53Text(token);
  });
}

/** The text if it is a number's, else undefined. */
export function numberToken(value: string): string | undefined {
  const c = value.charCodeAt(0);
  return c === C.Minus || (c >= C.Zero && c <= C.Nine) ? value : undefined;
}

/**
 * The value text of the one member named `key` anywhere in a JSON text without a backslash, or
 * undefined when that does not settle it (a backslash, no such member, or more than one: walk
 * the structure instead). Without escapes no key is spelled otherwise and no string holds a
 * quote, so every `"key"` followed by a colon is that member's name: a caller that knows the
 * member exists where it looks (it parsed it) has found it with indexOf, not a walk of every
 * value before it (~2 us of a small request).
 */
export function soleMemberText(text: string, key: string): string | undefined {
  if (text.includes('\\')) return undefined;
  const quoted = `"${key}"`;
  let found: string | undefined;
  for (let i = text.indexOf(quoted); i >= 0; i = text.indexOf(quoted, i + quoted.length)) {
    let j = ws(text, i + quoted.length);
    if (text.charCodeAt(j) !== C.Colon) continue; // a string value, not a name
    if (found !== undefined) return undefined;
    j = ws(text, j + 1);
    const end = skipValue(text, j);
    if (end < 0) return undefined;
    found = text.slice(j, end);
  }
  return found;
}

const STRUCTURAL = /["[\]{}]/g;

function ws(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i);
    if (c !== C.Space && c !== C.Lf && c !== C.Cr && c !== C.Tab) return i;
    i++;
  }
}

/** The index after the closing quote of the string opening at i, or -1. */
function stringEnd(s: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = s.indexOf('"', from);
    if (q < 0) return -1;
    // Escaped iff preceded by an odd run of backslashes (each run is counted once: linear).
    let b = q - 1;
    while (s.charCodeAt(b) === C.Backslash) b--;
    if ((q - 1 - b) % 2 === 0) return q + 1;
    from = q + 1;
  }
}

/** The index after the value starting at i (string, object, array or scalar), or -1. */
function skipValue(s: string, i: number): number {
  const c = s.charCodeAt(i);
  if (c === C.Quote) return stringEnd(s, i);
  if (c === C.BraceOpen || c === C.BracketOpen) {
    // From one quote or bracket to the next: a regex search skips the numbers between them
    // ~5x faster than a charCodeAt loop (30 vs 170 ms over a 37 MB matrix).
    let depth = 0;
    let j = i;
    for (;;) {
      STRUCTURAL.lastIndex = j;
      const m = STRUCTURAL.exec(s);
      if (!m) return -1;
      const k = m.index;
      const d = s.charCodeAt(k);
      if (d === C.Quote) {
        j = stringEnd(s, k);
        if (j < 0) return -1;
        continue;
      }
      if (d === C.BraceOpen || d === C.BracketOpen) depth++;
      else if (--depth === 0) return k + 1;
      j = k + 1;
    }
  }
  // A number, true, false or null: up to the next delimiter.
  let j = i;
  for (; j < s.length; j++) {
    const d = s.charCodeAt(j);
    if (d === C.Comma || d === C.BraceClose || d === C.BracketClose || d === C.Space || d === C.Lf || d === C.Cr || d === C.Tab) break;
  }
  return j;
}

/** Whether the string literal s[start, end) (quotes included) decodes to key. */
function keyIs(s: string, start: number, end: number, key: string): boolean {
  const raw = end - start - 2;
  if (raw === key.length && s.startsWith(key, start + 1)) return true;
  // Escapes make the raw text longer than what it decodes to, by at most 6 to 1 (\uXXXX), so
  // only such short literals can be key written with escapes; JSON.parse decodes them.
  if (raw <= key.length || raw > 6 * key.length) return false;
  try {
    return JSON.parse(s.slice(start, end)) === key;
  } catch {
    return false; // not valid JSON after all
  }
}
