import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import type { Config } from '../../src/config.js';
import { post, promValue, randomLogits, scrape } from '../helpers/http.js';

/**
 * Same body + same seed = byte-identical response, whatever runs it: inline on the main thread,
 * one worker, two workers, split by rows across 2 or 3 workers (uneven chunks), split after a
 * main-thread parse. Each configuration is checked (through its metrics) to have really taken
 * the path it is named after, so the comparison cannot pass by all taking the same road.
 */

const ROWS = 37; // 3 workers split it 12 / 12 / 13
const COLS = 301;
const logits = randomLogits(ROWS, COLS, 2024, 4);
const masked = logits.map((row, r) => row.map((v, j) => ((r + j) % 7 === 0 ? null : v)));
const probs = logits.map((row) => row.map((v) => (v < -2 ? 0 : Math.exp(v))));
const BIG_SEED = 2 ** 52 + 123_456_789; // exercises the high key word
// Short rows: the sampler batches the noise of several short rows together, which a split must not change.
const short = randomLogits(ROWS, 5, 7, 2);
const short16 = randomLogits(ROWS, 16, 8, 2);

const BODIES: [string, string, Record<string, unknown>][] = [
  ['sample softmax', 'sample', { logits, n: 7, seed: BIG_SEED }],
  ['sample probs + filters', 'sample', { probs, n: 5, temperature: 0.7, topK: 50, topP: 0.9, minP: 0.01, seed: 99 }],
  ['sample sparsemax', 'sample', { logits: masked, mapping: 'sparsemax', temperature: 0.5, n: 5, seed: 3 }],
  ['sample entmax', 'sample', { logits: masked, mapping: 'entmax', alpha: 1.3, n: 5, seed: 4 }],
  ['sample greedy', 'sample', { logits, temperature: 0, n: 3, seed: 5 }],
  ['sample short rows', 'sample', { logits: short, n: 9, seed: BIG_SEED }],
  ['sample short rows, 16 classes', 'sample', { logits: short16, n: 4, temperature: 0.8, seed: 6 }],
  ['gumbel-softmax short rows', 'gumbel-softmax', { logits: short, seed: 6 }],
  ['gumbel-softmax logits', 'gumbel-softmax', { logits: masked, temperature: 0.7, seed: BIG_SEED }],
  ['gumbel-softmax probs hard', 'gumbel-softmax', { probs, hard: true, seed: 0 }],
  ['softmax log', 'softmax', { logits: masked, log: true, temperature: 1.5 }],
  ['sparsemax', 'sparsemax', { logits }],
  ['entmax', 'entmax', { logits: masked, alpha: 1.7 }],
  ['argmax', 'argmax', { logits: masked }],
];

const NEVER = 1e15;

interface Mode {
  overrides: Partial<Config>;
  /** Checks, from the metrics, that the requests went the way the mode says. */
  check(m: Awaited<ReturnType<typeof scrape>>, requests: number): void;
}

const queueWaits = (m: Awaited<ReturnType<typeof scrape>>) =>
  m.samples.filter((s) => s.name === 'anymax_queue_wait_seconds_count').reduce((a, s) => a + s.value, 0);
const kernelRuns = (m: Awaited<ReturnType<typeof scrape>>, where: string) =>
  m.samples
    .filter((s) => s.name === 'anymax_kernel_duration_seconds_count' && s.labels.where === where)
    .reduce((a, s) => a + s.value, 0);

const MODES: Record<string, Mode> = {
  'inline, main thread': {
    overrides: { workers: 1, inlineMaxBytes: NEVER, inlineMaxNs: NEVER, splitMinWork: NEVER },
    check: (m, n) => {
      expect(kernelRuns(m, 'inline')).toBe(n);
      expect(kernelRuns(m, 'pool')).toBe(0);
    },
  },
  'pool, 1 worker': {
    overrides: { workers: 1, inlineMaxBytes: 0, inlineMaxNs: 0, splitMinWork: NEVER },
    check: (m, n) => {
      expect(kernelRuns(m, 'pool')).toBe(n);
      expect(queueWaits(m)).toBe(n);
    },
  },
  'pool, 2 workers': {
    overrides: { workers: 2, inlineMaxBytes: 0, inlineMaxNs: 0, splitMinWork: NEVER },
    check: (m, n) => expect(queueWaits(m)).toBe(n),
  },
  'split across 2 workers': {
    overrides: { workers: 2, inlineMaxBytes: 0, inlineMaxNs: 0, splitMinWork: 1 },
    // one task parses the body, then one per chunk
    check: (m, n) => expect(queueWaits(m)).toBe(3 * n),
  },
  'split across 3 workers (uneven chunks)': {
    overrides: { workers: 3, inlineMaxBytes: 0, inlineMaxNs: 0, splitMinWork: 1 },
    check: (m, n) => expect(queueWaits(m)).toBe(4 * n),
  },
  'parsed on the main thread, split across 2 workers': {
    overrides: { workers: 2, inlineMaxBytes: NEVER, inlineMaxNs: 0, splitMinWork: 1 },
    check: (m, n) => expect(queueWaits(m)).toBe(2 * n),
  },
};

const answers = new Map<string, string[]>();

