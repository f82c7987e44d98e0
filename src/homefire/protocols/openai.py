"""The OpenAI-compatible wire dialect: our types to request bodies, and bodies back to our types.

Pure functions, no I/O. Also parses what llama.cpp adds on top (`timings`,
`reasoning_content`) since most local servers (and the in-process engines) speak this dialect.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from homefire.errors import GenerationError, ProtocolError, StreamInterruptedError
from homefire.options import GenerationOptions
from homefire.protocols.errors import error_from_event
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
    ModelInfo,
    Timings,
    ToolCall,
    Usage,
)

SchemaField = Literal["json_schema", "json_object", "llamacpp"]
"""How a request carries a JSON schema: OpenAI's `response_format` of type `json_schema`,
the older `response_format` `{"type": "json_object", "schema": ...}` (llama-cpp-python, and
llama.cpp of every generation), or llama.cpp's own top-level `json_schema` field (the only
one its completion routes read)."""

# homefire's option names as OpenAI-compatible servers spell them (the extras are accepted
# by llama.cpp, LM Studio, LocalAI, vLLM and Xinference; strict servers ignore or reject them).
_WIRE_NAMES = {
    "temperature": "temperature",
    "max_tokens": "max_tokens",
    "top_p": "top_p",
    "top_k": "top_k",
    "min_p": "min_p",
    "repeat_penalty": "repeat_penalty",
    "seed": "seed",
}


def sampling_fields(options: GenerationOptions) -> dict[str, Any]:
    """Request fields for the sampling options (stop included), before `extra`."""
    body: dict[str, Any] = {}
    for name, wire in _WIRE_NAMES.items():
        value = getattr(options, name)
        if value is not None:
            body[wire] = value
    if options.stop:
        body["stop"] = list(options.stop)
    return body


def message_to_wire(message: ChatMessage) -> dict[str, Any]:
    """One message as OpenAI expects it: tool-call arguments as JSON strings, and no null
    content (an assistant turn that only called tools has ""; some servers refuse null)."""
    out: dict[str, Any] = {"role": message.role.value, "content": message.content or ""}
    if message.tool_calls:
        out["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": json.dumps(call.arguments)},
            }
            for call in message.tool_calls
        ]
    if message.tool_call_id is not None:
        out["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        out["name"] = message.name
    return out


def _tool_choice(choice: str) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    return {"type": "function", "function": {"name": choice}}


def build_chat_body(
    messages: Sequence[ChatMessage],
    options: GenerationOptions,
    *,
    model: str | None = None,
    stream: bool = False,
    schema_field: SchemaField = "json_schema",
) -> dict[str, Any]:
    body: dict[str, Any] = {"messages": [message_to_wire(m) for m in messages]}
    if model is not None:
        body["model"] = model
    body.update(sampling_fields(options))
    if options.tools:
        body["tools"] = list(options.tools)
    if options.tool_choice is not None:
        body["tool_choice"] = _tool_choice(options.tool_choice)
    return _finish_body(body, options, stream, schema_field)


def schema_fields(schema: Mapping[str, Any], field: SchemaField) -> dict[str, Any]:
    """The request fields that carry `schema` the way `field` says."""
    if field == "llamacpp":
        return {"json_schema": dict(schema)}
    if field == "json_object":
        return {"response_format": {"type": "json_object", "schema": dict(schema)}}
    return {
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": dict(schema), "strict": True},
        }
    }


def _finish_body(
    body: dict[str, Any], options: GenerationOptions, stream: bool, schema_field: SchemaField
) -> dict[str, Any]:
    """The fields chat and completion bodies share after their own: the output constraint,
    streaming with usage, and `extra` last so it can override anything."""
    if options.json_schema is not None:
        body.update(schema_fields(options.json_schema, schema_field))
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(options.extra)
    return body


def build_completion_body(
    prompt: str,
    options: GenerationOptions,
    *,
    model: str | None = None,
    stream: bool = False,
    schema_field: SchemaField = "json_schema",
) -> dict[str, Any]:
    body: dict[str, Any] = {"prompt": prompt}
    if model is not None:
        body["model"] = model
    body.update(sampling_fields(options))
    return _finish_body(body, options, stream, schema_field)


# --- parsing ------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_usage(body: Mapping[str, Any]) -> Usage | None:
    usage = body.get("usage")
    if not isinstance(usage, Mapping):
        return None
    details = usage.get("prompt_tokens_details")
    cached = _count(details.get("cached_tokens")) if isinstance(details, Mapping) else None
    return Usage(
        prompt_tokens=_count(usage.get("prompt_tokens")) or 0,
        completion_tokens=_count(usage.get("completion_tokens")) or 0,
        cached_tokens=cached,
    )


def parse_timings(body: Mapping[str, Any]) -> Timings | None:
    """llama.cpp's `timings` object (also sent by llamafile and the in-process engines)."""
    timings = body.get("timings")
    if not isinstance(timings, Mapping):
        return None
    return Timings(
        prompt_tokens=_count(timings.get("prompt_n")),
        cached_tokens=_count(timings.get("cache_n")),
        generated_tokens=_count(timings.get("predicted_n")),
        prompt_ms=_number(timings.get("prompt_ms")),
        generation_ms=_number(timings.get("predicted_ms")),
        tokens_per_second=_number(timings.get("predicted_per_second")),
    )


