"""A real HTTP file server on 127.0.0.1, run in a thread, whose behaviour each test sets."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_CHUNK = 64 * 1024


@dataclass
class Route:
    """What the server sends for one path, and what it saw."""

    body: bytes
    ranges: bool = True
    cut_after: int | None = None
    cuts_left: int = 1
    stall_after: int | None = None  # send this much, then nothing until the server closes
    chunk_delay: float = 0.0
    disposition: str | None = None
    status: int = 200
    etag: str | None = "auto"  # "auto": a strong ETag made from the body
    last_modified: str | None = None
    content_type: str = "application/octet-stream"
    length: bool = True  # False: no Content-Length, the end of the body is the connection's
    range_headers: list[str | None] = field(default_factory=list)
    if_range_headers: list[str | None] = field(default_factory=list)
    authorizations: list[str | None] = field(default_factory=list)
    full_bodies: int = 0

    def validators(self) -> dict[str, str]:
        etag = (
            f'"{hashlib.sha256(self.body).hexdigest()[:16]}"' if self.etag == "auto" else self.etag
        )
        found = {"ETag": etag, "Last-Modified": self.last_modified}
        return {name: value for name, value in found.items() if value is not None}


class FileServer:
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.closing = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                try:
                    server.serve(self)
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._httpd.block_on_close = False
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def url(self, path: str) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}{path}"

    def add(self, path: str, route: Route) -> Route:
        self.routes[path] = route
        return route

    def close(self) -> None:
        self.closing.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def serve(self, handler: BaseHTTPRequestHandler) -> None:
        route = self.routes.get(handler.path)
        if route is None:
            handler.send_error(404)
            return
        asked = handler.headers.get("Range")
        route.range_headers.append(asked)
        if_range = handler.headers.get("If-Range")
        route.if_range_headers.append(if_range)
        route.authorizations.append(handler.headers.get("Authorization"))
        if route.status != 200:
            handler.send_error(route.status)
            return
        size = len(route.body)
        match = re.fullmatch(r"bytes=(\d+)-", asked or "")
        current = route.validators()
        if if_range is not None and if_range not in current.values():
            match = None  # the file changed: RFC 9110 says send all of it
        start = 0
        if match and route.ranges:
            start = int(match.group(1))
            if start >= size:
                handler.send_response(416)
                handler.send_header("Content-Range", f"bytes */{size}")
                handler.send_header("Content-Length", "0")
                handler.end_headers()
                return
            handler.send_response(206)
            handler.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
        else:
            handler.send_response(200)
            route.full_bodies += 1
        if route.length:
            handler.send_header("Content-Length", str(size - start))
        else:
            handler.close_connection = True
        handler.send_header("Content-Type", route.content_type)
        for name, value in current.items():
            handler.send_header(name, value)
        if route.disposition is not None:
            handler.send_header("Content-Disposition", route.disposition)
        handler.end_headers()
        self._send_body(handler, route, start)

    def _send_body(self, handler: BaseHTTPRequestHandler, route: Route, start: int) -> None:
        position = start
        while position < len(route.body):
            end = min(position + _CHUNK, len(route.body))
            if route.cut_after is not None and route.cuts_left and end > route.cut_after:
                handler.wfile.write(route.body[position : route.cut_after])
                handler.wfile.flush()
                route.cuts_left -= 1
                handler.close_connection = True
                return
            if route.stall_after is not None and end > route.stall_after:
                handler.wfile.write(route.body[position : route.stall_after])
                handler.wfile.flush()
                self.closing.wait(60)
                handler.close_connection = True
                return
            handler.wfile.write(route.body[position:end])
            handler.wfile.flush()
            position = end
            if route.chunk_delay:
                time.sleep(route.chunk_delay)
