"""Find the LLM servers running nearby: probe the usual ports at once, identify, list models.

Every port is first knocked on once (a refused connection ends it in milliseconds); only
ports that answer get the full set of fingerprint requests, all concurrently. The rules
that tell servers apart live in `protocols.fingerprint`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from homefire._bridge import run_sync
from homefire._validate import integer
from homefire.errors import (
    HomefireError,
    HomefireTimeoutError,
    InvalidParameterError,
    ProtocolError,
    ServerError,
)
from homefire.http import HTTPClient, RetryPolicy, Timeouts
from homefire.http.urls import url_problem
from homefire.llm.base import LLM
from homefire.protocols.fingerprint import PROBE_PATHS, Identity, Probe, identify
from homefire.providers import _registry
from homefire.types import ModelInfo

# The ports local LLM servers listen on by default.
USUAL_PORTS = _registry.usual_ports()
DEFAULT_TIMEOUT = 1.0


@dataclass(slots=True)
class FoundServer:
    """A server that answered: what it is, and its models (or why they could not be listed)."""

    base_url: str
    identity: Identity
    models: list[ModelInfo] = field(default_factory=list)
    error: str | None = None

    @property
    def label(self) -> str:
        return self.identity.label


def _targets(hosts: Sequence[str], ports: Sequence[int]) -> list[str]:
    """Base URLs to probe: a host alone gets every usual port; host:port or a URL just that."""
    if isinstance(hosts, str):
        hosts = [hosts]
    for port in ports:
        integer("ports", port, low=1, high=65535)
    urls: list[str] = []
    for host in hosts or ["127.0.0.1"]:
        if not isinstance(host, str) or not host.strip():
            raise InvalidParameterError(
                "hosts", f"each host must be a non-empty string, got {host!r}"
            )
        if "://" in host:
            url = _checked(host, host)
            parts = urlsplit(url)
            urls.append(f"{parts.scheme}://{parts.netloc}")
            continue
        if host.count(":") == 1 or (host.startswith("[") and "]:" in host):
            urls.append(_checked(f"http://{host}", host))
            continue
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"  # a bare IPv6 address
        urls.extend(_checked(f"http://{host}:{port}", host) for port in ports)
    return list(dict.fromkeys(urls))


def _checked(url: str, host: str) -> str:
    problem = url_problem(url)
    if problem:
        raise InvalidParameterError("hosts", f"{host!r} is not a host, host:port or URL: {problem}")
    return url.rstrip("/")


async def _probe(http: HTTPClient, path: str) -> Probe | None:
    try:
        response = await http.arequest("GET", path)
    except (ServerError, HomefireTimeoutError):
        return None
    headers = {k.lower(): v for k, v in response.headers.items()}
    return Probe(response.status, headers, response.json_or_text())


async def aidentify(base_url: str, *, probe_timeout: float = DEFAULT_TIMEOUT) -> Identity | None:
    """What kind of server answers at `base_url`; None when nothing (known) answers.

    Raises ServerNotRunningError when nothing listens there at all.
    """
    http = HTTPClient(
        base_url,
        timeouts=Timeouts(
            connect=probe_timeout, first_token=probe_timeout, total=probe_timeout * 2
        ),
        retry=RetryPolicy(attempts=1),
    )
    try:
        try:
            first = await http.arequest("GET", "/v1/models")
        except HomefireTimeoutError:
            return None
        probes = {
            "/v1/models": Probe(
                first.status,
                {k.lower(): v for k, v in first.headers.items()},
                first.json_or_text(),
            )
        }
        rest = [p for p in PROBE_PATHS if p != "/v1/models"]
        answers = await asyncio.gather(*(_probe(http, path) for path in rest))
        probes.update({p: a for p, a in zip(rest, answers, strict=True) if a is not None})
        return identify(probes)
    finally:
        await http.aclose()


def identify_url(base_url: str, *, probe_timeout: float = 2.0) -> Identity:
    """`aidentify` for sync callers, also those inside a running event loop (a notebook, an
    async app); a server that answers like none homefire knows is a ProtocolError."""
    identity = run_sync(aidentify(base_url, probe_timeout=probe_timeout))
    if identity is None:
        raise ProtocolError(
            f"{base_url} answers, but not like any LLM server homefire knows; "
            "name the provider in the spec (e.g. openai://host:port/v1)",
            url=base_url,
        )
    return identity


async def _list_models(
    base_url: str, identity: Identity, probe_timeout: float, api_key: str | None
) -> list[ModelInfo]:
    provider: Any = _registry.for_kind(identity.kind).load()
    llm: LLM = provider(
        base_url=base_url,
        api_key=api_key,
        timeouts=Timeouts(connect=probe_timeout, first_token=probe_timeout * 3),
        retry=RetryPolicy(attempts=1),
    )
    try:
        return await llm.amodels()
    finally:  # its async connections close on this loop, the one that opened them
        aclose = getattr(llm, "aclose", None)
        if aclose is not None:
            await aclose()
        else:
            llm.close()


async def _examine(
    base_url: str, probe_timeout: float, with_models: bool, api_key: str | None
) -> FoundServer | None:
    try:
        identity = await aidentify(base_url, probe_timeout=probe_timeout)
    except ServerError:
        return None
    if identity is None:
        return None
    found = FoundServer(base_url, identity)
    if with_models:
        try:
            found.models = await _list_models(base_url, identity, probe_timeout, api_key)
        except HomefireError as exc:
            found.error = str(exc)
    return found


async def adiscover(
    hosts: Sequence[str] = (),
    *,
    ports: Sequence[int] = USUAL_PORTS,
    probe_timeout: float = DEFAULT_TIMEOUT,
    with_models: bool = True,
    api_key: str | None = None,
) -> list[FoundServer]:
    """Every LLM server answering on `hosts` (default: this machine) at the usual ports;
    `api_key` is sent to list the models of servers that want one."""
    targets = _targets(hosts, ports)
    results = await asyncio.gather(
        *(_examine(url, probe_timeout, with_models, api_key) for url in targets)
    )
    return [r for r in results if r is not None]


def discover(
    hosts: Sequence[str] = (),
    *,
    ports: Sequence[int] = USUAL_PORTS,
    probe_timeout: float = DEFAULT_TIMEOUT,
    with_models: bool = True,
    api_key: str | None = None,
) -> list[FoundServer]:
    """`adiscover` for sync callers, also those inside a running event loop."""
    return run_sync(
        adiscover(
            hosts,
            ports=ports,
            probe_timeout=probe_timeout,
            with_models=with_models,
            api_key=api_key,
        )
    )
