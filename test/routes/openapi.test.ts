import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import type { OpenAPI } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OP_NAMES } from '../../src/ops/index.js';
import { buildApp } from '../../src/app.js';
import { ERROR_CODES } from '../../src/errors.js';

/** GET /openapi.json (generated from the Zod schemas) and GET /docs (Swagger UI). */

let app: FastifyInstance;
let doc: Record<string, any>;

const V1 = OP_NAMES;

beforeAll(async () => {
  app = await buildApp({ workers: 1, logLevel: 'silent', testCrashRoute: true });
  await app.ready();
  const res = await app.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toMatch(/^application\/json/);
  doc = JSON.parse(res.body);
});

afterAll(async () => {
  await app?.close();
});

/** Every value under `node` (depth-first), to look for examples wherever the generator put them. */
function* walk(node: unknown, path = ''): Generator<[string, unknown]> {
  yield [path, node];
  if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) yield* walk(v, `${path}/${k}`);
  }
}

describe('GET /openapi.json', () => {
  it('is a valid OpenAPI 3 document (swagger-parser)', async () => {
    expect(doc.openapi).toMatch(/^3\./);
    const validated = await SwaggerParser.validate(structuredClone(doc) as OpenAPI.Document);
    expect(validated.info.title).toBe('anymax');
  });

  it('documents all six /v1 POST paths with request bodies and error responses', () => {
    for (const name of V1) {
      const op = doc.paths[`/v1/${name}`]?.post;
      expect(op, name).toBeDefined();
      expect(op.requestBody.content['application/json'].schema, name).toBeDefined();
      for (const status of ['200', '400', '405', '413', '415', '500', '503']) expect(op.responses[status], `${name} ${status}`).toBeDefined();
    }
  });

  it('documents the health routes, hides the test and utility routes', () => {
    expect(doc.paths['/health/live']?.get).toBeDefined();
    expect(doc.paths['/health/ready']?.get).toBeDefined();
    expect(doc.paths['/v1/_test/crash']).toBeUndefined();
    expect(doc.paths['/metrics']).toBeUndefined();
    expect(doc.paths['/openapi.json']).toBeUndefined();
  });

  it("carries the seed article's example z = [3, 2, 1]", async () => {
    const dereferenced = (await SwaggerParser.dereference(structuredClone(doc) as OpenAPI.Document)) as Record<string, any>;
    const hits = [...walk(dereferenced.paths)].filter(
      ([path, v]) => /example/.test(path) && JSON.stringify(v).includes('[[3,2,1]]'),
    );
    expect(hits.length).toBeGreaterThan(0);
    // And on the request body of argmax itself.
    const argmaxBody = JSON.stringify(dereferenced.paths['/v1/argmax'].post.requestBody);
    expect(argmaxBody).toContain('[[3,2,1]]');
  });

  it('describes the request fields of the contract', async () => {
    const d = (await SwaggerParser.dereference(structuredClone(doc) as OpenAPI.Document)) as Record<string, any>;
    const props = (name: string) => d.paths[`/v1/${name}`].post.requestBody.content['application/json'].schema.properties;
    expect(Object.keys(props('argmax'))).toEqual(['logits']);
    expect(Object.keys(props('softmax')).sort()).toEqual(['log', 'logits', 'temperature']);
    expect(Object.keys(props('entmax')).sort()).toEqual(['alpha', 'format', 'logits', 'temperature']);
    expect(Object.keys(props('sparsemax')).sort()).toEqual(['format', 'logits', 'temperature']);
    expect(props('sparsemax').format.enum).toEqual(['dense', 'sparse']);
    // Both answer shapes are documented.
    for (const name of ['sparsemax', 'entmax']) {
      const answer = d.paths[`/v1/${name}`].post.responses['200'].content['application/json'].schema;
      const shapes = (answer.anyOf ?? answer.oneOf).map((o: { properties: object }) => Object.keys(o.properties).sort());
      expect(shapes, name).toEqual([['probs', 'support'], ['indices', 'support', 'values']]);
    }
    expect(Object.keys(props('gumbel-softmax')).sort()).toEqual(['hard', 'logits', 'probs', 'seed', 'temperature']);
    expect(Object.keys(props('sample')).sort()).toEqual(
      [
        'alpha', 'logits', 'mapping', 'minP', 'n', 'probs', 'seed', 'temperature', 'topK', 'topP',
        'topNSigma', 'typicalP', 'epsilon', 'eta', 'logitBias', 'allowed', 'banned', 'replacement', 'logprobs', 'logprobsMode', 'topLogprobs',
      ].sort(),
    );
    expect(props('sample').mapping.enum).toEqual(['softmax', 'sparsemax', 'entmax']);
  });

  it('documents the /v2 routes (OIP), the infer body as JSON or binary with its header length, errors as OipError', () => {
    const gets = ['/v2', '/v2/health/live', '/v2/health/ready', '/v2/models/{model}', '/v2/models/{model}/versions/{version}', '/v2/models/{model}/ready', '/v2/models/{model}/versions/{version}/ready'];
    for (const p of gets) expect(doc.paths[p]?.get, p).toBeDefined();
    expect(doc.paths['/v2/repository/index']?.post).toBeDefined();
    expect(doc.paths['/v2/models/{model}'].get.parameters[0].schema.enum).toEqual([...V1]);
    for (const p of ['/v2/models/{model}/infer', '/v2/models/{model}/versions/{version}/infer']) {
      const op = doc.paths[p].post;
      expect(op.tags).toEqual(['v2']);
      expect(op.requestBody.content['application/json'].schema.$ref).toBe('#/components/schemas/OipInferenceRequestInput');
      expect(op.requestBody.content['application/octet-stream'].schema).toMatchObject({ type: 'string', format: 'binary' });
      expect(op.requestBody.content['application/octet-stream'].schema.description).toMatch(/Inference-Header-Content-Length/);
      const headers = op.parameters.filter((x: { in: string }) => x.in === 'header').map((x: { name: string }) => x.name);
      expect(headers.sort()).toEqual(['content-encoding', 'inference-header-content-length']);
      expect(op.responses['200'].headers['inference-header-content-length']).toBeDefined();
      expect(Object.keys(op.responses['200'].content).sort()).toEqual(['application/json', 'application/octet-stream']);
      for (const status of ['400', '404', '405', '413', '415', '500', '503']) {
        expect(op.responses[status].content['application/json'].schema.$ref, `${p} ${status}`).toBe('#/components/schemas/OipError');
      }
    }
    expect(doc.components.schemas.OipError.properties).toEqual({ error: expect.objectContaining({ type: 'string' }) });
  });

  it('lists every error code the service answers with in the Error schema', () => {
    expect(doc.components.schemas.Error.properties.code.enum).toEqual([...ERROR_CODES]);
    expect(doc.components.schemas.Error.description).toMatch(/405.*Allow/);
  });
});

describe('GET /docs', () => {
  it('answers 200 HTML (Swagger UI)', async () => {
    let res = await app.inject({ method: 'GET', url: '/docs' });
    for (let hops = 0; res.statusCode >= 300 && res.statusCode < 400 && hops < 3; hops++) {
      res = await app.inject({ method: 'GET', url: new URL(String(res.headers.location), 'http://x/docs').pathname });
    }
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/html/);
    expect(res.body).toMatch(/swagger/i);
  });
});
