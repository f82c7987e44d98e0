"""HomefireEmbeddings without a model: LangChain's standard unit suite, and the mapping onto a
homefire embedder."""

from __future__ import annotations

from typing import Any

import homefire as hf
import pytest
from langchain_tests.unit_tests import EmbeddingsUnitTests
from pydantic import ValidationError

from langchain_homefire import HomefireEmbeddings

from .conftest import Scripted

pytestmark = pytest.mark.unit


class TestHomefireEmbeddingsUnit(EmbeddingsUnitTests):
    @property
    def embeddings_class(self) -> type[HomefireEmbeddings]:
        return HomefireEmbeddings

    @property
    def embedding_model_params(self) -> dict[str, Any]:
        return {"embedder": Scripted()}


def test_documents_and_queries_embed_through_the_embedder() -> None:
    embeddings = HomefireEmbeddings(embedder=Scripted())
    assert embeddings.embed_documents(["a b", "ccc"]) == [[3.0, 2.0], [3.0, 1.0]]
    assert embeddings.embed_query("x y z") == [5.0, 3.0]
    assert embeddings.embed_documents([]) == []


async def test_async_embeds_through_the_embedder() -> None:
    embeddings = HomefireEmbeddings(embedder=Scripted())
    assert await embeddings.aembed_documents(["a b"]) == [[3.0, 2.0]]
    assert await embeddings.aembed_query("x") == [1.0, 1.0]
    assert await embeddings.aembed_documents([]) == []


def test_a_server_embedding_client_is_accepted() -> None:
    client = hf.Embedding(base_url="http://127.0.0.1:9")
    assert HomefireEmbeddings(embedder=client).embedder is client


def test_model_spec_builds_the_embedder() -> None:
    embeddings = HomefireEmbeddings(model="openai://127.0.0.1:9/v1/embedder")
    assert isinstance(embeddings.embedder, hf.OpenAILike)


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"embedder": Scripted(), "model": "ollama:x"}, "not both"),
        ({"embedder": object()}, "must be hf.Embedding or a homefire LLM"),
        ({"embedder": Scripted(), "dimensions": 3}, "dimensions"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        HomefireEmbeddings(**kwargs)
