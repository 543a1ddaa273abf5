import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { build, post } from '../helpers/http.js';

/**
 * No input may produce a 500: generated bodies, well-formed with extreme values (1e308, 5e-324,
 * masked entries, huge alpha, tiny temperatures) or arbitrary JSON, get 200 or 4xx; every 200 is
 * valid JSON whose probabilities are on the simplex with masked classes at 0, and whose indices
 * are in range and never a masked class. (fast-check's seed is fixed in test/setup.ts.)
 */

const RUNS = Number(process.env.FC_RUNS ?? 300);

const server = build();

const num = fc.oneof(
  fc.double({ noNaN: true, noDefaultInfinity: true }),
  fc.constantFrom(0, -0, 1, -1, 1e308, -1e308, 5e-324, -5e-324, 1e-300, 700, -700, 745, -745, 1e16, 2 ** 53),
  fc.double({ min: -10, max: 10, noNaN: true }),
);
const logit = fc.oneof({ weight: 8, arbitrary: num }, { weight: 1, arbitrary: fc.constant(null) });
const weight = fc.oneof(fc.double({ min: 0, max: 1e308, noNaN: true }), fc.constantFrom(0, 5e-324, 1e-300, 1, 1e308));
const matrix = <T>(e: fc.Arbitrary<T>) =>
  fc
    .integer({ min: 1, max: 6 })
    .chain((cols) => fc.array(fc.array(e, { minLength: cols, maxLength: cols }), { minLength: 1, maxLength: 4 }));
const positive = fc.oneof(
  fc.double({ min: 5e-324, max: 1.7976931348623157e308, noNaN: true }),
  fc.constantFrom(5e-324, 1e-300, 1e-10, 0.5, 1, 2, 1e10, 1e300),
);
const alpha = fc.oneof(
  fc.double({ min: 1, max: 1e308, noNaN: true }),
  fc.constantFrom(1, 1 + 2 ** -52, 1.0001, 1.5, 2, 2.0000001, 3, 10, 1e6, 1e300),
);
const sampleOptions = {
  mapping: fc.constantFrom('softmax', 'sparsemax', 'entmax'),
  alpha,
  temperature: fc.oneof(fc.constant(0), positive),
  topK: fc.integer({ min: 1, max: 10 }),
  topP: fc.double({ min: 0, max: 1, noNaN: true, minExcluded: true }),
  minP: fc.double({ min: 0, max: 1, noNaN: true }),
  n: fc.integer({ min: 1, max: 5 }),
  seed: fc.maxSafeNat(),
};

const request = fc.oneof(
  fc.record({ ep: fc.constant('argmax'), body: fc.record({ logits: matrix(logit) }) }),
  fc.record({ ep: fc.constant('softmax'), body: fc.record({ logits: matrix(logit), temperature: positive, log: fc.boolean() }) }),
  fc.record({ ep: fc.constant('sparsemax'), body: fc.record({ logits: matrix(logit), temperature: positive }) }),
  fc.record({ ep: fc.constant('entmax'), body: fc.record({ logits: matrix(logit), temperature: positive, alpha }) }),
  fc.record({
    ep: fc.constant('gumbel-softmax'),
    body: fc.oneof(
      fc.record({ logits: matrix(logit), temperature: positive, hard: fc.boolean(), seed: fc.maxSafeNat() }),
      fc.record({ probs: matrix(weight), temperature: positive, hard: fc.boolean(), seed: fc.maxSafeNat() }),
    ),
  }),
  fc.record({
    ep: fc.constant('sample'),
    body: fc.oneof(
      fc.record({ logits: matrix(logit), ...sampleOptions }, { requiredKeys: ['logits', 'seed'] }),
      fc.record({ probs: matrix(weight), ...sampleOptions }, { requiredKeys: ['probs', 'seed'] }),
    ),
  }),
);

type Body = { logits?: (number | null)[][]; probs?: number[][] };

