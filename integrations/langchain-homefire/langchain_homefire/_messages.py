"""LangChain messages to homefire messages, and homefire answers back to LangChain messages.

homefire messages carry text, tool calls and reasoning; a content block that is none of these
(an image, a file, audio) raises `hf.NotSupportedError` rather than being dropped on the way.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

import homefire as hf
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import InputTokenDetails, UsageMetadata
from langchain_core.messages.tool import tool_call, tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk

PROVIDER = "homefire"

# Blocks that stand for a tool call the message also lists in `tool_calls`.
_CALL_BLOCKS = frozenset({"tool_use", "tool_call", "function_call"})
_REASONING_BLOCKS = {"reasoning": "reasoning", "thinking": "thinking"}


def to_homefire(messages: Sequence[BaseMessage]) -> list[hf.ChatMessage]:
    return [_one(message) for message in messages]


def _one(message: BaseMessage) -> hf.ChatMessage:
    if isinstance(message, AIMessage):
        calls = [
            hf.ToolCall(c["id"] or f"call_{i}", c["name"], dict(c["args"]))
            for i, c in enumerate(message.tool_calls)
        ]
        text, reasoning = _content(message, {c.id for c in calls})
        reasoning = reasoning or message.additional_kwargs.get("reasoning_content")
        return hf.ChatMessage(
            hf.MessageRole.ASSISTANT, text, calls, name=message.name, reasoning=reasoning
        )
    text, _ = _content(message, set())
    if isinstance(message, ToolMessage):
        return hf.tool(text, message.tool_call_id, message.name)
    if isinstance(message, HumanMessage):
        return hf.ChatMessage(hf.MessageRole.USER, text, name=message.name)
    if isinstance(message, SystemMessage):
        return hf.ChatMessage(hf.MessageRole.SYSTEM, text)
    if isinstance(message, ChatMessage):
        return hf.ChatMessage.from_any(
            {"role": message.role, "content": text, "name": message.name}
        )
    raise hf.NotSupportedError(
        f"homefire cannot send a {type(message).__name__}; use system, human, AI or tool messages"
    )


def _content(message: BaseMessage, call_ids: set[str]) -> tuple[str, str | None]:
    """The message's text, and the reasoning its content blocks hold (if any)."""
    if isinstance(message.content, str):
        return message.content, None
    text: list[str] = []
    reasoning: list[str] = []
    for block in message.content:
        kind = block if isinstance(block, str) else block.get("type")
        if isinstance(block, str):
            text.append(block)
        elif kind == "text":
            text.append(str(block.get("text", "")))
        elif kind in _REASONING_BLOCKS:
            reasoning.append(str(block.get(_REASONING_BLOCKS[kind], "")))
        elif kind in _CALL_BLOCKS and block.get("id") in call_ids:
            continue
        else:
            raise hf.NotSupportedError(
                f"homefire sends text, tool calls and reasoning only; a {kind!r} content block "
                f"in a {message.type} message cannot be sent"
            )
    return "".join(text), "".join(reasoning) or None


def to_ai_message(response: hf.ChatResponse, model_name: str) -> AIMessage:
    message = response.message
    return AIMessage(
        content=message.content or "",
        tool_calls=[tool_call(name=c.name, args=c.arguments, id=c.id) for c in message.tool_calls],
        additional_kwargs=_reasoning(message.reasoning),
        usage_metadata=usage_metadata(response.usage),
        response_metadata=response_metadata(response, model_name),
    )


class ChunkStream:
    """Turns homefire's streamed responses into LangChain chunks, one at a time.

    Tool calls the stream has not reported yet come as whole tool-call chunks. The finishing
    piece carries the finish reason, usage and model name, so adding the chunks up counts them
    once; a stream that ends without saying why gets a closing chunk that carries them.
    """

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name
        self.sent_calls = 0
        self.finished = False

    def chunk(self, response: hf.ChatResponse) -> ChatGenerationChunk:
        calls = response.message.tool_calls[self.sent_calls :]
        first, self.sent_calls = self.sent_calls, len(response.message.tool_calls)
        self.finished = response.finish_reason is not None
        message = AIMessageChunk(
            content=response.delta or "",
            tool_call_chunks=[
                tool_call_chunk(name=c.name, args=json.dumps(c.arguments), id=c.id, index=first + i)
                for i, c in enumerate(calls)
            ],
            additional_kwargs=_reasoning(response.reasoning_delta),
            usage_metadata=usage_metadata(response.usage) if self.finished else None,
            response_metadata=(
                response_metadata(response, self.model_name) if self.finished else {}
            ),
            chunk_position="last" if self.finished else None,
        )
        return ChatGenerationChunk(message=message)

    def closing(self) -> ChatGenerationChunk | None:
        if self.finished:
            return None
        metadata = {"model_name": self.model_name, "model_provider": PROVIDER}
        message = AIMessageChunk(content="", response_metadata=metadata, chunk_position="last")
        return ChatGenerationChunk(message=message)


def _reasoning(text: str | None) -> dict[str, Any]:
    return {"reasoning_content": text} if text else {}


def usage_metadata(usage: hf.Usage | None) -> UsageMetadata | None:
    if usage is None:
        return None
    out = UsageMetadata(
        input_tokens=usage.prompt_tokens,
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )
    if usage.cached_tokens is not None:
        out["input_token_details"] = InputTokenDetails(cache_read=usage.cached_tokens)
    return out


def response_metadata(response: hf.ChatResponse, model_name: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "model_name": model_name,
        "model_provider": PROVIDER,
        "finish_reason": response.finish_reason,
    }
    if response.timings is not None:
        out["timings"] = dataclasses.asdict(response.timings)
    return out
