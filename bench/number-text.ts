/**
 * Number text: ns per double written (src/codecs/number-text.ts writeNumber into a byte buffer, a
 * call per number, and src/codecs/number-text-wasm.ts writeRangeWasm, the whole array in
 * WebAssembly, as formatRangeBytes uses it) and read (scanNumber over the text's bytes; and the
 * WebAssembly lane of src/codecs/number-scan-wasm.ts with scanNumber for what it leaves, as
 * src/codecs/body-scan.ts reads), against what the codecs used before: writing, JSON.stringify of
 * a plain array copied to bytes; reading, JSON.parse of the array's text. One thread, median and
 * best of rounds after a warm-up.
 *   npm run bench:number-text [-- --n 100000 --rounds 15]
 *   npm run bench:number-text -- --check 10000000    also compares that many random bit patterns
 *                                                     with JSON.stringify / JSON.parse (JS writer
 *                                                     and reader, WASM writer), and the lane on
 *                                                     that many number texts with JSON.parse
 * Inputs: random doubles (uniform random bit patterns, finite), softmax-like probabilities
 * (softmax of standard normal logits, rows of 1000), integers (uniform in [0, 2^31)) and logits
 * as load/scenarios.ts writes them (2 x standard normal, 6 decimals: -1.478171).
 */
import { laneRead, laneReset, laneStop, laneValues, numberLaneOn } from '../src/codecs/number-scan-wasm.js';
import { NUMBER_MAX_BYTES, numberScan, readNumberText, scanNumber, writeNumber } from '../src/codecs/number-text.js';
import { numberTextWasmAvailable, writeRangeWasm } from '../src/codecs/number-text-wasm.js';
import { randomDouble, words } from '../test/helpers/doubles.js';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const N = arg('n', 100_000);
const ROUNDS = arg('rounds', 15);
const CHECK = arg('check', 0);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

// A fixed-seed word stream (the number-text tests' own), and finite doubles of random bits.
const u32 = words(0x9e3779b9);
const randomBits = () => {
  for (;;) {
    const x = randomDouble(u32);
    if (Number.isFinite(x)) return x;
  }
};
const normal = () => Math.sqrt(-2 * Math.log((u32() + 1) / 4294967297)) * Math.cos((2 * Math.PI * u32()) / 4294967296);

function inputs(kind: string): Float64Array {
  const a = new Float64Array(N);
  if (kind === 'random doubles') for (let i = 0; i < N; i++) a[i] = randomBits();
  else if (kind === 'integers') for (let i = 0; i < N; i++) a[i] = u32() >>> 1;
  else if (kind === 'logits') for (let i = 0; i < N; i++) a[i] = Number((2 * normal()).toFixed(6)) + 0; // + 0: no -0 (written as 0)
  else {
    for (let r = 0; r < N; r += 1000) {
      const end = Math.min(N, r + 1000);
      let sum = 0;
      for (let i = r; i < end; i++) sum += a[i] = Math.exp(normal());
      for (let i = r; i < end; i++) a[i] /= sum;
    }
  }
  return a;
}

// Local names: under tsx each use of an imported binding is a getter call (~15 ns), not the service's cost.
const write = writeNumber;
const scan = scanNumber;
const scanned = numberScan;

const out = Buffer.allocUnsafe(N * (NUMBER_MAX_BYTES + 3) + 64);
const writeRange = writeRangeWasm;

function ours(a: Float64Array): number {
  let at = 0;
  out[at++] = 91;
  for (let i = 0; i < a.length; i++) {
    if (i > 0) out[at++] = 44;
    at = write(out, at, a[i]);
  }
  out[at++] = 93;
  return at;
}
function wasm(a: Float64Array): number {
  out[0] = 91;
  const at = writeRange(a, 1, false, 0, a.length, out, 1);
  out[at] = 93;
  return at + 1;
}
const today = (a: Float64Array) => out.write(JSON.stringify(Array.from(a)), 0, 'latin1');

