import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseProm, promValue, randomLogits } from '../helpers/http.js';
import { inferenceClient, param } from '../grpc/client.js';
import { findNginx, freePort, launch, renderNginxConf, request, stop, waitHttp200, within, type Proc } from './procs.js';

/**
 * Scale-out as deploy/nginx/nginx.conf (the compose "replicated" profile) sets it up, on this
 * machine: two anymax processes (`node --import tsx src/server.ts`, WORKERS=1, LOG_LEVEL=warn) on
 * loopback ports behind a real nginx started with a config rendered from that file (upstream
 * servers, listen and paths replaced, every other line kept). Everything listens on 127.0.0.1
 * only, every request goes to 127.0.0.1 and is bounded in count and time, and every process
 * started here is stopped in afterAll, also when a test fails.
 *
 * Needs nginx: locally without it the file is skipped with a message; under CI=true it fails
 * (.ci/run installs nginx).
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const NGINX = findNginx();
const CI = process.env.CI === 'true' || process.env.CI === '1';
if (!NGINX && !CI) {
  console.warn('test/deploy/scale-out.test.ts: SKIPPED, nginx is not installed (apt-get install nginx); under CI=true this fails instead');
}

interface Node {
  p: Proc;
  port: number;
  /** Its gRPC port (GRPC_PORT; nginx's http2 listen). */
  grpcPort: number;
}