/** Why a 200 answer breaks the contract, or null. */
function violation(body: Body, text: string): string | null {
  let out: { probs?: number[][]; logProbs?: (number | null)[][]; indices?: number[]; samples?: number[][]; support?: number[] };
  try {
    out = JSON.parse(text);
  } catch {
    return 'not JSON';
  }
  const m = (body.logits ?? body.probs)!;
  const masked = (r: number, j: number) => (body.logits ? m[r][j] === null : m[r][j] === 0);
  const cols = m[0].length;
  for (const [r, row] of (out.probs ?? []).entries()) {
    if (row.length !== cols) return `probs[${r}] has ${row.length} entries`;
    if (row.some((p) => !(p >= 0 && p <= 1))) return `probs[${r}] out of [0, 1]`;
    if (!(Math.abs(row.reduce((a, b) => a + b, 0) - 1) < 1e-9)) return `probs[${r}] does not sum to 1`;
    if (row.some((p, j) => masked(r, j) && p !== 0)) return `probs[${r}] gives mass to a masked class`;
    if (out.support && out.support[r] !== row.filter((p) => p > 0).length) return `support[${r}] is not the count of p > 0`;
  }
  for (const [r, row] of (out.logProbs ?? []).entries()) {
    if (!(Math.abs(row.reduce<number>((a, v) => a + (v === null ? 0 : Math.exp(v)), 0) - 1) < 1e-9)) return `logProbs[${r}] does not sum to 1`;
    if (row.some((v, j) => masked(r, j) && v !== null)) return `logProbs[${r}] masked class not null`;
  }
  const picks = out.indices ? out.indices.map((k, r) => [r, k]) : (out.samples ?? []).flatMap((row, r) => row.map((k) => [r, k]));
  for (const [r, k] of picks) {
    if (!(Number.isInteger(k) && k >= 0 && k < cols)) return `index ${k} in row ${r} out of range`;
    if (masked(r, k)) return `index ${k} in row ${r} is a masked class`;
  }
  return null;
}

describe('generated bodies never get a 500', () => {
  it('well-formed bodies with extreme values: 200 within the contract, or 400', async () => {
    await fc.assert(
      fc.asyncProperty(request, async ({ ep, body }) => {
        const res = await post(server.app, `/v1/${ep}`, body);
        expect([200, 400], `${ep} ${JSON.stringify(body)} -> ${res.body}`).toContain(res.statusCode);
        if (res.statusCode === 200) expect(violation(body as Body, res.body), `${ep} ${JSON.stringify(body)} -> ${res.body}`).toBeNull();
      }),
      { numRuns: RUNS },
    );
  });

  it('arbitrary JSON: 200 or 4xx with the error shape', async () => {
    const endpoint = fc.constantFrom('argmax', 'softmax', 'sparsemax', 'entmax', 'gumbel-softmax', 'sample');
    const junk = fc.oneof(
      fc.jsonValue(),
      fc.record({ logits: fc.jsonValue() }),
      fc.record({ probs: fc.jsonValue(), seed: fc.jsonValue() }),
      fc.dictionary(fc.constantFrom('logits', 'probs', 'temperature', 'alpha', 'n', 'seed', 'topK', 'topP', 'minP', 'mapping', 'hard', 'log'), fc.jsonValue()),
    );
    await fc.assert(
      fc.asyncProperty(endpoint, junk, async (ep, body) => {
        const res = await post(server.app, `/v1/${ep}`, JSON.stringify(body));
        expect(res.statusCode, `${ep} ${JSON.stringify(body)} -> ${res.body}`).toBeLessThan(500);
        if (res.statusCode !== 200) {
          const err = JSON.parse(res.body) as Record<string, unknown>;
          expect(err.statusCode).toBe(res.statusCode);
          expect(typeof err.message).toBe('string');
        }
      }),
      { numRuns: RUNS },
    );
  });

  it('arbitrary bytes as a JSON body: 400', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 64 }), async (bytes) => {
        const res = await post(server.app, '/v1/softmax', Buffer.from(bytes));
        expect([200, 400]).toContain(res.statusCode);
      }),
      { numRuns: Math.min(RUNS, 200) },
    );
  });
});
