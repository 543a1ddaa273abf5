// The page's state (./state.js) and the figures (./figures.js): a control calls set(), every
// figure redraws what changed, and the URL hash follows (a moment later, so playing an animation
// does not write the browser's history on every frame).

import { figure1, figure2, figure3, figure4, figure5, figure6 } from './figures.js';
import { formatHash, parseHash } from './state.js';

let state = parseHash(location.hash);
let hashTimer;

const app = {
  /** Changes some controls of figure `fig`, redraws, and writes the hash shortly after. */
  set(patch, fig) {
    state = { ...state, ...patch, fig };
    for (const f of figures) f.update(state);
    clearTimeout(hashTimer);
    hashTimer = setTimeout(writeHash, 150);
  },
};

function writeHash() {
  const hash = formatHash(state);
  if (hash !== location.hash) history.replaceState(null, '', hash === '' ? location.pathname + location.search : hash);
}

const figures = [figure1, figure2, figure3, figure4, figure5, figure6].map((make, i) => make(document.getElementById(`fig${i + 1}`), app));
const firstDrawn = Promise.all(figures.map((f) => f.update(state)));
writeHash(); // the canonical form of the hash the page was opened with
// Once the figures above it have their height.
firstDrawn.then(() => state.fig > 0 && document.getElementById(`fig${state.fig}`).scrollIntoView());

// The contents links: go to a figure, keeping every control as it is.
for (const a of document.querySelectorAll('nav a[data-fig]')) {
  a.addEventListener('click', (e) => {
    e.preventDefault();
    const fig = Number(a.dataset.fig);
    app.set({}, fig);
    document.getElementById(`fig${fig}`).scrollIntoView();
  });
}

// A hash typed or pasted into the address bar (replaceState above fires no hashchange).
addEventListener('hashchange', () => {
  state = parseHash(location.hash);
  for (const f of figures) f.update(state);
  if (state.fig > 0) document.getElementById(`fig${state.fig}`).scrollIntoView();
});
