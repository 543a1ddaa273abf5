import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type { z } from 'zod';
import { readBody } from '../http/read-body.js';
import type { EndpointName } from '../jobs/endpoints.js';
import type { Reservation } from '../pool/budget.js';
import { ClientGone } from '../pool/jobs.js';
import { ArgmaxRequest, ArgmaxResponse } from '../schemas/argmax.js';
import { errorResponses } from '../schemas/common.js';
import { unsupportedMediaType } from '../errors.js';
import { EntmaxRequest, EntmaxResponse } from '../schemas/entmax.js';
import { GumbelSoftmaxRequest, GumbelSoftmaxResponse } from '../schemas/gumbel-softmax.js';
import { SampleRequest, SampleResponse } from '../schemas/sample.js';
import { SoftmaxRequest, SoftmaxResponse } from '../schemas/softmax.js';
import { SparsemaxRequest, SparsemaxResponse } from '../schemas/sparsemax.js';

/**
 * POST /v1/<mapping>. Thin: the body arrives as raw bytes (see the parser below) and goes to the
 * job runner (src/plugins/pool.ts), which validates it with the same schemas these routes
 * document, computes, and returns the JSON text sent here as is.
 */

const ROUTES: { name: EndpointName; summary: string; request: z.ZodType; response: z.ZodType }[] = [
  { name: 'argmax', summary: 'Index of the largest logit of each row', request: ArgmaxRequest, response: ArgmaxResponse },
  { name: 'softmax', summary: 'softmax(logits / T), or log-softmax', request: SoftmaxRequest, response: SoftmaxResponse },
  { name: 'sparsemax', summary: 'Euclidean projection of logits / T onto the simplex', request: SparsemaxRequest, response: SparsemaxResponse },
  { name: 'entmax', summary: 'alpha-entmax of logits / T', request: EntmaxRequest, response: EntmaxResponse },
  { name: 'gumbel-softmax', summary: 'Seeded Gumbel-softmax relaxed (or hard) sample', request: GumbelSoftmaxRequest, response: GumbelSoftmaxResponse },
  { name: 'sample', summary: 'Seeded draws after temperature, mapping, topK, topP and minP', request: SampleRequest, response: SampleResponse },
];

declare module 'fastify' {
  interface FastifyRequest {
    /** This request's share of the memory budget (src/pool/budget.ts), returned when its answer is done. */
    reservation?: Reservation;
    /** Aborted if the client goes before its answer is written. */
    clientGone?: AbortController;
  }
}

export default async function v1Routes(app: FastifyInstance, opts: { testCrashRoute: boolean; maxBodyBytes: number; inlineMaxBytes: number }) {
  // Before the body is read: reserve memory for it from its declared length (a small inline body
  // needs none), and tie the reservation and the job's cancellation to the connection. A client
  // that leaves while its request waits for room leaves the queue at once.
  app.addHook('preParsing', async (req, reply) => {
    const declared = req.headers['content-length'];
    const length = declared === undefined ? 0 : Number(declared);
    const reserve = length > opts.inlineMaxBytes && length <= opts.maxBodyBytes ? app.jobs.estimate(length) : 0;
    const gone = new AbortController();
    req.clientGone = gone;
    let reservation: Reservation | undefined;
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) gone.abort(new ClientGone());
      reservation?.release(gone.signal.reason);
    });
    reservation = await app.jobs.budget.acquire(reserve, gone.signal);
    req.reservation = reservation;
  });

  // Keep the body as bytes: parsing and validating it is per-element work, done by the job
  // runner (in a worker for big bodies), not by Fastify on the main thread.
  // Only application/json: Fastify's default text/plain parser would hand the job runner a
  // string (accepted as JSON when small, garbled when big), where the contract says 415.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', (req, payload, done) => {
    const declared = req.headers['content-length'];
    const reservation = req.reservation;
    readBody(payload, {
      contentLength: declared === undefined ? undefined : Number(declared),
      limit: opts.maxBodyBytes,
      // A small body needs no reservation; a chunked one reserves as it grows.
      allowance: opts.inlineMaxBytes,
      grow: async (bytes) => reservation?.resize(app.jobs.estimate(bytes)),
    }).then(
      (body) => done(null, body),
      (e: Error) => done(e, undefined),
    );
  });

  const r = app.withTypeProvider<ZodTypeProvider>();
  for (const { name, summary, request, response } of ROUTES) {
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
        const out = await app.jobs.run(name, req.body as unknown as Buffer, {
          signal: req.clientGone!.signal,
          reservation: req.reservation!,
        });
        req.anymax = { rows: out.rows, cols: out.cols };
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
