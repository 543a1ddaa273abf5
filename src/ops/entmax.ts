import { z } from 'zod';
import { entmax as kernel } from '../core/entmax.js';
import { Alpha, ProbsMatrix, Support, Temperature } from '../schemas/common.js';
import { defineOperation, f64, i32, v1Request } from './types.js';

/** alpha-entmax of logits / T: softmax at alpha = 1, sparsemax at 2, argmax as alpha grows. */
const params = z.object({ alpha: Alpha, temperature: Temperature });

export default defineOperation({
  name: 'entmax',
  summary: 'alpha-entmax of logits / T',
  params,
  acceptsProbs: false,
  seeded: false,
  request: v1Request(params, false, { id: 'EntmaxRequest', example: { logits: [[-2, 0, 0.5]], alpha: 1.5 } }),
  response: z
    .object({ probs: ProbsMatrix, support: Support })
    .meta({
      id: 'EntmaxResponse',
      description: 'alpha-entmax of logits / T and the support size per row.',
      example: { probs: [[0, 0.32600736366156174, 0.6739926363384381]], support: [2] },
    }),
  workPerElement: () => 1,
  outputs: () => [f64('probs'), i32('support')],
  run: ({ data, rows, cols, params: p }, [probs, support]) =>
    void kernel(data, rows, cols, p.alpha, p.temperature, probs as Float64Array, support as Int32Array),
});
