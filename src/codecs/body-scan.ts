import { ApiError, MAX_ECHOED, badRequest, echoList, invalidRequest } from '../errors.js';
import { laneRead, laneReset, laneStop, laneValues, numberLaneOn } from './number-scan-wasm.js';
import { numberScan, scanNumber } from './number-text.js';

/**
 * Reads a /v1 JSON body from its bytes without materialising it: the logits / probs matrix goes
 * straight into a Float64Array, and only the rest of the object (the small scalar fields, with the
 * matrix replaced by 0) is handed to JSON.parse and Zod.
 *
 * Why by hand: JSON.parse of a big body is both the slowest step of a big request (it builds a
 * heap number and array per element, then copies them into a typed array) and its memory hazard:
 * 60 MB of `{}` rows built 20 million objects (2.1 GiB) before the shape check could refuse them.
 * Here memory is bounded by design: the matrix buffer holds at most min(maxElements, bytes / 2)
 * doubles (every element takes at least 2 bytes of text), nothing else grows with the body, and
 * the non-matrix rest is refused past `restMax` bytes.
 *
 * It is a complete reader, not a fast path: every byte is checked against JSON's grammar (an
 * iterative validator, so deep nesting cannot overflow the stack), and a well-formed body gets
 * exactly the answer of JSON.parse + src/schemas/matrix.ts, errors included: shape errors (not an
 * array, a ragged row, ...) are reported before the element limit and element errors (a string, a
 * non-finite number, a masked row, ...), the first in row-major order, after the other fields
 * were validated (the caller does that with `rest`). Only the wording of a syntax error differs
 * from JSON.parse's ("unexpected `x` at byte N").
 *
 * Numbers: JSON's grammar exactly. Runs of numbers are read by the WebAssembly lane of
 * number-scan-wasm.ts (exact: Clinger's case and a 128-bit Eisel-Lemire product, no JS call per
 * number; it stops at anything else, unread, and the loops below go on from there, so every rule
 * and message is theirs); the numbers it leaves by number-text.ts's scanNumber (exact: a
 * correctly rounded operation on exact doubles up to 15 digits, a double-double product up to 19).
 * The few that leaves (more than 19 significant digits, near-halfway values, subnormals, overflow)
 * are collected and converted by JSON.parse on slices of at most SEGMENT bytes of the row's text,
 * which is correctly rounded too and ~2x faster than Number() on each number's text (measured
 * 102 vs 191 ns a number); the slice is bounded, so memory stays bounded.
 */

/** Bytes of row text converted by one JSON.parse when a row has long numbers. */
const SEGMENT = 64 * 1024;

export interface ScannedMatrix {
  field: 'logits' | 'probs';
  /** rows x cols values (a view of the first rows * cols elements of the buffer). */
  data: Float64Array;
  rows: number;
  cols: number;
  /** The first structural problem (reported before the element limit is checked). */
  shapeError?: ApiError;
  /** The first bad element or row, in row-major order (reported after the element limit). */
  elementError?: ApiError;
}

export interface ScannedBody {
  /** The matrix, if the body is an object with a logits or probs member. */
  matrix: ScannedMatrix | null;
  /** The body's text with every matrix member's value replaced by 0, for JSON.parse. */
  rest: string;
}

export interface ScanOptions {
  maxElements: number;
  /** Largest accepted size of the body outside the matrix, in bytes. */
  restMax: number;
  /**
   * The member names the endpoint knows: when the rest is too big because of unknown members,
   * the 400 lists them (the first few, and a count) as the general validation would.
   */
  knownKeys?: ReadonlySet<string>;
  /**
   * Members whose value may be an array or object (Operation.rowInputs, listParams): kept in `rest`
   * when flat (no nested array or object), within restMax like every other field.
   */
  keepArrays?: ReadonlySet<string>;
  /** Allocates the matrix buffer (e.g. on a SharedArrayBuffer); plain Float64Array by default. */
  alloc?: (length: number) => Float64Array;
}

const enum C {
  Tab = 9,
  Lf = 10,
  Cr = 13,
  Space = 32,
  Quote = 34,
  Plus = 43,
  Comma = 44,
  Minus = 45,
  Dot = 46,
  Slash = 47,
  Zero = 48,
  Nine = 57,
  Colon = 58,
  UpperE = 69,
  BracketOpen = 91,
  Backslash = 92,
  BracketClose = 93,
  LowerE = 101,
  LowerF = 102,
  LowerN = 110,
  LowerT = 116,
  LowerU = 117,
  BraceOpen = 123,
  BraceClose = 125,
}

