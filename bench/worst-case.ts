/**
 * Worst-case rows per kernel: ns per element (median of repeated calls, one thread) for the
 * slowest inputs we can construct, beside plain softmax on the same machine in the same run,
 * so the ratios (the units of src/core/cost.ts) do not depend on the machine's load.
 *   npx tsx bench/worst-case.ts            a table
 *   npx tsx bench/worst-case.ts --json     one JSON object per line
 *   npx tsx bench/worst-case.ts --grep=sample   only the cases whose name contains the text
 * Rows: ties at the maximum, huge alpha, alpha just above 1, rows where Newton stalls next to a
 * kink (found by a seeded search below), masked rows, Michelot's slow rows, filters, n draws, and
 * rows of 1-8 classes (many rows, or one row and many draws), where the fixed work per row and
 * per draw dominates.
 */
import { argmax } from '../src/core/argmax.js';
import * as entmaxModule from '../src/core/entmax.js';
import { worstCaseRowUnits, type KernelName, type KernelParams } from '../src/core/cost.js';
import { gumbelSoftmax } from '../src/core/gumbel-softmax.js';
import { sample, sampleInto, type SampleOptions } from '../src/core/sample.js';
import { logSoftmax, softmax } from '../src/core/softmax.js';
import { sparsemax } from '../src/core/sparsemax.js';

const { entmax } = entmaxModule;
/** The solver's pass count of the last call, where the kernel exports it. */
const passes = (): number | undefined => (entmaxModule as { entmaxStats?: { passes: number } }).entmaxStats?.passes;

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 2 ** 32;
  };
}

