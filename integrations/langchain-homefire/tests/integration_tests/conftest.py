"""One embedded model (SmolLM2-135M, in process) shared by every integration test."""

from __future__ import annotations

from collections.abc import Iterator

import homefire as hf
import pytest


@pytest.fixture(scope="session")
def smollm2() -> Iterator[hf.LLM]:
    llm = hf.LlamaCPP(n_threads=2, context_window=2048)
    yield llm
    llm.close()