export function scanBody(b: Uint8Array, opts: ScanOptions): ScannedBody {
  const n = b.length;
  let i = ws(b, 0);
  if (b[i] !== C.BraceOpen) {
    // Valid JSON that is not an object is the caller's error to word; invalid JSON is ours.
    i = ws(b, skipValue(b, i));
    if (i !== n) throw syntax(b, i);
    throw badRequest('the request body must be a JSON object');
  }
  // Spans of the body left out of `rest`, and what stands in their place.
  const cuts: [number, number, string][] = [];
  const unknown = new Set<string>();
  /** Bytes of each per-row array kept in `rest` (the last of a repeated key). */
  const kept = new Map<string, number>();
  let matrix: ScannedMatrix | null = null;
  let buffer: Float64Array | null = null;
  const capacity = Math.min(opts.maxElements, Math.floor(n / 2) + 1);
  const alloc = () => (buffer ??= opts.alloc ? opts.alloc(capacity) : new Float64Array(capacity));
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  i = ws(b, i + 1);
  if (b[i] === C.BraceClose) i++;
  else {
    for (;;) {
      if (b[i] !== C.Quote) throw syntax(b, i);
      const keyEnd = skipString(b, i);
      const name = nameOf(text, b, i, keyEnd);
      const key = name === 'logits' || name === 'probs' ? name : '';
      if (opts.knownKeys && !opts.knownKeys.has(name)) unknown.add(name);
      i = ws(b, keyEnd);
      if (b[i] !== C.Colon) throw syntax(b, i);
      i = ws(b, i + 1);
      if ((key === 'logits' || key === 'probs') && (matrix === null || matrix.field === key)) {
        // A repeated key: JSON.parse keeps the last, and so do we (in the same buffer).
        const m = readMatrix(b, i, key, capacity, alloc);
        cuts.push([i, m.end, '0']);
        matrix = m.matrix;
        i = m.end;
      } else if (key === 'logits' || key === 'probs') {
        // Both logits and probs: the caller refuses that from `rest` (both members stay, as 0).
        const end = skipValue(b, i);
        cuts.push([i, end, '0']);
        i = end;
      } else {
        const end = skipValue(b, i);
        // A nested value outside the matrix is refused whatever it holds (every other field is
        // a scalar, and an unknown field is unknown whatever its value), so `rest` gets an empty
        // one of its kind: JSON.parse of 64 KiB of [[[[... took ~2.3 ms of the main thread.
        // A per-row array or a list parameter (opts.keepArrays) is kept, each nested element (or
        // member value) in it replaced by {}: refused at its own position with the message
        // JSON.parse's value would get, without parsing what it holds.
        const c = b[i];
        if ((c === C.BracketOpen || c === C.BraceOpen) && opts.keepArrays?.has(name)) {
          if (!isFlat(b, i, end)) nestedCuts(b, i, cuts);
          kept.set(name, end - i);
        } else if ((c === C.BracketOpen || c === C.BraceOpen) && end - i > 2) cuts.push([i, end, c === C.BracketOpen ? '[]' : '{}']);
        i = end;
      }
      i = ws(b, i);
      if (b[i] === C.Comma) {
        i = ws(b, i + 1);
        continue;
      }
      if (b[i] === C.BraceClose) {
        i++;
        break;
      }
      throw syntax(b, i);
    }
  }
  i = ws(b, i);
  if (i !== n) throw syntax(b, i);
  // More unknown fields than a 400 lists: refused before JSON.parse and Zod build and walk an
  // object of thousands of members (~5 ms for 64 KiB of them), as prepare() refuses them.
  if (unknown.size > MAX_ECHOED) throw unknownFields(inKeyOrder(unknown));

  let restBytes = n;
  for (const [s, e, by] of cuts) restBytes -= e - s - by.length;
  if (restBytes > opts.restMax) {
    if (unknown.size > 0) throw unknownFields(inKeyOrder(unknown));
    if (kept.size > 0) {
      const arrays = [...kept].map(([k, bytes]) => `${bytes} in ${k}`).join(', ');
      throw badRequest(
        `the request body has ${restBytes} bytes outside the logits / probs matrix, ${arrays} (one value per row); at most ${opts.restMax} are accepted: send fewer rows per request`,
      );
    }
    throw badRequest(
      `the request body has ${restBytes} bytes outside the logits / probs matrix; at most ${opts.restMax} are accepted (the parameters, and per-row arrays of up to ~50k values; send longer per-row arrays as binary /v2 inputs)`,
    );
  }
  let rest = '';
  let at = 0;
  for (const [s, e, by] of cuts) {
    rest += text.toString('utf8', at, s) + by;
    at = e;
  }
  rest += text.toString('utf8', at, n);
  return { matrix, rest };
}

