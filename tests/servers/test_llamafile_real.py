"""`Llamafile` / `OpenAILike` against a real llama.cpp server (SmolLM2, in-process engine)."""

from __future__ import annotations

import pytest

import homefire as hf
from homefire.providers.llamafile import Llamafile
from homefire.servers.launch import LaunchedServer

pytestmark = pytest.mark.integration

QUESTION = "What is the capital of France?"
# Greedy, and without reusing cached prompt state, so that every route gives the same text.
GREEDY = {"temperature": 0.0, "max_tokens": 12, "seed": 1, "extra": {"cache_prompt": False}}


@pytest.fixture
def llm(real_server: LaunchedServer) -> Llamafile:
    return real_server.llm()


def test_chat_stream_and_async_agree(llm: Llamafile) -> None:
    whole = llm.chat(QUESTION, **GREEDY)
    assert whole.text.strip()
    assert whole.usage is not None and whole.usage.completion_tokens > 0
    assert whole.timings is not None and whole.timings.generated_tokens

    chunks = list(llm.stream_chat(QUESTION, **GREEDY))
    assert "".join(c.delta or "" for c in chunks) == whole.text
    final = chunks[-1]
    assert final.text == whole.text
    assert final.finish_reason in ("stop", "length")
    assert final.usage is not None and final.usage.prompt_tokens == whole.usage.prompt_tokens


async def test_async_chat_and_stream(llm: Llamafile) -> None:
    expected = llm.chat(QUESTION, **GREEDY).text
    assert (await llm.achat(QUESTION, **GREEDY)).text == expected
    pieces = [c.delta or "" async for c in llm.astream_chat(QUESTION, **GREEDY)]
    assert "".join(pieces) == expected
    await llm.aclose()


def test_complete_uses_native_route(llm: Llamafile) -> None:
    whole = llm.complete("The capital of France is", max_tokens=6, temperature=0.0)
    assert whole.text.strip()
    assert whole.finish_reason == "length"
    assert whole.usage is not None and whole.usage.completion_tokens == 6
    assert whole.timings is not None and whole.timings.generated_tokens == 6

    chunks = list(llm.stream_complete("The capital of France is", max_tokens=6, temperature=0.0))
    assert chunks[-1].text == whole.text
    assert chunks[-1].finish_reason == "length"
    marker = whole.text.split()[-1]  # a stop string this machine's answer is known to contain
    stopped = llm.complete("The capital of France is", stop=[marker], max_tokens=6, temperature=0)
    assert stopped.text == whole.text[: whole.text.index(marker)]
    assert stopped.finish_reason == "stop"


async def test_async_complete(llm: Llamafile) -> None:
    expected = llm.complete("Once upon a time", max_tokens=8, temperature=0.0).text
    assert (await llm.acomplete("Once upon a time", max_tokens=8, temperature=0.0)).text == expected
    pieces = [
        c.delta or ""
        async for c in llm.astream_complete("Once upon a time", max_tokens=8, temperature=0)
    ]
    assert "".join(pieces) == expected


def test_tokens_template_and_state(llm: Llamafile, real_server: LaunchedServer) -> None:
    tokens = llm.tokenize("Hello world")
    assert tokens == [19556, 905]
    assert llm.count_tokens("Hello world") == 2
    assert llm.detokenize(tokens) == "Hello world"
    prompt = llm.apply_chat_template([hf.user("Hi")])
    assert prompt.endswith("<|im_start|>assistant\n") and "Hi" in prompt

    props = llm.props()
    assert props.n_ctx == 1024 and props.total_slots == 2
    assert llm.metadata.context_window == 1024
    assert [slot.n_ctx for slot in llm.slots()] == [1024, 1024]
    assert llm.health() is True
    assert llm.models()[0].max_context_length == 8192
    assert "llamacpp:prompt_tokens_total" in llm.metrics()


def test_openai_like_discovers_model_and_context(real_server: LaunchedServer) -> None:
    llm = hf.OpenAILike(base_url=real_server.base_url, api_key=real_server.api_key)
    assert llm.base_url == real_server.base_url + "/v1"
    assert llm.metadata.context_window == 1024
    assert llm.chat(QUESTION, **GREEDY).text.strip()
    assert llm.complete("The capital of France is", max_tokens=4, temperature=0).text
    llm.close()


def test_wrong_or_missing_key_is_refused(real_server: LaunchedServer) -> None:
    for key in (None, "not-the-key"):
        llm = hf.Llamafile(base_url=real_server.base_url, api_key=key)
        with pytest.raises(hf.AuthenticationError, match="api_key"):
            llm.chat("Hi", max_tokens=2)
        llm.close()


def test_context_overflow_has_the_numbers(tiny_server: LaunchedServer) -> None:
    llm = tiny_server.llm()
    long_prompt = "word " * 300
    with pytest.raises(hf.ContextOverflowError) as caught:
        llm.chat(long_prompt, max_tokens=4)
    assert caught.value.context_window == 256
    assert caught.value.prompt_tokens is not None and caught.value.prompt_tokens > 256
    with pytest.raises(hf.ContextOverflowError):
        list(llm.stream_chat(long_prompt, max_tokens=4))
    with pytest.raises(hf.ContextOverflowError):
        llm.complete(long_prompt, max_tokens=4)


def test_stopping_a_stream_early_frees_the_server(llm: Llamafile) -> None:
    long = {"max_tokens": 400, "temperature": 0.0, "extra": {"ignore_eos": True}}
    for _ in range(3):  # more abandoned streams than the server has slots
        stream = llm.stream_chat("Tell me a long story.", **long)
        next(iter(stream))
        stream.close()  # type: ignore[attr-defined]
    assert llm.complete("The capital of France is", max_tokens=3, temperature=0).text
    assert all(not slot.is_processing for slot in llm.slots())
