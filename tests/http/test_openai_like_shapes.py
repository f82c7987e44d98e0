"""`OpenAILike` and `Llamafile` against other servers' shapes, served on loopback."""

from __future__ import annotations

import json

import pytest
from loopback import LoopbackServer, chunked, reply, sse

import homefire as hf

pytestmark = pytest.mark.unit

VLLM_MODELS = {
    "object": "list",
    "data": [
        {"id": "Qwen/Qwen3-8B", "object": "model", "owned_by": "vllm", "max_model_len": 32768}
    ],
}
CHAT = {
    "choices": [{"index": 0, "finish_reason": "stop", "message": {"content": "Hi!"}}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2},
}


def test_model_and_context_come_from_the_model_list(loopback: LoopbackServer) -> None:
    loopback.routes["/v1/models"] = reply(200, VLLM_MODELS)
    loopback.routes["/v1/chat/completions"] = reply(200, CHAT)
    llm = hf.OpenAILike(base_url=loopback.url, api_key="k")
    assert llm.base_url == loopback.url + "/v1"
    assert llm.metadata.context_window == 32768
    assert llm.metadata.model_name == "Qwen/Qwen3-8B"
    assert llm.chat("Hello", temperature=0.5).text == "Hi!"
    sent = json.loads(loopback.requests[-1].body)
    assert sent["model"] == "Qwen/Qwen3-8B" and sent["temperature"] == 0.5
    assert loopback.requests[-1].headers["authorization"] == "Bearer k"


def test_given_settings_need_no_discovery(loopback: LoopbackServer) -> None:
    llm = hf.OpenAILike(
        base_url=loopback.url + "/api/v1", model="m", context_window=2048, max_new_tokens=64
    )
    assert llm.base_url.endswith("/api/v1")
    assert llm.metadata.context_window == 2048 and llm.metadata.num_output == 64
    assert loopback.requests == []


def test_old_llamafile_stream_without_done_and_plain_text_errors(loopback: LoopbackServer) -> None:
    chunks = [
        {"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]},
        {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
    ]
    loopback.routes["/v1/chat/completions"] = chunked(sse(*chunks, done=False))
    loopback.routes["/completion"] = reply(500, b"Model failed to load")
    llm = hf.Llamafile(base_url=loopback.url)
    assert list(llm.stream_chat("Hi"))[-1].text == "Hello"
    with pytest.raises(hf.APIStatusError, match="Model failed to load"):
        llm.complete("Hi")


def test_a_stream_that_never_finishes_is_not_a_success(loopback: LoopbackServer) -> None:
    chunks = [{"choices": [{"index": 0, "delta": {"content": "Hel"}, "finish_reason": None}]}]
    loopback.routes["/v1/chat/completions"] = chunked(sse(*chunks, done=False))
    loopback.routes["/completion"] = chunked(sse({"content": "Hel", "stop": False}, done=False))
    llm = hf.Llamafile(base_url=loopback.url)
    with pytest.raises(hf.StreamInterruptedError) as caught:
        list(llm.stream_chat("Hi"))
    assert caught.value.partial_text == "Hel"
    with pytest.raises(hf.StreamInterruptedError):
        list(llm.stream_complete("Hi"))


def test_health_while_loading_and_old_shapes(loopback: LoopbackServer) -> None:
    loopback.routes["/health"] = reply(503, {"status": "loading model"})
    llm = hf.LlamaCppServer(base_url=loopback.url)
    assert llm.health() is False
    loopback.routes["/health"] = reply(200, {"status": "ok", "slots_idle": 1})
    assert llm.server_health().slots_idle == 1 and llm.health() is True


def test_bad_arguments_are_refused_before_any_request(loopback: LoopbackServer) -> None:
    for bad in ({"timeouts": 30}, {"retry": 3}, {"model": ""}, {"context_window": 0}):
        with pytest.raises(hf.InvalidParameterError):
            hf.Llamafile(base_url=loopback.url, **bad)  # type: ignore[arg-type]
    llm = hf.Llamafile(base_url=loopback.url)
    with pytest.raises(hf.InvalidParameterError):
        llm.tokenize(123)  # type: ignore[arg-type]
    with pytest.raises(hf.InvalidParameterError):
        llm.detokenize(["a"])  # type: ignore[list-item]
    with pytest.raises(hf.InvalidParameterError):
        llm.chat("Hi", temperature=-1)
    assert loopback.requests == []