/** Whether the array b[start, end) holds no array or object (a bracket inside a string counts: refused either way). */
/** Cuts every nested element (or member value) of the array or object at b[start] to {}. */
function nestedCuts(b: Uint8Array, start: number, cuts: [number, number, string][]): void {
  const object = b[start] === C.BraceOpen;
  let j = ws(b, start + 1);
  // The value was skipped whole before (skipValue checked its grammar): walk its members.
  while (b[j] !== C.BracketClose && b[j] !== C.BraceClose) {
    if (object) j = ws(b, ws(b, skipString(b, j)) + 1); // the key and its colon
    const end = skipValue(b, j);
    if (b[j] === C.BracketOpen || b[j] === C.BraceOpen) cuts.push([j, end, '{}']);
    j = ws(b, end);
    if (b[j] === C.Comma) j = ws(b, j + 1);
  }
}

function isFlat(b: Uint8Array, start: number, end: number): boolean {
  for (let k = start + 1; k < end; k++) if (b[k] === C.BracketOpen || b[k] === C.BraceOpen) return false;
  return true;
}

/** The 400 for unknown fields (names in the order JSON.parse's object lists them): the first few and a count. */
export function unknownFields(names: readonly string[]): ApiError {
  return invalidRequest([{ path: names.slice(0, MAX_ECHOED), message: `unknown field(s): ${echoList(names)}` }]);
}

/**
 * Member names in the order of Object.keys (and Zod's for-in) on the object JSON.parse makes:
 * array indices (canonical integers below 2^32 - 1) first in ascending order, then the other
 * names in the order they first appear.
 */
export function inKeyOrder(names: Iterable<string>): string[] {
  const indices: string[] = [];
  const others: string[] = [];
  for (const name of names) (isArrayIndex(name) ? indices : others).push(name);
  indices.sort((a, b) => Number(a) - Number(b));
  return indices.length ? [...indices, ...others] : others;
}

const isArrayIndex = (s: string) => /^(?:0|[1-9][0-9]{0,9})$/.test(s) && Number(s) < 2 ** 32 - 1;

/**
 * A JSON syntax error and the byte it was found at (a 400 like any other; `at` lets a caller word
 * a known mistake better, e.g. the NaN / Infinity literals some clients write).
 */
export class JsonSyntaxError extends ApiError {
  constructor(
    message: string,
    readonly at: number,
  ) {
    super(400, 'INVALID_REQUEST', message);
  }
}

export function syntax(b: Uint8Array, i: number): JsonSyntaxError {
  if (i >= b.length) return new JsonSyntaxError('the request body is not valid JSON: unexpected end of input', i);
  const c = b[i];
  const what = c >= 0x20 && c < 0x7f ? `\`${String.fromCharCode(c)}\`` : `byte 0x${c.toString(16).padStart(2, '0')}`;
  return new JsonSyntaxError(`the request body is not valid JSON: unexpected ${what} at byte ${i}`, i);
}

export function ws(b: Uint8Array, i: number): number {
  for (;;) {
    const c = b[i];
    if (c === C.Space || c === C.Lf || c === C.Cr || c === C.Tab) i++;
    else return i;
  }
}

/** The member name of the string literal at b[s..e) (quotes included), decoded. */
function nameOf(text: Buffer, b: Uint8Array, s: number, e: number): string {
  for (let j = s + 1; j < e - 1; j++) if (b[j] === C.Backslash) return JSON.parse(text.toString('utf8', s, e)) as string;
  return text.toString('utf8', s + 1, e - 1);
}

/** The member name of the string at b[s..e), decoded. */
export function keyText(b: Uint8Array, s: number, e: number): string {
  return nameOf(Buffer.from(b.buffer, b.byteOffset, b.byteLength), b, s, e);
}

const isHex = (c: number) => (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);

