"""`homefire serve`'s front end without a model: reading requests, writing answers, the Host
policy and the mapping of errors to statuses."""

from __future__ import annotations

import base64
import contextlib
import json
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import homefire as hf
from homefire.protocols import openai_server as wire
from homefire.servers.front.app import error_body
from homefire.servers.front.guard import HostPolicy, host_name

pytestmark = pytest.mark.unit

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def test_chat_request_maps_openai_fields_onto_options() -> None:
    parsed = wire.parse_chat_request(
        {
            "model": "anything",
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
                },
            ],
            "max_completion_tokens": 7,
            "temperature": 0,
            "stop": "\n",
            "tools": [WEATHER],
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "parallel_tool_calls": False,
            "ignore_eos": True,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    )
    assert [m.role.value for m in parsed.messages] == ["system", "user"]
    assert parsed.messages[1].content == "a\nb"
    assert parsed.options["max_tokens"] == 7 and parsed.options["tool_choice"] == "get_weather"
    assert parsed.options["extra"] == {"ignore_eos": True}
    assert parsed.stream and parsed.include_usage


@pytest.mark.parametrize(
    ("response_format", "schema"),
    [
        ({"type": "text"}, None),
        ({"type": "json_object"}, {"type": "object"}),
        ({"type": "json_object", "schema": {"type": "array"}}, {"type": "array"}),
        (
            {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "integer"}}},
            {"type": "integer"},
        ),
    ],
)
def test_response_format_becomes_the_json_schema(response_format: Any, schema: Any) -> None:
    body = {"messages": [{"role": "user", "content": "x"}], "response_format": response_format}
    assert wire.parse_chat_request(body).options.get("json_schema") == schema


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ([], hf.InvalidParameterError),
        ({"messages": []}, hf.InvalidParameterError),
        ({"messages": [{"role": ["user"], "content": "x"}]}, hf.InvalidParameterError),
        ({"messages": [{"role": "user", "content": 5}]}, hf.InvalidParameterError),
        ({"messages": [{"role": "user", "content": "\ud800"}]}, hf.InvalidParameterError),
        ({"messages": [{"role": "user", "content": "x"}], "n": 2}, hf.NotSupportedError),
        ({"messages": [{"role": "user", "content": "x"}], "logprobs": True}, hf.NotSupportedError),
        ({"messages": [{"role": "user", "content": "x"}], "functions": []}, hf.NotSupportedError),
        ({"messages": [{"role": "user", "content": "x"}], "made_up": 1}, hf.InvalidParameterError),
        (
            {"messages": [{"role": "user", "content": "x"}], "tool_choice": "required"},
            hf.InvalidParameterError,
        ),
        (
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
            hf.NotSupportedError,
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "response_format": {"type": "xml"}},
            hf.InvalidParameterError,
        ),
    ],
)
def test_bad_or_unhonoured_requests_are_refused_by_name(body: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        wire.parse_chat_request(body)


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "messages",
                        "role",
                        "content",
                        "tools",
                        "tool_choice",
                        "prompt",
                        "response_format",
                        "stream",
                        "input",
                        "type",
                        "function",
                        "name",
                        "stream_options",
                        "max_tokens",
                        "stop",
                        "n",
                        "json_schema",
                    ]
                )
                | st.text(max_size=8),
                inner,
                max_size=5,
            )
        ),
        max_leaves=20,
    )
)
def test_any_json_body_gives_an_answer_or_a_typed_refusal(body: Any) -> None:
    for parse in (
        wire.parse_chat_request,
        wire.parse_completion_request,
        wire.parse_embeddings_request,
    ):
        with contextlib.suppress(hf.HomefireError):
            parse(body)


def test_tool_calls_answer_as_openai_does() -> None:
    call = hf.ToolCall("call_1", "get_weather", {"city": "Paris"})
    response = hf.ChatResponse(
        message=hf.ChatMessage(hf.MessageRole.ASSISTANT, "", tool_calls=[call]),
        usage=hf.Usage(3, 4),
        finish_reason="stop",
    )
    body = wire.chat_answer(response, request_id="r", model="m", created=1)
    choice = body["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert json.loads(choice["message"]["tool_calls"][0]["function"]["arguments"]) == {
        "city": "Paris"
    }
    assert body["usage"]["total_tokens"] == 7
    chunks = wire.ChatChunks(request_id="r", model="m", created=1, include_usage=True)
    last = chunks.last(response)
    assert last[0]["choices"][0]["delta"]["tool_calls"][0]["index"] == 0
    assert last[1]["choices"][0]["finish_reason"] == "tool_calls"
    assert last[2]["choices"] == [] and last[2]["usage"]["prompt_tokens"] == 3


def test_base64_embeddings_are_little_endian_float32() -> None:
    body = wire.embeddings_answer([[0.5, -1.0]], model="m", prompt_tokens=2, as_base64=True)
    packed = base64.b64decode(body["data"][0]["embedding"])
    assert struct.unpack("<2f", packed) == (0.5, -1.0)


def test_context_overflow_answers_like_llama_cpp() -> None:
    status, body = error_body(hf.ContextOverflowError(600, 512))
    assert status == 400
    error = body["error"]
    assert error["type"] == "exceed_context_size_error"
    assert (error["n_prompt_tokens"], error["n_ctx"]) == (600, 512)


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("localhost:8080", "localhost"),
        ("[::1]:80", "::1"),
        ("Example.COM.", "example.com"),
        ("a:b", None),
        ("[::1", None),
        ("", None),
    ],
)
def test_host_header_parsing(header: str, name: str | None) -> None:
    assert host_name(header) == name


def test_host_policy_answers_only_its_own_addresses() -> None:
    loopback = HostPolicy("127.0.0.1", ["proxy.internal"])
    for ok in ("127.0.0.1:8080", "localhost", "[::1]:8080", "127.0.0.2", "proxy.internal:443"):
        assert loopback.allows(ok), ok
    for bad in ("evil.example", "evil.example:8080", "10.0.0.5:8080", "localhost.evil", None):
        assert not loopback.allows(bad), bad
    wildcard = HostPolicy("0.0.0.0")
    assert wildcard.allows("192.168.1.20:8080") and not wildcard.allows("rebound.example")


async def test_connections_to_the_listener_send_small_writes_at_once() -> None:
    """Nagle's algorithm is off on every accepted connection (uvicorn serves the socket
    through asyncio), so an answer written in two pieces does not wait for a delayed ACK."""
    import asyncio
    import socket

    from homefire.servers.serve import _listen

    listener = _listen("127.0.0.1", 0)
    accepted: asyncio.Future[asyncio.BaseTransport] = asyncio.get_running_loop().create_future()

    class Accept(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            accepted.set_result(transport)

    server = await asyncio.get_running_loop().create_server(Accept, sock=listener)
    async with server:
        _, writer = await asyncio.open_connection(*listener.getsockname())
        try:
            transport = await asyncio.wait_for(accepted, 10)
            conn = transport.get_extra_info("socket")
            nodelay = conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            transport.close()
        finally:
            writer.close()
            await writer.wait_closed()
    assert nodelay != 0
