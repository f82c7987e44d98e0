"""Tool calls from the real SmolLM2 model, in-process and on the real llama.cpp server.

SmolLM2's chat template ignores tools, so both backends go through homefire's prompted,
schema-constrained tool calling: "required" and a named tool must yield a valid call.
"""

from __future__ import annotations

from typing import Any, Literal

import pytest

import homefire as hf

pytestmark = pytest.mark.integration

SAMPLING: dict[str, Any] = {"temperature": 0, "seed": 1, "max_tokens": 64}


def get_weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
    """Get the current weather for a city.

    Args:
        city: The city's name.
        unit: The temperature unit.
    """
    return f"It is 25 degrees {unit} and sunny in {city}."


def get_time(zone: str) -> str:
    """Get the current time in a time zone."""
    return "12:00"


def assert_valid_weather_call(call: hf.ToolCall) -> None:
    assert call.name == "get_weather"
    assert set(call.arguments) == {"city", "unit"}
    assert isinstance(call.arguments["city"], str) and call.arguments["city"]
    assert call.arguments["unit"] in ("celsius", "fahrenheit")


@pytest.mark.parametrize("choice", ["required", "get_weather"])
def test_forced_tool_call_same_from_chat_and_stream(smollm2: hf.LLM, choice: str) -> None:
    question = "What is the weather in Paris?"
    tools = [get_weather] if choice == "required" else [get_time, get_weather]
    response = smollm2.chat(question, tools=tools, tool_choice=choice, **SAMPLING)
    (call,) = response.message.tool_calls
    assert_valid_weather_call(call)
    assert response.finish_reason == "tool_calls"
    chunks = list(smollm2.stream_chat(question, tools=tools, tool_choice=choice, **SAMPLING))
    (streamed,) = chunks[-1].message.tool_calls
    assert (streamed.name, streamed.arguments) == (call.name, call.arguments)
    assert all(not c.message.tool_calls for c in chunks[:-1])
    assert get_weather(**call.arguments).startswith("It is 25 degrees")


def test_chat_with_tools_two_turns(smollm2: hf.LLM) -> None:
    ran: list[dict[str, Any]] = []

    def weather(city: str, unit: Literal["celsius", "fahrenheit"]) -> str:
        """Get the current weather for a city."""
        ran.append({"city": city, "unit": unit})
        return get_weather(city, unit)

    response = smollm2.chat_with_tools(
        "What is the weather in Paris?",
        [weather],
        max_turns=2,
        tool_choice="required",
        **SAMPLING,
    )
    assert len(ran) == 1
    assert response.message.tool_calls == []
    assert response.text.strip()