/** The index after the JSON string at b[i] (which must be its opening quote). */
export function skipString(b: Uint8Array, i: number): number {
  const n = b.length;
  if (b[i] !== C.Quote) throw syntax(b, i);
  for (i++; ; i++) {
    if (i >= n) throw syntax(b, i);
    const c = b[i];
    if (c === C.Quote) return i + 1;
    if (c < 0x20) throw syntax(b, i);
    if (c === C.Backslash) {
      const d = b[++i];
      if (d === C.LowerU) {
        for (let h = 1; h <= 4; h++) if (!isHex(b[i + h])) throw syntax(b, i + h);
        i += 4;
      } else if (!(d === C.Quote || d === C.Backslash || d === C.Slash || d === 98 || d === C.LowerF || d === C.LowerN || d === 114 || d === C.LowerT)) {
        throw syntax(b, i);
      }
    }
  }
}

/** The index after the literal `word` at b[i]. */
function skipLiteral(b: Uint8Array, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) if (b[i + k] !== word.charCodeAt(k)) throw syntax(b, i + k);
  return i + word.length;
}

/** The index after the JSON number at b[i] (grammar only). */
function skipNumber(b: Uint8Array, i: number): number {
  if (b[i] === C.Minus) i++;
  let c = b[i];
  if (c === C.Zero) c = b[++i];
  else if (c > C.Zero && c <= C.Nine) while (c >= C.Zero && c <= C.Nine) c = b[++i];
  else throw syntax(b, i);
  if (c === C.Dot) {
    c = b[++i];
    if (!(c >= C.Zero && c <= C.Nine)) throw syntax(b, i);
    while (c >= C.Zero && c <= C.Nine) c = b[++i];
  }
  if (c === C.LowerE || c === C.UpperE) {
    c = b[++i];
    if (c === C.Plus || c === C.Minus) c = b[++i];
    if (!(c >= C.Zero && c <= C.Nine)) throw syntax(b, i);
    while (c >= C.Zero && c <= C.Nine) c = b[++i];
  }
  return i;
}

/**
 * The index after the JSON value at b[i], checking its grammar. Iterative (an explicit stack of
 * open containers), so `[[[[...` a million deep is an answer, not a stack overflow.
 */
export function skipValue(b: Uint8Array, i: number): number {
  let stack = new Uint8Array(64); // 1: array, 2: object
  let depth = 0;
  for (;;) {
    i = ws(b, i);
    // A value.
    const c = b[i];
    let opened = false;
    if (c === C.BracketOpen || c === C.BraceOpen) {
      const kind = c === C.BracketOpen ? 1 : 2;
      i = ws(b, i + 1);
      if (b[i] === (kind === 1 ? C.BracketClose : C.BraceClose)) i++;
      else {
        if (depth === stack.length) {
          const bigger = new Uint8Array(depth * 2);
          bigger.set(stack);
          stack = bigger;
        }
        stack[depth++] = kind;
        opened = true;
        if (kind === 2) i = member(b, i);
      }
    } else if (c === C.Quote) i = skipString(b, i);
    else if (c === C.Minus || (c >= C.Zero && c <= C.Nine)) i = skipNumber(b, i);
    else if (c === C.LowerT) i = skipLiteral(b, i, 'true');
    else if (c === C.LowerF) i = skipLiteral(b, i, 'false');
    else if (c === C.LowerN) i = skipLiteral(b, i, 'null');
    else throw syntax(b, i);
    if (opened) continue; // the container's first value
    // After a value: close containers, or go on to the next value.
    for (;;) {
      if (depth === 0) return i;
      i = ws(b, i);
      const kind = stack[depth - 1];
      if (b[i] === C.Comma) {
        i = ws(b, i + 1);
        if (kind === 2) i = member(b, i);
        break;
      }
      if (b[i] === (kind === 1 ? C.BracketClose : C.BraceClose)) {
        i++;
        depth--;
        continue;
      }
      throw syntax(b, i);
    }
  }
}

/** `"key" :` at b[i]; the index of the value after it. */
function member(b: Uint8Array, i: number): number {
  i = ws(b, skipString(b, i));
  if (b[i] !== C.Colon) throw syntax(b, i);
  return i + 1;
}

/** Where the last readNumber() ended, and whether it left its number for JSON.parse (module variables: no object per number). */
let numberEnd = 0;
let numberSlow = false;

