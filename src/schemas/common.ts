import { z } from 'zod';
import { ERROR_CODES } from '../errors.js';

/**
 * Fields shared by the /v1 resources. These Zod schemas are the single source of the request and
 * response contract: Fastify's OpenAPI document is generated from them, and the request handler
 * (on the main thread or in a worker) validates every scalar field with them. The logits / probs
 * matrices are documented here but validated element by element by the hand loop in
 * ./matrix.ts, which is ~5x faster than Zod on 256k entries and names the exact position.
 */

export const MAX_SEED = 2 ** 53 - 1;

/** The seed article's running example, z = [3, 2, 1]. */
export const EXAMPLE_LOGITS = [[3, 2, 1]];

export const Logits = z
  .array(z.array(z.number().nullable()).min(1))
  .min(1)
  .meta({
    description:
      'Matrix of logits, rows x classes, every row the same length >= 1. null masks a class ' +
      '(logit -infinity, probability 0); a row may not be entirely null.',
    example: EXAMPLE_LOGITS,
  });

export const Probs = z
  .array(z.array(z.number().min(0)).min(1))
  .min(1)
  .meta({
    description:
      'Matrix of non-negative weights, rows x classes; each row is normalised by its sum, a 0 ' +
      'entry is masked, and a row summing to 0 is rejected. Used instead of logits (z = log p).',
    example: [[0.5, 0.3, 0.2]],
  });

export const Temperature = z
  .number({ error: 'temperature must be a number' })
  .gt(0, { error: 'temperature must be > 0' })
  .default(1)
  .meta({ description: 'T > 0: the mapping is applied to logits / T.', example: 1 });

// The handler also checks the seed's JSON text (src/codecs/seed-text.ts): JSON.parse rounds
// 9007199254740991.4 and 1e-400 to integers that would pass here.
const SEED_MESSAGE = 'seed must be an integer in [0, 2^53)';
const SeedValue = z
  .number({ error: SEED_MESSAGE })
  .int({ error: SEED_MESSAGE })
  .min(0, { error: SEED_MESSAGE })
  .max(MAX_SEED, { error: SEED_MESSAGE });

const SEED_DESCRIPTION =
  'Integer in [0, 2^53) selecting the Philox4x32-10 stream (see README), judged on its exact ' +
  'decimal value (4.2e1 is 42; 0.5 and 1e-400 are refused). Absent: the server draws one and ' +
  'returns it, so the call can be replayed.';

export const Seed = SeedValue.optional().meta({ description: SEED_DESCRIPTION, example: 42 });

/** A seed, or one per row: row r then draws from the stream keyed by seed[r] with row word 0. */
export const Seeds = z
  .union([SeedValue, z.array(SeedValue, { error: SEED_MESSAGE }).min(1, { error: 'seed must not be an empty array' })], {
    error: `${SEED_MESSAGE}, or an array of them, one per row`,
  })
  .optional()
  .meta({
    description:
      `${SEED_DESCRIPTION} An array of one seed per row keys each row's stream on its own (row ` +
      'word 0), so a row draws the same wherever it stands in a batch.',
    example: 42,
  });

/**
 * A number for every row, or an array of one per row (row r uses element r; its length is
 * checked against the matrix by the operation). A wrong element is named by its position.
 */
export function perRow<S extends z.ZodType<number>>(scalar: S, message: string) {
  return z.union([scalar, z.array(scalar, { error: `${message}, or an array of them, one per row` })], {
    error: `${message}, or an array of them, one per row`,
  });
}

export const Alpha = z
  .number({ error: 'alpha must be a number' })
  .min(1, { error: 'alpha must be >= 1' })
  .default(1.5)
  .meta({ description: 'Tsallis alpha >= 1: 1 is softmax, 2 is sparsemax.', example: 1.5 });

const seedInt = () => z.int().min(0).max(MAX_SEED);

export const ReturnedSeed = seedInt().meta({ description: 'The seed used (the one given, or the one the server drew).', example: 42 });

export const ReturnedSeeds = z
  .union([seedInt(), z.array(seedInt())])
  .meta({ description: 'The seed used (the one given, or the one the server drew), or the per-row seeds given.', example: 42 });

export const ProbsMatrix = z.array(z.array(z.number())).meta({
  description: 'rows x classes probabilities; each row is on the simplex.',
  example: [[0.6652409557748219, 0.24472847105479767, 0.09003057317038046]],
});

export const Support = z.array(z.int()).meta({
  description: 'Number of non-zero probabilities in each row.',
  example: [1],
});

/** The answer's shape for sparsemax and entmax. */
export const SparseFormat = z
  .enum(['dense', 'sparse'], { error: 'format must be one of dense, sparse' })
  .default('dense')
  .meta({
    description:
      'dense: probs (rows x classes) and support. sparse: each row\'s classes with p > 0 in ascending order (indices), ' +
      'their probabilities (values) and their count (support). Over OIP (/v2) the sparse outputs are padded ' +
      '[rows, classes] tensors: each row\'s support entries first, then indices -1 and values 0.',
    example: 'dense',
  });

/** The sparse answer of sparsemax and entmax (format sparse). */
export const SparseAnswer = z.object({
  indices: z.array(z.array(z.int())).meta({ description: 'Per row, the classes with p > 0, ascending.', example: [[0, 1]] }),
  values: z.array(z.array(z.number())).meta({ description: 'Per row, their probabilities.', example: [[0.75, 0.25]] }),
  support: Support,
});

export const Indices = z.array(z.int()).meta({
  description: 'One class index per row.',
  example: [0],
});

export const ErrorResponse = z
  .object({
    statusCode: z.int(),
    code: z.enum(ERROR_CODES).meta({ example: 'INVALID_REQUEST' }),
    error: z.string().meta({ example: 'Bad Request' }),
    message: z.string().meta({ example: 'logits[3][17] must be a number or null' }),
    issues: z
      .array(z.object({ path: z.array(z.union([z.string(), z.number()])), message: z.string() }))
      .optional(),
  })
  .meta({
    id: 'Error',
    description:
      'Every non-2xx answer has this shape, including requests refused before any route runs: ' +
      'malformed HTTP (400 MALFORMED_REQUEST), a method the path does not take (405, with an Allow ' +
      'header), 408, 414, 417 and 431. Each carries an x-request-id header.',
  });

/** The error answers every /v1 route documents. */
export const errorResponses = {
  400: ErrorResponse,
  405: ErrorResponse,
  413: ErrorResponse,
  415: ErrorResponse,
  500: ErrorResponse,
  503: ErrorResponse,
};
