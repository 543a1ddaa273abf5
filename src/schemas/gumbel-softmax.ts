import { z } from 'zod';
import { EXAMPLE_LOGITS, Indices, Logits, Probs, ProbsMatrix, ReturnedSeed, Seed } from './common.js';

export const GumbelSoftmaxRequest = z
  .strictObject({
    logits: Logits.optional(),
    probs: Probs.optional(),
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
  })
  .meta({
    id: 'GumbelSoftmaxRequest',
    description: 'Exactly one of logits or probs.',
    example: { logits: EXAMPLE_LOGITS, temperature: 0.5, seed: 42 },
  });

export const GumbelSoftmaxResponse = z
  .object({ probs: ProbsMatrix, indices: Indices, seed: ReturnedSeed })
  .meta({
    id: 'GumbelSoftmaxResponse',
    description: 'softmax((z + g) / tau) with Gumbel noise g of draw 0, the argmax per row, and the seed.',
  });
