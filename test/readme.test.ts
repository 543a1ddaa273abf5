import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OPERATIONS, layoutOf } from '../src/ops/index.js';

/**
 * README's /v1 table follows the operation registry (src/ops): one row per operation, in order,
 * naming every parameter and every output, so adding an operation or a field without
 * documenting it fails here. Its /v2 section names every model, parameter and output too.
 */
const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
const rows = readme.split('\n').filter((l) => l.startsWith('| POST /v1/'));

describe('README /v1 table', () => {
  it('has one row per operation, in the registry order', () => {
    expect(rows.map((r) => r.split('|')[1].trim())).toEqual(OPERATIONS.map((o) => `POST /v1/${o.name}`));
  });

  it.each(OPERATIONS.map((o, i) => [o.name, o, i] as const))('%s: names its parameters and outputs', (_n, op, i) => {
    const row = rows[i];
    for (const field of Object.keys(op.params.shape)) expect(row, field).toContain(`\`${field}\``);
    if (op.acceptsProbs) expect(row).toContain('`probs`');
    const outputs = new Set<string>(); // (partial below: score's targets has no default)
    for (const log of [false, true]) for (const l of layoutOf({ op: op.name, params: op.params.partial().parse(op.name === 'softmax' ? { log } : {}), cols: 1 })) outputs.add(l.name);
    for (const o of op.otherOutputs ?? []) outputs.add(o.name);
    // A zipped pair is one member of the JSON answer, named by the zip.
    const specs = [...op.outputs(op.params.partial().parse({})), ...(op.otherOutputs ?? [])];
    for (const o of specs) {
      if (!o.zip) continue;
      outputs.delete(o.name);
      outputs.delete(o.zip.with);
      outputs.add(o.zip.as);
    }
    for (const name of outputs) expect(row, name).toContain(`"${name}"`);
    if (op.seeded) expect(row).toContain('"seed"');
  });
});

describe('README /v2 section', () => {
  const section = readme.slice(readme.indexOf('### Open Inference Protocol v2 (/v2)'), readme.indexOf('### Operations'));

  it('names every model, every request parameter and every output', () => {
    expect(section.length).toBeGreaterThan(1000);
    for (const op of OPERATIONS) {
      expect(section, op.name).toContain(`\`${op.name}\``);
      for (const field of Object.keys(op.params.shape)) expect(section, `${op.name} ${field}`).toContain(`\`${field}\``);
      for (const log of [false, true]) {
        for (const l of layoutOf({ op: op.name, params: op.params.partial().parse(op.name === 'softmax' ? { log } : {}), cols: 1 })) expect(section, l.name).toContain(`\`${l.name}\``);
      }
      for (const o of op.otherOutputs ?? []) expect(section, o.name).toContain(`\`${o.name}\``);
    }
  });
});
