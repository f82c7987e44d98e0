"""Messages, tool calls, tool results, reasoning and usage between LlamaIndex and homefire."""

from __future__ import annotations

from typing import Any

import homefire as hf
import pytest
from llama_index.core.base.llms.types import (
    CacheControl,
    CachePoint,
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)

from llama_index.llms.homefire.utils import (
    chat_response,
    completion_response,
    from_homefire_message,
    merged_options,
    resolve_tool_choice,
    to_homefire_message,
)

pytestmark = pytest.mark.unit


def test_roles_and_text() -> None:
    converted = to_homefire_message(
        ChatMessage(role=MessageRole.DEVELOPER, blocks=[TextBlock(text="a"), TextBlock(text="b")])
    )
    assert converted.role is hf.MessageRole.SYSTEM
    assert converted.content == "a\nb"
    assert to_homefire_message(ChatMessage(role="chatbot", content="x")).role == "assistant"


def test_assistant_tool_calls_and_reasoning_round_trip() -> None:
    message = ChatMessage(
        role=MessageRole.ASSISTANT,
        blocks=[
            ThinkingBlock(content="6 times 7"),
            ToolCallBlock(tool_call_id="c1", tool_name="multiply", tool_kwargs={"a": 6, "b": 7}),
            ToolCallBlock(tool_name="add", tool_kwargs='{"a": 1}'),
        ],
    )
    converted = to_homefire_message(message)
    assert converted.reasoning == "6 times 7"
    assert converted.content == ""
    assert converted.tool_calls == [
        hf.ToolCall("c1", "multiply", {"a": 6, "b": 7}),
        hf.ToolCall("call_1", "add", {"a": 1}),
    ]
    back = from_homefire_message(converted)
    assert back.role is MessageRole.ASSISTANT
    calls = [b for b in back.blocks if isinstance(b, ToolCallBlock)]
    assert [(c.tool_call_id, c.tool_name, c.tool_kwargs) for c in calls] == [
        ("c1", "multiply", {"a": 6, "b": 7}),
        ("call_1", "add", {"a": 1}),
    ]
    assert [b.content for b in back.blocks if isinstance(b, ThinkingBlock)] == ["6 times 7"]
    assert not [b for b in back.blocks if isinstance(b, TextBlock)]


def test_tool_result_keeps_its_call_id() -> None:
    result = ChatMessage(
        role="tool", content="42", additional_kwargs={"tool_call_id": "c1", "name": "multiply"}
    )
    converted = to_homefire_message(result)
    assert (converted.role, converted.content) == (hf.MessageRole.TOOL, "42")
    assert (converted.tool_call_id, converted.name) == ("c1", "multiply")
    assert from_homefire_message(converted).additional_kwargs == {
        "tool_call_id": "c1",
        "name": "multiply",
    }


def test_legacy_tool_calls_in_additional_kwargs() -> None:
    message = ChatMessage(
        role="assistant",
        content="",
        additional_kwargs={
            "tool_calls": [
                {"id": "x", "type": "function", "function": {"name": "f", "arguments": "{}"}}
            ]
        },
    )
    assert to_homefire_message(message).tool_calls == [hf.ToolCall("x", "f", {})]


def test_bad_tool_arguments_are_typed_errors() -> None:
    message = ChatMessage(
        role="assistant", blocks=[ToolCallBlock(tool_name="f", tool_kwargs="{not json")]
    )
    with pytest.raises(hf.InvalidParameterError, match="not valid JSON"):
        to_homefire_message(message)


def test_non_text_blocks_are_refused_and_cache_hints_skipped() -> None:
    image = ChatMessage(role="user", blocks=[ImageBlock(url="http://example.invalid/a.png")])
    with pytest.raises(hf.NotSupportedError, match="ImageBlock"):
        to_homefire_message(image)
    hinted = ChatMessage(
        role="user",
        blocks=[TextBlock(text="hi"), CachePoint(cache_control=CacheControl(type="ephemeral"))],
    )
    assert to_homefire_message(hinted).content == "hi"


@pytest.mark.parametrize(
    ("choice", "required", "expected"),
    [
        (None, False, "auto"),
        (None, True, "required"),
        ("none", True, "none"),
        ("multiply", False, "multiply"),
        ({"type": "function", "function": {"name": "multiply"}}, False, "multiply"),
    ],
)
def test_tool_choice(choice: Any, required: bool, expected: str) -> None:
    assert resolve_tool_choice(choice, required) == expected


def test_tool_choice_dict_without_a_name() -> None:
    with pytest.raises(hf.InvalidParameterError):
        resolve_tool_choice({"type": "function"}, False)


def test_options_merge_extra() -> None:
    defaults = {"seed": 0, "extra": {"a": 1}}
    assert merged_options(defaults, {"seed": 3, "extra": {"b": 2}}) == {
        "seed": 3,
        "extra": {"a": 1, "b": 2},
    }


def test_usage_timings_and_reasoning_reach_llamaindex() -> None:
    response = hf.ChatResponse(
        message=hf.ChatMessage(hf.MessageRole.ASSISTANT, "hi", reasoning="hmm"),
        delta="hi",
        reasoning_delta="m",
        usage=hf.Usage(prompt_tokens=5, completion_tokens=2),
        timings=hf.Timings(generation_ms=10.0),
        finish_reason="stop",
        raw={"done": True},
    )
    converted = chat_response(response)
    assert converted.message.content == "hi"
    assert converted.delta == "hi"
    assert converted.additional_kwargs == {
        "prompt_tokens": 5,
        "completion_tokens": 2,
        "total_tokens": 7,
        "timings": {"generation_ms": 10.0},
        "finish_reason": "stop",
        "thinking_delta": "m",
    }
    assert converted.raw == {
        "done": True,
        "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7},
    }
    assert response.raw == {"done": True}  # homefire's own answer is left as it was


def test_completion_without_usage_keeps_raw() -> None:
    converted = completion_response(hf.CompletionResponse(text="ab", delta="b", raw={"x": 1}))
    assert (converted.text, converted.delta, converted.raw) == ("ab", "b", {"x": 1})
    assert converted.additional_kwargs == {}
