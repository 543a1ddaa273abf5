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
 * Phases (median ms of N runs after a warm-up): decode (the scenario's codec: v1-json's byte
 * scanner and Zod on the scalar fields, or oip's header and typed-array conversion of binary
 * tensors), run (the kernel), encode (the whole answer: JSON text, or the header and binary
 * data), encode into room (/v1: the answer's bytes written into the shared room a body task
 * gets, as the pool's workers do), then the whole worker task (dist/worker.js, as the pool calls it; its answer is moved,
 * not cloned; a big job comes back as a job to split, as it would to the main thread).
 */
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { scenarios } from './scenarios.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = (p: string) => pathToFileURL(path.join(ROOT, 'dist', p)).href;

type OpName = 'sample' | 'softmax';
type Job = object;
type CodecName = 'v1-json' | 'oip';
interface Codec {
  decode(op: OpName, body: Uint8Array, limits: { maxElements: number }, alloc?: unknown, meta?: { headerLength?: number }): Job;
  encode(job: Job, outs: unknown[]): unknown;
  encodeInto?(job: Job, outs: unknown[], room: Uint8Array): number | undefined;
}
const codecs = (await import(dist('codecs/index.js'))) as { codec(name: CodecName): Codec };
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
  const v2 = /^\/v2\/models\/([^/]+)\/infer$/.exec(s.path);
  const op = (v2 ? v2[1] : s.path.slice('/v1/'.length)) as OpName;
  const codecName: CodecName = v2 ? 'oip' : 'v1-json';
  const c = codecs.codec(codecName);
  const given = s.headers['inference-header-content-length'];
  const meta = given === undefined ? undefined : { headerLength: Number(given) };
  const raw = Buffer.from(s.body);
  // The answer room the pool gives a body task (src/pool/jobs.ts answerRoomBytes).
  const answer = new Uint8Array(new SharedArrayBuffer(Math.min(STREAM_MIN, Math.floor(raw.length / 2) + 1) * 28 + 4096));
  const t: Record<string, number[]> = { decode: [], run: [], encode: [], 'encode into room': [], 'worker task total': [] };
  for (let it = -5; it < iterations; it++) {
    const rec = (name: string, ms: number) => it >= 0 && t[name].push(ms);
    let t0 = performance.now();
    const job = c.decode(op, raw, limits, undefined, meta);
    let t1 = performance.now();
    rec('decode', t1 - t0);
    t0 = t1;
    const outs = ops.run(job);
    t1 = performance.now();
    rec('run', t1 - t0);
    t0 = t1;
    c.encode(job, outs);
    rec('encode', performance.now() - t0);
    if (c.encodeInto) {
      t0 = performance.now();
      c.encodeInto(job, outs, answer);
      rec('encode into room', performance.now() - t0);
    }

    const body = new Uint8Array(raw); // a copy, as the pool moves its own
    t0 = performance.now();
    worker.default({ kind: 'body', codec: codecName, op, body, answer, meta, limits, streamMinElements: STREAM_MIN, splitMinWork: SPLIT_MIN_WORK, enqueuedAt: Date.now() });
    rec('worker task total', performance.now() - t0);
  }
  console.log(`\n${s.name} (${(raw.length / 1024).toFixed(0)} KiB body), median of ${iterations} runs, one thread:`);
  for (const [name, xs] of Object.entries(t)) console.log(`  ${name.padEnd(24)} ${median(xs).toFixed(2).padStart(8)} ms`);
}
