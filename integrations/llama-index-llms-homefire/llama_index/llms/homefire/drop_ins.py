"""LlamaIndex's local-LLM classes, same names and constructor arguments, running on homefire.

Replacing `from llama_index.llms.llama_cpp import LlamaCPP` by
`from llama_index.llms.homefire import LlamaCPP` is the whole migration. Every argument of
the original is either handed to the homefire provider or refused with an error that names
what to use instead; the README's table lists each one. Defaults that only decide how long
to wait, or which context a server already runs with, are homefire's (they are the server's
own truth); sampling defaults are LlamaIndex's, so answers do not change.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

import homefire as hf
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.bridge.pydantic import Field
from llama_index.core.callbacks import CallbackManager
from llama_index.core.constants import (
    DEFAULT_CONTEXT_WINDOW,
    DEFAULT_NUM_OUTPUTS,
    DEFAULT_TEMPERATURE,
)
from llama_index.core.types import BaseOutputParser, PydanticProgramMode

from llama_index.llms.homefire.base import HomefireLLM
from llama_index.llms.homefire.utils import messages_to_prompt_for_homefire

MessagesToPrompt = Callable[[Sequence[ChatMessage]], str]
CompletionToPrompt = Callable[[str], str]

# The generation options homefire takes by name; other generate_kwargs travel as `extra`.
_OPTION_NAMES = (
    "temperature",
    "max_tokens",
    "top_p",
    "top_k",
    "min_p",
    "repeat_penalty",
    "seed",
    "stop",
)
# llama_cpp.Llama() arguments that are hf.LlamaCPP arguments of their own.
_LOAD_ARGUMENTS = {
    "n_ctx": "context_window",
    "n_gpu_layers": "n_gpu_layers",
    "n_threads": "n_threads",
    "n_batch": "n_batch",
    "flash_attn": "flash_attn",
    "use_mmap": "use_mmap",
    "use_mlock": "use_mlock",
    "seed": "seed",
    "verbose": "verbose",
}


def _refuse(name: str, value: Any, instead: str, allowed: Any = None) -> None:
    """Raise for an argument homefire has no equivalent for, saying what to use instead."""
    if value is not None and value != allowed:
        raise hf.NotSupportedError(f"{name}={value!r} has no homefire equivalent: {instead}")


def _timeouts(seconds: float | None) -> hf.Timeouts | None:
    """One httpx-style timeout as homefire's phases; None keeps homefire's own."""
    if seconds is None:
        return None
    return hf.Timeouts(connect=seconds, first_token=seconds, between_chunks=seconds)


def _retry(max_retries: int | None) -> hf.RetryPolicy | None:
    """OpenAI's `max_retries` counts retries; homefire's `attempts` counts the first try too."""
    if max_retries is None:
        return None
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise hf.InvalidParameterError(
            "max_retries", f"must be an integer >= 0, got {max_retries!r}"
        )
    return hf.RetryPolicy(attempts=max_retries + 1)


def _server_root(url: str) -> str:
    """The server root for providers whose routes start with `/v1` (LlamaIndex's URLs end
    in `/v1`)."""
    trimmed = url.rstrip("/")
    return trimmed[: -len("/v1")] if trimmed.endswith("/v1") else trimmed


def _context(value: int | None) -> int | None:
    """LlamaIndex's "unknown context" markers (-1, None) as homefire's "ask the server"."""
    return None if value is None or value == -1 else value


# --- in process ------------------------------------------------------------------------------


class LlamaCPP(HomefireLLM):
    """`llama_index.llms.llama_cpp.LlamaCPP` on homefire's in-process llama.cpp.

    Runs on `engine="llama-cpp-python"` (the engine the original uses, so `model_kwargs` and
    `generate_kwargs` mean what they meant); `engine="xllamacpp"` picks homefire's prebuilt
    engine instead. With neither `model_path` nor `model_url`, the embedded SmolLM2-135M
    runs (the original downloads Llama-2-13B). Chats use the model's own chat template
    unless `messages_to_prompt` is given.
    """

    model_url: str | None = Field(default=None, description="The URL of a GGUF model to use.")
    model_path: str | None = Field(default=None, description="The path of a GGUF model to use.")
    temperature: float = Field(default=DEFAULT_TEMPERATURE, ge=0.0, le=1.0)
    max_new_tokens: int = Field(default=DEFAULT_NUM_OUTPUTS, gt=0)
    context_window: int = Field(default=DEFAULT_CONTEXT_WINDOW, gt=0)
    generate_kwargs: dict[str, Any] = Field(default_factory=dict)
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    verbose: bool = Field(default=True)

    def __init__(
        self,
        model_url: str | None = None,
        model_path: str | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        max_new_tokens: int = DEFAULT_NUM_OUTPUTS,
        context_window: int = DEFAULT_CONTEXT_WINDOW,
        callback_manager: CallbackManager | None = None,
        generate_kwargs: dict[str, Any] | None = None,
        model_kwargs: dict[str, Any] | None = None,
        verbose: bool = True,
        system_prompt: str | None = None,
        messages_to_prompt: MessagesToPrompt | None = None,
        completion_to_prompt: CompletionToPrompt | None = None,
        pydantic_program_mode: PydanticProgramMode = PydanticProgramMode.DEFAULT,
        output_parser: BaseOutputParser | None = None,
        *,
        engine: str = "llama-cpp-python",
    ) -> None:
        loading: dict[str, Any] = {"context_window": context_window, "verbose": verbose}
        engine_kwargs: dict[str, Any] = {}
        for key, value in (model_kwargs or {}).items():
            if key in _LOAD_ARGUMENTS:
                loading[_LOAD_ARGUMENTS[key]] = value
            else:
                engine_kwargs[key] = value  # the engine checks them and names what to use
        if loading["context_window"] == 0:  # llama.cpp's "the model's own context"
            loading["context_window"] = None
        generation = {**(generate_kwargs or {}), "temperature": temperature}
        generation["max_tokens"] = max_new_tokens
        if "stream" in generation:
            raise hf.InvalidParameterError(
                "generate_kwargs", "'stream' is chosen by the call: use stream_complete()"
            )
        llm = hf.LlamaCPP(
            model_path,
            model_url,
            engine=engine,
            temperature=temperature,
            max_new_tokens=max_new_tokens,
            messages_to_prompt=messages_to_prompt_for_homefire(messages_to_prompt)
            if messages_to_prompt is not None
            else None,
            completion_to_prompt=completion_to_prompt,
            engine_kwargs=engine_kwargs,
            **loading,
        )
        try:
            super().__init__(
                llm,
                model_url=model_url,
                model_path=model_path,
                temperature=temperature,
                max_new_tokens=max_new_tokens,
                context_window=context_window,
                callback_manager=callback_manager,
                generate_kwargs=generation,
                model_kwargs={"n_ctx": context_window, "verbose": verbose, **(model_kwargs or {})},
                verbose=verbose,
                system_prompt=system_prompt,
                messages_to_prompt=messages_to_prompt,
                completion_to_prompt=completion_to_prompt,
                pydantic_program_mode=pydantic_program_mode,
                output_parser=output_parser,
            )
        except Exception:
            llm.close()  # a rejected field must not leave the model loaded
            raise
        options = {k: v for k, v in generation.items() if k in _OPTION_NAMES}
        extra = {k: v for k, v in generation.items() if k not in _OPTION_NAMES}
        self._call_defaults = {**options, **({"extra": extra} if extra else {})}

    @classmethod
    def class_name(cls) -> str:
        return "LlamaCPP_llm"


# --- llama.cpp server / llamafile ------------------------------------------------------------


class Llamafile(HomefireLLM):
    """`llama_index.llms.llamafile.Llamafile` on homefire's llama.cpp server client.

    `api_key` (a homefire addition) is for servers started with `--api-key`, as
    `homefire serve` and `launch()` start them.
    """

    base_url: str = Field(default="http://localhost:8080")
    request_timeout: float | None = Field(default=None)
    temperature: float = Field(default=0.8, ge=0.0, le=1.0)
    seed: int = Field(default=0)
    additional_kwargs: dict[str, Any] = Field(default_factory=dict)

    def __init__(
        self,
        *,
        base_url: str = "http://localhost:8080",
        request_timeout: float | None = None,
        temperature: float = 0.8,
        seed: int = 0,
        additional_kwargs: dict[str, Any] | None = None,
        api_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        llm = hf.Llamafile(
            base_url=_server_root(base_url),
            api_key=api_key,
            temperature=temperature,
            timeouts=_timeouts(request_timeout),
            additional_kwargs=additional_kwargs,
        )
        super().__init__(
            llm,
            base_url=base_url,
            request_timeout=request_timeout,
            temperature=temperature,
            seed=seed,
            additional_kwargs=additional_kwargs or {},
            **kwargs,
        )
        self._call_defaults = {"seed": seed}

    @classmethod
    def class_name(cls) -> str:
        return "llamafile_llm"


# --- OpenAI-compatible servers ---------------------------------------------------------------


def _openai_arguments(
    *,
    max_retries: int | None,
    timeout: float | None,
    reuse_client: bool,
    api_version: str | None,
    http_client: Any,
    async_http_client: Any,
    openai_client: Any,
    async_openai_client: Any,
    strict: bool,
    modalities: list[str] | None,
    audio_config: dict[str, Any] | None,
    logprobs: bool | None,
    top_logprobs: int,
    tokenizer: Any,
) -> dict[str, Any]:
    """The homefire client settings for the arguments every LlamaIndex OpenAI class takes,
    after refusing those homefire has no equivalent for."""
    own_client = "homefire keeps one pooled client; pass default_headers=, timeout=, max_retries="
    _refuse("reuse_client", reuse_client, own_client, allowed=True)
    _refuse("api_version", api_version, "it selects an Azure OpenAI API version")
    for name, client in (
        ("http_client", http_client),
        ("async_http_client", async_http_client),
        ("openai_client", openai_client),
        ("async_openai_client", async_openai_client),
    ):
        _refuse(name, client, own_client)
    _refuse(
        "strict",
        strict,
        "homefire sends tool schemas as given; where a backend has no native tool calling, "
        "its constrained tool calls already follow the schema",
        allowed=False,
    )
    _refuse("modalities", modalities, "homefire sends and receives text", allowed=["text"])
    _refuse("audio_config", audio_config, "homefire sends and receives text")
    _refuse("logprobs", logprobs, "homefire does not return log probabilities", allowed=False)
    _refuse("top_logprobs", top_logprobs, "homefire does not return log probabilities", allowed=0)
    _refuse("tokenizer", tokenizer, "the server counts tokens; set max_tokens= instead")
    return {"timeouts": _timeouts(timeout), "retry": _retry(max_retries)}


def _extra_body(
    additional_kwargs: dict[str, Any] | None, reasoning_effort: str | None
) -> dict[str, Any]:
    body = dict(additional_kwargs or {})
    if reasoning_effort is not None:
        body["reasoning_effort"] = reasoning_effort
    return body


class OpenAILike(HomefireLLM):
    """`llama_index.llms.openai_like.OpenAILike` on homefire's OpenAI-compatible client.

    Without `model`, the server's first model is used; without `context_window`, the server
    is asked for it. `api_key` and `api_base` fall back to `$OPENAI_API_KEY` and
    `$OPENAI_API_BASE`, as in LlamaIndex.
    """

    model: str | None = Field(default=None)
    temperature: float = Field(default=DEFAULT_TEMPERATURE)
    max_tokens: int | None = Field(default=None)
    additional_kwargs: dict[str, Any] = Field(default_factory=dict)
    max_retries: int | None = Field(default=None)
    timeout: float | None = Field(default=None)
    api_base: str | None = Field(default=None)
    default_headers: dict[str, str] | None = Field(default=None)
    context_window: int | None = Field(default=None)
    is_chat_model: bool = Field(default=False)
    should_use_structured_outputs: bool = Field(default=False)
    reasoning_effort: str | None = Field(default=None)

    def __init__(
        self,
        model: str | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: int | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        reuse_client: bool = True,
        api_key: str | None = None,
        api_base: str | None = None,
        api_version: str | None = None,
        callback_manager: CallbackManager | None = None,
        default_headers: dict[str, str] | None = None,
        http_client: Any = None,
        async_http_client: Any = None,
        openai_client: Any = None,
        async_openai_client: Any = None,
        system_prompt: str | None = None,
        messages_to_prompt: MessagesToPrompt | None = None,
        completion_to_prompt: CompletionToPrompt | None = None,
        pydantic_program_mode: PydanticProgramMode = PydanticProgramMode.DEFAULT,
        output_parser: BaseOutputParser | None = None,
        strict: bool = False,
        reasoning_effort: str | None = None,
        modalities: list[str] | None = None,
        audio_config: dict[str, Any] | None = None,
        *,
        context_window: int | None = None,
        is_chat_model: bool = False,
        is_function_calling_model: bool = False,
        should_use_structured_outputs: bool = False,
        tokenizer: Any = None,
        logprobs: bool | None = None,
        top_logprobs: int = 0,
        max_new_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        client = _openai_arguments(
            max_retries=max_retries,
            timeout=timeout,
            reuse_client=reuse_client,
            api_version=api_version,
            http_client=http_client,
            async_http_client=async_http_client,
            openai_client=openai_client,
            async_openai_client=async_openai_client,
            strict=strict,
            modalities=modalities,
            audio_config=audio_config,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            tokenizer=tokenizer,
        )
        max_tokens = max_new_tokens if max_new_tokens is not None else max_tokens
        api_base = api_base or os.environ.get("OPENAI_API_BASE")
        llm = hf.OpenAILike(
            model,
            base_url=api_base,
            api_key=api_key or os.environ.get("OPENAI_API_KEY"),
            headers=default_headers,
            context_window=_context(context_window),
            temperature=temperature,
            max_new_tokens=max_tokens,
            is_chat_model=is_chat_model,
            additional_kwargs=_extra_body(additional_kwargs, reasoning_effort),
            **client,
        )
        super().__init__(
            llm,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            additional_kwargs=additional_kwargs or {},
            max_retries=max_retries,
            timeout=timeout,
            api_base=api_base,
            default_headers=default_headers,
            context_window=context_window,
            is_chat_model=is_chat_model,
            is_function_calling_model=is_function_calling_model,
            should_use_structured_outputs=should_use_structured_outputs,
            reasoning_effort=reasoning_effort,
            callback_manager=callback_manager,
            system_prompt=system_prompt,
            messages_to_prompt=messages_to_prompt,
            completion_to_prompt=completion_to_prompt,
            pydantic_program_mode=pydantic_program_mode,
            output_parser=output_parser,
            **kwargs,
        )

    @classmethod
    def class_name(cls) -> str:
        return "OpenAILike"


class LocalAI(HomefireLLM):
    """`llama_index.llms.localai.LocalAI` on homefire's LocalAI client.

    `api_key` falls back to `$LOCALAI_API_KEY` (the original sends the placeholder
    "localai_fake"); `globally_use_chat_completions=None` means chat, as True does.
    """

    model: str | None = Field(default=None)
    temperature: float = Field(default=DEFAULT_TEMPERATURE)
    max_tokens: int | None = Field(default=None)
    additional_kwargs: dict[str, Any] = Field(default_factory=dict)
    max_retries: int | None = Field(default=None)
    timeout: float | None = Field(default=None)
    api_base: str = Field(default="http://localhost:8080/v1")
    default_headers: dict[str, str] | None = Field(default=None)
    context_window: int | None = Field(default=None)
    globally_use_chat_completions: bool | None = Field(default=None)
    reasoning_effort: str | None = Field(default=None)

    def __init__(
        self,
        api_key: str | None = None,
        api_base: str = "http://localhost:8080/v1",
        system_prompt: str | None = None,
        messages_to_prompt: MessagesToPrompt | None = None,
        completion_to_prompt: CompletionToPrompt | None = None,
        pydantic_program_mode: PydanticProgramMode = PydanticProgramMode.DEFAULT,
        output_parser: BaseOutputParser | None = None,
        *,
        model: str | None = None,
        temperature: float = DEFAULT_TEMPERATURE,
        max_tokens: int | None = None,
        additional_kwargs: dict[str, Any] | None = None,
        max_retries: int | None = None,
        timeout: float | None = None,
        reuse_client: bool = True,
        api_version: str | None = None,
        callback_manager: CallbackManager | None = None,
        default_headers: dict[str, str] | None = None,
        http_client: Any = None,
        async_http_client: Any = None,
        openai_client: Any = None,
        async_openai_client: Any = None,
        strict: bool = False,
        reasoning_effort: str | None = None,
        modalities: list[str] | None = None,
        audio_config: dict[str, Any] | None = None,
        context_window: int | None = None,
        globally_use_chat_completions: bool | None = None,
        logprobs: bool | None = None,
        top_logprobs: int = 0,
        max_new_tokens: int | None = None,
        **kwargs: Any,
    ) -> None:
        client = _openai_arguments(
            max_retries=max_retries,
            timeout=timeout,
            reuse_client=reuse_client,
            api_version=api_version,
            http_client=http_client,
            async_http_client=async_http_client,
            openai_client=openai_client,
            async_openai_client=async_openai_client,
            strict=strict,
            modalities=modalities,
            audio_config=audio_config,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            tokenizer=None,
        )
        max_tokens = max_new_tokens if max_new_tokens is not None else max_tokens
        llm = hf.LocalAI(
            model,
            base_url=_server_root(api_base),
            api_key=api_key,
            headers=default_headers,
            context_window=_context(context_window),
            temperature=temperature,
            max_new_tokens=max_tokens,
            is_chat_model=globally_use_chat_completions is not False,
            additional_kwargs=_extra_body(additional_kwargs, reasoning_effort),
            **client,
        )
        super().__init__(
            llm,
            model=model,
            temperature=temperature,
            max_tokens=max_tokens,
            additional_kwargs=additional_kwargs or {},
            max_retries=max_retries,
            timeout=timeout,
            api_base=api_base,
            default_headers=default_headers,
            context_window=context_window,
            globally_use_chat_completions=globally_use_chat_completions,
            reasoning_effort=reasoning_effort,
            callback_manager=callback_manager,
            system_prompt=system_prompt,
            messages_to_prompt=messages_to_prompt,
            completion_to_prompt=completion_to_prompt,
            pydantic_program_mode=pydantic_program_mode,
            output_parser=output_parser,
            **kwargs,
        )

    @classmethod
    def class_name(cls) -> str:
        return "LocalAI"


# --- servers with their own APIs -------------------------------------------------------------


class LMStudio(HomefireLLM):
    """`llama_index.llms.lmstudio.LMStudio` on homefire's LM Studio client.

    `context_window`, when given, is a load setting: the model is loaded with that context
    before the first request. Unset, the server's context is used and reported.
    """

    base_url: str = Field(default="http://localhost:1234/v1")
    context_window: int | None = Field(default=None)
    model_name: str = Field(description="The model to use.")
    request_timeout: float | None = Field(default=None)
    num_output: int = Field(default=DEFAULT_NUM_OUTPUTS)
    is_chat_model: bool = Field(default=True)
    temperature: float = Field(default=DEFAULT_TEMPERATURE, ge=0.0, le=1.0)
    timeout: float = Field(default=120, ge=0)
    additional_kwargs: dict[str, Any] = Field(default_factory=dict)

    def __init__(
        self,
        *,
        model_name: str,
        base_url: str = "http://localhost:1234/v1",
        context_window: int | None = None,
        request_timeout: float | None = None,
        num_output: int = DEFAULT_NUM_OUTPUTS,
        is_chat_model: bool = True,
        temperature: float = DEFAULT_TEMPERATURE,
        timeout: float = 120,
        additional_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        llm = hf.LMStudio(
            model_name,
            base_url=_server_root(base_url),
            context_window=_context(context_window),
            timeouts=_timeouts(request_timeout),
            max_new_tokens=num_output,
            is_chat_model=is_chat_model,
            temperature=temperature,
            additional_kwargs=additional_kwargs,
        )
        super().__init__(
            llm,
            model_name=model_name,
            base_url=base_url,
            context_window=context_window,
            request_timeout=request_timeout,
            num_output=num_output,
            is_chat_model=is_chat_model,
            temperature=temperature,
            timeout=timeout,
            additional_kwargs=additional_kwargs or {},
            **kwargs,
        )

    @classmethod
    def class_name(cls) -> str:
        return "LMStudio"


class Xinference(HomefireLLM):
    """`llama_index.llms.xinference.Xinference` on homefire's Xinference client.

    Nothing is asked of the server until the first call (the original connects in the
    constructor); `max_tokens=None` leaves the answer length to the server.
    """

    model_uid: str = Field(description="The Xinference model to use.")
    endpoint: str = Field(description="The Xinference endpoint URL to use.")
    temperature: float = Field(default=1.0, ge=0.0, le=1.0)
    max_tokens: int | None = Field(default=None)

    def __init__(
        self,
        model_uid: str,
        endpoint: str,
        temperature: float = 1.0,
        max_tokens: int | None = None,
        callback_manager: CallbackManager | None = None,
        system_prompt: str | None = None,
        messages_to_prompt: MessagesToPrompt | None = None,
        completion_to_prompt: CompletionToPrompt | None = None,
        pydantic_program_mode: PydanticProgramMode = PydanticProgramMode.DEFAULT,
        output_parser: BaseOutputParser | None = None,
    ) -> None:
        llm = hf.Xinference(
            model_uid,
            base_url=_server_root(endpoint),
            temperature=temperature,
            max_new_tokens=max_tokens,
        )
        super().__init__(
            llm,
            model_uid=model_uid,
            endpoint=endpoint,
            temperature=temperature,
            max_tokens=max_tokens,
            callback_manager=callback_manager,
            system_prompt=system_prompt,
            messages_to_prompt=messages_to_prompt,
            completion_to_prompt=completion_to_prompt,
            pydantic_program_mode=pydantic_program_mode,
            output_parser=output_parser,
        )

    @classmethod
    def class_name(cls) -> str:
        return "Xinference_llm"


class Ollama(HomefireLLM):
    """`llama_index.llms.ollama.Ollama` on homefire's native Ollama client.

    `context_window=-1` (the default) leaves the context to Ollama; a number is sent as
    `num_ctx` on every request. `additional_kwargs` are Ollama options (`top_k`,
    `num_predict`, ...), `json_mode=True` constrains every answer to a JSON object.
    """

    model: str = Field(description="The Ollama model to use.")
    base_url: str = Field(default="http://localhost:11434")
    temperature: float | None = Field(default=None)
    context_window: int = Field(default=-1)
    request_timeout: float | None = Field(default=None)
    prompt_key: str = Field(default="prompt")
    json_mode: bool = Field(default=False)
    additional_kwargs: dict[str, Any] = Field(default_factory=dict)
    keep_alive: float | str | None = Field(default=None)
    thinking: bool | Literal["low", "medium", "high"] | None = Field(default=None)
    headers: dict[str, str] | None = Field(default=None)

    def __init__(
        self,
        model: str,
        base_url: str = "http://localhost:11434",
        temperature: float | None = None,
        context_window: int = -1,
        request_timeout: float | None = None,
        prompt_key: str = "prompt",
        json_mode: bool = False,
        additional_kwargs: dict[str, Any] | None = None,
        client: Any = None,
        async_client: Any = None,
        is_function_calling_model: bool = True,
        keep_alive: float | str | None = None,
        thinking: bool | Literal["low", "medium", "high"] | None = None,
        headers: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        own_client = (
            "homefire speaks Ollama's API itself; pass base_url=, headers=, request_timeout="
        )
        _refuse("client", client, own_client)
        _refuse("async_client", async_client, own_client)
        llm = hf.Ollama(
            model,
            base_url=base_url,
            temperature=temperature,
            context_window=_context(context_window),
            timeouts=_timeouts(request_timeout),
            options=additional_kwargs,
            keep_alive=keep_alive,
            think=thinking,
            headers=headers,
        )
        super().__init__(
            llm,
            model=model,
            base_url=base_url,
            temperature=temperature,
            context_window=context_window,
            request_timeout=request_timeout,
            prompt_key=prompt_key,
            json_mode=json_mode,
            additional_kwargs=additional_kwargs or {},
            is_function_calling_model=is_function_calling_model,
            keep_alive=keep_alive,
            thinking=thinking,
            headers=headers,
            **kwargs,
        )
        if json_mode:
            self._call_defaults = {"json_schema": {"type": "object"}}

    @classmethod
    def class_name(cls) -> str:
        return "Ollama_llm"
