"""Deterministic "generation" for the fakes, and the OpenAI-compatible answers built from it.

A token is a whitespace-separated word. The reply echoes the last user message, so tests can
tell that the right messages arrived; `max_tokens` cuts it (finish reason `length`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from fakes._server import Reply, sse


def count_tokens(text: str) -> int:
    return len(text.split())


def prompt_of(messages: Sequence[Mapping[str, Any]]) -> str:
    return " ".join(str(m.get("content") or "") for m in messages)


def reply_words(prompt: str, max_tokens: int | None) -> tuple[list[str], str]:
    """The answer's tokens (with their leading spaces) and the finish reason."""
    last = prompt.split()[-6:] if prompt.split() else ["nothing"]
    words = ["You", "said:", *last]
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    if max_tokens is not None and max_tokens < len(pieces):
        return pieces[:max_tokens], "length"
    return pieces, "stop"


def last_user(messages: list[Mapping[str, Any]]) -> str:
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def chat_reply(
    body: Mapping[str, Any], model: str, extra: Mapping[str, Any] | None = None
) -> Reply:
    """A `/v1/chat/completions` answer (streamed when asked) for an already validated body."""
    messages = body["messages"]
    pieces, reason = reply_words(last_user(messages), body.get("max_tokens"))
    prompt_tokens = count_tokens(prompt_of(messages))
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(pieces),
        "total_tokens": prompt_tokens + len(pieces),
    }
    base = {"id": "chatcmpl-fake", "created": int(time.time()), "model": model}
    if not body.get("stream"):
        answer = {
            **base,
            "object": "chat.completion",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": "".join(pieces)},
                    "finish_reason": reason,
                }
            ],
            "usage": usage,
            **(extra or {}),
        }
        return Reply(200, answer)
    include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

    def chunks() -> Iterator[dict[str, Any]]:
        first = {"role": "assistant", "content": ""}
        yield {**base, "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": first}]}
        for piece in pieces:
            delta = {"content": piece}
            yield {
                **base,
                "object": "chat.completion.chunk",
                "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
            }
        yield {
            **base,
            "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {}, "finish_reason": reason}],
        }
        if include_usage:
            yield {**base, "object": "chat.completion.chunk", "choices": [], "usage": usage}

    return Reply(200, stream=sse(chunks()), content_type="text/event-stream")


def completion_reply(body: Mapping[str, Any], model: str) -> Reply:
    """A `/v1/completions` answer (streamed when asked)."""
    prompt = str(body["prompt"])
    pieces, reason = reply_words(prompt, body.get("max_tokens"))
    prompt_tokens = count_tokens(prompt)
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(pieces),
        "total_tokens": prompt_tokens + len(pieces),
    }
    base = {
        "id": "cmpl-fake",
        "created": int(time.time()),
        "model": model,
        "object": "text_completion",
    }
    if not body.get("stream"):
        choice = {"index": 0, "text": "".join(pieces), "finish_reason": reason}
        return Reply(200, {**base, "choices": [choice], "usage": usage})

    def chunks() -> Iterator[dict[str, Any]]:
        for piece in pieces:
            yield {**base, "choices": [{"index": 0, "text": piece, "finish_reason": None}]}
        yield {**base, "choices": [{"index": 0, "text": "", "finish_reason": reason}]}
        if (body.get("stream_options") or {}).get("include_usage"):
            yield {**base, "choices": [], "usage": usage}

    return Reply(200, stream=sse(chunks()), content_type="text/event-stream")


def schema_instance(schema: Mapping[str, Any]) -> Any:
    """The simplest value valid under a JSON schema, standing in for constrained decoding."""
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf", "allOf"):
        if schema.get(key):
            return schema_instance(schema[key][0])
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = kind[0]
    if kind == "object" or "properties" in schema:
        properties = schema.get("properties") or {}
        return {
            name: schema_instance(properties.get(name, {})) for name in schema.get("required", [])
        }
    if kind == "array":
        return [schema_instance(schema.get("items") or {})] * int(schema.get("minItems", 0))
    if kind in ("integer", "number"):
        return schema.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return "x" * int(schema.get("minLength", 1))
