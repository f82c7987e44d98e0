"""The OpenAI-compatible path of hf.LocalAI, against a real llama.cpp server.

What this tests is the OpenAI-compatible part only: the `/v1/chat/completions` and
`/v1/completions` bodies the LocalAI provider builds (options, its `Extra-Usage` header) and
the answers it parses, against a real server's traffic. LocalAI's own routes (readiness,
backends, the gallery) and its own failures are never reached here; the fake LocalAI
(`tests/fakes/localai.py`) covers those. LM Studio's inference goes to `/api/v0/...`, which
llama.cpp does not have, so no LM Studio test belongs here.
"""

from __future__ import annotations

import pytest

import homefire as hf
from homefire.servers.launch import LaunchedServer

pytestmark = pytest.mark.integration

QUESTION = "What is the capital of France? Answer in one sentence."


def _openai_path_of_localai(server: LaunchedServer) -> hf.LocalAI:
    return hf.LocalAI("smollm2", base_url=server.base_url, api_key=server.api_key)


def test_openai_compatible_chat_and_stream_on_llama_cpp(llamacpp_server: LaunchedServer) -> None:
    llm = _openai_path_of_localai(llamacpp_server)
    answer = llm.chat(QUESTION, temperature=0.0, max_tokens=24)
    assert answer.text.strip() and answer.finish_reason in ("stop", "length")
    assert answer.usage is not None and 0 < answer.usage.completion_tokens <= 24
    pieces = list(llm.stream_chat(QUESTION, temperature=0.0, max_tokens=24))
    assert pieces[-1].text == "".join(p.delta or "" for p in pieces)
    assert pieces[-1].finish_reason in ("stop", "length")
    llm.close()


def test_openai_compatible_options_reach_llama_cpp(llamacpp_server: LaunchedServer) -> None:
    llm = _openai_path_of_localai(llamacpp_server)
    answer = llm.chat("Tell me a long story.", max_tokens=3)
    assert answer.finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    llm.close()


async def test_openai_compatible_async_and_completion_on_llama_cpp(
    llamacpp_server: LaunchedServer,
) -> None:
    llm = _openai_path_of_localai(llamacpp_server)
    answer = await llm.achat("Tell me a long story.", temperature=0.0, max_tokens=3)
    assert answer.finish_reason == "length"
    assert answer.usage is not None and answer.usage.completion_tokens == 3
    completion = await llm.acomplete("Once upon a time", max_tokens=4, temperature=0.0)
    assert completion.finish_reason == "length" and completion.text
    await llm.aclose()


def test_a_wrong_key_is_an_authentication_error(llamacpp_server: LaunchedServer) -> None:
    llm = hf.LocalAI("smollm2", base_url=llamacpp_server.base_url, api_key="wrong")
    with pytest.raises(hf.AuthenticationError):
        llm.chat("hi")
    llm.close()
