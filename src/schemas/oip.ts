import { z } from 'zod';
import { OPERATIONS } from '../ops/index.js';

/**
 * The Open Inference Protocol's documents under /v2, for the OpenAPI document and the answers of
 * the metadata routes. The inference request itself is validated by the oip codec
 * (src/codecs/oip-request.ts), field by field with messages that name the place; the operations'
 * parameters by their own Zod schemas (src/ops).
 */

export const OipError = z
  .object({ error: z.string().meta({ example: 'unknown model "softmaxx" (models: argmax, softmax, ...)' }) })
  .meta({
    id: 'OipError',
    description:
      'Every non-2xx answer under /v2: the Open Inference Protocol\'s error object, with the same status (and ' +
      'Retry-After on 503) as the service\'s other routes.',
  });

/** The error answers of the /v2 routes. */
export const oipErrors = { 400: OipError, 404: OipError, 405: OipError, 413: OipError, 415: OipError, 500: OipError, 503: OipError };

export const ServerMetadata = z
  .object({ name: z.string(), version: z.string(), extensions: z.array(z.string()) })
  .meta({ id: 'OipServerMetadata', example: { name: 'anymax', version: '0.1.0', extensions: ['binary_tensor_data', 'classification', 'model_repository', 'parameters'] } });

export const Live = z.object({ live: z.boolean() }).meta({ id: 'OipLive', example: { live: true } });
export const Ready = z.object({ ready: z.boolean() }).meta({ id: 'OipReady', example: { ready: true } });
export const ModelReady = z.object({ name: z.string(), ready: z.boolean() }).meta({ id: 'OipModelReady', example: { name: 'softmax', ready: true } });

const TensorMetadata = z
  .object({ name: z.string(), datatype: z.string(), shape: z.array(z.int()).meta({ description: '-1: any size' }) })
  .meta({ id: 'OipTensorMetadata' });

export const ModelMetadata = z
  .object({
    name: z.string(),
    versions: z.array(z.string()),
    platform: z.string(),
    inputs: z.array(TensorMetadata),
    outputs: z.array(TensorMetadata),
  })
  .meta({
    id: 'OipModelMetadata',
    description:
      'A model is an operation of /v1. Real tensors are declared FP64; inputs may also be FP32, FP16 or BF16 ' +
      '(the two 16-bit types as binary data only), and real outputs are FP32 unless the input is FP64.',
  });

export const RepositoryIndex = z
  .array(z.object({ name: z.string(), version: z.string(), state: z.string() }))
  .meta({ id: 'OipRepositoryIndex', example: [{ name: 'softmax', version: '1', state: 'READY' }] });

// Per-row parameters (Operation.rowInputs) may also be input tensors named as the field.
const parametersByModel = OPERATIONS.map((op) => {
  const names = Object.keys(op.params.shape);
  const rows = op.rowInputs?.length ? ` (per row, also as input tensors [rows]: ${op.rowInputs.map((i) => i.name).join(', ')})` : '';
  return `${op.name}: ${names.join(', ') || 'none'}${rows}`;
}).join('; ');

export const InferenceRequest = z
  .object({
    id: z.string().optional().meta({ description: 'Echoed in the answer.' }),
    parameters: z
      .record(z.string(), z.unknown())
      .optional()
      .meta({
        description:
          `The operation's fields, with their /v1 names and meanings (${parametersByModel}). Triton's reserved keys ` +
          '(binary_data_output, priority, timeout, headers, sequence_*, triton_*) are accepted; binary_data_output: ' +
          'true answers every output in binary. Any other key is a 400.',
      }),
    inputs: z
      .array(
        z.object({
          name: z.enum(['logits', 'probs']).meta({ description: 'logits, or probs for gumbel-softmax and sample.' }),
          datatype: z.enum(['FP64', 'FP32', 'FP16', 'BF16']),
          shape: z.array(z.int().min(1)).length(2).meta({ description: '[rows, classes].' }),
          parameters: z
            .object({ binary_data_size: z.int().min(0).optional() })
            .optional()
            .meta({ description: 'binary_data_size: the bytes of this tensor in the binary data after the JSON header.' }),
          data: z
            .array(z.unknown())
            .optional()
            .meta({ description: 'Row-major values, flat or as rows; null masks a class (-inf in binary data). NaN and Infinity are refused.' }),
        }),
      )
      .length(1),
    outputs: z
      .array(
        z.object({
          name: z.string(),
          parameters: z
            .object({ binary_data: z.boolean().optional(), classification: z.int().min(1).optional() })
            .optional()
            .meta({ description: 'binary_data: answer this output in binary; classification: N, the N largest values of each row as "<value>:<index>" strings.' }),
        }),
      )
      .optional()
      .meta({ description: 'The outputs to answer (default: all of the operation, as JSON unless binary_data_output).' }),
  })
  .meta({
    id: 'OipInferenceRequest',
    example: { id: '1', parameters: { temperature: 1 }, inputs: [{ name: 'logits', datatype: 'FP64', shape: [1, 3], data: [3, 2, 1] }] },
  });

export const InferenceResponse = z
  .object({
    model_name: z.string(),
    model_version: z.string(),
    id: z.string().optional(),
    parameters: z.object({ seed: z.int().optional() }).optional().meta({ description: 'The seed, for seeded models (given, or drawn).' }),
    outputs: z.array(
      z.object({
        name: z.string(),
        datatype: z.string().meta({ description: 'FP64 (FP64 input) or FP32; INT64 for indices, support, samples; BYTES for classification.' }),
        shape: z.array(z.int()),
        data: z.array(z.unknown()).optional().meta({ description: 'Flat row-major; null is -inf (a masked log-probability).' }),
        parameters: z.object({ binary_data_size: z.int() }).optional(),
      }),
    ),
  })
  .meta({
    id: 'OipInferenceResponse',
    example: {
      model_name: 'softmax',
      model_version: '1',
      id: '1',
      outputs: [{ name: 'probs', datatype: 'FP64', shape: [1, 3], data: [0.6652409557748219, 0.24472847105479767, 0.09003057317038046] }],
    },
  });

const BINARY_BODY =
  'Triton\'s binary tensor data extension: the JSON inference request (OipInferenceRequest) of ' +
  'Inference-Header-Content-Length bytes, then the input tensor\'s little-endian bytes (its parameters.binary_data_size).';

/** The infer routes' request body: JSON, or a JSON header and binary data (any Content-Type, or none). */
export const inferBody = {
  content: {
    'application/json': { schema: InferenceRequest },
    'application/octet-stream': { schema: { type: 'string', format: 'binary', description: BINARY_BODY } },
  },
};

/** The infer routes' answer: JSON, or a JSON header and binary outputs. */
export const inferAnswer = {
  description: 'The inference response.',
  headers: {
    'inference-header-content-length': {
      type: 'integer',
      description: 'Set when outputs are in binary: the length of the JSON header before their bytes.',
    },
  },
  content: {
    'application/json': { schema: InferenceResponse },
    'application/octet-stream': {
      schema: { type: 'string', format: 'binary', description: 'The JSON inference response (Inference-Header-Content-Length bytes), then the binary outputs in its order.' },
    },
  },
};

export const InferHeaders = z.object({
  'inference-header-content-length': z
    .string()
    .optional()
    .meta({ description: 'The length in bytes of the JSON request before the binary tensor data; absent: the body is all JSON.' }),
  'content-encoding': z
    .enum(['gzip', 'deflate', 'identity'])
    .optional()
    .meta({ description: 'The body may be compressed; its decoded size counts against the body limit.' }),
});
