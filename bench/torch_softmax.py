"""
PyTorch's softmax on this machine, for `npm run bench -- --torch` (bench/kernels.ts): float64,
one thread, standard normal logits, timed as bench/kernels.ts times ours (median per call after
a warm-up of at least 5 calls and 100 ms; at least 9 calls and 300 ms, at most 200). Prints one
JSON object per shape given as ROWSxCOLS arguments: {"rows", "cols", "medianMs"}.
Needs python3 with torch (Debian bookworm: apt-get install python3-torch).
"""

import json
import sys
import time

import torch

torch.set_num_threads(1)


def measure(fn) -> float:
    warm = time.perf_counter()
    calls = 0
    while calls < 5 or time.perf_counter() - warm < 0.1:
        fn()
        calls += 1
    times = []
    start = time.perf_counter()
    while len(times) < 9 or (time.perf_counter() - start < 0.3 and len(times) < 200):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    times.sort()
    m = len(times) // 2
    return times[m] if len(times) % 2 else (times[m - 1] + times[m]) / 2


generator = torch.Generator().manual_seed(12345)
for shape in sys.argv[1:]:
    rows, cols = (int(v) for v in shape.split("x"))
    x = torch.randn(rows, cols, dtype=torch.float64, generator=generator)
    print(json.dumps({"rows": rows, "cols": cols, "medianMs": measure(lambda: torch.softmax(x, -1))}), flush=True)
