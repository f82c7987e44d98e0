"""LocalAI: OpenAI-compatible inference plus readiness, backends and the model gallery.

LocalAI loads a model's backend lazily on first use and keeps its context size in the
model's YAML file, so `load()` takes no context or GPU settings (it says so) and
`context_window` only reports what the YAML is known to set.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from homefire.errors import HomefireTimeoutError, InvalidParameterError, NotSupportedError
from homefire.lifecycle import ProgressCallback
from homefire.protocols import localai
from homefire.providers._lifecycle import await_until, wait_until
from homefire.providers._openai_compatible import OpenAICompatibleLLM
from homefire.types import ChatResponse, CompletionResponse, ModelInfo


class LocalAI(OpenAICompatibleLLM):
    """A model served by LocalAI (default `http://localhost:8080`); key from `$LOCALAI_API_KEY`."""

    provider_name: ClassVar[str] = "LocalAI"
    default_base_url: ClassVar[str] = "http://localhost:8080"
    start_hint: ClassVar[str] = "start it with `local-ai run` (or pass base_url=)"
    health_path: ClassVar[str | None] = "/readyz"

    def __init__(
        self,
        model: str | None = None,
        *,
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        **kwargs: Any,
    ):
        super().__init__(
            model,
            api_key=api_key or os.environ.get("LOCALAI_API_KEY"),
            headers={"Extra-Usage": "1", **(headers or {})},  # timings in `usage`
            **kwargs,
        )

    def _parse_chat(self, body: Any) -> ChatResponse:
        response = super()._parse_chat(body)
        response.timings = response.timings or localai.parse_extra_usage(body)
        return response

    def _parse_completion(self, body: Any) -> CompletionResponse:
        response = super()._parse_completion(body)
        response.timings = response.timings or localai.parse_extra_usage(body)
        return response

    def _name(self, model: str | None) -> str:
        name = model or self.model
        if name is None:
            raise InvalidParameterError("model", "name the model (see `models()`)")
        return name

    def models(self) -> list[ModelInfo]:
        """Configured models, marked loaded when their backend runs (`/system`)."""
        loaded = localai.parse_system(self.http.get_json("/system"))
        return localai.parse_models(self.http.get_json("/v1/models"), loaded)

    def load(
        self,
        model: str | None = None,
        *,
        context_length: int | None = None,
        gpu: Any = None,
        ttl: Any = None,
    ) -> ModelInfo:
        """Start the model's backend now instead of on first use."""
        if context_length is not None or gpu is not None or ttl is not None:
            raise NotSupportedError(
                "LocalAI takes context size and GPU layers from the model's YAML file "
                "(context_size, gpu_layers), not per load; edit the YAML and load again"
            )
        name = self._name(model)
        self.http.post_json("/backend/load", {"model": name}, retry=False)
        return ModelInfo(id=name, loaded=True)

    def unload(self, model: str | None = None) -> None:
        """Stop the model's backend process."""
        self.http.post_json("/backend/shutdown", {"model": self._name(model)}, retry=False)

    def backend_status(self, model: str | None = None) -> str:
        """The backend's state: ready, busy, uninitialized or error."""
        return localai.parse_monitor(
            self.http.get_json("/backend/monitor", params={"model": self._name(model)})
        )

    def gallery(self) -> list[dict[str, Any]]:
        """The models the configured galleries offer (`/models/available`)."""
        body = self.http.get_json("/models/available")
        return [item for item in body if isinstance(item, dict)] if isinstance(body, list) else []

    def pull(
        self,
        model: str,
        *,
        progress: ProgressCallback | None = None,
        timeout: float = 3600.0,
        poll_interval: float = 1.0,
    ) -> None:
        """Install a gallery model (`gallery@name`) and wait for its job to finish."""
        uuid = localai.parse_apply(
            self.http.post_json("/models/apply", localai.build_apply_body(model), retry=False)
        )
        end = time.monotonic() + timeout
        while True:
            step = localai.parse_job(self.http.get_json(f"/models/jobs/{uuid}"), model)
            if progress is not None:
                progress(step)
            if step.done:
                return
            if time.monotonic() > end:
                raise HomefireTimeoutError("install", timeout, f"LocalAI installed {model}")
            time.sleep(poll_interval)

    def wait_until_ready(self, timeout: float = 60.0) -> None:
        wait_until(self.health, timeout=timeout, what=f"waiting for LocalAI at {self.base_url}")

    async def await_until_ready(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        await await_until(
            self.ahealth, timeout=timeout, what=f"waiting for LocalAI at {self.base_url}"
        )
