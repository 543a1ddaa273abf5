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
 * Phases (median ms of N runs after a warm-up): utf8 decode of the raw body, JSON.parse,
 * prepare() (Zod on the scalar fields + the hand-written matrix check), compute() (kernel and
 * the JSON text of the answer), assemble(), then the whole worker task (dist/worker.js run(), as
 * the pool calls it) and a structured clone of its result (what postMessage does to the answer).
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { scenarios } from './scenarios.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p: string) => pathToFileURL(path.join(ROOT, 'dist', p)).href;

type EndpointName = 'sample' | 'softmax';
interface Job {
  rows: number;
  cols: number;
  work: number;
}
const endpoints = (await import(dist('jobs/endpoints.js'))) as {
  parseJson(text: string): unknown;
  prepare(endpoint: EndpointName, body: unknown, limits: { maxElements: number }): Job;
  compute(job: Job): string[];
  assemble(job: Job, pieces: string[][]): string;
};
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

for (const s of scenarios()) {
  if (s.server !== 'service' || (only ? !only.includes(s.key) : s.body.length < 64 * 1024)) continue;
  const endpoint = s.path.slice('/v1/'.length) as EndpointName;
  const raw = Buffer.from(s.body);
  const t: Record<string, number[]> = { decode: [], 'JSON.parse': [], prepare: [], compute: [], assemble: [], 'worker run() total': [], 'structuredClone(result)': [] };
  for (let it = -5; it < iterations; it++) {
    const rec = (name: string, ms: number) => it >= 0 && t[name].push(ms);
    let t0 = performance.now();
    const text = raw.toString('utf8');
    let t1 = performance.now();
    rec('decode', t1 - t0);
    t0 = t1;
    const parsed = endpoints.parseJson(text);
    t1 = performance.now();
    rec('JSON.parse', t1 - t0);
    t0 = t1;
    const job = endpoints.prepare(endpoint, parsed, limits);
    t1 = performance.now();
    rec('prepare', t1 - t0);
    t0 = t1;
    const pieces = endpoints.compute(job);
    t1 = performance.now();
    rec('compute', t1 - t0);
    t0 = t1;
    endpoints.assemble(job, [pieces]);
    t1 = performance.now();
    rec('assemble', t1 - t0);

    const body = new Uint8Array(raw); // a copy, as the pool transfers its own
    t0 = performance.now();
    const result = worker.default({ kind: 'body', endpoint, body, limits, splitMinWork: SPLIT_MIN_WORK, enqueuedAt: Date.now() });
    t1 = performance.now();
    rec('worker run() total', t1 - t0);
    if (result.kind !== 'done') throw new Error(`${s.name}: worker answered ${result.kind}`);
    t0 = performance.now();
    structuredClone(result);
    rec('structuredClone(result)', performance.now() - t0);
  }
  console.log(`\n${s.name} (${(raw.length / 1024).toFixed(0)} KiB body), median of ${iterations} runs, one thread:`);
  for (const [name, xs] of Object.entries(t)) console.log(`  ${name.padEnd(24)} ${median(xs).toFixed(2).padStart(8)} ms`);
}
