import { z } from 'zod';
import { sample as kernel } from '../core/sample.js';
import { Alpha, EXAMPLE_LOGITS, ReturnedSeed, Seed } from '../schemas/common.js';
import { defineOperation, i32, v1Request } from './types.js';

/** Seeded draws (the Gumbel-max trick) after temperature, the mapping and the filters. */
const params = z.object({
  mapping: z
    .enum(['softmax', 'sparsemax', 'entmax'], { error: 'mapping must be one of softmax, sparsemax, entmax' })
    .default('softmax')
    .meta({ description: 'How logits become probabilities before the filters.' }),
  alpha: Alpha.meta({ description: 'Tsallis alpha >= 1, for mapping entmax.', example: 1.5 }),
  temperature: z
    .number({ error: 'temperature must be a number' })
    .min(0, { error: 'temperature must be >= 0' })
    .default(1)
    .meta({ description: 'T >= 0; the mapping is applied to logits / T; 0 is greedy (argmax).', example: 1 }),
  topK: z
    .int({ error: 'topK must be an integer >= 1' })
    .min(1, { error: 'topK must be an integer >= 1' })
    .optional()
    .meta({ description: 'Keep the k most probable classes (ties: lower index first).' }),
  topP: z
    .number({ error: 'topP must be a number in (0, 1]' })
    .gt(0, { error: 'topP must be a number in (0, 1]' })
    .max(1, { error: 'topP must be a number in (0, 1]' })
    .optional()
    .meta({ description: 'Keep the smallest most-probable prefix whose mass reaches topP.' }),
  minP: z
    .number({ error: 'minP must be a number in [0, 1]' })
    .min(0, { error: 'minP must be a number in [0, 1]' })
    .max(1, { error: 'minP must be a number in [0, 1]' })
    .optional()
    .meta({ description: 'Keep classes with p >= minP * max(p).' }),
  n: z
    .int({ error: 'n must be an integer >= 1' })
    .min(1, { error: 'n must be an integer >= 1' })
    .default(1)
    .meta({ description: 'Draws per row.' }),
  seed: Seed,
});

export default defineOperation({
  name: 'sample',
  summary: 'Seeded draws after temperature, mapping, topK, topP and minP',
  params,
  acceptsProbs: true,
  seeded: true,
  request: v1Request(params, true, {
    id: 'SampleRequest',
    description:
      'Exactly one of logits or probs. p = minP(topP(topK(mapping(logits / T)))), renormalised ' +
      'after each step; draw d of row r is the Gumbel-max draw with the noise of (seed, r, d).',
    example: { logits: EXAMPLE_LOGITS, n: 4, seed: 42 },
  }),
  response: z
    .object({
      samples: z.array(z.array(z.int())).meta({ description: 'rows x n class indices.', example: [[0, 0, 1, 0]] }),
      seed: ReturnedSeed,
    })
    .meta({ id: 'SampleResponse' }),
  workPerElement: (p) => p.n,
  outputs: () => [i32('samples', 'n')],
  run: ({ data, rows, cols, params: p, input, rowOffset }, [samples]) =>
    void kernel(
      data,
      rows,
      cols,
      {
        input,
        mapping: p.mapping,
        alpha: p.alpha,
        temperature: p.temperature,
        topK: p.topK,
        topP: p.topP,
        minP: p.minP,
        n: p.n,
        seed: p.seed as number,
        rowOffset,
      },
      samples as Int32Array,
    ),
});
