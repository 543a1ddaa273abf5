import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { Config } from '../config.js';
import { createJobs, type Jobs } from '../pool/jobs.js';

/** Registers the job runner (src/pool/jobs.ts) as app.jobs, and closes its pool with the app. */

declare module 'fastify' {
  interface FastifyInstance {
    jobs: Jobs;
  }
}

export default fp(
  async function poolPlugin(app: FastifyInstance, config: Config) {
    const jobs = createJobs(config, app.metrics, app.log);
    app.decorate('jobs', jobs);
    app.addHook('onClose', async () => {
      await jobs.pool.close();
    });
  },
  { name: 'anymax-pool', dependencies: ['anymax-metrics'] },
);
