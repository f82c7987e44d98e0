"""Crossing between sync and async code without blocking an event loop.

Blocking work (an in-process engine, a user's sync `complete`) runs in a worker thread and
hands results to the loop; async work called from sync code runs on one private loop thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

_ITEM, _END, _ERROR = 0, 1, 2
# How long a stopped stream may take to close its iterator (an engine cancelling its
# generation, usually one token) before the consumer moves on without it.
_WORKER_EXIT_SECONDS = 60.0


async def iterate_in_thread(make_iterator: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Drive a blocking iterator in a worker thread; the loop only awaits a queue.

    When the consumer stops early (break, cancel, aclose) the worker stops pulling items
    and closes the iterator, so an engine generating into it can abort; the consumer waits
    (bounded) for that, so no generation outlives it, or an exiting process.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()
    stopped = threading.Event()

    def send(kind: int, value: Any) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop closed under us: nobody is listening any more
            stopped.set()

    def produce() -> None:
        try:
            iterator = make_iterator()
            try:
                for item in iterator:
                    if stopped.is_set():
                        break
                    send(_ITEM, item)
            finally:
                close = getattr(iterator, "close", None)
                if close is not None:
                    close()
        except BaseException as exc:  # handed to the consumer, re-raised there
            send(_ERROR, exc)
        else:
            send(_END, None)

    worker = threading.Thread(target=produce, name="homefire-stream", daemon=True)
    worker.start()
    try:
        while True:
            kind, value = await queue.get()
            if kind == _ITEM:
                yield value
            elif kind == _ERROR:
                raise value
            else:
                return
    finally:
        stopped.set()
        await asyncio.to_thread(worker.join, _WORKER_EXIT_SECONDS)


async def run_in_thread(function: Callable[..., T], *args: Any) -> T:
    """Run a blocking call in a worker thread."""
    return await asyncio.to_thread(function, *args)


class _LoopThread:
    """One daemon thread running an event loop, for async code called from sync code."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._child: _LoopThread | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=loop.run_forever, name="homefire-loop", daemon=True
                )
                self._thread.start()
                self._loop = loop
            return self._loop

    def is_current(self) -> bool:
        return self._thread is threading.current_thread()

    def child(self) -> _LoopThread:
        """The loop that code running on this one waits on instead (made on first use)."""
        with self._lock:
            if self._child is None:
                self._child = _LoopThread()
            return self._child


_loop_thread = _LoopThread()


def _target_loop() -> asyncio.AbstractEventLoop:
    """The shared loop; but sync code called from async code already running on a loop of
    this chain waits on the next loop down, since waiting on its own would deadlock."""
    holder: _LoopThread | None = _loop_thread
    while holder is not None and not holder.is_current():
        holder = holder._child
    return (holder.child() if holder is not None else _loop_thread).loop()


def run_sync(awaitable: Awaitable[T]) -> T:
    """Wait for an awaitable from sync code, even when this thread already runs a loop."""

    async def wrap() -> T:
        return await awaitable

    return asyncio.run_coroutine_threadsafe(wrap(), _target_loop()).result()


async def _next(iterator: AsyncIterator[T]) -> T:
    return await anext(iterator)


def iterate_sync(iterator: AsyncIterator[T]) -> Iterator[T]:
    """Consume an async iterator from sync code, one item at a time."""
    loop = _target_loop()
    try:
        while True:
            try:
                yield asyncio.run_coroutine_threadsafe(_next(iterator), loop).result()
            except StopAsyncIteration:
                return
    finally:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            asyncio.run_coroutine_threadsafe(aclose(), loop).result()
