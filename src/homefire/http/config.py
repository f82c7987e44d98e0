"""Timeouts and retry policy: plain settings, checked once, shared by every server provider.

Kept apart from the client so that naming them (`hf.Timeouts`) costs no HTTP import.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from time import time

from homefire._validate import integer, seconds

# Statuses a later attempt may fix: timeout, rate limit, gateway trouble, loading.
RETRY_STATUSES = frozenset({408, 429, 502, 503, 504})

# A server asking for a longer wait than this is not worth waiting for inside one call.
_MAX_RETRY_AFTER = 60.0


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long to wait, in seconds, for each phase of a request.

    `first_token` runs until the response headers (or first byte) arrive and is generous
    because a large prompt may take long to read; `between_chunks` bounds each wait for
    more of the body; `total`, when set, bounds the whole call, however the answer trickles
    in. `load` is how long a server that answers "loading model" (503) is waited for,
    polling with the retry policy's backoff: loading a large model takes minutes (0: not
    at all).
    """

    connect: float = 5.0
    first_token: float = 600.0
    between_chunks: float = 120.0
    total: float | None = None
    load: float = 600.0

    def __post_init__(self) -> None:
        seconds("timeouts.connect", self.connect)
        seconds("timeouts.first_token", self.first_token)
        seconds("timeouts.between_chunks", self.between_chunks)
        seconds("timeouts.total", self.total, optional=True)
        seconds("timeouts.load", self.load, zero=True)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often to retry a request that failed before any of the answer arrived.

    `attempts` counts the first try; waits grow from `backoff` by doubling up to
    `max_backoff`, with jitter, unless the server's Retry-After says otherwise. A server
    still loading its model is polled on the same curve for as long as `Timeouts.load`
    allows, however many attempts that takes; `attempts=1` sends every call once (a router
    that fails over to another server wants that).
    """

    attempts: int = 3
    backoff: float = 0.25
    max_backoff: float = 8.0

    def __post_init__(self) -> None:
        integer("retry.attempts", self.attempts, low=1, high=100)
        seconds("retry.backoff", self.backoff, zero=True)
        seconds("retry.max_backoff", self.max_backoff, zero=True)

    def delay(self, retry_number: int, retry_after: str | None = None) -> float:
        """Seconds to sleep before retry number `retry_number` (1 for the first retry)."""
        asked = parse_retry_after(retry_after)
        if asked is not None:
            return asked
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (retry_number - 1))
        return float(ceiling * (0.5 + random.random() / 2))


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date), capped; None if absent."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = parsedate_to_datetime(value).timestamp() - time()
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), _MAX_RETRY_AFTER)
