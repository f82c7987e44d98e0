"""Reading bounded request bodies, writing JSON and streamed answers, and noticing a client
that went away (so that its answer stops being generated)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse

from homefire.servers.front.guard import Receive, Scope, Send, body_too_large, drain

T = TypeVar("T")

BODY_SECONDS = 60.0
"""How long a client may take to send its request body."""


class BodyError(Exception):
    """A request body that cannot be taken: `status` and `message` say why."""

    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(message)


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, at most `limit` bytes, within `BODY_SECONDS`."""
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(BODY_SECONDS):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    await drain(request.receive)
                    raise BodyError(413, body_too_large(limit))
                chunks.append(chunk)
    except TimeoutError:
        raise BodyError(408, f"the request body took over {BODY_SECONDS:g}s to arrive") from None
    except ClientDisconnect:
        raise BodyError(400, "the client closed the connection while sending the body") from None
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    """The body parsed as JSON; BodyError (400) when it is not JSON."""
    body = await read_body(request, limit)
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError is a ValueError
        raise BodyError(400, f"the request body is not valid JSON ({exc})"[:300]) from None


def dumps(value: Any) -> bytes:
    """Compact ASCII JSON: every string, even one with a lone surrogate, encodes."""
    return json.dumps(value, separators=(",", ":")).encode("ascii")


def json_response(
    value: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(dumps(value), status, headers, media_type="application/json")


def sse(value: Any) -> bytes:
    return b"data: " + dumps(value) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


class ClientLeft(Exception):
    """The client closed its connection before its answer was complete."""


class Stopping(Exception):
    """The server was asked to stop before the answer was complete."""


async def watched(receive: Receive, stopping: asyncio.Event, work: Awaitable[T]) -> T:
    """The result of `work`, unless the client goes away (ClientLeft) or the server is asked
    to stop (Stopping) first: `work` is then cancelled, which stops an answer being
    generated for nobody."""
    task = asyncio.ensure_future(work)
    left = asyncio.ensure_future(_disconnected(receive))
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, left, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        left.cancel()
        stop.cancel()
        if not task.done():
            await _cancel(task)
    if not task.cancelled():
        return task.result()
    raise ClientLeft if left.done() and not left.cancelled() else Stopping


async def _cancel(task: asyncio.Future[Any]) -> None:
    """Cancel and wait; what it raises while stopping has nobody left to be told."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task


class StreamedResponse(StreamingResponse):
    """Sends `chunks` as they come. However the answer ends (finished, the client gone, the
    server stopping), `chunks` is closed and `on_close` runs at once, started or not: a
    generating model stops then, not when the garbage collector finds its stream. When the
    server stops mid-answer, `farewell` (an in-band error) ends the body."""

    def __init__(
        self,
        chunks: AsyncIterator[bytes],
        stopping: asyncio.Event,
        *,
        status: int = 200,
        media_type: str = "text/event-stream",
        on_close: Callable[[], Awaitable[None]] | None = None,
        farewell: bytes = b"",
    ) -> None:
        super().__init__(chunks, status, {"cache-control": "no-cache"}, media_type)
        self._chunks = chunks
        self._stopping = stopping
        self._on_close = on_close
        self._farewell = farewell
        self._started = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await watched(receive, self._stopping, self._pump(send))
        except ClientLeft:
            pass
        except Stopping:
            if not self._started:
                await send({"type": "http.response.start", "status": 503, "headers": []})
            end = {"type": "http.response.body", "body": self._farewell, "more_body": False}
            await send(end)
        finally:
            aclose = getattr(self._chunks, "aclose", None)
            if aclose is not None:
                await aclose()
            if self._on_close is not None:
                await self._on_close()

    async def _pump(self, send: Send) -> None:
        start = {"type": "http.response.start", "status": self.status_code}
        await send({**start, "headers": self.raw_headers})
        self._started = True
        async for chunk in self._chunks:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
