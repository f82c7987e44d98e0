"""A real llama.cpp server with `/v1/embeddings` on, serving SmolLM2."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture(scope="session")
def embedding_server() -> Iterator[Any]:
    from homefire.servers.launch import launch

    with launch(
        context_window=512, n_threads=2, ready_timeout=120, extra_args=["--embeddings"]
    ) as server:
        yield server
