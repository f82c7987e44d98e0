"""LM Studio: OpenAI-compatible inference plus its REST API for models, loads and downloads.

Chat and completion go to `/api/v0/...` (the OpenAI body, answered with `stats` that become
`Timings`). `context_window=N` is applied by loading the model with that context before the
first request (LM Studio's JIT load would pick its own); `ttl` rides on every request so a
JIT-loaded model is unloaded after that many idle seconds.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from homefire._validate import integer
from homefire.errors import HomefireTimeoutError, InvalidParameterError
from homefire.options import GenerationOptions
from homefire.progress import ProgressCallback
from homefire.protocols import lmstudio, openai
from homefire.providers._server import Call, Pause, Plan, Route, ServerLLM
from homefire.types import ChatMessage, ChatResponse, CompletionResponse, LoadRequest, ModelInfo


class LMStudio(ServerLLM):
    """A model served by LM Studio (default `http://localhost:1234`).

    `api_key` defaults to `$LMSTUDIO_API_TOKEN` (needed only when the server requires
    authentication). `gpu` (0..1, "max" or "off") and `context_window` are load settings,
    applied once before the first request when the model is not loaded that way already.
    """

    chat_route: ClassVar[Route[ChatResponse]] = Route(
        "/api/v0/chat/completions", lmstudio.parse_chat, openai.ChatStreamAssembler
    )
    completion_route: ClassVar[Route[CompletionResponse]] = Route(
        "/api/v0/completions", lmstudio.parse_completion, openai.CompletionStreamAssembler
    )
    health_path: ClassVar[str | None] = "/lmstudio-greeting"
    ready_timeout: ClassVar[float] = 30.0

    def __init__(
        self,
        model: str | None = None,
        *,
        gpu: float | str | None = None,
        ttl: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, **kwargs)
        self.gpu = gpu
        self.ttl = integer("ttl", ttl, low=1, optional=True)

    # --- applying the load settings -------------------------------------------------------

    def _needs_load(self, models: list[ModelInfo]) -> bool:
        entry = next((m for m in models if m.id == self.model), None)
        return (
            entry is None
            or not entry.loaded
            or (self.context_window is not None and entry.context_length != self.context_window)
        )

    def _settle(self) -> Plan[None]:
        """Load the model with the context and GPU offload asked for, unless it already is."""
        if self.model is None or (self.context_window is None and self.gpu is None):
            return
        if self._needs_load((yield from self._models())):
            yield from self._load(LoadRequest(self.model, self.context_window, self.gpu, self.ttl))

    # --- wire ------------------------------------------------------------------------------

    def _with_ttl(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.ttl is not None:
            body.setdefault("ttl", self.ttl)
        return body

    def _chat_body(
        self, messages: Sequence[ChatMessage], options: GenerationOptions, stream: bool
    ) -> dict[str, Any]:
        return self._with_ttl(super()._chat_body(messages, options, stream))

    def _completion_body(
        self, prompt: str, options: GenerationOptions, stream: bool, formatted: bool
    ) -> dict[str, Any]:
        return self._with_ttl(super()._completion_body(prompt, options, stream, formatted))

    # --- lifecycle ------------------------------------------------------------------------

    def _models(self) -> Plan[list[ModelInfo]]:
        """Downloaded models with state, quantization and context (REST v1, else v0)."""
        body = yield Call("GET", "/api/v1/models")
        if _before_v1(body):
            return lmstudio.parse_v0_models((yield Call("GET", "/api/v0/models")))
        return lmstudio.parse_v1_models(body)

    def _load(self, request: LoadRequest) -> Plan[ModelInfo]:
        """Load `model` (blocks until loaded); returns it with the context now in effect."""
        name = request.model or self.model
        if name is None:
            raise InvalidParameterError("model", "name the model to load (see `models()`)")
        ttl = integer("ttl", request.ttl, low=1, optional=True)
        body = lmstudio.build_load_body(
            name, context_length=request.context_length, gpu=request.gpu, ttl=ttl
        )
        instance, context = lmstudio.parse_load(
            (yield Call("POST", "/api/v1/models/load", body, retry=False))
        )
        self._metadata = None
        return ModelInfo(id=instance, loaded=True, context_length=context or request.context_length)

    def _unload(self, model: str | None) -> Plan[None]:
        """Unload a loaded instance (its id is the model key unless loaded under another)."""
        name = model or self.model
        if name is None:
            raise InvalidParameterError("model", "name the model to unload (see `models()`)")
        body = lmstudio.build_unload_body(name)
        yield Call("POST", "/api/v1/models/unload", body, retry=False)
        self._settled = False
        self._metadata = None

    def _pull(
        self,
        model: str,
        progress: ProgressCallback | None,
        quantization: str | None = None,
        timeout: float = 3600.0,
        poll_interval: float = 1.0,
    ) -> Plan[None]:
        """Download a model from LM Studio's catalog and wait until it is complete."""
        body = lmstudio.build_download_body(model, quantization)
        job, step = lmstudio.parse_download_status(
            (yield Call("POST", "/api/v1/models/download", body, retry=False))
        )
        end = time.monotonic() + timeout
        while True:
            if progress is not None:
                progress(step)
            if step.done or job is None:
                return
            if time.monotonic() > end:
                raise HomefireTimeoutError("download", timeout, f"LM Studio downloaded {model}")
            yield Pause(poll_interval)
            _, step = lmstudio.parse_download_status(
                (yield Call("GET", f"/api/v1/models/download/status/{job}"))
            )

    def pull(
        self,
        model: str,
        *,
        progress: ProgressCallback | None = None,
        quantization: str | None = None,
        timeout: float = 3600.0,
        poll_interval: float = 1.0,
    ) -> None:
        """Download `model` (a catalog name, optionally one `quantization` of it)."""
        self._run(self._pull(model, progress, quantization, timeout, poll_interval))

    async def apull(
        self,
        model: str,
        *,
        progress: ProgressCallback | None = None,
        quantization: str | None = None,
        timeout: float = 3600.0,  # noqa: ASYNC109 - a deadline the plan enforces itself
        poll_interval: float = 1.0,
    ) -> None:
        await self._arun(self._pull(model, progress, quantization, timeout, poll_interval))

    def _health(self) -> Plan[bool]:
        """True when LM Studio's server answers its greeting."""
        response = yield self._probe("/lmstudio-greeting")
        return self._judge(response, lmstudio.is_greeting)


def _before_v1(body: Any) -> bool:
    """LM Studio before 0.4 answers unknown routes with 200 and a string error."""
    return isinstance(body, Mapping) and "models" not in body
