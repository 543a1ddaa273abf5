import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { send } from '../plugins/errors.js';
import { notReady } from '../errors.js';

const Status = z.object({ status: z.string() }).meta({ example: { status: 'ok' } });

/**
 * Liveness (the process answers) and readiness (workers up, queue has room; in a cluster also
 * every process started once and no drain under way, src/cluster.ts).
 */
export default async function healthRoutes(app: FastifyInstance) {
  const r = app.withTypeProvider<ZodTypeProvider>();
  // Liveness stays 200 under load shedding: a swamped process is alive, and restarting it would
  // only lose its in-flight work (readiness does go 503 then).
  r.get(
    '/health/live',
    { schema: { tags: ['health'], response: { 200: Status } }, config: { pressureHandler: () => undefined } },
    async () => ({ status: 'ok' }),
  );
  r.get('/health/ready', { schema: { tags: ['health'], response: { 200: Status } } }, async (_req, reply) => {
    if (app.jobs.ready() && app.service.ready()) return { status: 'ready' };
    return send(reply, notReady());
  });
}
