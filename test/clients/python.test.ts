import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';

/**
 * clients/python against a live service over a real socket, with the machine's python3 in
 * isolated mode without site-packages (-I -S): the standard library only.
 */

const run = promisify(execFile);
const dir = fileURLToPath(new URL('../../clients/python/', import.meta.url));

async function python(code: string, base: string): Promise<string> {
  // -I leaves the working directory off sys.path: put the client's folder there by hand.
  const prelude = `import sys\nsys.path.insert(0, ${JSON.stringify(dir)})\n`;
  const { stdout } = await run('python3', ['-I', '-S', '-c', prelude + code, base], { timeout: 60_000 });
  return stdout;
}

describe('Python client (clients/python)', () => {
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    app = await buildApp({ workers: 2, logLevel: 'silent' });
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(async () => {
    await app?.close();
  });

  it('example.py calls every endpoint and exits 0', async () => {
    const { stdout } = await run('python3', ['-I', '-S', 'example.py', base], { cwd: dir, timeout: 60_000 });
    for (const name of ['argmax', 'softmax', 'log-softmax', 'sparsemax', 'entmax 1.5', 'gumbel-softmax', 'gumbel-softmax hard', 'sample replayed with its seed is identical']) {
      expect(stdout).toContain(`ok   ${name}:`);
    }
    expect(stdout).not.toContain('FAIL');
  });

  it('example.py exits non-zero when the service is not there', async () => {
    await expect(run('python3', ['-I', '-S', 'example.py', 'http://127.0.0.1:9'], { cwd: dir, timeout: 60_000 })).rejects.toMatchObject({ code: 1 });
  });

  it('answers like the service: sparsemax of x = [-2, 0, 0.5] is [0, 0.25, 0.75]; a seeded sample replays', async () => {
    const out = await python(
      [
        'import sys, json',
        'from anymax_client import Anymax',
        'api = Anymax(sys.argv[1])',
        'print(json.dumps({"sparsemax": api.sparsemax([[-2, 0, 0.5]]),',
        '  "a": api.sample([[3, 2, 1], [1, None, 2]], n=16, seed=12345),',
        '  "b": api.sample([[3, 2, 1], [1, None, 2]], n=16, seed=12345)}))',
      ].join('\n'),
      base,
    );
    const got = JSON.parse(out);
    expect(got.sparsemax).toEqual({ probs: [[0, 0.25, 0.75]], support: [2] });
    expect(got.a).toEqual(got.b);
    const direct = await app.inject({ method: 'POST', url: '/v1/sample', payload: { logits: [[3, 2, 1], [1, null, 2]], n: 16, seed: 12345 } });
    expect(got.a).toEqual(JSON.parse(direct.body));
    expect(got.a.samples[1]).not.toContain(1); // the masked class (None) is never drawn
  });

  it("raises AnymaxError with the server's status, code and message", async () => {
    const out = await python(
      [
        'import sys',
        'from anymax_client import Anymax, AnymaxError',
        'try:',
        '    Anymax(sys.argv[1]).entmax([[1, 2]], alpha=0.5)',
        'except AnymaxError as e:',
        '    print(e.status, e.code, e.message)',
      ].join('\n'),
      base,
    );
    expect(out.trim()).toBe('400 INVALID_REQUEST alpha must be >= 1');
  });
});
