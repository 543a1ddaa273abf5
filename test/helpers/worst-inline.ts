import { DEFAULTS, type Config } from '../../src/config.js';
import { entmax, entmaxStats } from '../../src/core/entmax.js';
import { prepareBytes } from '../../src/codecs/v1-json.js';
import { outputElements, type OpName as EndpointName } from '../../src/ops/index.js';
import { fewStrings, jobCostNs } from '../../src/pool/cost.js';
import { rng } from './stats.js';

/**
 * The costliest requests that the service still runs on its main thread: for each kernel and each
 * way we know to make it slow (huge alpha on tied rows, rows where the entmax solver bisects,
 * alpha just above 1, Michelot's ladder, the most draws, soft Gumbel noise, masked log-softmax,
 * one class per row, bodies of 17-digit numbers, many unknown members, deep nesting), the
 * largest body whose placement is still inline: at most inlineMaxBytes, and a worst-case cost
 * (src/pool/cost.ts) of at most inlineMaxNs. The size is found by bisection on the cost model
 * itself, so a change of the model moves these requests with it. Bodies that are refused (400)
 * are parsed and validated on the main thread too, and are sized by bytes alone.
 * Used by test/pool/placement.test.ts (a lag probe under a flood of these), bench/inline-cost.ts
 * (each one's main-thread time beside the model's estimate) and load/lag.ts.
 */

export interface WorstBody {
  name: string;
  endpoint: EndpointName;
  body: Buffer;
  /** The status the service answers it with. */
  status: 200 | 400;
  /** Whether the main thread parses it (and, for a 200, computes it): src/pool/jobs.ts's rule. */
  inline: boolean;
  /** The model's worst-case cost (ns) of a 200, as placement computes it. */
  costNs?: number;
}

type Limits = Pick<Config, 'inlineMaxBytes' | 'inlineMaxStrings' | 'inlineMaxNs' | 'maxElements' | 'streamMinElements'>;

interface Family {
  name: string;
  endpoint: EndpointName;
  /** Shape and scalar fields for size s (monotone: a larger s costs more and takes more bytes). */
  at(s: number): { rows: number; cols: number; params: Record<string, unknown> };
  /** The text of element (r, j) of a (rows x cols) matrix. */
  value(r: number, j: number, rows: number, cols: number): string;
  field?: 'logits' | 'probs';
  /** Sizes to search: [1, max]. */
  max?: number;
}

const normalText = (seed: number) => {
  const u = rng(seed);
  return () => String(Math.sqrt(-2 * Math.log(u() + 2 ** -33)) * Math.cos(2 * Math.PI * u()));
};

/** A body as the service reads it (scalars first, the matrix last). */
function bodyOf(f: Family, s: number): string {
  const { rows, cols, params } = f.at(s);
  const parts: string[] = [];
  for (const [k, v] of Object.entries(params)) parts.push(`${JSON.stringify(k)}:${JSON.stringify(v)}`);
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    const row: string[] = [];
    for (let j = 0; j < cols; j++) row.push(f.value(r, j, rows, cols));
    lines.push(`[${row.join(',')}]`);
  }
  parts.push(`"${f.field ?? 'logits'}":[${lines.join(',')}]`);
  return `{${parts.join(',')}}`;
}

/** The model's cost of size s, from the parsed body (what placement sees). */
function placedInline(f: Family, s: number, limits: Limits): { ok: boolean; body: Buffer; costNs: number } {
  // Every element takes at least two bytes ("0,"): too big without building it.
  const { rows, cols } = f.at(s);
  if (2 * rows * cols > limits.inlineMaxBytes) return { ok: false, body: Buffer.alloc(0), costNs: Infinity };
  const body = Buffer.from(bodyOf(f, s));
  if (body.length > limits.inlineMaxBytes || !fewStrings(body, limits.inlineMaxStrings)) return { ok: false, body, costNs: Infinity };
  const job = prepareBytes(f.endpoint, body, { maxElements: limits.maxElements });
  const costNs = jobCostNs(job);
  const ok = costNs <= limits.inlineMaxNs && outputElements(job) < limits.streamMinElements;
  return { ok, body, costNs };
}

/** The largest size of a family that is still placed inline (bisection: cost and bytes grow with s). */
function largestInline(f: Family, limits: Limits): WorstBody | undefined {
  let lo = 0;
  let hi = (f.max ?? limits.inlineMaxBytes) + 1;
  let best: { body: Buffer; costNs: number } | undefined;
  while (hi - lo > 1) {
    const mid = (lo + hi) >>> 1;
    const p = placedInline(f, mid, limits);
    if (p.ok) {
      lo = mid;
      best = p;
    } else hi = mid;
  }
  return best && { name: `${f.name} (${describe(f, lo)})`, endpoint: f.endpoint, body: best.body, status: 200, inline: true, costNs: best.costNs };
}

