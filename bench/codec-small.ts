/**
 * Per-request codec time of the small scenario (load/scenarios.ts sample 1x50) on /v1 JSON and
 * OIP v2 JSON, one thread, no HTTP: decode (bytes to a Job), run (the kernel), encode (the
 * answer's text), and the three together. Median of rounds of many calls, after a warm-up.
 *   npx tsx bench/codec-small.ts [--rounds N]
 */
import { codec } from '../src/codecs/index.js';
import { run, type OpName } from '../src/ops/index.js';
import { scenarios } from '../load/scenarios.js';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1]) || 15;
const PER_ROUND = 20_000;
const limits = { maxElements: 16 * 1024 * 1024 };
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];

for (const key of ['sample-1x50', 'sample-1x50-v2']) {
  const s = scenarios().find((x) => x.key === key)!;
  const v2 = s.path.startsWith('/v2/');
  const c = codec(v2 ? 'oip' : 'v1-json');
  const op = (v2 ? 'sample' : s.path.slice(4)) as OpName;
  const raw = Buffer.from(s.body);
  const t: Record<'decode' | 'run' | 'encode' | 'all', number[]> = { decode: [], run: [], encode: [], all: [] };
  for (let r = -3; r < rounds; r++) {
    let t0 = performance.now();
    for (let i = 0; i < PER_ROUND; i++) c.decode(op, raw, limits);
    const dec = performance.now() - t0;
    const job = c.decode(op, raw, limits);
    t0 = performance.now();
    for (let i = 0; i < PER_ROUND; i++) run(job);
    const kern = performance.now() - t0;
    const outs = run(job);
    t0 = performance.now();
    for (let i = 0; i < PER_ROUND; i++) c.encode(job, outs);
    const enc = performance.now() - t0;
    t0 = performance.now();
    for (let i = 0; i < PER_ROUND; i++) {
      const j = c.decode(op, raw, limits);
      c.encode(j, run(j));
    }
    const all = performance.now() - t0;
    if (r < 0) continue;
    const us = (ms: number) => (ms * 1000) / PER_ROUND;
    t.decode.push(us(dec));
    t.run.push(us(kern));
    t.encode.push(us(enc));
    t.all.push(us(all));
  }
  console.log(`${s.name.padEnd(22)} ${Object.entries(t).map(([k, xs]) => `${k} ${median(xs).toFixed(2)} us`).join('   ')}`);
}
