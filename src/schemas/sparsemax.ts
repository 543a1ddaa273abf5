import { z } from 'zod';
import { EXAMPLE_LOGITS, Logits, ProbsMatrix, Support, Temperature } from './common.js';

export const SparsemaxRequest = z
  .strictObject({ logits: Logits, temperature: Temperature })
  .meta({ id: 'SparsemaxRequest', example: { logits: EXAMPLE_LOGITS } });

export const SparsemaxResponse = z
  .object({ probs: ProbsMatrix, support: Support })
  .meta({
    id: 'SparsemaxResponse',
    description: 'Euclidean projection of logits / T onto the simplex (exact zeros) and the support size per row.',
    example: { probs: [[1, 0, 0]], support: [1] },
  });
