"""Damaged GGUF files: any flipped or cut bytes end in ModelFileError or a valid read, fast."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from homefire import ModelFile, ModelFileError, read_model_file
from tinymodels import write_tiny_model

pytestmark = pytest.mark.unit

_DIR = Path(tempfile.mkdtemp(prefix="homefire-fuzz-"))
_MODEL = write_tiny_model(_DIR / "tiny.gguf", vocab_size=300).read_bytes()
_HEADER_END = read_model_file(_DIR / "tiny.gguf").data_offset


def _check(content: bytes) -> None:
    path = _DIR / "case.gguf"
    path.write_bytes(content)
    message = ""
    try:
        result: ModelFile | None = read_model_file(path)
    except ModelFileError as error:
        result, message = None, str(error)
    assert isinstance(result, ModelFile) or str(path) in message
    assert "could not be parsed" not in message  # every damage has its own precise message


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(
        st.tuples(st.integers(0, _HEADER_END - 1), st.integers(1, 255)), min_size=1, max_size=8
    )
)
def test_flipped_header_bytes(flips: list[tuple[int, int]]) -> None:
    data = bytearray(_MODEL)
    for position, mask in flips:
        data[position] ^= mask
    _check(bytes(data))


@settings(max_examples=150, deadline=None)
@given(cut=st.integers(0, len(_MODEL) - 1))
def test_truncated_anywhere(cut: int) -> None:
    _check(_MODEL[:cut])


@settings(max_examples=100, deadline=None)
@given(
    position=st.integers(0, _HEADER_END - 8),
    value=st.sampled_from([0, 1, 2**31, 2**32 - 1, 2**40, 2**63, 2**64 - 1]),
)
def test_absurd_integers_in_the_header(position: int, value: int) -> None:
    data = bytearray(_MODEL)
    data[position : position + 8] = value.to_bytes(8, "little")
    _check(bytes(data))
