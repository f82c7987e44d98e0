"""`model_url=` downloads into the cache (from a loopback server here) and loads the file."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import homefire as hf

pytestmark = pytest.mark.integration


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def served(tiny_model: Path) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(tiny_model.parent))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{tiny_model.name}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


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