function describe(f: Family, s: number): string {
  const { rows, cols, params } = f.at(s);
  return `${rows}x${cols}${typeof params.n === 'number' && params.n > 1 ? ` n=${params.n}` : ''}`;
}

/**
 * Rows of `cols` classes on which entmax(alpha) makes the most solver passes (a few near-tied
 * classes on a 2^-10 grid, where Newton stalls beside a kink, padded below the top with classes
 * every pass visits, or far below), as text; the best `count` of `tries` seeded candidates.
 */
function stallRows(cols: number, alpha: number, tries: number, count: number, keep: boolean): string[][] {
  const found: { passes: number; row: string[] }[] = [];
  for (let t = 0; t < tries; t++) {
    const u = rng(7000 + t);
    const row = new Float64Array(cols);
    const head = 2 + Math.floor(u() * 4);
    for (let j = 0; j < cols; j++) row[j] = j < head ? Math.round((u() - 0.5) * 4096) / 1024 : keep ? -0.25 - u() * 0.05 : -1e3;
    entmax(row, 1, cols, alpha);
    found.push({ passes: entmaxStats.passes, row: Array.from(row, String) });
  }
  found.sort((a, b) => b.passes - a.passes);
  return found.slice(0, count).map((f) => f.row);
}

function families(limits: Limits): Family[] {
  const fs: Family[] = [];
  const zero = () => '0';
  const oneRow = (params: Record<string, unknown> = {}) => (s: number) => ({ rows: 1, cols: s, params });
  const rowsOf = (cols: number, params: Record<string, unknown> = {}) => (s: number) => ({ rows: s, cols, params });
  // A fixed table of 17-digit normal values, indexed by position, so a body's prefix does not
  // depend on its size (the bisection compares sizes of one family).
  const table = Array.from({ length: 40_000 }, normalText(11));
  const normal = (r: number, j: number, _rows: number, cols: number) => table[(r * cols + j) % table.length];

  // entmax: huge alpha on tied rows (closed form now; the model still charges every pass).
  for (const alpha of [3, 50, 1e6]) {
    fs.push({ name: `entmax alpha=${alpha} tied`, endpoint: 'entmax', at: oneRow({ alpha }), value: zero });
    fs.push({ name: `entmax alpha=${alpha} tied`, endpoint: 'entmax', at: rowsOf(2, { alpha }), value: zero });
  }
  // entmax: short rows whose solver bisects (the per-row fixed work), and one wide stalling row.
  for (const alpha of [3, 10]) {
    const rows = stallRows(10, alpha, 400, 32, false);
    fs.push({ name: `entmax alpha=${alpha} bisecting rows`, endpoint: 'entmax', at: rowsOf(10, { alpha }), value: (r, j) => rows[r % rows.length][j] });
  }
  for (const alpha of [3, 10, 50]) {
    // The widest inline row, found from the model (it does not depend on the values).
    const cols = largestInline({ name: '', endpoint: 'entmax', at: oneRow({ alpha }), value: zero }, limits);
    const width = cols ? JSON.parse(cols.body.toString()).logits[0].length : 64;
    const [row] = stallRows(width, alpha, 60, 1, true);
    fs.push({ name: `entmax alpha=${alpha} stalling row`, endpoint: 'entmax', at: (s) => ({ rows: 1, cols: Math.min(s, width), params: { alpha } }), value: (_r, j) => row[j], max: width });
  }
  // entmax near and above alpha = 1 (the near-1 series below 1 + 1/64, the x form above).
  for (const alpha of [1 + 1e-9, 1.001, 1.01, 1.02, 1.3, 1.5]) {
    fs.push({ name: `entmax alpha=${alpha}`, endpoint: 'entmax', at: oneRow({ alpha }), value: normal });
    fs.push({ name: `entmax alpha=${alpha}`, endpoint: 'entmax', at: rowsOf(2, { alpha }), value: normal });
  }
  // sparsemax: Michelot's ladder (one class shed per pass), ties, one class per row.
  fs.push({ name: 'sparsemax ladder', endpoint: 'sparsemax', at: oneRow(), value: (_r, j) => String(-j * 2 ** -12) });
  fs.push({ name: 'sparsemax tied', endpoint: 'sparsemax', at: oneRow(), value: zero });
  fs.push({ name: 'sparsemax', endpoint: 'sparsemax', at: rowsOf(1), value: zero });
  // softmax: log with masks (null), 17-digit rows, one class per row.
  const masked = (r: number, j: number) => (j === r % 7 ? '0' : 'null');
  fs.push({ name: 'softmax log masked', endpoint: 'softmax', at: oneRow({ log: true }), value: masked });
  fs.push({ name: 'softmax log masked', endpoint: 'softmax', at: rowsOf(64, { log: true }), value: masked });
  fs.push({ name: 'softmax 17-digit', endpoint: 'softmax', at: oneRow(), value: normal });
  fs.push({ name: 'softmax', endpoint: 'softmax', at: rowsOf(1), value: zero });
  // argmax: parse-bound (32k short numbers, or 17-digit ones), and one class per row.
  fs.push({ name: 'argmax zeros', endpoint: 'argmax', at: oneRow(), value: zero });
  fs.push({ name: 'argmax 17-digit', endpoint: 'argmax', at: oneRow(), value: normal });
  fs.push({ name: 'argmax', endpoint: 'argmax', at: rowsOf(1), value: zero });
  // gumbel-softmax: soft (two logs per class), probs input, one class per row.
  fs.push({ name: 'gumbel-softmax soft', endpoint: 'gumbel-softmax', at: oneRow({ seed: 1 }), value: normal });
  fs.push({ name: 'gumbel-softmax soft probs', endpoint: 'gumbel-softmax', at: oneRow({ seed: 1 }), value: (r, j) => String(1 + ((r * 7919 + j) % 97) / 97), field: 'probs' });
  fs.push({ name: 'gumbel-softmax soft', endpoint: 'gumbel-softmax', at: rowsOf(1, { seed: 1 }), value: zero });
  // sample: the most draws (flat rows: no class can be skipped), with and without filters.
  fs.push({ name: 'sample flat', endpoint: 'sample', at: (n) => ({ rows: 1, cols: 2, params: { n, seed: 1 } }), value: zero });
  fs.push({ name: 'sample flat', endpoint: 'sample', at: (n) => ({ rows: 1, cols: 64, params: { n, seed: 1 } }), value: zero });
  fs.push({
    name: 'sample entmax 1.5 topK topP minP flat',
    endpoint: 'sample',
    at: (n) => ({ rows: 1, cols: 16, params: { mapping: 'entmax', alpha: 1.5, topK: 15, topP: 1, minP: 0, n, seed: 1 } }),
    value: zero,
  });
  fs.push({ name: 'sample sparsemax probs', endpoint: 'sample', at: (n) => ({ rows: 1, cols: 8, params: { mapping: 'sparsemax', n, seed: 1 } }), value: () => '0.5', field: 'probs' });
  fs.push({ name: 'sample topK topP 17-digit', endpoint: 'sample', at: oneRow({ topK: 1000, topP: 0.999, seed: 1 }), value: normal });
  fs.push({ name: 'sample', endpoint: 'sample', at: rowsOf(1, { seed: 1 }), value: zero });
  fs.push({ name: 'sample entmax alpha=10 topP', endpoint: 'sample', at: rowsOf(2, { mapping: 'entmax', alpha: 10, topP: 0.5, seed: 1 }), value: normal });
  // score: alpha just above 1 (the support is the whole row: a log, an exp and an expm1 per class
  // on top of entmax), 17-digit softmax rows, and short rows (per-row work, and a target each).
  const targetsOf = (rows: number) => Array.from({ length: rows }, () => 0);
  fs.push({ name: 'score entmax alpha=1.001', endpoint: 'score', at: (s) => ({ rows: 1, cols: s, params: { targets: [0], mapping: 'entmax', alpha: 1.001 } }), value: normal });
  fs.push({ name: 'score entmax alpha=1.3', endpoint: 'score', at: (s) => ({ rows: s, cols: 10, params: { targets: targetsOf(s), mapping: 'entmax', alpha: 1.3 } }), value: normal });
  fs.push({ name: 'score softmax 17-digit', endpoint: 'score', at: (s) => ({ rows: 1, cols: s, params: { targets: [0] } }), value: normal });
  fs.push({ name: 'score sparsemax', endpoint: 'score', at: (s) => ({ rows: s, cols: 1, params: { targets: targetsOf(s), mapping: 'sparsemax' } }), value: zero });
  return fs;
}

