"""How quickly homefire answers where a person waits: the speed the tests no longer time.

The test suite checks that each of these happens; how fast is measured here, on a machine
quiet enough for the figures to mean something (each is the median of --reps runs):

- `homefire --help` in a fresh interpreter (goal: under 1.5 s);
- reading the embedded model's GGUF header (goal: under 0.25 s; ~10 ms on a quiet machine);
- `hf.discover` when nothing listens on the ports it probes (goal: under 1.5 s);
- the next answer after closing a stream the model was still generating (goal: under 5 s);
- the longest the event loop stalls while an in-process answer streams (goal: under 0.5 s).

    .venv/bin/python benchmarks/responsiveness.py [--reps 5]
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any

import homefire as hf
from homefire.modelfiles.embedded import embedded_model_path
from homefire.modelfiles.gguf import read_model_file

LONG = "Write a very long story."


def _seconds(run: Callable[[], Any]) -> float:
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def _median(run: Callable[[], Any], reps: int) -> float:
    return statistics.median(_seconds(run) for _ in range(reps))


def help_time() -> None:
    command = [sys.executable, "-m", "homefire.cli", "--help"]
    subprocess.run(command, check=True, capture_output=True)


def discover_nothing() -> None:
    with ExitStack() as stack:
        held = [stack.enter_context(socket.socket()) for _ in range(5)]
        for sock in held:
            sock.bind(("127.0.0.1", 0))  # bound, never listening: each refuses connections
        assert hf.discover(["127.0.0.1"], ports=[s.getsockname()[1] for s in held]) == []


def _no_end(llm: hf.LlamaCPP) -> dict[str, Any]:
    ends = [llm.tokenize("<|im_end|>")[0], llm.tokenize("<|endoftext|>")[0]]
    return {"logit_bias": {str(t): -100.0 for t in ends}}


def answer_after_close(llm: hf.LlamaCPP) -> float:
    stream = llm.stream_complete(LONG, max_tokens=4000, temperature=0, extra=_no_end(llm))
    for _ in range(3):
        next(stream)
    stream.close()  # type: ignore[attr-defined]
    return _seconds(lambda: llm.complete("Hello", max_tokens=2, temperature=0))


async def _loop_stall(llm: hf.LlamaCPP) -> float:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    async for _ in llm.astream_complete(LONG, temperature=0, max_tokens=48, extra=_no_end(llm)):
        pass
    done.set()
    await task
    return max(gaps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    model = embedded_model_path()
    read_model_file(model)  # the gguf constants import once
    rows = [
        ("homefire --help", _median(help_time, args.reps), 1.5),
        ("read the model file", _median(lambda: read_model_file(model), args.reps), 0.25),
        ("discover, nothing running", _median(discover_nothing, args.reps), 1.5),
    ]
    with hf.LlamaCPP(model, n_threads=2, context_window=2048, n_parallel=1) as llm:
        after_close = statistics.median(answer_after_close(llm) for _ in range(args.reps))
        rows.append(("answer after closing a stream", after_close, 5.0))
        stalls = [asyncio.run(_loop_stall(llm)) for _ in range(args.reps)]
        rows.append(("event loop stall while streaming", statistics.median(stalls), 0.5))
    for name, seconds, goal in rows:
        verdict = "ok" if seconds < goal else "SLOWER THAN THE GOAL"
        print(f"{name:36} {seconds * 1000:9.1f} ms   goal < {goal * 1000:.0f} ms   {verdict}")


if __name__ == "__main__":
    main()
