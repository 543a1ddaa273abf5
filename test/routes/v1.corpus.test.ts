import { readFileSync } from 'node:fs';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import {
  CORPUS_APPS,
  bodyBytes,
  diffAnswer,
  poolTasks,
  placementOf,
  send,
  shapeOf,
  type Corpus,
  type CorpusApp,
  type CorpusCase,
} from '../helpers/corpus.js';

/**
 * The /v1 corpus guard: every request of test/fixtures/v1-corpus.json gets the same answer, to
 * the byte, as when it was recorded (status, Content-Type, Retry-After, body), and takes the same
 * placement path (inline, pool, pool from inline, split). Unseeded requests are checked for their
 * shape and against the same body with the seed the service drew. An answer that changes on
 * purpose is re-recorded with test/fixtures/record-v1-corpus.ts, the change named in the commit.
 */

const corpus = JSON.parse(readFileSync(new URL('../fixtures/v1-corpus.json', import.meta.url), 'utf8')) as Corpus;
const majorOf = (v: string) => v.replace(/^v/, '').split('.')[0];
// JSON.parse's error messages are V8's words, which change between Node majors.
const sameEngine = majorOf(corpus.node) === majorOf(process.version);
const V8_TEXT = /^(the request body is not valid JSON: ).*$/s;

/** An error answer with V8's part of its message cut; null if it has none. */
function withoutV8Text(text: string): string | null {
  try {
    const body = JSON.parse(text) as { message?: unknown };
    if (typeof body.message !== 'string' || !V8_TEXT.test(body.message)) return null;
    return JSON.stringify({ ...body, message: body.message.replace(V8_TEXT, '$1') });
  } catch {
    return null;
  }
}

/** One app at a time (each starts worker threads), built for its cases and closed after them. */
let app: FastifyInstance;
/** Pool tasks answered so far: each case's placement is the difference. */
let tasksSeen = 0;
const placements = new Map<string, string>();

/** Sends a case; records where it ran. */
async function replay(c: CorpusCase, body = bodyBytes(c.request.body)): Promise<LightMyRequestResponse> {
  const res = await send(app, c.request, body);
  const tasks = await poolTasks(app);
  placements.set(c.name, placementOf(c.app, body?.length ?? 0, tasks - tasksSeen));
  tasksSeen = tasks;
  return res;
}

function expectHeaders(c: CorpusCase, res: LightMyRequestResponse): void {
  const got = {
    'content-type': (res.headers['content-type'] as string | undefined) ?? null,
    'retry-after': (res.headers['retry-after'] as string | undefined) ?? null,
  };
  expect(got, `${c.name}: headers`).toEqual(c.response.headers);
}

/** The failure message for an answer that is not the recorded one. */
function mismatch(c: CorpusCase, res: LightMyRequestResponse, diff: string): string {
  return `${c.name}: the answer is not the recorded one (${c.request.method} ${c.request.url}, app ${c.app}, status ${res.statusCode})\n${diff}`;
}

it('the corpus is replayed on the apps it was recorded on, and covers every placement path', () => {
  expect(CORPUS_APPS).toEqual(corpus.apps);
  expect(corpus.cases.length).toBeGreaterThan(100);
  const answered = new Set(corpus.cases.filter((c) => c.response.status === 200).map((c) => c.path));
  expect([...answered].sort()).toEqual(['inline', 'pool', 'pool-from-inline', 'split', 'split-from-body']);
});

const appNames = [...new Set(corpus.cases.map((c) => c.app))];

describe.each(appNames)('v1 corpus on app %s: the recorded answers, byte for byte', (name: CorpusApp) => {
  const cases = corpus.cases.filter((c) => c.app === name);

  beforeAll(async () => {
    app = await buildApp({ logLevel: 'silent', ...CORPUS_APPS[name] });
    await app.ready();
    tasksSeen = await poolTasks(app);
  });

  afterAll(async () => {
    await app?.close();
  });

  it.each(cases.filter((c) => c.check === 'exact').map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const res = await replay(c);
    const stored = c.response.body;
    let diff = diffAnswer(stored, res.rawPayload);
    if (diff && !sameEngine && typeof stored === 'string') {
      // Recorded on another Node major: V8's words in a JSON.parse error may differ, the rest may not.
      const want = withoutV8Text(stored);
      if (want !== null && want === withoutV8Text(res.body)) diff = null;
    }
    if (diff) expect.fail(mismatch(c, res, diff));
    expect(res.statusCode, `${c.name}: status`).toBe(c.response.status);
    expectHeaders(c, res);
  });

  const unseeded = cases.filter((c) => c.check === 'unseeded');
  if (unseeded.length > 0) it.each(unseeded.map((c) => [c.name, c] as const))('%s (unseeded)', async (_name, c) => {
    const res = await replay(c);
    expect(res.statusCode, res.body).toBe(c.response.status);
    expectHeaders(c, res);
    const answer = JSON.parse(res.body) as { seed: unknown };
    expect(shapeOf(answer), `${c.name}: keys and dimensions`).toEqual(c.response.shape);
    expect(Number.isSafeInteger(answer.seed) && (answer.seed as number) >= 0, `${c.name}: seed ${String(answer.seed)}`).toBe(true);
    // The same body with the drawn seed is the same answer.
    const text = bodyBytes(c.request.body)!.toString('utf8');
    const seeded = Buffer.from(`${text.slice(0, text.lastIndexOf('}'))},"seed":${answer.seed as number}}`, 'utf8');
    const again = await replay(c, seeded);
    const diff = diffAnswer(res.body, again.rawPayload);
    if (diff) expect.fail(mismatch(c, again, `replayed with its seed ${answer.seed as number}: ${diff}`));
  });

  it('every case took the placement path it was recorded on', () => {
    const moved = cases
      .filter((c) => c.path !== undefined && placements.has(c.name) && placements.get(c.name) !== c.path)
      .map((c) => `${c.name}: recorded ${c.path}, now ${placements.get(c.name)}`);
    expect(moved).toEqual([]);
  });
});
