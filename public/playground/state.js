// The page's controls as one state object, kept in the URL hash so a view can be shared
// (#fig=3&T=0.01&seed=7). Pure functions: no DOM, so they are tested in Node too.

/** Every control, with its default. Numbers for the figures the page validates itself;
 * strings for figure 6, whose fields go to the service as typed (it names what is wrong). */
export const DEFAULTS = Object.freeze({
  fig: 0, // the figure last worked with (scrolled into view on load); 0: none
  alpha: 3, // figure 2: the reader's alpha, beside the fixed ones
  T: 1, // figure 3: temperature
  seed: 42, // figure 4: the seed of the 100 Gumbel-softmax runs
  run: 100, // figure 4: how many of the runs are shown
  n: 1000, // figure 5: draws
  seed5: 42, // figure 5: seed
  logits: '1.5, 1, 0.8, 0.2, -0.5, -2', // figure 6: rows, one a line
  mapping: 'sparsemax',
  alpha6: '1.5',
  T6: '1',
  topK: '',
  topP: '',
  minP: '',
  draws: '1000',
  seed6: '42',
});

export const ALPHA_RANGE = [1, 8];
export const N_CHOICES = [100, 1000, 10000, 100000];
export const RUNS = 100;
export const MAPPINGS = ['softmax', 'sparsemax', 'entmax'];
const MAX_SEED = 2 ** 53 - 1;

/** Checks a value read from the hash: the parsed value, or undefined to keep the default. */
const CHECK = {
  fig: (s) => int(s, 0, 6),
  alpha: (s) => num(s, ALPHA_RANGE[0], ALPHA_RANGE[1]),
  T: (s) => {
    const v = num(s, 0, Infinity);
    return v > 0 ? v : undefined;
  },
  seed: (s) => int(s, 0, MAX_SEED),
  run: (s) => int(s, 1, RUNS),
  n: (s) => (N_CHOICES.includes(Number(s)) ? Number(s) : undefined),
  seed5: (s) => int(s, 0, MAX_SEED),
  mapping: (s) => (MAPPINGS.includes(s) ? s : undefined),
};

function num(s, lo, hi) {
  if (!/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(s)) return undefined;
  const v = Number(s);
  return v >= lo && v <= hi ? v : undefined;
}

function int(s, lo, hi) {
  const v = num(s, lo, hi);
  return Number.isSafeInteger(v) ? v : undefined;
}

/** The state a hash (with or without its '#') describes; unknown keys and bad values are ignored. */
export function parseHash(hash) {
  const params = new URLSearchParams(hash.replace(/^#/, ''));
  const state = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS)) {
    const raw = params.get(key);
    if (raw === null) continue;
    const check = CHECK[key];
    if (check) {
      const v = check(raw.trim());
      if (v !== undefined) state[key] = v;
    } else {
      state[key] = raw; // a figure 6 field: the service judges it
    }
  }
  return state;
}

/** The hash of a state: its values that differ from the defaults, in a fixed order ('' if none). */
export function formatHash(state) {
  const parts = [];
  for (const [key, def] of Object.entries(DEFAULTS)) {
    const v = state[key];
    if (v === undefined || v === def) continue;
    parts.push(`${key}=${encode(String(v))}`);
  }
  return parts.length ? `#${parts.join('&')}` : '';
}

// Commas and spaces stay readable in a shared link (URLSearchParams reads '+' as a space).
function encode(s) {
  return encodeURIComponent(s).replace(/%2C/gi, ',').replace(/%20/g, '+');
}

/** Temperatures of figure 3's slider: 81 steps from 0.01 to 100, evenly spaced in log T (3 digits). */
export const T_GRID = Array.from({ length: 81 }, (_, i) => Number((10 ** ((i - 40) / 20)).toPrecision(3)));

/** The slider position nearest T (on the log scale). */
export function gridIndex(T) {
  let best = 0;
  for (let i = 1; i < T_GRID.length; i++) {
    if (Math.abs(Math.log(T_GRID[i] / T)) < Math.abs(Math.log(T_GRID[best] / T))) best = i;
  }
  return best;
}

/** The next temperature of the grid above T, back to the lowest after the highest (play / step). */
export function nextT(T) {
  const i = T_GRID.findIndex((g) => g > T * (1 + 1e-9));
  return i < 0 ? T_GRID[0] : T_GRID[i];
}