// Module-local names for the per-number calls: where modules are transformed (tsx, vitest) each
// use of an imported binding is a property read through a getter, ~15 ns a number (measured).
const scan = scanNumber;
const scanned = numberScan;

/**
 * The JSON number at b[i]: its value (number-text.ts's scanNumber, exact), or NaN with numberSlow
 * set when it needs the exact conversion or is out of the double range (JSON.parse's value is
 * checked where the others are). Sets numberEnd.
 */
function readNumber(b: Uint8Array, i: number): number {
  const v = scan(b, i);
  numberEnd = scanned.end;
  if (scanned.status === 2) throw syntax(b, numberEnd);
  if (v - v === 0) {
    numberSlow = false;
    return v;
  }
  numberSlow = true;
  return Number.NaN; // not scanNumber's Infinity: a slot is converted (and checked) while it holds NaN
}

/** The long numbers of the current segment: element index and text offsets (grow-only scratch). */
let slowAt = new Float64Array(1024);
let slowFrom = new Float64Array(1024);
let slowTo = new Float64Array(1024);
function growSlow(): void {
  const grow = (a: Float64Array) => {
    const bigger = new Float64Array(a.length * 2);
    bigger.set(a);
    return bigger;
  };
  slowAt = grow(slowAt);
  slowFrom = grow(slowFrom);
  slowTo = grow(slowTo);
}

/** Copies the lane's first `m` doubles to data[k..]: a short run element by element (a subarray and set cost ~100 ns, measured on rows of one number). */
function copyLane(data: Float64Array, k: number, m: number): void {
  const values = laneValues;
  if (m <= 16) for (let t = 0; t < m; t++) data[k + t] = values[t];
  else data.set(values.subarray(0, m), k);
}

/** The first bad element or row seen so far, in row-major order (j = Infinity: the row as a whole). */
interface Bad {
  r: number;
  j: number;
  message: string;
  path: (string | number)[];
  issue: string;
}

/**
 * Converts the long numbers of row text [segStart, segEnd) (elements segK.. of the row starting
 * at element rowStart): by one JSON.parse of the text when it holds only numbers and nulls, else
 * each by Number() on its own text (the same correctly rounded value), so a big non-number
 * element is never built. A function of its own, not a closure made per row: a closure over the
 * row's state put that state in a heap context, which made every row (and element) of every
 * body slower (measured ~330 ns a row of `[0],`, now ~40; see bench/inline-cost.ts).
 */
function convertSegment(
  b: Uint8Array,
  data: Float64Array,
  probs: boolean,
  segStart: number,
  segEnd: number,
  segK: number,
  rowStart: number,
  r: number,
  slow: number,
  impure: boolean,
  setBad: (r: number, j: number, issue: string) => void,
): void {
  const text = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  const check = (o: number, v: number) => {
    if (v - v !== 0 || (probs && !(v >= 0))) setBad(r, o - rowStart, probs ? 'must be a finite non-negative number' : 'must be a finite number or null');
    else data[o] = v;
  };
  if (!impure) {
    const values = JSON.parse(`[${text.toString('latin1', segStart, segEnd)}]`) as number[];
    for (let t = 0; t < values.length; t++) if (Number.isNaN(data[segK + t])) check(segK + t, values[t]);
  } else {
    for (let t = 0; t < slow; t++) check(slowAt[t], Number(text.toString('latin1', slowFrom[t], slowTo[t])));
  }
}

