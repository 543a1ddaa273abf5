"""A small client for the anymax HTTP API, standard library only (urllib, json).

    from anymax_client import Anymax
    api = Anymax("http://127.0.0.1:8080")
    api.sparsemax([[-2, 0, 0.5]])            # {'probs': [[0.0, 0.25, 0.75]], 'support': [2]}
    api.sample([[3, 2, 1]], n=4, seed=42)     # {'samples': [[...]], 'seed': 42}

Masked logits are passed as None. Every method returns the decoded JSON answer; a non-2xx answer
raises AnymaxError carrying the server's status, code and message (which names the bad field).
"""

import json
import urllib.error
import urllib.request

__all__ = ["Anymax", "AnymaxError"]


class AnymaxError(Exception):
    """An error answer from the service: {"statusCode", "code", "error", "message"}."""

    def __init__(self, status, code, message, body=None, retry_after=None):
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body
        self.retry_after = retry_after


class Anymax:
    def __init__(self, base_url="http://127.0.0.1:8080", timeout=60.0):
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    # --- mappings -------------------------------------------------------------------------
    def argmax(self, logits):
        return self._post("argmax", {"logits": logits})

    def softmax(self, logits, temperature=None, log=None):
        return self._post("softmax", _fields(logits=logits, temperature=temperature, log=log))

    def sparsemax(self, logits, temperature=None):
        return self._post("sparsemax", _fields(logits=logits, temperature=temperature))

    def entmax(self, logits, alpha=None, temperature=None):
        return self._post("entmax", _fields(logits=logits, alpha=alpha, temperature=temperature))

    # --- seeded sampling ------------------------------------------------------------------
    def gumbel_softmax(self, logits=None, probs=None, temperature=None, hard=None, seed=None):
        return self._post(
            "gumbel-softmax",
            _fields(logits=logits, probs=probs, temperature=temperature, hard=hard, seed=seed),
        )

    def sample(self, logits=None, probs=None, mapping=None, alpha=None, temperature=None,
               top_k=None, top_p=None, min_p=None, n=None, seed=None):
        return self._post(
            "sample",
            _fields(logits=logits, probs=probs, mapping=mapping, alpha=alpha,
                    temperature=temperature, topK=top_k, topP=top_p, minP=min_p, n=n, seed=seed),
        )

    # --- operations -----------------------------------------------------------------------
    def live(self):
        return self._get("/health/live")

    def ready(self):
        return self._get("/health/ready")

    def openapi(self):
        return self._get("/openapi.json")

    # --- transport ------------------------------------------------------------------------
    def _post(self, endpoint, body):
        data = json.dumps(body, allow_nan=False).encode("utf-8")
        req = urllib.request.Request(
            f"{self.base_url}/v1/{endpoint}", data=data, method="POST",
            headers={"content-type": "application/json", "accept": "application/json"},
        )
        return self._send(req)

    def _get(self, path):
        return self._send(urllib.request.Request(f"{self.base_url}{path}", method="GET"))

    def _send(self, req):
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return json.loads(resp.read().decode("utf-8"))
        except urllib.error.HTTPError as e:
            raw = e.read().decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = {"code": "HTTP_ERROR", "message": raw or e.reason}
            raise AnymaxError(e.code, body.get("code"), body.get("message"), body,
                              e.headers.get("retry-after")) from None


def _fields(**kw):
    """The request body: only the fields given (None means: use the server's default)."""
    return {k: v for k, v in kw.items() if v is not None}
