"""A small client for the anymax HTTP API, standard library only (urllib, json, struct, array).

/v1 (anymax's own JSON API):

    from anymax_client import Anymax
    api = Anymax("http://127.0.0.1:8080")
    api.sparsemax([[-2, 0, 0.5]])            # {'probs': [[0.0, 0.25, 0.75]], 'support': [2]}
    api.sample([[3, 2, 1]], n=4, seed=42)     # {'samples': [[...]], 'seed': 42}
    api.score([[-2, 0, 0.5]], [2], mapping="sparsemax")   # {'loss': [0.0625], 'prob': [0.75], ...}

Masked logits are passed as None. Every method returns the decoded JSON answer; a non-2xx answer
raises AnymaxError carrying the server's status, code and message (which names the bad field).

/v2 (the Open Inference Protocol of KServe and Triton, with Triton's binary tensor data):

    r = api.infer("softmax", [[3, 2, 1]])                  # FP32 binary in and out
    r["probs"]                                             # [[0.6652409434318542, ...]]
    r = api.infer("sample", [[3, 2, 1]], n=8, seed=42)     # parameters with the /v1 names
    r["samples"], r.seed                                   # [[0, 0, 1, 0, 2, 1, 1, 0]], 42
    api.infer("softmax", [[3, 2, 1]], outputs=["probs"], classification=2)["probs"]
                                                           # [['0.6652409434318542:0', '0.2447284758090973:1']]

Binary tensors are packed with struct and read with array, so numpy is not needed; numpy arrays
are accepted as inputs when numpy is installed, and then outputs come back as numpy arrays.
Errors under /v2 are {"error": message}: AnymaxError with the status and that message (code None).
"""

import array
import json
import numbers
import struct
import sys
import urllib.error
import urllib.parse
import urllib.request

__all__ = ["Anymax", "AnymaxError", "InferResult"]

HEADER_LENGTH = "Inference-Header-Content-Length"
_NEG_INF = float("-inf")
_POS_INF = float("inf")
_LITTLE = sys.byteorder == "little"
# struct codes of the input datatypes ('<' little-endian, standard sizes); BF16 is packed by hand.
_PACK = {"FP64": "d", "FP32": "f", "FP16": "e"}
# array typecodes of the binary outputs ('q' is 8 bytes on every platform).
_UNPACK = {"FP64": "d", "FP32": "f", "INT64": "q"}
_NUMPY_DTYPE = {"FP64": "<f8", "FP32": "<f4", "FP16": "<f2", "INT64": "<i8"}
# The default datatype of a numpy input (any other dtype is sent as FP64).
_NUMPY_DATATYPE = {"float64": "FP64", "float32": "FP32", "float16": "FP16"}


