"""The pooled HTTP client every server provider shares: the only module that touches sockets.

httpx underneath (sync and async), one connection pool per base URL and credentials, kept
in a small registry so providers pointed at the same server reuse connections. On top:
timeouts that say which fired (a total one that bounds the whole call, however the server
trickles its answer), retries only while nothing of the answer has arrived, patience with a
server that is still loading its model, an in-flight limit, and every transport failure
turned into a homefire error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json as _json
import socket
import threading
import time
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx

from homefire._validate import integer
from homefire._version import __version__
from homefire.errors import (
    HomefireError,
    HomefireTimeoutError,
    ProtocolError,
    ServerDisconnectedError,
    ServerError,
    ServerNotRunningError,
    StreamInterruptedError,
)
from homefire.http.config import RETRY_STATUSES, RetryPolicy, Timeouts
from homefire.http.streams import NDJSONDecoder, SSEDecoder
from homefire.http.urls import check_base_url
from homefire.http.watchdog import watchdog
from homefire.protocols.errors import error_from_response, html_page, html_title, is_loading

ErrorMapper = Callable[..., HomefireError]
T = TypeVar("T")

# Failures a new attempt may not meet and that cannot have run the request: nothing listening
# yet. A kept-alive connection the server closed just as it was reused shows up as a
# disconnect before any answer (httpcore's wording below); any later failure is not retried,
# since the server may already be generating or launching.
_RETRY_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout)
_NO_ANSWER = "without sending a response"
_Decoder = SSEDecoder | NDJSONDecoder


@dataclass(frozen=True, slots=True)
class Response:
    """A fully read answer, whatever its status (for probing and custom handling)."""

    status: int
    headers: Mapping[str, str]
    content: bytes
    url: str

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ProtocolError when it is not."""
        return _decode_json(self.content, self.url, self.status, self.headers.get("location"))

    def json_or_text(self) -> Any:
        """The body as JSON when it is JSON, else as text: error bodies and health answers
        come in both forms."""
        return _json_or_text(self.content)


def _decode_json(content: bytes, url: str, status: int = 200, location: str | None = None) -> Any:
    """A successful answer's JSON; a redirect, an HTML page or anything else that is not JSON
    raises an error saying what came instead."""
    if 300 <= status < 400:
        raise error_from_response(status, content, url=url, location=location)
    try:
        return _json.loads(content)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested thousands deep
        title = html_title(content)
        what = (
            html_page(title)
            if title is not None
            else f"a body that is not JSON: {content[:200]!r}"
            if content
            else "an empty body where JSON was expected"
        )
        raise ProtocolError(f"{url} answered with {what}", url=url) from None


def _json_or_text(content: bytes) -> Any:
    try:
        return _json.loads(content)
    except (ValueError, RecursionError):
        return content.decode("utf-8", "replace")


# --- the registry of shared pools -------------------------------------------------------------

_PoolKey = tuple[str, tuple[tuple[str, str], ...]]


@dataclass(eq=False)
class _AsyncPool:
    """One loop's client for one server, who uses it there, and what closes it with the loop."""

    client: httpx.AsyncClient
    users: set[int]
    keeper: AsyncGenerator[None, None] | None = None
    parking: asyncio.Future[None] | None = None


