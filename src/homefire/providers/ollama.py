"""Ollama through its native API: NDJSON chat and generate, `options`, keep_alive, lifecycle.

The native API (not Ollama's OpenAI layer) is used because only it takes `num_ctx`,
`num_gpu`, `num_thread`, `keep_alive` and `think`, and reports nanosecond timings.
`context_window=N` is sent as `options.num_ctx` on every request, so the model runs with the
context asked for. Ollama cuts a prompt that does not fit without saying so; homefire
notices from the counts on the final line (see `protocols.ollama.truncated`) and raises
`ContextOverflowError`, or only warns with `on_truncation="warn"`.
"""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Any, ClassVar, Literal

from homefire.errors import (
    ContextOverflowError,
    DownloadError,
    GenerationError,
    InvalidParameterError,
)
from homefire.lifecycle import ProgressCallback
from homefire.options import GenerationOptions
from homefire.protocols import ollama
from homefire.providers._lifecycle import await_until, wait_until
from homefire.providers._openai_compatible import OpenAICompatibleLLM
from homefire.types import ChatMessage, ChatResponse, CompletionResponse, LLMMetadata, ModelInfo

# Ollama's own default context when none is asked for and the GPU has under 24 GiB.
OLLAMA_DEFAULT_CONTEXT = 4096


class ContextTruncatedWarning(UserWarning):
    """Ollama filled its context window; part of the prompt was probably dropped."""


