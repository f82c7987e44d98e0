"""The drop-ins: LlamaIndex's arguments reach homefire (or are refused, naming what to use),
checked against the embedded model, a real llama.cpp server and homefire's fake servers."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import homefire as hf
import pytest
from llama_index.core.base.llms.types import ChatMessage

from llama_index.llms.homefire import (
    LlamaCPP,
    Llamafile,
    LMStudio,
    LocalAI,
    Ollama,
    OpenAILike,
    Xinference,
)

HI = [ChatMessage(role="user", content="Say hello.")]


def header(request: Any, name: str) -> str | None:
    return {k.lower(): v for k, v in request.headers.items()}.get(name.lower())


# What LlamaIndex's base LLM takes from every subclass through keyword arguments.
LLM_FIELDS = {
    "callback_manager",
    "system_prompt",
    "messages_to_prompt",
    "completion_to_prompt",
    "output_parser",
    "pydantic_program_mode",
    "query_wrapper_prompt",
    "rate_limiter",
}
OPENAI = {
    "model", "temperature", "max_tokens", "additional_kwargs", "max_retries", "timeout",
    "reuse_client", "api_key", "api_base", "api_version", "callback_manager", "default_headers",
    "http_client", "async_http_client", "openai_client", "async_openai_client", "system_prompt",
    "messages_to_prompt", "completion_to_prompt", "pydantic_program_mode", "output_parser",
    "strict", "reasoning_effort", "modalities", "audio_config", "logprobs", "top_logprobs",
    "max_new_tokens",
}  # fmt: skip
# The constructor arguments of the originals (llama-index-llms-llama-cpp 0.7.0, -llamafile
# 0.6.0, -lmstudio 0.6.0, -localai 0.7.1, -openai-like 0.8.1, -xinference 0.6.0, -ollama 0.11.0).
ORIGINAL_ARGUMENTS: dict[type, set[str]] = {
    LlamaCPP: {
        "model_url", "model_path", "temperature", "max_new_tokens", "context_window",
        "callback_manager", "generate_kwargs", "model_kwargs", "verbose", "system_prompt",
        "messages_to_prompt", "completion_to_prompt", "pydantic_program_mode", "output_parser",
    },
    Llamafile: {"base_url", "request_timeout", "temperature", "seed", "additional_kwargs"}
    | LLM_FIELDS,
    LMStudio: {
        "base_url", "context_window", "model_name", "request_timeout", "num_output",
        "is_chat_model", "temperature", "timeout", "additional_kwargs",
    } | LLM_FIELDS,
    LocalAI: OPENAI | {"context_window", "globally_use_chat_completions"} | LLM_FIELDS,
    OpenAILike: OPENAI | LLM_FIELDS | {
        "context_window", "is_chat_model", "is_function_calling_model",
        "should_use_structured_outputs", "tokenizer",
    },
    Xinference: {
        "model_uid", "endpoint", "temperature", "max_tokens", "callback_manager",
        "system_prompt", "messages_to_prompt", "completion_to_prompt", "pydantic_program_mode",
        "output_parser",
    },
    Ollama: {
        "model", "base_url", "temperature", "context_window", "request_timeout", "prompt_key",
        "json_mode", "additional_kwargs", "client", "async_client", "is_function_calling_model",
        "keep_alive", "thinking", "headers",
    } | LLM_FIELDS,
}  # fmt: skip


@pytest.mark.unit
@pytest.mark.parametrize("cls", list(ORIGINAL_ARGUMENTS), ids=lambda c: c.__name__)
def test_every_original_argument_is_taken(cls: type) -> None:
    parameters = inspect.signature(cls.__init__).parameters
    named = set(parameters) - {"self", "kwargs"}
    through_kwargs = LLM_FIELDS if "kwargs" in parameters else set()
    assert ORIGINAL_ARGUMENTS[cls] - named - through_kwargs == set()


# --- refusals ------------------------------------------------------------------------------


def _ollama(**kwargs: Any) -> Any:
    return Ollama(model="m", **kwargs)


@pytest.mark.unit
@pytest.mark.parametrize(
    ("build", "argument", "names"),
    [
        (OpenAILike, {"reuse_client": False}, "pooled client"),
        (OpenAILike, {"api_version": "2024-06-01"}, "Azure"),
        (OpenAILike, {"http_client": object()}, "default_headers="),
        (OpenAILike, {"openai_client": object()}, "default_headers="),
        (OpenAILike, {"strict": True}, "constrained tool calls"),
        (OpenAILike, {"modalities": ["text", "audio"]}, "text"),
        (OpenAILike, {"audio_config": {"voice": "x"}}, "text"),
        (OpenAILike, {"logprobs": True}, "log probabilities"),
        (OpenAILike, {"tokenizer": "gpt2"}, "max_tokens="),
        (LocalAI, {"async_http_client": object()}, "default_headers="),
        (_ollama, {"client": object()}, "base_url=, headers="),
        (_ollama, {"async_client": object()}, "base_url=, headers="),
    ],
)
def test_arguments_without_equivalent_are_refused(
    build: Any, argument: dict[str, Any], names: str
) -> None:
    with pytest.raises(hf.NotSupportedError, match=names):
        build(**argument)


@pytest.mark.unit
def test_llamacpp_refusals_name_homefire_settings(smollm2_path: Path) -> None:
    with pytest.raises(hf.InvalidParameterError, match="stream_complete"):
        LlamaCPP(model_path=str(smollm2_path), generate_kwargs={"stream": True})
    with pytest.raises(hf.InvalidParameterError, match="cache_type_k"):
        LlamaCPP(model_path=str(smollm2_path), model_kwargs={"type_k": 8})


@pytest.mark.unit
def test_unknown_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="Extra inputs"):
        Llamafile(base_url="http://127.0.0.1:9", request_timout=5)


# --- servers with their own APIs: homefire's fake servers ----------------------------------


@pytest.mark.unit
def test_ollama_arguments_reach_the_request(fake_ollama: Any) -> None:
    llm = Ollama(
        model="qwen3:0.6b",
        base_url=fake_ollama.base_url,
        temperature=0.3,
        context_window=1024,
        request_timeout=30.0,
        additional_kwargs={"top_k": 5},
        keep_alive="10m",
        thinking=True,
        headers={"X-Team": "blue"},
        json_mode=True,
        system_prompt="Be brief.",
    )
    assert llm.chat(HI).message.content
    request = fake_ollama.last("/api/chat")
    body = request.json()
    assert body["model"] == "qwen3:0.6b"
    assert body["options"] == {"temperature": 0.3, "num_ctx": 1024, "top_k": 5}
    assert (body["keep_alive"], body["think"]) == ("10m", True)
    assert body["format"]["type"] == "object"  # json_mode
    assert header(request, "X-Team") == "blue"
    assert llm.metadata.context_window == 1024
    assert llm.llm.http.timeouts == hf.Timeouts(connect=30.0, first_token=30.0, between_chunks=30.0)


@pytest.mark.unit
def test_ollama_default_context_is_ollama_own(fake_ollama: Any) -> None:
    llm = Ollama(model="smollm2:135m", base_url=fake_ollama.base_url)
    llm.complete("Hi")
    assert "num_ctx" not in (fake_ollama.last("/api/generate").json().get("options") or {})


@pytest.mark.unit
def test_lmstudio_arguments_reach_the_request(fake_lmstudio: Any) -> None:
    llm = LMStudio(
        model_name="smollm2-135m-instruct",
        base_url=fake_lmstudio.base_url + "/v1",
        temperature=0.2,
        num_output=16,
        additional_kwargs={"top_k": 3},
        request_timeout=20.0,
    )
    assert llm.chat(HI).message.content
    body = fake_lmstudio.last("/api/v0/chat/completions").json()
    assert body["model"] == "smollm2-135m-instruct"
    assert (body["temperature"], body["max_tokens"], body["top_k"]) == (0.2, 16, 3)
    assert llm.metadata.num_output == 16


@pytest.mark.unit
def test_lmstudio_context_window_loads_the_model_with_it(fake_lmstudio: Any) -> None:
    llm = LMStudio(
        model_name="smollm2-135m-instruct",
        base_url=fake_lmstudio.base_url + "/v1",
        context_window=2048,
    )
    llm.complete("Hi")
    assert fake_lmstudio.loaded["smollm2-135m-instruct"].context_length == 2048


@pytest.mark.unit
def test_localai_arguments_reach_the_request(fake_localai: Any) -> None:
    llm = LocalAI(
        api_base=fake_localai.base_url + "/v1",
        model="smollm2",
        temperature=0.2,
        max_tokens=5,
        default_headers={"X-Team": "blue"},
        reasoning_effort="low",
        max_retries=0,
    )
    assert llm.chat(HI).message.content
    request = fake_localai.last("/v1/chat/completions")
    body = request.json()
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("smollm2", 0.2, 5)
    assert body["reasoning_effort"] == "low"
    assert header(request, "X-Team") == "blue"
    assert llm.llm.http.retry == hf.RetryPolicy(attempts=1)


@pytest.mark.unit
def test_xinference_arguments_reach_the_client() -> None:
    llm = Xinference(model_uid="my-qwen", endpoint="http://127.0.0.1:9997/", temperature=0.4)
    backend: Any = llm.llm
    assert (backend.model_uid, backend.base_url) == ("my-qwen", "http://127.0.0.1:9997")
    assert backend.default_options.temperature == 0.4
    assert backend.default_options.max_tokens is None
    assert Xinference("u", "http://x:1", max_tokens=64).llm.default_options.max_tokens == 64


# --- the embedded model and a real llama.cpp server ----------------------------------------


@pytest.mark.integration
def test_llamacpp_on_the_embedded_file(smollm2_path: Path) -> None:
    seen: list[Sequence[ChatMessage]] = []

    def messages_to_prompt(messages: Sequence[ChatMessage]) -> str:
        seen.append(messages)
        return "".join(f"<|im_start|>{m.role.value}\n{m.content}<|im_end|>\n" for m in messages)

    llm = LlamaCPP(
        model_path=str(smollm2_path),
        context_window=2048,
        max_new_tokens=6,
        temperature=0.0,
        generate_kwargs={"top_k": 1, "mirostat_mode": 0},
        model_kwargs={"n_threads": 2},
        messages_to_prompt=messages_to_prompt,
        completion_to_prompt=lambda prompt: f"Q: {prompt}\nA:",
        verbose=False,
    )
    try:
        assert llm.llm.engine == "llama-cpp-python"  # type: ignore[attr-defined]
        meta = llm.metadata
        assert (meta.context_window, meta.num_output) == (2048, 6)
        response = llm.chat(HI)
        assert response.message.content
        assert 0 < response.additional_kwargs["completion_tokens"] <= 6
        assert isinstance(seen[0][0], ChatMessage) and seen[0][0].content == "Say hello."
        assert llm.complete("Hi").additional_kwargs["prompt_tokens"] > 1
        assert llm.generate_kwargs["max_tokens"] == 6 and llm.model_kwargs["n_ctx"] == 2048
    finally:
        llm.llm.close()


@pytest.mark.integration
def test_llamafile_talks_to_a_llama_cpp_server(llama_server: Any) -> None:
    llm = Llamafile(
        base_url=llama_server.base_url,
        api_key=llama_server.api_key,
        request_timeout=120.0,
        temperature=0.0,
        seed=7,
    )
    assert llm.complete("Once upon a time", max_tokens=4).text
    chunks = list(llm.stream_chat(HI, max_tokens=4))
    assert chunks[-1].message.content == "".join(c.delta or "" for c in chunks)
    assert llm.metadata.context_window == 2048


@pytest.mark.integration
def test_openai_like_talks_to_a_llama_cpp_server(llama_server: Any) -> None:
    llm = OpenAILike(
        api_base=llama_server.base_url + "/v1",
        api_key=llama_server.api_key,
        is_chat_model=True,
        max_tokens=4,
        timeout=120.0,
        max_retries=1,
    )
    response = llm.chat(HI)
    assert response.message.content
    assert 0 < response.raw["usage"]["completion_tokens"] <= 4
    meta = llm.metadata
    assert meta.is_chat_model and not meta.is_function_calling_model  # LlamaIndex's defaults
    assert meta.context_window == 2048
