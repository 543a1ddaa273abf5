import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { unsupportedMediaType } from '../errors.js';
import { declaredLength, readJobBody, reserveBeforeBody } from '../http/job-body.js';
import { OPERATIONS } from '../ops/index.js';
import { errorResponses } from '../schemas/common.js';

/**
 * POST /v1/<operation>, one route per operation of the registry (src/ops). Thin: the body arrives
 * as raw bytes (see the parser below) and goes to the job runner (src/pool/jobs.ts) with the
 * v1-json codec, which validates it with the schemas these routes document, and the answer it
 * returns (text, bytes or a stream) is sent as is.
 */

export default async function v1Routes(app: FastifyInstance, opts: { testCrashRoute: boolean; maxBodyBytes: number; inlineMaxBytes: number }) {
  // Before the body is read: reserve memory for it from its declared length, and tie the
  // reservation and the job's cancellation to the connection (src/http/job-body.ts).
  reserveBeforeBody(app, opts);

  // Keep the body as bytes: parsing and validating it is per-element work, done by the job
  // runner (in a worker for big bodies), not by Fastify on the main thread.
  // Only application/json: Fastify's default text/plain parser would hand the job runner a
  // string (accepted as JSON when small, garbled when big), where the contract says 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', (req, payload, done) => {
    readJobBody(app, req, payload, opts, declaredLength(req)).then(
      (body) => done(null, body),
      (e: Error) => done(e, undefined),
    );
  });

  const r = app.withTypeProvider<ZodTypeProvider>();
  for (const { name, summary, request, response } of OPERATIONS) {
    r.post(
      `/v1/${name}`,
      {
        schema: { tags: ['v1'], summary, body: request, response: { 200: response, ...errorResponses } },
        // The documented schema is enforced by the job runner on the raw body (see above).
        validatorCompiler: () => (data) => ({ value: data }),
        // No Content-Type and no body: Fastify runs no parser, so there is no body at all.
        preHandler: async (req) => {
          if (!Buffer.isBuffer(req.body)) throw unsupportedMediaType(req.headers['content-type']);
        },
      },
      async (req, reply) => {
        const out = await app.jobs.run('v1-json', name, req.body as unknown as Buffer, {
          cancel: req.clientGone!,
          reservation: req.reservation!,
        });
        req.anymax = { rows: out.rows, cols: out.cols };
        if (out.headers) reply.headers(out.headers);
        // Its shared buffers are reused once every byte has gone to the socket.
        if (out.release) reply.raw.once('finish', out.release);
        // One content type whatever the path (text, worker bytes or a stream): Fastify adds the
        // charset only to strings.
        return reply.type('application/json; charset=utf-8').send(out.body);
      },
    );
  }

  if (opts.testCrashRoute) {
    app.post('/v1/_test/crash', { schema: { hide: true } }, async () => app.jobs.crash());
  }
}
