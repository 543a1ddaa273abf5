import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The load scripts run the built server (dist/); this keeps it in step with src/. */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

function newestMtime(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let m = st.mtimeMs;
  for (const e of readdirSync(p)) m = Math.max(m, newestMtime(path.join(p, e)));
  return m;
}

/**
 * Runs `npm run build` when dist/server.js is missing or older than src/ or the tsconfigs
 * ('auto'), always ('always'), or never ('never': only warns if stale). `say` reports.
 */
export function ensureBuilt(mode: 'auto' | 'always' | 'never', say: (s: string) => void): void {
  const server = path.join(ROOT, 'dist', 'server.js');
  let stale = true;
  try {
    const inputs = Math.max(
      newestMtime(path.join(ROOT, 'src')),
      newestMtime(path.join(ROOT, 'tsconfig.json')),
      newestMtime(path.join(ROOT, 'tsconfig.build.json')),
    );
    stale = statSync(server).mtimeMs < inputs;
  } catch {
    stale = true;
  }
  if (mode === 'never') {
    try {
      statSync(server);
    } catch {
      throw new Error('--no-build, but dist/server.js does not exist');
    }
    if (stale) say('warning: dist/ is older than src/ (--no-build: running it anyway)');
    return;
  }
  if (!stale && mode === 'auto') return;
  say(`building: npm run build (${stale ? 'dist/ is older than src/' : '--build'})`);
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status})`);
}
