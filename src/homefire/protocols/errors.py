"""Turn every error envelope local servers use into one homefire error.

Envelopes seen in the wild: `{"error": {"message", "type", "code", ...}}` (OpenAI, llama.cpp,
LocalAI, vLLM), `{"error": "text"}` (Ollama, some LM Studio errors), `{"detail": ...}`
(Xinference/FastAPI), flat `{"object": "error", "message", ...}` (old vLLM) and plain text.
Two answers come from something in front of the model server rather than the server itself,
and say so: an HTML page (a proxy's 502, a login page), and a redirect.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from homefire.errors import (
    APIStatusError,
    AuthenticationError,
    ContextOverflowError,
    GenerationError,
    HomefireError,
    ModelNotFoundError,
    ServerBusyError,
)

_OVERFLOW_WORDS = re.compile(
    r"exceed[s]? (the )?(available )?context|context (length|size|window)|maximum context length"
    r"|too long|out_of_context",
    re.IGNORECASE,
)
_COUNTS = re.compile(r"(\d+)\s*tokens?\D+?(\d+)\s*tokens?", re.IGNORECASE)


_HTML_START = re.compile(rb"\s*(<!--.*?-->\s*)*<(!doctype\s+html|html[\s>]|head[\s>])", re.I | re.S)
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.I | re.S)


def html_title(body: Any) -> str | None:
    """The <title> of a body that is an HTML page ("" for a page without one); None when the
    body is not HTML."""
    if isinstance(body, str):
        body = body.encode("utf-8", "replace")
    if not isinstance(body, bytes) or not _HTML_START.match(body[:4096]):
        return None
    found = _HTML_TITLE.search(body[:65536])
    if found is None:
        return ""
    title = " ".join(found.group(1).decode("utf-8", "replace").split())
    return title[:200]


def html_page(title: str) -> str:
    """How an HTML answer is described: the page comes from whatever answers in front of the
    model server (a reverse proxy, a login portal), not from the server itself."""
    named = f" titled {title!r}" if title else ""
    return (
        f"an HTML page{named}, not an answer of the model server (a proxy or web server in "
        "front of it answered; check base_url and that the server behind it is running)"
    )


def redirect_message(status: int, location: str | None, url: str | None) -> str:
    where = f" {url}" if url else ""
    target = f" to {location}" if location else " (without saying where)"
    hint = "; point base_url there" if location else "; check base_url"
    return f"the server at{where} redirected (HTTP {status}){target}{hint}"


def error_details(body: Any) -> tuple[str, str | None, Mapping[str, Any]]:
    """(message, type, the error object) from any envelope; text bodies give their first line,
    HTML pages their title."""
    if isinstance(body, Mapping):
        error = body.get("error")
        if isinstance(error, Mapping):
            message = error.get("message") or error.get("type") or str(dict(error))
            return str(message), _optional_str(error.get("type")), error
        if isinstance(error, str):
            return error, None, body
        detail = body.get("detail")
        if detail is not None:
            return (detail if isinstance(detail, str) else str(detail)), None, body
        if body.get("object") == "error" or "message" in body:
            return str(body.get("message", "")), _optional_str(body.get("type")), body
        return str(dict(body))[:500], None, body
    title = html_title(body)
    if title is not None:
        return html_page(title), None, {}
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    text = str(body or "").strip()
    return (text.splitlines()[0][:500] if text else "(empty body)"), None, {}


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def context_overflow(
    message: str, kind: str | None, error: Mapping[str, Any]
) -> ContextOverflowError | None:
    """A ContextOverflowError when the error says the prompt does not fit, else None."""
    prompt_tokens = _int(error.get("n_prompt_tokens"))
    n_ctx = _int(error.get("n_ctx"))
    if kind != "exceed_context_size_error" and not _OVERFLOW_WORDS.search(message):
        return None
    if prompt_tokens is None or n_ctx is None:
        counts = _COUNTS.search(message)
        if counts:
            prompt_tokens, n_ctx = int(counts.group(1)), int(counts.group(2))
    return ContextOverflowError(prompt_tokens, n_ctx, detail=message)


def error_from_response(
    status: int, body: Any, *, url: str | None = None, location: str | None = None
) -> HomefireError:
    """The homefire error for an HTTP error status (or a redirect, with its `location`) and its
    (parsed or raw) body."""
    if 300 <= status < 400:
        return APIStatusError(
            redirect_message(status, location, url), url=url, status=status, body=body
        )
    message, kind, error = error_details(body)
    where = f" from {url}" if url else ""
    if status in (400, 413, 500) and (overflow := context_overflow(message, kind, error)):
        return overflow
    text = f"HTTP {status}{where}: {message}"
    if status in (401, 403):
        return AuthenticationError(
            f"{text}. Pass the server's key with api_key= (or fix the key you sent)",
            url=url,
            status=status,
            body=body,
        )
    if status == 404 and re.search(r"model", message, re.IGNORECASE):
        return ModelNotFoundError(
            f"{text}. List the server's models to see what it has",
            url=url,
            status=status,
            body=body,
        )
    if status in (408, 429, 502, 503, 504):
        return ServerBusyError(
            f"{text}. The server is busy or still loading; retry in a moment",
            url=url,
            status=status,
            body=body,
        )
    return APIStatusError(text, url=url, status=status, body=body)


def error_from_event(
    payload: Any, *, url: str | None = None, in_stream: bool = False
) -> HomefireError:
    """The error for an in-band `{"error": ...}` inside a successful answer: a whole body, or
    (`in_stream`) one event of a stream that had started fine."""
    message, kind, error = error_details(payload)
    overflow = context_overflow(message, kind, error)
    if overflow is not None:
        return overflow
    status = _int(error.get("code"))
    if status is not None and status >= 400:
        return error_from_response(status, payload, url=url)
    where = f" from {url}" if url else ""
    if in_stream:
        return GenerationError(f"the backend reported an error mid-stream{where}: {message}")
    return GenerationError(
        f"the backend{where} answered with a success status but an error body: {message}"
    )