const SOURCE_CONF = readFileSync(path.join(ROOT, 'deploy/nginx/nginx.conf'), 'utf8');
/** Lines the renderer is allowed to change (an independent check of "every other line is kept"). */
const REPLACEABLE = /^\s*(server\s+[^\s{;]+[^{]*;|listen\s|pid\s|\w+_temp_path\s|user\s)/;

const SAMPLE_COUNT = 'anymax_http_request_duration_seconds_count';

async function sampleCount(port: number): Promise<number> {
  const r = await request(port, 'GET', '/metrics', undefined, { timeoutMs: 10_000 });
  expect(r.status).toBe(200);
  return promValue(parseProm(r.body), SAMPLE_COUNT, { route: '/v1/sample', method: 'POST', status: '200' });
}

/** Requests to /v1/* counted by a replica (all routes and statuses). */
async function v1Count(port: number): Promise<number> {
  const r = await request(port, 'GET', '/metrics', undefined, { timeoutMs: 10_000 });
  return parseProm(r.body)
    .samples.filter((s) => s.name === SAMPLE_COUNT && s.labels.route?.startsWith('/v1/'))
    .reduce((a, s) => a + s.value, 0);
}

describe.skipIf(!NGINX && !CI)('scale-out: two replicas behind nginx (deploy/nginx/nginx.conf)', () => {
  let dir = '';
  const procs: Proc[] = [];
  const replicas: Node[] = [];
  let lb: Node;
  let rendered = '';

  const errorLog = () => {
    try {
      return readFileSync(path.join(dir, 'error.log'), 'utf8');
    } catch {
      return '';
    }
  };

  beforeAll(async () => {
    if (!NGINX) throw new Error('nginx not found on PATH or in /usr/sbin: CI=true needs it (.ci/run installs it with apt-get)');
    dir = mkdtempSync(path.join(os.tmpdir(), 'anymax-scale-out-'));

    const ports = [await freePort(), await freePort()];
    const grpcPorts = [await freePort(), await freePort()];
    for (const [i, port] of ports.entries()) {
      const p = launch(`replica-${i + 1}`, process.execPath, ['--import', 'tsx', 'src/server.ts'], {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', HOST: '127.0.0.1', PORT: String(port), GRPC_PORT: String(grpcPorts[i]), PROCESSES: '1', WORKERS: '1', LOG_LEVEL: 'warn' },
      });
      procs.push(p);
      replicas.push({ p, port, grpcPort: grpcPorts[i] });
    }
    // LOG_LEVEL=warn: no "anymax ready" line, so readiness is polled.
    await Promise.all(replicas.map((r) => waitHttp200(r.p, r.port, '/health/ready', 60_000)));

    const lbPort = await freePort();
    const lbGrpcPort = await freePort();
    rendered = renderNginxConf(SOURCE_CONF, {
      upstreamPorts: ports,
      listenPort: lbPort,
      grpcUpstreamPorts: grpcPorts,
      grpcListenPort: lbGrpcPort,
      dir,
      // As root here (and in CI): see renderNginxConf.
      asRoot: process.getuid?.() === 0,
    });
    const conf = path.join(dir, 'nginx.conf');
    writeFileSync(conf, rendered);
    const p = launch('nginx', NGINX, ['-p', `${dir}/`, '-c', conf, '-e', path.join(dir, 'error.log'), '-g', 'daemon off;'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '' },
    });
    procs.push(p);
    lb = { p, port: lbPort, grpcPort: lbGrpcPort };
    try {
      await waitHttp200(p, lbPort, '/health/ready', 20_000);
    } catch (e) {
      throw new Error(`${(e as Error).message}\nnginx error.log:\n${errorLog()}`);
    }
  }, 120_000);

  afterAll(async () => {
    await Promise.all(procs.map((p) => stop(p, 'SIGTERM', 10_000)));
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  it('renders deploy/nginx/nginx.conf: loopback upstreams, listen and paths replaced, every other line kept', () => {
    const keep = (t: string) => t.split('\n').filter((l) => !REPLACEABLE.test(l.replace(/#.*$/, '')));
    expect(keep(rendered)).toEqual(keep(SOURCE_CONF));
    expect(rendered).toContain('proxy_next_upstream error timeout http_502 http_503 non_idempotent;');
    const upstream = /upstream anymax \{([^}]*)\}/.exec(rendered)![1];
    expect([...upstream.matchAll(/^\s*server\s+(\S+)/gm)].map((m) => m[1])).toEqual(replicas.map((r) => `127.0.0.1:${r.port}`));
    expect(rendered).toMatch(new RegExp(`^\\s*listen 127\\.0\\.0\\.1:${lb.port};$`, 'm'));
    // No path of the container's /tmp left; nothing listens beyond loopback.
    expect(rendered).not.toMatch(/\s\/tmp\/nginx/);
    for (const m of rendered.matchAll(/^\s*listen\s+([^;]+);/gm)) expect(m[1]).toMatch(/^127\.0\.0\.1:\d+( http2)?$/);
    const grpcUpstream = /upstream anymax_grpc \{([^}]*)\}/.exec(rendered)![1];
    expect([...grpcUpstream.matchAll(/^\s*server\s+(\S+)/gm)].map((m) => m[1])).toEqual(replicas.map((r) => `127.0.0.1:${r.grpcPort}`));
  });

  it('a seeded /v1/sample is byte-identical from each replica and through nginx, and both replicas answer', async () => {
    const body = JSON.stringify({ logits: randomLogits(4, 50, 11), n: 8, seed: 424242, topP: 0.95, temperature: 0.8 });
    const [a, b] = await Promise.all(replicas.map((r) => request(r.port, 'POST', '/v1/sample', body)));
    expect(a.status, a.body).toBe(200);
    expect(b.status, b.body).toBe(200);
    expect(b.body).toBe(a.body);
    const parsed = JSON.parse(a.body) as { samples: number[][]; seed: number };
    expect(Object.keys(parsed).sort()).toEqual(['samples', 'seed']);
    expect(parsed.seed).toBe(424242);
    expect(parsed.samples).toHaveLength(4);
    for (const row of parsed.samples) {
      expect(row).toHaveLength(8);
      for (const k of row) expect(Number.isInteger(k) && k >= 0 && k < 50).toBe(true);
    }

    const before = await Promise.all(replicas.map((r) => sampleCount(r.port)));
    const rounds = 10;
    const concurrency = 6;
    const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    try {
      for (let i = 0; i < rounds; i++) {
        const got = await Promise.all(
          Array.from({ length: concurrency }, () => request(lb.port, 'POST', '/v1/sample', body, { agent, timeoutMs: 15_000 })),
        );
        for (const r of got) {
          expect(r.status, r.body).toBe(200);
          expect(r.body).toBe(a.body);
          // nginx's $request_id, passed as X-Request-Id and echoed by the replica.
          expect(r.headers['x-request-id']).toMatch(/^[0-9a-f]{32}$/);
        }
      }
    } finally {
      agent.destroy();
    }
    const after = await Promise.all(replicas.map((r) => sampleCount(r.port)));
    const served = after.map((v, i) => v - before[i]);
    expect(served.reduce((x, y) => x + y, 0)).toBe(rounds * concurrency);
    for (const s of served) expect(s, `per-replica /v1/sample counts ${JSON.stringify(served)}`).toBeGreaterThan(0);
  });

  it('gRPC through nginx (grpc_pass, HTTP/2): a seeded ModelInfer answers as each replica does, and both replicas serve calls', async () => {
    const logits = Buffer.from(Float32Array.from(randomLogits(4, 50, 12).flat()).buffer);
    const req = {
      model_name: 'sample',
      parameters: { n: param(8), seed: param(424242) },
      inputs: [{ name: 'logits', datatype: 'FP32', shape: [4, 50] }],
      raw_input_contents: [logits],
    };
    const direct = replicas.map((r) => inferenceClient(r.grpcPort));
    const viaLb = inferenceClient(lb.grpcPort);
    const grpcCount = async (port: number) => {
      const r = await request(port, 'GET', '/metrics', undefined, { timeoutMs: 10_000 });
      return promValue(parseProm(r.body), SAMPLE_COUNT, { route: '/inference.GRPCInferenceService/ModelInfer', status: 'OK', protocol: 'grpc' });
    };
    try {
      const [a, b] = await Promise.all(direct.map((c) => c.call('ModelInfer', req)));
      expect(b.raw_output_contents).toEqual(a.raw_output_contents);
      expect(a.raw_output_contents[0].length).toBe(4 * 8 * 8);
      const before = await Promise.all(replicas.map((r) => grpcCount(r.port)));
      for (let round = 0; round < 4; round++) {
        const got = await Promise.all(Array.from({ length: 6 }, () => viaLb.call('ModelInfer', req, 15_000)));
        for (const g of got) expect(g.raw_output_contents).toEqual(a.raw_output_contents);
      }
      const served = (await Promise.all(replicas.map((r) => grpcCount(r.port)))).map((v, i) => v - before[i]);
      expect(served.reduce((x, y) => x + y, 0)).toBe(24);
      for (const s of served) expect(s, `per-replica ModelInfer counts ${JSON.stringify(served)}`).toBeGreaterThan(0);
    } finally {
      for (const c of [...direct, viaLb]) c.close();
    }
  });

  it('a body over client_body_buffer_size (spooled to nginx temp dir) passes through unchanged', async () => {
    // ~5.7 MB of JSON: over the 4m body buffer, under client_max_body_size 64m. Without write
    // access to client_body_temp_path nginx answers 500 (seen with workers as "nobody").
    const body = JSON.stringify({ logits: randomLogits(300, 2000, 21) });
    expect(body.length).toBeGreaterThan(4 * 1024 * 1024);
    const direct = await request(replicas[0].port, 'POST', '/v1/argmax', body);
    expect(direct.status, direct.body).toBe(200);
    const viaLb = await request(lb.port, 'POST', '/v1/argmax', body, { timeoutMs: 30_000 });
    expect(viaLb.status, `${viaLb.body.slice(0, 300)}\nnginx error.log:\n${errorLog().slice(-2000)}`).toBe(200);
    expect(viaLb.body).toBe(direct.body);
  });

  it('SIGKILL of one replica under load: zero client errors, zero non-2xx, answers unchanged', async () => {
    const [survivor, victim] = replicas;
    const mix: { method: string; path: string; body?: string }[] = [
      { method: 'POST', path: '/v1/sample', body: JSON.stringify({ logits: randomLogits(1, 50, 1), n: 1, seed: 1 }) },
      // ~250 KB out: more than nginx's proxy buffers, so it is spooled to proxy_temp_path.
      { method: 'POST', path: '/v1/softmax', body: JSON.stringify({ logits: randomLogits(64, 200, 2) }) },
      // 2 x 10000 x 2 draws: past the inline limit, so a pool worker computes it.
      { method: 'POST', path: '/v1/sample', body: JSON.stringify({ logits: randomLogits(2, 10_000, 3), n: 2, seed: 3 }) },
      { method: 'POST', path: '/v1/argmax', body: JSON.stringify({ logits: randomLogits(16, 100, 4) }) },
      { method: 'POST', path: '/v1/gumbel-softmax', body: JSON.stringify({ logits: randomLogits(4, 30, 5), temperature: 0.5, seed: 5 }) },
      { method: 'POST', path: '/v1/entmax', body: JSON.stringify({ logits: randomLogits(8, 64, 6), alpha: 1.5 }) },
      { method: 'GET', path: '/health/ready' },
    ];
    // The expected bytes, from each replica directly (they must agree with each other too).
    const expected: string[] = [];
    for (const m of mix) {
      const [x, y] = await Promise.all([survivor, victim].map((r) => request(r.port, m.method, m.path, m.body)));
      expect(x.status, `${m.path}: ${x.body.slice(0, 200)}`).toBe(200);
      expect(y.body, `${m.path} differs between the replicas`).toBe(x.body);
      expected.push(x.body);
    }

    const CONCURRENCY = 16;
    const DURATION_MS = 3000;
    const KILL_AT_MS = 1000;
    const MAX_REQUESTS = 5000;
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
    const errors: string[] = [];
    const non2xx: string[] = [];
    const wrong: string[] = [];
    let issued = 0;
    let done = 0;
    let doneAfterKill = 0;
    let killedAt = Infinity;
    const t0 = Date.now();
    const victimBefore = await v1Count(victim.port);
    let victimServed = 0;

    const loop = async () => {
      while (Date.now() - t0 < DURATION_MS && issued < MAX_REQUESTS) {
        const i = issued++ % mix.length;
        const m = mix[i];
        const started = Date.now();
        try {
          const r = await request(lb.port, m.method, m.path, m.body, { agent, timeoutMs: 15_000 });
          if (r.status < 200 || r.status > 299) non2xx.push(`${m.path} ${r.status} ${r.body.slice(0, 200)}`);
          else if (r.body !== expected[i]) wrong.push(`${m.path}: ${r.body.slice(0, 200)}`);
        } catch (e) {
          errors.push(`${m.path}: ${(e as Error).message}`);
        }
        done++;
        if (started > killedAt) doneAfterKill++;
      }
    };
    const killer = (async () => {
      await new Promise((r) => setTimeout(r, KILL_AT_MS));
      // What the victim answered of this load before it dies (it has to be in the rotation).
      victimServed = (await v1Count(victim.port)) - victimBefore;
      killedAt = Date.now();
      victim.p.proc.kill('SIGKILL');
      return within(victim.p.exited, 10_000, 'the killed replica to exit');
    })();
    try {
      await within(Promise.all(Array.from({ length: CONCURRENCY }, loop)), DURATION_MS + 30_000, 'the load');
    } finally {
      agent.destroy();
    }
    expect(await killer).toEqual({ code: null, signal: 'SIGKILL' });

    const log = errorLog();
    const upstreamErrors = log.split('\n').filter((l) => /upstream/.test(l));
    console.info(
      `scale-out kill: ${done} requests in ${DURATION_MS} ms (${doneAfterKill} started after the kill); ` +
        `victim served ${victimServed} before the kill; nginx logged ${upstreamErrors.length} upstream errors, e.g. ${upstreamErrors[0] ?? '-'}`,
    );
    expect(errors, errors.slice(0, 5).join('\n')).toEqual([]);
    expect(non2xx, non2xx.slice(0, 5).join('\n')).toEqual([]);
    expect(wrong, wrong.slice(0, 5).join('\n')).toEqual([]);
    expect(victimServed).toBeGreaterThan(0);
    expect(doneAfterKill).toBeGreaterThan(20);
    // The failover path was taken: nginx met the dead replica and retried elsewhere.
    expect(upstreamErrors.length).toBeGreaterThan(0);

    // Only the survivor is left, and it still answers through nginx.
    const r = await request(lb.port, 'POST', mix[0].path, mix[0].body, { timeoutMs: 15_000 });
    expect(r.status).toBe(200);
    expect(r.body).toBe(expected[0]);
    expect(survivor.p.exit()).toBeUndefined();
  });
});
