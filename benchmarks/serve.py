"""`homefire serve` against llama.cpp's own server, on the same engine, model and threads.

llama.cpp's server here is xllamacpp listening on HTTP (llama.cpp's server core, the one
`homefire serve` also runs in process), set up as `llama-server` runs when `--parallel` is
not given: 4 slots over one unified KV pool. `homefire serve` runs with its defaults, which
make the same choice. Each runs in its own process, both started in this run; the
workloads alternate between them so a busy machine slows both alike:

- one streamed chat request at a time (tokens per second as the client sees them);
- 8 concurrent streamed chat requests (aggregate tokens per second).

Every request generates exactly --max-tokens tokens (end of turn ignored). Each figure is the
median of --reps runs; the script prints both sides and the two ratios (goals: at least 1.0
at 8 concurrent, at least 0.95 for one request).

    .venv/bin/python benchmarks/serve.py [--threads 2] [--max-tokens 64] [--reps 3]
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx

from homefire.modelfiles.embedded import embedded_model_path

CONTEXT = 4096
SLOTS = 4  # llama-server's choice without --parallel (with a unified KV pool)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def reference_server(port: int, threads: int, key: str) -> None:
    """llama.cpp's server: xllamacpp listening, as `llama-server -m M -c CONTEXT -t T`."""
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(embedded_model_path())
    params.n_ctx = CONTEXT
    params.n_parallel = SLOTS
    params.kv_unified = True
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.api_keys = [key]
    params.verbosity = -1
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    server = xllamacpp.Server(params)
    stop.wait()
    del server


@dataclass
class Side:
    name: str
    url: str
    key: str
    process: subprocess.Popen[bytes]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()


def _start(name: str, argv: list[str], port: int, key: str) -> Side:
    env = {**os.environ, "HOMEFIRE_API_KEY": key}
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    side = Side(name, f"http://127.0.0.1:{port}", key, process)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with code {process.returncode}")
        try:
            if httpx.get(f"{side.url}/health", timeout=2).status_code == 200:
                return side
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    side.stop()
    raise SystemExit(f"{name} did not get ready")


def _chat(side: Side, index: int, max_tokens: int) -> None:
    """One streamed chat request, read to its end."""
    body = {
        "model": "m",
        "messages": [
            {"role": "system", "content": "You are a storyteller."},
            {"role": "user", "content": f"Tell me a long story about fox number {index}."},
        ],
        "max_tokens": max_tokens,
        "temperature": 0.0,
        "repeat_penalty": 1.0,  # the same samplers on both sides, whatever their defaults
        "ignore_eos": True,
        "stream": True,
    }
    headers = {"Authorization": f"Bearer {side.key}"}
    with httpx.stream(
        "POST", f"{side.url}/v1/chat/completions", json=body, headers=headers, timeout=600
    ) as response:
        response.raise_for_status()
        for _ in response.iter_lines():
            pass


def _run(side: Side, concurrency: int, max_tokens: int) -> float:
    """Aggregate generated tokens per second of `concurrency` requests sent at once."""
    started = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(lambda i: _chat(side, i, max_tokens), range(concurrency)))
    return concurrency * max_tokens / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--reference-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.reference_server is not None:
        reference_server(args.reference_server, args.threads, os.environ["HOMEFIRE_API_KEY"])
        return

    key = secrets.token_urlsafe(16)
    port = _free_port()
    reference = [sys.executable, __file__, "--reference-server", str(port)]
    sides = [_start("llama.cpp", [*reference, "--threads", str(args.threads)], port, key)]
    port = _free_port()
    homefire = [sys.executable, "-m", "homefire.servers.serve", "--port", str(port)]
    homefire += ["--ctx", str(CONTEXT), "--threads", str(args.threads)]
    try:
        sides.append(_start("homefire", homefire, port, key))
        for side in sides:  # warm-up: load caches, fill the prompt cache
            _run(side, 8, 8)
        figures: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.reps):
            for concurrency in (1, 8):
                for side in sides:
                    rate = _run(side, concurrency, args.max_tokens)
                    figures.setdefault((side.name, concurrency), []).append(rate)
    finally:
        for side in sides:
            side.stop()

    median = {key: statistics.median(values) for key, values in figures.items()}
    print(f"SmolLM2-135M Q4_1, {args.threads} threads, {SLOTS} slots, {args.max_tokens} tokens")
    print(f"{'':12}{'1 request':>14}{'8 concurrent':>16}   (generated tokens/s, median)")
    for side in sides:
        print(f"{side.name:12}{median[(side.name, 1)]:14.1f}{median[(side.name, 8)]:16.1f}")
    single = median[("homefire", 1)] / median[("llama.cpp", 1)]
    aggregate = median[("homefire", 8)] / median[("llama.cpp", 8)]
    print(f"ratio homefire / llama.cpp, 1 request:    {single:.3f}  (goal >= 0.95)")
    print(f"ratio homefire / llama.cpp, 8 concurrent: {aggregate:.3f}  (goal >= 1.00)")


if __name__ == "__main__":
    main()
