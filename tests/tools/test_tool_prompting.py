"""Tools on a backend without native tool calling: prompt, constraint, parsing, the loop."""

from __future__ import annotations

import json
from typing import Any

import pytest

import homefire as hf
from homefire.llm.schema import check_value
from homefire.llm.tool_prompting import tool_call_schema
from homefire.llm.tools import tool_spec
from homefire.options import parse_options

pytestmark = pytest.mark.unit


def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return f"25 C in {city}"


def get_time(zone: str) -> str:
    """The time in a zone."""
    return "12:00"


CALL = json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})


def test_schema_enforces_the_choice() -> None:
    named = tool_call_schema(
        parse_options(
            {"tools": [tool_spec(get_weather), tool_spec(get_time)], "tool_choice": "get_time"}
        )
    )
    assert named["properties"]["name"]["enum"] == ["get_time"]
    assert check_value({"name": "get_time", "arguments": {"zone": "UTC"}}, named) is None
    assert check_value({"name": "get_weather", "arguments": {"city": "x"}}, named)
    required = tool_call_schema(
        parse_options(
            {"tools": [tool_spec(get_weather), tool_spec(get_time)], "tool_choice": "required"}
        )
    )
    assert len(required["anyOf"]) == 2
    assert check_value({"content": "hi"}, required)
    assert check_value({"name": "get_weather", "arguments": {}}, required)  # city is required
    auto = tool_call_schema(parse_options({"tools": [tool_spec(get_weather)]}))
    assert check_value({"content": "hi"}, auto) is None


def test_chat_sends_prompt_and_schema_and_parses_the_call(scripted: Any) -> None:
    llm = scripted([CALL])
    response = llm.chat(
        [hf.system("Be brief."), hf.user("Weather in Paris?")],
        tools=[get_weather],
        tool_choice="required",
    )
    (call,) = response.message.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
    assert call.id.startswith("call_")
    assert response.finish_reason == "tool_calls"
    assert response.message.content == ""
    prompt, options = llm.prompts[0], llm.options[0]
    assert "Be brief.\n\nYou can call these tools:" in prompt
    assert "get_weather: Get the weather for a city." in prompt
    assert options["json_schema"]["properties"]["name"]["enum"] == ["get_weather"]
    assert "tools" not in options and "tool_choice" not in options


def test_stream_chat_gives_the_same_call_at_the_end(scripted: Any) -> None:
    llm = scripted([CALL, CALL])
    whole = llm.chat("Weather?", tools=[get_weather], tool_choice="get_weather")
    chunks = list(llm.stream_chat("Weather?", tools=[get_weather], tool_choice="get_weather"))
    assert all(not c.message.tool_calls for c in chunks[:-1])
    assert all(c.delta == "" for c in chunks)
    final = chunks[-1].message.tool_calls
    assert [(c.name, c.arguments) for c in final] == [
        (c.name, c.arguments) for c in whole.message.tool_calls
    ]


def test_auto_answer_streams_as_text(scripted: Any) -> None:
    answer = json.dumps({"content": 'It is "sunny" today.'})
    llm = scripted([answer, answer])
    assert llm.chat("Weather?", tools=[get_weather]).text == 'It is "sunny" today.'
    chunks = list(llm.stream_chat("Weather?", tools=[get_weather]))
    assert "".join(c.delta or "" for c in chunks) == 'It is "sunny" today.'
    assert len(chunks) > 2
    assert chunks[-1].message.content == 'It is "sunny" today.'
    assert chunks[-1].message.tool_calls == []


def test_tool_choice_none_strips_tools_and_rewrites_history(scripted: Any) -> None:
    llm = scripted(["Plain answer."])
    history = [
        hf.user("Weather in Rome?"),
        hf.ChatMessage(
            hf.MessageRole.ASSISTANT,
            "",
            tool_calls=[hf.ToolCall("c1", "get_weather", {"city": "Rome"})],
        ),
        hf.tool("25 C", tool_call_id="c1", name="get_weather"),
    ]
    response = llm.chat(history, tools=[get_weather], tool_choice="none")
    assert response.text == "Plain answer."
    assert "json_schema" not in llm.options[0]
    prompt = llm.prompts[0]
    assert 'Facts you looked up for the user:\n- get_weather(city="Rome"): 25 C' in prompt
    assert "I called" not in prompt and "c1" not in prompt
    assert prompt.rstrip().endswith("Weather in Rome?") or prompt.index("Weather in Rome?") > (
        prompt.index("Facts you looked up")
    )


