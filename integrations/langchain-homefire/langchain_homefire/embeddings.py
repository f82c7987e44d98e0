"""`HomefireEmbeddings`: LangChain's embeddings interface over homefire."""

from __future__ import annotations

from typing import Any, Self

import homefire as hf
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel, ConfigDict, Field, model_validator


class HomefireEmbeddings(BaseModel, Embeddings):
    """Embeddings from `hf.Embedding` (a server's embedding model) or any homefire LLM that
    embeds (the in-process engine embeds with its loaded model).

    Pass the embedder as `embedder=`, a spec for `hf.connect` as `model=`, or neither for the
    embedded model, in process.

    Example:
        ```python
        import homefire as hf
        from langchain_homefire import HomefireEmbeddings

        embeddings = HomefireEmbeddings(embedder=hf.Embedding(base_url="http://127.0.0.1:8080"))
        embeddings.embed_query("What is the capital of France?")
        ```
    """

    embedder: Any = Field(default=None, exclude=True)
    """`hf.Embedding` or an `hf.LLM`; built from `model` when not given."""
    model: str | None = None
    """A spec for `hf.connect`; None (with no `embedder`) means the embedded model, in process."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    @model_validator(mode="after")
    def _connect(self) -> Self:
        if self.embedder is None:
            self.embedder = hf.LlamaCPP() if self.model is None else hf.connect(self.model)
        elif self.model is not None:
            raise hf.InvalidParameterError("model", "pass embedder= or model=, not both")
        elif not isinstance(self.embedder, hf.Embedding | hf.LLM):
            raise hf.InvalidParameterError(
                "embedder",
                f"must be hf.Embedding or a homefire LLM, got {type(self.embedder).__name__}",
            )
        return self

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors: list[list[float]] = self.embedder.embed(list(texts))
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors: list[list[float]] = await self.embedder.aembed(list(texts))
        return vectors

    async def aembed_query(self, text: str) -> list[float]:
        return (await self.aembed_documents([text]))[0]
