"""Shared by the in-process tests: which engines exist, and the question every model answers."""

from __future__ import annotations

import pytest

import homefire as hf

ENGINES = ("xllamacpp", "llama-cpp-python")
FRANCE = [
    hf.system("You are a helpful assistant. Answer in one short sentence."),
    hf.user("What is the capital of France?"),
]


def require(engine: str) -> None:
    """Skip when an engine's package is missing (llama-cpp-python compiles on install)."""
    pytest.importorskip("xllamacpp" if engine == "xllamacpp" else "llama_cpp")
