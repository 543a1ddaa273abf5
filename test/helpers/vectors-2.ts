import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** A score case of test/fixtures/reference/vectors-2.json (see the README beside it). */
export interface ScoreCase {
  name: string;
  kind: 'score';
  endpoint: '/v1/score';
  request: {
    logits: (number | null)[][];
    targets: number[];
    mapping: 'softmax' | 'sparsemax' | 'entmax';
    alpha?: number;
    temperature: number;
  };
  atol: number;
  rtol: number;
  expected: { loss: number[]; value: number[]; entropy: number[]; prob: number[]; logprob: (number | null)[] };
  support: number[];
}

export const VECTORS_2_PATH = fileURLToPath(new URL('../fixtures/reference/vectors-2.json', import.meta.url));

/** Every case of vectors-2.json of one kind (computed outside the project: the README beside it). */
export function loadVectors2<K extends string>(kind: K): { name: string; kind: K; [k: string]: unknown }[] {
  const doc = JSON.parse(readFileSync(VECTORS_2_PATH, 'utf8')) as { format: number; cases: { name: string; kind: string }[] };
  if (doc.format !== 2) throw new Error(`unexpected vectors-2.json format ${doc.format}`);
  return doc.cases.filter((c) => c.kind === kind) as { name: string; kind: K }[];
}

export function loadScoreCases(): ScoreCase[] {
  return loadVectors2('score') as unknown as ScoreCase[];
}

export const SCORE_FIELDS = ['loss', 'value', 'entropy', 'prob', 'logprob'] as const;

/**
 * The failures of a score answer against a case: |got - expected| <= atol + rtol |expected|, and a
 * null logprob must be null (-Infinity in a Float64Array).
 */
export function compareScore(got: Record<(typeof SCORE_FIELDS)[number], ArrayLike<number | null>>, c: ScoreCase): string[] {
  const failures: string[] = [];
  for (const f of SCORE_FIELDS) {
    c.expected[f].forEach((e, r) => {
      const g = got[f][r];
      const ok = e === null ? g === null || g === -Infinity : typeof g === 'number' && Math.abs(g - e) <= c.atol + c.rtol * Math.abs(e);
      if (!ok) failures.push(`${f}[${r}] got ${g}, expected ${e}`);
    });
  }
  return failures;
}
