"""What hf.Router costs on top of calling its backend directly, next to LiteLLM's Router.

The canned OpenAI-compatible server of `client_overhead.py` (answers prepared in advance,
2,000-chunk streams) runs in its own process, so the figures are the client's own CPU time:

- CPU per non-streaming chat request: `OpenAILike` called directly, and the same backend
  behind `hf.Router` (one backend, and two backends on the same server);
- CPU per streamed chunk, direct and through the router;
- the same per-request comparison for `litellm.completion` against `litellm.Router`, when
  litellm is installed (it is no dependency of homefire; `client_overhead.py` builds
  `benchmarks/.venv` with it, and this script runs there too).

    python benchmarks/router.py            # or benchmarks/.venv/bin/python benchmarks/router.py
    python benchmarks/router.py --quick    # fewer repetitions

Goal: the router adds at most 0.1 ms of client CPU per request.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from collections.abc import Callable, Iterator
from math import inf
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from client_overhead import MESSAGES, _start_server, cpu_per_call, cpu_per_chunk

GOAL_MS = 0.1


def homefire_rows(url: str) -> tuple[dict[str, Callable[[], object]], dict[str, Any], list[Any]]:
    """Sync calls and streams for: the backend alone, a one-backend and a two-backend router."""
    import homefire as hf
    from homefire.servers.router import Router

    def backend() -> hf.OpenAILike:
        return hf.OpenAILike(base_url=f"{url}/v1", model="canned", max_new_tokens=16)

    direct = backend()
    one = Router([direct], health_interval=3600)
    pair = [backend(), backend()]
    two = Router({"a": pair[0], "b": pair[1]}, health_interval=3600)
    calls: dict[str, Callable[[], object]] = {
        "OpenAILike, direct": lambda: direct.chat(MESSAGES),
        "hf.Router, 1 backend": lambda: one.chat(MESSAGES),
        "hf.Router, 2 backends": lambda: two.chat(MESSAGES),
    }
    streams: dict[str, Callable[[], Iterator[object]]] = {
        "OpenAILike, direct": lambda: direct.stream_chat(MESSAGES),
        "hf.Router, 1 backend": lambda: one.stream_chat(MESSAGES),
    }
    return calls, streams, [one, two, direct, *pair]


def litellm_rows(url: str) -> dict[str, Callable[[], object]] | None:
    if importlib.util.find_spec("litellm") is None:
        return None
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.telemetry = False
    params = {"model": "openai/canned", "api_base": f"{url}/v1", "api_key": "x"}
    router = litellm.Router(model_list=[{"model_name": "canned", "litellm_params": params}])
    return {
        "litellm.completion, direct": lambda: litellm.completion(
            messages=MESSAGES, max_tokens=16, **params
        ),
        "litellm.Router": lambda: router.completion(
            model="canned", messages=MESSAGES, max_tokens=16
        ),
    }


def best_of(calls: dict[str, Callable[[], object]], n: int, rounds: int) -> dict[str, float]:
    """CPU seconds per call; rounds interleave the clients and each keeps its best round, so
    noise from other work on the machine hits all alike and is mostly filtered out."""
    best = dict.fromkeys(calls, inf)
    for _ in range(rounds):
        for name, call in calls.items():
            best[name] = min(best[name], cpu_per_call(call, n))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    n_requests, rounds = (300, 3) if args.quick else (2000, 7)

    server, url = _start_server()
    closing: list[Any] = []
    try:
        calls, streams, closing = homefire_rows(url)
        per_request = best_of(calls, n_requests, rounds)
        per_chunk = {
            name: min(cpu_per_chunk(stream) for _ in range(rounds))
            for name, stream in streams.items()
        }
        lite = litellm_rows(url)
        lite_request = best_of(lite, max(n_requests // 10, 50), rounds) if lite else None
    finally:
        for item in closing:
            item.close()
        server.terminate()
        server.wait(10)

    print(f"python {sys.version.split()[0]} at {sys.prefix}; {n_requests} requests x {rounds}")
    for name, seconds in per_request.items():
        chunk = per_chunk.get(name)
        extra = f"   {chunk * 1e6:6.2f} us/chunk" if chunk is not None else ""
        print(f"{name:28} {seconds * 1e3:8.3f} ms/request{extra}")
    direct = per_request["OpenAILike, direct"]
    for name in ("hf.Router, 1 backend", "hf.Router, 2 backends"):
        added = (per_request[name] - direct) * 1e3
        verdict = "ok" if added <= GOAL_MS else "OVER"
        print(f"{name} over direct: {added:+.3f} ms/request (goal <= +{GOAL_MS}) {verdict}")
    chunk_added = (per_chunk["hf.Router, 1 backend"] - per_chunk["OpenAILike, direct"]) * 1e6
    print(f"hf.Router over direct, streaming: {chunk_added:+.2f} us/chunk")
    if lite_request is None:
        print("litellm is not installed: its Router was skipped (pip install litellm, or run")
        print("this script with benchmarks/.venv/bin/python after client_overhead.py made it)")
        return
    for name, seconds in lite_request.items():
        print(f"{name:28} {seconds * 1e3:8.3f} ms/request")
    lite_added = (lite_request["litellm.Router"] - lite_request["litellm.completion, direct"]) * 1e3
    print(f"litellm.Router over litellm.completion: {lite_added:+.3f} ms/request")


if __name__ == "__main__":
    main()
