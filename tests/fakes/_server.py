"""A tiny threaded HTTP server on 127.0.0.1 that the fake LLM servers build on (tests only).

Each fake is a table of routes; a route gets the parsed request and returns a `Reply`, whose
body is JSON, text, or an iterator of byte chunks written as they come (for SSE / NDJSON).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: Mapping[str, str]
    raw: bytes
    params: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        """The body as JSON; raises ValueError (the route turns it into the server's 400)."""
        return json.loads(self.raw) if self.raw else {}


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    stream: Iterable[bytes] | None = None
    content_type: str = "application/json"


Route = Callable[[Request], Reply]


class FakeServer:
    """Serve `routes` ((method, path regex) -> handler) on a free loopback port until `stop()`."""

    server_header: str | None = None

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self._routes: list[tuple[str, re.Pattern[str], Route]] = []
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def route(self, method: str, pattern: str, handler: Route) -> None:
        self._routes.append((method, re.compile(pattern + r"\Z"), handler))

    def unknown_route(self, request: Request) -> Reply:
        return Reply(404, {"error": "not found"})

    def authorize(self, request: Request) -> Reply | None:
        """A reply refusing the request, or None to let it through."""
        return None

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "start() the fake first"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def port(self) -> int:
        assert self._httpd is not None
        return int(self._httpd.server_address[1])

    def dispatch(self, request: Request) -> Reply:
        self.requests.append(request)
        refused = self.authorize(request)
        if refused is not None:
            return refused
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                request.params = match.groupdict()
                return handler(request)
        return self.unknown_route(request)

    def start(self, port: int = 0) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def version_string(self) -> str:
                return fake.server_header or super().version_string()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = fake.dispatch(Request(self.command, parts.path, query, headers, raw))
                self._write(reply)

            def _write(self, reply: Reply) -> None:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                if reply.stream is not None:
                    self.send_header("Content-Type", reply.content_type)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.close_connection = True
                    try:
                        for chunk in reply.stream:
                            self.wfile.write(chunk)
                            self.wfile.flush()
                    except (BrokenPipeError, ConnectionResetError):
                        pass
                    return
                if isinstance(reply.body, bytes | str):
                    data = reply.body.encode() if isinstance(reply.body, str) else reply.body
                    content_type = reply.content_type
                elif reply.body is None and reply.content_type != "application/json":
                    data, content_type = b"", reply.content_type
                else:
                    data, content_type = json.dumps(reply.body).encode(), "application/json"
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = do_PUT = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)

    def last(self, path: str) -> Request:
        """The most recent request to `path` (what reached the server)."""
        for request in reversed(self.requests):
            if request.path == path:
                return request
        raise AssertionError(f"no request to {path} reached the fake")


def sse(events: Iterable[Any], *, done: bool = True) -> Iterator[bytes]:
    for event in events:
        yield f"data: {json.dumps(event)}\n\n".encode()
    if done:
        yield b"data: [DONE]\n\n"


def ndjson(lines: Iterable[Any]) -> Iterator[bytes]:
    for line in lines:
        yield (json.dumps(line) + "\n").encode()