/** The array's numbers, as body-scan reads them: scanNumber from each number's first byte. */
function read(text: Buffer, into: Float64Array): void {
  let k = 0;
  let i = 1;
  for (;;) {
    const v = scan(text, i);
    const end = scanned.end;
    into[k++] = scanned.status === 0 ? v : readNumberText(text, i, end);
    if (text[end] !== 44) return;
    i = end + 1;
  }
}

/** The same, with the lane reading every run of numbers it handles (scanNumber the others). */
function readLane(text: Buffer, into: Float64Array): void {
  laneReset();
  let k = 0;
  let i = 1;
  for (;;) {
    const r = laneRead(text, i, text.length);
    const n = r >> 2;
    if (n > 0) {
      into.set(laneValues.subarray(0, n), k);
      k += n;
      i = laneStop.at;
    }
    if ((r & 3) === 1) return;
    if ((r & 3) === 2) continue; // its output area is full
    const v = scan(text, i);
    const end = scanned.end;
    into[k++] = scanned.status === 0 ? v : readNumberText(text, i, end);
    if (text[end] !== 44) return;
    i = end + 1;
  }
}

/** ns per double: the median and the best of ROUNDS rounds (the machine is shared: the best is the steadier). */
function time(f: () => void): [number, number] {
  const xs: number[] = [];
  for (let r = -3; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    f();
    const ns = Number(process.hrtime.bigint() - t0);
    if (r >= 0) xs.push(ns / N);
  }
  return [median(xs), Math.min(...xs)];
}

console.log(`number text, ${N} doubles a round, ${ROUNDS} rounds: ns per double, median (best)`);
if (!numberTextWasmAvailable || !numberLaneOn()) throw new Error('WebAssembly unavailable: no WASM writer or lane to measure');
console.log('inputs           write: JS       write: WASM     JSON.stringify  JS/str  WASM/str   read: scanNumber  lane          JSON.parse      lane/parse');
for (const kind of ['random doubles', 'probabilities', 'integers', 'logits']) {
  const a = inputs(kind);
  const len = ours(a);
  const text = Buffer.from(out.subarray(0, len));
  if (text.toString('latin1') !== JSON.stringify(Array.from(a))) throw new Error(`${kind}: text differs from JSON.stringify`);
  if (out.subarray(0, wasm(a)).toString('latin1') !== text.toString('latin1')) throw new Error(`${kind}: WASM text differs from JSON.stringify`);
  const back = new Float64Array(N);
  read(text, back);
  for (let i = 0; i < N; i++) if (!Object.is(back[i], a[i])) throw new Error(`${kind}: read ${back[i]} for ${a[i]}`);
  back.fill(0);
  readLane(text, back);
  for (let i = 0; i < N; i++) if (!Object.is(back[i], a[i])) throw new Error(`${kind}: the lane read ${back[i]} for ${a[i]}`);
  // Interleaved, so both sides see the same load.
  const w = time(() => ours(a));
  const ww = time(() => wasm(a));
  const ws = time(() => today(a));
  const str = text.toString('latin1');
  const r = time(() => read(text, back));
  const rl = time(() => readLane(text, back));
  const rs = time(() => JSON.parse(str));
  const f = ([m, b]: [number, number]) => `${m.toFixed(1)} (${b.toFixed(1)})`.padStart(15);
  const x = (a: [number, number], b: [number, number]) => `${(b[0] / a[0]).toFixed(2)}x`.padStart(7);
  console.log(`${kind.padEnd(16)} ${f(w)} ${f(ww)} ${f(ws)} ${x(w, ws)} ${x(ww, ws)}    ${f(r)} ${f(rl)} ${f(rs)} ${x(rl, rs)}`);
}

