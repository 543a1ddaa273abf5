import { z } from 'zod';
import { EXAMPLE_LOGITS, Logits, ProbsMatrix, Temperature } from './common.js';

export const SoftmaxRequest = z
  .strictObject({
    logits: Logits,
    temperature: Temperature,
    log: z
      .boolean({ error: 'log must be a boolean' })
      .default(false)
      .meta({ description: 'Return log-probabilities (logProbs) instead of probabilities.' }),
  })
  .meta({ id: 'SoftmaxRequest', example: { logits: EXAMPLE_LOGITS, temperature: 1 } });

export const SoftmaxResponse = z
  .union([
    z.object({ probs: ProbsMatrix }),
    z.object({
      logProbs: z.array(z.array(z.number().nullable())).meta({
        description: 'Log-probabilities; null is -infinity (a masked class).',
        example: [[-0.4076059644443803, -1.4076059644443801, -2.40760596444438]],
      }),
    }),
  ])
  .meta({
    id: 'SoftmaxResponse',
    description: 'softmax(logits / T), or its logarithm when log is true.',
    example: { probs: [[0.6652409557748219, 0.24472847105479767, 0.09003057317038046]] },
  });
