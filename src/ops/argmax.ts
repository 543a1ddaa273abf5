import { z } from 'zod';
import { argmax as kernel } from '../core/argmax.js';
import { EXAMPLE_LOGITS, Indices } from '../schemas/common.js';
import { defineOperation, i32, v1Request } from './types.js';

/** The index of each row's largest logit (ties: the lowest index). */
const params = z.object({});

export default defineOperation({
  name: 'argmax',
  summary: 'Index of the largest logit of each row',
  params,
  acceptsProbs: false,
  seeded: false,
  request: v1Request(params, false, { id: 'ArgmaxRequest', example: { logits: EXAMPLE_LOGITS } }),
  response: z
    .object({ indices: Indices })
    .meta({ id: 'ArgmaxResponse', description: 'Index of each row maximum; ties go to the lowest index.', example: { indices: [0] } }),
  workPerElement: () => 1,
  outputs: () => [i32('indices')],
  run: ({ data, rows, cols }, [indices]) => void kernel(data, rows, cols, indices as Int32Array),
});
