"""What the standard suite does not check: per-call options reach the real model, a named tool
is forced, and the embedded model is the default."""

from __future__ import annotations

import homefire as hf
import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from pydantic import BaseModel

from langchain_homefire import ChatHomefire

pytestmark = pytest.mark.integration


@tool
def magic_function(input: int) -> int:
    """Apply a magic function to an input."""
    return input + 2


@tool
def get_weather(location: str) -> str:
    """Get the weather at a location."""
    return "It's sunny."


class City(BaseModel):
    name: str
    country: str


def test_max_tokens_reaches_the_model(smollm2: hf.LLM) -> None:
    chat = ChatHomefire(llm=smollm2, max_tokens=50)
    message = chat.invoke("Count from one to one hundred.", max_tokens=3)
    assert message.usage_metadata is not None
    assert message.usage_metadata["output_tokens"] == 3
    assert message.response_metadata["finish_reason"] == "length"


async def test_stop_reaches_the_model(smollm2: hf.LLM) -> None:
    chat = ChatHomefire(llm=smollm2, max_tokens=24)
    full = (await chat.ainvoke("Name three fruits.")).text
    words = full.split()
    assert len(words) > 3
    cut = (await chat.ainvoke("Name three fruits.", stop=[words[2]])).text
    assert words[2] not in cut
    assert full.startswith(cut)
    assert len(cut) < len(full)


def test_a_named_tool_is_called(smollm2: hf.LLM) -> None:
    chat = ChatHomefire(llm=smollm2).bind_tools(
        [magic_function, get_weather], tool_choice="get_weather"
    )
    message = chat.invoke("What is magic_function(3)?")
    assert isinstance(message, AIMessage)
    [call] = message.tool_calls
    assert call["name"] == "get_weather"
    assert isinstance(call["args"]["location"], str)
    assert message.response_metadata["finish_reason"] == "tool_calls"


async def test_structured_output_streams_into_the_schema(smollm2: hf.LLM) -> None:
    chat = ChatHomefire(llm=smollm2).with_structured_output(City)
    parts = [part async for part in chat.astream("Name a city in France.")]
    assert parts
    assert isinstance(parts[-1], City)


def test_with_no_llm_the_embedded_model_answers() -> None:
    chat = ChatHomefire(max_tokens=4)
    try:
        assert isinstance(chat.llm, hf.LlamaCPP)
        message = chat.invoke("Hello")
        assert message.text
        assert message.response_metadata["model_name"] == chat.llm.metadata.model_name
    finally:
        chat.llm.close()
