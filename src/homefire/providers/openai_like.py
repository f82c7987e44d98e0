"""`OpenAILike`: any OpenAI-compatible server (vLLM, SGLang, TGI, a proxy, a cloud endpoint).

`base_url` is the API root as OpenAI clients take it (`http://host:8000/v1`; a bare
`http://host:8000` gets `/v1` added). When no model is named, the server's first model is
used; the context window comes from the model list when the server tells it
(`max_model_len` from vLLM, `meta.n_ctx_train` from llama.cpp).
"""

from __future__ import annotations

from typing import ClassVar
from urllib.parse import urlsplit

from homefire.protocols import openai
from homefire.providers._server import Plan, Route, ServerLLM
from homefire.types import ChatResponse, CompletionResponse


class OpenAILike(ServerLLM):
    """An LLM behind any server that speaks OpenAI's chat and completions API."""

    chat_route: ClassVar[Route[ChatResponse]] = Route(
        "/chat/completions", openai.parse_chat, openai.ChatStreamAssembler
    )
    completion_route: ClassVar[Route[CompletionResponse]] = Route(
        "/completions", openai.parse_completion, openai.CompletionStreamAssembler
    )
    models_path: ClassVar[str] = "/models"
    embeddings_path: ClassVar[str] = "/embeddings"
    load_instead: ClassVar[str] = (
        "an OpenAI-compatible server serves the models it was started with; create "
        "OpenAILike(model=...) for another of them"
    )

    _discovered_model: str | None = None

    def _normalise_base_url(self, base_url: str) -> str:
        trimmed = base_url.rstrip("/")
        if urlsplit(trimmed).path == "":
            return trimmed + "/v1"
        return trimmed

    def _request_model(self) -> str | None:
        return self.model or self._discovered_model

    def _settle(self) -> Plan[None]:
        """Without a model named, ask once for the server's first one."""
        if self.model is None:
            models = yield from self._models()
            self._discovered_model = models[0].id if models else None
