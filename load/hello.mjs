// @ts-check
import Fastify from 'fastify';

/**
 * The ceiling of the HTTP stack for load/run.ts: a bare Fastify 5 server on the same machine, no
 * logger, no hooks, no plugins. POST /hello parses the JSON body with Fastify's default parser
 * (the same request the "sample 1x50" scenario sends) and answers a small JSON object, so the
 * difference between this and the service is what the service does per request.
 *
 * Plain JavaScript, started by load/run.ts as `node load/hello.mjs` with PORT and HOST, like the
 * built service (`node dist/server.js`): no TypeScript loader in the process. SIGTERM ends it.
 */

const app = Fastify({ logger: false });

app.post('/hello', async (request) => {
  const body = /** @type {{ logits?: unknown[] } | null} */ (request.body);
  return { ok: true, rows: Array.isArray(body?.logits) ? body.logits.length : 0 };
});
app.get('/health', async () => ({ status: 'ok' }));

const close = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', close);
process.on('SIGINT', close);

await app.listen({ port: Number(process.env.PORT ?? 0), host: process.env.HOST ?? '127.0.0.1' });