def test_bad_json_is_a_clear_error(scripted: Any) -> None:
    llm = scripted(['{"name": "get_wea'])
    with pytest.raises(hf.GenerationError, match="not valid JSON"):
        llm.chat("Weather?", tools=[get_weather], tool_choice="required")


def test_arguments_sent_as_a_json_string_are_kept(scripted: Any) -> None:
    as_string = json.dumps({"name": "get_weather", "arguments": json.dumps({"city": "Oslo"})})
    llm = scripted([as_string])
    (call,) = llm.chat("Weather?", tools=[get_weather], tool_choice="required").message.tool_calls
    assert call.arguments == {"city": "Oslo"}
    llm = scripted([json.dumps({"name": "get_weather", "arguments": [1]})])
    with pytest.raises(hf.GenerationError, match="non-object arguments"):
        llm.chat("Weather?", tools=[get_weather], tool_choice="required")


def test_tools_with_json_schema_is_refused(scripted: Any) -> None:
    llm = scripted([])
    with pytest.raises(hf.NotSupportedError, match="tools or json_schema"):
        llm.chat("x", tools=[get_weather], json_schema={"type": "object"})


def test_chat_with_tools_runs_the_loop(scripted: Any) -> None:
    llm = scripted([CALL, json.dumps({"content": "It is 25 C in Paris."})])
    response = llm.chat_with_tools("Weather in Paris?", [get_weather], tool_choice="required")
    assert response.text == "It is 25 C in Paris."
    assert (
        'Facts you already looked up with these tools:\n- get_weather(city="Paris"): 25 C in Paris'
        in (llm.prompts[1])
    )
    assert '{"name": "get_weather"' not in llm.prompts[1]
    assert "If they answer the request" in llm.prompts[1]
    assert llm.options[1]["json_schema"]["anyOf"][-1]["required"] == ["content"]


def test_a_repeated_call_is_not_run_again_and_the_answer_is_asked_for(scripted: Any) -> None:
    ran: list[str] = []

    def weather(city: str) -> str:
        """Get the weather for a city."""
        ran.append(city)
        return "sunny"

    call = json.dumps({"name": "weather", "arguments": {"city": "Paris"}})
    llm = scripted([call, call, "It is sunny in Paris."])
    response = llm.chat_with_tools("Weather in Paris?", [weather])
    assert response.text == "It is sunny in Paris."
    assert ran == ["Paris"]
    assert len(llm.prompts) == 3
    assert "json_schema" not in llm.options[2]
    assert 'weather(city="Paris"): sunny' in llm.prompts[2]


def test_chat_with_tools_last_turn_must_answer(scripted: Any) -> None:
    llm = scripted([CALL, "Final words."])
    response = llm.chat_with_tools("Weather?", [get_weather], max_turns=2, tool_choice="required")
    assert response.text == "Final words."
    assert "json_schema" not in llm.options[1]
    with pytest.raises(hf.InvalidParameterError, match="max_turns"):
        llm.chat_with_tools("x", [get_weather], max_turns=0)


async def test_async_paths_match(scripted: Any) -> None:
    llm = scripted([CALL, CALL])
    whole = await llm.achat("Weather?", tools=[get_weather], tool_choice="required")
    chunks = [
        c async for c in llm.astream_chat("Weather?", tools=[get_weather], tool_choice="required")
    ]
    assert whole.message.tool_calls[0].arguments == chunks[-1].message.tool_calls[0].arguments


async def test_achat_with_tools_awaits_async_tools(scripted: Any) -> None:
    seen: list[str] = []

    async def get_weather(city: str) -> str:
        """Get the weather for a city."""
        seen.append(city)
        return f"25 C in {city}"

    llm = scripted([CALL, json.dumps({"content": "25 C."})])
    response = await llm.achat_with_tools("Weather?", [get_weather], tool_choice="required")
    assert (response.text, seen) == ("25 C.", ["Paris"])
    assert "25 C in Paris" in llm.prompts[1]
    (refused,) = hf.run_tool_calls([hf.ToolCall("c1", "get_weather", {"city": "x"})], [get_weather])
    assert refused.content is not None and "is async" in refused.content
