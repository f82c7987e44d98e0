"""Fixtures for the in-process engines: each engine loads the real model once per module."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from inprocess_helpers import ENGINES, require

import homefire as hf


@pytest.fixture(scope="module", params=ENGINES)
def engine(request: pytest.FixtureRequest) -> str:
    require(request.param)
    return str(request.param)


@pytest.fixture(scope="module")
def llm(engine: str, smollm2_path: Path) -> Iterator[hf.LlamaCPP]:
    model = hf.LlamaCPP(smollm2_path, engine=engine, n_threads=2, context_window=2048)
    yield model
    model.close()


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A loadable random-weight llama with a ChatML template (noise out, but real buffers)."""
    from tinymodels import write_tiny_model

    path: Path = write_tiny_model(tmp_path_factory.mktemp("tiny") / "tiny.gguf")
    return path
