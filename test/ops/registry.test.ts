import { describe, expect, it } from 'vitest';
import { OPERATIONS, OP_NAMES, isOpName, layoutOf, operation, outputElements } from '../../src/ops/index.js';

/**
 * The registry lists each operation once; everything else derives from it. These check that the
 * list is coherent: unique names, a documented request and answer per operation, parameters that
 * are the request's fields besides the matrix, and outputs that the answer schema names.
 */
describe('the operation registry', () => {
  it('names each operation once, in the documented order', () => {
    expect(OP_NAMES).toEqual(['argmax', 'softmax', 'sparsemax', 'entmax', 'gumbel-softmax', 'sample', 'score']);
    expect(new Set(OP_NAMES).size).toBe(OP_NAMES.length);
    for (const name of OP_NAMES) {
      expect(isOpName(name)).toBe(true);
      expect(operation(name).name).toBe(name);
    }
    expect(isOpName('nonesuch')).toBe(false);
  });

  it.each(OPERATIONS.map((o) => [o.name, o] as const))('%s: the request is the matrix plus the parameters', (_n, op) => {
    const request = op.request as unknown as { shape: Record<string, unknown> };
    const matrix = op.acceptsProbs ? ['logits', 'probs'] : ['logits'];
    expect(Object.keys(request.shape)).toEqual([...matrix, ...Object.keys(op.params.shape)]);
    expect(op.seeded).toBe('seed' in op.params.shape);
    expect(op.summary.length).toBeGreaterThan(10);
  });

  it.each(OPERATIONS.map((o) => [o.name, o] as const))('%s: outputs with their widths', (_n, op) => {
    const params = op.params.partial().parse({}); // partial: score's targets has no default
    const job = { op: op.name, params, cols: 7, rows: 3 };
    const layout = layoutOf(job);
    expect(layout.length).toBeGreaterThan(0);
    for (const l of layout) {
      expect(l.width).toBe(l.matrix ? (l.name === 'samples' ? 1 : 7) : 1);
      expect(l.inPlace).toBe(l.type === 'f64' && l.matrix);
    }
    expect(outputElements(job)).toBe(layout.reduce((s, l) => s + 3 * l.width, 0));
    expect(op.workPerElement(params)).toBe(1);
  });
});
