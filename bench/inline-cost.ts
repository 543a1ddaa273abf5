/**
 * Main-thread time of the worst inline requests (test/helpers/worst-inline.ts) beside the cost
 * model's estimate (src/pool/cost.ts jobCostNs), one thread, no HTTP:
 *   npx tsx bench/inline-cost.ts            a table
 *   npx tsx bench/inline-cost.ts --json     one JSON object per line
 *   npx tsx bench/inline-cost.ts --only sample    the cases whose name contains "sample"
 * Columns: parsed by = where the service parses the body (src/pool/jobs.ts; a body with many
 * strings goes to a worker, and its times here are the worker's); parse = prepareBytes (the byte
 * scanner or JSON.parse, and the validation); work = the kernel and the answer's JSON text
 * (run + encode, what the model bounds); total = both, the time an inline request holds
 * the event loop (Fastify's own few tens of us aside). Median and max over repeated calls after
 * warm-up (the max is mostly the machine: collections and other processes). `unit` is the
 * softmax unit (src/core/cost.ts) measured in the same run: load = unit / SOFTMAX_UNIT_NS says
 * how much slower than the model's reference this run was. work/model above 1 is a request the
 * model underestimates.
 */
import { SOFTMAX_UNIT_NS } from '../src/core/cost.js';
import { softmax } from '../src/core/softmax.js';
import { DEFAULTS } from '../src/config.js';
import { encode, prepareBytes } from '../src/codecs/v1-json.js';
import { run, type Job } from '../src/ops/index.js';
import { jobCostNs } from '../src/pool/cost.js';
import { worstInlineBodies } from '../test/helpers/worst-inline.js';

const json = process.argv.includes('--json');
const limits = { maxElements: DEFAULTS.maxElements };

function stats(xs: number[]): { median: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  return { median: s[s.length >> 1], max: s[s.length - 1] };
}

/** The softmax unit now: ns per element of a 16 x 4096 standard-normal softmax (median). */
function unitNs(): number {
  const data = Float64Array.from({ length: 16 * 4096 }, (_, i) => Math.sin(i * 12.9898) * 2);
  const out = new Float64Array(data.length);
  const ts: number[] = [];
  for (let i = 0; i < 60; i++) {
    const t = performance.now();
    softmax(data, 16, 4096, 1, out);
    ts.push(performance.now() - t);
  }
  return (stats(ts.slice(10)).median * 1e6) / data.length;
}

const onlyAt = process.argv.indexOf('--only');
const only = onlyAt > 0 ? process.argv[onlyAt + 1] : undefined;
const bodies = worstInlineBodies().filter((w) => only === undefined || w.name.includes(only));
const unit = unitNs();
const rows: string[][] = [];
for (const w of bodies) {
  const parse: number[] = [];
  const work: number[] = [];
  const total: number[] = [];
  let model = 0;
  const t0 = performance.now();
  for (let i = 0; i < 15 || (performance.now() - t0 < 400 && i < 300); i++) {
    const a = performance.now();
    let job: Job | undefined;
    try {
      job = prepareBytes(w.endpoint, w.body, limits);
    } catch (e) {
      if (w.status === 200) throw e;
    }
    const b = performance.now();
    if (job) {
      model = jobCostNs(job);
      encode(job, run(job));
    }
    const c = performance.now();
    if (i >= 5) {
      parse.push(b - a);
      work.push(c - b);
      total.push(c - a);
    }
  }
  const p = stats(parse);
  const k = stats(work);
  const t = stats(total);
  const ratio = model ? (k.median * 1e6) / model : NaN;
  if (json) {
    console.log(JSON.stringify({ case: w.name, endpoint: w.endpoint, inline: w.inline, bytes: w.body.length, status: w.status, modelMs: model / 1e6, parseMs: p, workMs: k, totalMs: t, workOverModel: ratio, unitNs: unit }));
  } else {
    rows.push([
      w.name,
      w.inline ? 'inline' : 'worker',
      String(w.body.length),
      model ? (model / 1e6).toFixed(3) : '-',
      p.median.toFixed(3),
      k.median.toFixed(3),
      t.median.toFixed(3),
      t.max.toFixed(3),
      model ? ratio.toFixed(2) : '-',
    ]);
  }
}
if (!json) {
  const header = ['case', 'parsed by', 'bytes', 'model ms', 'parse ms', 'work ms', 'total ms', 'total max', 'work/model'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(
    `node ${process.version}; softmax unit ${unit.toFixed(2)} ns (model ${SOFTMAX_UNIT_NS}: load x${(unit / SOFTMAX_UNIT_NS).toFixed(2)}); ` +
      `inlineMaxBytes ${DEFAULTS.inlineMaxBytes}, inlineMaxNs ${DEFAULTS.inlineMaxNs}; medians unless "max"`,
  );
  console.log(line(header));
  console.log(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) console.log(line(r));
}
