import { z } from 'zod';
import { Alpha, Logits, ProbsMatrix, Support, Temperature } from './common.js';

export const EntmaxRequest = z
  .strictObject({ logits: Logits, alpha: Alpha, temperature: Temperature })
  .meta({ id: 'EntmaxRequest', example: { logits: [[-2, 0, 0.5]], alpha: 1.5 } });

export const EntmaxResponse = z
  .object({ probs: ProbsMatrix, support: Support })
  .meta({
    id: 'EntmaxResponse',
    description: 'alpha-entmax of logits / T and the support size per row.',
    example: { probs: [[0, 0.32600736366156174, 0.6739926363384381]], support: [2] },
  });