class _Registry:
    """One httpx client per (base URL, headers incl. auth); async ones also per event loop.

    An async client is closed on its own loop: by the last HTTPClient that used it there when
    that one closes, or else when the loop shuts down (`asyncio.run` and every runner close the
    async generators still open first, and each client has one parked until then). So an LLM
    used from several loops in turn leaves no connection behind on any of them.
    """

    def __init__(self) -> None:
        # re-entrant: a client dropped without close() releases from its finalizer, which the
        # garbage collector may run while this thread already holds the lock
        self._lock = threading.RLock()
        self._sync: dict[_PoolKey, httpx.Client] = {}
        self._users: dict[_PoolKey, int] = {}
        self._async: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, dict[_PoolKey, _AsyncPool]
        ] = weakref.WeakKeyDictionary()

    def acquire(self, key: _PoolKey) -> None:
        with self._lock:
            self._users[key] = self._users.get(key, 0) + 1

    def sync_client(self, key: _PoolKey) -> httpx.Client:
        client = self._sync.get(key)
        if client is None:
            with self._lock:
                client = self._sync.get(key)
                if client is None:
                    client = httpx.Client(headers=dict(key[1]), timeout=None)
                    self._sync[key] = client
        return client

    def async_client(self, key: _PoolKey, user: int) -> httpx.AsyncClient:
        """The running loop's client for `key`, marked as used by `user` (an HTTPClient id)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            clients = self._async.setdefault(loop, {})
            pool = clients.get(key)
            if pool is None:
                pool = clients[key] = _AsyncPool(
                    httpx.AsyncClient(headers=dict(key[1]), timeout=None), set()
                )
                pool.keeper = self._closed_with_loop(loop, key, pool)
                # the loop's hooks take note of the generator; parked at its yield, it runs
                # its `finally` when the loop shuts down (or when closed earlier, below)
                pool.parking = asyncio.ensure_future(anext(pool.keeper))
            pool.users.add(user)
            return pool.client

    async def _closed_with_loop(
        self, loop: asyncio.AbstractEventLoop, key: _PoolKey, pool: _AsyncPool
    ) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            with self._lock:
                clients = self._async.get(loop)
                if clients is not None and clients.get(key) is pool:
                    del clients[key]
            await pool.client.aclose()

    def release(
        self, key: _PoolKey, loop: asyncio.AbstractEventLoop | None = None, user: int = 0
    ) -> tuple[httpx.Client | None, list[_AsyncPool]]:
        """Drop one user; hand back what it was the last to use, to close.

        Async clients can only be closed on their own loop: those of `loop` are handed back,
        the others close when their loop shuts down.
        """
        with self._lock:
            pools: list[_AsyncPool] = []
            clients = self._async.get(loop) if loop is not None else None
            pool = clients.get(key) if clients is not None else None
            if clients is not None and pool is not None:
                pool.users.discard(user)
                if not pool.users:
                    del clients[key]
                    pools.append(pool)
            users = self._users.get(key, 0) - 1
            if users > 0:
                self._users[key] = users
                return None, pools
            self._users.pop(key, None)
            return self._sync.pop(key, None), pools


async def _close_pool(pool: _AsyncPool) -> None:
    if pool.parking is not None and not pool.parking.done():
        pool.parking.cancel()  # never started: nothing to run at the loop's end either
    if pool.keeper is not None:
        await pool.keeper.aclose()  # parked: its `finally` closes the client
    await pool.client.aclose()


_registry = _Registry()


def _release_sync(key: _PoolKey) -> None:
    """Give one user's share of a pool back; close its blocking client if it was the last."""
    sync, _ = _registry.release(key)
    if sync is not None:
        sync.close()


# --- the client -------------------------------------------------------------------------------


class _Deadline:
    """The read timeouts in force for one call, and which one a read timeout means."""

    __slots__ = ("between", "end", "first", "total")

    def __init__(self, timeouts: Timeouts, override: float | None) -> None:
        self.total = override if override is not None else timeouts.total
        self.end = time.monotonic() + self.total if self.total is not None else None
        self.first = override if override is not None else timeouts.first_token
        self.between = timeouts.between_chunks

    def read(self, phase: float) -> float:
        if self.end is None:
            return phase
        return max(min(phase, self.end - time.monotonic()), 0.001)

    def expired(self) -> bool:
        return self.end is not None and time.monotonic() >= self.end

    def left(self) -> float:
        """Seconds until the total deadline (call only when there is one)."""
        assert self.end is not None
        return max(self.end - time.monotonic(), 0.0)

    def over(self, what: str) -> HomefireTimeoutError:
        assert self.total is not None
        return HomefireTimeoutError("total", self.total, what)

    def check(self, url: str) -> None:
        """Raise the total timeout once it has passed (reads alone cannot see it mid-stream)."""
        if self.end is not None and time.monotonic() > self.end:
            raise self.over(f"reading the stream from {url}")

    def which(self, phase: str) -> tuple[str, float]:
        if self.end is not None and self.total is not None and time.monotonic() >= self.end - 0.01:
            return "total", self.total
        return phase, self.first if phase == "first_token" else self.between


