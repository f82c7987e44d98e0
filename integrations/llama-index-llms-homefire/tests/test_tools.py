"""Tools through LlamaIndex: chat_with_tools, predict_and_call and a FunctionAgent."""

from __future__ import annotations

import json
from typing import Any

import homefire as hf
import pytest
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ToolCallBlock
from llama_index.core.tools import FunctionTool

from llama_index.llms.homefire import HomefireLLM


def multiply(a: int, b: int) -> int:
    """Multiply two integers."""
    return a * b


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def call(name: str, **arguments: Any) -> str:
    """The JSON a model answers with when homefire constrains it to a tool call."""
    return json.dumps({"name": name, "arguments": arguments})


# --- unit: a scripted homefire LLM ---------------------------------------------------------


@pytest.mark.unit
def test_predict_and_call_runs_the_tool(scripted: Any) -> None:
    backend = scripted(call("multiply", a=6, b=7))
    llm = HomefireLLM(backend)
    tools = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]
    result = llm.predict_and_call(tools, user_msg="What is 6 times 7?", tool_required=True)
    assert result.response == "42"
    assert result.sources[0].tool_name == "multiply"
    assert "multiply" in backend.prompts[0] and "What is 6 times 7?" in backend.prompts[0]
    schema = json.dumps(backend.options[0]["json_schema"])
    assert '"content"' not in schema  # required: a plain answer is not admitted


@pytest.mark.unit
def test_named_tool_choice_is_enforced(scripted: Any) -> None:
    backend = scripted(call("add", a=1, b=2))
    llm = HomefireLLM(backend)
    tools = [FunctionTool.from_defaults(fn=multiply), FunctionTool.from_defaults(fn=add)]
    response = llm.chat_with_tools(tools, user_msg="Add 1 and 2.", tool_choice="add")
    selection = llm.get_tool_calls_from_response(response)
    assert [(s.tool_name, s.tool_kwargs) for s in selection] == [("add", {"a": 1, "b": 2})]
    schema = json.dumps(backend.options[0]["json_schema"])
    assert '"add"' in schema and '"multiply"' not in schema


@pytest.mark.unit
async def test_agent_sends_the_tool_result_back(scripted: Any) -> None:
    backend = scripted(call("multiply", a=6, b=7), json.dumps({"content": "It is 42."}))
    agent = FunctionAgent(tools=[multiply], llm=HomefireLLM(backend))
    result = await agent.run("What is 6 times 7?")
    assert str(result) == "It is 42."
    assert [c.tool_name for c in result.tool_calls] == ["multiply"]
    assert "42" in backend.prompts[1]  # the tool's result went back to the model


@pytest.mark.unit
def test_only_one_call_kept_unless_parallel_allowed(scripted: Any) -> None:
    llm = HomefireLLM(scripted())
    blocks = [ToolCallBlock(tool_call_id=str(i), tool_name="add") for i in range(2)]

    def response() -> ChatResponse:
        return ChatResponse(message=ChatMessage(role="assistant", blocks=list(blocks)))

    assert (
        len(
            llm.get_tool_calls_from_response(
                llm._validate_chat_with_tools_response(
                    response(), [], allow_parallel_tool_calls=False
                )
            )
        )
        == 1
    )
    assert (
        len(
            llm.get_tool_calls_from_response(
                llm._validate_chat_with_tools_response(
                    response(), [], allow_parallel_tool_calls=True
                )
            )
        )
        == 2
    )


@pytest.mark.unit
def test_no_tool_call(scripted: Any) -> None:
    llm = HomefireLLM(scripted())
    plain = ChatResponse(message=ChatMessage(role="assistant", content="hi"))
    with pytest.raises(ValueError, match="called none"):
        llm.get_tool_calls_from_response(plain)
    assert llm.get_tool_calls_from_response(plain, error_on_no_tool_call=False) == []


# --- integration: the embedded model -------------------------------------------------------


@pytest.mark.integration
def test_embedded_predict_and_call(embedded: hf.LLM) -> None:
    llm = HomefireLLM(embedded)
    tool = FunctionTool.from_defaults(fn=multiply)
    result = llm.predict_and_call([tool], user_msg="What is 6 times 7?", tool_required=True)
    (output,) = result.sources
    assert output.tool_name == "multiply"
    arguments = output.raw_input["kwargs"]
    assert isinstance(arguments["a"], int) and isinstance(arguments["b"], int)
    assert output.raw_output == arguments["a"] * arguments["b"]
    assert result.response == str(output.raw_output)


@pytest.mark.integration
async def test_embedded_function_agent(embedded: hf.LLM) -> None:
    tool = FunctionTool.from_defaults(fn=multiply, return_direct=True)
    agent = FunctionAgent(tools=[tool], llm=HomefireLLM(embedded), initial_tool_choice="multiply")
    result = await agent.run("What is 6 times 7?")
    (selection,) = result.tool_calls
    assert selection.tool_name == "multiply"
    assert str(result) == str(selection.tool_kwargs["a"] * selection.tool_kwargs["b"])
