// The requests figure 6 makes for the page's state. Pure functions, tested in Node.
//
// What the reader types is sent as typed, as far as JSON allows: a value that reads as a number
// goes as that number, "null" as null, anything else as a string, so that the service, not the
// page, says what is wrong and where (logits[0][2] must be a number or null, ...).

const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i;

/** One typed value for the request: a number if it reads as one, null for "null", else the text as is (the service says what is wrong with it). */
function token(s) {
  if (NUMBER.test(s)) return Number(s.replace(/^\+/, ''));
  if (s === 'null') return null;
  return s;
}

/** Rows, one a line (or separated by ';'), values separated by commas or spaces. */
export function parseRows(text) {
  return text
    .split(/[\n;]/)
    .map((line) => line.trim().replace(/^\[|\]$/g, '').trim())
    .filter((line) => line !== '')
    .map((line) => line.split(/[\s,]+/).filter((t) => t !== '').map(token));
}

/** The requests figure 6 makes for a state: the mapping's p and the draws. */
export function fig6Requests(state) {
  const logits = parseRows(state.logits);
  const field = (s) => (s.trim() === '' ? undefined : token(s.trim()));
  const mapping = state.mapping;
  const alpha = mapping === 'entmax' ? field(state.alpha6) : undefined;
  const temperature = field(state.T6);
  const clean = (o) => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  return [
    { op: mapping, body: clean({ logits, alpha, temperature }) },
    {
      op: 'sample',
      body: clean({ logits, mapping, alpha, temperature, topK: field(state.topK), topP: field(state.topP), minP: field(state.minP), n: field(state.draws), seed: field(state.seed6) }),
    },
  ];
}

