"""HomefireLLM: the eight calls, options, metadata and instrumentation events."""

from __future__ import annotations

from typing import Any

import homefire as hf
import pytest
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, CompletionResponse
from llama_index.core.bridge.pydantic import ValidationError
from llama_index.core.instrumentation.events import BaseEvent

from llama_index.llms.homefire import HomefireLLM

HI = [ChatMessage(role="user", content="Say hello.")]


# --- unit: a scripted homefire LLM ---------------------------------------------------------


@pytest.mark.unit
def test_chat_sends_messages_and_options(scripted: Any) -> None:
    backend = scripted("Hello there.")
    llm = HomefireLLM(backend)
    response = llm.chat(
        [ChatMessage(role="system", content="Be brief."), *HI], temperature=0.5, top_k=3
    )
    assert response.message.content == "Hello there."
    assert "Be brief." in backend.prompts[0] and "Say hello." in backend.prompts[0]
    assert backend.options[0]["temperature"] == 0.5 and backend.options[0]["top_k"] == 3


@pytest.mark.unit
def test_every_call_form(scripted: Any) -> None:
    llm = HomefireLLM(scripted("abcdefg", "abcdefg", "abc", "abc"))
    assert "".join(c.delta or "" for c in llm.stream_chat(HI)) == "abcdefg"
    chunks = list(llm.stream_complete("x"))
    assert all(isinstance(c, CompletionResponse) for c in chunks)
    assert chunks[-1].text == "abcdefg"
    assert llm.complete("x").text == "abc"
    assert llm.chat(HI).message.content == "abc"


@pytest.mark.unit
async def test_every_async_form(scripted: Any) -> None:
    llm = HomefireLLM(scripted("abcdefg", "abcdefg", "abc", "abc"))
    chat_chunks = [c async for c in await llm.astream_chat(HI)]
    assert all(isinstance(c, ChatResponse) for c in chat_chunks)
    assert chat_chunks[-1].message.content == "abcdefg"
    assert "".join([c.delta or "" async for c in await llm.astream_complete("x")]) == "abcdefg"
    assert (await llm.acomplete("x")).text == "abc"
    assert (await llm.achat(HI)).message.content == "abc"


@pytest.mark.unit
def test_unknown_option_fails_before_the_model_runs(scripted: Any) -> None:
    backend = scripted("never sent")
    with pytest.raises(hf.InvalidParameterError, match="not a generation option"):
        HomefireLLM(backend).chat(HI, temprature=0.2)
    assert backend.prompts == []


@pytest.mark.unit
def test_metadata_comes_from_homefire(scripted: Any) -> None:
    backend = scripted()
    meta = HomefireLLM(backend).metadata
    assert (meta.model_name, meta.context_window, meta.num_output) == ("scripted", 4096, 256)
    assert meta.is_chat_model is False  # what the homefire LLM says
    assert meta.is_function_calling_model is True
    off = HomefireLLM(backend, is_function_calling_model=False)
    assert off.metadata.is_function_calling_model is False


@pytest.mark.unit
def test_constructor_checks(scripted: Any) -> None:
    with pytest.raises(hf.InvalidParameterError, match="homefire LLM"):
        HomefireLLM(object())  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="temperature"):
        HomefireLLM(scripted(), temperature=0.2)  # options belong to the homefire LLM


@pytest.mark.unit
def test_chat_and_completion_events(scripted: Any, events: list[BaseEvent]) -> None:
    llm = HomefireLLM(scripted("abc", "abcdef"))
    llm.chat(HI)
    list(llm.stream_complete("x"))
    assert [type(e).__name__ for e in events] == [
        "LLMChatStartEvent",
        "LLMChatEndEvent",
        "LLMCompletionStartEvent",
        "LLMCompletionInProgressEvent",
        "LLMCompletionInProgressEvent",
        "LLMCompletionEndEvent",
    ]


@pytest.mark.unit
def test_system_prompt_is_added_by_predict(scripted: Any) -> None:
    from llama_index.core.prompts import ChatPromptTemplate

    backend = scripted("ok")
    llm = HomefireLLM(backend, system_prompt="Answer in French.")
    llm.predict(ChatPromptTemplate.from_messages([("user", "Hi {name}")]), name="Ann")
    assert "Answer in French." in backend.prompts[0] and "Hi Ann" in backend.prompts[0]


# --- integration: the embedded model -------------------------------------------------------


@pytest.mark.integration
def test_embedded_chat_stream_and_complete(embedded: hf.LLM) -> None:
    llm = HomefireLLM(embedded)
    assert llm.metadata.context_window == 2048
    response = llm.chat(HI, max_tokens=4)
    assert response.message.content
    assert 0 < response.additional_kwargs["completion_tokens"] <= 4
    assert response.raw["usage"]["prompt_tokens"] > 0
    chunks = list(llm.stream_complete("Once upon a time", max_tokens=4))
    assert chunks[-1].additional_kwargs["finish_reason"] == "length"
    assert chunks[-1].text == "".join(c.delta or "" for c in chunks)


@pytest.mark.integration
async def test_embedded_astream_chat(embedded: hf.LLM, events: list[BaseEvent]) -> None:
    llm = HomefireLLM(embedded)
    chunks = [c async for c in await llm.astream_chat(HI, max_tokens=4)]
    assert chunks[-1].message.content
    assert chunks[-1].message.content == "".join(c.delta or "" for c in chunks)
    assert chunks[-1].additional_kwargs["completion_tokens"] <= 4
    names = [type(e).__name__ for e in events]
    assert names[0] == "LLMChatStartEvent" and names[-1] == "LLMChatEndEvent"
    assert names.count("LLMChatInProgressEvent") == len(chunks)