function readMatrix(
  b: Uint8Array,
  i: number,
  field: 'logits' | 'probs',
  capacity: number,
  alloc: () => Float64Array,
): { end: number; matrix: ScannedMatrix } {
  const probs = field === 'probs';
  const empty = new Float64Array(0);
  const shapeOnly = (end: number, message: string, path: (string | number)[], issue: string) => ({
    end,
    matrix: { field, data: empty, rows: 0, cols: 0, shapeError: badRequest(message, [{ path, message: issue }]) },
  });
  if (b[i] !== C.BracketOpen) return shapeOnly(skipValue(b, i), `${field} must be an array of rows`, [field], 'must be an array of rows');
  i = ws(b, i + 1);
  if (b[i] === C.BracketClose) return shapeOnly(i + 1, `${field} must have at least one row`, [field], 'must have at least one row');

  const data = alloc();
  const fast = numberLaneOn();
  if (fast) laneReset();
  const end = b.length;
  let k = 0;
  let rows = 0;
  let cols = -1;
  let shapeError: ApiError | undefined;
  let bad: Bad | null = null;
  const elementBad = probs ? 'must be a finite non-negative number' : 'must be a number or null';
  /** Records a bad element (j) or row (j = Infinity, `message` whole) if it comes before the one recorded. */
  const setBad = (r: number, j: number, issue: string, message = `${field}[${r}][${j}] ${issue}`) => {
    if (bad && (bad.r < r || (bad.r === r && bad.j <= j))) return;
    bad = { r, j, message, path: j === Infinity ? [field, r] : [field, r, j], issue };
  };

  for (;;) {
    const r = rows;
    if (b[i] !== C.BracketOpen) {
      i = skipValue(b, i);
      shapeError ??= badRequest(`${field}[${r}] must be an array`, [{ path: [field, r], message: 'must be an array' }]);
    } else {
      i = ws(b, i + 1);
      const rowStart = k;
      let live = 0;
      let sum = 0;
      let max = 0;
      let slow = 0;
      let segStart = i;
      let segK = k;
      let impure = false;
      let rowHadSlow = false;
      if (b[i] !== C.BracketClose) {
        for (;;) {
          let c = b[i];
          if (fast && (c === C.Minus || (c >= C.Zero && c <= C.Nine))) {
            // The WebAssembly lane reads the run of plain numbers from here (no JS per number);
            // this loop goes on where it stops, so everything else is decided below as before.
            let ended = false;
            for (;;) {
              // While the segment has long numbers, it stays within SEGMENT bytes (see below).
              const got = laneRead(b, i, slow > 0 ? segStart + SEGMENT : end);
              const m = got >> 2;
              if (m === 0) break;
              const values = laneValues;
              if (k < capacity) copyLane(data, k, Math.min(m, capacity - k));
              if (probs) {
                for (let t = 0; t < m; t++) {
                  const v = values[t];
                  if (!(v >= 0)) setBad(r, k - rowStart + t, elementBad);
                  sum += v;
                  if (v > max) max = v;
                }
              } else live += m;
              k += m;
              i = ws(b, laneStop.at); // past whitespace the lane stopped in at its tile's end
              if ((got & 3) === 1) {
                ended = true;
                break;
              }
              // i is an element after a comma: a segment without long numbers may start there.
              if (slow === 0) {
                segStart = i;
                segK = k;
                impure = false;
              }
              c = b[i];
              if ((got & 3) === 0 || !(c === C.Minus || (c >= C.Zero && c <= C.Nine))) break;
            }
            if (ended) break;
          }
          const j = k - rowStart;
          if (c === C.LowerN) {
            i = skipLiteral(b, i, 'null');
            if (probs) setBad(r, j, elementBad);
            else if (k < capacity) data[k] = -Infinity;
          } else if (c === C.Minus || (c >= C.Zero && c <= C.Nine)) {
            const from = i;
            const v = readNumber(b, i);
            i = numberEnd;
            if (numberSlow) {
              if (slow === slowAt.length) growSlow();
              slowAt[slow] = k;
              slowFrom[slow] = from;
              slowTo[slow] = i;
              slow++;
              if (k < capacity) data[k] = Number.NaN;
            } else {
              if (probs) {
                if (!(v >= 0)) setBad(r, j, elementBad);
                sum += v;
                if (v > max) max = v;
              } else live++;
              if (k < capacity) data[k] = v;
            }
          } else {
            i = skipValue(b, i);
            impure = true;
            setBad(r, j, elementBad);
          }
          k++;
          i = ws(b, i);
          if (b[i] === C.Comma) {
            if (i - segStart >= SEGMENT) {
              if (slow > 0 && !(bad !== null && (bad as Bad).r < r) && k <= capacity) {
                convertSegment(b, data, probs, segStart, i, segK, rowStart, r, slow, impure, setBad);
              }
              rowHadSlow ||= slow > 0;
              slow = 0;
              impure = false;
              segStart = ws(b, i + 1);
              segK = k;
            }
            i = ws(b, i + 1);
            continue;
          }
          if (b[i] === C.BracketClose) break;
          throw syntax(b, i);
        }
      }
      const hadSlow = rowHadSlow || slow > 0;
      // An error in an earlier row decides the answer: then nothing needs converting.
      if (slow > 0 && !(bad !== null && (bad as Bad).r < r) && k <= capacity) {
        convertSegment(b, data, probs, segStart, i, segK, rowStart, r, slow, impure, setBad);
      }
      const width = k - rowStart;
      if (!shapeError) {
        if (r === 0) {
          if (width === 0) shapeError = badRequest(`${field}[0] must have at least one class`, [{ path: [field, 0], message: 'must have at least one class' }]);
          cols = width;
        } else if (width !== cols) {
          shapeError = badRequest(`rows have different lengths: row 0 has ${cols}, row ${r} has ${width}`, [
            { path: [field, r], message: `has ${width} classes, row 0 has ${cols}` },
          ]);
        }
      }
      if (!shapeError && k <= capacity) {
        if (hadSlow) {
          // Some values arrived by JSON.parse: count the row again from the buffer.
          live = 0;
          sum = 0;
          max = 0;
          for (let o = rowStart; o < k; o++) {
            const v = data[o];
            if (probs) {
              if (v >= 0) {
                sum += v;
                if (v > max) max = v;
              }
            } else if (v !== -Infinity) live++;
          }
        }
        if (probs) {
          if (sum === 0) setBad(r, Infinity, 'sums to 0', `${field}[${r}] sums to 0: at least one entry must be > 0`);
          // The general path's guard: a row whose sum overflows is divided by its maximum.
          else if (sum === Infinity) for (let o = rowStart; o < k; o++) data[o] /= max;
        } else if (live === 0) setBad(r, Infinity, 'every class is masked', `${field}[${r}] has every class masked (null): at least one must be a number`);
      }
      i++; // the row's ]
    }
    rows++;
    i = ws(b, i);
    if (b[i] === C.Comma) {
      i = ws(b, i + 1);
      continue;
    }
    if (b[i] === C.BracketClose) break;
    throw syntax(b, i);
  }
  const found = bad as Bad | null;
  let elementError: ApiError | undefined;
  if (found) elementError = badRequest(found.message, [{ path: found.path, message: found.issue }]);
  const size = rows * Math.max(cols, 0);
  return {
    end: i + 1,
    matrix: {
      field,
      data: size <= capacity ? data.subarray(0, size) : empty,
      rows,
      cols: Math.max(cols, 0),
      shapeError,
      elementError,
    },
  };
}