def parse_tool_arguments(arguments: Any, name: str) -> dict[str, Any]:
    """Tool arguments as an object, whether sent as a JSON string or an object."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    if arguments is None or arguments == "":
        return {}
    if isinstance(arguments, str):
        try:
            parsed = json.loads(arguments)
        except (ValueError, RecursionError) as exc:  # RecursionError: nested thousands deep
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else type(exc).__name__
            raise GenerationError(
                f"the model called tool {name!r} with arguments that are not valid JSON "
                f"({reason}): {arguments[:200]!r}"
            ) from None
        if isinstance(parsed, dict):
            return parsed
    raise GenerationError(
        f"the model called tool {name!r} with non-object arguments: {arguments!r}"
    )


def parse_tool_calls(raw: Any, *, start: int = 0) -> list[ToolCall]:
    """Tool calls in OpenAI's list shape (also Ollama's); arguments as a string or an object.

    Calls without an id are numbered from `start`: a stream that sends its calls in several
    pieces passes how many it already has, so ids stay unique.
    """
    if not isinstance(raw, list):
        return []
    calls = []
    for index, item in enumerate(raw, start):
        function = item.get("function") if isinstance(item, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ProtocolError(f"malformed tool call in response: {item!r}")
        name = function["name"]
        call_id = item.get("id") if isinstance(item.get("id"), str) else f"call_{index}"
        calls.append(ToolCall(call_id, name, parse_tool_arguments(function.get("arguments"), name)))
    return calls


def _reasoning(message: Mapping[str, Any]) -> str | None:
    value = message.get("reasoning_content")
    if value is None:
        value = message.get("reasoning")
    return value if isinstance(value, str) else None


def _first_choice(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ProtocolError(f"expected a JSON object, got {type(body).__name__}")
    if "error" in body:
        raise error_from_event(body)
    choices = body.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise ProtocolError("the response has no choices")
    return choices[0]


def parse_chat(body: Any) -> ChatResponse:
    choice = _first_choice(body)
    message = choice.get("message")
    if not isinstance(message, Mapping):
        raise ProtocolError("the response's choice has no message")
    content = message.get("content")
    return ChatResponse(
        message=ChatMessage(
            MessageRole.ASSISTANT,
            content if isinstance(content, str) else None,
            tool_calls=parse_tool_calls(message.get("tool_calls")),
            reasoning=_reasoning(message),
        ),
        usage=parse_usage(body),
        timings=parse_timings(body),
        finish_reason=_optional_str(choice.get("finish_reason")),
        raw=body,
    )


def parse_completion(body: Any) -> CompletionResponse:
    choice = _first_choice(body)
    text = choice.get("text")
    if not isinstance(text, str):
        raise ProtocolError("the completion's choice has no text")
    return CompletionResponse(
        text=text,
        usage=parse_usage(body),
        timings=parse_timings(body),
        finish_reason=_optional_str(choice.get("finish_reason")),
        raw=body,
    )


def _optional_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


class _StreamState:
    """What every stream tracks: finish reason, usage and timings, which may come late."""

    def __init__(self) -> None:
        self.finish_reason: str | None = None
        self.usage: Usage | None = None
        self.timings: Timings | None = None
        self.last_raw: Any = None

    def observe(self, chunk: Any) -> Mapping[str, Any] | None:
        """Record the chunk's stats and return its first choice (None for a stats-only chunk)."""
        if not isinstance(chunk, Mapping):
            raise ProtocolError(f"expected a JSON object in the stream, got {type(chunk).__name__}")
        if "error" in chunk:
            raise error_from_event(chunk, in_stream=True)
        self.last_raw = chunk
        if "usage" in chunk and (usage := parse_usage(chunk)) is not None:
            self.usage = usage
        if "timings" in chunk and (timings := parse_timings(chunk)) is not None:
            self.timings = timings
        choices = chunk.get("choices")
        if not choices:
            return None
        if not isinstance(choices, list):
            raise ProtocolError("malformed choices in the stream")
        choice = choices[0]
        if not isinstance(choice, Mapping):
            raise ProtocolError("malformed choice in the stream")
        if (reason := choice.get("finish_reason")) is not None:
            self.finish_reason = str(reason)
        return choice

    def check_finished(self, text: str) -> str:
        if self.finish_reason is None:
            raise StreamInterruptedError(
                "the stream ended before the backend said it was complete "
                f"(got {len(text)} characters); the answer is incomplete, retry the request",
                partial_text=text,
            )
        return self.finish_reason


