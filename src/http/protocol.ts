/**
 * Which of the service's protocols a URL belongs to: the Open Inference Protocol under /v2 (its
 * errors are {"error": message}), the service's own REST API (/v1, health, metrics, docs)
 * otherwise. A label of the request metrics, and how errors are rendered.
 */
export type Protocol = 'v1' | 'v2';

export function protocolOf(url: string | undefined): Protocol {
  if (!url) return 'v1';
  let path = url;
  // Absolute-form request targets (http://host/v2/...) are accepted: look at their path.
  if (!path.startsWith('/')) {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/i.exec(path);
    path = m ? m[1] : path;
  }
  return path === '/v2' || path.startsWith('/v2/') || path.startsWith('/v2?') ? 'v2' : 'v1';
}
