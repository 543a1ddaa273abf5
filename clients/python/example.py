"""Calls every anymax endpoint and prints the answers; exits non-zero on any failure.

    python3 clients/python/example.py http://127.0.0.1:8080

Runs under `python3 -I -S` (standard library only).
"""

import os
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

    try:
        api.softmax([[1, 2, 3], [1, 2]])
        check("ragged rows are a 400", False, "no error")
    except AnymaxError as e:
        check("ragged rows are a 400", e.status == 400 and "row 0 has 3" in e.message, f"{e.status} {e.message}")

    check("ready", api.ready().get("status") == "ready", "health/ready")
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
