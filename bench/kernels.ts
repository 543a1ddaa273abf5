/**
 * Kernel benchmark: one thread, float64, median of repeated calls after warm-up.
 *   npm run bench               a table
 *   npm run bench -- --json     one JSON object per line: {"kernel","rows","cols","medianMs"}
 *   npm run bench -- --only=softmax,sparsemax   a subset of kernels
 *   npm run bench -- --torch    softmax also timed in PyTorch on this machine, shape by shape
 *                               beside ours (bench/torch_softmax.py; a python3 with torch:
 *                               --python=CMD, else python3 or /usr/bin/python3)
 * Logits are standard normal (as torch.randn), from a fixed seed. The PyTorch 1.13 + entmax
 * figures quoted in the kernels issue are printed beside ours for the ratio; with --torch,
 * softmax's ratio is to PyTorch measured here instead (the quoted figures are from another
 * machine: this one's PyTorch 1.13.1 (Debian, AVX2) measured 1.3-2.3x slower than they are, in two runs).
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { entmax } from '../src/core/entmax.js';
import { gumbelSoftmax } from '../src/core/gumbel-softmax.js';
import { sample, sampleInto, type SampleOptions } from '../src/core/sample.js';
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

/** One draw per row after a filter of issue 9 (softmax, T = 1). */
const filtered = (f: Partial<SampleOptions>): Kernel => (d, r, c) => sample(d, r, c, { n: 1, seed: 1, ...f });
/** Per-row seeds: one seed per row of the largest shape, built once. */
const ROW_SEEDS = new Float64Array(4096).map((_, i) => 1000 + i);

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
  // Issue 9: the newer filters (values as in their articles), per-row seeds, log-probabilities,
  // and draws without replacement (1x50257 only, beside one draw with replacement: target <= 2x).
  'topNSigma=1': filtered({ topNSigma: 1 }),
  'typicalP=0.9': filtered({ typicalP: 0.9 }),
  'epsilon=3e-4': filtered({ epsilon: 3e-4 }),
  'eta=1e-3': filtered({ eta: 1e-3 }),
  'gumbel-max per-row seeds': (d, r, c) => sample(d, r, c, { n: 1, seed: ROW_SEEDS.subarray(0, r) }),
  'gumbel-max +logprobs top5': (d, r, c) => sampleInto(d, r, c, { n: 1, seed: 1 }, { samples: new Int32Array(r), logprobs: new Float64Array(r), topN: 5 }),
  'no-replacement n=50': (d, r, c) => sample(d, r, c, { n: 50, seed: 1, replacement: false }),
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

/** Kernels measured on some shapes only (indices into SHAPES). */
const ONLY_SHAPES: Record<string, number[]> = { 'no-replacement n=50': [0] };

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
const withTorch = args.includes('--torch');
const torchPython = args.find((a) => a.startsWith('--python='))?.slice('--python='.length);

/** PyTorch's softmax on one shape, timed now by bench/torch_softmax.py (ms per call). */
function torchSoftmaxMs(rows: number, cols: number): number {
  const script = fileURLToPath(new URL('./torch_softmax.py', import.meta.url));
  for (const py of torchPython ? [torchPython] : ['python3', '/usr/bin/python3']) {
    const r = spawnSync(py, [script, `${rows}x${cols}`], { encoding: 'utf8' });
    if (r.status === 0) return (JSON.parse(r.stdout.trim()) as { medianMs: number }).medianMs;
  }
  throw new Error(`--torch: no python with torch ran bench/torch_softmax.py (Debian: apt-get install python3-torch; or --python=CMD)`);
}

const rowsOut: string[][] = [];
const results = new Map<string, number>();
for (const [name, kernel] of Object.entries(KERNELS)) {
  if (only && !only.includes(name)) continue;
  SHAPES.forEach(([rows, cols], si) => {
    if (ONLY_SHAPES[name] && !ONLY_SHAPES[name].includes(si)) return;
    const data = normalLogits(rows * cols, 12345 + si);
    const out = new Float64Array(rows * cols);
    const medianMs = measure(() => kernel(data, rows, cols, out));
    results.set(`${name} ${rows}x${cols}`, medianMs);
    if (json) {
      console.log(JSON.stringify({ kernel: name, rows, cols, medianMs: Number(medianMs.toPrecision(4)) }));
      return;
    }
    const t = TARGETS[name];
    // Ours then PyTorch's, shape by shape, so that both see the machine alike.
    const torch = withTorch && name === 'softmax' ? torchSoftmaxMs(rows, cols) : t?.torch[si];
    const goal = torch !== undefined ? torch / t.speedup : undefined;
    rowsOut.push([
      name,
      `${rows}x${cols}`,
      medianMs.toFixed(3),
      torch !== undefined ? `${torch.toPrecision(3)}${withTorch && name === 'softmax' ? ' (here)' : ''}` : '-',
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
  const one = results.get('gumbel-max 1x50257');
  const k50 = results.get('no-replacement n=50 1x50257');
  if (one !== undefined && k50 !== undefined) {
    console.log(`without replacement n = 50 / one draw with replacement, 1x50257: ${(k50 / one).toFixed(2)}x (target <= 2x)`);
  }
}