/**
 * Bodies of at most `bytes` that are refused with a 400 once parsed whole: by the main thread if
 * they have few strings, else (thousands of members) by a worker.
 */
function refused(bytes: number): Omit<WorstBody, 'inline'>[] {
  const out: Omit<WorstBody, 'inline'>[] = [];
  const fill = (open: string, item: (i: number) => string, close: string, max = bytes) => {
    let s = open;
    for (let i = 0; ; i++) {
      const next = item(i);
      if (s.length + next.length + close.length > max) break;
      s += next;
    }
    return Buffer.from(s + close);
  };
  for (const [endpoint, extra] of [['argmax', ''], ['sample', ',"seed":1']] as const) {
    out.push({
      name: `${endpoint} unknown members`,
      endpoint,
      body: fill('{"logits":[[1]]', (i) => `,"k${i}":0`, `${extra}}`),
      status: 400,
    });
  }
  // Just under the byte scanner's threshold (src/codecs/v1-json.ts FAST_MIN_BYTES): JSON.parse and Zod.
  out.push({ name: 'softmax unknown members (JSON.parse path)', endpoint: 'softmax', body: fill('{"logits":[[1]]', (i) => `,"k${i}":0`, '}', 16 * 1024 - 1), status: 400 });
  // Names the seed's text check decodes with JSON.parse (escaped, about as long as "seed").
  out.push({ name: 'sample escaped unknown members', endpoint: 'sample', body: fill('{"logits":[[1]],"seed":1', (i) => `,"\\u00${(0x61 + (i % 26)).toString(16)}${i}":0`, '}'), status: 400 });
  const depth = Math.floor((bytes - 32) / 2);
  out.push({ name: 'entmax deep unknown value', endpoint: 'entmax', body: Buffer.from(`{"logits":[[1]],"x":${'['.repeat(depth)}${']'.repeat(depth)}}`), status: 400 });
  out.push({ name: 'softmax escaped string value', endpoint: 'softmax', body: fill('{"logits":[[1]],"x":"', () => '\\u0041', '"}'), status: 400 });
  out.push({ name: 'sample deep known value', endpoint: 'sample', body: Buffer.from(`{"logits":[[1]],"seed":1,"temperature":${'['.repeat(depth - 8)}${']'.repeat(depth - 8)}}`), status: 400 });
  // As many strings as the main thread parses: 20 unknown members (all listed, beside the other
  // issues, by Zod) with long escaped names and nested values.
  const long = (i: number) => `x${i}${'\\u0041'.repeat(Math.floor((bytes - 100 - 20 * 92) / (20 * 6)))}`;
  const twenty = Array.from({ length: 20 }, (_, i) => `"${long(i)}":[[${'['.repeat(40)}${']'.repeat(40)}]]`).join(',');
  out.push({ name: 'sample 20 long unknown members', endpoint: 'sample', body: Buffer.from(`{"logits":[[1]],"seed":1,"n":0,${twenty}}`), status: 400 });
  return out;
}

