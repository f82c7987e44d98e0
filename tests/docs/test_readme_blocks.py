"""Every ```python block of README.md runs as written: a reader can paste any of them.

Each block runs alone (its own process, an empty working folder, a private cache), so a block
that leans on a name another block defined, or on a file the reader does not have, fails
here. Blocks use the embedded model and `hf.launch()` where they need a model or a server.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[2] / "README.md"
_FENCE = re.compile(r"^```python\n(.*?)^```$", re.DOTALL | re.MULTILINE)


def python_blocks(text: str) -> list[tuple[int, str]]:
    """(line number of the fence, code) for each ```python block."""
    return [(text.count("\n", 0, m.start()) + 1, m.group(1)) for m in _FENCE.finditer(text)]


BLOCKS = python_blocks(README.read_text(encoding="utf-8"))


@pytest.mark.unit
def test_the_readme_has_python_blocks() -> None:
    assert len(BLOCKS) >= 5
    assert python_blocks("text\n```python\nx = 1\n```\n```sh\nls\n```\n") == [(2, "x = 1\n")]


@pytest.mark.integration
@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"line-{n}" for n, _ in BLOCKS])
def test_block_runs(line: int, code: str, tmp_path: Path) -> None:
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("HOMEFIRE_")},
        "HOMEFIRE_CACHE_DIR": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
    }
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"README.md line {line}:\n{code}\n{result.stderr[-3000:]}"
    assert "Traceback" not in result.stderr, result.stderr
