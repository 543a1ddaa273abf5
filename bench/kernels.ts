/**
 * Kernel benchmark: one thread, float64, median of repeated calls after warm-up.
 *   npm run bench               a table
 *   npm run bench -- --json     one JSON object per line: {"kernel","rows","cols","medianMs"}
 *   npm run bench -- --only=softmax,sparsemax   a subset of kernels
 * Logits are standard normal (as torch.randn), from a fixed seed. The PyTorch 1.13 + entmax
 * figures quoted in the kernels issue are printed beside ours for the ratio.
 */
import { entmax } from '../src/core/entmax.js';
import { gumbelSoftmax } from '../src/core/gumbel-softmax.js';
import { sample } from '../src/core/sample.js';
import { score, type ScoreMapping, type ScoreOutputs } from '../src/core/score.js';
import { softmax } from '../src/core/softmax.js';
import { sparsemax } from '../src/core/sparsemax.js';

const SHAPES: [number, number][] = [
  [1, 50257],
  [64, 32000],
  [1024, 1000],
  [4096, 10],
];

/** PyTorch 1.13 + entmax, float64, one thread (ms per call), and the speed-up we aim for. */
const TARGETS: Record<string, { torch: number[]; speedup: number }> = {
  softmax: { torch: [0.073, 3.66, 1.6, 0.37], speedup: 1 },
  sparsemax: { torch: [3.82, 164, 51.5, 0.65], speedup: 5 },
  'entmax15': { torch: [3.94, 157, 55.7, 0.78], speedup: 5 },
  'entmax1.3': { torch: [26.7, 992, 473, 19.9], speedup: 20 },
  'gumbel-max': { torch: [0.43, 19.2, 9.3, 0.43], speedup: 1 },
};

type Kernel = (data: Float64Array, rows: number, cols: number, out: Float64Array) => unknown;

const KERNELS: Record<string, Kernel> = {
  softmax: (d, r, c, out) => softmax(d, r, c, 1, out),
  sparsemax: (d, r, c, out) => sparsemax(d, r, c, 1, out),
  entmax15: (d, r, c, out) => entmax(d, r, c, 1.5, 1, out),
  'entmax1.3': (d, r, c, out) => entmax(d, r, c, 1.3, 1, out),
  'gumbel-max': (d, r, c) => sample(d, r, c, { input: 'logits', mapping: 'softmax', temperature: 1, n: 1, seed: 1 }),
  'gumbel-softmax': (d, r, c) => gumbelSoftmax(d, r, c, { tau: 1, hard: false, seed: 1, input: 'logits' }),
  'score-softmax': scoreKernel('softmax'),
  'score-sparsemax': scoreKernel('sparsemax'),
  'score-entmax15': scoreKernel('entmax', 1.5),
  'score-entmax1.3': scoreKernel('entmax', 1.3),
};

/** /v1/score's kernel (loss, prob, logprob, entropy, value per row) for targets spread over the classes. */
function scoreKernel(mapping: ScoreMapping, alpha = 1.5): Kernel {
  const cache = new Map<string, { targets: Int32Array; outs: ScoreOutputs }>();
  return (d, r, c) => {
    let k = cache.get(`${r}x${c}`);
    if (!k) {
      const f = () => new Float64Array(r);
      k = { targets: Int32Array.from({ length: r }, (_, i) => (i * 7919) % c), outs: { loss: f(), prob: f(), logprob: f(), entropy: f(), value: f() } };
      cache.set(`${r}x${c}`, k);
    }
    return score(d, r, c, { mapping, alpha, temperature: 1, targets: k.targets }, k.outs);
  };
}

/** Standard normal logits from a fixed-seed xorshift + Box-Muller (reproducible runs). */
function normalLogits(n: number, seed: number): Float64Array {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return ((s >>> 0) + 0.5) / 2 ** 32;
  };
  const out = new Float64Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(next()));
    const t = 2 * Math.PI * next();
    out[i] = r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = r * Math.sin(t);
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function measure(fn: () => unknown): number {
  // Warm up until the JIT has settled (at least 5 calls and 100 ms), then time at least
  // 9 calls and 300 ms (at most 200 calls).
  const warmStart = performance.now();
  for (let i = 0; i < 5 || performance.now() - warmStart < 100; i++) fn();
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 9 || (performance.now() - start < 300 && times.length < 200)) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

const args = process.argv.slice(2);
const json = args.includes('--json');
const only = args.find((a) => a.startsWith('--only='))?.slice('--only='.length).split(',');

const rowsOut: string[][] = [];
for (const [name, kernel] of Object.entries(KERNELS)) {
  if (only && !only.includes(name)) continue;
  SHAPES.forEach(([rows, cols], si) => {
    const data = normalLogits(rows * cols, 12345 + si);
    const out = new Float64Array(rows * cols);
    const medianMs = measure(() => kernel(data, rows, cols, out));
    if (json) {
      console.log(JSON.stringify({ kernel: name, rows, cols, medianMs: Number(medianMs.toPrecision(4)) }));
      return;
    }
    const t = TARGETS[name];
    const torch = t?.torch[si];
    const goal = torch !== undefined ? torch / t.speedup : undefined;
    rowsOut.push([
      name,
      `${rows}x${cols}`,
      medianMs.toFixed(3),
      torch !== undefined ? torch.toString() : '-',
      torch !== undefined ? `${(torch / medianMs).toFixed(2)}x` : '-',
      goal !== undefined ? `${goal.toPrecision(3)} ${medianMs <= goal ? 'met' : 'MISSED'}` : '-',
    ]);
  });
}

if (!json) {
  const header = ['kernel', 'shape', 'median ms', 'torch ms', 'speed-up', 'target ms'];
  const widths = header.map((h, i) => Math.max(h.length, ...rowsOut.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(`node ${process.version}, one thread, float64, median per call`);
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rowsOut) console.log(line(r));
}
