// "Copy as curl" and "copy as Python" for figure 6: the requests the page just made, as text.
// Pure functions, tested in Node.

/** A shell word in single quotes (a quote inside becomes '\''). */
function shellQuote(s) {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** curl commands for requests [{url, body}] (body: the JSON value sent). */
export function asCurl(requests) {
  return requests
    .map(({ url, body }) => `curl -s ${shellQuote(url)} -H 'content-type: application/json' \\\n  -d ${shellQuote(JSON.stringify(body))}`)
    .join('\n\n');
}

/** A JSON value as a Python literal (None, True, False; strings in JSON's escapes, which Python reads alike). */
export function pythonLiteral(v) {
  if (v === null) return 'None';
  if (v === true) return 'True';
  if (v === false) return 'False';
  if (typeof v === 'number') return Number.isFinite(v) ? JSON.stringify(v) : 'None';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(pythonLiteral).join(', ')}]`;
  return `{${Object.entries(v)
    .map(([k, x]) => `${JSON.stringify(k)}: ${pythonLiteral(x)}`)
    .join(', ')}}`;
}

/** A standard-library-only Python script making the same requests and printing the answers. */
export function asPython(requests) {
  const calls = requests.map(({ url, body }) => `print(json.dumps(post(${JSON.stringify(url)}, ${pythonLiteral(body)})))`);
  return [
    'import json',
    'import urllib.request',
    '',
    '',
    'def post(url, body):',
    '    req = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"content-type": "application/json"})',
    '    with urllib.request.urlopen(req) as r:',
    '        return json.load(r)',
    '',
    '',
    ...calls,
    '',
  ].join('\n');
}
