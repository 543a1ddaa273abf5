import type { FastifyInstance } from 'fastify';

/**
 * Prometheus text exposition of the app's registry (src/plugins/metrics.ts); in a cluster, the
 * sum over every process (src/cluster.ts), whichever process answers.
 */
export default async function metricsRoutes(app: FastifyInstance) {
  // Scrapes go through under load shedding: that is when the numbers matter.
  app.get('/metrics', { schema: { hide: true }, config: { pressureHandler: () => undefined } }, async (_req, reply) => {
    // An app built without buildApp (plugin tests) has no service: its own registry is all.
    const text = await (app.hasDecorator('service') ? app.service.metrics() : app.metrics.registry.metrics());
    return reply.type(app.metrics.registry.contentType).send(text);
  });
}
