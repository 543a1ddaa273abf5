// The /v1 routes, called from the page. Every number the figures show comes from here.

/** An error answer of the service: its message names the field and position that are wrong. */
export class ServiceError extends Error {
  constructor(status, body) {
    super(body?.message ?? `the service answered HTTP ${status}`);
    this.status = status;
    this.code = body?.code;
  }
}

/** The absolute URL of /v1/<op>, relative to the page (so a path prefix in front still works). */
export function endpoint(op) {
  return new URL(`../v1/${op}`, document.baseURI).href;
}

/** POST /v1/<op> with a JSON body; resolves to the answer, or rejects with a ServiceError. */
export async function post(op, body) {
  const res = await fetch(endpoint(op), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok || json === undefined) throw new ServiceError(res.status, json);
  return json;
}
