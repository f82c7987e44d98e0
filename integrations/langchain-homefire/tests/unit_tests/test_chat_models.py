"""ChatHomefire without a model: LangChain's standard unit suite, and the adapter's own
mapping of options, messages, tool calls and structured output over a scripted homefire LLM."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import homefire as hf
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langchain_tests.unit_tests import ChatModelUnitTests
from pydantic import BaseModel, Field, ValidationError

from langchain_homefire import ChatHomefire
from langchain_homefire._messages import to_homefire

from .conftest import Scripted

pytestmark = pytest.mark.unit

# A server spec: building its client sends nothing, and the unit suite never calls the model.
SPEC = "openai://127.0.0.1:9/v1/test-model"


class TestChatHomefireUnit(ChatModelUnitTests):
    @property
    def chat_model_class(self) -> type[ChatHomefire]:
        return ChatHomefire

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": SPEC}

    @property
    def has_tool_calling(self) -> bool:
        return True

    @property
    def has_tool_choice(self) -> bool:
        return True

    @property
    def has_structured_output(self) -> bool:
        return True

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def supports_image_inputs(self) -> bool:
        return False

    @property
    def supports_model_override(self) -> bool:
        return False


@tool
def magic_function(input: int) -> int:
    """Apply a magic function to an input."""
    return input + 2


@tool
def get_weather(location: str) -> str:
    """Get the weather at a location."""
    return "sunny"


class Joke(BaseModel):
    setup: str = Field(description="question to set up a joke")
    punchline: str | None = Field(default=None, description="answer to resolve the joke")


def _streamed(chat: Any, prompt: str) -> AIMessageChunk:
    chunks = list(chat.stream(prompt))
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert chunks[-1].chunk_position == "last"
    assert isinstance(full, AIMessageChunk)
    return full


# --- building ---------------------------------------------------------------------------------


def test_model_spec_builds_a_server_client_with_the_client_settings() -> None:
    chat = ChatHomefire(model=SPEC, api_key="key", timeout=12.5, max_retries=4)
    assert isinstance(chat.llm, hf.OpenAILike)
    assert chat.model_name == "test-model"
    assert chat.llm.http.timeouts.total == 12.5
    assert chat.llm.http.retry.attempts == 5


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"model": SPEC}, "model"),
        ({"timeout": 3.0}, "timeout"),
        ({"api_key": "key"}, "api_key"),
    ],
)
def test_settings_for_a_built_client_are_refused_with_a_given_llm(
    kwargs: dict[str, Any], problem: str
) -> None:
    with pytest.raises(ValidationError, match=f"{problem}.*set it on the llm="):
        ChatHomefire(llm=Scripted(), **kwargs)


@pytest.mark.parametrize("kwargs", [{"timeout": 3.0}, {"model": "llamacpp:/m.gguf", "timeout": 1}])
def test_server_settings_are_refused_for_an_in_process_model(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValidationError, match="in-process model takes none"):
        ChatHomefire(**kwargs)


def test_llm_must_be_a_homefire_llm() -> None:
    with pytest.raises(ValidationError, match="must be a homefire LLM"):
        ChatHomefire(llm=object())


def test_a_misspelt_setting_is_an_error() -> None:
    with pytest.raises(ValidationError, match="temprature"):
        ChatHomefire(llm=Scripted(), temprature=0.5)


def test_max_retries_must_be_a_count() -> None:
    with pytest.raises(ValidationError, match="max_retries"):
        ChatHomefire(model=SPEC, max_retries=-1)


# --- options ----------------------------------------------------------------------------------


def test_settings_and_call_options_reach_the_llm() -> None:
    llm = Scripted("a", "b")
    chat = ChatHomefire(
        llm=llm, temperature=0.2, max_tokens=7, stop=["x"], seed=3, top_k=4, extra={"mirostat": 2}
    )
    chat.invoke("hi")
    assert llm.options[0] == {
        "temperature": 0.2,
        "max_tokens": 7,
        "stop": ["x"],
        "seed": 3,
        "top_k": 4,
        "extra": {"mirostat": 2},
    }
    chat.invoke("hi", stop=["y"], top_k=5, min_p=0.1, extra={"typical_p": 0.9})
    assert llm.options[1] == {
        "temperature": 0.2,
        "max_tokens": 7,
        "stop": ["y"],
        "seed": 3,
        "top_k": 5,
        "min_p": 0.1,
        "extra": {"mirostat": 2, "typical_p": 0.9},
    }


def test_an_unknown_call_option_is_an_error() -> None:
    chat = ChatHomefire(llm=Scripted("a"))
    with pytest.raises(hf.InvalidParameterError, match="temprature"):
        chat.invoke("hi", temprature=0.5)


def test_ls_params_name_the_model_and_its_settings() -> None:
    chat = ChatHomefire(llm=Scripted(), temperature=0.5, max_tokens=9, stop=["z"])
    assert chat._get_ls_params() == {
        "ls_provider": "homefire",
        "ls_model_name": "scripted",
        "ls_model_type": "chat",
        "ls_temperature": 0.5,
        "ls_max_tokens": 9,
        "ls_stop": ["z"],
    }


# --- answers ----------------------------------------------------------------------------------


def test_invoke_carries_usage_and_metadata() -> None:
    message = ChatHomefire(llm=Scripted("Paris.")).invoke("Capital of France?")
    assert message.content == "Paris."
    assert message.usage_metadata == {
        "input_tokens": 7,
        "output_tokens": 3,
        "total_tokens": 10,
        "input_token_details": {"cache_read": 2},
    }
    assert message.response_metadata["model_name"] == "scripted"
    assert message.response_metadata["model_provider"] == "homefire"
    assert message.response_metadata["finish_reason"] == "stop"


def test_a_stream_that_ends_without_a_reason_still_closes_with_the_model_name() -> None:
    full = _streamed(ChatHomefire(llm=Scripted("The capital is Paris.")), "Capital?")
    assert full.content == "The capital is Paris."
    assert full.response_metadata["model_name"] == "scripted"


def test_streaming_true_makes_invoke_stream() -> None:
    llm = Scripted("one two three")
    chat = ChatHomefire(llm=llm, streaming=True)
    tokens: list[str] = []

    class Tokens(BaseCallbackHandler):
        def on_llm_new_token(self, token: Any, **kwargs: Any) -> None:
            tokens.append(token)

    message = chat.invoke("count", config={"callbacks": [Tokens()]})
    assert message.content == "one two three"
    assert len(tokens) > 1


def test_batch_answers_each_prompt() -> None:
    answers = ChatHomefire(llm=Scripted("a", "b")).batch(["1", "2"], {"max_concurrency": 1})
    assert sorted(str(m.content) for m in answers) == ["a", "b"]


# --- async is the LLM's own async -------------------------------------------------------------


class AsyncOnly(hf.CustomLLM):
    """Answers only after the test lets it, on the test's own event loop; run anywhere else
    (a worker thread, another loop) it could not see that event."""

    model_name = "async-only"

    def __init__(self, release: asyncio.Event) -> None:
        super().__init__()
        self.release = release
        self.loops: list[asyncio.AbstractEventLoop] = []

    async def acomplete(self, prompt: str, **options: Any) -> str:  # type: ignore[override]
        self.loops.append(asyncio.get_running_loop())
        await self.release.wait()
        return "done"

    async def astream_complete(self, prompt: str, **options: Any) -> Any:  # type: ignore[override]
        self.loops.append(asyncio.get_running_loop())
        await self.release.wait()
        for piece in ("do", "ne"):
            yield piece


async def test_ainvoke_and_astream_await_the_llm_on_the_callers_loop() -> None:
    release = asyncio.Event()
    llm = AsyncOnly(release)
    chat = ChatHomefire(llm=llm)
    loop = asyncio.get_running_loop()
    loop.call_soon(release.set)
    message = await asyncio.wait_for(chat.ainvoke("go"), timeout=30)
    assert message.content == "done"
    pieces = [chunk.content async for chunk in chat.astream("go")]
    assert "".join(str(p) for p in pieces) == "done"
    assert llm.loops == [loop, loop]


# --- messages ---------------------------------------------------------------------------------


def test_history_becomes_homefire_messages() -> None:
    history: list[BaseMessage] = [
        SystemMessage("Be brief."),
        HumanMessage("What is 1 + 2?", name="ann"),
        AIMessage(
            [
                {"type": "text", "text": "Let me add."},
                {"type": "tool_use", "id": "abc", "name": "add", "input": {"a": 1, "b": 2}},
            ],
            tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "abc"}],
        ),
        ToolMessage(json.dumps({"result": 3}), tool_call_id="abc", name="add"),
        ChatMessage(role="user", content=[{"type": "text", "text": "And "}, "2 + 2?"]),
    ]
    sent = to_homefire(history)
    assert [m.role.value for m in sent] == ["system", "user", "assistant", "tool", "user"]
    assert sent[1].name == "ann"
    assert sent[2].content == "Let me add."
    assert sent[2].tool_calls == [hf.ToolCall("abc", "add", {"a": 1, "b": 2})]
    assert (sent[3].content, sent[3].tool_call_id, sent[3].name) == ('{"result": 3}', "abc", "add")
    assert sent[4].content == "And 2 + 2?"


def test_reasoning_in_history_is_kept_apart_from_the_text() -> None:
    [sent] = to_homefire(
        [AIMessage([{"type": "reasoning", "reasoning": "hmm"}, {"type": "text", "text": "4"}])]
    )
    assert (sent.content, sent.reasoning) == ("4", "hmm")


@pytest.mark.parametrize(
    "message",
    [
        HumanMessage([{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]),
        FunctionMessage(content="x", name="f"),
    ],
)
def test_what_homefire_cannot_send_is_an_error(message: BaseMessage) -> None:
    with pytest.raises(hf.NotSupportedError):
        ChatHomefire(llm=Scripted("never")).invoke([message])


def test_an_unknown_role_is_an_error() -> None:
    with pytest.raises(hf.InvalidParameterError, match="unknown role"):
        to_homefire([ChatMessage(role="critic", content="meh")])


def test_a_tool_result_in_history_reaches_the_model() -> None:
    llm = Scripted(json.dumps({"content": "It is 3."}))
    chat = ChatHomefire(llm=llm).bind_tools([magic_function])
    chat.invoke(
        [
            HumanMessage("What is magic_function(1)?"),
            AIMessage(
                "", tool_calls=[{"name": "magic_function", "args": {"input": 1}, "id": "c1"}]
            ),
            ToolMessage("the-magic-result-is-3", tool_call_id="c1", name="magic_function"),
        ]
    )
    assert "the-magic-result-is-3" in llm.prompts[0]


# --- tools ------------------------------------------------------------------------------------

CALL = json.dumps({"name": "magic_function", "arguments": {"input": 3}})


def _allowed_answers(schema: dict[str, Any]) -> set[str]:
    """What homefire's constraint lets a model without native tools answer: the names of the
    tools it may call, and "<text>" if it may answer in words."""
    shapes = schema.get("anyOf", [schema])
    return {
        s["properties"]["name"]["enum"][0] if "name" in s["properties"] else "<text>"
        for s in shapes
    }


def test_auto_lets_the_model_answer_in_words_or_call_any_tool() -> None:
    llm = Scripted(json.dumps({"content": "Sunny."}))
    chat = ChatHomefire(llm=llm).bind_tools([magic_function, get_weather])
    assert chat.invoke("Weather?").content == "Sunny."
    assert _allowed_answers(llm.options[0]["json_schema"]) == {
        "magic_function",
        "get_weather",
        "<text>",
    }


def test_tool_calls_come_back_as_langchain_tool_calls() -> None:
    llm = Scripted(CALL, CALL)
    chat = ChatHomefire(llm=llm).bind_tools([magic_function], tool_choice="any")
    message = chat.invoke("magic_function(3)?")
    assert isinstance(message, AIMessage)
    [call] = message.tool_calls
    assert (call["name"], call["args"], call["type"]) == (
        "magic_function",
        {"input": 3},
        "tool_call",
    )
    assert call["id"]
    assert _allowed_answers(llm.options[0]["json_schema"]) == {"magic_function"}
    full = _streamed(chat, "magic_function(3)?")
    assert [(c["name"], c["args"]) for c in full.tool_calls] == [("magic_function", {"input": 3})]


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("any", "required"),
        ("get_weather", "get_weather"),
        ({"type": "function", "function": {"name": "get_weather"}}, "get_weather"),
    ],
)
def test_tool_choice_maps_onto_homefire(choice: Any, sent: str) -> None:
    bound = ChatHomefire(llm=Scripted()).bind_tools(
        [magic_function, get_weather], tool_choice=choice
    )
    assert bound.kwargs["tool_choice"] == sent  # type: ignore[attr-defined]


def test_an_unknown_tool_choice_is_refused_when_binding() -> None:
    with pytest.raises(hf.InvalidParameterError, match="tool_choice"):
        ChatHomefire(llm=Scripted()).bind_tools([magic_function], tool_choice="other")


# --- structured output ------------------------------------------------------------------------

JOKE = json.dumps({"setup": "Why?", "punchline": "Because."})


def test_json_schema_output_is_held_to_the_closed_schema() -> None:
    llm = Scripted(JOKE)
    joke = ChatHomefire(llm=llm).with_structured_output(Joke).invoke("A joke")
    assert joke == Joke(setup="Why?", punchline="Because.")
    schema = llm.options[0]["json_schema"]
    assert schema["additionalProperties"] is False
    assert schema["required"] == ["setup"]


def test_strict_json_schema_requires_every_property_and_not_strict_leaves_it_open() -> None:
    llm = Scripted(JOKE, JOKE)
    chat = ChatHomefire(llm=llm)
    chat.with_structured_output(Joke, strict=True).invoke("A joke")
    assert llm.options[0]["json_schema"]["required"] == ["setup", "punchline"]
    assert chat.with_structured_output(Joke.model_json_schema(), strict=False).invoke("A joke") == {
        "setup": "Why?",
        "punchline": "Because.",
    }
    assert "additionalProperties" not in llm.options[1]["json_schema"]


def test_function_calling_output_forces_the_schema_tool() -> None:
    llm = Scripted(json.dumps({"name": "Joke", "arguments": {"setup": "Why?"}}))
    chat = ChatHomefire(llm=llm).with_structured_output(Joke, method="function_calling")
    assert chat.invoke("A joke") == Joke(setup="Why?")
    assert _allowed_answers(llm.options[0]["json_schema"]) == {"Joke"}


def test_json_mode_asks_for_any_object() -> None:
    llm = Scripted(JOKE)
    result = ChatHomefire(llm=llm).with_structured_output(method="json_mode").invoke("JSON joke")
    assert result == {"setup": "Why?", "punchline": "Because."}
    assert llm.options[0]["json_schema"] == {"type": "object"}


def test_include_raw_keeps_the_message_and_the_parsing_error() -> None:
    chat = ChatHomefire(llm=Scripted("not json")).with_structured_output(Joke, include_raw=True)
    result = chat.invoke("A joke")
    assert isinstance(result, dict)
    assert isinstance(result["raw"], AIMessage)
    assert result["parsed"] is None
    assert result["parsing_error"] is not None


def test_with_structured_output_refuses_unknown_arguments_and_methods() -> None:
    chat = ChatHomefire(llm=Scripted())
    with pytest.raises(hf.InvalidParameterError, match="tools"):
        chat.with_structured_output(Joke, tools=[])
    with pytest.raises(hf.InvalidParameterError, match="method"):
        chat.with_structured_output(Joke, method="xml")  # type: ignore[arg-type]
    with pytest.raises(hf.InvalidParameterError, match="needs a schema"):
        chat.with_structured_output(None)
