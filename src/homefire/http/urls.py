"""Server addresses, checked before any socket is opened.

A mistyped address (`:99999`, `:8o8o`, `999.1.1.1`, `http://[::1`) must be refused with a
sentence saying what is wrong with it, not reach the transport, where it surfaces as an
overflow in `connect()`, an `httpx.InvalidURL` or a "connection refused" that is not true.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from homefire.errors import InvalidParameterError

# What a host name may hold once IDNA-encoded (RFC 1123 letters, digits, hyphens; underscores
# appear in container and mDNS names), and the DNS limits on it.
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")
_MAX_LABEL = 63
_MAX_NAME = 253
_PORT_DIGITS = re.compile(r"[0-9]+")


def check_base_url(value: object, *, name: str = "base_url") -> str:
    """`value` as a server's base URL (http or https, a host, a port in 1-65535, no query),
    without its trailing slash; `InvalidParameterError(name, ...)` saying what is wrong."""
    if not isinstance(value, str):
        raise InvalidParameterError(name, f"must be an http:// or https:// URL, got {value!r}")
    problem = url_problem(value)
    if problem:
        raise InvalidParameterError(name, f"{value!r} is not a server address: {problem}")
    return value.rstrip("/")


def url_problem(url: str) -> str:
    """What is wrong with `url` as a server's base URL, or "" when nothing is."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return "it contains spaces or control characters"
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return "it must start with http:// or https://"
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # brackets that do not pair, or hold no IPv6 address
        if "Invalid IPv6 URL" in str(exc):
            return "an IPv6 address goes in a pair of brackets: http://[::1]:8080"
        return "what is in the brackets is not an IPv6 address"
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        return "a base URL has no query (?...) or fragment (#...)"
    authority = parts.netloc.rpartition("@")[2]
    if authority.startswith("["):
        host, _, after = authority[1:].partition("]")
        if after and not after.startswith(":"):
            return f"unexpected {after!r} after the IPv6 address"
        port = after[1:] if after else None
    else:
        host, colon, rest = authority.partition(":")
        port = rest if colon else None
        if port is not None and ":" in port:
            return "it has more than one ':' (an IPv6 address goes in brackets: http://[::1]:8080)"
    if not host:
        return "it names no host (write it like http://127.0.0.1:8080)"
    if port is not None:
        if not _PORT_DIGITS.fullmatch(port):
            return f"the port {port!r} is not a number"
        if not 1 <= int(port) <= 65535:
            return f"the port {int(port)} is out of range (1-65535)"
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:  # a malformed IPv4/IPv6 address or international name
        text = str(exc)
        return text[:1].lower() + text[1:]
    if authority.startswith("["):
        return ""  # httpx has checked the IPv6 address
    return _host_problem(parsed.raw_host.decode("ascii", "replace"))


def _host_problem(host: str) -> str:
    """What is wrong with an (IDNA-encoded) host name, or ""."""
    name = host.removesuffix(".")
    if len(name) > _MAX_NAME:
        return f"the host name is {len(name)} characters long (at most {_MAX_NAME})"
    for label in name.split("."):
        if not label:
            return "the host name has an empty part ('..')"
        if len(label) > _MAX_LABEL:
            return f"a part of the host name is {len(label)} characters long (at most {_MAX_LABEL})"
        if not _LABEL.fullmatch(label):
            return f"the host name part {label!r} holds characters a host name cannot"
    return ""
