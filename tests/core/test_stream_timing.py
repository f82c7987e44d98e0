from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

import homefire as hf

pytestmark = pytest.mark.unit


class Slow(hf.CustomLLM):
    """Waits before its first word, then streams two words."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def complete(self, prompt: str, **kwargs: Any) -> str:  # type: ignore[override]
        return "a b"

    def stream_complete(self, prompt: str, **kwargs: Any) -> Iterator[hf.CompletionResponse]:  # type: ignore[override]
        try:
            time.sleep(0.05)
            yield hf.CompletionResponse(text="a ", delta="a ")
            yield hf.CompletionResponse(text="a b", delta="b", finish_reason="stop")
        finally:
            self.closed = True


def _bounded(stamped: float | None, whole_ms: float) -> None:
    """The stamp covers the backend's 50 ms wait before its first word, and no more than the
    whole stream took (bounds a busy machine cannot break: both clocks slow down together)."""
    assert stamped is not None
    assert 50 <= stamped <= whole_ms


def test_time_to_first_token_is_stamped_on_the_last_chunk() -> None:
    started = time.perf_counter()
    chunks = list(Slow().stream_chat("hi"))
    whole_ms = (time.perf_counter() - started) * 1000
    assert chunks[0].timings is None
    assert chunks[-1].timings is not None
    _bounded(chunks[-1].timings.time_to_first_token_ms, whole_ms)


async def test_async_streams_are_stamped_too() -> None:
    started = time.perf_counter()
    chunks = [c async for c in Slow().astream_complete("hi")]
    whole_ms = (time.perf_counter() - started) * 1000
    assert chunks[0].timings is None
    assert chunks[-1].timings is not None
    _bounded(chunks[-1].timings.time_to_first_token_ms, whole_ms)


def test_closing_the_stream_closes_the_backend_stream() -> None:
    llm = Slow()
    stream = llm.stream_complete("hi")
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    assert llm.closed
