import { describe, expect, it } from 'vitest';

/**
 * The playground page's pure modules (public/playground/: state.js, stats.js, snippets.js,
 * requests.js), run in Node: the URL hash, the chi-square p-value against closed forms and table
 * values, the copy-as text and the requests figure 6 builds from what is typed.
 */

type State = Record<string, string | number>;
interface StateModule {
  DEFAULTS: State;
  parseHash(hash: string): State;
  formatHash(state: State): string;
  T_GRID: number[];
  gridIndex(T: number): number;
  nextT(T: number): number;
}
interface StatsModule {
  gammaQ(a: number, x: number): number;
  chiSquare(counts: number[], pi: number[]): { stat: number; df: number; p: number };
  countDraws(draws: number[], k: number): number[];
}
interface SnippetsModule {
  asCurl(r: { url: string; body: unknown }[]): string;
  asPython(r: { url: string; body: unknown }[]): string;
  pythonLiteral(v: unknown): string;
}
interface RequestsModule {
  parseRows(text: string): unknown[][];
  fig6Requests(state: State): { op: string; body: Record<string, unknown> }[];
}

const page = (f: string) => import(new URL(`../../public/playground/${f}`, import.meta.url).href);
const state = (await page('state.js')) as StateModule;
const stats = (await page('stats.js')) as StatsModule;
const snippets = (await page('snippets.js')) as SnippetsModule;
const requests = (await page('requests.js')) as RequestsModule;

describe('state.js: the URL hash', () => {
  it('the defaults make an empty hash, and an empty hash the defaults', () => {
    expect(state.formatHash(state.DEFAULTS)).toBe('');
    expect(state.parseHash('')).toEqual(state.DEFAULTS);
    expect(state.parseHash('#')).toEqual(state.DEFAULTS);
  });

  it('round-trips: #fig=3&T=0.01&seed=7 as it is, and any state through its hash', () => {
    const s = state.parseHash('#fig=3&T=0.01&seed=7');
    expect(s).toEqual({ ...state.DEFAULTS, fig: 3, T: 0.01, seed: 7 });
    expect(state.formatHash(s)).toBe('#fig=3&T=0.01&seed=7');
    const all = {
      ...state.DEFAULTS,
      fig: 6,
      alpha: 1.3,
      T: 0.0126,
      seed: 2 ** 53 - 1,
      run: 37,
      n: 100000,
      seed5: 0,
      logits: '3, 2, 1\n1 null 5;x & y = z#%',
      mapping: 'entmax',
      alpha6: '1.7',
      T6: '0.5',
      topK: '2',
      topP: '0.9',
      minP: '0.05',
      draws: '64',
      seed6: '-3',
    };
    const hash = state.formatHash(all);
    expect(state.parseHash(hash)).toEqual(all);
    expect(hash).toContain('logits=3,+2,+1%0A1+null+5%3Bx+%26+y+%3D+z%23%25');
  });

  it('ignores unknown keys and values out of range (the default stays)', () => {
    for (const bad of ['T=0', 'T=-1', 'T=abc', 'T=', 'T=Infinity', 'seed=1.5', 'seed=-1', 'seed=9007199254740992', 'fig=7', 'alpha=0.5', 'alpha=9', 'n=7', 'run=0', 'run=101', 'mapping=argmax', 'bogus=1']) {
      expect(state.parseHash(`#${bad}`), bad).toEqual(state.DEFAULTS);
    }
    // Keys keep their order in the hash whatever order they came in.
    expect(state.formatHash(state.parseHash('#seed=7&T=2&fig=3'))).toBe('#fig=3&T=2&seed=7');
  });

  it('the temperature grid: 81 steps, log-spaced from 0.01 to 100; step walks it and wraps', () => {
    const g = state.T_GRID;
    expect(g).toHaveLength(81);
    expect([g[0], g[20], g[40], g[60], g[80]]).toEqual([0.01, 0.1, 1, 10, 100]);
    for (let i = 1; i < g.length; i++) {
      expect(g[i]).toBeGreaterThan(g[i - 1]);
      expect(Math.log10(g[i] / g[i - 1])).toBeCloseTo(0.05, 2);
    }
    let T = 0.01;
    const seen = [T];
    for (let i = 0; i < 81; i++) seen.push((T = state.nextT(T)));
    expect(seen.slice(0, 81)).toEqual(g);
    expect(seen[81]).toBe(0.01);
    for (let i = 0; i < g.length; i++) expect(state.gridIndex(g[i])).toBe(i);
    expect(state.nextT(0.05)).toBe(0.0501); // 10^-1.3, the first grid value above 0.05
    expect(state.gridIndex(1000)).toBe(80);
  });
});

