"""Tool calls, reasoning and structured output in Ollama's, LM Studio's and LocalAI's own
shapes (fake servers on 127.0.0.1) come out as the same objects as from llama.cpp's server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pydantic
import pytest

import homefire as hf
from components import require_samples
from fakes._server import FakeServer, Reply, Request, ndjson, sse
from homefire.protocols import openai

pytestmark = pytest.mark.unit

ARGUMENTS = '{"city": "Paris"}'
THOUGHT = "Let me think."
ANSWER = "It is sunny."
CITY = '{"name": "Paris", "population": 2100000, "capital": true}'


class City(pydantic.BaseModel):
    name: str
    population: int
    capital: bool


def get_weather(city: str) -> str:
    """Get the weather for a city."""
    return "sunny"


def pieces(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


class OpenAIDialectFake(FakeServer):
    """LM Studio (`/api/v0/...`, reasoning in `reasoning`) or LocalAI (`/v1/...`, reasoning
    left in the content as `<think>` tags)."""

    def __init__(self, flavour: str) -> None:
        super().__init__()
        self.flavour = flavour
        self.mode = "tool"
        path = "/api/v0/chat/completions" if flavour == "lmstudio" else "/v1/chat/completions"
        self.route("POST", path, self.chat)

    def _text(self) -> tuple[str | None, str]:
        if self.mode == "json":
            return None, CITY
        if self.flavour == "lmstudio":
            return THOUGHT, ANSWER
        return None, f"<think>{THOUGHT}</think>\n{ANSWER}"

    def chat(self, request: Request) -> Reply:
        body = request.json()
        if body.get("stream"):
            return Reply(stream=sse(self._chunks()), content_type="text/event-stream")
        message: dict[str, Any] = {"role": "assistant"}
        if self.mode == "tool":
            message["content"] = None
            message["tool_calls"] = [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ARGUMENTS},
                }
            ]
        else:
            thought, message["content"] = self._text()
            if thought:
                message["reasoning"] = thought
        reason = "tool_calls" if self.mode == "tool" else "stop"
        return Reply(body={"choices": [{"index": 0, "message": message, "finish_reason": reason}]})

    def _chunks(self) -> Iterator[dict[str, Any]]:
        def chunk(delta: dict[str, Any], reason: str | None = None) -> dict[str, Any]:
            return {"choices": [{"index": 0, "delta": delta, "finish_reason": reason}]}

        if self.mode == "tool":
            yield chunk(
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "index": 0,
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": ""},
                        }
                    ],
                }
            )
            for piece in pieces(ARGUMENTS):
                yield chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
            yield chunk({}, "tool_calls")
            return
        thought, text = self._text()
        if thought:
            for piece in pieces(thought):
                yield chunk({"reasoning": piece})
        for piece in pieces(text, 3):
            yield chunk({"content": piece})
        yield chunk({}, "stop")


class OllamaDialectFake(FakeServer):
    """Ollama: object arguments and no call ids, `thinking`, NDJSON streams."""

    def __init__(self) -> None:
        super().__init__()
        self.mode = "tool"
        self.route("POST", "/api/chat", self.chat)

    def _message(self) -> dict[str, Any]:
        if self.mode == "tool":
            call = {"function": {"name": "get_weather", "arguments": json.loads(ARGUMENTS)}}
            return {"role": "assistant", "content": "", "tool_calls": [call]}
        if self.mode == "json":
            return {"role": "assistant", "content": CITY}
        return {"role": "assistant", "content": ANSWER, "thinking": THOUGHT}

    def chat(self, request: Request) -> Reply:
        done = {"done": True, "done_reason": "stop", "prompt_eval_count": 5, "eval_count": 5}
        if not request.json().get("stream", True):
            return Reply(body={"model": "m", "message": self._message(), **done})
        message = self._message()
        lines: list[dict[str, Any]] = []
        if "thinking" in message:
            lines += [
                {"message": {"role": "assistant", "content": "", "thinking": p}, "done": False}
                for p in pieces(THOUGHT)
            ]
        if message.get("tool_calls"):
            lines.append({"message": message, "done": False})
        else:
            lines += [
                {"message": {"role": "assistant", "content": p}, "done": False}
                for p in pieces(message["content"], 3)
            ]
        lines.append({"message": {"role": "assistant", "content": ""}, **done})
        return Reply(stream=ndjson(lines), content_type="application/x-ndjson")


@pytest.fixture(params=["ollama", "lmstudio", "localai"])
def backend(request: pytest.FixtureRequest) -> Iterator[tuple[Any, hf.LLM]]:
    fake: Any
    llm: hf.LLM
    if request.param == "ollama":
        fake = OllamaDialectFake().start()
        llm = hf.Ollama("m", base_url=fake.base_url)
    else:
        fake = OpenAIDialectFake(request.param).start()
        cls = hf.LMStudio if request.param == "lmstudio" else hf.LocalAI
        llm = cls("m", base_url=fake.base_url)
    yield fake, llm
    llm.close()
    fake.stop()


def reference_call() -> tuple[str, dict[str, Any]]:
    """The call llama.cpp's server returned in the recorded traffic."""
    path = require_samples() / "llama_server_tools" / "tools_prefill.body"
    (call,) = openai.parse_chat(json.loads(path.read_text())).message.tool_calls
    return call.name, call.arguments


