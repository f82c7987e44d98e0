"""Embeddings: input checks and batching shared by every provider, and `Embedding`, a client
for dedicated embedding endpoints (OpenAI-compatible `/v1/embeddings` or Ollama `/api/embed`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from homefire.errors import InvalidParameterError, ProtocolError

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


def as_texts(texts: str | Sequence[str]) -> list[str]:
    """A single string or a list of strings, as a non-empty list."""
    items = [texts] if isinstance(texts, str) else texts
    if not isinstance(items, Sequence) or not all(isinstance(t, str) for t in items):
        raise InvalidParameterError("texts", "must be a string or a list of strings")
    if not items:
        raise InvalidParameterError("texts", "at least one text is needed")
    return list(items)


def batched(items: list[str], size: int) -> Iterator[list[str]]:
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise InvalidParameterError("embed_batch_size", f"must be an integer >= 1, got {size!r}")
    for start in range(0, len(items), size):
        yield items[start : start + size]


def checked_vectors(vectors: list[list[float]], expected: int) -> list[list[float]]:
    """The vectors of one batch, after checking the backend sent one per text."""
    if len(vectors) != expected:
        raise ProtocolError(f"asked for {expected} embeddings, got {len(vectors)}")
    return vectors


def build_ollama_embed_body(
    texts: Sequence[str], model: str, *, dimensions: int | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "input": list(texts)}
    if dimensions is not None:
        body["dimensions"] = dimensions
    return body


def parse_ollama_embed(body: Any) -> list[list[float]]:
    """Ollama's `{"embeddings": [[...], ...]}`, in input order."""
    if not isinstance(body, Mapping):
        raise ProtocolError(f"expected an embed object, got {type(body).__name__}")
    vectors = body.get("embeddings")
    if not isinstance(vectors, list) or not all(_is_vector(v) for v in vectors):
        raise ProtocolError("the embed answer has no `embeddings` list of number lists")
    return [[float(x) for x in vector] for vector in vectors]


def _is_vector(value: Any) -> bool:
    return isinstance(value, list) and all(
        isinstance(x, int | float) and not isinstance(x, bool) for x in value
    )


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
            _server_root(base_url or _DEFAULT_URLS[dialect], dialect),
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
            return build_ollama_embed_body(texts, self.model or "", dimensions=self.dimensions)
        from homefire.protocols import openai

        body = openai.build_embeddings_body(texts, model=self.model)
        if self.dimensions is not None:
            body["dimensions"] = self.dimensions
        return body

    def _parse(self, body: Any, expected: int) -> list[list[float]]:
        if self.dialect == "ollama":
            vectors = parse_ollama_embed(body)
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
