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


def test_time_to_first_token_is_stamped_on_the_last_chunk() -> None:
    chunks = list(Slow().stream_chat("hi"))
    assert chunks[0].timings is None
    ttft = chunks[-1].timings.time_to_first_token_ms  # type: ignore[union-attr]
    assert ttft is not None
    assert 45 <= ttft < 1000


async def test_async_streams_are_stamped_too() -> None:
    chunks = [c async for c in Slow().astream_complete("hi")]
    assert chunks[-1].timings is not None
    assert chunks[-1].timings.time_to_first_token_ms is not None


def test_closing_the_stream_closes_the_backend_stream() -> None:
    llm = Slow()
    stream = llm.stream_complete("hi")
    next(stream)
    stream.close()  # type: ignore[attr-defined]
    assert llm.closed
