"""Plain data that flows through every provider: messages, responses, usage, timings, metadata.

Names follow LlamaIndex's LLM interface so its users feel at home; the classes are small
slotted dataclasses so building one per streamed chunk costs next to nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from homefire.errors import InvalidParameterError


class MessageRole(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"

    def __str__(self) -> str:
        return self.value


@dataclass(slots=True)
class ToolCall:
    """One call the model asked for; `arguments` is always a parsed object."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ChatMessage:
    role: MessageRole = MessageRole.USER
    content: str | None = ""
    tool_calls: list[ToolCall] = field(default_factory=list)
    tool_call_id: str | None = None
    name: str | None = None
    reasoning: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.role, MessageRole):
            try:
                self.role = MessageRole(str(self.role))
            except ValueError:
                roles = ", ".join(r.value for r in MessageRole)
                raise InvalidParameterError(
                    "role", f"unknown role {self.role!r} (use {roles})"
                ) from None
        if self.content is not None and not isinstance(self.content, str):
            raise InvalidParameterError(
                "content", f"message content must be a string, got {type(self.content).__name__}"
            )

    def to_dict(self) -> dict[str, Any]:
        """The OpenAI-style message dict most wire formats and chat templates expect."""
        out: dict[str, Any] = {"role": self.role.value, "content": self.content}
        if self.tool_calls:
            out["tool_calls"] = [
                {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.name, "arguments": c.arguments},
                }
                for c in self.tool_calls
            ]
        if self.tool_call_id is not None:
            out["tool_call_id"] = self.tool_call_id
        if self.name is not None:
            out["name"] = self.name
        return out

    @classmethod
    def from_any(cls, value: ChatMessage | Mapping[str, Any]) -> ChatMessage:
        if isinstance(value, ChatMessage):
            return value
        if not isinstance(value, Mapping):
            raise InvalidParameterError(
                "messages",
                f"each message must be a ChatMessage or a dict, got {type(value).__name__}",
            )
        role = value.get("role", "user")
        try:
            parsed_role = MessageRole(str(role))
        except ValueError:
            roles = ", ".join(r.value for r in MessageRole)
            raise InvalidParameterError(
                "messages", f"unknown role {role!r} (use {roles})"
            ) from None
        content = value.get("content", "")
        if content is not None and not isinstance(content, str):
            raise InvalidParameterError("messages", "message content must be a string")
        reasoning = value.get("reasoning", value.get("reasoning_content"))
        return cls(
            role=parsed_role,
            content=content,
            tool_calls=[
                _tool_call_from_dict(i, c) for i, c in enumerate(value.get("tool_calls") or [])
            ],
            tool_call_id=value.get("tool_call_id"),
            name=value.get("name"),
            reasoning=reasoning if isinstance(reasoning, str) else None,
        )


def _tool_call_from_dict(index: int, value: Any) -> ToolCall:
    """A tool call from an OpenAI-style dict (arguments as a JSON string or an object)."""
    function = value.get("function", value) if isinstance(value, Mapping) else None
    name = function.get("name") if isinstance(function, Mapping) else None
    if not isinstance(name, str):
        raise InvalidParameterError("messages", f"malformed tool call in a message: {value!r}")
    arguments = function.get("arguments") if isinstance(function, Mapping) else None
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments else {}
        except (ValueError, RecursionError):
            raise InvalidParameterError(
                "messages", f"tool call {name!r} has arguments that are not valid JSON"
            ) from None
    if not isinstance(arguments, Mapping | None):
        raise InvalidParameterError("messages", f"tool call {name!r} arguments must be an object")
    call_id = value.get("id") if isinstance(value.get("id"), str) else f"call_{index}"
    return ToolCall(call_id, name, dict(arguments or {}))


Messages = str | Sequence[ChatMessage | Mapping[str, Any]]