describe('stats.js: chi-square', () => {
  /** Q(k, x) for integer k: e^-x sum_{i<k} x^i / i! (the Poisson tail), an independent closed form. */
  function qInteger(k: number, x: number): number {
    let term = Math.exp(-x);
    let sum = 0;
    for (let i = 0; i < k; i++) {
      sum += term;
      term *= x / (i + 1);
    }
    return sum;
  }

  it('Q(a, x) matches the closed form for even degrees of freedom', () => {
    for (const k of [1, 2, 3, 5, 10, 25]) {
      for (const x of [0.01, 0.5, 1, 2.5, k, k + 1, 7, 20, 60]) {
        const want = qInteger(k, x);
        expect(Math.abs(stats.gammaQ(k, x) - want), `Q(${k}, ${x})`).toBeLessThanOrEqual(1e-12 * Math.max(1, want) + 1e-300);
        expect(Math.abs(stats.gammaQ(k, x) / want - 1), `Q(${k}, ${x}) relative`).toBeLessThan(1e-9);
      }
    }
    expect(stats.gammaQ(2, 0)).toBe(1);
    expect(stats.gammaQ(2, Infinity)).toBe(0);
  });

  it('p-values at the tables\' critical values (odd degrees of freedom included)', () => {
    // chi-square critical values: P(chi2_df >= x) = p.
    for (const [df, x, p] of [
      [1, 3.841458820694124, 0.05],
      [1, 6.6348966010212145, 0.01],
      [2, 5.991464547107979, 0.05],
      [3, 7.814727903251178, 0.05],
      [4, 9.487729036781154, 0.05],
      [10, 18.307038053275146, 0.05],
    ]) {
      expect(stats.gammaQ(df / 2, x / 2), `df ${df}`).toBeCloseTo(p, 10);
    }
  });

  it("Pearson's statistic, its degrees of freedom, and a draw of an impossible class", () => {
    // n = 100, pi = (0.5, 0.3, 0.2): expected 50, 30, 20.
    const r = stats.chiSquare([45, 35, 20], [0.5, 0.3, 0.2]);
    expect(r.stat).toBeCloseTo(25 / 50 + 25 / 30, 12);
    expect(r.df).toBe(2);
    expect(r.p).toBeCloseTo(Math.exp(-r.stat / 2), 12);
    // A class with pi = 0 is no degree of freedom, unless it was drawn.
    expect(stats.chiSquare([50, 50, 0], [0.5, 0.5, 0])).toEqual({ stat: 0, df: 1, p: 1 });
    const impossible = stats.chiSquare([50, 49, 1], [0.5, 0.5, 0]);
    expect(impossible.stat).toBe(Infinity);
    expect(impossible.p).toBe(0);
    expect(stats.countDraws([0, 2, 2, 1, 2], 4)).toEqual([1, 1, 3, 0]);
  });
});

describe('snippets.js: copy as curl / Python', () => {
  const reqs = [
    { url: 'http://127.0.0.1:8080/v1/sparsemax', body: { logits: [[1.5, null, "it's"]], temperature: 0.5 } },
    { url: 'http://127.0.0.1:8080/v1/sample', body: { logits: [[1, 2]], hard: true, log: false, n: 4 } },
  ];

  it('curl: one command a request, the body as JSON in single quotes', () => {
    expect(snippets.asCurl(reqs)).toBe(
      `curl -s 'http://127.0.0.1:8080/v1/sparsemax' -H 'content-type: application/json' \\\n  -d '{"logits":[[1.5,null,"it'\\''s"]],"temperature":0.5}'\n\n` +
        `curl -s 'http://127.0.0.1:8080/v1/sample' -H 'content-type: application/json' \\\n  -d '{"logits":[[1,2]],"hard":true,"log":false,"n":4}'`,
    );
  });

  it('Python: standard library only, the bodies as Python literals', () => {
    expect(snippets.pythonLiteral({ a: [null, true, false, 1e-7, 'x"\n'] })).toBe('{"a": [None, True, False, 1e-7, "x\\"\\n"]}');
    const py = snippets.asPython(reqs);
    expect(py).toMatch(/^import json\nimport urllib.request\n/);
    expect(py).toContain('print(json.dumps(post("http://127.0.0.1:8080/v1/sparsemax", {"logits": [[1.5, None, "it\'s"]], "temperature": 0.5})))');
    expect(py).toContain('{"logits": [[1, 2]], "hard": True, "log": False, "n": 4}');
  });
});

describe('requests.js: what figure 6 sends', () => {
  it('rows one a line or split by ";", values by commas or spaces; numbers, null, anything else as text', () => {
    expect(requests.parseRows('3, 2, 1\n\n 1 null  5 \n[0.5, -2e-3, +4];x,.5')).toEqual([
      [3, 2, 1],
      [1, null, 5],
      [0.5, -0.002, 4],
      ['x', 0.5],
    ]);
    expect(requests.parseRows('')).toEqual([]);
    expect(requests.parseRows('1, abc, NaN')).toEqual([[1, 'abc', 'NaN']]);
  });

  it('the mapping and the sample requests; empty fields are left out, alpha only for entmax', () => {
    const base = { ...state.DEFAULTS, logits: '1, 2\n3, 4' };
    expect(requests.fig6Requests(base)).toEqual([
      { op: 'sparsemax', body: { logits: [[1, 2], [3, 4]], temperature: 1 } },
      { op: 'sample', body: { logits: [[1, 2], [3, 4]], mapping: 'sparsemax', temperature: 1, n: 1000, seed: 42 } },
    ]);
    const entmax = requests.fig6Requests({ ...base, mapping: 'entmax', alpha6: '1.3', T6: '', topK: '1', topP: '0.9', minP: 'lots', draws: ' 8 ', seed6: '' });
    expect(entmax).toEqual([
      { op: 'entmax', body: { logits: [[1, 2], [3, 4]], alpha: 1.3 } },
      { op: 'sample', body: { logits: [[1, 2], [3, 4]], mapping: 'entmax', alpha: 1.3, topK: 1, topP: 0.9, minP: 'lots', n: 8 } },
    ]);
  });
});
