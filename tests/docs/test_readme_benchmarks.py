"""Every benchmark script is in the README's Benchmarks table, with the command that runs it
and the figures it gave."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _benchmarks_section() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    found = re.search(r"^## Benchmarks\n(.*?)^## ", text, re.MULTILINE | re.DOTALL)
    assert found, "README.md has no Benchmarks section"
    return found.group(1)


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "benchmarks").glob("*.py")))
def test_each_benchmark_has_its_command_and_figures(script: str) -> None:
    rows = [
        line
        for line in _benchmarks_section().splitlines()
        if line.startswith(f"| `.venv/bin/python benchmarks/{script}` |")
    ]
    assert len(rows) == 1, f"README.md's Benchmarks table has no row for benchmarks/{script}"
    cells = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert len(cells) == 3 and all(cells), (
        f"a row needs a command, a comparison and figures: {rows[0]}"
    )
    assert re.search(r"\d", cells[2]), f"no figures measured for benchmarks/{script}"
