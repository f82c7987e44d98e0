"""LocalAI: OpenAI-compatible inference plus readiness, backends and the model gallery.

LocalAI loads a model's backend lazily on first use and keeps its context size in the
model's YAML file, so `load()` takes no context or GPU settings (it says so) and
`context_window` only reports what the YAML is known to set.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, ClassVar

from homefire.errors import HomefireTimeoutError, InvalidParameterError, NotSupportedError
from homefire.progress import ProgressCallback
from homefire.protocols import localai
from homefire.providers._server import Call, Pause, Plan, Route, ServerLLM
from homefire.types import ChatResponse, CompletionResponse, LoadRequest, ModelInfo


class LocalAI(ServerLLM):
    """A model served by LocalAI (default `http://localhost:8080`); key from `$LOCALAI_API_KEY`."""

    chat_route: ClassVar[Route[ChatResponse]] = Route(
        "/v1/chat/completions", localai.parse_chat, localai.ChatStreamAssembler
    )
    completion_route: ClassVar[Route[CompletionResponse]] = Route(
        "/v1/completions", localai.parse_completion, localai.CompletionStreamAssembler
    )
    health_path: ClassVar[str | None] = "/readyz"

    def __init__(
        self,
        model: str | None = None,
        *,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            model,
            headers={"Extra-Usage": "1", **(headers or {})},  # timings in `usage`
            **kwargs,
        )

    def _name(self, model: str | None) -> str:
        name = model or self.model
        if name is None:
            raise InvalidParameterError("model", "name the model (see `models()`)")
        return name

    def _models(self) -> Plan[list[ModelInfo]]:
        """Configured models, marked loaded when their backend runs (`/system`)."""
        loaded = localai.parse_system((yield Call("GET", "/system")))
        return localai.parse_models((yield Call("GET", "/v1/models")), loaded)

    def _load(self, request: LoadRequest) -> Plan[ModelInfo]:
        """Start the model's backend now instead of on first use."""
        if request.context_length is not None or request.gpu is not None or request.ttl is not None:
            raise NotSupportedError(
                "LocalAI takes context size and GPU layers from the model's YAML file "
                "(context_size, gpu_layers), not per load; edit the YAML and load again"
            )
        name = self._name(request.model)
        yield Call("POST", "/backend/load", {"model": name}, retry=False)
        return ModelInfo(id=name, loaded=True)

    def _unload(self, model: str | None) -> Plan[None]:
        """Stop the model's backend process."""
        yield Call("POST", "/backend/shutdown", {"model": self._name(model)}, retry=False)

    def backend_status(self, model: str | None = None) -> str:
        """The backend's state: ready, busy, uninitialized or error."""
        return localai.parse_monitor(
            self.http.get_json("/backend/monitor", params={"model": self._name(model)})
        )

    def gallery(self) -> list[dict[str, Any]]:
        """The models the configured galleries offer (`/models/available`)."""
        body = self.http.get_json("/models/available")
        return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []

    def _pull(
        self,
        model: str,
        progress: ProgressCallback | None,
        timeout: float = 3600.0,
        poll_interval: float = 1.0,
    ) -> Plan[None]:
        """Install a gallery model (`gallery@name`) and wait for its job to finish."""
        body = localai.build_apply_body(model)
        uuid = localai.parse_apply((yield Call("POST", "/models/apply", body, retry=False)))
        end = time.monotonic() + timeout
        while True:
            step = localai.parse_job((yield Call("GET", f"/models/jobs/{uuid}")), model)
            if progress is not None:
                progress(step)
            if step.done:
                return
            if time.monotonic() > end:
                raise HomefireTimeoutError("install", timeout, f"LocalAI installed {model}")
            yield Pause(poll_interval)

    def pull(
        self,
        model: str,
        *,
        progress: ProgressCallback | None = None,
        timeout: float = 3600.0,
        poll_interval: float = 1.0,
    ) -> None:
        self._run(self._pull(model, progress, timeout, poll_interval))

    async def apull(
        self,
        model: str,
        *,
        progress: ProgressCallback | None = None,
        timeout: float = 3600.0,  # noqa: ASYNC109 - a deadline the plan enforces itself
        poll_interval: float = 1.0,
    ) -> None:
        await self._arun(self._pull(model, progress, timeout, poll_interval))