if (CHECK > 0) {
  // Exactness on CHECK random bit patterns (the test suite runs 10^6 of these).
  const t0 = performance.now();
  const buf = new Uint8Array(32);
  const dec = new TextDecoder('latin1');
  let bad = 0;
  for (let i = 0; i < CHECK; i++) {
    const x = randomDouble(u32);
    const len = writeNumber(buf, 0, x);
    const t = JSON.stringify(x);
    if (dec.decode(buf.subarray(0, len)) !== t) bad++;
    else if (t !== 'null' && !Object.is(readNumberText(buf, 0, len), JSON.parse(t))) bad++;
  }
  console.log(`check: ${CHECK} random bit patterns written and read back, ${bad} differ from JSON.stringify / JSON.parse (${((performance.now() - t0) / 1000).toFixed(1)} s)`);

  // The WASM writer: blocks of random bit patterns, each block's text against JSON.stringify of it.
  const t1 = performance.now();
  const BLOCK = 1 << 16;
  const block = new Float64Array(BLOCK);
  const blockWords = new Uint32Array(block.buffer);
  const text = Buffer.allocUnsafe(BLOCK * (NUMBER_MAX_BYTES + 3) + 64);
  let wasmBad = 0;
  for (let done = 0; done < CHECK; done += BLOCK) {
    const n = Math.min(BLOCK, CHECK - done);
    for (let i = 0; i < 2 * n; i++) blockWords[i] = u32();
    const values = block.subarray(0, n);
    const len = writeRangeWasm(values, 1, false, 0, n, text, 0);
    if (text.toString('latin1', 0, len) === JSON.stringify(Array.from(values)).slice(1, -1)) continue;
    const got = text.toString('latin1', 0, len).split(',');
    for (let i = 0; i < n; i++) if (got[i] !== JSON.stringify(values[i])) wasmBad++;
  }
  console.log(`check: ${CHECK} random bit patterns written by the WASM writer, ${wasmBad} differ from JSON.stringify (${((performance.now() - t1) / 1000).toFixed(1)} s)`);

  // The lane on CHECK number texts, in arrays of 10^4: random doubles' shortest text, logits
  // text, and random digit strings (1-25 digits, fractions, exponents, signs, leading zeros of
  // fractions); every value it writes against JSON.parse of the array.
  const t2 = performance.now();
  const digits = (n: number, first: number) => {
    let t = String(first);
    for (let j = 1; j < n; j++) t += String(u32() % 10);
    return t;
  };
  const numberText = (): string => {
    const shape = u32() % 4;
    if (shape === 0) return String(randomBits());
    if (shape === 1) return (2 * normal()).toFixed(u32() % 8);
    let t = u32() & 1 ? '-' : '';
    t += u32() % 4 === 0 ? '0' : digits(1 + (u32() % 25), 1 + (u32() % 9));
    if (u32() % 3 !== 0) t += '.' + '0'.repeat(u32() % 4 === 0 ? u32() % 6 : 0) + digits(1 + (u32() % 25), u32() % 10);
    if (u32() % 3 === 0) t += (u32() & 1 ? 'e' : 'E') + ['', '+', '-'][u32() % 3] + String(u32() % (u32() & 1 ? 30 : 400));
    return t;
  };
  let laneBad = 0;
  let laneRead_ = 0;
  for (let done = 0; done < CHECK; done += 10_000) {
    const m = Math.min(10_000, CHECK - done);
    const texts = Array.from({ length: m }, numberText);
    const body = Buffer.from(`[${texts.join(',')}]`, 'latin1');
    const want = JSON.parse(body.toString('latin1')) as number[];
    // Element starts, to resume after an element the lane leaves.
    const starts: number[] = [];
    let at = 1;
    for (const t of texts) {
      starts.push(at);
      at += t.length + 1;
    }
    laneReset();
    let e = 0;
    while (e < m) {
      const r = laneRead(body, starts[e], body.length);
      const n = r >> 2;
      for (let t = 0; t < n; t++) if (!Object.is(laneValues[t], want[e + t])) laneBad++;
      laneRead_ += n;
      e += n;
      if ((r & 3) === 0) e++;
      else if ((r & 3) === 1) break;
    }
  }
  console.log(
    `check: ${CHECK} number texts, ${laneRead_} read by the lane (the rest left to JavaScript), ${laneBad} differ from JSON.parse (${((performance.now() - t2) / 1000).toFixed(1)} s)`,
  );
}
