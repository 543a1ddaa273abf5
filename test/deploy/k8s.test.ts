import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { SERVICE } from '../../src/grpc/server.js';
import { healthClient } from '../grpc/client.js';

/** deploy/k8s: the manifests parse, and their probes, ports and env agree with the service. */

const dir = fileURLToPath(new URL('../../deploy/k8s/', import.meta.url));
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Doc = any;
const docs: Doc[] = readdirSync(dir)
  .filter((f) => f.endsWith('.yaml'))
  .flatMap((f) =>
    parseAllDocuments(readFileSync(dir + f, 'utf8')).map((d) => {
      if (d.errors.length) throw new Error(`${f}: ${d.errors.map((e) => e.message).join('; ')}`);
      return d.toJS();
    }),
  );
const byKind = (kind: string) => docs.filter((d) => d?.kind === kind);

const deployment = byKind('Deployment')[0];
const pod = deployment?.spec?.template;
const container = pod?.spec?.containers?.[0];
const env: Record<string, string> = Object.fromEntries((container?.env ?? []).map((e: Doc) => [e.name, e.value]));

describe('deploy/k8s manifests', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = await buildApp({ workers: 1, logLevel: 'silent' });
    await app.ready();
  });
  afterAll(async () => {
    await app?.close();
  });

  it('parse, and hold a Deployment, a Service, an HPA and a PDB (plus a kustomization listing them)', () => {
    expect(byKind('Deployment')).toHaveLength(1);
    expect(byKind('Service')).toHaveLength(1);
    expect(byKind('HorizontalPodAutoscaler')).toHaveLength(1);
    expect(byKind('PodDisruptionBudget')).toHaveLength(1);
    const k = byKind('Kustomization')[0];
    expect([...k.resources].sort()).toEqual(['deployment.yaml', 'hpa.yaml', 'pdb.yaml', 'service.yaml']);
  });

  it('sets only variables the service knows, with values its config accepts', () => {
    const known = [
      ...['HOST', 'PORT', 'GRPC_PORT', 'PROCESSES', 'WORKERS', 'MAX_BODY_BYTES', 'MAX_ELEMENTS', 'QUEUE_LIMIT', 'REQUEST_TIMEOUT_MS', 'LOG_LEVEL'],
      ...['HEADERS_TIMEOUT_MS', 'RECEIVE_TIMEOUT_MS', 'KEEP_ALIVE_TIMEOUT_MS', 'SOCKET_INACTIVITY_TIMEOUT_MS'],
    ];
    for (const name of Object.keys(env)) expect(known, `unknown variable ${name}`).toContain(name);
    const config = loadConfig(env);
    expect(config.host).toBe('0.0.0.0'); // reachable from the Service
    expect(config.port).toBe(8080);
  });

  it('exposes the port the service listens on, and the Service targets it', () => {
    const port = container.ports.find((p: Doc) => p.name === 'http');
    expect(port.containerPort).toBe(loadConfig(env).port);
    const svc = byKind('Service')[0];
    expect(svc.spec.ports[0].targetPort).toBe('http');
    const grpcPort = container.ports.find((p: Doc) => p.name === 'grpc');
    expect(grpcPort.containerPort).toBe(loadConfig(env).grpcPort);
    expect(svc.spec.ports.find((p: Doc) => p.name === 'grpc').targetPort).toBe('grpc');
    expect(svc.spec.selector).toEqual(pod.metadata.labels);
  });

  it('probes the health endpoints the service has: liveness /health/live, readiness the gRPC health service', async () => {
    expect(container.livenessProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    expect(container.startupProbe.httpGet).toEqual({ path: '/health/live', port: 'http' });
    for (const probe of [container.livenessProbe, container.startupProbe]) {
      const res = await app.inject({ method: 'GET', url: probe.httpGet.path });
      expect(res.statusCode, probe.httpGet.path).toBe(200);
    }
    // A gRPC probe's port is a number (no named ports): the container's grpc port, GRPC_PORT.
    const grpcProbe = container.readinessProbe.grpc;
    expect(container.readinessProbe.httpGet).toBeUndefined();
    expect(grpcProbe).toEqual({ port: container.ports.find((p: Doc) => p.name === 'grpc').containerPort, service: SERVICE });
    expect(grpcProbe.port).toBe(loadConfig(env).grpcPort);
    // What the kubelet asks: grpc.health.v1.Health/Check of that service name, answered SERVING.
    const port = await app.grpc.listen('127.0.0.1', 0);
    const health = healthClient(port);
    try {
      expect(await health.check(grpcProbe.service)).toBe('SERVING');
    } finally {
      health.client.close();
    }
  });

  it('gives SIGTERM time for the drain: grace period >= preStop pause + REQUEST_TIMEOUT_MS + 5 s', () => {
    const preStop = Number(container.lifecycle.preStop.exec.command.at(-1));
    const drain = loadConfig(env).requestTimeoutMs / 1000 + 5; // src/server.ts close-with-grace delay
    expect(pod.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + drain);
  });

  it('requests and limits resources, with one HTTP process and one worker thread per CPU of the limit', () => {
    const { requests, limits } = container.resources;
    expect(requests.cpu && requests.memory && limits.cpu && limits.memory).toBeTruthy();
    const config = loadConfig(env);
    expect(config.processes).toBe(Number(limits.cpu));
    expect(config.processes * config.workers).toBe(Number(limits.cpu));
  });

  it('autoscales and protects the Deployment it names, selecting its pods', () => {
    const hpa = byKind('HorizontalPodAutoscaler')[0];
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    const pdb = byKind('PodDisruptionBudget')[0];
    expect(pdb.spec.selector.matchLabels).toEqual(pod.metadata.labels);
    expect(pdb.spec.minAvailable).toBeLessThan(hpa.spec.minReplicas);
    expect(deployment.spec.selector.matchLabels).toEqual(pod.metadata.labels);
  });
});
