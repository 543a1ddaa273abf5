import cluster from 'node:cluster';
import closeWithGrace from 'close-with-grace';
import { joinService, runPrimary } from './cluster.js';
import { ConfigError, loadConfig } from './config.js';

/**
 * Starts the service: config from the environment, listen, and a graceful SIGTERM / SIGINT.
 * With PROCESSES > 1 this process becomes the primary of that many serving processes
 * (src/cluster.ts), each of which runs the rest of main: whatever listens here listens once per
 * process, on a port they share, and is drained by the close below.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`anymax: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  if (config.processes > 1 && cluster.isPrimary) process.exit(await runPrimary(config));
  const service = joinService();
  // Loaded here, not at the top: the primary never serves, and without Fastify and the routes
  // it starts at ~62 MiB resident instead of ~80.
  const { buildApp } = await import('./app.js');
  const app = await buildApp({ ...config, service });
  // Stop accepting, close idle and stalled connections at once (src/plugins/connections.ts), let
  // in-flight requests finish, close the pool (an onClose hook), exit 0. In a cluster the
  // signals and the primary's drain message come through the link, once.
  let closing = false;
  const skip = service ? (['SIGTERM', 'SIGINT'] as const) : [];
  const grace = closeWithGrace({ delay: config.requestTimeoutMs + 5000, skip: [...skip] }, async ({ signal, err }) => {
    closing = true;
    if (err) app.log.error({ err }, 'fatal error, closing');
    else app.log.info({ signal: signal ?? drainSignal }, 'shutting down');
    await app.close();
  });
  let drainSignal: string | undefined;
  service?.onDrain((signal) => {
    drainSignal = signal;
    if (!closing) void grace.close();
  });
  // The address actually bound (with PORT=0 the port is only known now).
  const address = await app.listen({ port: config.port, host: config.host });
  const grpcPort = config.grpcPort === 0 ? undefined : await app.grpc.listen(config.host, config.grpcPort);
  app.log.info({ workers: config.workers, docs: `${address}/docs`, grpcPort }, 'anymax ready');
}

await main();
