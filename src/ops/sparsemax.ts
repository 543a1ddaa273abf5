import { z } from 'zod';
import { sparsemax as kernel } from '../core/sparsemax.js';
import { EXAMPLE_LOGITS, ProbsMatrix, Support, Temperature } from '../schemas/common.js';
import { defineOperation, f64, i32, v1Request } from './types.js';

/** The Euclidean projection of logits / T onto the simplex, with exact zeros. */
const params = z.object({ temperature: Temperature });

export default defineOperation({
  name: 'sparsemax',
  summary: 'Euclidean projection of logits / T onto the simplex',
  params,
  acceptsProbs: false,
  seeded: false,
  request: v1Request(params, false, { id: 'SparsemaxRequest', example: { logits: EXAMPLE_LOGITS } }),
  response: z
    .object({ probs: ProbsMatrix, support: Support })
    .meta({
      id: 'SparsemaxResponse',
      description: 'Euclidean projection of logits / T onto the simplex (exact zeros) and the support size per row.',
      example: { probs: [[1, 0, 0]], support: [1] },
    }),
  workPerElement: () => 1,
  outputs: () => [f64('probs'), i32('support')],
  run: ({ data, rows, cols, params: p }, [probs, support]) =>
    void kernel(data, rows, cols, p.temperature, probs as Float64Array, support as Int32Array),
});