/** Valid bodies whose cost is all in their parsing: a known member repeated (JSON.parse keeps the last). */
function repeated(bytes: number): Omit<WorstBody, 'inline'>[] {
  const body = (open: string, item: string, close: string) => Buffer.from(open + item.repeat(Math.floor((bytes - open.length - close.length) / item.length)) + close);
  return [
    { name: 'sample repeated seed', endpoint: 'sample', body: body('{"logits":[[1,2]]', ',"seed":12345', '}'), status: 200 },
    { name: 'softmax repeated temperature', endpoint: 'softmax', body: body('{"logits":[[1,2]]', ',"temperature":1.5', '}'), status: 200 },
    { name: 'sample repeated escaped seed', endpoint: 'sample', body: body('{"logits":[[1,2]]', ',"se\\u0065d":1', '}'), status: 200 },
    // The most strings the main thread parses, the matrix filling the rest.
    {
      name: 'argmax 31 repeated escaped members',
      endpoint: 'argmax',
      body: Buffer.from(`{${',"logit\\u0073":[[1]]'.repeat(31).slice(1)},"logits":[[${'0,'.repeat(Math.floor((bytes - 31 * 22 - 32) / 2))}0]]}`),
      status: 200,
    },
  ];
}

/** The worst inline requests for these limits (the service's defaults unless given). */
export function worstInlineBodies(limits: Limits = DEFAULTS): WorstBody[] {
  const out: WorstBody[] = [];
  for (const f of families(limits)) {
    const w = largestInline(f, limits);
    if (w) out.push(w);
  }
  const parsedWhere = (w: Omit<WorstBody, 'inline'>): WorstBody => ({
    ...w,
    inline: w.body.length <= limits.inlineMaxBytes && fewStrings(w.body, limits.inlineMaxStrings),
  });
  return [...out, ...[...repeated(limits.inlineMaxBytes), ...refused(limits.inlineMaxBytes)].map(parsedWhere)];
}
