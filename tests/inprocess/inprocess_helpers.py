"""Shared by the in-process tests: which engines exist, and the question every model answers."""

from __future__ import annotations

from typing import Any

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


def no_end(llm: hf.LlamaCPP) -> dict[str, Any]:
    """`extra` that bans the end-of-turn tokens: the model would go on to the context's end."""
    ends = [llm.tokenize("<|im_end|>")[0], llm.tokenize("<|endoftext|>")[0]]
    if llm.engine == "xllamacpp":
        return {"logit_bias": {str(t): -100.0 for t in ends}}
    return {"logit_bias": dict.fromkeys(ends, -100.0)}
