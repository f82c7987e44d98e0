"""Time to first token, measured where the user sees it: from asking for the first chunk
until the first piece of text (or reasoning) arrives. Stamped on the closing chunk's timings,
for every backend alike, since few servers report it themselves."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

from homefire.types import ChatResponse, CompletionResponse, Timings

R = TypeVar("R", ChatResponse, CompletionResponse)


def _has_text(chunk: ChatResponse | CompletionResponse) -> bool:
    if chunk.delta:
        return True
    return isinstance(chunk, ChatResponse) and bool(chunk.reasoning_delta)


def _stamp(chunk: ChatResponse | CompletionResponse, milliseconds: float) -> None:
    if chunk.timings is None:
        chunk.timings = Timings(time_to_first_token_ms=milliseconds)
    elif chunk.timings.time_to_first_token_ms is None:
        chunk.timings.time_to_first_token_ms = milliseconds


def timed(chunks: Iterator[R]) -> Iterator[R]:
    """Pass chunks through; closing this stream closes the one it wraps (stopping the engine)."""
    started = time.perf_counter()
    first: float | None = None
    try:
        for chunk in chunks:
            if first is None and _has_text(chunk):
                first = (time.perf_counter() - started) * 1000.0
            if chunk.finish_reason is not None and first is not None:
                _stamp(chunk, first)
            yield chunk
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


async def atimed(chunks: AsyncIterator[R]) -> AsyncIterator[R]:
    started = time.perf_counter()
    first: float | None = None
    try:
        async for chunk in chunks:
            if first is None and _has_text(chunk):
                first = (time.perf_counter() - started) * 1000.0
            if chunk.finish_reason is not None and first is not None:
                _stamp(chunk, first)
            yield chunk
    finally:
        aclose = getattr(chunks, "aclose", None)
        if aclose is not None:
            await aclose()
