import type { Job } from '../jobs/endpoints.js';

/**
 * What a job costs, in units of one softmax element, for placement: a request runs on the main
 * thread only if its cost is small (Config.inlineMaxWork), so that no request holds the event
 * loop for long. Elements alone undercount the iterative kernels: entmax at a general alpha runs a
 * few passes of a log and an exp per candidate, and sample draws n times over a row.
 */
export function jobCost(job: Pick<Job, 'endpoint' | 'params' | 'rows' | 'cols'>): number {
  const elements = job.rows * job.cols;
  const p = job.params;
  switch (job.endpoint) {
    case 'argmax':
    case 'softmax':
      return elements;
    case 'sparsemax':
      return 2 * elements;
    case 'entmax':
      return mappingFactor('entmax', p.alpha as number) * elements;
    case 'gumbel-softmax':
      return 4 * elements;
    case 'sample': {
      const n = p.n as number;
      const filters = p.topK !== undefined || p.topP !== undefined || p.minP !== undefined ? 4 : 0;
      return elements * (mappingFactor(p.mapping as string, p.alpha as number) + filters) + elements * n * 1.5;
    }
  }
}

function mappingFactor(mapping: string, alpha: number): number {
  if (mapping === 'softmax') return 1;
  if (mapping === 'sparsemax' || alpha === 2) return 2;
  if (alpha === 1) return 1;
  if (alpha === 1.5) return 4;
  return 16;
}
