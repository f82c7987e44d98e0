"""HomefireEmbedding, and a whole RAG pipeline on the embedded model."""

from __future__ import annotations

import math

import homefire as hf
import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatStartEvent

from llama_index.embeddings.homefire import HomefireEmbedding
from llama_index.llms.homefire import HomefireLLM

DOCUMENTS = [
    "The lighthouse keeper on Skerra Island is named Maren Holt.",
    "Skerra Island has one bakery, which opens at six in the morning.",
    "Ferries to Skerra Island leave twice a day from the mainland harbour.",
]


class Counting:
    """A homefire-shaped embedder that records what it was asked to embed."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def embed(self, texts: list[str]) -> list[list[float]]:
        self.texts += texts
        return [[float(len(t)), 1.0] for t in texts]

    async def aembed(self, texts: list[str]) -> list[list[float]]:
        return self.embed(texts)


@pytest.mark.unit
async def test_instructions_and_batches_reach_the_embedder() -> None:
    embedder = Counting()
    model = HomefireEmbedding(
        embedder, query_instruction="query:", text_instruction="passage:", embed_batch_size=2
    )
    assert model.model_name == "unknown"
    assert model.get_query_embedding("a") == [8.0, 1.0]
    assert model.get_text_embedding_batch(["b", "c", "d"]) == [[10.0, 1.0]] * 3
    assert await model.aget_query_embedding("e") == [8.0, 1.0]
    assert embedder.texts == ["query: a", "passage: b", "passage: c", "passage: d", "query: e"]


@pytest.mark.unit
def test_embedder_is_checked() -> None:
    with pytest.raises(hf.InvalidParameterError, match=r"hf\.Embedding"):
        HomefireEmbedding(object())  # type: ignore[arg-type]


@pytest.mark.unit
def test_endpoint_client_name_is_its_model() -> None:
    client = hf.Embedding("nomic-embed-text", dialect="ollama")
    assert HomefireEmbedding(client).model_name == "nomic-embed-text"
    client.close()


@pytest.mark.integration
async def test_embedded_model_embeds(embedded: hf.LLM) -> None:
    model = HomefireEmbedding(embedded)
    width = embedded.metadata.extra["embedding_length"]
    vector = model.get_text_embedding("hello")
    assert len(vector) == width and all(math.isfinite(x) for x in vector)
    assert len(await model.aget_query_embedding("hello")) == width


@pytest.mark.integration
def test_rag_pipeline(embedded: hf.LLM, events: list[BaseEvent]) -> None:
    index = VectorStoreIndex.from_documents(
        [Document(text=t) for t in DOCUMENTS], embed_model=HomefireEmbedding(embedded)
    )
    engine = index.as_query_engine(llm=HomefireLLM(embedded), similarity_top_k=2)
    response = engine.query("Who keeps the lighthouse on Skerra Island?")
    assert isinstance(response.response, str) and response.response.strip()
    assert len(response.source_nodes) == 2
    retrieved = [node.get_content() for node in response.source_nodes]
    assert all(text in DOCUMENTS for text in retrieved)
    (chat,) = [e for e in events if isinstance(e, LLMChatStartEvent)]
    prompt = "\n".join(m.content or "" for m in chat.messages)  # retrieved passages + question
    assert all(text in prompt for text in retrieved)
    assert "Who keeps the lighthouse" in prompt
