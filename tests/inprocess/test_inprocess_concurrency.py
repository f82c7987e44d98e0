"""Many threads and tasks on one model: the same answers, a live event loop, streams that stop."""

from __future__ import annotations

import _thread
import asyncio
import threading
import time
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest
from inprocess_helpers import FRANCE, no_end

import homefire as hf

pytestmark = pytest.mark.integration

WAIT = 120.0


@pytest.fixture(scope="module")
def single(engine: str, smollm2_path: Path) -> Iterator[hf.LlamaCPP]:
    """One slot, so a generation that was not stopped would block the next request."""
    slots: dict[str, Any] = {"n_parallel": 1} if engine == "xllamacpp" else {}
    model = hf.LlamaCPP(smollm2_path, engine=engine, n_threads=2, context_window=2048, **slots)
    yield model
    model.close()


def test_eight_threads_get_correct_answers(llm: hf.LlamaCPP) -> None:
    expected = llm.chat(FRANCE, temperature=0).text
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(llm.chat, FRANCE, temperature=0) for _ in range(8)]
        answers = [f.result(timeout=WAIT).text for f in futures]
    assert expected.strip()
    assert answers == [expected] * 8


async def test_event_loop_keeps_ticking_while_streaming(llm: hf.LlamaCPP) -> None:
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
    started = time.perf_counter()
    pieces = [c.delta async for c in llm.astream_chat(FRANCE, temperature=0, max_tokens=32)]
    elapsed = time.perf_counter() - started
    done.set()
    await asyncio.wait_for(task, WAIT)
    assert "".join(p or "" for p in pieces).strip()
    print(f"{llm.engine}: {len(gaps)} ticks in {elapsed:.2f}s, max gap {max(gaps) * 1000:.1f} ms")
    assert len(gaps) >= elapsed / 0.05
    assert max(gaps) < 0.5


def test_closing_a_stream_stops_the_generation(single: hf.LlamaCPP) -> None:
    stream = cast(
        Generator[hf.CompletionResponse, None, None],
        single.stream_complete(
            "Write a very long story.", max_tokens=4000, temperature=0, extra=no_end(single)
        ),
    )
    pieces = [next(stream).delta for _ in range(3)]
    assert all(pieces)
    stream.close()  # ~2000 more tokens were to come: tens of seconds on this machine
    started = time.perf_counter()
    assert single.complete("Hello", max_tokens=2, temperature=0).text
    assert time.perf_counter() - started < 5.0


def test_ctrl_c_cancels_a_blocking_call(single: hf.LlamaCPP) -> None:
    timer = threading.Timer(0.5, _thread.interrupt_main)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            single.complete(
                "Write a very long story.", max_tokens=4000, temperature=0, extra=no_end(single)
            )
    finally:
        timer.join(timeout=WAIT)
    started = time.perf_counter()
    assert single.complete("Hello", max_tokens=2, temperature=0).text
    assert time.perf_counter() - started < 5.0


async def test_leaving_an_async_stream_stops_the_generation(single: hf.LlamaCPP) -> None:
    count = 0
    async for _ in single.astream_complete(
        "Write a very long story.", max_tokens=4000, temperature=0, extra=no_end(single)
    ):
        count += 1
        if count == 3:
            break
    started = time.perf_counter()
    answer = await asyncio.wait_for(single.acomplete("Hello", max_tokens=2, temperature=0), WAIT)
    assert answer.text
    assert time.perf_counter() - started < 5.0


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
