import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';

/**
 * The playground page (public/playground/) in a real browser: Debian's Chromium driven by
 * playwright-core, against the service listening on 127.0.0.1 (port 0). Assertions are on data,
 * not images: points on the drawn SVG lines (through Plot's own scales), bar heights, the page's
 * numbers against the /v1 answers for the same requests, the URL hash both ways, play and step,
 * the service's error message for a bad row, the copy-as-Python text run by python3, no console
 * error and no request to any other host. Screenshots of each figure go to test-output/playground/
 * for people to look at (not compared).
 *
 * Chromium: CHROMIUM_PATH or /usr/bin/chromium (.ci/run installs Debian's package). Skipped when
 * it is missing, except under CI=true, where a missing browser fails the test.
 */

const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const HAVE = existsSync(CHROMIUM);
const CI = process.env.CI === 'true';
const OUT = fileURLToPath(new URL('../../test-output/playground/', import.meta.url));
const run = promisify(execFile);

/** What Plot returns: its SVG element, with the scales it drew with. */
type PlotElement = { scale(name: string): { apply(v: number): number } };

type Answer = Record<string, unknown> & { probs: number[][]; samples: number[][]; indices: number[]; support?: number[] };

describe.runIf(CI)('Chromium under CI', () => {
  it(`is installed at ${CHROMIUM} (.ci/run installs Debian's package)`, () => {
    expect(HAVE).toBe(true);
  });
});

