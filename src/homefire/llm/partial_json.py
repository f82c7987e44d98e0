"""Read the value a JSON text is on its way to, from any prefix of it.

Used to show structured output while it streams: open strings, arrays and objects are
closed where the text stops and a cut string shows the text so far; a key without its value
yet, or a number or literal inside a container that may still grow, is left out.
"""

from __future__ import annotations

import json
from typing import Any

_WHITESPACE = " \t\r\n"
_LITERALS = {"true": True, "false": False, "null": None}
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


class _Incomplete(Exception):
    """The text stops inside this value; nothing usable was read for it."""


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.at = 0

    def skip(self) -> None:
        while self.at < len(self.text) and self.text[self.at] in _WHITESPACE:
            self.at += 1

    def peek(self) -> str:
        self.skip()
        if self.at >= len(self.text):
            raise _Incomplete
        return self.text[self.at]

    def value(self) -> tuple[Any, bool]:
        """The value here and whether it is complete."""
        char = self.peek()
        if char == "{":
            return self.object()
        if char == "[":
            return self.array()
        if char == '"':
            return self.string()
        return self.scalar(), True

    def object(self) -> tuple[dict[str, Any], bool]:
        self.at += 1
        out: dict[str, Any] = {}
        try:
            if self.peek() == "}":
                self.at += 1
                return out, True
            while True:
                key, done = self.string()
                if not done:
                    raise _Incomplete
                if self.peek() != ":":
                    raise ValueError(f"expected ':' at {self.at}")
                self.at += 1
                item, done = self.value()
                out[key] = item
                if not done:
                    return out, False
                separator = self.peek()
                self.at += 1
                if separator == "}":
                    return out, True
                if separator != ",":
                    raise ValueError(f"expected ',' or '}}' at {self.at - 1}")
        except _Incomplete:
            return out, False

    def array(self) -> tuple[list[Any], bool]:
        self.at += 1
        out: list[Any] = []
        try:
            if self.peek() == "]":
                self.at += 1
                return out, True
            while True:
                item, done = self.value()
                out.append(item)
                if not done:
                    return out, False
                separator = self.peek()
                self.at += 1
                if separator == "]":
                    return out, True
                if separator != ",":
                    raise ValueError(f"expected ',' or ']' at {self.at - 1}")
        except _Incomplete:
            return out, False

    def string(self) -> tuple[str, bool]:
        if self.peek() != '"':
            raise ValueError(f"expected a string at {self.at}")
        self.at += 1
        pieces: list[str] = []
        text = self.text
        while self.at < len(text):
            char = text[self.at]
            if char == '"':
                self.at += 1
                return "".join(pieces), True
            if char != "\\":
                end = self.at
                while end < len(text) and text[end] not in '"\\':
                    end += 1
                pieces.append(text[self.at : end])
                self.at = end
                continue
            escape = text[self.at + 1 : self.at + 2]
            if escape == "u":
                char, size = _unicode_escape(text[self.at : self.at + 12])
                if not size:
                    break
                pieces.append(char)
                self.at += size
            elif escape in _ESCAPES:
                pieces.append(_ESCAPES[escape])
                self.at += 2
            elif not escape:
                break
            else:
                raise ValueError(f"bad escape \\{escape} at {self.at}")
        self.at = len(text)
        return "".join(pieces), False

    def scalar(self) -> Any:
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in _WHITESPACE + ",]}":
            self.at += 1
        if self.at >= len(self.text):
            raise _Incomplete  # a number or literal that may still grow
        token = self.text[start : self.at]
        if token in _LITERALS:
            return _LITERALS[token]
        return json.loads(token)


def _unicode_escape(text: str) -> tuple[str, int]:
    """The character a `\\uXXXX` escape (or a surrogate pair of them) at the start of `text`
    stands for, and how many characters it took; ("", 0) when the text is cut inside it."""
    if len(text) < 6:
        return "", 0
    code = int(text[2:6], 16)
    if 0xD800 <= code < 0xDC00:
        if len(text) < 12:
            return "", 0
        if text[6:8] == "\\u" and 0xDC00 <= (low := int(text[8:12], 16)) < 0xE000:
            return chr(0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)), 12
    return chr(code), 6


def parse_partial_json(text: str) -> Any:
    """The value a prefix of JSON text describes so far (None when nothing is readable yet).

    Raises ValueError when the text cannot be the start of any JSON document.
    """
    reader = _Reader(text)
    try:
        value, done = reader.value()
    except _Incomplete:
        return _complete_scalar(text)
    except json.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None
    if done:
        reader.skip()
        if reader.at < len(text):
            raise ValueError(f"unexpected text after the JSON value at {reader.at}")
    return value


def _complete_scalar(text: str) -> Any:
    """A whole document that is one bare scalar has nothing after it to prove it complete."""
    token = text.strip()
    if token in _LITERALS:
        return _LITERALS[token]
    try:
        return json.loads(token) if token else None
    except json.JSONDecodeError:
        return None
