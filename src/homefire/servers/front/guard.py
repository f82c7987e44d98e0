"""What every request passes before any route sees it.

- `Host` must name an address this server answers on: a web page that rebinds its own DNS
  name to 127.0.0.1 still sends that name, and is refused (even without an API key).
- A browser's cross-origin request is refused unless its origin was allowed (`Origin`, and
  `Sec-Fetch-Site` for requests that carry no `Origin`); POST bodies must be JSON, which a
  page can only send cross-origin after a CORS preflight, so a `text/plain` form post from
  any page never runs either.
- Every route but `/health` needs the API key (`Authorization: Bearer` or `X-Api-Key`).
- A declared body larger than the limit is refused with 413 before it is parsed (the route's
  reader enforces the same limit on bodies without a length).
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from homefire.protocols.openai_server import error_answer

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

PUBLIC_PATHS = frozenset({"/health", "/v1/health"})
# A refused request's body is read and dropped, up to these bounds, before the answer: a
# connection closed with unread data is reset, and the client could lose the answer.
_DRAIN_BYTES = 256 * 1024 * 1024
_DRAIN_SECONDS = 10.0
_INVALID = "invalid_request_error"
_KINDS = {401: "authentication_error", 403: "permission_error"}
_WILDCARDS = frozenset({"0.0.0.0", "::", ""})
_PREFLIGHT_HEADERS = (
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"Authorization, Content-Type, X-Api-Key"),
    (b"access-control-max-age", b"600"),
)


def host_name(header: str) -> str | None:
    """The name or address in a `Host` header, lower-cased (None when it is malformed)."""
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0 or (value[end + 1 :] and not value[end + 1 :].startswith(":")):
            return None
        return value[1:end] or None
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


class HostPolicy:
    """The `Host` values this server answers: loopback addresses, `localhost`, the address it
    is bound to, names the user allowed, and on a wildcard bind this machine's own names and
    any IP address (a DNS rebinding attack always arrives under a name)."""

    def __init__(self, bound: str, allowed: Iterable[str] = ()) -> None:
        self._names = {"localhost", *(n.strip().lower().rstrip(".") for n in allowed)}
        self._any_ip = bound in _WILDCARDS
        self._ips: set[ipaddress.IPv4Address | ipaddress.IPv6Address] = set()
        try:
            self._ips.add(ipaddress.ip_address(bound.strip("[]")))
        except ValueError:
            if not self._any_ip:
                self._names.add(bound.lower().rstrip("."))
        if self._any_ip:
            self._names |= {socket.gethostname().lower(), socket.getfqdn().lower()}

    def allows(self, header: str | None) -> bool:
        name = host_name(header) if header is not None else None
        if name is None:
            return False
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            return name in self._names
        return address.is_loopback or self._any_ip or address in self._ips


def normalise_origin(origin: str) -> str:
    return origin.strip().lower().rstrip("/")


@dataclass(frozen=True, slots=True)
class GuardSettings:
    api_key: str | None
    hosts: HostPolicy
    origins: frozenset[str]
    max_body: int
    server_header: str


class Guard:
    """ASGI middleware applying the rules in the module docstring, then `app`."""

    def __init__(self, app: ASGIApp, settings: GuardSettings) -> None:
        self._app = app
        self._settings = settings
        self._key = settings.api_key.encode() if settings.api_key else None
        self._server = (b"server", settings.server_header.encode())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        headers = _headers(scope["headers"])
        if headers is None:
            await self._refuse(send, 400, "repeated Host, Origin or key headers", ())
            return
        origin = headers.get(b"origin")
        allowed_origin = origin if origin is not None and self._origin_allowed(origin) else None
        cors = _cors(allowed_origin)
        problem = self._problem(scope, headers, origin, allowed_origin)
        if problem is not None:
            await drain(receive)
            await self._refuse(send, *problem, cors)
            return
        if scope["method"] == "OPTIONS":
            await _respond(send, 204, b"", [self._server, *cors, *_PREFLIGHT_HEADERS])
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", ()), self._server, *cors]
            await send(message)

        await self._app(scope, receive, send_with_headers)

    def _origin_allowed(self, origin: bytes) -> bool:
        return normalise_origin(origin.decode("latin-1")) in self._settings.origins

    def _problem(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        origin: bytes | None,
        allowed_origin: bytes | None,
    ) -> tuple[int, str] | None:
        """(status, message) for a request to refuse, None to let it through."""
        host = headers.get(b"host")
        if not self._settings.hosts.allows(host.decode("latin-1") if host is not None else None):
            shown = host.decode("latin-1")[:100] if host is not None else "(none)"
            return 403, (
                f"Host {shown!r} is not an address this server answers on; "
                "start it with --allow-host NAME to serve that name"
            )
        site = headers.get(b"sec-fetch-site", b"")
        if allowed_origin is None and (origin is not None or site in (b"cross-site", b"same-site")):
            return 403, (
                "cross-origin requests are refused; start the server with --allow-origin "
                "ORIGIN to let a web app at ORIGIN call it"
            )
        if scope["method"] == "OPTIONS":
            return None
        if scope["path"] not in PUBLIC_PATHS and not self._key_ok(headers):
            return 401, (
                "Invalid API Key: send the key the server printed when it started (or was "
                "given with --api-key or HOMEFIRE_API_KEY) as Authorization: Bearer KEY"
            )
        if scope["method"] == "POST":
            return _body_problem(headers, self._settings.max_body)
        return None

    def _key_ok(self, headers: dict[bytes, bytes]) -> bool:
        if self._key is None:
            return True
        sent = headers.get(b"x-api-key")
        authorization = headers.get(b"authorization", b"")
        if sent is None and authorization[:7].lower() == b"bearer ":
            sent = authorization[7:].strip()
        return sent is not None and hmac.compare_digest(sent, self._key)

    async def _refuse(
        self, send: Send, status: int, message: str, cors: Iterable[tuple[bytes, bytes]]
    ) -> None:
        body = json.dumps(error_answer(status, message, _KINDS.get(status, _INVALID))).encode()
        headers = [(b"content-type", b"application/json"), self._server, *cors]
        # The body of a refused request is not read: close the connection after answering.
        await _respond(send, status, body, [*headers, (b"connection", b"close")])


async def drain(receive: Receive) -> None:
    """Read what is left of a request body and drop it (bounded in bytes and time)."""
    size = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(_DRAIN_SECONDS):
            while size < _DRAIN_BYTES:
                message = await receive()
                size += len(message.get("body", b""))
                if message["type"] != "http.request" or not message.get("more_body"):
                    return


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> dict[bytes, bytes] | None:
    """Headers by lower-cased name; None when one that decides access is repeated."""
    out: dict[bytes, bytes] = {}
    for name, value in raw:
        key = name.lower()
        if key in out and key in (b"host", b"origin", b"authorization", b"x-api-key"):
            return None
        out[key] = value
    return out


def _body_problem(headers: dict[bytes, bytes], limit: int) -> tuple[int, str] | None:
    content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
    if content_type != b"application/json":
        return 415, "send the request body as JSON with Content-Type: application/json"
    length = headers.get(b"content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        return 413, body_too_large(limit)
    return None


def body_too_large(limit: int) -> str:
    return f"the request body is larger than this server takes ({limit} bytes; see --max-body)"


def _cors(origin: bytes | None) -> tuple[tuple[bytes, bytes], ...]:
    if origin is None:
        return ()
    return ((b"access-control-allow-origin", origin), (b"vary", b"Origin"))


async def _respond(
    send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]
) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
