"""A scriptable HTTP/1.1 server on 127.0.0.1 for transport tests: real sockets, real faults.

Each route is a function `(conn, request, attempt)` that writes whatever bytes it likes:
a full answer, a chunked stream, a stream cut short, a stall. The server counts attempts per
route (and when each arrived), connections, and requests in flight.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Action = Callable[[socket.socket, Seen, int], bool]
"""Writes the answer; returns True to keep the connection open for the next request."""


@dataclass
class LoopbackServer:
    routes: dict[str, Action] = field(default_factory=dict)
    requests: list[Seen] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    arrivals: dict[str, list[float]] = field(default_factory=dict)
    connections: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                with contextlib.suppress(OSError):  # the client went away: nothing to do
                    owner._serve(self.request)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        ).start()

    def close(self) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections += 1
        reader = conn.makefile("rb")
        while True:
            line = reader.readline()
            if not line:
                return
            method, path, _ = line.decode().split(" ", 2)
            headers: dict[str, str] = {}
            while (line := reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode().partition(":")
                headers[name.strip().lower()] = value.strip()
            body = reader.read(int(headers.get("content-length", "0")))
            seen = Seen(method, path.split("?")[0], headers, body)
            with self._lock:
                self.requests.append(seen)
                attempt = self.attempts[seen.path] = self.attempts.get(seen.path, 0) + 1
                self.arrivals.setdefault(seen.path, []).append(time.monotonic())
                self.in_flight += 1
                self.max_in_flight = max(self.max_in_flight, self.in_flight)
            try:
                keep = self.routes[seen.path](conn, seen, attempt)
            except OSError:
                keep = False
            finally:
                with self._lock:
                    self.in_flight -= 1
            if not keep:
                conn.close()
                return


def head(status: int, headers: Mapping[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} X"] + [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def reply(
    status: int,
    body: bytes | Any,
    headers: Mapping[str, str] | None = None,
    delay: float = 0.0,
) -> Action:
    """A whole answer (JSON-encoded unless bytes), after `delay` seconds; keeps the connection."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()

    def action(conn: socket.socket, _seen: Seen, _attempt: int) -> bool:
        time.sleep(delay)
        extra = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        conn.sendall(head(status, {**extra, **(headers or {})}) + data)
        return True

    return action


def partial(status: int, body: Any, sent: int) -> Action:
    """Headers announcing the whole JSON `body`, then only its first `sent` bytes and a hang-up."""
    data = json.dumps(body).encode()

    def action(conn: socket.socket, _seen: Seen, _attempt: int) -> bool:
        length = {"Content-Type": "application/json", "Content-Length": str(len(data))}
        conn.sendall(head(status, length) + data[:sent])
        return False

    return action


def hang_up(_conn: socket.socket, _seen: Seen, _attempt: int) -> bool:
    """Close the connection without a word, like a server going away as a request arrives."""
    return False


def chunked(
    pieces: Iterable[bytes],
    *,
    then: str = "end",
    gap: float = 0.0,
    stopping: threading.Event | None = None,
    content_type: str = "text/event-stream",
) -> Action:
    """A chunked 200 stream of `pieces`; then "end" properly, "cut" the socket, or "stall"."""
    items = list(pieces)

    def action(conn: socket.socket, _seen: Seen, _attempt: int) -> bool:
        conn.sendall(head(200, {"Content-Type": content_type, "Transfer-Encoding": "chunked"}))
        for piece in items:
            conn.sendall(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            time.sleep(gap)
        if then == "end":
            conn.sendall(b"0\r\n\r\n")
            return True
        if then == "stall" and stopping is not None:
            stopping.wait(30)
        conn.shutdown(socket.SHUT_RDWR)
        return False

    return action


def sequence(*actions: Action) -> Action:
    """Attempt n runs actions[n-1] (the last one repeats)."""

    def action(conn: socket.socket, seen: Seen, attempt: int) -> bool:
        return actions[min(attempt, len(actions)) - 1](conn, seen, attempt)

    return action


def sse(*payloads: Any, done: bool = True) -> list[bytes]:
    events = [b"data: " + json.dumps(p).encode() + b"\n\n" for p in payloads]
    return [*events, b"data: [DONE]\n\n"] if done else events


def trickle(
    body: Any, *, gap: float, stopping: threading.Event, finished: threading.Event
) -> Action:
    """A 200 whose headers come at once and whose JSON body then comes one byte per `gap`
    seconds (each read succeeds, so no read timeout fires); `finished` is set if it all went
    out. Stops early when `stopping` is set or the client goes away."""
    data = json.dumps(body).encode()

    def action(conn: socket.socket, _seen: Seen, _attempt: int) -> bool:
        conn.sendall(
            head(200, {"Content-Type": "application/json", "Content-Length": str(len(data))})
        )
        for index in range(len(data)):
            if stopping.wait(gap):
                return False
            conn.sendall(data[index : index + 1])
        finished.set()
        return True

    return action
