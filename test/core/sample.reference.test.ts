import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { sampleInto, type PerRow, type SampleOptions, type SampleOutputs } from '../../src/core/sample.js';

// The filter and draw cases of test/fixtures/reference/vectors-2.json (computed outside the
// project at 40 digits; conventions in the README beside it), through the kernel directly. The
// HTTP side checks the same cases over the wire.

type Json = number | null | (number | null)[];
interface Request {
  logits: (number | null)[][];
  mapping: 'softmax' | 'sparsemax' | 'entmax';
  alpha?: Json;
  temperature: Json;
  topK?: Json;
  topP?: Json;
  minP?: Json;
  typicalP?: Json;
  epsilon?: Json;
  eta?: Json;
  topNSigma?: Json;
  logitBias?: Record<string, number>;
  allowed?: number[];
  banned?: number[];
  n?: number;
  seed?: number | number[];
  replacement?: boolean;
  logprobs?: boolean;
  logprobsMode?: 'processed' | 'raw';
  topLogprobs?: number;
}
interface Case {
  name: string;
  kind: 'score' | 'filter' | 'draw';
  request: Request;
  atol: number;
  rtol: number;
  expected: {
    probs?: number[][];
    kept?: number[][];
    samples?: number[][];
    logprobs?: number[][];
    topLogprobs?: { indices: number[]; logprobs: number[] }[];
  };
}

const doc = JSON.parse(readFileSync(fileURLToPath(new URL('../fixtures/reference/vectors-2.json', import.meta.url)), 'utf8')) as {
  format: number;
  cases: Case[];
};
const filterCases = doc.cases.filter((c) => c.kind === 'filter');
const drawCases = doc.cases.filter((c) => c.kind === 'draw');
/** The README's draw tolerance, for log-probabilities. */
const DRAW_ATOL = 1e-9;
const DRAW_RTOL = 1e-12;

function perRow(v: Json | undefined): PerRow | undefined {
  if (v === undefined || v === null) return undefined;
  return typeof v === 'number' ? v : Float64Array.from(v as number[]);
}

function optionsOf(q: Request, extra: Partial<SampleOptions>): SampleOptions {
  const bias = q.logitBias
    ? { index: Int32Array.from(Object.keys(q.logitBias).map(Number)), value: Float64Array.from(Object.values(q.logitBias)) }
    : undefined;
  return {
    mapping: q.mapping,
    alpha: perRow(q.alpha),
    temperature: perRow(q.temperature),
    topK: perRow(q.topK),
    topP: perRow(q.topP),
    minP: perRow(q.minP),
    typicalP: perRow(q.typicalP),
    epsilon: perRow(q.epsilon),
    eta: perRow(q.eta),
    topNSigma: perRow(q.topNSigma),
    logitBias: bias,
    allowed: q.allowed ? Int32Array.from(q.allowed) : undefined,
    banned: q.banned ? Int32Array.from(q.banned) : undefined,
    n: q.n,
    seed: q.seed === undefined ? 1 : typeof q.seed === 'number' ? q.seed : Float64Array.from(q.seed),
    replacement: q.replacement,
    logprobsMode: q.logprobsMode,
    ...extra,
  };
}

function matrix(rowsIn: (number | null)[][]): { data: Float64Array; rows: number; cols: number } {
  const rows = rowsIn.length;
  const cols = rowsIn[0].length;
  const data = new Float64Array(rows * cols);
  rowsIn.forEach((row, r) => row.forEach((v, j) => (data[r * cols + j] = v === null ? -Infinity : v)));
  return { data, rows, cols };
}

function close(got: number, want: number): boolean {
  return Math.abs(got - want) <= DRAW_ATOL + DRAW_RTOL * Math.abs(want);
}

describe('sampleInto against vectors-2.json', () => {
  it('has the cases its README promises', () => {
    expect(doc.format).toBe(2);
    expect(filterCases.length).toBe(75);
    expect(drawCases.length).toBe(27);
  });

  it.each(filterCases.map((c) => [c.name, c] as const))('filter: %s', (_name, c) => {
    const { data, rows, cols } = matrix(c.request.logits);
    const outs: SampleOutputs = { samples: new Int32Array(rows), logprobs: new Float64Array(rows), topN: 64 };
    const failure = sampleInto(data, rows, cols, optionsOf(c.request, { n: 1, seed: 12345 }), outs);
    expect(failure).toBeNull();
    const width = Math.min(64, cols);
    const probs = c.expected.probs!;
    for (let r = 0; r < rows; r++) {
      const kept = c.expected.kept![r];
      const order = [...kept].sort((a, b) => probs[r][b] - probs[r][a] || a - b);
      const idx = Array.from(outs.topIndices!.subarray(r * width, (r + 1) * width));
      const lp = Array.from(outs.topLogprobs!.subarray(r * width, (r + 1) * width));
      expect(idx, `row ${r} classes`).toEqual([...order, ...new Array<number>(width - order.length).fill(-1)]);
      order.forEach((j, i) => expect(close(lp[i], Math.log(probs[r][j])), `row ${r} class ${j}: ${lp[i]} vs log ${probs[r][j]}`).toBe(true));
      for (let i = order.length; i < width; i++) expect(lp[i]).toBe(-Infinity);
      expect(kept).toContain(outs.samples[r]);
      expect(close(outs.logprobs![r], Math.log(probs[r][outs.samples[r]]))).toBe(true);
    }
  });

  it.each(drawCases.map((c) => [c.name, c] as const))('draw: %s', (_name, c) => {
    const q = c.request;
    const { data, rows, cols } = matrix(q.logits);
    const n = q.n ?? 1;
    const outs: SampleOutputs = {
      samples: new Int32Array(rows * n),
      logprobs: q.logprobs ? new Float64Array(rows * n) : undefined,
      topN: q.topLogprobs,
    };
    const failure = sampleInto(data, rows, cols, optionsOf(q, {}), outs);
    expect(failure).toBeNull();
    expect(Array.from(outs.samples)).toEqual(c.expected.samples!.flat());
    if (c.expected.logprobs) {
      const want = c.expected.logprobs.flat();
      want.forEach((v, i) => expect(close(outs.logprobs![i], v), `logprob ${i}: ${outs.logprobs![i]} vs ${v}`).toBe(true));
    }
    if (c.expected.topLogprobs) {
      const width = Math.max(1, Math.min(q.topLogprobs!, cols));
      c.expected.topLogprobs.forEach((t, r) => {
        const idx = Array.from(outs.topIndices!.subarray(r * width, (r + 1) * width));
        const lp = outs.topLogprobs!.subarray(r * width, (r + 1) * width);
        expect(idx).toEqual([...t.indices, ...new Array<number>(width - t.indices.length).fill(-1)]);
        t.logprobs.forEach((v, i) => expect(close(lp[i], v), `row ${r} top ${i}: ${lp[i]} vs ${v}`).toBe(true));
        for (let i = t.indices.length; i < width; i++) expect(lp[i]).toBe(-Infinity);
      });
    }
  });
});
