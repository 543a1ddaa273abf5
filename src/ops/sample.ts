import { z } from 'zod';
import { sampleInto, type PerRow, type SampleOptions } from '../core/sample.js';
import { MAX_ECHOED, badRequest, type Issue } from '../errors.js';
import { Alpha, EXAMPLE_LOGITS, ReturnedSeeds, Seeds, perRow } from '../schemas/common.js';
import { defineOperation, i32, v1Request, type OutputSpec, type RowInputSpec } from './types.js';

/**
 * Seeded draws (the Gumbel-max trick) after biases and masks, temperature and the filters; with
 * the log-probabilities of the draws and of the most probable classes, per-row parameters and
 * seeds, and draws without replacement (Gumbel-top-k). The pipeline and its conventions are in
 * src/core/sample.ts and the README.
 */

// The scalar fields keep the messages they had before they took arrays (the same 400 bytes).
const TOP_K = 'topK must be an integer >= 1';
const TOP_P = 'topP must be a number in (0, 1]';
const MIN_P = 'minP must be a number in [0, 1]';
const TYPICAL_P = 'typicalP must be a number in (0, 1]';
const EPSILON = 'epsilon must be a number in [0, 1)';
const ETA = 'eta must be a number in [0, 1)';
const TOP_N_SIGMA = 'topNSigma must be a number > 0';

const num = (message: string) => z.number({ error: message });
const inUnitOpenLow = (message: string) => num(message).gt(0, { error: message }).max(1, { error: message });
const inUnitOpenHigh = (message: string) => num(message).min(0, { error: message }).lt(1, { error: message });

const perRowText = ' A number for every row, or an array of one per row.';

/** A class index in a JSON object's key: a plain decimal integer. */
const CLASS_KEY = /^(0|[1-9][0-9]*)$/;

const params = z.object({
  mapping: z
    .enum(['softmax', 'sparsemax', 'entmax'], { error: 'mapping must be one of softmax, sparsemax, entmax' })
    .default('softmax')
    .meta({ description: 'How logits become probabilities before the filters.' }),
  alpha: perRow(num('alpha must be a number').min(1, { error: 'alpha must be >= 1' }), 'alpha must be a number >= 1')
    .default(Alpha.def.defaultValue as number)
    .meta({ description: `Tsallis alpha >= 1, for mapping entmax.${perRowText}`, example: 1.5 }),
  temperature: perRow(num('temperature must be a number').min(0, { error: 'temperature must be >= 0' }), 'temperature must be a number >= 0')
    .default(1)
    .meta({ description: `T >= 0; the mapping is applied to logits / T; 0 is greedy (argmax).${perRowText}`, example: 1 }),
  topNSigma: perRow(num(TOP_N_SIGMA).gt(0, { error: TOP_N_SIGMA }), TOP_N_SIGMA)
    .optional()
    .meta({
      description:
        'Top-n-sigma (Tang et al. 2024): before the mapping, keep the classes with z / T >= max - ' +
        `topNSigma * sigma over the unmasked classes (sigma their population standard deviation).${perRowText}`,
    }),
  topK: perRow(z.int({ error: TOP_K }).min(1, { error: TOP_K }), TOP_K)
    .optional()
    .meta({ description: `Keep the k most probable classes (ties: lower index first).${perRowText}` }),
  topP: perRow(inUnitOpenLow(TOP_P), TOP_P)
    .optional()
    .meta({ description: `Keep the smallest most-probable prefix whose mass reaches topP.${perRowText}` }),
  typicalP: perRow(inUnitOpenLow(TYPICAL_P), TYPICAL_P)
    .optional()
    .meta({
      description:
        'Locally typical sampling (Meister et al. 2023): order classes by |-log p - H(p)| and keep ' +
        `the shortest prefix whose mass reaches typicalP.${perRowText}`,
    }),
  minP: perRow(num(MIN_P).min(0, { error: MIN_P }).max(1, { error: MIN_P }), MIN_P)
    .optional()
    .meta({ description: `Keep classes with p >= minP * max(p).${perRowText}` }),
  epsilon: perRow(inUnitOpenHigh(EPSILON), EPSILON)
    .optional()
    .meta({ description: `Epsilon sampling (Hewitt et al. 2022): keep p >= epsilon (none: the argmax).${perRowText}` }),
  eta: perRow(inUnitOpenHigh(ETA), ETA)
    .optional()
    .meta({
      description: `Eta sampling (Hewitt et al. 2022): keep p >= min(eta, sqrt(eta) exp(-H(p))) (none: the argmax).${perRowText}`,
    }),
  logitBias: z
    // Keys are checked in check() (a Zod key error would not name the key).
    .record(z.string(), z.number({ error: 'logitBias values must be finite numbers' }), {
      error: 'logitBias must be an object from class index to a number',
    })
    .optional()
    .meta({
      description: 'Added to the logits (to log p with probs) before temperature: {"<class index>": bias}.',
      example: { '0': -1.5 },
    }),
  allowed: z
    .array(z.int({ error: 'allowed must hold class indices (integers >= 0)' }).min(0, { error: 'allowed must hold class indices (integers >= 0)' }), {
      error: 'allowed must be an array of class indices',
    })
    .optional()
    .meta({ description: 'Only these classes may be drawn (every other class is masked).' }),
  banned: z
    .array(z.int({ error: 'banned must hold class indices (integers >= 0)' }).min(0, { error: 'banned must hold class indices (integers >= 0)' }), {
      error: 'banned must be an array of class indices',
    })
    .optional()
    .meta({ description: 'These classes are masked.' }),
  n: z
    .int({ error: 'n must be an integer >= 1' })
    .min(1, { error: 'n must be an integer >= 1' })
    .default(1)
    .meta({ description: 'Draws per row.' }),
  replacement: z
    .boolean({ error: 'replacement must be a boolean' })
    .default(true)
    .meta({
      description:
        'false: the n draws of a row are n distinct classes, those with the n largest log p + g ' +
        '(Gumbel-top-k, Kool et al. 2019), in decreasing order.',
    }),
  logprobs: z
    .boolean({ error: 'logprobs must be a boolean' })
    .default(false)
    .meta({ description: 'Answer logprobs: log p of each drawn class (rows x n).' }),
  logprobsMode: z
    .enum(['processed', 'raw'], { error: 'logprobsMode must be one of processed, raw' })
    .default('processed')
    .meta({
      description:
        'processed: the distribution sampled (after every step); raw: log-softmax of the logits ' +
        'after logitBias, allowed and banned (no temperature, mapping or filters).',
    }),
  topLogprobs: z
    .int({ error: 'topLogprobs must be an integer in [0, 64]' })
    .min(0, { error: 'topLogprobs must be an integer in [0, 64]' })
    .max(64, { error: 'topLogprobs must be an integer in [0, 64]' })
    .optional()
    .meta({ description: 'Answer the N most probable classes of each row and their log-probabilities (0 to 64).' }),
  seed: Seeds,
});

