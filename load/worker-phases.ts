/**
 * Where a pool worker's time goes for the big-body scenarios of load/run.ts, phase by phase, on
 * one thread and without HTTP: the BUILT modules (dist/) that src/worker.ts runs, called on the
 * scenario's exact body. `npm run load -- --cpu-prof` profiles only the service's main thread (the
 * pool starts its workers with execArgv [], so they do not inherit --cpu-prof), so this is how the
 * worker side is measured; run it under --cpu-prof for a function-level profile.
 *
 *   npm run build && npx tsx load/worker-phases.ts [--iterations N] [--only KEY,KEY]
 *   node --cpu-prof --cpu-prof-dir DIR --import tsx load/worker-phases.ts --only sample-8x32000
 *
 * Phases (median ms of N runs after a warm-up): decode (the v1-json codec: the byte scanner,
 * Zod on the scalar fields), run (the kernel), encode (the JSON text of the answer), then the
 * whole worker task (dist/worker.js, as the pool calls it; its answer is moved, not cloned).
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { scenarios } from './scenarios.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p: string) => pathToFileURL(path.join(ROOT, 'dist', p)).href;

type OpName = 'sample' | 'softmax';
type Job = object;
const v1 = (await import(dist('codecs/v1-json.js'))) as {
  prepareBytes(op: OpName, body: Uint8Array, limits: { maxElements: number }): Job;
  encode(job: Job, outs: unknown[]): string;
};
const ops = (await import(dist('ops/index.js'))) as { run(job: Job): unknown[] };
const worker = (await import(dist('worker.js'))) as { default: (task: unknown) => { kind: string } };

const args = process.argv.slice(2);
let iterations = 30;
let only: string[] | undefined;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--iterations') iterations = Number(args[++i]);
  else if (args[i] === '--only') only = args[++i].split(',');
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const limits = { maxElements: 16 * 1024 * 1024 };
const SPLIT_MIN_WORK = 1 << 20; // DEFAULTS.splitMinWork
const STREAM_MIN = 1 << 16; // DEFAULTS.streamMinElements

for (const s of scenarios()) {
  if (s.server !== 'service' || (only ? !only.includes(s.key) : s.body.length < 64 * 1024)) continue;
  const op = s.path.slice('/v1/'.length) as OpName;
  const raw = Buffer.from(s.body);
  const t: Record<string, number[]> = { decode: [], run: [], encode: [], 'worker task total': [] };
  for (let it = -5; it < iterations; it++) {
    const rec = (name: string, ms: number) => it >= 0 && t[name].push(ms);
    let t0 = performance.now();
    const job = v1.prepareBytes(op, raw, limits);
    let t1 = performance.now();
    rec('decode', t1 - t0);
    t0 = t1;
    const outs = ops.run(job);
    t1 = performance.now();
    rec('run', t1 - t0);
    t0 = t1;
    v1.encode(job, outs);
    rec('encode', performance.now() - t0);

    const body = new Uint8Array(raw); // a copy, as the pool moves its own
    t0 = performance.now();
    worker.default({ kind: 'body', codec: 'v1-json', op, body, limits, streamMinElements: STREAM_MIN, splitMinWork: SPLIT_MIN_WORK, enqueuedAt: Date.now() });
    rec('worker task total', performance.now() - t0);
  }
  console.log(`\n${s.name} (${(raw.length / 1024).toFixed(0)} KiB body), median of ${iterations} runs, one thread:`);
  for (const [name, xs] of Object.entries(t)) console.log(`  ${name.padEnd(24)} ${median(xs).toFixed(2).padStart(8)} ms`);
}
