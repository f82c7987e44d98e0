"""Many threads and tasks on one model: the same answers, a live event loop, streams that stop."""

from __future__ import annotations

import _thread
import asyncio
import json
import re
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from inprocess_helpers import FRANCE, no_end

import homefire as hf

pytestmark = pytest.mark.integration

WAIT = 120.0


def _generating_threads() -> list[str]:
    names = ("homefire-stream", "homefire-xllamacpp")
    return [t.name for t in threading.enumerate() if t.name in names and t.is_alive()]


# The long request the stop tests stop early: unstopped, it would run to the context's end
# (~2000 tokens); stopped, the engine decodes a token or two more after the stop is asked.
LONG = "Write a very long story."
STOPPED_WITHIN = 64


def _decoded(llm: hf.LlamaCPP) -> int:
    """Tokens the engine has decoded, by its own count: llama.cpp's decode counter (xllamacpp,
    from its metrics), or the length of llama-cpp-python's context (the last prompt and every
    token generated after it)."""
    engine = llm._loaded()[0]
    listener = llm.private_listener
    if listener is None:
        return int(engine._llm.n_tokens)  # type: ignore[attr-defined]
    address, key = listener
    metrics = httpx.get(
        f"{address}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=WAIT
    )
    found = re.search(r"^llamacpp:n_decode_total (\S+)$", metrics.text, re.MULTILINE)
    assert found, metrics.text
    return int(float(found.group(1)))


def _assert_stopped(llm: hf.LlamaCPP, at_stop: int) -> None:
    """The engine let go of the long request soon after it was asked to stop (`at_stop`:
    `_decoded` then). What it generated before that depends on the machine's speed."""
    since = _decoded(llm) - at_stop
    assert since < STOPPED_WITHIN, f"the engine went on generating ({since} tokens decoded)"


def _two_tokens(llm: hf.LlamaCPP) -> None:
    """The model answers a new request in full (how soon is in benchmarks/responsiveness.py)."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        answer = pool.submit(
            llm.complete, "Hello", max_tokens=2, temperature=0, extra=no_end(llm)
        ).result(timeout=WAIT)
    assert answer.usage is not None and answer.usage.completion_tokens == 2


@pytest.fixture(scope="module")
def single(engine: str, smollm2_path: Path) -> Iterator[hf.LlamaCPP]:
    """One slot, so a generation that was not stopped would block the next request."""
    slots: dict[str, Any] = {"n_parallel": 1} if engine == "xllamacpp" else {}
    model = hf.LlamaCPP(smollm2_path, engine=engine, n_threads=2, context_window=2048, **slots)
    yield model
    model.close()


def _numbered(n: int) -> dict[str, Any]:
    """A schema only the string "id-N" satisfies: each thread's answer says whose request it
    was. (A JSON object would leave the model free whitespace between its parts, which a small
    model under batching can fill until max_tokens.)"""
    return {"type": "string", "enum": [f"id-{n}"]}


def test_eight_threads_each_get_their_own_answer(llm: hf.LlamaCPP) -> None:
    """Batched and cached requests need not give the same text; what must hold is that each
    thread gets the answer to its own request, complete and valid."""

    def ask(n: int) -> Any:
        answer = llm.chat(FRANCE, temperature=0, max_tokens=64, json_schema=_numbered(n))
        assert answer.finish_reason == "stop", answer
        return json.loads(answer.text)

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(ask, n) for n in range(8)]
        answers = [f.result(timeout=WAIT) for f in futures]
    assert answers == [f"id-{n}" for n in range(8)]


async def test_event_loop_runs_while_streaming(llm: hf.LlamaCPP) -> None:
    """Generation runs in a worker thread and the loop runs other tasks meanwhile. (How long
    the loop may stall is measured in benchmarks/responsiveness.py.)"""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    seen: list[int] = []
    workers: list[str] = []
    async for chunk in llm.astream_complete(
        "1, 2, 3, 4, 5,", temperature=0, max_tokens=48, extra=no_end(llm)
    ):
        if chunk.delta:
            seen.append(ticks)
            workers = workers or _generating_threads()
    done.set()
    await asyncio.wait_for(task, WAIT)
    assert workers, "no worker thread was generating: the loop's own thread did the work"
    assert len(seen) >= 2 and seen[-1] > seen[0], "the ticker never ran between two pieces"


def test_closing_a_stream_stops_the_generation(single: hf.LlamaCPP) -> None:
    extra = no_end(single)
    stream = cast(
        Generator[hf.CompletionResponse, None, None],
        single.stream_complete(LONG, max_tokens=4000, temperature=0, extra=extra),
    )
    pieces = [next(stream).delta for _ in range(3)]
    assert all(pieces)
    at_stop = _decoded(single)
    stream.close()  # ~2000 more tokens were to come; the one slot must be free again
    _assert_stopped(single, at_stop)
    _two_tokens(single)


def test_ctrl_c_cancels_a_blocking_call(single: hf.LlamaCPP) -> None:
    extra = no_end(single)
    at_stop: list[int] = []

    def interrupt() -> None:
        at_stop.append(_decoded(single))
        _thread.interrupt_main()

    timer = threading.Timer(0.5, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            single.complete(LONG, max_tokens=4000, temperature=0, extra=extra)
    finally:
        timer.join(timeout=WAIT)
    _assert_stopped(single, at_stop[0])
    _two_tokens(single)


async def test_closing_an_async_stream_stops_the_generation(single: hf.LlamaCPP) -> None:
    extra = no_end(single)
    count = 0
    stream = single.astream_complete(LONG, max_tokens=4000, temperature=0, extra=extra)
    async for _ in stream:
        count += 1
        if count == 3:
            break
    at_stop = await asyncio.to_thread(_decoded, single)
    await stream.aclose()  # type: ignore[attr-defined]
    await asyncio.to_thread(_assert_stopped, single, at_stop)
    answer = await asyncio.wait_for(
        single.acomplete("Hello", max_tokens=2, temperature=0, extra=no_end(single)), WAIT
    )
    assert answer.usage is not None and answer.usage.completion_tokens == 2


def test_request_inside_an_open_stream(single: hf.LlamaCPP) -> None:
    stream = cast(
        Generator[hf.CompletionResponse, None, None],
        single.stream_complete("Once upon a time", max_tokens=8, temperature=0),
    )
    try:
        assert next(stream).delta
        if single.engine == "llama-cpp-python":
            with pytest.raises(hf.GenerationError, match="open stream"):
                single.complete("Hello", max_tokens=2)
        else:  # the stream keeps generating in the engine; the next request waits its turn
            assert single.complete("Hello", max_tokens=2, temperature=0).text
    finally:
        stream.close()


def test_a_stream_left_open_in_another_thread_times_out_the_queue(
    smollm2_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("llama_cpp")
    from homefire.providers.llamacpp import llama_cpp_python as engine

    monkeypatch.setattr(engine, "_QUEUE_WAIT_SECONDS", 0.5)
    model = hf.LlamaCPP(smollm2_path, engine="llama-cpp-python", n_threads=2)
    try:
        stream = model.stream_complete("Once upon a time", max_tokens=50, temperature=0)
        opened = threading.Event()
        holder = threading.Thread(target=lambda: (next(stream), opened.set()), daemon=True)
        holder.start()
        assert opened.wait(WAIT)
        with pytest.raises(hf.HomefireTimeoutError, match="close streams") as caught:
            model.complete("Hello", max_tokens=2)
        assert caught.value.which == "queue"
        stream.close()  # type: ignore[attr-defined]
        assert model.complete("Hello", max_tokens=2, temperature=0).text
    finally:
        model.close()