type Params = z.output<typeof params>;

/** The fields that take a number per row. */
const PER_ROW = ['alpha', 'temperature', 'topNSigma', 'topK', 'topP', 'typicalP', 'minP', 'epsilon', 'eta'] as const;

/** Checks that need the matrix's shape: per-row lengths, class indices, n without replacement. */
function check(p: Params, rows: number, cols: number): Issue[] {
  const issues: Issue[] = [];
  for (const name of [...PER_ROW, 'seed'] as const) {
    const v = p[name];
    if (Array.isArray(v) && v.length !== rows) {
      issues.push({ path: [name], message: `${name} has ${v.length} values, one per row, but the matrix has ${rows} row${rows === 1 ? '' : 's'}` });
    }
  }
  const range = `not a class index in [0, ${cols})`;
  for (const name of ['allowed', 'banned'] as const) {
    const list = p[name];
    if (!list) continue;
    for (let i = 0; i < list.length && issues.length < MAX_ECHOED; i++) {
      if (list[i] >= cols) issues.push({ path: [name, i], message: `${name}[${i}] is ${list[i]}, ${range}` });
    }
  }
  if (p.logitBias) {
    for (const key in p.logitBias) {
      if (issues.length >= MAX_ECHOED) break;
      if (!CLASS_KEY.test(key)) issues.push({ path: ['logitBias', key], message: `logitBias key ${JSON.stringify(key)} is not a class index (a decimal integer: "0", "17")` });
      else if (Number(key) >= cols) issues.push({ path: ['logitBias', key], message: `logitBias key "${key}" is ${range}` });
    }
  }
  if (!p.replacement && p.n > cols) {
    issues.push({ path: ['n'], message: `n is ${p.n}: without replacement it may be at most the ${cols} classes of a row` });
  }
  return issues;
}

function outputs(p: Params): OutputSpec[] {
  const out: OutputSpec[] = [i32('samples', 'n')];
  if (p.logprobs) out.push(LOGPROBS_OUTPUT);
  if (p.topLogprobs !== undefined) out.push(...TOP_OUTPUTS);
  // Per-row seeds are echoed as an output, not in the answer's fixed text: they are as many as
  // the rows, so they are written (and streamed) like any other array.
  if (Array.isArray(p.seed)) out.push(SEEDS_OUTPUT);
  return out;
}

const LOGPROBS_OUTPUT: OutputSpec = { name: 'logprobs', type: 'f64', width: 'n' };
const SEEDS_OUTPUT: OutputSpec = { name: 'seed', type: 'f64', width: 1, echo: true };

