"""Real llama.cpp servers (SmolLM2, in-process engine in a child process), one per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from realserver import start_real_server

from homefire.servers.launch import LaunchedServer


@pytest.fixture(scope="session")
def real_server() -> Iterator[LaunchedServer]:
    server = start_real_server(context_window=1024, parallel=2)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def tiny_server() -> Iterator[LaunchedServer]:
    """A server whose context (256 tokens, llama.cpp's least) a short prompt overflows."""
    server = start_real_server(context_window=256)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def front_server() -> Iterator[LaunchedServer]:
    """`homefire serve` with the embedded model (its greedy defaults), embeddings on, and a
    512-token context that a long prompt overflows."""
    from homefire.servers.launch import launch

    with launch(
        context_window=512, n_threads=2, ready_timeout=120, extra_args=["--embeddings"]
    ) as server:
        yield server
