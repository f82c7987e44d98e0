"""`Embedding`: a client for a server that serves an embedding model, OpenAI-compatible
(`/v1/embeddings`) or Ollama (`/api/embed`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from homefire.errors import InvalidParameterError
from homefire.llm.embedding import as_texts, batched, checked_vectors

if TYPE_CHECKING:
    from homefire.http import Timeouts

Dialect = Literal["openai", "ollama"]
_PATHS: dict[str, str] = {"openai": "/v1/embeddings", "ollama": "/api/embed"}
_DEFAULT_URLS: dict[str, str] = {
    "openai": "http://127.0.0.1:8080",
    "ollama": "http://127.0.0.1:11434",
}


def _server_root(base_url: str, dialect: str) -> str:
    """The server root: OpenAI clients take `http://host:8000/v1`, and the path adds `/v1`."""
    trimmed = base_url.rstrip("/")
    if dialect == "openai" and urlsplit(trimmed).path.endswith("/v1"):
        return trimmed[: -len("/v1")]
    return trimmed


class Embedding:
    """A client for a server that serves an embedding model.

    `dialect="openai"` speaks `/v1/embeddings` (llama.cpp started with `--embeddings`,
    LM Studio, LocalAI, Xinference, vLLM); `dialect="ollama"` speaks Ollama's `/api/embed`.
    `base_url` is the server root or, as OpenAI clients take it, the root plus `/v1`.
    Texts go in batches of `batch_size`; `dimension` is learnt from the first answer.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        dialect: Dialect = "openai",
        api_key: str | None = None,
        headers: Mapping[str, str] | None = None,
        timeouts: Timeouts | None = None,
        max_concurrency: int | None = None,
        batch_size: int = 32,
        dimensions: int | None = None,
    ) -> None:
        from homefire.http import HTTPClient, Timeouts
        from homefire.http.urls import check_base_url

        if dialect not in _PATHS:
            raise InvalidParameterError("dialect", f'must be "openai" or "ollama", got {dialect!r}')
        if dialect == "ollama" and not model:
            raise InvalidParameterError("model", "Ollama needs the name of the embedding model")
        self.model = model
        self.dialect = dialect
        self.batch_size = batch_size
        self.dimensions = dimensions
        self.dimension: int | None = dimensions
        self.http = HTTPClient(
            _server_root(check_base_url(base_url or _DEFAULT_URLS[dialect]), dialect),
            api_key=api_key,
            headers=headers,
            timeouts=timeouts or Timeouts(),
            max_concurrency=max_concurrency,
        )

    def __repr__(self) -> str:
        return f"Embedding(base_url={self.http.base_url!r}, model={self.model!r})"

    @property
    def metadata(self) -> dict[str, Any]:
        return {
            "model_name": self.model,
            "dimension": self.dimension,
            "base_url": self.http.base_url,
            "dialect": self.dialect,
        }

    def _body(self, texts: list[str]) -> dict[str, Any]:
        if self.dialect == "ollama":
            from homefire.protocols import ollama

            return ollama.build_embed_body(texts, self.model or "", dimensions=self.dimensions)
        from homefire.protocols import openai

        body = openai.build_embeddings_body(texts, model=self.model)
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        return body

    def _parse(self, body: Any, expected: int) -> list[list[float]]:
        if self.dialect == "ollama":
            from homefire.protocols import ollama

            vectors = ollama.parse_embed(body)
        else:
            from homefire.protocols import openai

            vectors = openai.parse_embeddings(body)
        checked_vectors(vectors, expected)
        if vectors and self.dimension is None:
            self.dimension = len(vectors[0])
        return vectors

    def embed(self, texts: str | Sequence[str]) -> list[list[float]]:
        """One vector per text, in order."""
        vectors: list[list[float]] = []
        for batch in batched(as_texts(texts), self.batch_size):
            answer = self.http.post_json(_PATHS[self.dialect], self._body(batch))
            vectors += self._parse(answer, len(batch))
        return vectors

    async def aembed(self, texts: str | Sequence[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        for batch in batched(as_texts(texts), self.batch_size):
            answer = await self.http.apost_json(_PATHS[self.dialect], self._body(batch))
            vectors += self._parse(answer, len(batch))
        return vectors

    def close(self) -> None:
        self.http.close()

    async def aclose(self) -> None:
        await self.http.aclose()

    def __enter__(self) -> Embedding:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