// In /v1 JSON one member of per-row objects {"indices", "logprobs"}, each row as long as the
// classes it lists; in OIP two [rows, N] tensors padded with -1 and -inf.
const TOP_OUTPUTS: OutputSpec[] = [
  {
    name: 'topLogprobIndices',
    type: 'i32',
    width: 'top',
    ragged: { pad: -1 },
    zip: { with: 'topLogprobs', as: 'topLogprobs', keys: ['indices', 'logprobs'] },
  },
  { name: 'topLogprobs', type: 'f64', width: 'top', ragged: { pad: -Infinity } },
];

const perRowValue = (v: number | number[] | undefined): PerRow | undefined =>
  v === undefined ? undefined : Array.isArray(v) ? Float64Array.from(v) : v;

function options(p: Params, input: 'logits' | 'probs', rowOffset: number): SampleOptions {
  const bias = p.logitBias;
  const keys = bias ? Object.keys(bias) : [];
  return {
    input,
    mapping: p.mapping,
    n: p.n,
    rowOffset,
    alpha: perRowValue(p.alpha),
    temperature: perRowValue(p.temperature),
    topNSigma: perRowValue(p.topNSigma),
    topK: perRowValue(p.topK),
    topP: perRowValue(p.topP),
    typicalP: perRowValue(p.typicalP),
    minP: perRowValue(p.minP),
    epsilon: perRowValue(p.epsilon),
    eta: perRowValue(p.eta),
    seed: perRowValue(p.seed as number | number[])!,
    logitBias: bias ? { index: Int32Array.from(keys, Number), value: Float64Array.from(keys, (k) => bias[k]) } : undefined,
    allowed: p.allowed ? Int32Array.from(p.allowed) : undefined,
    banned: p.banned ? Int32Array.from(p.banned) : undefined,
    replacement: p.replacement,
    logprobsMode: p.logprobsMode,
  };
}

export default defineOperation({
  name: 'sample',
  summary: 'Seeded draws after biases, masks, temperature, the mapping and the filters, with log-probabilities',
  params,
  acceptsProbs: true,
  seeded: true,
  request: v1Request(params, true, {
    id: 'SampleRequest',
    description:
      'Exactly one of logits or probs. Pipeline, renormalising after each step: logitBias, ' +
      'allowed and banned, then logits / T, topNSigma, the mapping, topK, topP, typicalP, minP, ' +
      'epsilon, eta; draw d of row r is the Gumbel-max draw with the noise of (seed, r, d).',
    example: { logits: EXAMPLE_LOGITS, n: 4, seed: 42 },
  }),
  response: z
    .object({
      samples: z.array(z.array(z.int())).meta({ description: 'rows x n class indices.', example: [[0, 0, 1, 0]] }),
      logprobs: z
        .array(z.array(z.number()))
        .optional()
        .meta({ description: 'With logprobs: rows x n, log p of each drawn class (in logprobsMode).' }),
      topLogprobs: z
        .array(z.object({ indices: z.array(z.int()), logprobs: z.array(z.number()) }))
        .optional()
        .meta({
          description:
            'With topLogprobs N: per row, the N most probable classes (decreasing, ties to the ' +
            'lower index, classes of probability 0 left out) and their log-probabilities.',
        }),
      seed: ReturnedSeeds,
    })
    .meta({ id: 'SampleResponse' }),
  check,
  listParams: ['allowed', 'banned', 'logitBias'],
  rowInputs: [...PER_ROW, 'seed'].map((name): RowInputSpec => ({ name, datatype: name === 'seed' || name === 'topK' ? 'INT64' : 'FP64' })),
  workPerElement: (p) => p.n,
  outputs,
  otherOutputs: [LOGPROBS_OUTPUT, ...TOP_OUTPUTS, SEEDS_OUTPUT],
  run: ({ data, rows, cols, params: p, input, rowOffset }, outs) => {
    const names = outputs(p).map((o) => o.name);
    const at = (name: string) => outs[names.indexOf(name)];
    const failure = sampleInto(data, rows, cols, options(p, input, rowOffset), {
      samples: outs[0] as Int32Array,
      logprobs: p.logprobs ? (at('logprobs') as Float64Array) : undefined,
      topIndices: p.topLogprobs !== undefined ? (at('topLogprobIndices') as Int32Array) : undefined,
      topLogprobs: p.topLogprobs !== undefined ? (at('topLogprobs') as Float64Array) : undefined,
      topN: p.topLogprobs,
    });
    if (Array.isArray(p.seed)) {
      const seeds = at('seed');
      for (let r = 0; r < rows; r++) seeds[r] = (p.seed as number[])[rowOffset + r];
    }
    if (failure === null) return;
    if (failure.kind === 'no-class') {
      throw badRequest(`${input}[${failure.row}] has no class left after logitBias, allowed and banned`, [
        { path: [input, failure.row], message: 'every class of this row is masked' },
      ]);
    }
    throw badRequest(
      `n is ${p.n}, but row ${failure.row} has only ${failure.classes} classes with p > 0 to draw without replacement`,
      [{ path: ['n'], message: `row ${failure.row} has ${failure.classes} classes with p > 0` }],
    );
  },
});