class AnymaxError(Exception):
    """An error answer from the service: /v1's {"statusCode", "code", "error", "message"}, or
    /v2's {"error": message} (then code is None)."""

    def __init__(self, status, code, message, body=None, retry_after=None):
        super().__init__(f"{status} {code}: {message}" if code is not None else f"{status}: {message}")
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

    # format="sparse": {"indices", "values", "support"}, each row's non-zero classes only.
    def sparsemax(self, logits, temperature=None, format=None):
        return self._post("sparsemax", _fields(logits=logits, temperature=temperature, format=format))

    def entmax(self, logits, alpha=None, temperature=None, format=None):
        return self._post("entmax", _fields(logits=logits, alpha=alpha, temperature=temperature, format=format))

    def score(self, logits, targets, mapping=None, alpha=None, temperature=None):
        """Per row: the Fenchel-Young loss, p and log p of the target, the entropy and the regularised max."""
        return self._post(
            "score",
            _fields(logits=logits, targets=targets, mapping=mapping, alpha=alpha, temperature=temperature),
        )

    # --- seeded sampling ------------------------------------------------------------------
    def gumbel_softmax(self, logits=None, probs=None, temperature=None, hard=None, seed=None):
        return self._post(
            "gumbel-softmax",
            _fields(logits=logits, probs=probs, temperature=temperature, hard=hard, seed=seed),
        )

    def sample(self, logits=None, probs=None, mapping=None, alpha=None, temperature=None,
               top_k=None, top_p=None, min_p=None, n=None, seed=None, *, top_n_sigma=None,
               typical_p=None, epsilon=None, eta=None, logit_bias=None, allowed=None, banned=None,
               replacement=None, logprobs=None, logprobs_mode=None, top_logprobs=None):
        """Seeded draws. Filter parameters, alpha, temperature and seed take a number, or a list of one
        per row; logit_bias maps class index (int or str) to a bias."""
        if logit_bias is not None:
            logit_bias = {str(k): v for k, v in logit_bias.items()}
        return self._post(
            "sample",
            _fields(logits=logits, probs=probs, mapping=mapping, alpha=alpha,
                    temperature=temperature, topNSigma=top_n_sigma, topK=top_k, topP=top_p,
                    typicalP=typical_p, minP=min_p, epsilon=epsilon, eta=eta, logitBias=logit_bias,
                    allowed=allowed, banned=banned, n=n, replacement=replacement,
                    logprobs=logprobs, logprobsMode=logprobs_mode, topLogprobs=top_logprobs,
                    seed=seed),
        )

    # --- scores and losses ----------------------------------------------------------------
    def score(self, logits, targets, mapping=None, alpha=None, temperature=None):
        """Per row: the Fenchel-Young loss of targets[r], p[target], log p[target] (None where 0), entropy, value."""
        return self._post(
            "score",
            _fields(logits=logits, targets=targets, mapping=mapping, alpha=alpha, temperature=temperature),
        )

    # --- operations -----------------------------------------------------------------------
    def live(self):
        return self._get("/health/live")

    def ready(self):
        return self._get("/health/ready")

    def openapi(self):
        return self._get("/openapi.json")

    # --- Open Inference Protocol v2 -------------------------------------------------------
    def infer(self, model, inputs, datatype=None, binary=True, outputs=None, binary_outputs=True,
              classification=None, input_name="logits", shape=None, request_id=None,
              version=None, **parameters):
        """POST /v2/models/{model}/infer; returns an InferResult.

        inputs: rows of numbers (None masks a class), a flat sequence (array.array too) with
          shape=(rows, classes), or a numpy array (-inf masks).
        datatype: FP64, FP32, FP16 or BF16 (the last two in binary only). Default: a numpy
          array's own (float64, float32, float16; other dtypes as FP64), else FP32. Values are
          rounded to it once, to nearest even; a finite value too large for it is a ValueError.
        binary: send the tensor as binary data (else as JSON data).
        outputs: the names of the outputs to answer (default: all the model answers with).
        binary_outputs: ask for the outputs in binary (else JSON); decoded alike either way.
        classification: N (for every name in outputs) or {name: N}: those outputs come back as
          the N largest "<value>:<index>" of each row (see InferResult.classes).
        input_name: "logits", or "probs" (gumbel-softmax and sample).
        **parameters: the operation's fields with the /v1 names (temperature, log, alpha, hard,
          seed, mapping, topK, topP, minP, n); None means the server's default.
        """
        values, shape, np = _matrix(inputs, shape)
        if datatype is None:
            datatype = _NUMPY_DATATYPE.get(values.dtype.name, "FP64") if np else "FP32"
        tensor = {"name": input_name, "datatype": datatype, "shape": shape}
        if binary:
            where = (input_name, shape[1])
            data = _pack_numpy(np, values, datatype, where) if np else _pack(values, datatype, where)
            tensor["parameters"] = {"binary_data_size": len(data)}
        else:
            tensor["data"] = _json_data(values.reshape(-1).tolist() if np else values)
        header = {"inputs": [tensor]}
        if request_id is not None:
            header["id"] = request_id
        params = _fields(**parameters)
        wanted = _requested(outputs, classification, binary_outputs)
        if wanted is not None:
            header["outputs"] = wanted
        elif binary_outputs:
            params["binary_data_output"] = True
        if params:
            header["parameters"] = params
        try:
            body = json.dumps(header, allow_nan=False, separators=(",", ":")).encode("utf-8")
        except ValueError:
            named = None if binary else _not_json(tensor["data"], (input_name, shape[1]))
            if named is None:
                raise
            raise named from None
        headers = {"accept": "application/json, application/octet-stream"}
        if binary:
            headers[HEADER_LENGTH] = str(len(body))
            headers["content-type"] = "application/octet-stream"
            body += data
        else:
            headers["content-type"] = "application/json"
        _, resp_headers, raw = self._request("POST", f"{_model_path(model, version)}/infer", body, headers)
        return _decode_answer(raw, resp_headers.get(HEADER_LENGTH), np)

    def server_metadata(self):
        """GET /v2: {"name", "version", "extensions"}."""
        return self._get_json("/v2")

    def server_live(self):
        return self._get_json("/v2/health/live").get("live") is True

    def server_ready(self):
        """True when the service takes work; False while it answers 503 (starting, queue full)."""
        try:
            return self._get_json("/v2/health/ready").get("ready") is True
        except AnymaxError as e:
            if e.status == 503:
                return False
            raise

    def model_metadata(self, model, version=None):
        """{"name", "versions", "platform", "inputs", "outputs"}; an unknown model is a 404 AnymaxError."""
        return self._get_json(_model_path(model, version))

    def model_ready(self, model, version=None):
        return self._get_json(f"{_model_path(model, version)}/ready").get("ready") is True

    def repository_index(self):
        """[{"name", "version", "state"}, ...] of every model."""
        _, _, raw = self._request("POST", "/v2/repository/index", b"", {"content-type": "application/json"})
        return json.loads(raw.decode("utf-8"))

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

    def _get_json(self, path):
        _, _, raw = self._request("GET", path)
        return json.loads(raw.decode("utf-8"))

    def _send(self, req):
        return json.loads(self._open(req)[2].decode("utf-8"))

    def _request(self, method, path, data=None, headers=None):
        req = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method, headers=headers or {})
        return self._open(req)

    def _open(self, req):
        """(status, headers, body bytes) of a 2xx answer; AnymaxError for any other."""
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            raw = e.read().decode("utf-8", "replace")
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if not isinstance(body, dict):
                body = {"code": "HTTP_ERROR", "message": raw or e.reason}
            # /v1 errors carry code and message; /v2 errors only {"error": message}.
            message = body["message"] if "message" in body else body.get("error")
            raise AnymaxError(e.code, body.get("code"), message, body,
                              e.headers.get("retry-after")) from None


