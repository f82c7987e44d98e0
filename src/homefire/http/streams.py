"""Incremental decoders for streamed bodies: Server-Sent Events and newline-delimited JSON.

Pure and byte-oriented so a chunk costs one split and one `json.loads` per event. Both turn
in-band error events into homefire errors and anything unparsable into `ProtocolError`.
"""

from __future__ import annotations

import json
from typing import Any

from homefire.errors import ProtocolError
from homefire.protocols.errors import error_from_event


def _parse(data: bytes, url: str | None, what: str) -> Any:
    try:
        payload = json.loads(data)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both derive from it
        where = f" from {url}" if url else ""
        raise ProtocolError(
            f"the stream{where} sent {what} that is not JSON: {data[:200]!r}", url=url
        ) from None
    if isinstance(payload, dict) and payload.get("error"):
        raise error_from_event(payload, url=url, in_stream=True)
    return payload


class SSEDecoder:
    """Feed raw bytes, get parsed `data:` payloads; `done` turns true at `data: [DONE]`.

    Comments and blank lines are skipped, multi-line data is joined, a stream without
    `[DONE]` simply ends, and `error:` lines or `event: error` raise the matching error.
    """

    __slots__ = ("_buffer", "_data", "_event", "done", "url")

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self.done = False
        self._buffer = b""
        self._data: list[bytes] = []
        self._event = b""

    def feed(self, chunk: bytes) -> list[Any]:
        lines = (self._buffer + chunk if self._buffer else chunk).split(b"\n")
        self._buffer = lines.pop()
        out: list[Any] = []
        for line in lines:
            self._line(line, out)
            if self.done:
                break
        return out

    def finish(self) -> list[Any]:
        """Events still pending when the body ended (a last line without its newline)."""
        out: list[Any] = []
        if self._buffer and not self.done:
            self._line(self._buffer, out)
        self._buffer = b""
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

    __slots__ = ("_buffer", "done", "url")

    def __init__(self, url: str | None = None) -> None:
        self.url = url
        self.done = False
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[Any]:
        lines = (self._buffer + chunk if self._buffer else chunk).split(b"\n")
        self._buffer = lines.pop()
        return [_parse(line, self.url, "a line") for line in lines if line.strip()]

    def finish(self) -> list[Any]:
        rest, self._buffer = self._buffer, b""
        return [_parse(rest, self.url, "a line")] if rest.strip() else []
