"""`embed()` plumbing and `hf.Embedding` against fake OpenAI-style and Ollama endpoints."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import homefire as hf
from fakes._server import FakeServer, Reply, Request

pytestmark = pytest.mark.unit


def vector(text: str) -> list[float]:
    return [float(len(text)), 1.0, 0.5]


class EmbeddingFake(FakeServer):
    """Answers `/v1/embeddings` (reversed `data` order, with indexes) and `/api/embed`."""

    def __init__(self) -> None:
        super().__init__()
        self.short_by = 0
        self.route("POST", "/v1/embeddings", self.openai)
        self.route("POST", "/api/embed", self.ollama)

    def openai(self, request: Request) -> Reply:
        texts = request.json()["input"]
        data = [{"index": i, "embedding": vector(t)} for i, t in enumerate(texts)]
        return Reply(body={"object": "list", "data": data[::-1][self.short_by :]})

    def ollama(self, request: Request) -> Reply:
        texts = request.json()["input"]
        return Reply(body={"model": "m", "embeddings": [vector(t) for t in texts]})


@pytest.fixture
def fake() -> Iterator[EmbeddingFake]:
    server = EmbeddingFake().start()
    yield server
    server.stop()


TEXTS = ["a", "bb", "ccc", "dddd", "eeeee"]


@pytest.mark.parametrize("dialect", ["openai", "ollama"])
def test_embedding_batches_and_keeps_order(fake: EmbeddingFake, dialect: Any) -> None:
    with hf.Embedding("m", base_url=fake.base_url, dialect=dialect, batch_size=2) as client:
        assert client.embed(TEXTS) == [vector(t) for t in TEXTS]
        assert client.embed("one") == [vector("one")]
        assert client.metadata["dimension"] == 3
    calls = [r.json()["input"] for r in fake.requests]
    assert calls == [["a", "bb"], ["ccc", "dddd"], ["eeeee"], ["one"]]
    assert all(r.json()["model"] == "m" for r in fake.requests)


async def test_aembed(fake: EmbeddingFake) -> None:
    client = hf.Embedding("m", base_url=fake.base_url, batch_size=3)
    assert await client.aembed(TEXTS) == [vector(t) for t in TEXTS]
    await client.aclose()


def test_bad_inputs_and_short_answers(fake: EmbeddingFake) -> None:
    client = hf.Embedding(base_url=fake.base_url)
    with pytest.raises(hf.InvalidParameterError, match="texts"):
        client.embed([])
    with pytest.raises(hf.InvalidParameterError, match="texts"):
        client.embed([1, 2])  # type: ignore[list-item]
    fake.short_by = 1
    with pytest.raises(hf.ProtocolError, match="asked for 2 embeddings, got 1"):
        client.embed(["x", "y"])
    client.close()
    with pytest.raises(hf.InvalidParameterError, match="dialect"):
        hf.Embedding(dialect="grpc")  # type: ignore[arg-type]
    with pytest.raises(hf.InvalidParameterError, match="Ollama needs"):
        hf.Embedding(dialect="ollama")


class Counting(hf.CustomLLM):
    embed_batch_size = 2

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[str]] = []

    def complete(self, prompt: str, **kwargs: Any) -> str:  # type: ignore[override]
        return ""

    def _embed(self, texts: list[str]) -> list[list[float]]:
        self.batches.append(texts)
        return [vector(t) for t in texts]


async def test_llm_embed_batches_and_default_refuses() -> None:
    llm = Counting()
    assert llm.embed(TEXTS) == [vector(t) for t in TEXTS]
    assert llm.batches == [["a", "bb"], ["ccc", "dddd"], ["eeeee"]]
    assert await llm.aembed("x") == [vector("x")]

    class Plain(hf.CustomLLM):
        def complete(self, prompt: str, **kwargs: Any) -> str:  # type: ignore[override]
            return ""

    with pytest.raises(hf.NotSupportedError, match="cannot make embeddings"):
        Plain().embed("x")


def test_openai_compatible_provider_embeds_in_batches(fake: EmbeddingFake) -> None:
    with hf.OpenAILike(base_url=f"{fake.base_url}/v1", model="m") as llm:
        llm.embed_batch_size = 4
        assert llm.embed(TEXTS) == [vector(t) for t in TEXTS]
    assert [r.json()["input"] for r in fake.requests] == [TEXTS[:4], TEXTS[4:]]


@pytest.mark.parametrize("suffix", ["/v1", "/v1/"])
def test_embedding_takes_a_base_url_ending_in_v1(fake: EmbeddingFake, suffix: str) -> None:
    with hf.Embedding("m", base_url=fake.base_url + suffix) as client:
        assert client.embed("abc") == [vector("abc")]
    assert [r.path for r in fake.requests] == ["/v1/embeddings"]
