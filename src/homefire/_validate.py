"""Checks for arguments, one wording everywhere: what the argument must be, and what it got.

Every layer checks its arguments before doing any work, and a user who mistypes one should
read the same sentence whichever class took it. Each check returns the value it accepted
(normalised: an int stays an int, seconds become a float), or raises InvalidParameterError.
"""

from __future__ import annotations

import math
from typing import Any, overload

from homefire.errors import InvalidParameterError

# The largest count homefire passes to an engine or a server: llama.cpp and most servers
# store counts (tokens, context, slots, layers) in 32-bit signed integers.
INT32_MAX = 2**31 - 1


@overload
def integer(name: str, value: Any, *, low: int | None = ..., high: int | None = ...) -> int: ...
@overload
def integer(
    name: str, value: Any, *, low: int | None = ..., high: int | None = ..., optional: bool
) -> int | None: ...
def integer(
    name: str,
    value: Any,
    *,
    low: int | None = None,
    high: int | None = INT32_MAX,
    optional: bool = False,
) -> int | None:
    """A whole number in [low, high]; None passes when `optional`."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidParameterError(name, f"must be an integer, got {value!r}")
    if low is not None and value < low:
        raise InvalidParameterError(name, f"must be at least {low}, got {value!r}")
    if high is not None and value > high:
        raise InvalidParameterError(name, f"must be at most {high}, got {value!r}")
    return value


def number(name: str, value: Any, *, low: float, high: float = math.inf) -> float:
    """A finite real number in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidParameterError(name, f"must be a finite number, got {value!r}")
    if not low <= value <= high:
        upper = "" if high == math.inf else f" and at most {high:g}"
        raise InvalidParameterError(name, f"must be at least {low:g}{upper}, got {value!r}")
    return float(value)


@overload
def seconds(name: str, value: Any, *, zero: bool = ...) -> float: ...
@overload
def seconds(name: str, value: Any, *, zero: bool = ..., optional: bool) -> float | None: ...
def seconds(name: str, value: Any, *, zero: bool = False, optional: bool = False) -> float | None:
    """A finite duration in seconds: positive, or also 0 when `zero`; None when `optional`."""
    if value is None and optional:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero)
    ):
        kind = "a number of seconds >= 0" if zero else "a positive number of seconds"
        raise InvalidParameterError(name, f"must be {kind}, got {value!r}")
    return float(value)


@overload
def flag(name: str, value: Any) -> bool: ...
@overload
def flag(name: str, value: Any, *, optional: bool) -> bool | None: ...
def flag(name: str, value: Any, *, optional: bool = False) -> bool | None:
    """True or False (not a truthy value); None when `optional`."""
    if value is None and optional:
        return None
    if not isinstance(value, bool):
        raise InvalidParameterError(name, f"must be True or False, got {value!r}")
    return value


@overload
def text(name: str, value: Any) -> str: ...
@overload
def text(name: str, value: Any, *, optional: bool) -> str | None: ...
def text(name: str, value: Any, *, optional: bool = False) -> str | None:
    """A non-empty string; None when `optional`."""
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidParameterError(name, f"must be a non-empty string, got {value!r}")
    return value


def port(name: str, value: Any, *, any_free: bool = False) -> int:
    """A TCP port number; 0 ("any free port") only when `any_free`."""
    low = 0 if any_free else 1
    hint = " (0: any free port)" if any_free else ""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= 65535:
        raise InvalidParameterError(
            name, f"must be a port number {low}..65535{hint}, got {value!r}"
        )
    return value
