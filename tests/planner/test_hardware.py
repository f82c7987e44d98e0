"""Hardware detection and sizes written the way people write them."""

from __future__ import annotations

import pytest

from homefire import InvalidParameterError, detect_hardware
from homefire.planner import format_size, parse_size

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("24GiB", 24 * 1024**3),
        ("24 GiB", 24 * 1024**3),
        ("24gib", 24 * 1024**3),
        ("16GB", 16 * 1000**3),
        ("16G", 16 * 1000**3),
        ("800MiB", 800 * 1024**2),
        ("1.5TiB", int(1.5 * 1024**4)),
        ("4096", 4096),
    ],
)
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "12XB", "-3GiB", "a lot"])
def test_parse_size_rejects_nonsense(text: str) -> None:
    with pytest.raises(InvalidParameterError, match="not a size"):
        parse_size(text, name="--gpu-memory")


def test_format_size() -> None:
    assert format_size(1536 * 1024**2) == "1.50 GiB"
    assert format_size(512 * 1024**2) == "512.0 MiB"
    assert format_size(12) == "12 B"


def test_detect_hardware_is_sane() -> None:
    hw = detect_hardware()
    assert 1 <= hw.cpu_cores <= hw.cpu_threads
    assert 0 < hw.ram_available_bytes <= hw.ram_total_bytes
    for gpu in hw.gpus:
        assert 0 <= gpu.free_bytes <= gpu.total_bytes


def test_planning_for_another_machine() -> None:
    hw = detect_hardware().with_overrides(gpu_memory=[24 * 1024**3, 8 * 1024**3], ram=2**36)
    assert [g.free_bytes for g in hw.gpus] == [24 * 1024**3, 8 * 1024**3]
    assert {g.backend for g in hw.gpus} == {"assumed"}
    assert hw.ram_available_bytes == hw.ram_total_bytes == 2**36
    assert detect_hardware().with_overrides(gpu_memory=[]).gpus == ()