class InferResult:
    """A /v2 inference answer. result[name] is an output: rows of Python numbers (a list for
    one-value-per-row outputs such as indices), strings for classification outputs, or a numpy
    array when the input was one. Masked log-probabilities are -inf, whether the output came in
    binary or JSON (where the server writes null)."""

    def __init__(self, header, tensors, numpy_out):
        self.header = header
        self.model_name = header.get("model_name")
        self.model_version = header.get("model_version")
        self.id = header.get("id")
        self.parameters = header.get("parameters") or {}
        self._tensors = tensors  # name -> (datatype, shape, flat values, came in binary)
        self._numpy = numpy_out

    @property
    def seed(self):
        """The seed a seeded model used (drawn by the server when the request had none)."""
        return self.parameters.get("seed")

    def names(self):
        return list(self._tensors)

    def __contains__(self, name):
        return name in self._tensors

    def __getitem__(self, name):
        if self._numpy:
            return self.as_numpy(name)
        _, shape, flat, _ = self._tensors[name]
        if len(shape) == 1:
            return list(flat)
        cols = shape[1]
        return [list(flat[i:i + cols]) for i in range(0, len(flat), cols)]

    def datatype(self, name):
        return self._tensors[name][0]

    def shape(self, name):
        return list(self._tensors[name][1])

    def binary(self, name):
        """Whether the output came as binary data."""
        return self._tensors[name][3]

    def array(self, name):
        """The output's values flat, row-major: an array.array ('d' FP64, 'f' FP32, 'q' INT64) or,
        for a classification output, a list of strings."""
        flat = self._tensors[name][2]
        return flat if isinstance(flat, (array.array, list)) else flat.reshape(-1)

    def as_numpy(self, name):
        """The output as a numpy array of its shape (imports numpy)."""
        import numpy as np

        datatype, shape, flat, _ = self._tensors[name]
        if not isinstance(flat, (array.array, list)):
            return flat
        if datatype == "BYTES":
            return np.array(flat, dtype=object).reshape(shape)
        return np.array(flat, dtype=_NUMPY_DTYPE[datatype]).reshape(shape)

    def classes(self, name):
        """A classification output as rows of (value, index), largest first."""
        shape = self._tensors[name][1]
        pairs = [(float(v), int(i)) for v, i in (str(s).rsplit(":", 1) for s in self.array(name))]
        return [pairs[r:r + shape[1]] for r in range(0, len(pairs), shape[1])]

    def __repr__(self):
        outs = ", ".join(f"{n} {d}{s}" for n, (d, s, _, _) in self._tensors.items())
        return f"InferResult({self.model_name}: {outs}; parameters={self.parameters})"


# --- helpers ------------------------------------------------------------------------------
def _fields(**kw):
    """The request body: only the fields given (None means: use the server's default)."""
    return {k: v for k, v in kw.items() if v is not None}


def _numpy_of(x):
    """numpy when x is a numpy array (numpy is never imported here: if it is not loaded, x is not one)."""
    np = sys.modules.get("numpy")
    return np if np is not None and isinstance(x, np.ndarray) else None


def _model_path(model, version):
    path = f"/v2/models/{urllib.parse.quote(str(model), safe='')}"
    return path if version is None else f"{path}/versions/{urllib.parse.quote(str(version), safe='')}"


