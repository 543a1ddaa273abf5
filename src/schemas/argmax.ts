import { z } from 'zod';
import { EXAMPLE_LOGITS, Indices, Logits } from './common.js';

export const ArgmaxRequest = z
  .strictObject({ logits: Logits })
  .meta({ id: 'ArgmaxRequest', example: { logits: EXAMPLE_LOGITS } });

export const ArgmaxResponse = z
  .object({ indices: Indices })
  .meta({ id: 'ArgmaxResponse', description: 'Index of each row maximum; ties go to the lowest index.', example: { indices: [0] } });
