"""Turn every error envelope local servers use into one homefire error.

Envelopes seen in the wild: `{"error": {"message", "type", "code", ...}}` (OpenAI, llama.cpp,
LocalAI, vLLM), `{"error": "text"}` (Ollama, some LM Studio errors), `{"detail": ...}`
(Xinference/FastAPI), flat `{"object": "error", "message", ...}` (old vLLM) and plain text.
Two answers come from something in front of the model server rather than the server itself,
and say so: an HTML page (a proxy's 502, a login page), and a redirect.
"""

from __future__ import annotations

import json
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
    r"|maximum model length|too long|out_of_context",
    re.IGNORECASE,
)
_OVERFLOW_KINDS = frozenset({"exceed_context_size_error", "context_length_exceeded"})

# Each server words its overflow differently and puts its numbers in its own order, so each
# number is read from the words around it, never from its position:
#   llama.cpp   "request (631 tokens) exceeds the available context size (256 tokens), ..."
#   llama-cpp-python, vLLM <= 0.10, OpenAI
#               "This model's maximum context length is 2048 tokens. However, you requested
#                2539 tokens (2531 in the messages, 8 in the completion). ..."
#               "..., however you requested 2539 tokens (2531 in your prompt; 8 for the ...)"
#   vLLM        "... maximum context length is 4096 tokens. However, your request has 5000
#                input tokens." / "... your prompt contains at least 4097 input tokens ..."
#               "You passed 5000 input tokens and requested 16 output tokens. However, the
#                model's context length is only 4096 tokens, ..."
#               "The decoder prompt (length 5000) is longer than the maximum model length of
#                4096." / "Prompt length of 5000 is longer than the maximum model length of 4096."
#   LM Studio   "Trying to keep the first 6269 tokens when context the overflows. However, the
#                model is loaded with context length of only 4096 tokens, ..."
#   Ollama      llama.cpp's envelope as a string, or "the input length exceeds the context
#               length" (no numbers)
_WINDOW_NUMBER = re.compile(
    r"maximum context length is (\d+)|context size \((\d+) tokens?\)"
    r"|context length (?:of|is) only (\d+)|maximum model length of (\d+)"
    r"|context window (?:of|is) (\d+)|num_ctx=(\d+)",
    re.IGNORECASE,
)
_PROMPT_NUMBER = re.compile(
    r"request \((\d+) tokens?\)|(\d+) in the messages|(\d+) in your prompt"
    r"|request has (\d+) input tokens|prompt contains (?:at least )?(\d+) input tokens"
    r"|passed (\d+) input tokens|keep the first (\d+) tokens|prompt \(length (\d+)\)"
    r"|prompt length of (\d+)|messages resulted in (\d+) tokens",
    re.IGNORECASE,
)


_LOADING = re.compile(r"(?:^|[^a-z])loading|preload|\bstarting\b", re.IGNORECASE)


def is_loading(body: Any) -> bool:
    """Whether a 503 answer says the model is still loading ("Loading model", "model_loading",
    "Model is loading, please retry later", "startup preload in progress"), rather than busy."""
    message, kind, error = error_details(body)
    words = " ".join(
        str(part)
        for part in (message, kind, error.get("code"), error.get("status"), error.get("reason"))
        if part
    )
    return _LOADING.search(words) is not None


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
            nested = _embedded_envelope(error)
            return error_details(nested) if nested is not None else (error, None, body)
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


def _embedded_envelope(text: str) -> Mapping[str, Any] | None:
    """An error envelope sent as a JSON string inside another (Ollama passes its runner's
    llama.cpp error on this way)."""
    if not text.startswith("{") or not text.endswith("}"):
        return None
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, Mapping) and "error" in value else None


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _labelled(pattern: re.Pattern[str], message: str) -> int | None:
    """The number the first phrase of `pattern` found in `message` labels."""
    found = pattern.search(message)
    if found is None:
        return None
    return int(next(group for group in found.groups() if group is not None))


def context_overflow(
    message: str, kind: str | None, error: Mapping[str, Any]
) -> ContextOverflowError | None:
    """A ContextOverflowError when the error says the prompt does not fit, else None.

    The counts come from the server's own fields where it sends them (llama.cpp), else from
    the words each number stands next to; a count no phrase labels stays unknown.
    """
    marked = kind in _OVERFLOW_KINDS or _optional_str(error.get("code")) in _OVERFLOW_KINDS
    if not marked and not _OVERFLOW_WORDS.search(message):
        return None
    prompt_tokens = _int(error.get("n_prompt_tokens"))
    if prompt_tokens is None:
        prompt_tokens = _labelled(_PROMPT_NUMBER, message)
    n_ctx = _int(error.get("n_ctx"))
    if n_ctx is None:
        n_ctx = _labelled(_WINDOW_NUMBER, message)
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