def _matrix(values, shape):
    """(values flat, or the numpy array as it is; [rows, cols]; numpy or None)."""
    np = _numpy_of(values)
    if np is not None:
        a = values if shape is None else values.reshape(shape)
        if a.ndim != 2:
            raise ValueError(f"a numpy input must be 2-D (rows, classes), got shape {list(a.shape)}")
        return a, [int(a.shape[0]), int(a.shape[1])], np
    if shape is not None:
        rows, cols = shape
        if len(values) != rows * cols:
            raise ValueError(f"{len(values)} values do not make shape [{rows}, {cols}]")
        return values, [rows, cols], None
    rows = list(values)
    if not rows or not all(isinstance(r, (list, tuple, array.array)) for r in rows):
        raise TypeError("inputs must be rows (a list of lists), a flat sequence with shape=(rows, classes), or a numpy array")
    cols = len(rows[0])
    for r, row in enumerate(rows):
        if len(row) != cols:
            raise ValueError(f"row {r} has {len(row)} values, row 0 has {cols}")
    return [v for row in rows for v in row], [len(rows), cols], None


def _where(k, where):
    """An element's place, as the server names it: logits[row][class]."""
    name, cols = where
    return f"{name}[{k // cols}][{k % cols}]"


def _short(v):
    text = repr(v)
    return text if len(text) <= 40 else f"{text[:37]}..."


def _pack(flat, datatype, where):
    """Little-endian bytes of the values as `datatype` (None: -inf, a masked class)."""
    if datatype not in _PACK and datatype != "BF16":
        raise ValueError(f"datatype must be FP64, FP32, FP16 or BF16 (got {datatype!r})")
    if isinstance(flat, array.array) and _LITTLE and (datatype, flat.typecode) in (("FP64", "d"), ("FP32", "f")):
        return flat.tobytes()
    vals = [_NEG_INF if v is None else v for v in flat]
    try:
        if datatype == "BF16":
            return _bf16(vals, where)
        return struct.pack(f"<{len(vals)}{_PACK[datatype]}", *vals)
    except (OverflowError, struct.error):
        fmt = "<f" if datatype == "BF16" else f"<{_PACK[datatype]}"
        for k, v in enumerate(vals):  # the first element that does not pack, named
            try:
                struct.pack(fmt, v)
            except (OverflowError, struct.error):
                # struct says "int too large to convert" (struct.error) for an int beyond FP16.
                if not isinstance(v, numbers.Real):
                    raise TypeError(f"{_where(k, where)} = {_short(v)} is not a number (or None)") from None
                raise ValueError(f"{_where(k, where)} = {_short(v)} is too large for {datatype}") from None
        raise


def _bf16(vals, where):
    """bfloat16 bit patterns of doubles, rounded once to nearest even.

    Python has no bfloat16: each value is rounded to float32 *to odd* (truncated toward zero, the
    last bit set when inexact), then its low 16 bits rounded off to nearest even. float32 keeps 16
    bits more than bfloat16, so this double rounding equals rounding the double directly (Boldo &
    Melquiond, "Emulation of FMA and correctly rounded sums: proved algorithms using rounding to
    odd", IEEE TC 2008); rounding to nearest float32 first would not (1 + 2^-8 + 2^-40 -> 1).
    """
    n = len(vals)
    f32 = struct.pack(f"<{n}f", *vals)
    out = array.array("H", bytes(2 * n))
    for k, (x, f, b) in enumerate(zip(vals, struct.unpack(f"<{n}f", f32), struct.unpack(f"<{n}I", f32))):
        if x != x:
            out[k] = 0x7FC0 | (b >> 16 & 0x8000)
            continue
        if f != x:
            if abs(f) > abs(x):
                b -= 1  # sign and magnitude: one step toward zero
            b |= 1
        h = (b + 0x7FFF + (b >> 16 & 1)) >> 16
        if h & 0x7FFF == 0x7F80 and abs(x) != _POS_INF:
            raise ValueError(f"{_where(k, where)} = {_short(x)} is too large for BF16")
        out[k] = h
    if not _LITTLE:
        out.byteswap()
    return out.tobytes()


