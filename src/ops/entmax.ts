import { z } from 'zod';
import { entmax as kernel } from '../core/entmax.js';
import { packRows } from '../core/pack.js';
import { Alpha, ProbsMatrix, SparseAnswer, SparseFormat, Support, Temperature } from '../schemas/common.js';
import { defineOperation, f64, i32, sparseOutputs, v1Request } from './types.js';

/** alpha-entmax of logits / T: softmax at alpha = 1, sparsemax at 2, argmax as alpha grows. */
const params = z.object({ alpha: Alpha, temperature: Temperature, format: SparseFormat });

export default defineOperation({
  name: 'entmax',
  summary: 'alpha-entmax of logits / T',
  params,
  acceptsProbs: false,
  seeded: false,
  request: v1Request(params, false, { id: 'EntmaxRequest', example: { logits: [[-2, 0, 0.5]], alpha: 1.5 } }),
  response: z
    .union([z.object({ probs: ProbsMatrix, support: Support }), SparseAnswer])
    .meta({
      id: 'EntmaxResponse',
      description: 'alpha-entmax of logits / T and the support size per row; with format sparse, each row\'s non-zeros (indices, values) and their count (support).',
      example: { probs: [[0, 0.32600736366156174, 0.6739926363384381]], support: [2] },
    }),
  workPerElement: () => 1,
  outputs: (p) => (p.format === 'sparse' ? sparseOutputs() : [f64('probs'), i32('support')]),
  otherOutputs: sparseOutputs().slice(0, 2),
  run: ({ data, rows, cols, params: p }, outs) => {
    // Sparse: the dense rows are computed where the values go, then packed there.
    const [probs, support] = p.format === 'sparse' ? [outs[1], outs[2]] : outs;
    kernel(data, rows, cols, p.alpha, p.temperature, probs as Float64Array, support as Int32Array);
    if (p.format === 'sparse') packRows(probs as Float64Array, rows, cols, outs[0] as Int32Array, support as Int32Array);
  },
});