class Ollama(OpenAICompatibleLLM):
    """A model served by Ollama (default `http://127.0.0.1:11434`).

    `keep_alive` ("10m", seconds, -1 forever) applies to every request; `think` turns
    reasoning on or off (or "low"/"medium"/"high"); `num_gpu` is the number of layers to
    offload and `num_thread` the CPU threads; `options` adds any other Ollama option.
    """

    provider_name: ClassVar[str] = "Ollama"
    default_base_url: ClassVar[str] = "http://127.0.0.1:11434"
    start_hint: ClassVar[str] = "start it with `ollama serve` (or pass base_url=)"
    health_path: ClassVar[str | None] = "/api/version"

    def __init__(
        self,
        model: str | None = None,
        *,
        keep_alive: ollama.KeepAlive | None = None,
        think: bool | str | None = None,
        num_gpu: int | None = None,
        num_thread: int | None = None,
        options: Mapping[str, Any] | None = None,
        on_truncation: Literal["error", "warn"] = "error",
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        if on_truncation not in ("error", "warn"):
            raise InvalidParameterError(
                "on_truncation", f'must be "error" or "warn", got {on_truncation!r}'
            )
        for name, value in (("num_gpu", num_gpu), ("num_thread", num_thread)):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 0
            ):
                raise InvalidParameterError(name, f"must be a non-negative integer, got {value!r}")
        self.keep_alive = keep_alive
        self.think = think
        self.on_truncation = on_truncation
        runtime: dict[str, Any] = dict(options or {})
        if self.context_window is not None:
            runtime["num_ctx"] = self.context_window
        if num_gpu is not None:
            runtime["num_gpu"] = num_gpu
        if num_thread is not None:
            runtime["num_thread"] = num_thread
        self.runtime_options = runtime

    def _native_tools(self, options: GenerationOptions) -> bool:
        """Ollama picks tools itself; a forced choice goes through homefire's constrained
        prompting (the `format` schema), which enforces it."""
        return options.tool_choice in (None, "auto")

    # --- wire ------------------------------------------------------------------------------

    def _name(self) -> str:
        if self.model is None:
            raise InvalidParameterError(
                "model", "Ollama needs a model name, e.g. Ollama('llama3.2'); see `models()`"
            )
        return self.model

    def _chat_request(
        self, messages: list[ChatMessage], options: GenerationOptions, stream: bool
    ) -> dict[str, Any]:
        return ollama.build_chat_body(
            messages,
            options,
            model=self._name(),
            stream=stream,
            runtime=self.runtime_options,
            keep_alive=self.keep_alive,
            think=self.think,
        )

    def _generate_request(
        self, prompt: str, options: GenerationOptions, stream: bool, formatted: bool
    ) -> dict[str, Any]:
        return ollama.build_generate_body(
            prompt,
            options,
            model=self._name(),
            stream=stream,
            raw=formatted,
            runtime=self.runtime_options,
            keep_alive=self.keep_alive,
            think=self.think,
        )

    def _check_truncation(self, final: Any, words: int) -> None:
        num_ctx = self.runtime_options.get("num_ctx")
        if not isinstance(final, Mapping) or not ollama.truncated(final, num_ctx, words):
            return
        prompt = final.get("prompt_eval_count")
        detail = (
            f"Ollama ran out of num_ctx={num_ctx} (it evaluated {prompt} prompt tokens of at "
            f"least {words} sent, answered {final.get('eval_count')}) and drops what does not "
            "fit without saying so"
        )
        if self.on_truncation == "warn":
            warnings.warn(
                f"{detail}; the answer may ignore the start of the conversation",
                ContextTruncatedWarning,
                stacklevel=4,
            )
            return
        raise ContextOverflowError(prompt if isinstance(prompt, int) else None, num_ctx, detail)

    # --- LLM hooks --------------------------------------------------------------------------

    def _chat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        body = self.http.post_json("/api/chat", self._chat_request(messages, options, False))
        response = ollama.parse_chat(body)
        self._check_truncation(response.raw, ollama.prompt_words(messages))
        return response

    async def _achat(self, messages: list[ChatMessage], options: GenerationOptions) -> ChatResponse:
        body = self._chat_request(messages, options, False)
        response = ollama.parse_chat(await self.http.apost_json("/api/chat", body))
        self._check_truncation(response.raw, ollama.prompt_words(messages))
        return response

    def _stream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> Iterator[ChatResponse]:
        body = self._chat_request(messages, options, True)
        assembler = ollama.ChatStreamAssembler()
        for line in self.http.stream_ndjson("/api/chat", body):
            if (piece := assembler.feed(line)) is not None:
                yield piece
        final = assembler.finish()
        self._check_truncation(final.raw, ollama.prompt_words(messages))
        yield final

    async def _astream_chat(
        self, messages: list[ChatMessage], options: GenerationOptions
    ) -> AsyncIterator[ChatResponse]:
        body = self._chat_request(messages, options, True)
        assembler = ollama.ChatStreamAssembler()
        async for line in self.http.astream_ndjson("/api/chat", body):
            if (piece := assembler.feed(line)) is not None:
                yield piece
        final = assembler.finish()
        self._check_truncation(final.raw, ollama.prompt_words(messages))
        yield final

    def _complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        body = self._generate_request(prompt, options, False, formatted)
        response = ollama.parse_generate(self.http.post_json("/api/generate", body))
        self._check_truncation(response.raw, len(prompt.split()))
        return response

    async def _acomplete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> CompletionResponse:
        body = self._generate_request(prompt, options, False, formatted)
        response = ollama.parse_generate(await self.http.apost_json("/api/generate", body))
        self._check_truncation(response.raw, len(prompt.split()))
        return response

    def _stream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> Iterator[CompletionResponse]:
        body = self._generate_request(prompt, options, True, formatted)
        assembler = ollama.GenerateStreamAssembler()
        for line in self.http.stream_ndjson("/api/generate", body):
            if (piece := assembler.feed(line)) is not None:
                yield piece
        final = assembler.finish()
        self._check_truncation(final.raw, len(prompt.split()))
        yield final

    async def _astream_complete(
        self, prompt: str, options: GenerationOptions, formatted: bool
    ) -> AsyncIterator[CompletionResponse]:
        body = self._generate_request(prompt, options, True, formatted)
        assembler = ollama.GenerateStreamAssembler()
        async for line in self.http.astream_ndjson("/api/generate", body):
            if (piece := assembler.feed(line)) is not None:
                yield piece
        final = assembler.finish()
        self._check_truncation(final.raw, len(prompt.split()))
        yield final

    def _fetch_metadata(self) -> LLMMetadata:
        """The context in effect: ours if set, else the loaded model's, else Ollama's default."""
        context = self.context_window
        if context is None and self.model is not None:
            running = next((m for m in self.running() if m.id in _aliases(self.model)), None)
            context = running.context_length if running else None
        return LLMMetadata(
            context_window=context or OLLAMA_DEFAULT_CONTEXT,
            num_output=self.default_options.max_tokens or -1,
            model_name=self.model or "unknown",
            is_chat_model=self.is_chat_model,
            extra={"base_url": self.base_url, "provider": self.provider_name},
        )

    # --- lifecycle ------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """Downloaded models (`/api/tags`), marked loaded with their context from `/api/ps`."""
        tags = ollama.parse_tags(self.http.get_json("/api/tags"))
        return ollama.merge_models(tags, self.running())

    def running(self) -> list[ModelInfo]:
        """The loaded models (`/api/ps`), each with the context it was allocated."""
        return ollama.parse_ps(self.http.get_json("/api/ps"))

    def show(self, model: str | None = None) -> ModelInfo:
        """One model's details (`/api/show`): training context, capabilities, quantization."""
        name = model or self._name()
        return ollama.parse_show(self.http.post_json("/api/show", {"model": name}), name)

    def load(
        self,
        model: str | None = None,
        *,
        context_length: int | None = None,
        gpu: int | None = None,
        ttl: ollama.KeepAlive | None = None,
    ) -> ModelInfo:
        """Load without generating; `gpu` = layers to offload, `ttl` = keep_alive."""
        name = model or self._name()
        body = ollama.build_load_body(
            name,
            keep_alive=ttl if ttl is not None else self.keep_alive,
            num_ctx=context_length or self.runtime_options.get("num_ctx"),
        )
        if gpu is not None:
            body.setdefault("options", {})["num_gpu"] = gpu
        answer = self.http.post_json("/api/generate", body, retry=False)
        reason = ollama.parse_done_reason(answer)
        if reason != "load":
            raise GenerationError(
                f"Ollama did not confirm loading {name!r} (done_reason={reason!r})"
            )
        if self.model is not None and _aliases(name) & _aliases(self.model):
            # later requests must ask for the same settings, or Ollama reloads at its default
            if context_length is not None:
                self.runtime_options["num_ctx"] = context_length
            if gpu is not None:
                self.runtime_options["num_gpu"] = gpu
        self._metadata = None
        loaded = next((m for m in self.running() if m.id in _aliases(name)), None)
        return loaded or ModelInfo(id=name, loaded=True, context_length=context_length)

    def unload(self, model: str | None = None) -> None:
        name = model or self._name()
        self.http.post_json("/api/generate", ollama.build_unload_body(name), retry=False)
        self._metadata = None

    def pull(self, model: str | None = None, *, progress: ProgressCallback | None = None) -> None:
        """Download a model from Ollama's registry, reporting each progress line."""
        name = model or self._name()
        done = False
        try:
            for line in self.http.stream_ndjson("/api/pull", ollama.build_pull_body(name)):
                step = ollama.parse_pull_event(line)
                done = step.done
                if progress is not None:
                    progress(step)
        except GenerationError as exc:
            raise DownloadError(f"ollama://{name}", str(exc)) from None
        if not done:
            raise DownloadError(
                f"ollama://{name}",
                'the pull stream ended before Ollama said "success"; the model may be '
                "incomplete: pull again (Ollama resumes where it stopped)",
            )

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        wait_until(self.health, timeout=timeout, what=f"waiting for Ollama at {self.base_url}")

    async def await_until_ready(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await await_until(
            self.ahealth, timeout=timeout, what=f"waiting for Ollama at {self.base_url}"
        )


def _aliases(name: str) -> set[str]:
    """`llama3.2` and `llama3.2:latest` name the same model."""
    return {name, name if ":" in name else f"{name}:latest"}