/** A JSON array of numbers read by readNumberArray. */
export interface ScannedNumbers {
  /** The index after the array. */
  end: number;
  /** The values in order (null as -Infinity, a bad element as NaN); empty if there were more than the buffer holds. */
  data: Float64Array;
  /** Values (or elements) read. */
  count: number;
  /** 1: a flat array; 2: an array of rows. */
  depth: 1 | 2;
  /** For depth 2: the number of rows and the length of the first. */
  rows: number;
  cols: number;
  /** The first structural problem (a ragged row, a row that is not an array, deeper nesting). */
  shapeError?: string;
  /** The flat index of the first bad element (-1: none), and what is wrong with it. */
  badAt: number;
  badIssue?: string;
}

/**
 * Reads the JSON array at b[i] (its `[`) into the buffer `alloc` gives (allocated only if the
 * array is not empty; values past `capacity` are counted, not stored): a flat array of numbers
 * and nulls, or an array of rows of them, as an OIP tensor's `data` is. The same grammar, number
 * conversion (fast path, and segmented JSON.parse for long numbers, within one innermost array)
 * and bounded memory as the matrix reader above; it knows nothing of shapes or masks, which its
 * caller checks: null is stored as -Infinity, a non-number element or a number that overflows as
 * NaN with badAt / badIssue set. A NaN or Infinity literal is a JsonSyntaxError at its byte.
 * Messages name places from `path` (the array's own name in the request).
 */
