/**
 * Peak memory of big requests: `npx tsx load/memory.ts [flags]`.
 *
 * Each case (test/helpers/memory.ts MEM_CASES) runs on a fresh service process on 127.0.0.1
 * (PROCESSES=1, WORKERS=2, MEMORY_BUDGET_BYTES=1 GiB as a 2 GiB container gave one process, NODE_ENV=production):
 * its resident set once listening (base), its peak (VmHWM of /proc/<pid>/status, all threads)
 * after the case's requests, the most memory the budget had reserved meanwhile (sampled from
 * /metrics every 25 ms), and the bound the case is held to. Every case is bounded: a few
 * requests, each with a 120 s timeout.
 *
 * Flags:
 *   --only K,K      case keys (default: all); --list prints them
 *   --server FILE   a built server.js to run (e.g. a copy of an older build, for before / after);
 *                   default dist/server.js, built first when older than src/ (like load/run.ts)
 *   --tsx           run src/server.ts under tsx instead (adds ~60 MiB per thread of compiler)
 *   --label TEXT    a column to tell runs apart when tables are pasted together
 *   --json          one JSON object per case instead of the table
 * Exit code 1 when a case got an unexpected status; a bound MISSED is printed, not failed
 * (test/pool/memory.test.ts is the check).
 */
import { ensureBuilt } from './build.js';
import { MEM_CASES, runMemCase, type MemResult } from '../test/helpers/memory.js';

const args = process.argv.slice(2);
let only: string[] | undefined;
let server: string | undefined = 'dist/server.js';
let label = '';
let json = false;
let build = true;
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--only') only = args[++i].split(',');
  else if (a === '--server') {
    server = args[++i];
    build = false;
  } else if (a === '--tsx') {
    server = undefined;
    build = false;
  } else if (a === '--label') label = args[++i];
  else if (a === '--json') json = true;
  else if (a === '--list') {
    for (const c of MEM_CASES) console.log(`${c.key.padEnd(22)} ${c.what}`);
    process.exit(0);
  } else {
    console.error(`unknown flag ${a}; see the comment at the top of load/memory.ts`);
    process.exit(2);
  }
}
if (build) ensureBuilt('auto', (s) => console.error(s));

const cases = MEM_CASES.filter((c) => !only || only.includes(c.key));
if (only) for (const k of only) if (!MEM_CASES.some((c) => c.key === k)) throw new Error(`no case ${k}`);

const mib = (b: number) => (b / 2 ** 20).toFixed(0);
const header = ['case', 'req', 'body MiB', 'base MiB', 'peak MiB', 'peak-base', 'reserved max', 'bound MiB', 'bound rule', '', 's', 'statuses'];
if (label) header.unshift('run');
const rows: string[][] = [];
let failed = false;
for (const c of cases) {
  console.error(`${c.key}: ${c.what} ...`);
  const r: MemResult = await runMemCase(c, server);
  const statuses = [...new Set(r.answers.map((a) => a.status))].join(',');
  if (r.answers.some((a) => a.status !== c.status)) failed = true;
  const ok = r.peak < r.bound.bytes ? 'ok' : 'MISSED';
  if (json) {
    const { answers, ...rest } = r;
    console.log(JSON.stringify({ label, ...rest, statuses, ok, answerBytes: answers.map((a) => a.bytes) }));
    continue;
  }
  const row = [c.key, String(r.requests), mib(r.bodyBytes), mib(r.base), mib(r.peak), mib(r.peak - r.base), mib(r.reserved), mib(r.bound.bytes), r.bound.rule, ok, r.seconds.toFixed(1), statuses];
  if (label) row.unshift(label);
  rows.push(row);
}
if (!json) {
  const all = [header, ...rows];
  const width = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r: string[]) => `| ${r.map((v, i) => v.padEnd(width[i])).join(' | ')} |`;
  console.log(line(header));
  console.log(`|${width.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
}
process.exit(failed ? 1 : 0);
