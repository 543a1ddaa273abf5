"""Calls every anymax endpoint, /v1 and the Open Inference Protocol's /v2, and prints the answers;
exits non-zero on any failure.

    python3 clients/python/example.py http://127.0.0.1:8080

Runs under `python3 -I -S` (standard library only).
"""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from anymax_client import Anymax, AnymaxError  # noqa: E402

failures = []


def check(name, ok, detail):
    print(f"{'ok  ' if ok else 'FAIL'} {name}: {detail}")
    if not ok:
        failures.append(name)


def close(a, b, tol=1e-9):
    return len(a) == len(b) and all(abs(x - y) <= tol for x, y in zip(a, b))


def fp32(v):
    """v rounded to float32 (to nearest even), as a Python float."""
    return struct.unpack("<f", struct.pack("<f", v))[0]


def main(base_url):
    api = Anymax(base_url)
    x = [[-2, 0, 0.5]]  # the entmax README's example
    z = [[3, 2, 1]]     # the seed article's example

    r = api.argmax([[3, 2, 1], [1, None, 5]])
    check("argmax", r["indices"] == [0, 2], r)

    r = api.softmax(x)
    check("softmax", close(r["probs"][0], [0.04861082403130226, 0.3591881057825386, 0.5922010701861591]), r)

    r = api.softmax(z, temperature=0.5, log=True)
    check("log-softmax", len(r["logProbs"][0]) == 3 and r["logProbs"][0][0] < 0, r)

    r = api.softmax([[1, None, 2]], log=True)
    check("log-softmax masked is None", r["logProbs"][0][1] is None, r)

    r = api.sparsemax(x)
    check("sparsemax", close(r["probs"][0], [0, 0.25, 0.75]) and r["support"] == [2], r)

    r = api.entmax(x, alpha=1.5)
    check("entmax 1.5", close(r["probs"][0], [0, 0.32600736366156174, 0.6739926363384381]) and r["support"] == [2], r)

    r = api.gumbel_softmax(z, temperature=0.5, seed=42)
    check("gumbel-softmax", r["seed"] == 42 and abs(sum(r["probs"][0]) - 1) < 1e-12 and len(r["indices"]) == 1, r)

    r = api.gumbel_softmax(probs=[[0.5, 0.3, 0.2]], hard=True, seed=42)
    check("gumbel-softmax hard", sorted(r["probs"][0]) == [0, 0, 1], r)

    a = api.sample(z, n=8, seed=42)
    b = api.sample(z, n=8, seed=42)
    check("sample replayed with its seed is identical", a == b and len(a["samples"][0]) == 8, a)

    c = api.sample(z, n=8)  # the server draws a seed and returns it
    d = api.sample(z, n=8, seed=c["seed"])
    check("sample with a server-drawn seed replays", c == d, c)

    r = api.sample(z, mapping="sparsemax", temperature=0.5, top_k=2, n=4, seed=7)
    check("sample sparsemax top-k", all(s in (0, 1) for s in r["samples"][0]), r)

    r = api.sample([[3, 2, 1, 0]], n=3, replacement=False, logprobs=True, top_logprobs=2, seed=7)
    check("sample without replacement, with log-probs", sorted(r["samples"][0]) == sorted(set(r["samples"][0]))
          and len(r["logprobs"][0]) == 3 and r["topLogprobs"][0]["indices"] == [0, 1], r)

    rows = [[0.5, 1.5, -1], [2, 2, 2]]
    r = api.sample(rows, temperature=[0.5, 2], typical_p=0.9, logit_bias={2: 1.0}, banned=[0], n=4, seed=[11, 12])
    alone = api.sample([rows[1]], temperature=2, typical_p=0.9, logit_bias={2: 1.0}, banned=[0], n=4, seed=[12])
    check("sample per-row seeds: a row draws the same alone", r["samples"][1] == alone["samples"][0]
          and r["seed"] == [11, 12] and 0 not in r["samples"][0], r)

    r = api.sparsemax([[-2, 0, 0.5]], format="sparse")
    check("sparsemax sparse answer", r == {"indices": [[1, 2]], "values": [[0.25, 0.75]], "support": [2]}, r)
    r = api.score([x[0], x[0]], [2, 0], mapping="sparsemax")
    check("score sparsemax", r["loss"] == [0.0625, 2.5625] and r["logprob"][1] is None and r["value"] == [0.5625, 0.5625], r)

    try:
        api.softmax([[1, 2, 3], [1, 2]])
        check("ragged rows are a 400", False, "no error")
    except AnymaxError as e:
        check("ragged rows are a 400", e.status == 400 and "row 0 has 3" in e.message, f"{e.status} {e.message}")

    check("ready", api.ready().get("status") == "ready", "health/ready")

    # --- Open Inference Protocol v2: the same operations as models, tensors as binary data ---
    meta = api.server_metadata()
    check("v2 server metadata", meta["name"] == "anymax" and "binary_tensor_data" in meta["extensions"], meta)
    m = api.model_metadata("softmax")
    check("v2 model metadata", [i["name"] for i in m["inputs"]] == ["logits"] and api.model_ready("softmax"), m)
    check("v2 ready", api.server_live() and api.server_ready(), "v2/health")

    probs = api.softmax(z)["probs"][0]
    r = api.infer("softmax", z)  # FP32 binary in and out (the defaults)
    check("v2 softmax FP32 binary", r.binary("probs") and r.datatype("probs") == "FP32"
          and r["probs"] == [[fp32(p) for p in probs]], r["probs"])

    r = api.infer("softmax", z, datatype="FP64")
    check("v2 softmax FP64 binary is /v1's answer", r.datatype("probs") == "FP64" and r["probs"] == [probs], r["probs"])

    j = api.infer("softmax", z, binary=False, binary_outputs=False)
    check("v2 JSON in and out answers as binary", not j.binary("probs") and j["probs"] == api.infer("softmax", z)["probs"], j["probs"])

    r = api.infer("softmax", [[1, None, 2]], datatype="FP64", log=True)
    check("v2 log-softmax masked is -inf", r["logProbs"] == [[float("-inf") if v is None else v for v in
                                                            api.softmax([[1, None, 2]], log=True)["logProbs"][0]]], r["logProbs"])

    for datatype in ("FP16", "BF16"):
        r = api.infer("sparsemax", x, datatype=datatype)  # -2, 0 and 0.5 are exact in both
        check(f"v2 sparsemax {datatype} in", r["probs"] == [[0, 0.25, 0.75]] and r["support"] == [2], r["probs"])

    a = api.infer("sample", z, n=8, seed=42)
    check("v2 sample seeded is /v1's draw", a.seed == 42 and a["samples"] == api.sample(z, n=8, seed=42)["samples"], a["samples"])
    c = api.infer("sample", z, n=8)  # the server draws a seed and returns it in the parameters
    d = api.infer("sample", z, n=8, seed=c.seed)
    check("v2 sample with a server-drawn seed replays", isinstance(c.seed, int) and c["samples"] == d["samples"], c.parameters)

    r = api.infer("softmax", z, outputs=["probs"], classification=2)
    check("v2 classification top-2", r.datatype("probs") == "BYTES"
          and r.classes("probs") == [[(fp32(probs[0]), 0), (fp32(probs[1]), 1)]], r["probs"])

    try:
        api.infer("softmax", z, temprature=2)
        check("v2 unknown parameter is a 400", False, "no error")
    except AnymaxError as e:
        check("v2 unknown parameter is a 400", e.status == 400 and "unknown parameter(s): temprature" in e.message, e.message)
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python3 example.py BASE_URL", file=sys.stderr)
        sys.exit(2)
    try:
        code = main(sys.argv[1])
    except Exception as e:  # any transport or decoding error is a failure too
        print(f"FAIL {type(e).__name__}: {e}", file=sys.stderr)
        code = 1
    if failures:
        print(f"{len(failures)} check(s) failed: {', '.join(failures)}", file=sys.stderr)
    sys.exit(code)
