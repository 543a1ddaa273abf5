// The six figures. Each one fetches its numbers from the service's /v1 routes (./api.js) and draws
// them with Observable Plot (SVG). Each marks its <section> data-state="loading" | "ready" | "error",
// shows the service's error message in its alert line (keeping the last figure, dimmed), and lists
// the numbers it drew in a table under the figure.

import { endpoint, post, ServiceError } from './api.js';
import { fig6Requests } from './requests.js';
import { asCurl, asPython } from './snippets.js';
import { gridIndex, nextT, RUNS, T_GRID } from './state.js';
import { chiSquare, countDraws } from './stats.js';
import { d3, Plot } from './vendor.js';

// Okabe & Ito's palette, safe for the common colour-vision deficiencies; every line also has a
// dash pattern of its own, so no series is told apart by colour alone.
const C = {
  blue: '#0072B2',
  vermillion: '#D55E00',
  green: '#009E73',
  sky: '#56B4E9',
  purple: '#CC79A7',
  orange: '#E69F00',
  black: '#000000',
  grey: '#666666',
};

const Z = [3, 2, 1];
const CLASS_NAMES = Z.map((z, i) => `z${i + 1} = ${z}`);
/** t in [-3, 3] by 0.05: 121 rows [t, 0], exact at -1, 0 and 1. */
const T_AXIS = Array.from({ length: 121 }, (_, i) => (i - 60) / 20);
const WIDTH = 640;
const short = d3.format('.4~g');

/** A probability as a label: 4 significant digits, exponent form below 0.001. */
function fmt(p) {
  return p !== 0 && Math.abs(p) < 1e-3 ? p.toExponential(2) : short(p);
}

/** Runs one fetch-then-draw of a figure; a newer run supersedes an older one still waiting. */
class Panel {
  constructor(section) {
    this.section = section;
    this.seq = 0;
    this.error = section.querySelector('.error');
    this.plot = section.querySelector('.plot');
  }

