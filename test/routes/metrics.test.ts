import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { build, parseProm, post, promValue, randomLogits, scrape, type PromText } from '../helpers/http.js';

/**
 * GET /metrics: a Prometheus text exposition (parsed strictly by test/helpers/http.ts) with the
 * instruments the contract lists, and counters that move with the requests.
 */

const server = build();

const REQUIRED: [string, string][] = [
  ['anymax_http_request_duration_seconds', 'histogram'],
  ['anymax_kernel_duration_seconds', 'histogram'],
  ['anymax_queue_wait_seconds', 'histogram'],
  ['anymax_queue_depth', 'gauge'],
  ['anymax_busy_workers', 'gauge'],
  ['anymax_rows_total', 'counter'],
  ['anymax_elements_total', 'counter'],
  ['anymax_rejected_requests_total', 'counter'],
  // default process metrics
  ['process_cpu_seconds_total', 'counter'],
  ['process_resident_memory_bytes', 'gauge'],
  ['nodejs_eventloop_lag_seconds', 'gauge'],
];

const le = (v: string) => (v === '+Inf' ? Infinity : Number(v));

describe('GET /metrics', () => {
  it('serves the Prometheus text format with every required metric and type', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    const m = parseProm(res.body);
    for (const [name, type] of REQUIRED) expect(m.types.get(name), name).toBe(type);
    for (const name of m.types.keys()) expect(m.help.has(name), `HELP for ${name}`).toBe(true);
  });

  it('the request duration histogram has sub-millisecond buckets', async () => {
    await post(server.app, '/v1/argmax', { logits: [[1]] });
    const m = await scrape(server.app);
    const les = m.samples
      .filter((s) => s.name === 'anymax_http_request_duration_seconds_bucket' && s.labels.route === '/v1/argmax')
      .map((s) => s.labels.le);
    expect(les.filter((le) => Number(le) < 0.001).length).toBeGreaterThanOrEqual(3);
    expect(les).toContain('+Inf');
  });

  it('counts rows and elements by kernel, and request durations by route, method and status', async () => {
    const before = await scrape(server.app);
    const soft = await post(server.app, '/v1/softmax', { logits: [[1, 2, 3], [4, 5, 6]] });
    expect(soft.statusCode).toBe(200);
    const samp = await post(server.app, '/v1/sample', { logits: [[1, 2, 3, 4]], n: 5, seed: 1 });
    expect(samp.statusCode).toBe(200);
    // One big enough for the pool, to move the queue-wait histogram.
    const big = await post(server.app, '/v1/entmax', { logits: randomLogits(40, 500, 3) });
    expect(big.statusCode).toBe(200);
    const after = await scrape(server.app);
    const delta = (name: string, labels: Record<string, string>) => promValue(after, name, labels) - promValue(before, name, labels);

    expect(delta('anymax_rows_total', { kernel: 'softmax' })).toBe(2);
    expect(delta('anymax_elements_total', { kernel: 'softmax' })).toBe(6);
    expect(delta('anymax_rows_total', { kernel: 'sample' })).toBe(1);
    expect(delta('anymax_elements_total', { kernel: 'sample' })).toBe(20);
    expect(delta('anymax_rows_total', { kernel: 'entmax' })).toBe(40);
    expect(delta('anymax_elements_total', { kernel: 'entmax' })).toBe(20_000);

    expect(delta('anymax_kernel_duration_seconds_count', { kernel: 'softmax', where: 'inline' })).toBe(1);
    expect(delta('anymax_kernel_duration_seconds_count', { kernel: 'entmax', where: 'pool' })).toBe(1);
    expect(delta('anymax_queue_wait_seconds_count', { kernel: 'entmax' })).toBe(1);

    for (const route of ['/v1/softmax', '/v1/sample', '/v1/entmax']) {
      expect(delta('anymax_http_request_duration_seconds_count', { route, method: 'POST', status: '200' }), route).toBe(1);
    }
    expect(promValue(after, 'anymax_queue_depth')).toBe(0);
    expect(promValue(after, 'anymax_busy_workers')).toBe(0);
  });

  it('counts rejected requests by reason', async () => {
    const before = await scrape(server.app);
    expect((await post(server.app, '/v1/softmax', { logits: [['x']] })).statusCode).toBe(400);
    expect((await post(server.app, '/v1/softmax', '{oops')).statusCode).toBe(400);
    expect((await post(server.app, '/v1/sample', { logits: [[1, 2]], n: 10_000_000 })).statusCode).toBe(413);
    expect((await server.app.inject({ method: 'GET', url: '/nowhere' })).statusCode).toBe(404);
    expect((await post(server.app, '/v1/softmax', 'x', { 'content-type': 'text/plain' })).statusCode).toBe(415);
    const after = await scrape(server.app);
    const delta = (reason: string) =>
      promValue(after, 'anymax_rejected_requests_total', { reason }) - promValue(before, 'anymax_rejected_requests_total', { reason });
    expect(delta('invalid')).toBe(2);
    expect(delta('too_large')).toBe(1);
    expect(delta('not_found')).toBe(1);
    expect(delta('media_type')).toBe(1);
    expect(
      promValue(after, 'anymax_http_request_duration_seconds_count', { route: '/v1/softmax', method: 'POST', status: '400' }) -
        promValue(before, 'anymax_http_request_duration_seconds_count', { route: '/v1/softmax', method: 'POST', status: '400' }),
    ).toBe(2);
    expect(promValue(after, 'anymax_http_request_duration_seconds_count', { route: 'unmatched', method: 'GET', status: '404' })).toBeGreaterThanOrEqual(1);
  });

  it('every histogram is consistent: cumulative buckets, +Inf bucket = count', async () => {
    const m: PromText = await scrape(server.app);
    const histos = [...m.types].filter(([, t]) => t === 'histogram').map(([n]) => n);
    expect(histos.length).toBeGreaterThanOrEqual(3);
    for (const h of histos) {
      const counts = m.samples.filter((s) => s.name === `${h}_count`);
      for (const c of counts) {
        const labels = c.labels;
        const buckets = m.samples
          .filter((s) => s.name === `${h}_bucket` && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
          .sort((a, b) => le(a.labels.le) - le(b.labels.le));
        expect(buckets.length).toBeGreaterThan(1);
        for (let i = 1; i < buckets.length; i++) expect(buckets[i].value).toBeGreaterThanOrEqual(buckets[i - 1].value);
        expect(buckets[buckets.length - 1].labels.le).toBe('+Inf');
        expect(buckets[buckets.length - 1].value).toBe(c.value);
      }
    }
  });

  it('does not tell the Node version unless METRICS_NODE_VERSION is set', async () => {
    const res = await server.app.inject({ method: 'GET', url: '/metrics' });
    const m = parseProm(res.body);
    expect(m.types.has('nodejs_version_info')).toBe(false);
    expect(m.samples.filter((s) => 'version' in s.labels)).toEqual([]);
    expect(res.body).not.toContain(process.version);
    expect(res.body).not.toContain(process.version.slice(1));

    const opted = await buildApp({ workers: 1, logLevel: 'silent', metricsNodeVersion: true });
    try {
      await opted.ready();
      const shown = await scrape(opted);
      expect(shown.types.get('nodejs_version_info')).toBe('gauge');
      expect(shown.samples.find((s) => s.name === 'nodejs_version_info')?.labels.version).toBe(process.version);
    } finally {
      await opted.close();
    }
  });

  it('each app has its own registry', async () => {
    const other = await buildApp({ workers: 1, logLevel: 'silent' });
    try {
      await other.ready();
      const m = await scrape(other);
      expect(promValue(m, 'anymax_rows_total', { kernel: 'softmax' })).toBe(0);
    } finally {
      await other.close();
    }
  });
});

describe('the Prometheus parser of these tests', () => {
  it('rejects a malformed line', () => {
    expect(() => parseProm('metric{a="1" 3\n')).toThrow();
    expect(() => parseProm('metric abc\n')).toThrow();
  });

  it('reads labels with escapes, and special values', () => {
    const p = parseProm('# TYPE m counter\nm{a="x\\"y",b="2"} 3\nm_inf +Inf\nm_nan NaN\n');
    expect(p.types.get('m')).toBe('counter');
    expect(p.samples[0]).toEqual({ name: 'm', labels: { a: 'x"y', b: '2' }, value: 3 });
    expect(p.samples[1].value).toBe(Infinity);
    expect(Number.isNaN(p.samples[2].value)).toBe(true);
  });
});
