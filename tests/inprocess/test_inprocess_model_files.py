"""Bad model files raise ModelFileError naming the file; no engine ever sees them."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from inprocess_helpers import ENGINES, require

import homefire as hf

pytestmark = pytest.mark.unit


def _missing(tmp: Path, tiny: Path) -> Path:
    return tmp / "nowhere" / "model.gguf"


def _directory(tmp: Path, tiny: Path) -> Path:
    folder = tmp / "folder.gguf"
    folder.mkdir()
    return folder


def _empty(tmp: Path, tiny: Path) -> Path:
    path = tmp / "empty.gguf"
    path.touch()
    return path


def _random_bytes(tmp: Path, tiny: Path) -> Path:
    path = tmp / "random.gguf"
    path.write_bytes(os.urandom(4096))
    return path


def _truncated_header(tmp: Path, tiny: Path) -> Path:
    path = tmp / "cut-header.gguf"
    path.write_bytes(tiny.read_bytes()[:200])
    return path


def _truncated_tensors(tmp: Path, tiny: Path) -> Path:
    path = tmp / "cut-tensors.gguf"
    data = tiny.read_bytes()
    path.write_bytes(data[: len(data) - 1000])
    return path


BAD_FILES: list[tuple[Callable[[Path, Path], Path], str]] = [
    (_missing, "no such file"),
    (_directory, "directory"),
    (_empty, "empty"),
    (_random_bytes, "not a GGUF file"),
    (_truncated_header, "incomplete"),
    (_truncated_tensors, "incomplete"),
]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize(("make", "problem"), BAD_FILES, ids=[m.__name__ for m, _ in BAD_FILES])
def test_bad_file_gives_model_file_error(
    engine: str,
    make: Callable[[Path, Path], Path],
    problem: str,
    tmp_path: Path,
    tiny_model: Path,
) -> None:
    require(engine)
    path = make(tmp_path, tiny_model)
    with pytest.raises(hf.ModelFileError, match=problem) as info:
        hf.LlamaCPP(path, engine=engine, n_threads=2)
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
