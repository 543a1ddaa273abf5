import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { protocolOf } from '../http/protocol.js';

/**
 * Prometheus instruments (prom-client), on a registry per app so that tests can build many apps
 * in one process. Served at GET /metrics by src/routes/metrics.ts.
 */

// Sub-millisecond buckets: a small inline request takes ~20 us.
const DURATION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface Metrics {
  registry: Registry;
  requestDuration: Histogram<'route' | 'method' | 'status' | 'protocol'>;
  kernelSeconds: Histogram<'kernel' | 'where'>;
  queueWaitSeconds: Histogram<'kernel'>;
  rows: Counter<'kernel'>;
  elements: Counter<'kernel'>;
  rejected: Counter<'reason'>;
  workerRestarts: Counter;
  /**
   * Observes a request's duration in requestDuration (seconds); its protocol is its route's, or,
   * for an unmatched request, its URL's; gRPC calls give theirs ('grpc', the status a code's name).
   */
  observeRequest(route: string, method: string, status: number | string, seconds: number, url?: string, protocol?: string): void;
  /** Set by the pool plugin: how to read its queue depth and busy workers. */
  poolProbe: { queueDepth: () => number; busyWorkers: () => number; memoryInUse: () => number; memoryBudget: () => number };
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: Metrics;
  }
}

export default fp(
  async function metricsPlugin(app: FastifyInstance, opts: { nodeVersion?: boolean }) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    // /metrics is public: the exact Node version (a label of this gauge) is opt-in.
    if (!opts.nodeVersion) registry.removeSingleMetric('nodejs_version_info');
    const registers = [registry];
    const poolProbe = { queueDepth: () => 0, busyWorkers: () => 0, memoryInUse: () => 0, memoryBudget: () => 0 };
    // One label child per (route, method, status, protocol), resolved once: labelled observe()
    // hashes the label set on every call, a few microseconds on the small-request path.
    const durations = new Map<string, { observe(v: number): void }>();
    const observeRequest = (route: string, method: string, status: number | string, seconds: number, url?: string, given?: string) => {
      const protocol = given ?? protocolOf(route === 'unmatched' ? url : route);
      const key = `${route} ${method} ${status} ${protocol}`;
      let h = durations.get(key);
      if (!h) {
        h = metrics.requestDuration.labels({ route, method, status: String(status), protocol });
        durations.set(key, h);
      }
      h.observe(seconds);
    };
    const metrics: Metrics = {
      registry,
      poolProbe,
      observeRequest,
      requestDuration: new Histogram({
        name: 'anymax_http_request_duration_seconds',
        help: 'HTTP request duration by route, method, status and protocol (v2: the Open Inference Protocol under /v2; grpc: its gRPC service, status the gRPC code name; v1: the rest)',
        labelNames: ['route', 'method', 'status', 'protocol'],
        buckets: DURATION_BUCKETS,
        registers,
      }),
      kernelSeconds: new Histogram({
        name: 'anymax_kernel_duration_seconds',
        help: 'Time in the kernel (compute and serialise), by kernel and where it ran (inline or pool)',
        labelNames: ['kernel', 'where'],
        buckets: DURATION_BUCKETS,
        registers,
      }),
      queueWaitSeconds: new Histogram({
        name: 'anymax_queue_wait_seconds',
        help: 'Time a job waited for a pool worker, by kernel',
        labelNames: ['kernel'],
        buckets: DURATION_BUCKETS,
        registers,
      }),
      rows: new Counter({ name: 'anymax_rows_total', help: 'Rows processed, by kernel', labelNames: ['kernel'], registers }),
      elements: new Counter({
        name: 'anymax_elements_total',
        help: 'Elements processed (rows x classes, x n draws for sample), by kernel',
        labelNames: ['kernel'],
        registers,
      }),
      rejected: new Counter({
        name: 'anymax_rejected_requests_total',
        help: 'Requests refused, by reason (invalid, too_large, overloaded, memory, timeout, client_gone, not_found, crashed, ...)',
        labelNames: ['reason'],
        registers,
      }),
      workerRestarts: new Counter({
        name: 'anymax_worker_restarts_total',
        help: 'Pool worker threads started in place of one that was stopped (a job past its timeout, or its client gone for longer than the stop grace) or died; each costs ~200-300 ms of CPU',
        registers,
      }),
    };
    new Gauge({
      name: 'anymax_queue_depth',
      help: 'Jobs waiting for a pool worker',
      registers,
      collect() {
        this.set(poolProbe.queueDepth());
      },
    });
    new Gauge({
      name: 'anymax_busy_workers',
      help: 'Pool workers running a job',
      registers,
      collect() {
        this.set(poolProbe.busyWorkers());
      },
    });
    new Gauge({
      name: 'anymax_memory_reserved_bytes',
      help: 'Bytes of the memory budget reserved by requests in flight',
      registers,
      collect() {
        this.set(poolProbe.memoryInUse());
      },
    });
    new Gauge({
      name: 'anymax_memory_budget_bytes',
      help: 'The memory budget (MEMORY_BUDGET_BYTES)',
      registers,
      collect() {
        this.set(poolProbe.memoryBudget());
      },
    });
    app.decorate('metrics', metrics);

    // Answers written in full; one whose connection closed first is observed where that is seen.
    app.addHook('onResponse', async (request, reply) => {
      observeRequest(request.routeOptions.url ?? 'unmatched', request.method, reply.statusCode, reply.elapsedTime / 1000, request.url);
    });
  },
  { name: 'anymax-metrics' },
);
