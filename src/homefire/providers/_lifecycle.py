"""Waiting helpers the server providers share: poll until ready, with a deadline that says so."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from homefire.errors import (
    HomefireTimeoutError,
    InvalidParameterError,
    ServerBusyError,
    ServerNotRunningError,
)
from homefire.http import HTTPClient, Response
from homefire.http.client import ErrorMapper


def _check_timeout(timeout: float) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InvalidParameterError(
            "timeout", f"must be a positive number of seconds, got {timeout!r}"
        )


def wait_until(
    ready: Callable[[], bool], *, timeout: float, what: str, interval: float = 0.5
) -> None:
    """Call `ready()` until it is True; nothing listening yet counts as not ready."""
    _check_timeout(timeout)
    end = time.monotonic() + timeout
    while True:
        try:
            if ready():
                return
        except ServerNotRunningError:
            pass
        if time.monotonic() + interval > end:
            raise HomefireTimeoutError("ready", timeout, what)
        time.sleep(interval)


async def await_until(
    ready: Callable[[], Awaitable[bool]],
    *,
    timeout: float,  # noqa: ASYNC109 - a polling deadline, not a cancellation scope
    what: str,
    interval: float = 0.5,
) -> None:
    """`wait_until` for coroutines, sleeping without blocking the event loop."""
    _check_timeout(timeout)
    end = time.monotonic() + timeout
    while True:
        try:
            if await ready():
                return
        except ServerNotRunningError:
            pass
        if time.monotonic() + interval > end:
            raise HomefireTimeoutError("ready", timeout, what)
        await asyncio.sleep(interval)


HealthBody = Callable[[Any], bool]


def _judge(response: Response, mapper: ErrorMapper, accept: HealthBody | None) -> bool:
    if response.status < 400:
        return accept is None or accept(response.json_or_text())
    error = mapper(response.status, response.json_or_text(), url=response.url)
    if isinstance(error, ServerBusyError):
        return False
    raise error


def health_check(
    http: HTTPClient, path: str, mapper: ErrorMapper, accept: HealthBody | None = None
) -> bool:
    """True when `path` answers 2xx (with a body `accept` takes, when given), False while the
    server is busy or loading; else raises the server's error."""
    return _judge(http.request("GET", path, timeout=http.timeouts.connect), mapper, accept)


async def ahealth_check(
    http: HTTPClient, path: str, mapper: ErrorMapper, accept: HealthBody | None = None
) -> bool:
    response = await http.arequest("GET", path, timeout=http.timeouts.connect)
    return _judge(response, mapper, accept)