def _shut(response: httpx.Response) -> None:
    """Shut the answer's connection down: a read blocked on it returns at once."""
    stream = response.extensions.get("network_stream")
    sock = stream.get_extra_info("socket") if stream is not None else None
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)


@contextmanager
def _cut_off(response: httpx.Response, deadline: _Deadline) -> Iterator[None]:
    """Hold the total deadline over reading `response`: a read that keeps receiving a byte at
    a time never times out on its own, so the watchdog ends the connection when time is up."""
    if deadline.end is None:
        yield
        return
    alarm = watchdog.arm(deadline.end, lambda: _shut(response))
    try:
        yield
    finally:
        watchdog.disarm(alarm)


async def _within(chunks: AsyncIterator[bytes], deadline: _Deadline) -> AsyncIterator[bytes]:
    """`chunks`, each awaited no longer than the total deadline allows."""
    iterator = aiter(chunks)
    while True:
        async with asyncio.timeout(deadline.left()):
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                return
        yield chunk


class _Retries:
    """Whether to send a call again, and after how long: while nothing of the answer came
    (up to `RetryPolicy.attempts`), and while the server says it is loading its model (up to
    `Timeouts.load`, however many attempts that takes, unless the policy allows one attempt
    only), never past the total deadline."""

    __slots__ = (
        "deadline",
        "enabled",
        "load_limit",
        "loading_since",
        "loading_waits",
        "policy",
        "tries",
        "url",
    )

    def __init__(self, client: HTTPClient, deadline: _Deadline, url: str, enabled: bool) -> None:
        self.policy = client.retry
        self.load_limit = client.timeouts.load
        self.deadline = deadline
        self.url = url
        self.enabled = enabled
        self.tries = 1
        self.loading_since: float | None = None
        self.loading_waits = 0

    def after_error(self, exc: Exception) -> float | None:
        """The wait before the next attempt after a transport failure, or None to give up."""
        if not self.enabled or self.tries >= self.policy.attempts:
            return None
        if not isinstance(exc, _RETRY_ERRORS) and not (
            isinstance(exc, httpx.RemoteProtocolError) and _NO_ANSWER in str(exc)
        ):
            return None
        self.tries += 1
        return self._fits(self.policy.delay(self.tries - 1))

    def after_status(self, status: int, headers: Mapping[str, str], content: bytes) -> float | None:
        """The wait before the next attempt after an error status, or None to give up."""
        if not self.enabled or status not in RETRY_STATUSES:
            return None
        if self.policy.attempts == 1:
            return None
        retry_after = headers.get("retry-after")
        if status == 503 and is_loading(_json_or_text(content)):
            return self._loading(retry_after)
        if self.tries >= self.policy.attempts:
            return None
        self.tries += 1
        return self._fits(self.policy.delay(self.tries - 1, retry_after))

    def _loading(self, retry_after: str | None) -> float:
        now = time.monotonic()
        if self.loading_since is None:
            self.loading_since = now
        left = self.loading_since + self.load_limit - now
        what = f"waiting for {self.url} to finish loading its model"
        if left <= 0:
            raise HomefireTimeoutError("load", self.load_limit, what)
        self.loading_waits += 1
        wait = min(self.policy.delay(self.loading_waits, retry_after), left)
        if self._fits(wait) is None:
            raise self.deadline.over(what)
        return wait

    def _fits(self, wait: float) -> float | None:
        """`wait`, unless sleeping it would run past the total deadline."""
        if self.deadline.end is not None and time.monotonic() + wait >= self.deadline.end:
            return None
        return wait


