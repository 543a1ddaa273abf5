import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { requireTool } from '../helpers/tools.js';

/**
 * docker-compose.yml with its Prometheus, Grafana and nginx configs: docker-compose accepts it,
 * and the pieces point at each other and at metrics the service really exports.
 */

const root = fileURLToPath(new URL('../../', import.meta.url));
const read = (p: string) => readFileSync(root + p, 'utf8');
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Any = any;

describe('docker-compose.yml', () => {
  let app: FastifyInstance;
  let exported: Set<string>;
  beforeAll(async () => {
    app = await buildApp({ workers: 1, logLevel: 'silent' });
    await app.inject({ method: 'POST', url: '/v1/softmax', payload: { logits: [[3, 2, 1]] } });
    await app.inject({ method: 'POST', url: '/v1/softmax', payload: { logits: 'bad' } });
    const text = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    exported = new Set(text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(/[{ ]/)[0]));
  });
  afterAll(async () => {
    await app?.close();
  });

  const hasCompose = requireTool('docker-compose', ['version']);

  it.runIf(hasCompose)('is accepted by `docker-compose config`, with and without the replicated profile', () => {
    for (const args of [['config', '-q'], ['--profile', 'replicated', 'config', '-q']]) {
      execFileSync('docker-compose', args, { cwd: root, stdio: 'pipe', timeout: 60_000 });
    }
    const normalised = parse(execFileSync('docker-compose', ['config'], { cwd: root, encoding: 'utf8', timeout: 60_000 }));
    expect(Object.keys(normalised.services).sort()).toEqual(
      ['anymax', 'anymax-1', 'anymax-2', 'anymax-3', 'grafana', 'lb', 'prometheus'].sort(),
    );
  });

  const compose: Any = parse(read('docker-compose.yml'), { merge: true });
  const services: Record<string, Any> = compose.services;
  const replicas = Object.keys(services).filter((s) => /^anymax-\d+$/.test(s));

  it('builds anymax from the Dockerfile, listening on 0.0.0.0:8080, with a stop grace period covering the drain', () => {
    const a = services.anymax;
    expect(a.build).toBe('.');
    expect(a.ports).toContain('8080:8080');
    const config = loadConfig(a.environment);
    expect(config.host).toBe('0.0.0.0');
    expect(config.port).toBe(8080);
    expect(config.grpcPort).toBe(8081);
    expect(a.ports).toContain('8081:8081');
    const grace = Number(/^(\d+)s$/.exec(a.stop_grace_period)![1]);
    expect(grace).toBeGreaterThanOrEqual(config.requestTimeoutMs / 1000 + 5);
  });

  it('runs several replicas behind nginx in the replicated profile only', () => {
    expect(replicas.length).toBeGreaterThanOrEqual(2);
    for (const r of [...replicas, 'lb']) expect(services[r].profiles).toEqual(['replicated']);
    expect(services.anymax.profiles).toBeUndefined();
    const nginx = read('deploy/nginx/nginx.conf');
    const upstream = /upstream anymax \{([^}]*)\}/.exec(nginx)![1];
    const servers = [...upstream.matchAll(/server\s+([\w.-]+):(\d+)/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(servers.sort()).toEqual(replicas.map((r) => `${r}:8080`).sort());
    // The gRPC proxy: HTTP/2 to each replica's GRPC_PORT.
    const grpcUpstream = /upstream anymax_grpc \{([^}]*)\}/.exec(nginx)![1];
    const grpcServers = [...grpcUpstream.matchAll(/server\s+([\w.-]+):(\d+)/g)].map((m) => `${m[1]}:${m[2]}`);
    expect(grpcServers.sort()).toEqual(replicas.map((r) => `${r}:${loadConfig(services[r].environment).grpcPort}`).sort());
    expect(nginx).toMatch(/grpc_pass grpc:\/\/anymax_grpc;/);
    expect(services.lb.ports).toContain('8089:8081');
    expect(nginx).toMatch(/proxy_next_upstream [^;]*non_idempotent/);
    expect(services.lb.volumes[0]).toMatch(/^\.\/deploy\/nginx\/nginx\.conf:\/etc\/nginx\/nginx\.conf/);
  });

  it('has nginx drop idle upstream connections before the replicas do (no reuse of a closing one)', () => {
    const upstream = /upstream anymax \{([^}]*)\}/.exec(read('deploy/nginx/nginx.conf'))![1]!;
    const m = /^\s*keepalive_timeout\s+(\d+)(ms|s)\s*;/m.exec(upstream);
    expect(m, 'keepalive_timeout in upstream anymax (nginx defaults to 60 s)').not.toBeNull();
    const nginxIdleMs = Number(m![1]) * (m![2] === 's' ? 1000 : 1);
    for (const r of replicas) expect(nginxIdleMs).toBeLessThan(loadConfig(services[r].environment).keepAliveTimeoutMs);
  });

  it('has Prometheus scrape /metrics of every anymax service', () => {
    const prom: Any = parse(read('deploy/prometheus/prometheus.yml'));
    const job = prom.scrape_configs.find((j: Any) => j.job_name === 'anymax');
    expect(job.metrics_path).toBe('/metrics');
    const targets: string[] = job.static_configs.flatMap((c: Any) => c.targets);
    expect(targets.sort()).toEqual(['anymax', ...replicas].map((s) => `${s}:8080`).sort());
    expect(services.prometheus.volumes[0]).toMatch(/^\.\/deploy\/prometheus\/prometheus\.yml:/);
  });

  it('provisions Grafana with the Prometheus datasource and a dashboard whose queries use exported metrics', () => {
    const ds: Any = parse(read('deploy/grafana/provisioning/datasources/prometheus.yml'));
    expect(ds.datasources[0]).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090' });
    const dash = JSON.parse(read('deploy/grafana/dashboards/anymax.json'));
    const exprs: string[] = dash.panels.flatMap((p: Any) => p.targets.map((t: Any) => t.expr));
    const titles = dash.panels.map((p: Any) => p.title.toLowerCase()).join(' | ');
    for (const want of ['request rate', 'p50', 'p99', 'queue depth', 'busy workers', 'rejected']) expect(titles).toContain(want);
    const used = new Set(exprs.flatMap((e) => e.match(/anymax_[a-z_]+/g) ?? []));
    expect(used.size).toBeGreaterThanOrEqual(5);
    for (const name of used) expect(exported, `${name} is not exported by /metrics`).toContain(name);
    for (const p of dash.panels) for (const t of p.targets) expect(t.datasource.uid).toBe(ds.datasources[0].uid);
  });
});
