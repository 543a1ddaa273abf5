import closeWithGrace from 'close-with-grace';
import { buildApp } from './app.js';
import { ConfigError, loadConfig } from './config.js';

/** Starts the service: config from the environment, listen, and a graceful SIGTERM / SIGINT. */
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
  const app = await buildApp(config);
  // Stop accepting, close idle and stalled connections at once (src/plugins/connections.ts), let
  // in-flight requests finish, close the pool (an onClose hook), exit 0.
  closeWithGrace({ delay: config.requestTimeoutMs + 5000 }, async ({ signal, err }) => {
    if (err) app.log.error({ err }, 'fatal error, closing');
    else app.log.info({ signal }, 'shutting down');
    await app.close();
  });
  // The address actually bound (with PORT=0 the port is only known now).
  const address = await app.listen({ port: config.port, host: config.host });
  const grpcPort = config.grpcPort === 0 ? undefined : await app.grpc.listen(config.host, config.grpcPort);
  app.log.info({ workers: config.workers, docs: `${address}/docs`, grpcPort }, 'anymax ready');
}

await main();