describe.skipIf(!HAVE && !CI)(`playground in Chromium${HAVE ? '' : ` (skipped: no ${CHROMIUM})`}`, () => {
  let app: FastifyInstance;
  let browser: Browser;
  let origin: string;
  const consoleErrors: string[] = [];
  const requested: string[] = [];
  // Chromium logs every 4xx answer to fetch() as a console error: those of the rows figure 6's
  // test sends bad on purpose are kept apart (and counted), any other is a failure.
  let badOnPurpose = false;
  const refusedOnPurpose: string[] = [];

  /** What the service answers to a request, asked directly (not through the page). */
  async function v1(op: string, body: unknown): Promise<Answer> {
    const res = await fetch(`${origin}/v1/${op}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return (await res.json()) as Answer;
  }

  /** A fresh page at /playground (the 301 included) with `hash`, once every figure is drawn. */
  async function open(hash = ''): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
    page.on('console', (m) => {
      if (badOnPurpose && m.type() === 'error' && /status of 400 \(Bad Request\)/.test(m.text())) refusedOnPurpose.push(m.text());
      else if (m.type() === 'error' || m.type() === 'warning') consoleErrors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => consoleErrors.push(`pageerror: ${e.message}`));
    page.on('request', (r) => requested.push(r.url()));
    const res = await page.goto(`${origin}/playground${hash}`);
    expect(res?.status()).toBe(200);
    expect(page.url()).toBe(`${origin}/playground/${hash}`);
    await settled(page);
    return page;
  }

  /**
   * Polls probe() until it holds (the page's Content-Security-Policy forbids the eval that
   * Playwright's waitForFunction needs for a string, and this file has no DOM types for a function).
   */
  async function until(what: string, probe: () => Promise<boolean>, ms = 15_000): Promise<void> {
    const end = Date.now() + ms;
    while (!(await probe())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  /** The page's URL hash (Playwright follows history.replaceState). */
  function hash(page: Page): string {
    return new URL(page.url()).hash;
  }

  /** Waits until no figure is loading; returns each figure's state. */
  async function settled(page: Page): Promise<string[]> {
    const states = () => page.$$eval('section.figure', (ss) => ss.map((s) => s.getAttribute('data-state') ?? ''));
    await until('every figure drawn', async () => !(await states()).includes('loading'));
    return states();
  }

  /** The numbers table of a figure, as numbers where a cell is one. */
  function numbers(page: Page, fig: number): Promise<(number | string)[][]> {
    return page.$$eval(`#fig${fig} .numbers tbody tr`, (rows) =>
      rows.map((r) => [...r.querySelectorAll('td')].map((td) => (td.textContent !== '' && !Number.isNaN(Number(td.textContent)) ? Number(td.textContent) : (td.textContent ?? '')))),
    );
  }

  /**
   * The distance in pixels from data point (x, y) to the line drawn for the mark described as
   * `series` in a figure's plot: the point through Plot's own scales, the line from its SVG path,
   * in the path's coordinates (Plot shifts the whole mark half a pixel for crisp edges).
   */
  async function distanceToLine(page: Page, fig: number, series: string, x: number, y: number): Promise<number> {
    const { d, px, py } = await page.$eval(
      `#fig${fig} .plot svg`,
      (svg, [series, x, y]) => {
        const plot = svg as unknown as PlotElement;
        const g = svg.querySelector(`g[aria-description="${series}"]`)!;
        return { d: g.querySelector('path')!.getAttribute('d')!, px: plot.scale('x').apply(x as number), py: plot.scale('y').apply(y as number) };
      },
      [series, x, y] as const,
    );
    // Plot draws a linear curve: "M x,y L x,y L ...", one vertex a row.
    const pts = [...d.matchAll(/[ML]\s*([-\d.e+]+)[ ,]([-\d.e+]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(pts.length).toBe(121);
    let best = Infinity;
    for (let i = 1; i < pts.length; i++) {
      const [ax, ay] = pts[i - 1];
      const [bx, by] = pts[i];
      const len2 = (bx - ax) ** 2 + (by - ay) ** 2;
      const t = len2 === 0 ? 0 : Math.max(0, Math.min(1, ((px - ax) * (bx - ax) + (py - ay) * (by - ay)) / len2));
      best = Math.min(best, Math.hypot(px - (ax + t * (bx - ax)), py - (ay + t * (by - ay))));
    }
    return best;
  }

  beforeAll(async () => {
    mkdirSync(OUT, { recursive: true });
    app = await buildApp({ workers: 1, logLevel: 'silent' });
    await app.listen({ host: '127.0.0.1', port: 0 });
    origin = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      // As root (CI) Chromium needs --no-sandbox; the rest keeps it off the network it has no use for.
      args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'],
      timeout: 30_000,
    });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await app?.close();
  });

  it('figures 1 and 2: the points sparsemax (1, 1) and (-1, 0) and softmax (0, 0.5) lie on the drawn lines; others do not', async () => {
    const page = await open();
    expect(await settled(page)).toEqual(['ready', 'ready', 'ready', 'ready', 'ready', 'ready']);
    for (let i = 1; i <= 6; i++) await page.locator(`#fig${i}`).screenshot({ path: `${OUT}fig${i}.png` });

    expect(await distanceToLine(page, 1, 'sparsemax', 1, 1)).toBeLessThan(0.01);
    expect(await distanceToLine(page, 1, 'sparsemax', -1, 0)).toBeLessThan(0.01);
    expect(await distanceToLine(page, 1, 'softmax', 0, 0.5)).toBeLessThan(0.01);
    // Off the lines: softmax never reaches 1 at t = 1, sparsemax is not 0.5 at t = 1.
    expect(await distanceToLine(page, 1, 'softmax', 1, 1)).toBeGreaterThan(20);
    expect(await distanceToLine(page, 1, 'sparsemax', 1, 0.5)).toBeGreaterThan(20);
    // Entmax: alpha = 2 is sparsemax, alpha = 1 softmax; alpha = 4 is exactly 1 already at t = 0.5.
    expect(await distanceToLine(page, 2, 'alpha = 2 (sparsemax)', 1, 1)).toBeLessThan(0.01);
    expect(await distanceToLine(page, 2, 'alpha = 1 (softmax)', 0, 0.5)).toBeLessThan(0.01);
    expect(await distanceToLine(page, 2, 'alpha = 4', 0.5, 1)).toBeLessThan(0.01);
    expect(await distanceToLine(page, 2, 'alpha = 1 (softmax)', 0.5, 1)).toBeGreaterThan(20);
    // Every series is told apart by its dash as well as its colour.
    const styles = await page.$$eval('#fig2 .plot svg g[aria-description]', (gs) => gs.map((g) => `${g.getAttribute('stroke')} ${g.getAttribute('stroke-dasharray') ?? 'solid'}`));
    expect(styles).toHaveLength(6);
    expect(new Set(styles.map((s) => s.split(' ')[0])).size).toBe(6);
    expect(new Set(styles.map((s) => s.split(' ').slice(1).join(' '))).size).toBe(6);

    // The numbers the page drew are the service's.
    const logits = Array.from({ length: 121 }, (_, i) => [(i - 60) / 20, 0]);
    const [soft, sparse] = await Promise.all([v1('softmax', { logits }), v1('sparsemax', { logits })]);
    expect(await numbers(page, 1)).toEqual(logits.map(([t], i) => [t, soft.probs[i][0], sparse.probs[i][0]]));
    const fig2 = await numbers(page, 2);
    const alpha4 = await v1('entmax', { logits, alpha: 4 });
    expect(fig2.map((r) => r[5])).toEqual(alpha4.probs.map((r) => r[0]));
    await page.close();
  });

  it('a shared hash opens as it says and round-trips; keyboard and address-bar changes go back into it', async () => {
    const page = await open('#fig=3&T=0.01&seed=7');
    expect(hash(page)).toBe('#fig=3&T=0.01&seed=7');
    expect(await page.textContent('#T-out')).toBe('T = 0.01');
    expect(await page.inputValue('#seed')).toBe('7');
    expect(await page.textContent('#fig4 .formula')).toContain('seed = 7');
    // Figure 3 was scrolled into view.
    expect(Math.abs(await page.$eval('#fig3', (s) => s.getBoundingClientRect().top))).toBeLessThan(2);

    // Bars at T = 0.01: z / T = [300, 200, 100], so p = [1, e^-100, e^-200], drawn through Plot's y scale.
    const bars = await page.$eval('#fig3 .plot svg', (svg) => {
      const y = (svg as unknown as PlotElement).scale('y');
      const rects = [...svg.querySelectorAll('g[aria-description="probabilities"] rect')];
      return { heights: rects.map((r) => Number(r.getAttribute('height'))), full: y.apply(0) - y.apply(1) };
    });
    const at001 = await v1('softmax', { logits: [[3, 2, 1]], temperature: 0.01 });
    expect(at001.probs[0][0]).toBe(1);
    expect(bars.full).toBeGreaterThan(200);
    expect(bars.heights).toHaveLength(3);
    bars.heights.forEach((h, i) => expect(Math.abs(h - at001.probs[0][i] * bars.full), `bar ${i + 1}`).toBeLessThan(0.01));
    expect(await numbers(page, 3)).toEqual(at001.probs[0].map((p, i) => [i + 1, 3 - i, p]));
    await page.locator('#fig3').screenshot({ path: `${OUT}fig3-T0.01.png` });

    // Figure 4 with seed 7: the service's 100 runs.
    const runs = await v1('gumbel-softmax', { logits: Array.from({ length: 100 }, () => [3, 2, 1]), temperature: 0.01, seed: 7 });
    const won = [0, 1, 2].map((k) => runs.indices.filter((i) => i === k).length);
    const pi = (await v1('softmax', { logits: [[3, 2, 1]] })).probs[0];
    expect(await numbers(page, 4)).toEqual(runs.probs[99].map((y, i) => [i + 1, y, won[i], pi[i]]));

    // The keyboard moves a slider; the hash follows.
    await page.focus('#alpha');
    await page.keyboard.press('ArrowRight');
    await until('the hash', async () => hash(page) === '#fig=2&alpha=3.05&T=0.01&seed=7');
    await settled(page);
    // A new page from that hash shows the same controls and the reader's line.
    const again = await open('#fig=2&alpha=3.05&T=0.01&seed=7');
    expect(await again.inputValue('#alpha')).toBe('3.05');
    expect(await again.textContent('#alpha-out')).toBe('alpha = 3.05');
    expect(await distanceToLine(again, 2, 'alpha = 3.05 (yours)', 3, 1)).toBeLessThan(0.01);
    // A hash typed in the address bar.
    await again.goto(`${origin}/playground/#T=100&n=100`);
    await again.waitForSelector('#T-out:text-is("T = 100")');
    await settled(again);
    expect(await again.inputValue('#n')).toBe('100');
    expect(await again.inputValue('#alpha')).toBe('3'); // back to the default: the hash says all
    await page.close();
    await again.close();
  });

  it('play and step advance figures 3 and 4, by mouse and keyboard', async () => {
    const page = await open('#T=0.01');
    const T = () => page.textContent('#T-out');
    await page.click('#T-step');
    await page.waitForSelector('#T-out:text-is("T = 0.0112")');
    await settled(page);
    // The earlier state stays as a faint trace.
    expect(await page.$$eval('#fig3 g[aria-description="earlier states"] > *', (ts) => ts.length)).toBe(3);
    await page.focus('#T-step');
    await page.keyboard.press('Enter');
    await page.waitForSelector('#T-out:text-is("T = 0.0126")');
    await page.click('#T-play');
    expect(await page.textContent('#T-play')).toBe('Pause');
    await until('T played on', async () => Number((await page.textContent('#T-out'))!.slice(4)) >= 0.0158);
    await page.click('#T-play');
    expect(await page.textContent('#T-play')).toBe('Play');
    const paused = await T();
    await settled(page);
    expect(await numbers(page, 3)).toEqual((await v1('softmax', { logits: [[3, 2, 1]], temperature: Number(paused!.slice(4)) })).probs[0].map((p, i) => [i + 1, 3 - i, p]));
    await page.waitForTimeout(700); // two play periods: paused means paused
    expect(await T()).toBe(paused);

    // Figure 4: step from the last run goes back to run 1, play runs on from there.
    await page.click('#g-step');
    await page.waitForSelector('#run-out:text-is("1 of 100")');
    await page.focus('#g-play');
    await page.keyboard.press('Space');
    await until('runs played on', async () => parseInt((await page.textContent('#run-out'))!, 10) >= 4);
    await page.click('#g-play');
    await settled(page);
    const shown = parseInt((await page.textContent('#run-out'))!, 10);
    const runs = await v1('gumbel-softmax', { logits: Array.from({ length: 100 }, () => [3, 2, 1]), temperature: 0.01, seed: 42 });
    expect((await numbers(page, 4)).map((r) => r[1])).toEqual(runs.probs[shown - 1]);
    expect((await numbers(page, 4)).map((r) => r[2])).toEqual([0, 1, 2].map((k) => runs.indices.slice(0, shown).filter((i) => i === k).length));
    // A new seed draws new runs.
    await page.click('#seed-new');
    await until('a new seed', async () => (await page.inputValue('#seed')) !== '42');
    await settled(page);
    const seed = Number(await page.inputValue('#seed'));
    const fresh = await v1('gumbel-softmax', { logits: Array.from({ length: 100 }, () => [3, 2, 1]), temperature: 0.01, seed });
    expect((await numbers(page, 4)).map((r) => r[1])).toEqual(fresh.probs[shown - 1]);
    await until('the seed in the hash', async () => hash(page).includes(`seed=${seed}`));
    await page.close();
  });

  it('figure 5: the frequencies are the service\'s draws, with a chi-square p-value', async () => {
    const page = await open('#fig=5&n=10000&seed5=3');
    const draws = (await v1('sample', { logits: [[3, 2, 1]], n: 10000, seed: 3 })).samples[0];
    const pi = (await v1('softmax', { logits: [[3, 2, 1]] })).probs[0];
    const counts = [0, 1, 2].map((k) => draws.filter((d) => d === k).length);
    expect(await numbers(page, 5)).toEqual(counts.map((c, i) => [i + 1, c, c / 10000, pi[i], 10000 * pi[i]]));
    const stat = counts.reduce((s, c, i) => s + (c - 10000 * pi[i]) ** 2 / (10000 * pi[i]), 0);
    const text = (await page.textContent('#fig5 .chi'))!;
    const shown = /p-value = ([\d.e-]+)/.exec(text);
    // Two degrees of freedom: p = exp(-X^2 / 2).
    expect(Number(shown?.[1])).toBeCloseTo(Math.exp(-stat / 2), 3);
    await page.close();
  });

  it('figure 6: exact zeros, support, draws; a bad row shows the service\'s message; copy as curl and as Python', async () => {
    const page = await open('#fig=6');
    const row = [1.5, 1, 0.8, 0.2, -0.5, -2];
    const [p, s] = await Promise.all([v1('sparsemax', { logits: [row], temperature: 1 }), v1('sample', { logits: [row], mapping: 'sparsemax', temperature: 1, n: 1000, seed: 42 })]);
    expect(p.support).toEqual([3]);
    const counts = row.map((_, j) => s.samples[0].filter((k) => k === j).length);
    expect(await numbers(page, 6)).toEqual(row.map((z, j) => [1, j + 1, z, p.probs[0][j], p.probs[0][j] === 0 ? 'yes' : '', counts[j]]));
    expect(await page.textContent('#fig6 h3')).toBe('Row 1: support 3 of 6 classes (3 exactly 0, marked ×)');
    expect(await page.$$eval('#fig6 g[aria-description="exact zeros"] > *', (d) => d.length)).toBe(3);

    // Rows of different lengths: the service's 400, in the page, over the last figure.
    badOnPurpose = true;
    await page.fill('#logits', '3, 2, 1\n1, 2');
    await page.waitForSelector('#fig6[data-state="error"]');
    const ragged = await fetch(`${origin}/v1/sparsemax`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ logits: [[3, 2, 1], [1, 2]], temperature: 1 }) });
    expect(ragged.status).toBe(400);
    const { message } = (await ragged.json()) as { message: string };
    expect(await page.textContent('#fig6 .error')).toBe(`The service answered 400 INVALID_REQUEST: ${message}`);
    expect(await page.isVisible('#fig6 .error')).toBe(true);
    expect(await page.$$eval('#fig6 .plot svg', (svgs) => svgs.length)).toBe(2);
    await page.locator('#fig6').screenshot({ path: `${OUT}fig6-error.png` });
    // A value that is not a number: the service names its position.
    await page.fill('#logits', '3, x, 1');
    await until('the error for x', async () => ((await page.textContent('#fig6 .error')) ?? '').includes('logits[0][1]'));
    badOnPurpose = false;
    // Two bad inputs, each refused by both routes the figure asks.
    expect(refusedOnPurpose).toHaveLength(4);

    // Two rows, entmax, topK: the page's requests, copied as Python, give the service's answers.
    await page.fill('#logits', '3, 2, 1, 0\n0, 1, null, 2');
    await page.selectOption('#mapping', 'entmax');
    await page.fill('#topK', '2');
    await until('the hash of figure 6', async () => hash(page).includes('topK=2') && hash(page).includes('mapping=entmax'));
    expect(await settled(page)).toContain('ready');
    expect(await page.getAttribute('#fig6', 'data-state')).toBe('ready');
    const logits = [[3, 2, 1, 0], [0, 1, null, 2]];
    const mapBody = { logits, alpha: 1.5, temperature: 1 };
    const sampleBody = { logits, mapping: 'entmax', alpha: 1.5, temperature: 1, topK: 2, n: 1000, seed: 42 };
    const [m2, s2] = await Promise.all([v1('entmax', mapBody), v1('sample', sampleBody)]);
    // topK = 2: only two classes of each row are ever drawn.
    for (const r of s2.samples) expect(new Set(r).size).toBeLessThanOrEqual(2);
    const table = await numbers(page, 6);
    expect(table.map((r) => r[3])).toEqual(m2.probs.flat());
    expect(table.map((r) => r[5])).toEqual(s2.samples.flatMap((r) => [0, 1, 2, 3].map((j) => r.filter((k) => k === j).length)));
    await page.click('#copy-curl');
    const curl = await page.inputValue('#snippet');
    expect(curl).toContain(`curl -s '${origin}/v1/entmax' -H 'content-type: application/json' \\\n  -d '${JSON.stringify(mapBody)}'`);
    expect(curl).toContain(`curl -s '${origin}/v1/sample' -H 'content-type: application/json' \\\n  -d '${JSON.stringify(sampleBody)}'`);
    await page.click('#copy-python');
    const py = await page.inputValue('#snippet');
    const { stdout } = await run('python3', ['-I', '-S', '-c', py], { timeout: 30_000 });
    expect(stdout.trim().split('\n').map((l) => JSON.parse(l))).toEqual([m2, s2]);
    await page.close();
  });

  it('no console errors, and no request to any host but the service', () => {
    expect(consoleErrors).toEqual([]);
    expect(requested.length).toBeGreaterThan(30);
    expect(requested.filter((u) => new URL(u).origin !== origin)).toEqual([]);
    expect(requested.some((u) => u.endsWith('/playground/vendor/plot.umd.min.js'))).toBe(true);
  });
});
