"""`model_url=` downloads into the cache (from a loopback server here) and loads the file."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

import homefire as hf
from threaded_http import serving_files

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def served(tiny_model: Path) -> Iterator[str]:
    with serving_files(tiny_model.parent) as url:
        yield f"{url}{tiny_model.name}"


def test_model_url_downloads_and_loads(served: str, tiny_model: Path, tmp_path: Path) -> None:
    digest = hashlib.sha256(tiny_model.read_bytes()).hexdigest()
    llm = hf.LlamaCPP(model_url=served, model_sha256=digest, cache_dir=tmp_path, n_threads=2)
    try:
        assert llm.model_path.is_relative_to(tmp_path)
        assert llm.model_path.read_bytes() == tiny_model.read_bytes()
        assert llm.complete("hello", max_tokens=2, temperature=0).usage is not None
        llm.load_model(served)  # cached: no second download needed, same file
        assert llm.model_path.is_relative_to(tmp_path)
    finally:
        llm.close()


def test_checksum_mismatch_loads_nothing(served: str, tmp_path: Path) -> None:
    with pytest.raises(hf.ChecksumMismatchError):
        hf.LlamaCPP(model_url=served, model_sha256="0" * 64, cache_dir=tmp_path, n_threads=2)
    assert not [p for p in tmp_path.rglob("*.gguf") if p.is_file()]
