"""`HomefireEmbedding`: a LlamaIndex embedding model over `hf.Embedding` (a dedicated
embedding endpoint) or any homefire LLM's `embed()` (in-process llama.cpp embeds with the
loaded model)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from llama_index.core.base.embeddings.base import BaseEmbedding, Embedding
from llama_index.core.bridge.pydantic import ConfigDict, Field, PrivateAttr


@runtime_checkable
class Embedder(Protocol):
    """What homefire's embedding clients and LLMs share."""

    def embed(self, texts: list[str]) -> list[list[float]]: ...

    async def aembed(self, texts: list[str]) -> list[list[float]]: ...


class HomefireEmbedding(BaseEmbedding):
    """Embeddings from homefire.

    ```python
    import homefire as hf
    from llama_index.embeddings.homefire import HomefireEmbedding

    embed_model = HomefireEmbedding(hf.Embedding("nomic-embed-text", dialect="ollama"))
    embed_model = HomefireEmbedding(hf.LlamaCPP(model_path="embedder.gguf"))
    ```

    `query_instruction` and `text_instruction` are put before queries and documents, for
    models trained with such prefixes (e5, nomic, bge).
    """

    model_config = ConfigDict(extra="forbid")

    query_instruction: str | None = Field(
        default=None, description="Instruction put before each query."
    )
    text_instruction: str | None = Field(
        default=None, description="Instruction put before each text."
    )

    _embedder: Any = PrivateAttr()

    def __init__(self, embedder: Embedder, **kwargs: Any) -> None:
        import homefire as hf

        if not isinstance(embedder, Embedder):
            raise hf.InvalidParameterError(
                "embedder",
                "must be hf.Embedding(...) or a homefire LLM (they have embed() and aembed()), "
                f"got {embedder!r}",
            )
        kwargs.setdefault("model_name", _model_name(embedder))
        super().__init__(**kwargs)
        self._embedder = embedder

    @classmethod
    def class_name(cls) -> str:
        return "HomefireEmbedding"

    @property
    def embedder(self) -> Embedder:
        """The homefire object that makes the vectors."""
        return self._embedder  # type: ignore[no-any-return]

    def _query(self, query: str) -> str:
        return f"{self.query_instruction} {query}" if self.query_instruction else query

    def _text(self, text: str) -> str:
        return f"{self.text_instruction} {text}" if self.text_instruction else text

    def _get_query_embedding(self, query: str) -> Embedding:
        return self._embedder.embed([self._query(query)])[0]  # type: ignore[no-any-return]

    async def _aget_query_embedding(self, query: str) -> Embedding:
        return (await self._embedder.aembed([self._query(query)]))[0]  # type: ignore[no-any-return]

    def _get_text_embedding(self, text: str) -> Embedding:
        return self._embedder.embed([self._text(text)])[0]  # type: ignore[no-any-return]

    async def _aget_text_embedding(self, text: str) -> Embedding:
        return (await self._embedder.aembed([self._text(text)]))[0]  # type: ignore[no-any-return]

    def _get_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return self._embedder.embed([self._text(t) for t in texts])  # type: ignore[no-any-return]

    async def _aget_text_embeddings(self, texts: list[str]) -> list[Embedding]:
        return await self._embedder.aembed([self._text(t) for t in texts])  # type: ignore[no-any-return]


def _model_name(embedder: Any) -> str:
    """The model's name without a network request: the one the client was given, else, for
    in-process llama.cpp, the loaded file's."""
    import homefire as hf

    model = getattr(embedder, "model", None)
    if isinstance(model, str) and model:
        return model
    if isinstance(embedder, hf.LlamaCPP):
        return embedder.metadata.model_name
    return "unknown"
