"""Turn every error envelope local servers use into one homefire error.

Envelopes seen in the wild: `{"error": {"message", "type", "code", ...}}` (OpenAI, llama.cpp,
LocalAI, vLLM), `{"error": "text"}` (Ollama, some LM Studio errors), `{"detail": ...}`
(Xinference/FastAPI), flat `{"object": "error", "message", ...}` (old vLLM) and plain text.
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


def error_details(body: Any) -> tuple[str, str | None, Mapping[str, Any]]:
    """(message, type, the error object) from any envelope; text bodies give their first line."""
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


def error_from_response(status: int, body: Any, *, url: str | None = None) -> HomefireError:
    """The homefire error for an HTTP error status and its (parsed or raw) body."""
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
