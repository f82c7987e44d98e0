"""SmolLM2 embeddings in-process (both engines) and from the real llama.cpp server agree."""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import pytest

import homefire as hf

pytestmark = pytest.mark.integration

TEXTS = ["The capital of France is Paris.", "Cats sleep most of the day.", "hello"]


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


@pytest.fixture(scope="module")
def in_process() -> list[list[float]]:
    with hf.LlamaCPP(n_threads=2, context_window=512) as llm:
        assert llm.metadata.extra["embedding_length"] == 576
        return llm.embed(TEXTS)


def test_in_process_vectors(in_process: list[list[float]]) -> None:
    assert len(in_process) == len(TEXTS)
    assert all(len(v) == 576 for v in in_process)
    assert all(abs(math.sqrt(sum(x * x for x in v)) - 1) < 1e-4 for v in in_process)
    assert cosine(in_process[0], in_process[1]) < 0.99  # different texts, different vectors


def test_server_agrees_with_in_process(
    embedding_server: Any, in_process: list[list[float]]
) -> None:
    with hf.Embedding(
        base_url=embedding_server.base_url, api_key=embedding_server.api_key
    ) as client:
        served = client.embed(TEXTS)
        assert client.metadata["dimension"] == 576
    with embedding_server.llm() as llm:
        assert llm.embed(TEXTS) == served
    for mine, theirs in zip(in_process, served, strict=True):
        assert cosine(mine, theirs) > 0.99


@pytest.mark.skipif(importlib.util.find_spec("llama_cpp") is None, reason="needs llama-cpp-python")
def test_llama_cpp_python_engine_agrees(in_process: list[list[float]]) -> None:
    with hf.LlamaCPP(engine="llama-cpp-python", n_threads=2, context_window=512) as llm:
        vectors = llm.embed(TEXTS)
    for mine, theirs in zip(in_process, vectors, strict=True):
        assert cosine(mine, theirs) > 0.99