class _AssistantText:
    """The assistant's content and reasoning as a chat stream adds to them (any dialect)."""

    def __init__(self) -> None:
        self._content = ""
        self._reasoning = ""

    def _add(self, piece: str, thought: str) -> bool:
        """Append a streamed piece; False when it carried no text at all."""
        if not piece and not thought:
            return False
        self._content += piece
        self._reasoning += thought
        return True

    def _message(self, tool_calls: list[ToolCall]) -> ChatMessage:
        return ChatMessage(
            MessageRole.ASSISTANT,
            self._content,
            tool_calls=tool_calls,
            reasoning=self._reasoning or None,
        )


class ChatStreamAssembler(_AssistantText):
    """Feed streamed chat chunks in order; get a ChatResponse per new piece, and a final one.

    The final response (from `finish()`) carries the finish reason, usage, timings and the
    assembled tool calls, since servers send usage after the finishing chunk.
    """

    def __init__(self) -> None:
        super().__init__()
        self._state = _StreamState()
        self._calls: dict[int, dict[str, Any]] = {}

    def feed(self, chunk: Any) -> ChatResponse | None:
        choice = self._state.observe(chunk)
        if choice is None:
            return None
        delta = choice.get("delta")
        if not isinstance(delta, Mapping):
            return None
        piece = delta.get("content")
        thought = _reasoning(delta)
        if delta.get("tool_calls"):
            self._add_tool_fragments(delta["tool_calls"])
        if not self._add(piece or "", thought or ""):
            return None
        return ChatResponse(
            message=self._message([]),
            delta=piece or "",
            reasoning_delta=thought,
            raw=chunk,
        )

    def _add_tool_fragments(self, fragments: Any) -> None:
        if not isinstance(fragments, list):
            raise ProtocolError("malformed tool_calls delta in the stream")
        for position, fragment in enumerate(fragments):
            if not isinstance(fragment, Mapping):
                raise ProtocolError("malformed tool_calls delta in the stream")
            index = fragment.get("index", position)
            slot = self._calls.setdefault(index, {"id": None, "name": "", "arguments": ""})
            if isinstance(fragment.get("id"), str):
                slot["id"] = fragment["id"]
            function = fragment.get("function")
            if isinstance(function, Mapping):
                name = function.get("name")
                # OpenAI sends the name once; llama-cpp-python repeats it in every piece.
                if isinstance(name, str) and name != slot["name"]:
                    slot["name"] += name
                arguments = function.get("arguments")
                if isinstance(arguments, str):
                    slot["arguments"] += arguments
                elif isinstance(arguments, Mapping):
                    slot["arguments"] = dict(arguments)

    def finish(self) -> ChatResponse:
        """The closing response; raises StreamInterruptedError if the stream never finished."""
        reason = self._state.check_finished(self._content)
        calls = [
            ToolCall(
                slot["id"] or f"call_{index}",
                slot["name"],
                parse_tool_arguments(slot["arguments"], slot["name"]),
            )
            for index, slot in sorted(self._calls.items())
        ]
        return ChatResponse(
            message=self._message(calls),
            delta="",
            usage=self._state.usage,
            timings=self._state.timings,
            finish_reason=reason,
            raw=self._state.last_raw,
        )


