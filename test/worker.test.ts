import { Piscina } from 'piscina';
import { afterAll, describe, expect, it } from 'vitest';
import { chunkText, planOf } from '../src/codecs/v1-json.js';
import type { Layout, OutArray } from '../src/ops/index.js';
import runTask, { type Result, type Task } from '../src/worker.js';

/**
 * The worker's 'format' task with a part that writes two outputs (OutputSpec.zip): the other
 * output crosses with the task, in this thread and through a piscina thread over shared memory
 * (as src/pool/jobs.ts sends a streamed answer's chunks), and the chunks join to the whole text.
 */

const W = 4;
const ROWS = 300;
const layout: Layout[] = [
  {
    name: 'topLogprobIndices',
    type: 'i32',
    width: W,
    matrix: true,
    inPlace: false,
    ragged: { pad: -1 },
    zip: { with: 'topLogprobs', as: 'topLogprobs', keys: ['indices', 'logprobs'] },
  },
  { name: 'topLogprobs', type: 'f64', width: W, matrix: true, inPlace: false, ragged: { pad: -Infinity } },
];

/** Row r keeps r % (W + 1) entries, on shared memory. */
function outputs(): [Int32Array, Float64Array] {
  const idx = new Int32Array(new SharedArrayBuffer(ROWS * W * 4)).fill(-1);
  const lps = new Float64Array(new SharedArrayBuffer(ROWS * W * 8)).fill(-Infinity);
  for (let r = 0; r < ROWS; r++) {
    for (let t = 0; t < r % (W + 1); t++) {
      idx[r * W + t] = (r * 31 + t * 7) % 1000;
      lps[r * W + t] = -(t + 1) * (r + 0.125);
    }
  }
  return [idx, lps];
}

const part = planOf(layout, '}').parts[0];
const task = (buf: OutArray, other: OutArray, i0: number, i1: number): Task => ({
  kind: 'format',
  codec: 'v1-json',
  buf,
  other,
  width: W,
  matrix: true,
  form: part.form,
  i0,
  i1,
  enqueuedAt: 0,
});
/** A format task's bytes: a worker hands them over with piscina's move(), the result under its value symbol. */
const textOf = (r: Result | Record<symbol, Result>): string => {
  const result = (Piscina.valueSymbol in r ? (r as Record<symbol, Result>)[Piscina.valueSymbol] : r) as Result;
  expect(result.kind).toBe('text');
  return Buffer.from((result as { bytes: Uint8Array }).bytes).toString('latin1');
};

let pool: Piscina | undefined;
afterAll(async () => {
  await pool?.destroy();
});

describe("the 'format' task of a zipped part", () => {
  const [idx, lps] = outputs();
  const whole = chunkText(idx, W, true, part.form, 0, ROWS * W, lps);

  it('is one object per row, only the entries before the padding', () => {
    const rows = JSON.parse(`[${whole}]`) as { indices: number[]; logprobs: number[] }[];
    expect(rows).toHaveLength(ROWS);
    rows.forEach((row, r) => {
      expect(row.indices).toHaveLength(r % (W + 1));
      expect(row.logprobs).toHaveLength(r % (W + 1));
    });
    expect(rows[0]).toEqual({ indices: [], logprobs: [] });
    expect(rows[2]).toEqual({ indices: [62, 69], logprobs: [-2.125, -4.25] });
  });

  it.each([1, 5, 64, 333])('in this thread, chunks of %i elements join to the whole', (size) => {
    let text = '';
    for (let at = 0; at < ROWS * W; at += size) text += textOf(runTask(task(idx, lps, at, Math.min(ROWS * W, at + size))) as Result);
    expect(text).toBe(whole);
  });

  it('through a piscina thread over shared memory, chunks join to the whole', async () => {
    pool = new Piscina({ filename: new URL('../src/worker.ts', import.meta.url).href, execArgv: ['--import', 'tsx'], minThreads: 1, maxThreads: 1, atomics: 'disabled' });
    const size = 97;
    const chunks: Promise<Result>[] = [];
    for (let at = 0; at < ROWS * W; at += size) chunks.push(pool.run(task(idx, lps, at, Math.min(ROWS * W, at + size))) as Promise<Result>);
    const text = (await Promise.all(chunks)).map(textOf).join('');
    expect(text).toBe(whole);
  });
});