def _pack_numpy(np, a, datatype, where):
    """_pack for a numpy array: the same roundings, vectorised."""
    if datatype not in _PACK and datatype != "BF16":
        raise ValueError(f"datatype must be FP64, FP32, FP16 or BF16 (got {datatype!r})")
    src = np.ascontiguousarray(a, dtype=np.float64) if a.dtype.kind != "f" else np.ascontiguousarray(a)
    with np.errstate(over="ignore", invalid="ignore"):
        if datatype == "BF16":
            x = src.astype(np.float64)
            f = x.astype("<f4")
            b = f.view("<u4").astype(np.uint32)
            back = f.astype(np.float64)
            inexact = (back != x) & ~np.isnan(x)
            b[inexact & (np.abs(back) > np.abs(x))] -= 1
            b[inexact] |= 1
            h = ((b.astype(np.uint64) + 0x7FFF + ((b >> 16) & 1)) >> 16).astype("<u2")
            h[np.isnan(x)] = 0x7FC0
            overflow = ((h & 0x7FFF) == 0x7F80) & np.isfinite(x)  # 0x7F80: bfloat16's infinity
            data = h
        else:
            data = src.astype(_NUMPY_DTYPE[datatype])
            overflow = ~np.isfinite(data) & np.isfinite(src)
    if overflow.any():
        k = int(np.argmax(overflow.reshape(-1)))
        raise ValueError(f"{_where(k, where)} = {_short(float(src.reshape(-1)[k]))} is too large for {datatype}")
    return data.tobytes()


def _json_data(flat):
    """The values as JSON data: flat, None (or -inf) masking a class."""
    return [None if v is None or v == _NEG_INF else v for v in flat]


def _not_json(data, where):
    """The error for JSON data that json.dumps refused: its first NaN or +inf, named."""
    for k, v in enumerate(data):
        if isinstance(v, float) and (v != v or v == _POS_INF):
            return ValueError(f"{_where(k, where)} is {v!r}: JSON data has no NaN or +inf (-inf or None masks)")
    return None


def _requested(outputs, classification, binary_outputs):
    """The request's "outputs" (None: every output, as binary_data_output says)."""
    if isinstance(outputs, str):
        outputs = [outputs]
    names = list(outputs) if outputs is not None else []
    if isinstance(classification, dict):
        classes = dict(classification)
        names += [n for n in classes if n not in names]
    elif classification is not None:
        if not names:
            raise ValueError("classification=N needs outputs=[...] (or give classification={name: N})")
        classes = {n: classification for n in names}
    else:
        classes = {}
    if not names:
        return None
    wanted = []
    for n in names:
        # Classification strings always come as JSON data here (as anymax sends them anyway).
        p = {"binary_data": False, "classification": classes[n]} if n in classes else {"binary_data": bool(binary_outputs)}
        wanted.append({"name": n, "parameters": p})
    return wanted


def _decode_answer(raw, header_length, numpy_out):
    """An inference answer: its JSON header, and each output's values (binary ones from the bytes
    after the header, in the order of the header's outputs)."""
    n = len(raw) if header_length is None else int(header_length)
    if n > len(raw):
        raise ValueError(f"the answer's {HEADER_LENGTH} is {n} but it has {len(raw)} bytes")
    header = json.loads(raw[:n].decode("utf-8"))
    view = memoryview(raw)
    np = sys.modules.get("numpy") if numpy_out else None
    at = n
    tensors = {}
    for o in header.get("outputs", []):
        name, datatype, shape = o["name"], o["datatype"], o["shape"]
        count = 1
        for d in shape:
            count *= d
        size = (o.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if datatype not in _UNPACK:
                raise ValueError(f"output {name}: binary {datatype} data is not supported by this client")
            chunk = view[at:at + size]
            if len(chunk) != size:
                raise ValueError(f"output {name}: {size} bytes of binary data announced, {len(chunk)} there")
            at += size
            if np is not None:
                flat = np.frombuffer(chunk, dtype=_NUMPY_DTYPE[datatype]).reshape(shape)
            else:
                flat = array.array(_UNPACK[datatype])
                flat.frombytes(chunk)
                if not _LITTLE:
                    flat.byteswap()
        else:
            data = o.get("data", [])
            if data and isinstance(data[0], list):  # nested rows (anymax writes flat data)
                data = [x for row in data for x in row]
            if datatype == "BYTES":
                flat = list(data)
            elif datatype in _UNPACK:
                flat = array.array(_UNPACK[datatype], [_NEG_INF if v is None else v for v in data])
            else:
                raise ValueError(f"output {name}: datatype {datatype} is not supported by this client")
            if np is not None:
                flat = np.array(flat, dtype=object if datatype == "BYTES" else _NUMPY_DTYPE[datatype]).reshape(shape)
        got = flat.size if np is not None else len(flat)
        if got != count:
            raise ValueError(f"output {name}: {got} values for shape {shape}")
        tensors[name] = (datatype, shape, flat, size is not None)
    if at != len(raw):
        raise ValueError(f"the answer has {len(raw) - at} bytes after its outputs' binary data")
    return InferResult(header, tensors, numpy_out)
