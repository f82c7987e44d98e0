"""A request feature reaches the model natively, or through homefire's constrained fallback, or
the call raises NotSupportedError before it is sent: OpenAILike learns which from the server,
and Llamafile knows llama.cpp's gaps. The servers here are scripted on loopback to behave as
real ones do (llama-cpp-python, llama.cpp, a server that ignores everything)."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

import pytest
from loopback import LoopbackServer, Seen, chunked, reply, sse

import homefire as hf
from homefire.protocols import openai

pytestmark = pytest.mark.unit

QUESTION = "Weather in Paris?"
CALL = {"name": "get_weather", "arguments": {"city": "Paris"}}


def get_weather(city: str) -> str:
    """Current weather in a city."""
    return "sunny"


def chat_answer(content: str | None, tool_calls: list[dict[str, Any]] | None = None) -> Any:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if tool_calls:
        message["tool_calls"] = tool_calls
    reason = "tool_calls" if tool_calls else "stop"
    return {"choices": [{"index": 0, "message": message, "finish_reason": reason}]}


def constrained(schema: dict[str, Any], answers: dict[str, Any]) -> str:
    """What a server that applies `schema` makes the model say."""
    if "probe" in schema.get("properties", {}):
        return json.dumps({"probe": "homefire"})
    if "anyOf" in schema or "name" in schema.get("properties", {}):
        return json.dumps(CALL)
    return json.dumps(answers.get("structured", "yes"))


class Scripted:
    """An OpenAI-compatible chat and completion route that honours only what it is told to."""

    def __init__(
        self,
        *,
        tools: set[str] = frozenset(),  # type: ignore[assignment]
        forms: set[str] = frozenset(),  # type: ignore[assignment]
        refuse: set[str] = frozenset(),  # type: ignore[assignment]
        answers: dict[str, Any] | None = None,
    ) -> None:
        self.tools, self.forms, self.refuse = tools, forms, refuse
        self.answers = answers or {}
        self.bodies: list[dict[str, Any]] = []

    def user_requests(self) -> list[dict[str, Any]]:
        """The requests that carried the caller's own question (not a probe)."""
        return [
            b for b in self.bodies if QUESTION in json.dumps(b.get("messages", b.get("prompt")))
        ]

    def route(self, completion: bool = False) -> Callable[[socket.socket, Seen, int], bool]:
        def action(conn: socket.socket, seen: Seen, attempt: int) -> bool:
            body = json.loads(seen.body)
            self.bodies.append(body)
            status, answer = self._answer(body, completion)
            if body.get("stream") and status == 200 and not completion:
                return chunked(sse(*_pieces(answer)))(conn, seen, attempt)
            return reply(status, answer)(conn, seen, attempt)

        return action

    def _answer(self, body: dict[str, Any], completion: bool) -> tuple[int, Any]:
        form, schema = _constraint(body)
        if form in self.refuse:
            return 500, {"error": {"message": f"Input should be 'text' or 'json_object': {form}"}}
        if form in self.forms and schema is not None:
            text = constrained(schema, self.answers)
        else:
            text = self._unconstrained(body)
            if isinstance(text, dict):
                return 200, text
        if completion:
            return 200, {"choices": [{"index": 0, "text": text, "finish_reason": "stop"}]}
        return 200, chat_answer(text)

    def _unconstrained(self, body: dict[str, Any]) -> Any:
        choice = body.get("tool_choice")
        kind = "named" if isinstance(choice, dict) else choice or "auto"
        if body.get("tools") and kind in self.tools:
            name = choice["function"]["name"] if isinstance(choice, dict) else "homefire_probe_a"
            if QUESTION in json.dumps(body["messages"]):
                name = "get_weather"
            arguments = json.dumps({"city": "Paris"} if name == "get_weather" else {})
            call = {
                "id": "c9",
                "type": "function",
                "function": {"name": name, "arguments": arguments},
            }
            return chat_answer(None, [call])
        return "Plain words."


def _pieces(answer: Any) -> list[Any]:
    """A whole chat answer as the stream chunks that would have carried it."""
    (choice,) = answer["choices"]
    delta = {k: v for k, v in choice["message"].items() if v is not None}
    done = {"index": 0, "delta": {}, "finish_reason": choice["finish_reason"]}
    return [{"choices": [{"index": 0, "delta": delta}]}, {"choices": [done]}]


def _constraint(body: dict[str, Any]) -> tuple[str | None, dict[str, Any] | None]:
    if "json_schema" in body:
        return "llamacpp", body["json_schema"]
    response_format = body.get("response_format")
    if not isinstance(response_format, dict):
        return None, None
    if response_format.get("type") == "json_schema":
        return "json_schema", response_format["json_schema"]["schema"]
    return response_format.get("type"), response_format.get("schema")


def serve(loopback: LoopbackServer, script: Scripted) -> hf.OpenAILike:
    loopback.routes["/v1/chat/completions"] = script.route()
    loopback.routes["/v1/completions"] = script.route(completion=True)
    return hf.OpenAILike(base_url=loopback.url + "/v1", model="m")


def test_a_server_that_ignores_everything_gets_nothing_it_would_drop(
    loopback: LoopbackServer,
) -> None:
    script = Scripted()
    llm = serve(loopback, script)
    with pytest.raises(hf.NotSupportedError, match="does not constrain"):
        llm.chat(QUESTION, tools=[get_weather], tool_choice="required")
    with pytest.raises(hf.NotSupportedError):
        llm.structured(QUESTION, {"type": "object", "properties": {"a": {"type": "string"}}})
    with pytest.raises(hf.NotSupportedError):
        list(llm.stream_chat(QUESTION, json_schema={"type": "string"}))
    with pytest.raises(hf.NotSupportedError, match="instead of completion"):
        llm.complete(QUESTION, json_schema={"type": "string"})
    assert script.user_requests() == []
    assert llm.chat(QUESTION).text == "Plain words."