class CompletionStreamAssembler:
    """Feed streamed completion chunks; get a CompletionResponse per piece, and a final one."""

    def __init__(self) -> None:
        self._state = _StreamState()
        self._text = ""

    def feed(self, chunk: Any) -> CompletionResponse | None:
        choice = self._state.observe(chunk)
        if choice is None:
            return None
        piece = choice.get("text")
        if not isinstance(piece, str) or not piece:
            return None
        self._text += piece
        return CompletionResponse(text=self._text, delta=piece, raw=chunk)

    def finish(self) -> CompletionResponse:
        reason = self._state.check_finished(self._text)
        return CompletionResponse(
            text=self._text,
            delta="",
            usage=self._state.usage,
            timings=self._state.timings,
            finish_reason=reason,
            raw=self._state.last_raw,
        )


# --- models and embeddings ---------------------------------------------------------------------


def _model_info(entry: Mapping[str, Any]) -> ModelInfo:
    """One `/v1/models` entry; the context comes from whichever field the server fills.

    vLLM sends `max_model_len` (the context in effect), llama.cpp `meta.n_ctx` (in effect,
    newer builds) and `meta.n_ctx_train` (the most the model supports).
    """
    meta = entry.get("meta")
    meta = meta if isinstance(meta, Mapping) else {}
    in_effect = _count(entry.get("max_model_len"))
    if in_effect is None:
        in_effect = _count(meta.get("n_ctx"))
    trained = _count(meta.get("n_ctx_train"))
    size = _count(meta.get("size"))
    return ModelInfo(
        id=str(entry["id"]),
        loaded=True,
        context_length=in_effect if in_effect is not None else trained,
        max_context_length=trained if trained is not None else in_effect,
        quantization=_optional_str(meta.get("ftype")),
        size_bytes=size,
        raw=dict(entry),
    )


def parse_models(body: Any) -> list[ModelInfo]:
    """The models of a `/v1/models` answer (OpenAI's `{"object":"list","data":[...]}`)."""
    if not isinstance(body, Mapping):
        raise ProtocolError(f"expected a model list object, got {type(body).__name__}")
    if "error" in body:
        raise error_from_event(body)
    data = body.get("data")
    if not isinstance(data, list):
        raise ProtocolError("the model list has no `data` array")
    models = []
    for entry in data:
        if not isinstance(entry, Mapping) or not isinstance(entry.get("id"), str):
            raise ProtocolError(f"malformed entry in the model list: {entry!r:.200}")
        models.append(_model_info(entry))
    return models


def build_embeddings_body(inputs: Sequence[str], *, model: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"input": list(inputs), "encoding_format": "float"}
    if model is not None:
        body["model"] = model
    return body


def _is_vector(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    )


def _pooled(vector: Any, position: int) -> list[float]:
    """One vector for a text. llama-cpp-python answers one vector per token when its model
    declares no pooling; they are averaged, as llama.cpp's own mean pooling does."""
    if _is_vector(vector):
        return [float(x) for x in vector]
    if (
        isinstance(vector, list)
        and vector
        and all(_is_vector(token) and len(token) == len(vector[0]) for token in vector)
    ):
        count = len(vector)
        return [sum(column) / count for column in zip(*vector, strict=True)]
    raise ProtocolError(f"malformed embedding at position {position}")


def parse_embeddings(body: Any) -> list[list[float]]:
    """The vectors of an embeddings answer, in input order."""
    if not isinstance(body, Mapping):
        raise ProtocolError(f"expected an embeddings object, got {type(body).__name__}")
    if "error" in body:
        raise error_from_event(body)
    data = body.get("data")
    if not isinstance(data, list):
        raise ProtocolError("the embeddings answer has no `data` array")
    indexed: list[tuple[int, list[float]]] = []
    for position, item in enumerate(data):
        vector = _pooled(item.get("embedding") if isinstance(item, Mapping) else None, position)
        index = _count(item.get("index"))
        indexed.append((position if index is None else index, vector))
    return [vector for _, vector in sorted(indexed, key=lambda pair: pair[0])]