function normal(n: number, seed: number, scale = 1): Float64Array {
  const u = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scale * Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** Median ms per call after warm-up (at least 5 calls and 50 ms; then 7 calls and 200 ms). */
function measure(fn: () => unknown): number {
  const w0 = performance.now();
  for (let i = 0; i < 5 || performance.now() - w0 < 50; i++) fn();
  const times: number[] = [];
  const t0 = performance.now();
  while (times.length < 7 || (performance.now() - t0 < 200 && times.length < 100)) {
    const a = performance.now();
    fn();
    times.push(performance.now() - a);
  }
  return median(times);
}

/**
 * A row of `cols` classes on which entmax(alpha) takes the most solver passes among `tries`
 * seeded candidates: a few near-tied classes on a 2^-10 grid (where Newton stalls beside a kink)
 * padded with classes far below (out of the candidate set) or, with `keep`, just below the top
 * (candidates every pass has to visit).
 */
function stallRow(cols: number, alpha: number, tries: number, keep: boolean, seed0 = 1000): { row: Float64Array; passes: number } {
  let best = { row: new Float64Array(cols), passes: -1 };
  for (let t = 0; t < tries; t++) {
    const u = rng(seed0 + t);
    const row = new Float64Array(cols);
    const head = 2 + Math.floor(u() * 4);
    for (let j = 0; j < cols; j++) {
      row[j] = j < head ? Math.round((u() - 0.5) * 4096) / 1024 : keep ? -0.25 - u() * 0.05 : -1e3;
    }
    entmax(row, 1, cols, alpha);
    const p = passes() ?? 0;
    if (p > best.passes) best = { row, passes: p };
  }
  return best;
}

interface Case {
  name: string;
  rows: number;
  cols: number;
  data: Float64Array;
  run: (data: Float64Array, rows: number, cols: number) => unknown;
  /** The cost model's worst case for this kernel and these parameters (src/core/cost.ts). */
  model?: [KernelName, KernelParams];
}

const cases: Case[] = [];
const add = (name: string, rows: number, cols: number, data: Float64Array, run: Case['run'], model?: Case['model']) =>
  cases.push({ name, rows, cols, data, run, model });

const R = 16;
const C = 4096;
const normalData = normal(R * C, 7);
const ent = (alpha: number) => (d: Float64Array, r: number, c: number) => entmax(d, r, c, alpha);
const smp = (o: Omit<SampleOptions, 'seed'>) => (d: Float64Array, r: number, c: number) => sample(d, r, c, { seed: 1, ...o });

add('softmax normal', R, C, normalData, (d, r, c) => softmax(d, r, c), ['softmax', {}]);
const masked = Float64Array.from(normalData, (v, i) => (i % 64 === 0 ? v : -Infinity));
add('softmax masked 63/64', R, C, masked, (d, r, c) => softmax(d, r, c), ['softmax', {}]);
add('log-softmax masked 63/64', R, C, masked, (d, r, c) => logSoftmax(d, r, c), ['softmax', { log: true }]);
add('argmax normal', R, C, normalData, (d, r, c) => argmax(d, r, c), ['argmax', {}]);
add('Float64Array sort (primitive)', 1, 16 * C, normal(16 * C, 9), (d) => Float64Array.from(d).sort());
add('sparsemax normal', R, C, normalData, (d, r, c) => sparsemax(d, r, c), ['sparsemax', {}]);
// Michelot sheds one class per pass on x_j = -(1 - 2^-j)-like rows: a geometric ladder.
const ladder = new Float64Array(C);
for (let j = 0; j < C; j++) ladder[j] = -j * 2 ** -12;
add('sparsemax ladder', 1, C, ladder, (d, r, c) => sparsemax(d, r, c), ['sparsemax', {}]);
add('sparsemax ties', 1, 16000, new Float64Array(16000), (d, r, c) => sparsemax(d, r, c), ['sparsemax', {}]);

const ties = new Float64Array(16000);
for (const alpha of [1.3, 1.5, 3, 50, 1e6]) add(`entmax ${alpha} ties 1x16000`, 1, 16000, ties, ent(alpha), ['entmax', { alpha }]);
for (const alpha of [1 + 2 ** -52, 1 + 1e-6, 1.001, 1.05, 1.3, 1.5, 3, 10, 1e6]) {
  add(`entmax ${alpha} normal`, R, C, normalData, ent(alpha), ['entmax', { alpha }]);
}
const wide = normal(R * C, 8, 0.01); // every class a candidate at large alpha
for (const alpha of [3, 10, 100]) add(`entmax ${alpha} normal s=0.01`, R, C, wide, ent(alpha), ['entmax', { alpha }]);
add('entmax 1.3 masked 63/64', R, C, masked, ent(1.3), ['entmax', { alpha: 1.3 }]);
for (const alpha of [3, 10, 50]) {
  const s = stallRow(C, alpha, 300, true);
  add(`entmax ${alpha} stall row (${s.passes} passes)`, 1, C, s.row, ent(alpha), ['entmax', { alpha }]);
}
// Short rows: the per-row overhead of the solvers (Math.pow, the step arithmetic, bisection).
for (const alpha of [1.001, 1.3, 3, 10]) {
  const rows: Float64Array[] = [];
  for (let t = 0; rows.length < 256 && t < 20000; t++) {
    const s = stallRow(10, alpha, 1, false, 5000 + t);
    if (alpha < 2 || s.passes > 24) rows.push(s.row);
  }
  const data = new Float64Array(rows.length * 10);
  rows.forEach((r, i) => data.set(r, i * 10));
  add(`entmax ${alpha} short rows${alpha > 2 ? ' that bisect' : ''}`, rows.length, 10, data, ent(alpha), ['entmax', { alpha }]);
}
// Short rows on the SIMD kernels (cols <= 32): 32-class ladders (Michelot sheds one class per
// pass, up to 33 passes), ties, and normal rows at alpha = 1.5 (its sort and bound passes).
const shortLadder = new Float64Array(2048 * 32);
for (let i = 0; i < shortLadder.length; i++) shortLadder[i] = -(i % 32) * 2 ** -5;
add('sparsemax ladder short rows', 2048, 32, shortLadder, (d, r, c) => sparsemax(d, r, c), ['sparsemax', {}]);
add('entmax 1.5 ladder short rows', 2048, 32, shortLadder, ent(1.5), ['entmax', { alpha: 1.5 }]);
add('sparsemax ties short rows', 2048, 32, new Float64Array(2048 * 32), (d, r, c) => sparsemax(d, r, c), ['sparsemax', {}]);
add('entmax 1.5 normal short rows', 2048, 32, normal(2048 * 32, 10), ent(1.5), ['entmax', { alpha: 1.5 }]);
add('entmax 1.5 normal s=0.1 short rows', 2048, 32, normal(2048 * 32, 11, 0.1), ent(1.5), ['entmax', { alpha: 1.5 }]);

add('gumbel-softmax soft', R, C, normalData, (d, r, c) => gumbelSoftmax(d, r, c, { tau: 1, seed: 1 }), ['gumbel-softmax', {}]);
add('gumbel-softmax hard', R, C, normalData, (d, r, c) => gumbelSoftmax(d, r, c, { tau: 1, hard: true, seed: 1 }), ['gumbel-softmax', { hard: true }]);
add('sample softmax n=1', R, C, normalData, smp({}), ['sample', {}]);
add('sample softmax n=16', R, C, normalData, smp({ n: 16 }), ['sample', { n: 16 }]);
add('sample softmax n=1 flat row', R, C, new Float64Array(R * C), smp({}), ['sample', {}]);
add('sample softmax n=16 flat row', R, C, new Float64Array(R * C), smp({ n: 16 }), ['sample', { n: 16 }]);
const probs = Float64Array.from(normalData, (v) => Math.exp(v));
add('sample probs n=1', R, C, probs, smp({ input: 'probs' }), ['sample', { input: 'probs' }]);
add('sample softmax topP=1 n=1', R, C, normalData, smp({ topP: 1 }), ['sample', { topP: 1 }]);
add('sample softmax topK=C-1 n=1', R, C, normalData, smp({ topK: C - 1 }), ['sample', { topK: C - 1 }]);
add('sample softmax topK topP minP n=16', R, C, normalData, smp({ topK: C - 1, topP: 1, minP: 0, n: 16 }), ['sample', { topK: C - 1, topP: 1, minP: 0, n: 16 }]);
add('sample sparsemax n=16', R, C, normalData, smp({ mapping: 'sparsemax', n: 16 }), ['sample', { mapping: 'sparsemax', n: 16 }]);
add('sample entmax 1.5 flat row n=16', R, C, new Float64Array(R * C), smp({ mapping: 'entmax', alpha: 1.5, n: 16 }), ['sample', { mapping: 'entmax', alpha: 1.5, n: 16 }]);

// Issue 9 options (./sample.ts generalSample): the newer filters on normal rows, on flat rows
// (every key tied) and on two-level rows (large tied groups at the cut), draws without
// replacement, log-probabilities with a full top list on a rising row (every class enters it),
// bias and masks.
const smpInto = (o: Omit<SampleOptions, 'seed'>, topN?: number, logprobs = false) => (d: Float64Array, r: number, c: number) =>
  sampleInto(d, r, c, { seed: 1, ...o }, { samples: new Int32Array(r * (o.n ?? 1)), logprobs: logprobs ? new Float64Array(r * (o.n ?? 1)) : undefined, topN });
const flatRows = new Float64Array(R * C);
const twoLevel = Float64Array.from({ length: R * C }, (_, i) => (i % 3 ? 0 : 1));
const rising = Float64Array.from({ length: R * C }, (_, i) => (i % C) * 1e-3);
for (const [rowsName, data] of [['normal', normalData], ['flat row', flatRows], ['two-level row', twoLevel]] as const) {
  for (const f of [{ typicalP: 0.9 }, { typicalP: 0.5 }, { epsilon: 3e-4 }, { eta: 1e-3 }, { topNSigma: 1 }] as const) {
    const name = Object.entries(f).map(([k, v]) => `${k}=${v}`).join(' ');
    add(`sample ${name} ${rowsName}`, R, C, data, smp(f), ['sample', f]);
  }
  add(`sample sparsemax typicalP=0.9 eta=1e-3 ${rowsName}`, R, C, data, smp({ mapping: 'sparsemax', typicalP: 0.9, eta: 1e-3 }), ['sample', { mapping: 'sparsemax', typicalP: 0.9, eta: 1e-3 }]);
  add(`sample no replacement n=50 ${rowsName}`, R, C, data, smp({ n: 50, replacement: false }), ['sample', { n: 50, replacement: false }]);
  add(`sample sparsemax no replacement n=50 ${rowsName}`, R, C, data, smp({ mapping: 'sparsemax', temperature: 100, n: 50, replacement: false }), ['sample', { mapping: 'sparsemax', n: 50, replacement: false }]);
}
add('sample no replacement n=C flat row', 1, C, new Float64Array(C), smp({ n: C, replacement: false }), ['sample', { n: C, replacement: false }]);
add('sample logprobs top64 rising row', R, C, rising, smpInto({}, 64, true), ['sample', { logprobs: true, topLogprobs: 64 }]);
add('sample logprobs raw top64 rising row', R, C, rising, smpInto({ logprobsMode: 'raw' }, 64, true), ['sample', { logprobs: true, topLogprobs: 64, logprobsMode: 'raw' }]);
const banned = Int32Array.from({ length: C / 2 }, (_, i) => 2 * i);
add('sample bias allowed banned normal', R, C, normalData, smp({ logitBias: { index: Int32Array.of(1, 5, 9), value: Float64Array.of(1, 2, 3) }, banned, allowed: Int32Array.from({ length: C - 8 }, (_, i) => i) }), [
  'sample',
  { logitBias: {}, banned: [], allowed: [] },
]);

// Rows of a few classes: the fixed work per row (and per draw) that the per-element figures miss.
const SHORT = 2048;
for (const cols of [1, 2, 8]) {
  const data = normal(SHORT * cols, 12);
  const flat = new Float64Array(SHORT * cols);
  const weights = Float64Array.from(data, (v) => Math.exp(v));
  const s = `short rows ${SHORT}x${cols}`;
  add(`argmax ${s}`, SHORT, cols, data, (d, r, c) => argmax(d, r, c), ['argmax', {}]);
  add(`softmax ${s}`, SHORT, cols, data, (d, r, c) => softmax(d, r, c), ['softmax', {}]);
  add(`log-softmax ${s}`, SHORT, cols, data, (d, r, c) => logSoftmax(d, r, c), ['softmax', { log: true }]);
  add(`gumbel-softmax soft ${s}`, SHORT, cols, data, (d, r, c) => gumbelSoftmax(d, r, c, { tau: 1, seed: 1 }), ['gumbel-softmax', {}]);
  add(`gumbel-softmax soft probs ${s}`, SHORT, cols, weights, (d, r, c) => gumbelSoftmax(d, r, c, { tau: 1, seed: 1, input: 'probs' }), ['gumbel-softmax', { input: 'probs' }]);
  add(`gumbel-softmax hard ${s}`, SHORT, cols, data, (d, r, c) => gumbelSoftmax(d, r, c, { tau: 1, hard: true, seed: 1 }), ['gumbel-softmax', { hard: true }]);
  add(`sample T=0 ${s}`, SHORT, cols, flat, smp({ temperature: 0 }), ['sample', { temperature: 0 }]);
  add(`sample softmax flat ${s}`, SHORT, cols, flat, smp({}), ['sample', {}]);
  add(`sample probs ${s}`, SHORT, cols, weights, smp({ input: 'probs' }), ['sample', { input: 'probs' }]);
  add(`sample sparsemax ${s}`, SHORT, cols, flat, smp({ mapping: 'sparsemax' }), ['sample', { mapping: 'sparsemax' }]);
  add(`sample topP ${s}`, SHORT, cols, flat, smp({ topP: 1 }), ['sample', { topP: 1 }]);
  add(`sample topK topP minP ${s}`, SHORT, cols, flat, smp({ topK: 1, topP: 1, minP: 0 }), ['sample', { topK: 1, topP: 1, minP: 0 }]);
}
// Per-row seeds on short rows: the batched short-row Philox call no longer applies.
for (const cols of [1, 2, 8]) {
  const data = normal(SHORT * cols, 12);
  const seeds = Float64Array.from({ length: SHORT }, (_, i) => i);
  add(`sample per-row seeds short rows ${SHORT}x${cols}`, SHORT, cols, data, (d, r, c) => sample(d, r, c, { seed: seeds }), ['sample', { seed: [0] }]);
  add(`sample per-row T typicalP short rows ${SHORT}x${cols}`, SHORT, cols, data, (d, r, c) => sample(d, r, c, { seed: seeds, temperature: seeds.map(() => 0.7), typicalP: 0.9 }), ['sample', { seed: [0], temperature: [0.7], typicalP: 0.9 }]);
}
// One row of a few classes, many draws: the fixed work per draw.
for (const cols of [1, 2, 8]) {
  const flat = new Float64Array(cols);
  const n = 4096;
  const s = `few classes 1x${cols} n=${n}`;
  add(`sample softmax flat ${s}`, 1, cols, flat, smp({ n }), ['sample', { n }]);
  add(`sample probs ${s}`, 1, cols, flat.map(() => 1), smp({ n, input: 'probs' }), ['sample', { n, input: 'probs' }]);
  add(`sample sparsemax ${s}`, 1, cols, flat, smp({ n, mapping: 'sparsemax' }), ['sample', { n, mapping: 'sparsemax' }]);
  add(`sample entmax 1.5 ${s}`, 1, cols, flat, smp({ n, mapping: 'entmax', alpha: 1.5 }), ['sample', { n, mapping: 'entmax', alpha: 1.5 }]);
  add(`sample topK topP minP ${s}`, 1, cols, flat, smp({ n, topK: 1, topP: 1, minP: 0 }), ['sample', { n, topK: 1, topP: 1, minP: 0 }]);
}

const json = process.argv.includes('--json');
const grep = process.argv.find((a) => a.startsWith('--grep='))?.slice('--grep='.length);
const unit = measure(() => softmax(normalData, R, C)) / (R * C);
const out: string[][] = [];
for (const c of cases) {
  if (grep !== undefined && !c.name.includes(grep)) continue;
  const ms = measure(() => c.run(c.data, c.rows, c.cols));
  c.run(c.data, c.rows, c.cols);
  const p = c.name.startsWith('entmax') ? passes() : undefined;
  const ns = (ms * 1e6) / (c.rows * c.cols);
  const units = ms / (c.rows * c.cols) / unit;
  const model = c.model ? worstCaseRowUnits(c.model[0], { input: 'logits', ...c.model[1] }, c.cols) / c.cols : undefined;
  if (json) {
    console.log(JSON.stringify({ case: c.name, rows: c.rows, cols: c.cols, ms, nsPerElement: ns, softmaxUnits: units, modelUnits: model, passes: p }));
  } else {
    const m = model === undefined ? '-' : `${model.toFixed(1)}${units > model ? ' EXCEEDED' : ''}`;
    out.push([c.name, `${c.rows}x${c.cols}`, ms.toFixed(3), ns.toFixed(2), units.toFixed(1), m, p === undefined ? '-' : String(p)]);
  }
}
if (!json) {
  const header = ['case', 'shape', 'median ms', 'ns/element', 'softmax units', 'model bound', 'passes'];
  const widths = header.map((h, i) => Math.max(h.length, ...out.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`node ${process.version}, one thread; 1 softmax unit = ${(unit * 1e6).toFixed(2)} ns/element (softmax ${R}x${C})`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of out) console.log(line(r));
}
