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
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from homefire._validate import integer
from homefire.errors import (
    ContextOverflowError,
    ContextTruncatedWarning,
    DownloadError,
    GenerationError,
    InvalidParameterError,
)
from homefire.options import GenerationOptions
from homefire.progress import ProgressCallback
from homefire.protocols import ollama
from homefire.providers._server import Call, Listen, Plan, Route, ServerLLM
from homefire.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    LLMMetadata,
    LoadRequest,
    ModelInfo,
)

# Ollama's own default context when none is asked for and the GPU has under 24 GiB.
OLLAMA_DEFAULT_CONTEXT = 4096


class Ollama(ServerLLM):
    """A model served by Ollama (default `http://127.0.0.1:11434`).

    `keep_alive` ("10m", seconds, -1 forever) applies to every request; `think` turns
    reasoning on or off (or "low"/"medium"/"high"); `num_gpu` is the number of layers to
    offload and `num_thread` the CPU threads; `options` adds any other Ollama option.
    """

    chat_route: ClassVar[Route[ChatResponse]] = Route(
        "/api/chat", ollama.parse_chat, ollama.ChatStreamAssembler, "ndjson"
    )
    completion_route: ClassVar[Route[CompletionResponse]] = Route(
        "/api/generate", ollama.parse_generate, ollama.GenerateStreamAssembler, "ndjson"
    )
    models_path: ClassVar[str] = "/api/tags"
    embeddings_path: ClassVar[str] = "/api/embed"
    health_path: ClassVar[str | None] = "/api/version"
    ready_timeout: ClassVar[float] = 30.0

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
        integer("num_gpu", num_gpu, low=0, optional=True)
        integer("num_thread", num_thread, low=0, optional=True)
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

    def _tool_support(self, options: GenerationOptions) -> Plan[bool]:
        """Ollama picks tools itself; a forced choice goes through homefire's constrained
        prompting (the `format` schema), which enforces it."""
        return options.tool_choice in (None, "auto")
        yield

    # --- wire ------------------------------------------------------------------------------

    def _name(self) -> str:
        if self.model is None:
            raise InvalidParameterError(
                "model", "Ollama needs a model name, e.g. Ollama('llama3.2'); see `models()`"
            )
        return self.model

    def _chat_body(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, stream: bool
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

    def _completion_body(
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

    def _after_chat(self, response: ChatResponse, messages: Sequence[ChatMessage]) -> ChatResponse:
        self._check_truncation(response.raw, ollama.prompt_words(messages))
        return response

    def _after_completion(self, response: CompletionResponse, prompt: str) -> CompletionResponse:
        self._check_truncation(response.raw, len(prompt.split()))
        return response

    def _embedding(self, texts: list[str]) -> Plan[list[list[float]]]:
        body = ollama.build_embed_body(texts, self._name())
        return ollama.parse_embed((yield Call("POST", self.embeddings_path, body)))

    def _fetch_metadata(self) -> LLMMetadata:
        """The context in effect: ours if set, else the loaded model's, else Ollama's default."""
        context = self.context_window
        if context is None and self.model is not None:
            running = next((m for m in self.running() if m.id in _aliases(self.model)), None)
            context = running.context_length if running else None
        native = self.model is not None and "tools" in self.show(self.model).capabilities
        return self._describe(
            context or OLLAMA_DEFAULT_CONTEXT, self.model or "unknown", native_tools=native
        )

    # --- lifecycle ------------------------------------------------------------------------

    def _models(self) -> Plan[list[ModelInfo]]:
        """Downloaded models (`/api/tags`), marked loaded with their context from `/api/ps`."""
        tags = ollama.parse_tags((yield Call("GET", "/api/tags")))
        return ollama.merge_models(tags, (yield from self._running()))

    def _running(self) -> Plan[list[ModelInfo]]:
        return ollama.parse_ps((yield Call("GET", "/api/ps")))

    def running(self) -> list[ModelInfo]:
        """The loaded models (`/api/ps`), each with the context it was allocated."""
        return self._run(self._running())

    def show(self, model: str | None = None) -> ModelInfo:
        """One model's details (`/api/show`): training context, capabilities, quantization."""
        name = model or self._name()
        return ollama.parse_show(self.http.post_json("/api/show", {"model": name}), name)

    def _load(self, request: LoadRequest) -> Plan[ModelInfo]:
        """Load without generating; `gpu` = layers to offload, `ttl` = keep_alive."""
        name = request.model or self._name()
        layers = integer("gpu", request.gpu, low=0, optional=True)
        body = ollama.build_load_body(
            name,
            keep_alive=request.ttl if request.ttl is not None else self.keep_alive,
            num_ctx=request.context_length or self.runtime_options.get("num_ctx"),
        )
        if layers is not None:
            body.setdefault("options", {})["num_gpu"] = layers
        reason = ollama.parse_done_reason((yield Call("POST", "/api/generate", body, retry=False)))
        if reason != "load":
            raise GenerationError(
                f"Ollama did not confirm loading {name!r} (done_reason={reason!r})"
            )
        if self.model is not None and _aliases(name) & _aliases(self.model):
            # later requests must ask for the same settings, or Ollama reloads at its default
            if request.context_length is not None:
                self.runtime_options["num_ctx"] = request.context_length
            if layers is not None:
                self.runtime_options["num_gpu"] = layers
        self._metadata = None
        loaded = next((m for m in (yield from self._running()) if m.id in _aliases(name)), None)
        return loaded or ModelInfo(id=name, loaded=True, context_length=request.context_length)

    def _unload(self, model: str | None) -> Plan[None]:
        name = model or self._name()
        yield Call("POST", "/api/generate", ollama.build_unload_body(name), retry=False)
        self._metadata = None

    def _pull(self, model: str, progress: ProgressCallback | None) -> Plan[None]:
        """Download a model from Ollama's registry, reporting each progress line."""
        name = model or self._name()
        steps: list[bool] = []

        def on_line(line: Any) -> None:
            step = ollama.parse_pull_event(line)
            steps.append(step.done)
            if progress is not None:
                progress(step)

        try:
            yield Listen("/api/pull", ollama.build_pull_body(name), "ndjson", on_line)
        except GenerationError as exc:
            raise DownloadError(f"ollama://{name}", str(exc)) from None
        if not (steps and steps[-1]):
            raise DownloadError(
                f"ollama://{name}",
                'the pull stream ended before Ollama said "success"; the model may be '
                "incomplete: pull again (Ollama resumes where it stopped)",
            )


def _aliases(name: str) -> set[str]:
    """`llama3.2` and `llama3.2:latest` name the same model."""
    return {name, name if ":" in name else f"{name}:latest"}
