"""LlamaIndex types <-> homefire types: messages (with tool calls, tool results and reasoning),
responses (with usage and timings), tool choice and per-call options.

Text is all homefire sends to a model, so a block that is not text (an image, audio, a
document) raises `hf.NotSupportedError` instead of vanishing from the conversation.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import homefire as hf
from llama_index.core.base.llms.types import (
    CachePoint,
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ContentBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

if TYPE_CHECKING:
    from homefire import ChatMessage as HfChatMessage
    from homefire import ChatResponse as HfChatResponse
    from homefire import CompletionResponse as HfCompletionResponse
    from homefire import Timings as HfTimings
    from homefire import ToolCall as HfToolCall
    from homefire import Usage as HfUsage

# LlamaIndex roles other providers use, as the four roles a chat template knows.
_ROLES = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}

# --- LlamaIndex -> homefire ------------------------------------------------------------------


def to_homefire_messages(messages: Sequence[ChatMessage]) -> list[HfChatMessage]:
    return [to_homefire_message(message) for message in messages]


def to_homefire_message(message: ChatMessage) -> HfChatMessage:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[HfToolCall] = []
    for block in message.blocks:
        if isinstance(block, TextBlock):
            texts.append(block.text)
        elif isinstance(block, ThinkingBlock):
            thoughts.append(block.content or "")
        elif isinstance(block, ToolCallBlock):
            calls.append(_tool_call(len(calls), block))
        elif not isinstance(block, CachePoint):  # a cache hint means nothing to a local model
            raise hf.NotSupportedError(
                f"homefire sends text to the model; this {message.role.value} message holds a "
                f"{type(block).__name__}: describe it in text, or use a framework LLM that "
                "takes it"
            )
    extra = message.additional_kwargs
    if not calls and extra.get("tool_calls"):
        calls = [_legacy_tool_call(i, c) for i, c in enumerate(extra["tool_calls"])]
    role = hf.MessageRole(_ROLES[message.role])
    return hf.ChatMessage(
        role=role,
        content="\n".join(texts),
        tool_calls=calls,
        tool_call_id=extra.get("tool_call_id") if role == "tool" else None,
        name=extra.get("name") if role == "tool" else None,
        reasoning="\n".join(thoughts) or None,
    )


def tool_arguments(name: str, value: Any) -> dict[str, Any]:
    """A tool call's arguments as an object, from an object or its JSON text."""
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else {}
        except json.JSONDecodeError:
            raise hf.InvalidParameterError(
                "messages", f"the arguments of tool call {name!r} are not valid JSON"
            ) from None
    if not isinstance(value, Mapping):
        raise hf.InvalidParameterError(
            "messages", f"the arguments of tool call {name!r} must be a JSON object"
        )
    return dict(value)


def _tool_call(index: int, block: ToolCallBlock) -> HfToolCall:
    call_id = block.tool_call_id or f"call_{index}"
    return hf.ToolCall(call_id, block.tool_name, tool_arguments(block.tool_name, block.tool_kwargs))


def _legacy_tool_call(index: int, call: Any) -> HfToolCall:
    """A tool call kept in `additional_kwargs["tool_calls"]` (OpenAI objects or dicts)."""
    if hasattr(call, "model_dump"):
        call = call.model_dump()
    function = call.get("function") if isinstance(call, Mapping) else None
    if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
        raise hf.InvalidParameterError("messages", f"malformed tool call in a message: {call!r}")
    name = function["name"]
    call_id = call.get("id") or f"call_{index}"
    return hf.ToolCall(call_id, name, tool_arguments(name, function.get("arguments")))


def resolve_tool_choice(tool_choice: str | Mapping[str, Any] | None, tool_required: bool) -> str:
    """LlamaIndex's `tool_choice` (a word, a tool's name or OpenAI's dict) as homefire's word
    or tool name; `tool_required` stands for "required" when no choice is given."""
    if tool_choice is None:
        return "required" if tool_required else "auto"
    if isinstance(tool_choice, Mapping):
        function = tool_choice.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            return str(function["name"])
        raise hf.InvalidParameterError(
            "tool_choice",
            f'must be a word, a tool name or {{"function": {{"name": ...}}}}, got {tool_choice!r}',
        )
    return tool_choice


def merged_options(defaults: Mapping[str, Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """Per-call options laid over an LLM's defaults; `extra` dicts are merged, not replaced."""
    options = {**defaults, **kwargs}
    if "extra" in defaults and "extra" in kwargs:
        options["extra"] = {**defaults["extra"], **kwargs["extra"]}
    return options


# --- homefire -> LlamaIndex ------------------------------------------------------------------


def from_homefire_message(message: HfChatMessage) -> ChatMessage:
    blocks: list[ContentBlock] = []
    if message.reasoning:
        blocks.append(ThinkingBlock(content=message.reasoning))
    if message.content or not message.tool_calls:
        blocks.append(TextBlock(text=message.content or ""))
    blocks += [
        ToolCallBlock(tool_call_id=call.id, tool_name=call.name, tool_kwargs=call.arguments)
        for call in message.tool_calls
    ]
    extra: dict[str, Any] = {}
    if message.tool_call_id is not None:
        extra["tool_call_id"] = message.tool_call_id
    if message.name is not None:
        extra["name"] = message.name
    return ChatMessage(role=MessageRole(message.role.value), blocks=blocks, additional_kwargs=extra)


def messages_to_prompt_for_homefire(
    function: Callable[[Sequence[ChatMessage]], str],
) -> Callable[[Sequence[HfChatMessage]], str]:
    """A LlamaIndex `messages_to_prompt` as homefire calls it (with homefire messages)."""

    def render(messages: Sequence[HfChatMessage]) -> str:
        return function([from_homefire_message(m) for m in messages])

    return render


def chat_response(response: HfChatResponse) -> ChatResponse:
    extra = _response_extras(response.usage, response.timings, response.finish_reason)
    if response.reasoning_delta:
        extra["thinking_delta"] = response.reasoning_delta
    return ChatResponse(
        message=from_homefire_message(response.message),
        delta=response.delta,
        raw=_raw(response.raw, response.usage),
        additional_kwargs=extra,
    )


def completion_response(response: HfCompletionResponse) -> CompletionResponse:
    return CompletionResponse(
        text=response.text,
        delta=response.delta,
        raw=_raw(response.raw, response.usage),
        additional_kwargs=_response_extras(
            response.usage, response.timings, response.finish_reason
        ),
    )


def _usage(usage: HfUsage) -> dict[str, int]:
    counts = {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.cached_tokens is not None:
        counts["cached_tokens"] = usage.cached_tokens
    return counts


def _response_extras(
    usage: HfUsage | None, timings: HfTimings | None, finish_reason: str | None
) -> dict[str, Any]:
    """Token counts under the keys LlamaIndex's token counting reads, plus timings and why
    the answer ended."""
    extra: dict[str, Any] = _usage(usage) if usage is not None else {}
    if timings is not None:
        extra["timings"] = {k: v for k, v in dataclasses.asdict(timings).items() if v is not None}
    if finish_reason is not None:
        extra["finish_reason"] = finish_reason
    return extra


def _raw(raw: Any, usage: HfUsage | None) -> Any:
    """The backend's own answer, with OpenAI-style `usage` whatever the backend called it."""
    if usage is None:
        return raw
    body = dict(raw) if isinstance(raw, Mapping) else {} if raw is None else {"raw": raw}
    body["usage"] = _usage(usage)
    return body
