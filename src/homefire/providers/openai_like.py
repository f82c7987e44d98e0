"""`OpenAILike`: any OpenAI-compatible server (vLLM, SGLang, TGI, a proxy, a cloud endpoint).

`base_url` is the API root as OpenAI clients take it (`http://host:8000/v1`; a bare
`http://host:8000` gets `/v1` added). When no model is named, the server's first model is
used; the context window comes from the model list when the server tells it
(`max_model_len` from vLLM, `meta.n_ctx_train` from llama.cpp).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from homefire.providers._openai_compatible import OpenAICompatibleLLM
from homefire.types import ModelInfo


class OpenAILike(OpenAICompatibleLLM):
    """An LLM behind any server that speaks OpenAI's chat and completions API."""

    provider_name: ClassVar[str] = "OpenAI-compatible server"
    default_base_url: ClassVar[str] = "http://127.0.0.1:8000/v1"
    chat_path: ClassVar[str] = "/chat/completions"
    completion_path: ClassVar[str] = "/completions"
    models_path: ClassVar[str] = "/models"
    embeddings_path: ClassVar[str] = "/embeddings"

    _discovered_model: str | None = None

    def _normalise_base_url(self, base_url: str) -> str:
        if urlsplit(base_url).path.strip("/") == "":
            return base_url.rstrip("/") + "/v1"
        return base_url

    def _request_model(self) -> str | None:
        """The model named by the user, else the first one the server lists (asked once)."""
        if self.model is None and self._discovered_model is None:
            self._discovered_model = _first_id(self.models())
        return self.model or self._discovered_model

    async def _aprepare(self) -> None:
        """Ask for the first model without blocking the loop, so `_request_model` need not."""
        if self.model is None and self._discovered_model is None:
            self._discovered_model = _first_id(await self.amodels())


def _first_id(models: list[ModelInfo]) -> str | None:
    return models[0].id if models else None
