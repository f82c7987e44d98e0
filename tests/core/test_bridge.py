from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from homefire._bridge import iterate_in_thread, iterate_sync, run_sync

pytestmark = pytest.mark.unit


async def test_a_blocking_iterator_does_not_block_the_loop() -> None:
    def slow() -> Iterator[int]:
        for i in range(5):
            time.sleep(0.05)
            yield i

    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    task = asyncio.create_task(ticker())
    items = [i async for i in iterate_in_thread(slow)]
    task.cancel()
    assert items == [0, 1, 2, 3, 4]
    assert ticks >= 10


async def test_stopping_early_closes_the_blocking_iterator() -> None:
    closed = threading.Event()

    def endless() -> Iterator[int]:
        try:
            i = 0
            while True:
                time.sleep(0.01)
                yield i
                i += 1
        finally:
            closed.set()

    stream = iterate_in_thread(endless)
    async for item in stream:
        if item == 2:
            break
    await stream.aclose()
    assert await asyncio.to_thread(closed.wait, 5)


async def test_errors_cross_to_the_consumer() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise RuntimeError("engine failed")

    with pytest.raises(RuntimeError, match="engine failed"):
        async for _ in iterate_in_thread(failing):
            pass


async def test_run_sync_works_inside_a_running_loop() -> None:
    async def answer() -> int:
        return 42

    assert await asyncio.to_thread(run_sync, answer()) == 42
    assert run_sync(answer()) == 42


def test_iterate_sync_consumes_an_async_generator() -> None:
    async def numbers():  # type: ignore[no-untyped-def]
        for i in range(3):
            await asyncio.sleep(0)
            yield i

    assert list(iterate_sync(numbers())) == [0, 1, 2]


async def test_stopping_early_waits_for_the_worker_to_finish() -> None:
    finished = threading.Event()

    def slow_to_close() -> Iterator[int]:
        try:
            while True:
                yield 1
                time.sleep(0.01)
        finally:
            time.sleep(0.3)  # an engine cancelling its generation
            finished.set()

    stream = iterate_in_thread(slow_to_close)
    async for _ in stream:
        break
    await stream.aclose()
    assert finished.is_set()
