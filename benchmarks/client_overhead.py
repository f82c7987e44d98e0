"""What homefire's client costs over the HTTP library it uses, next to the openai SDK and litellm.

A canned OpenAI-compatible server (raw asyncio, answers prepared in advance, 2,000-chunk
streams) runs in a separate process, so the numbers below are the client's own CPU time:

- `import homefire` against `import httpx` (fresh interpreters, median of several);
- CPU per non-streaming chat request, and per streamed chunk;
- async requests per second with 16 in flight.

Clients: raw httpx (the transport homefire uses), homefire's HTTPClient, homefire's
`OpenAILike` provider (the whole path: options, body, parsing), the `openai` SDK and
`litellm`. The last two live in the benchmark's own virtual environment, `benchmarks/.venv`,
never in the project's dependencies; the script creates it when it is missing:

    python benchmarks/client_overhead.py            # creates benchmarks/.venv on first run
    python benchmarks/client_overhead.py --quick    # fewer repetitions

Goals: import <= 1.5x httpx; per request <= raw + 100 us; <= 20 us per chunk; async >= 0.9x raw.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from math import inf
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_VENV = ROOT / "benchmarks" / ".venv"
CHUNKS = 2000
IN_FLIGHT = 16
MESSAGES = [{"role": "user", "content": "Say hello."}]


# --- the canned server (runs in its own process) -----------------------------------------------


def _canned_answers() -> tuple[bytes, bytes, bytes]:
    chat = json.dumps(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 1,
            "model": "canned",
            "choices": [
                {
                    "index": 0,
                    "finish_reason": "stop",
                    "message": {"role": "assistant", "content": "Hello! How can I help?"},
                }
            ],
            "usage": {"prompt_tokens": 9, "completion_tokens": 7, "total_tokens": 16},
        }
    ).encode()
    whole = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(chat)).encode()
        + b"\r\n\r\n"
        + chat
    )
    events = []
    for n in range(CHUNKS):
        chunk = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 1,
            "model": "canned",
            "choices": [{"index": 0, "delta": {"content": f" w{n}"}, "finish_reason": None}],
        }
        events.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
    last = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "canned",
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
    }
    usage = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "canned",
        "choices": [],
        "usage": {"prompt_tokens": 9, "completion_tokens": CHUNKS, "total_tokens": CHUNKS + 9},
    }
    events += [
        b"data: " + json.dumps(last).encode() + b"\n\n",
        b"data: " + json.dumps(usage).encode() + b"\n\n",
        b"data: [DONE]\n\n",
    ]
    body = b"".join(f"{len(e):x}\r\n".encode() + e + b"\r\n" for e in events) + b"0\r\n\r\n"
    stream = (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + body
    )
    models = json.dumps({"object": "list", "data": [{"id": "canned", "object": "model"}]})
    listing = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
        + str(len(models)).encode()
        + b"\r\n\r\n"
        + models.encode()
    )
    return whole, stream, listing


class _Canned(asyncio.Protocol):
    answers = _canned_answers()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            whole, stream, listing = self.answers
            if head.startswith(b"get"):
                self.transport.write(listing)
            elif b'"stream": true' in body or b'"stream":true' in body:
                self.transport.write(stream)
            else:
                self.transport.write(whole)


def serve(port: int) -> None:
    async def main() -> None:
        server = await asyncio.get_running_loop().create_server(_Canned, "127.0.0.1", port)
        print("ready", flush=True)
        await server.serve_forever()

    asyncio.run(main())


# --- measuring -------------------------------------------------------------------------------


def cpu_per_call(call: Callable[[], object], n: int) -> float:
    """Client CPU seconds per call, over n calls after a short warm-up."""
    for _ in range(20):
        call()
    start = time.process_time()
    for _ in range(n):
        call()
    return (time.process_time() - start) / n


def cpu_per_chunk(stream: Callable[[], Iterator[object]]) -> float:
    """Client CPU seconds per chunk of one 2,000-chunk stream (after a warm-up stream)."""
    for _ in stream():
        pass
    start = time.process_time()
    count = sum(1 for _ in stream())
    return (time.process_time() - start) / max(count, 1)


# Async clients made for one event loop, closed before that loop ends.
_TO_CLOSE: list[Callable[[], Awaitable[object]]] = []


async def _worker(call: Callable[[], Awaitable[object]], turns: int) -> None:
    for _ in range(turns):
        await call()


def requests_per_second(make: Callable[[], Callable[[], Awaitable[object]]], total: int) -> float:
    """Async requests per second with IN_FLIGHT requests in flight."""

    async def run() -> float:
        call = make()
        await asyncio.gather(*(call() for _ in range(IN_FLIGHT * 2)))
        start = time.perf_counter()
        await asyncio.gather(*(_worker(call, total // IN_FLIGHT) for _ in range(IN_FLIGHT)))
        elapsed = time.perf_counter() - start
        while _TO_CLOSE:
            await _TO_CLOSE.pop()()
        return total / elapsed

    return asyncio.run(run())


def import_time(module: str, reps: int) -> float:
    """Median seconds to import `module` in a fresh interpreter."""
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    times = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(reps)
    ]
    return statistics.median(times)


# --- the clients -------------------------------------------------------------------------------


def _raw_rows(library: Any, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """An httpx-like library used directly: post, stream lines + json.loads, async post."""
    client = library.Client()
    chat_url = f"{url}/v1/chat/completions"
    stream_body = {**body, "stream": True}

    def stream() -> Iterator[object]:
        with client.stream("POST", chat_url, json=stream_body) as response:
            for line in response.iter_lines():
                if line.startswith("data: ") and line != "data: [DONE]":
                    yield json.loads(line[6:])

    def make_async() -> Callable[[], Awaitable[object]]:
        async_client = library.AsyncClient()
        _TO_CLOSE.append(async_client.aclose)

        async def call() -> object:
            return (await async_client.post(chat_url, json=body)).json()

        return call

    return {
        "call": lambda: client.post(chat_url, json=body).json(),
        "stream": stream,
        "async": make_async,
    }


def _aiohttp(url: str, body: dict[str, Any]) -> Callable[[], Callable[[], Awaitable[object]]]:
    import aiohttp

    def make() -> Callable[[], Awaitable[object]]:
        session = aiohttp.ClientSession()
        _TO_CLOSE.append(session.close)

        async def call() -> object:
            async with session.post(f"{url}/v1/chat/completions", json=body) as response:
                return await response.json()

        return call

    return make


def clients(url: str) -> dict[str, dict[str, Any]]:
    """For each client: a sync call, a stream, and an async call factory."""
    import httpx

    import homefire as hf
    from homefire.http import HTTPClient

    body = {"model": "canned", "messages": MESSAGES, "max_tokens": 16}
    stream_body = {**body, "stream": True}

    transport = HTTPClient(url)

    def transport_async() -> Callable[[], Awaitable[object]]:
        return lambda: transport.apost_json("/v1/chat/completions", body)

    llm = hf.OpenAILike(base_url=f"{url}/v1", model="canned", max_new_tokens=16)

    def llm_async() -> Callable[[], Awaitable[object]]:
        return lambda: llm.achat(MESSAGES)

    table: dict[str, dict[str, Any]] = {
        "httpx (raw)": _raw_rows(httpx, url, body),
        "homefire HTTPClient": {
            "call": lambda: transport.post_json("/v1/chat/completions", body),
            "stream": lambda: transport.stream_sse("/v1/chat/completions", stream_body),
            "async": transport_async,
        },
        "homefire OpenAILike": {
            "call": lambda: llm.chat(MESSAGES),
            "stream": lambda: llm.stream_chat(MESSAGES),
            "async": llm_async,
        },
    }
    for other in ("httpx2",):
        if importlib.util.find_spec(other):
            table[f"{other} (raw)"] = _raw_rows(importlib.import_module(other), url, body)
    if importlib.util.find_spec("aiohttp"):
        table["aiohttp (raw, async)"] = {"call": None, "stream": None, "async": _aiohttp(url, body)}
    if importlib.util.find_spec("openai"):
        import openai

        sdk = openai.OpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)

        def sdk_stream() -> Iterator[object]:
            yield from sdk.chat.completions.create(
                model="canned",
                messages=MESSAGES,
                max_tokens=16,
                stream=True,  # type: ignore[arg-type]
            )

        def sdk_async() -> Callable[[], Awaitable[object]]:
            client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
            _TO_CLOSE.append(client.close)
            return lambda: client.chat.completions.create(
                model="canned",
                messages=MESSAGES,
                max_tokens=16,  # type: ignore[arg-type]
            )

        table["openai SDK"] = {
            "call": lambda: sdk.chat.completions.create(
                model="canned",
                messages=MESSAGES,
                max_tokens=16,  # type: ignore[arg-type]
            ),
            "stream": sdk_stream,
            "async": sdk_async,
        }
    if importlib.util.find_spec("litellm"):
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        litellm.telemetry = False
        options = {"model": "openai/canned", "api_base": f"{url}/v1", "api_key": "x"}

        def lite_stream() -> Iterator[object]:
            yield from litellm.completion(messages=MESSAGES, max_tokens=16, stream=True, **options)

        def lite_async() -> Callable[[], Awaitable[object]]:
            return lambda: litellm.acompletion(messages=MESSAGES, max_tokens=16, **options)

        table["litellm"] = {
            "call": lambda: litellm.completion(messages=MESSAGES, max_tokens=16, **options),
            "stream": lite_stream,
            "async": lite_async,
        }
    return table


# --- running --------------------------------------------------------------------------------------


def _ensure_environment() -> None:
    """Re-run inside benchmarks/.venv (with openai and litellm), creating it when missing."""
    if Path(sys.prefix).resolve() == BENCH_VENV.resolve() or os.environ.get("HOMEFIRE_BENCH_HERE"):
        return
    python = BENCH_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {BENCH_VENV} (homefire, openai, litellm) ...", flush=True)
        try:
            subprocess.run([sys.executable, "-m", "venv", str(BENCH_VENV)], check=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", "-e", str(ROOT), "openai", "litellm"],
                check=True,
            )
        except subprocess.CalledProcessError:
            sys.exit(
                f"could not create {BENCH_VENV}; make it by hand:\n"
                f"  python -m venv {BENCH_VENV}\n"
                f"  {python} -m pip install -e {ROOT} openai litellm\n"
                "or run with HOMEFIRE_BENCH_HERE=1 to measure only what is installed here"
            )
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def _start_server() -> tuple[subprocess.Popen[str], str]:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "ready"
    return server, f"http://127.0.0.1:{port}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    _ensure_environment()
    n_requests, rounds, n_async, reps = (300, 2, 480, 5) if args.quick else (1000, 5, 1600, 9)

    hf_import = import_time("homefire", reps)
    httpx_import = import_time("httpx", reps)
    print(f"python {sys.version.split()[0]} at {sys.prefix}")
    print(
        f"import homefire {hf_import * 1e3:6.1f} ms   import httpx {httpx_import * 1e3:6.1f} ms"
        f"   ratio {hf_import / httpx_import:.2f} (goal <= 1.5)"
    )

    server, url = _start_server()
    try:
        table = clients(url)
        best: dict[str, list[float]] = {name: [inf, inf, 0.0] for name in table}
        # Rounds interleave the clients, and each figure is the best round, so that noise
        # from other work on the machine hits every client alike and is mostly filtered out.
        for _ in range(rounds):
            for name, client in table.items():
                figures = best[name]
                if client["call"] is not None:
                    figures[0] = min(figures[0], cpu_per_call(client["call"], n_requests))
                    figures[1] = min(figures[1], cpu_per_chunk(client["stream"]))
                figures[2] = max(figures[2], requests_per_second(client["async"], n_async))
        rows = {name: tuple(figures) for name, figures in best.items()}
        for name, (request, chunk, rps) in rows.items():
            sync = (
                f"{request * 1e6:8.0f} us/request {chunk * 1e6:7.1f} us/chunk"
                if request < inf
                else f"{'-':>8} us/request {'-':>7} us/chunk"
            )
            print(f"{name:22} {sync} {rps:8.0f} req/s async ({IN_FLIGHT} in flight)")
    finally:
        server.terminate()
        server.wait(10)

    raw_request, raw_chunk, raw_rps = rows["httpx (raw)"]
    request, chunk, rps = rows["homefire OpenAILike"]
    t_request, t_chunk, t_rps = rows["homefire HTTPClient"]
    print()
    print(
        f"homefire OpenAILike over raw httpx: {(request - raw_request) * 1e6:+.0f} us/request "
        "(goal <= +100)"
    )
    print(
        f"  HTTPClient alone: {(t_request - raw_request) * 1e6:+.0f} us/request, "
        f"{t_chunk * 1e6:.1f} us/chunk, {t_rps / raw_rps:.2f}x raw async"
    )
    print(
        f"homefire per chunk, whole stream_chat path: {chunk * 1e6:.1f} us (goal <= 20); "
        f"raw httpx iter_lines+json: {raw_chunk * 1e6:.1f} us"
    )
    print(f"homefire async: {rps / raw_rps:.2f}x raw httpx (goal >= 0.9)")
    for other in ("openai SDK", "litellm"):
        if other in rows:
            o_request, o_chunk, o_rps = rows[other]
            print(
                f"{other}: {(o_request - raw_request) * 1e6:+.0f} us/request over raw, "
                f"{o_chunk * 1e6:.1f} us/chunk, {o_rps / raw_rps:.2f}x raw async; homefire is "
                f"{o_request / request:.1f}x cheaper per request, {o_chunk / chunk:.1f}x per chunk"
            )


if __name__ == "__main__":
    main()