  /** work() fetches and resolves to a function that draws; the section's state follows. */
  async run(work) {
    const seq = ++this.seq;
    this.section.dataset.state = 'loading';
    try {
      const draw = await work();
      if (seq !== this.seq) return;
      draw();
      this.error.textContent = '';
      this.error.hidden = true;
      this.plot.classList.remove('stale');
      this.section.dataset.state = 'ready';
    } catch (e) {
      if (seq !== this.seq) return;
      this.error.textContent =
        e instanceof ServiceError ? `The service answered ${e.status}${e.code ? ` ${e.code}` : ''}: ${e.message}` : `Could not draw this figure: ${e.message}`;
      this.error.hidden = false;
      this.plot.classList.add('stale');
      this.section.dataset.state = 'error';
      // A service error is the reader's input, shown above; anything else is a bug of the page.
      if (!(e instanceof ServiceError)) console.error(e);
    }
  }
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

/** A legend: a short line in each series' colour and dash, then its label. */
function legend(container, series) {
  const ns = 'http://www.w3.org/2000/svg';
  container.replaceChildren(
    ...series.map((s) => {
      const svg = document.createElementNS(ns, 'svg');
      svg.setAttribute('width', '36');
      svg.setAttribute('height', '10');
      svg.setAttribute('aria-hidden', 'true');
      const line = document.createElementNS(ns, 'line');
      for (const [k, v] of Object.entries({ x1: 0, y1: 5, x2: 36, y2: 5, stroke: s.color, 'stroke-width': s.width ?? 2 })) line.setAttribute(k, String(v));
      if (s.dash) line.setAttribute('stroke-dasharray', s.dash);
      svg.append(line);
      return el('span', { class: 'swatch' }, svg, s.label);
    }),
  );
}

/** The numbers a figure drew, as a table (full precision, as the service sent them). */
function numbersTable(section, caption, columns, rows) {
  const table = el(
    'table',
    {},
    el('caption', {}, caption),
    el('thead', {}, el('tr', {}, ...columns.map((c) => el('th', { scope: 'col' }, c)))),
    el('tbody', {}, ...rows.map((r) => el('tr', {}, ...r.map((v) => el('td', {}, String(v)))))),
  );
  section.querySelector('.numbers .table').replaceChildren(table);
}

/** p_1 of [t, 0] against t for each series, one line mark per series, labelled for tests and readers. */
function lineFigure(series, ariaLabel) {
  return Plot.plot({
    width: WIDTH,
    height: 340,
    marginLeft: 48,
    ariaLabel,
    x: { domain: [-3, 3], label: 't', grid: true },
    y: { domain: [0, 1], label: 'p1', grid: true },
    marks: [
      Plot.ruleY([0, 1], { strokeOpacity: 0.3 }),
      ...series.map((s) =>
        Plot.line(
          T_AXIS.map((t, i) => ({ t, p: s.p[i] })),
          { x: 't', y: 'p', stroke: s.color, strokeDasharray: s.dash, strokeWidth: s.width ?? 2, ariaDescription: s.label },
        ),
      ),
    ],
  });
}

function seriesTable(section, caption, series) {
  numbersTable(
    section,
    caption,
    ['t', ...series.map((s) => `p1, ${s.label}`)],
    T_AXIS.map((t, i) => [t, ...series.map((s) => s.p[i])]),
  );
}

// --- 1. [t, 0] for softmax and sparsemax ---------------------------------------------------------

export function figure1(section) {
  const panel = new Panel(section);
  const logits = T_AXIS.map((t) => [t, 0]);
  const drawn = panel.run(async () => {
    const [soft, sparse] = await Promise.all([post('softmax', { logits }), post('sparsemax', { logits })]);
    return () => {
      const series = [
        { label: 'softmax', color: C.blue, p: soft.probs.map((r) => r[0]) },
        { label: 'sparsemax', color: C.vermillion, dash: '7 4', p: sparse.probs.map((r) => r[0]) },
      ];
      legend(section.querySelector('.legend'), series);
      panel.plot.replaceChildren(lineFigure(series, 'p1 of softmax and sparsemax of [t, 0] against t'));
      seriesTable(section, 'p1 of [t, 0], from /v1/softmax and /v1/sparsemax', series);
    };
  });
  return { update: () => drawn };
}

// --- 2. [t, 0] for entmax ------------------------------------------------------------------------

const ENTMAX_FIXED = [
  { alpha: 1, label: 'alpha = 1 (softmax)', color: C.blue },
  { alpha: 1.25, label: 'alpha = 1.25', color: C.sky, dash: '2 3' },
  { alpha: 1.5, label: 'alpha = 1.5', color: C.green, dash: '10 3' },
  { alpha: 2, label: 'alpha = 2 (sparsemax)', color: C.vermillion, dash: '7 4' },
  { alpha: 4, label: 'alpha = 4', color: C.purple, dash: '12 3 3 3' },
];

export function figure2(section, app) {
  const panel = new Panel(section);
  const logits = T_AXIS.map((t) => [t, 0]);
  const cache = new Map();
  const entmax = (alpha) => {
    if (!cache.has(alpha)) {
      const p = post('entmax', { logits, alpha }).then((a) => a.probs.map((r) => r[0]));
      p.catch(() => cache.delete(alpha));
      cache.set(alpha, p);
    }
    return cache.get(alpha);
  };
  const slider = section.querySelector('#alpha');
  const out = section.querySelector('#alpha-out');
  slider.addEventListener('input', () => app.set({ alpha: Number(slider.value) }, 2));
  let shown;
  return {
    update(state) {
      const alpha = state.alpha;
      if (alpha === shown) return;
      shown = alpha;
      slider.value = String(alpha);
      out.textContent = `alpha = ${alpha}`;
      slider.setAttribute('aria-valuetext', `alpha = ${alpha}`);
      section.querySelector('.formula .value').textContent = String(alpha);
      return panel.run(async () => {
        const ps = await Promise.all([...ENTMAX_FIXED.map((s) => entmax(s.alpha)), entmax(alpha)]);
        return () => {
          const series = [
            ...ENTMAX_FIXED.map((s, i) => ({ ...s, p: ps[i] })),
            { label: `alpha = ${alpha} (yours)`, color: C.black, dash: '1 3', width: 2.5, p: ps[ENTMAX_FIXED.length] },
          ];
          legend(section.querySelector('.legend'), series);
          panel.plot.replaceChildren(lineFigure(series, `p1 of alpha-entmax of [t, 0] against t, for alpha = 1, 1.25, 1.5, 2, 4 and ${alpha}`));
          seriesTable(section, 'p1 of [t, 0], from /v1/entmax', series);
        };
      });
    },
  };
}

// --- 3. temperature ------------------------------------------------------------------------------

/**
 * Play / pause and step buttons: while playing, tick() runs every `ms` ms until it returns false;
 * start() runs when play is pressed (to rewind a finished animation).
 */
function player(section, prefix, ms, { tick, start = () => {} }) {
  const play = section.querySelector(`#${prefix}-play`);
  const step = section.querySelector(`#${prefix}-step`);
  let timer;
  const stop = () => {
    clearInterval(timer);
    timer = undefined;
    play.textContent = 'Play';
    play.classList.remove('playing');
  };
  play.addEventListener('click', () => {
    if (timer !== undefined) return stop();
    // The label says what a press does (no aria-pressed: a toggle's name must not change).
    play.textContent = 'Pause';
    play.classList.add('playing');
    start();
    timer = setInterval(() => {
      if (tick() === false) stop();
    }, ms);
  });
  step.addEventListener('click', () => {
    stop();
    tick();
  });
}

export function figure3(section, app) {
  const panel = new Panel(section);
  const cache = new Map();
  const softmaxAt = (T) => {
    if (!cache.has(T)) {
      const p = post('softmax', { logits: [Z], temperature: T }).then((a) => a.probs[0]);
      p.catch(() => cache.delete(T));
      cache.set(T, p);
    }
    return cache.get(T);
  };
  const slider = section.querySelector('#T-slider');
  slider.max = String(T_GRID.length - 1);
  const out = section.querySelector('#T-out');
  slider.addEventListener('input', () => app.set({ T: T_GRID[Number(slider.value)] }, 3));
  let current = 1;
  player(section, 'T', 300, { tick: () => app.set({ T: nextT(current) }, 3) });
  let shown; // {T, p} drawn
  let trail = []; // earlier states, oldest first
  return {
    update(state) {
      const T = state.T;
      if (T === current && shown) return;
      current = T;
      slider.value = String(gridIndex(T));
      out.textContent = `T = ${T}`;
      slider.setAttribute('aria-valuetext', `T = ${T}`);
      section.querySelector('.formula .value').textContent = `${T}: z / T = [${Z.map((z) => short(z / T)).join(', ')}]`;
      return panel.run(async () => {
        const p = await softmaxAt(T);
        return () => {
          if (shown && shown.T !== T) trail = [...trail, shown].slice(-8);
          shown = { T, p };
          const bars = p.map((v, i) => ({ i, cls: CLASS_NAMES[i], p: v }));
          // The path of the bar tops over the last few states, oldest at a bar's left edge and
          // the current one at its right: a faint trace of where the figure came from.
          const states = [...trail, shown];
          const path =
            states.length < 2 ? [] : states.flatMap((st, k) => st.p.map((v, i) => ({ i, x: i - 0.4 + (0.8 * k) / (states.length - 1), p: v })));
          panel.plot.replaceChildren(
            Plot.plot({
              width: WIDTH,
              height: 320,
              marginLeft: 48,
              ariaLabel: `softmax of z / T for z = [3, 2, 1] and T = ${T}, as bars`,
              x: { domain: [-0.6, 2.6], ticks: [0, 1, 2], tickFormat: (i) => CLASS_NAMES[i], label: null },
              y: { domain: [0, 1], label: 'p', grid: true },
              marks: [
                Plot.rectY(bars, { x1: (d) => d.i - 0.4, x2: (d) => d.i + 0.4, y: 'p', fill: C.blue, ariaDescription: 'probabilities', title: (d) => `${d.cls}: p = ${d.p}` }),
                Plot.line(path, { x: 'x', y: 'p', z: 'i', stroke: C.orange, strokeWidth: 2, strokeOpacity: 0.75, ariaDescription: 'earlier states' }),
                Plot.dot(path, { x: 'x', y: 'p', r: 2, fill: C.orange, fillOpacity: 0.75, ariaHidden: 'true' }),
                Plot.text(bars, { x: 'i', y: 'p', text: (d) => fmt(d.p), dy: -8, fontSize: 12 }),
                Plot.ruleY([0]),
              ],
            }),
          );
          numbersTable(
            section,
            `softmax([3, 2, 1] / T) at T = ${T}, from /v1/softmax; earlier states: ${trail.map((s) => s.T).join(', ') || 'none'}`,
            ['class', 'z', 'p'],
            p.map((v, i) => [i + 1, Z[i], v]),
          );
        };
      });
    },
  };
}

// --- 4. Gumbel-softmax, 100 seeded runs at T = 0.01 ----------------------------------------------

function newSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** A seed box and its "new seed" button, writing `key` of the state. */
function seedControls(section, app, key, fig) {
  const box = section.querySelector(`#${key}`);
  box.addEventListener('change', () => {
    const v = Number(box.value);
    if (Number.isSafeInteger(v) && v >= 0) app.set({ [key]: v }, fig);
  });
  section.querySelector(`#${key}-new`).addEventListener('click', () => app.set({ [key]: newSeed() }, fig));
  return box;
}

export function figure4(section, app) {
  const panel = new Panel(section);
  const pi = post('softmax', { logits: [Z] }).then((a) => a.probs[0]);
  const runsOf = new Map();
  const runs = (seed) => {
    if (!runsOf.has(seed)) {
      const p = post('gumbel-softmax', { logits: Array.from({ length: RUNS }, () => Z), temperature: 0.01, seed });
      p.catch(() => runsOf.delete(seed));
      runsOf.set(seed, p);
    }
    return runsOf.get(seed);
  };
  const seedBox = seedControls(section, app, 'seed', 4);
  const slider = section.querySelector('#run');
  const out = section.querySelector('#run-out');
  slider.addEventListener('input', () => app.set({ run: Number(slider.value) }, 4));
  let state = { seed: undefined, run: undefined };
  // Play runs the animation from run 1 (when all runs are shown) and stops at the last run;
  // step goes one run on, back to run 1 after the last.
  player(section, 'g', 120, {
    start: () => state.run >= RUNS && app.set({ run: 1 }, 4),
    tick: () => {
      app.set({ run: state.run >= RUNS ? 1 : state.run + 1 }, 4);
      return state.run < RUNS;
    },
  });
  return {
    update(s) {
      if (s.seed === state.seed && s.run === state.run) return;
      state = { seed: s.seed, run: s.run };
      const { seed, run } = state;
      seedBox.value = String(seed);
      slider.value = String(run);
      out.textContent = `${run} of ${RUNS}`;
      slider.setAttribute('aria-valuetext', `${run} of ${RUNS} runs`);
      section.querySelector('.formula .value').textContent = `seed = ${seed}, run ${run} of ${RUNS}`;
      return panel.run(async () => {
        const [answer, p] = await Promise.all([runs(seed), pi]);
        return () => {
          const y = answer.probs[run - 1];
          const counts = countDraws(answer.indices.slice(0, run), Z.length);
          const runBars = y.map((v, i) => ({ cls: CLASS_NAMES[i], p: v }));
          const freq = counts.map((c, i) => ({ cls: CLASS_NAMES[i], f: c / run, pi: p[i] }));
          legend(section.querySelector('.legend'), [
            { label: 'y of the run shown (left)', color: C.blue, width: 8 },
            { label: 'share of runs won (right)', color: C.sky, width: 8 },
            { label: 'pi = softmax(z)', color: C.black, dash: '6 3', width: 3 },
          ]);
          const common = { width: WIDTH / 2 - 10, height: 300, marginLeft: 44, x: { domain: CLASS_NAMES, label: null, padding: 0.3 }, y: { domain: [0, 1], grid: true } };
          panel.plot.replaceChildren(
            el(
              'div',
              { class: 'pair' },
              Plot.plot({
                ...common,
                ariaLabel: `run ${run}: y = softmax((z + g) / 0.01)`,
                y: { ...common.y, label: `y of run ${run}` },
                marks: [
                  Plot.barY(runBars, { x: 'cls', y: 'p', fill: C.blue, ariaDescription: 'this run', title: (d) => `${d.cls}: y = ${d.p}` }),
                  Plot.text(runBars, { x: 'cls', y: 'p', text: (d) => fmt(d.p), dy: -8 }),
                  Plot.ruleY([0]),
                ],
              }),
              Plot.plot({
                ...common,
                ariaLabel: `how often each class won in runs 1 to ${run}, against pi = softmax(z)`,
                y: { ...common.y, label: `share of runs 1..${run}` },
                marks: [
                  Plot.barY(freq, { x: 'cls', y: 'f', fill: C.sky, ariaDescription: 'share of runs', title: (d) => `${d.cls}: ${d.f}` }),
                  Plot.tickY(freq, { x: 'cls', y: 'pi', stroke: C.black, strokeWidth: 3, strokeDasharray: '6 3', ariaDescription: 'pi' }),
                  Plot.ruleY([0]),
                ],
              }),
            ),
          );
          numbersTable(
            section,
            `run ${run} of /v1/gumbel-softmax (seed ${seed}, T = 0.01), the winners of runs 1..${run}, and pi from /v1/softmax`,
            ['class', 'y (this run)', 'runs won', 'pi'],
            y.map((v, i) => [i + 1, v, counts[i], p[i]]),
          );
        };
      });
    },
  };
}

// --- 5. the Gumbel-max trick ---------------------------------------------------------------------

export function figure5(section, app) {
  const panel = new Panel(section);
  const pi = post('softmax', { logits: [Z] }).then((a) => a.probs[0]);
  const nSelect = section.querySelector('#n');
  nSelect.addEventListener('change', () => app.set({ n: Number(nSelect.value) }, 5));
  const seedBox = seedControls(section, app, 'seed5', 5);
  let key;
  return {
    update(state) {
      const { n, seed5: seed } = state;
      if (key === `${n} ${seed}`) return;
      key = `${n} ${seed}`;
      nSelect.value = String(n);
      seedBox.value = String(seed);
      section.querySelector('.formula .value').textContent = `n = ${n} draws, seed = ${seed}`;
      return panel.run(async () => {
        const [answer, p] = await Promise.all([post('sample', { logits: [Z], n, seed }), pi]);
        return () => {
          const counts = countDraws(answer.samples[0], Z.length);
          const { stat, df, p: pValue } = chiSquare(counts, p);
          const data = counts.map((c, i) => ({ cls: CLASS_NAMES[i], f: c / n, pi: p[i] }));
          legend(section.querySelector('.legend'), [
            { label: 'sampled frequency (bars)', color: C.sky, width: 8 },
            { label: 'true pi = softmax(z)', color: C.black, dash: '6 3', width: 3 },
          ]);
          panel.plot.replaceChildren(
            Plot.plot({
              width: WIDTH,
              height: 300,
              marginLeft: 48,
              ariaLabel: `frequencies of ${n} Gumbel-max draws against pi`,
              x: { domain: CLASS_NAMES, label: null, padding: 0.3 },
              y: { domain: [0, 1], label: 'frequency', grid: true },
              marks: [
                Plot.barY(data, { x: 'cls', y: 'f', fill: C.sky, ariaDescription: 'sampled frequency', title: (d) => `${d.cls}: ${d.f}` }),
                Plot.tickY(data, { x: 'cls', y: 'pi', stroke: C.black, strokeWidth: 3, strokeDasharray: '6 3', ariaDescription: 'pi' }),
                Plot.text(data, { x: 'cls', y: (d) => Math.max(d.f, d.pi), text: (d) => `${fmt(d.f)} vs ${fmt(d.pi)}`, dy: -10 }),
                Plot.ruleY([0]),
              ],
            }),
          );
          section.querySelector('.chi').textContent =
            `Pearson's chi-square = ${short(stat)} with ${df} degrees of freedom: p-value = ${short(pValue)} ` +
            `(${pValue < 0.01 ? 'the draws do not look like pi' : 'consistent with pi'}).`;
          numbersTable(
            section,
            `${n} draws of /v1/sample (seed ${seed}) and pi from /v1/softmax`,
            ['class', 'count', 'frequency', 'pi', 'expected count'],
            counts.map((c, i) => [i + 1, c, c / n, p[i], n * p[i]]),
          );
        };
      });
    },
  };
}

// --- 6. your logits ------------------------------------------------------------------------------

const FIG6_KEYS = ['logits', 'mapping', 'alpha6', 'T6', 'topK', 'topP', 'minP', 'draws', 'seed6'];
export function figure6(section, app) {
  const panel = new Panel(section);
  const inputs = Object.fromEntries(FIG6_KEYS.map((k) => [k, section.querySelector(`#${k}`)]));
  let typing;
  for (const input of Object.values(inputs)) {
    // Text is sent once typing pauses, a choice at once; either way every field as it now reads.
    input.addEventListener(input.tagName === 'SELECT' ? 'change' : 'input', () => {
      clearTimeout(typing);
      const send = () => app.set(Object.fromEntries(FIG6_KEYS.map((k) => [k, inputs[k].value])), 6);
      typing = setTimeout(send, input.tagName === 'SELECT' ? 0 : 300);
    });
  }
  const snippet = section.querySelector('#snippet');
  const copied = section.querySelector('#copy-status');
  let made = [];
  const copy = (text) => {
    snippet.value = text;
    snippet.hidden = false;
    snippet.select();
    copied.textContent = 'The text is selected below.';
    navigator.clipboard?.writeText(text).then(
      () => (copied.textContent = 'Copied to the clipboard (and shown below).'),
      () => (copied.textContent = 'The clipboard is not available here: the text is selected below, copy it with Ctrl+C.'),
    );
  };
  section.querySelector('#copy-curl').addEventListener('click', () => copy(asCurl(made)));
  section.querySelector('#copy-python').addEventListener('click', () => copy(asPython(made)));
  let key;
  return {
    update(state) {
      const k = JSON.stringify(FIG6_KEYS.map((f) => state[f]));
      if (k === key) return;
      key = k;
      for (const f of FIG6_KEYS) if (inputs[f].value !== state[f] && document.activeElement !== inputs[f]) inputs[f].value = state[f];
      inputs.alpha6.disabled = state.mapping !== 'entmax';
      const [mapReq, sampleReq] = fig6Requests(state);
      made = [mapReq, sampleReq].map((r) => ({ url: endpoint(r.op), body: r.body }));
      section.querySelector('.formula .value').textContent = `p = ${state.mapping}(z / T)${state.mapping === 'entmax' ? ` with alpha = ${state.alpha6}` : ''}, T = ${state.T6 || 1}; draws: ${sampleReq.body.n ?? 1} from p after topK = ${state.topK || 'off'}, topP = ${state.topP || 'off'}, minP = ${state.minP || 'off'}`;
      return panel.run(async () => {
        const [m, s] = await Promise.all([post(mapReq.op, mapReq.body), post('sample', sampleReq.body)]);
        return () => draw6(section, panel, mapReq.body.logits, m, s);
      });
    },
  };
}

/** Rows drawn and listed by figure 6 (a pasted batch of thousands would stall the page). */
const MAX_ROWS = 10;

function draw6(section, panel, logits, m, s) {
  const blocks = [];
  const rows = [];
  if (m.probs.length > MAX_ROWS) blocks.push(el('p', {}, `The first ${MAX_ROWS} of ${m.probs.length} rows are shown.`));
  m.probs.slice(0, MAX_ROWS).forEach((p, r) => {
    const k = p.length;
    const support = m.support?.[r] ?? p.filter((v) => v > 0).length;
    const draws = s.samples[r];
    const counts = countDraws(draws, k);
    const data = p.map((v, j) => ({ j: j + 1, p: v, count: counts[j] }));
    const zeros = data.filter((d) => d.p === 0);
    const common = { width: WIDTH / 2 - 10, height: 240, marginLeft: 48, x: { label: 'class', type: 'band', padding: 0.2 } };
    blocks.push(
      el('h3', {}, `Row ${r + 1}: support ${support} of ${k} classes${zeros.length ? ` (${zeros.length} exactly 0, marked ×)` : ''}`),
      el(
        'div',
        { class: 'pair' },
        Plot.plot({
          ...common,
          ariaLabel: `row ${r + 1}: p`,
          y: { domain: [0, 1], label: 'p', grid: true },
          marks: [
            Plot.barY(data, { x: 'j', y: 'p', fill: C.blue, ariaDescription: 'probabilities', title: (d) => `class ${d.j}: p = ${d.p}` }),
            Plot.dot(zeros, { x: 'j', y: 0, symbol: 'times', r: 5, stroke: C.vermillion, strokeWidth: 2.5, ariaDescription: 'exact zeros', title: (d) => `class ${d.j}: exactly 0` }),
            Plot.ruleY([0]),
          ],
        }),
        Plot.plot({
          ...common,
          ariaLabel: `row ${r + 1}: ${draws.length} draws`,
          y: { label: 'draws', grid: true },
          marks: [Plot.barY(data, { x: 'j', y: 'count', fill: C.orange, ariaDescription: 'draws', title: (d) => `class ${d.j}: ${d.count} draws` }), Plot.ruleY([0])],
        }),
      ),
    );
    for (const d of data) rows.push([r + 1, d.j, logits[r][d.j - 1], d.p, d.p === 0 ? 'yes' : '', d.count]);
  });
  panel.plot.replaceChildren(...blocks);
  numbersTable(section, 'p from the mapping\'s route and the draws of /v1/sample, per row and class', ['row', 'class', 'logit', 'p', 'exactly 0', 'draws'], rows);
}