describe('byte-identical answers whatever the path, worker count or split', () => {
  beforeAll(async () => {
    for (const [name, mode] of Object.entries(MODES)) {
      const app = await buildApp({ logLevel: 'silent', ...mode.overrides });
      try {
        await app.ready();
        const out: string[] = [];
        for (const [label, ep, body] of BODIES) {
          const res = await post(app, `/v1/${ep}`, body);
          if (res.statusCode !== 200) throw new Error(`${name} / ${label}: ${res.statusCode} ${res.body}`);
          out.push(res.body);
        }
        mode.check(await scrape(app), BODIES.length);
        answers.set(name, out);
      } finally {
        await app.close();
      }
    }
  }, 120_000);

  it.each(Object.keys(MODES).slice(1))('%s gives the same bytes as inline', (name) => {
    const base = answers.get('inline, main thread')!;
    const got = answers.get(name)!;
    BODIES.forEach(([label], i) => expect(got[i], label).toBe(base[i]));
  });

  it('the answers are what they claim (shapes, seeds)', () => {
    const base = answers.get('inline, main thread')!;
    const s = JSON.parse(base[0]) as { samples: number[][]; seed: number };
    expect(s.seed).toBe(BIG_SEED);
    expect(s.samples).toHaveLength(ROWS);
    for (const row of s.samples) expect(row).toHaveLength(7);
    const g = JSON.parse(base[BODIES.findIndex(([label]) => label === 'gumbel-softmax logits')]) as { probs: number[][]; indices: number[] };
    expect(g.probs).toHaveLength(ROWS);
    expect(g.indices).toHaveLength(ROWS);
  });
});

describe('rows use their global index', () => {
  let app: FastifyInstance;

  beforeAll(async () => {
    app = await buildApp({ workers: 2, logLevel: 'silent', splitMinWork: 1 });
    await app.ready();
  });

  afterAll(async () => {
    await app?.close();
  });

  it('a prefix of the batch answers with the prefix of the batch answer', async () => {
    const full = JSON.parse((await post(app, '/v1/sample', { logits, n: 4, seed: 17 })).body) as { samples: number[][] };
    for (const k of [1, 2, 13, 36]) {
      const part = JSON.parse((await post(app, '/v1/sample', { logits: logits.slice(0, k), n: 4, seed: 17 })).body) as {
        samples: number[][];
      };
      expect(part.samples).toEqual(full.samples.slice(0, k));
    }
    const sFull = JSON.parse((await post(app, '/v1/sample', { logits: short, n: 6, seed: 17 })).body) as { samples: number[][] };
    for (const k of [1, 3, 17]) {
      const part = JSON.parse((await post(app, '/v1/sample', { logits: short.slice(0, k), n: 6, seed: 17 })).body) as {
        samples: number[][];
      };
      expect(part.samples, `short rows, prefix ${k}`).toEqual(sFull.samples.slice(0, k));
    }
    const gFull = JSON.parse((await post(app, '/v1/gumbel-softmax', { logits, seed: 17 })).body) as {
      probs: number[][];
      indices: number[];
    };
    const gPart = JSON.parse((await post(app, '/v1/gumbel-softmax', { logits: logits.slice(0, 5), seed: 17 })).body) as {
      probs: number[][];
      indices: number[];
    };
    expect(gPart.probs).toEqual(gFull.probs.slice(0, 5));
    expect(gPart.indices).toEqual(gFull.indices.slice(0, 5));
  });

  it('row 0 sent alone is row 0 of the batch; the same logits in row 1 get other noise', async () => {
    const row = logits[0];
    const alone = JSON.parse((await post(app, '/v1/gumbel-softmax', { logits: [row], seed: 8 })).body) as { probs: number[][] };
    const twice = JSON.parse((await post(app, '/v1/gumbel-softmax', { logits: [row, row], seed: 8 })).body) as {
      probs: number[][];
    };
    expect(twice.probs[0]).toEqual(alone.probs[0]);
    expect(twice.probs[1]).not.toEqual(twice.probs[0]);
  });

  it('a missing seed is drawn, returned, and replays to the same bytes', async () => {
    for (const [ep, body] of [
      ['sample', { logits, n: 3 }],
      ['gumbel-softmax', { probs }],
      ['sample', { logits: [[3, 2, 1]], n: 10 }], // inline
    ] as const) {
      const first = await post(app, `/v1/${ep}`, body);
      expect(first.statusCode).toBe(200);
      const { seed } = JSON.parse(first.body) as { seed: number };
      expect(Number.isSafeInteger(seed)).toBe(true);
      expect(seed).toBeGreaterThanOrEqual(0);
      expect(seed).toBeLessThan(2 ** 53);
      const replay = await post(app, `/v1/${ep}`, { ...body, seed });
      expect(replay.body).toBe(first.body);
    }
    // Drawn seeds differ from call to call (2^53 values: a collision here means a constant seed).
    const seeds = new Set<number>();
    for (let i = 0; i < 5; i++) {
      seeds.add((JSON.parse((await post(app, '/v1/sample', { logits: [[1, 2]] })).body) as { seed: number }).seed);
    }
    expect(seeds.size).toBe(5);
  });
});
