"""LM Studio: OpenAI-compatible inference plus its REST API for models, loads and downloads.

Chat and completion go to `/api/v0/...` (the OpenAI body, answered with `stats` that become
`Timings`). `context_window=N` is applied by loading the model with that context before the
first request (LM Studio's JIT load would pick its own); `ttl` rides on every request so a
JIT-loaded model is unloaded after that many idle seconds.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from homefire.errors import HomefireTimeoutError, InvalidParameterError
from homefire.lifecycle import ProgressCallback
from homefire.options import GenerationOptions
from homefire.protocols import lmstudio
from homefire.providers._lifecycle import ahealth_check, await_until, health_check, wait_until
from homefire.providers._openai_compatible import OpenAICompatibleLLM
from homefire.types import ChatMessage, ChatResponse, CompletionResponse, ModelInfo


class LMStudio(OpenAICompatibleLLM):
    """A model served by LM Studio (default `http://localhost:1234`).

    `api_key` defaults to `$LMSTUDIO_API_TOKEN` (needed only when the server requires
    authentication). `gpu` (0..1, "max" or "off") and `context_window` are load settings,
    applied once before the first request when the model is not loaded that way already.
    """

    provider_name: ClassVar[str] = "LM Studio"
    default_base_url: ClassVar[str] = "http://localhost:1234"
    start_hint: ClassVar[str] = (
        "start LM Studio's server with `lms server start` (or pass base_url=)"
    )
    chat_path: ClassVar[str] = "/api/v0/chat/completions"
    completion_path: ClassVar[str] = "/api/v0/completions"
    health_path: ClassVar[str | None] = "/lmstudio-greeting"

    def __init__(
        self,
        model: str | None = None,
        *,
        gpu: float | str | None = None,
        ttl: int | None = None,
        api_key: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(model, api_key=api_key or os.environ.get("LMSTUDIO_API_TOKEN"), **kwargs)
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1):
            raise InvalidParameterError("ttl", f"must be a positive number of seconds, got {ttl!r}")
        self.gpu = gpu
        self.ttl = ttl
        self._prepared = self.context_window is None and gpu is None
        self._prepare_lock = threading.Lock()
        self._aprepare_lock = asyncio.Lock()

    # --- applying the load settings -------------------------------------------------------

    def _needs_load(self, models: list[ModelInfo]) -> bool:
        entry = next((m for m in models if m.id == self.model), None)
        return (
            entry is None
            or not entry.loaded
            or (self.context_window is not None and entry.context_length != self.context_window)
        )

    def _prepare(self) -> None:
        if self._prepared or self.model is None:
            return
        with self._prepare_lock:
            if not self._prepared and self._needs_load(self.models()):
                self.load(
                    self.model, context_length=self.context_window, gpu=self.gpu, ttl=self.ttl
                )
            self._prepared = True

    async def _aprepare(self) -> None:
        if self._prepared or self.model is None:
            return
        async with self._aprepare_lock:
            if not self._prepared and self._needs_load(await self.amodels()):
                await self.aload(
                    self.model, context_length=self.context_window, gpu=self.gpu, ttl=self.ttl
                )
            self._prepared = True

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

    def _parse_chat(self, body: Any) -> ChatResponse:
        response = super()._parse_chat(body)
        if response.timings is None and isinstance(body, Mapping):
            response.timings = lmstudio.parse_v0_stats(body)
        return response

    def _parse_completion(self, body: Any) -> CompletionResponse:
        response = super()._parse_completion(body)
        if response.timings is None and isinstance(body, Mapping):
            response.timings = lmstudio.parse_v0_stats(body)
        return response

    # --- lifecycle ------------------------------------------------------------------------

    def models(self) -> list[ModelInfo]:
        """Downloaded models with state, quantization and context (REST v1, else v0)."""
        body = self.http.get_json("/api/v1/models")
        if _before_v1(body):
            return lmstudio.parse_v0_models(self.http.get_json("/api/v0/models"))
        return lmstudio.parse_v1_models(body)

    async def amodels(self) -> list[ModelInfo]:
        body = await self.http.aget_json("/api/v1/models")
        if _before_v1(body):
            return lmstudio.parse_v0_models(await self.http.aget_json("/api/v0/models"))
        return lmstudio.parse_v1_models(body)

    def _load_body(
        self,
        model: str | None,
        context_length: int | None,
        gpu: float | str | None,
        ttl: int | None,
    ) -> dict[str, Any]:
        name = model or self.model
        if name is None:
            raise InvalidParameterError("model", "name the model to load (see `models()`)")
        return lmstudio.build_load_body(name, context_length=context_length, gpu=gpu, ttl=ttl)

    def _loaded(self, answer: Any, context_length: int | None) -> ModelInfo:
        instance, context = lmstudio.parse_load(answer)
        self._metadata = None
        return ModelInfo(id=instance, loaded=True, context_length=context or context_length)

    def load(
        self,
        model: str | None = None,
        *,
        context_length: int | None = None,
        gpu: float | str | None = None,
        ttl: int | None = None,
    ) -> ModelInfo:
        """Load `model` (blocks until loaded); returns it with the context now in effect."""
        body = self._load_body(model, context_length, gpu, ttl)
        return self._loaded(
            self.http.post_json("/api/v1/models/load", body, retry=False), context_length
        )

    async def aload(
        self,
        model: str | None = None,
        *,
        context_length: int | None = None,
        gpu: float | str | None = None,
        ttl: int | None = None,
    ) -> ModelInfo:
        """`load()` without blocking the event loop."""
        body = self._load_body(model, context_length, gpu, ttl)
        answer = await self.http.apost_json("/api/v1/models/load", body, retry=False)
        return self._loaded(answer, context_length)

    def unload(self, model: str | None = None) -> None:
        """Unload a loaded instance (its id is the model key unless loaded under another)."""
        name = model or self.model
        if name is None:
            raise InvalidParameterError("model", "name the model to unload (see `models()`)")
        self.http.post_json("/api/v1/models/unload", lmstudio.build_unload_body(name), retry=False)
        self._prepared = self.context_window is None and self.gpu is None
        self._metadata = None

    def pull(
        self,
        model: str,
        *,
        quantization: str | None = None,
        progress: ProgressCallback | None = None,
        timeout: float = 3600.0,
        poll_interval: float = 1.0,
    ) -> None:
        """Download a model from LM Studio's catalog and wait until it is complete."""
        body = lmstudio.build_download_body(model, quantization)
        job, step = lmstudio.parse_download_status(
            self.http.post_json("/api/v1/models/download", body, retry=False)
        )
        end = time.monotonic() + timeout
        while True:
            if progress is not None:
                progress(step)
            if step.done or job is None:
                return
            if time.monotonic() > end:
                raise HomefireTimeoutError("download", timeout, f"LM Studio downloaded {model}")
            time.sleep(poll_interval)
            _, step = lmstudio.parse_download_status(
                self.http.get_json(f"/api/v1/models/download/status/{job}")
            )

    def health(self) -> bool:
        """True when LM Studio's server answers its greeting."""
        return health_check(self.http, "/lmstudio-greeting", self._http_error, _greets)

    async def ahealth(self) -> bool:
        return await ahealth_check(self.http, "/lmstudio-greeting", self._http_error, _greets)

    def wait_until_ready(self, timeout: float = 30.0) -> None:
        wait_until(self.health, timeout=timeout, what=f"waiting for LM Studio at {self.base_url}")

    async def await_until_ready(self, timeout: float = 30.0) -> None:  # noqa: ASYNC109
        await await_until(
            self.ahealth, timeout=timeout, what=f"waiting for LM Studio at {self.base_url}"
        )


def _before_v1(body: Any) -> bool:
    """LM Studio before 0.4 answers unknown routes with 200 and a string error."""
    return isinstance(body, Mapping) and "models" not in body


def _greets(body: Any) -> bool:
    return lmstudio.is_greeting(body)
