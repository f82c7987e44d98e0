"""The OpenAI-compatible dialect seen from the server's side: requests in, answers out.

`homefire serve` reads client requests with these functions and writes its answers with
them. Pure functions, no I/O. A request field is either honoured (mapped onto homefire's
generation options, or passed to the backend as one of llama.cpp's known extras), ignored
because it only describes the caller (`user`, `metadata`, ...), or refused with a clear error:
nothing a client asks for is dropped without a word.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from homefire.errors import InvalidParameterError, NotSupportedError
from homefire.types import ChatMessage, ChatResponse, CompletionResponse, Timings, Usage

# OpenAI's names for homefire's generation options (the first name found wins).
_OPTION_FIELDS = {
    "temperature": ("temperature",),
    "max_tokens": ("max_completion_tokens", "max_tokens", "n_predict"),
    "top_p": ("top_p",),
    "top_k": ("top_k",),
    "min_p": ("min_p",),
    "repeat_penalty": ("repeat_penalty",),
    "seed": ("seed",),
    "stop": ("stop",),
}
_OPTION_NAMES = frozenset(name for names in _OPTION_FIELDS.values() for name in names)

# llama.cpp's own request fields: they reach the backend untouched (as `extra`).
PASSED_THROUGH = frozenset(
    {
        "presence_penalty",
        "frequency_penalty",
        "logit_bias",
        "typical_p",
        "repeat_last_n",
        "mirostat",
        "mirostat_tau",
        "mirostat_eta",
        "dynatemp_range",
        "dynatemp_exponent",
        "top_n_sigma",
        "xtc_probability",
        "xtc_threshold",
        "dry_multiplier",
        "dry_base",
        "dry_allowed_length",
        "dry_penalty_last_n",
        "dry_sequence_breakers",
        "min_keep",
        "n_keep",
        "ignore_eos",
        "cache_prompt",
        "id_slot",
        "samplers",
        "grammar",
        "t_max_predict_ms",
    }
)
# Fields that describe the caller or the transport, not the answer.
_IGNORED = frozenset(
    {"model", "user", "metadata", "store", "service_tier", "prompt_cache_key", "safety_identifier"}
)
_ROLES = {
    "system": "system",
    "developer": "system",
    "user": "user",
    "assistant": "assistant",
    "tool": "tool",
}


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """A chat or completion request, read: what to send the LLM and how to answer."""

    options: dict[str, Any]
    stream: bool = False
    include_usage: bool = False
    messages: list[ChatMessage] = field(default_factory=list)
    prompt: str = ""


def _object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidParameterError("body", f"must be a JSON object, got {type(body).__name__}")
    return body


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidParameterError(name, f"must be true or false, got {value!r}")
    return value


def _refuse_unhonoured(body: Mapping[str, Any]) -> None:
    """Standard OpenAI fields that would change the answer in ways homefire cannot give."""
    n = body.get("n")
    if n not in (None, 1):
        raise NotSupportedError(f"n={n!r}: homefire serve answers with one choice; send n=1")
    for name in ("logprobs", "top_logprobs", "echo", "audio", "prediction", "suffix"):
        if body.get(name) not in (None, False, 0, ""):
            raise NotSupportedError(f"{name!r} is not supported by homefire serve; leave it out")
    if body.get("best_of") not in (None, 1):
        raise NotSupportedError("'best_of' is not supported by homefire serve; leave it out")
    if body.get("modalities") not in (None, ["text"]):
        raise NotSupportedError("homefire serve answers in text only: send modalities ['text']")
    for name in ("functions", "function_call"):
        if name in body:
            raise NotSupportedError(f"{name!r} is the retired form of tools: send tools instead")
    for name in ("chat_template_kwargs", "reasoning_effort", "reasoning_format"):
        if body.get(name) is not None:
            raise NotSupportedError(f"{name!r} is not supported by homefire serve; leave it out")


def _options(body: Mapping[str, Any], handled: frozenset[str]) -> dict[str, Any]:
    """The generation options a request sets; unknown fields are refused by name."""
    options: dict[str, Any] = {}
    for option, names in _OPTION_FIELDS.items():
        for name in names:
            if body.get(name) is not None:
                options[option] = body[name]
                break
    extra = {k: v for k, v in body.items() if k in PASSED_THROUGH and v is not None}
    if extra:
        options["extra"] = extra
    unknown = sorted(set(body) - handled - _OPTION_NAMES - PASSED_THROUGH - _IGNORED)
    if unknown:
        raise InvalidParameterError(
            unknown[0], "is not a request field homefire serve knows; leave it out"
        )
    schema = _schema(body)
    if schema is not None:
        options["json_schema"] = schema
    return options


# Fields read by the functions above, or (`parallel_tool_calls`) accepted as they are:
# homefire's tool calling makes one call per answer, which both of its values allow.
_READ_ELSEWHERE = frozenset(
    {
        "n",
        "logprobs",
        "top_logprobs",
        "echo",
        "audio",
        "prediction",
        "suffix",
        "best_of",
        "modalities",
        "functions",
        "function_call",
        "chat_template_kwargs",
        "reasoning_effort",
        "reasoning_format",
        "parallel_tool_calls",
        "stream_options",
        "stream",
        "response_format",
        "json_schema",
    }
)


def _schema(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """The output constraint: `response_format` (json_schema or json_object, optionally with
    llama.cpp's `schema`), or llama.cpp's top-level `json_schema`."""
    if body.get("json_schema") is not None:
        return _schema_object("json_schema", body["json_schema"])
    fmt = body.get("response_format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping):
        raise InvalidParameterError("response_format", "must be an object with a 'type'")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        schema = fmt.get("schema")
        return {"type": "object"} if schema is None else _schema_object("response_format", schema)
    if kind == "json_schema":
        spec = fmt.get("json_schema")
        if not isinstance(spec, Mapping) or spec.get("schema") is None:
            raise InvalidParameterError(
                "response_format", "json_schema needs {'json_schema': {'schema': {...}}}"
            )
        return _schema_object("response_format", spec["schema"])
    raise InvalidParameterError(
        "response_format", f"type must be text, json_object or json_schema, got {kind!r}"
    )


def _schema_object(name: str, schema: Any) -> dict[str, Any]:
    if not isinstance(schema, Mapping):
        raise InvalidParameterError(name, "the schema must be a JSON object")
    return dict(schema)


def _stream_flags(body: Mapping[str, Any]) -> tuple[bool, bool]:
    stream = _flag(body, "stream")
    stream_options = body.get("stream_options")
    if stream_options is None:
        return stream, False
    if not isinstance(stream_options, Mapping):
        raise InvalidParameterError("stream_options", "must be an object")
    return stream, _flag(stream_options, "include_usage")


# --- chat -----------------------------------------------------------------------------------


def _unicode(text: str, name: str) -> str:
    """`text`, refused when it holds a lone surrogate (JSON can carry one; no model reads it)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidParameterError(
            name, "holds a lone UTF-16 surrogate, which is not text"
        ) from None
    return text


def _content(value: Any, index: int) -> str | None:
    """Message content: a string, null, or a list of text parts (joined)."""
    if value is None:
        return value
    if isinstance(value, str):
        return _unicode(value, "messages")
    if not isinstance(value, list):
        raise InvalidParameterError(
            "messages", f"message {index}: content must be a string or a list of parts"
        )
    texts = []
    for part in value:
        if not isinstance(part, Mapping) or part.get("type") != "text":
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            raise NotSupportedError(
                f"message {index} has a {kind!r} part: homefire serve takes text parts only"
            )
        text = part.get("text")
        if not isinstance(text, str):
            raise InvalidParameterError("messages", f"message {index}: a text part needs 'text'")
        texts.append(_unicode(text, "messages"))
    return "\n".join(texts)


def _message(value: Any, index: int) -> ChatMessage:
    if not isinstance(value, Mapping):
        raise InvalidParameterError("messages", f"message {index} must be an object")
    role = value.get("role")
    role = _ROLES.get(role) if isinstance(role, str) else None
    if role is None:
        raise InvalidParameterError(
            "messages", f"message {index}: role must be one of {', '.join(_ROLES)}"
        )
    wire = {
        "role": role,
        "content": _content(value.get("content"), index),
        "tool_calls": value.get("tool_calls"),
        "tool_call_id": value.get("tool_call_id"),
        "name": value.get("name"),
    }
    for name in ("tool_call_id", "name"):
        if wire[name] is not None and not isinstance(wire[name], str):
            raise InvalidParameterError("messages", f"message {index}: {name} must be a string")
    if wire["tool_calls"] is not None and not isinstance(wire["tool_calls"], list):
        raise InvalidParameterError("messages", f"message {index}: tool_calls must be a list")
    return ChatMessage.from_any(wire)


def _tool_choice(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        function = value.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return str(function["name"])
    raise InvalidParameterError(
        "tool_choice",
        'must be "auto", "none", "required" or {"type": "function", "function": {"name": ...}}',
    )


_CHAT_FIELDS = frozenset({"messages", "tools", "tool_choice"}) | _READ_ELSEWHERE


def parse_chat_request(body: Any) -> GenerationRequest:
    """A `/v1/chat/completions` body as messages and options for `LLM.chat`."""
    request = _object(body)
    _refuse_unhonoured(request)
    messages = request.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidParameterError("messages", "must be a non-empty list of messages")
    options = _options(request, _CHAT_FIELDS)
    tools = request.get("tools")
    if tools:
        if not isinstance(tools, list):
            raise InvalidParameterError("tools", "must be a list of tool specs")
        options["tools"] = tools
        choice = _tool_choice(request.get("tool_choice"))
        if choice is not None:
            options["tool_choice"] = choice
    elif request.get("tool_choice") not in (None, "none", "auto"):
        raise InvalidParameterError("tool_choice", "only makes sense with tools")
    stream, include_usage = _stream_flags(request)
    return GenerationRequest(
        options,
        stream,
        include_usage,
        messages=[_message(m, i) for i, m in enumerate(messages)],
    )


_COMPLETION_FIELDS = frozenset({"prompt"}) | _READ_ELSEWHERE


def parse_completion_request(body: Any) -> GenerationRequest:
    """A `/v1/completions` body: one text prompt (or a list holding one) and options."""
    request = _object(body)
    _refuse_unhonoured(request)
    prompt = request.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise InvalidParameterError(
            "prompt", "must be a string (homefire serve answers one text prompt per request)"
        )
    options = _options(request, _COMPLETION_FIELDS)
    stream, include_usage = _stream_flags(request)
    return GenerationRequest(options, stream, include_usage, prompt=_unicode(prompt, "prompt"))


def parse_embeddings_request(body: Any) -> tuple[list[str], bool]:
    """(the texts, whether vectors go back base64-encoded) from a `/v1/embeddings` body."""
    request = _object(body)
    unknown = sorted(set(request) - {"input", "model", "encoding_format", "user", "dimensions"})
    if unknown:
        raise InvalidParameterError(unknown[0], "is not an embeddings field; leave it out")
    texts = request.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidParameterError("input", "must be a string or a non-empty list of strings")
    encoding = request.get("encoding_format", "float")
    if encoding not in ("float", "base64", None):
        raise InvalidParameterError("encoding_format", "must be 'float' or 'base64'")
    if request.get("dimensions") is not None:
        raise NotSupportedError("'dimensions' is not supported: the model's vectors come whole")
    return [_unicode(t, "input") for t in texts], encoding == "base64"


# --- answers --------------------------------------------------------------------------------


def usage_to_wire(usage: Usage | None) -> dict[str, Any]:
    usage = usage or Usage()
    wire: dict[str, Any] = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens is not None:
        wire["prompt_tokens_details"] = {"cached_tokens": usage.cached_tokens}
    return wire


def timings_to_wire(timings: Timings) -> dict[str, Any]:
    """llama.cpp's `timings` object, which clients such as `hf.Llamafile` read."""
    names = {
        "cache_n": timings.cached_tokens,
        "prompt_n": timings.prompt_tokens,
        "prompt_ms": timings.prompt_ms,
        "predicted_n": timings.generated_tokens,
        "predicted_ms": timings.generation_ms,
        "predicted_per_second": timings.tokens_per_second,
    }
    return {name: value for name, value in names.items() if value is not None}


def _envelope(kind: str, request_id: str, model: str, created: int) -> dict[str, Any]:
    return {"id": request_id, "object": kind, "created": created, "model": model}


def _tool_calls(response: ChatResponse, *, indexed: bool) -> list[dict[str, Any]]:
    calls = []
    for index, call in enumerate(response.message.tool_calls):
        wire: dict[str, Any] = {
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
        }
        calls.append({"index": index, **wire} if indexed else wire)
    return calls


def _finish_reason(response: ChatResponse | CompletionResponse) -> str:
    if isinstance(response, ChatResponse) and response.message.tool_calls:
        return "tool_calls"
    return response.finish_reason or "stop"


def _with_stats(body: dict[str, Any], response: ChatResponse | CompletionResponse) -> None:
    body["usage"] = usage_to_wire(response.usage)
    if response.timings is not None:
        body["timings"] = timings_to_wire(response.timings)


def chat_answer(response: ChatResponse, *, request_id: str, model: str, created: int) -> Any:
    """A whole `chat.completion` body."""
    message: dict[str, Any] = {"role": "assistant", "content": response.message.content}
    if response.message.tool_calls:
        message["tool_calls"] = _tool_calls(response, indexed=False)
        message["content"] = response.message.content or None
    if response.message.reasoning:
        message["reasoning_content"] = response.message.reasoning
    body = _envelope("chat.completion", request_id, model, created)
    body["choices"] = [{"index": 0, "message": message, "finish_reason": _finish_reason(response)}]
    _with_stats(body, response)
    return body


class ChatChunks:
    """`chat.completion.chunk` bodies for one streamed answer, in the order clients expect:
    the role, content (and reasoning) pieces, tool calls, the finish reason with llama.cpp's
    timings, and usage when asked for."""

    def __init__(self, *, request_id: str, model: str, created: int, include_usage: bool) -> None:
        self._envelope = _envelope("chat.completion.chunk", request_id, model, created)
        self._include_usage = include_usage

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return {**self._envelope, "choices": [choice]}

    def first(self) -> dict[str, Any]:
        return self._chunk({"role": "assistant", "content": ""})

    def piece(self, response: ChatResponse) -> list[dict[str, Any]]:
        """The chunks one streamed response adds (none when it adds nothing)."""
        out = []
        if response.reasoning_delta:
            out.append(self._chunk({"reasoning_content": response.reasoning_delta}))
        if response.delta:
            out.append(self._chunk({"content": response.delta}))
        return out

    def last(self, response: ChatResponse) -> list[dict[str, Any]]:
        """The closing chunks, from the stream's final response."""
        out = self.piece(response)
        if response.message.tool_calls:
            out.append(self._chunk({"tool_calls": _tool_calls(response, indexed=True)}))
        finish = self._chunk({}, _finish_reason(response))
        if response.timings is not None:
            finish["timings"] = timings_to_wire(response.timings)
        out.append(finish)
        if self._include_usage:
            out.append({**self._envelope, "choices": [], "usage": usage_to_wire(response.usage)})
        return out


def completion_answer(
    response: CompletionResponse, *, request_id: str, model: str, created: int
) -> Any:
    """A whole `text_completion` body."""
    body = _envelope("text_completion", request_id, model, created)
    body["choices"] = [
        {
            "index": 0,
            "text": response.text,
            "logprobs": None,
            "finish_reason": _finish_reason(response),
        }
    ]
    _with_stats(body, response)
    return body


def completion_chunk(
    response: CompletionResponse,
    *,
    request_id: str,
    model: str,
    created: int,
    final: bool,
) -> dict[str, Any]:
    """One streamed `text_completion` chunk; the final one carries the finish reason."""
    body = _envelope("text_completion", request_id, model, created)
    body["choices"] = [
        {
            "index": 0,
            "text": response.delta or "",
            "logprobs": None,
            "finish_reason": _finish_reason(response) if final else None,
        }
    ]
    if final and response.timings is not None:
        body["timings"] = timings_to_wire(response.timings)
    return body


def usage_chunk(
    usage: Usage | None, *, kind: str, request_id: str, model: str, created: int
) -> dict[str, Any]:
    """The chunk after the last choice that carries usage (`stream_options.include_usage`)."""
    return {
        **_envelope(kind, request_id, model, created),
        "choices": [],
        "usage": usage_to_wire(usage),
    }


def embeddings_answer(
    vectors: Sequence[Sequence[float]], *, model: str, prompt_tokens: int, as_base64: bool
) -> dict[str, Any]:
    """An embeddings `list`; base64 vectors are little-endian float32, as OpenAI sends them."""
    data = []
    for index, vector in enumerate(vectors):
        embedding: Any = list(vector)
        if as_base64:
            packed = struct.pack(f"<{len(vector)}f", *vector)
            embedding = base64.b64encode(packed).decode("ascii")
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
    }


def error_answer(status: int, message: str, kind: str, **details: Any) -> dict[str, Any]:
    """The error envelope llama.cpp and OpenAI use: `{"error": {"code", "message", "type"}}`."""
    return {"error": {"code": status, "message": message, "type": kind, **details}}
