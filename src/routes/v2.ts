import { readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { HEADER_LENGTH } from '../codecs/oip-answer.js';
import { ApiError, badRequest, notReady, quote } from '../errors.js';
import { contentCodingOf, readDecoded } from '../http/content-encoding.js';
import { declaredLength, readJobBody, reserveBeforeBody, type BodyLimits } from '../http/job-body.js';
import { OPERATIONS, OP_NAMES, isOpName, operation, type Operation, type OutputSpec } from '../ops/index.js';
import { send } from '../plugins/errors.js';
import * as S from '../schemas/oip.js';

/**
 * The Open Inference Protocol v2 over REST (KServe's "v2" protocol, NVIDIA Triton's HTTP API,
 * Seldon MLServer's): its health, metadata and repository routes, and inference. The models are
 * the operations of the registry (src/ops), version "1" each. Inference runs on the same job
 * runner, limits, memory budget, queue and timeout as /v1, with the oip codec
 * (src/codecs/oip.ts), which tells a JSON body from a JSON header with binary tensors by the
 * Inference-Header-Content-Length header alone: tritonclient sends no Content-Type, so none is
 * required. Errors are the protocol's {"error": "<message>"} (src/plugins/errors.ts renders every
 * error under /v2 so).
 */

export const VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
export const EXTENSIONS = ['binary_tensor_data', 'classification', 'model_repository', 'parameters'];

type ModelParams = { model: string; version?: string };

/** The model a route names; 404 for an unknown model or version. */
export function modelOf(params: ModelParams): Operation {
  if (!isOpName(params.model)) throw new ApiError(404, 'NOT_FOUND', `unknown model ${quote(params.model)} (models: ${OP_NAMES.join(', ')})`);
  if (params.version !== undefined && params.version !== '1') {
    throw new ApiError(404, 'NOT_FOUND', `model ${params.model} has no version ${quote(params.version)} (its only version is 1)`);
  }
  return operation(params.model);
}

/**
 * A model's metadata, from its operation: its inputs and every output it may answer with (for the
 * parameters' defaults; partial: a required parameter such as score's targets has none).
 */
export function metadataOf(op: Operation): z.infer<typeof S.ModelMetadata> {
  const outputs = new Map<string, OutputSpec>();
  for (const o of [...op.outputs(op.params.partial().parse({})), ...(op.otherOutputs ?? [])]) if (!outputs.has(o.name) && !o.echo) outputs.set(o.name, o);
  const real = (name: string) => ({ name, datatype: 'FP64', shape: [-1, -1] });
  return {
    name: op.name,
    versions: ['1'],
    platform: 'anymax',
    inputs: [
      real('logits'),
      ...(op.acceptsProbs ? [real('probs')] : []),
      // Optional per-row inputs, after the matrix (src/codecs/oip-row-inputs.ts).
      ...(op.rowInputs ?? []).map(({ name, datatype }) => ({ name, datatype, shape: [-1] })),
    ],
    outputs: [...outputs.values()].map((o) => ({
      name: o.name,
      datatype: o.type === 'i32' ? 'INT64' : 'FP64',
      shape: o.width === 1 ? [-1] : [-1, -1],
    })),
  };
}

/** The Inference-Header-Content-Length request header as a byte count (undefined: absent, an all-JSON body). */
function headerLengthOf(req: FastifyRequest): number | undefined {
  const value = req.headers[HEADER_LENGTH];
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const n = /^\d{1,15}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw badRequest(`Inference-Header-Content-Length must be a byte count, a non-negative integer (got ${quote(String(value))})`);
  return n;
}

const Model = z.object({ model: z.enum(OP_NAMES as [string, ...string[]]).meta({ description: 'An operation of /v1.' }) });
const ModelVersion = Model.extend({ version: z.literal('1').meta({ description: 'The only version.' }) });

export default async function v2Routes(app: FastifyInstance, opts: BodyLimits) {
  // The routes check their parameters themselves (an unknown model is a 404, not a 400), and the
  // infer body is the codec's to validate: the schemas below document.
  app.setValidatorCompiler(() => (data) => ({ value: data }));
  const r = app.withTypeProvider<ZodTypeProvider>();
  const tags = ['v2'];

  r.get('/v2', { schema: { tags, summary: 'Server metadata', response: { 200: S.ServerMetadata, ...S.oipErrors } } }, async () => ({
    name: 'anymax',
    version: VERSION,
    extensions: EXTENSIONS,
  }));
  // Liveness stays 200 under load shedding, as /health/live.
  r.get(
    '/v2/health/live',
    { schema: { tags, summary: 'Server liveness', response: { 200: S.Live, ...S.oipErrors } }, config: { pressureHandler: () => undefined } },
    async () => ({ live: true }),
  );
  r.get('/v2/health/ready', { schema: { tags, summary: 'Server readiness (as /health/ready)', response: { 200: S.Ready, ...S.oipErrors } } }, async (_req, reply) => {
    if (app.jobs.ready() && app.service.ready()) return { ready: true };
    return send(reply, notReady());
  });

  for (const [path, params] of [
    ['/v2/models/:model', Model],
    ['/v2/models/:model/versions/:version', ModelVersion],
  ] as const) {
    r.get(path, { schema: { tags, summary: 'Model metadata', params, response: { 200: S.ModelMetadata, ...S.oipErrors } } }, async (req) =>
      metadataOf(modelOf(req.params as ModelParams)),
    );
    r.get(`${path}/ready`, { schema: { tags, summary: 'Model readiness', params, response: { 200: S.ModelReady, ...S.oipErrors } } }, async (req) => ({
      name: modelOf(req.params as ModelParams).name,
      ready: true,
    }));
  }

  // The routes that read a body: reserved and read as /v1's are (src/http/job-body.ts), with any
  // Content-Type or none, and Content-Encoding gzip / deflate decoded within the same limit.
  await app.register(async (withBody) => {
    reserveBeforeBody(withBody, opts);
    withBody.removeAllContentTypeParsers();
    const parse = (req: FastifyRequest, payload: Readable, done: (err: Error | null, body?: unknown) => void) => {
      let coding;
      try {
        coding = contentCodingOf(req.headers['content-encoding']);
      } catch (e) {
        payload.resume();
        done(e as Error, undefined);
        return;
      }
      const read =
        coding === 'identity'
          ? readJobBody(withBody, req, payload, opts, declaredLength(req))
          : readDecoded(payload, coding, opts.maxBodyBytes, declaredLength(req), (decoded) => readJobBody(withBody, req, decoded, opts, undefined));
      read.then(
        (body) => done(null, body),
        (e: Error) => done(e, undefined),
      );
    };
    // The usual types by name as well: Fastify caches a named parser per Content-Type, while a
    // request that only the catch-all takes has its header parsed each time (~1.7 us).
    withBody.addContentTypeParser(['application/json', 'application/octet-stream'], parse);
    withBody.addContentTypeParser('*', parse);
    const w = withBody.withTypeProvider<ZodTypeProvider>();

    // Every model is loaded and ready; a body (Triton's {"ready": true}) is accepted and not read.
    w.post(
      '/v2/repository/index',
      { schema: { tags, summary: 'The models and their state', response: { 200: S.RepositoryIndex, ...S.oipErrors } } },
      async () => OPERATIONS.map((op) => ({ name: op.name, version: '1', state: 'READY' })),
    );

    for (const [path, params] of [
      ['/v2/models/:model/infer', Model],
      ['/v2/models/:model/versions/:version/infer', ModelVersion],
    ] as const) {
      w.post(
        path,
        {
          schema: {
            tags,
            summary: 'Inference: JSON, or a JSON header and binary tensors (Triton\'s binary tensor data extension)',
            params,
            headers: S.InferHeaders,
            body: S.inferBody as never,
            response: { 200: S.inferAnswer as never, ...S.oipErrors },
          },
          // Answers are bytes, text or streams from the codec: nothing for Fastify to serialise.
          serializerCompiler: () => (data) => JSON.stringify(data),
          // An unknown model or version is refused before its body is read.
          onRequest: async (req) => void modelOf(req.params as ModelParams),
        },
        async (req, reply) => {
          const op = modelOf(req.params as ModelParams);
          const body = req.body as unknown;
          if (!Buffer.isBuffer(body) || body.length === 0) {
            throw badRequest('the request body is empty: an inference request (JSON, or a JSON header and binary tensors) is required');
          }
          const out = await app.jobs.run('oip', op.name, body, { cancel: req.clientGone!, reservation: req.reservation! }, { headerLength: headerLengthOf(req) });
          req.anymax = { rows: out.rows, cols: out.cols };
          if (out.headers) reply.headers(out.headers);
          // Its shared buffers are reused once every byte has gone to the socket.
          if (out.release) reply.raw.once('finish', out.release);
          const binary = out.headers?.[HEADER_LENGTH] !== undefined;
          return reply.type(binary ? 'application/octet-stream' : 'application/json').send(out.body);
        },
      );
    }
  });
}
