"""Incremental decoders for streamed bodies: Server-Sent Events and newline-delimited JSON.

Pure and byte-oriented so a chunk costs one scan and one `json.loads` per event. A line that
has not ended yet waits in a buffer that only grows at its end, and only the new bytes are
searched for the newline, so the work stays linear in the body however the server cuts it
into chunks. A line (and an SSE event) longer than `max_line_bytes` ends the stream with a
`ProtocolError`, so a server that never sends a newline cannot fill the memory. Both decoders
turn in-band error events into homefire errors and anything unparsable into `ProtocolError`.
"""

from __future__ import annotations

import json
from typing import Any

from homefire._validate import integer
from homefire.errors import ProtocolError
from homefire.protocols.errors import error_from_event

MAX_LINE_BYTES = 32 * 1024 * 1024
"""The longest line (or SSE event) a stream may send: 32 MiB.

Streamed events carry one delta each, a few bytes to a few kilobytes; the largest real ones
(a final Ollama chunk with its token context, a tool call holding a document) stay under a
few MiB. Twice the largest seen leaves room for those and still bounds what a broken server
can make the client hold.
"""


def _parse(data: bytes, url: str | None, what: str) -> Any:
    try:
        payload = json.loads(data)
    except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested thousands deep
        where = f" from {url}" if url else ""
        raise ProtocolError(
            f"the stream{where} sent {what} that is not JSON: {data[:200]!r}", url=url
        ) from None
    if isinstance(payload, dict) and payload.get("error"):
        raise error_from_event(payload, url=url, in_stream=True)
    return payload


class _Lines:
    """Split a byte stream into lines in linear time, refusing lines past a bound."""

    __slots__ = ("_limit", "_pending", "url")

    def __init__(self, url: str | None, limit: int) -> None:
        self.url = url
        self._limit = limit
        self._pending = bytearray()

    def feed(self, chunk: bytes) -> list[bytes]:
        """The lines `chunk` completes, without their newline."""
        end = chunk.rfind(b"\n")
        if end < 0:
            self._hold(chunk)
            return []
        lines = chunk[:end].split(b"\n")
        if self._pending:
            self._check(len(self._pending) + len(lines[0]))
            lines[0] = bytes(self._pending) + lines[0]
            self._pending.clear()
        for line in lines:
            self._check(len(line))
        self._hold(chunk[end + 1 :])
        return lines

    def rest(self) -> bytes:
        """What came after the last newline (the body ended mid-line)."""
        rest = bytes(self._pending)
        self._pending.clear()
        return rest

    def _hold(self, tail: bytes) -> None:
        self._check(len(self._pending) + len(tail))
        self._pending += tail

    def _check(self, size: int) -> None:
        if size > self._limit:
            raise _too_long(self.url, "line", self._limit)


def _too_long(url: str | None, what: str, limit: int) -> ProtocolError:
    where = f" from {url}" if url else ""
    return ProtocolError(
        f"the stream{where} sent a {what} longer than {limit} bytes (max_line_bytes); "
        "the server is sending something other than an event stream, or pass a larger "
        "max_line_bytes",
        url=url,
    )


class SSEDecoder:
    """Feed raw bytes, get parsed `data:` payloads; `done` turns true at `data: [DONE]`.

    Comments and blank lines are skipped, multi-line data is joined, a stream without
    `[DONE]` simply ends, and `error:` lines or `event: error` raise the matching error.
    """

    __slots__ = ("_data", "_data_size", "_event", "_limit", "_lines", "done", "url")

    def __init__(self, url: str | None = None, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.url = url
        self.done = False
        self._limit = integer("max_line_bytes", max_line_bytes, low=1, high=None)
        self._lines = _Lines(url, self._limit)
        self._data: list[bytes] = []
        self._data_size = 0
        self._event = b""

    def feed(self, chunk: bytes) -> list[Any]:
        out: list[Any] = []
        for line in self._lines.feed(chunk):
            self._line(line, out)
            if self.done:
                break
        return out

    def finish(self) -> list[Any]:
        """Events still pending when the body ended (a last line without its newline)."""
        out: list[Any] = []
        rest = self._lines.rest()
        if rest and not self.done:
            self._line(rest, out)
        if self._data and not self.done:
            self._dispatch(out)
        return out

    def _line(self, line: bytes, out: list[Any]) -> None:
        if line.endswith(b"\r"):
            line = line[:-1]
        if not line:
            if self._data:
                self._dispatch(out)
            return
        if line[0] == 58:  # ":" starts a comment (keep-alive pings)
            return
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._data_size += len(value) + 1
            if self._data_size > self._limit:
                raise _too_long(self.url, "event", self._limit)
            self._data.append(value)
        elif name == b"event":
            self._event = value
        elif name == b"error":
            raise error_from_event(
                {"error": _parse(value, self.url, "an error line")}, url=self.url, in_stream=True
            )

    def _dispatch(self, out: list[Any]) -> None:
        data = self._data[0] if len(self._data) == 1 else b"\n".join(self._data)
        self._data = []
        self._data_size = 0
        event, self._event = self._event, b""
        if data == b"[DONE]":
            self.done = True
            return
        payload = _parse(data, self.url, "an event")
        if event == b"error":
            raise error_from_event({"error": payload}, url=self.url, in_stream=True)
        out.append(payload)


class NDJSONDecoder:
    """Feed raw bytes, get one parsed object per non-blank line (Ollama's native streams)."""

    __slots__ = ("_lines", "done", "url")

    def __init__(self, url: str | None = None, *, max_line_bytes: int = MAX_LINE_BYTES) -> None:
        self.url = url
        self.done = False
        limit = integer("max_line_bytes", max_line_bytes, low=1, high=None)
        self._lines = _Lines(url, limit)

    def feed(self, chunk: bytes) -> list[Any]:
        lines = self._lines.feed(chunk)
        return [_parse(line, self.url, "a line") for line in lines if line.strip()]

    def finish(self) -> list[Any]:
        rest = self._lines.rest()
        return [_parse(rest, self.url, "a line")] if rest.strip() else []
