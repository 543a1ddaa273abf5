import { z } from 'zod';
import { logSoftmax, softmax as kernel } from '../core/softmax.js';
import { EXAMPLE_LOGITS, ProbsMatrix, Temperature } from '../schemas/common.js';
import { defineOperation, f64, v1Request } from './types.js';

/** softmax(logits / T), or log-softmax. */
const params = z.object({
  temperature: Temperature,
  log: z
    .boolean({ error: 'log must be a boolean' })
    .default(false)
    .meta({ description: 'Return log-probabilities (logProbs) instead of probabilities.' }),
});

export default defineOperation({
  name: 'softmax',
  summary: 'softmax(logits / T), or log-softmax',
  params,
  acceptsProbs: false,
  seeded: false,
  request: v1Request(params, false, { id: 'SoftmaxRequest', example: { logits: EXAMPLE_LOGITS, temperature: 1 } }),
  response: z
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
    }),
  workPerElement: () => 1,
  outputs: (p) => [f64(p.log ? 'logProbs' : 'probs')],
  otherOutputs: [f64('logProbs')],
  run: ({ data, rows, cols, params: p }, [out]) => {
    if (p.log) logSoftmax(data, rows, cols, p.temperature, out as Float64Array);
    else kernel(data, rows, cols, p.temperature, out as Float64Array);
  },
});
