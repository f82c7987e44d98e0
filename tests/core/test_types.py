from __future__ import annotations

import pytest

import homefire as hf
from homefire.errors import InvalidParameterError
from homefire.types import ChatMessage, MessageRole, as_messages

pytestmark = pytest.mark.unit


def test_helpers_build_messages_with_roles() -> None:
    assert hf.system("s").role is MessageRole.SYSTEM
    assert hf.user("u").role == "user"
    assert hf.assistant("a").content == "a"
    reply = hf.tool("42", tool_call_id="call_1", name="answer")
    assert reply.to_dict() == {
        "role": "tool",
        "content": "42",
        "tool_call_id": "call_1",
        "name": "answer",
    }


def test_as_messages_accepts_strings_dicts_and_messages() -> None:
    messages = as_messages([{"role": "system", "content": "be brief"}, hf.user("hi")])
    assert [m.role for m in messages] == [MessageRole.SYSTEM, MessageRole.USER]
    assert as_messages("hello") == [ChatMessage(MessageRole.USER, "hello")]


@pytest.mark.parametrize(
    "bad",
    [
        [],
        [{"role": "wizard", "content": "x"}],
        [{"role": "user", "content": 5}],
        [42],
        hf.user("x"),
    ],
)
def test_bad_messages_are_rejected_clearly(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="messages"):
        as_messages(bad)  # type: ignore[arg-type]


def test_usage_total_is_derived() -> None:
    assert hf.Usage(prompt_tokens=3, completion_tokens=4).total_tokens == 7


def test_errors_share_one_root_and_carry_facts() -> None:
    overflow = hf.ContextOverflowError(631, 256)
    assert isinstance(overflow, hf.HomefireError)
    assert "631" in str(overflow) and "256" in str(overflow)
    timeout = hf.HomefireTimeoutError("between_chunks", 2.0, "reading the stream")
    assert isinstance(timeout, TimeoutError) and timeout.which == "between_chunks"


def test_dict_messages_keep_tool_calls_and_reasoning() -> None:
    [message] = as_messages(
        [
            {
                "role": "assistant",
                "content": None,
                "reasoning_content": "thinking",
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    },
                    {"function": {"name": "now", "arguments": {}}},
                ],
            }
        ]
    )
    assert message.reasoning == "thinking"
    assert message.tool_calls == [
        hf.ToolCall("c1", "get_weather", {"city": "Paris"}),
        hf.ToolCall("call_1", "now", {}),
    ]


def test_malformed_tool_call_arguments_are_rejected() -> None:
    bad = {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "{"}}]}
    with pytest.raises(InvalidParameterError, match="not valid JSON"):
        as_messages([bad])


def test_messages_built_the_llamaindex_way_are_coerced_or_refused() -> None:
    assert hf.ChatMessage(role="user", content="hi").role is MessageRole.USER  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="role"):
        hf.ChatMessage(role="wizard")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="content"):
        hf.ChatMessage(content=42)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", [None, 5])
def test_messages_that_are_not_a_list_are_refused(bad: object) -> None:
    with pytest.raises(InvalidParameterError, match="list of messages"):
        as_messages(bad)  # type: ignore[arg-type]