class HTTPClient:
    """JSON requests and SSE/NDJSON streams against one server, sync and async.

    No API key is needed by default; with `api_key` every request carries
    `Authorization: Bearer <key>`. `max_concurrency` caps this client's in-flight
    requests (sync and async calls are counted separately). `error_mapper(status, body,
    url=...)` turns an error status into a homefire error; `start_hint` tells the user how
    to start the server when nothing listens.
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts = Timeouts(),  # noqa: B008 - frozen, so sharing it is safe
        retry: RetryPolicy = RetryPolicy(),  # noqa: B008
        max_concurrency: int | None = None,
        error_mapper: ErrorMapper = error_from_response,
        start_hint: str = "start the server, or check its address (base_url=)",
    ) -> None:
        self.base_url = check_base_url(base_url)
        integer("max_concurrency", max_concurrency, low=1, optional=True)
        self.timeouts = timeouts
        self.retry = retry
        self.max_concurrency = max_concurrency
        self.start_hint = start_hint
        self._map_error = error_mapper
        merged = {"User-Agent": f"homefire/{__version__}", **(headers or {})}
        if api_key:
            merged["Authorization"] = f"Bearer {api_key}"
        self._key: _PoolKey = (self.base_url, tuple(sorted(merged.items())))
        _registry.acquire(self._key)
        # a client dropped without close() still gives its share of the pool back, so the
        # last one gone closes the connections instead of leaving sockets open until exit
        self._release = weakref.finalize(self, _release_sync, self._key)
        self._closed = False
        self._slots = (
            threading.BoundedSemaphore(max_concurrency) if max_concurrency is not None else None
        )
        self._async_slots: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Semaphore
        ] = weakref.WeakKeyDictionary()

    def __repr__(self) -> str:
        return f"HTTPClient({self.base_url!r})"

    # --- plumbing -------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else self.base_url + path

    def _timeout(self, deadline: _Deadline) -> httpx.Timeout:
        connect = self.timeouts.connect
        if deadline.total is not None:
            connect = min(connect, deadline.total)
        read = deadline.read(deadline.first)
        return httpx.Timeout(connect=connect, read=read, write=read, pool=read)

    @contextmanager
    def _slot(self, deadline: _Deadline) -> Iterator[None]:
        """Hold one of the `max_concurrency` slots; waiting for it counts as waiting for the
        answer, so a caller that already holds every slot (a stream it is still reading) gets
        a timeout instead of a deadlock."""
        if self._slots is None:
            yield
            return
        wait = deadline.read(deadline.first)
        if not self._slots.acquire(timeout=wait):
            raise self._slot_timeout(wait)
        try:
            yield
        finally:
            self._slots.release()

    @asynccontextmanager
    async def _aslot(self, deadline: _Deadline) -> AsyncIterator[None]:
        if self.max_concurrency is None:
            yield
            return
        loop = asyncio.get_running_loop()
        slots = self._async_slots.get(loop)
        if slots is None:
            slots = self._async_slots[loop] = asyncio.Semaphore(self.max_concurrency)
        wait = deadline.read(deadline.first)
        try:
            async with asyncio.timeout(wait):
                await slots.acquire()
        except TimeoutError:
            raise self._slot_timeout(wait) from None
        try:
            yield
        finally:
            slots.release()

    def _slot_timeout(self, seconds: float) -> HomefireTimeoutError:
        return HomefireTimeoutError(
            "max_concurrency",
            seconds,
            f"waiting for a free request slot of the client for {self.base_url}: all "
            f"max_concurrency={self.max_concurrency} were in use (a stream that is still being "
            "read holds one; finish or close it first, or raise max_concurrency)",
        )

    def _check_open(self) -> None:
        if self._closed:
            raise ServerError(f"this client for {self.base_url} was closed", url=self.base_url)

    def _transport_error(self, exc: Exception, url: str, deadline: _Deadline) -> HomefireError:
        """The homefire error for an httpx failure before any of the answer arrived."""
        if isinstance(exc, httpx.ConnectTimeout):
            return HomefireTimeoutError(
                "connect", self.timeouts.connect, f"connecting to {self.base_url}"
            )
        if isinstance(exc, httpx.ConnectError):
            return ServerNotRunningError(
                f"nothing is listening at {self.base_url} ({exc or 'connection refused'}); "
                f"{self.start_hint}",
                url=self.base_url,
            )
        if isinstance(exc, httpx.TimeoutException):
            which, seconds = deadline.which("first_token")
            return HomefireTimeoutError(which, seconds, f"waiting for an answer from {url}")
        return ServerDisconnectedError(
            f"{url} dropped the connection before answering ({type(exc).__name__}: {exc}); "
            "the server may have crashed or restarted, check its log",
            url=url,
        )

    def _status_error(self, status: int, content: bytes, url: str) -> HomefireError:
        return self._map_error(status, _json_or_text(content), url=url)

    def error_for(self, response: Response) -> HomefireError:
        """The homefire error this client raises for an error `response` from `request`."""
        return self._status_error(response.status, response.content, response.url)

    # --- sync -----------------------------------------------------------------------------

    def _attempt(
        self, client: httpx.Client, request: httpx.Request, deadline: _Deadline, *, stream: bool
    ) -> httpx.Response:
        """Send `request` and read the answer (left open for a stream that is not an error).

        httpx errors leave this only while nothing of the answer has arrived; a body cut
        short is a homefire error right away, as the request has been carried out.
        """
        response = client.send(request, stream=True)
        if stream and response.status_code < 400:
            return response
        try:
            if deadline.end is None:
                response.read()
            else:
                with _cut_off(response, deadline):
                    response.read()
        except httpx.HTTPError as exc:
            raise _body_error(exc, response, deadline) from None
        finally:
            response.close()
        return response

    def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        retry: bool = True,
    ) -> httpx.Response:
        self._check_open()
        url = self.url(path)
        deadline = _Deadline(self.timeouts, timeout)
        client = _registry.sync_client(self._key)
        retries = _Retries(self, deadline, url, retry)
        while True:
            request = client.build_request(
                method, url, json=json, params=params, timeout=self._timeout(deadline)
            )
            try:
                with self._slot(deadline):
                    response = self._attempt(client, request, deadline, stream=False)
            except httpx.HTTPError as exc:
                if (wait := retries.after_error(exc)) is None:
                    raise self._transport_error(exc, url, deadline) from None
                time.sleep(wait)
                continue
            wait = retries.after_status(response.status_code, response.headers, response.content)
            if wait is None:
                return response
            time.sleep(wait)

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        retry: bool = False,
    ) -> Response:
        """Any status returned as is: for probing a server, so one attempt unless `retry`."""
        response = self._send(method, path, json=json, params=params, timeout=timeout, retry=retry)
        return Response(response.status_code, response.headers, response.content, str(response.url))

    def _json_result(self, response: httpx.Response) -> Any:
        url = str(response.url)
        if response.status_code >= 400:
            raise self._status_error(response.status_code, response.content, url)
        return _decode_json(
            response.content, url, response.status_code, response.headers.get("location")
        )

    def send_json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
        retry: bool = True,
    ) -> Any:
        """Send a request and return its JSON answer; an error status raises its error.

        `retry=False` for calls that must not run twice (launching, loading or pulling a
        model), which a retried error status could repeat."""
        response = self._send(method, path, json=json, params=params, timeout=timeout, retry=retry)
        return self._json_result(response)

    def get_json(
        self, path: str, *, params: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        return self.send_json("GET", path, params=params, timeout=timeout)

    def post_json(
        self, path: str, body: Any, *, timeout: float | None = None, retry: bool = True
    ) -> Any:
        return self.send_json("POST", path, json=body, timeout=timeout, retry=retry)

    def _open_stream(self, path: str, body: Any, deadline: _Deadline) -> httpx.Response:
        url = self.url(path)
        client = _registry.sync_client(self._key)
        retries = _Retries(self, deadline, url, True)
        while True:
            request = client.build_request("POST", url, json=body, timeout=self._timeout(deadline))
            try:
                response = self._attempt(client, request, deadline, stream=True)
            except httpx.HTTPError as exc:
                if (wait := retries.after_error(exc)) is None:
                    raise self._transport_error(exc, url, deadline) from None
                time.sleep(wait)
                continue
            if response.status_code < 400:
                return response
            wait = retries.after_status(response.status_code, response.headers, response.content)
            if wait is None:
                raise self._status_error(response.status_code, response.content, url)
            time.sleep(wait)

    def _stream(self, path: str, body: Any, decoder: _Decoder) -> Iterator[Any]:
        self._check_open()
        deadline = _Deadline(self.timeouts, None)
        with self._slot(deadline):
            response = self._open_stream(path, body, deadline)
            url = str(response.url)
            received = 0
            try:
                # From here on each read waits at most between_chunks: the request's timeout
                # dict is read by httpcore when the body starts, so this is the place to set it.
                response.request.extensions["timeout"]["read"] = deadline.read(deadline.between)
                with _cut_off(response, deadline):
                    for chunk in response.iter_raw():
                        received += len(chunk)
                        yield from decoder.feed(chunk)
                        if decoder.done:
                            return
                        deadline.check(url)
                    yield from decoder.finish()
            except httpx.TimeoutException:
                which, seconds = deadline.which("between_chunks")
                raise HomefireTimeoutError(
                    which, seconds, f"waiting for the next chunk of the stream from {url}"
                ) from None
            except httpx.HTTPError as exc:
                if deadline.expired():
                    raise deadline.over(f"reading the stream from {url}") from None
                raise _interrupted(url, received, exc) from None
            finally:
                response.close()

    def stream_sse(self, path: str, body: Any) -> Iterator[Any]:
        """POST `body` and yield each parsed SSE `data:` event until `[DONE]` or the end."""
        return self._stream(path, body, SSEDecoder(self.url(path)))

    def stream_ndjson(self, path: str, body: Any) -> Iterator[Any]:
        """POST `body` and yield each parsed line of a newline-delimited JSON stream."""
        return self._stream(path, body, NDJSONDecoder(self.url(path)))

    def close(self) -> None:
        """Stop using the shared pool; the last user of a pool closes its connections."""
        if self._closed:
            return
        self._closed = True
        self._release()

    # --- async ----------------------------------------------------------------------------

    async def _aattempt(
        self,
        client: httpx.AsyncClient,
        request: httpx.Request,
        deadline: _Deadline,
        *,
        stream: bool,
    ) -> httpx.Response:
        response = await client.send(request, stream=True)
        if stream and response.status_code < 400:
            return response
        try:
            await response.aread()
        except httpx.HTTPError as exc:
            raise _body_error(exc, response, deadline) from None
        finally:
            await response.aclose()
        return response

    async def _asend(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call limit the transport enforces itself
        retry: bool = True,
    ) -> httpx.Response:
        self._check_open()
        url = self.url(path)
        deadline = _Deadline(self.timeouts, timeout)
        retries = _Retries(self, deadline, url, retry)

        async def attempts() -> httpx.Response:
            client = _registry.async_client(self._key, id(self))
            while True:
                request = client.build_request(
                    method, url, json=json, params=params, timeout=self._timeout(deadline)
                )
                try:
                    async with self._aslot(deadline):
                        response = await self._aattempt(client, request, deadline, stream=False)
                except httpx.HTTPError as exc:
                    if (wait := retries.after_error(exc)) is None:
                        raise self._transport_error(exc, url, deadline) from None
                    await asyncio.sleep(wait)
                    continue
                headers, content = response.headers, response.content
                if (wait := retries.after_status(response.status_code, headers, content)) is None:
                    return response
                await asyncio.sleep(wait)

        if deadline.end is None:
            return await attempts()
        return await _bounded(attempts(), deadline, f"waiting for the answer from {url}")

    async def arequest(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-call limit the transport enforces itself
        retry: bool = False,
    ) -> Response:
        response = await self._asend(
            method, path, json=json, params=params, timeout=timeout, retry=retry
        )
        return Response(response.status_code, response.headers, response.content, str(response.url))

    async def asend_json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
        retry: bool = True,
    ) -> Any:
        response = await self._asend(
            method, path, json=json, params=params, timeout=timeout, retry=retry
        )
        return self._json_result(response)

    async def aget_json(
        self,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        return await self.asend_json("GET", path, params=params, timeout=timeout)

    async def apost_json(
        self,
        path: str,
        body: Any,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        retry: bool = True,
    ) -> Any:
        return await self.asend_json("POST", path, json=body, timeout=timeout, retry=retry)

    async def _aopen_stream(self, path: str, body: Any, deadline: _Deadline) -> httpx.Response:
        url = self.url(path)
        client = _registry.async_client(self._key, id(self))
        retries = _Retries(self, deadline, url, True)
        while True:
            request = client.build_request("POST", url, json=body, timeout=self._timeout(deadline))
            try:
                response = await self._aattempt(client, request, deadline, stream=True)
            except httpx.HTTPError as exc:
                if (wait := retries.after_error(exc)) is None:
                    raise self._transport_error(exc, url, deadline) from None
                await asyncio.sleep(wait)
                continue
            if response.status_code < 400:
                return response
            wait = retries.after_status(response.status_code, response.headers, response.content)
            if wait is None:
                raise self._status_error(response.status_code, response.content, url)
            await asyncio.sleep(wait)

    async def _astream(self, path: str, body: Any, decoder: _Decoder) -> AsyncIterator[Any]:
        self._check_open()
        deadline = _Deadline(self.timeouts, None)
        async with self._aslot(deadline):
            opening = self._aopen_stream(path, body, deadline)
            if deadline.end is None:
                response = await opening
            else:
                response = await _bounded(opening, deadline, f"waiting for {path} to answer")
            url = str(response.url)
            received = 0
            chunks = response.aiter_raw()
            if deadline.end is not None:
                chunks = _within(chunks, deadline)
            try:
                response.request.extensions["timeout"]["read"] = deadline.read(deadline.between)
                async for chunk in chunks:
                    received += len(chunk)
                    for event in decoder.feed(chunk):
                        yield event
                    if decoder.done:
                        return
                    deadline.check(url)
                for event in decoder.finish():
                    yield event
            except httpx.TimeoutException:
                which, seconds = deadline.which("between_chunks")
                raise HomefireTimeoutError(
                    which, seconds, f"waiting for the next chunk of the stream from {url}"
                ) from None
            except TimeoutError as exc:
                if isinstance(exc, HomefireError):
                    raise
                raise deadline.over(f"reading the stream from {url}") from None
            except httpx.HTTPError as exc:
                raise _interrupted(url, received, exc) from None
            finally:
                await response.aclose()

    def astream_sse(self, path: str, body: Any) -> AsyncIterator[Any]:
        return self._astream(path, body, SSEDecoder(self.url(path)))

    def astream_ndjson(self, path: str, body: Any) -> AsyncIterator[Any]:
        return self._astream(path, body, NDJSONDecoder(self.url(path)))

    async def aclose(self) -> None:
        """Like `close`, also closing the async connections of the last user."""
        if self._closed:
            return
        self._closed = True
        self._release.detach()
        sync, pools = _registry.release(self._key, asyncio.get_running_loop(), id(self))
        if sync is not None:
            sync.close()
        for pool in pools:
            await _close_pool(pool)


async def _bounded(call: Awaitable[T], deadline: _Deadline, what: str) -> T:
    """Await `call` within the total deadline (there must be one)."""
    scope = asyncio.timeout(deadline.left())
    try:
        async with scope:
            return await call
    except TimeoutError:
        if not scope.expired():
            raise
        raise deadline.over(what) from None


def _body_error(
    exc: httpx.HTTPError, response: httpx.Response, deadline: _Deadline
) -> HomefireError:
    """The error for a whole (non-stream) answer whose body did not arrive in full."""
    url = str(response.url)
    if deadline.expired():
        return deadline.over(f"reading the answer from {url}")
    if isinstance(exc, httpx.TimeoutException):
        which, seconds = deadline.which("first_token")
        return HomefireTimeoutError(which, seconds, f"reading the answer from {url}")
    return ServerError(
        f"the answer from {url} was cut off after {response.num_bytes_downloaded} bytes "
        f"({type(exc).__name__}: {exc}); the server may have crashed or been stopped. It was "
        "not sent again because the server had already started answering",
        url=url,
    )


def _interrupted(url: str, received: int, exc: Exception) -> StreamInterruptedError:
    return StreamInterruptedError(
        f"the stream from {url} was cut off after {received} bytes "
        f"({type(exc).__name__}: {exc}); the server may have crashed or been stopped, "
        "the answer is incomplete"
    )
