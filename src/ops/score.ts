import { z } from 'zod';
import { score as kernel } from '../core/score.js';
import { badRequest, type Issue } from '../errors.js';
import { Alpha, Temperature } from '../schemas/common.js';
import { defineOperation, type OutputSpec, v1Request } from './types.js';

/**
 * Fenchel-Young losses and the entropy behind each mapping, per row, for a target class
 * (src/core/score.ts has the maths).
 */
const params = z.object({
  targets: z
    .array(z.int({ error: 'targets must be an array of class indices (integers)' }), {
      error: 'targets must be an array of class indices (integers), one per row',
    })
    .meta({ description: 'The target class of each row: one integer in [0, classes) per row, not a masked class.', example: [0] }),
  mapping: z
    .enum(['softmax', 'sparsemax', 'entmax'], { error: 'mapping must be one of softmax, sparsemax, entmax' })
    .default('softmax')
    .meta({ description: 'The mapping whose loss and entropy are computed: softmax (Shannon), sparsemax (Gini), entmax (Tsallis alpha).' }),
  alpha: Alpha.meta({ description: 'Tsallis alpha >= 1, for mapping entmax.', example: 1.5 }),
  temperature: Temperature,
});

const row = (description: string, example: number) => z.array(z.number()).meta({ description, example: [example] });
const out = (name: string): OutputSpec => ({ name, type: 'f64', width: 1 });

export default defineOperation({
  name: 'score',
  summary: 'Fenchel-Young loss, regularised max and entropy of a mapping, per row, for a target class',
  params,
  acceptsProbs: false,
  seeded: false,
  request: v1Request(params, false, {
    id: 'ScoreRequest',
    description:
      'theta = logits / T and p = mapping(theta); per row, entropy H(p), value = p . theta + H(p) (the regularised max) ' +
      'and loss = value - theta[target] (the Fenchel-Young loss: cross-entropy for softmax).',
    example: { logits: [[3, 2, 1]], targets: [0], mapping: 'sparsemax' },
  }),
  response: z
    .object({
      loss: row('Fenchel-Young loss value - theta[target] of each row (>= 0).', 0.5),
      prob: row('p[target] of each row.', 1),
      logprob: z
        .array(z.number().nullable())
        .meta({ description: 'log p[target]; null where p[target] = 0 (sparsemax, entmax; softmax gives the log-softmax, always a number).', example: [0] }),
      entropy: row("The mapping's entropy H(p): Shannon, Gini or Tsallis.", 0),
      value: row('The regularised max p . theta + H(p) (logsumexp(theta) for softmax).', 3.5),
    })
    .meta({
      id: 'ScoreResponse',
      example: { loss: [0.5], prob: [1], logprob: [0], entropy: [0], value: [3.5] },
    }),
  workPerElement: () => 1,
  outputs: () => ['loss', 'prob', 'logprob', 'entropy', 'value'].map(out),
  rowInputs: [{ name: 'targets', datatype: 'INT64' }],
  check: (p, rows, cols, data) => {
    const t = p.targets;
    if (t.length !== rows) {
      return [{ path: ['targets'], message: `targets has ${t.length} element(s); it needs one per row of logits (${rows})` }];
    }
    const issues: Issue[] = [];
    for (let r = 0; r < rows; r++) {
      const y = t[r];
      if (y < 0 || y >= cols) issues.push({ path: ['targets', r], message: `targets[${r}] is ${y}: a class index must be in [0, ${cols})` });
      else if (data[r * cols + y] === -Infinity) issues.push({ path: ['targets', r], message: `targets[${r}] is ${y}, a masked class of row ${r} (logits[${r}][${y}] is null)` });
    }
    return issues;
  },
  run: ({ data, rows, cols, params: p, rowOffset }, outs) => {
    const [loss, prob, logprob, entropy, value] = outs as Float64Array[];
    const failed = kernel(
      data,
      rows,
      cols,
      { mapping: p.mapping, alpha: p.alpha, temperature: p.temperature, targets: p.targets, rowOffset },
      { loss, prob, logprob, entropy, value },
    );
    // The codecs' check refuses these first; this holds for a job built without one.
    if (failed) {
      const r = rowOffset + failed.row;
      throw badRequest(
        failed.kind === 'masked-target'
          ? `targets[${r}] is ${p.targets[r]}, a masked class of row ${r}: its loss is infinite`
          : `targets[${r}] is not a class index in [0, ${cols})`,
        [{ path: ['targets', r], message: failed.kind === 'masked-target' ? 'a masked class' : 'not a class index' }],
      );
    }
  },
});