def test_tool_calls_match_llama_cpp(backend: tuple[Any, hf.LLM]) -> None:
    _, llm = backend
    expected = reference_call()
    whole = llm.chat("Weather in Paris?", tools=[get_weather])
    (call,) = whole.message.tool_calls
    assert (call.name, call.arguments) == expected
    chunks = list(llm.stream_chat("Weather in Paris?", tools=[get_weather]))
    (streamed,) = chunks[-1].message.tool_calls
    assert (streamed.name, streamed.arguments) == expected
    assert all(not c.message.tool_calls for c in chunks[:-1])


def test_tools_reach_the_server_natively(backend: tuple[Any, hf.LLM]) -> None:
    fake, llm = backend
    llm.chat("Weather in Paris?", tools=[get_weather])
    sent = fake.requests[-1].json()
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    assert "json_schema" not in json.dumps(sent.get("response_format", {}))


def test_reasoning_is_kept_apart(backend: tuple[Any, hf.LLM]) -> None:
    fake, llm = backend
    fake.mode = "reason"
    whole = llm.chat("Weather?")
    assert (whole.message.reasoning, whole.text) == (THOUGHT, ANSWER)
    chunks = list(llm.stream_chat("Weather?"))
    assert "".join(c.reasoning_delta or "" for c in chunks) == THOUGHT
    assert "".join(c.delta or "" for c in chunks) == ANSWER
    assert (chunks[-1].message.reasoning, chunks[-1].message.content) == (THOUGHT, ANSWER)


def test_structured_output_uses_the_native_constraint(backend: tuple[Any, hf.LLM]) -> None:
    fake, llm = backend
    fake.mode = "json"
    expected = City(name="Paris", population=2100000, capital=True)
    assert llm.structured("Paris?", City) == expected
    sent = fake.requests[-1].json()
    schema = (
        sent["format"] if "format" in sent else sent["response_format"]["json_schema"]["schema"]
    )
    assert schema["required"] == ["name", "population", "capital"]
    assert list(llm.stream_structured("Paris?", City))[-1] == expected


def test_ollama_forced_choice_is_enforced_by_format() -> None:
    fake = OllamaDialectFake().start()
    fake.mode = "json"
    try:
        with hf.Ollama("m", base_url=fake.base_url) as llm:
            fake_call = {"name": "get_weather", "arguments": {"city": "Paris"}}
            fake._message = lambda: {"role": "assistant", "content": json.dumps(fake_call)}  # type: ignore[method-assign]
            response = llm.chat("Weather?", tools=[get_weather], tool_choice="get_weather")
        (call,) = response.message.tool_calls
        assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})
        sent = fake.requests[-1].json()
        assert "tools" not in sent
        assert sent["format"]["properties"]["name"]["enum"] == ["get_weather"]
    finally:
        fake.stop()


class LlamaServerFake(FakeServer):
    """llama.cpp's server: `/props` tells whether the chat template handles tools."""

    def __init__(self, supports_tools: bool) -> None:
        super().__init__()
        self.caps = {"supports_tools": supports_tools, "supports_tool_calls": supports_tools}
        self.route("GET", "/props", lambda r: Reply(body={"chat_template_caps": self.caps}))
        self.route("POST", "/v1/chat/completions", self.chat)

    def chat(self, request: Request) -> Reply:
        body = request.json()
        content = (
            None
            if body.get("tools")
            else json.dumps({"name": "get_weather", "arguments": {"city": "Paris"}})
        )
        message: dict[str, Any] = {"role": "assistant", "content": content}
        if body.get("tools"):
            call = {
                "id": "c1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": ARGUMENTS},
            }
            message["tool_calls"] = [call]
        return Reply(body={"choices": [{"index": 0, "message": message, "finish_reason": "stop"}]})


@pytest.mark.parametrize("supports_tools", [True, False])
def test_llama_server_uses_native_tools_only_when_its_template_can(supports_tools: bool) -> None:
    fake = LlamaServerFake(supports_tools).start()
    try:
        with hf.Llamafile(base_url=fake.base_url) as llm:
            response = llm.chat("Weather?", tools=[get_weather], tool_choice="required")
            llm.chat("Weather?", tools=[get_weather], tool_choice="required")
        (call,) = response.message.tool_calls
        assert (call.name, call.arguments) == reference_call()
        sent = fake.requests[-1].json()
        assert ("tools" in sent) is supports_tools
        assert ("response_format" in sent) is not supports_tools
        assert [r.path for r in fake.requests].count("/props") == 1
    finally:
        fake.stop()
