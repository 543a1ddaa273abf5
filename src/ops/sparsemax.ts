import { z } from 'zod';
import { sparsemax as kernel } from '../core/sparsemax.js';
import { packRows } from '../core/pack.js';
import { EXAMPLE_LOGITS, ProbsMatrix, SparseAnswer, SparseFormat, Support, Temperature } from '../schemas/common.js';
import { defineOperation, f64, i32, sparseOutputs, v1Request } from './types.js';

/** The Euclidean projection of logits / T onto the simplex, with exact zeros. */
const params = z.object({ temperature: Temperature, format: SparseFormat });

export default defineOperation({
  name: 'sparsemax',
  summary: 'Euclidean projection of logits / T onto the simplex',
  params,
  acceptsProbs: false,
  seeded: false,
  request: v1Request(params, false, { id: 'SparsemaxRequest', example: { logits: EXAMPLE_LOGITS } }),
  response: z
    .union([z.object({ probs: ProbsMatrix, support: Support }), SparseAnswer])
    .meta({
      id: 'SparsemaxResponse',
      description: 'Euclidean projection of logits / T onto the simplex (exact zeros) and the support size per row; with format sparse, each row\'s non-zeros (indices, values) and their count (support).',
      example: { probs: [[1, 0, 0]], support: [1] },
    }),
  workPerElement: () => 1,
  outputs: (p) => (p.format === 'sparse' ? sparseOutputs() : [f64('probs'), i32('support')]),
  otherOutputs: sparseOutputs().slice(0, 2),
  run: ({ data, rows, cols, params: p }, outs) => {
    // Sparse: the dense rows are computed where the values go, then packed there.
    const [probs, support] = p.format === 'sparse' ? [outs[1], outs[2]] : outs;
    kernel(data, rows, cols, p.temperature, probs as Float64Array, support as Int32Array);
    if (p.format === 'sparse') packRows(probs as Float64Array, rows, cols, outs[0] as Int32Array, support as Int32Array);
  },
});