def check_text(name: str, value: str) -> str:
    """`value`, refused when it cannot be sent as UTF-8: a lone surrogate (half of a UTF-16
    pair, what `bytes.decode(errors="surrogateescape")` leaves for undecodable bytes) has no
    encoding, and every wire and every tokenizer would fail on it later, less clearly."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidParameterError(
            name,
            f"holds a lone surrogate {value[exc.start]!r} at position {exc.start}, which is "
            "not text; decode the bytes it came from with errors='replace'",
        ) from None
    return value


def _check_strings(name: str, value: Any) -> None:
    if isinstance(value, str):
        check_text(name, value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _check_strings(name, key)
            _check_strings(name, item)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_strings(name, item)


def _check_message(index: int, message: ChatMessage) -> ChatMessage:
    where = f"messages[{index}]"
    for field_name in ("content", "name", "tool_call_id", "reasoning"):
        value = getattr(message, field_name)
        if isinstance(value, str):
            check_text(f"{where}.{field_name}", value)
    for call in message.tool_calls:
        _check_strings(f"{where}.tool_calls", [call.id, call.name, call.arguments])
    return message


def as_messages(messages: Messages) -> list[ChatMessage]:
    """Accept a bare string (one user turn), ChatMessages or OpenAI-style dicts; every text in
    them must be encodable (see `check_text`)."""
    if isinstance(messages, str):
        return [ChatMessage(MessageRole.USER, check_text("messages", messages))]
    if isinstance(messages, ChatMessage | Mapping):
        raise InvalidParameterError("messages", "pass a list of messages, not a single message")
    items: Any = messages
    if not isinstance(items, Sequence):
        raise InvalidParameterError(
            "messages", f"pass a string or a list of messages, got {type(items).__name__}"
        )
    out = [_check_message(i, ChatMessage.from_any(m)) for i, m in enumerate(items)]
    if not out:
        raise InvalidParameterError("messages", "at least one message is needed")
    return out


def system(content: str) -> ChatMessage:
    return ChatMessage(MessageRole.SYSTEM, content)


def user(content: str) -> ChatMessage:
    return ChatMessage(MessageRole.USER, content)


def assistant(content: str) -> ChatMessage:
    return ChatMessage(MessageRole.ASSISTANT, content)


def tool(content: str, tool_call_id: str, name: str | None = None) -> ChatMessage:
    return ChatMessage(MessageRole.TOOL, content, tool_call_id=tool_call_id, name=name)


@dataclass(slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(slots=True)
class Timings:
    """Where the time went, normalised from each backend's own units (ms here, always)."""

    prompt_tokens: int | None = None
    cached_tokens: int | None = None
    generated_tokens: int | None = None
    prompt_ms: float | None = None
    generation_ms: float | None = None
    tokens_per_second: float | None = None
    time_to_first_token_ms: float | None = None
    load_ms: float | None = None


@dataclass(slots=True)
class ChatResponse:
    """A chat answer; while streaming, `message` holds the text so far and `delta` the new piece.

    Reasoning ("thinking") text never mixes into content: it accumulates in `message.reasoning`
    and streams through `reasoning_delta`.
    """

    message: ChatMessage
    delta: str | None = None
    reasoning_delta: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    finish_reason: str | None = None
    raw: Any = None

    @property
    def text(self) -> str:
        return self.message.content or ""

    def __str__(self) -> str:
        return self.text


@dataclass(slots=True)
class CompletionResponse:
    text: str
    delta: str | None = None
    usage: Usage | None = None
    timings: Timings | None = None
    finish_reason: str | None = None
    raw: Any = None

    def __str__(self) -> str:
        return self.text


def chat_from_completion(response: CompletionResponse) -> ChatResponse:
    """A completion (or completion chunk) as the assistant's chat turn."""
    return ChatResponse(
        message=ChatMessage(MessageRole.ASSISTANT, response.text),
        delta=response.delta,
        usage=response.usage,
        timings=response.timings,
        finish_reason=response.finish_reason,
        raw=response.raw,
    )


@dataclass(slots=True)
class LLMMetadata:
    """What an LLM can do. `supports_tools`: `tools=` works (natively, or through homefire's
    constrained fallback); `is_function_calling_model`: the model itself was made for tool
    calls (its chat template or its server says so; False when that is unknown)."""

    context_window: int = 4096
    num_output: int = 256
    model_name: str = "unknown"
    is_chat_model: bool = True
    supports_tools: bool = False
    is_function_calling_model: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class ModelInfo:
    """One model a backend knows about, loaded or not."""

    id: str
    loaded: bool = False
    context_length: int | None = None
    max_context_length: int | None = None
    quantization: str | None = None
    size_bytes: int | None = None
    capabilities: list[str] = field(default_factory=list)
    nodes: list[str] = field(default_factory=list)
    """Where a cluster runs the model: the `host:port` of each node (an Xinference worker)
    serving it; empty for a server that is a single node."""
    raw: Any = None


@dataclass(frozen=True, slots=True)
class LoadRequest:
    """What `load()` was asked: which model, and the settings to load it with where the
    backend takes them (context length, GPU offload, idle time-to-live)."""

    model: str | None = None
    context_length: int | None = None
    gpu: float | str | None = None
    ttl: int | str | None = None
