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
    const specs = op.outputs(params);
    layout.forEach((l, k) => {
      const w = specs[k].width;
      // n draws (default 1); top log-probs: max(1, min(topLogprobs, cols)), topLogprobs default 0.
      expect(l.width).toBe(w === 'cols' ? 7 : w === 'n' ? 1 : w === 'top' ? Math.max(1, Math.min(Number(params.topLogprobs ?? 0), 7)) : 1);
      expect(l.matrix).toBe(w !== 1);
      expect(l.inPlace).toBe(l.type === 'f64' && w === 'cols');
    });
    // A zipped pair: the other output exists, with the same width, and both are ragged.
    for (const l of layout.filter((x) => x.zip)) {
      const other = layout.find((x) => x.name === l.zip!.with);
      expect(other?.width, `${op.name} ${l.name}`).toBe(l.width);
      expect(l.ragged && other!.ragged, `${op.name} ${l.name}`).toBeTruthy();
    }
    expect(outputElements(job)).toBe(layout.reduce((s, l) => s + 3 * l.width, 0));
    expect(op.workPerElement(params)).toBe(1);
  });
});
