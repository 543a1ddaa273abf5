"""
The peer of issue 11's side-by-side (`npm run load -- --peer R`): /v1/softmax and /v1/sample of
anymax's contract, served the way a Python team would serve them: FastAPI on uvicorn (one
process per core, `--workers 2` here), PyTorch float64 kernels on one thread per process.

Only what the peer scenarios send is implemented (logits, temperature; n and seed for sample),
so that the load harness's checks (load/scenarios.ts) judge its answers as they judge ours:
softmax within 1e-12 of a float64 reference, draws as class indices, the seed echoed. It is
written to be fast, not naive: the body is read as bytes and parsed once with the standard
json module, and the answer is serialised once with json.dumps (skipping FastAPI's
jsonable_encoder walk, which would cost more than the kernels). Draws come from torch's own
seeded generator (torch.multinomial): not anymax's Philox stream, and not meant to match it.

Needs python3 with torch, fastapi and uvicorn (Debian bookworm: apt-get install python3-torch
python3-fastapi python3-uvicorn). Nothing in `npm test` uses it.
"""

import json

import torch
from fastapi import FastAPI, Request, Response

# One kernel thread per process: the processes are the parallelism (as anymax's pool threads are).
torch.set_num_threads(1)

app = FastAPI()


def answer(obj: object) -> Response:
    return Response(content=json.dumps(obj, separators=(",", ":")), media_type="application/json")


def refuse(message: str) -> Response:
    return Response(content=json.dumps({"statusCode": 400, "message": message}), status_code=400, media_type="application/json")


def scaled_logits(body: dict) -> torch.Tensor:
    z = torch.tensor(body["logits"], dtype=torch.float64)
    t = body.get("temperature", 1)
    return z / t if t != 1 else z


def importable(name: str) -> bool:
    try:
        __import__(name)
        return True
    except ImportError:
        return False


# What uvicorn runs on: it takes uvloop and httptools when they are installed (as
# `pip install "uvicorn[standard]"` installs them; Debian: python3-uvloop python3-httptools), else
# asyncio's loop and the pure-Python h11 parser, about 4x slower on small requests (measured).
SERVER = {"loop": "uvloop" if importable("uvloop") else "asyncio", "http": "httptools" if importable("httptools") else "h11"}


@app.get("/health")
async def health() -> dict:
    return {"status": "ok", **SERVER}


@app.post("/v1/softmax")
async def softmax(request: Request) -> Response:
    body = json.loads(await request.body())
    if not isinstance(body, dict) or "logits" not in body:
        return refuse("logits is required")
    p = torch.softmax(scaled_logits(body), dim=-1)
    return answer({"probs": p.tolist()})


@app.post("/v1/sample")
async def sample(request: Request) -> Response:
    body = json.loads(await request.body())
    if not isinstance(body, dict) or "logits" not in body:
        return refuse("logits is required")
    n = int(body.get("n", 1))
    seed = body.get("seed")
    generator = torch.Generator()
    if seed is None:
        seed = int(generator.seed() % 2**53)
    generator.manual_seed(int(seed))
    p = torch.softmax(scaled_logits(body), dim=-1)
    draws = torch.multinomial(p, n, replacement=True, generator=generator)
    return answer({"samples": draws.tolist(), "seed": seed})


if __name__ == "__main__":
    # Run by load/run.ts --peer with HOST, PORT and PEER_PROCESSES in the environment.
    import os

    import uvicorn

    uvicorn.run(
        "app:app",
        app_dir=os.path.dirname(os.path.abspath(__file__)),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        workers=int(os.environ.get("PEER_PROCESSES", "2")),
        log_level="warning",
        access_log=False,
    )
