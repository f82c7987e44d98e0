"""Shared base for every provider that talks to an OpenAI-compatible HTTP server.

`OpenAICompatibleLLM` does chat, completion, streaming (sync and real async), `models()`
and `health()` through the pooled `HTTPClient` and the OpenAI dialect. A provider for a
particular server subclasses it and changes only what differs:

Class attributes
    `provider_name`     how errors and reprs name the server ("LM Studio")
    `default_base_url`  where the server listens by default (the server root, no `/v1`)
    `start_hint`        what to tell the user when nothing listens there
    `chat_path`, `completion_path`, `models_path`, `embeddings_path`
                        routes under base_url (default `/v1/...`)
    `health_path`       a route answering 2xx when ready (None: use `models_path`)

Hooks (override any of them)
    `_normalise_base_url(url)`               e.g. strip or add a `/v1` the user passed
    `_request_model()`                       the `model` field to send (default: `model` arg)
    `_chat_body(messages, options, stream)`  wire body for chat (add server-specific fields)
    `_completion_body(prompt, options, stream, formatted)`
    `_parse_chat(body)`, `_parse_completion(body)`, `_parse_models(body)`
    `_fetch_metadata()`                      LLMMetadata discovered from the server
    `_prepare()`, `_aprepare()`              run before every request (sync / async): settle
                                             what requests need from the server first
    `_http_error(status, body, url=...)`     server-specific error bodies to homefire errors
A server whose completion (or chat) lives on a non-OpenAI route overrides the LLM hooks
`_complete`/`_stream_complete`/`_acomplete`/`_astream_complete` (see `Llamafile`).

Everything that goes on the network goes through `self.http`; per-call options are merged
over the constructor's `temperature`, `max_new_tokens` and `additional_kwargs`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, ClassVar

from homefire.errors import HomefireError, InvalidParameterError
from homefire.http import HTTPClient, RetryPolicy, Timeouts
from homefire.llm import LLM
from homefire.options import GenerationOptions, parse_options
from homefire.protocols import openai
from homefire.protocols.errors import error_from_response
from homefire.providers._lifecycle import ahealth_check, health_check
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    ModelInfo,
)

_DEFAULT_CONTEXT = 4096
_DEFAULT_OUTPUT = 256


class OpenAICompatibleLLM(LLM):
    """An LLM served over the OpenAI-compatible HTTP API; see the module docstring."""

    provider_name: ClassVar[str] = "OpenAI-compatible server"
    default_base_url: ClassVar[str] = "http://127.0.0.1:8000"
    start_hint: ClassVar[str] = "start the server, or pass the base_url it listens on"
    chat_path: ClassVar[str] = "/v1/chat/completions"
    completion_path: ClassVar[str] = "/v1/completions"
    models_path: ClassVar[str] = "/v1/models"
    embeddings_path: ClassVar[str] = "/v1/embeddings"
    health_path: ClassVar[str | None] = None

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        max_concurrency: int | None = None,
        context_window: int | None = None,
        temperature: float | None = None,
        max_new_tokens: int | None = None,
        is_chat_model: bool = True,
        additional_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            parse_options(
                {
                    "temperature": temperature,
                    "max_tokens": max_new_tokens,
                    "extra": dict(additional_kwargs or {}),
                }
            )
        )
        if model is not None and (not isinstance(model, str) or not model):
            raise InvalidParameterError("model", f"must be a non-empty string, got {model!r}")
        if context_window is not None and (
            isinstance(context_window, bool)
            or not isinstance(context_window, int)
            or context_window < 1
        ):
            raise InvalidParameterError(
                "context_window", f"must be a positive integer, got {context_window!r}"
            )
        if timeouts is not None and not isinstance(timeouts, Timeouts):
            raise InvalidParameterError(
                "timeouts", f"must be hf.Timeouts(connect=..., first_token=...), got {timeouts!r}"
            )
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise InvalidParameterError(
                "retry", f"must be hf.RetryPolicy(attempts=..., backoff=...), got {retry!r}"
            )
        self.model = model
        self.context_window = context_window
        self.is_chat_model = is_chat_model
        self.http = HTTPClient(
            self._normalise_base_url(base_url or self.default_base_url),
            api_key=api_key,
            headers=headers,
            timeouts=timeouts or Timeouts(),
            retry=retry or RetryPolicy(),
            max_concurrency=max_concurrency,
            error_mapper=self._http_error,
            start_hint=self.start_hint,
        )
        self._metadata: LLMMetadata | None = None

    def __repr__(self) -> str:
        model = f", model={self.model!r}" if self.model else ""
        return f"{type(self).__name__}(base_url={self.base_url!r}{model})"

    @property
    def base_url(self) -> str:
        return self.http.base_url

    # --- hooks ----------------------------------------------------------------------------

    def _normalise_base_url(self, base_url: str) -> str:
        return base_url

    def _http_error(self, status: int, body: Any, *, url: str | None = None) -> HomefireError:
        return error_from_response(status, body, url=url)

    def _request_model(self) -> str | None:
        return self.model

    def _prepare(self) -> None:
        """Nothing by default; a provider that must ask or set up the server first does it here."""

    async def _aprepare(self) -> None:
        """`_prepare` for the async hooks: it must not block the event loop."""

    def _chat_body(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, stream: bool
    ) -> dict[str, Any]:
        return openai.build_chat_body(messages, options, model=self._request_model(), stream=stream)

    def _completion_body(
        self, prompt: str, options: GenerationOptions, stream: bool, formatted: bool
    ) -> dict[str, Any]:
        return openai.build_completion_body(
            prompt, options, model=self._request_model(), stream=stream
        )

    def _parse_chat(self, body: Any) -> ChatResponse:
        return openai.parse_chat(body)

    def _parse_completion(self, body: Any) -> CompletionResponse:
        return openai.parse_completion(body)

    def _parse_models(self, body: Any) -> list[ModelInfo]:
        return openai.parse_models(body)

    def _fetch_metadata(self) -> LLMMetadata:
        """Metadata from the model list: the requested model's entry, else the first."""
        models = self.models()
        chosen = next((m for m in models if m.id == self.model), models[0] if models else None)
        context = self.context_window
        if context is None and chosen is not None:
            context = chosen.context_length
        return LLMMetadata(
            context_window=context or _DEFAULT_CONTEXT,
            num_output=self.default_options.max_tokens or _DEFAULT_OUTPUT,
            model_name=self.model or (chosen.id if chosen else "unknown"),
            is_chat_model=self.is_chat_model,
            extra={"base_url": self.base_url, "provider": self.provider_name},
        )

    # --- LLM ------------------------------------------------------------------------------

    @property
    def metadata(self) -> LLMMetadata:
        """Asks the server once (for the context window) unless everything was given."""
        if self._metadata is None:
            if self.context_window is not None and self.model is not None:
                self._metadata = LLMMetadata(
                    context_window=self.context_window,
                    num_output=self.default_options.max_tokens or _DEFAULT_OUTPUT,
                    model_name=self.model,
                    is_chat_model=self.is_chat_model,
                    extra={"base_url": self.base_url, "provider": self.provider_name},
                )
            else:
                self._metadata = self._fetch_metadata()
        return self._metadata

    def _chat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        self._prepare()
        body = self.http.post_json(self.chat_path, self._chat_body(messages, options, False))
        return self._parse_chat(body)

    def _stream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[ChatResponse]:
        self._prepare()
        body = self._chat_body(messages, options, True)
        assembler = openai.ChatStreamAssembler()
        for event in self.http.stream_sse(self.chat_path, body):
            if (piece := assembler.feed(event)) is not None:
                yield piece
        yield assembler.finish()

    def _complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        self._prepare()
        body = self._completion_body(prompt, options, False, formatted)
        return self._parse_completion(self.http.post_json(self.completion_path, body))

    def _stream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> Iterator[CompletionResponse]:
        self._prepare()
        body = self._completion_body(prompt, options, True, formatted)
        assembler = openai.CompletionStreamAssembler()
        for event in self.http.stream_sse(self.completion_path, body):
            if (piece := assembler.feed(event)) is not None:
                yield piece
        yield assembler.finish()

    async def _achat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        await self._aprepare()
        body = self._chat_body(messages, options, False)
        return self._parse_chat(await self.http.apost_json(self.chat_path, body))

    async def _astream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ChatResponse]:
        await self._aprepare()
        body = self._chat_body(messages, options, True)
        assembler = openai.ChatStreamAssembler()
        async for event in self.http.astream_sse(self.chat_path, body):
            if (piece := assembler.feed(event)) is not None:
                yield piece
        yield assembler.finish()

    async def _acomplete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        await self._aprepare()
        body = self._completion_body(prompt, options, False, formatted)
        return self._parse_completion(await self.http.apost_json(self.completion_path, body))

    async def _astream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> AsyncIterator[CompletionResponse]:
        await self._aprepare()
        body = self._completion_body(prompt, options, True, formatted)
        assembler = openai.CompletionStreamAssembler()
        async for event in self.http.astream_sse(self.completion_path, body):
            if (piece := assembler.feed(event)) is not None:
                yield piece
        yield assembler.finish()

    # --- the server -------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """The models the server offers (for most servers: the ones it can answer with)."""
        return self._parse_models(self.http.get_json(self.models_path))

    async def amodels(self) -> list[ModelInfo]:
        return self._parse_models(await self.http.aget_json(self.models_path))

    def health(self) -> bool:
        """True when the server is ready to answer, False while it loads or is busy.

        Raises ServerNotRunningError when nothing listens, and the server's own error when
        it refuses for another reason (a wrong API key, for one).
        """
        return health_check(self.http, self.health_path or self.models_path, self._http_error)

    async def ahealth(self) -> bool:
        """`health()` without blocking the event loop."""
        return await ahealth_check(
            self.http, self.health_path or self.models_path, self._http_error
        )

    # --- tools and embeddings (LLM hooks) ---------------------------------------------------

    def _native_tools(self, options: GenerationOptions) -> bool:
        return True

    def _embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text (the server must serve an embedding model)."""
        self._prepare()
        body = openai.build_embeddings_body(texts, model=self._request_model())
        return openai.parse_embeddings(self.http.post_json(self.embeddings_path, body))

    async def _aembed(self, texts: list[str]) -> list[list[float]]:
        await self._aprepare()
        body = openai.build_embeddings_body(texts, model=self._request_model())
        return openai.parse_embeddings(await self.http.apost_json(self.embeddings_path, body))

    def close(self) -> None:
        self.http.close()

    async def aclose(self) -> None:
        await self.http.aclose()
