import { z } from 'zod';
import { gumbelSoftmax as kernel } from '../core/gumbel-softmax.js';
import { EXAMPLE_LOGITS, Indices, ProbsMatrix, ReturnedSeed, Seed } from '../schemas/common.js';
import { defineOperation, f64, i32, v1Request } from './types.js';

/** softmax((z + g) / tau) with seeded Gumbel noise g (Jang et al. 2017; Maddison et al. 2017). */
const params = z.object({
  temperature: z
    .number({ error: 'temperature must be a number' })
    .gt(0, { error: 'temperature must be > 0' })
    .default(1)
    .meta({ description: 'tau > 0 of softmax((z + g) / tau).', example: 1 }),
  hard: z
    .boolean({ error: 'hard must be a boolean' })
    .default(false)
    .meta({ description: 'Return the one-hot of the argmax (the straight-through forward value).' }),
  seed: Seed,
});

export default defineOperation({
  name: 'gumbel-softmax',
  summary: 'Seeded Gumbel-softmax relaxed (or hard) sample',
  params,
  acceptsProbs: true,
  seeded: true,
  request: v1Request(params, true, {
    id: 'GumbelSoftmaxRequest',
    description: 'Exactly one of logits or probs.',
    example: { logits: EXAMPLE_LOGITS, temperature: 0.5, seed: 42 },
  }),
  response: z
    .object({ probs: ProbsMatrix, indices: Indices, seed: ReturnedSeed })
    .meta({
      id: 'GumbelSoftmaxResponse',
      description: 'softmax((z + g) / tau) with Gumbel noise g of draw 0, the argmax per row, and the seed.',
    }),
  workPerElement: () => 1,
  outputs: () => [f64('probs'), i32('indices')],
  run: ({ data, rows, cols, params: p, input, rowOffset }, [probs, indices]) =>
    void kernel(
      data,
      rows,
      cols,
      { tau: p.temperature, hard: p.hard, seed: p.seed as number, input, rowOffset },
      probs as Float64Array,
      indices as Int32Array,
    ),
});
