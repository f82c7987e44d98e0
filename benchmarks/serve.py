"""`homefire serve` against llama.cpp's own server, on the same engine, model and threads.

llama.cpp's server here is xllamacpp listening on HTTP (llama.cpp's server core, the one
`homefire serve` also runs in process), set up as `llama-server` runs when `--parallel` is
not given: 4 slots over one unified KV pool. `homefire serve` runs with its defaults, which
make the same choice. Each runs in its own process, both started in this run; the
workloads alternate between them so a busy machine slows both alike:

- one streamed chat request at a time (tokens per second as the client sees them);
- 8 concurrent streamed chat requests (aggregate tokens per second).

Every request generates exactly --max-tokens tokens (end of turn ignored). Each rep runs
both sides back to back, so each ratio is taken within a rep, where the machine was in the
same state for both; the script prints the median tokens/s of each side, and the median
ratio with the lowest and highest (goals: at least 1.0 at 8 concurrent, at least 0.95 for one
request).

It also prints what each server costs beyond its engine: the CPU time its process spends
outside the engine's compute threads, per generated token (HTTP, JSON, and for homefire the
Python between the engine and the socket; read from /proc, so Linux only). Where the engine
has every core (`--threads` equal to the cores), that time is taken from the engine, and it
sets how far apart the two servers can be.

    .venv/bin/python benchmarks/serve.py [--threads 2] [--max-tokens 64] [--reps 9]
"""

from __future__ import annotations

import argparse
import contextlib
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
from pathlib import Path

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


def _cpu_seconds(pid: int) -> tuple[float, list[float]] | None:
    """(CPU seconds of the whole process, of each live thread), or None without /proc."""

    def seconds(stat: Path) -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    proc = Path(f"/proc/{pid}")
    try:
        threads = []
        for task in (proc / "task").iterdir():
            with contextlib.suppress(OSError):  # the thread ended meanwhile
                threads.append(seconds(task / "stat"))
        return seconds(proc / "stat"), threads
    except OSError:
        return None


def _beyond_engine(
    before: tuple[float, list[float]] | None,
    after: tuple[float, list[float]] | None,
    engine_threads: int,
) -> float | None:
    """CPU seconds spent outside the engine's compute threads: those are the busiest ones
    (they run for the whole generation), and live as long as the server."""
    if before is None or after is None:
        return None
    busiest = sorted(after[1], reverse=True)[:engine_threads]
    earlier = sorted(before[1], reverse=True)[:engine_threads]
    return (after[0] - before[0]) - (sum(busiest) - sum(earlier))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--reps", type=int, default=9)
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
        rates: dict[tuple[str, int], list[float]] = {}
        overhead: dict[str, float | None] = {side.name: 0.0 for side in sides}
        for _ in range(args.reps):
            for concurrency in (1, 8):
                for side in sides:
                    before = _cpu_seconds(side.process.pid)
                    rate = _run(side, concurrency, args.max_tokens)
                    spent = _beyond_engine(before, _cpu_seconds(side.process.pid), args.threads)
                    rates.setdefault((side.name, concurrency), []).append(rate)
                    total = overhead[side.name]
                    overhead[side.name] = None if total is None or spent is None else total + spent
    finally:
        for side in sides:
            side.stop()

    tokens = args.reps * 9 * args.max_tokens
    print(f"SmolLM2-135M Q4_1, {args.threads} threads, {SLOTS} slots, {args.max_tokens} tokens")
    print(f"{'':12}{'1 request':>14}{'8 concurrent':>16}   (generated tokens/s, median)")
    for side in sides:
        single = statistics.median(rates[(side.name, 1)])
        aggregate = statistics.median(rates[(side.name, 8)])
        print(f"{side.name:12}{single:14.1f}{aggregate:16.1f}")
    for concurrency, label, goal in ((1, "1 request:   ", 0.95), (8, "8 concurrent:", 1.0)):
        paired = [
            ours / theirs
            for ours, theirs in zip(
                rates[("homefire", concurrency)], rates[("llama.cpp", concurrency)], strict=True
            )
        ]
        print(
            f"ratio homefire / llama.cpp, {label} {statistics.median(paired):.3f}  "
            f"(goal >= {goal:.2f}; over {args.reps} reps {min(paired):.3f} to {max(paired):.3f})"
        )
    print("CPU beyond the engine's threads, per generated token:")
    for side in sides:
        spent = overhead[side.name]
        shown = "unknown (no /proc)" if spent is None else f"{spent / tokens * 1000:.3f} ms"
        print(f"  {side.name:10} {shown}")


if __name__ == "__main__":
    main()
