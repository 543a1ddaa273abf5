/**
 * Summarises V8 .cpuprofile files (from `node --cpu-prof`, e.g. `npm run load -- --cpu-prof DIR`):
 * for each file (one per thread: Node names them CPU.<date>.<time>.<pid>.<thread id>.<seq>, thread
 * 0 being the main thread), the sampled time by state (idle, GC, program, JS), then the top
 * functions by self time and by inclusive time. With --requests N, also ms per request.
 *
 *   npx tsx load/cpuprofile-top.ts [--top N] [--requests N] FILE.cpuprofile...
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const args = process.argv.slice(2);
let top = 25;
let requests = 0;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--requests') requests = Number(args[++i]);
  else files.push(args[i]);
}
if (!files.length) {
  process.stderr.write('usage: npx tsx load/cpuprofile-top.ts [--top N] [--requests N] FILE.cpuprofile...\n');
  process.exit(2);
}

function where(f: CallFrame): string {
  if (!f.url) return '';
  let u = f.url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) u = u.slice(nm + 'node_modules/'.length);
  else if (u.includes('/dist/')) u = `dist/${u.slice(u.lastIndexOf('/dist/') + 6)}`;
  return `${u}:${f.lineNumber + 1}`;
}

/** pino, fastify, @fastify/x, dist/codecs/v1-json.js, node:internal/..., or (native) / (program) / (gc). */
function moduleOf(f: CallFrame): string {
  if (!f.url) return f.functionName.startsWith('(') ? f.functionName : '(native: syscalls, builtins)';
  const u = f.url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = u.slice(nm + 'node_modules/'.length).split('/');
    return parts[0].startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0];
  }
  if (u.includes('/dist/')) return `dist/${u.slice(u.lastIndexOf('/dist/') + 6)}`;
  if (u.startsWith('node:')) return u.replace(/^node:(internal\/)?/, 'node:').split('/')[0];
  return u;
}

function key(f: CallFrame): string {
  return `${f.functionName || '(anonymous)'} ${where(f)}`.trim();
}

const fmt = (ms: number) => ms.toFixed(1).padStart(9);
const perReq = (ms: number) => (requests ? ((ms / requests).toFixed(4) + ' ms/req').padStart(16) : '');

for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  // Self time of each node: sample i lasts until sample i + 1 (timeDeltas[i + 1], in us).
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const dt = i + 1 < p.timeDeltas.length ? p.timeDeltas[i + 1] : 0;
    selfUs.set(p.samples[i], (selfUs.get(p.samples[i]) ?? 0) + dt);
  }
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const byModule = new Map<string, number>();
  let totalUs = 0;
  const special = { idle: 0, gc: 0, program: 0 };
  for (const [id, us] of selfUs) {
    totalUs += us;
    const n = byId.get(id)!;
    const name = n.callFrame.functionName;
    if (name === '(idle)') special.idle += us;
    else if (name === '(garbage collector)') special.gc += us;
    else if (name === '(program)') special.program += us;
    const k = key(n.callFrame);
    self.set(k, (self.get(k) ?? 0) + us);
    const mod = moduleOf(n.callFrame);
    byModule.set(mod, (byModule.get(mod) ?? 0) + us);
    // Inclusive: once per distinct function on the stack.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const ck = key(byId.get(cur)!.callFrame);
      if (seen.has(ck)) continue;
      seen.add(ck);
      incl.set(ck, (incl.get(ck) ?? 0) + us);
    }
  }
  const busyUs = totalUs - special.idle;
  const m = /CPU\.\d+\.\d+\.(\d+)\.(\d+)\.\d+\.cpuprofile$/.exec(path.basename(file));
  const thread = m ? (m[2] === '0' ? `main thread (pid ${m[1]})` : `thread ${m[2]} (pid ${m[1]}; a worker)`) : '';
  console.log(`\n### ${path.basename(file)} ${thread}`);
  console.log(
    `wall ${((p.endTime - p.startTime) / 1000).toFixed(0)} ms sampled; busy ${(busyUs / 1000).toFixed(1)} ms` +
      `${requests ? ` (${(busyUs / 1000 / requests).toFixed(4)} ms/req over ${requests} requests)` : ''}; ` +
      `idle ${(special.idle / 1000).toFixed(1)}, GC ${(special.gc / 1000).toFixed(1)}, (program) ${(special.program / 1000).toFixed(1)} ms`,
  );
  const skip = new Set(['(idle)', '(root)']);
  const print = (title: string, map: Map<string, number>) => {
    console.log(`-- top ${top} by ${title} (ms, % of busy)`);
    [...map.entries()]
      .filter(([k]) => !skip.has(k))
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .forEach(([k, us]) => console.log(`${fmt(us / 1000)} ${((100 * us) / busyUs).toFixed(1).padStart(5)}% ${perReq(us / 1000)}  ${k}`));
  };
  print('self time', self);
  print('inclusive time', incl);
  print('self time per module (package, dist/ file, node: internal, or native)', byModule);
}
