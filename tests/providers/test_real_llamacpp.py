"""The OpenAI-compatible paths LocalAI and LM Studio share, against a real llama.cpp server.

LocalAI's inference routes are llama.cpp's `/v1/*`; LM Studio's `/v1/*` too (homefire uses
its `/api/v0` twins, which take the same body). Pointing those providers' OpenAI paths at a
real server checks the bodies they build and the answers they parse against real traffic.
"""

from __future__ import annotations

import dataclasses

import pytest

import homefire as hf
from homefire.servers.launch import LaunchedServer

pytestmark = pytest.mark.integration

QUESTION = "What is the capital of France? Answer in one sentence."
# The answer is constrained to one word, so what comes back is known on any machine.
ONE_WORD = {"json_schema": {"type": "string", "enum": ["Paris"]}, "temperature": 0.0}


def _localai(server: LaunchedServer) -> hf.LocalAI:
    return hf.LocalAI("smollm2", base_url=server.base_url, api_key=server.api_key)


def test_localai_chat_and_stream(llamacpp_server: LaunchedServer) -> None:
    llm = _localai(llamacpp_server)
    answer = llm.chat(QUESTION, max_tokens=24, **ONE_WORD)
    assert answer.text == '"Paris"'
    assert answer.usage is not None and answer.usage.completion_tokens > 0
    pieces = list(llm.stream_chat(QUESTION, max_tokens=24, **ONE_WORD))
    assert pieces[-1].text == answer.text
    assert pieces[-1].finish_reason in ("stop", "length")


def test_localai_per_call_options_reach_the_server(llamacpp_server: LaunchedServer) -> None:
    answer = _localai(llamacpp_server).chat("Tell me a long story.", max_tokens=3)
    assert answer.finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 3


async def test_localai_async_and_completion(llamacpp_server: LaunchedServer) -> None:
    llm = _localai(llamacpp_server)
    answer = await llm.achat(QUESTION, max_tokens=24, **ONE_WORD)
    assert answer.text == '"Paris"'
    completion = await llm.acomplete("The capital of France is", max_tokens=4, temperature=0.0)
    assert completion.text.strip()
    await llm.aclose()


def test_lmstudio_openai_body_on_a_real_server(llamacpp_server: LaunchedServer) -> None:
    llm = hf.LMStudio("smollm2", base_url=llamacpp_server.base_url, api_key=llamacpp_server.api_key)
    llm.chat_route = dataclasses.replace(llm.chat_route, path="/v1/chat/completions")  # type: ignore[misc]
    answer = llm.chat(QUESTION, max_tokens=24, **ONE_WORD)
    assert answer.text == '"Paris"'
    assert answer.timings is not None and answer.timings.generated_tokens


def test_wrong_key_is_an_authentication_error(llamacpp_server: LaunchedServer) -> None:
    with pytest.raises(hf.AuthenticationError):
        hf.LocalAI("smollm2", base_url=llamacpp_server.base_url, api_key="wrong").chat("hi")