def test_ignored_tools_go_through_the_constrained_fallback(loopback: LoopbackServer) -> None:
    script = Scripted(forms={"json_schema"})
    llm = serve(loopback, script)
    for choice in ("required", "get_weather", "auto"):
        answer = llm.chat(QUESTION, tools=[get_weather], tool_choice=choice)
        assert [(c.name, c.arguments) for c in answer.message.tool_calls] == [
            ("get_weather", {"city": "Paris"})
        ]
    sent = script.user_requests()
    assert len(sent) == 3
    assert all(
        "tools" not in body and body["response_format"]["type"] == "json_schema" for body in sent
    )
    probes = len(script.bodies) - len(sent)
    llm.chat(QUESTION, tools=[get_weather], tool_choice="required")
    assert len(script.bodies) - len(script.user_requests()) == probes


async def test_async_learns_the_same(loopback: LoopbackServer) -> None:
    script = Scripted(forms={"json_schema"})
    llm = serve(loopback, script)
    answer = await llm.achat(QUESTION, tools=[get_weather], tool_choice="required")
    assert [c.name for c in answer.message.tool_calls] == ["get_weather"]
    chunks = [c async for c in llm.astream_chat(QUESTION, json_schema={"type": "string"})]
    assert chunks[-1].text == '"yes"'


def test_tools_a_server_calls_itself_stay_native(loopback: LoopbackServer) -> None:
    script = Scripted(tools={"named", "required", "auto"})
    llm = serve(loopback, script)
    answer = llm.chat(QUESTION, tools=[get_weather], tool_choice="get_weather")
    assert [c.name for c in answer.message.tool_calls] == ["get_weather"]
    (sent,) = script.user_requests()
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert "response_format" not in sent


def test_a_refused_json_schema_falls_back_to_json_object(loopback: LoopbackServer) -> None:
    script = Scripted(
        forms={"json_object"}, refuse={"json_schema"}, answers={"structured": {"city": "Lyon"}}
    )
    llm = serve(loopback, script)
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
    assert llm.structured(QUESTION, schema) == {"city": "Lyon"}
    assert llm.structured(QUESTION, schema) == {"city": "Lyon"}
    sent = script.user_requests()
    assert [body["response_format"]["type"] for body in sent] == ["json_object", "json_object"]
    assert len(script.bodies) - len(sent) == 2  # json_schema refused, json_object taken: once


def test_completion_schema_goes_in_llama_cpp_s_field(loopback: LoopbackServer) -> None:
    script = Scripted(forms={"llamacpp"})
    llm = serve(loopback, script)
    assert llm.complete(QUESTION, json_schema={"type": "string"}).text == '"yes"'
    (sent,) = script.user_requests()
    assert sent["json_schema"] == {"type": "string"} and "response_format" not in sent


def test_a_probe_is_not_a_place_to_hide_a_real_error(loopback: LoopbackServer) -> None:
    loopback.routes["/v1/chat/completions"] = reply(401, {"error": {"message": "bad key"}})
    llm = hf.OpenAILike(base_url=loopback.url + "/v1", model="m")
    with pytest.raises(hf.AuthenticationError):
        llm.chat(QUESTION, tools=[get_weather], tool_choice="required")


def test_llamafile_takes_a_named_tool_through_the_fallback(loopback: LoopbackServer) -> None:
    script = Scripted(forms={"json_schema"})
    loopback.routes["/v1/chat/completions"] = script.route()
    llm = hf.Llamafile(base_url=loopback.url, model="m")
    answer = llm.chat(QUESTION, tools=[get_weather], tool_choice="get_weather")
    assert [c.name for c in answer.message.tool_calls] == ["get_weather"]
    (sent,) = script.bodies
    assert "tools" not in sent and "tool_choice" not in sent
    assert sent["response_format"]["json_schema"]["schema"]["properties"]["name"]["enum"] == [
        "get_weather"
    ]


def test_tool_turns_never_carry_null_content() -> None:
    message = hf.ChatMessage(
        hf.MessageRole.ASSISTANT, None, tool_calls=[hf.ToolCall("c1", "f", {"a": 1})]
    )
    assert openai.message_to_wire(message)["content"] == ""


def test_a_tool_name_repeated_in_every_piece_is_kept_once() -> None:
    assembler = openai.ChatStreamAssembler()
    pieces = ['{"city"', ': "Paris"}']
    for piece in pieces:
        fragment = {"index": 0, "id": "c1", "function": {"name": "get_weather", "arguments": piece}}
        assembler.feed({"choices": [{"index": 0, "delta": {"tool_calls": [fragment]}}]})
    assembler.feed({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]})
    (call,) = assembler.finish().message.tool_calls
    assert (call.name, call.arguments) == ("get_weather", {"city": "Paris"})


def test_embeddings_sent_per_token_are_pooled() -> None:
    body = {
        "data": [
            {"index": 0, "embedding": [[1.0, 2.0], [3.0, 4.0]]},
            {"index": 1, "embedding": [5, 6]},
        ]
    }
    assert openai.parse_embeddings(body) == [[2.0, 3.0], [5.0, 6.0]]
    with pytest.raises(hf.ProtocolError):
        openai.parse_embeddings({"data": [{"embedding": [[1.0], [1.0, 2.0]]}]})
