import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The repository stands alone: a fresh clone with nothing beside it runs and passes its tests.
 * So no tracked file may reach outside it for data (the reference vectors once lived beside the
 * repository and three test files read them from there).
 */
const root = fileURLToPath(new URL('..', import.meta.url));

describe('the repository stands alone', () => {
  it('no tracked source, test or script refers to a path beside the repository', () => {
    const files = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' })
      .split('\n')
      .filter((f) => /\.(ts|mts|js|mjs|json|sh|ya?ml|py)$|^\.ci\/|Dockerfile$/.test(f) && !f.startsWith('test/fixtures/'));
    expect(files.length).toBeGreaterThan(50);
    const offenders = files.filter((f) => /\.\.\/(\.\.\/)*shared\b/.test(readFileSync(`${root}/${f}`, 'utf8')));
    expect(offenders).toEqual([]);
  });

  it('tracks no compiled Python', () => {
    const tracked = execFileSync('git', ['ls-files'], { cwd: root, encoding: 'utf8' }).split('\n');
    expect(tracked.filter((f) => f.includes('__pycache__') || f.endsWith('.pyc'))).toEqual([]);
  });
});
