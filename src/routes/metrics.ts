import type { FastifyInstance } from 'fastify';

/** Prometheus text exposition of the app's registry (src/plugins/metrics.ts). */
export default async function metricsRoutes(app: FastifyInstance) {
  app.get('/metrics', { schema: { hide: true } }, async (_req, reply) => {
    const text = await app.metrics.registry.metrics();
    return reply.type(app.metrics.registry.contentType).send(text);
  });
}
