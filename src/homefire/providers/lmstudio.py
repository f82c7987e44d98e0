"""LM Studio: OpenAI-compatible inference plus its REST API for models, loads and downloads.

Chat and completion go to `/api/v0/...` (the OpenAI body, answered with `stats` that become
`Timings`). `context_window=N` is applied by loading the model with that context through
`POST /api/v1/models/load` before the first request (LM Studio's JIT load would pick its
own). That route takes the context and a few engine settings, and refuses anything else:
GPU offload and a load's TTL exist only in `lms load --gpu/--ttl`, so asking for them raises
NotSupportedError saying so. `ttl` on the provider rides on every inference request, where
LM Studio applies it to a model that request loads just in time.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from homefire._validate import integer
from homefire.errors import HomefireTimeoutError, InvalidParameterError, NotSupportedError
from homefire.options import GenerationOptions
from homefire.progress import ProgressCallback
from homefire.protocols import lmstudio, openai
from homefire.providers._server import Call, Pause, Plan, Route, ServerLLM
from homefire.types import ChatMessage, ChatResponse, CompletionResponse, LoadRequest, ModelInfo


class LMStudio(ServerLLM):
    """A model served by LM Studio (default `http://localhost:1234`).

    `api_key` defaults to `$LMSTUDIO_API_TOKEN` (needed only when the server requires
    authentication). `context_window` is a load setting, applied once before the first
    request when the model is not loaded with it already. `ttl` (seconds) is sent with every
    request: a model a request loads just in time unloads after that long idle. GPU offload
    cannot be set through LM Studio's API (`gpu=` raises NotSupportedError): use
    `lms load <model> --gpu 0.5` or the app.
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
        if gpu is not None:
            raise _no_gpu(model)
        super().__init__(model, **kwargs)
        self.ttl = integer("ttl", ttl, low=1, optional=True)

    # --- applying the load settings -------------------------------------------------------

    def _settle(self) -> Plan[None]:
        """Load the model with the context asked for, unless it is loaded with it already."""
        if self.model is None or self.context_window is None:
            return
        models, rest_v1 = yield from self._listing()
        entry = next((m for m in models if m.id == self.model), None)
        if entry is not None and entry.loaded and entry.context_length == self.context_window:
            return
        if not rest_v1:
            raise _no_load_api(self.model, self.context_window)
        yield from self._load(LoadRequest(self.model, self.context_window))

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
        models, _ = yield from self._listing()
        return models

    def _listing(self) -> Plan[tuple[list[ModelInfo], bool]]:
        """The models, and whether this LM Studio has REST v1 (0.4+, the one that loads)."""
        body = yield Call("GET", "/api/v1/models")
        if _before_v1(body):
            return lmstudio.parse_v0_models((yield Call("GET", "/api/v0/models"))), False
        return lmstudio.parse_v1_models(body), True

    def _load(self, request: LoadRequest) -> Plan[ModelInfo]:
        """Load `model` (blocks until loaded); returns it with the context now in effect.

        LM Studio's load API takes the context length, not GPU offload nor a TTL: asking for
        those raises NotSupportedError before anything is sent."""
        name = request.model or self.model
        if name is None:
            raise InvalidParameterError("model", "name the model to load (see `models()`)")
        if request.gpu is not None:
            raise _no_gpu(name)
        if request.ttl is not None:
            raise NotSupportedError(
                f"LM Studio's load API takes no TTL: a model loaded this way stays until "
                f"unloaded. Load it with `lms load {name} --ttl {request.ttl}` instead, or "
                f"give LMStudio(ttl=...) to unload models that requests load just in time"
            )
        body = lmstudio.build_load_body(name, context_length=request.context_length)
        answer = yield Call("POST", "/api/v1/models/load", body, retry=False)
        if lmstudio.is_unknown_route(answer):
            raise _no_load_api(name, request.context_length)
        instance, context = lmstudio.parse_load(answer)
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


def _no_gpu(model: str | None) -> NotSupportedError:
    name = model or "<model>"
    return NotSupportedError(
        "LM Studio's API cannot set GPU offload; load the model with "
        f"`lms load {name} --gpu 0.5` (a ratio, max or off) or in the app, then use it here"
    )


def _no_load_api(model: str, context: int | None) -> NotSupportedError:
    flag = f" --context-length {context}" if context is not None else ""
    return NotSupportedError(
        f"this LM Studio (before 0.4) has no API to load models: run `lms load {model}{flag}`, "
        "or update LM Studio"
    )


def _before_v1(body: Any) -> bool:
    """LM Studio before 0.4 answers unknown routes with 200 and a string error."""
    return isinstance(body, Mapping) and "models" not in body