export function readNumberArray(b: Uint8Array, start: number, capacity: number, alloc: () => Float64Array, path = 'data'): ScannedNumbers {
  const empty = new Float64Array(0);
  let i = ws(b, start + 1);
  if (b[i] === C.BracketClose) return { end: i + 1, data: empty, count: 0, depth: 1, rows: 0, cols: 0, badAt: -1 };
  const data = alloc();
  const fast = numberLaneOn();
  if (fast) laneReset();
  const end = b.length;
  let k = 0;
  let shapeError: string | undefined;
  let badAt = -1;
  let badIssue: string | undefined;
  // Long numbers are converted when their segment is flushed, after later elements were read, so
  // the first bad element is the lowest index recorded, not the first recorded.
  const setBad = (at: number, issue: string) => {
    if (badAt < 0 || at < badAt) {
      badAt = at;
      badIssue = issue;
    }
  };

  // convertSegment's element errors, with flat indices (one run is one row of its own).
  const setBadElement = (_r: number, j: number) => setBad(j, 'must be a finite number');

  /** The scalars of one array, from b[i] (after its `[`) to the index after its `]`. */
  const run = (i: number, nested: string): number => {
    if (b[i] === C.BracketClose) return i + 1;
    let slow = 0;
    let impure = false;
    let segStart = i;
    let segK = k;
    for (;;) {
      let c = b[i];
      if (fast && (c === C.Minus || (c >= C.Zero && c <= C.Nine))) {
        // The WebAssembly lane, as in readMatrix.
        let ended = false;
        for (;;) {
          const got = laneRead(b, i, slow > 0 ? segStart + SEGMENT : end);
          const m = got >> 2;
          if (m === 0) break;
          if (k < capacity) copyLane(data, k, Math.min(m, capacity - k));
          k += m;
          i = ws(b, laneStop.at); // past whitespace the lane stopped in at its tile's end
          if ((got & 3) === 1) {
            ended = true;
            break;
          }
          if (slow === 0) {
            segStart = i;
            segK = k;
            impure = false;
          }
          c = b[i];
          if ((got & 3) === 0 || !(c === C.Minus || (c >= C.Zero && c <= C.Nine))) break;
        }
        if (ended) break;
      }
      if (c === C.LowerN) {
        i = skipLiteral(b, i, 'null');
        if (k < capacity) data[k] = -Infinity;
      } else if (c === C.Minus || (c >= C.Zero && c <= C.Nine)) {
        const from = i;
        const v = readNumber(b, i);
        i = numberEnd;
        if (k < capacity) data[k] = v; // NaN until converted, for a long number
        if (numberSlow) {
          if (slow === slowAt.length) growSlow();
          slowAt[slow] = k;
          slowFrom[slow] = from;
          slowTo[slow] = i;
          slow++;
        }
      } else {
        if (c === C.BracketOpen) shapeError ??= nested;
        else setBad(k, 'must be a number or null');
        i = skipValue(b, i);
        impure = true;
        if (k < capacity) data[k] = Number.NaN;
      }
      k++;
      i = ws(b, i);
      if (b[i] === C.Comma) {
        if (i - segStart >= SEGMENT) {
          // No closure per run (see convertSegment): the conversion is called where a segment ends.
          if (slow > 0 && k <= capacity) convertSegment(b, data, false, segStart, i, segK, 0, 0, slow, impure, setBadElement);
          slow = 0;
          impure = false;
          segStart = ws(b, i + 1);
          segK = k;
        }
        i = ws(b, i + 1);
        continue;
      }
      if (b[i] === C.BracketClose) break;
      throw syntax(b, i);
    }
    if (slow > 0 && k <= capacity) convertSegment(b, data, false, segStart, i, segK, 0, 0, slow, impure, setBadElement);
    return i + 1;
  };

  const view = () => (k <= capacity ? data.subarray(0, k) : empty);
  if (b[i] !== C.BracketOpen) {
    i = run(i, `${path} mixes numbers and arrays (give a flat array, or an array of rows)`);
    return { end: i, data: view(), count: k, depth: 1, rows: 0, cols: 0, shapeError, badAt, badIssue };
  }
  let rows = 0;
  let cols = -1;
  for (;;) {
    const r = rows;
    if (b[i] !== C.BracketOpen) {
      i = skipValue(b, i);
      shapeError ??= `${path}[${r}] is not an array (give a flat array, or an array of rows)`;
    } else {
      const k0 = k;
      i = run(ws(b, i + 1), `${path}[${r}] holds an array (give a flat array, or an array of rows, not deeper)`);
      const width = k - k0;
      if (r === 0) cols = width;
      else if (width !== cols) shapeError ??= `${path}[${r}] has ${width} values, ${path}[0] has ${cols}`;
    }
    rows++;
    i = ws(b, i);
    if (b[i] === C.Comma) {
      i = ws(b, i + 1);
      continue;
    }
    if (b[i] === C.BracketClose) break;
    throw syntax(b, i);
  }
  return { end: i + 1, data: view(), count: k, depth: 2, rows, cols, shapeError, badAt, badIssue };
}
